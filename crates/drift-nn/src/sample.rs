//! Fixed-step ODE sampling of a trained velocity field (Euler, Heun, RK4) with measured NFE.
//!
//! The state starts at `x0 ~ N(0, I)` drawn on the host from
//! `ChaCha8Rng::seed_from_u64(seed)` (all `n x dim` values, row-major, before chunking) and is
//! integrated from t = 0 to t = 1 in `steps` uniform steps, in chunks of at most
//! [`SAMPLE_CHUNK`] rows. The state is detached from the autograd graph after every step
//! (and the network runs on detached views of its weights, so no graph is built at all).

use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::rng::{STREAM_SAMPLE, normal_f32, stream};
use crate::{ComputeDevice, NnError, VelocityModel};

/// Rows integrated together in one batch.
pub const SAMPLE_CHUNK: usize = 8192;

/// Fixed-step ODE solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// Explicit Euler: 1 evaluation per step.
    Euler,
    /// Heun's method (explicit trapezoid): 2 evaluations per step, the last step's corrector
    /// included.
    Heun,
    /// Classical 4th-order Runge-Kutta: 4 evaluations per step.
    Rk4,
}

impl Solver {
    /// Every solver, in listing order.
    pub const ALL: [Solver; 3] = [Solver::Euler, Solver::Heun, Solver::Rk4];

    /// The spec name: `euler`, `heun` or `rk4`.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Euler => "euler",
            Solver::Heun => "heun",
            Solver::Rk4 => "rk4",
        }
    }

    /// The solver with this spec name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Network evaluations per step.
    pub fn evals_per_step(self) -> u64 {
        match self {
            Solver::Euler => 1,
            Solver::Heun => 2,
            Solver::Rk4 => 4,
        }
    }

    /// One-line description, for listings.
    pub fn summary(self) -> &'static str {
        match self {
            Solver::Euler => "explicit Euler, first order; 1 network evaluation per step",
            Solver::Heun => {
                "Heun (explicit trapezoid), second order; 2 network evaluations per step, \
                 the last step's corrector included"
            }
            Solver::Rk4 => "classical Runge-Kutta, fourth order; 4 network evaluations per step",
        }
    }
}

impl fmt::Display for Solver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Solver {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            NnError::InvalidConfig(format!(
                "unknown solver `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

/// Generated points and the realised number of function evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutput {
    /// Row-major `n x dim` samples.
    pub points: Vec<f32>,
    /// Network forward calls along one sample's trajectory, as counted by the model
    /// wrapper's forward during this call (the first chunk's count; every chunk is checked to
    /// make the same number). Other threads using the same model do not disturb it.
    pub nfe: u64,
}

/// Integrates `dx/dt = v(t, x)` from t = 0 to t = 1 for `n` samples (see the module docs).
/// `device` must be the device the model lives on.
pub fn sample_flow(
    model: &VelocityModel,
    solver: Solver,
    steps: usize,
    n: usize,
    seed: u64,
    device: &ComputeDevice,
) -> Result<SampleOutput, NnError> {
    if steps == 0 {
        return Err(NnError::InvalidConfig(
            "sampling needs at least 1 step".into(),
        ));
    }
    if n == 0 {
        return Err(NnError::InvalidConfig(
            "sampling needs at least 1 sample".into(),
        ));
    }
    if !model.device().same_as(device) {
        return Err(NnError::InvalidInput(format!(
            "the model lives on {} but sampling was asked on {}",
            model.device().label(),
            device.label()
        )));
    }
    let dim = model.dim();
    let total = n.checked_mul(dim).ok_or_else(|| {
        NnError::InvalidConfig(format!("{n} samples of dimension {dim} overflow"))
    })?;
    let mut rng = stream(seed, STREAM_SAMPLE);
    let mut points: Vec<f32> = (0..total).map(|_| normal_f32(&mut rng)).collect();

    let mut eval = model.evaluator();
    let h = 1.0 / steps as f64;
    let mut chunk_nfe: Option<u64> = None;
    for chunk in points.chunks_mut(SAMPLE_CHUNK * dim) {
        let rows = chunk.len() / dim;
        let mut x = Tensor::from_slice(chunk, (rows, dim), device.device())?;
        let before = eval.calls();
        for k in 0..steps {
            let t0 = k as f64 / steps as f64;
            let t1 = (k + 1) as f64 / steps as f64;
            let next = match solver {
                Solver::Euler => (&x + (eval.velocity_at(t0, &x)? * h)?)?,
                Solver::Heun => {
                    let k1 = eval.velocity_at(t0, &x)?;
                    let pred = (&x + (&k1 * h)?)?;
                    let k2 = eval.velocity_at(t1, &pred)?;
                    (&x + ((k1 + k2)? * (h / 2.0))?)?
                }
                Solver::Rk4 => {
                    let tm = (2 * k + 1) as f64 / (2 * steps) as f64;
                    let k1 = eval.velocity_at(t0, &x)?;
                    let k2 = eval.velocity_at(tm, &(&x + (&k1 * (h / 2.0))?)?)?;
                    let k3 = eval.velocity_at(tm, &(&x + (&k2 * (h / 2.0))?)?)?;
                    let k4 = eval.velocity_at(t1, &(&x + (&k3 * h)?)?)?;
                    let sum = (((k1 + (k2 * 2.0)?)? + (k3 * 2.0)?)? + k4)?;
                    (&x + (sum * (h / 6.0))?)?
                }
            };
            x = next.detach();
        }
        let used = eval.calls() - before;
        match chunk_nfe {
            None => chunk_nfe = Some(used),
            Some(first) if first != used => {
                return Err(NnError::Internal(format!(
                    "chunks made different numbers of network calls ({first} vs {used})"
                )));
            }
            Some(_) => {}
        }
        let out = x.flatten_all()?.to_vec1::<f32>()?;
        chunk.copy_from_slice(&out);
    }
    Ok(SampleOutput {
        points,
        nfe: chunk_nfe.unwrap_or(0),
    })
}
