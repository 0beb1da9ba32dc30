//! The Slurm executor: a [`Launcher`] for drift-exec's scheduler that submits each stale stage
//! instance (instances of one stage that become ready together: one job array) with `sbatch`,
//! each job running `drift exec-task` to compute its instance into the shared cache, and watches
//! them with one rate-limited `squeue` query for all jobs. The coordinating process keeps the
//! DAG; fresh entries are never submitted. Resources are execution settings, outside keys.
//!
//! State under `<cache>/v1/slurm/`: `tasks/` (the task file and batch script of every
//! submission), `logs/` (job output), `jobs/<key>.json` (the live job computing a key, so that
//! a coordinator started after a killed one adopts it instead of submitting it again).

pub mod commands;

use commands::{JobId, JobState, SlurmError};
use drift_cache::{Cache, EntryCheck};
use drift_exec::{
    Completion, EntrySource, Launcher, LookUp, Progress, Ready, Reason, Record, State,
};
use drift_plan::key::{KeyComponents, StageKey};
use drift_plan::{NodeIndex, Plan};
use drift_spec::Spec;
use drift_spec::params::{Resources, SlurmParams};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a job loads the same plan as its coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// The spec file (absolute).
    pub spec: PathBuf,
    pub overrides: Vec<String>,
    pub device: Option<String>,
    pub max_instances: Option<u64>,
}

/// One instance a job computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// The key the coordinator computed: the job refuses to compute anything else (the spec
    /// or an input changed since submission).
    pub key: StageKey,
    /// The keys of its inputs' entries, in the instance's `inputs` order.
    pub inputs: Vec<StageKey>,
    pub forced: bool,
    /// Compute threads (the job's CPUs).
    pub threads: usize,
}

/// What `drift exec-task FILE` reads: one task per array index (index 0 for a plain job).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskFile {
    pub format: u32,
    pub invocation: Invocation,
    pub tasks: Vec<Task>,
}

impl TaskFile {
    /// The task of this job: `SLURM_ARRAY_TASK_ID`, or the only one.
    pub fn read_task(path: &Path) -> Result<(Invocation, Task), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read task file {}: {e}", path.display()))?;
        let file: TaskFile = serde_json::from_str(&text)
            .map_err(|e| format!("task file {} is not valid: {e}", path.display()))?;
        let index = match std::env::var("SLURM_ARRAY_TASK_ID") {
            Ok(v) => v
                .parse::<usize>()
                .map_err(|_| format!("SLURM_ARRAY_TASK_ID={v:?} is not an index"))?,
            Err(_) if file.tasks.len() == 1 => 0,
            Err(_) => {
                return Err(format!(
                    "task file {} holds {} tasks: run it as a job array (SLURM_ARRAY_TASK_ID unset)",
                    path.display(),
                    file.tasks.len()
                ));
            }
        };
        let n = file.tasks.len();
        let task = file.tasks.into_iter().nth(index).ok_or_else(|| {
            format!(
                "task file {} has {n} tasks, no index {index}",
                path.display()
            )
        })?;
        Ok((file.invocation, task))
    }
}

/// The record of a live job computing a key (`jobs/<key>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobRecord {
    job: String,
    log: PathBuf,
    id: String,
}

/// The Slurm executor's state directory in `cache`: `<cache>/v1/slurm/`.
fn slurm_dir(cache: &Cache) -> PathBuf {
    cache.root().join("slurm")
}

/// Where the live job computing `key` is recorded: `<cache>/v1/slurm/jobs/<key>.json`.
fn job_record_path(cache: &Cache, key: &StageKey) -> PathBuf {
    slurm_dir(cache)
        .join("jobs")
        .join(format!("{}.json", key.hex()))
}

/// The Slurm job a coordinator recorded as computing `key` (it may have ended since), with its
/// log: `drift status` shows it beside a stale instance.
pub fn recorded_job(cache: &Cache, key: &StageKey) -> Option<(String, PathBuf)> {
    let path = job_record_path(cache, key);
    let record: JobRecord = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some((record.job, record.log))
}

/// Everything the launcher needs besides the plan.
pub struct SlurmSettings {
    pub params: SlurmParams,
    /// The `drift` binary the jobs run.
    pub drift: PathBuf,
    /// The cache directory as the compute nodes see it (absolute; entries under `v1/`).
    pub cache_dir: PathBuf,
    pub invocation: Invocation,
}

/// Why the executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("[slurm] {0}")]
    Settings(String),
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Slurm(#[from] SlurmError),
}

/// A job drift submitted (or adopted) and is waiting for.
struct Submitted {
    ix: NodeIndex,
    key: StageKey,
    comps: KeyComponents,
    reasons: Vec<Reason>,
    inputs: Vec<StageKey>,
    forced: bool,
    log: PathBuf,
    /// Submissions so far (1 = the first).
    attempt: u32,
    started: bool,
    since: Instant,
    /// Polls in a row in which Slurm did not report the job.
    unseen: u32,
}

/// drift-exec's [`Launcher`] for a Slurm cluster.
pub struct SlurmLauncher<'a> {
    plan: &'a Plan,
    spec: &'a Spec,
    cache: &'a Cache,
    progress: &'a dyn Progress,
    settings: SlurmSettings,
    /// A remote cache tried before submitting.
    remote: Option<&'a dyn EntrySource>,
    interrupted: &'a AtomicBool,
    dir: PathBuf,
    immediate: VecDeque<Completion>,
    submitted: BTreeMap<JobId, Submitted>,
    /// Launched, not yet submitted (see [`SlurmLauncher::flush`]).
    unsubmitted: Vec<Submitted>,
    interval: Duration,
    submissions: u64,
}

const LIVE_POLL_SLICE: Duration = Duration::from_millis(50);

impl<'a> SlurmLauncher<'a> {
    /// Checks the settings and every stage's resources (before anything is submitted) and
    /// prepares `<cache>/v1/slurm/`.
    pub fn new(
        plan: &'a Plan,
        spec: &'a Spec,
        cache: &'a Cache,
        progress: &'a dyn Progress,
        settings: SlurmSettings,
        remote: Option<&'a dyn EntrySource>,
        interrupted: &'a AtomicBool,
    ) -> Result<Self, SetupError> {
        // `drift check` rejects 0 in a spec with its position; this guards settings built in
        // code (the fields are public), where 0 would make empty arrays.
        if settings.params.max_array_size == 0 {
            return Err(SetupError::Settings(
                "max_array_size = 0: give at least 1".into(),
            ));
        }
        let dir = slurm_dir(cache);
        for sub in ["tasks", "logs", "jobs"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| SetupError::Io { path, source })?;
        }
        let interval = Duration::from_secs_f64(settings.params.poll_min_s);
        Ok(SlurmLauncher {
            plan,
            spec,
            cache,
            progress,
            settings,
            remote,
            interrupted,
            dir,
            immediate: VecDeque::new(),
            submitted: BTreeMap::new(),
            unsubmitted: Vec::new(),
            interval,
            submissions: 0,
        })
    }

    fn resources_of(&self, ix: NodeIndex) -> Resources {
        let inst = self.plan.get(ix);
        self.spec.resources(inst.kind, &inst.stage)
    }

    /// [`job_record_path`] in this launcher's cache.
    fn journal(&self, key: &StageKey) -> PathBuf {
        job_record_path(self.cache, key)
    }

    fn fail(&mut self, ix: NodeIndex, key: StageKey, reasons: Vec<Reason>, error: String) {
        let inst = self.plan.get(ix);
        let mut record = Record::new(inst, State::Failed);
        record.key = Some(key);
        record.reasons = reasons;
        record.error = Some(error.clone());
        let _ = self
            .cache
            .write_failure(&self.plan.experiment_name, &inst.id, &key, &error);
        self.immediate.push_back((ix, record, None));
    }

    /// Submits `group` (instances of one stage with the same resources) as one job, or one
    /// array, per `max_array_size` instances.
    fn submit(&mut self, group: Vec<Submitted>) {
        let chunk = if self.settings.params.arrays {
            self.settings.params.max_array_size as usize
        } else {
            1
        };
        let mut group = group.into_iter().peekable();
        while group.peek().is_some() {
            let batch: Vec<Submitted> = group.by_ref().take(chunk).collect();
            self.submit_batch(batch);
        }
    }

    fn submit_batch(&mut self, batch: Vec<Submitted>) {
        let resources = self.resources_of(batch[0].ix);
        let threads = resources.cpus.unwrap_or(1).max(1) as usize;
        let inst = self.plan.get(batch[0].ix);
        let label = format!("{}.{}", inst.kind.name(), inst.stage);
        self.submissions += 1;
        let stem = format!(
            "{}-{}-{}",
            batch[0].key.hex().get(..16).unwrap_or_default(),
            std::process::id(),
            self.submissions
        );
        let file = TaskFile {
            format: 1,
            invocation: self.settings.invocation.clone(),
            tasks: batch
                .iter()
                .map(|s| Task {
                    id: self.plan.get(s.ix).id.clone(),
                    key: s.key,
                    inputs: s.inputs.clone(),
                    forced: s.forced,
                    threads,
                })
                .collect(),
        };
        let task_path = self.dir.join("tasks").join(format!("{stem}.json"));
        let script_path = self.dir.join("tasks").join(format!("{stem}.sh"));
        let script = format!(
            "#!/bin/sh\n# drift: {} instance(s) of {label}\nexec {} --cache {} exec-task {}\n",
            batch.len(),
            commands::shell_quote(&self.settings.drift.display().to_string()),
            commands::shell_quote(&self.settings.cache_dir.display().to_string()),
            commands::shell_quote(&task_path.display().to_string()),
        );
        let written = drift_cache::write_atomic(
            &task_path,
            serde_json::to_string_pretty(&file)
                .expect("task file serialises")
                .as_bytes(),
        )
        .and_then(|()| drift_cache::write_atomic(&script_path, script.as_bytes()));
        let array = batch.len() > 1;
        let log_pattern = if array {
            format!("{stem}-%A_%a.log")
        } else {
            format!("{stem}-%j.log")
        };
        let mut options = vec![
            format!("--job-name=drift:{label}"),
            format!(
                "--output={}",
                self.dir.join("logs").join(&log_pattern).display()
            ),
        ];
        if array {
            options.push(format!("--array=0-{}", batch.len() - 1));
        }
        options.extend(commands::resource_options(&resources));
        let submitted = written
            .map_err(|e| e.to_string())
            .and_then(|()| commands::sbatch(&options, &script_path).map_err(|e| e.to_string()));
        let job = match submitted {
            Ok(job) => job,
            Err(e) => {
                for s in batch {
                    self.fail(
                        s.ix,
                        s.key,
                        s.reasons,
                        format!("cannot submit to Slurm: {e}"),
                    );
                }
                return;
            }
        };
        let what = if array {
            format!("array {job} ({} tasks)", batch.len())
        } else {
            format!("job {job}")
        };
        let retry = batch
            .first()
            .filter(|s| s.attempt > 1)
            .map(|s| format!(" (attempt {})", s.attempt))
            .unwrap_or_default();
        self.progress
            .note(&format!("submitted {label} as Slurm {what}{retry}"));
        for (i, mut s) in batch.into_iter().enumerate() {
            let id = if array {
                JobId(format!("{job}_{i}"))
            } else {
                JobId(job.clone())
            };
            s.log = self.dir.join("logs").join(if array {
                format!("{stem}-{job}_{i}.log")
            } else {
                format!("{stem}-{job}.log")
            });
            s.since = Instant::now();
            s.started = false;
            s.unseen = 0;
            let record = JobRecord {
                job: id.0.clone(),
                log: s.log.clone(),
                id: self.plan.get(s.ix).id.clone(),
            };
            let _ = drift_cache::write_atomic(
                &self.journal(&s.key),
                serde_json::to_string(&record)
                    .expect("job record serialises")
                    .as_bytes(),
            );
            self.submitted.insert(id, s);
        }
    }

    /// Jobs recorded for these keys by an earlier coordinator that Slurm still runs.
    fn live_jobs(&self, keys: &[StageKey]) -> HashMap<StageKey, (JobId, PathBuf)> {
        let records: Vec<(StageKey, JobRecord)> = keys
            .iter()
            .filter_map(|k| {
                let text = std::fs::read_to_string(self.journal(k)).ok()?;
                Some((*k, serde_json::from_str(&text).ok()?))
            })
            .collect();
        if records.is_empty() {
            return HashMap::new();
        }
        let mut jobs: Vec<&str> = records
            .iter()
            .map(|(_, r)| r.job.split('_').next().unwrap_or(&r.job))
            .collect();
        jobs.sort();
        jobs.dedup();
        let Ok(states) = commands::squeue(&jobs) else {
            return HashMap::new();
        };
        records
            .into_iter()
            .filter(|(_, r)| {
                states
                    .get(&JobId(r.job.clone()))
                    .is_some_and(JobState::is_live)
            })
            .map(|(k, r)| (k, (JobId(r.job), r.log)))
            .collect()
    }

    /// One status query for every outstanding job; handles the finished ones. Returns whether
    /// anything changed.
    fn poll(&mut self) -> bool {
        let mut jobs: Vec<&str> = self.submitted.keys().map(JobId::job).collect();
        jobs.sort();
        jobs.dedup();
        let states = match commands::squeue(&jobs) {
            Ok(s) => s,
            Err(e) => {
                self.progress
                    .note(&format!("cannot query Slurm (will retry): {e}"));
                return false;
            }
        };
        let mut changed = false;
        let mut finished: Vec<(JobId, Option<JobState>)> = Vec::new();
        let mut unseen: Vec<JobId> = Vec::new();
        for (id, s) in self.submitted.iter_mut() {
            match states.get(id) {
                Some(state) if state.is_live() => {
                    s.unseen = 0;
                    if state.is_running() && !s.started {
                        s.started = true;
                        changed = true;
                        self.progress.started(s.ix, &self.plan.get(s.ix).id);
                    }
                }
                Some(state) => finished.push((id.clone(), Some(state.clone()))),
                None => {
                    s.unseen += 1;
                    // Just submitted jobs can take a moment to show; forgotten ones never do.
                    if s.unseen >= 3 {
                        unseen.push(id.clone());
                    }
                }
            }
        }
        if !unseen.is_empty() {
            let mut ids: Vec<&str> = unseen.iter().map(JobId::job).collect();
            ids.sort();
            ids.dedup();
            let accounted = commands::sacct(&ids).unwrap_or_default();
            for id in unseen {
                let state = accounted.get(&id).cloned();
                finished.push((id, state));
            }
        }
        for (id, state) in finished {
            changed = true;
            self.finish(id, state);
        }
        changed
    }

    /// A job that ended (`state` None: Slurm no longer knows it).
    fn finish(&mut self, id: JobId, state: Option<JobState>) {
        let Some(s) = self.submitted.remove(&id) else {
            return;
        };
        let _ = std::fs::remove_file(self.journal(&s.key));
        let inst = self.plan.get(s.ix);
        let experiment = &self.plan.experiment_name;
        let entry = match self.cache.check_entry(&s.key, true) {
            EntryCheck::Complete(m) => Some(*m),
            _ => None,
        };
        let completed = state.as_ref().is_none_or(|st| st.name == "COMPLETED");
        if let (true, Some(manifest)) = (completed, entry) {
            let mut record = Record::new(inst, State::Executed);
            record.key = Some(s.key);
            record.reasons = s.reasons;
            record.output = Some(manifest.output);
            record.elapsed = manifest
                .cost
                .get("wall_time_s")
                .and_then(serde_json::Value::as_f64)
                .map(Duration::from_secs_f64)
                .or(Some(s.since.elapsed()));
            let _ = self.cache.write_slot(experiment, &inst.id, &s.comps);
            self.immediate.push_back((s.ix, record, Some(manifest)));
            return;
        }
        let state_text = match &state {
            Some(st) if !st.reason.is_empty() && st.reason != "None" => {
                format!("{} ({})", st.name, st.reason)
            }
            Some(st) => st.name.clone(),
            None => "no longer reported by squeue or sacct".into(),
        };
        // The stage's own error, when the job got as far as running it.
        let stage_error = self
            .cache
            .read_failure(experiment, &inst.id)
            .filter(|f| f.key == s.key)
            .map(|f| f.error);
        let detail = match &stage_error {
            Some(e) => format!(": {e}"),
            None => log_tail(&s.log, 5)
                .map(|t| format!("; its log ends:\n{t}"))
                .unwrap_or_default(),
        };
        let message = format!(
            "Slurm job {id} {state_text}{}; log: {}{detail}",
            if s.attempt > 1 {
                format!(" on attempt {}", s.attempt)
            } else {
                String::new()
            },
            s.log.display(),
        );
        let cancelled = state.as_ref().is_some_and(|st| st.name == "CANCELLED");
        if !cancelled && s.attempt <= self.settings.params.retries {
            self.progress.note(&format!(
                "{}: {message}; resubmitting ({} of {} retries)",
                inst.id, s.attempt, self.settings.params.retries
            ));
            let retry = Submitted {
                attempt: s.attempt + 1,
                ..s
            };
            self.submit(vec![retry]);
            return;
        }
        self.fail(s.ix, s.key, s.reasons, message);
    }

    /// Ctrl-C: cancels every outstanding job and reports each as failed.
    fn cancel_all(&mut self) {
        let mut jobs: Vec<String> = self.submitted.keys().map(|j| j.job().to_string()).collect();
        jobs.sort();
        jobs.dedup();
        let refs: Vec<&str> = jobs.iter().map(String::as_str).collect();
        let cancelled = commands::scancel(&refs);
        let outcome = match &cancelled {
            Ok(()) => "cancelled with scancel".to_string(),
            Err(e) => format!("scancel failed: {e}"),
        };
        self.progress.note(&format!(
            "interrupted: {} Slurm job(s) {outcome}",
            jobs.len()
        ));
        for (id, s) in std::mem::take(&mut self.submitted) {
            let _ = std::fs::remove_file(self.journal(&s.key));
            let inst = self.plan.get(s.ix);
            let mut record = Record::new(inst, State::Failed);
            record.key = Some(s.key);
            record.reasons = s.reasons;
            record.error = Some(format!("interrupted: Slurm job {id} {outcome}"));
            self.immediate.push_back((s.ix, record, None));
        }
    }

    fn wait(&mut self) {
        let deadline = Instant::now() + self.interval;
        while Instant::now() < deadline && !self.interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(LIVE_POLL_SLICE.min(self.interval));
        }
    }
}

impl Launcher for SlurmLauncher<'_> {
    fn launch(&mut self, ready: Vec<Ready>) {
        let mut to_run: Vec<Submitted> = Vec::new();
        for r in ready {
            let (key, comps, reasons) = match drift_exec::look_up(
                self.plan,
                self.cache,
                self.remote,
                self.progress,
                r.ix,
                &r.inputs,
                r.forced,
            ) {
                LookUp::Found { record, manifest } => {
                    // Fresh (here or pulled from the remote): never submitted. When the entry
                    // was already here, a job record left by a killed coordinator whose job
                    // finished is done with.
                    if record.state == State::Cached
                        && let Some(key) = &record.key
                    {
                        let _ = std::fs::remove_file(self.journal(key));
                    }
                    self.immediate.push_back((r.ix, record, Some(*manifest)));
                    continue;
                }
                LookUp::Stale {
                    key,
                    comps,
                    reasons,
                } => (key, comps, reasons),
            };
            to_run.push(Submitted {
                ix: r.ix,
                key,
                comps,
                reasons,
                inputs: r.inputs.iter().map(|m| m.key).collect(),
                forced: r.forced,
                log: PathBuf::new(),
                attempt: 1,
                started: false,
                since: Instant::now(),
                unseen: 0,
            });
        }
        // Submitted when the scheduler next waits, so that instances made ready by several
        // completions of one poll share one array.
        self.unsubmitted.extend(to_run);
    }

    fn next(&mut self) -> Option<Completion> {
        loop {
            if let Some(done) = self.immediate.pop_front() {
                return Some(done);
            }
            if !self.unsubmitted.is_empty() {
                self.flush();
                continue;
            }
            if self.submitted.is_empty() {
                return None;
            }
            if self.interrupted.load(Ordering::SeqCst) {
                self.cancel_all();
                continue;
            }
            let min = Duration::from_secs_f64(self.settings.params.poll_min_s);
            let max = Duration::from_secs_f64(self.settings.params.poll_max_s);
            if self.poll() {
                self.interval = min;
            } else {
                // Nothing changed: ask less often, up to the ceiling.
                self.wait();
                self.interval = (self.interval * 2).min(max);
            }
        }
    }

    fn withdraw_queued(&mut self) -> usize {
        // Not yet submitted: dropped. Pending in Slurm's queue: cancelled. Running: they finish.
        let mut withdrawn = std::mem::take(&mut self.unsubmitted).len();
        let pending: Vec<JobId> = self
            .submitted
            .iter()
            .filter(|(_, s)| !s.started)
            .map(|(id, _)| id.clone())
            .collect();
        let ids: Vec<&str> = pending.iter().map(|j| j.0.as_str()).collect();
        if ids.is_empty() || commands::scancel(&ids).is_err() {
            return withdrawn;
        }
        for id in &pending {
            if let Some(s) = self.submitted.remove(id) {
                let _ = std::fs::remove_file(self.journal(&s.key));
                withdrawn += 1;
            }
        }
        withdrawn
    }
}

impl SlurmLauncher<'_> {
    /// Submits what `launch` collected: jobs an earlier (killed) coordinator submitted and
    /// Slurm still runs are adopted, the rest grouped by stage and resources into arrays.
    fn flush(&mut self) {
        let to_run = std::mem::take(&mut self.unsubmitted);
        let keys: Vec<StageKey> = to_run.iter().map(|s| s.key).collect();
        let live = self.live_jobs(&keys);
        let mut groups: BTreeMap<(String, String), Vec<Submitted>> = BTreeMap::new();
        for mut s in to_run {
            if let Some((job, log)) = live.get(&s.key) {
                self.progress.note(&format!(
                    "adopted Slurm job {job} for {} (submitted by an earlier run)",
                    self.plan.get(s.ix).id
                ));
                s.log = log.clone();
                self.submitted.insert(job.clone(), s);
                continue;
            }
            let inst = self.plan.get(s.ix);
            let resources = serde_json::to_string(&self.resources_of(s.ix)).unwrap_or_default();
            groups
                .entry((format!("{}.{}", inst.kind.name(), inst.stage), resources))
                .or_default()
                .push(s);
        }
        for (_, group) in groups {
            self.submit(group);
        }
    }
}

/// The last `n` lines of a log, indented, if it can be read.
fn log_tail(path: &Path, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let start = lines.len().saturating_sub(n);
    Some(
        lines[start..]
            .iter()
            .map(|l| format!("    | {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}
