//! nm_train (work in progress)
pub mod model;
