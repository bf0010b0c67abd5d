//! [`RunError`]: the one error of this crate, naming the file and what was expected versus found.

use std::path::{Path, PathBuf};

use crate::text;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Every variant names the file and what was expected versus found. Shown with control
    /// characters escaped ([`text::escape`]): paths and messages may quote names from the files.
    #[error("{}: {}", text::escape(&.path.display().to_string()), text::escape(.message))]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {}", text::escape(&.path.display().to_string()), .source)]
    Io { path: PathBuf, source: std::io::Error },
}

impl RunError {
    pub fn invalid(path: impl AsRef<Path>, message: impl Into<String>) -> RunError {
        RunError::Invalid { path: path.as_ref().to_path_buf(), message: message.into() }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> RunError {
        RunError::Io { path: path.as_ref().to_path_buf(), source }
    }
}
