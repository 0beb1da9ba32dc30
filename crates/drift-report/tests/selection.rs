//! Integration tests of model selection: choosing `lr` on the validation split per method,
//! reporting the test split, and the errors.

mod common;

use common::{cfg, rec, stats, strings};
use drift_report::{
    Aggregate, Better, Choice, ReportError, ResultRecord, Selection, build_table, select,
};

/// Validation w2 by (method, lr, seed). fm: lr 0.001 -> mean 0.1875, lr 0.01 -> 0.125
/// (best), lr 0.1 diverged (NaN). gan: lr 0.001 and 0.01 tie at 0.25 (the first label,
/// 0.001, wins), lr 0.1 -> 0.75.
const VAL_W2: [(&str, &str, [f64; 2]); 6] = [
    ("fm", "0.001", [0.25, 0.125]),
    ("fm", "0.01", [0.125, 0.125]),
    ("fm", "0.1", [0.5, f64::NAN]),
    ("gan", "0.001", [0.375, 0.125]),
    ("gan", "0.01", [0.3125, 0.1875]),
    ("gan", "0.1", [0.75, 0.75]),
];

/// Test w2 is the validation value plus 1; test mmd is the seed number plus 10; the
/// validation split also has an mmd (which selection ignores).
fn records() -> Vec<ResultRecord> {
    let axes = ["method", "lr", "seed", "split"];
    let mut out = Vec::new();
    for (method, lr, values) in VAL_W2 {
        for (seed, v) in values.iter().enumerate() {
            let seed = seed.to_string();
            let r = |split: &str, metric: &str, value: f64| {
                let mut r = rec(
                    &[
                        ("method", method),
                        ("lr", lr),
                        ("seed", &seed),
                        ("split", split),
                        ("data", "moons"),
                    ],
                    &axes,
                    metric,
                    value,
                );
                r.instance = format!("eval.{method}[lr={lr},seed={seed},split={split}]");
                r
            };
            out.push(r("val", "w2", *v));
            out.push(r("val", "mmd", 100.0));
            out.push(r("test", "w2", v + 1.0));
            out.push(r("test", "mmd", 10.0 + seed.parse::<f64>().unwrap()));
        }
    }
    out
}

fn selection() -> Selection {
    Selection {
        by: "w2".to_string(),
        split_column: "split".to_string(),
        select_split: "val".to_string(),
        report_split: "test".to_string(),
        over: strings(&["lr"]),
        better: Better::Lower,
    }
}

fn pair(name: &str, label: &str) -> (String, String) {
    (name.to_string(), label.to_string())
}

#[test]
fn chooses_lr_on_val_and_reports_test() {
    let selected = select(&records(), &selection(), &strings(&["seed"])).unwrap();
    assert_eq!(
        selected.choices,
        [
            Choice {
                group: vec![pair("method", "fm")],
                chosen: vec![pair("lr", "0.01")],
                by_mean: 0.125,
                candidates: 3,
            },
            Choice {
                group: vec![pair("method", "gan")],
                chosen: vec![pair("lr", "0.001")],
                by_mean: 0.25,
                candidates: 3,
            },
        ]
    );
    // 2 methods x 2 seeds x 2 metrics of the test split, chosen lr only.
    assert_eq!(selected.records.len(), 8);
    for r in &selected.records {
        assert_eq!(r.columns["split"], "test");
        let want_lr = if r.columns["method"] == "fm" {
            "0.01"
        } else {
            "0.001"
        };
        assert_eq!(r.columns["lr"], want_lr, "{}", r.instance);
        // lr and split are chosen/fixed now, no longer swept.
        assert_eq!(r.axes, ["method", "seed"].map(String::from).into());
    }

    // Ready for a table that shows the chosen lr and averages the seeds.
    let t = build_table(
        &selected.records,
        &cfg(
            &["method", "lr"],
            &["metric"],
            Aggregate::MeanStd,
            &["seed"],
        ),
    )
    .unwrap();
    assert_eq!(
        t.row_labels(),
        [strings(&["fm", "0.01"]), strings(&["gan", "0.001"])]
    );
    // Columns: mmd, w2. fm's test w2 = 1.125 for both seeds; gan's: 1.375 and 1.125.
    assert_eq!(stats(t.cell(0, 1)).mean, 1.125);
    assert_eq!(stats(t.cell(1, 1)).mean, 1.25);
    assert_eq!(stats(t.cell(1, 0)).mean, 10.5);
    assert_eq!(stats(t.cell(1, 0)).n_runs, 2);
}

#[test]
fn higher_is_better_flips_the_choice() {
    let mut s = selection();
    s.better = Better::Higher;
    let selected = select(&records(), &s, &strings(&["seed"])).unwrap();
    let chosen: Vec<&str> = selected
        .choices
        .iter()
        .map(|c| c.chosen[0].1.as_str())
        .collect();
    // fm: 0.1 is NaN and never wins, so 0.001 (0.1875); gan: 0.1 (0.75).
    assert_eq!(chosen, ["0.001", "0.1"]);
}

#[test]
fn all_non_finite_candidates_leave_a_group_unchosen() {
    let records: Vec<ResultRecord> = records()
        .into_iter()
        .map(|mut r| {
            if r.columns["method"] == "fm" && r.metric == "w2" && r.columns["split"] == "val" {
                r.value = f64::INFINITY;
            }
            r
        })
        .collect();
    let selected = select(&records, &selection(), &strings(&["seed"])).unwrap();
    assert_eq!(selected.choices.len(), 1);
    assert_eq!(selected.choices[0].group, [pair("method", "gan")]);
    assert!(
        selected
            .records
            .iter()
            .all(|r| r.columns["method"] == "gan")
    );
}

#[test]
fn selection_errors_say_what_to_fix() {
    let pooled = strings(&["seed"]);

    let mut s = selection();
    s.by = "w3".to_string();
    let err = select(&records(), &s, &pooled).unwrap_err();
    assert!(matches!(err, ReportError::UnknownMetric { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unknown metric `w3` to select by; did you mean `w2`?; metrics: mmd, w2"
    );

    let mut s = selection();
    s.over = strings(&["lrr"]);
    let err = select(&records(), &s, &pooled).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot select over `lrr`: it is not a sweep axis of the `val` records of metric `w2`; \
         did you mean `lr`?; their axes: lr, method, seed, split"
    );

    let mut s = selection();
    s.select_split = "valid".to_string();
    let err = select(&records(), &s, &pooled).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no record of metric `w2` has `split` = `valid` to select on; its `split` values: test, val"
    );
    let mut s = selection();
    s.split_column = "fold".to_string();
    let err = select(&records(), &s, &pooled).unwrap_err();
    assert!(
        err.to_string()
            .contains("no record of metric `w2` has a `fold` column"),
        "{err}"
    );

    // gan's chosen lr (0.001) has no test records.
    let records: Vec<ResultRecord> = records()
        .into_iter()
        .filter(|r| {
            !(r.columns["method"] == "gan"
                && r.columns["lr"] == "0.001"
                && r.columns["split"] == "test")
        })
        .collect();
    let err = select(&records, &selection(), &pooled).unwrap_err();
    assert!(
        matches!(err, ReportError::NoReportRecords { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "model selection chose lr=0.001 for method=gan on `split` = `val`, but that group has \
         no record with `split` = `test` for the chosen lr=0.001"
    );
}

#[test]
fn two_selection_records_with_the_same_labels_are_a_duplicate() {
    // A second record of fm, lr=0.001, seed=0 on val would be averaged in silently.
    let mut records = records();
    let copy = records[0].clone();
    records.push(ResultRecord {
        instance: "eval.fm[copy]".to_string(),
        ..copy
    });
    let err = select(&records, &selection(), &strings(&["seed"])).unwrap_err();
    assert!(
        matches!(err, ReportError::DuplicateRecord { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "duplicate results for cell (method=fm): records eval.fm[lr=0.001,seed=0,split=val] \
         and eval.fm[copy] are both the `split` = `val` result of `w2` for lr=0.001, seed=0"
    );
}
