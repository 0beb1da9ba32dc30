//! Determinism: the same spec and seed on CPU gives bit-identical artifacts and keys.

use crate::util::{Scratch, artifact_digests, spec};

/// Two cold runs, one with 2 jobs x 1 thread and one with 1 job x 3 threads (tiny.toml's
/// batch spans two chunks of the fast path, so the threads share each training step).
#[test]
fn two_cold_runs_give_identical_artifacts_and_keys() {
    let (a, b) = (Scratch::new(), Scratch::new());
    let run_a = a.run_json(&spec("tiny.toml"), &["--jobs", "2"]);
    let run_b = b.run_json_threads(&spec("tiny.toml"), &["--jobs", "1"], 3);
    let keys = |run: &[serde_json::Value]| -> Vec<(String, String)> {
        run.iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(keys(&run_a), keys(&run_b));
    let (da, db) = (artifact_digests(&a.cache()), artifact_digests(&b.cache()));
    assert_eq!(da.len(), 23);
    assert_eq!(da, db);
    // Every kind wrote what it documents.
    assert!(da["data.moons"].contains_key("train.parquet"));
    assert!(da["train.fm[data=moons,seed=0]"].contains_key("weights.safetensors"));
    assert!(da["sample.fm[data=moons,seed=0,nfe=4]"].contains_key("samples.parquet"));
    assert!(da["eval.fm[data=moons,seed=0,nfe=4]"].contains_key("metrics.parquet"));
    assert!(da["report.quality"].contains_key("table.parquet"));
}

/// Every method, every sampler and every training option (cosine + warm-up, clipping, EMA,
/// fresh data, a data source, init from another stage) is bit-reproducible on CPU.
#[test]
fn every_method_and_sampler_is_bit_reproducible() {
    let (a, b) = (Scratch::new(), Scratch::new());
    let run_a = a.run_json(&spec("methods-tiny.toml"), &[]);
    let run_b = b.run_json(&spec("methods-tiny.toml"), &["--jobs", "1"]);
    assert_eq!(run_a.len(), 50);
    assert!(run_a.iter().all(|i| i["state"] == "executed"), "{run_a:?}");
    let keys = |run: &[serde_json::Value]| -> Vec<String> {
        run.iter()
            .map(|i| format!("{} {}", i["id"], i["key"]))
            .collect()
    };
    assert_eq!(keys(&run_a), keys(&run_b));
    let (da, db) = (artifact_digests(&a.cache()), artifact_digests(&b.cache()));
    assert_eq!(da.len(), 50);
    assert_eq!(da, db);
}

#[test]
fn a_different_root_seed_changes_every_key() {
    let s = Scratch::new();
    let a = s.run_json(&spec("tiny.toml"), &[]);
    let status = s.drift(&[
        "status",
        spec("tiny.toml").to_str().unwrap(),
        "--json",
        "--set",
        "experiment.seed=1",
    ]);
    let b = crate::util::instances(&status.stdout);
    let data_a = a.iter().find(|i| i["id"] == "data.moons").unwrap();
    let data_b = b.iter().find(|i| i["id"] == "data.moons").unwrap();
    assert_ne!(data_a["key"], data_b["key"]);
    assert_eq!(data_b["reasons"][0]["param"], "experiment.seed");
}
