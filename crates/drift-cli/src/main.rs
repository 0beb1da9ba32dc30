//! The `drift` binary: command-line parsing, exit codes, and wiring of spec -> plan -> cache ->
//! executor. All logic lives in the library crates; this file only connects them.

/// Output that never panics: a closed pipe (`drift status | head`) is not an error, and a run
/// keeps going (and caching) when nobody reads its progress any more.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bundle;
mod cluster;
mod commands;
mod progress;
mod provenance;
mod remote;
mod results;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (documented in the README).
pub mod exit {
    /// Everything succeeded.
    pub const OK: u8 = 0;
    /// A run finished with failed (or skipped) instances, or a requested result is not computed.
    pub const FAILED: u8 = 1;
    /// The spec or the command line is invalid; nothing ran.
    pub const INVALID: u8 = 2;
    /// An environment error: unreadable files, a broken cache, a device that is not available.
    pub const ENVIRONMENT: u8 = 3;
    /// Interrupted (Ctrl-C or SIGTERM) while jobs ran on Slurm; they were cancelled.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "drift",
    version,
    about = "Declarative, cached experiments on dynamics-based generative models"
)]
struct Cli {
    /// Cache directory (entries live under DIR/v1/).
    #[arg(long, global = true, env = "DRIFT_CACHE", default_value = "cache")]
    cache: PathBuf,
    /// Remote cache shared between machines (`s3://bucket/prefix`, `gs://`, `az://`,
    /// `file:///path`; overrides the spec's `[cache] remote`). `run` looks entries up there
    /// before computing them.
    #[arg(long, global = true, env = "DRIFT_REMOTE", value_name = "URL")]
    remote: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Arguments shared by every command that reads a spec.
#[derive(clap::Args, Clone)]
pub struct SpecArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// Override a spec value: `--set train.fm.lr=2e-3` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Device for train/sample stages: cpu, cuda, cuda:N or auto (overrides experiment.device).
    #[arg(long)]
    pub device: Option<String>,
    /// Refuse specs that expand to more instances than this (overrides experiment.max_instances).
    #[arg(long)]
    pub max_instances: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every stale instance of a spec, then print its reports.
    Run {
        #[command(flatten)]
        spec: SpecArgs,
        /// Instances run at the same time (default: the number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Compute threads per instance (default: cores / jobs, at least 1).
        #[arg(long)]
        threads: Option<usize>,
        /// Rerun these instances (an id, `KIND.NAME`, or `KIND.NAME[axis=value]`) even when fresh;
        /// their dependents rerun only if the forced outputs change.
        #[arg(long, value_name = "ID_OR_STAGE")]
        force: Vec<String>,
        /// Keep starting independent instances after a failure.
        #[arg(long)]
        keep_going: bool,
        /// Print one JSON object with every instance's outcome on stdout (no tables).
        #[arg(long)]
        json: bool,
        /// Where instances run: `local` or `slurm` (overrides experiment.executor). With
        /// `slurm`, each stale instance is submitted with sbatch and computed into this cache,
        /// which the compute nodes must share.
        #[arg(long, value_parser = ["local", "slurm"])]
        executor: Option<String>,
    },
    /// Compute one instance of a Slurm submission (run by the batch jobs `drift run --executor
    /// slurm` submits, not by people).
    #[command(hide = true)]
    ExecTask {
        /// The task file written at submission.
        file: PathBuf,
    },
    /// Show which instances are fresh, stale or failed, and why.
    Status {
        #[command(flatten)]
        spec: SpecArgs,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a spec and report every problem at once.
    Check {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Print an instance's key components, state, and the paths of its artifacts.
    /// With a spec, also the current state and reasons; with an id alone, what the cache last
    /// recorded for that id (in any experiment).
    #[command(override_usage = "drift show [OPTIONS] [SPEC] <ID>")]
    Show {
        /// `[SPEC] ID`: the instance id, e.g. `train.fm[data=moons,seed=0]`, optionally after
        /// the spec it belongs to.
        #[arg(num_args = 1..=2, required = true, value_name = "ID")]
        target: Vec<String>,
        /// Override a spec value (with a spec).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Device (with a spec).
        #[arg(long)]
        device: Option<String>,
    },
    /// Print the reports of a spec (computed by `drift run`).
    Table {
        #[command(flatten)]
        spec: SpecArgs,
        /// terminal, md, csv, json, latex or parquet.
        #[arg(long, default_value = "terminal")]
        format: String,
        /// Write to this file instead of stdout (required for parquet; one report per file:
        /// `{report}` in the name is replaced by the report's name).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write one self-contained HTML page (DIR/index.html: tables, figures, the spec, the
    /// plan, provenance; no scripts, no network) and the figures as PNG and SVG files.
    Report {
        #[command(flatten)]
        spec: SpecArgs,
        /// The directory to write into (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare the report tables of two result sets, cell by cell (old -> new, change): two
    /// specs in one cache, one spec in two caches (`--old-cache`), or a spec against a bundle
    /// from `drift export`. Exits 1 when anything differs.
    Diff {
        /// The old spec (`.toml`) or bundle.
        old: PathBuf,
        /// The new spec or bundle (default: the old one, with `--old-cache`).
        new: Option<PathBuf>,
        /// The cache holding the old results (default: --cache).
        #[arg(long)]
        old_cache: Option<PathBuf>,
        /// terminal, md, csv or json.
        #[arg(long, default_value = "terminal")]
        format: String,
    },
    /// Pack the spec (with its bases and data files), the resolved plan, every manifest and
    /// the result Parquet files into one tar bundle that `drift reproduce` can check.
    Export {
        #[command(flatten)]
        spec: SpecArgs,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also pack the trained weights.
        #[arg(long)]
        with_weights: bool,
    },
    /// Rerun a bundle's experiment in a fresh cache and compare every key and result with the
    /// bundle, bit for bit. Exits 1 and lists what differs when anything does.
    Reproduce {
        /// The bundle written by `drift export`.
        bundle: PathBuf,
        /// Run in this cache instead of a temporary one.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Instances run at the same time (default: the number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Upload the complete entries a spec reaches to the remote cache (content-addressed:
    /// what the remote has is not sent again).
    Push {
        #[command(flatten)]
        spec: SpecArgs,
        /// Every complete entry of the local cache, not only the spec's.
        #[arg(long)]
        all: bool,
    },
    /// Download the entries a spec reaches that this cache lacks from the remote cache
    /// (each file verified against its digest).
    Pull {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Remove cache entries that none of the given specs reach.
    Gc {
        /// Specs whose entries to keep.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// List what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check cache entries against the digests in their manifests and report damaged ones
    /// (missing, truncated or altered files). With specs, only the entries they reach; exits 1
    /// when any entry is damaged. `drift run` recomputes damaged entries.
    Verify {
        /// Specs whose entries to check (default: every entry in the cache).
        specs: Vec<PathBuf>,
    },
    /// List the available methods, generators, metrics or solvers with their parameters.
    List {
        #[arg(value_parser = ["methods", "generators", "metrics", "solvers"])]
        what: String,
    },
    /// Write the JSON Schema of spec files (generated from the parameter types).
    Schema {
        /// Where to write it.
        #[arg(long, default_value = "schemas/drift-spec.schema.json")]
        out: PathBuf,
        /// Only check that the file is current; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run {
            spec,
            jobs,
            threads,
            force,
            keep_going,
            json,
            executor,
        } => {
            let (jobs, threads) = commands::parallelism(jobs, threads);
            let threads = set_compute_threads(threads);
            let settings = commands::RunSettings {
                jobs,
                threads,
                force,
                keep_going,
                json,
                executor,
            };
            commands::run(&cli.cache, cli.remote.as_deref(), &spec, &settings)
        }
        Command::ExecTask { file } => cluster::exec_task(&cli.cache, &file),
        Command::Status { spec, json } => commands::status(&cli.cache, &spec, json),
        Command::Check { spec } => commands::check(&spec),
        Command::Show {
            target,
            overrides,
            device,
        } => match target.as_slice() {
            [spec, id] => {
                let spec = SpecArgs {
                    spec: spec.into(),
                    overrides,
                    device,
                    max_instances: None,
                };
                commands::show(&cli.cache, &spec, id)
            }
            [id] => commands::show_recorded(&cli.cache, id),
            _ => unreachable!("clap takes one or two values"),
        },
        Command::Table { spec, format, out } => {
            commands::table(&cli.cache, &spec, &format, out.as_deref())
        }
        Command::Report { spec, out } => results::report(&cli.cache, &spec, &out),
        Command::Diff {
            old,
            new,
            old_cache,
            format,
        } => {
            let new = new.unwrap_or_else(|| old.clone());
            results::diff(&cli.cache, &old, &new, old_cache.as_deref(), &format)
        }
        Command::Export {
            spec,
            out,
            with_weights,
        } => bundle::export(&cli.cache, &spec, &out, with_weights),
        Command::Reproduce {
            bundle,
            cache_dir,
            jobs,
        } => {
            let (_, threads) = commands::parallelism(jobs, None);
            let threads = set_compute_threads(threads);
            bundle::reproduce(&bundle, cache_dir.as_deref(), jobs, threads)
        }
        Command::Push { spec, all } => remote::push(&cli.cache, cli.remote.as_deref(), &spec, all),
        Command::Pull { spec } => remote::pull(&cli.cache, cli.remote.as_deref(), &spec),
        Command::Gc { specs, dry_run } => commands::gc(&cli.cache, &specs, dry_run),
        Command::Verify { specs } => commands::verify(&cli.cache, &specs),
        Command::List { what } => commands::list(&what),
        Command::Schema { out, check } => commands::schema(&out, check),
    };
    ExitCode::from(code)
}

/// candle reads `RAYON_NUM_THREADS` on every matrix product and rayon when its pool starts, so
/// the thread count per instance is decided here, once, before any thread exists. Returns the
/// count in force: the user's `RAYON_NUM_THREADS` when set, else `threads`.
#[allow(unsafe_code)]
fn set_compute_threads(threads: usize) -> usize {
    if let Some(user) = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return user; // the user's explicit choice wins
    }
    // SAFETY: called at the start of `main`, before this process starts any thread, so no other
    // thread can read the environment concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    threads
}
