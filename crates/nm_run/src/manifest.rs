//! The run's small JSON files: the manifest (`neuromapper.json`) and the per-epoch metrics
//! (`metrics.json`), with the checks a manifest must pass.

use std::collections::BTreeSet;
use std::path::Path;

use crate::files::read_bounded;
use crate::{text, RunError, FORMAT_V1, MANIFEST_FILE, MAX_MANIFEST_BYTES, PREDICTIONS};

/// Parses a small JSON file's bytes; the parser's complaint comes back clipped and escaped.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not utf-8 text (an invalid byte at offset {})", e.valid_up_to()))?;
    serde_json::from_str(text).map_err(|e| text::clip(&e.to_string()))
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    /// How the run's adversarial twins (`twins.npy`) were made; informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversarial: Option<AttackInfo>,
}

/// The manifest's optional `adversarial` object: the attack that made the twins, shown by viewers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttackInfo {
    /// The attack's name, e.g. `"fgsm"` or `"pgd"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
    /// The L∞ budget in pixel units (inputs scaled to 0..1), e.g. 8/255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// Gradient steps (1 for FGSM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
}

impl Manifest {
    /// A version 1 manifest with the given classes and layer order (name: the folder's).
    pub fn new(classes: Option<Vec<String>>, layers: Option<Vec<String>>) -> Manifest {
        Manifest { format: FORMAT_V1.to_string(), name: None, classes, layers, adversarial: None }
    }
}

/// Per-epoch training metrics (optional file `metrics.json` at the run's root). Other keys in the
/// file are allowed and ignored here.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(from = "MetricsRecord")]
pub struct EpochMetrics {
    pub epoch: u32,
    pub train_accuracy: Option<f32>,
    pub test_accuracy: Option<f32>,
    /// The epoch's mean training loss: the key `loss`, else `train_loss`.
    pub loss: Option<f32>,
    /// The attack success rate on the run's adversarial twins at this epoch (key `adv_success`):
    /// the share of twins whose clean twin is classified correctly that are misclassified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_success: Option<f32>,
}

/// One record of metrics.json as written (`loss` and `train_loss` may both be there).
#[derive(serde::Deserialize)]
struct MetricsRecord {
    epoch: u32,
    #[serde(default)]
    train_accuracy: Option<f32>,
    #[serde(default)]
    test_accuracy: Option<f32>,
    #[serde(default)]
    loss: Option<f32>,
    #[serde(default)]
    train_loss: Option<f32>,
    #[serde(default)]
    adv_success: Option<f32>,
}

impl From<MetricsRecord> for EpochMetrics {
    fn from(r: MetricsRecord) -> EpochMetrics {
        EpochMetrics {
            epoch: r.epoch,
            train_accuracy: r.train_accuracy,
            test_accuracy: r.test_accuracy,
            loss: r.loss.or(r.train_loss),
            adv_success: r.adv_success,
        }
    }
}

pub(crate) fn read_manifest(root: &Path) -> Result<Manifest, RunError> {
    let p = root.join(MANIFEST_FILE);
    let Some(bytes) = read_bounded(&p, MAX_MANIFEST_BYTES, "a manifest is small JSON")? else {
        return Err(RunError::invalid(
            &p,
            format!(
                "not found; a run folder needs a manifest such as {{\"format\": \"{FORMAT_V1}\"}} (see the run format)"
            ),
        ));
    };
    let m: Manifest = parse_json(&bytes).map_err(|e| {
        RunError::invalid(&p, format!("not a valid manifest ({e}); expected at least {{\"format\": \"{FORMAT_V1}\"}}"))
    })?;
    if m.format != FORMAT_V1 {
        return Err(RunError::invalid(
            &p,
            format!(
                "unknown format \"{}\"; this neuromapper reads \"{FORMAT_V1}\" (a newer run needs a newer neuromapper)",
                text::clip(&m.format)
            ),
        ));
    }
    if let Some(layers) = &m.layers {
        let mut seen = BTreeSet::new();
        for l in layers {
            if l.is_empty() || l == PREDICTIONS || !seen.insert(l) {
                return Err(RunError::invalid(
                    &p,
                    format!("\"layers\" has an empty, reserved or repeated name: \"{}\"", text::clip(l)),
                ));
            }
        }
        if layers.is_empty() {
            return Err(RunError::invalid(&p, "\"layers\" is empty; list at least one layer or leave it out"));
        }
    }
    Ok(m)
}
