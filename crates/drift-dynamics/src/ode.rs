//! Generic integrators for the samplers: fixed-step ODE solvers (Euler, Heun, explicit
//! midpoint, classic RK4), adaptive Dormand–Prince 5(4) with FSAL, and Euler–Maruyama for
//! SDEs with per-column additive noise.
//!
//! Every integrator works on a host batch `y` (rows x width, row-major, f64) that moves with
//! one shared time, the way torchdiffeq/torchdyn integrate a batch: the vector field is called
//! once per stage for the whole batch. The caller's closure wraps one network evaluation, so
//! each closure call is one NFE; the integrators count the calls they make and return that
//! count (methods.md §0 rule 4: count NFE at the call, never from the step count).
//!
//! Time runs in whatever direction the grid says: engine time goes `0 -> 1` (prior to data),
//! but every integrator here also accepts decreasing grids (`t0 > t1`), which round trips and
//! reverse-time solves need.

use std::fmt;
use std::str::FromStr;

use crate::{DynamicsError, Rng, normal};

/// A vector field `dy/dt = f(t, y)` on the whole batch: `f(t, y, dy)` writes `dy` (same length
/// as `y`). One call is one network evaluation (NFE).
pub type VectorField<'a> = dyn FnMut(f64, &[f64], &mut [f64]) -> Result<(), DynamicsError> + 'a;

/// Wraps the caller's field so that every call is counted exactly once, failed calls included.
struct CountedField<'f, 'a> {
    field: &'f mut VectorField<'a>,
    calls: u64,
}

impl CountedField<'_, '_> {
    fn eval(&mut self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<(), DynamicsError> {
        self.calls += 1;
        (self.field)(t, y, dy)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed-step solvers
// ---------------------------------------------------------------------------------------------

/// An explicit fixed-step Runge–Kutta scheme.
///
/// Serialised as its lowercase name (`"euler"`, `"heun"`, `"midpoint"`, `"rk4"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FixedSolver {
    /// Forward Euler: one evaluation per step, order 1 (the TorchCFM runner's sampler).
    #[default]
    Euler,
    /// Heun (explicit trapezoid): Euler predictor plus a corrector at the step's end; two
    /// evaluations on every step, the last one included; order 2.
    Heun,
    /// Explicit midpoint rule: a half Euler step, then the full step with the midpoint slope;
    /// two evaluations per step; order 2.
    Midpoint,
    /// The classic four-stage Runge–Kutta scheme; order 4.
    Rk4,
}

impl FixedSolver {
    /// Every fixed-step solver, in order of increasing cost.
    pub const ALL: [FixedSolver; 4] = [
        FixedSolver::Euler,
        FixedSolver::Heun,
        FixedSolver::Midpoint,
        FixedSolver::Rk4,
    ];

    /// Vector-field evaluations (NFE) per step.
    pub fn evals_per_step(self) -> u64 {
        match self {
            FixedSolver::Euler => 1,
            FixedSolver::Heun | FixedSolver::Midpoint => 2,
            FixedSolver::Rk4 => 4,
        }
    }

    /// Global order of accuracy: halving the step divides the error by `2^order`.
    pub fn order(self) -> u32 {
        match self {
            FixedSolver::Euler => 1,
            FixedSolver::Heun | FixedSolver::Midpoint => 2,
            FixedSolver::Rk4 => 4,
        }
    }

    /// The lowercase name used in specs and serialisation.
    pub fn name(self) -> &'static str {
        match self {
            FixedSolver::Euler => "euler",
            FixedSolver::Heun => "heun",
            FixedSolver::Midpoint => "midpoint",
            FixedSolver::Rk4 => "rk4",
        }
    }
}

impl fmt::Display for FixedSolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FixedSolver {
    type Err = DynamicsError;

    /// Parses the lowercase name (`"euler"`, `"heun"`, `"midpoint"`, `"rk4"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FixedSolver::ALL
            .into_iter()
            .find(|solver| solver.name() == s)
            .ok_or_else(|| {
                DynamicsError::InvalidConfig(format!(
                    "solver: unknown fixed-step solver {s:?} (accepted: euler, heun, midpoint, rk4)"
                ))
            })
    }
}

/// `steps + 1` equally spaced times from `t0` to `t1`, with both endpoints exact.
///
/// `steps = 0` gives `[t0]`, which no integrator accepts (a grid needs two points).
pub fn uniform_grid(t0: f64, t1: f64, steps: usize) -> Vec<f64> {
    let mut grid: Vec<f64> = (0..=steps)
        .map(|i| t0 + (t1 - t0) * (i as f64 / steps.max(1) as f64))
        .collect();
    // `t0 + (t1 - t0)` need not round back to `t1`; the last point must be exact so samplers
    // land on data time 1 exactly.
    if steps > 0 {
        grid[steps] = t1;
    }
    grid
}

/// Integrates `y` along `times` with one `solver` step between consecutive entries.
///
/// `times` may increase or decrease and need not be uniform, but it must have at least two
/// finite, strictly monotone entries. On success `y` holds the state at the last time and the
/// return value is the number of `f` calls, always `steps * solver.evals_per_step()`.
///
/// Errors: `InvalidConfig` for a bad grid, `Numerical` when the state is or becomes
/// non-finite, and whatever `f` returns.
pub fn integrate_fixed(
    solver: FixedSolver,
    f: &mut VectorField<'_>,
    y: &mut [f64],
    times: &[f64],
) -> Result<u64, DynamicsError> {
    check_grid(times)?;
    check_finite("initial state", y, times[0])?;
    let n = y.len();
    let mut field = CountedField { field: f, calls: 0 };
    let mut k1 = vec![0.0; n];
    let mut k2 = vec![0.0; n];
    let mut k3 = vec![0.0; n];
    let mut k4 = vec![0.0; n];
    let mut stage = vec![0.0; n];

    for (step, pair) in times.windows(2).enumerate() {
        let (t, t_next) = (pair[0], pair[1]);
        let h = t_next - t;
        field.eval(t, y, &mut k1)?;
        match solver {
            FixedSolver::Euler => {
                axpy_into(y, h, &k1);
            }
            FixedSolver::Heun => {
                add_scaled(&mut stage, y, h, &k1);
                field.eval(t_next, &stage, &mut k2)?;
                for ((yi, a), b) in y.iter_mut().zip(&k1).zip(&k2) {
                    *yi += 0.5 * h * (a + b);
                }
            }
            FixedSolver::Midpoint => {
                add_scaled(&mut stage, y, 0.5 * h, &k1);
                field.eval(t + 0.5 * h, &stage, &mut k2)?;
                axpy_into(y, h, &k2);
            }
            FixedSolver::Rk4 => {
                let t_mid = t + 0.5 * h;
                add_scaled(&mut stage, y, 0.5 * h, &k1);
                field.eval(t_mid, &stage, &mut k2)?;
                add_scaled(&mut stage, y, 0.5 * h, &k2);
                field.eval(t_mid, &stage, &mut k3)?;
                add_scaled(&mut stage, y, h, &k3);
                field.eval(t_next, &stage, &mut k4)?;
                for (i, yi) in y.iter_mut().enumerate() {
                    *yi += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
            }
        }
        check_finite(&format!("state after step {step}"), y, t_next)?;
    }
    Ok(field.calls)
}

// ---------------------------------------------------------------------------------------------
// Adaptive Dormand–Prince 5(4)
// ---------------------------------------------------------------------------------------------

/// Settings of the adaptive Dormand–Prince 5(4) solver ([`integrate_dopri5`]).
///
/// Defaults: `rtol = atol = 1e-5`, Hairer's starting-step heuristic, at most 100 000 step
/// attempts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dopri5 {
    /// Relative tolerance, in `[0, 1]`.
    pub rtol: f64,
    /// Absolute tolerance, finite and `> 0` (it keeps the error scale away from zero).
    pub atol: f64,
    /// First step size (magnitude; the direction comes from `t0 -> t1`). `None` picks it with
    /// Hairer's heuristic, which costs one extra evaluation.
    pub h_init: Option<f64>,
    /// Most step attempts (accepted plus rejected) before giving up, `>= 1`.
    pub max_steps: usize,
}

impl Default for Dopri5 {
    fn default() -> Self {
        Dopri5 {
            rtol: 1e-5,
            atol: 1e-5,
            h_init: None,
            max_steps: 100_000,
        }
    }
}

impl Dopri5 {
    /// Checks every field against its accepted range.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        if !(self.rtol.is_finite() && (0.0..=1.0).contains(&self.rtol)) {
            return Err(DynamicsError::InvalidConfig(format!(
                "dopri5.rtol must be in [0, 1], got {}",
                self.rtol
            )));
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            return Err(DynamicsError::InvalidConfig(format!(
                "dopri5.atol must be finite and > 0, got {}",
                self.atol
            )));
        }
        if let Some(h) = self.h_init
            && !(h.is_finite() && h > 0.0)
        {
            return Err(DynamicsError::InvalidConfig(format!(
                "dopri5.h_init must be finite and > 0 when set, got {h}"
            )));
        }
        if self.max_steps == 0 {
            return Err(DynamicsError::InvalidConfig(
                "dopri5.max_steps must be >= 1, got 0".to_string(),
            ));
        }
        Ok(())
    }
}

/// What an adaptive solve cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdaptiveStats {
    /// Vector-field evaluations (NFE), equal to the number of closure calls.
    pub evals: u64,
    /// Accepted steps.
    pub accepted: u64,
    /// Rejected step attempts.
    pub rejected: u64,
}

/// Nodes `c_i` of the Dormand–Prince 5(4) tableau.
const DP_C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];

/// Coupling coefficients `a_ij` (row i uses stages `0..i`); row 6 equals the fifth-order
/// weights, which is what makes the last stage reusable as the next first one (FSAL).
const DP_A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];

/// Fifth-order minus embedded fourth-order weights, over all seven stages: the local error
/// estimate is `h * sum_i DP_E[i] * k_i`.
const DP_E: [f64; 7] = [
    35.0 / 384.0 - 5179.0 / 57600.0,
    0.0,
    500.0 / 1113.0 - 7571.0 / 16695.0,
    125.0 / 192.0 - 393.0 / 640.0,
    -2187.0 / 6784.0 + 92097.0 / 339200.0,
    11.0 / 84.0 - 187.0 / 2100.0,
    -1.0 / 40.0,
];

/// Step-size controller: safety factor and the clamp on the per-step change.
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// `1 / (q + 1)` with `q = 4`, the order of the embedded error estimate.
const ERROR_EXPONENT: f64 = 0.2;

/// Scratch space of one Dormand–Prince solve: seven stage slopes, the stage state and the
/// candidate solution.
struct DopriWork {
    k: [Vec<f64>; 7],
    stage: Vec<f64>,
    y_new: Vec<f64>,
}

impl DopriWork {
    fn new(n: usize) -> Self {
        DopriWork {
            k: std::array::from_fn(|_| vec![0.0; n]),
            stage: vec![0.0; n],
            y_new: vec![0.0; n],
        }
    }
}

/// One Dormand–Prince attempt from `(t, y)` with signed step `h`, given `work.k[0] = f(t, y)`.
///
/// Fills `work.y_new` (fifth-order solution at `t_new`), `work.k[6] = f(t_new, y_new)` (the
/// FSAL slope) and returns the scaled RMS error norm. Costs six evaluations. `t_new` is passed
/// in so that a clipped last step evaluates exactly at the end time.
fn dopri5_attempt(
    field: &mut CountedField<'_, '_>,
    work: &mut DopriWork,
    t: f64,
    y: &[f64],
    h: f64,
    t_new: f64,
    tol: (f64, f64),
) -> Result<f64, DynamicsError> {
    let (rtol, atol) = tol;
    let n = y.len();
    let k = &mut work.k;
    for i in 1..6 {
        for (j, (stage, y_j)) in work.stage.iter_mut().zip(y).enumerate() {
            let slope: f64 = (0..i).map(|s| DP_A[i][s] * k[s][j]).sum();
            *stage = y_j + h * slope;
        }
        field.eval(t + DP_C[i] * h, &work.stage, &mut k[i])?;
    }
    for (j, (y_new, y_j)) in work.y_new.iter_mut().zip(y).enumerate() {
        let slope: f64 = (0..6).map(|s| DP_A[6][s] * k[s][j]).sum();
        *y_new = y_j + h * slope;
    }
    check_finite("candidate state", &work.y_new, t_new)?;
    field.eval(t_new, &work.y_new, &mut k[6])?;
    check_finite("vector field", &k[6], t_new)?;

    let mut sum_sq = 0.0;
    for (j, (y_j, y_new_j)) in y.iter().zip(&work.y_new).enumerate() {
        let err: f64 = h * (0..7).map(|s| DP_E[s] * k[s][j]).sum::<f64>();
        let scale = atol + rtol * y_j.abs().max(y_new_j.abs());
        sum_sq += (err / scale).powi(2);
    }
    let norm = if n == 0 {
        0.0
    } else {
        (sum_sq / n as f64).sqrt()
    };
    if !norm.is_finite() {
        return Err(DynamicsError::Numerical(format!(
            "dopri5: non-finite error estimate at t = {t} (step {h})"
        )));
    }
    Ok(norm)
}

/// RMS of `v / scale` over all components (0 for an empty batch).
fn scaled_rms(v: &[f64], scale: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let sum: f64 = v.iter().zip(scale).map(|(a, s)| (a / s).powi(2)).sum();
    (sum / v.len() as f64).sqrt()
}

/// Hairer–Nørsett–Wanner starting step (Solving ODEs I, §II.4), from `f0 = f(t0, y0)` held
/// in `work.k[0]`. Costs one evaluation; returns a step magnitude no longer than `span`.
fn initial_step(
    field: &mut CountedField<'_, '_>,
    t0: f64,
    y0: &[f64],
    direction: f64,
    span: f64,
    cfg: &Dopri5,
    work: &mut DopriWork,
) -> Result<f64, DynamicsError> {
    let f0 = &work.k[0];
    let scale: Vec<f64> = y0.iter().map(|v| cfg.atol + cfg.rtol * v.abs()).collect();
    let d0 = scaled_rms(y0, &scale);
    let d1 = scaled_rms(f0, &scale);
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    }
    .min(span);
    add_scaled(&mut work.stage, y0, direction * h0, f0);
    let f1 = &mut work.y_new;
    field.eval(t0 + direction * h0, &work.stage, f1)?;
    check_finite("vector field", f1, t0 + direction * h0)?;
    let diff: Vec<f64> = f1.iter().zip(f0).map(|(a, b)| a - b).collect();
    let d2 = scaled_rms(&diff, &scale) / h0;
    let h1 = if d1.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(ERROR_EXPONENT)
    };
    Ok((100.0 * h0).min(h1).min(span))
}

/// Integrates `y` from `t0` to `t1` (either direction) with adaptive Dormand–Prince 5(4).
///
/// One step size is shared by the whole batch. The error norm is the RMS, over all
/// components, of `err / (atol + rtol * max(|y|, |y_new|))`; a step is accepted when it is
/// `<= 1`, and the next step is scaled by `0.9 * norm^(-1/5)` clamped to `[0.2, 10]` (no growth
/// right after a rejection). The last step is clipped to land exactly on `t1`.
///
/// NFE: one for `f(t0, y0)`, one more for the starting-step heuristic when `h_init` is
/// `None`, then six per attempted step (accepted or rejected), because the last stage of an
/// accepted step is the first stage of the next (FSAL). `t0 == t1` does nothing and costs
/// nothing.
///
/// Errors: `InvalidConfig` for bad settings or non-finite end times; `Numerical` when the
/// state or field becomes non-finite, the step underflows (`|h| < 16 eps max(|t|, |t1|)`) or
/// `max_steps` attempts do not reach `t1`; whatever `f` returns.
pub fn integrate_dopri5(
    cfg: &Dopri5,
    f: &mut VectorField<'_>,
    y: &mut [f64],
    t0: f64,
    t1: f64,
) -> Result<AdaptiveStats, DynamicsError> {
    cfg.validate()?;
    if !(t0.is_finite() && t1.is_finite()) {
        return Err(DynamicsError::InvalidConfig(format!(
            "dopri5: end times must be finite, got t0 = {t0}, t1 = {t1}"
        )));
    }
    check_finite("initial state", y, t0)?;
    let mut stats = AdaptiveStats::default();
    if t0 == t1 {
        return Ok(stats);
    }
    let direction = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let mut field = CountedField { field: f, calls: 0 };
    let mut work = DopriWork::new(y.len());

    field.eval(t0, y, &mut work.k[0])?;
    check_finite("vector field", &work.k[0], t0)?;
    let mut h = match cfg.h_init {
        Some(h) => h.min(span),
        None => initial_step(&mut field, t0, y, direction, span, cfg, &mut work)?,
    };

    let mut t = t0;
    let mut attempts = 0usize;
    let mut last_rejected = false;
    loop {
        if attempts >= cfg.max_steps {
            stats.evals = field.calls;
            return Err(DynamicsError::Numerical(format!(
                "dopri5: max_steps = {} attempts reached at t = {t} before t1 = {t1} \
                 ({} accepted, {} rejected)",
                cfg.max_steps, stats.accepted, stats.rejected
            )));
        }
        let remaining = (t1 - t).abs();
        let last = h >= remaining;
        if last {
            h = remaining;
        } else {
            let h_min = 16.0 * f64::EPSILON * t.abs().max(t1.abs());
            if h < h_min {
                return Err(DynamicsError::Numerical(format!(
                    "dopri5: step size underflow at t = {t} (|h| = {h:e} < {h_min:e})"
                )));
            }
        }
        let t_new = if last { t1 } else { t + direction * h };
        attempts += 1;
        let norm = dopri5_attempt(
            &mut field,
            &mut work,
            t,
            y,
            direction * h,
            t_new,
            (cfg.rtol, cfg.atol),
        )?;
        if norm <= 1.0 {
            y.copy_from_slice(&work.y_new);
            work.k.swap(0, 6);
            t = t_new;
            stats.accepted += 1;
            if last {
                break;
            }
            let mut factor = if norm == 0.0 {
                MAX_FACTOR
            } else {
                (SAFETY * norm.powf(-ERROR_EXPONENT)).clamp(MIN_FACTOR, MAX_FACTOR)
            };
            if last_rejected {
                // Hairer's rule: right after a rejection, do not grow the step again.
                factor = factor.min(1.0);
            }
            h *= factor;
            last_rejected = false;
        } else {
            stats.rejected += 1;
            h *= (SAFETY * norm.powf(-ERROR_EXPONENT)).max(MIN_FACTOR);
            last_rejected = true;
        }
    }
    stats.evals = field.calls;
    Ok(stats)
}

// ---------------------------------------------------------------------------------------------
// Euler–Maruyama
// ---------------------------------------------------------------------------------------------

/// An Itô SDE `dy = drift(t, y) dt + g(t, column) dW` with additive noise whose scale depends
/// only on time and column (shared by all rows).
pub trait Sde {
    /// The drift of the whole batch (`out` has the length of `y`). One call is one NFE.
    fn drift(&mut self, t: f64, y: &[f64], out: &mut [f64]) -> Result<(), DynamicsError>;
    /// The noise scale of `column` at time `t`; 0 means that column gets no noise.
    fn diffusion(&self, t: f64, column: usize) -> f64;
}

/// Integrates `y` (rows x `width`) along `times` with Euler–Maruyama:
/// `y += drift(t_i, y) * dt + g(t_i, col) * sqrt(|dt|) * z` with `dt = t_{i+1} - t_i`.
///
/// `times` may decrease (reverse-time SDEs); the noise scale uses `sqrt(|dt|)`. Drift and
/// diffusion are both evaluated at the start of each step (Itô).
///
/// Random draws, in this fixed order: per step, one standard normal for every entry, rows
/// outer and columns inner (row-major, like `y` itself), drawn even where `g = 0` so that the
/// noise of a given step and entry does not depend on the diffusion schedule.
///
/// Returns the number of drift calls (one per step). Errors: `InvalidConfig` for a bad grid
/// or `width`, `Numerical` for a non-finite noise scale or state, and whatever `drift`
/// returns.
pub fn euler_maruyama<S: Sde + ?Sized>(
    sde: &mut S,
    y: &mut [f64],
    width: usize,
    times: &[f64],
    rng: &mut Rng,
) -> Result<u64, DynamicsError> {
    if width == 0 {
        return Err(DynamicsError::InvalidConfig(
            "euler_maruyama: width must be >= 1, got 0".to_string(),
        ));
    }
    if !y.len().is_multiple_of(width) {
        return Err(DynamicsError::InvalidConfig(format!(
            "euler_maruyama: state length {} is not a multiple of width {width}",
            y.len()
        )));
    }
    check_grid(times)?;
    check_finite("initial state", y, times[0])?;
    let mut drift = vec![0.0; y.len()];
    let mut noise_scale = vec![0.0; width];
    let mut calls = 0u64;
    for (step, pair) in times.windows(2).enumerate() {
        let (t, t_next) = (pair[0], pair[1]);
        let dt = t_next - t;
        calls += 1;
        sde.drift(t, y, &mut drift)?;
        let sqrt_dt = dt.abs().sqrt();
        for (column, scale) in noise_scale.iter_mut().enumerate() {
            let g = sde.diffusion(t, column);
            if !g.is_finite() {
                return Err(DynamicsError::Numerical(format!(
                    "euler_maruyama: non-finite diffusion {g} at t = {t}, column {column}"
                )));
            }
            *scale = g * sqrt_dt;
        }
        for (row_y, row_drift) in y.chunks_exact_mut(width).zip(drift.chunks_exact(width)) {
            for ((yi, b), scale) in row_y.iter_mut().zip(row_drift).zip(&noise_scale) {
                let z = normal(rng);
                *yi += b * dt + scale * z;
            }
        }
        check_finite(&format!("state after step {step}"), y, t_next)?;
    }
    Ok(calls)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// A grid needs at least two finite, strictly monotone points (one direction throughout).
fn check_grid(times: &[f64]) -> Result<(), DynamicsError> {
    if times.len() < 2 {
        return Err(DynamicsError::InvalidConfig(format!(
            "time grid needs at least 2 points, got {}",
            times.len()
        )));
    }
    if let Some(bad) = times.iter().find(|t| !t.is_finite()) {
        return Err(DynamicsError::InvalidConfig(format!(
            "time grid has a non-finite entry {bad}"
        )));
    }
    let increasing = times[1] > times[0];
    for (i, pair) in times.windows(2).enumerate() {
        let ok = if increasing {
            pair[1] > pair[0]
        } else {
            pair[1] < pair[0]
        };
        if !ok {
            return Err(DynamicsError::InvalidConfig(format!(
                "time grid must be strictly {} : entries {i} and {} are {} and {}",
                if increasing {
                    "increasing"
                } else {
                    "decreasing"
                },
                i + 1,
                pair[0],
                pair[1]
            )));
        }
    }
    Ok(())
}

/// `Numerical` error naming `what` when any entry of `v` is NaN or infinite.
fn check_finite(what: &str, v: &[f64], t: f64) -> Result<(), DynamicsError> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(DynamicsError::Numerical(format!(
            "non-finite {what} at t = {t} (entry {i} is {})",
            v[i]
        ))),
    }
}

/// `y += a * x`.
fn axpy_into(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `out = y + a * x`.
fn add_scaled(out: &mut [f64], y: &[f64], a: f64, x: &[f64]) {
    for ((o, yi), xi) in out.iter_mut().zip(y).zip(x) {
        *o = yi + a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    /// A plain vector-field function, for tables of test problems.
    type TestField = fn(f64, &[f64], &mut [f64]) -> Result<(), DynamicsError>;

    // ---- test problems with closed-form solutions ----------------------------------------

    /// Rotation plus decay, `y' = [[-0.5, 2], [-2, -0.5]] y`, applied to every row (width 2).
    fn rotation_field(_t: f64, y: &[f64], dy: &mut [f64]) -> Result<(), DynamicsError> {
        for (row, out) in y.chunks_exact(2).zip(dy.chunks_exact_mut(2)) {
            out[0] = -0.5 * row[0] + 2.0 * row[1];
            out[1] = -2.0 * row[0] - 0.5 * row[1];
        }
        Ok(())
    }

    /// Exact flow of [`rotation_field`] over elapsed time `s` (any sign).
    fn rotation_exact(y0: &[f64], s: f64) -> Vec<f64> {
        let (decay, c, sn) = ((-0.5 * s).exp(), (2.0 * s).cos(), (2.0 * s).sin());
        y0.chunks_exact(2)
            .flat_map(|r| {
                [
                    decay * (c * r[0] + sn * r[1]),
                    decay * (-sn * r[0] + c * r[1]),
                ]
            })
            .collect()
    }

    /// A batch of three different starting rows.
    const ROT_Y0: [f64; 6] = [1.0, 0.0, -0.3, 0.8, 2.0, -1.5];

    /// Time-dependent scalar problem `y' = -y + sin(3t)` (width 1), so a solver that feeds the
    /// wrong stage times shows up.
    fn forced_field(t: f64, y: &[f64], dy: &mut [f64]) -> Result<(), DynamicsError> {
        for (o, v) in dy.iter_mut().zip(y) {
            *o = -v + (3.0 * t).sin();
        }
        Ok(())
    }

    /// Exact solution of [`forced_field`] at `t` from `y(0) = y0`:
    /// `y = (y0 + 0.3) e^{-t} + 0.1 sin 3t - 0.3 cos 3t`.
    fn forced_exact(y0: f64, t: f64) -> f64 {
        (y0 + 0.3) * (-t).exp() + 0.1 * (3.0 * t).sin() - 0.3 * (3.0 * t).cos()
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// Runs `solver` on `grid` and returns (state, reported evals, counted closure calls).
    fn run_fixed(
        solver: FixedSolver,
        field: TestField,
        y0: &[f64],
        grid: &[f64],
    ) -> (Vec<f64>, u64, u64) {
        let mut calls = 0u64;
        let mut f = |t: f64, y: &[f64], dy: &mut [f64]| {
            calls += 1;
            field(t, y, dy)
        };
        let mut y = y0.to_vec();
        let evals = integrate_fixed(solver, &mut f, &mut y, grid).unwrap();
        (y, evals, calls)
    }

    /// Observed order `log2(err(grid_n) / err(grid_2n))` for both test problems, with a grid
    /// builder `grid(steps)`; also checks the NFE accounting on every run.
    fn observed_orders(solver: FixedSolver, steps: usize, grid: &dyn Fn(usize) -> Vec<f64>) {
        let mut rot_err = Vec::new();
        let mut forced_err = Vec::new();
        for n in [steps, 2 * steps] {
            let g = grid(n);
            let (t0, t1) = (g[0], g[n]);
            let start = rotation_exact(&ROT_Y0, t0);
            let (y, evals, calls) = run_fixed(solver, rotation_field, &start, &g);
            assert_eq!(evals, n as u64 * solver.evals_per_step(), "{solver} evals");
            assert_eq!(evals, calls, "{solver}: reported evals != closure calls");
            rot_err.push(max_abs_diff(&y, &rotation_exact(&ROT_Y0, t1)));

            let y0 = [forced_exact(0.7, t0), forced_exact(-1.2, t0)];
            let (y, evals, calls) = run_fixed(solver, forced_field, &y0, &g);
            assert_eq!(evals, calls);
            let exact = [forced_exact(0.7, t1), forced_exact(-1.2, t1)];
            forced_err.push(max_abs_diff(&y, &exact));
        }
        let want = f64::from(solver.order());
        for (name, err) in [("rotation", rot_err), ("forced", forced_err)] {
            let observed = (err[0] / err[1]).log2();
            assert!(
                (observed - want).abs() < 0.15,
                "{solver} on {name}: observed order {observed:.3} (errors {err:?}), want {want} +- 0.15"
            );
        }
    }

    /// Coarse step counts that are in the asymptotic regime yet far above round-off.
    fn base_steps(solver: FixedSolver) -> usize {
        match solver {
            FixedSolver::Euler => 200,
            FixedSolver::Heun | FixedSolver::Midpoint => 100,
            FixedSolver::Rk4 => 40,
        }
    }

    #[test]
    fn fixed_solvers_converge_at_their_order_forward() {
        for solver in FixedSolver::ALL {
            observed_orders(solver, base_steps(solver), &|n| uniform_grid(0.0, 2.0, n));
        }
    }

    #[test]
    fn fixed_solvers_converge_at_their_order_backward() {
        for solver in FixedSolver::ALL {
            observed_orders(solver, base_steps(solver), &|n| uniform_grid(2.0, 0.0, n));
        }
    }

    #[test]
    fn fixed_solvers_converge_on_non_uniform_grids() {
        // Quadratically clustered near t = 0: t_i = 2 (i/n)^2 (a smooth reparametrisation keeps
        // the order).
        for solver in FixedSolver::ALL {
            observed_orders(solver, base_steps(solver), &|n| {
                (0..=n)
                    .map(|i| 2.0 * (i as f64 / n as f64).powi(2))
                    .collect()
            });
        }
    }

    #[test]
    fn fixed_solver_round_trip_returns_to_start() {
        // RK4 forward 0 -> 1 then backward 1 -> 0 with 100 steps: the round trip error is of
        // the size of the global error, ~1e-9 here.
        let mut y = ROT_Y0.to_vec();
        let mut f = rotation_field;
        integrate_fixed(
            FixedSolver::Rk4,
            &mut f,
            &mut y,
            &uniform_grid(0.0, 1.0, 100),
        )
        .unwrap();
        integrate_fixed(
            FixedSolver::Rk4,
            &mut f,
            &mut y,
            &uniform_grid(1.0, 0.0, 100),
        )
        .unwrap();
        let err = max_abs_diff(&y, &ROT_Y0);
        assert!(err < 1e-8, "round trip error {err}");
    }

    #[test]
    fn fixed_solvers_pass_the_right_stage_times() {
        // y' = 1 has y(t1) exact for all; the recorded times show the stage layout per step.
        let expected: [(FixedSolver, &[f64]); 4] = [
            (FixedSolver::Euler, &[0.0, 0.5]),
            (FixedSolver::Heun, &[0.0, 0.5, 0.5, 1.0]),
            (FixedSolver::Midpoint, &[0.0, 0.25, 0.5, 0.75]),
            (
                FixedSolver::Rk4,
                &[0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0],
            ),
        ];
        for (solver, want) in expected {
            let mut seen = Vec::new();
            let mut f = |t: f64, _y: &[f64], dy: &mut [f64]| {
                seen.push(t);
                dy.fill(1.0);
                Ok(())
            };
            let mut y = vec![0.0, 10.0];
            integrate_fixed(solver, &mut f, &mut y, &[0.0, 0.5, 1.0]).unwrap();
            assert_eq!(seen, want, "{solver}");
            assert_eq!(y, vec![1.0, 11.0], "{solver}");
        }
    }

    #[test]
    fn uniform_grid_has_exact_endpoints() {
        let g = uniform_grid(0.0, 1.0, 7);
        assert_eq!(g.len(), 8);
        assert_eq!((g[0], g[7]), (0.0, 1.0));
        assert!((g[3] - 3.0 / 7.0).abs() < 1e-15);
        let g = uniform_grid(0.1, 0.7, 3);
        assert_eq!(*g.last().unwrap(), 0.7);
        let back = uniform_grid(1.0, 1e-3, 10);
        assert_eq!((back[0], back[10]), (1.0, 1e-3));
        assert!(back.windows(2).all(|w| w[1] < w[0]));
        assert_eq!(uniform_grid(0.3, 1.0, 0), vec![0.3]);
    }

    #[test]
    fn fixed_solver_names_and_serde() {
        for (solver, name) in FixedSolver::ALL
            .iter()
            .zip(["euler", "heun", "midpoint", "rk4"])
        {
            assert_eq!(solver.name(), name);
            assert_eq!(solver.to_string(), name);
            assert_eq!(name.parse::<FixedSolver>().unwrap(), *solver);
            let json = serde_json::to_string(solver).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<FixedSolver>(&json).unwrap(), *solver);
        }
        assert!(matches!(
            "RK4".parse::<FixedSolver>(),
            Err(DynamicsError::InvalidConfig(_))
        ));
        assert!(serde_json::from_str::<FixedSolver>("\"rk45\"").is_err());
        let orders: Vec<u32> = FixedSolver::ALL.iter().map(|s| s.order()).collect();
        assert_eq!(orders, [1, 2, 2, 4]);
        let evals: Vec<u64> = FixedSolver::ALL
            .iter()
            .map(|s| s.evals_per_step())
            .collect();
        assert_eq!(evals, [1, 2, 2, 4]);
    }

    #[test]
    fn fixed_solver_bad_inputs_are_errors() {
        let mut f = rotation_field;
        let mut y = ROT_Y0.to_vec();
        for grid in [
            &[][..],
            &[0.0][..],
            &[0.0, 0.5, 0.5][..],
            &[0.0, 0.5, 0.4][..],
            &[0.0, f64::NAN][..],
            &[0.0, f64::INFINITY][..],
        ] {
            let r = integrate_fixed(FixedSolver::Heun, &mut f, &mut y, grid);
            assert!(
                matches!(r, Err(DynamicsError::InvalidConfig(_))),
                "{grid:?}: {r:?}"
            );
        }
        // Non-finite initial state.
        let mut bad = vec![1.0, f64::NAN];
        let r = integrate_fixed(FixedSolver::Euler, &mut f, &mut bad, &[0.0, 1.0]);
        assert!(matches!(r, Err(DynamicsError::Numerical(_))), "{r:?}");
        // A field that blows up.
        let mut nan_field = |t: f64, _y: &[f64], dy: &mut [f64]| {
            dy.fill(if t > 0.3 { f64::NAN } else { 1.0 });
            Ok(())
        };
        for solver in FixedSolver::ALL {
            let mut y = vec![0.0; 4];
            let r = integrate_fixed(solver, &mut nan_field, &mut y, &uniform_grid(0.0, 1.0, 5));
            assert!(
                matches!(r, Err(DynamicsError::Numerical(_))),
                "{solver}: {r:?}"
            );
        }
        // Field errors pass through unchanged.
        let mut failing = |_t: f64, _y: &[f64], _dy: &mut [f64]| {
            Err(DynamicsError::Field("net exploded".to_string()))
        };
        let r = integrate_fixed(FixedSolver::Rk4, &mut failing, &mut y, &[0.0, 1.0]);
        assert_eq!(r, Err(DynamicsError::Field("net exploded".to_string())));
    }

    #[test]
    fn empty_batches_integrate_without_panicking() {
        // A batch with no rows still calls the field (one NFE per stage) and succeeds.
        let mut calls = 0u64;
        let mut f = |_t: f64, _y: &[f64], _dy: &mut [f64]| {
            calls += 1;
            Ok(())
        };
        let mut y: Vec<f64> = Vec::new();
        assert_eq!(
            integrate_fixed(FixedSolver::Rk4, &mut f, &mut y, &[0.0, 0.5, 1.0]),
            Ok(8)
        );
        let stats = integrate_dopri5(&Dopri5::default(), &mut f, &mut y, 0.0, 1.0).unwrap();
        assert!(stats.accepted >= 1 && stats.rejected == 0, "{stats:?}");
        let mut sde = PureNoise { drift: 0.0 };
        assert_eq!(
            euler_maruyama(&mut sde, &mut y, 2, &[0.0, 1.0], &mut rng(0, 0)),
            Ok(1)
        );
    }

    // ---- Dormand–Prince -------------------------------------------------------------------

    /// Runs dopri5 on the rotation problem and returns (state, stats, closure calls, times).
    fn run_dopri5(cfg: &Dopri5, t0: f64, t1: f64) -> (Vec<f64>, AdaptiveStats, u64, Vec<f64>) {
        let mut calls = 0u64;
        let mut times = Vec::new();
        let mut f = |t: f64, y: &[f64], dy: &mut [f64]| {
            calls += 1;
            times.push(t);
            rotation_field(t, y, dy)
        };
        let mut y = rotation_exact(&ROT_Y0, t0);
        let stats = integrate_dopri5(cfg, &mut f, &mut y, t0, t1).unwrap();
        (y, stats, calls, times)
    }

    fn evals_formula(cfg: &Dopri5, stats: &AdaptiveStats) -> u64 {
        let heuristic = u64::from(cfg.h_init.is_none());
        1 + heuristic + 6 * (stats.accepted + stats.rejected)
    }

    #[test]
    fn dopri5_meets_tolerance_and_error_shrinks_with_it() {
        // Global error stays within 10x the tolerance on this contracting problem, and drops
        // by at least 10x for every 100x tighter tolerance (the order-5 controller gives
        // ~100^(5/6) in theory).
        let mut previous = f64::INFINITY;
        for tol in [1e-3, 1e-5, 1e-7, 1e-9] {
            let cfg = Dopri5 {
                rtol: tol,
                atol: tol,
                ..Dopri5::default()
            };
            for (t0, t1) in [(0.0, 2.0), (2.0, 0.0)] {
                let (y, stats, calls, times) = run_dopri5(&cfg, t0, t1);
                let err = max_abs_diff(&y, &rotation_exact(&ROT_Y0, t1));
                assert!(err < 10.0 * tol, "tol {tol}, {t0}->{t1}: error {err}");
                assert_eq!(stats.evals, calls, "evals must equal closure calls");
                assert_eq!(stats.evals, evals_formula(&cfg, &stats), "{stats:?}");
                // The last evaluation is the FSAL slope at exactly t1; no time leaves [t0, t1].
                assert_eq!(*times.last().unwrap(), t1);
                let (lo, hi) = (t0.min(t1), t0.max(t1));
                assert!(times.iter().all(|t| (lo..=hi).contains(t)));
                if t0 < t1 {
                    assert!(err < previous / 10.0, "tol {tol}: {err} vs {previous}");
                    previous = err;
                }
            }
        }
    }

    #[test]
    fn dopri5_rejects_a_too_large_first_step_and_counts_it() {
        let cfg = Dopri5 {
            rtol: 1e-8,
            atol: 1e-8,
            h_init: Some(5.0),
            ..Dopri5::default()
        };
        let (y, stats, calls, _) = run_dopri5(&cfg, 0.0, 2.0);
        assert!(stats.rejected >= 1, "{stats:?}");
        assert_eq!(stats.evals, calls);
        assert_eq!(stats.evals, evals_formula(&cfg, &stats), "{stats:?}");
        assert!(max_abs_diff(&y, &rotation_exact(&ROT_Y0, 2.0)) < 1e-7);
    }

    /// Fixed-step Dormand–Prince from t = 0 to 1 through the private attempt function;
    /// returns the final state and the error norm of the first step (rtol 0, atol 1, so the
    /// norm is the plain RMS of the error estimate).
    fn dopri5_fixed_steps(mut field_fn: TestField, y0: &[f64], steps: usize) -> (Vec<f64>, f64) {
        let h = 1.0 / steps as f64;
        let mut field = CountedField {
            field: &mut field_fn,
            calls: 0,
        };
        let mut work = DopriWork::new(y0.len());
        let mut y = y0.to_vec();
        field.eval(0.0, &y, &mut work.k[0]).unwrap();
        let mut first_norm = 0.0;
        for i in 0..steps {
            let t = i as f64 * h;
            let norm = dopri5_attempt(&mut field, &mut work, t, &y, h, t + h, (0.0, 1.0)).unwrap();
            if i == 0 {
                first_norm = norm;
            }
            y.copy_from_slice(&work.y_new);
            work.k.swap(0, 6);
        }
        assert_eq!(field.calls, 1 + 6 * steps as u64, "FSAL: 6 evals per step");
        (y, first_norm)
    }

    #[test]
    fn dopri5_tableau_has_order_five_and_error_estimate_order_five_locally() {
        // Global order of the propagated 5th-order solution: log2 error ratio 5 +- 0.3 when
        // halving h (16 -> 32 steps). The one-step error estimate is the local error of the
        // embedded 4th-order solution, O(h^5): ratio 5 +- 0.3 as well. The forced problem
        // checks the stage times c_i.
        let forced_y0 = [0.7, -1.2];
        let forced_end = [forced_exact(0.7, 1.0), forced_exact(-1.2, 1.0)];
        let rot_end = rotation_exact(&ROT_Y0, 1.0);
        let problems: [(&str, TestField, &[f64], &[f64]); 2] = [
            ("rotation", rotation_field, &ROT_Y0, &rot_end),
            ("forced", forced_field, &forced_y0, &forced_end),
        ];
        for (name, field, y0, exact) in problems {
            let (y_n, est_n) = dopri5_fixed_steps(field, y0, 16);
            let (y_2n, est_2n) = dopri5_fixed_steps(field, y0, 32);
            let global = (max_abs_diff(&y_n, exact) / max_abs_diff(&y_2n, exact)).log2();
            assert!((global - 5.0).abs() < 0.3, "{name}: global order {global}");
            let local = (est_n / est_2n).log2();
            assert!(
                (local - 5.0).abs() < 0.3,
                "{name}: error-estimate order {local}"
            );
        }
    }

    #[test]
    fn dopri5_zero_span_costs_nothing() {
        let (y, stats, calls, _) = run_dopri5(&Dopri5::default(), 0.5, 0.5);
        assert_eq!(stats, AdaptiveStats::default());
        assert_eq!(calls, 0);
        assert_eq!(y, rotation_exact(&ROT_Y0, 0.5));
    }

    #[test]
    fn dopri5_failures_are_errors() {
        // max_steps: 3 attempts cannot reach t1 at 1e-10.
        let cfg = Dopri5 {
            rtol: 1e-10,
            atol: 1e-10,
            max_steps: 3,
            ..Dopri5::default()
        };
        let mut f = rotation_field;
        let mut y = ROT_Y0.to_vec();
        let r = integrate_dopri5(&cfg, &mut f, &mut y, 0.0, 2.0);
        assert!(
            matches!(&r, Err(DynamicsError::Numerical(m)) if m.contains("max_steps")),
            "{r:?}"
        );

        // Step underflow: a huge jump at t = 0.5 keeps the error norm above 1 whatever h.
        let mut jump = |t: f64, _y: &[f64], dy: &mut [f64]| {
            dy.fill(if t >= 0.5 { 1e200 } else { 0.0 });
            Ok(())
        };
        let mut y = vec![0.0; 2];
        let r = integrate_dopri5(&Dopri5::default(), &mut jump, &mut y, 0.0, 1.0);
        assert!(
            matches!(&r, Err(DynamicsError::Numerical(m)) if m.contains("underflow")),
            "{r:?}"
        );

        // Non-finite field values.
        let mut nan_field = |t: f64, _y: &[f64], dy: &mut [f64]| {
            dy.fill(if t > 0.3 { f64::NAN } else { 1.0 });
            Ok(())
        };
        let mut y = vec![0.0; 2];
        let r = integrate_dopri5(&Dopri5::default(), &mut nan_field, &mut y, 0.0, 1.0);
        assert!(matches!(r, Err(DynamicsError::Numerical(_))), "{r:?}");

        // Blow-up of y' = y^2 from y(0) = 1 at t = 1.
        let mut blow_up = |_t: f64, y: &[f64], dy: &mut [f64]| {
            dy[0] = y[0] * y[0];
            Ok(())
        };
        let mut y = vec![1.0];
        let r = integrate_dopri5(&Dopri5::default(), &mut blow_up, &mut y, 0.0, 2.0);
        assert!(matches!(r, Err(DynamicsError::Numerical(_))), "{r:?}");

        // Field errors and bad end times.
        let mut failing =
            |_t: f64, _y: &[f64], _dy: &mut [f64]| Err(DynamicsError::Field("boom".to_string()));
        let mut y = vec![0.0];
        let r = integrate_dopri5(&Dopri5::default(), &mut failing, &mut y, 0.0, 1.0);
        assert_eq!(r, Err(DynamicsError::Field("boom".to_string())));
        let r = integrate_dopri5(&Dopri5::default(), &mut f, &mut y, 0.0, f64::NAN);
        assert!(matches!(r, Err(DynamicsError::InvalidConfig(_))), "{r:?}");
    }

    #[test]
    fn dopri5_validate_names_the_field() {
        assert_eq!(Dopri5::default().validate(), Ok(()));
        let cases = [
            (
                Dopri5 {
                    rtol: -1e-3,
                    ..Dopri5::default()
                },
                "rtol",
            ),
            (
                Dopri5 {
                    rtol: f64::NAN,
                    ..Dopri5::default()
                },
                "rtol",
            ),
            (
                Dopri5 {
                    atol: 0.0,
                    ..Dopri5::default()
                },
                "atol",
            ),
            (
                Dopri5 {
                    atol: f64::INFINITY,
                    ..Dopri5::default()
                },
                "atol",
            ),
            (
                Dopri5 {
                    h_init: Some(0.0),
                    ..Dopri5::default()
                },
                "h_init",
            ),
            (
                Dopri5 {
                    h_init: Some(f64::NAN),
                    ..Dopri5::default()
                },
                "h_init",
            ),
            (
                Dopri5 {
                    max_steps: 0,
                    ..Dopri5::default()
                },
                "max_steps",
            ),
        ];
        for (cfg, field) in cases {
            match cfg.validate() {
                Err(DynamicsError::InvalidConfig(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{cfg:?}: {other:?}"),
            }
            let mut f = rotation_field;
            let mut y = ROT_Y0.to_vec();
            assert!(integrate_dopri5(&cfg, &mut f, &mut y, 0.0, 1.0).is_err());
        }
    }

    #[test]
    fn dopri5_config_serde() {
        let cfg = Dopri5 {
            rtol: 1e-6,
            atol: 1e-7,
            h_init: Some(0.01),
            max_steps: 500,
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<Dopri5>(&json).unwrap(), cfg);
        assert_eq!(
            serde_json::from_str::<Dopri5>("{}").unwrap(),
            Dopri5::default()
        );
        assert!(serde_json::from_str::<Dopri5>(r#"{"rtoll": 1e-3}"#).is_err());
    }

    // ---- Euler–Maruyama -------------------------------------------------------------------

    /// Ornstein–Uhlenbeck per column: `dy_c = -theta_c y_c dt + sigma_c dW`.
    struct Ou {
        theta: Vec<f64>,
        sigma: Vec<f64>,
        calls: u64,
    }

    impl Sde for Ou {
        fn drift(&mut self, _t: f64, y: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
            self.calls += 1;
            let width = self.theta.len();
            for (i, (o, v)) in out.iter_mut().zip(y).enumerate() {
                *o = -self.theta[i % width] * v;
            }
            Ok(())
        }
        fn diffusion(&self, _t: f64, column: usize) -> f64 {
            self.sigma[column]
        }
    }

    /// Column means and (population) variances of a rows x width batch.
    fn column_moments(y: &[f64], width: usize) -> (Vec<f64>, Vec<f64>) {
        let rows = (y.len() / width) as f64;
        let mut mean = vec![0.0; width];
        let mut var = vec![0.0; width];
        for row in y.chunks_exact(width) {
            for c in 0..width {
                mean[c] += row[c] / rows;
            }
        }
        for row in y.chunks_exact(width) {
            for c in 0..width {
                var[c] += (row[c] - mean[c]).powi(2) / rows;
            }
        }
        (mean, var)
    }

    #[test]
    fn euler_maruyama_matches_the_exact_moments_of_the_discrete_scheme() {
        // EM on a linear SDE is a Gaussian AR(1) recursion with closed-form moments:
        // mean = x0 (1 - theta dt)^N, var = sigma^2 dt sum_{k<N} (1 - theta dt)^{2k}.
        // Monte-Carlo bands: 5 standard errors (mean sd sqrt(var/R), variance sd var sqrt(2/R)).
        let (theta, sigma) = (vec![1.0, 2.0, 0.5], vec![1.0, 0.5, 0.0]);
        let (rows, width, steps, x0) = (100_000usize, 3usize, 16usize, 1.5);
        let mut sde = Ou {
            theta: theta.clone(),
            sigma: sigma.clone(),
            calls: 0,
        };
        let mut y = vec![x0; rows * width];
        let mut r = rng(7, 0);
        let calls = euler_maruyama(
            &mut sde,
            &mut y,
            width,
            &uniform_grid(0.0, 1.0, steps),
            &mut r,
        )
        .unwrap();
        assert_eq!((calls, sde.calls), (steps as u64, steps as u64));
        let (mean, var) = column_moments(&y, width);
        let dt = 1.0 / steps as f64;
        for c in 0..width {
            let a = 1.0 - theta[c] * dt;
            let m = x0 * a.powi(steps as i32);
            let v: f64 =
                sigma[c].powi(2) * dt * (0..steps).map(|k| a.powi(2 * k as i32)).sum::<f64>();
            if sigma[c] == 0.0 {
                // Noise-free column: plain Euler, every row identical to the recursion.
                assert!(y.chunks_exact(width).all(|row| (row[c] - m).abs() < 1e-12));
                continue;
            }
            let mean_tol = 5.0 * (v / rows as f64).sqrt();
            let var_tol = 5.0 * v * (2.0 / rows as f64).sqrt();
            assert!(
                (mean[c] - m).abs() < mean_tol,
                "col {c}: mean {} vs {m}",
                mean[c]
            );
            assert!(
                (var[c] - v).abs() < var_tol,
                "col {c}: var {} vs {v}",
                var[c]
            );
        }
    }

    #[test]
    fn euler_maruyama_has_weak_order_one_on_ou() {
        // Bias of mean and variance at T = 1 against the continuous OU law
        // (mean x0 e^{-theta}, var sigma^2 (1 - e^{-2 theta}) / (2 theta)) halves with dt.
        // With 400k rows the Monte-Carlo noise (~1e-3) is small next to the biases (~0.02-0.08).
        let (theta, sigma, x0, rows) = (1.0f64, 1.0f64, 1.0f64, 400_000usize);
        let exact_mean = x0 * (-theta).exp();
        let exact_var = sigma * sigma * (1.0 - (-2.0 * theta).exp()) / (2.0 * theta);
        let mut bias_mean = Vec::new();
        let mut bias_var = Vec::new();
        for (stream, steps) in [(1u64, 4usize), (2, 8)] {
            let mut sde = Ou {
                theta: vec![theta],
                sigma: vec![sigma],
                calls: 0,
            };
            let mut y = vec![x0; rows];
            let mut r = rng(11, stream);
            euler_maruyama(&mut sde, &mut y, 1, &uniform_grid(0.0, 1.0, steps), &mut r).unwrap();
            let (mean, var) = column_moments(&y, 1);
            bias_mean.push((mean[0] - exact_mean).abs());
            bias_var.push((var[0] - exact_var).abs());
        }
        for (name, bias) in [("mean", bias_mean), ("variance", bias_var)] {
            let order = (bias[0] / bias[1]).log2();
            assert!(
                (0.7..1.4).contains(&order),
                "{name}: weak order {order} ({bias:?})"
            );
        }
    }

    /// Zero drift, constant per-column noise `g = column + 1`.
    struct PureNoise {
        drift: f64,
    }

    impl Sde for PureNoise {
        fn drift(&mut self, _t: f64, _y: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
            out.fill(self.drift);
            Ok(())
        }
        fn diffusion(&self, _t: f64, column: usize) -> f64 {
            (column + 1) as f64
        }
    }

    #[test]
    fn euler_maruyama_draws_noise_in_the_documented_order() {
        // Rebuild the result by hand from the same generator: per step, rows outer, columns
        // inner, one normal per entry. Same operations, so the match is exact.
        let (rows, width) = (3usize, 2usize);
        let grid = [0.0, 0.1, 0.35, 0.4];
        let mut y = vec![0.25; rows * width];
        euler_maruyama(
            &mut PureNoise { drift: 0.0 },
            &mut y,
            width,
            &grid,
            &mut rng(3, 5),
        )
        .unwrap();
        let mut expected = vec![0.25; rows * width];
        let mut r = rng(3, 5);
        for pair in grid.windows(2) {
            let dt: f64 = pair[1] - pair[0];
            for row in 0..rows {
                for col in 0..width {
                    let z = normal(&mut r);
                    expected[row * width + col] += 0.0 * dt + (col + 1) as f64 * dt.sqrt() * z;
                }
            }
        }
        assert_eq!(y, expected);
    }

    #[test]
    fn euler_maruyama_is_deterministic_per_seed() {
        let run = |seed: u64| {
            let mut sde = Ou {
                theta: vec![1.0, 0.3],
                sigma: vec![0.7, 1.1],
                calls: 0,
            };
            let mut y: Vec<f64> = (0..20).map(|i| i as f64 * 0.1).collect();
            euler_maruyama(
                &mut sde,
                &mut y,
                2,
                &uniform_grid(0.0, 1.0, 10),
                &mut rng(seed, 0),
            )
            .unwrap();
            y
        };
        let a = run(42);
        let b = run(42);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_ne!(a, run(43));
    }

    #[test]
    fn euler_maruyama_runs_backward_in_time() {
        // From t = 1 to 0 with drift 1 and g = 1: the drift moves y by -1 in total and the
        // variance is sigma^2 * |T| = 1 (5 standard errors on 100k rows).
        let rows = 100_000usize;
        let mut y = vec![0.0; rows];
        let grid = uniform_grid(1.0, 0.0, 8);
        euler_maruyama(
            &mut PureNoise { drift: 1.0 },
            &mut y,
            1,
            &grid,
            &mut rng(9, 1),
        )
        .unwrap();
        let (mean, var) = column_moments(&y, 1);
        assert!(
            (mean[0] + 1.0).abs() < 5.0 / (rows as f64).sqrt(),
            "mean {}",
            mean[0]
        );
        assert!(
            (var[0] - 1.0).abs() < 5.0 * (2.0 / rows as f64).sqrt(),
            "var {}",
            var[0]
        );
    }

    #[test]
    fn euler_maruyama_bad_inputs_are_errors() {
        let mut sde = PureNoise { drift: 0.0 };
        let mut r = rng(0, 0);
        let mut y = vec![0.0; 6];
        let grid = [0.0, 1.0];
        let invalid =
            |res: Result<u64, DynamicsError>| matches!(res, Err(DynamicsError::InvalidConfig(_)));
        assert!(invalid(euler_maruyama(&mut sde, &mut y, 0, &grid, &mut r)));
        assert!(invalid(euler_maruyama(&mut sde, &mut y, 4, &grid, &mut r)));
        assert!(invalid(euler_maruyama(&mut sde, &mut y, 2, &[], &mut r)));
        assert!(invalid(euler_maruyama(
            &mut sde,
            &mut y,
            2,
            &[0.0, 0.0],
            &mut r
        )));
        assert!(invalid(euler_maruyama(
            &mut sde,
            &mut y,
            2,
            &[0.0, f64::NAN],
            &mut r
        )));

        struct BadNoise;
        impl Sde for BadNoise {
            fn drift(&mut self, _t: f64, _y: &[f64], out: &mut [f64]) -> Result<(), DynamicsError> {
                out.fill(0.0);
                Ok(())
            }
            fn diffusion(&self, t: f64, _column: usize) -> f64 {
                if t > 0.0 { f64::INFINITY } else { 1.0 }
            }
        }
        let r2 = euler_maruyama(&mut BadNoise, &mut y, 2, &[0.0, 0.5, 1.0], &mut r);
        assert!(matches!(r2, Err(DynamicsError::Numerical(_))), "{r2:?}");

        struct Failing;
        impl Sde for Failing {
            fn drift(
                &mut self,
                _t: f64,
                _y: &[f64],
                _out: &mut [f64],
            ) -> Result<(), DynamicsError> {
                Err(DynamicsError::Field("drift failed".to_string()))
            }
            fn diffusion(&self, _t: f64, _column: usize) -> f64 {
                0.0
            }
        }
        let r3 = euler_maruyama(&mut Failing, &mut y, 2, &grid, &mut r);
        assert_eq!(r3, Err(DynamicsError::Field("drift failed".to_string())));

        // A dyn Sde works too.
        let dyn_sde: &mut dyn Sde = &mut PureNoise {
            drift: f64::INFINITY,
        };
        let r4 = euler_maruyama(dyn_sde, &mut y, 2, &grid, &mut r);
        assert!(matches!(r4, Err(DynamicsError::Numerical(_))), "{r4:?}");
    }
}
