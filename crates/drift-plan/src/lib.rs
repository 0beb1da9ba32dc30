//! drift's planner: a checked [`Spec`] becomes a petgraph DAG of stage instances (sweeps expanded,
//! references fanned out and paired, identical instances merged), plus the pure key computation.
//! No IO, no execution: keys need the inputs' output digests, which the executor supplies.

pub mod key;

use drift_spec::{
    Diagnostic, Diagnostics, Node, Sources, Spec, StageDef, StageKind, StageParams, StageRef,
    resolve_params,
};
use key::{KeyComponents, KeyInput, OutputDigest};
use petgraph::graph::DiGraph;
pub use petgraph::graph::NodeIndex;
use serde_json::Value as J;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Implementation version of each stage kind: bump when the kind's results change, so that
/// every cached entry of that kind becomes stale with reason `implementation changed`.
pub fn implementation_version(kind: StageKind) -> u32 {
    match kind {
        // 2: numeric Parquet tables are written uncompressed (other bytes, same values).
        StageKind::Data => 2,
        // 2: the fast CPU path sums gradients over fixed 128-row chunks (other bits than 1).
        // 3: loss.parquet uncompressed.
        StageKind::Train => 3,
        // 2: on the CPU the network's forward pass runs the fast host path (other bits).
        // 3: samples.parquet uncompressed.
        StageKind::Sample => 3,
        // 2: mmd on a table-driven vectorised exp (within 5e-13 of version 1), new metrics.
        // 3: nll / straightness / path_energy evaluate the model through the fast CPU forward.
        StageKind::Eval => 3,
        // 2: table.parquet gains ci95/reproducible and its layout metadata; selection.json;
        // figures. 3: trajectory figures are at least as wide as their title. 4: trajectories
        // evaluate the model through the fast CPU forward.
        StageKind::Report => 4,
    }
}

/// The only dtype stages compute in today.
pub const DTYPE: &str = "f32";

/// One sweep coordinate of an instance: `name=value` in its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coord {
    pub name: String,
    pub value: String,
}

/// An upstream instance feeding this one, under a role (`data`, `model`, `samples`, `test_data`,
/// `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub role: String,
    pub node: NodeIndex,
}

/// One node of the plan: a stage with one choice of every axis and upstream instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `KIND.NAME[axis=value,...]`, upstream axes first.
    pub id: String,
    /// Other ids that reach the same instance (identical instances exist once).
    pub aliases: Vec<String>,
    pub kind: StageKind,
    pub stage: String,
    pub coords: Vec<Coord>,
    pub params: StageParams,
    /// Completed parameters without reference keys: what the key hashes.
    /// Shared by every instance fanned out from one choice of a stage's axes (identical).
    pub semantic: Arc<J>,
    pub inputs: Vec<Input>,
    /// Train/sample instances compute on a device; their key includes its class and dtype.
    pub device: Option<String>,
    /// `semantic` flattened to (dotted name, display value), computed once: the table columns
    /// every descendant's [`columns_of`] reads.
    pub flat_params: Arc<[(String, String)]>,
    /// `semantic` in canonical JSON, computed once (planning hashes it for identity; every
    /// key hashes it again).
    pub semantic_canonical: Arc<str>,
}

impl Instance {
    pub fn coord(&self, name: &str) -> Option<&str> {
        self.coords
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }

    pub fn input(&self, role: &str) -> Option<NodeIndex> {
        self.inputs.iter().find(|i| i.role == role).map(|i| i.node)
    }

    /// The key, given the output digest of every input (in `inputs` order): the same as
    /// `key_components(plan, digests).key()`, without building the components.
    pub fn key(&self, plan: &Plan, digests: &[OutputDigest]) -> key::StageKey {
        let inputs: Vec<(&str, OutputDigest)> = self
            .inputs
            .iter()
            .zip(digests)
            .map(|(i, d)| (i.role.as_str(), *d))
            .collect();
        key::stage_key(&key::KeyParts {
            kind: self.kind.name(),
            version: implementation_version(self.kind),
            params_canonical: &self.semantic_canonical,
            experiment_seed: plan.experiment_seed,
            device: self.device.as_deref(),
            dtype: self.device.as_ref().map(|_| DTYPE),
            inputs: &inputs,
        })
    }

    /// The key components, given the output digest of every input (in `inputs` order).
    pub fn key_components(&self, plan: &Plan, digests: &[OutputDigest]) -> KeyComponents {
        KeyComponents {
            kind: self.kind.name().to_string(),
            version: implementation_version(self.kind),
            params: (*self.semantic).clone(),
            experiment_seed: plan.experiment_seed,
            device: self.device.clone(),
            dtype: self.device.as_ref().map(|_| DTYPE.to_string()),
            inputs: self
                .inputs
                .iter()
                .zip(digests)
                .map(|(i, d)| KeyInput {
                    role: i.role.clone(),
                    id: plan.instances[i.node.index()].id.clone(),
                    digest: *d,
                })
                .collect(),
        }
    }
}

/// The instance DAG of one spec.
#[derive(Debug)]
pub struct Plan {
    pub experiment_name: String,
    pub experiment_seed: u64,
    /// Edges run from an input to the instance that uses it.
    pub graph: DiGraph<(), ()>,
    /// Indexed by `NodeIndex::index()`, in a topological order.
    pub instances: Vec<Instance>,
    by_id: HashMap<String, NodeIndex>,
}

impl Plan {
    pub fn get(&self, ix: NodeIndex) -> &Instance {
        &self.instances[ix.index()]
    }

    /// Looks up an instance by id or alias.
    pub fn find(&self, id: &str) -> Option<NodeIndex> {
        self.by_id.get(id).copied()
    }

    /// Instances selected by an id, or by a stage (`KIND.NAME`, all its instances), or by a
    /// filtered stage reference (`KIND.NAME[axis=value]`).
    pub fn select(&self, selector: &str) -> Vec<NodeIndex> {
        if let Some(ix) = self.find(selector) {
            return vec![ix];
        }
        let Ok(r) = StageRef::parse(selector) else {
            return Vec::new();
        };
        self.instances
            .iter()
            .enumerate()
            .filter(|(_, inst)| {
                inst.kind == r.kind
                    && r.matches_name(&inst.stage)
                    && r.filters
                        .iter()
                        .all(|(k, v)| inst.coord(k) == Some(v.as_str()))
            })
            .map(|(i, _)| NodeIndex::new(i))
            .collect()
    }

    /// Every instance downstream of `ix` (not including it).
    pub fn dependents(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.instances.len()];
        let mut stack = vec![ix];
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            for d in self.graph.neighbors(n) {
                if !seen[d.index()] {
                    seen[d.index()] = true;
                    out.push(d);
                    stack.push(d);
                }
            }
        }
        out
    }

    /// The instances grouped by depth in the DAG: level 0 has no inputs, and every other
    /// instance sits one level below its deepest input. So the instances of one level depend
    /// only on earlier levels (they can be handled in parallel once those are done); each level
    /// lists its instances in plan order.
    pub fn levels(&self) -> Vec<Vec<NodeIndex>> {
        let mut depth = vec![0usize; self.instances.len()];
        let mut levels: Vec<Vec<NodeIndex>> = Vec::new();
        // `instances` is in a topological order: every input's depth is known before its user's.
        for (i, inst) in self.instances.iter().enumerate() {
            let d = inst
                .inputs
                .iter()
                .map(|input| depth[input.node.index()] + 1)
                .max()
                .unwrap_or(0);
            depth[i] = d;
            if levels.len() <= d {
                levels.resize_with(d + 1, Vec::new);
            }
            levels[d].push(NodeIndex::new(i));
        }
        levels
    }

    /// The first data instance upstream of `ix` (following first inputs).
    pub fn data_ancestor(&self, ix: NodeIndex) -> Option<NodeIndex> {
        let mut cur = ix;
        loop {
            let inst = self.get(cur);
            if inst.kind == StageKind::Data {
                return Some(cur);
            }
            cur = inst.inputs.first()?.node;
        }
    }
}

/// Why a spec could not be planned. Rendered like spec diagnostics.
#[derive(Debug, thiserror::Error)]
#[error("{}", .diagnostics.render(.sources))]
pub struct PlanError {
    pub sources: Box<Sources>,
    pub diagnostics: Diagnostics,
}

/// Options that shape a plan but are not part of the spec file.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The resolved device class for train/sample stages (`cpu` or `cuda`).
    pub device_class: String,
    /// Overrides `experiment.max_instances`.
    pub max_instances: Option<u64>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            device_class: "cpu".into(),
            max_instances: None,
        }
    }
}

/// Expands a spec into its instance DAG.
pub fn build(spec: &Spec, options: &PlanOptions) -> Result<Plan, PlanError> {
    let fail = |diagnostics: Vec<Diagnostic>| PlanError {
        sources: Box::new(spec.sources.clone()),
        diagnostics: Diagnostics { items: diagnostics },
    };
    let order = stage_order(spec).map_err(|d| fail(vec![d]))?;
    let limit = options
        .max_instances
        .unwrap_or(spec.experiment.max_instances);
    check_instance_count(spec, &order, limit).map_err(|d| fail(vec![d]))?;

    let mut builder = Builder {
        spec,
        options,
        graph: DiGraph::new(),
        instances: Vec::new(),
        by_identity: HashMap::new(),
        by_id: HashMap::new(),
        of_stage: HashMap::new(),
        diags: Vec::new(),
    };
    for &s in &order {
        builder.expand(&spec.stages[s]);
    }
    if !builder.diags.is_empty() {
        return Err(fail(builder.diags));
    }
    Ok(Plan {
        experiment_name: spec.experiment.name.clone(),
        experiment_seed: spec.experiment.seed,
        graph: builder.graph,
        instances: builder.instances,
        by_id: builder.by_id,
    })
}

/// The stages in dependency order; a reference cycle is an error naming its path.
fn stage_order(spec: &Spec) -> Result<Vec<usize>, Diagnostic> {
    let mut g = DiGraph::<usize, ()>::new();
    let nodes: Vec<NodeIndex> = (0..spec.stages.len()).map(|i| g.add_node(i)).collect();
    for (i, def) in spec.stages.iter().enumerate() {
        for (j, other) in spec.stages.iter().enumerate() {
            if references(def, other) {
                g.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    // Kahn's algorithm, taking the earliest stage in the file among the ready ones, so that
    // instance order (and so status output) follows the spec.
    let mut indegree: Vec<usize> = nodes
        .iter()
        .map(|n| {
            g.neighbors_directed(*n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|i| indegree[*i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for next in g.neighbors(nodes[i]) {
            let j = g[next];
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() == nodes.len() {
        return Ok(order);
    }
    match petgraph::algo::toposort(&g, None) {
        Ok(_) => unreachable!("Kahn's algorithm found a cycle that toposort does not"),
        Err(cycle) => {
            let start = g[cycle.node_id()];
            let mut path = vec![spec.stages[start].label()];
            let mut cur = start;
            // Follow references until we return to the start (bounded by the stage count).
            for _ in 0..spec.stages.len() {
                let next = spec
                    .stages
                    .iter()
                    .position(|o| references(&spec.stages[cur], o))
                    .unwrap_or(start);
                path.push(spec.stages[next].label());
                if next == start {
                    break;
                }
                cur = next;
            }
            Err(Diagnostic::new(
                Some(spec.stages[start].span),
                spec.stages[start].label(),
                format!("reference cycle: {}", path.join(" -> ")),
            ))
        }
    }
}

/// Whether `def` references `other` through any reference key (plain or swept).
fn references(def: &StageDef, other: &StageDef) -> bool {
    reference_texts(def)
        .iter()
        .filter_map(|(_, t)| StageRef::parse(t).ok())
        .any(|r| r.kind == other.kind && r.matches_name(&other.name))
}

fn reference_texts(def: &StageDef) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for rk in def.kind.reference_keys() {
        let mut nodes: Vec<&Node> = def.base.get(rk.key).into_iter().collect();
        for axis in &def.axes {
            if axis.path.len() == 1 && axis.path[0] == rk.key {
                nodes.extend(axis.values.iter());
            }
        }
        for n in nodes {
            match &n.value {
                drift_spec::NodeValue::Array(items) => out.extend(
                    items
                        .iter()
                        .filter_map(Node::as_str)
                        .filter(|s| !rk.is_literal(s))
                        .map(|s| (rk.key, s.to_string())),
                ),
                _ => out.extend(
                    n.as_str()
                        .filter(|s| !rk.is_literal(s))
                        .map(|s| (rk.key, s.to_string())),
                ),
            }
        }
    }
    out
}

/// An upper bound of the instance count, computed before anything is allocated.
fn check_instance_count(spec: &Spec, order: &[usize], limit: u64) -> Result<(), Diagnostic> {
    let mut counts: Vec<u128> = vec![0; spec.stages.len()];
    for &s in order {
        let def = &spec.stages[s];
        if def.kind.reference_keys().iter().any(|r| r.many) {
            counts[s] = 1;
            continue;
        }
        // Each own combination fans out over the instances of the stage it references; a swept
        // reference contributes the sum over its values instead of a product.
        let mut own: u128 = 1;
        let mut upstream: u128 = 1;
        let mut zip_len = None;
        for a in &def.axes {
            let is_ref = def.kind.reference_keys().iter().any(|r| a.path == [r.key]);
            if is_ref {
                let sum: u128 = a
                    .values
                    .iter()
                    .filter_map(Node::as_str)
                    .map(|t| {
                        let literal = def
                            .kind
                            .reference_keys()
                            .iter()
                            .any(|r| a.path == [r.key] && r.is_literal(t));
                        if literal {
                            1
                        } else {
                            upstream_count(spec, &counts, t)
                        }
                    })
                    .fold(0u128, |acc, c| acc.saturating_add(c));
                upstream = upstream.saturating_mul(sum);
            } else if a.zip {
                zip_len = Some(a.values.len() as u128);
            } else {
                own = own.saturating_mul(a.values.len() as u128);
            }
        }
        for rk in def.kind.reference_keys() {
            if let Some(t) = def.base.get(rk.key).and_then(Node::as_str)
                && !rk.is_literal(t)
            {
                upstream = upstream.saturating_mul(upstream_count(spec, &counts, t));
            }
        }
        counts[s] = own
            .saturating_mul(zip_len.unwrap_or(1))
            .saturating_mul(upstream);
    }
    let total = counts.iter().fold(0u128, |a, c| a.saturating_add(*c));
    if total > limit as u128 {
        let (biggest, _) = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .expect("at least one stage");
        let def = &spec.stages[biggest];
        return Err(Diagnostic::new(
            Some(def.span),
            def.label(),
            format!(
                "the spec expands to {total} stage instances, more than the limit of {limit} ([{}] alone has {})",
                def.label(),
                counts[biggest]
            ),
        )
        .with_help("shrink the sweeps, or raise the limit with `experiment.max_instances` or `--max-instances`"));
    }
    Ok(())
}

fn upstream_count(spec: &Spec, counts: &[u128], reference: &str) -> u128 {
    let Ok(r) = StageRef::parse(reference) else {
        return 0;
    };
    spec.stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == r.kind && r.matches_name(&s.name))
        .map(|(i, _)| counts[i])
        .fold(0u128, |a, c| a.saturating_add(c))
}

struct Builder<'a> {
    spec: &'a Spec,
    options: &'a PlanOptions,
    graph: DiGraph<(), ()>,
    instances: Vec<Instance>,
    /// Structural identity (kind, params, inputs) -> node: identical instances exist once.
    by_identity: HashMap<blake3::Hash, NodeIndex>,
    by_id: HashMap<String, NodeIndex>,
    /// Stage label -> its instances in creation order.
    of_stage: HashMap<String, Vec<NodeIndex>>,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// Resolves a user data file against the directory of the spec file that writes its `path`
    /// (the spec or a base it extends), records the resolved path in
    /// `file`, and returns the BLAKE3 digest of its content (hex). The one place planning reads
    /// a file other than the spec: the digest, not the path, goes into the key.
    ///
    /// A spec cannot make drift read outside its project: absolute paths are refused, and the
    /// file (symlinks resolved) must lie under the project root, the nearest directory above
    /// the spec that holds `.git` (else the spec's own directory).
    fn digest_user_file(
        &self,
        file: &mut drift_spec::params::FileParams,
        written_in: drift_spec::SourceId,
    ) -> Result<String, String> {
        let given = std::path::Path::new(&file.path);
        if given.is_absolute() {
            return Err(format!(
                "`{}` is absolute: data files are given relative to the spec file, inside its project",
                file.path
            ));
        }
        let resolved = self.spec.sources.base_dir(written_in).join(given);
        let cannot =
            |e: std::io::Error| format!("cannot read data file {}: {e}", resolved.display());
        let canonical = resolved.canonicalize().map_err(cannot)?;
        let root = self.spec.sources.project_root().map_err(cannot)?;
        if !canonical.starts_with(&root) {
            return Err(format!(
                "`{}` resolves to {}, outside the project root {}",
                file.path,
                canonical.display(),
                root.display()
            ));
        }
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(std::fs::File::open(&canonical).map_err(cannot)?)
            .map_err(cannot)?;
        file.resolved_path = Some(canonical);
        Ok(hasher.finalize().to_hex().to_string())
    }

    fn expand(&mut self, def: &StageDef) {
        let label = def.label();
        for choice in own_choices(def) {
            let table = def.instance_table(&choice);
            let json = table.to_json();
            let mut params = match resolve_params(def.kind, &json) {
                Ok(p) => p,
                Err(errors) => {
                    for e in errors {
                        let span = def.span_of(&table, &e.path);
                        let mut d =
                            Diagnostic::new(Some(span), format!("{label}.{}", e.path), e.message);
                        if let Some(h) = e.help {
                            d = d.with_help(h);
                        }
                        self.diags.push(d);
                    }
                    continue;
                }
            };
            // Own coordinates, sorted by axis name; reference axes show the target's name.
            let mut own: Vec<Coord> = def
                .axes
                .iter()
                .zip(&choice)
                .map(|(axis, &i)| {
                    let value = &axis.values[i];
                    let is_ref = def
                        .kind
                        .reference_keys()
                        .iter()
                        .any(|r| axis.path == [r.key]);
                    let shown = match (is_ref, value.as_str()) {
                        (true, Some(t)) => StageRef::parse(t).map(|r| r.name).unwrap_or_default(),
                        _ => display_json(&value.to_json()),
                    };
                    Coord {
                        name: axis.name(),
                        value: shown,
                    }
                })
                .collect();
            own.sort_by(|a, b| a.name.cmp(&b.name));

            let mut semantic = params.to_json();
            // Execution settings (marked `x-drift-semantic = false` in the schema) stay out of keys.
            if let Some(obj) = semantic.as_object_mut() {
                let schema = drift_spec::schema::stage_schema(def.kind);
                obj.retain(|k, _| schema.is_semantic(k));
            }
            if let StageParams::Data(data) = &mut params
                && let drift_spec::params::GeneratorParams::File(file) = &mut data.generator
            {
                let written_in = def.span_of(&table, "path").source;
                match self.digest_user_file(file, written_in) {
                    Ok(digest) => {
                        if let Some(obj) = semantic.as_object_mut() {
                            obj.insert("content_digest".into(), J::String(digest));
                        }
                    }
                    Err(message) => {
                        let span = def.span_of(&table, "path");
                        self.diags.push(
                            Diagnostic::new(Some(span), format!("{label}.path"), message).with_help(
                                "`path` is relative to the directory of the file that writes it",
                            ),
                        );
                        continue;
                    }
                }
            }
            let mut fan: Vec<(String, Vec<NodeIndex>)> = Vec::new();
            for rk in def.kind.reference_keys() {
                if let Some(obj) = semantic.as_object_mut() {
                    obj.remove(rk.key);
                }
                let texts: Vec<String> = match json.get(rk.key) {
                    Some(J::String(s)) => vec![s.clone()],
                    Some(J::Array(items)) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                };
                let texts: Vec<String> = texts.into_iter().filter(|t| !rk.is_literal(t)).collect();
                // An optional reference that is absent (or a literal like "gaussian") adds no input.
                if texts.is_empty() && !rk.many {
                    continue;
                }
                let mut matched = Vec::new();
                for t in &texts {
                    let Ok(r) = StageRef::parse(t) else { continue };
                    let found = self.resolve_reference(&r);
                    if found.is_empty() {
                        let span = def.span_of(&table, rk.key);
                        self.diags.push(
                            Diagnostic::new(
                                Some(span),
                                format!("{label}.{}", rk.key),
                                format!("`{t}` matches no instance"),
                            )
                            .with_help(self.existing_instances(&r)),
                        );
                    }
                    matched.extend(found);
                }
                fan.push((rk.key.to_string(), matched));
            }
            if def.kind.reference_keys().iter().any(|r| r.many) {
                // A report gathers every matching instance; it never fans out.
                let (role, mut nodes) = fan.pop().unwrap_or_default();
                nodes.sort_by(|a, b| {
                    self.instances[a.index()]
                        .id
                        .cmp(&self.instances[b.index()].id)
                });
                nodes.dedup();
                let mut inputs: Vec<Input> = nodes
                    .into_iter()
                    .map(|node| Input {
                        role: role.clone(),
                        node,
                    })
                    .collect();
                if let StageParams::Report(r) = &params {
                    self.report_labels(def, &table, r, &inputs, &mut semantic);
                    if let Some(plot) = r.plot {
                        let extra = self.plot_inputs(plot, &inputs);
                        inputs.extend(extra);
                    }
                }
                self.add(def, params, Semantic::new(semantic), own, inputs);
                continue;
            }
            let semantic = Semantic::new(semantic);
            for combo in paired_product(&fan, &self.instances) {
                let mut coords: Vec<Coord> = Vec::new();
                let mut inputs = Vec::new();
                for (role, node) in combo {
                    for c in &self.instances[node.index()].coords {
                        if !coords.iter().any(|x| x.name == c.name) {
                            coords.push(c.clone());
                        }
                    }
                    inputs.push(Input { role, node });
                }
                // The eval also reads the test split of the data behind its samples.
                if def.kind == StageKind::Eval
                    && let Some(samples) = inputs.first().map(|i| i.node)
                    && let Some(data) = self.data_ancestor(samples)
                {
                    inputs.push(Input {
                        role: "test_data".into(),
                        node: data,
                    });
                    if let StageParams::Eval(ep) = &params
                        && let Some(metric) = ep.metrics.iter().find(|m| m.reads_the_model())
                    {
                        match self.flow_model(def, &table, samples, metric.name()) {
                            Some(model) => inputs.push(Input {
                                role: "model".into(),
                                node: model,
                            }),
                            None => continue,
                        }
                    }
                }
                if def.kind == StageKind::Train {
                    self.refuse_snapshot_inputs(def, &table, &inputs);
                }
                if def.kind == StageKind::Eval
                    && let Some(c) = inputs.iter().find(|i| i.role == "classifier")
                {
                    let inst = &self.instances[c.node.index()];
                    if let StageParams::Train(t) = &inst.params
                        && !matches!(t.method, drift_spec::params::MethodParams::Classifier(_))
                    {
                        let message = format!(
                            "`classifier` must be a train stage with method = \"classifier\"; {} is trained by `{}`",
                            inst.id,
                            t.method.name()
                        );
                        self.diags.push(Diagnostic::new(
                            Some(def.span_of(&table, "classifier")),
                            format!("{}.classifier", def.label()),
                            message,
                        ));
                    }
                }
                if def.kind == StageKind::Sample
                    && let Some(model) = inputs.first().map(|i| i.node)
                {
                    // A transport model's samples start from its source data's test split.
                    if let Some(src) = self.instances[model.index()].input("source") {
                        inputs.push(Input {
                            role: "source".into(),
                            node: src,
                        });
                    }
                    if let StageParams::Sample(sp) = &params {
                        self.check_sampler_fits(def, &table, sp, model);
                    }
                }
                let mut all = coords;
                for c in &own {
                    let name = if all.iter().any(|x| x.name == c.name) {
                        format!("{label}.{}", c.name)
                    } else {
                        c.name.clone()
                    };
                    all.push(Coord {
                        name,
                        value: c.value.clone(),
                    });
                }
                self.add(def, params.clone(), semantic.clone(), all, inputs);
            }
        }
    }

    /// The solver must fit the method the model was trained with, and reflow pairs need a
    /// deterministic solve of a position-space model: checked here so that `drift check` finds
    /// it before anything is trained.
    /// The model behind an evaluation's samples when `metric` (one that integrates the model's
    /// flow) can be computed for it: a flow whose network is the velocity field from N(0, I).
    /// Otherwise a diagnostic at `metrics`.
    fn flow_model(
        &mut self,
        def: &StageDef,
        table: &Node,
        samples: NodeIndex,
        metric: &str,
    ) -> Option<NodeIndex> {
        use drift_spec::params::MethodParams as M;
        let model = self.instances[samples.index()].input("model")?;
        let inst = &self.instances[model.index()];
        let StageParams::Train(train) = &inst.params else {
            return None;
        };
        let velocity = matches!(
            train.method,
            M::FlowMatching(_)
                | M::FlowMatchingLipman(_)
                | M::OtCfm(_)
                | M::SbCfm(_)
                | M::RectifiedFlow(_)
        );
        // nll also integrates the probability-flow ODEs of VP diffusion and interpolants.
        let ode = velocity
            || matches!(
                train.method,
                M::VpDiffusion(_) | M::StochasticInterpolant(_)
            );
        let fits = if metric == "nll" { ode } else { velocity };
        let problem = if !fits {
            Some(format!(
                "`{metric}` needs {}; model {} is trained by `{}`",
                if metric == "nll" {
                    "a model with a probability-flow ODE"
                } else {
                    "a flow whose network is the velocity field"
                },
                inst.id,
                train.method.name()
            ))
        } else if inst.input("source").is_some() {
            Some(format!(
                "`{metric}` needs the N(0, I) prior; model {} transports from a data source",
                inst.id
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            self.diags.push(
                Diagnostic::new(
                    Some(def.span_of(table, "metrics")),
                    format!("{}.metrics", def.label()),
                    message,
                )
                .with_help(
                    "straightness and path_energy work for flow_matching, flow_matching_lipman, \
                     ot_cfm, sb_cfm and rectified_flow models; nll also for vp_diffusion and \
                     stochastic_interpolant; all from source = \"gaussian\"",
                ),
            );
            return None;
        }
        Some(model)
    }

    /// Time-snapshot data sets are for trajectory inference, which no method implements yet:
    /// a training on them is a spec error at the reference, not a schema error at run time.
    fn refuse_snapshot_inputs(&mut self, def: &StageDef, table: &Node, inputs: &[Input]) {
        for input in inputs {
            let inst = &self.instances[input.node.index()];
            if let StageParams::Data(d) = &inst.params
                && d.generator.is_snapshots()
            {
                let message = format!(
                    "{} holds time snapshots (generator `{}`); no training method reads them yet",
                    inst.id,
                    d.generator.name()
                );
                self.diags.push(
                    Diagnostic::new(
                        Some(def.span_of(table, &input.role)),
                        format!("{}.{}", def.label(), input.role),
                        message,
                    )
                    .with_help("train on a generator that draws points; snapshot data sets are for trajectory-inference methods"),
                );
            }
        }
    }

    fn check_sampler_fits(
        &mut self,
        def: &StageDef,
        table: &Node,
        sample: &drift_spec::params::SampleParams,
        model: NodeIndex,
    ) {
        let StageParams::Train(train) = &self.instances[model.index()].params else {
            return;
        };
        let label = def.label();
        let fits = train.method.solvers();
        let solver = sample.solver.kind();
        let mut found = Vec::new();
        if !fits.contains(&solver) {
            let names: Vec<&str> = fits.iter().map(|s| s.name()).collect();
            let detail = match &train.method {
                drift_spec::params::MethodParams::Agm(a) => {
                    format!(" with de_type = \"{}\"", a.de_type.name())
                }
                _ => String::new(),
            };
            found.push(
                Diagnostic::new(
                    Some(def.span_of(table, "solver")),
                    format!("{label}.solver"),
                    format!(
                        "solver `{}` does not fit method `{}`{detail} (model {})",
                        solver.name(),
                        train.method.name(),
                        self.instances[model.index()].id
                    ),
                )
                .with_help(format!(
                    "solvers for this model: {}",
                    drift_spec::diagnostic::list(&names)
                )),
            );
        }
        if matches!(
            train.method,
            drift_spec::params::MethodParams::StochasticInterpolant(_)
        ) && solver == drift_spec::params::SolverKind::EulerMaruyama
            && sample.nfe == Some(1)
        {
            found.push(
                Diagnostic::new(
                    Some(def.span_of(table, "nfe")),
                    format!("{label}.nfe"),
                    "the interpolant SDE sampler needs nfe >= 2: its last evaluation is the final denoising step",
                )
                .with_help("raise `nfe`"),
            );
        }
        if sample.pairs
            && (train.method.phase_space()
                || !sample.solver.deterministic()
                || !matches!(
                    solver,
                    drift_spec::params::SolverKind::Euler
                        | drift_spec::params::SolverKind::Heun
                        | drift_spec::params::SolverKind::Midpoint
                        | drift_spec::params::SolverKind::Rk4
                        | drift_spec::params::SolverKind::Dopri5
                ))
        {
            found.push(
                Diagnostic::new(
                    Some(def.span_of(table, "pairs")),
                    format!("{label}.pairs"),
                    format!(
                        "reflow pairs need a deterministic ODE solve of a position-space model, not solver `{}` on method `{}`",
                        solver.name(),
                        train.method.name()
                    ),
                )
                .with_help("use euler, heun, midpoint, rk4 or dopri5 on a flow-matching-family model"),
            );
        }
        for d in found {
            if !self
                .diags
                .iter()
                .any(|e| e.key == d.key && e.span == d.span)
            {
                self.diags.push(d);
            }
        }
    }

    /// A report's `rows` and `columns` must name columns of its inputs, and every sweep axis of
    /// its inputs must be shown or (for `mean_std`, the seed axes) aggregated: checked here so
    /// that `drift check` finds it before anything is trained. The labels the report prints
    /// become part of its key (`semantic.labels`): its output carries them.
    fn report_labels(
        &mut self,
        def: &StageDef,
        table: &Node,
        report: &drift_spec::params::ReportParams,
        inputs: &[Input],
        semantic: &mut J,
    ) {
        let label = def.label();
        let shown: Vec<&String> = report.rows.iter().chain(&report.columns).collect();
        let mut labels = Vec::with_capacity(inputs.len());
        let mut available: Vec<String> = vec!["metric".into()];
        let mut axes: Vec<String> = Vec::new();
        for input in inputs {
            let columns = columns_of(&self.instances, input.node);
            labels.push(J::Object(
                shown
                    .iter()
                    .filter_map(|name| {
                        columns
                            .get(*name)
                            .map(|v| ((*name).clone(), J::String(v.clone())))
                    })
                    .collect(),
            ));
            available.extend(columns.into_keys());
            // Loss curves and paths draw models: only the models' axes can be pooled by mistake
            // (an evaluation's NFE does not change the model).
            use drift_spec::params::PlotKind as P;
            let drawn = match report.plot {
                Some(P::Loss | P::Trajectories) => self.instances[input.node.index()]
                    .input("samples")
                    .and_then(|s| self.instances[s.index()].input("model"))
                    .unwrap_or(input.node),
                _ => input.node,
            };
            axes.extend(
                self.instances[drawn.index()]
                    .coords
                    .iter()
                    .map(|c| c.name.clone())
                    // metric_vs_nfe draws NFE along its x axis.
                    .filter(|a| !(report.plot == Some(P::MetricVsNfe) && a == "nfe")),
            );
        }
        if let Some(obj) = semantic.as_object_mut() {
            obj.insert("labels".into(), J::Array(labels));
        }
        available.sort();
        available.dedup();
        axes.sort();
        axes.dedup();
        for (key, names) in [("rows", &report.rows), ("columns", &report.columns)] {
            for (i, name) in names.iter().enumerate() {
                if available.contains(name) {
                    continue;
                }
                let span = table
                    .get(key)
                    .and_then(|n| match &n.value {
                        drift_spec::NodeValue::Array(items) => items.get(i).map(|x| x.span),
                        _ => None,
                    })
                    .unwrap_or_else(|| def.span_of(table, key));
                let hint = drift_spec::diagnostic::did_you_mean(
                    name,
                    available.iter().map(String::as_str),
                );
                self.diags.push(
                    Diagnostic::new(
                        Some(span),
                        format!("{label}.{key}"),
                        format!(
                            "`{name}` is not a column of the instances [{label}] gathers{hint}"
                        ),
                    )
                    .with_help(format!(
                        "columns: {}",
                        drift_spec::diagnostic::list(&available)
                    )),
                );
            }
        }
        let mean_std = report.aggregate == drift_spec::params::Aggregate::MeanStd;
        let aggregated = |axis: &str| {
            mean_std
                && match &report.over {
                    Some(over) => over.iter().any(|o| o == axis),
                    None => axis == "seed" || axis.ends_with(".seed"),
                }
        };
        // Selection chooses a value of its axes and keeps one split: neither is pooled.
        let selected = |axis: &str| {
            report
                .select
                .as_ref()
                .is_some_and(|s| s.over.iter().any(|o| o == axis) || axis == "split")
        };
        let mut named: Vec<(&str, &String, usize)> = Vec::new();
        if let Some(over) = &report.over {
            named.extend(over.iter().enumerate().map(|(i, a)| ("over", a, i)));
        }
        if let Some(select) = &report.select {
            named.extend(
                select
                    .over
                    .iter()
                    .enumerate()
                    .map(|(i, a)| ("select.over", a, i)),
            );
        }
        for (key, axis, i) in named {
            if axes.contains(axis) {
                continue;
            }
            let span = def
                .span_at(table, key, i)
                .unwrap_or_else(|| def.span_of(table, key));
            self.diags.push(
                Diagnostic::new(
                    Some(span),
                    format!("{label}.{key}"),
                    format!(
                        "`{axis}` is not a sweep axis of the instances [{label}] gathers{}",
                        drift_spec::diagnostic::did_you_mean(axis, axes.iter().map(String::as_str))
                    ),
                )
                .with_help(format!("axes: {}", drift_spec::diagnostic::list(&axes))),
            );
        }
        if report.select.is_some() && !axes.iter().any(|a| a == "split") {
            self.diags.push(
                Diagnostic::new(
                    Some(def.span_of(table, "select")),
                    format!("{label}.select"),
                    format!("`select` needs evaluations of both splits, but no instance [{label}] gathers has a `split` axis"),
                )
                .with_help("give the eval stage `sweep.split = [\"val\", \"test\"]` (and its data `n_val`)"),
            );
        }
        for axis in &axes {
            let shown = report.rows.contains(axis) || report.columns.contains(axis);
            if !shown && !aggregated(axis) && !selected(axis) {
                self.diags.push(
                    Diagnostic::new(
                        Some(def.span_of(table, "rows")),
                        format!("{label}.rows"),
                        format!("the sweep axis `{axis}` is neither in `rows`/`columns` nor aggregated, so [{label}] would pool it"),
                    )
                    .with_help(format!(
                        "add \"{axis}\" to `rows` or `columns`{}",
                        if mean_std { format!(" or to `over` (now {})", report.over.as_ref().map_or("the seed axes".to_string(), |o| drift_spec::diagnostic::list(o))) } else { String::new() }
                    )),
                );
            }
        }
    }

    /// The artifacts a figure draws beyond its evaluations' metrics: each evaluation's samples
    /// and data for scatter plots, its model (through the samples) for loss curves and paths.
    /// They are inputs like any other, so the figure's key covers them.
    fn plot_inputs(&self, plot: drift_spec::params::PlotKind, evals: &[Input]) -> Vec<Input> {
        use drift_spec::params::PlotKind as P;
        let roles: &[&str] = match plot {
            P::Samples => &["samples", "test_data"],
            P::Loss => &["model"],
            P::Trajectories => &["model", "test_data"],
            P::MetricVsNfe => &[],
        };
        let mut out: Vec<Input> = Vec::new();
        for eval in evals {
            let inst = &self.instances[eval.node.index()];
            let samples = inst.input("samples");
            for role in roles {
                let node = match *role {
                    "model" => samples.and_then(|s| self.instances[s.index()].input("model")),
                    other => inst.input(other),
                };
                if let Some(node) = node
                    && !out.iter().any(|i| i.node == node && i.role == *role)
                {
                    out.push(Input {
                        role: (*role).to_string(),
                        node,
                    });
                }
            }
        }
        out
    }

    fn data_ancestor(&self, mut cur: NodeIndex) -> Option<NodeIndex> {
        loop {
            let inst = &self.instances[cur.index()];
            if inst.kind == StageKind::Data {
                return Some(cur);
            }
            cur = inst.inputs.first()?.node;
        }
    }

    /// "instances of train.fm: train.fm[seed=0], ..." for a filter that matched nothing.
    fn existing_instances(&self, r: &StageRef) -> String {
        let unfiltered = StageRef {
            filters: Vec::new(),
            ..r.clone()
        };
        let ids: Vec<&str> = self
            .resolve_reference(&unfiltered)
            .into_iter()
            .map(|ix| self.instances[ix.index()].id.as_str())
            .collect();
        const SHOWN: usize = 6;
        let more = ids.len().saturating_sub(SHOWN);
        let mut text = format!(
            "instances of {}.{}: {}",
            r.kind.name(),
            r.name,
            ids.iter()
                .take(SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        text
    }

    fn resolve_reference(&self, r: &StageRef) -> Vec<NodeIndex> {
        let mut out = Vec::new();
        for def in &self.spec.stages {
            if def.kind != r.kind || !r.matches_name(&def.name) {
                continue;
            }
            for &ix in self
                .of_stage
                .get(&def.label())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let inst = &self.instances[ix.index()];
                if r.filters
                    .iter()
                    .all(|(k, v)| inst.coord(k) == Some(v.as_str()))
                {
                    out.push(ix);
                }
            }
        }
        out
    }

    fn add(
        &mut self,
        def: &StageDef,
        params: StageParams,
        semantic: Semantic,
        coords: Vec<Coord>,
        inputs: Vec<Input>,
    ) {
        let id = format_id(def, &coords);
        let device = matches!(def.kind, StageKind::Train | StageKind::Sample)
            .then(|| self.options.device_class.clone());
        let mut h = blake3::Hasher::new();
        h.update(def.kind.name().as_bytes());
        h.update(semantic.canonical.as_bytes());
        for i in &inputs {
            h.update(i.role.as_bytes());
            h.update(&(i.node.index() as u64).to_le_bytes());
        }
        let identity = h.finalize();
        let ix = match self.by_identity.get(&identity) {
            Some(&ix) => {
                if self.instances[ix.index()].id != id {
                    self.instances[ix.index()].aliases.push(id.clone());
                }
                ix
            }
            None => {
                let ix = self.graph.add_node(());
                for i in &inputs {
                    self.graph.add_edge(i.node, ix, ());
                }
                self.instances.push(Instance {
                    id: id.clone(),
                    aliases: Vec::new(),
                    kind: def.kind,
                    stage: def.name.clone(),
                    coords,
                    params,
                    semantic: semantic.json,
                    inputs,
                    device,
                    flat_params: semantic.flat,
                    semantic_canonical: semantic.canonical,
                });
                self.by_identity.insert(identity, ix);
                ix
            }
        };
        self.by_id.insert(id, ix);
        let list = self.of_stage.entry(def.label()).or_default();
        if !list.contains(&ix) {
            list.push(ix);
        }
    }
}

/// An instance's semantic parameters with their canonical JSON and flattened columns, computed
/// once per choice of a stage's axes and shared (cheaply cloned) by every instance fanned out
/// from it.
#[derive(Clone)]
struct Semantic {
    json: Arc<J>,
    canonical: Arc<str>,
    flat: Arc<[(String, String)]>,
}

impl Semantic {
    fn new(json: J) -> Semantic {
        Semantic {
            canonical: key::canonical_json(&json).into(),
            flat: flatten_params(&json).into(),
            json: Arc::new(json),
        }
    }
}

/// Every combination of one instance per reference key where shared coordinates agree.
fn paired_product(
    fan: &[(String, Vec<NodeIndex>)],
    instances: &[Instance],
) -> Vec<Vec<(String, NodeIndex)>> {
    let mut out: Vec<Vec<(String, NodeIndex)>> = vec![Vec::new()];
    for (role, nodes) in fan {
        let mut next = Vec::new();
        for partial in &out {
            for &n in nodes {
                let agrees = partial.iter().all(|(_, p)| {
                    let a = &instances[p.index()].coords;
                    let b = &instances[n.index()].coords;
                    a.iter()
                        .all(|c| b.iter().all(|d| d.name != c.name || d.value == c.value))
                });
                if agrees {
                    let mut combo = partial.clone();
                    combo.push((role.clone(), n));
                    next.push(combo);
                }
            }
        }
        out = next;
    }
    out
}

/// All combinations of a stage's own axes (zip axes advance together), in axis order.
fn own_choices(def: &StageDef) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![vec![0; def.axes.len()]];
    let zip_len = def.axes.iter().find(|a| a.zip).map(|a| a.values.len());
    for (a, axis) in def.axes.iter().enumerate() {
        if axis.zip {
            continue;
        }
        let mut next = Vec::with_capacity(out.len() * axis.values.len());
        for partial in &out {
            for v in 0..axis.values.len() {
                let mut c = partial.clone();
                c[a] = v;
                next.push(c);
            }
        }
        out = next;
    }
    if let Some(len) = zip_len {
        let mut next = Vec::with_capacity(out.len() * len);
        for partial in &out {
            for v in 0..len {
                let mut c = partial.clone();
                for (a, axis) in def.axes.iter().enumerate() {
                    if axis.zip {
                        c[a] = v;
                    }
                }
                next.push(c);
            }
        }
        out = next;
    }
    out
}

fn format_id(def: &StageDef, coords: &[Coord]) -> String {
    if coords.is_empty() {
        return def.label();
    }
    let inner: Vec<String> = coords
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    format!("{}[{}]", def.label(), inner.join(","))
}

/// A JSON value as shown in ids and tables: strings bare, numbers as written by serde_json,
/// arrays compact (`[64,64]`).
pub fn display_json(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => key::canonical_json(other),
    }
}

/// The table columns of an instance: every completed parameter of it and its ancestors by short
/// name (nested keys dotted), qualified as `KIND.NAME.key` where a short name is ambiguous; sweep
/// coordinates keep their short names; reference keys show the referenced stage's name.
pub fn columns_of(instances: &[Instance], ix: NodeIndex) -> BTreeMap<String, String> {
    // (short name, stage label, value) from the instance and each ancestor along first inputs
    // and the model chain; the qualified name `label.short` is built only where short names
    // collide. Borrowed from the instances: this runs once per gathered evaluation.
    let mut entries: Vec<(&str, usize, &str)> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut stack = vec![ix];
    let mut seen = Vec::new();
    while let Some(n) = stack.pop() {
        if seen.contains(&n) {
            continue;
        }
        seen.push(n);
        let inst = &instances[n.index()];
        let label = format!("{}.{}", inst.kind.name(), inst.stage);
        let label_dot = format!("{label}.");
        let at = labels.len();
        labels.push(label);
        // Swept parameters are represented by their coordinate only.
        let inherited: Vec<&str> = inst
            .inputs
            .iter()
            .flat_map(|i| {
                instances[i.node.index()]
                    .coords
                    .iter()
                    .map(|c| c.name.as_str())
            })
            .collect();
        let own_axes: Vec<&str> = inst
            .coords
            .iter()
            .map(|c| c.name.as_str())
            .filter(|c| !inherited.contains(c))
            .map(|c| c.strip_prefix(&label_dot).unwrap_or(c))
            .collect();
        for (k, v) in inst.flat_params.iter() {
            if own_axes.contains(&k.as_str()) {
                continue;
            }
            entries.push((k, at, v));
        }
        for input in &inst.inputs {
            if inst.kind == StageKind::Report {
                continue;
            }
            let up = &instances[input.node.index()];
            if input.role != "test_data" {
                entries.push((&input.role, at, &up.stage));
                stack.push(input.node);
            }
        }
    }
    let coords = &instances[ix.index()].coords;
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (short, _, _) in &entries {
        *counts.entry(short).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for (short, at, value) in &entries {
        let name = if counts[short] == 1 {
            (*short).to_string()
        } else {
            format!("{}.{short}", labels[*at])
        };
        out.insert(name, (*value).to_string());
    }
    // Sweep coordinates keep their short names (the axis the user wrote).
    for c in coords {
        out.insert(c.name.clone(), c.value.clone());
    }
    out
}

/// Completed parameters as (dotted key, display value) pairs, nested tables flattened
/// (`model.hidden`). A report's `labels` are left out: they are shown differently.
pub fn flatten_params(params: &J) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", params, &mut out);
    out
}

fn flatten(prefix: &str, v: &J, out: &mut Vec<(String, String)>) {
    match v {
        J::Object(map) => {
            for (k, v) in map {
                if k == "labels" {
                    continue;
                }
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), display_json(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_spec::Sources;
    use std::path::Path;

    fn plan(text: &str) -> Result<Plan, PlanError> {
        let spec = drift_spec::parse(Sources::new(Path::new("t.toml"), text.into()), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        build(&spec, &PlanOptions::default())
    }

    const DATA: &str = r#"
[experiment]
name = "t"
[data.a]
generator = "two_moons"
n_train = 10
n_test = 4
"#;

    fn ids(p: &Plan) -> Vec<&str> {
        p.instances.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn sweeps_multiply_and_zips_advance_together() {
        let p = plan(&format!(
            "{DATA}[train.t]\nmethod = \"flow_matching\"\ndata = \"data.a\"\nsweep.seed = [0, 1]\nzip.lr = [1e-3, 2e-3, 3e-3]\nzip.steps = [1, 2, 3]\n"
        ))
        .unwrap();
        assert_eq!(p.instances.len(), 1 + 2 * 3);
        assert!(ids(&p).contains(&"train.t[lr=0.002,seed=1,steps=2]"));
        let inst = p.get(p.find("train.t[lr=0.003,seed=0,steps=3]").unwrap());
        assert_eq!(inst.semantic["steps"], 3);
        assert_eq!(inst.semantic["lr"], 0.003);
    }

    #[test]
    fn identical_instances_exist_once_with_aliases() {
        let text = format!("{DATA}[data.b]\ngenerator = \"two_moons\"\nn_train = 10\nn_test = 4\n");
        let p = plan(&text).unwrap();
        assert_eq!(ids(&p), vec!["data.a"]);
        assert_eq!(p.instances[0].aliases, vec!["data.b"]);
        assert_eq!(p.find("data.b"), Some(NodeIndex::new(0)));
    }

    #[test]
    fn filtered_references_select_matching_instances() {
        let text = format!(
            "{DATA}[train.t]\nmethod = \"flow_matching\"\ndata = \"data.a\"\nsteps = 1\nsweep.seed = [0, 1, 2]\n\
             [sample.s]\nmodel = \"train.t[seed=1]\"\nsolver = \"euler\"\nn = 4\nnfe = 1\n"
        );
        let p = plan(&text).unwrap();
        let samples: Vec<&str> = ids(&p)
            .into_iter()
            .filter(|i| i.starts_with("sample."))
            .collect();
        assert_eq!(samples, vec!["sample.s[seed=1]"]);
        let bad = plan(&text.replace("seed=1]", "seed=9]")).unwrap_err();
        assert!(bad.to_string().contains("matches no instance"), "{bad}");
    }

    /// Two data sets, a training per data set, a sample and an eval of each training.
    fn two_data_pipeline() -> String {
        format!(
            "{DATA}[data.b]\ngenerator = \"checkerboard\"\nn_train = 10\nn_test = 4\n\
             [train.t]\nmethod = \"flow_matching\"\nsweep.data = [\"data.a\", \"data.b\"]\nsteps = 1\n\
             [sample.s]\nmodel = \"train.t\"\nsolver = \"euler\"\nn = 4\nnfe = 1\n[eval.e]\nsamples = \"sample.s\"\nmetrics = [\"w2\"]\n"
        )
    }

    #[test]
    fn eval_reads_the_test_split_of_the_data_behind_its_samples() {
        let p = plan(&two_data_pipeline()).unwrap();
        let e = p.get(p.find("eval.e[data=b]").unwrap());
        let data = e.input("test_data").unwrap();
        assert_eq!(p.get(data).id, "data.b");
        assert_eq!(
            p.data_ancestor(p.find("sample.s[data=a]").unwrap())
                .map(|n| p.get(n).id.clone()),
            Some("data.a".into())
        );
    }

    #[test]
    fn levels_group_instances_by_depth_in_plan_order() {
        let p = plan(&two_data_pipeline()).unwrap();
        let levels = p.levels();
        let named: Vec<Vec<&str>> = levels
            .iter()
            .map(|l| l.iter().map(|&ix| p.get(ix).id.as_str()).collect())
            .collect();
        assert_eq!(
            named,
            vec![
                vec!["data.a", "data.b"],
                vec!["train.t[data=a]", "train.t[data=b]"],
                vec!["sample.s[data=a]", "sample.s[data=b]"],
                vec!["eval.e[data=a]", "eval.e[data=b]"],
            ]
        );
        // Every instance exactly once, each after all of its inputs, each level in plan order.
        let mut level_of = vec![usize::MAX; p.instances.len()];
        for (d, level) in levels.iter().enumerate() {
            assert!(level.windows(2).all(|w| w[0] < w[1]), "{named:?}");
            for &ix in level {
                assert_eq!(level_of[ix.index()], usize::MAX, "{named:?}");
                level_of[ix.index()] = d;
            }
        }
        for (i, inst) in p.instances.iter().enumerate() {
            assert!(
                inst.inputs
                    .iter()
                    .all(|input| level_of[input.node.index()] < level_of[i])
            );
        }
        assert!(level_of.iter().all(|&d| d != usize::MAX));
    }

    #[test]
    fn a_sweep_past_the_limit_is_refused_with_its_count() {
        let seeds: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        let text = DATA.replace("name = \"t\"", "name = \"t\"\nmax_instances = 100")
            + &format!(
                "[train.t]\nmethod = \"flow_matching\"\ndata = \"data.a\"\nsteps = 1\nsweep.seed = [{}]\n",
                seeds.join(",")
            );
        let err = plan(&text).unwrap_err().to_string();
        assert!(
            err.contains("expands to 301 stage instances, more than the limit of 100"),
            "{err}"
        );
    }

    #[test]
    fn columns_use_short_names_and_qualify_ambiguous_ones() {
        let text = format!(
            "{DATA}[train.t]\nmethod = \"flow_matching\"\ndata = \"data.a\"\nsteps = 5\nsweep.seed = [0, 1]\n\
             [sample.s]\nmodel = \"train.t\"\nsolver = \"euler\"\nn = 4\nnfe = 2\n[eval.e]\nsamples = \"sample.s\"\nmetrics = [\"w2\"]\n"
        );
        let p = plan(&text).unwrap();
        let cols = columns_of(&p.instances, p.find("eval.e[seed=1]").unwrap());
        assert_eq!(cols["seed"], "1", "the swept axis keeps its short name");
        assert_eq!(cols["data"], "a", "references show the stage name");
        assert_eq!(cols["method"], "flow_matching");
        assert_eq!(cols["nfe"], "2");
        assert_eq!(
            cols["train.t.steps"], "5",
            "`steps` is ambiguous between train and sample"
        );
        assert_eq!(cols["sample.s.steps"], "2");
        assert_eq!(cols["model.hidden"], "[128,128,128]");
    }
}
