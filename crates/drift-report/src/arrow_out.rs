//! The long-form Arrow view of a [`Table`] and writing it as Parquet through drift-io.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::ReportError;
use crate::table::{Cell, Table};

/// The table in long form, one row per (row, column group) pair in row-major order,
/// missing cells included:
///
/// | column | Arrow type | nullable | meaning |
/// |---|---|---|---|
/// | each `rows` name, in order | `Utf8` | no | the row's label |
/// | each `columns` name, in order | `Utf8` | no | the column group's label (`metric` holds the metric name) |
/// | `mean` | `Float64` | yes | mean over runs; null when the cell is missing |
/// | `std` | `Float64` | yes | sample std (ddof 1); null when missing or `n_runs == 1` |
/// | `n_runs` | `UInt64` | no | runs combined; 0 when the cell is missing |
///
/// The reserved-name rules guarantee the column names are distinct. In pandas,
/// `df.pivot(index=rows, columns=columns, values="mean")` gives back the wide table.
pub fn to_record_batch(table: &Table) -> RecordBatch {
    let n_cols = table.column_labels().len();
    let n = table.row_labels().len() * n_cols;
    let mut label_builders: Vec<StringBuilder> = (0..table.row_names().len()
        + table.column_names().len())
        .map(|_| StringBuilder::with_capacity(n, n * 8))
        .collect();
    let mut mean = Float64Builder::with_capacity(n);
    let mut std = Float64Builder::with_capacity(n);
    let mut n_runs = UInt64Builder::with_capacity(n);
    for (r, row) in table.row_labels().iter().enumerate() {
        for (c, col) in table.column_labels().iter().enumerate() {
            for (builder, label) in label_builders.iter_mut().zip(row.iter().chain(col)) {
                builder.append_value(label);
            }
            match table.cell(r, c) {
                Some(Cell::Value(s)) => {
                    mean.append_value(s.mean);
                    std.append_option(s.std);
                    n_runs.append_value(s.n_runs as u64);
                }
                _ => {
                    mean.append_null();
                    std.append_null();
                    n_runs.append_value(0);
                }
            }
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
    fields.push(Field::new("n_runs", DataType::UInt64, false));
    let mut columns: Vec<ArrayRef> = label_builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    columns.push(Arc::new(mean.finish()));
    columns.push(Arc::new(std.finish()));
    columns.push(Arc::new(n_runs.finish()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("columns are built to match the schema, row for row")
}

/// Writes [`to_record_batch`] of `table` to `path` as Parquet (atomic, deterministic).
pub fn write_parquet(table: &Table, path: &Path) -> Result<(), ReportError> {
    drift_io::write_record_batch(path, &to_record_batch(table))?;
    Ok(())
}
