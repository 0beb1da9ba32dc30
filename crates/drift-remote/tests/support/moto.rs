//! A moto S3 server on loopback for tests: found, started on a free port, waited for and
//! killed on drop, plus the one raw HTTP request it needs. Plain std, no object_store: both
//! drift-remote's tests (`support`) and the CLI suite (`tests/cli/remote.rs`, through
//! `#[path]`) compile this file.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    // Every crate that compiles this file sits two levels below the workspace root.
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
    /// `http://127.0.0.1:PORT`.
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
