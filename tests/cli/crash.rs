//! Crash safety: `drift run` killed by SIGKILL at 20 moments across a spec with training,
//! sampling, evaluation and a report, rerun after each kill. No partial entry ever looks
//! complete, and the final artifacts and table equal those of an uninterrupted run.

use std::time::{Duration, Instant};

use crate::util::{Scratch, artifact_digests, spec};

#[test]
fn sigkill_at_twenty_moments_loses_and_corrupts_nothing() {
    let s = Scratch::new();
    // Longer trainings (about 0.8 s for the whole spec here), so kills land in every phase.
    let tiny = s.write(
        "long.toml",
        &std::fs::read_to_string(spec("tiny.toml"))
            .unwrap()
            .replace("steps = 30", "steps = 1500"),
    );
    let reference = Scratch::new();
    let started = Instant::now();
    reference.run_json(&tiny, &[]);
    let full = started.elapsed();
    let want = artifact_digests(&reference.cache());

    // Kill times spread over the length of an uninterrupted run (a fixed pseudo-random
    // sequence, so failures reproduce).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = Duration::from_secs_f64(full.as_secs_f64() * 1.2 * (x % 1000) as f64 / 1000.0);
        let mut child = s.spawn_run_quiet(&tiny, 2, &[]);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL; the run may already have finished
        child.wait().unwrap();
        // Whatever the cache holds now is whole: every entry that exists verifies.
        let verify = s.drift(&["verify"]);
        assert_eq!(
            verify.code, 0,
            "round {round} (kill at {at:?}): {}",
            verify.stdout
        );
    }
    // gc clears what the kills left in tmp/ (no process is working on those keys) and keeps
    // every entry.
    let gc = s.drift(&["gc", tiny.to_str().unwrap()]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert_eq!(
        std::fs::read_dir(s.cache().join("v1/tmp")).unwrap().count(),
        0,
        "{}",
        gc.stdout
    );
    assert_eq!(s.drift(&["verify"]).code, 0);
    let last = s.run_json(&tiny, &[]);
    assert_eq!(last.len(), 23);
    assert_eq!(artifact_digests(&s.cache()), want);
    let table = |c: &Scratch| {
        let out = c.drift(&["table", tiny.to_str().unwrap(), "--format", "csv"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    assert_eq!(table(&s), table(&reference));
}

/// A training killed after a checkpoint resumes from it on the next run (the manifest records
/// the step), and every artifact is bit-identical to an uninterrupted run's.
#[test]
fn a_killed_training_resumes_from_its_checkpoint() {
    let tiny = spec("tiny.toml");
    let settings = [
        "--set",
        "train.fm.steps=8000",
        "--set",
        "train.fm.checkpoint_every=500",
    ];
    let reference = Scratch::new();
    reference.run_json(&tiny, &settings);
    let want = artifact_digests(&reference.cache());

    let s = Scratch::new();
    let mut child = s.spawn_run_quiet(&tiny, 2, &settings);
    let scratch = s.cache().join("v1/scratch");
    let started = Instant::now();
    let has_checkpoint = || {
        std::fs::read_dir(&scratch).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.path().join("checkpoint.bin").exists())
        })
    };
    while !has_checkpoint() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    child.wait().unwrap();

    let run = s.run_json(&tiny, &settings);
    let resumed: Vec<u64> = run
        .iter()
        .filter(|i| i["id"].as_str().unwrap().starts_with("train."))
        .filter_map(|i| {
            let mut args = vec!["show", tiny.to_str().unwrap(), i["id"].as_str().unwrap()];
            args.extend(settings);
            let show = s.drift(&args);
            show.stdout
                .lines()
                .find_map(|l| l.trim().strip_prefix("resumed_from_step: "))
                .map(|v| v.parse().unwrap())
        })
        .collect();
    assert!(!resumed.is_empty(), "no training resumed");
    assert!(
        resumed.iter().all(|&step| step >= 500 && step % 500 == 0),
        "{resumed:?}"
    );
    assert_eq!(artifact_digests(&s.cache()), want);
    // Committed entries leave no scratch state behind.
    assert!(!has_checkpoint());
}
