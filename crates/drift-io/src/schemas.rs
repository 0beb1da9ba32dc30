//! The typed artifact schemas (points, metrics, loss curves): their writers, and readers
//! that validate column names, types and nulls before handing data back.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema, SchemaRef, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::table::{Content, encode, open_reader, read_all};
use crate::{IoError, write_atomic};

/// Name of coordinate column `i` of a points file.
fn coordinate_name(i: usize) -> String {
    format!("x{i}")
}

fn describe_columns(schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    if cols.is_empty() {
        "no columns".to_string()
    } else {
        cols.join(", ")
    }
}

/// Checks that `schema` has exactly the columns `expected` (name, accepted types) in order.
fn check_columns(
    path: &Path,
    schema: &Schema,
    expected: &[(&str, &[DataType])],
) -> Result<(), IoError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    if names != wanted {
        return Err(IoError::schema(
            path,
            format!(
                "expected columns [{}], found [{}]",
                wanted.join(", "),
                describe_columns(schema)
            ),
        ));
    }
    for (field, (name, types)) in schema.fields().iter().zip(expected) {
        if !types.contains(field.data_type()) {
            let accepted: Vec<String> = types.iter().map(|t| t.to_string()).collect();
            return Err(IoError::schema(
                path,
                format!(
                    "column `{name}` has type {}, expected {}",
                    field.data_type(),
                    accepted.join(" or ")
                ),
            ));
        }
    }
    Ok(())
}

fn check_no_nulls(path: &Path, name: &str, array: &dyn Array) -> Result<(), IoError> {
    if array.null_count() > 0 {
        return Err(IoError::data(
            path,
            format!("column `{name}` holds {} null value(s)", array.null_count()),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Points
// ---------------------------------------------------------------------------------------

/// Writes `values` (row-major, `n x dim`) as a points file: one non-null `Float32`
/// column per coordinate, named `x0` .. `x{dim-1}`.
///
/// Fails if `dim` is 0 or `values.len()` is not a multiple of `dim`.
pub fn write_points(path: &Path, dim: usize, values: &[f32]) -> Result<(), IoError> {
    if dim == 0 {
        return Err(IoError::invalid_input(path, "points must have dim >= 1"));
    }
    if !values.len().is_multiple_of(dim) {
        return Err(IoError::invalid_input(
            path,
            format!(
                "{} values do not form rows of dim {dim} (not a multiple)",
                values.len()
            ),
        ));
    }
    let n = values.len() / dim;
    let mut fields = Vec::with_capacity(dim);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(dim);
    for j in 0..dim {
        let column: Vec<f32> = values.iter().skip(j).step_by(dim).copied().collect();
        debug_assert_eq!(column.len(), n);
        fields.push(Field::new(coordinate_name(j), DataType::Float32, false));
        columns.push(Arc::new(Float32Array::from(column)));
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema, columns).map_err(|e| {
        IoError::invalid_input(path, format!("cannot assemble the points table: {e}"))
    })?;
    let bytes = encode(path, &batch, Content::Numeric)?;
    write_atomic(path, &bytes)
}

/// Reads a points file; returns `(dim, values)` with `values` row-major `n x dim`.
///
/// Fails, naming the file, unless the columns are exactly `x0` .. `x{dim-1}` (in order,
/// `dim >= 1`) of type `Float32` without nulls.
pub fn read_points(path: &Path) -> Result<(usize, Vec<f32>), IoError> {
    let builder = open_reader(path)?;
    let schema = builder.schema().clone();
    let dim = schema.fields().len();
    if dim == 0 {
        return Err(IoError::schema(
            path,
            "expected coordinate columns x0, x1, ..., found no columns",
        ));
    }
    let names: Vec<String> = (0..dim).map(coordinate_name).collect();
    let float32 = [DataType::Float32];
    let expected: Vec<(&str, &[DataType])> =
        names.iter().map(|n| (n.as_str(), &float32[..])).collect();
    check_columns(path, &schema, &expected)?;

    let n_rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let batches = read_all(path, builder)?;
    let mut values = vec![0f32; n_rows.saturating_mul(dim)];
    let mut row = 0usize;
    for batch in &batches {
        let len = batch.num_rows();
        if (row + len) * dim > values.len() {
            values.resize((row + len) * dim, 0.0);
        }
        for (j, name) in names.iter().enumerate() {
            let column = batch.column(j);
            check_no_nulls(path, name, column)?;
            let column = column.as_primitive::<Float32Type>().values();
            for (i, &v) in column.iter().enumerate() {
                values[(row + i) * dim + j] = v;
            }
        }
        row += len;
    }
    values.truncate(row * dim);
    Ok((dim, values))
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

/// Writes time-snapshot data: a non-null `Float64` column `t` (each row's time), then one
/// non-null `Float32` column per coordinate `x0` .. `x{dim-1}` (`values` row-major, `n x dim`,
/// `times.len() == n`).
pub fn write_snapshots(
    path: &Path,
    dim: usize,
    times: &[f64],
    values: &[f32],
) -> Result<(), IoError> {
    if dim == 0 || !values.len().is_multiple_of(dim) || values.len() / dim != times.len() {
        return Err(IoError::invalid_input(
            path,
            format!(
                "{} values and {} times do not form rows of dim {dim} with one time each",
                values.len(),
                times.len()
            ),
        ));
    }
    let mut fields = vec![Field::new("t", DataType::Float64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(times.to_vec()))];
    for j in 0..dim {
        let column: Vec<f32> = values.iter().skip(j).step_by(dim).copied().collect();
        fields.push(Field::new(coordinate_name(j), DataType::Float32, false));
        columns.push(Arc::new(Float32Array::from(column)));
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema, columns).map_err(|e| {
        IoError::invalid_input(path, format!("cannot assemble the snapshots table: {e}"))
    })?;
    let bytes = encode(path, &batch, Content::Numeric)?;
    write_atomic(path, &bytes)
}

/// Reads a snapshots file: `(dim, times, values)`, the inverse of [`write_snapshots`].
pub fn read_snapshots(path: &Path) -> Result<(usize, Vec<f64>, Vec<f32>), IoError> {
    let builder = open_reader(path)?;
    let schema = builder.schema().clone();
    let dim = schema.fields().len().saturating_sub(1);
    if dim == 0 {
        return Err(IoError::schema(
            path,
            "expected a `t` column and coordinate columns x0, x1, ...",
        ));
    }
    let names: Vec<String> = (0..dim).map(coordinate_name).collect();
    let (float32, float64) = ([DataType::Float32], [DataType::Float64]);
    let mut expected: Vec<(&str, &[DataType])> = vec![("t", &float64[..])];
    expected.extend(names.iter().map(|n| (n.as_str(), &float32[..])));
    check_columns(path, &schema, &expected)?;
    let batches = read_all(path, builder)?;
    let (mut times, mut values) = (Vec::new(), Vec::new());
    for batch in &batches {
        let t = batch.column(0);
        check_no_nulls(path, "t", t)?;
        times.extend_from_slice(t.as_primitive::<Float64Type>().values());
        let start = values.len();
        values.resize(start + batch.num_rows() * dim, 0f32);
        for (j, name) in names.iter().enumerate() {
            let column = batch.column(j + 1);
            check_no_nulls(path, name, column)?;
            for (i, &v) in column
                .as_primitive::<Float32Type>()
                .values()
                .iter()
                .enumerate()
            {
                values[start + i * dim + j] = v;
            }
        }
    }
    Ok((dim, times, values))
}

// ---------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------

/// Writes class labels, one non-null `UInt64` column `label`, row `i` the label of point `i`
/// of the points file beside it.
pub fn write_labels(path: &Path, labels: &[u64]) -> Result<(), IoError> {
    let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        "label",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(labels.to_vec()))])
        .map_err(|e| IoError::invalid_input(path, format!("cannot assemble the labels: {e}")))?;
    let bytes = encode(path, &batch, Content::Numeric)?;
    write_atomic(path, &bytes)
}

/// Reads a labels file written by [`write_labels`].
pub fn read_labels(path: &Path) -> Result<Vec<u64>, IoError> {
    let builder = open_reader(path)?;
    let schema = builder.schema().clone();
    let uint64 = [DataType::UInt64];
    check_columns(path, &schema, &[("label", &uint64[..])])?;
    let mut out = Vec::new();
    for batch in &read_all(path, builder)? {
        let column = batch.column(0);
        check_no_nulls(path, "label", column)?;
        out.extend_from_slice(column.as_primitive::<UInt64Type>().values());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

/// Writes metrics as a two-column table: `metric` (`Utf8`), `value` (`Float64`), both
/// non-null, one row per metric in the given order. Metric names must be unique.
pub fn write_metrics(path: &Path, rows: &[(String, f64)]) -> Result<(), IoError> {
    let mut seen = HashSet::new();
    for (name, _) in rows {
        if !seen.insert(name.as_str()) {
            return Err(IoError::invalid_input(
                path,
                format!("metric `{name}` appears more than once"),
            ));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let names = StringArray::from_iter_values(rows.iter().map(|(n, _)| n.as_str()));
    let values = Float64Array::from_iter_values(rows.iter().map(|(_, v)| *v));
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(values)]).map_err(|e| {
            IoError::invalid_input(path, format!("cannot assemble the metrics table: {e}"))
        })?;
    let bytes = encode(path, &batch, Content::Labelled)?;
    write_atomic(path, &bytes)
}

/// Reads a metrics file written by [`write_metrics`] (or any Parquet file with exactly
/// the columns `metric`: `Utf8`/`LargeUtf8`/`Utf8View` and `value`: `Float64`, no nulls,
/// unique names). Rows come back in file order.
pub fn read_metrics(path: &Path) -> Result<Vec<(String, f64)>, IoError> {
    let builder = open_reader(path)?;
    let schema = builder.schema().clone();
    check_columns(
        path,
        &schema,
        &[
            (
                "metric",
                &[DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View],
            ),
            ("value", &[DataType::Float64]),
        ],
    )?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for batch in read_all(path, builder)? {
        let names = batch.column(0);
        let values = batch.column(1);
        check_no_nulls(path, "metric", names)?;
        check_no_nulls(path, "value", values)?;
        let values = values.as_primitive::<Float64Type>().values();
        let names: Vec<String> = match names.data_type() {
            DataType::Utf8 => names
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(String::from)
                .collect(),
            DataType::LargeUtf8 => names
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(String::from)
                .collect(),
            _ => names
                .as_string_view()
                .iter()
                .flatten()
                .map(String::from)
                .collect(),
        };
        for (name, &value) in names.into_iter().zip(values.iter()) {
            if !seen.insert(name.clone()) {
                return Err(IoError::data(
                    path,
                    format!("metric `{name}` appears more than once"),
                ));
            }
            out.push((name, value));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Loss curves
// ---------------------------------------------------------------------------------------

/// Writes a loss curve: `step` (`UInt64`, 1-based) and `loss` (`Float32`), both
/// non-null, one row per step; `losses[i]` is the loss at step `i + 1`.
pub fn write_loss_curve(path: &Path, losses: &[f32]) -> Result<(), IoError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("step", DataType::UInt64, false),
        Field::new("loss", DataType::Float32, false),
    ]));
    let steps = UInt64Array::from_iter_values(1..=losses.len() as u64);
    let losses = Float32Array::from(losses.to_vec());
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(steps), Arc::new(losses)]).map_err(|e| {
            IoError::invalid_input(path, format!("cannot assemble the loss table: {e}"))
        })?;
    let bytes = encode(path, &batch, Content::Numeric)?;
    write_atomic(path, &bytes)
}

/// Reads a loss curve; fails unless the columns are exactly `step`: `UInt64` and
/// `loss`: `Float32` without nulls, and the steps are 1, 2, ..., n in order.
pub fn read_loss_curve(path: &Path) -> Result<Vec<f32>, IoError> {
    let builder = open_reader(path)?;
    let schema = builder.schema().clone();
    check_columns(
        path,
        &schema,
        &[
            ("step", &[DataType::UInt64]),
            ("loss", &[DataType::Float32]),
        ],
    )?;
    let mut out = Vec::new();
    for batch in read_all(path, builder)? {
        let steps = batch.column(0);
        let losses = batch.column(1);
        check_no_nulls(path, "step", steps)?;
        check_no_nulls(path, "loss", losses)?;
        let steps = steps.as_primitive::<UInt64Type>().values();
        let losses = losses.as_primitive::<Float32Type>().values();
        for (&step, &loss) in steps.iter().zip(losses.iter()) {
            let expected = out.len() as u64 + 1;
            if step != expected {
                return Err(IoError::data(
                    path,
                    format!(
                        "column `step` must count 1, 2, 3, ... but row {} holds {step} (expected {expected})",
                        out.len()
                    ),
                ));
            }
            out.push(loss);
        }
    }
    Ok(out)
}
