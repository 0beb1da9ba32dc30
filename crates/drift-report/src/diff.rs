//! Comparing two tables cell by cell (`dvc metrics diff` for result tables) and rendering
//! the comparison.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::ReportError;
use crate::order::compare_label_tuples;
use crate::render::{
    Format, MISSING, aligned_grid, csv_field, csv_number, format_significant, json_number,
    labels_object, markdown_grid,
};
use crate::table::{Cell, METRIC_COLUMN, Table, header_text};

/// How one cell differs between the old and the new table (means only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellChange {
    /// Both have a value and the means differ (in any bit).
    Changed {
        old: f64,
        new: f64,
        /// `new - old`.
        absolute: f64,
        /// `(new - old) / |old|`; `None` when `old` is 0.
        relative: Option<f64>,
    },
    /// Both have a value and the means are bit-identical.
    Unchanged { value: f64 },
    /// Only the new table has a value.
    Added { new: f64 },
    /// Only the old table has a value.
    Removed { old: f64 },
    /// Neither has a value (a missing cell on one side, missing or absent on the other).
    BothMissing,
}

impl CellChange {
    /// The old mean, if any.
    pub fn old_mean(&self) -> Option<f64> {
        match *self {
            CellChange::Changed { old, .. } | CellChange::Removed { old } => Some(old),
            CellChange::Unchanged { value } => Some(value),
            CellChange::Added { .. } | CellChange::BothMissing => None,
        }
    }

    /// The new mean, if any.
    pub fn new_mean(&self) -> Option<f64> {
        match *self {
            CellChange::Changed { new, .. } | CellChange::Added { new } => Some(new),
            CellChange::Unchanged { value } => Some(value),
            CellChange::Removed { .. } | CellChange::BothMissing => None,
        }
    }

    /// `new - old` when both have a value (0 when unchanged).
    pub fn absolute(&self) -> Option<f64> {
        match *self {
            CellChange::Changed { absolute, .. } => Some(absolute),
            CellChange::Unchanged { .. } => Some(0.0),
            _ => None,
        }
    }

    /// `(new - old) / |old|` when both have a value and `old` is not 0.
    pub fn relative(&self) -> Option<f64> {
        match *self {
            CellChange::Changed { relative, .. } => relative,
            CellChange::Unchanged { value } => (value != 0.0).then_some(0.0),
            _ => None,
        }
    }

    /// `changed`, `unchanged`, `added`, `removed` or `both_missing`.
    pub fn status(&self) -> &'static str {
        match self {
            CellChange::Changed { .. } => "changed",
            CellChange::Unchanged { .. } => "unchanged",
            CellChange::Added { .. } => "added",
            CellChange::Removed { .. } => "removed",
            CellChange::BothMissing => "both_missing",
        }
    }
}

/// One cell of the union of both tables.
#[derive(Debug, Clone, PartialEq)]
pub struct CellDiff {
    /// The row labels (aligned with [`TableDiff::row_names`]).
    pub row: Vec<String>,
    /// The column group labels (aligned with [`TableDiff::column_names`]).
    pub column: Vec<String>,
    /// The column group's header, as [`Table::column_header`] writes it.
    pub header: String,
    pub change: CellChange,
}

/// Every cell of either table, once, with how it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDiff {
    pub row_names: Vec<String>,
    pub column_names: Vec<String>,
    /// Row-major over the union of rows and of column groups, each sorted with
    /// [`compare_label_tuples`].
    pub cells: Vec<CellDiff>,
}

/// How many cells of a [`TableDiff`] fall in each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiffSummary {
    pub changed: usize,
    pub unchanged: usize,
    pub added: usize,
    pub removed: usize,
    pub both_missing: usize,
}

impl TableDiff {
    /// Counts the cells per class.
    pub fn summary(&self) -> DiffSummary {
        let mut summary = DiffSummary::default();
        for cell in &self.cells {
            match cell.change {
                CellChange::Changed { .. } => summary.changed += 1,
                CellChange::Unchanged { .. } => summary.unchanged += 1,
                CellChange::Added { .. } => summary.added += 1,
                CellChange::Removed { .. } => summary.removed += 1,
                CellChange::BothMissing => summary.both_missing += 1,
            }
        }
        summary
    }
}

type CellKey<'a> = (&'a [String], &'a [String]);

/// The mean of every cell of `table` (`None` for a missing one), by (row, column) labels.
fn means(table: &Table) -> HashMap<CellKey<'_>, Option<f64>> {
    let mut out = HashMap::new();
    for (r, row) in table.row_labels().iter().enumerate() {
        for (c, column) in table.column_labels().iter().enumerate() {
            let mean = match table.cell(r, c) {
                Some(Cell::Value(s)) => Some(s.mean),
                _ => None,
            };
            out.insert((row.as_slice(), column.as_slice()), mean);
        }
    }
    out
}

/// Compares `old` and `new` cell by cell, matching cells by their row and column labels.
/// Both tables must have the same row names and the same column names (in order), else
/// [`ReportError::MismatchedNames`]. Only means are compared; "unchanged" means
/// bit-identical.
pub fn diff(old: &Table, new: &Table) -> Result<TableDiff, ReportError> {
    for (role, a, b) in [
        ("row names", old.row_names(), new.row_names()),
        ("column names", old.column_names(), new.column_names()),
    ] {
        if a != b {
            return Err(ReportError::MismatchedNames {
                role,
                old: a.to_vec(),
                new: b.to_vec(),
            });
        }
    }
    let union = |a: &[Vec<String>], b: &[Vec<String>]| -> Vec<Vec<String>> {
        let mut all: Vec<Vec<String>> = a
            .iter()
            .chain(b)
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        all.sort_by(|x, y| compare_label_tuples(x, y));
        all
    };
    let rows = union(old.row_labels(), new.row_labels());
    let columns = union(old.column_labels(), new.column_labels());
    let old_means = means(old);
    let new_means = means(new);
    let mut cells = Vec::new();
    for row in &rows {
        for column in &columns {
            let key = (row.as_slice(), column.as_slice());
            let before = old_means.get(&key);
            let after = new_means.get(&key);
            // Neither table has this (row, column group) pair: it is not a cell of either.
            if before.is_none() && after.is_none() {
                continue;
            }
            let change = match (before.copied().flatten(), after.copied().flatten()) {
                (Some(o), Some(n)) if o.to_bits() == n.to_bits() => {
                    CellChange::Unchanged { value: o }
                }
                (Some(o), Some(n)) => CellChange::Changed {
                    old: o,
                    new: n,
                    absolute: n - o,
                    relative: (o != 0.0).then(|| (n - o) / o.abs()),
                },
                (Some(o), None) => CellChange::Removed { old: o },
                (None, Some(n)) => CellChange::Added { new: n },
                (None, None) => CellChange::BothMissing,
            };
            cells.push(CellDiff {
                row: row.clone(),
                column: column.clone(),
                // The labels may be in only one of the tables, so not `Table::column_header`.
                header: header_text(old.column_names(), column),
                change,
            });
        }
    }
    Ok(TableDiff {
        row_names: old.row_names().to_vec(),
        column_names: old.column_names().to_vec(),
        cells,
    })
}

/// The change as text: `+0.125 (+25%)`, `0`, `added`, `removed`.
fn change_text(change: &CellChange) -> String {
    match change {
        CellChange::Changed {
            absolute, relative, ..
        } => {
            let sign = |v: f64| if v > 0.0 { "+" } else { "" };
            let abs = format!("{}{}", sign(*absolute), format_significant(*absolute, 4));
            match relative {
                Some(rel) => format!(
                    "{abs} ({}{}%)",
                    sign(*rel),
                    format_significant(rel * 100.0, 3)
                ),
                None => abs,
            }
        }
        CellChange::Unchanged { .. } => "0".to_string(),
        CellChange::Added { .. } => "added".to_string(),
        CellChange::Removed { .. } => "removed".to_string(),
        CellChange::BothMissing => String::new(),
    }
}

fn mean_text(v: Option<f64>) -> String {
    v.map_or_else(|| MISSING.to_string(), |v| format_significant(v, 4))
}

fn summary_line(summary: DiffSummary) -> String {
    format!(
        "{} changed, {} unchanged, {} added, {} removed",
        summary.changed, summary.unchanged, summary.added, summary.removed
    )
}

/// The header and the lines of the terminal and Markdown forms.
fn diff_grid(diff: &TableDiff) -> (Vec<String>, Vec<Vec<String>>) {
    let column_title = if diff.column_names == [METRIC_COLUMN] {
        METRIC_COLUMN
    } else {
        "column"
    };
    let mut header = diff.row_names.clone();
    header.extend([column_title, "old", "new", "change"].map(String::from));
    let body = diff
        .cells
        .iter()
        .filter(|c| c.change != CellChange::BothMissing)
        .map(|c| {
            let mut line = c.row.clone();
            line.extend([
                c.header.clone(),
                mean_text(c.change.old_mean()),
                mean_text(c.change.new_mean()),
                change_text(&c.change),
            ]);
            line
        })
        .collect();
    (header, body)
}

/// Renders `diff` under `title`; every format ends with a newline.
///
/// * **Terminal**: the title line (omitted when empty), a header line (the `rows`
///   names, then `metric` when the column names are just `metric`, else `column`, then
///   `old`, `new`, `change`), a line of dashes, one line per cell that has a value on
///   either side (labels and the column header left-aligned, numbers right-aligned, two
///   spaces apart), and the line `N changed, M unchanged, K added, L removed`. Means have
///   4 significant digits, `—` when absent; the change reads `+0.125 (+25%)` (relative to
///   `|old|`, left out when old is 0), `0` when unchanged, `added` or `removed`.
/// * **Markdown**: `### title` and a blank line (omitted when empty), the same lines as a
///   GitHub table, a blank line and the summary line.
/// * **CSV**: the `rows` names, the `columns` names, then
///   `status,old,new,change,relative_change`; one line per cell of either table (also
///   `both_missing` ones), numbers in full precision, absent ones empty.
/// * **JSON**: `{"title", "rows", "columns", "cells", "summary"}` with each cell as
///   `{"row": {..}, "column": {..}, "status", "old", "new", "change",
///   "relative_change"}` (absent numbers `null`) and `summary` as `{"changed",
///   "unchanged", "added", "removed", "both_missing"}`.
///
/// LaTeX is not supported ([`ReportError::UnsupportedFormat`]).
pub fn render_diff(diff: &TableDiff, title: &str, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Terminal => Ok(diff_terminal(diff, title)),
        Format::Markdown => Ok(diff_markdown(diff, title)),
        Format::Csv => Ok(diff_csv(diff)),
        Format::Json => Ok(diff_json(diff, title)),
        Format::Latex => Err(ReportError::UnsupportedFormat {
            what: "a table diff",
            format: format.name(),
        }),
    }
}

fn diff_terminal(diff: &TableDiff, title: &str) -> String {
    let (header, body) = diff_grid(diff);
    // Labels and the column header left-aligned; the three numbers right-aligned.
    let n_left = diff.row_names.len() + 1;
    let mut out = aligned_grid(title, &header, &body, n_left, &|_, _, s| s);
    out.push_str(&summary_line(diff.summary()));
    out.push('\n');
    out
}

fn diff_markdown(diff: &TableDiff, title: &str) -> String {
    let (header, body) = diff_grid(diff);
    let mut out = markdown_grid(title, &header, &body, diff.row_names.len() + 1);
    out.push_str(&format!("\n{}\n", summary_line(diff.summary())));
    out
}

fn diff_csv(diff: &TableDiff) -> String {
    let mut header: Vec<String> = diff
        .row_names
        .iter()
        .chain(&diff.column_names)
        .map(|n| csv_field(n))
        .collect();
    header.extend(["status", "old", "new", "change", "relative_change"].map(String::from));
    let mut out = header.join(",");
    out.push('\n');
    for cell in &diff.cells {
        let mut fields: Vec<String> = cell
            .row
            .iter()
            .chain(&cell.column)
            .map(|l| csv_field(l))
            .collect();
        let number = |v: Option<f64>| v.map(csv_number).unwrap_or_default();
        fields.extend([
            cell.change.status().to_string(),
            number(cell.change.old_mean()),
            number(cell.change.new_mean()),
            number(cell.change.absolute()),
            number(cell.change.relative()),
        ]);
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn diff_json(diff: &TableDiff, title: &str) -> String {
    let number = |v: Option<f64>| v.map_or(Value::Null, json_number);
    let cells: Vec<Value> = diff
        .cells
        .iter()
        .map(|cell| {
            json!({
                "row": labels_object(&diff.row_names, &cell.row),
                "column": labels_object(&diff.column_names, &cell.column),
                "status": cell.change.status(),
                "old": number(cell.change.old_mean()),
                "new": number(cell.change.new_mean()),
                "change": number(cell.change.absolute()),
                "relative_change": number(cell.change.relative()),
            })
        })
        .collect();
    let s = diff.summary();
    let doc = json!({
        "title": title,
        "rows": diff.row_names,
        "columns": diff.column_names,
        "cells": cells,
        "summary": {
            "changed": s.changed,
            "unchanged": s.unchanged,
            "added": s.added,
            "removed": s.removed,
            "both_missing": s.both_missing,
        },
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "null".to_string());
    out.push('\n');
    out
}
