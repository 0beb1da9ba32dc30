//! From a stage's parameter table (JSON, one instance) to typed, completed, validated parameters.
//! This is the single place where defaults are filled and cross-field rules are checked.

use crate::StageKind;
use crate::params::*;
use serde::de::DeserializeOwned;
use serde_json::Value as J;

/// Typed, completed parameters of one stage instance.
#[derive(Debug, Clone)]
pub enum StageParams {
    Data(DataParams),
    Train(Box<TrainParams>),
    Sample(SampleParams),
    Eval(EvalParams),
    Report(ReportParams),
}

/// A parameter problem at a dotted key path inside the stage table.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl ParamError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        ParamError {
            path: path.into(),
            message: message.into(),
            help: None,
        }
    }
    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl StageParams {
    /// The completed parameters as JSON (defaults written out): the canonical form that keys hash.
    pub fn to_json(&self) -> J {
        let v = match self {
            StageParams::Data(p) => serde_json::to_value(p),
            StageParams::Train(p) => serde_json::to_value(p),
            StageParams::Sample(p) => serde_json::to_value(p),
            StageParams::Eval(p) => serde_json::to_value(p),
            StageParams::Report(p) => serde_json::to_value(p),
        };
        v.expect("parameter types serialise to JSON")
    }

    pub fn seed(&self) -> u64 {
        match self {
            StageParams::Data(p) => p.seed,
            StageParams::Train(p) => p.seed,
            StageParams::Sample(p) => p.seed,
            StageParams::Eval(p) => p.seed,
            StageParams::Report(p) => p.seed,
        }
    }
}

fn typed<T: DeserializeOwned>(json: &J) -> Result<T, ParamError> {
    serde_path_to_error::deserialize::<_, T>(json).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        ParamError::new(&path, message)
    })
}

/// Table-only keys are errors on a figure and figure-only keys on a table, so that a stray
/// key never looks like it took effect.
fn check_report_options(p: &ReportParams, errors: &mut Vec<ParamError>) {
    let table_only = [
        ("select", p.select.is_some()),
        ("costs", !p.costs.is_empty()),
        ("interval", p.interval != Interval::default()),
    ];
    match p.plot {
        None => {
            if p.metric.is_some() {
                errors.push(
                    ParamError::new(
                        "metric",
                        "`metric` applies only to plot = \"metric_vs_nfe\"",
                    )
                    .help("a table shows every metric of its evaluations"),
                );
            }
        }
        Some(plot) => {
            for (key, given) in table_only {
                if given {
                    errors.push(ParamError::new(
                        key,
                        format!(
                            "`{key}` applies only to tables, not to plot = \"{}\"",
                            plot.name()
                        ),
                    ));
                }
            }
            match (plot, p.metric) {
                (PlotKind::MetricVsNfe, None) => errors.push(
                    ParamError::new("metric", "plot = \"metric_vs_nfe\" needs `metric`")
                        .help("e.g. metric = \"w2\""),
                ),
                (PlotKind::MetricVsNfe, Some(_)) | (_, None) => {}
                (other, Some(_)) => errors.push(ParamError::new(
                    "metric",
                    format!(
                        "`metric` applies only to plot = \"metric_vs_nfe\", not \"{}\"",
                        other.name()
                    ),
                )),
            }
        }
    }
    if let Some(select) = &p.select {
        if select.over.is_empty() {
            errors.push(ParamError::new("select.over", "`select.over` is empty"));
        }
        if select.split == EvalSplit::Test {
            errors.push(
                ParamError::new(
                    "select.split",
                    "choosing by the test split reports results selected on the data they are measured on",
                )
                .help("select on split = \"val\" (give the data stage `n_val`)"),
            );
        }
        if select.by.lower_is_better().is_none() {
            errors.push(ParamError::new(
                "select.by",
                format!(
                    "`{}` has no better direction to select by",
                    select.by.name()
                ),
            ));
        }
    }
}

/// Metric-specific keys: each applies only with its metrics (an error otherwise, so that a
/// stray key never looks like it took effect), is validated, and defaults in only when one of
/// its metrics is asked for (so evaluations without them keep their keys).
fn check_metric_options(p: &mut EvalParams, errors: &mut Vec<ParamError>) {
    use Metric as M;
    const KNN: &[Metric] = &[M::Precision, M::Recall];
    const POLY: &[Metric] = &[M::MmdPoly];
    const MODES: &[Metric] = &[M::ModeCoverage, M::OffModeFraction];
    const COVERAGE: &[Metric] = &[M::ModeCoverage];
    const NLL: &[Metric] = &[M::Nll];
    const PATHS: &[Metric] = &[M::Straightness, M::PathEnergy];
    let uses = |group: &[Metric]| group.iter().any(|m| p.metrics.contains(m));
    let given = [
        ("classifier", p.classifier.is_some(), &[M::Fd][..]),
        ("knn_k", p.knn_k.is_some(), KNN),
        ("poly_degree", p.poly_degree.is_some(), POLY),
        ("poly_coef", p.poly_coef.is_some(), POLY),
        ("mode_threshold", p.mode_threshold.is_some(), MODES),
        ("mode_min_count", p.mode_min_count.is_some(), COVERAGE),
        ("nll_steps", p.nll_steps.is_some(), NLL),
        ("hutchinson_probes", p.hutchinson_probes.is_some(), NLL),
        ("trajectory_steps", p.trajectory_steps.is_some(), PATHS),
    ];
    for (key, is_given, group) in given {
        if is_given && !uses(group) {
            let names: Vec<&str> = group.iter().map(|m| m.name()).collect();
            errors.push(ParamError::new(
                key,
                format!("`{key}` applies only to {}", names.join(", ")),
            ));
        }
    }
    if p.metrics.contains(&M::Fd) && p.classifier.is_none() {
        errors.push(
            ParamError::new("classifier", "`fd` needs `classifier`")
                .help("train one: [train.cls] method = \"classifier\", data = \"data.digits\"; then classifier = \"train.cls\""),
        );
    }
    if uses(KNN) {
        let k = *p.knn_k.get_or_insert(drift_metrics::KNN_DEFAULT_K as u64);
        if k == 0 {
            errors.push(ParamError::new("knn_k", "`knn_k` must be at least 1"));
        }
    }
    if uses(POLY) {
        let degree = *p
            .poly_degree
            .get_or_insert(u64::from(drift_metrics::MMD_POLY_DEFAULT_DEGREE));
        if !(1..=16).contains(&degree) {
            errors.push(ParamError::new(
                "poly_degree",
                format!("`poly_degree` must be between 1 and 16, got {degree}"),
            ));
        }
        let coef = *p
            .poly_coef
            .get_or_insert(drift_metrics::MMD_POLY_DEFAULT_COEF0);
        if !coef.is_finite() {
            errors.push(ParamError::new("poly_coef", "`poly_coef` must be finite"));
        }
    }
    if uses(MODES) {
        let t = *p
            .mode_threshold
            .get_or_insert(drift_metrics::MODE_DEFAULT_THRESHOLD);
        if !(t.is_finite() && t > 0.0) {
            errors.push(ParamError::new(
                "mode_threshold",
                format!("`mode_threshold` must be positive and finite, got {t}"),
            ));
        }
    }
    if uses(NLL) {
        let steps = *p.nll_steps.get_or_insert(NLL_DEFAULT_STEPS);
        if !(1..=100_000).contains(&steps) {
            errors.push(ParamError::new(
                "nll_steps",
                format!("`nll_steps` must be between 1 and 100000, got {steps}"),
            ));
        }
        let probes = *p.hutchinson_probes.get_or_insert(HUTCHINSON_DEFAULT_PROBES);
        if !(1..=1024).contains(&probes) {
            errors.push(ParamError::new(
                "hutchinson_probes",
                format!("`hutchinson_probes` must be between 1 and 1024, got {probes}"),
            ));
        }
    }
    if uses(PATHS) {
        let steps = *p.trajectory_steps.get_or_insert(TRAJECTORY_DEFAULT_STEPS);
        if !(1..=100_000).contains(&steps) {
            errors.push(ParamError::new(
                "trajectory_steps",
                format!("`trajectory_steps` must be between 1 and 100000, got {steps}"),
            ));
        }
    }
    if uses(COVERAGE) {
        let c = *p
            .mode_min_count
            .get_or_insert(drift_metrics::MODE_DEFAULT_MIN_COUNT as u64);
        if c == 0 {
            errors.push(ParamError::new(
                "mode_min_count",
                "`mode_min_count` must be at least 1",
            ));
        }
    }
}

fn check_data(p: &DataParams, errors: &mut Vec<ParamError>) {
    let generator = p.generator.name();
    if let Some(split) = p.generator.split() {
        for (key, given) in [
            ("n_train", p.n_train.is_some()),
            ("n_test", p.n_test.is_some()),
        ] {
            if given {
                errors.push(
                    ParamError::new(key, format!("`{key}` does not apply to generator `{generator}`"))
                        .help("it splits a fixed table: set `split = { train = 0.8, val = 0.1, test = 0.1 }`"),
                );
            }
        }
        if p.n_val != 0 {
            errors.push(
                ParamError::new(
                    "n_val",
                    format!("`n_val` does not apply to generator `{generator}`"),
                )
                .help("set `split.val` instead"),
            );
        }
        let parts = [
            ("train", split.train),
            ("val", split.val),
            ("test", split.test),
        ];
        for (name, f) in parts {
            if !(f.is_finite() && (0.0..=1.0).contains(&f)) {
                errors.push(ParamError::new(
                    &format!("split.{name}"),
                    format!("`split.{name}` must be between 0 and 1, got {f}"),
                ));
            }
        }
        let total = split.train + split.val + split.test;
        if (total - 1.0).abs() > 1e-9 {
            errors.push(
                ParamError::new("split", format!("split fractions add up to {total}, not 1"))
                    .help("e.g. `split = { train = 0.8, val = 0.1, test = 0.1 }`"),
            );
        }
        if !(split.train > 0.0 && split.test > 0.0) {
            errors.push(ParamError::new(
                "split",
                "`split.train` and `split.test` must be positive (training needs points, metrics \
                 compare samples with the test split)",
            ));
        }
        if let GeneratorParams::File(f) = &p.generator {
            if f.path.trim().is_empty() {
                errors.push(ParamError::new("path", "`path` is empty"));
            }
            if f.format_in_force().is_none() {
                errors.push(
                    ParamError::new(
                        "path",
                        format!("cannot tell the format of `{}` from its extension", f.path),
                    )
                    .help("name it *.parquet, *.csv or *.npy, or set `format = \"parquet\" | \"csv\" | \"npy\"`"),
                );
            }
            if f.columns.as_ref().is_some_and(Vec::is_empty) {
                errors.push(
                    ParamError::new("columns", "`columns` is empty")
                        .help("leave it out to use every numeric column"),
                );
            }
        }
        return;
    }
    match p.n_train {
        None => errors.push(ParamError::new(
            "n_train",
            format!("generator `{generator}` needs `n_train`"),
        )),
        Some(0) => errors.push(ParamError::new("n_train", "`n_train` must be at least 1")),
        Some(_) => {}
    }
    match p.n_test {
        None => errors.push(
            ParamError::new("n_test", format!("generator `{generator}` needs `n_test`"))
                .help("metrics compare samples with the test split"),
        ),
        Some(n) if n < 2 => errors.push(
            ParamError::new("n_test", "`n_test` must be at least 2")
                .help("metrics compare samples with the test split"),
        ),
        Some(_) => {}
    }
    if let Some(snapshots) = crate::generators::to_snapshots(&p.generator)
        && let Err(e) = snapshots.validate()
    {
        errors.push(ParamError::new(
            crate::generators::error_key(&e),
            e.to_string(),
        ));
    }
    if let Some(Err(e)) = crate::generators::to_generator(&p.generator) {
        let help = match &e {
            drift_data::DataError::UnexpectedNoise { .. } => {
                Some("leave `noise` out; `drift list generators` shows each generator's parameters")
            }
            _ => None,
        };
        let mut error = ParamError::new(crate::generators::error_key(&e), e.to_string());
        if let Some(h) = help {
            error = error.help(h);
        }
        errors.push(error);
    }
}

/// Deserialises, completes and validates one instance's parameters.
pub fn resolve_params(kind: StageKind, json: &J) -> Result<StageParams, Vec<ParamError>> {
    let one = |e: ParamError| vec![e];
    let mut errors = Vec::new();
    let params = match kind {
        StageKind::Data => {
            let mut p: DataParams = typed(json).map_err(one)?;
            p.generator.complete();
            check_data(&p, &mut errors);
            StageParams::Data(p)
        }
        StageKind::Train => {
            let mut p: TrainParams = typed(json).map_err(one)?;
            check_train(&mut p, &mut errors);
            StageParams::Train(Box::new(p))
        }
        StageKind::Sample => {
            let mut p: SampleParams = typed(json).map_err(one)?;
            if p.n < 2 {
                errors.push(ParamError::new("n", "`n` must be at least 2"));
            }
            if let Err(e) = complete_budget(&mut p) {
                errors.push(e);
            }
            check_solver(&p.solver, p.nfe, &mut errors);
            StageParams::Sample(p)
        }
        StageKind::Eval => {
            let mut p: EvalParams = typed(json).map_err(one)?;
            check_metric_options(&mut p, &mut errors);
            if p.metrics.is_empty() {
                errors.push(
                    ParamError::new("metrics", "`metrics` is empty").help(format!(
                        "choose from {}",
                        crate::diagnostic::list(&metric_names())
                    )),
                );
            }
            if p.projections == 0 {
                errors.push(ParamError::new(
                    "projections",
                    "`projections` must be at least 1",
                ));
            }
            StageParams::Eval(p)
        }
        StageKind::Report => {
            let p: ReportParams = typed(json).map_err(one)?;
            if p.from.is_empty() {
                errors.push(ParamError::new("from", "`from` is empty"));
            }
            check_report_options(&p, &mut errors);
            StageParams::Report(p)
        }
    };
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(errors)
    }
}

fn metric_names() -> Vec<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

/// `value` must lie in the interval; pushes an error naming `key` otherwise.
fn range(
    errors: &mut Vec<ParamError>,
    key: &str,
    value: f64,
    low: f64,
    low_open: bool,
    high: f64,
    high_open: bool,
) {
    let above = if low_open { value > low } else { value >= low };
    let below = if high_open {
        value < high
    } else {
        value <= high
    };
    if !(value.is_finite() && above && below) {
        let interval = format!(
            "{}{low}, {high}{}",
            if low_open { "(" } else { "[" },
            if high_open { ")" } else { "]" }
        )
        .replace("inf", "infinity");
        errors.push(ParamError::new(
            key,
            format!("`{key}` must lie in {interval}, got {value}"),
        ));
    }
}

const INF: f64 = f64::INFINITY;

fn check_train(p: &mut TrainParams, errors: &mut Vec<ParamError>) {
    if p.steps == 0 {
        errors.push(ParamError::new("steps", "`steps` must be at least 1"));
    }
    if p.batch == 0 {
        errors.push(ParamError::new("batch", "`batch` must be at least 1"));
    }
    if p.checkpoint_every == Some(0) {
        errors.push(ParamError::new(
            "checkpoint_every",
            "`checkpoint_every` must be at least 1 (leave it out for no checkpoints)",
        ));
    }
    range(errors, "lr", p.lr, 0.0, true, INF, true);
    range(
        errors,
        "weight_decay",
        p.weight_decay,
        0.0,
        false,
        INF,
        true,
    );
    if let Some(c) = p.grad_clip {
        range(errors, "grad_clip", c, 0.0, true, INF, true);
    }
    if let Some(d) = p.ema {
        range(errors, "ema", d, 0.0, false, 1.0, true);
    }
    match (&p.data, &p.pairs) {
        (None, None) => errors.push(
            ParamError::new("data", "missing key `data`")
                .help("name the data stage to train on: data = \"data.NAME\""),
        ),
        (Some(_), Some(_)) => errors.push(
            ParamError::new("pairs", "give `data` or `pairs`, not both")
                .help("a reflow round trains on the pairs; evaluations find the data behind them"),
        ),
        _ => {}
    }
    if matches!(p.method, MethodParams::Classifier(_)) {
        for (key, given) in [
            ("pairs", p.pairs.is_some()),
            ("init", p.init.is_some()),
            ("source", p.source != "gaussian"),
        ] {
            if given {
                errors.push(ParamError::new(
                    key,
                    format!("`{key}` does not apply to method = \"classifier\""),
                ));
            }
        }
        if p.data_sampling == DataSampling::Fresh {
            errors.push(ParamError::new(
                "data_sampling",
                "a classifier trains on its labelled training split; fresh points have no labels",
            ));
        }
    }
    if p.pairs.is_some() {
        if !matches!(p.method, MethodParams::RectifiedFlow(_)) {
            errors.push(ParamError::new(
                "pairs",
                format!(
                    "`pairs` (reflow) needs method = \"rectified_flow\", not \"{}\"",
                    p.method.name()
                ),
            ));
        }
        if p.data_sampling == DataSampling::Fresh {
            errors.push(ParamError::new(
                "data_sampling",
                "`data_sampling = \"fresh\"` cannot draw new reflow pairs; pairs are a fixed set",
            ));
        }
    }
    if p.source != "gaussian" {
        if !p.source.starts_with("data.") {
            errors.push(
                ParamError::new(
                    "source",
                    format!(
                        "`source` must be \"gaussian\" or a data stage, got \"{}\"",
                        p.source
                    ),
                )
                .help("e.g. source = \"data.moons\" to transport moons to the target data"),
            );
        } else if !p.method.accepts_data_source() {
            errors.push(ParamError::new(
                "source",
                format!(
                    "method \"{}\" starts from its own Gaussian prior; a data `source` needs one of \
                     flow_matching, ot_cfm, sb_cfm, rectified_flow, stochastic_interpolant",
                    p.method.name()
                ),
            ));
        }
    }
    if let Err((key, message)) = p.model.complete() {
        errors.push(ParamError::new(&format!("model.{key}"), message));
    }
    if let Some(h) = &p.model.hidden
        && h.contains(&0)
    {
        errors.push(ParamError::new(
            "model.hidden",
            "`model.hidden` widths must be positive",
        ));
    }
    if p.model.width == Some(0) {
        errors.push(ParamError::new(
            "model.width",
            "`model.width` must be positive",
        ));
    }
    if let Some(e) = p.model.time_embed_dim
        && (e == 0 || e % 2 == 1)
    {
        errors.push(ParamError::new(
            "model.time_embed_dim",
            "`model.time_embed_dim` must be even and positive",
        ));
    }
    let e = errors;
    match &p.method {
        MethodParams::FlowMatching(m) => range(e, "sigma", m.sigma, 0.0, false, INF, true),
        MethodParams::FlowMatchingLipman(m) => range(e, "sigma", m.sigma, 0.0, true, 1.0, false),
        MethodParams::OtCfm(m) => range(e, "sigma", m.sigma, 0.0, false, INF, true),
        MethodParams::SbCfm(m) => range(e, "sigma", m.sigma, 0.0, true, INF, true),
        MethodParams::RectifiedFlow(m) => {
            range(e, "t_eps", m.t_eps, 0.0, false, 1.0, true);
            if m.distill && p.pairs.is_none() {
                e.push(
                    ParamError::new("distill", "`distill = true` needs `pairs`")
                        .help("distil the one-step map from the pairs of a previous round"),
                );
            }
        }
        MethodParams::StochasticInterpolant(m) => {
            range(e, "a", m.a, 0.0, false, INF, true);
            range(e, "t_min", m.t_min, 0.0, false, 0.5, true);
            range(e, "eps0", m.eps0, 0.0, false, INF, true);
            if m.a > 0.0 && m.t_min == 0.0 {
                e.push(ParamError::new(
                    "t_min",
                    "`t_min` must be > 0 when `a` > 0 (gamma'(t) diverges at the endpoints)",
                ));
            }
        }
        MethodParams::VpDiffusion(m) => {
            range(e, "beta_min", m.beta_min, 0.0, true, INF, true);
            range(e, "beta_max", m.beta_max, m.beta_min, false, INF, true);
            range(e, "train_eps", m.train_eps, 0.0, true, 1.0, true);
            range(e, "sample_eps", m.sample_eps, 0.0, true, 1.0, true);
        }
        MethodParams::Cld(m) => {
            range(e, "beta0", m.beta0, 0.0, true, INF, true);
            range(e, "beta1", m.beta1, 0.0, false, INF, true);
            range(e, "m_inv", m.m_inv, 0.0, true, INF, true);
            range(e, "gamma", m.gamma, 0.0, false, INF, true);
            range(e, "numerical_eps", m.numerical_eps, 0.0, false, 1.0, true);
            range(e, "loss_eps", m.loss_eps, 0.0, true, 1.0, true);
            range(e, "sample_eps", m.sample_eps, 0.0, true, 1.0, true);
        }
        MethodParams::Agm(m) => {
            range(e, "p", m.p, 0.0, true, INF, true);
            range(e, "k", m.k, -1.0, true, 1.0, true);
            range(e, "varx", m.varx, 0.0, true, INF, true);
            range(e, "varv", m.varv, 0.0, true, INF, true);
            range(e, "t0", m.t0, 0.0, false, 1.0, true);
            range(e, "t_end", m.t_end, m.t0, true, 1.0, true);
        }
        MethodParams::Classifier(_) => {}
    }
}

fn check_solver(s: &SolverParams, nfe: Option<u64>, e: &mut Vec<ParamError>) {
    let denoise = match s {
        SolverParams::EulerMaruyama(m) => m.denoise,
        SolverParams::Sscs(m) => m.denoise,
        _ => false,
    };
    if denoise && nfe == Some(1) {
        e.push(
            ParamError::new(
                "nfe",
                format!(
                    "solver `{}` with `denoise = true` needs nfe >= 2: the last evaluation is the final denoising step",
                    s.name()
                ),
            )
            .help("raise `nfe`, or set `denoise = false`"),
        );
    }
    match s {
        SolverParams::Dopri5(d) => {
            range(e, "rtol", d.rtol, 0.0, false, 1.0, false);
            range(e, "atol", d.atol, 0.0, true, INF, true);
        }
        SolverParams::Ddim(d) => range(e, "eta", d.eta, 0.0, false, INF, true),
        SolverParams::Gddim(g) => {
            if !(0..=4).contains(&g.order) {
                e.push(ParamError::new(
                    "order",
                    format!("`order` must be 0..=4, got {}", g.order),
                ));
            }
            if let Some(t) = g.t_end {
                range(e, "t_end", t, 0.0, true, 1.0, true);
            }
        }
        SolverParams::Sss(a) => {
            if let Some(t) = a.t_end {
                range(e, "t_end", t, 0.0, true, 1.0, true);
            }
        }
        _ => {}
    }
}

/// Fills `steps` from `nfe` or `nfe` from `steps`: exactly one budget, reachable by the solver.
fn complete_budget(p: &mut SampleParams) -> Result<(), ParamError> {
    let Some(per) = p.solver.evals_per_step() else {
        return match (p.nfe, p.steps) {
            (None, None) => Ok(()),
            (found, _) => Err(ParamError::new(
                if found.is_some() { "nfe" } else { "steps" },
                format!(
                    "solver `{}` is adaptive: its NFE is an output, not a budget",
                    p.solver.name()
                ),
            )
            .help("remove `nfe`/`steps` and set `rtol`/`atol` instead")),
        };
    };
    match (p.nfe, p.steps) {
        (None, None) => Err(ParamError::new("nfe", "missing key `nfe` (or `steps`)")
            .help("give the network-evaluation budget `nfe` or the number of solver `steps`")),
        (Some(0), _) => Err(ParamError::new("nfe", "`nfe` must be at least 1")),
        (_, Some(0)) => Err(ParamError::new("steps", "`steps` must be at least 1")),
        (Some(nfe), None) => {
            if nfe % per != 0 {
                let below = nfe / per * per;
                let above = below + per;
                let nearest = if below == 0 {
                    format!("{above}")
                } else {
                    format!("{below} or {above}")
                };
                return Err(ParamError::new(
                    "nfe",
                    format!(
                        "nfe {nfe} is not reachable with solver `{}` ({per} network evaluations per step)",
                        p.solver.name()
                    ),
                )
                .help(format!("nearest valid nfe: {nearest}")));
            }
            p.steps = Some(nfe / per);
            Ok(())
        }
        (None, Some(steps)) => {
            p.nfe = Some(steps * per);
            Ok(())
        }
        (Some(nfe), Some(steps)) => {
            if nfe == steps * per {
                Ok(())
            } else {
                Err(ParamError::new(
                    "nfe",
                    format!(
                        "nfe {nfe} contradicts steps {steps} with solver `{}` ({per} evaluations per step)",
                        p.solver.name()
                    ),
                )
                .help("give only one of `nfe` and `steps`"))
            }
        }
    }
}
