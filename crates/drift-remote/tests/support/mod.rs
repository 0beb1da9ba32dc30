//! Test support: a moto S3 server on loopback (started per test, killed on drop; the
//! object_store-free part in `moto.rs`, shared with the CLI suite), raw access to the objects
//! behind a remote, and cache entries to move around.

mod moto;

use drift_cache::{Cache, Manifest};
use drift_plan::key::{KeyComponents, KeyInput, StageKey};
pub use moto::Moto;
use object_store::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;

impl Moto {
    /// The store options of a remote on this server.
    pub fn options(&self) -> Vec<(&str, &str)> {
        vec![
            ("aws_access_key_id", "testing"),
            ("aws_secret_access_key", "testing"),
            ("aws_region", "us-east-1"),
            ("aws_endpoint", &self.endpoint),
            ("aws_allow_http", "true"),
        ]
    }

    /// Direct access to a bucket's objects (to damage them).
    pub fn raw(&self, bucket: &str, prefix: &str) -> Raw {
        let mut b = object_store::aws::AmazonS3Builder::new().with_url(format!("s3://{bucket}"));
        for (k, v) in self.options() {
            b = b.with_config(k.parse().unwrap(), v);
        }
        Raw::new(Arc::new(b.build().unwrap()), prefix)
    }
}

/// The objects behind a remote, reached without drift-remote (to damage them in tests).
pub struct Raw {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

impl Raw {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Raw {
        Raw {
            store,
            prefix: prefix.to_string(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn path(&self, rel: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("{}{rel}", self.prefix))
    }

    pub fn put(&self, rel: &str, bytes: Vec<u8>) {
        use object_store::ObjectStoreExt;
        self.rt
            .block_on(self.store.put(&self.path(rel), bytes.into()))
            .unwrap();
    }

    pub fn delete(&self, rel: &str) {
        use object_store::ObjectStoreExt;
        self.rt
            .block_on(self.store.delete(&self.path(rel)))
            .unwrap();
    }

    /// Every object under the prefix (relative names), sorted.
    pub fn list(&self) -> Vec<String> {
        use futures::TryStreamExt;
        let mut names: Vec<String> = self
            .rt
            .block_on(self.store.list(None).try_collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|m| m.location.to_string())
            .filter_map(|l| l.strip_prefix(&self.prefix).map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!(
            "drift-remote-test-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes that do not compress or repeat.
pub fn bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

pub fn components(x: u64) -> KeyComponents {
    KeyComponents {
        kind: "data".into(),
        version: 1,
        params: serde_json::json!({ "x": x }),
        experiment_seed: 7,
        device: None,
        dtype: None,
        inputs: Vec::<KeyInput>::new(),
    }
}

/// Commits an entry with these files into `cache`, as a stage would.
pub fn entry(cache: &Cache, x: u64, files: &[(&str, &[u8])]) -> (StageKey, Manifest) {
    let c = components(x);
    let key = c.key();
    let staging = cache.stage(&key).unwrap();
    for (name, content) in files {
        std::fs::write(staging.dir.join(name), content).unwrap();
    }
    let mut cost = serde_json::Map::new();
    cost.insert("wall_s".into(), serde_json::json!(1.5));
    let m = cache
        .commit(staging, &format!("data.x{x}"), c, cost, false)
        .unwrap();
    (key, m)
}

/// Number of entries in a cache's tmp/ (staging leftovers).
pub fn tmp_count(cache: &Cache) -> usize {
    std::fs::read_dir(cache.root().join("tmp")).unwrap().count()
}
