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
    Train(TrainParams),
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

/// Deserialises, completes and validates one instance's parameters.
pub fn resolve_params(kind: StageKind, json: &J) -> Result<StageParams, Vec<ParamError>> {
    let one = |e: ParamError| vec![e];
    let mut errors = Vec::new();
    let params = match kind {
        StageKind::Data => {
            let mut p: DataParams = typed(json).map_err(one)?;
            p.generator.complete();
            if p.n_train == 0 {
                errors.push(ParamError::new("n_train", "`n_train` must be at least 1"));
            }
            if p.n_test < 2 {
                errors.push(
                    ParamError::new("n_test", "`n_test` must be at least 2")
                        .help("metrics compare samples with the test split"),
                );
            }
            if let GeneratorParams::TwoMoons(m) = &p.generator
                && m.noise.is_some_and(|n| n < 0.0)
            {
                errors.push(ParamError::new("noise", "`noise` must be >= 0"));
            }
            StageParams::Data(p)
        }
        StageKind::Train => {
            let p: TrainParams = typed(json).map_err(one)?;
            if p.steps == 0 {
                errors.push(ParamError::new("steps", "`steps` must be at least 1"));
            }
            if p.batch == 0 {
                errors.push(ParamError::new("batch", "`batch` must be at least 1"));
            }
            if p.lr <= 0.0 {
                errors.push(ParamError::new("lr", "`lr` must be > 0"));
            }
            if p.weight_decay < 0.0 {
                errors.push(ParamError::new(
                    "weight_decay",
                    "`weight_decay` must be >= 0",
                ));
            }
            if p.model.hidden.is_empty() || p.model.hidden.contains(&0) {
                errors.push(ParamError::new(
                    "model.hidden",
                    "`model.hidden` must list at least one positive width",
                ));
            }
            if p.model.time_embed_dim == 0 || p.model.time_embed_dim % 2 == 1 {
                errors.push(ParamError::new(
                    "model.time_embed_dim",
                    "`model.time_embed_dim` must be even and positive",
                ));
            }
            let MethodParams::FlowMatching(fm) = &p.method;
            if fm.sigma < 0.0 {
                errors.push(ParamError::new("sigma", "`sigma` must be >= 0"));
            }
            StageParams::Train(p)
        }
        StageKind::Sample => {
            let mut p: SampleParams = typed(json).map_err(one)?;
            if p.n < 2 {
                errors.push(ParamError::new("n", "`n` must be at least 2"));
            }
            if let Err(e) = complete_budget(&mut p) {
                errors.push(e);
            }
            StageParams::Sample(p)
        }
        StageKind::Eval => {
            let p: EvalParams = typed(json).map_err(one)?;
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

/// Fills `steps` from `nfe` or `nfe` from `steps`: exactly one budget, reachable by the solver.
fn complete_budget(p: &mut SampleParams) -> Result<(), ParamError> {
    let per = p.solver.evals_per_step();
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
