//! Result tables as researchers use them: model selection on the validation split, cost
//! columns from the manifests, LaTeX, provenance, and `drift diff`.

use std::collections::BTreeMap;

use crate::util::{Scratch, spec};

/// `drift table --format json` parsed: one JSON document per table report.
fn json_tables(s: &Scratch, spec: &std::path::Path) -> Vec<serde_json::Value> {
    let out = s.drift(&["table", spec.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::Deserializer::from_str(&out.stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap())
        .collect()
}

/// (row labels joined by `/`, metric) -> mean, for the cells of one JSON table.
fn means(table: &serde_json::Value) -> BTreeMap<(String, String), f64> {
    table["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["mean"].is_null())
        .map(|c| {
            let row: Vec<String> = c["row"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            (
                (
                    row.join("/"),
                    c["column"]["metric"].as_str().unwrap().to_string(),
                ),
                c["mean"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn selection_reports_the_test_metrics_of_the_lr_best_on_validation() {
    let s = Scratch::new();
    let select = spec("select.toml");
    let run = s.run_json(&select, &[]);
    let tables = json_tables(&s, &select);
    let (selected, all) = (&tables[0], &tables[1]);
    assert_eq!(selected["title"], "report.selected");
    let all = means(all);
    let chosen = means(selected);
    for data in ["gaussians", "moons"] {
        // The lr with the lower validation W2 (averaged over the two seeds) ...
        let val = |lr: &str| all[&(format!("{data}/{lr}/val"), "w2".into())];
        let best = if val("0.0001") <= val("0.003") {
            "0.0001"
        } else {
            "0.003"
        };
        // ... is the one reported, with its test values.
        let row = format!("{data}/flow_matching/{best}");
        for metric in ["w2", "knn_recall"] {
            assert_eq!(
                chosen[&(row.clone(), metric.to_string())],
                all[&(format!("{data}/{best}/test"), metric.to_string())],
                "{row} {metric}"
            );
        }
        let others = chosen.keys().filter(|(r, _)| r.starts_with(data)).count();
        assert_eq!(
            others, 4,
            "one row per data set (w2, recall, 2 costs): {chosen:?}"
        );
    }
    let notes = selected["selection"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    // Costs: the parameter count read from the training manifests.
    let trainings: Vec<&serde_json::Value> = run.iter().filter(|i| i["kind"] == "train").collect();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.entry_dir(trainings[0]).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let params = manifest["cost"]["param_count"].as_f64().unwrap();
    assert!(
        chosen
            .iter()
            .any(|((_, m), v)| m == "param_count" && *v == params)
    );
    // Provenance: every row names the evaluation instances and keys behind it.
    let keys: BTreeMap<&str, &str> = run
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["key"].as_str().unwrap()))
        .collect();
    let rows = selected["provenance"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let instances = row["instances"].as_array().unwrap();
        assert_eq!(
            instances.len(),
            2,
            "two seeds of the chosen lr at test: {row}"
        );
        for i in instances {
            assert!(i["id"].as_str().unwrap().contains("split=test"), "{i}");
            assert_eq!(keys[i["id"].as_str().unwrap()], i["key"].as_str().unwrap());
        }
    }
    assert_eq!(
        selected["provenance"]["run"]["drift_version"],
        env!("CARGO_PKG_VERSION")
    );
    // The terminal table marks the timing column and ends with the provenance line.
    let out = s.drift(&["table", select.to_str().unwrap()]);
    assert!(out.stdout.contains("train_time_s †"), "{}", out.stdout);
    assert!(out.stdout.contains("not reproducible"), "{}", out.stdout);
    assert!(out.stdout.contains("selected lr="), "{}", out.stdout);
    assert!(out.stdout.contains("drift 0.1.0 · spec"), "{}", out.stdout);
    let latex = s.drift(&["table", select.to_str().unwrap(), "--format", "latex"]);
    assert_eq!(latex.code, 0, "{}", latex.stderr);
    for needle in [
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "\\mathbf{",
        "$^\\dagger$",
    ] {
        assert!(
            latex.stdout.contains(needle),
            "{needle} in\n{}",
            latex.stdout
        );
    }
}

#[test]
fn diff_compares_two_result_sets_cell_by_cell() {
    let s = Scratch::new();
    let old = spec("tiny.toml");
    s.run_json(&old, &[]);
    // The same spec in the same cache: nothing changed (exit 0).
    let same = s.drift(&["diff", old.to_str().unwrap(), old.to_str().unwrap()]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(
        same.stdout.contains("0 changed, 12 unchanged"),
        "{}",
        same.stdout
    );
    // A variant that trains longer (extending a copy of the base next to it, inside the
    // scratch project): every cell changes (exit 1).
    let local_base = s.write("tiny.toml", &std::fs::read_to_string(&old).unwrap());
    let new = s.write(
        "longer.toml",
        "extends = \"tiny.toml\"\n[experiment]\nname = \"longer\"\n[train.fm]\nsteps = 31\n",
    );
    s.run_json(&new, &[]);
    let changed = s.drift(&["diff", local_base.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(changed.code, 1, "{}{}", changed.stdout, changed.stderr);
    assert!(
        changed.stdout.contains("12 changed, 0 unchanged"),
        "{}",
        changed.stdout
    );
    let csv = s.drift(&[
        "diff",
        local_base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let lines = csv.stdout.lines().filter(|l| !l.is_empty()).count();
    assert_eq!(lines, 1 + 12, "{}", csv.stdout);
}
