//! The long-form Arrow view of a [`Table`] (with the metadata that lets
//! [`crate::read_parquet`] rebuild it) and writing it as Parquet.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use serde_json::{Value, json};

use crate::ReportError;
use crate::table::{Cell, Table};

/// Metadata key: the `rows` names (JSON array of strings).
pub(crate) const META_ROWS: &str = "drift.rows";
/// Metadata key: the `columns` names (JSON array of strings).
pub(crate) const META_COLUMNS: &str = "drift.columns";
/// Metadata key: the aggregate name (JSON string).
pub(crate) const META_AGGREGATE: &str = "drift.aggregate";
/// Metadata key: the axes aggregated away (JSON array of strings).
pub(crate) const META_OVER: &str = "drift.over";
/// Metadata key: the interval name (JSON string).
pub(crate) const META_INTERVAL: &str = "drift.interval";
/// Metadata key: metric -> `lower`/`higher` (JSON object).
pub(crate) const META_BETTER: &str = "drift.better";
/// Metadata key: every metric name (JSON array of strings).
pub(crate) const META_METRICS: &str = "drift.metrics";
/// Metadata key: the cost metric names (JSON array of strings).
pub(crate) const META_COSTS: &str = "drift.costs";

/// The table-level facts the long form cannot hold in its rows, as (key, JSON text) in
/// a fixed order.
fn table_metadata(table: &Table) -> Vec<(&'static str, String)> {
    let better: serde_json::Map<String, Value> = table
        .better()
        .iter()
        .map(|(metric, b)| (metric.clone(), Value::String(b.name().to_string())))
        .collect();
    [
        (META_ROWS, json!(table.row_names())),
        (META_COLUMNS, json!(table.column_names())),
        (META_AGGREGATE, json!(table.aggregate().name())),
        (META_OVER, json!(table.aggregated_over())),
        (META_INTERVAL, json!(table.interval().name())),
        (META_BETTER, Value::Object(better)),
        (META_METRICS, json!(table.metrics())),
        (META_COSTS, json!(table.costs())),
    ]
    .into_iter()
    .map(|(key, value)| (key, value.to_string()))
    .collect()
}

/// The table in long form, one row per (row, column group) pair in row-major order,
/// missing cells included:
///
/// | column | Arrow type | nullable | meaning |
/// |---|---|---|---|
/// | each `rows` name, in order | `Utf8` | no | the row's label |
/// | each `columns` name, in order | `Utf8` | no | the column group's label (`metric` holds the metric name) |
/// | `mean` | `Float64` | yes | mean over runs; null when the cell is missing |
/// | `std` | `Float64` | yes | sample std (ddof 1); null when missing or `n_runs == 1` |
/// | `ci95` | `Float64` | yes | 95% CI half-width of the mean; null when `std` is |
/// | `n_runs` | `UInt64` | no | runs combined; 0 when the cell is missing |
/// | `reproducible` | `Boolean` | no | the cell's metric is not a cost (when `metric` is neither in rows nor columns: the table has no cost) |
///
/// The reserved-name rules guarantee the column names are distinct. In pandas,
/// `df.pivot(index=rows, columns=columns, values="mean")` gives back the wide table.
///
/// The schema's metadata holds what the rows cannot, each value JSON text: `drift.rows`
/// and `drift.columns` (the names, which tell label columns apart), `drift.aggregate`,
/// `drift.over`, `drift.interval`, `drift.better` (metric -> `lower`/`higher`),
/// `drift.metrics` and `drift.costs`. [`write_parquet`] stores it as the file's
/// key-value metadata, in that order.
pub fn to_record_batch(table: &Table) -> RecordBatch {
    let (fields, columns) = long_form(table);
    let mut metadata = arrow::datatypes::Metadata::new();
    for (key, value) in table_metadata(table) {
        metadata.insert(key, value);
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, metadata)),
        columns,
    )
    .expect("columns are built to match the schema, row for row")
}

/// The fields and columns of [`to_record_batch`], without metadata.
fn long_form(table: &Table) -> (Vec<Field>, Vec<ArrayRef>) {
    let n_cols = table.column_labels().len();
    let n = table.row_labels().len() * n_cols;
    let mut label_builders: Vec<StringBuilder> = (0..table.row_names().len()
        + table.column_names().len())
        .map(|_| StringBuilder::with_capacity(n, n * 8))
        .collect();
    let mut mean = Float64Builder::with_capacity(n);
    let mut std = Float64Builder::with_capacity(n);
    let mut ci95 = Float64Builder::with_capacity(n);
    let mut n_runs = UInt64Builder::with_capacity(n);
    let mut reproducible = BooleanBuilder::with_capacity(n);
    for (r, row) in table.row_labels().iter().enumerate() {
        for (c, col) in table.column_labels().iter().enumerate() {
            for (builder, label) in label_builders.iter_mut().zip(row.iter().chain(col)) {
                builder.append_value(label);
            }
            match table.cell(r, c) {
                Some(Cell::Value(s)) => {
                    mean.append_value(s.mean);
                    std.append_option(s.std);
                    ci95.append_option(s.ci95);
                    n_runs.append_value(s.n_runs as u64);
                }
                _ => {
                    mean.append_null();
                    std.append_null();
                    ci95.append_null();
                    n_runs.append_value(0);
                }
            }
            reproducible.append_value(table.is_reproducible(r, c));
        }
    }
    let mut fields: Vec<Field> = table
        .row_names()
        .iter()
        .chain(table.column_names())
        .map(|name| Field::new(name, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("mean", DataType::Float64, true));
    fields.push(Field::new("std", DataType::Float64, true));
    fields.push(Field::new("ci95", DataType::Float64, true));
    fields.push(Field::new("n_runs", DataType::UInt64, false));
    fields.push(Field::new("reproducible", DataType::Boolean, false));
    let mut columns: Vec<ArrayRef> = label_builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    columns.push(Arc::new(mean.finish()));
    columns.push(Arc::new(std.finish()));
    columns.push(Arc::new(ci95.finish()));
    columns.push(Arc::new(n_runs.finish()));
    columns.push(Arc::new(reproducible.finish()));
    (fields, columns)
}

/// Writes [`to_record_batch`] of `table` to `path` as Parquet (atomically, with drift-io's
/// byte-deterministic writer settings), its metadata as the file's key-value metadata in
/// a fixed order.
pub fn write_parquet(table: &Table, path: &Path) -> Result<(), ReportError> {
    let encode_error = |source| {
        ReportError::Io(drift_io::IoError::Encode {
            path: path.to_path_buf(),
            source,
        })
    };
    // The metadata goes into the file once, as the key-value list in the documented
    // order; the embedded Arrow schema stays plain rather than carrying a second copy.
    let (fields, columns) = long_form(table);
    let plain = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(plain.clone(), columns)
        .map_err(|e| encode_error(ParquetError::ArrowError(e.to_string())))?;
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(
        &mut bytes,
        plain,
        Some(drift_io::writer_properties(drift_io::Content::Labelled)),
    )
    .map_err(encode_error)?;
    for (key, value) in table_metadata(table) {
        writer.append_key_value_metadata(KeyValue::new(key.to_string(), value));
    }
    writer.write(&batch).map_err(encode_error)?;
    writer.close().map_err(encode_error)?;
    drift_io::write_atomic(path, &bytes)?;
    Ok(())
}
