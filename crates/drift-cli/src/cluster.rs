//! `drift run --executor slurm` (the coordinator: drift-exec's scheduler with the Slurm
//! launcher, Ctrl-C cancelling the submitted jobs) and `drift exec-task` (what a batch job
//! runs: one instance computed into the shared cache).

use crate::SpecArgs;
use crate::commands::{Failure, Loaded, fail, finish, invalid, load, open_cache};
use crate::exit;
use drift_cache::{Cache, EntryCheck, Manifest};
use drift_exec::{Progress, Record, RunOptions, State};
use drift_plan::NodeIndex;
use drift_slurm::{Invocation, SlurmLauncher, SlurmSettings, TaskFile};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (or SIGTERM) arrived during a Slurm run.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The first Ctrl-C asks the coordinator to cancel its jobs and stop; a second one exits at
/// once (the jobs keep running; a later `drift run` adopts them).
fn catch_interrupts() {
    static PRESSES: AtomicU32 = AtomicU32::new(0);
    let _ = ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
    });
}

fn absolute(path: &Path) -> Result<std::path::PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| fail(format!("cannot resolve {}: {e}", path.display())))
}

pub(crate) fn run_on_slurm(
    loaded: &Loaded,
    cache: &Cache,
    cache_dir: &Path,
    args: &SpecArgs,
    remote: Option<&dyn drift_exec::EntrySource>,
    progress: &dyn Progress,
    options: &RunOptions,
) -> Result<Vec<Record>, Failure> {
    let params = loaded.spec.slurm.clone();
    let drift = match &params.drift {
        Some(p) => p.into(),
        None => std::env::current_exe()
            .map_err(|e| fail(format!("cannot find the drift binary to submit: {e}")))?,
    };
    let settings = SlurmSettings {
        drift,
        cache_dir: absolute(cache_dir)?,
        invocation: Invocation {
            spec: absolute(&args.spec)?,
            overrides: args.overrides.clone(),
            device: args.device.clone(),
            max_instances: args.max_instances,
        },
        params,
    };
    let mut launcher = SlurmLauncher::new(
        &loaded.plan,
        &loaded.spec,
        cache,
        progress,
        settings,
        remote,
        &INTERRUPTED,
    )
    .map_err(|e| invalid(format!("error: {e}")))?;
    catch_interrupts();
    Ok(drift_exec::schedule(
        &loaded.plan,
        progress,
        options,
        &mut launcher,
    ))
}

/// Prints progress into the job's log.
struct LogProgress;

impl Progress for LogProgress {
    fn started(&self, _ix: NodeIndex, id: &str) {
        errln!("drift exec-task: computing {id}");
    }
}

/// `drift exec-task FILE`: exit 0 when the instance's entry is in the cache afterwards.
pub fn exec_task(cache_dir: &Path, file: &Path) -> u8 {
    finish((|| {
        let (invocation, task) = TaskFile::read_task(file).map_err(fail)?;
        let args = SpecArgs {
            spec: invocation.spec,
            overrides: invocation.overrides,
            device: invocation.device,
            max_instances: invocation.max_instances,
        };
        let loaded = load(&args)?;
        let cache = open_cache(cache_dir)?;
        let plan = &loaded.plan;
        let ix = plan.find(&task.id).ok_or_else(|| {
            fail(format!(
                "{} has no instance {}: the spec changed since the job was submitted",
                args.spec.display(),
                task.id
            ))
        })?;
        let inst = plan.get(ix);
        let mut inputs: Vec<Manifest> = Vec::with_capacity(task.inputs.len());
        for key in &task.inputs {
            match cache.check_entry(key, true) {
                EntryCheck::Complete(m) => inputs.push(*m),
                _ => {
                    return Err(fail(format!(
                        "input {} of {} is not a complete entry of cache {}: is the cache on a file system this node shares?",
                        key.hex(),
                        task.id,
                        cache_dir.display()
                    )));
                }
            }
        }
        let digests: Vec<_> = inputs.iter().map(|m| m.output).collect();
        let key = inst.key(plan, &digests);
        if key != task.key {
            return Err(fail(format!(
                "{} now has key {}, not the submitted {}: the spec or its data changed since submission; rerun `drift run`",
                task.id,
                key.hex(),
                task.key.hex()
            )));
        }
        let executor = drift_stages::StageExecutor {
            device: loaded.device.clone(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(task.threads.max(1))
            .build()
            .map_err(fail)?;
        let (record, _) = pool.install(|| {
            drift_exec::run_instance(
                plan,
                &cache,
                drift_exec::Compute::local(&executor),
                &LogProgress,
                ix,
                inputs,
                task.forced,
            )
        });
        match record.state {
            State::Failed => {
                errln!(
                    "drift exec-task: {} failed: {}",
                    task.id,
                    record.error.as_deref().unwrap_or("")
                );
                Ok(exit::FAILED)
            }
            state => {
                errln!("drift exec-task: {} {}", task.id, state.name());
                Ok(exit::OK)
            }
        }
    })())
}
