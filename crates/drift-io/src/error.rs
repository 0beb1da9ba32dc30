//! The error type of drift-io: every variant names the file it is about and what was wrong.

use std::path::{Path, PathBuf};

use arrow::error::ArrowError;
use parquet::errors::ParquetError;

/// Why reading or writing an artifact file failed. The `Display` text always names the
/// file and says what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused an operation (missing file, permissions, full disk...).
    #[error("cannot {action} {}: {source}", path.display())]
    Fs {
        path: PathBuf,
        /// What was attempted, e.g. "open", "read", "rename into place".
        action: &'static str,
        source: std::io::Error,
    },
    /// The file exists but is not a Parquet file (or its footer is corrupt).
    #[error("{} is not a readable Parquet file: {source}", path.display())]
    NotParquet { path: PathBuf, source: ParquetError },
    /// The Parquet encoder failed while producing the file.
    #[error("cannot encode Parquet data for {}: {source}", path.display())]
    Encode { path: PathBuf, source: ParquetError },
    /// The file's footer was readable but its data pages could not be decoded.
    #[error("cannot decode the data of {}: {source}", path.display())]
    Decode { path: PathBuf, source: ArrowError },
    /// The file is valid Parquet but does not follow the documented schema.
    #[error("{} does not have the expected schema: {detail}", path.display())]
    Schema { path: PathBuf, detail: String },
    /// The file's schema is right but a value breaks the contract (nulls, bad steps...).
    #[error("{} holds invalid data: {detail}", path.display())]
    Data { path: PathBuf, detail: String },
    /// A user file has no (numeric) column of this name; `columns` are the numeric ones it has
    /// (callers that know the spec's suggestion rule add a "did you mean").
    #[error("{} holds invalid data: no column `{column}` (numeric columns: {})", path.display(), columns.join(", "))]
    UnknownColumn {
        path: PathBuf,
        column: String,
        columns: Vec<String>,
    },
    /// The caller passed data that cannot be written under the documented schema.
    #[error("refusing to write {}: {detail}", path.display())]
    InvalidInput { path: PathBuf, detail: String },
}

impl IoError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            IoError::Fs { path, .. }
            | IoError::NotParquet { path, .. }
            | IoError::Encode { path, .. }
            | IoError::Decode { path, .. }
            | IoError::Schema { path, .. }
            | IoError::Data { path, .. }
            | IoError::UnknownColumn { path, .. }
            | IoError::InvalidInput { path, .. } => path,
        }
    }

    /// Whether the error is "the file does not exist" (useful to cache lookups).
    pub fn is_not_found(&self) -> bool {
        matches!(self, IoError::Fs { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn fs(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        IoError::Fs {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    pub(crate) fn schema(path: &Path, detail: impl Into<String>) -> Self {
        IoError::Schema {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    pub(crate) fn data(path: &Path, detail: impl Into<String>) -> Self {
        IoError::Data {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_input(path: &Path, detail: impl Into<String>) -> Self {
        IoError::InvalidInput {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}
