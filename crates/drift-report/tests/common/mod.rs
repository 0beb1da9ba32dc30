//! Helpers shared by the integration tests: building records, configs and reading cells.
#![allow(dead_code)] // Each test target uses its own subset.

use std::collections::{BTreeMap, BTreeSet};

use drift_report::{Aggregate, Cell, Interval, ReportConfig, ResultRecord, Stats};

/// A reproducible record with the given (column, value) pairs; the columns named in
/// `axes` are axes.
pub fn rec(cols: &[(&str, &str)], axes: &[&str], metric: &str, value: f64) -> ResultRecord {
    let columns: BTreeMap<String, String> = cols
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let inner: Vec<String> = cols
        .iter()
        .filter(|(k, _)| axes.contains(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ResultRecord {
        instance: format!("eval.fm[{}]", inner.join(",")),
        columns,
        axes: axes.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        metric: metric.to_string(),
        value,
        reproducible: true,
    }
}

/// `rec`, but a cost (not reproducible).
pub fn cost(cols: &[(&str, &str)], axes: &[&str], metric: &str, value: f64) -> ResultRecord {
    ResultRecord {
        reproducible: false,
        ..rec(cols, axes, metric, value)
    }
}

pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// A config with the default interval and no `better`.
pub fn cfg(rows: &[&str], columns: &[&str], aggregate: Aggregate, over: &[&str]) -> ReportConfig {
    ReportConfig {
        rows: strings(rows),
        columns: strings(columns),
        aggregate,
        over: strings(over),
        interval: Interval::Std,
        better: BTreeMap::new(),
    }
}

pub fn stats(cell: Option<&Cell>) -> Stats {
    match cell {
        Some(Cell::Value(s)) => *s,
        other => panic!("expected a value, got {other:?}"),
    }
}
