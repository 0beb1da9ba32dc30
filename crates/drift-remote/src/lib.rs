//! drift's remote cache: entries of the local cache shared through an object store (S3, GCS,
//! Azure Blob Storage or a local directory), through object_store.
//!
//! ```text
//! <prefix>/v1/
//!   blobs/<blake3 hex of the content>   every artifact file, content-addressed: pushing a file
//!                                       already there (checked with HEAD) sends nothing
//!   entries/<key hex>.json              an entry's manifest.json, byte for byte: uploaded last,
//!                                       once every blob it lists is present, so it is the
//!                                       commit marker: an interrupted push (blobs without a
//!                                       manifest) is never seen as an entry
//! ```
//! A pull reads the manifest, downloads each blob into a staging directory of the local cache
//! under its file name, checks its size and blake3 against the manifest, and adopts the staging
//! directory with the manifest's exact bytes ([`Cache::adopt`]): a damaged or partial download
//! never becomes an entry. A blob is only ever uploaded after its content was hashed and found
//! to be the digest it is stored under, so the remote never holds a blob under a wrong name
//! through drift (one damaged in place is caught when pulled).
//!
//! The API is blocking, like the rest of drift: a [`Remote`] keeps its own tokio runtime and may
//! be shared by many threads at once. It must not be called from inside an async runtime.

mod error;
mod open;

pub use error::{ACCEPTED_URLS, RemoteError};

use drift_cache::{Cache, CacheError, Manifest};
use drift_plan::key::{FileDigest, StageKey};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Bumped with the remote layout; a remote written by another layout is simply not seen.
pub const REMOTE_LAYOUT: &str = "v1";

/// Files up to this size are uploaded with one PUT; larger ones in parts of [`PART_BYTES`].
const MULTIPART_THRESHOLD: u64 = 8 << 20;
/// Part size of multipart uploads (S3 wants at least 5 MiB for all parts but the last).
const PART_BYTES: usize = 8 << 20;
/// Blobs moved at once by one push or pull.
const CONCURRENT_BLOBS: usize = 8;
/// Parts of one multipart upload in flight at once.
const CONCURRENT_PARTS: usize = 4;

/// A remote cache. `Send + Sync`: one `Remote` serves any number of threads.
pub struct Remote {
    url: String,
    scheme: &'static str,
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

/// What one [`Remote::push`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// Artifact files uploaded (files whose blob the remote lacked; the manifest not counted).
    pub files_sent: usize,
    /// Their bytes.
    pub bytes_sent: u64,
    /// The remote already had the entry (its manifest): nothing was sent.
    pub already_present: bool,
}

impl Remote {
    /// Opens a remote cache: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` or `file:///abs/path` (a directory, created if missing).
    /// Credentials and endpoint come from the environment through object_store's builders'
    /// `from_env()`: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION/AWS_DEFAULT_REGION,
    /// AWS_ENDPOINT_URL or AWS_ENDPOINT (an S3-compatible server, addressed path-style),
    /// AWS_ALLOW_HTTP (for a plain-http endpoint), and the GOOGLE_* / AZURE_* equivalents.
    /// Nothing is contacted until the first request.
    pub fn open(url: &str) -> Result<Remote, RemoteError> {
        Remote::build(url, open::open(url, true, &[])?)
    }

    /// [`Remote::open`] with the store's settings given explicitly instead of read from the
    /// environment (which is not read at all): `(key, value)` pairs named as object_store's
    /// config keys spell them, case-insensitively, for example `("aws_access_key_id", ..)`,
    /// `("aws_secret_access_key", ..)`, `("aws_region", "us-east-1")`,
    /// `("aws_endpoint", "http://127.0.0.1:9000")`, `("aws_allow_http", "true")`,
    /// `("google_service_account", path)`, `("azure_storage_account_name", ..)`. An unknown key
    /// is an error; file:// remotes take none.
    pub fn open_with_options(url: &str, options: &[(&str, &str)]) -> Result<Remote, RemoteError> {
        Remote::build(url, open::open(url, false, options)?)
    }

    fn build(url: &str, opened: open::Opened) -> Result<Remote, RemoteError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("drift-remote")
            .enable_all()
            .build()
            .map_err(|source| RemoteError::Runtime {
                url: url.to_string(),
                source,
            })?;
        Ok(Remote {
            url: url.to_string(),
            scheme: opened.scheme,
            store: opened.store,
            prefix: opened.prefix,
            runtime,
        })
    }

    /// The URL the remote was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the remote holds a complete entry for `key` (its manifest, the commit marker).
    pub fn contains(&self, key: &StageKey) -> Result<bool, RemoteError> {
        self.runtime
            .block_on(async { Ok(self.get_manifest(key).await?.is_some()) })
    }

    /// Uploads `key`'s complete local entry: every artifact file the remote lacks as a blob
    /// (each hashed on the way and refused unless it has its recorded digest), then the
    /// manifest. Idempotent: an entry already on the remote sends nothing, and blobs already
    /// there (shared with other entries) are not sent again.
    pub fn push(&self, cache: &Cache, key: &StageKey) -> Result<Pushed, RemoteError> {
        let local = |source: CacheError| RemoteError::Local {
            url: self.url.clone(),
            key: key.hex(),
            hint: error::local_hint(&source),
            source,
        };
        let manifest_bytes = cache.manifest_bytes(key).map_err(local)?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            local(CacheError::Manifest {
                path: cache.entry_dir(key).join(drift_cache::MANIFEST),
                message: e.to_string(),
            })
        })?;
        let dir = cache.entry_dir(key);
        self.runtime.block_on(async {
            let manifest_object = self.manifest_path(key);
            match self.store.head(&manifest_object).await {
                Ok(_) => {
                    return Ok(Pushed {
                        already_present: true,
                        ..Pushed::default()
                    });
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store_error("HEAD", &manifest_object, Some(key), e)),
            }
            // One upload per distinct content.
            let mut blobs: BTreeMap<FileDigest, (&str, u64)> = BTreeMap::new();
            for (name, record) in &manifest.files {
                blobs
                    .entry(record.digest)
                    .or_insert((name.as_str(), record.bytes));
            }
            let sent: Vec<Option<u64>> = stream::iter(blobs)
                .map(|(digest, (name, bytes))| self.push_blob(key, &dir, name, digest, bytes))
                .buffer_unordered(CONCURRENT_BLOBS)
                .try_collect()
                .await?;
            // Every blob is present: the manifest commits the entry.
            self.store
                .put(&manifest_object, PutPayload::from(manifest_bytes))
                .await
                .map_err(|e| self.store_error("PUT", &manifest_object, Some(key), e))?;
            Ok(Pushed {
                files_sent: sent.iter().flatten().count(),
                bytes_sent: sent.iter().flatten().sum(),
                already_present: false,
            })
        })
    }

    /// Downloads `key`'s entry into the local cache, verified, and returns its manifest;
    /// `None` when the remote has no (complete) entry for it. An entry already complete in the
    /// local cache is returned without downloading anything. A blob whose size or blake3
    /// digest is not the manifest's fails the pull, leaving nothing of it in the local cache.
    pub fn pull(&self, cache: &Cache, key: &StageKey) -> Result<Option<Manifest>, RemoteError> {
        if let Some(m) = cache.lookup(key) {
            return Ok(Some(m));
        }
        let local = |source: CacheError| RemoteError::Local {
            url: self.url.clone(),
            key: key.hex(),
            source,
            hint: String::new(),
        };
        self.runtime.block_on(async {
            let Some(manifest_bytes) = self.get_manifest(key).await? else {
                return Ok(None);
            };
            let manifest_object = self.manifest_path(key);
            let corrupt = |problem: String| RemoteError::Corrupt {
                url: self.url.clone(),
                key: key.hex(),
                object: manifest_object.to_string(),
                problem,
            };
            let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
                .map_err(|e| corrupt(format!("the manifest does not parse: {e}")))?;
            if manifest.key != *key {
                return Err(corrupt(format!(
                    "the manifest names key {}",
                    manifest.key.hex()
                )));
            }
            if let Some(name) = manifest.files.keys().find(|n| !plain_file_name(n)) {
                return Err(corrupt(format!(
                    "the manifest lists {name:?}, not a plain file name"
                )));
            }
            // Dropped (and removed) on any error below.
            let staging = cache.stage(key).map_err(local)?;
            stream::iter(&manifest.files)
                .map(|(name, record)| {
                    self.pull_blob(key, &staging.dir, name, record.digest, record.bytes)
                })
                .buffer_unordered(CONCURRENT_BLOBS)
                .try_collect::<Vec<()>>()
                .await?;
            cache
                .adopt(staging, &manifest_bytes)
                .map(Some)
                .map_err(local)
        })
    }

    /// The keys of every complete entry on the remote (those with a manifest), sorted.
    pub fn keys(&self) -> Result<Vec<StageKey>, RemoteError> {
        let dir = self.layout().join("entries");
        self.runtime.block_on(async {
            let metas: Vec<_> = self
                .store
                .list(Some(&dir))
                .try_collect()
                .await
                .map_err(|e| self.store_error("LIST", &dir, None, e))?;
            let mut keys: Vec<StageKey> = metas
                .iter()
                .filter_map(|m| {
                    m.location
                        .filename()?
                        .strip_suffix(".json")
                        .and_then(StageKey::from_hex)
                })
                .collect();
            keys.sort();
            keys.dedup();
            Ok(keys)
        })
    }

    fn layout(&self) -> ObjPath {
        self.prefix.clone().join(REMOTE_LAYOUT)
    }

    fn manifest_path(&self, key: &StageKey) -> ObjPath {
        self.layout()
            .join("entries")
            .join(format!("{}.json", key.hex()))
    }

    fn blob_path(&self, digest: &FileDigest) -> ObjPath {
        self.layout().join("blobs").join(digest.hex())
    }

    fn store_error(
        &self,
        op: &'static str,
        object: &ObjPath,
        key: Option<&StageKey>,
        source: object_store::Error,
    ) -> RemoteError {
        RemoteError::Store {
            url: self.url.clone(),
            op,
            object: object.to_string(),
            key: key.map(StageKey::hex),
            hint: error::hint(self.scheme, &source),
            source: Box::new(source),
        }
    }

    /// The manifest's bytes, or None when the remote has no entry for `key`. A GET rather than
    /// a HEAD: its error body tells a missing bucket from a missing object.
    async fn get_manifest(&self, key: &StageKey) -> Result<Option<Vec<u8>>, RemoteError> {
        let object = self.manifest_path(key);
        let fail = |e| self.store_error("GET", &object, Some(key), e);
        match self.store.get(&object).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(fail)?.to_vec())),
            Err(e @ object_store::Error::NotFound { .. }) if !error::bucket_missing(&e) => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }

    /// Uploads one artifact file as the blob `digest` unless the remote has it; the bytes sent
    /// (None when it was there). The content is hashed while it is read and the upload is
    /// completed only if it is `digest`: a blob is never stored under another content's name.
    async fn push_blob(
        &self,
        key: &StageKey,
        dir: &Path,
        name: &str,
        digest: FileDigest,
        bytes: u64,
    ) -> Result<Option<u64>, RemoteError> {
        let object = self.blob_path(&digest);
        match self.store.head(&object).await {
            Ok(meta) if meta.size == bytes => return Ok(None),
            // A blob of the wrong size (damaged in place): replaced below.
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.store_error("HEAD", &object, Some(key), e)),
        }
        let path = dir.join(name);
        let local = |source: std::io::Error| {
            let source = CacheError::Io {
                path: path.clone(),
                source,
            };
            RemoteError::Local {
                url: self.url.clone(),
                key: key.hex(),
                hint: error::local_hint(&source),
                source,
            }
        };
        let damaged = |problem: String| {
            let source = CacheError::Manifest {
                path: dir.join(drift_cache::MANIFEST),
                message: format!("file {name}: {problem}"),
            };
            RemoteError::Local {
                url: self.url.clone(),
                key: key.hex(),
                hint: error::local_hint(&source),
                source,
            }
        };
        let check = |hasher: blake3::Hasher, read: u64| {
            if read != bytes {
                return Err(damaged(format!("{read} bytes, the manifest says {bytes}")));
            }
            let got = FileDigest(*hasher.finalize().as_bytes());
            if got != digest {
                return Err(damaged(format!(
                    "content (blake3 {}) differs from its recorded digest {}",
                    got.hex(),
                    digest.hex()
                )));
            }
            Ok(())
        };
        let put = |e| self.store_error("PUT", &object, Some(key), e);
        if bytes <= MULTIPART_THRESHOLD {
            let content = std::fs::read(&path).map_err(local)?;
            let mut hasher = blake3::Hasher::new();
            hasher.update(&content);
            check(hasher, content.len() as u64)?;
            self.store
                .put(&object, PutPayload::from(content))
                .await
                .map_err(put)?;
            return Ok(Some(bytes));
        }
        let upload = self.store.put_multipart(&object).await.map_err(put)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let sent = async {
            let mut file = std::fs::File::open(&path).map_err(local)?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut read = 0u64;
            loop {
                let n = file.read(&mut buf).map_err(local)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                read += n as u64;
                writer
                    .wait_for_capacity(CONCURRENT_PARTS)
                    .await
                    .map_err(put)?;
                writer.write(&buf[..n]);
            }
            check(hasher, read)
        }
        .await;
        match sent {
            Ok(()) => {
                writer.finish().await.map_err(put)?;
                Ok(Some(bytes))
            }
            Err(e) => {
                // Never completed: the object does not appear; the parts are discarded.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Downloads the blob `digest` into `dir/name`, checking its size and digest.
    async fn pull_blob(
        &self,
        key: &StageKey,
        dir: &Path,
        name: &str,
        digest: FileDigest,
        bytes: u64,
    ) -> Result<(), RemoteError> {
        let object = self.blob_path(&digest);
        let fail = |e| self.store_error("GET", &object, Some(key), e);
        let corrupt = |problem: String| RemoteError::Corrupt {
            url: self.url.clone(),
            key: key.hex(),
            object: object.to_string(),
            problem: format!(
                "blob {} (file {name}): {problem}; the download was discarded",
                digest.hex()
            ),
        };
        let got = match self.store.get(&object).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(corrupt(
                    "missing on the remote, though the entry's manifest lists it".into(),
                ));
            }
            Err(e) => return Err(fail(e)),
        };
        let path = dir.join(name);
        let local = |source: std::io::Error| RemoteError::Local {
            url: self.url.clone(),
            key: key.hex(),
            source: CacheError::Io {
                path: path.clone(),
                source,
            },
            hint: String::new(),
        };
        let mut file = std::fs::File::create(&path).map_err(local)?;
        let mut hasher = blake3::Hasher::new();
        let mut read = 0u64;
        let mut chunks = got.into_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(fail)?;
            read += chunk.len() as u64;
            if read > bytes {
                return Err(corrupt(format!(
                    "more than the {bytes} bytes the manifest records"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(local)?;
        }
        if read != bytes {
            return Err(corrupt(format!(
                "{read} bytes, the manifest records {bytes}"
            )));
        }
        let actual = FileDigest(*hasher.finalize().as_bytes());
        if actual != digest {
            return Err(corrupt(format!(
                "content has blake3 {}, not the expected digest {}",
                actual.hex(),
                digest.hex()
            )));
        }
        file.sync_all().map_err(local)
    }
}

/// Whether a manifest's file name is one plain path component (never `..`, never a path).
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name != drift_cache::MANIFEST
        && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Remote>();
    }

    #[test]
    fn urls_are_recognised_by_scheme() {
        let dir = std::env::temp_dir().join(format!("drift-remote-open-{}", std::process::id()));
        let url = format!("file://{}", dir.display());
        let remote = Remote::open(&url).unwrap();
        assert_eq!(remote.url(), url);
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
        let s3 = Remote::open_with_options(
            "s3://bucket/some/prefix/",
            &[
                ("aws_access_key_id", "k"),
                ("aws_secret_access_key", "s"),
                ("aws_region", "us-east-1"),
            ],
        )
        .unwrap();
        assert_eq!(s3.manifest_path(&StageKey([0; 32])).to_string(), {
            format!("some/prefix/v1/entries/{}.json", StageKey([0; 32]).hex())
        });
        assert_eq!(
            s3.blob_path(&FileDigest([1; 32])).to_string(),
            format!("some/prefix/v1/blobs/{}", FileDigest([1; 32]).hex())
        );
        let gs = Remote::open_with_options("gs://bucket/p", &[]).unwrap();
        assert_eq!(gs.layout().to_string(), "p/v1");
        // Azure needs an account; the error is about that, not the scheme.
        let az = Remote::open_with_options(
            "az://container/p",
            &[
                ("azure_storage_account_name", "acct"),
                ("azure_storage_account_key", "a2V5"),
            ],
        )
        .unwrap();
        assert_eq!(az.layout().to_string(), "p/v1");
        let err = Remote::open_with_options("s3://bucket/p", &[("no_such_option", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option \"no_such_option\""), "{err}");
        let err = Remote::open("s3:///p").unwrap_err().to_string();
        assert!(err.contains("no bucket"), "{err}");
    }

    /// reqwest is built with `rustls-no-provider`: an https endpoint must still get TLS (through
    /// the ring provider `open` installs), failing as a TLS error against a server that does
    /// not speak it rather than panicking about a missing crypto provider.
    #[test]
    fn https_endpoints_get_tls_through_ring() {
        use std::net::TcpListener;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let saw_client_hello = Arc::new(AtomicBool::new(false));
        let saw = Arc::clone(&saw_client_hello);
        // A plain-TCP server: notes whether the client opened with a TLS handshake record
        // (content type 22, version 3.x), then answers in plain HTTP and hangs up.
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut head = [0u8; 2];
                if conn.read_exact(&mut head).is_ok() && head == [0x16, 0x03] {
                    saw.store(true, Ordering::SeqCst);
                }
                let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let endpoint = format!("https://127.0.0.1:{port}");
        let remote = Remote::open_with_options(
            "s3://bucket/p",
            &[
                ("aws_endpoint", endpoint.as_str()),
                ("aws_access_key_id", "k"),
                ("aws_secret_access_key", "s"),
                ("aws_region", "us-east-1"),
            ],
        )
        .unwrap();
        let err = error::chain(&remote.contains(&StageKey([0; 32])).unwrap_err());
        assert!(
            saw_client_hello.load(Ordering::SeqCst),
            "no TLS ClientHello sent: {err}"
        );
        assert!(err.contains("Connect"), "not a TLS connect error: {err}");
        // An https endpoint nobody listens on: a connection error, no panic either.
        let closed = Remote::open_with_options(
            "s3://bucket/p",
            &[
                ("aws_endpoint", "https://127.0.0.1:1"),
                ("aws_access_key_id", "k"),
                ("aws_secret_access_key", "s"),
                ("aws_region", "us-east-1"),
            ],
        )
        .unwrap();
        let refused = error::chain(&closed.contains(&StageKey([0; 32])).unwrap_err());
        assert!(
            refused.contains("Connect"),
            "not a connect error: {refused}"
        );
    }

    #[test]
    fn file_names_from_manifests_stay_inside_the_entry() {
        assert!(plain_file_name("samples.parquet"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "manifest.json"] {
            assert!(!plain_file_name(bad), "{bad:?}");
        }
    }
}
