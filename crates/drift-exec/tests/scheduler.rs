//! The scheduler with a fake executor: dependency order, failures, skips, aborts, and that every
//! run terminates with one record per instance.

use drift_cache::Cache;
use drift_exec::{Cost, ExecError, Executor, Job, NoProgress, Progress, RunOptions, State};
use drift_spec::Sources;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Writes one file per instance; fails every train instance whose lr is 0.5.
struct Fake {
    order: Mutex<Vec<String>>,
}

impl Executor for Fake {
    fn execute(&self, job: &Job<'_>, _: &dyn Progress) -> Result<Cost, ExecError> {
        for input in &job.inputs {
            assert!(
                input.dir.exists(),
                "inputs are committed before dependents start"
            );
        }
        self.order.lock().unwrap().push(job.instance.id.clone());
        if job.instance.id.contains("lr=0.5") {
            return Err(ExecError("diverged".into()));
        }
        std::fs::write(
            job.out_dir.join("out.txt"),
            job.instance.semantic.to_string(),
        )
        .unwrap();
        Ok(Cost::new())
    }
}

const SPEC: &str = r#"
[experiment]
name = "s"
[data.d]
generator = "two_moons"
n_train = 8
n_test = 4
[train.t]
method = "flow_matching"
data = "data.d"
steps = 1
sweep.lr = [0.1, 0.5, 0.9]
[sample.s]
model = "train.t"
solver = "euler"
n = 4
sweep.nfe = [1, 2]
[eval.e]
samples = "sample.s"
metrics = ["w2"]
[report.r]
from = ["eval.e"]
rows = ["lr", "nfe"]
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-exec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(name: &str, jobs: usize, keep_going: bool) -> (Vec<drift_exec::Record>, Vec<String>) {
    let spec = drift_spec::parse(Sources::new(Path::new("s.toml"), SPEC.into()), &[]).unwrap();
    let plan = drift_plan::build(&spec, &Default::default()).unwrap();
    let dir = scratch(name);
    let cache = Cache::open(&dir).unwrap();
    let fake = Fake {
        order: Mutex::new(Vec::new()),
    };
    let options = RunOptions {
        force: Vec::new(),
        jobs,
        threads: 1,
        keep_going,
    };
    let records = drift_exec::run(
        &plan,
        &cache,
        drift_exec::Compute::local(&fake),
        &NoProgress,
        &options,
    );
    assert_eq!(records.len(), plan.instances.len());
    let order = fake.order.into_inner().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (records, order)
}

fn count(records: &[drift_exec::Record], state: State) -> usize {
    records.iter().filter(|r| r.state == state).count()
}

#[test]
fn keep_going_finishes_independent_work() {
    for jobs in [1, 2, 4] {
        let (records, order) = run(&format!("keep{jobs}"), jobs, true);
        // 1 data + 3 train + 6 sample + 6 eval + 1 report.
        assert_eq!(records.len(), 17);
        assert_eq!(count(&records, State::Failed), 1);
        // 2 samples + 2 evals of the failed training, and the report.
        assert_eq!(count(&records, State::Skipped), 5);
        // The fake's sample outputs do not depend on the model, so the evals of equal samples
        // share a key: the second is a cache hit (early cutoff).
        assert_eq!(
            count(&records, State::Executed) + count(&records, State::Cached),
            11
        );
        // With several jobs the two may run at once (both execute; the first commit wins):
        // a per-key lock that makes the second wait is the concurrency issue's work.
        assert!(count(&records, State::Cached) <= 2);
        if jobs == 1 {
            assert_eq!(count(&records, State::Cached), 2);
        }
        assert!(!order.iter().any(|id| id.starts_with("sample.s[lr=0.5")));
        let data = order.iter().position(|id| id == "data.d").unwrap();
        assert_eq!(data, 0, "inputs run first: {order:?}");
    }
}

#[test]
fn a_failure_without_keep_going_stops_starting_new_work_and_terminates() {
    for jobs in [1, 2, 4] {
        let (records, _) = run(&format!("abort{jobs}"), jobs, false);
        assert_eq!(count(&records, State::Failed), 1);
        let failed = records.iter().find(|r| r.state == State::Failed).unwrap();
        assert_eq!(failed.error.as_deref(), Some("diverged"));
        let done = [State::Executed, State::Cached, State::Skipped].map(|s| count(&records, s));
        assert_eq!(done.iter().sum::<usize>() + 1, 17);
        // Nothing downstream of the failure ran.
        assert!(
            records
                .iter()
                .filter(|r| r.id.contains("lr=0.5") && r.id != failed.id)
                .all(|r| r.state == State::Skipped)
        );
    }
}
