//! drift-report: turns evaluation results into pivoted result tables (mean ± std over
//! seeds) and renders them for terminals, Markdown, CSV, JSON and Parquet.
//!
//! # Input
//!
//! One [`ResultRecord`] per (evaluation instance, metric): the metric value plus every
//! column the caller can resolve for that instance (its parameters and its ancestors',
//! by short name, qualified by the caller when ambiguous) and which of those columns are
//! sweep axes.
//!
//! # Rules
//!
//! [`build_table`] pivots records into a [`Table`] according to a [`ReportConfig`]. The
//! rules are a contract:
//!
//! * **Reserved names.** `metric`, `value`, `mean`, `std` and `n_runs` are reserved
//!   ([`RESERVED_NAMES`]). `metric` may be used in `rows`/`columns` and means the
//!   record's metric; the others may not be used there, and no record may carry a column
//!   with any reserved name (the caller qualifies such parameters, e.g. `train.fm.value`).
//! * **Unknown names.** A name in `rows`/`columns` that is neither `metric` nor a column
//!   of some record is an [`ReportError::UnknownColumn`] error, with the nearest valid
//!   names (Levenshtein distance) and the list of available ones. A record lacking a
//!   column that other records have gets the label [`ABSENT_LABEL`] for it.
//! * **No silent pooling.** Every sweep axis (any name in any record's `axes`) must be
//!   shown (in `rows` or `columns`) or, with [`Aggregate::MeanStd`], listed in `over`;
//!   otherwise [`ReportError::UnpooledAxis`]. With [`Aggregate::None`] every axis must be
//!   shown. Beyond axes, records that land in the same cell must agree on their metric
//!   and on every column except the aggregated ones, or the result is
//!   [`ReportError::MixedCell`] (e.g. two methods without `method` in rows/columns).
//! * **Aggregation.** With [`Aggregate::MeanStd`] the records of a cell (one per
//!   combination of the `over` axes) give `mean`, `std` (sample standard deviation,
//!   ddof = 1; `None` when there is a single run) and `n_runs`. Names in `over` that are
//!   also in `rows`/`columns` are shown, not aggregated. Two records of one cell with the
//!   same `over` values, or (with [`Aggregate::None`]) any two records of one cell, are a
//!   [`ReportError::DuplicateRecord`] error. Values are summed in a fixed order (sorted by
//!   the `over` labels), so results do not depend on the order of the input.
//! * **Missing cells.** Rows are the distinct row-label combinations present, column
//!   groups the distinct column-label combinations; every (row, column group) pair is a
//!   cell, and a pair without records is an explicit [`Cell::Missing`], rendered as `—`
//!   (terminal, Markdown), empty fields (CSV) or `null` (JSON, Parquet), never dropped.
//! * **Order.** Rows and column groups are sorted by their labels, label by label, with
//!   [`compare_labels`]: numbers numerically (`1, 2, 5, 10, 50`), numbers before text,
//!   text in natural order (`run2` before `run10`). Input order never matters.
//!
//! # Output formats
//!
//! See [`render`] and [`Format`] for the text formats (their exact layout is documented
//! there) and [`to_record_batch`] for the long-form Arrow/Parquet schema.

mod arrow_out;
mod error;
mod order;
mod render;
mod table;

pub use arrow_out::{to_record_batch, write_parquet};
pub use error::{CellConflict, ReportError};
pub use order::{compare_label_tuples, compare_labels};
pub use render::{Format, format_significant, render};
pub use table::{
    ABSENT_LABEL, Aggregate, Cell, METRIC_COLUMN, RESERVED_NAMES, ReportConfig, ResultRecord,
    Stats, Table, build_table,
};
