//! From typed spec parameters to the configurations of drift-dynamics (method, sampler) and
//! drift-nn (network, optimiser). The one place where spec names meet implementation types.

use drift_dynamics::agm::{AgmConfig, DeType, TimeGrid, Weighting};
use drift_dynamics::cld::{CldConfig, Striding};
use drift_dynamics::coupling::{Coupling, OtPairing};
use drift_dynamics::interpolant::{SiConfig, SiHeads, SiSchedule};
use drift_dynamics::method::{Method, Sampler};
use drift_dynamics::ode::{Dopri5, FixedSolver};
use drift_dynamics::paths::{FmConfig, Path};
use drift_dynamics::vp::VpConfig;
use drift_spec::params::{self as p, MethodParams, SolverParams};

/// The method a train stage's parameters describe (`None` for a classifier, which is not a
/// generative model).
pub fn method(params: &p::TrainParams) -> Option<Method> {
    Some(match &params.method {
        MethodParams::FlowMatching(m) => Method::Flow(match m.path {
            p::FmPath::Straight => FmConfig::icfm(m.sigma),
            p::FmPath::VpTrig => FmConfig::vp_trig(m.sigma),
        }),
        MethodParams::FlowMatchingLipman(m) => Method::Flow(FmConfig::lipman(m.sigma)),
        MethodParams::OtCfm(m) => {
            let mut c = FmConfig::ot_cfm(m.sigma);
            c.coupling = Coupling::ExactOt {
                pairing: match m.pairing {
                    p::OtPairing::Resample => OtPairing::Resample,
                    p::OtPairing::Permutation => OtPairing::Permutation,
                },
            };
            Method::Flow(c)
        }
        MethodParams::SbCfm(m) => Method::Flow(FmConfig::sb_cfm(m.sigma)),
        MethodParams::RectifiedFlow(m) => {
            let mut c = FmConfig::rectified_flow();
            c.path = Path::ICfm { sigma: 0.0 };
            c.t_min = m.t_eps;
            // One-step distillation trains the map at t = t_eps only.
            c.t_max = if m.distill { m.t_eps } else { 1.0 };
            Method::Flow(c)
        }
        MethodParams::StochasticInterpolant(m) => Method::Interpolant(SiConfig {
            schedule: match m.schedule {
                p::SiSchedule::Linear => SiSchedule::Linear,
                p::SiSchedule::Trig => SiSchedule::Trig,
            },
            a: m.a,
            t_min: m.t_min,
            heads: match m.heads {
                p::SiHeads::Velocity => SiHeads::Velocity,
                p::SiHeads::VelocityDenoiser => SiHeads::VelocityDenoiser,
            },
            eps0: m.eps0,
        }),
        MethodParams::VpDiffusion(m) => Method::Vp(VpConfig {
            beta_min: m.beta_min,
            beta_max: m.beta_max,
            train_eps: m.train_eps,
            sample_eps: m.sample_eps,
        }),
        MethodParams::Cld(m) => Method::Cld(CldConfig {
            beta0: m.beta0,
            beta1: m.beta1,
            m_inv: m.m_inv,
            gamma: m.gamma,
            numerical_eps: m.numerical_eps,
            loss_eps: m.loss_eps,
            sample_eps: m.sample_eps,
        }),
        MethodParams::Agm(m) => Method::Agm(AgmConfig {
            p: m.p,
            k: m.k,
            varx: m.varx,
            varv: m.varv,
            t0: m.t0,
            t_end: m.t_end,
            de_type: match m.de_type {
                p::AgmDeType::Sde => DeType::Sde,
                p::AgmDeType::ProbOde => DeType::ProbOde,
            },
            weighting: match m.weighting {
                p::AgmWeighting::Reciprocal => Weighting::Reciprocal,
                p::AgmWeighting::Ones => Weighting::Ones,
                p::AgmWeighting::ReciprocalInv => Weighting::ReciprocalInv,
            },
        }),
        MethodParams::Classifier(_) => return None,
    })
}

fn grid(g: p::AgmGrid) -> TimeGrid {
    match g {
        p::AgmGrid::Uniform => TimeGrid::Uniform,
        p::AgmGrid::Quad => TimeGrid::Quad,
        p::AgmGrid::RevQuad => TimeGrid::RevQuad { order: 2 },
    }
}

/// The sampler a sample stage's parameters describe (`steps`/`nfe` completed by resolve).
pub fn sampler(params: &p::SampleParams) -> Sampler {
    let steps = params.steps.unwrap_or(0) as usize;
    let nfe = params.nfe.unwrap_or(0) as usize;
    let ode = |solver| Sampler::Ode { solver, steps };
    match &params.solver {
        SolverParams::Euler {} => ode(FixedSolver::Euler),
        SolverParams::Heun {} => ode(FixedSolver::Heun),
        SolverParams::Midpoint {} => ode(FixedSolver::Midpoint),
        SolverParams::Rk4 {} => ode(FixedSolver::Rk4),
        SolverParams::Dopri5(d) => Sampler::Dopri5(Dopri5 {
            rtol: d.rtol,
            atol: d.atol,
            ..Dopri5::default()
        }),
        SolverParams::EulerMaruyama(e) => Sampler::EulerMaruyama {
            nfe,
            denoise: e.denoise,
        },
        SolverParams::Sss(s) => Sampler::Sss {
            grid: grid(s.grid),
            nfe,
            hop: s.hop,
            t_end: s.t_end,
        },
        SolverParams::Gddim(g) => Sampler::Gddim {
            grid: grid(g.grid),
            nfe,
            order: g.order as usize,
            hop: g.hop,
            t_end: g.t_end,
        },
        SolverParams::Ddim(d) => Sampler::Ddim { nfe, eta: d.eta },
        SolverParams::Sscs(s) => Sampler::Sscs {
            nfe,
            striding: match s.striding {
                p::Striding::Uniform => Striding::Uniform,
                p::Striding::Quadratic => Striding::Quadratic,
            },
            denoise: s.denoise,
        },
    }
}

/// The network of a train stage for data dimension `dim`.
pub fn net_config(params: &p::TrainParams, method: &Method, dim: usize) -> drift_nn::NetConfig {
    net_config_for(params, method.state_dim(dim), method.out_dim(dim))
}

/// The network of a train stage's `model` with the given input and output widths.
pub fn net_config_for(
    params: &p::TrainParams,
    state_dim: usize,
    out_dim: usize,
) -> drift_nn::NetConfig {
    let m = &params.model;
    let arch = match m.arch {
        p::Arch::Mlp => drift_nn::Arch::Mlp {
            hidden: m
                .hidden
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h as usize)
                .collect(),
        },
        p::Arch::ResMlp => drift_nn::Arch::ResMlp {
            width: m.width.unwrap_or(128) as usize,
            depth: m.depth.unwrap_or(20) as usize,
        },
    };
    let time = match m.time_embedding {
        p::TimeEmbedding::Sinusoidal => drift_nn::TimeFeature::Sinusoidal {
            dim: m.time_embed_dim.unwrap_or(32) as usize,
        },
        p::TimeEmbedding::Log1m => drift_nn::TimeFeature::Log1m,
        p::TimeEmbedding::Raw => drift_nn::TimeFeature::Raw,
    };
    drift_nn::NetConfig {
        arch,
        activation: drift_nn::Activation::from_name(m.activation.name())
            .expect("same activation names"),
        time,
        state_dim,
        out_dim,
    }
}

/// The optimiser of a train stage.
pub fn optim(params: &p::TrainParams) -> drift_nn::OptimConfig {
    drift_nn::OptimConfig {
        lr: params.lr,
        weight_decay: params.weight_decay,
        schedule: match params.lr_schedule {
            p::LrSchedule::Constant => drift_nn::LrSchedule::Constant,
            p::LrSchedule::Cosine => drift_nn::LrSchedule::Cosine,
        },
        warmup_steps: params.warmup_steps as usize,
        grad_clip: params.grad_clip,
        ema: params.ema,
    }
}
