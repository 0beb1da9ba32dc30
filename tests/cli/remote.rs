//! The remote cache end to end: two machines' caches (two directories) share results through a
//! real S3 server (moto on loopback; CI requires it, elsewhere the S3 test skips) or a file://
//! remote. The second machine's run pulls every entry instead of computing it, with the first
//! machine's bytes; `drift push` is idempotent and `drift pull` fetches what a spec reaches.

use crate::util::{Output, Scratch, artifact_digests, ids_in, instances, repo, spec};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

/// moto's S3 server on a free loopback port, killed on drop (shared with drift-remote's tests).
#[path = "../../crates/drift-remote/tests/support/moto.rs"]
mod moto;
use moto::Moto;

/// `drift --cache CACHE ARGS` with extra environment.
fn drift_env(cache: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.current_dir(repo())
        .arg("--cache")
        .arg(cache)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("DRIFT_CACHE")
        .env_remove("DRIFT_REMOTE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run drift");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Moto {
    /// The environment a lab member would set for an S3-compatible store.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// Machine A computes and pushes; machine B's run pulls everything, bit for bit; machine C
/// uses `drift pull`, then runs with nothing to do.
fn two_machines_share_results(remote: &str, env: &[(&str, String)]) {
    let tiny = spec("tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let (a, b, c) = (Scratch::new(), Scratch::new(), Scratch::new());
    let with_remote = |cache: &Path, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--remote", remote]);
        drift_env(cache, &all, env)
    };

    let out = drift_env(&a.cache(), &["run", tiny, "--json"], env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = with_remote(&a.cache(), &["push", tiny]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("pushed 23 entries"),
        "{}",
        out.stdout
    );
    // Content-addressed and idempotent: a second push sends nothing.
    let out = with_remote(&a.cache(), &["push", tiny]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("0 files (0 B) sent, 23 already there"),
        "{}",
        out.stdout
    );

    // Machine B: every instance is found remotely before it would run.
    let out = with_remote(&b.cache(), &["run", tiny, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = instances(&out.stdout);
    assert_eq!(ids_in(&list, "pulled").len(), list.len(), "{}", out.stderr);
    assert_eq!(artifact_digests(&a.cache()), artifact_digests(&b.cache()));
    assert_eq!(a.csv_rows(Path::new(tiny)), b.csv_rows(Path::new(tiny)));

    // Machine C: an explicit pull, then a run that finds everything locally.
    let out = with_remote(&c.cache(), &["pull", tiny]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("pulled 23 entries"),
        "{}",
        out.stdout
    );
    let out = drift_env(&c.cache(), &["run", tiny, "--json"], env);
    let list = instances(&out.stdout);
    assert_eq!(ids_in(&list, "cached").len(), list.len());
    assert_eq!(artifact_digests(&a.cache()), artifact_digests(&c.cache()));
    // Nothing half-downloaded was left behind.
    assert_eq!(
        std::fs::read_dir(c.cache().join("v1/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn two_machines_share_results_through_s3() {
    let Some(moto) = Moto::start("two_machines_share_results_through_s3") else {
        return;
    };
    moto.create_bucket("lab");
    two_machines_share_results("s3://lab/drift", &moto.env());
}

#[test]
fn two_machines_share_results_through_a_file_remote() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("remote").display());
    two_machines_share_results(&url, &[]);
}

#[test]
fn an_unreachable_remote_is_reported_and_the_instances_are_computed() {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
    ];
    let out = drift_env(
        &s.cache(),
        &[
            "run",
            tiny.to_str().unwrap(),
            "--json",
            "--remote",
            "s3://lab/drift",
        ],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = instances(&out.stdout);
    assert_eq!(ids_in(&list, "executed").len(), list.len());
    assert!(
        out.stderr
            .contains("remote cache s3://lab/drift failed, computing instead"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr
            .matches("remote cache s3://lab/drift failed")
            .count(),
        1,
        "one message, not one per instance\n{}",
        out.stderr
    );
    // Without a remote, push and pull say how to configure one.
    let out = s.drift(&["push", tiny.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("[cache] remote"), "{}", out.stderr);
}
