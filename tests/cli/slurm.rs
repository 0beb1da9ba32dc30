//! The Slurm executor on a real single-node Slurm (`.ci/slurm-up.sh` starts one; CI requires
//! it, elsewhere these tests skip with a message): the quickstart gives the local executor's
//! artifacts bit for bit, a rerun submits nothing, resources stay outside keys, failing jobs are
//! reported with their Slurm state and log (and retried when asked), Ctrl-C cancels the jobs,
//! and a coordinator started after a killed one adopts the jobs still running.

use crate::util::{Scratch, artifact_digests, ids_in, instances, repo, spec};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One Slurm test at a time: the single node has few CPUs, and job names are shared.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether a Slurm cluster answers; under CI its absence is a failure.
fn cluster() -> Option<std::sync::MutexGuard<'static, ()>> {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Slurm cluster answers `sinfo`: under CI, `.ci/run` starts one with .ci/slurm-up.sh"
        );
        eprintln!("skipped: no Slurm cluster (start one with `bash .ci/slurm-up.sh`)");
        return None;
    }
    Some(CLUSTER.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Quick polling for tests (a real cluster keeps the defaults: 2 s doubling to 60 s).
const FAST_POLL: [&str; 4] = [
    "--set",
    "slurm.poll_min_s=0.2",
    "--set",
    "slurm.poll_max_s=1.0",
];

fn slurm_run(s: &Scratch, spec: &Path, extra: &[&str]) -> crate::util::Output {
    let mut args = vec![
        "run",
        spec.to_str().unwrap(),
        "--executor",
        "slurm",
        "--json",
    ];
    args.extend_from_slice(&FAST_POLL);
    args.extend_from_slice(extra);
    s.drift(&args)
}

fn squeue_state(job: &str) -> Option<String> {
    let out = Command::new("squeue")
        .args(["-h", "--array", "--states=all", "-o", "%i|%T", "--jobs"])
        .arg(job.split('_').next().unwrap())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{job}|")).map(str::to_string))
}

/// The job recorded for a running instance in the cache's job journal, once Slurm runs it.
fn wait_for_running_job(cache: &Path, timeout: Duration) -> String {
    let journal = cache.join("v1/slurm/jobs");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for entry in std::fs::read_dir(&journal).into_iter().flatten() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let id = record["id"].as_str().unwrap_or("");
            let job = record["job"].as_str().unwrap_or("").to_string();
            if id.starts_with("train.") && squeue_state(&job).as_deref() == Some("RUNNING") {
                return job;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no training job started running within {timeout:?}");
}

fn spawn_slurm_run(s: &Scratch, spec: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_drift"))
        .current_dir(repo())
        .arg("--cache")
        .arg(s.cache())
        .args(["run", spec.to_str().unwrap(), "--executor", "slurm"])
        .args(FAST_POLL)
        .args(extra)
        .env_remove("DRIFT_CACHE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drift")
}

fn wait_with_timeout(child: &mut std::process::Child, timeout: Duration) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("drift did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn the_quickstart_on_slurm_gives_the_local_executors_artifacts_and_reruns_nothing() {
    let Some(_cluster) = cluster() else { return };
    let quickstart: PathBuf = repo().join("specs/quickstart.toml");
    let local = Scratch::new();
    let out = local.drift(&["run", quickstart.to_str().unwrap(), "--json", "--jobs", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let cluster = Scratch::new();
    let out = slurm_run(&cluster, &quickstart, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = instances(&out.stdout);
    assert_eq!(
        ids_in(&list, "executed").len(),
        list.len(),
        "{}",
        out.stderr
    );
    // Instances of one stage that become ready together share one job array.
    assert!(
        out.stderr.contains("submitted train.fm as Slurm array"),
        "{}",
        out.stderr
    );
    // Bit-identical artifacts, so identical keys and tables.
    assert_eq!(
        artifact_digests(&local.cache()),
        artifact_digests(&cluster.cache())
    );
    assert_eq!(local.csv_rows(&quickstart), cluster.csv_rows(&quickstart));

    // Fresh entries are never submitted, and resources are outside keys.
    let out = slurm_run(
        &cluster,
        &quickstart,
        &[
            "--set",
            "slurm.partition=\"debug\"",
            "--set",
            "train.fm.resources={ cpus = 2, time = \"10:00\" }",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = instances(&out.stdout);
    assert_eq!(ids_in(&list, "cached").len(), list.len());
    assert!(!out.stderr.contains("submitted"), "{}", out.stderr);
}

#[test]
fn failing_jobs_are_reported_with_their_slurm_state_and_log_and_retried_when_asked() {
    let Some(_cluster) = cluster() else { return };
    let s = Scratch::new();
    let slurm = spec("slurm.toml");
    // A training that diverges fails in its job; with one retry it is submitted twice.
    let out = slurm_run(
        &s,
        &slurm,
        &[
            "--set",
            "train.fm.sweep.lr=[1e-3, 1e6]",
            "--set",
            "train.fm.seed=0",
            "--set",
            "report.quality.rows=[\"data\", \"lr\", \"nfe\"]",
            "--set",
            "slurm.retries=1",
            "--keep-going",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let list = instances(&out.stdout);
    let failed = ids_in(&list, "failed");
    assert_eq!(
        failed,
        [
            "train.fm[data=gaussians,lr=1000000.0]",
            "train.fm[data=moons,lr=1000000.0]"
        ]
    );
    let bad = list.iter().find(|i| i["id"] == failed[0]).unwrap();
    let error = bad["error"].as_str().unwrap();
    assert!(
        error.contains("Slurm job")
            && error.contains("FAILED")
            && error.contains("on attempt 2")
            && error.contains("diverged at step"),
        "{error}"
    );
    let log = error
        .split_once("; log: ")
        .and_then(|(_, rest)| {
            rest.split_once(".log")
                .map(|(path, _)| format!("{path}.log"))
        })
        .expect("a log path");
    let log_text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("the named log {log} cannot be read ({e}): {error}"));
    assert!(log_text.contains("diverged at step"), "{log_text}");
    assert!(
        out.stderr.contains("resubmitting (1 of 1 retries)"),
        "{}",
        out.stderr
    );
    // The healthy branch finished; a second run reports the same failure without retrying
    // the healthy part.
    assert!(ids_in(&list, "executed").contains(&"eval.fm[data=moons,lr=0.001,nfe=4]".to_string()));

    // A job that cannot start drift at all: the Slurm state and the log's last lines.
    let s = Scratch::new();
    let out = slurm_run(&s, &slurm, &["--set", "slurm.drift=\"/nonexistent/drift\""]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let list = instances(&out.stdout);
    let failed = ids_in(&list, "failed");
    assert_eq!(failed, ["data.gaussians", "data.moons"], "{}", out.stderr);
    let error = list[0]["error"].as_str().unwrap_or("");
    let error = if error.is_empty() {
        list[1]["error"].as_str().unwrap()
    } else {
        error
    };
    assert!(
        error.contains("FAILED") && error.contains("its log ends") && error.contains("nonexistent"),
        "{error}"
    );
}

#[test]
fn ctrl_c_cancels_the_submitted_jobs() {
    let Some(_cluster) = cluster() else { return };
    let s = Scratch::new();
    let slurm = spec("slurm.toml");
    let mut child = spawn_slurm_run(
        &s,
        &slurm,
        &[
            "--set",
            "train.fm.steps=2000000",
            "--set",
            "train.fm.seed=0",
            "--set",
            "train.fm.data=\"data.moons\"",
        ],
    );
    let job = wait_for_running_job(&s.cache(), Duration::from_secs(120));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = wait_with_timeout(&mut child, Duration::from_secs(60));
    let stderr = stderr_of(&mut child);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("cancelled with scancel"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut state = squeue_state(&job);
    while state.as_deref() != Some("CANCELLED") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        state = squeue_state(&job);
    }
    assert_eq!(state.as_deref(), Some("CANCELLED"), "job {job}");
    let journal: Vec<_> = std::fs::read_dir(s.cache().join("v1/slurm/jobs"))
        .unwrap()
        .collect();
    assert!(journal.is_empty(), "no job is recorded as live any more");
}

#[test]
fn a_coordinator_started_after_a_killed_one_adopts_its_running_jobs() {
    let Some(_cluster) = cluster() else { return };
    let s = Scratch::new();
    let slurm = spec("slurm.toml");
    let args = [
        "--set",
        "train.fm.steps=60000",
        "--set",
        "train.fm.seed=0",
        "--set",
        "train.fm.data=\"data.moons\"",
    ];
    let mut child = spawn_slurm_run(&s, &slurm, &args);
    let job = wait_for_running_job(&s.cache(), Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL: no chance to cancel anything
    child.wait().unwrap();
    assert_eq!(
        squeue_state(&job).as_deref(),
        Some("RUNNING"),
        "the job outlives its coordinator"
    );
    // `drift status` shows the job computing the training.
    let mut status_args = vec!["status", slurm.to_str().unwrap()];
    status_args.extend_from_slice(&args);
    let status = s.drift(&status_args);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("stale  train.fm")
                && l.contains(&format!("(Slurm job {job}, log "))),
        "{}",
        status.stdout
    );
    // ... and so does `drift status --json`.
    status_args.push("--json");
    let listing: serde_json::Value =
        serde_json::from_str(&s.drift(&status_args).stdout).expect("status --json");
    let train = listing["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "train")
        .expect("a training");
    assert_eq!(train["state"], "stale");
    assert_eq!(train["slurm_job"]["id"], job.as_str(), "{train}");
    assert!(
        train["slurm_job"]["log"]
            .as_str()
            .is_some_and(|l| l.contains("v1/slurm/logs/")),
        "{train}"
    );
    let out = slurm_run(&s, &slurm, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("adopted Slurm job {job}")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("submitted train.fm"),
        "the training is not submitted twice\n{}",
        out.stderr
    );
    let list = instances(&out.stdout);
    assert!(ids_in(&list, "failed").is_empty());
    assert_eq!(squeue_state(&job).as_deref(), Some("COMPLETED"));
}
