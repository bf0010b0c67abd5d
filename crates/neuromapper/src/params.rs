//! The embedding flags shared by `embed`, `export` and `serve` (`ParamArgs`), mapped onto the
//! pipeline's `ParamOverrides`.

use nm_pipeline::{ParamOverrides, Sampling};

/// Distance between activation vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricArg {
    Euclidean,
    Cosine,
}

/// How to embed: the pipeline's `ParamOverrides` as command-line flags. A flag left out takes the
/// run's default (`EmbedParams::default_for`: umap-learn's and the paper's values, all samples up
/// to 20,000), so `embed`, `export` and `serve` with the same flags share one cached embedding.
#[derive(clap::Args, Clone, Debug)]
pub struct ParamArgs {
    /// Neighbours per sample in the UMAP graph: small values show local structure, large ones global (2 <= K <= 200, K < samples) [default: 15]
    #[arg(long, value_name = "K")]
    pub n_neighbors: Option<usize>,
    /// Smallest distance between embedded points, in [0, 1] [default: 0.1]
    #[arg(long, value_name = "D")]
    pub min_dist: Option<f32>,
    /// Distance between activation vectors [default: euclidean]
    #[arg(long, value_enum)]
    pub metric: Option<MetricArg>,
    /// Pre-embed layers wider than this with PCA to this many dimensions (0: off) [default: 50]
    #[arg(long = "pca", value_name = "DIMS")]
    pub pca: Option<usize>,
    /// Embed this many samples in total, stratified by class [default: all, at most 20,000]
    #[arg(long, value_name = "N", conflicts_with = "samples_per_class")]
    pub samples: Option<usize>,
    /// Embed this many samples of each class (the paper's "sample size")
    #[arg(long, value_name = "K")]
    pub samples_per_class: Option<usize>,
    /// Seed for sampling, PCA and UMAP: the same seed gives the same picture [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Align the layers to each other too, so a sample sits in comparable places in adjacent layers
    /// (all layers are then fitted jointly)
    #[arg(long)]
    pub align_layers: bool,
}

impl ParamArgs {
    /// The flags given, for the pipeline to apply over the run's defaults.
    pub fn overrides(&self) -> ParamOverrides {
        let sampling = match (self.samples, self.samples_per_class) {
            (Some(n), _) => Some(Sampling::Total(n)),
            (None, Some(k)) => Some(Sampling::PerClass(k)),
            (None, None) => None,
        };
        ParamOverrides {
            n_neighbors: self.n_neighbors,
            min_dist: self.min_dist,
            metric: self.metric.map(|m| match m {
                MetricArg::Euclidean => "euclidean".into(),
                MetricArg::Cosine => "cosine".into(),
            }),
            pca_dims: self.pca,
            sampling,
            seed: self.seed,
            align_layers: self.align_layers.then_some(true),
        }
    }
}
