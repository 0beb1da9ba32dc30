//! Integration tests of reading a written table back and of diffing two tables.

mod common;

use std::collections::BTreeMap;

use common::{cfg, cost, rec};
use drift_report::{
    Aggregate, Better, CellChange, Format, Interval, ReportConfig, ReportError, ResultRecord,
    Table, build_table, diff, read_parquet, render_diff, write_parquet,
};

/// nfe x metric over two seeds, with a single-run cell, a missing cell and a cost.
fn records(w2_at_2: f64) -> Vec<ResultRecord> {
    let axes = ["seed", "nfe"];
    let r = |seed: &str, nfe: &str, metric: &str, value: f64| {
        rec(&[("seed", seed), ("nfe", nfe)], &axes, metric, value)
    };
    vec![
        r("0", "1", "w2", 0.5),
        r("1", "1", "w2", 0.75),
        r("0", "2", "w2", w2_at_2),
        r("1", "2", "w2", w2_at_2),
        r("0", "1", "mmd", 0.25),
        cost(&[("seed", "0"), ("nfe", "1")], &axes, "time_s", 3.0),
        cost(&[("seed", "1"), ("nfe", "1")], &axes, "time_s", 5.0),
    ]
}

fn config() -> ReportConfig {
    ReportConfig {
        interval: Interval::Ci95,
        better: BTreeMap::from([("w2".to_string(), Better::Lower)]),
        ..cfg(&["nfe"], &["metric"], Aggregate::MeanStd, &["seed"])
    }
}

fn table(w2_at_2: f64) -> Table {
    build_table(&records(w2_at_2), &config()).unwrap()
}

#[test]
fn parquet_reads_back_the_identical_table() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(0.125);
    let path = dir.path().join("t.parquet");
    write_parquet(&t, &path).unwrap();
    let back = read_parquet(&path).unwrap();
    assert_eq!(back, t);
    // Missing cells, single runs and costs survived.
    assert_eq!(back.cell(1, 0), Some(&drift_report::Cell::Missing));
    assert_eq!(back.costs().iter().collect::<Vec<_>>(), ["time_s"]);
    assert_eq!(back.interval(), Interval::Ci95);

    // Metric not shown, no aggregation, several labels per row: still identical.
    let records: Vec<ResultRecord> = [("moons", "5", 1.0), ("rings", "10", 2.0)]
        .iter()
        .map(|(d, n, v)| rec(&[("data", d), ("nfe", n)], &["data", "nfe"], "w2", *v))
        .collect();
    let t = build_table(&records, &cfg(&["data"], &["nfe"], Aggregate::None, &[])).unwrap();
    write_parquet(&t, &path).unwrap();
    assert_eq!(read_parquet(&path).unwrap(), t);

    // Writing is byte-deterministic.
    let again = dir.path().join("again.parquet");
    write_parquet(&t, &again).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn reading_a_parquet_file_that_is_not_a_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.parquet");
    // The same rows without the metadata.
    let batch = drift_report::to_record_batch(&table(0.125));
    let plain = arrow::record_batch::RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(
            batch.schema().fields().clone(),
        )),
        batch.columns().to_vec(),
    )
    .unwrap();
    drift_io::write_record_batch(&path, &plain).unwrap();
    let err = read_parquet(&path).unwrap_err();
    assert!(matches!(err, ReportError::NotATable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("is not a drift-report table: no `drift.rows` metadata (was it written by write_parquet?)"),
        "{err}"
    );
    let err = read_parquet(&dir.path().join("absent.parquet")).unwrap_err();
    assert!(err.to_string().contains("absent.parquet"), "{err}");
}

/// Old: nfe 1 and 2. New: nfe 2 changed w2, nfe 3 added, nfe 1 lost its mmd.
fn old_and_new() -> (Table, Table) {
    let old = table(0.125);
    let mut new_records: Vec<ResultRecord> = records(0.25)
        .into_iter()
        .filter(|r| r.metric != "mmd")
        .collect();
    new_records.push(rec(
        &[("seed", "0"), ("nfe", "3")],
        &["seed", "nfe"],
        "mmd",
        0.5,
    ));
    (old, build_table(&new_records, &config()).unwrap())
}

#[test]
fn diff_classifies_every_cell_once() {
    let (old, new) = old_and_new();
    let d = diff(&old, &new).unwrap();
    let got: Vec<(String, String, CellChange)> = d
        .cells
        .iter()
        .map(|c| (c.row[0].clone(), c.header.clone(), c.change))
        .collect();
    let cell =
        |nfe: &str, metric: &str, change: CellChange| (nfe.to_string(), metric.to_string(), change);
    assert_eq!(
        got,
        [
            cell("1", "mmd", CellChange::Removed { old: 0.25 }),
            cell("1", "time_s", CellChange::Unchanged { value: 4.0 }),
            cell("1", "w2", CellChange::Unchanged { value: 0.625 }),
            cell("2", "mmd", CellChange::BothMissing),
            cell("2", "time_s", CellChange::BothMissing),
            cell(
                "2",
                "w2",
                CellChange::Changed {
                    old: 0.125,
                    new: 0.25,
                    absolute: 0.125,
                    relative: Some(1.0),
                }
            ),
            cell("3", "mmd", CellChange::Added { new: 0.5 }),
            cell("3", "time_s", CellChange::BothMissing),
            cell("3", "w2", CellChange::BothMissing),
        ]
    );
    let s = d.summary();
    assert_eq!(
        (s.changed, s.unchanged, s.added, s.removed, s.both_missing),
        (1, 2, 1, 1, 4)
    );

    // A zero old mean has no relative change.
    let zero = build_table(&records(0.0), &config()).unwrap();
    let d = diff(&zero, &old).unwrap();
    let changed = d
        .cells
        .iter()
        .find(|c| matches!(c.change, CellChange::Changed { .. }))
        .unwrap();
    assert_eq!(changed.change.relative(), None);
    assert_eq!(changed.change.absolute(), Some(0.125));
}

#[test]
fn diff_renderings() {
    let (old, new) = old_and_new();
    let d = diff(&old, &new).unwrap();
    let got = render_diff(&d, "moons", Format::Terminal).unwrap();
    let want = "\
moons
nfe  metric    old    new          change
---  ------  -----  -----  --------------
1    mmd      0.25      —         removed
1    time_s      4      4               0
1    w2      0.625  0.625               0
2    w2      0.125   0.25  +0.125 (+100%)
3    mmd         —    0.5           added
1 changed, 2 unchanged, 1 added, 1 removed
";
    assert_eq!(got, want, "\n{got}");

    let got = render_diff(&d, "", Format::Markdown).unwrap();
    let want = "\
| nfe | metric | old | new | change |
| --- | --- | ---: | ---: | ---: |
| 1 | mmd | 0.25 | — | removed |
| 1 | time_s | 4 | 4 | 0 |
| 1 | w2 | 0.625 | 0.625 | 0 |
| 2 | w2 | 0.125 | 0.25 | +0.125 (+100%) |
| 3 | mmd | — | 0.5 | added |

1 changed, 2 unchanged, 1 added, 1 removed
";
    assert_eq!(got, want, "\n{got}");

    let got = render_diff(&d, "", Format::Csv).unwrap();
    let want = "\
nfe,metric,status,old,new,change,relative_change
1,mmd,removed,0.25,,,
1,time_s,unchanged,4,4,0,0
1,w2,unchanged,0.625,0.625,0,0
2,mmd,both_missing,,,,
2,time_s,both_missing,,,,
2,w2,changed,0.125,0.25,0.125,1
3,mmd,added,,0.5,,
3,time_s,both_missing,,,,
3,w2,both_missing,,,,
";
    assert_eq!(got, want, "\n{got}");

    let json: serde_json::Value =
        serde_json::from_str(&render_diff(&d, "moons", Format::Json).unwrap()).unwrap();
    assert_eq!(json["title"], "moons");
    assert_eq!(json["cells"].as_array().unwrap().len(), 9);
    assert_eq!(
        json["cells"][5],
        serde_json::json!({
            "row": {"nfe": "2"},
            "column": {"metric": "w2"},
            "status": "changed",
            "old": 0.125,
            "new": 0.25,
            "change": 0.125,
            "relative_change": 1.0,
        })
    );
    assert_eq!(
        json["summary"],
        serde_json::json!({"changed": 1, "unchanged": 2, "added": 1, "removed": 1, "both_missing": 4})
    );

    let err = render_diff(&d, "", Format::Latex).unwrap_err();
    assert!(
        matches!(err, ReportError::UnsupportedFormat { .. }),
        "{err:?}"
    );
}

#[test]
fn diff_needs_the_same_row_and_column_names() {
    let old = table(0.125);
    let other = build_table(
        &records(0.125),
        &ReportConfig {
            rows: vec!["nfe".to_string(), "seed".to_string()],
            ..config()
        },
    );
    // `seed` in rows is shown, not aggregated: a different layout.
    let other = other.unwrap();
    let err = diff(&old, &other).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot diff tables with different row names: old has [nfe], new has [nfe, seed]; \
         build both with the same rows and columns"
    );
}
