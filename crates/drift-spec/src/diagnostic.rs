//! Spec diagnostics: an error at a location, with the key it concerns and a hint to fix it.

use crate::source::{Sources, Span};
use std::fmt::Write as _;

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub span: Option<Span>,
    /// Dotted path of the key concerned, e.g. `train.fm.steps` (empty for whole-file problems).
    pub key: String,
    pub message: String,
    /// What would be accepted, or how to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Option<Span>, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            key: key.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders like a compiler error: `error: ...`, ` --> file:line:col`, the line, a caret.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        if let Some(span) = self.span {
            let loc = sources.locate(span);
            let gutter = loc.line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {}:{}:{}", loc.name, loc.line, loc.column);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", loc.line, loc.line_text);
            let indent: String = loc
                .line_text
                .chars()
                .take(loc.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(loc.width));
        } else if let Some(first) = sources.texts.first() {
            let _ = writeln!(out, " --> {}", first.name);
        }
        if !self.key.is_empty() {
            let _ = writeln!(out, "  = key: {}", self.key);
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// All problems of one spec, reported together.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render(sources));
            out.push('\n');
        }
        let n = self.items.len();
        let _ = writeln!(
            out,
            "error: spec has {n} problem{}",
            if n == 1 { "" } else { "s" }
        );
        out
    }
}

/// Names closest to `given` among `valid` (Jaro-Winkler and edit distance), best first.
pub fn nearest<'a>(given: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in valid {
        let jw = strsim::jaro_winkler(given, candidate);
        let lev = strsim::levenshtein(given, candidate);
        let close = jw >= 0.8 || lev <= 2.max(given.len() / 3);
        if close && best.is_none_or(|(s, _)| jw > s) {
            best = Some((jw, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// "; did you mean `x`?" or "".
pub fn did_you_mean<'a>(given: &str, valid: impl IntoIterator<Item = &'a str>) -> String {
    match nearest(given, valid) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// "`a`, `b`, `c`"
pub fn list(valid: &[impl AsRef<str>]) -> String {
    valid
        .iter()
        .map(|v| format!("`{}`", v.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
