//! Reading back a [`Table`] written by [`crate::write_parquet`]: the long-form rows plus
//! the `drift.*` key-value metadata, checked for consistency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{Float64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::ReportError;
use crate::arrow_out::{
    META_AGGREGATE, META_BETTER, META_COLUMNS, META_COSTS, META_INTERVAL, META_METRICS, META_OVER,
    META_ROWS,
};
use crate::table::{Aggregate, Better, Cell, Interval, Stats, Table};

/// Reads the Parquet file at `path`, written by [`crate::write_parquet`], back into the
/// identical [`Table`] (labels, order, missing cells, statistics, interval, `better`,
/// metrics and costs). A file without the `drift.*` metadata, or whose rows disagree
/// with it, is [`ReportError::NotATable`].
pub fn read_parquet(path: &Path) -> Result<Table, ReportError> {
    let not_a_table = |detail: String| ReportError::NotATable {
        path: path.to_path_buf(),
        detail,
    };
    let meta = Metadata(file_metadata(path)?);
    let batches = drift_io::read_record_batches(path)?;
    let row_names = meta.strings(META_ROWS).map_err(&not_a_table)?;
    let column_names = meta.strings(META_COLUMNS).map_err(&not_a_table)?;
    let aggregate = Aggregate::from_name(&meta.string(META_AGGREGATE).map_err(&not_a_table)?)
        .map_err(|e| not_a_table(e.to_string()))?;
    let aggregated_over = meta.strings(META_OVER).map_err(&not_a_table)?;
    let interval = Interval::from_name(&meta.string(META_INTERVAL).map_err(&not_a_table)?)
        .map_err(|e| not_a_table(e.to_string()))?;
    let mut better = BTreeMap::new();
    for (metric, direction) in meta.string_map(META_BETTER).map_err(&not_a_table)? {
        let direction = Better::from_name(&direction).map_err(|e| not_a_table(e.to_string()))?;
        better.insert(metric, direction);
    }
    let metrics: BTreeSet<String> = meta
        .strings(META_METRICS)
        .map_err(&not_a_table)?
        .into_iter()
        .collect();
    let costs: BTreeSet<String> = meta
        .strings(META_COSTS)
        .map_err(&not_a_table)?
        .into_iter()
        .collect();

    // Long rows in file order, each as (row labels, column labels, cell, reproducible).
    let label_names: Vec<&String> = row_names.iter().chain(&column_names).collect();
    let mut long_rows: Vec<(Vec<String>, Vec<String>, Cell, bool)> = Vec::new();
    for batch in &batches {
        let columns = LongColumns::of(batch, &label_names).map_err(&not_a_table)?;
        for i in 0..batch.num_rows() {
            let labels: Vec<String> = columns
                .labels
                .iter()
                .map(|c| c.value(i).to_string())
                .collect();
            let (row, column) = labels.split_at(row_names.len());
            let cell = columns.cell(i).map_err(&not_a_table)?;
            long_rows.push((
                row.to_vec(),
                column.to_vec(),
                cell,
                columns.reproducible.value(i),
            ));
        }
    }

    if long_rows.is_empty() {
        return Err(not_a_table("it has no rows".to_string()));
    }
    // Rows and column groups in order of first appearance; the rows must then be exactly
    // the row-major product of the two.
    let mut row_labels: Vec<Vec<String>> = Vec::new();
    let mut column_labels: Vec<Vec<String>> = Vec::new();
    let mut rows_seen: BTreeSet<&[String]> = BTreeSet::new();
    let mut columns_seen: BTreeSet<&[String]> = BTreeSet::new();
    for (row, column, _, _) in &long_rows {
        if rows_seen.insert(row) {
            row_labels.push(row.clone());
        }
        if columns_seen.insert(column) {
            column_labels.push(column.clone());
        }
    }
    let n_columns = column_labels.len();
    if long_rows.len() != row_labels.len() * n_columns {
        return Err(not_a_table(format!(
            "{} rows are not one per (row, column group) pair ({} x {})",
            long_rows.len(),
            row_labels.len(),
            n_columns
        )));
    }
    let mut cells = Vec::with_capacity(long_rows.len());
    let mut flags = Vec::with_capacity(long_rows.len());
    for (i, (row, column, cell, reproducible)) in long_rows.into_iter().enumerate() {
        if row != row_labels[i / n_columns] || column != column_labels[i % n_columns] {
            return Err(not_a_table(format!(
                "row {i} is out of row-major order ({})",
                row.iter()
                    .chain(&column)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        cells.push(cell);
        flags.push(reproducible);
    }

    let table = Table {
        row_names,
        column_names,
        row_labels,
        column_labels,
        cells,
        aggregate,
        aggregated_over,
        interval,
        better,
        metrics,
        costs,
    };
    // The `reproducible` column is derived from the costs; a disagreement means the file
    // was edited or written by something else.
    for (i, flag) in flags.into_iter().enumerate() {
        if table.is_reproducible(i / n_columns, i % n_columns) != flag {
            return Err(not_a_table(format!(
                "row {i} has reproducible = {flag}, which contradicts drift.costs"
            )));
        }
    }
    Ok(table)
}

/// The key-value metadata of the Parquet file at `path`.
fn file_metadata(path: &Path) -> Result<BTreeMap<String, String>, ReportError> {
    let file = File::open(path).map_err(|source| drift_io::IoError::Fs {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
        drift_io::IoError::NotParquet {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect())
}

/// The key-value metadata of a table file.
struct Metadata(BTreeMap<String, String>);

impl Metadata {
    fn json(&self, key: &str) -> Result<Value, String> {
        let text = self
            .0
            .get(key)
            .ok_or_else(|| format!("no `{key}` metadata (was it written by write_parquet?)"))?;
        serde_json::from_str(text).map_err(|e| format!("`{key}` metadata is not JSON: {e}"))
    }

    fn string(&self, key: &str) -> Result<String, String> {
        match self.json(key)? {
            Value::String(s) => Ok(s),
            other => Err(format!("`{key}` metadata is {other}, not a string")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        let value = self.json(key)?;
        let items = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        items.ok_or_else(|| format!("`{key}` metadata is {value}, not a list of strings"))
    }

    fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, String> {
        let value = self.json(key)?;
        let entries = value.as_object().and_then(|map| {
            map.iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect::<Option<Vec<_>>>()
        });
        entries.ok_or_else(|| format!("`{key}` metadata is {value}, not an object of strings"))
    }
}

/// The typed columns of one batch of the long form.
struct LongColumns<'a> {
    labels: Vec<&'a StringArray>,
    mean: &'a Float64Array,
    std: &'a Float64Array,
    ci95: &'a Float64Array,
    n_runs: &'a UInt64Array,
    reproducible: &'a BooleanArray,
}

impl<'a> LongColumns<'a> {
    fn of(batch: &'a RecordBatch, label_names: &[&String]) -> Result<Self, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("no `{name}` column"))
        };
        let wrong_type = |name: &str, expected: &str| format!("`{name}` is not {expected}");
        let float = |name: &str| {
            column(name)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| wrong_type(name, "Float64"))
        };
        let mut labels = Vec::with_capacity(label_names.len());
        for name in label_names {
            let array = column(name)?
                .as_string_opt::<i32>()
                .ok_or_else(|| wrong_type(name, "Utf8"))?;
            if array.null_count() > 0 {
                return Err(format!("label column `{name}` has nulls"));
            }
            labels.push(array);
        }
        let n_runs = column("n_runs")?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong_type("n_runs", "UInt64"))?;
        let reproducible = column("reproducible")?
            .as_boolean_opt()
            .ok_or_else(|| wrong_type("reproducible", "Boolean"))?;
        if n_runs.null_count() > 0 || reproducible.null_count() > 0 {
            return Err("`n_runs` or `reproducible` has nulls".to_string());
        }
        Ok(LongColumns {
            labels,
            mean: float("mean")?,
            std: float("std")?,
            ci95: float("ci95")?,
            n_runs,
            reproducible,
        })
    }

    /// The cell of long row `i`: missing when `mean` is null (then `n_runs` must be 0).
    fn cell(&self, i: usize) -> Result<Cell, String> {
        let n_runs = self.n_runs.value(i);
        if self.mean.is_null(i) {
            return if n_runs == 0 {
                Ok(Cell::Missing)
            } else {
                Err(format!("row {i} has no mean but n_runs = {n_runs}"))
            };
        }
        let optional = |a: &Float64Array| (!a.is_null(i)).then(|| a.value(i));
        let n_runs = usize::try_from(n_runs).map_err(|_| format!("row {i}: n_runs too large"))?;
        if n_runs == 0 {
            return Err(format!("row {i} has a mean but n_runs = 0"));
        }
        Ok(Cell::Value(Stats {
            mean: self.mean.value(i),
            std: optional(self.std),
            ci95: optional(self.ci95),
            n_runs,
        }))
    }
}
