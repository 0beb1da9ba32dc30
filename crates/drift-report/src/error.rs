//! The error type of drift-report: what is wrong with a report request and how to fix it.

use std::path::PathBuf;

use crate::table::{Aggregate, RESERVED_NAMES};

/// Why a report could not be built or written. Messages name the offending column, axis
/// or records and say what to change.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// There is nothing to report.
    #[error("no result records to report")]
    NoRecords,

    /// A name in `rows`/`columns` is not a column of any record.
    #[error(
        "unknown column `{name}` in report {role}{}; available columns: {}",
        did_you_mean(suggestions),
        available.join(", ")
    )]
    UnknownColumn {
        name: String,
        /// "rows" or "columns".
        role: &'static str,
        /// The nearest valid names, best first (may be empty).
        suggestions: Vec<String>,
        /// Every valid name, sorted.
        available: Vec<String>,
    },

    /// A reserved name was used where it is not allowed.
    #[error(
        "`{name}` is a reserved name and cannot be used {context} (reserved: {}){hint}",
        RESERVED_NAMES.join(", ")
    )]
    ReservedName {
        name: String,
        /// Where it was found, e.g. "in report rows" or "as a column of record eval.fm[...]".
        context: String,
        hint: &'static str,
    },

    /// A name appears more than once in `rows` and `columns` together.
    #[error("column `{name}` is listed more than once in report rows/columns")]
    DuplicateName { name: String },

    /// A sweep axis is neither shown nor aggregated over.
    #[error("{}", unpooled_message(axis, *aggregate, over))]
    UnpooledAxis {
        axis: String,
        aggregate: Aggregate,
        over: Vec<String>,
    },

    /// Records that fall into one cell differ in something that is neither shown nor
    /// aggregated over.
    #[error("{0}")]
    MixedCell(Box<CellConflict>),

    /// Two records describe the same run of the same cell.
    #[error(
        "duplicate results for cell ({cell}): records {first_instance} and {second_instance} {detail}"
    )]
    DuplicateRecord {
        cell: String,
        first_instance: String,
        second_instance: String,
        detail: String,
    },

    /// An unknown aggregate name.
    #[error("unknown aggregate `{name}`; expected one of: mean_std, none")]
    UnknownAggregate { name: String },

    /// An unknown output format name.
    #[error(
        "unknown report format `{name}`; expected one of: terminal (or text), markdown (or md), csv, json, latex (or tex)"
    )]
    UnknownFormat { name: String },

    /// An unknown interval name.
    #[error("unknown interval `{name}`; expected one of: std, ci95")]
    UnknownInterval { name: String },

    /// An unknown direction name.
    #[error("unknown direction `{name}`; expected one of: lower, higher")]
    UnknownBetter { name: String },

    /// One metric name is a reproducible metric in some records and a cost in others.
    #[error(
        "metric `{metric}` is reproducible in record {reproducible_instance} but a cost \
         (not reproducible) in record {cost_instance}; a metric name must be one or the other"
    )]
    MixedReproducibility {
        metric: String,
        reproducible_instance: String,
        cost_instance: String,
    },

    /// Model selection names a metric that no record has.
    #[error(
        "unknown metric `{name}` to select by{}; metrics: {}",
        did_you_mean(suggestions),
        available.join(", ")
    )]
    UnknownMetric {
        name: String,
        suggestions: Vec<String>,
        available: Vec<String>,
    },

    /// Model selection chooses over a name that is not a sweep axis of the records it
    /// selects on.
    #[error(
        "cannot select over `{name}`: it is not a sweep axis of the `{split}` records of metric `{metric}`{}; their axes: {}",
        did_you_mean(suggestions),
        available.join(", ")
    )]
    UnknownSelectionAxis {
        name: String,
        split: String,
        metric: String,
        suggestions: Vec<String>,
        available: Vec<String>,
    },

    /// No record of the split model selection chooses on.
    #[error("{}", no_split_message(split_column, split, metric, available))]
    NoSelectionRecords {
        split_column: String,
        split: String,
        metric: String,
        /// The labels of `split_column` that records of `metric` do have, sorted.
        available: Vec<String>,
    },

    /// A group has a choice on the selection split but nothing to report.
    #[error(
        "model selection chose {chosen} for {group} on `{split_column}` = `{select_split}`, \
         but that group has no record with `{split_column}` = `{report_split}` for the chosen {chosen}"
    )]
    NoReportRecords {
        /// The group, as `name=label ...`.
        group: String,
        /// The choice, as `name=label ...`.
        chosen: String,
        split_column: String,
        select_split: String,
        report_split: String,
    },

    /// Two tables to compare do not have the same row or column names.
    #[error(
        "cannot diff tables with different {role}: old has [{}], new has [{}]; \
         build both with the same rows and columns",
        old.join(", "),
        new.join(", ")
    )]
    MismatchedNames {
        /// "row names" or "column names".
        role: &'static str,
        old: Vec<String>,
        new: Vec<String>,
    },

    /// A format that a rendering does not support.
    #[error("{what} cannot be rendered as {format}; use terminal, markdown, csv or json")]
    UnsupportedFormat {
        what: &'static str,
        format: &'static str,
    },

    /// A Parquet file that is not a table written by [`crate::write_parquet`].
    #[error("{} is not a drift-report table: {detail}", path.display())]
    NotATable { path: PathBuf, detail: String },

    /// Writing the table to disk failed.
    #[error(transparent)]
    Io(#[from] drift_io::IoError),
}

/// The details of [`ReportError::MixedCell`]: two records that land in one cell but
/// differ in a column that is neither shown nor aggregated over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellConflict {
    /// The cell, as `name=label, ...`.
    pub cell: String,
    /// The differing column (`metric` for the metric).
    pub column: String,
    pub first_value: String,
    pub second_value: String,
    pub first_instance: String,
    pub second_instance: String,
    /// Whether the report aggregates (so `over` is a possible fix).
    pub aggregating: bool,
}

impl std::fmt::Display for CellConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records {} and {} fall into the same cell ({}) but differ in `{}` ({} vs {}); add `{}` to rows or columns{}",
            self.first_instance,
            self.second_instance,
            self.cell,
            self.column,
            self.first_value,
            self.second_value,
            self.column,
            if self.aggregating {
                ", or aggregate over it"
            } else {
                ""
            }
        )
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean one of {}?", quoted.join(", "))
        }
    }
}

fn no_split_message(split_column: &str, split: &str, metric: &str, available: &[String]) -> String {
    if available.is_empty() {
        format!(
            "no record of metric `{metric}` has a `{split_column}` column, so none can be \
             selected on `{split_column}` = `{split}`"
        )
    } else {
        format!(
            "no record of metric `{metric}` has `{split_column}` = `{split}` to select on; \
             its `{split_column}` values: {}",
            available.join(", ")
        )
    }
}

fn unpooled_message(axis: &str, aggregate: Aggregate, over: &[String]) -> String {
    match aggregate {
        Aggregate::MeanStd => format!(
            "sweep axis `{axis}` is neither in the report rows/columns nor aggregated over (over = [{}]); \
             add `{axis}` to rows or columns, or aggregate over it — results are never pooled across an axis silently",
            over.join(", ")
        ),
        Aggregate::None => format!(
            "sweep axis `{axis}` is not in the report rows/columns and aggregate = \"none\"; \
             add `{axis}` to rows or columns, or use aggregate = \"mean_std\" with `{axis}` in over — \
             results are never pooled across an axis silently"
        ),
    }
}
