//! drift-io: the on-disk artifact formats of drift (Parquet files with documented Arrow
//! schemas, atomic writes, content digests) and the errors they report.
//!
//! Every artifact drift writes is a plain Parquet file that pandas (`pd.read_parquet`),
//! polars (`pl.read_parquet`) and pyarrow open directly, with no drift-specific decoding.
//! The schemas below are the contract; readers in this crate validate them and name the
//! offending file in every error.
//!
//! # Schemas
//!
//! ## Points ([`write_points`], [`read_points`])
//!
//! An `n x dim` sample of points (data sets, model samples), one row per point:
//!
//! | column | Arrow type | nullable | meaning |
//! |---|---|---|---|
//! | `x0` | `Float32` | no | coordinate 0 |
//! | `x1` | `Float32` | no | coordinate 1 |
//! | ... | | | |
//! | `x{dim-1}` | `Float32` | no | coordinate `dim - 1` |
//!
//! Exactly `dim >= 1` columns, named `x0`, `x1`, ... in this order, nothing else; row
//! order is the point order. In pandas, `df[["x0", "x1"]].to_numpy()` gives back the
//! row-major `n x dim` matrix. [`read_points`] also accepts columns declared nullable
//! (as polars writes them) as long as they hold no null, but rejects any other type
//! (a pandas `float64` frame must be cast with `df.astype("float32")` first).
//!
//! ## Metrics ([`write_metrics`], [`read_metrics`])
//!
//! One row per metric of one evaluation, names unique, in the order given to the writer:
//!
//! | column | Arrow type | nullable | meaning |
//! |---|---|---|---|
//! | `metric` | `Utf8` | no | metric name, e.g. `w2` |
//! | `value` | `Float64` | no | its value (may be NaN or infinite) |
//!
//! [`read_metrics`] also accepts `LargeUtf8` and `Utf8View` for `metric`.
//!
//! ## Snapshots ([`write_snapshots`], [`read_snapshots`])
//!
//! Time-snapshot data (marginals of a process at several times), one row per point:
//!
//! | column | Arrow type | nullable | meaning |
//! |---|---|---|---|
//! | `t` | `Float64` | no | the time of the row's snapshot |
//! | `x0` .. `x{dim-1}` | `Float32` | no | coordinates, as in a points file |
//!
//! Rows are grouped by time in increasing order. [`read_points`] refuses these files (the
//! `t` column), so no stage mistakes snapshots for a plain sample.
//!
//! ## Labels ([`write_labels`], [`read_labels`])
//!
//! Class labels of a labelled data set (`digits`), `{split}_labels.parquet` beside
//! `{split}.parquet`: one non-null `UInt64` column `label`, row `i` labelling point `i`.
//!
//! ## Loss curves ([`write_loss_curve`], [`read_loss_curve`])
//!
//! One row per optimisation step:
//!
//! | column | Arrow type | nullable | meaning |
//! |---|---|---|---|
//! | `step` | `UInt64` | no | step number, 1-based: rows hold 1, 2, ..., n in order |
//! | `loss` | `Float32` | no | training loss at that step |
//!
//! ## Other tables ([`write_record_batch`], [`read_record_batches`])
//!
//! Any Arrow [`RecordBatch`] (e.g. the long-form result tables of drift-report), written
//! with the same settings; its schema is documented by whoever produces it.
//!
//! # Determinism
//!
//! Writing the same input twice with the same build of drift gives byte-identical files:
//! the Parquet writer settings are fixed (see [`writer_properties`]: format 1.0 data
//! pages, ZSTD level 1 only for labelled tables, row groups of at most [`ROW_GROUP_ROWS`]
//! rows, page statistics, no bloom filters, no timestamps), the Arrow schema stored in the
//! footer is derived
//! from the data only, and files are produced in memory and then written with
//! [`write_atomic`], so a reader never sees a half-written artifact.
//!
//! # Digests
//!
//! [`file_digest`] is the BLAKE3 hash of a file's bytes, as `b3sum` prints it.

mod error;
mod fsops;
mod schemas;
mod table;
mod user_data;

pub use arrow::record_batch::RecordBatch;
pub use error::IoError;
pub use fsops::{file_digest, write_atomic};
pub use schemas::{
    read_labels, read_loss_curve, read_metrics, read_points, read_snapshots, write_labels,
    write_loss_curve, write_metrics, write_points, write_snapshots,
};
pub use table::{
    Content, ROW_GROUP_ROWS, read_record_batches, write_record_batch, writer_properties,
};
pub use user_data::{FileFormat, NumericTable, read_numeric_bytes, read_numeric_file};
