//! Parameters, their defaults, and the one validation step (`UmapParams -> ValidParams`).
//!
//! Algorithm code only ever sees [`ValidParams`]: every range check happens in
//! [`UmapParams::validate`], and every input check in [`check_input`].

use crate::curve::fit_ab;
use crate::error::param;
use crate::{Matrix, UmapError};

/// Distance used in the input space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Metric {
    /// `|x - y|`.
    #[default]
    Euclidean,
    /// `1 - x·y / (|x| |y|)`; rows of zero norm are treated as pointing along the first axis.
    Cosine,
}

/// How the layout starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Init {
    /// Eigenvectors of the graph's normalised Laplacian; disconnected components are laid out
    /// apart. Falls back to PCA, then random, if the eigensolver fails.
    #[default]
    Spectral,
    /// The data's first principal components.
    Pca,
    /// Uniform in [-10, 10]^n_components.
    Random,
}

/// Epochs when `n_epochs` is `None` for a single fit (umap-learn's rule): 500 up to this many points, 200 above.
pub const SMALL_DATA_MAX_POINTS: usize = 10_000;
/// Default epochs for small data (N <= [`SMALL_DATA_MAX_POINTS`]).
pub const SMALL_DATA_EPOCHS: usize = 500;
/// Default epochs for large data, and for Aligned UMAP (umap-learn's AlignedUMAP default).
pub const LARGE_DATA_EPOCHS: usize = 200;

/// UMAP parameters. `UmapParams::default()` gives umap-learn's defaults:
/// n_neighbors 15, n_components 2, euclidean, min_dist 0.1, spread 1.0, n_epochs None
/// (500 for N <= 10,000, 200 above), learning_rate 1.0, negative_sample_rate 5,
/// local_connectivity 1.0, set_op_mix_ratio 1.0, repulsion_strength 1.0, spectral init, seed 42.
#[derive(Clone, Debug, PartialEq)]
pub struct UmapParams {
    /// Size of each point's neighbourhood, the point itself included (as in umap-learn). 2 <= k < N.
    pub n_neighbors: usize,
    /// Output dimensions, >= 1.
    pub n_components: usize,
    pub metric: Metric,
    /// Smallest distance between embedded points, 0 <= min_dist <= spread.
    pub min_dist: f32,
    /// Scale of the embedded clusters, > 0.
    pub spread: f32,
    /// None: 500 for N <= 10,000, 200 above (Aligned UMAP: 200).
    pub n_epochs: Option<usize>,
    /// Initial SGD step, decayed linearly to 0. > 0.
    pub learning_rate: f32,
    /// Negative samples per positive sample.
    pub negative_sample_rate: usize,
    /// Number of nearest neighbours assumed connected (ρ interpolates between neighbours), >= 0.
    pub local_connectivity: f32,
    /// 1: fuzzy union of the directed graphs, 0: fuzzy intersection; in [0, 1].
    pub set_op_mix_ratio: f32,
    /// Weight γ of the repulsive term, >= 0.
    pub repulsion_strength: f32,
    pub init: Init,
    /// Every random choice derives from this seed; same seed, same bytes out.
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        UmapParams {
            n_neighbors: 15,
            n_components: 2,
            metric: Metric::Euclidean,
            min_dist: 0.1,
            spread: 1.0,
            n_epochs: None,
            learning_rate: 1.0,
            negative_sample_rate: 5,
            local_connectivity: 1.0,
            set_op_mix_ratio: 1.0,
            repulsion_strength: 1.0,
            init: Init::Spectral,
            seed: 42,
        }
    }
}

/// Aligned UMAP parameters. `AlignedParams::default()` gives umap-learn's AlignedUMAP defaults
/// (the UMAP defaults, n_epochs None = 200, alignment_window_size 3) except λ: 0.02 where umap-learn
/// has 0.01. On five layers of real training runs, 0.02 moved 13–25% less than umap-learn between
/// epochs at trustworthiness within 0.0011 of it; 0.01 moved up to 13% more (our window is
/// symmetric, umap-learn's reaches one slice less forward; the measurements are in the README).
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedParams {
    /// Used for every slice; unlike umap-learn, min_dist, spread, negative_sample_rate,
    /// learning_rate and n_epochs all take effect in the aligned optimisation.
    pub umap: UmapParams,
    /// λ: strength of the pull of a point towards its own position in nearby slices, >= 0.
    pub alignment_regularisation: f32,
    /// w: slices at offsets -w..=w (except 0) regularise each other, with weight λ·e^{-(|offset|-1)}.
    pub alignment_window_size: usize,
}

impl Default for AlignedParams {
    fn default() -> Self {
        AlignedParams { umap: UmapParams::default(), alignment_regularisation: 2.0e-2, alignment_window_size: 3 }
    }
}

/// Parameters after validation against a data size, with the derived constants filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidParams {
    pub n_neighbors: usize,
    pub n_components: usize,
    pub metric: Metric,
    pub min_dist: f32,
    pub spread: f32,
    pub n_epochs: usize,
    pub learning_rate: f32,
    pub negative_sample_rate: usize,
    pub local_connectivity: f32,
    pub set_op_mix_ratio: f32,
    pub repulsion_strength: f32,
    pub init: Init,
    pub seed: u64,
    /// Curve parameters fitted from min_dist and spread ([`crate::curve::fit_ab`]).
    pub a: f32,
    pub b: f32,
}

impl UmapParams {
    /// Check every parameter against `n_samples` points. `default_epochs` is used when n_epochs is None.
    pub fn validate_with_epochs(&self, n_samples: usize, default_epochs: usize) -> Result<ValidParams, UmapError> {
        if self.n_neighbors < 2 {
            return Err(param(
                "n_neighbors",
                format!("must be at least 2 (the point itself and one neighbour), found {}", self.n_neighbors),
            ));
        }
        if self.n_neighbors >= n_samples {
            return Err(param(
                "n_neighbors",
                format!(
                    "must be less than the number of points ({n_samples}), found {}; lower n_neighbors or add points",
                    self.n_neighbors
                ),
            ));
        }
        if self.n_components == 0 {
            return Err(param("n_components", "must be at least 1 (2 for a plot), found 0"));
        }
        if !(self.spread.is_finite() && self.spread > 0.0) {
            return Err(param("spread", format!("must be finite and > 0, found {}", self.spread)));
        }
        if !self.min_dist.is_finite() || self.min_dist < 0.0 {
            return Err(param("min_dist", format!("must be >= 0, found {}", self.min_dist)));
        }
        if self.min_dist > self.spread {
            return Err(param(
                "min_dist",
                format!(
                    "must not exceed spread ({}), found {}; raise spread or lower min_dist",
                    self.spread, self.min_dist
                ),
            ));
        }
        if self.n_epochs == Some(0) {
            return Err(param("n_epochs", "must be at least 1 (or None for the default), found 0"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(param("learning_rate", format!("must be finite and > 0, found {}", self.learning_rate)));
        }
        if !(self.local_connectivity.is_finite() && self.local_connectivity >= 0.0) {
            return Err(param(
                "local_connectivity",
                format!("must be finite and >= 0, found {}", self.local_connectivity),
            ));
        }
        if !(0.0..=1.0).contains(&self.set_op_mix_ratio) {
            return Err(param("set_op_mix_ratio", format!("must be in [0, 1], found {}", self.set_op_mix_ratio)));
        }
        if !(self.repulsion_strength.is_finite() && self.repulsion_strength >= 0.0) {
            return Err(param(
                "repulsion_strength",
                format!("must be finite and >= 0, found {}", self.repulsion_strength),
            ));
        }
        let (a, b) = fit_ab(self.spread as f64, self.min_dist as f64);
        Ok(ValidParams {
            n_neighbors: self.n_neighbors,
            n_components: self.n_components,
            metric: self.metric,
            min_dist: self.min_dist,
            spread: self.spread,
            n_epochs: self.n_epochs.unwrap_or(default_epochs),
            learning_rate: self.learning_rate,
            negative_sample_rate: self.negative_sample_rate,
            local_connectivity: self.local_connectivity,
            set_op_mix_ratio: self.set_op_mix_ratio,
            repulsion_strength: self.repulsion_strength,
            init: self.init,
            seed: self.seed,
            a: a as f32,
            b: b as f32,
        })
    }

    /// Check every parameter for a single fit of `n_samples` points (default epochs by umap-learn's rule).
    pub fn validate(&self, n_samples: usize) -> Result<ValidParams, UmapError> {
        let default_epochs = if n_samples <= SMALL_DATA_MAX_POINTS { SMALL_DATA_EPOCHS } else { LARGE_DATA_EPOCHS };
        self.validate_with_epochs(n_samples, default_epochs)
    }
}

impl AlignedParams {
    /// Check the alignment parameters and the per-slice UMAP parameters (default epochs: 200).
    pub fn validate(&self, n_samples: usize) -> Result<ValidParams, UmapError> {
        if !(self.alignment_regularisation.is_finite() && self.alignment_regularisation >= 0.0) {
            return Err(param(
                "alignment_regularisation",
                format!("must be finite and >= 0, found {}", self.alignment_regularisation),
            ));
        }
        self.umap.validate_with_epochs(n_samples, LARGE_DATA_EPOCHS)
    }
}

/// Check one input matrix: non-empty, consistent length, finite, not all rows identical.
/// `what` names it in messages ("input", "slice 3").
pub fn check_input(data: &Matrix, what: &str) -> Result<(), UmapError> {
    if data.n_rows == 0 {
        return Err(UmapError::InvalidInput(format!(
            "{what} is empty (0 rows); every slice needs the same points, at least n_neighbors + 1 of them"
        )));
    }
    if data.n_cols == 0 {
        return Err(UmapError::InvalidInput(format!("{what} has 0 columns; each row needs at least one feature")));
    }
    if data.data.len() != data.n_rows * data.n_cols {
        return Err(UmapError::InvalidInput(format!(
            "{what}: data holds {} values, expected n_rows * n_cols = {} * {} = {}",
            data.data.len(),
            data.n_rows,
            data.n_cols,
            data.n_rows * data.n_cols
        )));
    }
    let bad = data.data.iter().filter(|x| !x.is_finite()).count();
    if bad > 0 {
        let first = data.data.iter().position(|x| !x.is_finite()).unwrap_or(0);
        return Err(UmapError::InvalidInput(format!(
            "{what} holds {bad} non-finite values (NaN or Inf), the first in row {} (column {}); clean or drop those rows",
            first / data.n_cols,
            first % data.n_cols
        )));
    }
    let first = data.row(0);
    if data.data.chunks_exact(data.n_cols).all(|r| r == first) {
        return Err(UmapError::InvalidInput(format!(
            "all {} rows of {what} are identical; there is no structure to embed",
            data.n_rows
        )));
    }
    Ok(())
}
