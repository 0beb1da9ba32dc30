//! The remote cache's errors: each names the remote URL, the key and the object involved, and
//! adds a hint for the failures people meet first (no credentials, no bucket, no endpoint).

use drift_cache::CacheError;

/// The URL forms [`crate::Remote::open`] accepts, for error messages.
pub const ACCEPTED_URLS: &str =
    "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///absolute/path";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL (or an option given with it) cannot name a remote cache.
    #[error("remote cache {url:?}: {message}")]
    Url { url: String, message: String },
    /// A request to the object store failed.
    #[error(
        "remote cache {url}: {op} {object}{} failed: {source}{hint}",
        for_key(key)
    )]
    Store {
        url: String,
        op: &'static str,
        object: String,
        key: Option<String>,
        #[source]
        source: Box<object_store::Error>,
        /// Empty, or " (hint: ...)".
        hint: String,
    },
    /// What the remote holds is not what its manifest promises (or the manifest is unusable).
    #[error("remote cache {url}: {object} (key {key}): {problem}")]
    Corrupt {
        url: String,
        key: String,
        object: String,
        problem: String,
    },
    /// The local cache failed (reading the entry to push, staging or committing a pull).
    #[error("remote cache {url}: key {key}: local cache: {source}{hint}")]
    Local {
        url: String,
        key: String,
        #[source]
        source: CacheError,
        hint: String,
    },
    /// The I/O runtime could not start.
    #[error("remote cache {url}: cannot start the I/O runtime: {source}")]
    Runtime {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

fn for_key(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" for key {k}"))
        .unwrap_or_default()
}

/// The error and all its sources, one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether a not-found answer is about the bucket (or container) rather than the object: S3,
/// GCS and Azure all answer 404 for both, with different bodies.
pub(crate) fn bucket_missing(e: &object_store::Error) -> bool {
    let text = chain(e);
    text.contains("NoSuchBucket")
        || text.contains("ContainerNotFound")
        || text.contains("bucket does not exist")
}

/// A hint for the common failures, by URL scheme, or "".
pub(crate) fn hint(scheme: &str, e: &object_store::Error) -> String {
    let text = chain(e);
    let lower = text.to_ascii_lowercase();
    let credentials = match scheme {
        "s3" => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION)",
        "gs" => "GOOGLE_SERVICE_ACCOUNT (a service account file) or GOOGLE_SERVICE_ACCOUNT_KEY",
        "az" => "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or a SAS token)",
        _ => "the credentials",
    };
    let hint = if bucket_missing(e) {
        "does the bucket exist? drift does not create it".to_string()
    } else if matches!(
        e,
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. }
    ) || [
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "accessdenied",
        "credential",
        "forbidden",
        "authorization",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        format!("are credentials set and allowed to use this bucket? set {credentials}")
    } else if lower.contains("url scheme is not allowed") || lower.contains("http is not allowed") {
        "the endpoint is plain http: set AWS_ALLOW_HTTP=true (or the allow_http option)".into()
    } else if [
        "connection refused",
        "error sending request",
        "tcp connect",
        "dns error",
        "failed to lookup",
        "timed out",
        "connect error",
        "client error (connect)",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        let endpoint = if scheme == "s3" {
            " (for an S3-compatible server, AWS_ENDPOINT_URL names it)"
        } else {
            ""
        };
        format!("is the endpoint reachable?{endpoint}")
    } else {
        return String::new();
    };
    format!(" (hint: {hint})")
}

/// A hint for a local cache error, or "".
pub(crate) fn local_hint(e: &CacheError) -> String {
    match e {
        CacheError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            " (hint: push needs a complete local entry: run the stage first)".into()
        }
        CacheError::Manifest { .. } => {
            " (hint: `drift verify` checks local entries; a damaged one is recomputed by `drift run`)"
                .into()
        }
        _ => String::new(),
    }
}
