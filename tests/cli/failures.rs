//! Failures: a diverging training fails with its step and last finite loss, its dependents are
//! skipped, independent work finishes with --keep-going, and status remembers the failure.

use crate::util::{Scratch, ids_in, instances, spec};

const DIVERGE: [&str; 6] = [
    "--set",
    "train.fm.sweep.lr=[1e-3, 1e6]",
    "--set",
    "train.fm.seed=0",
    "--set",
    "report.quality.rows=[\"data\", \"lr\", \"nfe\"]",
];

fn args<'a>(command: &'a str, spec: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![command, spec];
    a.extend_from_slice(&DIVERGE);
    a.extend_from_slice(extra);
    a
}

#[test]
fn a_diverging_training_fails_and_its_dependents_are_skipped() {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let out = s.drift(&args("run", tiny, &["--keep-going", "--json"]));
    assert_eq!(out.code, 1, "a run with failures exits 1\n{}", out.stderr);
    let list = instances(&out.stdout);
    let failed = ids_in(&list, "failed");
    assert_eq!(
        failed,
        vec![
            "train.fm[data=gaussians,lr=1000000.0]",
            "train.fm[data=moons,lr=1000000.0]"
        ]
    );
    let bad = list.iter().find(|i| i["id"] == failed[0]).unwrap();
    let error = bad["error"].as_str().unwrap();
    assert!(
        error.contains("diverged at step") && error.contains("last finite loss"),
        "{error}"
    );
    // Dependents of the failures are skipped; the report depends on everything.
    let skipped = ids_in(&list, "skipped");
    assert_eq!(skipped.len(), 4 + 4 + 1, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .all(|id| id.contains("lr=1000000.0") || id == "report.quality")
    );
    // --keep-going: the healthy branch finished.
    assert!(ids_in(&list, "executed").contains(&"eval.fm[data=moons,lr=0.001,nfe=4]".to_string()));
    // No entry was written for the failed instances.
    assert!(bad["key"].is_string());
    let key = bad["key"].as_str().unwrap();
    assert!(
        !s.cache()
            .join("v1/entries")
            .join(&key[..2])
            .join(key)
            .exists()
    );
    assert_eq!(
        std::fs::read_dir(s.cache().join("v1/tmp")).unwrap().count(),
        0,
        "no staging leftovers"
    );

    let status = s.drift(&args("status", tiny, &["--json"]));
    let list = instances(&status.stdout);
    assert_eq!(ids_in(&list, "failed"), failed);
    let text = s.drift(&args("status", tiny, &[]));
    assert!(
        text.stdout.contains("error: training diverged at step"),
        "{}",
        text.stdout
    );
}

#[test]
fn without_keep_going_nothing_new_starts_after_a_failure() {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let out = s.drift(&args(
        "run",
        tiny.to_str().unwrap(),
        &["--json", "--jobs", "1"],
    ));
    assert_eq!(out.code, 1);
    let list = instances(&out.stdout);
    assert_eq!(
        ids_in(&list, "failed").len(),
        1,
        "the run stops at the first failure"
    );
    assert!(out.stderr.contains("failed: train.fm["), "{}", out.stderr);
    assert!(
        list.iter().filter(|i| i["state"] == "skipped").count() >= 9,
        "the rest is skipped, not run"
    );
}
