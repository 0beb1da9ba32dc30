//! Spec composition: `extends = "base.toml"` reads a base spec (itself possibly extending
//! another) and merges the extending file over it, table by table.
//!
//! Rules (documented in the README):
//! * Paths are relative to the file that writes `extends`; absolute paths and files outside the
//!   project root (the nearest `.git` ancestor of the spec, else its directory) are refused, as
//!   are cycles.
//! * Tables merge key by key, recursively; any other value replaces the base's. At stage level a
//!   plain key replaces the base's sweep/zip axis of that key and an axis replaces the plain key
//!   (as `--set` does), so a file can turn a fixed value into a sweep or back.
//! * A table whose discriminator (`generator`, `method`, `arch`, ...) the extending file changes
//!   is replaced whole: the base's other keys belonged to the old choice.
//! * Every key keeps the span of the file it was written in, so errors point into that file.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::node::{self, Node, NodeValue};
use crate::source::{SourceId, Sources};
use crate::split_key;

/// The top-level key that names a base spec.
pub const EXTENDS_KEY: &str = "extends";

/// Replaces `root` by its base spec(s) merged with it, removing `extends`.
pub fn apply(root: Node, sources: &mut Sources, diags: &mut Vec<Diagnostic>) -> Node {
    let mut chain = Vec::new();
    if let Some(path) = sources.texts[0].path.as_ref()
        && let Ok(canonical) = path.canonicalize()
    {
        chain.push(canonical);
    }
    apply_chain(root, sources, diags, &mut chain)
}

fn apply_chain(
    mut root: Node,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    chain: &mut Vec<PathBuf>,
) -> Node {
    let NodeValue::Table(entries) = &mut root.value else {
        return root;
    };
    let Some(pos) = entries.iter().position(|(k, _)| k.name == EXTENDS_KEY) else {
        return root;
    };
    let (key, value) = entries.remove(pos);
    let Some(given) = value.as_str() else {
        diags.push(
            Diagnostic::new(
                Some(value.span),
                EXTENDS_KEY,
                format!("`extends` must be a string, found {}", value.type_name()),
            )
            .with_help("write `extends = \"base.toml\"`, a path relative to this file"),
        );
        return root;
    };
    let base_path = match locate_base(sources, key.span.source, given, chain) {
        Ok(p) => p,
        Err(message) => {
            diags.push(Diagnostic::new(Some(value.span), EXTENDS_KEY, message));
            return root;
        }
    };
    let text = match std::fs::read_to_string(&base_path.canonical) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::new(
                Some(value.span),
                EXTENDS_KEY,
                format!("cannot read base spec {}: {e}", base_path.shown.display()),
            ));
            return root;
        }
    };
    let id = sources.add_file(&base_path.shown, text);
    let base = match node::parse_document(sources.text(id), id) {
        Ok(b) => b,
        Err(d) => {
            diags.push(d);
            return root;
        }
    };
    chain.push(base_path.canonical);
    let mut base = apply_chain(base, sources, diags, chain);
    chain.pop();
    merge(&mut base, root, 0);
    base
}

struct BasePath {
    /// As the user would write it from the spec's directory (for messages).
    shown: PathBuf,
    canonical: PathBuf,
}

fn locate_base(
    sources: &Sources,
    from: SourceId,
    given: &str,
    chain: &[PathBuf],
) -> Result<BasePath, String> {
    let rel = Path::new(given);
    if rel.is_absolute() {
        return Err(format!(
            "`{given}` is absolute: base specs are given relative to the file that extends them"
        ));
    }
    let shown = sources.base_dir(from).join(rel);
    let canonical = shown
        .canonicalize()
        .map_err(|e| format!("cannot read base spec {}: {e}", shown.display()))?;
    let root = sources
        .project_root()
        .map_err(|e| format!("cannot locate the project root: {e}"))?;
    if !canonical.starts_with(&root) {
        return Err(format!(
            "`{given}` resolves to {}, outside the project root {}",
            canonical.display(),
            root.display()
        ));
    }
    if let Some(start) = chain.iter().position(|p| *p == canonical) {
        let cycle: Vec<String> = chain[start..]
            .iter()
            .chain([&canonical])
            .map(|p| {
                p.file_name()
                    .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
            })
            .collect();
        return Err(format!("`extends` forms a cycle: {}", cycle.join(" -> ")));
    }
    Ok(BasePath { shown, canonical })
}

/// Merges `child` (a table) over `base`; `depth` 2 is a stage table (`[kind.name]`).
fn merge(base: &mut Node, child: Node, depth: usize) {
    let NodeValue::Table(child_entries) = child.value else {
        *base = child;
        return;
    };
    if base.as_table().is_none() {
        *base = Node {
            value: NodeValue::Table(child_entries),
            span: child.span,
        };
        return;
    }
    for (key, value) in child_entries {
        if depth == 2 {
            displace_other_form(base, &key.name, &value);
        }
        let NodeValue::Table(base_entries) = &mut base.value else {
            unreachable!("checked above");
        };
        match base_entries.iter_mut().find(|(k, _)| k.name == key.name) {
            Some((_, existing))
                if existing.as_table().is_some()
                    && value.as_table().is_some()
                    && !discriminator_changed(existing, &value) =>
            {
                merge(existing, value, depth + 1)
            }
            Some(entry) => *entry = (key, value),
            None => base_entries.push((key, value)),
        }
    }
}

/// At stage level: a plain key written by the child removes the base's axis of the same path,
/// and an axis (`sweep.KEY` / `zip.KEY`) removes the base's plain key and its other axis form.
fn displace_other_form(stage: &mut Node, name: &str, value: &Node) {
    let mut leaves = Vec::new();
    if name == "sweep" || name == "zip" {
        leaf_paths(value, &mut Vec::new(), &mut leaves);
        let other = if name == "sweep" { "zip" } else { "sweep" };
        for path in &leaves {
            remove_path(stage, path);
            if let Some(axes) = table_entry(stage, other) {
                remove_path(axes, path);
            }
        }
    } else {
        leaf_paths(value, &mut vec![name.to_string()], &mut leaves);
        for path in &leaves {
            for axis_kind in ["sweep", "zip"] {
                if let Some(axes) = table_entry(stage, axis_kind) {
                    remove_path(axes, path);
                }
            }
        }
    }
}

/// Paths to every non-table value under `node` (a lone value is one leaf at `prefix`); dotted
/// key names (`"model.hidden"`) are split.
fn leaf_paths(node: &Node, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match &node.value {
        NodeValue::Table(entries) => {
            for (k, v) in entries {
                let parts = split_key(&k.name);
                let n = parts.len();
                prefix.extend(parts);
                leaf_paths(v, prefix, out);
                prefix.truncate(prefix.len() - n);
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn table_entry<'a>(table: &'a mut Node, name: &str) -> Option<&'a mut Node> {
    let NodeValue::Table(entries) = &mut table.value else {
        return None;
    };
    entries
        .iter_mut()
        .find(|(k, _)| k.name == name)
        .map(|(_, v)| v)
}

/// Removes the value at `path` from a table whose keys may be nested or quoted-dotted, and any
/// table left empty by the removal.
fn remove_path(table: &mut Node, path: &[String]) {
    let NodeValue::Table(entries) = &mut table.value else {
        return;
    };
    entries.retain(|(k, _)| split_key(&k.name) != path);
    entries.retain_mut(|(k, nested)| {
        let parts = split_key(&k.name);
        if path.len() > parts.len() && path.starts_with(&parts) && nested.as_table().is_some() {
            remove_path(nested, &path[parts.len()..]);
            return nested.as_table().is_some_and(|t| !t.is_empty());
        }
        true
    });
}

/// Whether `child` sets one of `base`'s discriminator keys to another value.
fn discriminator_changed(base: &Node, child: &Node) -> bool {
    let tags = crate::schema::discriminator_tags();
    child.as_table().into_iter().flatten().any(|(k, v)| {
        tags.contains(k.name.as_str())
            && match (base.get(&k.name).and_then(Node::as_str), v.as_str()) {
                (Some(old), Some(new)) => old != new,
                _ => false,
            }
    })
}
