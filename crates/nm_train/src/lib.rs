//! nm_train (work in progress)
pub mod data;
pub mod error;
pub mod model;
pub mod readers;
pub mod shapes;
pub mod train;

pub use data::Dataset;
pub use error::TrainError;
pub use train::{train, Capture, DataSource, Observer, Scenario, TrainConfig, TrainSummary};
