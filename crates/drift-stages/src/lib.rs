//! drift's stage implementations: the [`Executor`] that computes one instance of each stage kind
//! from its typed parameters and its inputs' artifacts. The only crate where spec parameters
//! meet the data generators, the candle models and the metrics.
//!
//! Artifacts per kind (flat files in the entry directory; schemas documented in drift-io):
//! - data: `train.parquet`, `val.parquet`, `test.parquet` (f32 columns `x0..x{d-1}`)
//! - train: `weights.safetensors`, `model.json` (resolved network config and data dimension),
//!   `loss.parquet` (step, loss)
//! - sample: `samples.parquet`, `sample.json` (realised NFE counted by the model wrapper)
//! - eval: `metrics.parquet` (metric, value)
//! - report: `table.parquet` (long form), `table.txt` and `table.md` (renderings without a title);
//!   a `plot` report: `figure_<i>.png`, `figure_<i>.svg` and `figures.json` (see `figures`)

use drift_exec::{Cost, ExecError, Executor, Job, Progress};
use drift_nn::ComputeDevice;
use drift_plan::columns_of;
use drift_plan::key::derive_seed;
use drift_spec::StageParams;
use drift_spec::params::{self, GeneratorParams};

pub mod convert;
mod figures;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Computes instances on one compute device.
pub struct StageExecutor {
    pub device: ComputeDevice,
}

pub(crate) fn io<E: std::fmt::Display>(e: E) -> ExecError {
    ExecError(e.to_string())
}

impl Executor for StageExecutor {
    fn execute(&self, job: &Job<'_>, progress: &dyn Progress) -> Result<Cost, ExecError> {
        let seed = |stream: &str| {
            derive_seed(
                job.plan.experiment_seed,
                job.instance.kind.name(),
                job.instance.params.seed(),
                stream,
            )
        };
        match &job.instance.params {
            StageParams::Data(p) => run_data(job, p, &seed),
            StageParams::Train(p) => self.run_train(job, p, seed("train"), progress),
            StageParams::Sample(p) => self.run_sample(job, p, seed("noise")),
            StageParams::Eval(p) => run_eval(job, p, seed("directions")),
            StageParams::Report(p) => run_report(job, p),
        }
    }
}

/// The digits table (see data/make_digits.py), shipped inside the binary so that
/// `generator = "digits"` works from any directory.
const DIGITS_PARQUET: &[u8] = include_bytes!("../../../data/digits.parquet");

/// The generator behind a data stage's parameters, or why there is none.
fn generator(p: &GeneratorParams) -> Result<drift_data::Generator, ExecError> {
    match drift_spec::generators::to_generator(p) {
        Some(Ok(g)) => Ok(g),
        Some(Err(e)) => Err(io(e)),
        None => Err(ExecError(format!(
            "generator `{}` does not draw plain points: it cannot draw fresh points \
             (use data_sampling = \"with_replacement\")",
            p.name()
        ))),
    }
}

/// A user-data error, with the spec layer's "did you mean" for an unknown column.
fn column_error(e: drift_io::IoError) -> ExecError {
    match e {
        drift_io::IoError::UnknownColumn {
            path,
            column,
            columns,
        } => ExecError(format!(
            "{} holds invalid data: no column `{column}`{} (numeric columns: {})",
            path.display(),
            drift_spec::diagnostic::did_you_mean(&column, columns.iter().map(String::as_str)),
            columns.join(", ")
        )),
        other => io(other),
    }
}

/// A fixed table (`file`, `digits`): read and check it, shuffle its rows with the stage seed,
/// split by fractions, optionally standardise by the training split, write the splits.
fn run_table_data(
    job: &Job<'_>,
    p: &params::DataParams,
    seed: &dyn Fn(&str) -> u64,
) -> Result<Cost, ExecError> {
    use drift_io::FileFormat as F;
    let (table, origin, standardize, split, labels) = match &p.generator {
        GeneratorParams::File(f) => {
            let path = f
                .resolved_path
                .clone()
                .ok_or_else(|| ExecError("the data file was not resolved by the planner".into()))?;
            let format = match f.format_in_force() {
                Some(params::FileFormat::Parquet) => F::Parquet,
                Some(params::FileFormat::Csv) => F::Csv,
                Some(params::FileFormat::Npy) => F::Npy,
                None => return Err(ExecError(format!("unknown format of {}", path.display()))),
            };
            let (table, digest) = drift_io::read_numeric_file(&path, format).map_err(io)?;
            let planned = job
                .instance
                .semantic
                .get("content_digest")
                .and_then(|v| v.as_str());
            if planned != Some(digest.to_hex().as_str()) {
                return Err(ExecError(format!(
                    "{} changed after the run was planned; run again to use the new content",
                    path.display()
                )));
            }
            let table = match &f.columns {
                Some(columns) => table.select(columns, &path).map_err(column_error)?,
                None => table,
            };
            (table, path, f.standardize, f.split, None)
        }
        GeneratorParams::Digits(d) => {
            let origin = Path::new("data/digits.parquet");
            let table = drift_io::read_numeric_bytes(DIGITS_PARQUET.to_vec(), F::Parquet, origin)
                .map_err(io)?;
            let pixels: Vec<String> = table
                .columns
                .iter()
                .filter(|c| c.starts_with("pixel_"))
                .cloned()
                .collect();
            let labels: Vec<u64> = table
                .select(&["target".to_string()], origin)
                .map_err(io)?
                .values
                .iter()
                .map(|&v| v as u64)
                .collect();
            let mut table = table.select(&pixels, origin).map_err(io)?;
            for v in &mut table.values {
                *v /= 16.0;
            }
            (
                table,
                origin.to_path_buf(),
                d.standardize,
                d.split,
                Some(labels),
            )
        }
        _ => unreachable!("only table generators come here"),
    };
    table.check_finite(&origin).map_err(io)?;
    let (n, dim) = (table.rows, table.columns.len());
    let n_test = (split.test * n as f64).round() as usize;
    let n_val = (split.val * n as f64).round() as usize;
    let n_train = n.saturating_sub(n_test + n_val);
    if n_train == 0 || n_test < 2 {
        return Err(ExecError(format!(
            "{} has {n} rows: split train {} / val {} / test {} gives {n_train} / {n_val} / {n_test} \
             rows; training needs at least 1 and the test split at least 2",
            origin.display(),
            split.train,
            split.val,
            split.test
        )));
    }
    // Fisher-Yates on u64 draws, so the order is the same on every platform.
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = drift_dynamics::rng(seed("split"), 0);
    for i in (1..n).rev() {
        use rand::Rng as _;
        let j = rng.random_range(0..=i as u64) as usize;
        order.swap(i, j);
    }
    let (train, rest) = order.split_at(n_train);
    let (val, test) = rest.split_at(n_val);
    let (mut shift, mut scale) = (vec![0f64; dim], vec![1f64; dim]);
    if standardize {
        for c in 0..dim {
            let column = || train.iter().map(|&r| table.values[r * dim + c]);
            let mean = column().sum::<f64>() / n_train as f64;
            let var = column().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n_train as f64;
            shift[c] = mean;
            // A constant column keeps its scale instead of dividing by zero.
            scale[c] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
    }
    let (source, shift, scale) = (&table.values, &shift, &scale);
    for (name, rows) in [("train", train), ("val", val), ("test", test)] {
        let values: Vec<f32> = rows
            .iter()
            .flat_map(|&r| {
                (0..dim).map(move |c| ((source[r * dim + c] - shift[c]) / scale[c]) as f32)
            })
            .collect();
        drift_io::write_points(&job.out_dir.join(format!("{name}.parquet")), dim, &values)
            .map_err(io)?;
        if let Some(labels) = &labels {
            let split_labels: Vec<u64> = rows.iter().map(|&r| labels[r]).collect();
            drift_io::write_labels(
                &job.out_dir.join(format!("{name}_labels.parquet")),
                &split_labels,
            )
            .map_err(io)?;
        }
    }
    let mut cost = Cost::new();
    cost.insert("source_rows".into(), n.into());
    cost.insert(
        "columns".into(),
        serde_json::Value::from(table.columns.clone()),
    );
    Ok(cost)
}

fn run_data(
    job: &Job<'_>,
    p: &params::DataParams,
    seed: &dyn Fn(&str) -> u64,
) -> Result<Cost, ExecError> {
    if p.generator.splits_a_table() {
        return run_table_data(job, p, seed);
    }
    if let Some(snapshots) = drift_spec::generators::to_snapshots(&p.generator) {
        // `n_train` / `n_val` / `n_test` points per snapshot time, one stream per split.
        for (split, n) in [
            ("train", p.n_train.unwrap_or(0)),
            ("val", p.n_val),
            ("test", p.n_test.unwrap_or(0)),
        ] {
            let drawn = snapshots.sample(n as usize, seed(split)).map_err(io)?;
            drift_io::write_snapshots(
                &job.out_dir.join(format!("{split}.parquet")),
                drawn.points.dim,
                &drawn.time_of_row,
                &drawn.points.values,
            )
            .map_err(io)?;
        }
        return Ok(Cost::new());
    }
    let generator = generator(&p.generator)?;
    let (n_train, n_test) = (p.n_train.unwrap_or(0), p.n_test.unwrap_or(0));
    // Each split has its own stream, so changing n_test leaves the training split unchanged.
    for (split, n) in [("train", n_train), ("val", p.n_val), ("test", n_test)] {
        let points = generator.try_sample(n as usize, seed(split)).map_err(io)?;
        drift_io::write_points(
            &job.out_dir.join(format!("{split}.parquet")),
            points.dim,
            &points.values,
        )
        .map_err(io)?;
    }
    Ok(Cost::new())
}

/// The random streams of a train stage (ChaCha stream ids under the stage's train seed).
const STREAM_BATCH: u64 = 2;
const STREAM_NOISE: u64 = 3;
const STREAM_FRESH: u64 = 4;
const STREAM_SOURCE: u64 = 5;

/// Draws `rows` row indices in `0..n` with replacement.
fn draw_indices(rng: &mut drift_dynamics::Rng, n: usize, rows: usize) -> Vec<usize> {
    use rand::Rng as _;
    (0..rows).map(|_| rng.random_range(0..n)).collect()
}

fn gather<T: Copy>(values: &[T], dim: usize, idx: &[usize]) -> Vec<T> {
    idx.iter()
        .flat_map(|&i| values[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

/// The train parameters of the train instance behind input `role`.
fn train_params_of<'a>(job: &'a Job<'_>, role: &str) -> Result<&'a params::TrainParams, ExecError> {
    let input = job
        .input(role)
        .ok_or_else(|| ExecError(format!("missing `{role}` input")))?;
    match &input.instance.params {
        StageParams::Train(p) => Ok(p.as_ref()),
        _ => Err(ExecError(format!(
            "the `{role}` input is not a train stage"
        ))),
    }
}

/// Where a training run's rows come from.
enum TrainingData {
    /// A fixed training split, drawn with replacement.
    Fixed(Vec<f32>),
    /// Fresh points from the generator every step.
    Fresh(drift_data::Generator),
    /// Fixed (x0, x1) pairs (reflow), drawn with replacement, pairs kept together.
    Pairs { x0: Vec<f32>, x1: Vec<f32> },
}

/// Reads `model.json` of a train entry: the data dimension.
fn model_dim(dir: &Path) -> Result<usize, ExecError> {
    let text = std::fs::read_to_string(dir.join("model.json")).map_err(io)?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(io)?;
    meta["dim"]
        .as_u64()
        .map(|d| d as usize)
        .ok_or_else(|| ExecError(format!("{}: no `dim`", dir.join("model.json").display())))
}

/// Loads the trained network of the train instance behind input `role`.
fn load_network(
    job: &Job<'_>,
    role: &str,
    device: &ComputeDevice,
) -> Result<(drift_nn::Network, drift_dynamics::method::Method, usize), ExecError> {
    let p = train_params_of(job, role)?;
    let dir = &job.input(role).expect("checked").dir;
    load_network_at(p, dir, device).map_err(|e| ExecError(format!("the `{role}` input: {e}")))
}

/// The generative network a train entry at `dir` holds, with its method and data dimension.
pub(crate) fn load_network_at(
    p: &params::TrainParams,
    dir: &Path,
    device: &ComputeDevice,
) -> Result<(drift_nn::Network, drift_dynamics::method::Method, usize), ExecError> {
    let dim = model_dim(dir)?;
    let method = convert::method(p)
        .ok_or_else(|| ExecError("a classifier is not a generative model".into()))?;
    let cfg = convert::net_config(p, &method, dim);
    let net = drift_nn::Network::load_safetensors(&dir.join("weights.safetensors"), &cfg, device)
        .map_err(io)?;
    Ok((net, method, dim))
}

/// Magic of a stage checkpoint: the four batch streams' word positions, then the trainer's
/// state (drift_nn::TrainState bytes).
const CHECKPOINT_MAGIC: &[u8; 8] = b"DRIFTCK1";

type Streams = std::cell::RefCell<[drift_dynamics::Rng; 4]>;

fn write_checkpoint(
    dir: &Path,
    path: &Path,
    streams: &Streams,
    state: &drift_nn::TrainState,
) -> Result<(), ExecError> {
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut bytes = CHECKPOINT_MAGIC.to_vec();
    for rng in streams.borrow().iter() {
        bytes.extend_from_slice(&rng.get_word_pos().to_le_bytes());
    }
    bytes.extend_from_slice(&state.to_bytes());
    drift_io::write_atomic(path, &bytes).map_err(io)
}

/// The state of a checkpoint left by a killed run, with the streams moved to where they were;
/// `None` (start from step 0) when there is none or it cannot be read.
fn read_checkpoint(path: &Path, streams: &Streams) -> Option<drift_nn::TrainState> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(CHECKPOINT_MAGIC)?;
    let (positions, state) = rest.split_at_checked(4 * 16)?;
    let state = drift_nn::TrainState::from_bytes(state).ok()?;
    for (rng, pos) in streams
        .borrow_mut()
        .iter_mut()
        .zip(positions.chunks_exact(16))
    {
        rng.set_word_pos(u128::from_le_bytes(pos.try_into().ok()?));
    }
    Some(state)
}

/// Reads `model.json` of a classifier entry: its network configuration and class count.
fn load_classifier(job: &Job<'_>, role: &str) -> Result<(drift_nn::Network, usize), ExecError> {
    let dir = &job
        .input(role)
        .ok_or_else(|| ExecError(format!("missing `{role}` input")))?
        .dir;
    let text = std::fs::read_to_string(dir.join("model.json")).map_err(io)?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(io)?;
    let cfg: drift_nn::NetConfig = serde_json::from_value(meta["network"].clone()).map_err(io)?;
    let net = drift_nn::Network::load_safetensors(
        &dir.join("weights.safetensors"),
        &cfg,
        &ComputeDevice::cpu(),
    )
    .map_err(io)?;
    Ok((net, cfg.state_dim))
}

impl StageExecutor {
    /// `method = "classifier"`: an MLP from points to one-hot labels by squared error (the
    /// shared trainer, with time fixed at 0), on the data stage's training split and labels.
    fn run_classifier(
        &self,
        job: &Job<'_>,
        p: &params::TrainParams,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Cost, ExecError> {
        let data = job.input("data").expect("a classifier has data");
        let read = |split: &str| -> Result<(usize, Vec<f32>, Vec<u64>), ExecError> {
            let (dim, x) =
                drift_io::read_points(&data.dir.join(format!("{split}.parquet"))).map_err(io)?;
            let labels_path = data.dir.join(format!("{split}_labels.parquet"));
            if !labels_path.exists() {
                return Err(ExecError(format!(
                    "{} has no labels: a classifier needs a labelled data set (generator \"digits\")",
                    data.instance.id
                )));
            }
            let y = drift_io::read_labels(&labels_path).map_err(io)?;
            Ok((dim, x, y))
        };
        let (dim, x, y) = read("train")?;
        let classes = y.iter().copied().max().map_or(0, |m| m as usize + 1);
        if classes < 2 || y.len() * dim != x.len() {
            return Err(ExecError(format!(
                "{}: {} labels for {} points in {classes} classes; a classifier needs matching \
                 labels and at least 2 classes",
                data.instance.id,
                y.len(),
                x.len() / dim.max(1)
            )));
        }
        let mut net_cfg = convert::net_config_for(p, dim, classes);
        net_cfg.time = drift_nn::TimeFeature::Raw;
        let cfg = drift_nn::TrainConfig {
            steps: p.steps as usize,
            seed,
            net: net_cfg,
            optim: convert::optim(p),
        };
        let b = p.batch as usize;
        let mut batch_rng = drift_dynamics::rng(seed, STREAM_BATCH);
        let mut next_batch =
            |_step: usize| -> Result<drift_dynamics::TrainBatch, drift_nn::NnError> {
                let idx = draw_indices(&mut batch_rng, y.len(), b);
                let mut target = vec![0f32; b * classes];
                for (row, &i) in idx.iter().enumerate() {
                    target[row * classes + y[i] as usize] = 1.0;
                }
                Ok(drift_dynamics::TrainBatch {
                    state: gather(&x, dim, &idx),
                    time: vec![0.0; b],
                    target,
                    weight: vec![1.0; b],
                })
            };
        let started = Instant::now();
        let ix = job.ix;
        let trained = drift_nn::train(&cfg, None, &self.device, &mut next_batch, &mut |s| {
            progress.step(ix, s.step as u64, s.steps as u64, Some(s.loss));
        })
        .map_err(|e| ExecError(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        // Test accuracy, for the record (a cost column: it describes the feature extractor).
        let (_, xt, yt) = read("test")?;
        let scores = trained.net.evaluator().eval(0.0, &xt).map_err(io)?;
        let correct = scores
            .chunks_exact(classes)
            .zip(&yt)
            .filter(|(s, y)| {
                let best = s
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, v)| if *v > s[b] { i } else { b });
                best as u64 == **y
            })
            .count();
        let mut cost = self.save_trained(job, p, &cfg, &trained, dim, Some(classes), seconds)?;
        cost.insert(
            "test_accuracy".into(),
            json!(correct as f64 / yt.len().max(1) as f64),
        );
        Ok(cost)
    }

    /// Writes a finished training's entry (weights, `model.json`, loss curve) and returns its
    /// cost figures.
    #[allow(clippy::too_many_arguments)]
    fn save_trained(
        &self,
        job: &Job<'_>,
        p: &params::TrainParams,
        cfg: &drift_nn::TrainConfig,
        trained: &drift_nn::Trained,
        dim: usize,
        classes: Option<usize>,
        seconds: f64,
    ) -> Result<Cost, ExecError> {
        trained
            .net
            .save_safetensors(&job.out_dir.join("weights.safetensors"))
            .map_err(io)?;
        let mut model = json!({
            "method": p.method,
            "dim": dim,
            "network": cfg.net,
            "optimiser": cfg.optim,
            "weights": if p.ema.is_some() { "ema" } else { "last" },
        });
        if let Some(c) = classes {
            model["classes"] = json!(c);
        }
        write_json(&job.out_dir.join("model.json"), &model)?;
        drift_io::write_loss_curve(&job.out_dir.join("loss.parquet"), &trained.losses)
            .map_err(io)?;
        let mut cost = Cost::new();
        cost.insert("train_time_s".into(), json!(seconds));
        cost.insert(
            "steps_per_s".into(),
            json!(p.steps as f64 / seconds.max(1e-9)),
        );
        cost.insert("param_count".into(), json!(trained.net.parameter_count()));
        cost.insert("device".into(), json!(self.device.label()));
        Ok(cost)
    }

    fn run_train(
        &self,
        job: &Job<'_>,
        p: &params::TrainParams,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Cost, ExecError> {
        let Some(method) = convert::method(p) else {
            return self.run_classifier(job, p, seed, progress);
        };
        method.validate().map_err(io)?;
        let (dim, data) = if let Some(pairs) = job.input("pairs") {
            let (d0, x0) =
                drift_io::read_points(&pairs.dir.join("pairs_x0.parquet")).map_err(io)?;
            let (d1, x1) = drift_io::read_points(&pairs.dir.join("samples.parquet")).map_err(io)?;
            if d0 != d1 || x0.len() != x1.len() {
                return Err(ExecError(format!(
                    "the pairs of {} are inconsistent ({} x {d0} sources, {} x {d1} targets)",
                    pairs.instance.id,
                    x0.len() / d0.max(1),
                    x1.len() / d1.max(1)
                )));
            }
            (d0, TrainingData::Pairs { x0, x1 })
        } else {
            let data = job.input("data").expect("train has data or pairs");
            let (dim, values) =
                drift_io::read_points(&data.dir.join("train.parquet")).map_err(io)?;
            match p.data_sampling {
                params::DataSampling::WithReplacement => (dim, TrainingData::Fixed(values)),
                params::DataSampling::Fresh => {
                    let StageParams::Data(dp) = &data.instance.params else {
                        return Err(ExecError("the data input is not a data stage".into()));
                    };
                    (dim, TrainingData::Fresh(generator(&dp.generator)?))
                }
            }
        };
        let source = match job.input("source") {
            Some(src) => {
                let (sd, values) =
                    drift_io::read_points(&src.dir.join("train.parquet")).map_err(io)?;
                if sd != dim {
                    return Err(ExecError(format!(
                        "the source {} has {sd} dimensions but the data has {dim}",
                        src.instance.id
                    )));
                }
                Some(values)
            }
            None => None,
        };
        let init = match job.input("init") {
            Some(_) => Some(load_network(job, "init", &self.device)?.0),
            None => None,
        };
        let cfg = drift_nn::TrainConfig {
            steps: p.steps as usize,
            seed,
            net: convert::net_config(p, &method, dim),
            optim: convert::optim(p),
        };
        let b = p.batch as usize;
        // The batch streams sit in a RefCell so that a checkpoint can record their positions
        // between steps.
        let streams = std::cell::RefCell::new(
            [STREAM_BATCH, STREAM_NOISE, STREAM_FRESH, STREAM_SOURCE]
                .map(|stream| drift_dynamics::rng(seed, stream)),
        );
        let mut next_batch =
            |_step: usize| -> Result<drift_dynamics::TrainBatch, drift_nn::NnError> {
                let mut guard = streams.borrow_mut();
                let [batch_rng, noise_rng, fresh_rng, source_rng] = &mut *guard;
                let fail = |e: drift_dynamics::DynamicsError| {
                    drift_nn::NnError::InvalidInput(e.to_string())
                };
                let (x1, x0): (Vec<f32>, Option<Vec<f64>>) = match &data {
                    TrainingData::Fixed(values) => {
                        let idx = draw_indices(batch_rng, values.len() / dim, b);
                        (gather(values, dim, &idx), None)
                    }
                    TrainingData::Fresh(generator) => {
                        use rand::Rng as _;
                        (generator.sample(b, fresh_rng.random()).values, None)
                    }
                    TrainingData::Pairs { x0, x1 } => {
                        let idx = draw_indices(batch_rng, x1.len() / dim, b);
                        let x0: Vec<f64> =
                            gather(x0, dim, &idx).into_iter().map(f64::from).collect();
                        (gather(x1, dim, &idx), Some(x0))
                    }
                };
                let x0 = match (&source, x0) {
                    (_, Some(pairs)) => Some(pairs),
                    (Some(src), None) => {
                        let idx = draw_indices(source_rng, src.len() / dim, b);
                        Some(gather(src, dim, &idx).into_iter().map(f64::from).collect())
                    }
                    (None, None) => None,
                };
                method
                    .training_batch(x0.as_deref(), &x1, dim, noise_rng)
                    .map_err(fail)
            };
        let started = Instant::now();
        let ix = job.ix;
        let checkpoint_path = job.scratch.join("checkpoint.bin");
        let resume = match p.checkpoint_every {
            Some(_) => read_checkpoint(&checkpoint_path, &streams),
            None => None,
        };
        let resumed_from = resume.as_ref().map(|s| s.step);
        let mut save = |state: &drift_nn::TrainState| -> Result<(), drift_nn::NnError> {
            write_checkpoint(&job.scratch, &checkpoint_path, &streams, state)
                .map_err(|e| drift_nn::NnError::InvalidInput(e.0))
        };
        let mut checkpoints = p.checkpoint_every.map(|every| drift_nn::Checkpoints {
            every: every as usize,
            resume,
            save: &mut save,
        });
        let trained = drift_nn::train_with_checkpoints(
            &cfg,
            init.as_ref(),
            &self.device,
            &mut next_batch,
            &mut |s| {
                progress.step(ix, s.step as u64, s.steps as u64, Some(s.loss));
            },
            checkpoints.as_mut(),
        )
        .map_err(|e| ExecError(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        let mut cost = self.save_trained(job, p, &cfg, &trained, dim, None, seconds)?;
        if let Some(step) = resumed_from {
            cost.insert("resumed_from_step".into(), json!(step));
        }
        Ok(cost)
    }

    fn run_sample(
        &self,
        job: &Job<'_>,
        p: &params::SampleParams,
        seed: u64,
    ) -> Result<Cost, ExecError> {
        let (net, method, dim) = load_network(job, "model", &self.device)?;
        let sampler = convert::sampler(p);
        let n = p.n as usize;
        let mut rng = drift_dynamics::rng(seed, 0);
        // Transport from a data source starts at rows of the source's test split.
        let start = match job.input("source") {
            Some(src) => {
                let (sd, values) =
                    drift_io::read_points(&src.dir.join("test.parquet")).map_err(io)?;
                if sd != dim {
                    return Err(ExecError(format!(
                        "the source {} has {sd} dimensions but the model has {dim}",
                        src.instance.id
                    )));
                }
                let idx = draw_indices(&mut rng, values.len() / dim, n);
                Some(
                    gather(&values, dim, &idx)
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                )
            }
            None => None,
        };
        let started = Instant::now();
        let mut field = drift_nn::NetField::new(&net);
        let out = method
            .sample(&sampler, &mut field, start, n, dim, &mut rng)
            .map_err(|e| ExecError(e.to_string()))?;
        // The network wrapper's own count must agree with the sampler's.
        if field.calls() != out.nfe {
            return Err(ExecError(format!(
                "NFE mismatch: the sampler counted {} calls, the network {}",
                out.nfe,
                field.calls()
            )));
        }
        let seconds = started.elapsed().as_secs_f64();
        let points: Vec<f32> = out.points.iter().map(|&v| v as f32).collect();
        drift_io::write_points(&job.out_dir.join("samples.parquet"), dim, &points).map_err(io)?;
        if p.pairs {
            if out.start.len() != out.points.len() {
                return Err(ExecError(format!(
                    "`pairs = true` needs a position-space method; {} has none",
                    method.family()
                )));
            }
            let start: Vec<f32> = out.start.iter().map(|&v| v as f32).collect();
            drift_io::write_points(&job.out_dir.join("pairs_x0.parquet"), dim, &start)
                .map_err(io)?;
        }
        write_json(
            &job.out_dir.join("sample.json"),
            &json!({"nfe": out.nfe, "steps": p.steps, "solver": p.solver.name(), "n": p.n, "dim": dim}),
        )?;
        let mut cost = Cost::new();
        cost.insert("sample_time_s".into(), json!(seconds));
        cost.insert(
            "samples_per_s".into(),
            json!(p.n as f64 / seconds.max(1e-9)),
        );
        cost.insert("nfe".into(), json!(out.nfe));
        cost.insert("device".into(), json!(self.device.label()));
        Ok(cost)
    }
}

fn run_eval(job: &Job<'_>, p: &params::EvalParams, seed: u64) -> Result<Cost, ExecError> {
    let samples = job.input("samples").expect("eval has samples");
    let data = job.input("test_data").expect("eval has test data");
    let (dim, xs) = drift_io::read_points(&samples.dir.join("samples.parquet")).map_err(io)?;
    let split = p.split.name();
    let (dim_test, ys) =
        drift_io::read_points(&data.dir.join(format!("{split}.parquet"))).map_err(io)?;
    if dim != dim_test {
        return Err(ExecError(format!(
            "samples have {dim} dimensions but the {split} split of {} has {dim_test}",
            data.instance.id
        )));
    }
    if ys.is_empty() {
        return Err(ExecError(format!(
            "the {split} split of {} is empty (set its `n_{split}`)",
            data.instance.id
        )));
    }
    // Both sets are already in random order: compare the first min(n, n_test) points of each.
    let m = (xs.len() / dim).min(ys.len() / dim);
    let (a, b) = (&xs[..m * dim], &ys[..m * dim]);
    // The data generator, for the metrics that need its density or its mixture components.
    let truth = || -> Result<drift_data::Generator, ExecError> {
        let StageParams::Data(dp) = &data.instance.params else {
            return Err(ExecError("the test data input is not a data stage".into()));
        };
        generator(&dp.generator)
    };
    let mixture = || -> Result<drift_data::Mixture, ExecError> {
        truth()?.mixture().ok_or_else(|| {
            ExecError(format!(
                "the data of {} is not a Gaussian mixture: mode metrics need known components",
                data.instance.id
            ))
        })
    };
    let mut rows = Vec::new();
    let mut coverage: Option<drift_metrics::ModeCoverage> = None;
    let mut knn: Option<drift_metrics::PrecisionRecall> = None;
    let mut nll_nfe: Option<u64> = None;
    let mut paths: Option<drift_metrics::TrajectoryMetrics> = None;
    // The model behind the samples, loaded once for every metric that integrates it.
    let mut model: Option<LoadedModel> = None;
    for metric in &p.metrics {
        use params::Metric as M;
        let fail = |e: &dyn std::fmt::Display| ExecError(format!("{}: {e}", metric.name()));
        let value = match metric {
            M::W2 => drift_metrics::w2(a, b, dim),
            M::SlicedW2 => drift_metrics::sliced_w2(a, b, dim, p.projections as usize, seed),
            M::Mmd => drift_metrics::mmd(a, b, dim),
            M::Nfe => Ok(realised_nfe(&samples.dir)?),
            M::W1 => drift_metrics::w1(a, b, dim),
            M::SlicedW1 => drift_metrics::sliced_w1(a, b, dim, p.projections as usize, seed),
            M::MmdLinear => drift_metrics::mmd_linear(a, b, dim),
            M::MmdPoly => drift_metrics::mmd_poly_with(
                a,
                b,
                dim,
                p.poly_degree
                    .map_or(drift_metrics::MMD_POLY_DEFAULT_DEGREE, |d| d as u32),
                p.poly_coef.unwrap_or(drift_metrics::MMD_POLY_DEFAULT_COEF0),
            ),
            M::EnergyDistance => drift_metrics::energy_distance(a, b, dim),
            M::MeanError => drift_metrics::mean_error(a, b, dim),
            M::MedianError => drift_metrics::median_error(a, b, dim),
            M::Precision | M::Recall => {
                if knn.is_none() {
                    let k = p.knn_k.map_or(drift_metrics::KNN_DEFAULT_K, |k| k as usize);
                    knn = Some(
                        drift_metrics::knn_precision_recall(b, a, dim, k).map_err(|e| fail(&e))?,
                    );
                }
                let pr = knn.as_ref().expect("computed above");
                Ok(if *metric == M::Precision {
                    pr.precision
                } else {
                    pr.recall
                })
            }
            M::ModeCoverage | M::OffModeFraction => {
                if coverage.is_none() {
                    let mix = mixture()?;
                    coverage = Some(
                        drift_metrics::mode_coverage(
                            a,
                            dim,
                            &mix.means,
                            &mix.stds,
                            p.mode_threshold
                                .unwrap_or(drift_metrics::MODE_DEFAULT_THRESHOLD),
                            p.mode_min_count
                                .map_or(drift_metrics::MODE_DEFAULT_MIN_COUNT, |c| c as usize),
                        )
                        .map_err(|e| fail(&e))?,
                    );
                }
                let c = coverage.as_ref().expect("computed above");
                Ok(if *metric == M::ModeCoverage {
                    c.coverage
                } else {
                    c.off_mode_fraction
                })
            }
            M::Nll => {
                let (net, method, model_dim) = load_network(job, "model", &ComputeDevice::cpu())?;
                if model_dim != dim {
                    return Err(ExecError(format!(
                        "nll: the model has {model_dim} dimensions, the test data {dim}"
                    )));
                }
                // The whole test split, not only the points compared with the samples.
                let x1: Vec<f64> = ys.iter().map(|&v| f64::from(v)).collect();
                let steps = p.nll_steps.unwrap_or(params::NLL_DEFAULT_STEPS) as usize;
                let field = if dim <= params::NLL_EXACT_MAX_DIM {
                    drift_nn::NetDivergenceField::exact(&net)
                } else {
                    drift_nn::NetDivergenceField::hutchinson(
                        &net,
                        p.hutchinson_probes
                            .unwrap_or(params::HUTCHINSON_DEFAULT_PROBES)
                            as usize,
                        seed,
                    )
                }
                .map_err(io)?;
                use drift_dynamics::likelihood::{log_likelihood, log_likelihood_over};
                use drift_dynamics::method::Method;
                let lik = match &method {
                    // The network (or its velocity head) is the ODE's velocity on (0, 1).
                    Method::Flow(_) | Method::Interpolant(_) => {
                        let mut field = field;
                        log_likelihood(&mut field, &x1, steps)
                    }
                    // The PF-ODE velocity is affine in the eps-prediction, on the samplers'
                    // own window.
                    Method::Vp(c) => {
                        let mut flow = VpFlow {
                            inner: field,
                            cfg: c.clone(),
                            eps: Vec::new(),
                            eps_div: Vec::new(),
                        };
                        log_likelihood_over(
                            &mut flow,
                            &x1,
                            steps,
                            drift_dynamics::vp::sample_window(c),
                        )
                    }
                    other => {
                        return Err(ExecError(format!(
                            "nll: no probability-flow likelihood for {} models",
                            other.family()
                        )));
                    }
                }
                .map_err(|e| fail(&e))?;
                nll_nfe = Some(lik.nfe);
                Ok(-lik.log_p.iter().sum::<f64>() / lik.log_p.len().max(1) as f64)
            }
            M::Fd => {
                let (classifier, cdim) = load_classifier(job, "classifier")?;
                if cdim != dim {
                    return Err(ExecError(format!(
                        "fd: the classifier reads {cdim}-dimensional points, the samples have {dim}"
                    )));
                }
                let (fa, width) = classifier.features(0.0, a).map_err(io)?;
                let (fb, _) = classifier.features(0.0, b).map_err(io)?;
                drift_metrics::frechet_distance(&fa, &fb, width)
            }
            M::Straightness | M::PathEnergy => {
                if paths.is_none() {
                    let steps = p
                        .trajectory_steps
                        .unwrap_or(params::TRAJECTORY_DEFAULT_STEPS)
                        as usize;
                    paths = Some(flow_paths(
                        flow_model(&mut model, job)?,
                        dim,
                        m,
                        steps,
                        seed,
                    )?);
                }
                let t = paths.as_ref().expect("computed above");
                Ok(if *metric == M::Straightness {
                    t.straightness
                } else {
                    t.path_energy
                })
            }
            M::LogLikelihood => {
                let points: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
                let logp = truth()?.log_density(&points).ok_or_else(|| {
                    ExecError(format!(
                        "log_likelihood: the generator of {} has no closed-form density",
                        data.instance.id
                    ))
                })?;
                Ok(logp.iter().sum::<f64>() / logp.len().max(1) as f64)
            }
        }
        .map_err(|e| fail(&e))?;
        rows.push((metric.name().to_string(), value));
    }
    drift_io::write_metrics(&job.out_dir.join("metrics.parquet"), &rows).map_err(io)?;
    let mut cost = Cost::new();
    cost.insert("compared_points".into(), json!(m));
    if let Some(n) = nll_nfe {
        cost.insert("nll_nfe".into(), json!(n));
    }
    Ok(cost)
}

/// A network with its method and data dimension ([`load_network`]).
type LoadedModel = (drift_nn::Network, drift_dynamics::method::Method, usize);

/// The eval's `model` input (CPU), loaded on first use.
fn flow_model<'a>(
    slot: &'a mut Option<LoadedModel>,
    job: &Job<'_>,
) -> Result<&'a LoadedModel, ExecError> {
    if slot.is_none() {
        *slot = Some(load_network(job, "model", &ComputeDevice::cpu())?);
    }
    Ok(slot.as_ref().expect("loaded above"))
}

/// Straightness and path energy of the model's flow (the eval's `model` input): `n` paths
/// from fresh N(0, I) noise (ChaCha stream 7 of the eval seed), integrated by Euler with
/// `steps` steps from t = 0 to 1, with the velocity also evaluated at the end point, and the
/// trapezoid rule for the time integrals.
fn flow_paths(
    (net, method, model_dim): &LoadedModel,
    dim: usize,
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<drift_metrics::TrajectoryMetrics, ExecError> {
    use drift_dynamics::Field as _;
    let model_dim = *model_dim;
    if !matches!(method, drift_dynamics::method::Method::Flow(_)) || model_dim != dim {
        return Err(ExecError(format!(
            "straightness: the model ({} family, {model_dim} dimensions) is not a {dim}-dimensional velocity field",
            method.family()
        )));
    }
    let mut rng = drift_dynamics::rng(seed, 7);
    let mut x = vec![0f64; n * dim];
    drift_dynamics::fill_normal(&mut rng, &mut x);
    let (k, h) = (steps, 1.0 / steps as f64);
    let times: Vec<f64> = (0..=k).map(|i| i as f64 * h).collect();
    let mut states = vec![0f64; n * (k + 1) * dim];
    let mut velocities = vec![0f64; n * (k + 1) * dim];
    let mut field = drift_nn::NetField::new(net);
    let mut v = vec![0f64; n * dim];
    for (step, &t) in times.iter().enumerate() {
        field.eval(t, &x, &mut v).map_err(io)?;
        for p in 0..n {
            let at = (p * (k + 1) + step) * dim;
            states[at..at + dim].copy_from_slice(&x[p * dim..(p + 1) * dim]);
            velocities[at..at + dim].copy_from_slice(&v[p * dim..(p + 1) * dim]);
        }
        if step < k {
            for (xv, vv) in x.iter_mut().zip(&v) {
                *xv += h * vv;
            }
        }
    }
    drift_metrics::trajectory_metrics(
        &drift_metrics::Trajectories {
            dim,
            times: &times,
            states: &states,
            velocities: &velocities,
        },
        drift_metrics::Quadrature::Trapezoid,
    )
    .map_err(io)
}

/// VP diffusion's probability-flow ODE as a divergence field: `v = a x + b eps` with the
/// schedule's coefficients at each time, so `div v = a d + b div eps`.
struct VpFlow<'a> {
    inner: drift_nn::NetDivergenceField<'a>,
    cfg: drift_dynamics::vp::VpConfig,
    eps: Vec<f64>,
    eps_div: Vec<f64>,
}

impl drift_dynamics::likelihood::DivergenceField for VpFlow<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn eval_div(
        &mut self,
        t: f64,
        state: &[f64],
        out: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), drift_dynamics::DynamicsError> {
        self.eps.resize(out.len(), 0.0);
        self.eps_div.resize(div.len(), 0.0);
        self.inner
            .eval_div(t, state, &mut self.eps, &mut self.eps_div)?;
        let (a, b) = drift_dynamics::vp::pf_ode_coefficients(&self.cfg, t);
        for ((o, x), e) in out.iter_mut().zip(state).zip(&self.eps) {
            *o = a * x + b * e;
        }
        let d = self.dim() as f64;
        for (v, e) in div.iter_mut().zip(&self.eps_div) {
            *v = a * d + b * e;
        }
        Ok(())
    }
}

/// The realised NFE a sample entry recorded.
fn realised_nfe(dir: &Path) -> Result<f64, ExecError> {
    let text = std::fs::read_to_string(dir.join("sample.json")).map_err(io)?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(io)?;
    meta["nfe"]
        .as_u64()
        .map(|n| n as f64)
        .ok_or_else(|| ExecError(format!("{}: no `nfe`", dir.join("sample.json").display())))
}

/// The records a report gathers: one per (eval input, metric), with every column of the input.
pub fn report_records(
    job_plan: &drift_plan::Plan,
    inputs: &[(drift_plan::NodeIndex, &Path)],
) -> Result<Vec<drift_report::ResultRecord>, ExecError> {
    let mut records = Vec::new();
    for (node, dir) in inputs {
        let inst = job_plan.get(*node);
        let columns = columns_of(&job_plan.instances, *node);
        let axes: std::collections::BTreeSet<String> =
            inst.coords.iter().map(|c| c.name.clone()).collect();
        for (metric, value) in drift_io::read_metrics(&dir.join("metrics.parquet")).map_err(io)? {
            records.push(drift_report::ResultRecord {
                instance: inst.id.clone(),
                columns: columns.clone(),
                axes: std::collections::BTreeSet::clone(&axes),
                metric,
                value,
                // Eval metrics are functions of the inputs; costs are not gathered here.
                reproducible: true,
            });
        }
    }
    Ok(records)
}

/// The seed axes a `mean_std` report averages over.
pub fn seed_axes(records: &[drift_report::ResultRecord]) -> Vec<String> {
    let mut over: Vec<String> = records
        .iter()
        .flat_map(|r| r.axes.iter())
        .filter(|a| *a == "seed" || a.ends_with(".seed"))
        .cloned()
        .collect();
    over.sort();
    over.dedup();
    over
}

pub fn report_config(
    p: &params::ReportParams,
    records: &[drift_report::ResultRecord],
) -> drift_report::ReportConfig {
    let metric_better = |name: &str| {
        let lower = params::Metric::from_name(name)?.lower_is_better()?;
        Some(if lower {
            drift_report::Better::Lower
        } else {
            drift_report::Better::Higher
        })
    };
    drift_report::ReportConfig {
        rows: p.rows.clone(),
        columns: p.columns.clone(),
        aggregate: match p.aggregate {
            params::Aggregate::MeanStd => drift_report::Aggregate::MeanStd,
            params::Aggregate::None => drift_report::Aggregate::None,
        },
        over: match (p.aggregate, &p.over) {
            (params::Aggregate::None, _) => Vec::new(),
            (params::Aggregate::MeanStd, Some(over)) => over.clone(),
            (params::Aggregate::MeanStd, None) => seed_axes(records),
        },
        interval: match p.interval {
            params::Interval::Std => drift_report::Interval::Std,
            params::Interval::Ci95 => drift_report::Interval::Ci95,
        },
        better: records
            .iter()
            .filter_map(|r| Some((r.metric.clone(), metric_better(&r.metric)?)))
            .collect(),
    }
}

/// A report's table with the model selection made on the way.
pub struct ReportTable {
    pub table: drift_report::Table,
    pub choices: Vec<drift_report::Choice>,
    /// The records the table was built from (after selection): which instance fed which row.
    pub records: Vec<drift_report::ResultRecord>,
}

/// The table of a report: its evaluations' metrics plus `extra` records (the costs the CLI
/// reads from manifests when showing a table), narrowed by `select`, then pivoted.
pub fn report_table(
    plan: &drift_plan::Plan,
    p: &params::ReportParams,
    inputs: &[(drift_plan::NodeIndex, &Path)],
    extra: Vec<drift_report::ResultRecord>,
) -> Result<ReportTable, ExecError> {
    let mut records = report_records(plan, inputs)?;
    records.extend(extra);
    let mut choices = Vec::new();
    if let Some(sel) = &p.select {
        let pooled = match (&p.over, p.aggregate) {
            (_, params::Aggregate::None) => Vec::new(),
            (Some(over), _) => over.clone(),
            (None, _) => seed_axes(&records),
        };
        let selection = drift_report::Selection {
            by: sel.by.name().to_string(),
            split_column: "split".into(),
            select_split: sel.split.name().to_string(),
            report_split: params::EvalSplit::Test.name().to_string(),
            over: sel.over.clone(),
            better: if sel.by.lower_is_better() == Some(false) {
                drift_report::Better::Higher
            } else {
                drift_report::Better::Lower
            },
        };
        let selected = drift_report::select(&records, &selection, &pooled)
            .map_err(|e| ExecError(e.to_string()))?;
        records = selected.records;
        choices = selected.choices;
    }
    let cfg = report_config(p, &records);
    let table = drift_report::build_table(&records, &cfg).map_err(|e| ExecError(e.to_string()))?;
    Ok(ReportTable {
        table,
        choices,
        records,
    })
}

/// Renderings a report entry keeps, so that printing a computed report reads one file.
pub const CACHED_RENDERINGS: &[(&str, drift_report::Format)] = &[
    ("table.txt", drift_report::Format::Terminal),
    ("table.md", drift_report::Format::Markdown),
];

fn run_report(job: &Job<'_>, p: &params::ReportParams) -> Result<Cost, ExecError> {
    if let Some(plot) = p.plot {
        return figures::run_plot(job, p, plot);
    }
    let inputs: Vec<(drift_plan::NodeIndex, &Path)> = job
        .instance
        .inputs
        .iter()
        .zip(&job.inputs)
        .map(|(i, ji)| (i.node, ji.dir.as_path()))
        .collect();
    let ReportTable { table, choices, .. } = report_table(job.plan, p, &inputs, Vec::new())?;
    write_json(
        &job.out_dir.join("selection.json"),
        &serde_json::Value::Array(choices.iter().map(choice_json).collect()),
    )?;
    drift_report::write_parquet(&table, &job.out_dir.join("table.parquet")).map_err(io)?;
    // Rendered without a title: the report's name is not part of its key.
    for (file, format) in CACHED_RENDERINGS {
        let text = drift_report::render(&table, "", *format);
        std::fs::write(job.out_dir.join(file), text).map_err(io)?;
    }
    Ok(Cost::new())
}

/// A selection choice as JSON: the group, the chosen values, the deciding mean.
pub fn choice_json(c: &drift_report::Choice) -> serde_json::Value {
    let pairs = |v: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
        v.iter().map(|(k, x)| (k.clone(), json!(x))).collect()
    };
    json!({
        "group": pairs(&c.group),
        "chosen": pairs(&c.chosen),
        "by_mean": c.by_mean,
        "candidates": c.candidates,
    })
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ExecError> {
    let text = serde_json::to_string_pretty(value).map_err(io)?;
    std::fs::write(path, text).map_err(io)
}
