//! drift-report: turns evaluation results into pivoted result tables (mean ± std or 95% CI
//! over seeds), renders them for terminals, Markdown, CSV, JSON, LaTeX and Parquet, reads
//! them back, compares two of them, and selects hyperparameters on a validation split.
//!
//! # Input
//!
//! One [`ResultRecord`] per (evaluation instance, metric): the metric value plus every
//! column the caller can resolve for that instance (its parameters and its ancestors',
//! by short name, qualified by the caller when ambiguous) and which of those columns are
//! sweep axes, and whether the metric is reproducible (`false` for costs such as
//! training time).
//!
//! # Rules
//!
//! [`build_table`] pivots records into a [`Table`] according to a [`ReportConfig`]. The
//! rules are a contract:
//!
//! * **Reserved names.** `metric`, `value`, `mean`, `std`, `ci95`, `n_runs` and
//!   `reproducible` are reserved ([`RESERVED_NAMES`]). `metric` may be used in
//!   `rows`/`columns` and means the record's metric; the others may not be used there, and
//!   no record may carry a column with any reserved name (the caller qualifies such
//!   parameters, e.g. `train.fm.value`).
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
//!   ddof = 1; `None` when there is a single run), `ci95` (the half-width of the 95%
//!   confidence interval of the mean, `t_{0.975, n-1} · std / √n` with Student's t
//!   quantile from [`student_t_quantile`]; `None` when there is a single run) and
//!   `n_runs`. Names in `over` that are also in `rows`/`columns` are shown, not
//!   aggregated. Two records of one cell with the same `over` values, or (with
//!   [`Aggregate::None`]) any two records of one cell, are a
//!   [`ReportError::DuplicateRecord`] error. Values are summed in a fixed order (sorted by
//!   the `over` labels), so results do not depend on the order of the input.
//! * **Missing cells.** Rows are the distinct row-label combinations present, column
//!   groups the distinct column-label combinations; every (row, column group) pair is a
//!   cell, and a pair without records is an explicit [`Cell::Missing`], rendered as `—`
//!   (terminal, Markdown), empty fields (CSV) or `null` (JSON, Parquet), never dropped.
//! * **Order.** Rows and column groups are sorted by their labels, label by label, with
//!   [`compare_labels`]: numbers numerically (`1, 2, 5, 10, 50`), numbers before text,
//!   text in natural order (`run2` before `run10`). Input order never matters.
//! * **Costs.** A metric whose records have `reproducible == false` is a cost
//!   ([`Table::costs`]); a metric name that is reproducible in one record and a cost in
//!   another is [`ReportError::MixedReproducibility`]. Renderings mark costs with a dagger
//!   and a footnote (terminal, Markdown, LaTeX), list them (JSON, `costs`) or flag their
//!   cells (Parquet, `reproducible`); CSV carries no mark.
//! * **Presentation.** [`ReportConfig::interval`] chooses what `±` shows in terminal,
//!   Markdown and LaTeX ([`Interval::Std`] by default, or [`Interval::Ci95`]); CSV, JSON
//!   and Parquet always carry `mean`, `std`, `ci95` and `n_runs`.
//!   [`ReportConfig::better`] (metric -> [`Better`]) makes LaTeX bold the best value of
//!   each group of comparable cells (same column group and same metric; see [`render`]).
//!
//! # Output formats
//!
//! See [`render`] and [`Format`] for the text formats (their exact layout is documented
//! there) and [`to_record_batch`] for the long-form Arrow/Parquet schema and its
//! metadata.
//!
//! # Reading back and comparing
//!
//! [`read_parquet`] rebuilds exactly the [`Table`] that [`write_parquet`] wrote (the
//! `drift.*` key-value metadata says which label columns are rows and which are column
//! groups). [`diff`] matches the cells of two tables with the same row and column names
//! by their labels; every cell of either table appears once, as changed (means differ in
//! any bit), unchanged, added, removed or missing on both sides; [`render_diff`] shows it
//! like `dvc metrics diff`.
//!
//! # Model selection
//!
//! [`select`] picks, per group, the labels of some axes (e.g. `lr`) with the best mean of
//! one metric on a selection split (e.g. `val`), averaging over the pooled (seed) axes,
//! and keeps the records of the report split (e.g. `test`) for those labels only, ready
//! for [`build_table`]; its [`Choice`]s say what was chosen. Ties go to the first labels
//! in [`compare_label_tuples`] order; non-finite means never win. A group without a
//! choice (no selection records, or only non-finite means) reports nothing, so callers
//! should compare [`Selected::choices`] with the groups they expect.

mod arrow_in;
mod arrow_out;
mod diff;
mod error;
mod html;
mod latex;
mod order;
mod render;
mod select;
mod student_t;
mod table;

pub use arrow_in::read_parquet;
pub use arrow_out::{to_record_batch, write_parquet};
pub use diff::{CellChange, CellDiff, DiffSummary, TableDiff, diff, render_diff};
pub use error::{CellConflict, ReportError};
pub use html::{HtmlPage, escape as html_escape};
pub use order::{compare_label_tuples, compare_labels};
pub use render::{Format, format_significant, render, render_terminal_coloured};
pub use select::{Choice, Selected, Selection, select};
pub use student_t::student_t_quantile;
pub use table::{
    ABSENT_LABEL, Aggregate, Better, Cell, Interval, METRIC_COLUMN, RESERVED_NAMES, ReportConfig,
    ResultRecord, Stats, Table, build_table,
};
