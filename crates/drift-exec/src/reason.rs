//! Typed reasons why an instance is stale, derived by comparing its key components with those
//! last recorded for the same instance id (cargo's `DirtyReason`).

use drift_plan::key::KeyComponents;
use drift_plan::{display_json, flatten_params};
use serde::Serialize;
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Nothing was ever recorded for this instance.
    NeverRun,
    /// A parameter's value changed (one reason per parameter).
    ParamChanged {
        param: String,
        old: String,
        new: String,
    },
    /// An input's output changed.
    InputChanged { input: String },
    /// An input has not been computed yet, so this key is unknown.
    UpstreamStale { input: String },
    /// The stage kind's implementation version changed.
    ImplementationChanged { old: u32, new: u32 },
    /// The key is unchanged but its cache entry is missing or incomplete.
    ArtifactMissing,
    /// The entry exists but a file is missing, truncated or altered (its digest differs).
    ArtifactDamaged { file: String, problem: String },
    /// Rerun requested with `--force`.
    Forced,
    /// An input failed in this run.
    UpstreamFailed { input: String },
}

/// A damaged cache entry (a file missing, truncated or altered) as the reason to recompute it.
impl From<drift_cache::Damage> for Reason {
    fn from(d: drift_cache::Damage) -> Self {
        Reason::ArtifactDamaged {
            file: d.file,
            problem: d.problem,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NeverRun => f.write_str("never run"),
            Reason::ParamChanged { param, old, new } => {
                write!(f, "param changed: {param} {old} -> {new}")
            }
            Reason::InputChanged { input } => write!(f, "input changed: {input}"),
            Reason::UpstreamStale { input } => write!(f, "upstream stale: {input}"),
            Reason::ImplementationChanged { old, new } => {
                write!(f, "implementation changed: v{old} -> v{new}")
            }
            Reason::ArtifactMissing => f.write_str("artifact missing"),
            Reason::ArtifactDamaged { file, problem } => {
                write!(f, "artifact damaged: {file}: {problem}")
            }
            Reason::Forced => f.write_str("forced"),
            Reason::UpstreamFailed { input } => write!(f, "upstream failed: {input}"),
        }
    }
}

/// Every parameter whose value differs between two semantic parameter sets.
pub fn param_changes(old: &J, new: &J) -> Vec<Reason> {
    let a: BTreeMap<String, String> = flatten_params(old).into_iter().collect();
    let b: BTreeMap<String, String> = flatten_params(new).into_iter().collect();
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<Reason> = Vec::new();
    if old.get("labels") != new.get("labels") {
        out.push(label_change(old.get("labels"), new.get("labels")));
    }
    out.extend(
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| Reason::ParamChanged {
                param: k.clone(),
                old: a.get(k).cloned().unwrap_or_else(|| "(unset)".into()),
                new: b.get(k).cloned().unwrap_or_else(|| "(unset)".into()),
            }),
    );
    out
}

/// A report's row labels changed: show the labels that went away and the ones that appeared.
fn label_change(old: Option<&J>, new: Option<&J>) -> Reason {
    let lines = |v: Option<&J>| -> Vec<String> {
        let mut lines: Vec<String> = v
            .and_then(J::as_array)
            .map(|a| {
                a.iter()
                    .map(|row| {
                        row.as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| format!("{k}={}", display_json(v)))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        lines.sort();
        lines.dedup();
        lines
    };
    let (before, after) = (lines(old), lines(new));
    let summary = |items: Vec<&String>| -> String {
        match items.len() {
            0 => "(none)".into(),
            n if n <= 3 => items
                .iter()
                .map(|s| format!("{{{s}}}"))
                .collect::<Vec<_>>()
                .join(" "),
            n => format!("{{{}}} and {} more", items[0], n - 1),
        }
    };
    Reason::ParamChanged {
        param: "rows".into(),
        old: summary(before.iter().filter(|l| !after.contains(l)).collect()),
        new: summary(after.iter().filter(|l| !before.contains(l)).collect()),
    }
}

/// Why `current` differs from what was recorded last time (`previous`), field by field.
pub fn explain(previous: &KeyComponents, current: &KeyComponents) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if previous.version != current.version {
        reasons.push(Reason::ImplementationChanged {
            old: previous.version,
            new: current.version,
        });
    }
    reasons.extend(param_changes(&previous.params, &current.params));
    let scalar = |name: &str, old: String, new: String, out: &mut Vec<Reason>| {
        if old != new {
            out.push(Reason::ParamChanged {
                param: name.into(),
                old,
                new,
            });
        }
    };
    scalar(
        "experiment.seed",
        previous.experiment_seed.to_string(),
        current.experiment_seed.to_string(),
        &mut reasons,
    );
    scalar(
        "device",
        previous.device.clone().unwrap_or_default(),
        current.device.clone().unwrap_or_default(),
        &mut reasons,
    );
    scalar(
        "dtype",
        previous.dtype.clone().unwrap_or_default(),
        current.dtype.clone().unwrap_or_default(),
        &mut reasons,
    );
    for input in &current.inputs {
        let before = previous
            .inputs
            .iter()
            .find(|p| p.role == input.role && p.id == input.id)
            .or_else(|| {
                previous
                    .inputs
                    .iter()
                    .find(|p| p.role == input.role && p.digest == input.digest)
            });
        if before.is_none_or(|p| p.digest != input.digest) {
            reasons.push(Reason::InputChanged {
                input: input.id.clone(),
            });
        }
    }
    if current.inputs.len() < previous.inputs.len()
        && !reasons
            .iter()
            .any(|r| matches!(r, Reason::InputChanged { .. }))
    {
        reasons.push(Reason::InputChanged {
            input: format!(
                "{} inputs -> {}",
                previous.inputs.len(),
                current.inputs.len()
            ),
        });
    }
    if reasons.is_empty() {
        reasons.push(Reason::NeverRun);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_plan::key::{KeyInput, OutputDigest};
    use serde_json::json;

    fn comps(params: J, digest: u8) -> KeyComponents {
        KeyComponents {
            kind: "train".into(),
            version: 1,
            params,
            experiment_seed: 0,
            device: Some("cpu".into()),
            dtype: Some("f32".into()),
            inputs: vec![KeyInput {
                role: "data".into(),
                id: "data.moons".into(),
                digest: OutputDigest([digest; 32]),
            }],
        }
    }

    #[test]
    fn every_changed_parameter_is_reported() {
        let old = comps(
            json!({"lr": 0.001, "steps": 10, "model": {"hidden": [64, 64]}}),
            1,
        );
        let new = comps(
            json!({"lr": 0.002, "steps": 20, "model": {"hidden": [128]}}),
            1,
        );
        let shown: Vec<String> = explain(&old, &new).iter().map(Reason::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "param changed: lr 0.001 -> 0.002",
                "param changed: model.hidden [64,64] -> [128]",
                "param changed: steps 10 -> 20",
            ]
        );
    }

    #[test]
    fn inputs_versions_and_devices_are_explained() {
        let old = comps(json!({"lr": 0.001}), 1);
        let mut new = comps(json!({"lr": 0.001}), 2);
        new.version = 2;
        new.device = Some("cuda".into());
        let reasons = explain(&old, &new);
        assert_eq!(reasons[0], Reason::ImplementationChanged { old: 1, new: 2 });
        assert!(reasons.contains(&Reason::ParamChanged {
            param: "device".into(),
            old: "cpu".into(),
            new: "cuda".into()
        }));
        assert!(reasons.contains(&Reason::InputChanged {
            input: "data.moons".into()
        }));
    }

    #[test]
    fn reasons_serialise_with_a_type_tag() {
        let r = Reason::ParamChanged {
            param: "lr".into(),
            old: "0.001".into(),
            new: "0.002".into(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"type": "param_changed", "param": "lr", "old": "0.001", "new": "0.002"})
        );
        assert_eq!(
            serde_json::to_value(Reason::UpstreamStale { input: "x".into() }).unwrap()["type"],
            "upstream_stale"
        );
    }
}
