//! Source texts (the spec file and `--set` overrides) and byte spans into them.

use std::path::{Path, PathBuf};

/// Which text a span points into: the spec file (0) or the n-th `--set` override (n + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourceId(pub u32);

/// A byte range in one source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub source: SourceId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(source: SourceId, range: std::ops::Range<usize>) -> Self {
        Span {
            source,
            start: range.start,
            end: range.end,
        }
    }
}

/// One source text with its display name.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The path as the user gave it, or `--set` for overrides.
    pub name: String,
    pub text: String,
}

/// All texts a spec was assembled from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub texts: Vec<SourceText>,
    /// The spec file's path as given (never hashed: paths are not part of any key).
    pub spec_path: PathBuf,
}

/// A resolved location: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub name: String,
    pub line: usize,
    pub column: usize,
    /// The text of the line the span starts on.
    pub line_text: String,
    /// Width of the underline on that line (at least 1).
    pub width: usize,
}

impl Sources {
    pub fn new(spec_path: &Path, text: String) -> Self {
        Sources {
            texts: vec![SourceText {
                name: spec_path.display().to_string(),
                text,
            }],
            spec_path: spec_path.to_path_buf(),
        }
    }

    pub fn add(&mut self, name: String, text: String) -> SourceId {
        self.texts.push(SourceText { name, text });
        SourceId(self.texts.len() as u32 - 1)
    }

    pub fn text(&self, id: SourceId) -> &str {
        &self.texts[id.0 as usize].text
    }

    pub fn locate(&self, span: Span) -> Location {
        let source = &self.texts[span.source.0 as usize];
        let text = &source.text;
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        Location {
            name: source.name.clone(),
            line,
            column,
            line_text: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            width: text[start..end].chars().count().max(1),
        }
    }
}
