//! nm_train (work in progress)
pub mod model;
pub mod data;
pub mod shapes;
