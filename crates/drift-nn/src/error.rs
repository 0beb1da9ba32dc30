//! The crate's error type: every failure `drift-nn` reports, candle errors included.

use std::path::PathBuf;

/// Everything that can go wrong in `drift-nn`. Bad input is always an error, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A configuration value is out of range (zero batch, odd time embedding, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// Input data does not fit the request (length not a multiple of `dim`, empty data, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A device string did not parse.
    #[error(
        "unknown device `{input}`: expected one of `cpu`, `cuda`, `cuda:N` (N = GPU index), `auto`"
    )]
    ParseDevice {
        /// The string that was given.
        input: String,
    },

    /// A CUDA device was asked for, but this binary was built without CUDA support.
    #[error(
        "device `{requested}` requested, but this build has no CUDA support; \
         rebuild with `--features cuda` (benches/cuda-build.sh builds it \
         without a system CUDA toolkit), or use `cpu`"
    )]
    CudaNotBuilt {
        /// The device that was asked for, e.g. `cuda:0`.
        requested: String,
    },

    /// A device was asked for and could not be opened.
    #[error("cannot open device `{requested}`: {message}")]
    Device {
        /// The device that was asked for.
        requested: String,
        /// Why it failed.
        message: String,
    },

    /// The training loss became NaN or infinite; training stopped at that step.
    #[error(
        "training diverged at step {step} (non-finite loss or parameters){}",
        match last_finite_loss {
            Some(l) => format!("; last finite loss {l}"),
            None => String::from("; no finite loss was recorded"),
        }
    )]
    Diverged {
        /// 1-based number of the step whose loss (or resulting parameters) was non-finite.
        step: usize,
        /// The loss of the last step that had a finite loss, if any.
        last_finite_loss: Option<f32>,
    },

    /// Reading or writing a file failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint file is malformed or does not match the requested model.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// An error raised by the tensor backend (candle), as text.
    #[error("tensor backend error: {0}")]
    Backend(String),

    /// An internal consistency check failed (a bug in `drift-nn`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<candle_core::Error> for NnError {
    fn from(e: candle_core::Error) -> Self {
        NnError::Backend(backend_message(&e))
    }
}

/// A candle error as one message, without the backtrace candle attaches when `RUST_BACKTRACE`
/// is set: users get the cause, never a stack dump.
pub(crate) fn backend_message(e: &candle_core::Error) -> String {
    use candle_core::Error as E;
    match e {
        E::WithBacktrace { inner, .. } => backend_message(inner),
        E::Context { inner, context } => format!("{context}: {}", backend_message(inner)),
        E::WithPath { inner, path } => format!("{}: {}", path.display(), backend_message(inner)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_errors_carry_no_backtrace() {
        let inner = candle_core::Error::Msg("no kernel for this dtype".into());
        let with_bt = candle_core::Error::WithBacktrace {
            inner: Box::new(inner),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        }
        .context("while sampling");
        assert!(
            with_bt.to_string().lines().count() > 2,
            "candle's own text has the trace"
        );
        let e = NnError::from(with_bt);
        assert_eq!(
            e.to_string(),
            "tensor backend error: while sampling: no kernel for this dtype"
        );
    }
}
