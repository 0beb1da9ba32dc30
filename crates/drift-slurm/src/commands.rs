//! The Slurm commands drift calls (`sbatch`, `squeue`, `sacct`, `scancel`) and the parsing of
//! their output: job ids, job states, and the sbatch options of a stage's resources.

use drift_spec::params::Resources;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// A Slurm job, or one task of a job array, as `squeue -r` prints it: `123` or `123_4`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub String);

impl JobId {
    /// The job (the array's job for a task): what `squeue --jobs` and `scancel` take.
    pub fn job(&self) -> &str {
        self.0.split('_').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job's state, as Slurm names it (`squeue %T`, `sacct State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    pub name: String,
    /// Slurm's reason (`squeue %r`), e.g. `NonZeroExitCode`, `TimeLimit`, `Priority`.
    pub reason: String,
}

impl JobState {
    /// Still queued or running: the job will report again.
    pub fn is_live(&self) -> bool {
        matches!(
            self.name.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "STOPPED"
                | "RESV_DEL_HOLD"
        )
    }

    pub fn is_running(&self) -> bool {
        self.name == "RUNNING" || self.name == "COMPLETING"
    }
}

/// Why a Slurm command could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(
        "cannot run `{command}`: {source}\n  = help: the Slurm executor needs Slurm's client commands on PATH (sbatch, squeue, scancel); run drift on a login node of the cluster"
    )]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` printed an unexpected answer: {output:?}")]
    Unexpected { command: String, output: String },
}

fn run(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sbatch --parsable OPTIONS SCRIPT`: the new job's id.
pub fn sbatch(options: &[String], script: &Path) -> Result<String, SlurmError> {
    let mut args = vec!["--parsable".to_string()];
    args.extend(options.iter().cloned());
    args.push(script.display().to_string());
    let out = run("sbatch", &args)?;
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SlurmError::Unexpected {
            command: "sbatch --parsable".into(),
            output: out,
        });
    }
    Ok(id)
}

/// One `squeue` query for every given job (array tasks one per line): the states Slurm still
/// knows. Jobs it has forgotten are absent from the answer.
pub fn squeue(jobs: &[&str]) -> Result<HashMap<JobId, JobState>, SlurmError> {
    if jobs.is_empty() {
        return Ok(HashMap::new());
    }
    let args = vec![
        "--noheader".to_string(),
        "--array".to_string(),
        "--states=all".to_string(),
        "--format=%i|%T|%r".to_string(),
        format!("--jobs={}", jobs.join(",")),
    ];
    match run("squeue", &args) {
        Ok(out) => Ok(parse_states(&out)),
        // squeue refuses a list in which it knows no job at all.
        Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
            Ok(HashMap::new())
        }
        Err(e) => Err(e),
    }
}

/// `sacct` for jobs squeue has forgotten; `None` where accounting is not configured.
pub fn sacct(jobs: &[&str]) -> Option<HashMap<JobId, JobState>> {
    if jobs.is_empty() {
        return Some(HashMap::new());
    }
    let args = vec![
        "--noheader".to_string(),
        "--parsable2".to_string(),
        "--allocations".to_string(),
        "--format=JobID,State,Reason".to_string(),
        format!("--jobs={}", jobs.join(",")),
    ];
    let out = run("sacct", &args).ok()?;
    Some(parse_states(&out))
}

/// `scancel` the given jobs.
pub fn scancel(jobs: &[&str]) -> Result<(), SlurmError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let args: Vec<String> = jobs.iter().map(|j| j.to_string()).collect();
    run("scancel", &args).map(|_| ())
}

/// Lines of `ID|STATE|REASON` (squeue `%i|%T|%r`, sacct `--parsable2`). sacct writes states
/// like `CANCELLED by 0`: the first word is the state.
pub fn parse_states(text: &str) -> HashMap<JobId, JobState> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut parts = line.trim().split('|');
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let reason = parts.next().unwrap_or("").trim().to_string();
        let name = state.split_whitespace().next().unwrap_or("").to_string();
        if id.is_empty() || name.is_empty() {
            continue;
        }
        out.insert(JobId(id.trim().to_string()), JobState { name, reason });
    }
    out
}

/// The `sbatch` options of a stage's resources.
pub fn resource_options(r: &Resources) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = r.cpus {
        out.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &r.memory {
        out.push(format!("--mem={m}"));
    }
    if let Some(g) = r.gpus.filter(|g| *g > 0) {
        out.push(format!("--gpus={g}"));
    }
    if let Some(t) = &r.time {
        out.push(format!("--time={t}"));
    }
    if let Some(p) = &r.partition {
        out.push(format!("--partition={p}"));
    }
    if let Some(a) = &r.account {
        out.push(format!("--account={a}"));
    }
    out.extend(r.sbatch.iter().flatten().cloned());
    out
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_from_squeue_and_sacct_lines() {
        let text = "12_0|COMPLETED|None\n12_1|RUNNING|None\n13|FAILED|NonZeroExitCode\n\
                    14|CANCELLED by 0|\n\ngarbage\n";
        let states = parse_states(text);
        assert_eq!(states.len(), 4);
        assert_eq!(states[&JobId("13".into())].reason, "NonZeroExitCode");
        assert_eq!(states[&JobId("14".into())].name, "CANCELLED");
        assert!(states[&JobId("12_1".into())].is_live());
        assert!(!states[&JobId("12_0".into())].is_live());
        assert_eq!(JobId("12_1".into()).job(), "12");
    }

    #[test]
    fn resources_become_sbatch_options_in_order() {
        let r = Resources {
            cpus: Some(4),
            memory: Some("8G".into()),
            gpus: Some(1),
            time: Some("01:30:00".into()),
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            sbatch: Some(vec!["--qos=low".into()]),
        };
        assert_eq!(
            resource_options(&r),
            [
                "--cpus-per-task=4",
                "--mem=8G",
                "--gpus=1",
                "--time=01:30:00",
                "--partition=gpu",
                "--account=lab",
                "--qos=low"
            ]
        );
        assert!(resource_options(&Resources::default()).is_empty());
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
