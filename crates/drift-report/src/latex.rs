//! The LaTeX rendering of a [`Table`]: a booktabs `tabular` with escaped text, math-mode
//! values, bold best values per comparable group, and cost marks.

use std::collections::HashMap;

use crate::render::{
    COST_FOOTNOTE, column_is_cost, format_significant, row_cost_label, shown_spread,
};
use crate::table::{Cell, Table};

/// Shown for a missing cell.
const MISSING: &str = "--";

/// The cost mark.
const DAGGER: &str = "$^\\dagger$";

/// Escapes the characters LaTeX treats specially in text mode.
pub(crate) fn latex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '_' => out.push_str("\\_"),
            '%' => out.push_str("\\%"),
            '&' => out.push_str("\\&"),
            '#' => out.push_str("\\#"),
            '$' => out.push_str("\\$"),
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            // A line break inside a cell would end the row's source line, not the cell.
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// A number for math mode with 4 significant digits: `0.1234`, `1.234 \times 10^{4}`,
/// `\infty`, `\mathrm{NaN}`.
fn math_number(v: f64) -> String {
    if v.is_nan() {
        return "\\mathrm{NaN}".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "\\infty" } else { "-\\infty" }.to_string();
    }
    let text = format_significant(v, 4);
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            if mantissa == "1" {
                format!("10^{{{exponent}}}")
            } else if mantissa == "-1" {
                format!("-10^{{{exponent}}}")
            } else {
                format!("{mantissa} \\times 10^{{{exponent}}}")
            }
        }
        None => text,
    }
}

/// Which cells (row-major) hold the best value of their comparable group.
pub(crate) fn best_cells(table: &Table) -> Vec<bool> {
    let n_columns = table.column_labels().len();
    let n_rows = table.row_labels().len();
    let mut bold = vec![false; n_rows * n_columns];
    // (column group, metric) -> the cells with a finite mean and that metric.
    let mut groups: HashMap<(usize, &str), Vec<(usize, f64)>> = HashMap::new();
    for r in 0..n_rows {
        for c in 0..n_columns {
            let Some(Cell::Value(stats)) = table.cell(r, c) else {
                continue;
            };
            let Some(metric) = table.cell_metric(r, c) else {
                continue;
            };
            if stats.mean.is_finite() && table.better().contains_key(metric) {
                groups
                    .entry((c, metric))
                    .or_default()
                    .push((r * n_columns + c, stats.mean));
            }
        }
    }
    for ((_, metric), cells) in &groups {
        let Some(better) = table.better().get(*metric) else {
            continue;
        };
        if cells.len() < 2 {
            continue;
        }
        let best = cells
            .iter()
            .map(|(_, mean)| *mean)
            .fold(cells[0].1, |best, mean| {
                if better.beats(mean, best) { mean } else { best }
            });
        for (index, mean) in cells {
            if *mean == best {
                bold[*index] = true;
            }
        }
    }
    bold
}

/// The math-mode cell text, bold when `bold`, or `--`.
fn latex_cell(table: &Table, cell: Option<&Cell>, bold: bool) -> String {
    let Some(Cell::Value(stats)) = cell else {
        return MISSING.to_string();
    };
    let body = match shown_spread(stats, table.interval()) {
        Some(spread) => format!("{} \\pm {}", math_number(stats.mean), math_number(spread)),
        None => math_number(stats.mean),
    };
    if bold {
        format!("$\\mathbf{{{body}}}$")
    } else {
        format!("${body}$")
    }
}

fn with_dagger(text: String, marked: bool) -> String {
    if marked { text + DAGGER } else { text }
}

/// See [`crate::render`] for the layout.
pub(crate) fn render_latex(table: &Table, title: &str) -> String {
    let n_columns = table.column_labels().len();
    let mut out = String::new();
    if !title.is_empty() {
        out.push_str(&format!("% {}\n", title.replace(['\n', '\r'], " ")));
    }
    let spec = "l".repeat(table.row_names().len()) + &"r".repeat(n_columns);
    out.push_str(&format!("\\begin{{tabular}}{{{spec}}}\n\\toprule\n"));
    let mut header: Vec<String> = table.row_names().iter().map(|n| latex_escape(n)).collect();
    header.extend((0..n_columns).map(|c| {
        with_dagger(
            latex_escape(&table.column_header(c)),
            column_is_cost(table, c),
        )
    }));
    out.push_str(&format!("{} \\\\\n\\midrule\n", header.join(" & ")));
    let bold = best_cells(table);
    for (r, labels) in table.row_labels().iter().enumerate() {
        let marked = row_cost_label(table, r);
        let mut line: Vec<String> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| with_dagger(latex_escape(l), marked == Some(i)))
            .collect();
        line.extend(
            (0..n_columns).map(|c| latex_cell(table, table.cell(r, c), bold[r * n_columns + c])),
        );
        out.push_str(&format!("{} \\\\\n", line.join(" & ")));
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    if !table.costs().is_empty() {
        out.push_str(&format!(
            "\\par\\smallskip{{\\footnotesize {DAGGER} {COST_FOOTNOTE}\\par}}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            latex_escape(r"a_b 50% & #1 $x$ {y} ~z^2 \n"),
            r"a\_b 50\% \& \#1 \$x\$ \{y\} \textasciitilde{}z\textasciicircum{}2 \textbackslash{}n"
        );
        assert_eq!(latex_escape("moons"), "moons");
    }

    #[test]
    fn numbers_in_math_mode() {
        assert_eq!(math_number(0.1234), "0.1234");
        assert_eq!(math_number(12345.0), "1.234 \\times 10^{4}");
        assert_eq!(math_number(1.0e-7), "10^{-7}");
        assert_eq!(math_number(-0.0000123456), "-1.235 \\times 10^{-5}");
        assert_eq!(math_number(f64::INFINITY), "\\infty");
        assert_eq!(math_number(f64::NAN), "\\mathrm{NaN}");
    }
}
