//! Text renderings of a [`Table`]: aligned terminal text, GitHub Markdown, CSV and JSON
//! (LaTeX lives in `latex`), the cost marks and the 4-significant-digit number formatting
//! they share.

use serde_json::{Map, Value, json};

use crate::ReportError;
use crate::latex::render_latex;
use crate::table::{Cell, Interval, METRIC_COLUMN, Stats, Table};

/// Shown for a missing cell in terminal and Markdown output.
pub(crate) const MISSING: &str = "—";

/// Marks a cost (not reproducible) metric in terminal and Markdown headers and labels.
pub(crate) const DAGGER: &str = "†";

/// The footnote that explains [`DAGGER`] (after the dagger and a space).
pub(crate) const COST_FOOTNOTE: &str = "cost measured on the machine that ran it: not reproducible";

/// An output format for [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aligned plain text for a terminal.
    Terminal,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    /// Comma-separated values (RFC 4180 quoting).
    Csv,
    /// A JSON document.
    Json,
    /// A LaTeX booktabs `tabular`.
    Latex,
}

impl Format {
    /// Parses `terminal`/`text`, `markdown`/`md`, `csv`, `json` or `latex`/`tex`.
    pub fn from_name(name: &str) -> Result<Self, ReportError> {
        match name {
            "terminal" | "text" => Ok(Format::Terminal),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "latex" | "tex" => Ok(Format::Latex),
            _ => Err(ReportError::UnknownFormat {
                name: name.to_string(),
            }),
        }
    }

    /// The canonical name (`terminal`, `markdown`, `csv`, `json`, `latex`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Terminal => "terminal",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Latex => "latex",
        }
    }

    /// The usual file extension (`txt`, `md`, `csv`, `json`, `tex`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Terminal => "txt",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Latex => "tex",
        }
    }
}

/// Renders `table` under `title`. Every format ends with a newline and lists rows and
/// column groups in the table's (sorted) order; missing cells are always present.
///
/// * **Terminal**: the title on its own line (omitted when empty), then a header line,
///   a line of dashes, and one line per row. Row-label columns (headed by the `rows`
///   names) are left-aligned; value columns (headed by [`Table::column_header`]) are
///   right-aligned; columns are separated by two spaces. A value reads `mean ± x` with
///   4 significant digits (`0.1234 ± 0.0056`), where `x` is the std or the 95% CI
///   half-width as the table's [`Interval`] says; just `mean` when there is no `x`
///   (one run), and `—` when the cell is missing.
/// * **Markdown**: `### title` and a blank line (omitted when the title is empty), then a
///   GitHub table with the same headers and values as the terminal form; label columns
///   left-aligned (`---`), value columns right-aligned (`---:`); `|` in text is escaped.
/// * **Cost marks** (terminal and Markdown): a cost metric ([`Table::costs`]) is marked
///   with ` †` after its column header when `metric` is in `columns`, after its row label
///   when `metric` is in `rows`, and after every value header when `metric` is in neither
///   and the table has a cost. A table with a cost ends with the line
///   `† cost measured on the machine that ran it: not reproducible` (Markdown: after a
///   blank line, so that it is not read as a table row).
/// * **CSV**: no title and no cost marks (headers stay machine-readable); a header line
///   with the `rows` names, then for each column group
///   `<header>_mean,<header>_std,<header>_ci95,<header>_n_runs` (e.g. `w2_mean,w2_std,
///   w2_ci95,w2_n_runs`); one line per row. Numbers are written in full precision
///   (shortest form that reads back exactly); a missing std/ci95 is an empty field, a
///   missing cell has empty mean, std and ci95 and `n_runs` 0.
/// * **JSON**: an object
///   `{"title", "aggregate", "over", "rows", "columns", "costs", "cells"}` where `rows`
///   and `columns` are the `rows`/`columns` names, `aggregate` is `mean_std` or `none`,
///   `over` the axes aggregated away, `costs` the cost metric names (sorted), and
///   `cells` lists every (row, column group) pair in row-major order as
///   `{"row": {name: label, ...}, "column": {name: label, ...}, "mean", "std", "ci95",
///   "n_runs"}`. A missing cell has `"mean": null, "std": null, "ci95": null,
///   "n_runs": 0`; `std` and `ci95` are `null` when `n_runs` is 1; a non-finite number
///   is also `null` (JSON has no NaN).
/// * **LaTeX**: `% title` (omitted when empty), then a booktabs table:
///   `\begin{tabular}{l…r…}` with one `l` per row-label column and one `r` per value
///   column, `\toprule`, the header line, `\midrule`, one line per row, `\bottomrule`,
///   `\end{tabular}`; cells are separated by ` & ` and lines end with ` \\`. A value
///   reads `$0.1234 \pm 0.0056$` (same numbers as the terminal; `1.234 \times 10^{4}`
///   for large or small ones, `\infty`, `\mathrm{NaN}`), just `$0.1234$` with one run,
///   and `--` when missing. Names, labels and headers have `\ { } _ % & # $ ~ ^`
///   escaped (the title is a comment, kept as it is but for line breaks). The best value of each comparable group is bold,
///   `$\mathbf{0.1234 \pm 0.0056}$`: a group is the cells of one column group with the
///   same metric (from the rows or the columns, or the table's only metric when neither
///   shows it) when that metric is in the config's `better`; the best mean (lowest or
///   highest, finite) is bold, ties all bold, and a group with fewer than two values
///   bolds nothing (so a single-row table bolds nothing). Cost marks are `$^\dagger$`,
///   and a table with a cost ends with
///   `\par\smallskip{\footnotesize $^\dagger$ cost measured on the machine that ran it:
///   not reproducible\par}` after `\end{tabular}`.
pub fn render(table: &Table, title: &str, format: Format) -> String {
    match format {
        Format::Terminal => render_terminal(table, title),
        Format::Markdown => render_markdown(table, title),
        Format::Csv => render_csv(table),
        Format::Json => render_json(table, title),
        Format::Latex => render_latex(table, title),
    }
}

/// Formats `v` with `digits` significant digits like C's `%.{digits}g` (and Python's
/// `format(v, ".4g")`): fixed notation when the decimal exponent is in
/// `-4 ..= digits - 1`, otherwise `d.ddde+XX`; trailing zeros removed. `NaN`, `inf`,
/// `-inf` for non-finite values. Example: `format_significant(0.0056, 4) == "0.0056"`,
/// `format_significant(12345.0, 4) == "1.234e+04"` (round half to even).
pub fn format_significant(v: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Scientific form with `digits` significant digits gives the rounded exponent.
    let sci = format!("{:.*e}", digits - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= digits as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (digits as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The spread shown after `±`: the std or the CI half-width, as `interval` says.
pub(crate) fn shown_spread(stats: &Stats, interval: Interval) -> Option<f64> {
    match interval {
        Interval::Std => stats.std,
        Interval::Ci95 => stats.ci95,
    }
}

/// `mean ± x`, `mean`, or `—`.
fn display_cell(cell: Option<&Cell>, interval: Interval) -> String {
    match cell {
        Some(Cell::Value(s)) => match shown_spread(s, interval) {
            Some(spread) => format!(
                "{} ± {}",
                format_significant(s.mean, 4),
                format_significant(spread, 4)
            ),
            None => format_significant(s.mean, 4),
        },
        _ => MISSING.to_string(),
    }
}

/// Whether the header of column group `column` carries the cost mark.
pub(crate) fn column_is_cost(table: &Table, column: usize) -> bool {
    if let Some(i) = table.column_names().iter().position(|n| n == METRIC_COLUMN) {
        table
            .column_labels()
            .get(column)
            .and_then(|labels| labels.get(i))
            .is_some_and(|m| table.costs().contains(m))
    } else if table.row_names().iter().any(|n| n == METRIC_COLUMN) {
        false
    } else {
        !table.costs().is_empty()
    }
}

/// Which row label (by position) carries the cost mark in row `row`, if any.
pub(crate) fn row_cost_label(table: &Table, row: usize) -> Option<usize> {
    let i = table.row_names().iter().position(|n| n == METRIC_COLUMN)?;
    let metric = table.row_labels().get(row)?.get(i)?;
    table.costs().contains(metric).then_some(i)
}

/// `text` followed by ` †` when `marked`.
fn with_dagger(text: String, marked: bool) -> String {
    if marked {
        format!("{text} {DAGGER}")
    } else {
        text
    }
}

/// Header row and body rows as text, cost marks included.
pub(crate) fn text_grid(table: &Table) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = table.row_names().to_vec();
    header.extend(
        (0..table.column_labels().len())
            .map(|c| with_dagger(table.column_header(c), column_is_cost(table, c))),
    );
    let body = table
        .row_labels()
        .iter()
        .enumerate()
        .map(|(r, labels)| {
            let marked = row_cost_label(table, r);
            let mut line: Vec<String> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| with_dagger(l.clone(), marked == Some(i)))
                .collect();
            line.extend(
                (0..table.column_labels().len())
                    .map(|c| display_cell(table.cell(r, c), table.interval())),
            );
            line
        })
        .collect();
    (header, body)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn render_terminal(table: &Table, title: &str) -> String {
    terminal_text(table, title, false)
}

/// The terminal rendering with ANSI styles for a colour terminal: the title and header bold,
/// the best value of each comparable group (as LaTeX bolds it) bold green, missing cells dim.
/// Same layout and text as [`Format::Terminal`]; callers choose it when stdout is a terminal
/// and `NO_COLOR` is unset.
pub fn render_terminal_coloured(table: &Table, title: &str) -> String {
    terminal_text(table, title, true)
}

const BOLD: &str = "\x1b[1m";
const BEST: &str = "\x1b[1;32m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn terminal_text(table: &Table, title: &str, colour: bool) -> String {
    let (header, body) = text_grid(table);
    let n_labels = table.row_names().len();
    let n_columns = table.column_labels().len();
    let best = if colour {
        crate::latex::best_cells(table)
    } else {
        Vec::new()
    };
    let style = |row: Option<usize>, i: usize, s: String| -> String {
        if !colour {
            return s;
        }
        let Some(r) = row else {
            return format!("{BOLD}{s}{RESET}");
        };
        if i < n_labels {
            return s;
        }
        let c = i - n_labels;
        match table.cell(r, c) {
            Some(Cell::Value(_)) if best[r * n_columns + c] => format!("{BEST}{s}{RESET}"),
            Some(Cell::Value(_)) => s,
            _ => format!("{DIM}{s}{RESET}"),
        }
    };
    let title = if colour && !title.is_empty() {
        format!("{BOLD}{title}{RESET}")
    } else {
        title.to_string()
    };
    let mut out = aligned_grid(&title, &header, &body, n_labels, &style);
    if !table.costs().is_empty() {
        out.push_str(&format!("{DAGGER} {COST_FOOTNOTE}\n"));
    }
    out
}

/// A text grid for a terminal: the title on its own line (omitted when empty), the header, a
/// line of dashes, the rows; the first `n_left` columns left-aligned, the others right-aligned,
/// columns two spaces apart. `style(row, column, padded text)` may wrap a cell (row `None` is
/// the header); widths count the plain text.
pub(crate) fn aligned_grid(
    title: &str,
    header: &[String],
    body: &[Vec<String>],
    n_left: usize,
    style: &dyn Fn(Option<usize>, usize, String) -> String,
) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|row| width(&row[i]))
                .chain([width(&header[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: Option<usize>, cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let pad = " ".repeat(widths[i] - width(s));
                let padded = if i < n_left {
                    format!("{s}{pad}")
                } else {
                    format!("{pad}{s}")
                };
                style(row, i, padded)
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = String::new();
    if !title.is_empty() {
        out.push_str(title);
        out.push('\n');
    }
    out.push_str(&line(None, header));
    out.push('\n');
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&dashes.join("  "));
    out.push('\n');
    for (r, row) in body.iter().enumerate() {
        out.push_str(&line(Some(r), row));
        out.push('\n');
    }
    out
}

/// A GitHub Markdown table: `### title` and a blank line (omitted when the title is empty),
/// the header, the alignment row (`---` for the first `n_left` columns, `---:` for the others),
/// the rows; `|` and line breaks in cells escaped.
pub(crate) fn markdown_grid(
    title: &str,
    header: &[String],
    body: &[Vec<String>],
    n_left: usize,
) -> String {
    let row = |cells: &[String]| -> String {
        let escaped: Vec<String> = cells.iter().map(|c| md_escape(c)).collect();
        format!("| {} |\n", escaped.join(" | "))
    };
    let mut out = String::new();
    if !title.is_empty() {
        out.push_str(&format!("### {}\n\n", md_escape(title)));
    }
    out.push_str(&row(header));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i < n_left { "---" } else { "---:" })
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for cells in body {
        out.push_str(&row(cells));
    }
    out
}

pub(crate) fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn render_markdown(table: &Table, title: &str) -> String {
    let (header, body) = text_grid(table);
    let mut out = markdown_grid(title, &header, &body, table.row_names().len());
    if !table.costs().is_empty() {
        out.push_str(&format!("\n{DAGGER} {COST_FOOTNOTE}\n"));
    }
    out
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Full-precision number text that reads back to the same f64 (pandas, polars, Excel).
pub(crate) fn csv_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v != 0.0 && (v.abs() < 1e-5 || v.abs() >= 1e16) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn render_csv(table: &Table) -> String {
    let mut header: Vec<String> = table.row_names().iter().map(|n| csv_field(n)).collect();
    for c in 0..table.column_labels().len() {
        let h = table.column_header(c);
        for statistic in ["mean", "std", "ci95", "n_runs"] {
            header.push(csv_field(&format!("{h}_{statistic}")));
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    for (r, labels) in table.row_labels().iter().enumerate() {
        let mut fields: Vec<String> = labels.iter().map(|l| csv_field(l)).collect();
        for c in 0..table.column_labels().len() {
            match table.cell(r, c) {
                Some(Cell::Value(s)) => {
                    fields.push(csv_number(s.mean));
                    fields.push(s.std.map(csv_number).unwrap_or_default());
                    fields.push(s.ci95.map(csv_number).unwrap_or_default());
                    fields.push(s.n_runs.to_string());
                }
                _ => fields.extend([String::new(), String::new(), String::new(), "0".to_string()]),
            }
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

pub(crate) fn labels_object(names: &[String], labels: &[String]) -> Value {
    let map: Map<String, Value> = names
        .iter()
        .zip(labels)
        .map(|(n, l)| (n.clone(), Value::String(l.clone())))
        .collect();
    Value::Object(map)
}

pub(crate) fn json_number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn render_json(table: &Table, title: &str) -> String {
    let mut cells = Vec::new();
    for (r, row) in table.row_labels().iter().enumerate() {
        for (c, col) in table.column_labels().iter().enumerate() {
            let (mean, std, ci95, n_runs) = match table.cell(r, c) {
                Some(Cell::Value(s)) => (
                    json_number(s.mean),
                    s.std.map_or(Value::Null, json_number),
                    s.ci95.map_or(Value::Null, json_number),
                    s.n_runs,
                ),
                _ => (Value::Null, Value::Null, Value::Null, 0),
            };
            cells.push(json!({
                "row": labels_object(table.row_names(), row),
                "column": labels_object(table.column_names(), col),
                "mean": mean,
                "std": std,
                "ci95": ci95,
                "n_runs": n_runs,
            }));
        }
    }
    let doc = json!({
        "title": title,
        "aggregate": table.aggregate().name(),
        "over": table.aggregated_over(),
        "rows": table.row_names(),
        "columns": table.column_names(),
        "costs": table.costs(),
        "cells": cells,
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "null".to_string());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits_like_printf_g() {
        let cases = [
            (0.1234, "0.1234"),
            (0.0056, "0.0056"),
            (0.12345678, "0.1235"),
            (1.0, "1"),
            (12.5, "12.5"),
            (1234.4, "1234"),
            (12345.0, "1.234e+04"),
            (9.99996, "10"),
            (0.000123456, "0.0001235"),
            (0.0000123456, "1.235e-05"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(format_significant(v, 4), want, "{v}");
        }
        assert_eq!(format_significant(f64::NAN, 4), "NaN");
        assert_eq!(format_significant(f64::NEG_INFINITY, 4), "-inf");
    }

    #[test]
    fn csv_numbers_read_back_exactly() {
        for v in [0.1, 1.0 / 3.0, 1e-7, 2.5e20, -0.0, 123456.789] {
            let s = csv_number(v);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
        assert_eq!(csv_number(1e-7), "1e-7");
        assert_eq!(csv_number(0.5), "0.5");
        assert_eq!(csv_number(2.0), "2");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("moons"), "moons");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn format_names() {
        for (n, f) in [
            ("md", Format::Markdown),
            ("markdown", Format::Markdown),
            ("csv", Format::Csv),
            ("json", Format::Json),
            ("terminal", Format::Terminal),
            ("text", Format::Terminal),
            ("latex", Format::Latex),
            ("tex", Format::Latex),
        ] {
            assert_eq!(Format::from_name(n).unwrap(), f);
        }
        let err = Format::from_name("xlsx").unwrap_err().to_string();
        assert!(err.contains("unknown report format `xlsx`"), "{err}");
    }
}
