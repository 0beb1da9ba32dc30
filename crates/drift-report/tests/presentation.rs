//! Integration tests of the presentation features: the 95% confidence interval, cost
//! (not reproducible) metrics in every format, and the LaTeX rendering with bold best
//! values.

mod common;

use std::collections::BTreeMap;

use arrow::array::AsArray;
use common::{cfg, cost, rec, stats};
use drift_report::{
    Aggregate, Better, Format, Interval, ReportConfig, ReportError, ResultRecord, Table,
    build_table, render, to_record_batch,
};

/// Three methods, two seeds, metrics `acc` (higher is better), `w2` (lower is better) and
/// the cost `train_time_s`; `gan` has a single seed and no `acc`.
fn method_records() -> Vec<ResultRecord> {
    let axes = ["method", "seed"];
    let metric = |method: &str, seed: &str, name: &str, value: f64| {
        rec(&[("method", method), ("seed", seed)], &axes, name, value)
    };
    let time = |method: &str, seed: &str, value: f64| {
        cost(
            &[("method", method), ("seed", seed)],
            &axes,
            "train_time_s",
            value,
        )
    };
    vec![
        metric("fm", "0", "w2", 0.5),
        metric("fm", "1", "w2", 0.75),
        metric("ot_cfm", "0", "w2", 0.25),
        metric("ot_cfm", "1", "w2", 0.25),
        metric("gan", "0", "w2", 1.0),
        metric("fm", "0", "acc", 0.75),
        metric("fm", "1", "acc", 0.75),
        metric("ot_cfm", "0", "acc", 0.5),
        metric("ot_cfm", "1", "acc", 1.0),
        time("fm", "0", 10.0),
        time("fm", "1", 12.0),
        time("ot_cfm", "0", 20.0),
        time("ot_cfm", "1", 20.0),
        time("gan", "0", 12345.0),
    ]
}

fn better() -> BTreeMap<String, Better> {
    BTreeMap::from([
        ("w2".to_string(), Better::Lower),
        ("acc".to_string(), Better::Higher),
    ])
}

fn method_config(interval: Interval) -> ReportConfig {
    ReportConfig {
        interval,
        better: better(),
        ..cfg(&["method"], &["metric"], Aggregate::MeanStd, &["seed"])
    }
}

fn method_table(interval: Interval) -> Table {
    build_table(&method_records(), &method_config(interval)).unwrap()
}

// --- confidence interval ------------------------------------------------------------------

#[test]
fn ci95_is_t_times_std_over_sqrt_n() {
    // Five runs: mean 3, std sqrt(2.5); t_{0.975, 4} = 2.7764451051977943 (SciPy).
    let records: Vec<ResultRecord> = [1.0, 2.0, 3.0, 4.0, 5.0]
        .iter()
        .enumerate()
        .map(|(seed, v)| rec(&[("seed", &seed.to_string())], &["seed"], "w2", *v))
        .collect();
    let t = build_table(
        &records,
        &cfg(&[], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    let s = stats(t.cell(0, 0));
    let want = 2.776_445_105_197_794_3 * 2.5f64.sqrt() / 5f64.sqrt();
    let got = s.ci95.unwrap();
    assert!(((got - want) / want).abs() < 1e-12, "{got} vs {want}");
    assert!((got - 1.963_243_161_477_557_6).abs() < 1e-12, "{got}");
    // A single run has neither std nor ci95.
    let one = build_table(
        &records[..1],
        &cfg(&[], &["metric"], Aggregate::MeanStd, &["seed"]),
    )
    .unwrap();
    assert_eq!(stats(one.cell(0, 0)).ci95, None);
}

#[test]
fn interval_and_direction_names() {
    assert_eq!(Interval::from_name("ci95").unwrap(), Interval::Ci95);
    assert_eq!(Interval::from_name("std").unwrap(), Interval::Std);
    assert_eq!(Interval::default(), Interval::Std);
    assert_eq!(Interval::Ci95.name(), "ci95");
    assert_eq!(
        Interval::from_name("sem").unwrap_err().to_string(),
        "unknown interval `sem`; expected one of: std, ci95"
    );
    assert_eq!(Better::from_name("lower").unwrap(), Better::Lower);
    assert_eq!(Better::from_name("higher").unwrap(), Better::Higher);
    assert_eq!(Better::Higher.name(), "higher");
    assert!(matches!(
        Better::from_name("up"),
        Err(ReportError::UnknownBetter { .. })
    ));
    assert_eq!(Format::from_name("tex").unwrap(), Format::Latex);
    assert_eq!(Format::Latex.extension(), "tex");
    assert_eq!(Format::Latex.name(), "latex");
}

// --- costs ----------------------------------------------------------------------------------

#[test]
fn terminal_shows_ci95_and_marks_costs() {
    let got = render(&method_table(Interval::Ci95), "moons", Format::Terminal);
    // fm w2: std 0.1768, ci95 = 12.706 * 0.1768 / sqrt(2) = 1.588; fm time: 12.706 * sqrt(2)
    // / sqrt(2); ot_cfm acc: 12.706 * 0.3536 / sqrt(2) = 3.177.
    let want = "\
moons
method           acc  train_time_s †             w2
------  ------------  --------------  -------------
fm          0.75 ± 0      11 ± 12.71  0.625 ± 1.588
gan                —       1.234e+04              1
ot_cfm  0.75 ± 3.177          20 ± 0       0.25 ± 0
† cost measured on the machine that ran it: not reproducible
";
    assert_eq!(got, want, "\n{got}");
    assert_eq!(
        method_table(Interval::Ci95)
            .costs()
            .iter()
            .collect::<Vec<_>>(),
        ["train_time_s"]
    );
}

#[test]
fn markdown_marks_a_cost_row_and_adds_the_footnote() {
    let c = ReportConfig {
        better: better(),
        ..cfg(&["metric"], &["method"], Aggregate::MeanStd, &["seed"])
    };
    let t = build_table(&method_records(), &c).unwrap();
    let got = render(&t, "", Format::Markdown);
    let want = "\
| metric | method=fm | method=gan | method=ot_cfm |
| --- | ---: | ---: | ---: |
| acc | 0.75 ± 0 | — | 0.75 ± 0.3536 |
| train_time_s † | 11 ± 1.414 | 1.234e+04 | 20 ± 0 |
| w2 | 0.625 ± 0.1768 | 1 | 0.25 ± 0 |

† cost measured on the machine that ran it: not reproducible
";
    assert_eq!(got, want, "\n{got}");

    // Parquet flags the cost row's cells; JSON lists the costs.
    let batch = to_record_batch(&t);
    let flags = batch.column_by_name("reproducible").unwrap().as_boolean();
    let got: Vec<bool> = (0..batch.num_rows()).map(|i| flags.value(i)).collect();
    assert_eq!(
        got,
        [true, true, true, false, false, false, true, true, true]
    );
    let json: serde_json::Value = serde_json::from_str(&render(&t, "", Format::Json)).unwrap();
    assert_eq!(json["costs"], serde_json::json!(["train_time_s"]));
}

#[test]
fn without_metric_in_the_table_every_value_is_marked_when_a_cost_is_present() {
    let records: Vec<ResultRecord> = ["5", "10"]
        .iter()
        .map(|nfe| cost(&[("nfe", nfe)], &["nfe"], "sample_time_s", 2.0))
        .collect();
    let t = build_table(&records, &cfg(&[], &["nfe"], Aggregate::None, &[])).unwrap();
    let text = render(&t, "", Format::Terminal);
    assert!(text.starts_with("nfe=5 †  nfe=10 †\n"), "{text}");
    assert!(text.ends_with("† cost measured on the machine that ran it: not reproducible\n"));
    let batch = to_record_batch(&t);
    let flags = batch.column_by_name("reproducible").unwrap().as_boolean();
    assert!(!flags.value(0) && !flags.value(1));
    // No cost, no mark and no footnote.
    let plain = build_table(&method_records()[..2], &method_config(Interval::Std)).unwrap();
    assert!(!render(&plain, "", Format::Terminal).contains('†'));
    assert!(!render(&plain, "", Format::Latex).contains("dagger"));
}

#[test]
fn a_metric_both_reproducible_and_not_is_an_error() {
    let mut records = method_records();
    let mut odd = rec(
        &[("method", "fm"), ("seed", "2")],
        &["method", "seed"],
        "w2",
        0.5,
    );
    odd.reproducible = false;
    odd.instance = "eval.fm[seed=2]".to_string();
    records.push(odd);
    let err = build_table(&records, &method_config(Interval::Std)).unwrap_err();
    assert!(
        matches!(&err, ReportError::MixedReproducibility { metric, .. } if metric == "w2"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "metric `w2` is reproducible in record eval.fm[method=fm,seed=0] but a cost (not \
         reproducible) in record eval.fm[seed=2]; a metric name must be one or the other"
    );
}

#[test]
fn new_reserved_names_are_rejected() {
    for name in ["ci95", "reproducible"] {
        let bad = rec(&[(name, "x")], &[], "w2", 0.5);
        let err = build_table(&[bad], &cfg(&[], &["metric"], Aggregate::None, &[])).unwrap_err();
        assert!(matches!(err, ReportError::ReservedName { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("(reserved: metric, value, mean, std, ci95, n_runs, reproducible)"),
            "{err}"
        );
    }
}

// --- LaTeX ----------------------------------------------------------------------------------

#[test]
fn latex_snapshot() {
    let got = render(&method_table(Interval::Std), "w2 on moons", Format::Latex);
    // acc ties at 0.75 (both bold); the lowest w2 is ot_cfm's; train_time_s has no
    // direction, so nothing is bold there.
    let want = r"% w2 on moons
\begin{tabular}{lrrr}
\toprule
method & acc & train\_time\_s$^\dagger$ & w2 \\
\midrule
fm & $\mathbf{0.75 \pm 0}$ & $11 \pm 1.414$ & $0.625 \pm 0.1768$ \\
gan & -- & $1.234 \times 10^{4}$ & $1$ \\
ot\_cfm & $\mathbf{0.75 \pm 0.3536}$ & $20 \pm 0$ & $\mathbf{0.25 \pm 0}$ \\
\bottomrule
\end{tabular}
\par\smallskip{\footnotesize $^\dagger$ cost measured on the machine that ran it: not reproducible\par}
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn latex_escapes_labels_and_headers() {
    let records = vec![rec(
        &[("data", "a_b%c&d#e$f{g}h~i^j\\k")],
        &["data"],
        "w_2",
        0.5,
    )];
    let t = build_table(&records, &cfg(&["data"], &["metric"], Aggregate::None, &[])).unwrap();
    let got = render(&t, "", Format::Latex);
    let want = r"\begin{tabular}{lr}
\toprule
data & w\_2 \\
\midrule
a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k & $0.5$ \\
\bottomrule
\end{tabular}
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn latex_bolds_within_column_group_and_metric_only() {
    // A single row bolds nothing, whatever `better` says.
    let single = build_table(&method_records()[..2], &method_config(Interval::Std)).unwrap();
    assert!(!render(&single, "", Format::Latex).contains("mathbf"));

    // Metric in the rows: cells compare within one column group and one metric, so the
    // two data sets' w2 values of a method compete, and acc never meets w2.
    let axes = ["data", "method"];
    let r = |data: &str, method: &str, metric: &str, v: f64| {
        rec(&[("data", data), ("method", method)], &axes, metric, v)
    };
    let records = vec![
        r("moons", "fm", "w2", 0.5),
        r("rings", "fm", "w2", 0.25),
        r("moons", "gan", "w2", 0.125),
        r("rings", "gan", "w2", 1.0),
        r("moons", "fm", "acc", 0.9),
        r("rings", "fm", "acc", 0.1),
    ];
    let c = ReportConfig {
        better: better(),
        ..cfg(&["metric", "data"], &["method"], Aggregate::None, &[])
    };
    let t = build_table(&records, &c).unwrap();
    let got = render(&t, "", Format::Latex);
    let want = r"\begin{tabular}{llrr}
\toprule
metric & data & method=fm & method=gan \\
\midrule
acc & moons & $\mathbf{0.9}$ & -- \\
acc & rings & $0.1$ & -- \\
w2 & moons & $0.5$ & $\mathbf{0.125}$ \\
w2 & rings & $\mathbf{0.25}$ & $1$ \\
\bottomrule
\end{tabular}
";
    assert_eq!(got, want, "\n{got}");

    // Metric neither in rows nor columns: the table's only metric decides; non-finite
    // means never win.
    let records = vec![
        rec(&[("method", "fm")], &["method"], "w2", f64::NAN),
        rec(&[("method", "gan")], &["method"], "w2", 0.5),
        rec(&[("method", "sb")], &["method"], "w2", 0.75),
    ];
    let c = ReportConfig {
        better: better(),
        ..cfg(&["method"], &[], Aggregate::None, &[])
    };
    let t = build_table(&records, &c).unwrap();
    let got = render(&t, "", Format::Latex);
    assert!(got.contains("fm & $\\mathrm{NaN}$ \\\\\n"), "{got}");
    assert!(got.contains("gan & $\\mathbf{0.5}$ \\\\\n"), "{got}");
    assert!(got.contains("sb & $0.75$ \\\\\n"), "{got}");
}

/// Removes ANSI SGR sequences (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn coloured_terminal_text_is_the_plain_text_with_styles_on_best_and_missing_cells() {
    let table = build_table(&method_records(), &method_config(Interval::Std)).unwrap();
    let plain = render(&table, "report.t", Format::Terminal);
    let coloured = drift_report::render_terminal_coloured(&table, "report.t");
    assert_ne!(plain, coloured);
    assert_eq!(strip_ansi(&coloured), plain, "same layout and text");
    // ot_cfm has the best w2 (0.25) and the best acc (0.75 ties with fm: both bold); gan's
    // missing acc is dim.
    let line = |name: &str| {
        coloured
            .lines()
            .find(|l| strip_ansi(l).starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(line("ot_cfm").contains("\u{1b}[1;32m"), "{coloured}");
    assert!(line("gan").contains("\u{1b}[2m"), "{coloured}");
    assert!(!line("gan").contains("\u{1b}[1;32m"), "{coloured}");
}
