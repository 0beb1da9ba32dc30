//! Result records, report configuration, and the pivot: validation of names and axes,
//! grouping into cells, mean/std aggregation, and the resulting [`Table`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ReportError;
use crate::error::CellConflict;
use crate::order::{compare_label_tuples, suggest};

/// The pseudo-column meaning "the record's metric".
pub const METRIC_COLUMN: &str = "metric";

/// Names reserved by the report (they are the long-form output columns).
pub const RESERVED_NAMES: [&str; 5] = ["metric", "value", "mean", "std", "n_runs"];

/// Label given to a row/column name that a record has no value for (when other records
/// do have that column).
pub const ABSENT_LABEL: &str = "n/a";

/// One metric value of one evaluation instance, with everything known about the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRecord {
    /// The instance id, e.g. `eval.fm[data=moons,seed=0,nfe=5]`; used in error messages.
    pub instance: String,
    /// Every available column name -> display value (resolved parameters of the instance
    /// and its ancestors, by short name, qualified by the caller when ambiguous).
    pub columns: BTreeMap<String, String>,
    /// Which of `columns` are sweep axes of this record.
    pub axes: BTreeSet<String>,
    /// The metric name, e.g. `w2`.
    pub metric: String,
    /// The metric value.
    pub value: f64,
}

/// How the records of one cell are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// Mean and sample standard deviation (ddof = 1) over the `over` axes.
    MeanStd,
    /// No aggregation: every axis must be shown and each cell holds one record.
    None,
}

impl Aggregate {
    /// Parses `"mean_std"` or `"none"`.
    pub fn from_name(name: &str) -> Result<Self, ReportError> {
        match name {
            "mean_std" => Ok(Aggregate::MeanStd),
            "none" => Ok(Aggregate::None),
            _ => Err(ReportError::UnknownAggregate {
                name: name.to_string(),
            }),
        }
    }

    /// The name [`Aggregate::from_name`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::MeanStd => "mean_std",
            Aggregate::None => "none",
        }
    }
}

/// What to put where in the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// Column names whose values label the rows (outer to inner).
    pub rows: Vec<String>,
    /// Column names whose values label the column groups; `metric` means the metric.
    pub columns: Vec<String>,
    /// How records of one cell are combined.
    pub aggregate: Aggregate,
    /// Axes aggregated away with [`Aggregate::MeanStd`] (typically the seed axes).
    /// Ignored with [`Aggregate::None`]; names also in `rows`/`columns` are shown instead.
    pub over: Vec<String>,
}

/// The summary of the records of one cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Arithmetic mean of the values.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); `None` when `n_runs == 1`.
    pub std: Option<f64>,
    /// Number of records (runs) combined.
    pub n_runs: usize,
}

/// One cell of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// At least one record.
    Value(Stats),
    /// No record for this (row, column group) combination.
    Missing,
}

/// A pivoted result table: sorted rows and column groups and a cell for every pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    row_names: Vec<String>,
    column_names: Vec<String>,
    row_labels: Vec<Vec<String>>,
    column_labels: Vec<Vec<String>>,
    /// Row-major, `row_labels.len() * column_labels.len()`.
    cells: Vec<Cell>,
    aggregate: Aggregate,
    aggregated_over: Vec<String>,
}

impl Table {
    /// The `rows` names of the config, in order.
    pub fn row_names(&self) -> &[String] {
        &self.row_names
    }

    /// The `columns` names of the config, in order.
    pub fn column_names(&self) -> &[String] {
        &self.column_names
    }

    /// One label tuple per row (aligned with [`Table::row_names`]), sorted.
    pub fn row_labels(&self) -> &[Vec<String>] {
        &self.row_labels
    }

    /// One label tuple per column group (aligned with [`Table::column_names`]), sorted.
    pub fn column_labels(&self) -> &[Vec<String>] {
        &self.column_labels
    }

    /// The aggregation used.
    pub fn aggregate(&self) -> Aggregate {
        self.aggregate
    }

    /// The axes that were actually aggregated away (the `over` names not shown), in the
    /// order of the config; empty with [`Aggregate::None`].
    pub fn aggregated_over(&self) -> &[String] {
        &self.aggregated_over
    }

    /// The cell at (`row`, `column`), or `None` when out of range.
    pub fn cell(&self, row: usize, column: usize) -> Option<&Cell> {
        if row < self.row_labels.len() && column < self.column_labels.len() {
            self.cells.get(row * self.column_labels.len() + column)
        } else {
            None
        }
    }

    /// The header text of column group `column`: its labels joined with `/`, each label
    /// as `name=value` except the metric, which is just its name (e.g. `w2`, `nfe=5`,
    /// `w2/nfe=5`); `value` when `columns` is empty.
    pub fn column_header(&self, column: usize) -> String {
        let Some(labels) = self.column_labels.get(column) else {
            return String::new();
        };
        if labels.is_empty() {
            return "value".to_string();
        }
        self.column_names
            .iter()
            .zip(labels)
            .map(|(name, label)| {
                if name == METRIC_COLUMN {
                    label.clone()
                } else {
                    format!("{name}={label}")
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The label of `record` for column `name`.
fn label_of<'a>(record: &'a ResultRecord, name: &str) -> &'a str {
    if name == METRIC_COLUMN {
        &record.metric
    } else {
        record
            .columns
            .get(name)
            .map(String::as_str)
            .unwrap_or(ABSENT_LABEL)
    }
}

fn describe_cell(row_names: &[String], column_names: &[String], key: &CellKey) -> String {
    let parts: Vec<String> = row_names
        .iter()
        .zip(&key.0)
        .chain(column_names.iter().zip(&key.1))
        .map(|(n, l)| format!("{n}={l}"))
        .collect();
    if parts.is_empty() {
        "the only cell".to_string()
    } else {
        parts.join(", ")
    }
}

type CellKey = (Vec<String>, Vec<String>);

/// Pivots `records` into a [`Table`] following the rules documented at the crate root.
pub fn build_table(records: &[ResultRecord], cfg: &ReportConfig) -> Result<Table, ReportError> {
    if records.is_empty() {
        return Err(ReportError::NoRecords);
    }
    validate_names(records, cfg)?;

    let shown: BTreeSet<&str> = cfg
        .rows
        .iter()
        .chain(&cfg.columns)
        .map(String::as_str)
        .collect();
    let aggregating = cfg.aggregate == Aggregate::MeanStd;
    let pooled: Vec<String> = if aggregating {
        let mut seen = BTreeSet::new();
        cfg.over
            .iter()
            .filter(|n| !shown.contains(n.as_str()) && seen.insert(n.as_str()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };

    // Every sweep axis must be shown or pooled.
    let axes: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.axes.iter().map(String::as_str))
        .collect();
    for axis in axes {
        if !shown.contains(axis) && !pooled.iter().any(|p| p == axis) {
            return Err(ReportError::UnpooledAxis {
                axis: axis.to_string(),
                aggregate: cfg.aggregate,
                over: cfg.over.clone(),
            });
        }
    }

    // Group records by cell.
    let mut groups: HashMap<CellKey, Vec<&ResultRecord>> = HashMap::new();
    for record in records {
        let row: Vec<String> = cfg
            .rows
            .iter()
            .map(|n| label_of(record, n).to_string())
            .collect();
        let col: Vec<String> = cfg
            .columns
            .iter()
            .map(|n| label_of(record, n).to_string())
            .collect();
        groups.entry((row, col)).or_default().push(record);
    }

    let mut row_labels: Vec<Vec<String>> = groups
        .keys()
        .map(|k| k.0.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    row_labels.sort_by(|a, b| compare_label_tuples(a, b));
    let mut column_labels: Vec<Vec<String>> = groups
        .keys()
        .map(|k| k.1.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    column_labels.sort_by(|a, b| compare_label_tuples(a, b));

    let mut cells = Vec::with_capacity(row_labels.len() * column_labels.len());
    for row in &row_labels {
        for col in &column_labels {
            let key = (row.clone(), col.clone());
            match groups.get_mut(&key) {
                None => cells.push(Cell::Missing),
                Some(group) => {
                    let cell = describe_cell(&cfg.rows, &cfg.columns, &key);
                    cells.push(Cell::Value(summarise(group, &pooled, aggregating, &cell)?));
                }
            }
        }
    }

    Ok(Table {
        row_names: cfg.rows.clone(),
        column_names: cfg.columns.clone(),
        row_labels,
        column_labels,
        cells,
        aggregate: cfg.aggregate,
        aggregated_over: pooled,
    })
}

/// Reserved, duplicate and unknown names.
fn validate_names(records: &[ResultRecord], cfg: &ReportConfig) -> Result<(), ReportError> {
    for (role, names) in [("rows", &cfg.rows), ("columns", &cfg.columns)] {
        for name in names {
            if name != METRIC_COLUMN && RESERVED_NAMES.contains(&name.as_str()) {
                return Err(ReportError::ReservedName {
                    name: name.clone(),
                    context: format!("in report {role}"),
                    hint: "",
                });
            }
        }
    }
    for name in &cfg.over {
        if RESERVED_NAMES.contains(&name.as_str()) {
            return Err(ReportError::ReservedName {
                name: name.clone(),
                context: "in report over".to_string(),
                hint: "",
            });
        }
    }
    for record in records {
        if let Some(name) = record
            .columns
            .keys()
            .find(|k| RESERVED_NAMES.contains(&k.as_str()))
        {
            return Err(ReportError::ReservedName {
                name: name.clone(),
                context: format!("as a column name (record {})", record.instance),
                hint: "; qualify the parameter, e.g. `train.<name>.value`",
            });
        }
    }
    let mut seen = BTreeSet::new();
    for name in cfg.rows.iter().chain(&cfg.columns) {
        if !seen.insert(name.as_str()) {
            return Err(ReportError::DuplicateName { name: name.clone() });
        }
    }
    let mut available: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.columns.keys().map(String::as_str))
        .collect();
    available.insert(METRIC_COLUMN);
    for (role, names) in [("rows", &cfg.rows), ("columns", &cfg.columns)] {
        for name in names {
            if !available.contains(name.as_str()) {
                let available: Vec<String> = available.iter().map(|s| s.to_string()).collect();
                return Err(ReportError::UnknownColumn {
                    name: name.clone(),
                    role,
                    suggestions: suggest(name, &available),
                    available,
                });
            }
        }
    }
    Ok(())
}

/// Checks that the records of one cell may be combined and combines them.
fn summarise(
    group: &mut [&ResultRecord],
    pooled: &[String],
    aggregating: bool,
    cell: &str,
) -> Result<Stats, ReportError> {
    let pooled_key = |r: &ResultRecord| -> Vec<String> {
        pooled.iter().map(|n| label_of(r, n).to_string()).collect()
    };
    // A fixed order, whatever the input order: by pooled labels, then instance.
    group.sort_by(|a, b| {
        compare_label_tuples(&pooled_key(a), &pooled_key(b))
            .then_with(|| a.instance.cmp(&b.instance))
            .then_with(|| a.value.total_cmp(&b.value))
    });

    // Everything but the pooled columns must agree across the cell.
    let first = group[0];
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for r in group.iter() {
        names.extend(r.columns.keys().map(String::as_str));
    }
    for other in &group[1..] {
        if first.metric != other.metric {
            return Err(mixed(
                cell,
                METRIC_COLUMN,
                &first.metric,
                &other.metric,
                first,
                other,
                aggregating,
            ));
        }
        for name in &names {
            if pooled.iter().any(|p| p == name) {
                continue;
            }
            let a = first.columns.get(*name);
            let b = other.columns.get(*name);
            if a != b {
                let show =
                    |v: Option<&String>| v.cloned().unwrap_or_else(|| "<absent>".to_string());
                return Err(mixed(
                    cell,
                    name,
                    &show(a),
                    &show(b),
                    first,
                    other,
                    aggregating,
                ));
            }
        }
    }

    // One record per combination of pooled labels.
    for pair in group.windows(2) {
        if pooled_key(pair[0]) == pooled_key(pair[1]) {
            let detail = if pooled.is_empty() {
                "agree on every column; with no axis to aggregate over, a cell holds one record"
                    .to_string()
            } else {
                format!(
                    "have the same values for the aggregated axes ({})",
                    pooled
                        .iter()
                        .map(|n| format!("{n}={}", label_of(pair[0], n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(ReportError::DuplicateRecord {
                cell: cell.to_string(),
                first_instance: pair[0].instance.clone(),
                second_instance: pair[1].instance.clone(),
                detail,
            });
        }
    }

    let n = group.len();
    let mean = group.iter().map(|r| r.value).sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let ss: f64 = group.iter().map(|r| (r.value - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    Ok(Stats {
        mean,
        std,
        n_runs: n,
    })
}

fn mixed(
    cell: &str,
    column: &str,
    first_value: &str,
    second_value: &str,
    first: &ResultRecord,
    second: &ResultRecord,
    aggregating: bool,
) -> ReportError {
    ReportError::MixedCell(Box::new(CellConflict {
        cell: cell.to_string(),
        column: column.to_string(),
        first_value: first_value.to_string(),
        second_value: second_value.to_string(),
        first_instance: first.instance.clone(),
        second_instance: second.instance.clone(),
        aggregating,
    }))
}
