//! nm_train
