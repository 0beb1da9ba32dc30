//! drift's executor layer: decides which instances are fresh (status), and runs the stale ones
//! in dependency order on a pool of workers. The cache check wraps the [`Executor`], which only
//! knows how to compute one instance into a staging directory; it never sees the cache.

pub mod reason;

use drift_cache::{Cache, EntryCheck, Manifest};
use drift_plan::NodeIndex;
use drift_plan::key::{KeyComponents, OutputDigest, StageKey};
use drift_plan::{Instance, Plan};
pub use reason::Reason;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// An input of a job: the upstream instance and its committed cache entry.
pub struct JobInput<'a> {
    pub role: &'a str,
    pub instance: &'a Instance,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Everything an executor needs to compute one instance.
pub struct Job<'a> {
    pub plan: &'a Plan,
    pub ix: NodeIndex,
    pub instance: &'a Instance,
    pub inputs: Vec<JobInput<'a>>,
    /// Write every artifact here (flat files); it becomes the cache entry when complete.
    pub out_dir: &'a Path,
    /// State that must survive a killed run (training checkpoints); created on demand, removed
    /// once the entry commits.
    pub scratch: PathBuf,
    pub key: StageKey,
}

impl Job<'_> {
    pub fn input(&self, role: &str) -> Option<&JobInput<'_>> {
        self.inputs.iter().find(|i| i.role == role)
    }
}

/// Figures about a finished computation that stay out of the key (timings, throughput).
pub type Cost = serde_json::Map<String, serde_json::Value>;

/// A failed computation, with a message that names what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// Computes stage instances. Implementations must write only into `job.out_dir`.
pub trait Executor: Sync {
    fn execute(&self, job: &Job<'_>, progress: &dyn Progress) -> Result<Cost, ExecError>;
}

/// A second store of entries (a remote cache shared by several machines): consulted when the
/// local cache lacks a key, before the instance is computed.
pub trait EntrySource: Sync {
    /// Copies `key`'s entry into `cache`, verified, when the source has it; `Ok(None)` when it
    /// does not.
    fn fetch(&self, cache: &Cache, key: &StageKey) -> Result<Option<Manifest>, String>;
    /// Where the entries come from, for messages (`s3://bucket/prefix`).
    fn describe(&self) -> String;
}

/// How instances get their results: a remote cache first (if any), then the executor.
#[derive(Clone, Copy)]
pub struct Compute<'a> {
    pub executor: &'a dyn Executor,
    pub remote: Option<&'a dyn EntrySource>,
}

impl<'a> Compute<'a> {
    /// The executor alone.
    pub fn local(executor: &'a dyn Executor) -> Self {
        Compute {
            executor,
            remote: None,
        }
    }
}

/// The remote's entry for `key`, copied into `cache`; a remote that fails is reported as a
/// note and treated as lacking the entry (the instance is then computed).
fn fetch_remote(
    remote: Option<&dyn EntrySource>,
    cache: &Cache,
    key: &StageKey,
    progress: &dyn Progress,
) -> Option<Manifest> {
    let remote = remote?;
    match remote.fetch(cache, key) {
        Ok(found) => found,
        Err(e) => {
            progress.note(&format!(
                "remote cache {} failed, computing instead: {e}",
                remote.describe()
            ));
            None
        }
    }
}

/// Receives live progress (implemented by the CLI's progress bars).
pub trait Progress: Sync {
    fn started(&self, _ix: NodeIndex, _id: &str) {}
    fn step(&self, _ix: NodeIndex, _step: u64, _steps: u64, _loss: Option<f32>) {}
    fn finished(&self, _ix: NodeIndex, _record: &Record) {}
    /// A message for the user about the run itself (a job submitted, adopted or retried).
    fn note(&self, _message: &str) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Fresh,
    Stale,
    Failed,
    Executed,
    Cached,
    /// Not in the local cache, copied from the remote one.
    Pulled,
    Skipped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Stale => "stale",
            State::Failed => "failed",
            State::Executed => "executed",
            State::Cached => "cached",
            State::Pulled => "pulled",
            State::Skipped => "skipped",
        }
    }
}

/// The outcome of one instance in `status` or `run`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: String,
    pub kind: String,
    pub stage: String,
    pub coords: serde_json::Map<String, serde_json::Value>,
    pub state: State,
    pub reasons: Vec<Reason>,
    pub key: Option<StageKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub output: Option<OutputDigest>,
    #[serde(skip)]
    pub elapsed: Option<Duration>,
}

impl Record {
    pub fn new(inst: &Instance, state: State) -> Record {
        Record {
            id: inst.id.clone(),
            kind: inst.kind.name().into(),
            stage: inst.stage.clone(),
            coords: inst
                .coords
                .iter()
                .map(|c| (c.name.clone(), serde_json::Value::String(c.value.clone())))
                .collect(),
            state,
            reasons: Vec::new(),
            key: None,
            error: None,
            output: None,
            elapsed: None,
        }
    }
}

/// The reasons an instance with known key components has no usable entry.
fn stale_reasons(
    cache: &Cache,
    experiment: &str,
    inst: &Instance,
    comps: &KeyComponents,
    key: &StageKey,
) -> Vec<Reason> {
    match cache.read_slot(experiment, &inst.id) {
        Some(slot) if slot.key == *key => vec![Reason::ArtifactMissing],
        Some(slot) => reason::explain(&slot.components, comps),
        None if cache.has_entry_dir(key) => vec![Reason::ArtifactMissing],
        None => vec![Reason::NeverRun],
    }
}

/// Reasons for an instance whose key is unknown because inputs are stale: its own parameter
/// changes (when something was recorded before) plus `upstream stale` per stale input.
fn unknown_key_reasons(
    cache: &Cache,
    plan: &Plan,
    inst: &Instance,
    stale_inputs: &[NodeIndex],
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(slot) = cache.read_slot(&plan.experiment_name, &inst.id) {
        reasons.extend(reason::param_changes(
            &slot.components.params,
            &inst.semantic,
        ));
    }
    for ix in stale_inputs {
        reasons.push(Reason::UpstreamStale {
            input: plan.get(*ix).id.clone(),
        });
    }
    reasons
}

/// One instance's status, given the output digests of the instances before it. With
/// `verify_content`, every file of a fresh entry is checked against its recorded digest, so a
/// damaged entry never shows as fresh; it keeps its recorded output digest for its dependents'
/// keys (`run` recomputes it, and the same key reproduces the same output).
fn check_instance(
    plan: &Plan,
    cache: &Cache,
    inst: &Instance,
    outputs: &[Option<OutputDigest>],
    verify_content: bool,
) -> Record {
    let mut digests = Vec::with_capacity(inst.inputs.len());
    let mut stale_inputs = Vec::new();
    for input in &inst.inputs {
        match outputs[input.node.index()] {
            Some(d) => digests.push(d),
            None => stale_inputs.push(input.node),
        }
    }
    let mut record = Record::new(inst, State::Stale);
    if !stale_inputs.is_empty() {
        record.reasons = unknown_key_reasons(cache, plan, inst, &stale_inputs);
        return record;
    }
    // The key alone (no components) for the common case, a fresh entry; the components are
    // built only to explain staleness.
    let key = inst.key(plan, &digests);
    record.key = Some(key);
    // With content checks, the manifest, then every file opened once (size and digest).
    // Without, sizes only.
    let found = if verify_content {
        cache.check_manifest(&key)
    } else {
        cache.check_entry(&key, false)
    };
    if let EntryCheck::Complete(m) = found {
        record.output = Some(m.output);
        match verify_content
            .then(|| cache.verify_content(&key, &m))
            .flatten()
        {
            Some(d) => record.reasons = vec![d.into()],
            None => record.state = State::Fresh,
        }
    } else if let EntryCheck::Damaged(d) = found {
        record.reasons = vec![d.into()];
    } else {
        // Stale: a failure recorded under this very key shows as failed, with the same reasons.
        if let Some(f) = cache
            .read_failure(&plan.experiment_name, &inst.id)
            .filter(|f| f.key == key)
        {
            record.state = State::Failed;
            record.error = Some(f.error);
        }
        let comps = inst.key_components(plan, &digests);
        record.reasons = stale_reasons(cache, &plan.experiment_name, inst, &comps, &key);
    }
    record
}

/// `drift status`: what a run would do, without running anything.
pub fn status(plan: &Plan, cache: &Cache) -> Vec<Record> {
    status_with(plan, cache, true)
}

/// [`status`], comparing file digests of fresh entries only with `verify_content` (without,
/// sizes only: enough to learn which keys a spec reaches, as `gc` and `verify` need).
pub fn status_with(plan: &Plan, cache: &Cache, verify_content: bool) -> Vec<Record> {
    use rayon::prelude::*;
    let n = plan.instances.len();
    // Instances of one depth of the DAG depend only on shallower ones: each depth is checked
    // in parallel (reading and parsing manifests is most of a no-op status), in plan order.
    let mut outputs: Vec<Option<OutputDigest>> = vec![None; n];
    let mut records: Vec<Option<Record>> = vec![None; n];
    for level in plan.levels() {
        let checked: Vec<Record> = level
            .par_iter()
            .map(|&ix| check_instance(plan, cache, plan.get(ix), &outputs, verify_content))
            .collect();
        for (ix, record) in level.into_iter().zip(checked) {
            outputs[ix.index()] = record.output;
            records[ix.index()] = Some(record);
        }
    }
    records
        .into_iter()
        .map(|r| r.expect("every instance is at some depth"))
        .collect()
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Instances to recompute even when fresh.
    pub force: Vec<NodeIndex>,
    /// Concurrent instances.
    pub jobs: usize,
    /// Compute threads of each concurrent instance: every worker runs its instances inside its
    /// own rayon pool of this many threads, so concurrent instances never queue for one
    /// shared pool.
    pub threads: usize,
    /// Keep starting independent instances after a failure.
    pub keep_going: bool,
}

/// A finished instance: its record and, when it produced or found an entry, the manifest.
pub type Completion = (NodeIndex, Record, Option<Manifest>);

/// Carries out ready instances for [`schedule`]: in this process ([`run`]'s worker pool), or
/// on a batch system (the Slurm executor). Every launched instance yields exactly one
/// completion unless it is withdrawn.
pub trait Launcher {
    /// Starts these ready instances, each with the manifests of its inputs (in `inputs`
    /// order) and whether it is forced.
    fn launch(&mut self, ready: Vec<Ready>);
    /// Waits for the next completion; `None` when nothing launched is outstanding.
    fn next(&mut self) -> Option<Completion>;
    /// Withdraws launched instances that have not started yet (after a failure without
    /// `--keep-going`); returns how many.
    fn withdraw_queued(&mut self) -> usize;
}

/// An instance whose inputs are all done.
pub struct Ready {
    pub ix: NodeIndex,
    pub inputs: Vec<Manifest>,
    pub forced: bool,
}

/// Runs every stale instance (and forced ones) in dependency order on a pool of worker threads
/// in this process; returns one record per instance in plan order.
pub fn run(
    plan: &Plan,
    cache: &Cache,
    compute: Compute<'_>,
    progress: &dyn Progress,
    options: &RunOptions,
) -> Vec<Record> {
    let shared = Shared {
        queue: Mutex::new(Queue {
            ready: VecDeque::new(),
            closed: false,
        }),
        wake: Condvar::new(),
    };
    let (done_tx, done_rx) = mpsc::channel::<Completion>();
    let jobs = options.jobs.max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let done_tx = done_tx.clone();
            let shared = &shared;
            scope.spawn(move || {
                let work = || {
                    while let Some(ready) = shared.next() {
                        let (record, manifest) = run_instance(
                            plan,
                            cache,
                            compute,
                            progress,
                            ready.ix,
                            ready.inputs,
                            ready.forced,
                        );
                        if done_tx.send((ready.ix, record, manifest)).is_err() {
                            break;
                        }
                    }
                };
                match rayon::ThreadPoolBuilder::new()
                    .num_threads(options.threads.max(1))
                    .build()
                {
                    Ok(pool) => pool.install(work),
                    // Without a pool of its own the worker still runs, on the global one.
                    Err(_) => work(),
                }
            });
        }
        drop(done_tx);
        let mut pool = WorkerPool {
            shared: &shared,
            done: done_rx,
            outstanding: 0,
        };
        let records = schedule(plan, progress, options, &mut pool);
        shared.close();
        records
    })
}

/// [`run`]'s launcher: a queue the worker threads take instances from.
struct WorkerPool<'a> {
    shared: &'a Shared,
    done: mpsc::Receiver<Completion>,
    outstanding: usize,
}

impl Launcher for WorkerPool<'_> {
    fn launch(&mut self, ready: Vec<Ready>) {
        self.outstanding += ready.len();
        let mut q = self.shared.queue.lock().expect("queue lock");
        q.ready.extend(ready);
        self.shared.wake.notify_all();
    }

    fn next(&mut self) -> Option<Completion> {
        if self.outstanding == 0 {
            return None;
        }
        let done = self.done.recv().ok()?;
        self.outstanding -= 1;
        Some(done)
    }

    fn withdraw_queued(&mut self) -> usize {
        let mut q = self.shared.queue.lock().expect("queue lock");
        let n = q.ready.len();
        q.ready.clear();
        self.outstanding -= n;
        n
    }
}

/// Walks the DAG in dependency order: launches every instance whose inputs are done, records
/// completions, skips the dependents of failures (and, without `keep_going`, everything not
/// yet started). Returns one record per instance in plan order.
pub fn schedule(
    plan: &Plan,
    progress: &dyn Progress,
    options: &RunOptions,
    launcher: &mut dyn Launcher,
) -> Vec<Record> {
    let n = plan.instances.len();
    let mut forced = vec![false; n];
    for f in &options.force {
        forced[f.index()] = true;
    }
    let mut records: Vec<Option<Record>> = vec![None; n];
    let mut outputs: Vec<Option<Manifest>> = vec![None; n];
    let mut waiting: Vec<usize> = plan.instances.iter().map(|i| i.inputs.len()).collect();
    let ready_of = |ix: NodeIndex, outputs: &[Option<Manifest>]| Ready {
        ix,
        inputs: plan
            .get(ix)
            .inputs
            .iter()
            .map(|i| outputs[i.node.index()].clone().expect("inputs are done"))
            .collect(),
        forced: forced[ix.index()],
    };
    let initial: Vec<Ready> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| ready_of(NodeIndex::new(i), &outputs))
        .collect();
    launcher.launch(initial);
    let mut aborted = false;
    // Ends when nothing launched is outstanding: everything reachable is done, or after an
    // abort nothing more will start.
    while let Some((ix, record, manifest)) = launcher.next() {
        progress.finished(ix, &record);
        let failed = record.state == State::Failed;
        outputs[ix.index()] = manifest;
        records[ix.index()] = Some(record);
        if failed {
            // Every dependent is skipped, transitively.
            for d in plan.dependents(ix) {
                if records[d.index()].is_none() {
                    let mut r = Record::new(plan.get(d), State::Skipped);
                    r.reasons.push(Reason::UpstreamFailed {
                        input: plan.get(ix).id.clone(),
                    });
                    progress.finished(d, &r);
                    records[d.index()] = Some(r);
                    waiting[d.index()] = usize::MAX;
                }
            }
            if !options.keep_going && !aborted {
                aborted = true;
                // Launched but not started: they stay unrecorded and are skipped below.
                launcher.withdraw_queued();
            }
            continue;
        }
        if aborted {
            continue;
        }
        let mut newly = Vec::new();
        for d in plan.graph.neighbors(ix) {
            let w = &mut waiting[d.index()];
            if *w == usize::MAX {
                continue;
            }
            *w -= 1;
            if *w == 0 {
                newly.push(d);
            }
        }
        if !newly.is_empty() {
            newly.sort();
            let batch = newly.into_iter().map(|d| ready_of(d, &outputs)).collect();
            launcher.launch(batch);
        }
    }
    // Anything never reached (after an abort) is skipped.
    for (i, r) in records.iter_mut().enumerate() {
        if r.is_none() {
            let mut rec = Record::new(&plan.instances[i], State::Skipped);
            rec.error = Some(
                "not started: an earlier instance failed (use --keep-going to continue)".into(),
            );
            *r = Some(rec);
        }
    }
    records
        .into_iter()
        .map(|r| r.expect("every instance has a record"))
        .collect()
}

struct Queue {
    ready: VecDeque<Ready>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn next(&self) -> Option<Ready> {
        let mut q = self.queue.lock().expect("queue lock");
        loop {
            if let Some(ready) = q.ready.pop_front() {
                return Some(ready);
            }
            if q.closed {
                return None;
            }
            q = self.wake.wait(q).expect("queue lock");
        }
    }

    fn close(&self) {
        self.queue.lock().expect("queue lock").closed = true;
        self.wake.notify_all();
    }
}

/// What the caches hold for one instance before it is computed: see [`look_up`].
pub enum LookUp {
    /// A complete entry, every file checked against its recorded digest: this cache's own
    /// (`record.state` is [`State::Cached`]) or the remote cache's, copied into this one
    /// ([`State::Pulled`]). The instance's slot already records its key components.
    Found {
        record: Record,
        manifest: Box<Manifest>,
    },
    /// No usable entry (or the instance is forced): the instance must be computed under `key`,
    /// for these `reasons`.
    Stale {
        key: StageKey,
        comps: KeyComponents,
        reasons: Vec<Reason>,
    },
}

/// The cache check that comes before computing an instance, given its inputs' manifests (in
/// `inputs` order): a complete local entry under its key is used (every file checked against
/// its recorded digest first: a damaged entry is recomputed, never used); without one, the
/// `remote` cache's entry is copied in; otherwise, or when `forced`, the instance is stale
/// with its typed reasons. [`run_instance`] and the Slurm launcher both start with it.
pub fn look_up(
    plan: &Plan,
    cache: &Cache,
    remote: Option<&dyn EntrySource>,
    progress: &dyn Progress,
    ix: NodeIndex,
    inputs: &[Manifest],
    forced: bool,
) -> LookUp {
    let inst = plan.get(ix);
    let digests: Vec<OutputDigest> = inputs.iter().map(|m| m.output).collect();
    let comps = inst.key_components(plan, &digests);
    let key = comps.key();
    let experiment = &plan.experiment_name;
    let found_as = |state: State, manifest: Box<Manifest>| {
        let mut record = Record::new(inst, state);
        record.key = Some(key);
        record.output = Some(manifest.output);
        let _ = cache.write_slot(experiment, &inst.id, &comps);
        LookUp::Found { record, manifest }
    };
    // Before an entry is used (as this instance's result, and so as its dependents' input),
    // every file is checked against its recorded digest.
    let found = if forced {
        EntryCheck::Absent
    } else {
        cache.check_entry(&key, true)
    };
    let reasons = match found {
        EntryCheck::Complete(m) => return found_as(State::Cached, m),
        _ if forced => vec![Reason::Forced],
        EntryCheck::Damaged(d) => vec![d.into()],
        EntryCheck::Absent => {
            if let Some(m) = fetch_remote(remote, cache, &key, progress) {
                return found_as(State::Pulled, Box::new(m));
            }
            stale_reasons(cache, experiment, inst, &comps, &key)
        }
    };
    LookUp::Stale {
        key,
        comps,
        reasons,
    }
}

/// The cache wrapper around the executor for one instance: reuse a complete entry (or the
/// remote's, see [`look_up`]), else compute under the key's lock and commit. [`run`]'s workers
/// call it, and so does a batch job of the Slurm executor (one instance in its own process).
pub fn run_instance(
    plan: &Plan,
    cache: &Cache,
    compute: Compute<'_>,
    progress: &dyn Progress,
    ix: NodeIndex,
    inputs: Vec<Manifest>,
    forced: bool,
) -> (Record, Option<Manifest>) {
    let (key, comps, reasons) =
        match look_up(plan, cache, compute.remote, progress, ix, &inputs, forced) {
            LookUp::Found { record, manifest } => return (record, Some(*manifest)),
            LookUp::Stale {
                key,
                comps,
                reasons,
            } => (key, comps, reasons),
        };
    let inst = plan.get(ix);
    let experiment = &plan.experiment_name;
    let mut record = Record::new(inst, State::Cached);
    record.key = Some(key);
    record.reasons = reasons;
    // One process computes a key at a time: wait for its lock, then look again, since the
    // holder may have just committed it (then this process picks the result up).
    let _lock = match cache.lock_key(&key) {
        Ok(lock) => lock,
        Err(e) => {
            record.state = State::Failed;
            record.error = Some(format!("cannot lock the cache entry: {e}"));
            return (record, None);
        }
    };
    if !forced && let EntryCheck::Complete(m) = cache.check_entry(&key, true) {
        record.state = State::Cached;
        record.reasons.clear();
        record.output = Some(m.output);
        let _ = cache.write_slot(experiment, &inst.id, &comps);
        return (record, Some(*m));
    }
    progress.started(ix, &inst.id);
    let started = Instant::now();
    let result = (|| -> Result<Manifest, ExecError> {
        let staging = cache.stage(&key).map_err(|e| ExecError(e.to_string()))?;
        let job = Job {
            plan,
            ix,
            instance: inst,
            inputs: inst
                .inputs
                .iter()
                .zip(inputs)
                .map(|(i, manifest)| JobInput {
                    role: &i.role,
                    instance: plan.get(i.node),
                    dir: cache.entry_dir(&manifest.key),
                    manifest,
                })
                .collect(),
            out_dir: &staging.dir,
            scratch: cache.scratch_dir(&key),
            key,
        };
        let mut cost = compute.executor.execute(&job, progress)?;
        cost.insert(
            "wall_time_s".into(),
            serde_json::json!(started.elapsed().as_secs_f64()),
        );
        cache
            .commit(staging, &inst.id, comps.clone(), cost, forced)
            .map_err(|e| ExecError(e.to_string()))
    })();
    record.elapsed = Some(started.elapsed());
    match result {
        Ok(m) => {
            cache.clear_scratch(&key);
            record.state = State::Executed;
            record.output = Some(m.output);
            let _ = cache.write_slot(experiment, &inst.id, &comps);
            cache.clear_failure(experiment, &inst.id);
            (record, Some(m))
        }
        Err(e) => {
            record.state = State::Failed;
            record.error = Some(e.0.clone());
            let _ = cache.write_failure(experiment, &inst.id, &key, &e.0);
            (record, None)
        }
    }
}
