//! Embedding parameters: what a user may choose, their defaults for a run, their limits, one
//! validation step, and the canonical form that keys caches and views. The CLI's flags and the
//! server's JSON map onto [`ParamOverrides`] and nothing else.

use nm_run::Run;
use nm_umap::{AlignedParams, Metric, UmapParams};

use crate::cache::Fnv;
use crate::sampling::sample_count;
use crate::{invalid, PipelineError, PIPELINE_VERSION};

/// Largest accepted `n_neighbors` (the graph's cost grows with it; 5 to 50 is the usual range).
pub const N_NEIGHBORS_MAX: usize = 200;
/// Above this many samples the default view embeds a stratified sample of this size
/// ([`EmbedParams::default_for`]); asking for more is always possible.
pub const DEFAULT_MAX_SAMPLES: usize = 20_000;

/// UMAP's `spread`, fixed: `min_dist` must lie in [0, SPREAD].
pub const SPREAD: f32 = 1.0;
/// Largest accepted `pca_dims` (the randomized SVD's cost grows with it; 50 is the usual choice).
pub const PCA_DIMS_MAX: usize = 1024;
/// Smallest non-zero `pca_dims`.
pub const PCA_DIMS_MIN: usize = 2;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampling {
    /// Every sample of the run.
    All,
    /// This many in total, split over classes in proportion to their sizes (largest remainder);
    /// a total at or above the run's size means all samples.
    Total(usize),
    /// This many of each class (all of a smaller class): the NeuroMapper paper's "sample size".
    PerClass(usize),
}

/// What the user may change; everything else is the engine's default.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EmbedParams {
    pub n_neighbors: usize, // 15
    pub min_dist: f32,      // 0.1
    pub metric: String,     // "euclidean" | "cosine"
    pub pca_dims: usize,    // 50; 0 = off
    pub sampling: Sampling, // All
    pub seed: u64,          // 0
    /// Align the layers to each other as well as the epochs ([`crate::embed_layer`] then fits every
    /// layer of the run jointly: `nm_umap::fit_grid`). Left out of the serialised form when false,
    /// so the keys of every view without it are unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub align_layers: bool, // false
}

impl Default for EmbedParams {
    fn default() -> Self {
        EmbedParams {
            n_neighbors: 15,
            min_dist: 0.1,
            metric: "euclidean".into(),
            pca_dims: 50,
            sampling: Sampling::All,
            seed: 0,
            align_layers: false,
        }
    }
}

impl EmbedParams {
    /// The parameters of a run's default view: the defaults above (umap-learn's), with a stratified
    /// sample of [`DEFAULT_MAX_SAMPLES`] for runs larger than that. `embed`, `export` and `serve`
    /// all start from this, so they share one cache entry.
    pub fn default_for(run: &Run) -> EmbedParams {
        let sampling =
            if run.n_samples() > DEFAULT_MAX_SAMPLES { Sampling::Total(DEFAULT_MAX_SAMPLES) } else { Sampling::All };
        EmbedParams { sampling, ..EmbedParams::default() }
    }

    /// The same parameters with the sampling written in its one canonical form for `run`: a
    /// sampling that selects every sample (a total ≥ N, or per class ≥ the largest class) is
    /// [`Sampling::All`]. The same samples then give the same cache key and view.
    pub fn normalized(&self, run: &Run) -> EmbedParams {
        let all = match self.sampling {
            Sampling::All => true,
            Sampling::Total(n) => n >= run.n_samples(),
            Sampling::PerClass(k) => run.class_counts().iter().all(|&c| c <= k),
        };
        EmbedParams { sampling: if all { Sampling::All } else { self.sampling.clone() }, ..self.clone() }
    }

    /// One validation step for `run`; the error names the field and the allowed range. Returns the
    /// [`normalized`](Self::normalized) parameters: use them from here on.
    pub fn checked(&self, run: &Run) -> Result<EmbedParams, PipelineError> {
        self.validate(run)?;
        Ok(self.normalized(run))
    }

    /// One validation step; the error names the field and the allowed range.
    pub fn validate(&self, run: &Run) -> Result<(), PipelineError> {
        self.metric_kind()?;
        if !self.min_dist.is_finite() || !(0.0..=SPREAD).contains(&self.min_dist) {
            return Err(invalid(
                "min_dist",
                format!("must be in [0, {SPREAD}] (0 packs points tightly, 1 spreads them), found {}", self.min_dist),
            ));
        }
        if self.pca_dims != 0 && !(PCA_DIMS_MIN..=PCA_DIMS_MAX).contains(&self.pca_dims) {
            return Err(invalid(
                "pca_dims",
                format!("must be 0 (no pre-embedding) or in [{PCA_DIMS_MIN}, {PCA_DIMS_MAX}], found {}; 50 is the usual choice", self.pca_dims),
            ));
        }
        match self.sampling {
            Sampling::Total(0) => {
                return Err(invalid("samples", "must be at least 1 (or leave it out for all samples)"))
            }
            Sampling::PerClass(0) => {
                return Err(invalid("samples_per_class", "must be at least 1 (or leave it out for all samples)"))
            }
            _ => {}
        }
        let n = sample_count(run, &self.sampling);
        if !(2..=N_NEIGHBORS_MAX).contains(&self.n_neighbors) {
            return Err(invalid(
                "n_neighbors",
                format!("must be between 2 and {N_NEIGHBORS_MAX}, found {}", self.n_neighbors),
            ));
        }
        if self.n_neighbors >= n {
            return Err(invalid(
                "n_neighbors",
                format!(
                    "must be less than the number of samples embedded ({n}), found {}; lower it or sample more",
                    self.n_neighbors
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn metric_kind(&self) -> Result<Metric, PipelineError> {
        match self.metric.as_str() {
            "euclidean" => Ok(Metric::Euclidean),
            "cosine" => Ok(Metric::Cosine),
            other => Err(invalid("metric", format!("must be \"euclidean\" or \"cosine\", found \"{other}\""))),
        }
    }

    /// Stable key for the cache path (same params -> same key).
    /// Also the server's view key. Callers key [`normalized`](Self::normalized) parameters.
    pub fn cache_key(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", Fnv::new().u64(PIPELINE_VERSION).str(&json).finish())
    }

    /// A one-line description, e.g. `n_neighbors=15 min_dist=0.1 metric=euclidean pca=50 samples=all seed=0`.
    pub fn describe(&self) -> String {
        let sampling = match self.sampling {
            Sampling::All => "all".to_string(),
            Sampling::Total(n) => n.to_string(),
            Sampling::PerClass(k) => format!("{k}/class"),
        };
        format!(
            "n_neighbors={} min_dist={} metric={} pca={} samples={} seed={}{}",
            self.n_neighbors,
            self.min_dist,
            self.metric,
            self.pca_dims,
            sampling,
            self.seed,
            if self.align_layers { " align_layers" } else { "" }
        )
    }

    /// The engine's parameters for a layer whose slices are `pre_embedded` (metric already folded in).
    pub(crate) fn aligned_params(&self, pre_embedded: bool) -> AlignedParams {
        let metric = if pre_embedded { Metric::Euclidean } else { self.metric_kind().unwrap_or_default() };
        AlignedParams {
            umap: UmapParams {
                n_neighbors: self.n_neighbors,
                min_dist: self.min_dist,
                spread: SPREAD,
                metric,
                seed: self.seed,
                ..UmapParams::default()
            },
            ..AlignedParams::default()
        }
    }

    /// Public for benchmarks: the engine's parameters of a pre-embedded layer.
    #[doc(hidden)]
    pub fn engine_params(&self) -> AlignedParams {
        self.aligned_params(true)
    }

    /// Whether a layer of `dim` columns is pre-embedded by PCA with `n` samples.
    pub(crate) fn uses_pca(&self, dim: usize, n: usize) -> bool {
        self.pca_dims > 0 && dim > self.pca_dims && n > self.pca_dims
    }
}

/// Parameters as a user gives them: each field optional, the rest from a base
/// ([`EmbedParams::default_for`] for a run's default view, or the view being changed).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamOverrides {
    pub n_neighbors: Option<usize>,
    pub min_dist: Option<f32>,
    pub metric: Option<String>,
    pub pca_dims: Option<usize>,
    pub sampling: Option<Sampling>,
    pub seed: Option<u64>,
    pub align_layers: Option<bool>,
}

impl ParamOverrides {
    /// `base` with every given field replaced (not validated: call [`EmbedParams::checked`]).
    pub fn apply(&self, base: &EmbedParams) -> EmbedParams {
        EmbedParams {
            n_neighbors: self.n_neighbors.unwrap_or(base.n_neighbors),
            min_dist: self.min_dist.unwrap_or(base.min_dist),
            metric: self.metric.clone().unwrap_or_else(|| base.metric.clone()),
            pca_dims: self.pca_dims.unwrap_or(base.pca_dims),
            sampling: self.sampling.clone().unwrap_or_else(|| base.sampling.clone()),
            seed: self.seed.unwrap_or(base.seed),
            align_layers: self.align_layers.unwrap_or(base.align_layers),
        }
    }

    /// The run's default parameters with these overrides, validated and normalised.
    pub fn resolve(&self, run: &Run) -> Result<EmbedParams, PipelineError> {
        self.apply(&EmbedParams::default_for(run)).checked(run)
    }
}
