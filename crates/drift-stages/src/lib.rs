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
//! - report: `table.parquet` (long form), `table.txt` and `table.md` (renderings without a title)

use drift_exec::{Cost, ExecError, Executor, Job, Progress};
use drift_nn::{ComputeDevice, VelocityModel};
use drift_plan::columns_of;
use drift_plan::key::derive_seed;
use drift_spec::StageParams;
use drift_spec::params::{self, GeneratorParams, MethodParams};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Computes instances on one compute device.
pub struct StageExecutor {
    pub device: ComputeDevice,
}

fn io<E: std::fmt::Display>(e: E) -> ExecError {
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

fn generator(p: &GeneratorParams) -> drift_data::Generator {
    use drift_data as d;
    match p {
        GeneratorParams::TwoMoons(m) => d::Generator::TwoMoons {
            variant: d::MoonsVariant::from_name(m.variant.name()).expect("same variant names"),
            noise: m.noise.unwrap_or(m.variant.default_noise()),
        },
        GeneratorParams::EightGaussians(g) => d::Generator::EightGaussians {
            variant: d::EightGaussiansVariant::from_name(g.variant.name())
                .expect("same variant names"),
        },
        GeneratorParams::Checkerboard(c) => d::Generator::Checkerboard {
            variant: d::CheckerboardVariant::from_name(c.variant.name())
                .expect("same variant names"),
        },
    }
}

fn run_data(
    job: &Job<'_>,
    p: &params::DataParams,
    seed: &dyn Fn(&str) -> u64,
) -> Result<Cost, ExecError> {
    let generator = generator(&p.generator);
    // Each split has its own stream, so changing n_test leaves the training split unchanged.
    for (split, n) in [("train", p.n_train), ("val", p.n_val), ("test", p.n_test)] {
        let points = generator.sample(n as usize, seed(split));
        drift_io::write_points(
            &job.out_dir.join(format!("{split}.parquet")),
            points.dim,
            &points.values,
        )
        .map_err(io)?;
    }
    Ok(Cost::new())
}

fn mlp_config(model: &params::ModelParams) -> drift_nn::MlpConfig {
    drift_nn::MlpConfig {
        hidden: model.hidden.iter().map(|&h| h as usize).collect(),
        activation: drift_nn::Activation::from_name(model.activation.name())
            .expect("same activation names"),
        time_embed_dim: model.time_embed_dim as usize,
    }
}

/// What a sample stage needs to rebuild a trained network (`model.json`).
fn model_json(p: &params::TrainParams, dim: usize) -> serde_json::Value {
    let MethodParams::FlowMatching(fm) = &p.method;
    json!({
        "method": p.method.name(),
        "sigma": fm.sigma,
        "dim": dim,
        "model": p.model,
    })
}

impl StageExecutor {
    fn run_train(
        &self,
        job: &Job<'_>,
        p: &params::TrainParams,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Cost, ExecError> {
        let data = job.input("data").expect("train has a data input");
        let (dim, values) = drift_io::read_points(&data.dir.join("train.parquet")).map_err(io)?;

        let MethodParams::FlowMatching(fm) = &p.method;
        let cfg = drift_nn::TrainConfig {
            steps: p.steps as usize,
            batch: p.batch as usize,
            lr: p.lr,
            weight_decay: p.weight_decay,
            seed,
            model: mlp_config(&p.model),
            method: drift_nn::FlowMatchingConfig { sigma: fm.sigma },
        };
        let started = Instant::now();
        let ix = job.ix;
        let trained = drift_nn::train_flow_matching(&cfg, &values, dim, &self.device, &mut |s| {
            progress.step(ix, s.step as u64, s.steps as u64, Some(s.loss));
        })
        .map_err(|e| ExecError(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        trained
            .model
            .save_safetensors(&job.out_dir.join("weights.safetensors"))
            .map_err(io)?;
        write_json(&job.out_dir.join("model.json"), &model_json(p, dim))?;
        drift_io::write_loss_curve(&job.out_dir.join("loss.parquet"), &trained.losses)
            .map_err(io)?;
        let mut cost = Cost::new();
        cost.insert("train_time_s".into(), json!(seconds));
        cost.insert(
            "steps_per_s".into(),
            json!(p.steps as f64 / seconds.max(1e-9)),
        );
        cost.insert("param_count".into(), json!(trained.model.parameter_count()));
        cost.insert("device".into(), json!(self.device.label()));
        Ok(cost)
    }

    fn run_sample(
        &self,
        job: &Job<'_>,
        p: &params::SampleParams,
        seed: u64,
    ) -> Result<Cost, ExecError> {
        let train = job.input("model").expect("sample has a model input");
        let text = std::fs::read_to_string(train.dir.join("model.json")).map_err(io)?;
        let meta: serde_json::Value = serde_json::from_str(&text).map_err(io)?;
        let model: params::ModelParams = serde_json::from_value(meta["model"].clone())
            .map_err(|e| ExecError(format!("model.json: {e}")))?;
        let dim = meta["dim"]
            .as_u64()
            .ok_or_else(|| ExecError("model.json: no dim".into()))? as usize;
        let net = VelocityModel::load_safetensors(
            &train.dir.join("weights.safetensors"),
            &mlp_config(&model),
            dim,
            &self.device,
        )
        .map_err(io)?;
        let solver = drift_nn::Solver::from_name(p.solver.name()).expect("same solver names");
        let steps = p.steps.expect("completed by resolve") as usize;
        let started = Instant::now();
        let out = drift_nn::sample_flow(&net, solver, steps, p.n as usize, seed, &self.device)
            .map_err(|e| ExecError(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        drift_io::write_points(&job.out_dir.join("samples.parquet"), dim, &out.points)
            .map_err(io)?;
        write_json(
            &job.out_dir.join("sample.json"),
            &json!({"nfe": out.nfe, "steps": steps, "solver": p.solver.name(), "n": p.n, "dim": dim}),
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
    let (dim_test, ys) = drift_io::read_points(&data.dir.join("test.parquet")).map_err(io)?;
    if dim != dim_test {
        return Err(ExecError(format!(
            "samples have {dim} dimensions but the test split of {} has {dim_test}",
            data.instance.id
        )));
    }
    // Both sets are already in random order: compare the first min(n, n_test) points of each.
    let m = (xs.len() / dim).min(ys.len() / dim);
    let (a, b) = (&xs[..m * dim], &ys[..m * dim]);
    let mut rows = Vec::new();
    for metric in &p.metrics {
        let value = match metric {
            params::Metric::W2 => drift_metrics::w2(a, b, dim),
            params::Metric::SlicedW2 => {
                drift_metrics::sliced_w2(a, b, dim, p.projections as usize, seed)
            }
            params::Metric::Mmd => drift_metrics::mmd(a, b, dim),
        }
        .map_err(|e| ExecError(format!("{}: {e}", metric.name())))?;
        rows.push((metric.name().to_string(), value));
    }
    drift_io::write_metrics(&job.out_dir.join("metrics.parquet"), &rows).map_err(io)?;
    let mut cost = Cost::new();
    cost.insert("compared_points".into(), json!(m));
    Ok(cost)
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
    drift_report::ReportConfig {
        rows: p.rows.clone(),
        columns: p.columns.clone(),
        aggregate: match p.aggregate {
            params::Aggregate::MeanStd => drift_report::Aggregate::MeanStd,
            params::Aggregate::None => drift_report::Aggregate::None,
        },
        over: match p.aggregate {
            params::Aggregate::MeanStd => seed_axes(records),
            params::Aggregate::None => Vec::new(),
        },
    }
}

/// Renderings a report entry keeps, so that printing a computed report reads one file.
pub const CACHED_RENDERINGS: &[(&str, drift_report::Format)] = &[
    ("table.txt", drift_report::Format::Terminal),
    ("table.md", drift_report::Format::Markdown),
];

fn run_report(job: &Job<'_>, p: &params::ReportParams) -> Result<Cost, ExecError> {
    let inputs: Vec<(drift_plan::NodeIndex, &Path)> = job
        .instance
        .inputs
        .iter()
        .zip(&job.inputs)
        .map(|(i, ji)| (i.node, ji.dir.as_path()))
        .collect();
    let records = report_records(job.plan, &inputs)?;
    let cfg = report_config(p, &records);
    let table = drift_report::build_table(&records, &cfg).map_err(|e| ExecError(e.to_string()))?;
    drift_report::write_parquet(&table, &job.out_dir.join("table.parquet")).map_err(io)?;
    // Rendered without a title: the report's name is not part of its key.
    for (file, format) in CACHED_RENDERINGS {
        let text = drift_report::render(&table, "", *format);
        std::fs::write(job.out_dir.join(file), text).map_err(io)?;
    }
    Ok(Cost::new())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ExecError> {
    let text = serde_json::to_string_pretty(value).map_err(io)?;
    std::fs::write(path, text).map_err(io)
}
