//! Integration tests of drift-report: aggregation by hand, ordering, missing cells, the
//! error contract, and exact (snapshot) renderings of a small table.

mod common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use common::{cfg, rec, stats};
use drift_report::{
    ABSENT_LABEL, Aggregate, Cell, Format, ReportError, ResultRecord, Stats, build_table, render,
    to_record_batch, write_parquet,
};

/// The small table used by the snapshot tests: nfe x metric, mean over two seeds, one
/// single-seed cell and one missing cell (nfe=10, mmd).
fn small_records() -> Vec<ResultRecord> {
    let axes = ["data", "seed", "nfe"];
    let r = |seed: &str, nfe: &str, metric: &str, value: f64| {
        rec(
            &[
                ("data", "moons"),
                ("seed", seed),
                ("nfe", nfe),
                ("lr", "0.001"),
                ("method", "flow_matching"),
            ],
            &axes,
            metric,
            value,
        )
    };
    vec![
        r("0", "10", "w2", 0.125),
        r("0", "2", "w2", 0.25),
        r("1", "2", "w2", 0.25),
        r("0", "1", "w2", 0.5),
        r("1", "1", "w2", 0.75),
        r("0", "1", "mmd", 0.25),
        r("0", "2", "mmd", 0.125),
        r("1", "2", "mmd", 0.375),
    ]
}

fn small_table() -> drift_report::Table {
    build_table(
        &small_records(),
        &cfg(&["data", "nfe"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap()
}

// --- aggregation ------------------------------------------------------------------------

#[test]
fn mean_and_sample_std_by_hand() {
    let records: Vec<ResultRecord> = [("0", 1.0), ("1", 2.0), ("2", 4.0)]
        .iter()
        .map(|(seed, v)| rec(&[("seed", seed), ("nfe", "5")], &["seed", "nfe"], "w2", *v))
        .collect();
    let t = build_table(
        &records,
        &cfg(&["nfe"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    let s = stats(t.cell(0, 0));
    // mean = 7/3; deviations -4/3, -1/3, 5/3; sum of squares 42/9; / (n-1) = 7/3.
    assert!((s.mean - 7.0 / 3.0).abs() < 1e-15, "{}", s.mean);
    let std = s.std.unwrap();
    assert!((std - (7.0f64 / 3.0).sqrt()).abs() < 1e-15, "{std}");
    assert!((std - 1.527_525_231_651_946_7).abs() < 1e-12);
    assert_eq!(s.n_runs, 3);
    assert_eq!(t.aggregated_over(), ["seed"]);
}

#[test]
fn single_run_has_no_std_and_none_aggregation_has_one_run_per_cell() {
    let records = vec![
        rec(&[("seed", "0"), ("nfe", "5")], &["seed", "nfe"], "w2", 0.5),
        rec(&[("seed", "1"), ("nfe", "5")], &["seed", "nfe"], "w2", 0.75),
    ];
    let t = build_table(
        &records[..1],
        &cfg(&["nfe"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    assert_eq!(
        stats(t.cell(0, 0)),
        Stats {
            mean: 0.5,
            std: None,
            ci95: None,
            n_runs: 1
        }
    );

    let t = build_table(
        &records,
        &cfg(&["nfe", "seed"], &["metric"], Aggregate::None, &["seed"]),
    )
    .unwrap();
    assert_eq!(t.row_labels(), [vec!["5", "0"], vec!["5", "1"]]);
    assert_eq!(stats(t.cell(1, 0)).n_runs, 1);
    assert_eq!(stats(t.cell(1, 0)).std, None);
    assert!(t.aggregated_over().is_empty());
}

#[test]
fn over_axes_that_are_shown_are_not_aggregated() {
    let records: Vec<ResultRecord> = ["0", "1"]
        .iter()
        .map(|s| rec(&[("seed", s)], &["seed"], "w2", 1.0))
        .collect();
    let t = build_table(
        &records,
        &cfg(&["seed"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    assert_eq!(t.row_labels().len(), 2);
    assert_eq!(stats(t.cell(0, 0)).n_runs, 1);
    assert!(t.aggregated_over().is_empty());
}

#[test]
fn result_does_not_depend_on_input_order() {
    let records = small_records();
    let mut reversed = records.clone();
    reversed.reverse();
    let mut rotated = records.clone();
    rotated.rotate_left(3);
    let c = cfg(&["data", "nfe"], &["metric"], Aggregate::MeanStd, &["seed"]);
    let a = build_table(&records, &c).unwrap();
    for other in [reversed, rotated] {
        let b = build_table(&other, &c).unwrap();
        assert_eq!(a, b);
        for f in [
            Format::Terminal,
            Format::Markdown,
            Format::Csv,
            Format::Json,
        ] {
            assert_eq!(render(&a, "t", f), render(&b, "t", f));
        }
    }
}

// --- ordering and missing cells ----------------------------------------------------------

#[test]
fn rows_are_sorted_numerically_not_by_appearance_or_text() {
    let records: Vec<ResultRecord> = ["10", "2", "50", "1", "5"]
        .iter()
        .map(|n| rec(&[("nfe", n)], &["nfe"], "w2", 0.0))
        .collect();
    let t = build_table(&records, &cfg(&["nfe"], &["metric"], Aggregate::None, &[])).unwrap();
    let labels: Vec<&str> = t.row_labels().iter().map(|l| l[0].as_str()).collect();
    assert_eq!(labels, ["1", "2", "5", "10", "50"]);

    // Column groups too, and multi-level rows compare label by label.
    let records: Vec<ResultRecord> = [("rings", "10"), ("moons", "10"), ("moons", "2")]
        .iter()
        .map(|(d, n)| rec(&[("data", d), ("nfe", n)], &["data", "nfe"], "w2", 0.0))
        .collect();
    let t = build_table(&records, &cfg(&["data"], &["nfe"], Aggregate::None, &[])).unwrap();
    assert_eq!(t.row_labels(), [vec!["moons"], vec!["rings"]]);
    assert_eq!(t.column_labels(), [vec!["2"], vec!["10"]]);
    assert_eq!(t.column_header(1), "nfe=10");
}

#[test]
fn missing_cells_are_explicit_in_every_format() {
    let t = small_table();
    // Rows (moons,1), (moons,2), (moons,10); columns mmd, w2.
    assert_eq!(t.cell(2, 0), Some(&Cell::Missing));
    assert!(matches!(t.cell(2, 1), Some(Cell::Value(_))));
    assert_eq!(t.cell(3, 0), None);
    assert!(render(&t, "", Format::Terminal).contains('—'));
    assert!(render(&t, "", Format::Markdown).contains("| moons | 10 | — | 0.125 |"));
    assert!(render(&t, "", Format::Csv).contains("moons,10,,,,0,0.125,,,1\n"));
    let json: serde_json::Value = serde_json::from_str(&render(&t, "", Format::Json)).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    let missing = &cells[4];
    assert_eq!(missing["row"]["nfe"], "10");
    assert_eq!(missing["column"]["metric"], "mmd");
    assert!(missing["mean"].is_null() && missing["std"].is_null() && missing["ci95"].is_null());
    assert_eq!(missing["n_runs"], 0);
}

#[test]
fn records_lacking_a_column_get_the_absent_label() {
    let records = vec![
        rec(&[("method", "fm"), ("nfe", "5")], &["nfe"], "w2", 0.5),
        rec(&[("method", "gan")], &[], "w2", 0.25),
    ];
    let t = build_table(
        &records,
        &cfg(&["method", "nfe"], &["metric"], Aggregate::None, &[]),
    )
    .unwrap();
    assert_eq!(t.row_labels(), [vec!["fm", "5"], vec!["gan", ABSENT_LABEL]]);
}

// --- errors -----------------------------------------------------------------------------

#[test]
fn unknown_column_suggests_the_nearest_names() {
    let err = build_table(
        &small_records(),
        &cfg(&["data", "nef"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    match &err {
        ReportError::UnknownColumn {
            name,
            role,
            suggestions,
            available,
        } => {
            assert_eq!(name, "nef");
            assert_eq!(*role, "rows");
            assert_eq!(suggestions, &["nfe"]);
            assert_eq!(
                available,
                &["data", "lr", "method", "metric", "nfe", "seed"]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "unknown column `nef` in report rows; did you mean `nfe`?; available columns: data, lr, method, metric, nfe, seed"
    );

    let err = build_table(
        &small_records(),
        &cfg(
            &["data", "nfe"],
            &["temperature"],
            Aggregate::MeanStd,
            &["seed"],
        ),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown column `temperature` in report columns; available columns: data, lr, method, metric, nfe, seed"
    );
}

#[test]
fn an_axis_neither_shown_nor_aggregated_is_an_error() {
    // `data` is an axis but is not in rows/columns and not in over.
    let err = build_table(
        &small_records(),
        &cfg(&["nfe"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ReportError::UnpooledAxis { axis, .. } if axis == "data"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("sweep axis `data`"), "{msg}");
    assert!(
        msg.contains("add `data` to rows or columns, or aggregate over it"),
        "{msg}"
    );

    // Without aggregation the seed axis must be shown too.
    let err = build_table(
        &small_records(),
        &cfg(&["data", "nfe"], &["metric"], Aggregate::None, &["seed"]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ReportError::UnpooledAxis { axis, aggregate: Aggregate::None, .. } if axis == "seed"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("aggregate = \"mean_std\""),
        "{err}"
    );
}

#[test]
fn different_methods_or_metrics_are_never_pooled() {
    let mut gan = rec(&[("method", "gan"), ("seed", "0")], &["seed"], "w2", 0.25);
    gan.instance = "eval.gan[seed=0]".to_string();
    let records = vec![
        gan,
        rec(&[("method", "fm"), ("seed", "0")], &["seed"], "w2", 0.5),
    ];
    let err = build_table(
        &records,
        &cfg(&[], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ReportError::MixedCell(c) if c.column == "method"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "records eval.fm[seed=0] and eval.gan[seed=0] fall into the same cell (metric=w2) \
         but differ in `method` (fm vs gan); add `method` to rows or columns, or aggregate over it"
    );

    let records = vec![
        rec(&[("seed", "0")], &["seed"], "w2", 0.5),
        rec(&[("seed", "0")], &["seed"], "mmd", 0.25),
    ];
    let err = build_table(&records, &cfg(&[], &[], Aggregate::MeanStd, &["seed"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("differ in `metric` (mmd vs w2); add `metric` to rows or columns"),
        "{err}"
    );
}

#[test]
fn duplicate_records_are_an_error() {
    let r = rec(&[("nfe", "5")], &["nfe"], "w2", 0.5);
    let err = build_table(
        &[r.clone(), r.clone()],
        &cfg(&["nfe"], &["metric"], Aggregate::None, &[]),
    )
    .unwrap_err();
    assert!(
        matches!(err, ReportError::DuplicateRecord { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("nfe=5, metric=w2"), "{err}");

    let s = rec(&[("seed", "1")], &["seed"], "w2", 0.5);
    let err = build_table(
        &[s.clone(), s],
        &cfg(&[], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("have the same values for the aggregated axes (seed=1)"),
        "{err}"
    );
}

#[test]
fn reserved_and_repeated_names_are_rejected() {
    let records = small_records();
    let err = build_table(
        &records,
        &cfg(&["mean"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::ReservedName { .. }), "{err:?}");
    assert!(
        err.to_string().contains("`mean` is a reserved name"),
        "{err}"
    );

    let bad = rec(&[("value", "3")], &[], "w2", 0.5);
    let err = build_table(&[bad], &cfg(&[], &["metric"], Aggregate::None, &[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("as a column name (record eval.fm[])"),
        "{err}"
    );

    let err = build_table(
        &records,
        &cfg(&["data", "nfe"], &["nfe"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::DuplicateName { .. }), "{err:?}");

    assert!(matches!(
        build_table(&[], &cfg(&[], &[], Aggregate::None, &[])),
        Err(ReportError::NoRecords)
    ));
}

#[test]
fn aggregate_names() {
    assert_eq!(
        Aggregate::from_name("mean_std").unwrap(),
        Aggregate::MeanStd
    );
    assert_eq!(Aggregate::from_name("none").unwrap(), Aggregate::None);
    assert_eq!(Aggregate::MeanStd.name(), "mean_std");
    assert_eq!(Aggregate::None.name(), "none");
    let err = Aggregate::from_name("median").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown aggregate `median`; expected one of: mean_std, none"
    );
}

// --- renderings (exact) ------------------------------------------------------------------

#[test]
fn markdown_snapshot() {
    let got = render(&small_table(), "w2 and mmd on moons", Format::Markdown);
    let want = "\
### w2 and mmd on moons

| data | nfe | mmd | w2 |
| --- | --- | ---: | ---: |
| moons | 1 | 0.25 | 0.625 ± 0.1768 |
| moons | 2 | 0.25 ± 0.1768 | 0.25 ± 0 |
| moons | 10 | — | 0.125 |
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn csv_snapshot() {
    let got = render(&small_table(), "ignored", Format::Csv);
    // ci95 of two runs: t_{0.975, 1} * std / sqrt(2) = 12.7062047... * 0.125.
    let want = "\
data,nfe,mmd_mean,mmd_std,mmd_ci95,mmd_n_runs,w2_mean,w2_std,w2_ci95,w2_n_runs
moons,1,0.25,,,1,0.625,0.1767766952966369,1.5882755920218368,2
moons,2,0.25,0.1767766952966369,1.5882755920218368,2,0.25,0,0,2
moons,10,,,,0,0.125,,,1
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn terminal_snapshot() {
    let got = render(&small_table(), "w2 and mmd on moons", Format::Terminal);
    let want = "\
w2 and mmd on moons
data   nfe            mmd              w2
-----  ---  -------------  --------------
moons  1             0.25  0.625 ± 0.1768
moons  2    0.25 ± 0.1768        0.25 ± 0
moons  10               —           0.125
";
    assert_eq!(got, want, "\n{got}");

    // The format of the contract's example.
    let records = vec![
        rec(
            &[("seed", "0")],
            &["seed"],
            "w2",
            0.1234 - 0.0056 / 2f64.sqrt(),
        ),
        rec(
            &[("seed", "1")],
            &["seed"],
            "w2",
            0.1234 + 0.0056 / 2f64.sqrt(),
        ),
    ];
    let t = build_table(
        &records,
        &cfg(&[], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    assert_eq!(
        render(&t, "", Format::Terminal),
        "             w2\n---------------\n0.1234 ± 0.0056\n"
    );
}

#[test]
fn json_snapshot() {
    let records = vec![
        rec(&[("nfe", "2"), ("seed", "0")], &["nfe", "seed"], "w2", 0.5),
        rec(&[("nfe", "2"), ("seed", "1")], &["nfe", "seed"], "w2", 0.75),
        rec(&[("nfe", "1"), ("seed", "0")], &["nfe", "seed"], "w2", 1.5),
        rec(
            &[("nfe", "2"), ("seed", "0")],
            &["nfe", "seed"],
            "mmd",
            0.25,
        ),
    ];
    let t = build_table(
        &records,
        &cfg(&["nfe"], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    let got = render(&t, "moons", Format::Json);
    let want = r#"{
  "title": "moons",
  "aggregate": "mean_std",
  "over": [
    "seed"
  ],
  "rows": [
    "nfe"
  ],
  "columns": [
    "metric"
  ],
  "costs": [],
  "cells": [
    {
      "row": {
        "nfe": "1"
      },
      "column": {
        "metric": "mmd"
      },
      "mean": null,
      "std": null,
      "ci95": null,
      "n_runs": 0
    },
    {
      "row": {
        "nfe": "1"
      },
      "column": {
        "metric": "w2"
      },
      "mean": 1.5,
      "std": null,
      "ci95": null,
      "n_runs": 1
    },
    {
      "row": {
        "nfe": "2"
      },
      "column": {
        "metric": "mmd"
      },
      "mean": 0.25,
      "std": null,
      "ci95": null,
      "n_runs": 1
    },
    {
      "row": {
        "nfe": "2"
      },
      "column": {
        "metric": "w2"
      },
      "mean": 0.625,
      "std": 0.1767766952966369,
      "ci95": 1.5882755920218368,
      "n_runs": 2
    }
  ]
}
"#;
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn csv_and_markdown_escape_awkward_labels() {
    let records = vec![rec(&[("data", "a,b|c")], &["data"], "w2", 1.0)];
    let t = build_table(&records, &cfg(&["data"], &["metric"], Aggregate::None, &[])).unwrap();
    assert_eq!(
        render(&t, "", Format::Csv),
        "data,w2_mean,w2_std,w2_ci95,w2_n_runs\n\"a,b|c\",1,,,1\n"
    );
    assert!(render(&t, "", Format::Markdown).contains("| a,b\\|c | 1 |"));
}

// --- long form --------------------------------------------------------------------------

#[test]
fn long_form_record_batch_and_parquet_round_trip() {
    let t = small_table();
    let batch = to_record_batch(&t);
    let schema = batch.schema();
    let fields: Vec<(&str, &DataType, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(
        fields,
        [
            ("data", &DataType::Utf8, false),
            ("nfe", &DataType::Utf8, false),
            ("metric", &DataType::Utf8, false),
            ("mean", &DataType::Float64, true),
            ("std", &DataType::Float64, true),
            ("ci95", &DataType::Float64, true),
            ("n_runs", &DataType::UInt64, false),
            ("reproducible", &DataType::Boolean, false),
        ]
    );
    assert_eq!(batch.num_rows(), 6);
    let nfe = batch.column(1).as_string::<i32>();
    let metric = batch.column(2).as_string::<i32>();
    let mean = batch.column(3).as_primitive::<Float64Type>();
    let std = batch.column(4).as_primitive::<Float64Type>();
    let ci95 = batch.column(5).as_primitive::<Float64Type>();
    let n_runs = batch.column(6).as_primitive::<UInt64Type>();
    let reproducible = batch.column(7).as_boolean();
    // Row-major: (1, mmd), (1, w2), (2, mmd), (2, w2), (10, mmd) missing, (10, w2).
    assert_eq!(nfe.value(4), "10");
    assert_eq!(metric.value(4), "mmd");
    assert!(mean.is_null(4) && std.is_null(4) && ci95.is_null(4));
    assert!(ci95.is_null(0) && ci95.value(1) == 1.588_275_592_021_836_8 && ci95.value(3) == 0.0);
    assert!((0..6).all(|i| reproducible.value(i)));
    assert_eq!(n_runs.value(4), 0);
    assert_eq!(mean.value(1), 0.625);
    assert!(std.is_null(0));
    assert_eq!(n_runs.value(3), 2);

    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    write_parquet(&t, &a).unwrap();
    write_parquet(&t, &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // The rows read back as written (the table metadata is the file's key-value metadata,
    // which readers do not put back into the batch schema).
    let back = drift_io::read_record_batches(&a).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].schema().fields(), batch.schema().fields());
    assert_eq!(back[0].columns(), batch.columns());

    let err = write_parquet(&t, &dir.path().join("missing/dir/t.parquet")).unwrap_err();
    assert!(err.to_string().contains("missing/dir"), "{err}");
}
