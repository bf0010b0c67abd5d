//! The engine's error type.

/// Everything that can go wrong in the engine. Bad input never panics: it ends up here, with a
/// message that names the parameter or the input row and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum UmapError {
    /// A parameter is out of its documented range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParam { name: &'static str, message: String },
    /// The data cannot be embedded as given (shape, NaN/Inf, empty, degenerate).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// One slice of an aligned fit cannot be embedded; `slice` indexes the slices as given (callers
    /// that know what a slice stands for, a file or an epoch, say so).
    #[error("invalid input: slice {slice}: {message}")]
    InvalidSlice { slice: usize, message: String },
    /// A [`crate::RowBlocks`] source could not deliver rows `start..end` to the streaming PCA. The
    /// source's own error travels typed ([`std::error::Error::source`] returns it, and
    /// `Box::downcast` gets the caller's type back); the message quotes it too.
    #[error("invalid input: PCA could not read rows {start}..{end} of the source: {source}")]
    Source { start: usize, end: usize, source: SourceError },
    /// The cancel flag in [`crate::Control`] was set.
    #[error("cancelled")]
    Cancelled,
}

/// The error of a [`crate::RowBlocks`] source: whatever the caller's reader returns, boxed.
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub(crate) fn param(name: &'static str, message: impl Into<String>) -> UmapError {
    UmapError::InvalidParam { name, message: message.into() }
}
