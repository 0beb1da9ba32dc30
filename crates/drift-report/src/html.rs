//! A self-contained HTML page (inline CSS and SVG, no scripts, no network): the document
//! builder behind `drift report`, with result tables rendered from [`Table`].

use crate::latex::best_cells;
use crate::render::{COST_FOOTNOTE, DAGGER, text_grid};
use crate::table::{Cell, Table};

/// An HTML document assembled section by section.
#[derive(Debug, Clone, Default)]
pub struct HtmlPage {
    title: String,
    body: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;\
max-width:1200px;padding:0 1em;color:#222}h1{font-size:1.6em}h2{font-size:1.3em;margin-top:2em;\
border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0;font-size:.9em}\
th,td{padding:.3em .7em;border-bottom:1px solid #e4e4e4}th{background:#f6f6f6;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.best{font-weight:bold}\
td.missing{color:#999;text-align:center}figure{margin:1em 0}figure svg{max-width:100%;height:auto}\
figcaption{color:#555;font-size:.9em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.85em}\
.note{color:#555;font-size:.85em}code{font-size:.9em}";

impl HtmlPage {
    pub fn new(title: &str) -> HtmlPage {
        HtmlPage {
            title: title.to_string(),
            body: format!("<h1>{}</h1>\n", escape(title)),
        }
    }

    /// A section heading (`<h2>`) with an anchor id.
    pub fn heading(&mut self, text: &str) {
        let id: String = text
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.body.push_str(&format!(
            "<h2 id=\"{}\">{}</h2>\n",
            escape(&id),
            escape(text)
        ));
    }

    /// A paragraph of plain text.
    pub fn paragraph(&mut self, text: &str, class: Option<&str>) {
        match class {
            Some(c) => self.body.push_str(&format!(
                "<p class=\"{}\">{}</p>\n",
                escape(c),
                escape(text)
            )),
            None => self.body.push_str(&format!("<p>{}</p>\n", escape(text))),
        }
    }

    /// A result table: label columns, then one column per column group with `mean ± spread`
    /// (the spread the table's interval chooses), `—` for missing cells, the best value of
    /// each comparable group in bold (as in LaTeX), cost columns marked `†` with a footnote.
    pub fn result_table(&mut self, table: &Table) {
        let (header, body) = text_grid(table);
        let n_labels = table.row_names().len();
        let n_columns = table.column_labels().len();
        let best = best_cells(table);
        let mut html = String::from("<table class=\"results\">\n<thead><tr>");
        for h in &header {
            html.push_str(&format!("<th>{}</th>", escape(h)));
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for (r, line) in body.iter().enumerate() {
            html.push_str("<tr>");
            for (i, text) in line.iter().enumerate() {
                if i < n_labels {
                    html.push_str(&format!("<td>{}</td>", escape(text)));
                    continue;
                }
                let c = i - n_labels;
                let class = match table.cell(r, c) {
                    Some(Cell::Value(_)) if best[r * n_columns + c] => "num best",
                    Some(Cell::Value(_)) => "num",
                    _ => "missing",
                };
                let n = match table.cell(r, c) {
                    Some(Cell::Value(s)) => s.n_runs,
                    _ => 0,
                };
                html.push_str(&format!(
                    "<td class=\"{class}\" title=\"n = {n}\">{}</td>",
                    escape(text)
                ));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody>\n</table>\n");
        if !table.costs().is_empty() {
            html.push_str(&format!(
                "<p class=\"note\">{DAGGER} {}</p>\n",
                escape(COST_FOOTNOTE)
            ));
        }
        self.body.push_str(&html);
    }

    /// A two-column table of names and values (provenance, plan summaries).
    pub fn key_values(&mut self, rows: &[(String, String)]) {
        self.body.push_str("<table class=\"kv\">\n<tbody>\n");
        for (k, v) in rows {
            self.body.push_str(&format!(
                "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
                escape(k),
                escape(v)
            ));
        }
        self.body.push_str("</tbody>\n</table>\n");
    }

    /// A table with a header row; every cell is text.
    pub fn text_table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<table>\n<thead><tr>");
        for h in header {
            self.body.push_str(&format!("<th>{}</th>", escape(h)));
        }
        self.body.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                self.body.push_str(&format!("<td>{}</td>", escape(cell)));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</tbody>\n</table>\n");
    }

    /// An inline SVG figure with a caption. The SVG is inserted as given (it comes from
    /// drift's own plot renderer), after dropping any XML declaration.
    pub fn figure(&mut self, svg: &str, caption: &str) {
        let svg = match svg.trim_start().strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(rest, |(_, r)| r),
            None => svg,
        };
        self.body.push_str(&format!(
            "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            svg.trim(),
            escape(caption)
        ));
    }

    /// An inline PNG figure (base64 data URI) with a caption.
    pub fn figure_png(&mut self, png_base64: &str, caption: &str) {
        self.body.push_str(&format!(
            "<figure>\n<img alt=\"{}\" src=\"data:image/png;base64,{png_base64}\">\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(caption),
            escape(caption)
        ));
    }

    /// Preformatted text (a spec file), collapsed under a summary line.
    pub fn collapsed_text(&mut self, summary: &str, text: &str) {
        self.body.push_str(&format!(
            "<details>\n<summary>{}</summary>\n<pre>{}</pre>\n</details>\n",
            escape(summary),
            escape(text)
        ));
    }

    /// The finished document.
    pub fn finish(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        let mut page = HtmlPage::new("a <b> & \"c\"");
        page.heading("x<y");
        page.paragraph("1 < 2 & 3 > 2", None);
        page.key_values(&[("k<".into(), "v&".into())]);
        page.collapsed_text("spec", "name = \"<script>\"");
        let html = page.finish();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(html.contains("1 &lt; 2 &amp; 3 &gt; 2"));
        assert!(html.contains("name = &quot;&lt;script&gt;&quot;"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn figures_drop_the_xml_declaration() {
        let mut page = HtmlPage::new("t");
        page.figure(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg width=\"10\"></svg>",
            "cap",
        );
        let html = page.finish();
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<figure>\n<svg width=\"10\"></svg>\n<figcaption>cap</figcaption>"));
    }
}
