//! Source texts (the spec file, the base specs it `extends`, and `--set` overrides) and byte
//! spans into them.

use std::path::{Path, PathBuf};

/// Which text a span points into: the spec file (0), then base specs and `--set` overrides in
/// the order they were read.
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
    /// The file the text was read from (None for `--set`): relative paths written in it
    /// (`extends`, data files) are relative to its directory.
    pub path: Option<PathBuf>,
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
                path: Some(spec_path.to_path_buf()),
            }],
            spec_path: spec_path.to_path_buf(),
        }
    }

    pub fn add(&mut self, name: String, text: String) -> SourceId {
        self.texts.push(SourceText {
            name,
            text,
            path: None,
        });
        SourceId(self.texts.len() as u32 - 1)
    }

    /// Adds the text of a file read from `path` (a base spec).
    pub fn add_file(&mut self, path: &Path, text: String) -> SourceId {
        self.texts.push(SourceText {
            name: path.display().to_string(),
            text,
            path: Some(path.to_path_buf()),
        });
        SourceId(self.texts.len() as u32 - 1)
    }

    /// The directory that paths written in `source` are relative to: its file's directory, or
    /// the spec's for `--set` overrides.
    pub fn base_dir(&self, source: SourceId) -> PathBuf {
        let file = self
            .texts
            .get(source.0 as usize)
            .and_then(|t| t.path.as_deref())
            .unwrap_or(&self.spec_path);
        match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The project root that spec files may read under: the nearest directory above the spec
    /// that holds `.git`, else the spec's own directory (canonical).
    pub fn project_root(&self) -> std::io::Result<PathBuf> {
        let spec_dir = self.base_dir(SourceId(0)).canonicalize()?;
        Ok(spec_dir
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(&spec_dir)
            .to_path_buf())
    }

    /// BLAKE3 of every text the spec was assembled from (spec, bases, overrides), in order:
    /// provenance for shared results, never part of a key.
    pub fn digest(&self) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        for t in &self.texts {
            hasher.update(&(t.text.len() as u64).to_le_bytes());
            hasher.update(t.text.as_bytes());
        }
        hasher.finalize()
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
