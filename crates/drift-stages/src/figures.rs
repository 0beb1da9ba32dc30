//! Report figures (`[report.NAME] plot = ...`): gathers what a figure draws from the report's
//! inputs (its evaluations and, per plot kind, their samples, data and models), renders it with
//! drift-plot, and writes `figure_<i>.png` / `figure_<i>.svg` with `figures.json` (captions).
//!
//! Labels follow the report's `rows` (series, or panel rows) and `columns` (panel columns);
//! runs that differ only in pooled axes (the seeds, or `over`) are averaged for lines (band =
//! mean ± std) and, for pictures of single runs (samples, paths), the first run in id order is
//! drawn. Scatter grids and path panels are drawn once per data set, over its test split.

use std::collections::BTreeMap;
use std::path::Path;

use drift_exec::{Cost, ExecError, Job};
use drift_plan::{NodeIndex, columns_of};
use drift_spec::params::{self, PlotKind};
use serde_json::json;

use crate::io;

/// Paths drawn per trajectory panel, and Euler steps per path.
const TRAJECTORY_PATHS: usize = 200;
const TRAJECTORY_STEPS: usize = 40;

/// A series' values per NFE (f64 bits, so they order and compare exactly), one per run.
type ValuesByNfe = BTreeMap<u64, Vec<f64>>;

/// One gathered evaluation: its node, row and column labels.
struct Run {
    node: NodeIndex,
    row: Vec<String>,
    column: Vec<String>,
}

pub(crate) fn run_plot(
    job: &Job<'_>,
    p: &params::ReportParams,
    plot: PlotKind,
) -> Result<Cost, ExecError> {
    let dirs: BTreeMap<NodeIndex, &Path> = job
        .instance
        .inputs
        .iter()
        .zip(&job.inputs)
        .map(|(i, ji)| (i.node, ji.dir.as_path()))
        .collect();
    let label = |columns: &BTreeMap<String, String>, name: &String| -> String {
        if name == "metric" {
            String::new()
        } else {
            columns
                .get(name)
                .cloned()
                .unwrap_or_else(|| drift_report::ABSENT_LABEL.to_string())
        }
    };
    let mut runs: Vec<Run> = job
        .instance
        .inputs
        .iter()
        .filter(|i| i.role == "from")
        .map(|i| {
            let columns = columns_of(&job.plan.instances, i.node);
            Run {
                node: i.node,
                row: p.rows.iter().map(|n| label(&columns, n)).collect(),
                column: p
                    .columns
                    .iter()
                    .filter(|n| *n != "metric")
                    .map(|n| label(&columns, n))
                    .collect(),
            }
        })
        .collect();
    runs.sort_by(|a, b| {
        drift_report::compare_label_tuples(&a.row, &b.row)
            .then_with(|| drift_report::compare_label_tuples(&a.column, &b.column))
            .then_with(|| job.plan.get(a.node).id.cmp(&job.plan.get(b.node).id))
    });
    let ctx = Ctx { job, p, dirs, runs };
    let figures = match plot {
        PlotKind::MetricVsNfe => vec![ctx.metric_vs_nfe()?],
        PlotKind::Loss => vec![ctx.loss()?],
        PlotKind::Samples => ctx.samples()?,
        PlotKind::Trajectories => ctx.trajectories()?,
    };
    let mut index = Vec::new();
    for (i, (caption, figure)) in figures.iter().enumerate() {
        let stem = format!("figure_{}", i + 1);
        std::fs::write(job.out_dir.join(format!("{stem}.svg")), &figure.svg).map_err(io)?;
        std::fs::write(job.out_dir.join(format!("{stem}.png")), &figure.png).map_err(io)?;
        index.push(json!({"stem": stem, "caption": caption, "width": figure.width, "height": figure.height}));
    }
    let text = serde_json::to_string_pretty(&json!({"plot": plot.name(), "figures": index}))
        .map_err(io)?;
    std::fs::write(job.out_dir.join("figures.json"), text).map_err(io)?;
    Ok(Cost::new())
}

struct Ctx<'a, 'j> {
    job: &'a Job<'j>,
    p: &'a params::ReportParams,
    dirs: BTreeMap<NodeIndex, &'a Path>,
    runs: Vec<Run>,
}

fn joined(labels: &[String], names: &[String]) -> String {
    let parts: Vec<String> = names
        .iter()
        .zip(labels)
        .filter(|(n, _)| *n != "metric")
        .map(|(n, l)| format!("{n}={l}"))
        .collect();
    if parts.is_empty() {
        "all".to_string()
    } else {
        parts.join(", ")
    }
}

fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some(var.sqrt()))
}

fn plot_error(e: drift_plot::PlotError) -> ExecError {
    ExecError(format!("plot: {e}"))
}

impl Ctx<'_, '_> {
    fn dir(&self, node: NodeIndex) -> Result<&Path, ExecError> {
        self.dirs.get(&node).copied().ok_or_else(|| {
            ExecError(format!(
                "the figure's input {} is missing",
                self.job.plan.get(node).id
            ))
        })
    }

    /// The node of `role` among the inputs of `node` (an evaluation's samples or data).
    fn input_of(&self, node: NodeIndex, role: &str) -> Result<NodeIndex, ExecError> {
        let inst = self.job.plan.get(node);
        inst.input(role)
            .ok_or_else(|| ExecError(format!("{} has no `{role}` input to draw", inst.id)))
    }

    fn model_of(&self, eval: NodeIndex) -> Result<NodeIndex, ExecError> {
        self.input_of(self.input_of(eval, "samples")?, "model")
    }

    fn series_name(&self, row: &[String]) -> String {
        let shown: Vec<&String> = row.iter().filter(|l| !l.is_empty()).collect();
        if shown.is_empty() {
            "all".into()
        } else {
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" · ")
        }
    }

    fn metric_vs_nfe(&self) -> Result<(String, drift_plot::Plot), ExecError> {
        let metric = self.p.metric.expect("resolve requires `metric`");
        // series -> nfe -> values over pooled runs
        let mut series: Vec<(Vec<String>, ValuesByNfe)> = Vec::new();
        for run in &self.runs {
            let inst = self.job.plan.get(run.node);
            let columns = columns_of(&self.job.plan.instances, run.node);
            let nfe: f64 = columns
                .get("nfe")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    ExecError(format!(
                        "metric_vs_nfe: {} has no `nfe` (its sample stage sets no NFE budget)",
                        inst.id
                    ))
                })?;
            let values =
                drift_io::read_metrics(&self.dir(run.node)?.join("metrics.parquet")).map_err(io)?;
            let value = values
                .iter()
                .find(|(m, _)| m == metric.name())
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    ExecError(format!(
                        "metric_vs_nfe: {} does not compute `{}`",
                        inst.id,
                        metric.name()
                    ))
                })?;
            let key = (run.row.clone(), run.column.clone());
            let mut name = key.0.clone();
            name.extend(key.1);
            match series.iter_mut().find(|(n, _)| *n == name) {
                Some((_, points)) => points.entry(nfe.to_bits()).or_default().push(value),
                None => series.push((name, BTreeMap::from([(nfe.to_bits(), vec![value])]))),
            }
        }
        let chart = drift_plot::LineChart {
            title: format!("{} vs NFE", metric.name()),
            x_label: "NFE".into(),
            y_label: metric.name().into(),
            series: series
                .iter()
                .map(|(name, points)| {
                    let mut xs: Vec<f64> = points.keys().map(|b| f64::from_bits(*b)).collect();
                    xs.sort_by(f64::total_cmp);
                    let stats: Vec<(f64, Option<f64>)> =
                        xs.iter().map(|x| mean_std(&points[&x.to_bits()])).collect();
                    let band = stats.iter().all(|(_, s)| s.is_some()).then(|| {
                        stats
                            .iter()
                            .map(|(m, s)| (m - s.unwrap_or(0.0), m + s.unwrap_or(0.0)))
                            .collect()
                    });
                    drift_plot::Series {
                        name: self.series_name(name),
                        x: xs,
                        y: stats.iter().map(|(m, _)| *m).collect(),
                        band,
                        colour: None,
                    }
                })
                .collect(),
            log_x: true,
            log_y: false,
            size: None,
        };
        let plot = drift_plot::metric_vs_nfe(&chart).map_err(plot_error)?;
        Ok((
            format!(
                "{} against NFE (mean over runs; band: ± std)",
                metric.name()
            ),
            plot,
        ))
    }

    fn loss(&self) -> Result<(String, drift_plot::Plot), ExecError> {
        // series -> distinct trainings
        let mut series: Vec<(Vec<String>, Vec<NodeIndex>)> = Vec::new();
        for run in &self.runs {
            let model = self.model_of(run.node)?;
            match series.iter_mut().find(|(n, _)| *n == run.row) {
                Some((_, models)) if !models.contains(&model) => models.push(model),
                Some(_) => {}
                None => series.push((run.row.clone(), vec![model])),
            }
        }
        let mut lines = Vec::new();
        for (row, models) in &series {
            let mut curves = Vec::new();
            for m in models {
                curves.push(
                    drift_io::read_loss_curve(&self.dir(*m)?.join("loss.parquet")).map_err(io)?,
                );
            }
            let steps = curves.iter().map(Vec::len).min().unwrap_or(0);
            let stats: Vec<(f64, Option<f64>)> = (0..steps)
                .map(|s| {
                    let v: Vec<f64> = curves.iter().map(|c| f64::from(c[s])).collect();
                    mean_std(&v)
                })
                .collect();
            let band = (curves.len() > 1).then(|| {
                stats
                    .iter()
                    .map(|(m, s)| {
                        let s = s.unwrap_or(0.0);
                        (m - s, m + s)
                    })
                    .collect()
            });
            lines.push(drift_plot::Series {
                name: self.series_name(row),
                x: (1..=steps).map(|s| s as f64).collect(),
                y: stats.iter().map(|(m, _)| *m).collect(),
                band,
                colour: None,
            });
        }
        let chart = drift_plot::LineChart {
            title: "Training loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: lines,
            log_x: false,
            log_y: true,
            size: None,
        };
        let plot = drift_plot::loss_curves(&chart).map_err(plot_error)?;
        Ok((
            "training loss per step (mean over runs; band: ± std)".into(),
            plot,
        ))
    }

    /// The runs grouped by the data stage whose test split they are drawn over, in run order.
    fn by_data(&self) -> Result<Vec<(NodeIndex, Vec<&Run>)>, ExecError> {
        let mut groups: Vec<(NodeIndex, Vec<&Run>)> = Vec::new();
        for run in &self.runs {
            let data = self.input_of(run.node, "test_data")?;
            match groups.iter_mut().find(|(d, _)| *d == data) {
                Some((_, runs)) => runs.push(run),
                None => groups.push((data, vec![run])),
            }
        }
        Ok(groups)
    }

    fn points_2d(&self, path: &Path, what: &str) -> Result<Vec<[f64; 2]>, ExecError> {
        let (dim, xs) = drift_io::read_points(path).map_err(io)?;
        if dim != 2 {
            return Err(ExecError(format!(
                "plot: {what} has {dim} dimensions; scatter plots and paths need 2"
            )));
        }
        Ok(xs
            .chunks_exact(2)
            .map(|c| [f64::from(c[0]), f64::from(c[1])])
            .collect())
    }

    fn samples(&self) -> Result<Vec<(String, drift_plot::Plot)>, ExecError> {
        let mut out = Vec::new();
        for (data, runs) in self.by_data()? {
            let data_id = &self.job.plan.get(data).id;
            let reference = self.points_2d(&self.dir(data)?.join("test.parquet"), data_id)?;
            let mut rows: Vec<Vec<String>> = Vec::new();
            let mut cols: Vec<Vec<String>> = Vec::new();
            for r in &runs {
                if !rows.contains(&r.row) {
                    rows.push(r.row.clone());
                }
                if !cols.contains(&r.column) {
                    cols.push(r.column.clone());
                }
            }
            cols.sort_by(|a, b| drift_report::compare_label_tuples(a, b));
            let mut panels = vec![vec![None; cols.len()]; rows.len()];
            for r in &runs {
                let (ri, ci) = (
                    rows.iter().position(|x| *x == r.row).expect("collected"),
                    cols.iter().position(|x| *x == r.column).expect("collected"),
                );
                if panels[ri][ci].is_some() {
                    continue; // the first run (in id order) of the cell is drawn
                }
                let samples = self.input_of(r.node, "samples")?;
                let id = &self.job.plan.get(samples).id;
                panels[ri][ci] = Some(drift_plot::Panel {
                    title: String::new(),
                    points: self.points_2d(&self.dir(samples)?.join("samples.parquet"), id)?,
                    colour: Some(ri),
                });
            }
            let grid = drift_plot::ScatterGrid {
                title: format!("Samples over {data_id}"),
                row_labels: rows.iter().map(|r| self.series_name(r)).collect(),
                col_labels: cols
                    .iter()
                    .map(|c| joined(c, &self.column_names()))
                    .collect(),
                panels,
                reference,
                panel_size: None,
                max_points: None,
            };
            out.push((
                format!("samples (colour) over the test split of {data_id} (grey)"),
                drift_plot::scatter_grid(&grid).map_err(plot_error)?,
            ));
        }
        Ok(out)
    }

    fn column_names(&self) -> Vec<String> {
        self.p
            .columns
            .iter()
            .filter(|n| *n != "metric")
            .cloned()
            .collect()
    }

    fn trajectories(&self) -> Result<Vec<(String, drift_plot::Plot)>, ExecError> {
        let mut out = Vec::new();
        for (data, runs) in self.by_data()? {
            let data_id = &self.job.plan.get(data).id;
            let reference = self.points_2d(&self.dir(data)?.join("test.parquet"), data_id)?;
            let mut panels = Vec::new();
            let mut drawn: Vec<(Vec<String>, NodeIndex)> = Vec::new();
            for r in &runs {
                let model = self.model_of(r.node)?;
                if drawn.iter().any(|(row, _)| *row == r.row) {
                    continue; // one model per row label: the first run's
                }
                drawn.push((r.row.clone(), model));
                let inst = self.job.plan.get(model);
                let drift_spec::StageParams::Train(tp) = &inst.params else {
                    return Err(ExecError(format!("{} is not a train stage", inst.id)));
                };
                let (net, method, dim) =
                    crate::load_network_at(tp, self.dir(model)?, &drift_nn::ComputeDevice::cpu())?;
                if !matches!(method, drift_dynamics::method::Method::Flow(_)) || dim != 2 {
                    return Err(ExecError(format!(
                        "plot = \"trajectories\" draws 2-D flow-matching models; {} is a {dim}-dimensional {} model",
                        inst.id,
                        method.family()
                    )));
                }
                let seed = drift_plan::key::derive_seed(
                    self.job.plan.experiment_seed,
                    "report",
                    self.p.seed,
                    "trajectories",
                );
                panels.push(drift_plot::TrajectoryPanel {
                    title: self.series_name(&r.row),
                    paths: euler_paths(&net, TRAJECTORY_PATHS, TRAJECTORY_STEPS, seed)?,
                    colour: Some(panels.len()),
                });
            }
            let figure = drift_plot::Trajectories {
                title: format!("Probability-flow paths on {data_id}"),
                panels,
                reference,
                panel_size: None,
                max_paths: None,
            };
            out.push((
                format!(
                    "{TRAJECTORY_PATHS} paths from N(0, I) noise, Euler with {TRAJECTORY_STEPS} steps, over the test split of {data_id} (grey)"
                ),
                drift_plot::trajectories(&figure).map_err(plot_error)?,
            ));
        }
        Ok(out)
    }
}

/// `n` Euler paths of a 2-D velocity network from seeded N(0, I) noise, t = 0 to 1.
fn euler_paths(
    net: &drift_nn::Network,
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<Vec<[f64; 2]>>, ExecError> {
    use drift_dynamics::Field as _;
    let mut rng = drift_dynamics::rng(seed, 0);
    let mut x = vec![0f64; n * 2];
    drift_dynamics::fill_normal(&mut rng, &mut x);
    let mut paths: Vec<Vec<[f64; 2]>> = (0..n).map(|i| vec![[x[2 * i], x[2 * i + 1]]]).collect();
    let mut field = drift_nn::NetField::new(net);
    let mut v = vec![0f64; n * 2];
    let h = 1.0 / steps as f64;
    for step in 0..steps {
        field.eval(step as f64 * h, &x, &mut v).map_err(io)?;
        for (xv, vv) in x.iter_mut().zip(&v) {
            *xv += h * vv;
        }
        for (i, path) in paths.iter_mut().enumerate() {
            path.push([x[2 * i], x[2 * i + 1]]);
        }
    }
    Ok(paths)
}
