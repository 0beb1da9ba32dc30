//! Integrity: every artifact's digest is in its manifest; a flipped byte, a truncated file or
//! a deleted file is reported by `drift status` and `drift verify` and recomputed by
//! `drift run`, never used.

use crate::util::{Scratch, artifact_digests, ids_in, instances, spec};

fn entry_file(s: &Scratch, run: &[serde_json::Value], id: &str, file: &str) -> std::path::PathBuf {
    let record = run.iter().find(|i| i["id"] == id).unwrap();
    s.entry_dir(record).join(file)
}

#[test]
fn damaged_artifacts_are_detected_and_recomputed() {
    let s = Scratch::new();
    let tiny = spec("tiny.toml");
    let first = s.run_json(&tiny, &[]);
    let before = artifact_digests(&s.cache());
    let ok = s.drift(&["verify"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("23 entries checked, 0 damaged"),
        "{}",
        ok.stdout
    );

    // A flipped byte (same size), a truncated file, a deleted file.
    let sample = entry_file(
        &s,
        &first,
        "sample.fm[data=moons,seed=0,nfe=4]",
        "samples.parquet",
    );
    let mut bytes = std::fs::read(&sample).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&sample, &bytes).unwrap();
    let weights = entry_file(
        &s,
        &first,
        "train.fm[data=gaussians,seed=1]",
        "weights.safetensors",
    );
    let w = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &w[..w.len() - 10]).unwrap();
    let metrics = entry_file(
        &s,
        &first,
        "eval.fm[data=moons,seed=1,nfe=1]",
        "metrics.parquet",
    );
    std::fs::remove_file(&metrics).unwrap();

    let verify = s.drift(&["verify", tiny.to_str().unwrap()]);
    assert_eq!(verify.code, 1, "{}", verify.stdout);
    assert!(verify.stdout.contains("3 damaged"), "{}", verify.stdout);
    assert!(
        verify
            .stdout
            .contains("samples.parquet: content differs from its recorded digest"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("weights.safetensors:"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("metrics.parquet: missing"),
        "{}",
        verify.stdout
    );

    // status reports them stale with the reason, never fresh.
    let status = s.drift(&["status", tiny.to_str().unwrap(), "--json"]);
    let list = instances(&status.stdout);
    let of = |id: &str| list.iter().find(|i| i["id"] == id).unwrap().clone();
    let damaged = of("sample.fm[data=moons,seed=0,nfe=4]");
    assert_eq!(damaged["state"], "stale");
    assert_eq!(damaged["reasons"][0]["type"], "artifact_damaged");
    assert_eq!(damaged["reasons"][0]["file"], "samples.parquet");

    // run recomputes exactly the damaged entries (their outputs come back identical, so
    // nothing downstream reruns) and the cache is whole again, bit for bit.
    let again = s.run_json(&tiny, &[]);
    let mut executed = ids_in(&again, "executed");
    executed.sort();
    assert_eq!(
        executed,
        vec![
            "eval.fm[data=moons,seed=1,nfe=1]",
            "sample.fm[data=moons,seed=0,nfe=4]",
            "train.fm[data=gaussians,seed=1]",
        ]
    );
    assert_eq!(artifact_digests(&s.cache()), before);
    let after = s.drift(&["verify"]);
    assert_eq!(after.code, 0, "{}", after.stdout);
}
