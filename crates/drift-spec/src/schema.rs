//! JSON Schemas generated from the parameter types, and the walker that checks a spanned table
//! against them: unknown keys (with the nearest valid one), missing keys, unknown enum values and
//! unknown discriminators (`generator`, `method`, ...). One mechanism for every stage kind.

use crate::StageKind;
use crate::diagnostic::{Diagnostic, did_you_mean, list};
use crate::node::{Key, Node, NodeValue};
use crate::params::*;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value as J};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The schema of one parameter type, with its `$defs`.
#[derive(Debug)]
pub struct ParamSchema {
    root: J,
    /// Top-level keys marked `x-drift-semantic = false`: execution settings kept out of keys.
    non_semantic: Vec<String>,
}

fn schema_of<T: JsonSchema>() -> ParamSchema {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    let mut out = ParamSchema {
        root: schema.to_value(),
        non_semantic: Vec::new(),
    };
    let mut non_semantic = Vec::new();
    out.collect_non_semantic(&out.root, &mut non_semantic, 0);
    non_semantic.sort();
    non_semantic.dedup();
    out.non_semantic = non_semantic;
    out
}

/// The schema of a stage kind's parameters (cached).
pub fn stage_schema(kind: StageKind) -> &'static ParamSchema {
    static SCHEMAS: OnceLock<Vec<ParamSchema>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| {
        StageKind::ALL
            .iter()
            .map(|k| match k {
                StageKind::Data => schema_of::<DataParams>(),
                StageKind::Train => schema_of::<TrainParams>(),
                StageKind::Sample => schema_of::<SampleParams>(),
                StageKind::Eval => schema_of::<EvalParams>(),
                StageKind::Report => schema_of::<ReportParams>(),
            })
            .collect()
    });
    &all[kind as usize]
}

pub fn experiment_schema() -> &'static ParamSchema {
    settings_schema::<ExperimentParams>()
}

/// The schema of a table of settings (`[experiment]`, `[slurm]`, `[cache]`, a stage's
/// `resources`), built once per type.
pub fn settings_schema<T: JsonSchema + 'static>() -> &'static ParamSchema {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::Mutex;
    static SCHEMAS: OnceLock<Mutex<HashMap<TypeId, &'static ParamSchema>>> = OnceLock::new();
    let mut map = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // A handful of types, each leaked once: they live as long as the process anyway.
    map.entry(TypeId::of::<T>())
        .or_insert_with(|| Box::leak(Box::new(schema_of::<T>())))
}

/// Every discriminator key of every stage kind (`generator`, `method`, `arch`, ...): the keys
/// whose value selects which other keys a table may have.
pub fn discriminator_tags() -> &'static std::collections::BTreeSet<String> {
    static TAGS: OnceLock<std::collections::BTreeSet<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        fn walk(node: &J, out: &mut std::collections::BTreeSet<String>) {
            match node {
                J::Object(o) => {
                    if let Some(branches) = o.get("oneOf").and_then(J::as_array) {
                        out.extend(
                            branches
                                .iter()
                                .filter_map(discriminator)
                                .map(|(tag, _)| tag.to_string()),
                        );
                    }
                    o.values().for_each(|v| walk(v, out));
                }
                J::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = std::collections::BTreeSet::new();
        for kind in StageKind::ALL {
            walk(&stage_schema(*kind).root, &mut out);
        }
        out
    })
}

/// What an object schema allows, once `$ref`, `allOf` and the matching `oneOf` branch are merged.
#[derive(Default)]
struct Allowed<'s> {
    props: BTreeMap<String, &'s J>,
    required: Vec<String>,
    /// A discriminator was missing or unknown, so the key set is incomplete.
    undetermined: bool,
}

/// One entry of `drift list`: a parameter with its type, default and description.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDoc {
    pub name: String,
    pub ty: String,
    pub default: Option<String>,
    pub required: bool,
    pub description: String,
}

impl ParamSchema {
    pub fn as_json(&self) -> &J {
        &self.root
    }

    fn deref<'s>(&'s self, node: &'s J) -> &'s J {
        let mut node = node;
        for _ in 0..16 {
            match node.get("$ref").and_then(J::as_str) {
                Some(r) if node.get("properties").is_none() && node.get("oneOf").is_none() => {
                    node = self.lookup(r).unwrap_or(node);
                    if node.get("$ref").is_none() {
                        break;
                    }
                }
                _ => break,
            }
        }
        node
    }

    fn lookup(&self, reference: &str) -> Option<&J> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.root.get("$defs")?.get(name)
    }

    /// Top-level keys marked `x-drift-semantic = false`, in the object itself and in every
    /// branch it can take (`$ref`, `allOf`, all `oneOf` branches: a generator's own keys live
    /// in its branch).
    fn collect_non_semantic(&self, node: &J, out: &mut Vec<String>, depth: usize) {
        if depth > 16 {
            return;
        }
        if let Some(props) = node.get("properties").and_then(J::as_object) {
            for (k, v) in props {
                if v.get("x-drift-semantic").and_then(J::as_bool) == Some(false) {
                    out.push(k.clone());
                }
            }
        }
        if let Some(r) = node.get("$ref").and_then(J::as_str)
            && let Some(target) = self.lookup(r)
        {
            self.collect_non_semantic(target, out, depth + 1);
        }
        for group in ["allOf", "oneOf", "anyOf"] {
            for branch in node.get(group).and_then(J::as_array).into_iter().flatten() {
                self.collect_non_semantic(branch, out, depth + 1);
            }
        }
    }

    /// Merges an object schema's own properties, `$ref`, `allOf`; `oneOf` branches are chosen by
    /// their discriminator (a property with `const`) against `table`.
    fn allowed<'s>(
        &'s self,
        node: &'s J,
        table: Option<&Node>,
        path: &str,
        span: Option<crate::Span>,
        diags: &mut Vec<Diagnostic>,
    ) -> Allowed<'s> {
        let mut out = Allowed::default();
        self.merge(node, table, path, span, diags, &mut out, 0);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn merge<'s>(
        &'s self,
        node: &'s J,
        table: Option<&Node>,
        path: &str,
        span: Option<crate::Span>,
        diags: &mut Vec<Diagnostic>,
        out: &mut Allowed<'s>,
        depth: usize,
    ) {
        if depth > 16 {
            return;
        }
        if let Some(props) = node.get("properties").and_then(J::as_object) {
            for (k, v) in props {
                out.props.insert(k.clone(), v);
            }
        }
        if let Some(req) = node.get("required").and_then(J::as_array) {
            out.required
                .extend(req.iter().filter_map(J::as_str).map(String::from));
        }
        if let Some(r) = node.get("$ref").and_then(J::as_str)
            && let Some(target) = self.lookup(r)
        {
            self.merge(target, table, path, span, diags, out, depth + 1);
        }
        if let Some(all) = node.get("allOf").and_then(J::as_array) {
            for branch in all {
                self.merge(branch, table, path, span, diags, out, depth + 1);
            }
        }
        if let Some(branches) = node.get("oneOf").and_then(J::as_array) {
            let tagged: Vec<(&str, &str, &J)> = branches
                .iter()
                .filter_map(|b| {
                    let (tag, value) = discriminator(b)?;
                    Some((tag, value, b))
                })
                .collect();
            let Some(&(tag, _, _)) = tagged.first() else {
                return;
            };
            let given = table.and_then(|t| t.get(tag));
            let valid: Vec<&str> = tagged.iter().map(|(_, v, _)| *v).collect();
            match given {
                None => {
                    out.props.insert(tag.to_string(), &J::Null);
                    out.undetermined = true;
                    diags.push(
                        Diagnostic::new(span, join(path, tag), format!("missing key `{tag}`"))
                            .with_help(format!("one of {}", list(&valid))),
                    );
                }
                Some(value) => {
                    let chosen = value
                        .as_str()
                        .and_then(|s| tagged.iter().find(|(_, v, _)| *v == s));
                    match chosen {
                        Some((_, _, branch)) => {
                            self.merge(branch, table, path, span, diags, out, depth + 1)
                        }
                        None => {
                            out.props.insert(tag.to_string(), &J::Null);
                            out.undetermined = true;
                            let shown = value.as_str().unwrap_or("?");
                            diags.push(
                                Diagnostic::new(
                                    Some(value.span),
                                    join(path, tag),
                                    format!(
                                        "unknown {tag} `{shown}`{}",
                                        did_you_mean(shown, valid.iter().copied())
                                    ),
                                )
                                .with_help(format!("valid {tag}s: {}", list(&valid))),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Checks `table` (a spanned TOML table) against this schema; `path` prefixes keys in messages.
    /// `provided` lists keys set elsewhere (sweeps) that satisfy `required`.
    pub fn check_table(&self, table: &Node, path: &str, header: &str, diags: &mut Vec<Diagnostic>) {
        self.check_object(&self.root, table, path, header, diags);
    }

    fn check_object(
        &self,
        schema: &J,
        table: &Node,
        path: &str,
        header: &str,
        diags: &mut Vec<Diagnostic>,
    ) {
        let Some(entries) = table.as_table() else {
            return;
        };
        let allowed = self.allowed(schema, Some(table), path, Some(table.span), diags);
        for (key, value) in entries {
            let Some(child) = allowed.props.get(&key.name) else {
                if !allowed.undetermined {
                    diags.push(unknown_key(key, path, header, allowed.props.keys()));
                }
                continue;
            };
            if child.is_null() {
                continue; // a discriminator already reported
            }
            self.check_value(child, value, &join(path, &key.name), diags);
        }
        let suggested: Vec<&str> = entries
            .iter()
            .filter(|(k, _)| !allowed.props.contains_key(&k.name))
            .filter_map(|(k, _)| {
                crate::diagnostic::nearest(&k.name, allowed.props.keys().map(String::as_str))
            })
            .collect();
        for req in allowed.required.iter().filter(|_| !allowed.undetermined) {
            // A typo already reported as "did you mean `req`?" explains the missing key.
            if !entries.iter().any(|(k, _)| &k.name == req) && !suggested.contains(&req.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Some(table.span),
                        join(path, req),
                        format!("missing key `{req}` in [{header}]"),
                    )
                    .with_help(self.describe(allowed.props.get(req).copied())),
                );
            }
        }
    }

    fn check_value(&self, schema: &J, value: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
        let schema = self.non_null(self.deref(schema));
        match &value.value {
            NodeValue::Table(_) if is_object(schema) => {
                let header = path.to_string();
                self.check_object(schema, value, path, &header, diags);
            }
            NodeValue::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.check_value(item_schema, item, path, diags);
                    }
                }
            }
            NodeValue::Str(s) => {
                let consts = string_consts(schema);
                if !consts.is_empty() && !consts.contains(&s.as_str()) {
                    diags.push(
                        Diagnostic::new(
                            Some(value.span),
                            path,
                            format!(
                                "unknown value `{s}` for `{}`{}",
                                last(path),
                                did_you_mean(s, consts.iter().copied())
                            ),
                        )
                        .with_help(format!("valid values: {}", list(&consts))),
                    );
                }
            }
            _ => {}
        }
    }

    /// `Option<T>` becomes `anyOf: [T, null]`; take the non-null branch.
    fn non_null<'s>(&'s self, schema: &'s J) -> &'s J {
        if let Some(any) = schema.get("anyOf").and_then(J::as_array) {
            for b in any {
                if b.get("type").and_then(J::as_str) != Some("null") {
                    return self.deref(b);
                }
            }
        }
        schema
    }

    /// A one-line description of a property schema: type, default, doc.
    fn describe(&self, schema: Option<&J>) -> String {
        let Some(schema) = schema else {
            return String::new();
        };
        let doc = schema
            .get("description")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string();
        let ty = self.type_name(schema);
        if doc.is_empty() {
            format!("expected {ty}")
        } else {
            format!("expected {ty}: {doc}")
        }
    }

    fn type_name(&self, schema: &J) -> String {
        let schema = self.non_null(self.deref(schema));
        let consts = string_consts(schema);
        if !consts.is_empty() {
            return format!("one of {}", list(&consts));
        }
        match schema.get("type") {
            Some(J::String(t)) if t == "array" => {
                let item = schema
                    .get("items")
                    .map(|i| self.type_name(i))
                    .unwrap_or_else(|| "value".into());
                format!("array of {item}")
            }
            Some(J::String(t)) if t == "number" => "number".into(),
            Some(J::String(t)) if t == "object" => "table".into(),
            Some(J::String(t)) => t.clone(),
            Some(J::Array(ts)) => ts
                .iter()
                .filter_map(J::as_str)
                .filter(|t| *t != "null")
                .collect::<Vec<_>>()
                .join(" or "),
            _ => "table".into(),
        }
    }

    /// The documented parameters of this schema for a given discriminator value (e.g. the
    /// parameters of `generator = "two_moons"`): common ones first.
    pub fn params_for(&self, discriminator: Option<(&str, &str)>) -> Vec<ParamDoc> {
        let mut table = Vec::new();
        if let Some((tag, value)) = discriminator {
            table.push((
                Key {
                    name: tag.into(),
                    span: Default::default(),
                },
                Node {
                    value: NodeValue::Str(value.into()),
                    span: Default::default(),
                },
            ));
        }
        let table = Node {
            value: NodeValue::Table(table),
            span: Default::default(),
        };
        let mut ignored = Vec::new();
        let allowed = self.allowed(&self.root, Some(&table), "", None, &mut ignored);
        let mut docs = Vec::new();
        for (name, schema) in &allowed.props {
            if schema.is_null() || Some(name.as_str()) == discriminator.map(|d| d.0) {
                continue;
            }
            let resolved = self.deref(schema);
            let default = schema
                .get("default")
                .or_else(|| resolved.get("default"))
                .map(|d| d.to_string());
            docs.push(ParamDoc {
                name: name.clone(),
                ty: self.type_name(schema),
                default,
                required: allowed.required.contains(name),
                description: schema
                    .get("description")
                    .or_else(|| resolved.get("description"))
                    .and_then(J::as_str)
                    .unwrap_or("")
                    .replace('\n', " "),
            });
        }
        docs
    }

    /// The discriminator values with their descriptions, e.g. every `generator`.
    pub fn variants(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(branches) = self.root.get("oneOf").and_then(J::as_array) {
            for b in branches {
                if let Some((_, value)) = discriminator(b) {
                    let doc = b
                        .get("description")
                        .and_then(J::as_str)
                        .unwrap_or("")
                        .replace('\n', " ");
                    out.push((value.to_string(), doc));
                }
            }
        }
        out
    }

    /// All keys valid at a dotted path (for suggestions on sweep keys).
    pub fn key_exists(&self, table: &Node, path: &[String]) -> Result<(), Vec<String>> {
        let mut ignored = Vec::new();
        let mut schema = &self.root;
        let mut node = Some(table);
        for segment in path {
            let allowed = self.allowed(schema, node, "", None, &mut ignored);
            match allowed.props.get(segment) {
                Some(child) if !child.is_null() => {
                    schema = self.non_null(self.deref(child));
                    node = node.and_then(|n| n.get(segment));
                }
                Some(_) => return Ok(()),
                None => return Err(allowed.props.keys().cloned().collect()),
            }
        }
        Ok(())
    }

    /// Whether `name` is a top-level key of this schema.
    pub fn is_key(&self, name: &str) -> bool {
        let mut ignored = Vec::new();
        self.allowed(&self.root, None, "", None, &mut ignored)
            .props
            .contains_key(name)
    }

    /// Whether a top-level key is part of keys (not marked `x-drift-semantic = false`).
    pub fn is_semantic(&self, name: &str) -> bool {
        !self.non_semantic.iter().any(|k| k == name)
    }
}

fn discriminator(branch: &J) -> Option<(&str, &str)> {
    let props = branch.get("properties")?.as_object()?;
    props.iter().find_map(|(k, v)| {
        let c = v.get("const").and_then(J::as_str).or_else(|| {
            v.get("enum")
                .and_then(J::as_array)
                .filter(|e| e.len() == 1)
                .and_then(|e| e[0].as_str())
        })?;
        Some((k.as_str(), c))
    })
}

fn is_object(schema: &J) -> bool {
    schema.get("properties").is_some()
        || schema.get("oneOf").is_some_and(|o| {
            o.as_array()
                .is_some_and(|a| a.iter().any(|b| discriminator(b).is_some()))
        })
        || schema.get("type").and_then(J::as_str) == Some("object")
}

/// The string values an enum schema accepts (`enum` or `oneOf` of `const`s).
fn string_consts(schema: &J) -> Vec<&str> {
    if let Some(e) = schema.get("enum").and_then(J::as_array) {
        return e.iter().filter_map(J::as_str).collect();
    }
    if let Some(c) = schema.get("const").and_then(J::as_str) {
        return vec![c];
    }
    if let Some(one) = schema.get("oneOf").and_then(J::as_array) {
        let consts: Vec<&str> = one
            .iter()
            .filter_map(|b| {
                b.get("const").and_then(J::as_str).or_else(|| {
                    b.get("enum")
                        .and_then(J::as_array)
                        .filter(|e| e.len() == 1)
                        .and_then(|e| e[0].as_str())
                })
            })
            .collect();
        if consts.len() == one.len() {
            return consts;
        }
    }
    Vec::new()
}

fn unknown_key<'a>(
    key: &Key,
    path: &str,
    header: &str,
    valid: impl Iterator<Item = &'a String> + Clone,
) -> Diagnostic {
    let names: Vec<&str> = valid.map(String::as_str).collect();
    Diagnostic::new(
        Some(key.span),
        join(path, &key.name),
        format!(
            "unknown key `{}` in [{header}]{}",
            key.name,
            did_you_mean(&key.name, names.iter().copied())
        ),
    )
    .with_help(format!("valid keys: {}", list(&names)))
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The JSON Schema of a whole spec file, composed from the parameter types' schemas.
pub fn spec_file_schema() -> J {
    let mut defs = Map::new();
    let mut stage_refs = Map::new();
    let axis = serde_json::json!({
        "type": "object",
        "description": "KEY = [values...]: each key (dotted for nested keys, quoted) becomes an axis",
        "additionalProperties": {"type": "array", "minItems": 1}
    });
    for kind in StageKind::ALL {
        let schema = stage_schema(*kind).as_json().clone();
        let mut object = schema.as_object().cloned().unwrap_or_default();
        if let Some(J::Object(d)) = object.remove("$defs") {
            defs.extend(d);
        }
        object.remove("$schema");
        let name = format!("{}Stage", capitalise(kind.name()));
        // A stage table may give any key as a sweep or zip axis instead of a plain value, so
        // `required` is not enforced by the file schema (drift check enforces it).
        object.remove("required");
        if let Some(J::Object(props)) = object.get_mut("properties") {
            props.insert("sweep".into(), axis.clone());
            props.insert("zip".into(), axis.clone());
            props.insert(
                crate::RESOURCES_KEY.into(),
                serde_json::json!({"$ref": "#/$defs/Resources"}),
            );
        }
        defs.insert(name.clone(), J::Object(object));
        stage_refs.insert(
            kind.name().to_string(),
            serde_json::json!({
                "type": "object",
                "description": format!("[{}.NAME] stage tables", kind.name()),
                "additionalProperties": {"$ref": format!("#/$defs/{name}")}
            }),
        );
    }
    let mut properties = Map::new();
    for (table, name, schema) in [
        (Some("experiment"), "Experiment", experiment_schema()),
        (Some("slurm"), "Slurm", settings_schema::<SlurmParams>()),
        (Some("cache"), "Cache", settings_schema::<CacheParams>()),
        (None, "Resources", settings_schema::<Resources>()),
    ] {
        let mut object = schema.as_json().clone();
        if let Some(o) = object.as_object_mut() {
            o.remove("$schema");
            if let Some(J::Object(d)) = o.remove("$defs") {
                defs.extend(d);
            }
        }
        defs.insert(name.into(), object);
        if let Some(table) = table {
            properties.insert(
                table.into(),
                serde_json::json!({"$ref": format!("#/$defs/{name}")}),
            );
        }
    }
    properties.extend(stage_refs);
    properties.insert(
        crate::extends::EXTENDS_KEY.into(),
        serde_json::json!({
            "type": "string",
            "description": "A base spec this file extends, relative to this file: its tables are \
                merged key by key, this file's keys winning (see the README, \"Composing specs\")."
        }),
    );
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://drift.invalid/schemas/drift-spec.schema.json",
        "title": "drift experiment spec",
        "description": "Generated from drift-spec's Rust types by `drift schema`; do not edit.",
        "type": "object",
        "anyOf": [{"required": ["experiment"]}, {"required": [crate::extends::EXTENDS_KEY]}],
        "additionalProperties": false,
        "properties": J::Object(properties),
        "$defs": J::Object(defs),
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
