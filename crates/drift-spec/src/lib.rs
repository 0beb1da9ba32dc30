//! drift's experiment spec: a TOML file parsed with spans into stage definitions, checked against
//! schemas generated from the typed parameters, with every problem reported at once.
//!
//! Pipeline: text -> [`node`] (spanned tree) -> [`Spec`] (stages with base tables and sweep axes,
//! references checked) -> per instance [`resolve::resolve_params`] (typed, defaults filled).
//! Expansion into instances belongs to `drift-plan`; this crate does no IO besides reading the file.

pub mod diagnostic;
pub mod extends;
pub mod generators;
pub mod node;
pub mod params;
pub mod resolve;
pub mod schema;
pub mod source;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use node::{Key, Node, NodeValue};
pub use resolve::{ParamError, StageParams, resolve_params};
pub use source::{Location, SourceId, Sources, Span};

use params::{CacheParams, ExperimentParams, Resources, SlurmParams};
use schema::{ParamSchema, experiment_schema, join, settings_schema, stage_schema};
use std::path::Path;

/// The five stage kinds, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageKind {
    Data = 0,
    Train = 1,
    Sample = 2,
    Eval = 3,
    Report = 4,
}

impl StageKind {
    pub const ALL: &'static [StageKind] = &[
        StageKind::Data,
        StageKind::Train,
        StageKind::Sample,
        StageKind::Eval,
        StageKind::Report,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageKind::Data => "data",
            StageKind::Train => "train",
            StageKind::Sample => "sample",
            StageKind::Eval => "eval",
            StageKind::Report => "report",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The keys of this kind that reference other stages, and the kind they must point to.
    /// `many` keys take a list and allow `*` globs.
    pub fn reference_keys(self) -> &'static [ReferenceKey] {
        const fn key(
            key: &'static str,
            target: StageKind,
            many: bool,
            literals: &'static [&'static str],
        ) -> ReferenceKey {
            ReferenceKey {
                key,
                target,
                many,
                literals,
            }
        }
        // A train stage's first input is its data (or, for reflow, its pairs): evaluations
        // follow first inputs up to the data whose test split they use.
        const TRAIN: &[ReferenceKey] = &[
            key("data", StageKind::Data, false, &[]),
            key("pairs", StageKind::Sample, false, &[]),
            key("source", StageKind::Data, false, &["gaussian"]),
            key("init", StageKind::Train, false, &[]),
        ];
        const SAMPLE: &[ReferenceKey] = &[key("model", StageKind::Train, false, &[])];
        const EVAL: &[ReferenceKey] = &[
            key("samples", StageKind::Sample, false, &[]),
            key("classifier", StageKind::Train, false, &[]),
        ];
        const REPORT: &[ReferenceKey] = &[key("from", StageKind::Eval, true, &[])];
        match self {
            StageKind::Data => &[],
            StageKind::Train => TRAIN,
            StageKind::Sample => SAMPLE,
            StageKind::Eval => EVAL,
            StageKind::Report => REPORT,
        }
    }
}

/// A parameter key whose values name other stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceKey {
    pub key: &'static str,
    pub target: StageKind,
    pub many: bool,
    /// Plain values the key also accepts that are not references (`source = "gaussian"`).
    pub literals: &'static [&'static str],
}

impl ReferenceKey {
    /// Whether `text` is one of the key's non-reference values.
    pub fn is_literal(&self, text: &str) -> bool {
        self.literals.contains(&text)
    }
}

/// A parsed reference: `KIND.NAME` or `KIND.NAME[axis=value,...]`; NAME may hold `*` globs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StageRef {
    pub kind: StageKind,
    pub name: String,
    pub filters: Vec<(String, String)>,
}

impl StageRef {
    pub fn parse(text: &str) -> Result<StageRef, String> {
        let text = text.trim();
        let (head, filters) = match text.split_once('[') {
            Some((head, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("reference `{text}` has an unclosed `[`"))?;
                let mut filters = Vec::new();
                for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (k, v) = part.split_once('=').ok_or_else(|| {
                        format!("filter `{part}` in `{text}` must look like `axis=value`")
                    })?;
                    filters.push((k.trim().to_string(), v.trim().to_string()));
                }
                (head, filters)
            }
            None => (text, Vec::new()),
        };
        let (kind, name) = head
            .split_once('.')
            .ok_or_else(|| format!("reference `{text}` must look like `KIND.NAME`"))?;
        let kind = StageKind::from_name(kind).ok_or_else(|| {
            format!(
                "reference `{text}`: unknown stage kind `{kind}`{}",
                diagnostic::did_you_mean(kind, StageKind::ALL.iter().map(|k| k.name()))
            )
        })?;
        if name.is_empty() {
            return Err(format!("reference `{text}` has no stage name"));
        }
        Ok(StageRef {
            kind,
            name: name.to_string(),
            filters,
        })
    }

    pub fn is_glob(&self) -> bool {
        self.name.contains('*')
    }

    pub fn matches_name(&self, name: &str) -> bool {
        glob_match(&self.name, name)
    }
}

/// `*` matches any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A swept key: `sweep.KEY = [...]` (its own axis) or `zip.KEY = [...]` (advances with the
/// stage's other zip keys).
#[derive(Debug, Clone)]
pub struct Axis {
    pub path: Vec<String>,
    pub values: Vec<Node>,
    pub key_span: Span,
    pub zip: bool,
}

impl Axis {
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

/// One `[KIND.NAME]` table: plain values plus axes.
#[derive(Debug, Clone)]
pub struct StageDef {
    pub kind: StageKind,
    pub name: String,
    /// Span of the stage's name in the header.
    pub span: Span,
    /// Plain parameters (without `sweep`/`zip`/`resources`).
    pub base: Node,
    pub axes: Vec<Axis>,
    /// `resources = { ... }`: what the stage's instances ask a cluster for (outside keys).
    pub resources: Resources,
}

impl StageDef {
    /// `KIND.NAME`
    pub fn label(&self) -> String {
        format!("{}.{}", self.kind.name(), self.name)
    }

    /// The table of one instance: the base with the given axis values substituted.
    pub fn instance_table(&self, choice: &[usize]) -> Node {
        let mut table = self.base.clone();
        for (axis, &i) in self.axes.iter().zip(choice) {
            let _ = table.set_path(&axis.path, axis.values[i].clone(), axis.key_span);
        }
        table
    }

    /// Span of item `index` of the array at a dotted path in an instance table, if there is one.
    pub fn span_at(&self, table: &Node, path: &str, index: usize) -> Option<Span> {
        let mut node = table;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            node = node.get(seg)?;
        }
        match &node.value {
            NodeValue::Array(items) => items.get(index).map(|n| n.span),
            _ => None,
        }
    }

    /// Span of the value at a dotted path in an instance table, for error messages.
    pub fn span_of(&self, table: &Node, path: &str) -> Span {
        let mut node = table;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            match node.get(seg) {
                Some(n) => node = n,
                None => break,
            }
        }
        node.span
    }
}

/// A checked spec: the experiment settings and its stages, in file order.
#[derive(Debug, Clone)]
pub struct Spec {
    pub sources: Sources,
    pub experiment: ExperimentParams,
    /// `[slurm]` (defaults when absent): execution settings, outside every key.
    pub slurm: SlurmParams,
    /// `[cache]` (defaults when absent): execution settings, outside every key.
    pub cache: CacheParams,
    pub stages: Vec<StageDef>,
}

impl Spec {
    pub fn stage(&self, kind: StageKind, name: &str) -> Option<&StageDef> {
        self.stages
            .iter()
            .find(|s| s.kind == kind && s.name == name)
    }

    /// The cluster resources of a stage: its `resources` over the `[slurm]` defaults.
    pub fn resources(&self, kind: StageKind, name: &str) -> Resources {
        match self.stage(kind, name) {
            Some(def) => def.resources.or(&self.slurm.resources),
            None => self.slurm.resources.clone(),
        }
    }
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", .diagnostics.render(.sources))]
    Invalid {
        sources: Box<Sources>,
        diagnostics: Diagnostics,
    },
}

/// Reads and checks a spec file; `overrides` are `KIND.NAME.key=value` strings (`--set`).
pub fn load(path: &Path, overrides: &[String]) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(Sources::new(path, text), overrides)
}

/// Checks a spec given as text (the file name is only used in messages).
pub fn parse(mut sources: Sources, overrides: &[String]) -> Result<Spec, SpecError> {
    let mut diags = Vec::new();
    let root = match node::parse_document(sources.text(SourceId(0)), SourceId(0)) {
        Ok(root) => Some(root),
        Err(d) => {
            diags.push(d);
            None
        }
    };
    let mut spec = None;
    if let Some(root) = root {
        let mut root = extends::apply(root, &mut sources, &mut diags);
        apply_overrides(&mut root, &mut sources, overrides, &mut diags);
        spec = check(&root, &mut diags);
    }
    match spec {
        Some(checked) if diags.is_empty() => Ok(Spec {
            sources,
            experiment: checked.experiment,
            slurm: checked.slurm,
            cache: checked.cache,
            stages: checked.stages,
        }),
        _ => Err(SpecError::Invalid {
            sources: Box::new(sources),
            diagnostics: Diagnostics { items: diags },
        }),
    }
}

fn apply_overrides(
    root: &mut Node,
    sources: &mut Sources,
    overrides: &[String],
    diags: &mut Vec<Diagnostic>,
) {
    for text in overrides {
        let id = sources.add("--set".into(), text.clone());
        let whole = Span::new(id, 0..text.len());
        let Some((key, value)) = text.split_once('=') else {
            diags.push(
                Diagnostic::new(Some(whole), "", format!("`--set {text}` has no `=`"))
                    .with_help("write `--set KIND.NAME.key=value`, e.g. `--set train.fm.lr=2e-3`"),
            );
            continue;
        };
        let path = split_key(key.trim());
        if path.is_empty() || path.iter().any(String::is_empty) {
            diags.push(Diagnostic::new(
                Some(whole),
                "",
                format!("`--set {text}`: empty key"),
            ));
            continue;
        }
        let offset = key.len() + 1;
        let mut node = node::parse_value(value.trim(), id);
        shift(&mut node, offset + (value.len() - value.trim_start().len()));
        let key_span = Span::new(id, 0..key.len());
        // An override replaces the key's other form: a plain value replaces a sweep
        // (`--set sample.fm.nfe=5`), a sweep replaces a plain value (`--set 'train.fm.sweep.lr=[..]'`).
        if path.len() >= 3 && path[2] != "sweep" && path[2] != "zip" {
            remove_axis(root, &path[..2], &path[2..]);
        } else if path.len() >= 4 {
            if let Some(stage) = stage_table(root, &path[..2]) {
                remove_path(stage, &path[3..]);
            }
            remove_axis(root, &path[..2], &path[3..]);
        }
        if let Err(e) = root.set_path(&path, node, key_span) {
            diags.push(Diagnostic::new(
                Some(key_span),
                key,
                format!("`--set {text}`: {e}"),
            ));
        }
    }
}

/// Removes `sweep.KEY` / `zip.KEY` (quoted-dotted or nested forms) from the stage at `stage`.
fn remove_axis(root: &mut Node, stage: &[String], key: &[String]) {
    let Some(node) = stage_table(root, stage) else {
        return;
    };
    let NodeValue::Table(entries) = &mut node.value else {
        return;
    };
    for (k, axes) in entries.iter_mut() {
        if k.name == "sweep" || k.name == "zip" {
            remove_path(axes, key);
        }
    }
}

/// The table at `path` (e.g. `["train", "fm"]`), if there is one.
fn stage_table<'a>(root: &'a mut Node, path: &[String]) -> Option<&'a mut Node> {
    let mut node = root;
    for seg in path {
        let NodeValue::Table(entries) = &mut node.value else {
            return None;
        };
        node = entries
            .iter_mut()
            .find(|(k, _)| &k.name == seg)
            .map(|(_, v)| v)?;
    }
    Some(node)
}

/// Removes the entry at `path` from a table whose keys may be quoted-dotted or nested.
fn remove_path(table: &mut Node, path: &[String]) {
    let NodeValue::Table(entries) = &mut table.value else {
        return;
    };
    entries.retain(|(k, _)| split_key(&k.name) != path);
    if let [first, rest @ ..] = path
        && !rest.is_empty()
        && let Some((_, nested)) = entries.iter_mut().find(|(k, _)| &k.name == first)
    {
        remove_path(nested, rest);
    }
}

fn shift(node: &mut Node, by: usize) {
    node.span.start += by;
    node.span.end += by;
    match &mut node.value {
        NodeValue::Array(items) => items.iter_mut().for_each(|n| shift(n, by)),
        NodeValue::Table(entries) => entries.iter_mut().for_each(|(k, n)| {
            k.span.start += by;
            k.span.end += by;
            shift(n, by)
        }),
        _ => {}
    }
}

/// Splits `a.b."c.d"` into segments, honouring double quotes.
pub fn split_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

struct Checked {
    experiment: ExperimentParams,
    slurm: SlurmParams,
    cache: CacheParams,
    stages: Vec<StageDef>,
}

/// Top-level tables of execution settings (besides `[experiment]` and the stage kinds).
const SETTINGS_TABLES: [&str; 2] = ["slurm", "cache"];

fn check(root: &Node, diags: &mut Vec<Diagnostic>) -> Option<Checked> {
    let entries = root.as_table()?;
    let top_keys: Vec<&str> = ["experiment", extends::EXTENDS_KEY]
        .into_iter()
        .chain(SETTINGS_TABLES)
        .chain(StageKind::ALL.iter().map(|k| k.name()))
        .collect();
    let mut experiment = None;
    let mut slurm = Some(SlurmParams::default());
    let mut cache = Some(CacheParams::default());
    let mut stages = Vec::new();
    for (key, value) in entries {
        match key.name.as_str() {
            "experiment" => {
                experiment = check_experiment(value, diags);
                continue;
            }
            "slurm" => {
                slurm = check_settings(value, "slurm", settings_schema::<SlurmParams>(), diags);
                continue;
            }
            "cache" => {
                cache = check_settings(value, "cache", settings_schema::<CacheParams>(), diags);
                continue;
            }
            _ => {}
        }
        let Some(kind) = StageKind::from_name(&key.name) else {
            let is_table = value.as_table().is_some();
            let (what, shown) = if is_table {
                ("table", format!("[{}]", key.name))
            } else {
                ("top-level key", key.name.clone())
            };
            let help = if !is_table && experiment_schema().is_key(&key.name) {
                format!("`{}` is a key of [experiment]", key.name)
            } else {
                let tables: Vec<&str> = top_keys
                    .iter()
                    .copied()
                    .filter(|k| *k != extends::EXTENDS_KEY)
                    .collect();
                format!("top-level tables are {}", diagnostic::list(&tables))
            };
            diags.push(
                Diagnostic::new(
                    Some(key.span),
                    key.name.clone(),
                    format!(
                        "unknown {what} `{shown}`{}",
                        diagnostic::did_you_mean(&key.name, top_keys.iter().copied())
                    ),
                )
                .with_help(help),
            );
            continue;
        };
        let Some(named) = value.as_table() else {
            diags.push(expected_table(&key.name, value, "[KIND.NAME] stage tables"));
            continue;
        };
        for (name, table) in named {
            if table.as_table().is_none() {
                diags.push(expected_table(
                    &format!("{}.{}", key.name, name.name),
                    table,
                    "a stage table",
                ));
                continue;
            }
            if let Some(def) = check_stage(kind, name, table, diags) {
                stages.push(def);
            }
        }
    }
    // A base that could not be read is reported at `extends`; its missing tables are not news.
    let base_failed = diags.iter().any(|d| d.key == extends::EXTENDS_KEY);
    if experiment.is_none() && !base_failed && !entries.iter().any(|(k, _)| k.name == "experiment")
    {
        diags.push(
            Diagnostic::new(
                Some(Span::new(SourceId(0), 0..0)),
                "experiment",
                "missing table `[experiment]`",
            )
            .with_help("add `[experiment]` with at least `name = \"...\"`"),
        );
    }
    check_references(&stages, diags);
    Some(Checked {
        experiment: experiment?,
        slurm: slurm?,
        cache: cache?,
        stages,
    })
}

/// Checks a table of execution settings against its schema (unknown keys with the nearest
/// valid one, types), then reads it.
fn check_settings<T: params::Settings>(
    value: &Node,
    path: &str,
    schema: &ParamSchema,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    if value.as_table().is_none() {
        diags.push(expected_table(path, value, "a table"));
        return None;
    }
    let before = diags.len();
    schema.check_table(value, path, path, diags);
    if diags.len() > before {
        return None;
    }
    match serde_path_to_error::deserialize::<_, T>(&value.to_json()) {
        Ok(p) => match p.check() {
            Ok(()) => Some(p),
            Err((key, message)) => {
                let span = value.get(&key).map_or(value.span, |n| n.span);
                diags.push(Diagnostic::new(Some(span), join(path, &key), message));
                None
            }
        },
        Err(e) => {
            let inner = e.path().to_string();
            let span = value.get(&inner).map_or(value.span, |n| n.span);
            diags.push(Diagnostic::new(
                Some(span),
                join(path, &inner),
                keyed_message(&inner, &e.into_inner().to_string()),
            ));
            None
        }
    }
}

fn expected_table(key: &str, value: &Node, what: &str) -> Diagnostic {
    Diagnostic::new(
        Some(value.span),
        key,
        format!("`{key}` must be {what}, found {}", value.type_name()),
    )
}

fn check_experiment(value: &Node, diags: &mut Vec<Diagnostic>) -> Option<ExperimentParams> {
    if value.as_table().is_none() {
        diags.push(expected_table("experiment", value, "a table"));
        return None;
    }
    let before = diags.len();
    experiment_schema().check_table(value, "experiment", "experiment", diags);
    if diags.len() > before {
        return None;
    }
    match serde_path_to_error::deserialize::<_, ExperimentParams>(&value.to_json()) {
        Ok(p) => {
            if let Err(e) = p.device.parse::<DeviceName>() {
                diags.push(
                    Diagnostic::new(
                        Some(value.get("device").map_or(value.span, |n| n.span)),
                        "experiment.device",
                        e,
                    )
                    .with_help("one of `cpu`, `cuda`, `cuda:N`, `auto`"),
                );
                return None;
            }
            Some(p)
        }
        Err(e) => {
            let path = e.path().to_string();
            let span = value.get(&path).map_or(value.span, |n| n.span);
            diags.push(Diagnostic::new(
                Some(span),
                join("experiment", &path),
                keyed_message(&path, &e.into_inner().to_string()),
            ));
            None
        }
    }
}

/// A device name as written in a spec or on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    Cuda(usize),
    Auto,
}

impl std::str::FromStr for DeviceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceName::Cpu),
            "cuda" => Ok(DeviceName::Cuda(0)),
            "auto" => Ok(DeviceName::Auto),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceName::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`")),
        }
    }
}

/// The key of a stage table that holds its cluster resources (not a parameter: outside keys).
pub const RESOURCES_KEY: &str = "resources";

fn check_stage(
    kind: StageKind,
    name: &Key,
    table: &Node,
    diags: &mut Vec<Diagnostic>,
) -> Option<StageDef> {
    let label = format!("{}.{}", kind.name(), name.name);
    let before = diags.len();
    let mut base_entries = Vec::new();
    let mut axes: Vec<Axis> = Vec::new();
    let mut resources = Resources::default();
    for (key, value) in table.as_table()? {
        match key.name.as_str() {
            RESOURCES_KEY => {
                let path = format!("{label}.{RESOURCES_KEY}");
                if let Some(r) = check_settings(value, &path, settings_schema::<Resources>(), diags)
                {
                    resources = r;
                }
            }
            "sweep" | "zip" => {
                let zip = key.name == "zip";
                if value.as_table().is_none() {
                    diags.push(expected_table(
                        &format!("{label}.{}", key.name),
                        value,
                        "a table of `KEY = [values...]`",
                    ));
                    continue;
                }
                collect_axes(value, &[], zip, &label, &mut axes, diags);
            }
            _ => base_entries.push((key.clone(), value.clone())),
        }
    }
    let base = Node {
        value: NodeValue::Table(base_entries),
        span: table.span,
    };
    // A key given both plainly and as an axis, or swept twice.
    for (i, axis) in axes.iter().enumerate() {
        let dotted = axis.name();
        if axes[..i].iter().any(|a| a.name() == dotted) {
            diags.push(
                Diagnostic::new(
                    Some(axis.key_span),
                    join(&label, &dotted),
                    format!("`{dotted}` is swept twice in [{label}]"),
                )
                .with_help("keep one `sweep.*` or `zip.*` list per key"),
            );
        }
        let mut node = Some(&base);
        for seg in &axis.path {
            node = node.and_then(|n| n.get(seg));
        }
        if let Some(plain) = node {
            diags.push(
                Diagnostic::new(
                    Some(plain.span),
                    join(&label, &dotted),
                    format!("`{dotted}` is given both plainly and as a sweep in [{label}]"),
                )
                .with_help(format!(
                    "remove `{dotted} = ...` or the `sweep.{dotted}` / `zip.{dotted}` list"
                )),
            );
        }
    }
    let zips: Vec<&Axis> = axes.iter().filter(|a| a.zip).collect();
    if let Some(first) = zips.first() {
        for z in zips
            .iter()
            .skip(1)
            .filter(|z| z.values.len() != first.values.len())
        {
            diags.push(
                Diagnostic::new(
                    Some(z.key_span),
                    format!("{label}.zip.{}", z.name()),
                    format!(
                        "zip lists in [{label}] must have equal lengths: `zip.{}` has {} values, `zip.{}` has {}",
                        z.name(),
                        z.values.len(),
                        first.name(),
                        first.values.len()
                    ),
                )
                .with_help("give every `zip.*` list the same number of values, or use `sweep.*` for an independent axis"),
            );
        }
    }
    if diags.len() > before {
        return Some(StageDef {
            kind,
            name: name.name.clone(),
            span: name.span,
            base,
            axes: Vec::new(),
            resources,
        });
    }
    let def = StageDef {
        kind,
        name: name.name.clone(),
        span: name.span,
        base,
        axes,
        resources,
    };
    // Keys and enum values, on the table with every axis at its first value.
    let schema = stage_schema(kind);
    let first = def.instance_table(&vec![0; def.axes.len()]);
    let mut key_diags = Vec::new();
    schema.check_table(&first, &label, &label, &mut key_diags);
    // Unknown keys do not stop type checks (serde ignores them); a bad discriminator or enum
    // value would only be reported twice.
    // A problem with a swept key is reported under the key the user wrote (`sweep.KEY`).
    for d in &mut key_diags {
        if let Some(axis) = def.axes.iter().find(|a| d.span == Some(a.key_span)) {
            let kind = if axis.zip { "zip" } else { "sweep" };
            d.key = format!("{label}.{kind}.{}", axis.name());
        }
    }
    let only_unknown_keys = key_diags
        .iter()
        .all(|d| d.message.starts_with("unknown key"));
    diags.extend(key_diags);
    if !only_unknown_keys {
        return Some(def);
    }
    // Types and rules, once per axis value (the others at their first value).
    let mut seen = std::collections::HashSet::new();
    let mut check_choice = |choice: &[usize], diags: &mut Vec<Diagnostic>| {
        let table = def.instance_table(choice);
        let json = table.to_json();
        if let Err(errors) = resolve_params(kind, &json) {
            // Missing keys are the schema walker's to report (it knows about typos).
            for e in errors
                .into_iter()
                .filter(|e| !e.message.starts_with("missing field"))
            {
                let span = def.span_of(&table, &e.path);
                let key = join(&label, &e.path);
                if seen.insert((key.clone(), e.message.clone())) {
                    let message = keyed_message(&e.path, &e.message);
                    let mut d = Diagnostic::new(Some(span), key, message);
                    if let Some(h) = e.help {
                        d = d.with_help(h);
                    }
                    diags.push(d);
                }
            }
        }
    };
    let zero = vec![0; def.axes.len()];
    check_choice(&zero, diags);
    for (a, axis) in def.axes.iter().enumerate() {
        for v in 1..axis.values.len() {
            let mut choice = zero.clone();
            choice[a] = v;
            if axis.zip {
                for (b, other) in def.axes.iter().enumerate() {
                    if other.zip {
                        choice[b] = v;
                    }
                }
            }
            check_choice(&choice, diags);
        }
    }
    Some(def)
}

/// A serde message about the value at `path`, with the key named and TOML wording.
fn keyed_message(path: &str, message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && !path.is_empty()
        {
            let what = prefix.trim_end_matches([':', ' ']);
            return format!("{what} for `{path}`: {}", type_message(rest));
        }
    }
    type_message(message)
}

/// serde's messages with the Rust-specific words replaced by TOML ones.
fn type_message(message: &str) -> String {
    message
        .replace("u64", "a non-negative integer")
        .replace("f64", "a number")
        .replace("a sequence", "an array")
        .replace("map,", "table,")
        .replace("expected a map", "expected a table")
        .replace("floating point", "float")
}

fn collect_axes(
    table: &Node,
    prefix: &[String],
    zip: bool,
    label: &str,
    axes: &mut Vec<Axis>,
    diags: &mut Vec<Diagnostic>,
) {
    let kind = if zip { "zip" } else { "sweep" };
    for (key, value) in table.as_table().unwrap_or_default() {
        let mut path = prefix.to_vec();
        path.extend(split_key(&key.name));
        match &value.value {
            NodeValue::Array(items) if !items.is_empty() => axes.push(Axis {
                path,
                values: items.clone(),
                key_span: key.span,
                zip,
            }),
            NodeValue::Array(_) => diags.push(
                Diagnostic::new(
                    Some(value.span),
                    format!("{label}.{kind}.{}", path.join(".")),
                    format!("`{kind}.{}` is an empty list", path.join(".")),
                )
                .with_help("list at least one value"),
            ),
            NodeValue::Table(_) => collect_axes(value, &path, zip, label, axes, diags),
            _ => diags.push(
                Diagnostic::new(
                    Some(value.span),
                    format!("{label}.{kind}.{}", path.join(".")),
                    format!(
                        "`{kind}.{}` must be a list of values, found {}",
                        path.join("."),
                        value.type_name()
                    ),
                )
                .with_help(format!("write `{kind}.{} = [a, b, ...]`", path.join("."))),
            ),
        }
    }
}

/// Every reference points at an existing stage of the right kind, and filters name real axes.
fn check_references(stages: &[StageDef], diags: &mut Vec<Diagnostic>) {
    for def in stages {
        for rk in def.kind.reference_keys() {
            for (node, text) in reference_values(def, rk.key) {
                let refs = match (&node.value, rk.many) {
                    (NodeValue::Array(items), true) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(|s| (i, s.to_string())))
                        .collect(),
                    _ => vec![(node, text)],
                };
                for (node, text) in refs {
                    check_reference(stages, def, rk, node, &text, diags);
                }
            }
        }
    }
}

/// The values a reference key takes: the plain value or each swept value.
fn reference_values<'a>(def: &'a StageDef, key: &str) -> Vec<(&'a Node, String)> {
    let mut out = Vec::new();
    if let Some(n) = def.base.get(key) {
        out.push((n, n.as_str().unwrap_or_default().to_string()));
    }
    for axis in &def.axes {
        if axis.path.len() == 1 && axis.path[0] == key {
            for v in &axis.values {
                out.push((v, v.as_str().unwrap_or_default().to_string()));
            }
        }
    }
    out
}

fn check_reference(
    stages: &[StageDef],
    def: &StageDef,
    rk: &ReferenceKey,
    node: &Node,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if rk.is_literal(text) {
        return;
    }
    let key = format!("{}.{}", def.label(), rk.key);
    let targets: Vec<String> = stages
        .iter()
        .filter(|s| s.kind == rk.target)
        .map(StageDef::label)
        .collect();
    let help = if targets.is_empty() {
        format!(
            "the spec has no {} stage; add a [{}.NAME] table",
            rk.target.name(),
            rk.target.name()
        )
    } else {
        format!(
            "{} stages: {}",
            rk.target.name(),
            diagnostic::list(&targets)
        )
    };
    let r = match StageRef::parse(text) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::new(Some(node.span), key, e).with_help(help));
            return;
        }
    };
    if r.kind != rk.target {
        diags.push(
            Diagnostic::new(
                Some(node.span),
                key,
                format!(
                    "`{}` in [{}] must reference a {} stage, not `{text}`",
                    rk.key,
                    def.label(),
                    rk.target.name()
                ),
            )
            .with_help(help),
        );
        return;
    }
    if r.is_glob() && !rk.many {
        diags.push(
            Diagnostic::new(
                Some(node.span),
                key,
                format!(
                    "`{}` takes one stage; globs are allowed only in lists like `report.from`",
                    rk.key
                ),
            )
            .with_help(help),
        );
        return;
    }
    let matched: Vec<&StageDef> = stages
        .iter()
        .filter(|s| s.kind == r.kind && r.matches_name(&s.name))
        .collect();
    if matched.is_empty() {
        let names = targets.iter().map(String::as_str);
        let full = format!("{}.{}", r.kind.name(), r.name);
        diags.push(
            Diagnostic::new(
                Some(node.span),
                key,
                format!(
                    "`{text}` references no stage{}",
                    diagnostic::did_you_mean(&full, names)
                ),
            )
            .with_help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_filters_and_globs() {
        let r = StageRef::parse("train.fm[seed=0, data=moons]").unwrap();
        assert_eq!(r.kind, StageKind::Train);
        assert_eq!(r.name, "fm");
        assert_eq!(
            r.filters,
            vec![("seed".into(), "0".into()), ("data".into(), "moons".into())]
        );
        assert!(StageRef::parse("eval.*").unwrap().is_glob());
        assert!(StageRef::parse("moons").unwrap_err().contains("KIND.NAME"));
        assert!(
            StageRef::parse("trian.fm")
                .unwrap_err()
                .contains("did you mean `train`")
        );
        assert!(
            StageRef::parse("train.fm[seed=0")
                .unwrap_err()
                .contains("unclosed")
        );
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("fm*", "fm_large"));
        assert!(glob_match("*_large", "fm_large"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("fm", "fm2"));
        assert!(!glob_match("a*c", "abd"));
    }

    #[test]
    fn keys_split_on_unquoted_dots() {
        assert_eq!(split_key("train.fm.lr"), vec!["train", "fm", "lr"]);
        assert_eq!(
            split_key("train.fm.sweep.\"model.hidden\""),
            vec!["train", "fm", "sweep", "model.hidden"]
        );
    }

    #[test]
    fn device_names() {
        assert_eq!("cuda:1".parse::<DeviceName>(), Ok(DeviceName::Cuda(1)));
        assert_eq!("cuda".parse::<DeviceName>(), Ok(DeviceName::Cuda(0)));
        assert!("gpu".parse::<DeviceName>().is_err());
    }

    #[test]
    fn overrides_set_nested_values_and_replace_sweeps() {
        let text = "[experiment]\nname = \"x\"\n[data.d]\ngenerator = \"two_moons\"\nn_train = 4\nn_test = 4\nsweep.seed = [0, 1]\n";
        let sources = Sources::new(Path::new("x.toml"), text.into());
        let spec = parse(
            sources.clone(),
            &["data.d.seed=5".into(), "data.d.noise=0.2".into()],
        )
        .unwrap();
        let d = &spec.stages[0];
        assert!(d.axes.is_empty(), "a plain override replaces the sweep");
        assert_eq!(d.base.get("seed").unwrap().value, NodeValue::Int(5));
        assert_eq!(d.base.get("noise").unwrap().value, NodeValue::Float(0.2));
        let err = parse(sources, &["data.d.n_train.x=1".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`n_train` is an integer, not a table"),
            "{err}"
        );
    }
}
