//! From a remote cache URL (and options) to an object store and the prefix drift writes under.

use crate::error::{ACCEPTED_URLS, RemoteError};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// The store, the prefix under it, and the scheme (`s3`, `gs`, `az`, `file`, for hints).
pub(crate) struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjPath,
    pub scheme: &'static str,
}

/// A few quick retries: transient server errors are retried, but an unreachable endpoint is
/// reported in seconds rather than after object_store's default three minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    }
}

/// Installs rustls' ring crypto provider as the process default, once, before any HTTP client
/// is built: reqwest is built without one (`rustls-no-provider`, to avoid aws-lc's C build) and
/// would panic on the first https client otherwise. A provider installed earlier by someone else
/// is kept.
fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Opens `url`; with `from_env`, the builder first takes its settings from the environment
/// (`AmazonS3Builder::from_env()` and its GCS and Azure equivalents); `options` then apply on
/// top, each key named as object_store's config keys spell it (`aws_endpoint`,
/// `aws_allow_http`, `google_service_account`, `azure_storage_account_name`, ...).
pub(crate) fn open(
    url: &str,
    from_env: bool,
    options: &[(&str, &str)],
) -> Result<Opened, RemoteError> {
    let bad = |message: String| RemoteError::Url {
        url: url.to_string(),
        message,
    };
    install_crypto_provider();
    let parsed = url::Url::parse(url)
        .map_err(|e| bad(format!("not a URL ({e}); expected {ACCEPTED_URLS}")))?;
    let scheme: &'static str = match parsed.scheme() {
        "s3" => "s3",
        "gs" => "gs",
        "az" => "az",
        "file" => "file",
        other => {
            return Err(bad(format!(
                "unsupported scheme {other}://; expected {ACCEPTED_URLS}"
            )));
        }
    };
    let option_key = |key: &str| key.to_ascii_lowercase();
    let unknown = |key: &str| bad(format!("unknown option {key:?} for {scheme}:// remotes"));
    let built = |e: object_store::Error| bad(format!("cannot configure the store: {e}"));
    if scheme == "file" {
        if let Some((key, _)) = options.first() {
            return Err(bad(format!(
                "file:// remotes take no options (got {key:?})"
            )));
        }
        if parsed.host_str().is_some_and(|h| !h.is_empty()) {
            return Err(bad(
                "a file:// remote needs an absolute path with no host: file:///absolute/path"
                    .into(),
            ));
        }
        let dir = parsed
            .to_file_path()
            .map_err(|()| bad("not an absolute local path".into()))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(built)?
            .with_fsync(true);
        return Ok(Opened {
            store: Arc::new(store),
            prefix: ObjPath::default(),
            scheme,
        });
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "no bucket (or container) in the URL; expected {ACCEPTED_URLS}"
        )));
    }
    let prefix = ObjPath::from_url_path(parsed.path().trim_matches('/'))
        .map_err(|e| bad(format!("bad prefix: {e}")))?;
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" => {
            let mut b = if from_env {
                AmazonS3Builder::from_env()
            } else {
                AmazonS3Builder::new()
            }
            .with_url(url);
            for (key, value) in options {
                let k: AmazonS3ConfigKey = option_key(key).parse().map_err(|_| unknown(key))?;
                b = b.with_config(k, *value);
            }
            Arc::new(b.with_retry(retry()).build().map_err(built)?)
        }
        "gs" => {
            let mut b = if from_env {
                GoogleCloudStorageBuilder::from_env()
            } else {
                GoogleCloudStorageBuilder::new()
            }
            .with_url(url);
            for (key, value) in options {
                let k: GoogleConfigKey = option_key(key).parse().map_err(|_| unknown(key))?;
                b = b.with_config(k, *value);
            }
            Arc::new(b.with_retry(retry()).build().map_err(built)?)
        }
        _ => {
            let mut b = if from_env {
                MicrosoftAzureBuilder::from_env()
            } else {
                MicrosoftAzureBuilder::new()
            }
            .with_url(url);
            for (key, value) in options {
                let k: AzureConfigKey = option_key(key).parse().map_err(|_| unknown(key))?;
                b = b.with_config(k, *value);
            }
            Arc::new(b.with_retry(retry()).build().map_err(built)?)
        }
    };
    Ok(Opened {
        store,
        prefix,
        scheme,
    })
}
