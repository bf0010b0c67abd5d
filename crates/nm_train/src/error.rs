//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, training or writing the run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A data file is missing, unreadable or not in the expected format.
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// An I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A training option is out of range.
    #[error("invalid option {name} = {value}: {message}")]
    Config { name: &'static str, value: String, message: String },
    /// Writing the run failed.
    #[error("writing the run: {0}")]
    Run(#[from] nm_run::RunError),
    /// The progress callback asked to stop, or another stage failed.
    #[error("{0}")]
    Other(String),
}
