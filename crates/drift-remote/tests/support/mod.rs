//! Test support: a moto S3 server on loopback (started per test, killed on drop), raw access
//! to the objects behind a remote, and cache entries to move around.

use drift_cache::{Cache, Manifest};
use drift_plan::key::{KeyComponents, KeyInput, StageKey};
use object_store::ObjectStore;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "install it with `bash .ci/install-moto.sh` (a venv in \
    target/moto-venv), or point DRIFT_MOTO_SERVER at a moto_server executable";

/// `moto_server`: $DRIFT_MOTO_SERVER, else the workspace's target/moto-venv, else PATH.
fn find_moto_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DRIFT_MOTO_SERVER") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "DRIFT_MOTO_SERVER={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto-venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
}

/// A moto server in S3 mode on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
}

impl Moto {
    /// Starts moto, or None (after saying so) when it is not installed; under CI (`CI` set) a
    /// missing moto fails the test instead.
    pub fn start(test: &str) -> Option<Moto> {
        let Some(server) = find_moto_server() else {
            if std::env::var_os("CI").is_some() {
                panic!("moto_server not found and CI is set: {INSTALL_HINT}");
            }
            eprintln!("skipping {test}: moto_server not found; {INSTALL_HINT}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log =
            std::env::temp_dir().join(format!("drift-moto-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        moto.wait_ready(port);
        Some(moto)
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("moto status") {
                panic!("moto_server exited ({status}): {}", self.log_text());
            }
            if let Ok(reply) = http(port, "GET", "/")
                && reply.starts_with("HTTP/1.1 200")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        let reply = http(self.port(), "PUT", &format!("/{bucket}")).expect("PUT bucket");
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "creating {bucket}: {reply}"
        );
    }

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

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One HTTP/1.1 request with an empty body; the whole reply.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
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
