//! Spec composition (`extends`): a spec varies one thing of a base, shares the base's cache
//! entries for everything else, and merges table by table with the documented rules.

use std::collections::BTreeMap;

use crate::util::{Scratch, instances, spec};

/// id -> state (`fresh`, `stale`, ...) of every instance `drift status` plans for `spec`.
fn states(s: &Scratch, spec: &std::path::Path, extra: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["status", spec.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = s.drift(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    instances(&out.stdout)
        .into_iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_extending_spec_shares_the_base_entries_it_does_not_change() {
    let s = Scratch::new();
    let varied = s.run_json(&spec("tiny-lr.toml"), &[]);
    let trainings: Vec<&str> = varied
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .filter(|id| id.starts_with("train."))
        .collect();
    assert_eq!(trainings.len(), 8, "{trainings:?}");
    assert!(trainings.iter().all(|id| id.contains("lr=")));
    // The base's data stages are fresh in the cache the extending spec filled; its trainings
    // (other lr, narrower network) are not.
    for (id, state) in states(&s, &spec("tiny.toml"), &[]) {
        let expected = if id.starts_with("data.") {
            "fresh"
        } else {
            "stale"
        };
        assert_eq!(state, expected, "{id}");
    }
}

#[test]
fn merging_follows_the_documented_rules() {
    let s = Scratch::new();
    s.write(
        "base.toml",
        r#"
[experiment]
name = "base"

[data.d]
generator = "two_moons"
n_train = 64
n_test = 64
noise = 0.1

[train.t]
method = "flow_matching"
data = "data.d"
sweep.seed = [0, 1]
steps = 2
batch = 32
lr = 1e-3
model = { arch = "mlp", hidden = [8, 8] }
"#,
    );
    let child = s.write(
        "child.toml",
        r#"
extends = "base.toml"

[experiment]
name = "child"

# A new generator replaces the base's table whole (its `noise` belonged to two_moons).
[data.d]
generator = "eight_gaussians"
n_train = 64
n_test = 64

[train.t]
seed = 3                       # a plain value replaces the base's seed sweep
sweep.lr = [1e-3, 2e-3]        # and a sweep replaces the base's plain lr
model = { hidden = [16] }      # nested tables merge: arch comes from the base
"#,
    );
    let planned = states(&s, &child, &[]);
    let ids: Vec<&str> = planned.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        ["data.d", "train.t[lr=0.001]", "train.t[lr=0.002]"],
        "{planned:?}"
    );
    s.run_json(&child, &[]);
    // The same experiment written out in one file has the same keys.
    let flat = s.write(
        "flat.toml",
        r#"
[experiment]
name = "flat"

[data.d]
generator = "eight_gaussians"
n_train = 64
n_test = 64

[train.t]
method = "flow_matching"
data = "data.d"
seed = 3
steps = 2
batch = 32
sweep.lr = [1e-3, 2e-3]
model = { arch = "mlp", hidden = [16] }
"#,
    );
    let flat_states = states(&s, &flat, &[]);
    assert_eq!(
        flat_states.keys().collect::<Vec<_>>(),
        planned.keys().collect::<Vec<_>>()
    );
    assert!(
        flat_states.values().all(|st| st == "fresh"),
        "{flat_states:?}"
    );
    // `--set` applies on top of the merged spec.
    let set = states(&s, &child, &["--set", "train.t.lr=5e-3"]);
    assert_eq!(set.keys().collect::<Vec<_>>(), ["data.d", "train.t"]);
}

#[test]
fn a_base_outside_the_project_is_refused() {
    let s = Scratch::new();
    let project = s.dir.path().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::write(
        s.dir.path().join("outside.toml"),
        "[experiment]\nname = \"o\"\n",
    )
    .unwrap();
    let child = project.join("child.toml");
    std::fs::write(&child, "extends = \"../outside.toml\"\n").unwrap();
    let out = s.drift(&["check", child.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("outside the project root"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("child.toml:1:11"), "{}", out.stderr);
}
