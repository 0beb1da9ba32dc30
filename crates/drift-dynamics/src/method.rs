//! One training method as the engine sees it: its state and output widths, how a training
//! minibatch is built, and which samplers it supports and how each runs.
//!
//! This is the single dispatch point between the spec's method/solver names and the analytic
//! modules ([`crate::paths`], [`crate::interpolant`], [`crate::vp`], [`crate::cld`],
//! [`crate::agm`]) and the generic integrators ([`crate::ode`]). A sampler that does not fit a
//! method is an error naming the ones that do; the spec layer checks the same table earlier.

use crate::agm::{self, AgmConfig, DeType, TimeGrid};
use crate::cld::{self, CldConfig, Striding};
use crate::interpolant::{self, SiConfig};
use crate::ode::{self, Dopri5, FixedSolver, Sde};
use crate::paths::{self, FmConfig};
use crate::vp::{self, VpConfig};
use crate::{DynamicsError, Field, Rng, TrainBatch, fill_normal};

/// A training method with its resolved parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The flow-matching family (I-CFM, Lipman, OT-CFM, SB-CFM, VP/trig, rectified flow).
    Flow(FmConfig),
    /// Stochastic interpolants.
    Interpolant(SiConfig),
    /// VP-SDE diffusion (epsilon prediction).
    Vp(VpConfig),
    /// Critically-damped Langevin diffusion.
    Cld(CldConfig),
    /// AGM phase-space stochastic bridges.
    Agm(AgmConfig),
}

/// A sampler with its resolved budget and options.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// A fixed-step ODE solver on the method's probability-flow / velocity ODE.
    Ode { solver: FixedSolver, steps: usize },
    /// Adaptive Dormand-Prince 5(4) on the same ODE.
    Dopri5(Dopri5),
    /// Euler-Maruyama on the method's SDE; `nfe` network evaluations in all.
    EulerMaruyama { nfe: usize, denoise: bool },
    /// AGM's symmetric splitting sampler (SDE-trained models).
    Sss {
        grid: TimeGrid,
        nfe: usize,
        hop: bool,
        t_end: Option<f64>,
    },
    /// AGM's exponential integrator (probODE-trained models).
    Gddim {
        grid: TimeGrid,
        nfe: usize,
        order: usize,
        hop: bool,
        t_end: Option<f64>,
    },
    /// DDIM (VP diffusion).
    Ddim { nfe: usize, eta: f64 },
    /// CLD's symmetric splitting sampler.
    Sscs {
        nfe: usize,
        striding: Striding,
        denoise: bool,
    },
}

impl Sampler {
    /// The spec name.
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Ode { solver, .. } => solver.name(),
            Sampler::Dopri5(_) => "dopri5",
            Sampler::EulerMaruyama { .. } => "euler_maruyama",
            Sampler::Sss { .. } => "sss",
            Sampler::Gddim { .. } => "gddim",
            Sampler::Ddim { .. } => "ddim",
            Sampler::Sscs { .. } => "sscs",
        }
    }
}

/// What a sampler produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOut {
    /// Generated positions (rows x d): the final x, or AGM's data estimate with the hop.
    pub points: Vec<f64>,
    /// The starting positions (rows x d) of position-space methods (the x0 of reflow pairs);
    /// empty for phase-space methods.
    pub start: Vec<f64>,
    /// Network evaluations per sample, counted at the field.
    pub nfe: u64,
}

/// Counts the calls that reach the wrapped field.
struct Counting<'a> {
    inner: &'a mut dyn Field,
    calls: u64,
}

impl Field for Counting<'_> {
    fn state_dim(&self) -> usize {
        self.inner.state_dim()
    }
    fn out_dim(&self) -> usize {
        self.inner.out_dim()
    }
    fn eval(&mut self, t: f64, state: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
        self.calls += 1;
        self.inner.eval(t, state, out)
    }
}

impl Method {
    /// The spec-level family name, for messages.
    pub fn family(&self) -> &'static str {
        match self {
            Method::Flow(_) => "flow matching",
            Method::Interpolant(_) => "stochastic_interpolant",
            Method::Vp(_) => "vp_diffusion",
            Method::Cld(_) => "cld",
            Method::Agm(_) => "agm",
        }
    }

    /// Checks the method's parameters.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        match self {
            Method::Flow(c) => c.validate(),
            Method::Interpolant(c) => c.validate(),
            Method::Vp(c) => c.validate(),
            Method::Cld(c) => c.validate(),
            Method::Agm(c) => c.validate(),
        }
    }

    /// Width of the network's state input for data dimension `d`.
    pub fn state_dim(&self, d: usize) -> usize {
        match self {
            Method::Cld(_) | Method::Agm(_) => 2 * d,
            _ => d,
        }
    }

    /// Width of the network's output for data dimension `d`.
    pub fn out_dim(&self, d: usize) -> usize {
        match self {
            Method::Interpolant(c) => c.heads.out_dim(d),
            _ => d,
        }
    }

    /// Whether the method transports an arbitrary source (`x0` rows) rather than starting from
    /// its own Gaussian prior.
    pub fn takes_source(&self) -> bool {
        matches!(self, Method::Flow(_) | Method::Interpolant(_))
    }

    /// The names of the samplers that fit this method.
    pub fn sampler_names(&self) -> Vec<&'static str> {
        let ode = ["euler", "heun", "midpoint", "rk4", "dopri5"];
        let mut out: Vec<&'static str> = Vec::new();
        match self {
            Method::Agm(a) if a.de_type == DeType::Sde => {
                return vec!["sss", "euler_maruyama"];
            }
            Method::Agm(_) => out.push("gddim"),
            _ => {}
        }
        out.extend(ode);
        match self {
            Method::Interpolant(c) if c.validate_for_sde().is_ok() => out.push("euler_maruyama"),
            Method::Vp(_) => out.extend(["euler_maruyama", "ddim"]),
            Method::Cld(_) => out.extend(["euler_maruyama", "sscs"]),
            _ => {}
        }
        out
    }

    /// One training minibatch from the target rows `x1` (rows x d) and, for methods that take
    /// a source, the source rows `x0` (same count; `None` draws N(0, I) rows from `rng` first,
    /// row-major, before the method's own draws).
    pub fn training_batch(
        &self,
        x0: Option<&[f64]>,
        x1: &[f32],
        d: usize,
        rng: &mut Rng,
    ) -> Result<TrainBatch, DynamicsError> {
        self.validate()?;
        if d == 0 || x1.is_empty() || !x1.len().is_multiple_of(d) {
            return Err(DynamicsError::InvalidConfig(format!(
                "a batch of {} values is not a positive whole number of {d}-dimensional rows",
                x1.len()
            )));
        }
        if x0.is_some() && !self.takes_source() {
            return Err(DynamicsError::InvalidConfig(format!(
                "{} starts from its own prior and takes no source rows",
                self.family()
            )));
        }
        let source = |rng: &mut Rng| -> Result<Vec<f64>, DynamicsError> {
            match x0 {
                Some(x0) if x0.len() != x1.len() => Err(DynamicsError::InvalidConfig(format!(
                    "{} source values for {} target values",
                    x0.len(),
                    x1.len()
                ))),
                Some(x0) => Ok(x0.to_vec()),
                None => {
                    let mut z = vec![0.0; x1.len()];
                    fill_normal(rng, &mut z);
                    Ok(z)
                }
            }
        };
        match self {
            Method::Flow(c) => {
                let x0 = source(rng)?;
                let x1: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
                paths::training_batch(c, &x0, &x1, d, rng)
            }
            Method::Interpolant(c) => {
                let x0 = source(rng)?;
                let x1: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
                interpolant::training_batch(c, &x0, &x1, d, rng)
            }
            Method::Vp(c) => vp::training_batch(c, x1, d, rng),
            Method::Cld(c) => cld::training_batch(c, x1, d, rng),
            Method::Agm(c) => Ok(agm::training_batch(c, x1, d, rng)),
        }
    }

    /// Draws `n` samples. `start` gives the source rows (rows x d) of methods that take a
    /// source (`None`: N(0, I), drawn first from `rng`); phase-space and diffusion methods draw
    /// their own prior. Every network call goes through `field` and is counted.
    pub fn sample(
        &self,
        sampler: &Sampler,
        field: &mut dyn Field,
        start: Option<Vec<f64>>,
        n: usize,
        d: usize,
        rng: &mut Rng,
    ) -> Result<SampleOut, DynamicsError> {
        self.validate()?;
        if n == 0 || d == 0 {
            return Err(DynamicsError::InvalidConfig(format!(
                "sampling needs at least one sample of dimension at least 1, got {n} x {d}"
            )));
        }
        if !self.sampler_names().contains(&sampler.name()) {
            return Err(DynamicsError::InvalidConfig(format!(
                "solver `{}` does not fit {}; use one of: {}",
                sampler.name(),
                self.family(),
                self.sampler_names().join(", ")
            )));
        }
        if start.is_some() && !self.takes_source() {
            return Err(DynamicsError::InvalidConfig(format!(
                "{} starts from its own prior and takes no source rows",
                self.family()
            )));
        }
        if field.state_dim() != self.state_dim(d) || field.out_dim() != self.out_dim(d) {
            return Err(DynamicsError::InvalidConfig(format!(
                "the network maps {} -> {} values per row, but {} in dimension {d} needs {} -> {}",
                field.state_dim(),
                field.out_dim(),
                self.family(),
                self.state_dim(d),
                self.out_dim(d)
            )));
        }
        let mut counted = Counting {
            inner: field,
            calls: 0,
        };
        let field = &mut counted;
        let source = |rng: &mut Rng, start: Option<Vec<f64>>| -> Result<Vec<f64>, DynamicsError> {
            match start {
                Some(s) if s.len() != n * d => Err(DynamicsError::InvalidConfig(format!(
                    "{} start values for {n} samples of dimension {d}",
                    s.len()
                ))),
                Some(s) => Ok(s),
                None => {
                    let mut z = vec![0.0; n * d];
                    fill_normal(rng, &mut z);
                    Ok(z)
                }
            }
        };
        let (points, start) = match (self, sampler) {
            (Method::Flow(_), _) => {
                let x0 = source(rng, start)?;
                let mut y = x0.clone();
                integrate_ode(sampler, field, &mut y, (0.0, 1.0), &mut |_, _, out, dy| {
                    dy.copy_from_slice(out);
                    Ok(())
                })?;
                (y, x0)
            }
            (Method::Interpolant(c), Sampler::EulerMaruyama { nfe, .. }) => {
                let x0 = source(rng, start)?;
                (
                    interpolant::sample_sde(c, *nfe, field, x0.clone(), d, rng)?,
                    x0,
                )
            }
            (Method::Interpolant(c), _) => {
                let x0 = source(rng, start)?;
                let mut y = x0.clone();
                let mut head = interpolant::VelocityHead::new(c, d, field)?;
                integrate_ode(
                    sampler,
                    &mut head,
                    &mut y,
                    (0.0, 1.0),
                    &mut |_, _, out, dy| {
                        dy.copy_from_slice(out);
                        Ok(())
                    },
                )?;
                (y, x0)
            }
            (Method::Vp(c), Sampler::EulerMaruyama { nfe, denoise }) => (
                vp::sample_euler_maruyama(c, *nfe, *denoise, field, n, d, rng)?,
                Vec::new(),
            ),
            (Method::Vp(c), Sampler::Ddim { nfe, eta }) => (
                vp::sample_ddim(c, *nfe, *eta, field, n, d, rng)?,
                Vec::new(),
            ),
            (Method::Vp(c), _) => {
                let mut y = vec![0.0; n * d];
                fill_normal(rng, &mut y);
                integrate_ode(
                    sampler,
                    field,
                    &mut y,
                    vp::sample_window(c),
                    &mut |t, y, out, dy| vp::pf_ode_velocity(c, t, y, out, dy),
                )?;
                (y, Vec::new())
            }
            (
                Method::Cld(c),
                Sampler::Sscs {
                    nfe,
                    striding,
                    denoise,
                },
            ) => (
                cld::sample_sscs(c, *nfe, *striding, *denoise, field, n, d, rng)?,
                Vec::new(),
            ),
            (Method::Cld(c), Sampler::EulerMaruyama { nfe, denoise }) => (
                cld::sample_euler_maruyama(c, *nfe, Striding::Uniform, *denoise, field, n, d, rng)?,
                Vec::new(),
            ),
            (Method::Cld(c), _) => {
                // Prior at diffusion time 1: x ~ N(0, I), v ~ N(0, M I); per row d x-draws then
                // d v-draws.
                let mut y = vec![0.0; n * 2 * d];
                fill_normal(rng, &mut y);
                let sd = c.mass().sqrt();
                for row in y.chunks_exact_mut(2 * d) {
                    row[d..].iter_mut().for_each(|v| *v *= sd);
                }
                integrate_ode(
                    sampler,
                    field,
                    &mut y,
                    cld::sample_window(c),
                    &mut |t, y, out, dy| cld::pf_ode_velocity(c, t, d, y, out, dy),
                )?;
                (positions(&y, d), Vec::new())
            }
            (
                Method::Agm(c),
                Sampler::Sss {
                    grid,
                    nfe,
                    hop,
                    t_end,
                },
            ) => {
                let c = with_end(c, *t_end)?;
                (
                    agm::sample_sss(&c, grid, *nfe, *hop, field, n, d, rng)?,
                    Vec::new(),
                )
            }
            (
                Method::Agm(c),
                Sampler::Gddim {
                    grid,
                    nfe,
                    order,
                    hop,
                    t_end,
                },
            ) => {
                let c = with_end(c, *t_end)?;
                (
                    agm::sample_gddim(&c, grid, *nfe, *order, *hop, field, n, d, rng)?,
                    Vec::new(),
                )
            }
            (Method::Agm(c), Sampler::EulerMaruyama { nfe, .. }) => {
                let mut y = agm::sample_prior(c, n, d, rng);
                let times = ode::uniform_grid(c.t0, c.t_end, *nfe);
                let mut sde = AgmSde {
                    cfg: c,
                    d,
                    field,
                    buffer: Vec::new(),
                };
                ode::euler_maruyama(&mut sde, &mut y, 2 * d, &times, rng)?;
                (positions(&y, d), Vec::new())
            }
            (Method::Agm(c), _) => {
                let mut y = agm::sample_prior(c, n, d, rng);
                integrate_ode(
                    sampler,
                    field,
                    &mut y,
                    (c.t0, c.t_end),
                    &mut |t, y, out, dy| agm::prob_ode_velocity(c, t, d, y, out, dy),
                )?;
                (positions(&y, d), Vec::new())
            }
        };
        if let Some(row) = points
            .chunks(d)
            .position(|r| r.iter().any(|v| !v.is_finite()))
        {
            return Err(DynamicsError::Numerical(format!(
                "sample {row} is not finite after {} network evaluations",
                counted.calls
            )));
        }
        Ok(SampleOut {
            points,
            start,
            nfe: counted.calls,
        })
    }
}

/// The AGM config with the sampler's stop time, if it sets one.
fn with_end(c: &AgmConfig, t_end: Option<f64>) -> Result<AgmConfig, DynamicsError> {
    let mut c = c.clone();
    if let Some(t) = t_end {
        c.t_end = t;
        c.validate()?;
    }
    Ok(c)
}

/// The x half of phase-space rows.
fn positions(state: &[f64], d: usize) -> Vec<f64> {
    state
        .chunks_exact(2 * d)
        .flat_map(|row| row[..d].iter().copied())
        .collect()
}

/// `dy/dt` from `(t, y, network output)`, written into the last argument.
type Velocity<'a> = dyn FnMut(f64, &[f64], &[f64], &mut [f64]) -> Result<(), DynamicsError> + 'a;

/// Integrates `dy/dt = velocity(t, y, net(t, y))` over `window` with an ODE sampler.
fn integrate_ode(
    sampler: &Sampler,
    field: &mut dyn Field,
    y: &mut [f64],
    window: (f64, f64),
    velocity: &mut Velocity<'_>,
) -> Result<(), DynamicsError> {
    let width = field.out_dim();
    let mut out = Vec::new();
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| -> Result<(), DynamicsError> {
        let rows = y.len() / field.state_dim();
        out.resize(rows * width, 0.0);
        field.eval(t, y, &mut out)?;
        velocity(t, y, &out, dy)
    };
    match sampler {
        Sampler::Ode { solver, steps } => {
            let times = ode::uniform_grid(window.0, window.1, *steps);
            ode::integrate_fixed(*solver, &mut f, y, &times)?;
        }
        Sampler::Dopri5(cfg) => {
            ode::integrate_dopri5(cfg, &mut f, y, window.0, window.1)?;
        }
        other => {
            return Err(DynamicsError::InvalidConfig(format!(
                "`{}` is not an ODE solver",
                other.name()
            )));
        }
    }
    Ok(())
}

/// AGM's SDE (`dx = v dt`, `dv = N_SDE net dt + g dW`) for the generic Euler-Maruyama.
struct AgmSde<'a, 'f> {
    cfg: &'a AgmConfig,
    d: usize,
    field: &'a mut Counting<'f>,
    buffer: Vec<f64>,
}

impl Sde for AgmSde<'_, '_> {
    fn drift(&mut self, t: f64, y: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
        let rows = y.len() / (2 * self.d);
        self.buffer.resize(rows * self.d, 0.0);
        self.field.eval(t, y, &mut self.buffer)?;
        agm::sde_velocity(self.cfg, t, self.d, y, &self.buffer, out)
    }

    fn diffusion(&self, t: f64, column: usize) -> f64 {
        if column < self.d {
            0.0
        } else {
            agm::g(self.cfg, t)
        }
    }
}
