//! Test harness: a temporary cache, a runner for the `drift` binary, and helpers to read results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (two levels above the drift-cli crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A spec under tests/specs/.
pub fn spec(name: &str) -> PathBuf {
    repo().join("tests/specs").join(name)
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A scratch directory with a cache, removed on drop.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Starts `drift run SPEC --json --jobs JOBS EXTRA...` on this cache in the background
    /// (one compute thread per instance; stdout and stderr captured).
    pub fn spawn_run(&self, spec: &Path, jobs: usize, extra: &[&str]) -> std::process::Child {
        self.spawn_run_with(spec, jobs, extra, std::process::Stdio::piped)
    }

    /// [`Scratch::spawn_run`] with its output discarded (for runs that are killed, whose
    /// output nobody reads: a full pipe must not stall them).
    pub fn spawn_run_quiet(&self, spec: &Path, jobs: usize, extra: &[&str]) -> std::process::Child {
        self.spawn_run_with(spec, jobs, extra, std::process::Stdio::null)
    }

    fn spawn_run_with(
        &self,
        spec: &Path,
        jobs: usize,
        extra: &[&str],
        output: fn() -> std::process::Stdio,
    ) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_drift"))
            .current_dir(repo())
            .arg("--cache")
            .arg(self.cache())
            .args([
                "run",
                spec.to_str().expect("utf-8 path"),
                "--json",
                "--jobs",
            ])
            .arg(jobs.to_string())
            .args(extra)
            .env("RAYON_NUM_THREADS", "1")
            .env_remove("DRIFT_CACHE")
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("spawn drift")
    }

    /// The cache entry directory of a run record (from `--json` output).
    pub fn entry_dir(&self, record: &serde_json::Value) -> PathBuf {
        let key = record["key"].as_str().expect("a record with a key");
        self.cache().join("v1/entries").join(&key[..2]).join(key)
    }

    /// Writes a file into the scratch directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Runs `drift --cache <scratch cache> ARGS` from the repository root.
    pub fn drift(&self, args: &[&str]) -> Output {
        drift_in(&repo(), &self.cache(), args)
    }

    /// `drift run --json` with `RAYON_NUM_THREADS=threads` (compute threads per instance).
    pub fn run_json_threads(
        &self,
        spec: &Path,
        extra: &[&str],
        threads: usize,
    ) -> Vec<serde_json::Value> {
        let mut args = vec!["run", spec.to_str().expect("utf-8 path"), "--json"];
        args.extend_from_slice(extra);
        let out = drift_with_threads(&repo(), &self.cache(), &args, threads);
        assert_eq!(out.code, 0, "drift run failed:\n{}", out.stderr);
        instances(&out.stdout)
    }

    /// `drift run --json` and the parsed instance list.
    pub fn run_json(&self, spec: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["run", spec.to_str().expect("utf-8 path"), "--json"];
        args.extend_from_slice(extra);
        let out = self.drift(&args);
        assert_eq!(out.code, 0, "drift run failed:\n{}", out.stderr);
        instances(&out.stdout)
    }

    /// The spec's report as `drift table --format csv`: one map from column to cell per row.
    pub fn csv_rows(&self, spec: &Path) -> Vec<BTreeMap<String, String>> {
        let out = self.drift(&[
            "table",
            spec.to_str().expect("utf-8 path"),
            "--format",
            "csv",
        ]);
        assert_eq!(out.code, 0, "drift table failed:\n{}", out.stderr);
        let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .expect("a header line")
            .split(',')
            .map(String::from)
            .collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .cloned()
                    .zip(l.split(',').map(String::from))
                    .collect()
            })
            .collect()
    }
}

pub fn drift_in(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    drift_with_threads(cwd, cache, args, 1)
}

/// [`drift_in`] with `threads` compute threads per instance.
pub fn drift_with_threads(cwd: &Path, cache: &Path, args: &[&str], threads: usize) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_drift"))
        .current_dir(cwd)
        .arg("--cache")
        .arg(cache)
        .args(args)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env_remove("DRIFT_CACHE")
        .output()
        .expect("run drift");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn instances(stdout: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}"));
    v["instances"].as_array().expect("instances array").clone()
}

/// Ids of the instances in a given state.
pub fn ids_in(instances: &[serde_json::Value], state: &str) -> Vec<String> {
    let mut ids: Vec<String> = instances
        .iter()
        .filter(|i| i["state"] == state)
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// Every manifest in a cache: instance id -> (file name -> blake3 digest).
pub fn artifact_digests(cache: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let entries = cache.join("v1/entries");
    for shard in std::fs::read_dir(&entries).expect("entries") {
        for entry in std::fs::read_dir(shard.expect("shard").path()).expect("shard dir") {
            let manifest = entry.expect("entry").path().join("manifest.json");
            let m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest"))
                    .expect("json");
            let files = m["files"]
                .as_object()
                .expect("files")
                .iter()
                .map(|(k, v)| (k.clone(), v["digest"].as_str().expect("digest").to_string()))
                .collect();
            out.insert(m["id"].as_str().expect("id").to_string(), files);
        }
    }
    out
}
