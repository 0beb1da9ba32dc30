//! One function per subcommand: load and plan the spec, talk to the cache, print results.

use crate::SpecArgs;
use crate::exit;
use crate::progress::Reporter;
use anyhow::{Context, Result};
use drift_cache::Cache;
use drift_exec::{Record, RunOptions, State};
use drift_nn::{ComputeDevice, DeviceRequest};
use drift_plan::{Plan, PlanOptions};
use drift_spec::params::ExecutorName;
use drift_spec::schema::{spec_file_schema, stage_schema};
use drift_spec::{Spec, StageKind};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A failure already rendered for the user, with its exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            code: exit::ENVIRONMENT,
            message: format!("error: {e:#}"),
        }
    }
}

/// Any displayable error as a failure of the environment (exit 3), its text as the message.
pub(crate) fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::from(anyhow::anyhow!("{e}"))
}

pub(crate) fn finish(result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(f) => {
            let msg = f.message.trim_end();
            if !msg.is_empty() {
                errln!("{msg}");
            }
            f.code
        }
    }
}

pub(crate) fn invalid(message: String) -> Failure {
    Failure {
        code: exit::INVALID,
        message,
    }
}

/// Jobs default to the cores; threads per job to cores / jobs (toolchain.md: a training step
/// with more threads than free cores collapses, so never oversubscribe by default).
/// Definitions of the metrics the eval stage computes itself (not pure functions of two sets).
fn stage_metric(name: &str) -> &'static str {
    match name {
        "nfe" => "realised network evaluations per sample, counted by the model wrapper",
        "log_likelihood" => {
            "mean over the compared samples of the data generator's exact log-density (Gaussian \
             mixtures and checkerboard); an error for generators without a closed form"
        }
        "nll" => {
            "test-set negative log-likelihood in nats per point: -log N(x_0) + int div v dt along \
             the probability-flow ODE from each test point back to the N(0, I) prior (flow \
             matching: the network; stochastic interpolants: the velocity head; VP diffusion: \
             the PF-ODE on the samplers' window), RK4 with `nll_steps` steps; exact divergence \
             up to 16 dimensions, Hutchinson with `hutchinson_probes` Rademacher probes above"
        }
        _ => "(no definition recorded)",
    }
}

pub fn parallelism(jobs: Option<usize>, threads: Option<usize>) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs.unwrap_or(cores).max(1);
    let threads = threads.unwrap_or((cores / jobs).max(1)).max(1);
    (jobs, threads)
}

pub(crate) struct Loaded {
    pub spec: Spec,
    pub plan: Plan,
    pub device: ComputeDevice,
}

pub(crate) fn load(args: &SpecArgs) -> Result<Loaded, Failure> {
    let spec = drift_spec::load(&args.spec, &args.overrides).map_err(|e| match e {
        drift_spec::SpecError::Io { .. } => Failure {
            code: exit::ENVIRONMENT,
            message: format!("error: {e}"),
        },
        invalid_spec => invalid(invalid_spec.to_string()),
    })?;
    let device_name = args
        .device
        .clone()
        .unwrap_or_else(|| spec.experiment.device.clone());
    let request: DeviceRequest = device_name
        .parse()
        .map_err(|e| invalid(format!("error: --device: {e}")))?;
    let device = ComputeDevice::resolve(request).map_err(|e| Failure {
        code: exit::ENVIRONMENT,
        message: format!("error: {e}"),
    })?;
    let options = PlanOptions {
        device_class: device.class().to_string(),
        max_instances: args.max_instances,
    };
    let plan = drift_plan::build(&spec, &options).map_err(|e| invalid(e.to_string()))?;
    Ok(Loaded { spec, plan, device })
}

pub(crate) fn open_cache(dir: &Path) -> Result<Cache, Failure> {
    Cache::open(dir).map_err(|e| Failure {
        code: exit::ENVIRONMENT,
        message: format!("error: cannot open cache {}: {e}", dir.display()),
    })
}

fn json_records(records: &[Record]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({ "instances": records }))
        .expect("records serialise")
}

/// `drift run`'s settings besides the spec.
pub struct RunSettings {
    pub jobs: usize,
    pub threads: usize,
    pub force: Vec<String>,
    pub keep_going: bool,
    pub json: bool,
    /// `--executor` (else the spec's `experiment.executor`).
    pub executor: Option<String>,
}

pub fn run(
    cache_dir: &Path,
    remote_flag: Option<&str>,
    args: &SpecArgs,
    settings: &RunSettings,
) -> u8 {
    let RunSettings {
        jobs,
        threads,
        ref force,
        keep_going,
        json,
        ..
    } = *settings;
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let mut forced = Vec::new();
        for f in force {
            let selected = loaded.plan.select(f);
            if selected.is_empty() {
                return Err(invalid(format!(
                    "error: --force {f}: no instance or stage matches\n  = help: give an id from `drift status`, a stage like `train.fm`, or `train.fm[seed=0]`"
                )));
            }
            forced.extend(selected);
        }
        let executor = drift_stages::StageExecutor {
            device: loaded.device.clone(),
        };
        let remote = match crate::remote::configured(remote_flag, &loaded.spec) {
            Some(url) => Some(crate::remote::open(&url)?),
            None => None,
        };
        let remote = remote.as_ref().map(|r| r as &dyn drift_exec::EntrySource);
        let on_slurm = match settings.executor.as_deref() {
            Some(name) => name == "slurm",
            None => loaded.spec.experiment.executor == ExecutorName::Slurm,
        };
        let reporter = Reporter::new(loaded.plan.instances.len());
        let started = std::time::Instant::now();
        let options = RunOptions {
            force: forced,
            jobs,
            threads,
            keep_going,
        };
        let records = if on_slurm {
            crate::cluster::run_on_slurm(
                &loaded, &cache, cache_dir, args, remote, &reporter, &options,
            )?
        } else {
            let compute = drift_exec::Compute {
                executor: &executor,
                remote,
            };
            drift_exec::run(&loaded.plan, &cache, compute, &reporter, &options)
        };
        reporter.finish();
        if crate::cluster::interrupted() {
            errln!("interrupted: the submitted Slurm jobs were cancelled");
            return Ok(exit::INTERRUPTED);
        }
        let count = |s: State| records.iter().filter(|r| r.state == s).count();
        let (failed, skipped) = (count(State::Failed), count(State::Skipped));
        let pulled = match count(State::Pulled) {
            0 => String::new(),
            n => format!(", {n} pulled"),
        };
        errln!(
            "{} instances: {} executed, {} cached{pulled}, {failed} failed, {skipped} skipped in {:.1} s ({}, {})",
            records.len(),
            count(State::Executed),
            count(State::Cached),
            started.elapsed().as_secs_f64(),
            if on_slurm {
                "on Slurm".to_string()
            } else {
                format!("{jobs} jobs x {threads} threads")
            },
            loaded.device.label(),
        );
        for r in records.iter().filter(|r| r.state == State::Failed) {
            errln!("failed: {}: {}", r.id, r.error.as_deref().unwrap_or(""));
        }
        if json {
            outln!("{}", json_records(&records));
        } else if failed + skipped == 0 {
            out!(
                "{}",
                report_text(
                    &loaded,
                    &cache,
                    &records,
                    drift_report::Format::Terminal,
                    stdout_in_colour()
                )?
            );
        }
        Ok(if failed + skipped > 0 {
            exit::FAILED
        } else {
            exit::OK
        })
    })())
}

pub fn status(cache_dir: &Path, args: &SpecArgs, json: bool) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let records = drift_exec::status(&loaded.plan, &cache);
        // A stale instance a Slurm job is computing (recorded by a coordinator that may be gone).
        let slurm_job = |r: &Record| {
            (r.state == State::Stale)
                .then_some(r.key?)
                .and_then(|k| drift_slurm::recorded_job(&cache, &k))
        };
        if json {
            let mut instances = Vec::with_capacity(records.len());
            for r in &records {
                let mut value = serde_json::to_value(r).expect("records serialise");
                if let Some((job, log)) = slurm_job(r) {
                    value["slurm_job"] = serde_json::json!({ "id": job, "log": log });
                }
                instances.push(value);
            }
            let listing = serde_json::json!({ "instances": instances });
            outln!(
                "{}",
                serde_json::to_string_pretty(&listing).expect("records serialise")
            );
            return Ok(exit::OK);
        }
        // One write for the whole listing (stdout is line-buffered: 1000 lines were 1000 writes).
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let width = records.iter().map(|r| r.id.len()).max().unwrap_or(0);
        for r in &records {
            let reasons: Vec<String> = r.reasons.iter().map(|x| x.to_string()).collect();
            let mut line = format!("{:<6} {:<width$}", r.state.name(), r.id);
            // A failure's error says more than the reasons it was stale for.
            if !reasons.is_empty() && r.state != State::Failed {
                line.push_str("  ");
                line.push_str(&reasons.join("; "));
            }
            if let Some(e) = &r.error {
                line.push_str(&format!("  error: {e}"));
            }
            if let Some((job, log)) = slurm_job(r) {
                line.push_str(&format!("  (Slurm job {job}, log {})", log.display()));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let count = |s: State| records.iter().filter(|r| r.state == s).count();
        let _ = writeln!(
            out,
            "{} instances: {} fresh, {} stale, {} failed",
            records.len(),
            count(State::Fresh),
            count(State::Stale),
            count(State::Failed)
        );
        let _ = out.flush();
        drop(out);
        // The process ends here: freeing a large plan one allocation at a time is pure cost
        // (6% of a no-op status at 15,000 instances).
        std::mem::forget(records);
        std::mem::forget(loaded);
        Ok(exit::OK)
    })())
}

pub fn check(args: &SpecArgs) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let mut per_kind = Vec::new();
        for kind in StageKind::ALL {
            let n = loaded
                .plan
                .instances
                .iter()
                .filter(|i| i.kind == *kind)
                .count();
            if n > 0 {
                per_kind.push(format!("{n} {}", kind.name()));
            }
        }
        outln!(
            "ok: {} ({} stages, {} instances: {})",
            args.spec.display(),
            loaded.spec.stages.len(),
            loaded.plan.instances.len(),
            per_kind.join(", ")
        );
        Ok(exit::OK)
    })())
}

pub fn show(cache_dir: &Path, args: &SpecArgs, id: &str) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let Some(ix) = loaded.plan.find(id) else {
            let ids: Vec<&str> = loaded
                .plan
                .instances
                .iter()
                .map(|i| i.id.as_str())
                .collect();
            let hint = drift_spec::diagnostic::did_you_mean(id, ids.iter().copied());
            return Err(invalid(format!(
                "error: no instance `{id}` in {}{hint}\n  = help: `drift status {}` lists every id",
                args.spec.display(),
                args.spec.display()
            )));
        };
        let records = drift_exec::status(&loaded.plan, &cache);
        let record = &records[ix.index()];
        let inst = loaded.plan.get(ix);
        outln!("id:      {}", inst.id);
        for alias in &inst.aliases {
            outln!("alias:   {alias}");
        }
        outln!("kind:    {}", inst.kind.name());
        outln!("stage:   {}", inst.stage);
        outln!("state:   {}", record.state.name());
        for r in &record.reasons {
            outln!("reason:  {r}");
        }
        match record.key {
            None => {
                outln!("key:     (unknown until its inputs are computed)");
            }
            Some(key) => {
                outln!("key:     {key}");
                let digests: Vec<_> = inst
                    .inputs
                    .iter()
                    .filter_map(|i| records[i.node.index()].output)
                    .collect();
                let comps = inst.key_components(&loaded.plan, &digests);
                outln!(
                    "key components:\n{}",
                    indent(&serde_json::to_string_pretty(&comps).expect("serialises"))
                );
                print_entry(&cache, &key);
            }
        }
        Ok(exit::OK)
    })())
}

/// `drift show ID`: what the cache last recorded for an id, without a spec.
pub fn show_recorded(cache_dir: &Path, id: &str) -> u8 {
    finish((|| {
        let cache = open_cache(cache_dir)?;
        let slots = cache.slots_for(id).context("reading the cache's records")?;
        if slots.is_empty() {
            return Err(invalid(format!(
                "error: the cache {} has no record of `{id}`\n  = help: give the spec too (`drift show SPEC ID`), or check the id with `drift status SPEC`",
                cache_dir.display()
            )));
        }
        for slot in slots {
            outln!("id:         {}", slot.id);
            outln!("experiment: {}", slot.experiment);
            outln!("last key:   {}", slot.key);
            outln!(
                "key components:\n{}",
                indent(&serde_json::to_string_pretty(&slot.components).expect("serialises"))
            );
            print_entry(&cache, &slot.key);
            outln!(
                "(without a spec this is the last recorded run; `drift show SPEC {}` gives the current state)",
                slot.id
            );
        }
        Ok(exit::OK)
    })())
}

/// The entry of a key: its directory, manifest, output digest, artifacts and cost figures.
fn print_entry(cache: &Cache, key: &drift_plan::key::StageKey) {
    let dir = cache.entry_dir(key);
    let Some(m) = cache.lookup(key) else {
        outln!("entry:   missing (no complete entry under this key)");
        return;
    };
    outln!("entry:   {}", absolute(&dir).display());
    outln!(
        "manifest: {}",
        absolute(&dir.join(drift_cache::MANIFEST)).display()
    );
    outln!("output digest: {}", m.output);
    for (name, file) in &m.files {
        outln!(
            "artifact: {}  ({} bytes, blake3 {})",
            absolute(&dir.join(name)).display(),
            file.bytes,
            file.digest.short()
        );
    }
    if !m.cost.is_empty() {
        outln!("cost (not reproducible):");
        for (k, v) in &m.cost {
            outln!("  {k}: {v}");
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn table(cache_dir: &Path, args: &SpecArgs, format: &str, out: Option<&Path>) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let records = drift_exec::status(&loaded.plan, &cache);
        if format == "parquet" {
            let out =
                out.ok_or_else(|| invalid("error: --format parquet needs --out FILE".into()))?;
            return write_parquet_tables(&loaded, &cache, &records, out);
        }
        let format = drift_report::Format::from_name(format)
            .map_err(|e| invalid(format!("error: --format: {e}")))?;
        let colour = out.is_none() && stdout_in_colour();
        let text = report_text(&loaded, &cache, &records, format, colour)?;
        match out {
            None => out!("{text}"),
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
        }
        Ok(exit::OK)
    })())
}

/// One Parquet file per report; `{report}` in `out` becomes the report's name.
fn write_parquet_tables(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    out: &Path,
) -> Result<u8, Failure> {
    for (name, table) in build_tables(loaded, cache, records)? {
        let path = PathBuf::from(out.to_string_lossy().replace("{report}", &name));
        drift_report::write_parquet(&table, &path)
            .map_err(|e| Failure::from(anyhow::anyhow!(e)))?;
        errln!("wrote {}", path.display());
    }
    Ok(exit::OK)
}

/// The entry key of an instance whose output exists (fresh, or computed in this run).
pub(crate) fn computed_key(record: &Record) -> Option<drift_plan::key::StageKey> {
    match record.state {
        State::Fresh | State::Cached | State::Executed => record.key,
        _ => None,
    }
}

/// Every report as text (see [`crate::results::render_all`]); `colour` styles terminal tables.
fn report_text(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    format: drift_report::Format,
    colour: bool,
) -> Result<String, Failure> {
    crate::results::render_all(loaded, cache, records, format, colour)
}

/// Whether stdout is a colour terminal: a terminal, `NO_COLOR` unset (no-color.org), and
/// `TERM` not `dumb`.
fn stdout_in_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

pub(crate) fn not_computed(
    loaded: &Loaded,
    inst: &drift_plan::Instance,
    record: &Record,
) -> Failure {
    Failure {
        code: exit::FAILED,
        message: format!(
            "error: {} is not computed yet ({})\n  = help: run `drift run {}` first",
            inst.id,
            record
                .reasons
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            loaded.spec.sources.spec_path.display()
        ),
    }
}

/// Tables built from the eval outputs, with the current plan's labels and the cost columns
/// read from the manifests.
fn build_tables(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
) -> Result<Vec<(String, drift_report::Table)>, Failure> {
    Ok(crate::results::shown_tables(loaded, cache, records)?
        .into_iter()
        .map(|t| (t.name, t.table))
        .collect())
}

/// `(key, instance id)` of every instance of `specs` whose key is known (its inputs are in
/// the cache), as written in the specs (no overrides).
fn reached_keys(
    cache: &Cache,
    specs: &[PathBuf],
) -> Result<Vec<(drift_plan::key::StageKey, String)>, Failure> {
    let mut out = Vec::new();
    for spec in specs {
        let args = SpecArgs {
            spec: spec.clone(),
            overrides: Vec::new(),
            device: None,
            max_instances: None,
        };
        let loaded = load(&args)?;
        for r in drift_exec::status_with(&loaded.plan, cache, false) {
            if let Some(k) = r.key {
                out.push((k, r.id));
            }
        }
    }
    Ok(out)
}

pub fn verify(cache_dir: &Path, specs: &[PathBuf]) -> u8 {
    finish((|| {
        let cache = open_cache(cache_dir)?;
        // (key, id) of every entry to check.
        let mut targets: Vec<(drift_plan::key::StageKey, String)> = Vec::new();
        if specs.is_empty() {
            for key in cache.keys().context("listing cache entries")? {
                let id =
                    drift_cache::read_manifest(&cache.entry_dir(&key).join(drift_cache::MANIFEST))
                        .map(|m| m.id)
                        .unwrap_or_else(|_| "(unreadable manifest)".into());
                targets.push((key, id));
            }
        } else {
            targets = reached_keys(&cache, specs)?
                .into_iter()
                .filter(|(k, _)| cache.has_entry_dir(k))
                .collect();
        }
        let mut damaged = 0usize;
        for (key, id) in &targets {
            if let drift_cache::EntryCheck::Damaged(d) = cache.check_entry(key, true) {
                damaged += 1;
                outln!("damaged  {}  {id}  {}: {}", key.short(), d.file, d.problem);
            }
        }
        outln!(
            "{} entries checked, {damaged} damaged{}",
            targets.len(),
            if damaged > 0 {
                " (`drift run` recomputes them)"
            } else {
                ""
            }
        );
        Ok(if damaged > 0 { exit::FAILED } else { exit::OK })
    })())
}

pub fn gc(cache_dir: &Path, specs: &[PathBuf], dry_run: bool) -> u8 {
    finish((|| {
        let cache = open_cache(cache_dir)?;
        let keep: std::collections::HashSet<drift_plan::key::StageKey> =
            reached_keys(&cache, specs)?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
        let mut removed = 0usize;
        let mut bytes = 0u64;
        for key in cache.keys().context("listing cache entries")? {
            if keep.contains(&key) {
                continue;
            }
            let size = cache.entry_size(&key);
            let id = drift_cache::read_manifest(&cache.entry_dir(&key).join(drift_cache::MANIFEST))
                .map(|m| m.id)
                .unwrap_or_else(|_| "(incomplete entry)".into());
            if dry_run {
                outln!("would remove {}  {id}  ({size} bytes)", key.short());
            } else {
                cache.remove(&key).context("removing an entry")?;
                outln!("removed {}  {id}  ({size} bytes)", key.short());
            }
            removed += 1;
            bytes += size;
        }
        // Staging and scratch directories of killed runs that no process is working on.
        let leftovers = cache.leftovers(&keep);
        for path in &leftovers {
            if dry_run {
                outln!("would remove leftover {}", path.display());
            } else if let Err(e) = std::fs::remove_dir_all(path) {
                errln!("cannot remove leftover {}: {e}", path.display());
            } else {
                outln!("removed leftover {}", path.display());
            }
        }
        outln!(
            "{} {removed} entries ({:.1} MB) and {} leftover directories; kept {}",
            if dry_run { "would remove" } else { "removed" },
            bytes as f64 / 1e6,
            leftovers.len(),
            keep.len()
        );
        Ok(exit::OK)
    })())
}

pub fn list(what: &str) -> u8 {
    let mut out = String::new();
    let docs = |kind: StageKind, tag: &str, name: &str| {
        let mut s = String::new();
        for p in stage_schema(kind).params_for(Some((tag, name))) {
            let common = stage_schema(kind)
                .params_for(None)
                .iter()
                .any(|c| c.name == p.name);
            if common {
                continue;
            }
            s.push_str(&param_line(&p));
        }
        s
    };
    match what {
        "generators" => {
            let mut recipes = drift_data::catalogue();
            // Snapshot processes are named `<process>_snapshots` in specs.
            recipes.extend(
                drift_data::snapshot_catalogue()
                    .into_iter()
                    .map(|mut info| {
                        info.name = match info.name {
                            "ou" => "ou_snapshots",
                            "double_well" => "double_well_snapshots",
                            other => other,
                        };
                        info
                    }),
            );
            for (name, doc) in stage_schema(StageKind::Data).variants() {
                out.push_str(&format!("{name}\n    {doc}\n"));
                out.push_str(&docs(StageKind::Data, "generator", &name));
                if let Some(info) = recipes.iter().find(|g| g.name == name) {
                    out.push_str(&format!(
                        "    variants (default {}):\n",
                        info.default_variant
                    ));
                    for (v, recipe) in &info.variants {
                        out.push_str(&format!("      {v:<16} {recipe}\n"));
                    }
                }
            }
            out.push_str("\nparameters of every data stage:\n");
            for p in stage_schema(StageKind::Data).params_for(None) {
                out.push_str(&param_line(&p));
            }
        }
        "methods" => {
            for (name, doc) in stage_schema(StageKind::Train).variants() {
                out.push_str(&format!("{name}\n    {doc}\n"));
                out.push_str(&docs(StageKind::Train, "method", &name));
            }
            out.push_str("\nparameters of every train stage:\n");
            for p in stage_schema(StageKind::Train).params_for(None) {
                out.push_str(&param_line(&p));
            }
        }
        "metrics" => {
            // Every name an eval stage accepts; definitions from drift-metrics, or, for the
            // metrics the eval stage computes itself, from here.
            let catalogue = drift_metrics::catalogue();
            for metric in drift_spec::params::Metric::ALL {
                let name = metric.name();
                match catalogue.iter().find(|m| m.name == name) {
                    Some(m) => {
                        out.push_str(&format!("{}\n    {}\n", m.name, m.definition));
                        for (p, d) in m.params {
                            out.push_str(&format!("    {p}: {d}\n"));
                        }
                    }
                    None => out.push_str(&format!("{name}\n    {}\n", stage_metric(name))),
                }
            }
            out.push_str("\nparameters of every eval stage:\n");
            for p in stage_schema(StageKind::Eval).params_for(None) {
                out.push_str(&param_line(&p));
            }
        }
        "solvers" => {
            out.push_str(
                "samplers (`solver = ...` in a sample stage); `nfe` is the budget of network \
                 evaluations per sample and must be reachable by the solver\n",
            );
            for (name, doc) in stage_schema(StageKind::Sample).variants() {
                out.push_str(&format!("{name}\n    {doc}\n"));
                out.push_str(&docs(StageKind::Sample, "solver", &name));
            }
        }
        _ => unreachable!("clap restricts the values"),
    }
    out!("{out}");
    exit::OK
}

fn param_line(p: &drift_spec::schema::ParamDoc) -> String {
    let default = match (&p.default, p.required) {
        (Some(d), _) => format!(" = {d}"),
        (None, true) => " (required)".into(),
        (None, false) => String::new(),
    };
    format!("    {}{default}  [{}]  {}\n", p.name, p.ty, p.description)
}

pub fn schema(out: &Path, check: bool) -> u8 {
    let text = schema_text();
    if check {
        return match std::fs::read_to_string(out) {
            Ok(current) if current == text => {
                outln!("{} is current", out.display());
                exit::OK
            }
            _ => {
                errln!(
                    "error: {} is stale or missing\n  = help: regenerate it with `drift schema --out {}`",
                    out.display(),
                    out.display()
                );
                exit::FAILED
            }
        };
    }
    if let Some(parent) = out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(out, text) {
        Ok(()) => {
            outln!("wrote {}", out.display());
            exit::OK
        }
        Err(e) => {
            errln!("error: writing {}: {e}", out.display());
            exit::ENVIRONMENT
        }
    }
}

pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&spec_file_schema()).expect("schema serialises");
    text.push('\n');
    text
}
