//! Incremental behaviour: what reruns after which edit, and the reasons drift gives.

use crate::util::{Scratch, ids_in, instances, spec};

fn all_ids(list: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = list
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn noop_rerun_executes_nothing() {
    let s = Scratch::new();
    let first = s.run_json(&spec("tiny.toml"), &[]);
    assert_eq!(first.len(), 23);
    assert_eq!(ids_in(&first, "executed").len(), 23);
    let second = s.run_json(&spec("tiny.toml"), &[]);
    assert!(ids_in(&second, "executed").is_empty());
    assert_eq!(ids_in(&second, "cached").len(), 23);
}

#[test]
fn editing_lr_reruns_exactly_its_trainings_and_their_dependents() {
    let s = Scratch::new();
    let first = s.run_json(&spec("tiny.toml"), &[]);
    let status = s.drift(&[
        "status",
        spec("tiny.toml").to_str().unwrap(),
        "--json",
        "--set",
        "train.fm.lr=2e-3",
    ]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    for inst in instances(&status.stdout) {
        let id = inst["id"].as_str().unwrap();
        if id.starts_with("train.") {
            assert_eq!(inst["state"], "stale");
            assert_eq!(
                inst["reasons"],
                serde_json::json!([{"type": "param_changed", "param": "lr", "old": "0.001", "new": "0.002"}])
            );
        } else if id.starts_with("sample.") {
            assert_eq!(
                inst["key"],
                serde_json::Value::Null,
                "{id}: key unknown until the model reruns"
            );
            assert_eq!(inst["reasons"][0]["type"], "upstream_stale");
        }
    }
    let second = s.run_json(&spec("tiny.toml"), &["--set", "train.fm.lr=2e-3"]);
    let expected: Vec<String> = all_ids(&first)
        .into_iter()
        .filter(|id| !id.starts_with("data."))
        .collect();
    assert_eq!(ids_in(&second, "executed"), expected);
    assert_eq!(
        ids_in(&second, "cached"),
        vec!["data.gaussians", "data.moons"]
    );
}

#[test]
fn reformatting_and_written_out_defaults_rerun_nothing() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    // Keys reordered, comments added, `1e-3` written as `0.001`, defaults written out.
    let reformatted = s.write(
        "reformatted.toml",
        r#"
# the same experiment, written differently
[report.quality]
aggregate = "mean_std"
columns = ["metric"]
rows = ["data", "method", "nfe"]
from = ["eval.*"]

[eval.fm]
metrics = ["w2", "sliced_w2", "mmd"]   # same order: metrics are computed in order
samples = "sample.fm"
projections = 256

[sample.fm]
sweep.nfe = [1, 4]
n = 200
solver = "euler"
model = "train.fm"
seed = 0

[train.fm]
model = { hidden = [32, 32], arch = "mlp", activation = "silu" }
lr = 0.001
batch = 200
steps = 30
sweep.seed = [0, 1]
sweep.data = ["data.moons", "data.gaussians"]
method = "flow_matching"
sigma = 0.0
weight_decay = 0.0

[data.gaussians]
n_test = 200
n_train = 512
generator = "eight_gaussians"
variant = "ffjord"

[data.moons]
noise = 0.05
n_val = 0
n_test = 200
n_train = 512
generator = "two_moons"

[experiment]
device = "cpu"
seed = 0
name = "tiny"
"#,
    );
    let again = s.run_json(&reformatted, &[]);
    assert!(
        ids_in(&again, "executed").is_empty(),
        "{:?}",
        ids_in(&again, "executed")
    );
}

#[test]
fn renaming_stages_reruns_nothing() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    let text = std::fs::read_to_string(spec("tiny.toml"))
        .unwrap()
        .replace("[train.fm]", "[train.flow]")
        .replace("model = \"train.fm\"", "model = \"train.flow\"")
        .replace("[sample.fm]", "[sample.draws]")
        .replace("samples = \"sample.fm\"", "samples = \"sample.draws\"")
        .replace("[eval.fm]", "[eval.scores]")
        .replace("name = \"tiny\"", "name = \"tiny-renamed\"");
    let renamed = s.write("renamed.toml", &text);
    let again = s.run_json(&renamed, &[]);
    assert!(
        ids_in(&again, "executed").is_empty(),
        "{:?}",
        ids_in(&again, "executed")
    );
    assert!(
        again
            .iter()
            .any(|i| i["id"] == "train.flow[data=moons,seed=0]")
    );
}

#[test]
fn removing_a_sweep_value_reruns_only_the_report() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    let again = s.run_json(&spec("tiny.toml"), &["--set", "sample.fm.sweep.nfe=[1]"]);
    assert_eq!(ids_in(&again, "executed"), vec!["report.quality"]);
    assert_eq!(again.len(), 15);
}

#[test]
fn forced_instance_reruns_and_identical_output_cuts_off_dependents() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    let again = s.run_json(
        &spec("tiny.toml"),
        &["--force", "train.fm[data=moons,seed=0]"],
    );
    assert_eq!(
        ids_in(&again, "executed"),
        vec!["train.fm[data=moons,seed=0]"]
    );
    let forced = again
        .iter()
        .find(|i| i["id"] == "train.fm[data=moons,seed=0]")
        .unwrap();
    assert_eq!(forced["reasons"], serde_json::json!([{"type": "forced"}]));
    // Training is deterministic on CPU: same bytes, so its samples stay cached.
    assert!(ids_in(&again, "cached").contains(&"sample.fm[data=moons,seed=0,nfe=1]".to_string()));
    // A whole stage can be forced too.
    let stage = s.run_json(&spec("tiny.toml"), &["--force", "data.moons"]);
    assert_eq!(ids_in(&stage, "executed"), vec!["data.moons"]);
}

#[test]
fn deleted_artifact_is_reported_as_damaged() {
    let s = Scratch::new();
    let first = s.run_json(&spec("tiny.toml"), &[]);
    let data = first.iter().find(|i| i["id"] == "data.moons").unwrap();
    let key = data["key"].as_str().unwrap();
    std::fs::remove_file(
        s.cache()
            .join("v1/entries")
            .join(&key[..2])
            .join(key)
            .join("test.parquet"),
    )
    .unwrap();
    let status = s.drift(&["status", spec("tiny.toml").to_str().unwrap(), "--json"]);
    let list = instances(&status.stdout);
    let moons = list.iter().find(|i| i["id"] == "data.moons").unwrap();
    assert_eq!(moons["state"], "stale");
    assert_eq!(
        moons["reasons"],
        serde_json::json!([{"type": "artifact_damaged", "file": "test.parquet", "problem": "missing"}])
    );
    let again = s.run_json(&spec("tiny.toml"), &[]);
    // The data regenerates identically, so nothing downstream reruns.
    assert_eq!(ids_in(&again, "executed"), vec!["data.moons"]);
}

#[test]
fn never_run_and_text_status() {
    let s = Scratch::new();
    let out = s.drift(&["status", spec("tiny.toml").to_str().unwrap()]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("stale  data.moons"), "{}", out.stdout);
    assert!(out.stdout.contains("never run"), "{}", out.stdout);
    assert!(
        out.stdout.contains("upstream stale: data.moons"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .trim_end()
            .ends_with("23 instances: 0 fresh, 23 stale, 0 failed"),
        "{}",
        out.stdout
    );
}
