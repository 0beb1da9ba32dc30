//! drift-dynamics: the analytic side of every training method and every sampler, in plain f64
//! Rust without candle: probability paths, noise schedules, phase-space bridge covariances,
//! regression targets, minibatch couplings, time grids and the sampler loops.
//!
//! The network enters only through the [`Field`] trait (one call = one network evaluation),
//! so every formula and every solver is unit-tested here against closed forms and analytic
//! fields, and drift-nn stays a thin layer of networks and optimisers.
//!
//! Time convention (engine time): `t = 0` is the prior/source and `t = 1` is data, for every
//! method. Methods whose papers run the other way (VP diffusion, CLD) convert at their module
//! boundary and say so. All schedules and covariances are computed in f64; only what the
//! network consumes (`TrainBatch::state`, `target`) is rounded to f32.

pub mod agm;
pub mod cld;
pub mod coupling;
pub mod interpolant;
pub mod likelihood;
pub mod method;
pub mod ode;
pub mod paths;
pub mod vp;

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The random generator of every stochastic piece (seeded by the caller).
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator for `seed` on ChaCha stream `stream`.
pub fn rng(seed: u64, stream: u64) -> Rng {
    let mut r = Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// One standard normal draw.
#[inline]
pub fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Fills `out` with standard normal draws, in order.
pub fn fill_normal(rng: &mut Rng, out: &mut [f64]) {
    out.iter_mut().for_each(|v| *v = normal(rng));
}

/// Why a method or sampler could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DynamicsError {
    /// The network callback failed.
    #[error("network evaluation failed: {0}")]
    Field(String),
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The numerics broke down (non-finite state, adaptive step underflow, too many steps).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// The learned network as samplers see it.
///
/// `eval` maps `state` (rows x [`Field::state_dim`], row-major) at the common engine time `t`
/// to `out` (rows x [`Field::out_dim`]). Every call is one network function evaluation (NFE),
/// whatever the number of rows.
pub trait Field {
    /// Width of one state row (d, or 2d for phase-space methods).
    fn state_dim(&self) -> usize;
    /// Width of one output row.
    fn out_dim(&self) -> usize;
    /// One network evaluation.
    fn eval(&mut self, t: f64, state: &[f64], out: &mut [f64]) -> Result<(), DynamicsError>;
}

/// A [`Field`] from a closure, for tests and analytic fields.
pub struct FnField<F> {
    pub state_dim: usize,
    pub out_dim: usize,
    pub f: F,
    /// Calls made so far.
    pub calls: u64,
}

impl<F> FnField<F>
where
    F: FnMut(f64, &[f64], &mut [f64]),
{
    pub fn new(state_dim: usize, out_dim: usize, f: F) -> Self {
        FnField {
            state_dim,
            out_dim,
            f,
            calls: 0,
        }
    }
}

impl<F> Field for FnField<F>
where
    F: FnMut(f64, &[f64], &mut [f64]),
{
    fn state_dim(&self) -> usize {
        self.state_dim
    }
    fn out_dim(&self) -> usize {
        self.out_dim
    }
    fn eval(&mut self, t: f64, state: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
        self.calls += 1;
        (self.f)(t, state, out);
        Ok(())
    }
}

/// One training minibatch in regression form. With `rows` rows, the loss is
/// `sum_rows weight[r] * sum_cols (net(state[r], time[r]) - target[r])^2 / (rows * out_dim)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainBatch {
    /// Network input state, rows x state_dim.
    pub state: Vec<f32>,
    /// Engine time of each row (what the network's time feature is computed from).
    pub time: Vec<f64>,
    /// Regression target, rows x out_dim.
    pub target: Vec<f32>,
    /// Per-row loss weight.
    pub weight: Vec<f32>,
}

impl TrainBatch {
    /// An empty batch with room for `rows` rows.
    pub fn with_capacity(rows: usize, state_dim: usize, out_dim: usize) -> Self {
        TrainBatch {
            state: Vec::with_capacity(rows * state_dim),
            time: Vec::with_capacity(rows),
            target: Vec::with_capacity(rows * out_dim),
            weight: Vec::with_capacity(rows),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.time.len()
    }
}
