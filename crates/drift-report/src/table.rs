//! Result records, report configuration, and the pivot: validation of names and axes,
//! grouping into cells, mean/std aggregation, and the resulting [`Table`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ReportError;
use crate::error::CellConflict;
use crate::order::{compare_label_tuples, suggest};
use crate::student_t::ci95_half_width;

/// The pseudo-column meaning "the record's metric".
pub const METRIC_COLUMN: &str = "metric";

/// Names reserved by the report (they are the long-form output columns).
pub const RESERVED_NAMES: [&str; 7] = [
    "metric",
    "value",
    "mean",
    "std",
    "ci95",
    "n_runs",
    "reproducible",
];

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
    /// `true` for a metric (the same inputs give the same value anywhere); `false` for a
    /// cost such as training time, which depends on the machine that ran it.
    pub reproducible: bool,
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

/// What the `±` of a rendered cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interval {
    /// The sample standard deviation (ddof = 1).
    #[default]
    Std,
    /// The half-width of the 95% confidence interval of the mean (Student's t).
    Ci95,
}

impl Interval {
    /// Parses `"std"` or `"ci95"`.
    pub fn from_name(name: &str) -> Result<Self, ReportError> {
        match name {
            "std" => Ok(Interval::Std),
            "ci95" => Ok(Interval::Ci95),
            _ => Err(ReportError::UnknownInterval {
                name: name.to_string(),
            }),
        }
    }

    /// The name [`Interval::from_name`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Interval::Std => "std",
            Interval::Ci95 => "ci95",
        }
    }
}

/// Which direction of a metric is better (for bold best values and model selection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Better {
    /// Smaller values are better (distances, errors, costs).
    Lower,
    /// Larger values are better (accuracy, likelihood, coverage).
    Higher,
}

impl Better {
    /// Parses `"lower"` or `"higher"`.
    pub fn from_name(name: &str) -> Result<Self, ReportError> {
        match name {
            "lower" => Ok(Better::Lower),
            "higher" => Ok(Better::Higher),
            _ => Err(ReportError::UnknownBetter {
                name: name.to_string(),
            }),
        }
    }

    /// The name [`Better::from_name`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        }
    }

    /// Whether `candidate` beats `best` (strictly).
    pub(crate) fn beats(self, candidate: f64, best: f64) -> bool {
        match self {
            Better::Lower => candidate < best,
            Better::Higher => candidate > best,
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
    /// What the `±` of terminal, Markdown and LaTeX cells shows.
    pub interval: Interval,
    /// Metric name -> which direction is better; LaTeX bolds the best value of each
    /// comparable group of these metrics.
    pub better: BTreeMap<String, Better>,
}

/// The summary of the records of one cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Arithmetic mean of the values.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); `None` when `n_runs == 1`.
    pub std: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean,
    /// `t_{0.975, n_runs-1} * std / sqrt(n_runs)`; `None` when `n_runs == 1`.
    pub ci95: Option<f64>,
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
    pub(crate) row_names: Vec<String>,
    pub(crate) column_names: Vec<String>,
    pub(crate) row_labels: Vec<Vec<String>>,
    pub(crate) column_labels: Vec<Vec<String>>,
    /// Row-major, `row_labels.len() * column_labels.len()`.
    pub(crate) cells: Vec<Cell>,
    pub(crate) aggregate: Aggregate,
    pub(crate) aggregated_over: Vec<String>,
    pub(crate) interval: Interval,
    pub(crate) better: BTreeMap<String, Better>,
    /// Every metric name of the records.
    pub(crate) metrics: BTreeSet<String>,
    /// The metric names that are costs (records with `reproducible == false`).
    pub(crate) costs: BTreeSet<String>,
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

    /// What the `±` of rendered cells shows.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// Metric name -> which direction is better (from the config).
    pub fn better(&self) -> &BTreeMap<String, Better> {
        &self.better
    }

    /// Every metric name of the records the table was built from, sorted.
    pub fn metrics(&self) -> &BTreeSet<String> {
        &self.metrics
    }

    /// The metric names that are costs (not reproducible), sorted.
    pub fn costs(&self) -> &BTreeSet<String> {
        &self.costs
    }

    /// The metric of the cells at (`row`, `column`) when the table knows it: the row's or
    /// the column group's `metric` label, or the only metric of the table when `metric`
    /// is neither in rows nor in columns; `None` otherwise or when out of range.
    pub fn cell_metric(&self, row: usize, column: usize) -> Option<&str> {
        let row_labels = self.row_labels.get(row)?;
        let column_labels = self.column_labels.get(column)?;
        let shown = |names: &[String], labels: &'_ [String]| -> Option<usize> {
            names
                .iter()
                .position(|n| n == METRIC_COLUMN)
                .filter(|i| *i < labels.len())
        };
        if let Some(i) = shown(&self.row_names, row_labels) {
            return Some(&row_labels[i]);
        }
        if let Some(i) = shown(&self.column_names, column_labels) {
            return Some(&column_labels[i]);
        }
        match (self.metrics.len(), self.metrics.first()) {
            (1, Some(only)) => Some(only),
            _ => None,
        }
    }

    /// Whether the cells at (`row`, `column`) are reproducible: their metric is not a
    /// cost; when `metric` is neither in rows nor in columns, whether the table has no
    /// cost at all.
    pub fn is_reproducible(&self, row: usize, column: usize) -> bool {
        if self.metric_shown() {
            self.cell_metric(row, column)
                .is_none_or(|m| !self.costs.contains(m))
        } else {
            self.costs.is_empty()
        }
    }

    /// Whether `metric` is one of the `rows` or `columns` names.
    pub(crate) fn metric_shown(&self) -> bool {
        self.row_names
            .iter()
            .chain(&self.column_names)
            .any(|n| n == METRIC_COLUMN)
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
        match self.column_labels.get(column) {
            Some(labels) => header_text(&self.column_names, labels),
            None => String::new(),
        }
    }
}

/// The header of a column group with these `columns` names and labels (see
/// [`Table::column_header`]).
pub(crate) fn header_text(names: &[String], labels: &[String]) -> String {
    if labels.is_empty() {
        return "value".to_string();
    }
    names
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
    let (metrics, costs) = metrics_and_costs(records)?;

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
        interval: cfg.interval,
        better: cfg.better.clone(),
        metrics,
        costs,
    })
}

/// The metric names of `records` and those that are costs; a metric that is reproducible
/// in one record and a cost in another is an error (it could not be marked either way).
fn metrics_and_costs(
    records: &[ResultRecord],
) -> Result<(BTreeSet<String>, BTreeSet<String>), ReportError> {
    // Metric name -> (reproducible?, the first record that said so).
    let mut seen: BTreeMap<&str, (bool, &ResultRecord)> = BTreeMap::new();
    for record in records {
        match seen.get(record.metric.as_str()) {
            None => {
                seen.insert(&record.metric, (record.reproducible, record));
            }
            Some((reproducible, first)) if *reproducible != record.reproducible => {
                let (metric_record, cost_record) = if *reproducible {
                    (*first, record)
                } else {
                    (record, *first)
                };
                return Err(ReportError::MixedReproducibility {
                    metric: record.metric.clone(),
                    reproducible_instance: metric_record.instance.clone(),
                    cost_instance: cost_record.instance.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let metrics = seen.keys().map(|m| m.to_string()).collect();
    let costs = seen
        .iter()
        .filter(|(_, (reproducible, _))| !reproducible)
        .map(|(m, _)| m.to_string())
        .collect();
    Ok((metrics, costs))
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
        ci95: std.and_then(|s| ci95_half_width(s, n)),
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
