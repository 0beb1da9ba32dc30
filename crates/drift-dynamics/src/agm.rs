//! AGM: Acceleration Generative Modeling with phase stochastic bridges (Chen et al., ICLR 2024;
//! official code `apple/ml-agm`), methods.md section 1.
//!
//! This module owns everything analytic about AGM, in f64:
//! * the configuration ([`AgmConfig`]) with its official toy defaults,
//! * the bridge of the controlled double integrator `dx = v dt, dv = a dt + g(t) dW`: mean
//!   coefficients, transition matrix, noise and total covariance, the code's Cholesky factor,
//!   the velocity score factor `ell` and the label normalisers `N_SDE` / `N_ODE`,
//! * one regression minibatch ([`training_batch`]),
//! * the sampling hop (data estimate from one network output, [`estimate_x1`]),
//! * the official time grids ([`grid_times`]), the prior ([`sample_prior`]),
//! * the samplers: SSS ([`sample_sss`], SDE-trained nets) and the exponential-integrator
//!   multistep gDDIM ([`sample_gddim`], probODE-trained nets), plus velocity fields for generic
//!   solvers ([`prob_ode_velocity`], [`sde_velocity`]).
//!
//! Time convention: the official AGM code already runs prior at `t = 0` and data at `t = 1`, so
//! engine time equals the paper/code time and nothing is flipped here. (The official toy network
//! feeds `1 - t` to its backbone; that is the network's business, not this module's.)
//!
//! Phase-space states are row-major `rows x 2d` with each row `[x (d), v (d)]`. Every covariance is
//! a per-coordinate 2x2 matrix shared by all `d` coordinates.

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::{DynamicsError, Field, Rng, TrainBatch, fill_normal};

/// The sampling horizon the official rev-quad grid always integrates to (its last step is
/// `REV_QUAD_END - T`), methods.md 1.8.1.
pub const REV_QUAD_END: f64 = 0.999;

/// Default multistep order of the gDDIM sampler (`--gDDIM-r`).
pub const DEFAULT_GDDIM_ORDER: usize = 2;

/// Gauss-Legendre nodes per quadrature panel for the gDDIM coefficients.
const GAUSS_NODES: usize = 32;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// What the network regresses (methods.md 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeType {
    /// The optimal acceleration `a*` (toy default; sampled with SSS).
    #[default]
    Sde,
    /// The conditional probability-flow drift `a* - g^2/2 * score_v` (sampled with gDDIM).
    ProbOde,
}

/// Per-row loss weight `lambda(t)^2` (methods.md 1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// `1 / (1 - t)` (every shipped config).
    #[default]
    Reciprocal,
    /// `1`.
    Ones,
    /// `1 / t`.
    ReciprocalInv,
}

/// AGM dynamics and training configuration. `Default` is the official toy configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgmConfig {
    /// Diffusion scale: `g(t) = p (1 - t)`.
    pub p: f64,
    /// Prior x-v correlation magnitude; the prior correlation is `-k` (sign pitfall, 1.3).
    pub k: f64,
    /// Prior position variance.
    pub varx: f64,
    /// Prior velocity variance.
    pub varv: f64,
    /// Smallest training/sampling time.
    pub t0: f64,
    /// Largest training/sampling time `T`.
    pub t_end: f64,
    /// Which label the network regresses.
    pub de_type: DeType,
    /// Loss weight per row.
    pub weighting: Weighting,
}

impl Default for AgmConfig {
    fn default() -> Self {
        AgmConfig {
            p: 3.0,
            k: 0.2,
            varx: 1.0,
            varv: 1.0,
            t0: 1e-5,
            t_end: 0.999,
            de_type: DeType::Sde,
            weighting: Weighting::Reciprocal,
        }
    }
}

impl AgmConfig {
    /// Checks every field's range; the message names the field and the accepted range.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        let bad = |msg: String| Err(DynamicsError::InvalidConfig(format!("agm: {msg}")));
        if !(self.p.is_finite() && self.p > 0.0) {
            return bad(format!("p = {} must be finite and > 0", self.p));
        }
        if !(self.k.is_finite() && self.k.abs() < 1.0) {
            return bad(format!("k = {} must satisfy |k| < 1", self.k));
        }
        if !(self.varx.is_finite() && self.varx > 0.0) {
            return bad(format!("varx = {} must be finite and > 0", self.varx));
        }
        if !(self.varv.is_finite() && self.varv > 0.0) {
            return bad(format!("varv = {} must be finite and > 0", self.varv));
        }
        if !(self.t0.is_finite() && self.t0 >= 0.0) {
            return bad(format!("t0 = {} must be finite and >= 0", self.t0));
        }
        if !(self.t_end.is_finite() && self.t_end > self.t0 && self.t_end < 1.0) {
            return bad(format!(
                "t_end = {} must satisfy t0 ({}) < t_end < 1",
                self.t_end, self.t0
            ));
        }
        if self.weighting == Weighting::ReciprocalInv && self.t0 <= 0.0 {
            return bad(format!(
                "weighting reciprocal_inv (1/t) needs t0 > 0, got t0 = {}",
                self.t0
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Analytic bridge (methods.md 1.2 - 1.6)
// ---------------------------------------------------------------------------------------------

/// A symmetric per-coordinate 2x2 covariance `[[xx, xv], [xv, vv]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cov2 {
    /// Position variance.
    pub xx: f64,
    /// Position-velocity covariance.
    pub xv: f64,
    /// Velocity variance.
    pub vv: f64,
}

/// A general 2x2 matrix acting on `(x, v)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mat2 {
    /// Row x, column x.
    pub xx: f64,
    /// Row x, column v.
    pub xv: f64,
    /// Row v, column x.
    pub vx: f64,
    /// Row v, column v.
    pub vv: f64,
}

/// Lower Cholesky factor `[[lxx, 0], [lxv, lvv]]` as the official code computes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chol {
    /// `sqrt(S_xx)`.
    pub lxx: f64,
    /// `S_xv / lxx`.
    pub lxv: f64,
    /// `sqrt(max(S_vv - lxv^2, 0))`.
    pub lvv: f64,
}

/// Diffusion coefficient `g(t) = p (1 - t)` (the code hard-codes damping time 1).
pub fn g(cfg: &AgmConfig, t: f64) -> f64 {
    cfg.p * (1.0 - t)
}

/// The code's `g2P11(t) = 4 / (1 - t)`: the feedback gain of the optimal acceleration. `t < 1`.
pub fn g2p11(t: f64) -> f64 {
    4.0 / (1.0 - t)
}

/// Coefficients of `x1` in the bridge mean with zero prior mean: `mu_x = c_x x1`, `mu_v = c_v x1`.
/// Written in powers of `t` (not `s = 1 - t`) so they keep full relative precision near `t = 0`.
pub fn bridge_mean_coeffs(t: f64) -> (f64, f64) {
    let c_x = t * t * (t * t - 4.0 * t + 6.0) / 3.0;
    let c_v = 4.0 * t * (t * t - 3.0 * t + 3.0) / 3.0;
    (c_x, c_v)
}

/// `1 - (1 - t)^3` without cancellation at small `t`.
fn one_minus_s_cubed(t: f64) -> f64 {
    t * (3.0 - 3.0 * t + t * t)
}

/// Transition matrix `Phi(t)` of the closed-loop bridge from `t = 0`, applied to `(x0, v0)`.
pub fn transition(t: f64) -> Mat2 {
    let s = 1.0 - t;
    let a = one_minus_s_cubed(t);
    Mat2 {
        xx: s * (3.0 + a) / 3.0,
        xv: s * a / 3.0,
        vx: -4.0 * a / 3.0,
        vv: (3.0 - 4.0 * a) / 3.0,
    }
}

/// `sum_{n >= 1} coef(n) w^n / n!`; only called with `w < 0.5`, where 40 terms reach 1e-50.
fn exp_series(w: f64, coef: impl Fn(u32) -> f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for n in 1..=40u32 {
        term *= w / f64::from(n);
        sum += coef(n) * term;
    }
    sum
}

/// Below this `w = -3 ln(1 - t)` (t < 0.153) the noise covariance is summed as a series,
/// because the closed forms cancel to all digits near `t = 0`.
const SERIES_SWITCH_W: f64 = 0.5;

/// Noise part `Q(t)` of the bridge covariance (independent of the prior): methods.md 1.4.
///
/// With `s = 1 - t` and `w = -3 ln s` (so `s^3 = e^-w`), the brackets of 1.4 equal
/// `e^-w (e^w - e^-w - 2w)`, `e^-w (4e^-w - e^w + 5w - 3)` and `e^-w (e^w - 16e^-w - 8w + 15)`,
/// which are summed as power series in `w` for small `t`. Requires `0 <= t < 1`.
pub fn noise_cov(cfg: &AgmConfig, t: f64) -> Cov2 {
    let s = 1.0 - t;
    let scale = cfg.p * cfg.p / 27.0;
    let ln_s = (-t).ln_1p();
    let w = -3.0 * ln_s;
    let (bxx, bxv, bvv) = if w < SERIES_SWITCH_W {
        let damp = (-w).exp();
        let sign = |n: u32| if n.is_multiple_of(2) { 1.0 } else { -1.0 };
        let exx = exp_series(w, |n| {
            if n >= 3 && !n.is_multiple_of(2) {
                2.0
            } else {
                0.0
            }
        });
        let exv = exp_series(w, |n| if n >= 2 { 4.0 * sign(n) - 1.0 } else { 0.0 });
        let evv = exp_series(w, |n| if n >= 2 { 1.0 - 16.0 * sign(n) } else { 9.0 });
        (damp * exx, damp * exv, damp * evv)
    } else {
        let s3 = s * s * s;
        let s6 = s3 * s3;
        (
            1.0 - s6 + 6.0 * s3 * ln_s,
            4.0 * s6 - 15.0 * s3 * ln_s - 3.0 * s3 - 1.0,
            1.0 + 15.0 * s3 + 24.0 * s3 * ln_s - 16.0 * s6,
        )
    };
    Cov2 {
        xx: scale * s * s * bxx,
        xv: scale * s * bxv,
        vv: scale * bvv,
    }
}

/// Prior covariance `Sigma_0` at `t = 0`; note the **negative** correlation `-k` (methods.md 1.3).
pub fn prior_cov(cfg: &AgmConfig) -> Cov2 {
    Cov2 {
        xx: cfg.varx,
        xv: -cfg.k * (cfg.varx * cfg.varv).sqrt(),
        vv: cfg.varv,
    }
}

/// Bridge covariance `Sigma(t) = Phi Sigma_0 Phi^T + Q(t)` of `(x_t, v_t) | x1`. Requires `0 <= t < 1`.
pub fn cov(cfg: &AgmConfig, t: f64) -> Cov2 {
    let phi = transition(t);
    let s0 = prior_cov(cfg);
    let q = noise_cov(cfg, t);
    // Phi Sigma_0, then (Phi Sigma_0) Phi^T.
    let a_xx = phi.xx * s0.xx + phi.xv * s0.xv;
    let a_xv = phi.xx * s0.xv + phi.xv * s0.vv;
    let a_vx = phi.vx * s0.xx + phi.vv * s0.xv;
    let a_vv = phi.vx * s0.xv + phi.vv * s0.vv;
    Cov2 {
        xx: a_xx * phi.xx + a_xv * phi.xv + q.xx,
        xv: a_xx * phi.vx + a_xv * phi.vv + q.xv,
        vv: a_vx * phi.vx + a_vv * phi.vv + q.vv,
    }
}

/// The code's Cholesky factor of [`cov`]: `lvv` clamps the cancellation-prone `S_vv - lxv^2` at 0.
pub fn cholesky(cfg: &AgmConfig, t: f64) -> Chol {
    chol_of(cov(cfg, t))
}

fn chol_of(c: Cov2) -> Chol {
    let lxx = c.xx.sqrt();
    let lxv = c.xv / lxx;
    let lvv = (c.vv - lxv * lxv).max(0.0).sqrt();
    Chol { lxx, lxv, lvv }
}

/// `ell(t) = -1 / L_vv`: the velocity score is `ell * eps_v`. Reaches about -1.8e4 at t = 0.999.
pub fn ell(cfg: &AgmConfig, t: f64) -> f64 {
    -1.0 / cholesky(cfg, t).lvv
}

/// Every per-time scalar one training row or sampler step needs, computed once.
#[derive(Debug, Clone, Copy)]
struct BridgeAt {
    s: f64,
    g: f64,
    gain: f64,
    c_x: f64,
    c_v: f64,
    chol: Chol,
    ell: f64,
    n_sde: f64,
    n_ode: f64,
}

impl BridgeAt {
    fn new(cfg: &AgmConfig, t: f64) -> Self {
        let s = 1.0 - t;
        let g = g(cfg, t);
        let gain = g2p11(t);
        let (c_x, c_v) = bridge_mean_coeffs(t);
        let chol = cholesky(cfg, t);
        let ell = -1.0 / chol.lvv;
        // The x-noise coefficient of F_SDE is gain * (lxx/s + lxv); see methods.md 1.6.
        let x_part = gain * (chol.lxx / s + chol.lxv);
        let n_sde = (x_part * x_part + (gain * chol.lvv).powi(2)).sqrt() / s;
        let n_ode = (x_part * x_part + (gain * chol.lvv - 0.5 * g * g * ell).powi(2)).sqrt() / s;
        BridgeAt {
            s,
            g,
            gain,
            c_x,
            c_v,
            chol,
            ell,
            n_sde,
            n_ode,
        }
    }

    fn normalizer(&self, de_type: DeType) -> f64 {
        match de_type {
            DeType::Sde => self.n_sde,
            DeType::ProbOde => self.n_ode,
        }
    }
}

/// Label normaliser `N(t)` of the config's DE type, exactly as the code's `normalizer`
/// (methods.md 1.6; `N_ODE` deliberately uses `-g^2 ell / 2` and is not the exact label std).
pub fn normalizer(cfg: &AgmConfig, t: f64) -> f64 {
    BridgeAt::new(cfg, t).normalizer(cfg.de_type)
}

/// Per-row loss weight `lambda(t)^2` of the configured weighting.
pub fn loss_weight(cfg: &AgmConfig, t: f64) -> f64 {
    match cfg.weighting {
        Weighting::Reciprocal => 1.0 / (1.0 - t),
        Weighting::Ones => 1.0,
        Weighting::ReciprocalInv => 1.0 / t,
    }
}

// ---------------------------------------------------------------------------------------------
// Training batch (methods.md 1.5 - 1.7)
// ---------------------------------------------------------------------------------------------

/// A training batch before rounding to f32 (so tests can check the f64 values).
#[derive(Debug, Clone, Default, PartialEq)]
struct RowsF64 {
    state: Vec<f64>,
    time: Vec<f64>,
    target: Vec<f64>,
    weight: Vec<f64>,
}

fn training_rows(cfg: &AgmConfig, x1: &[f64], d: usize, rng: &mut Rng) -> RowsF64 {
    if d == 0 {
        return RowsF64::default();
    }
    let rows = x1.len() / d;
    let mut out = RowsF64 {
        state: Vec::with_capacity(rows * 2 * d),
        time: Vec::with_capacity(rows),
        target: Vec::with_capacity(rows * d),
        weight: Vec::with_capacity(rows),
    };
    let mut eps = vec![0.0; 2 * d];
    for data in x1.chunks_exact(d) {
        let u: f64 = rng.random();
        let t = cfg.t0 + (cfg.t_end - cfg.t0) * u;
        fill_normal(rng, &mut eps);
        let (eps_x, eps_v) = eps.split_at(d);
        let b = BridgeAt::new(cfg, t);
        let Chol { lxx, lxv, lvv } = b.chol;
        let x_noise = lxx / b.s + lxv;
        // The probODE label adds -g^2/2 * score_v = -g^2/2 * ell * eps_v.
        let score_coef = match cfg.de_type {
            DeType::Sde => 0.0,
            DeType::ProbOde => -0.5 * b.g * b.g * b.ell,
        };
        let norm = b.normalizer(cfg.de_type);
        for j in 0..d {
            out.state.push(b.c_x * data[j] + lxx * eps_x[j]);
        }
        for j in 0..d {
            out.state
                .push(b.c_v * data[j] + lxv * eps_x[j] + lvv * eps_v[j]);
        }
        for j in 0..d {
            let f_sde = 4.0 * data[j] * b.s * b.s - b.gain * (x_noise * eps_x[j] + lvv * eps_v[j]);
            out.target.push((f_sde + score_coef * eps_v[j]) / norm);
        }
        out.time.push(t);
        out.weight.push(loss_weight(cfg, t));
    }
    out
}

/// One AGM regression minibatch for data rows `x1` (`rows x d`, `rows = x1.len() / d`; a trailing
/// partial row is ignored, `d = 0` gives an empty batch). `cfg` should have passed
/// [`AgmConfig::validate`].
///
/// Per row, in this order: `t ~ U(t0, t_end)` (one `f64` uniform on [0, 1)), `eps_x` (d
/// normals), `eps_v` (d normals). State row `[x_t, v_t]` (width 2d) from the zero-prior-mean
/// bridge `x_t = c_x x1 + L_xx eps_x`, `v_t = c_v x1 + L_xv eps_x + L_vv eps_v`; `time = t`;
/// target `F_DE / N_DE(t)` (width d); weight `lambda^2` of the weighting.
pub fn training_batch(cfg: &AgmConfig, x1: &[f32], d: usize, rng: &mut Rng) -> TrainBatch {
    let x1: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
    let rows = training_rows(cfg, &x1, d, rng);
    TrainBatch {
        state: rows.state.iter().map(|&v| v as f32).collect(),
        time: rows.time,
        target: rows.target.iter().map(|&v| v as f32).collect(),
        weight: rows.weight.iter().map(|&v| v as f32).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sampling hop (methods.md 1.8.4)
// ---------------------------------------------------------------------------------------------

/// The data estimate is affine: `x1_hat = on_f * F + on_x * x + on_v * v`, with `F` the
/// un-normalised network drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HopCoeffs {
    /// Coefficient of the un-normalised drift `F = N(t) net`.
    pub on_f: f64,
    /// Coefficient of the position.
    pub on_x: f64,
    /// Coefficient of the velocity.
    pub on_v: f64,
}

fn hop_coeffs_of(b: &BridgeAt, de_type: DeType) -> HopCoeffs {
    match de_type {
        // Inverts F = G ((x1 - x)/s - v): x1 = x + s v + s F / G.
        DeType::Sde => HopCoeffs {
            on_f: b.s / b.gain,
            on_x: 1.0,
            on_v: b.s,
        },
        DeType::ProbOde => {
            let Chol { lxx, lxv, lvv } = b.chol;
            let a_big = lxx / b.s + lxv;
            let b_big = lvv + 0.5 * b.g * b.g * b.ell / b.gain;
            let b_small = b_big / lvv;
            let a_small = (a_big - b_small * lxv) / lxx;
            let den = 4.0 * b.s * b.s + b.gain * (a_small * b.c_x + b_small * b.c_v);
            HopCoeffs {
                on_f: 1.0 / den,
                on_x: b.gain * a_small / den,
                on_v: b.gain * b_small / den,
            }
        }
    }
}

/// Sampling-hop coefficients at time `t` for the config's DE type (zero prior mean).
pub fn hop_coefficients(cfg: &AgmConfig, t: f64) -> HopCoeffs {
    hop_coeffs_of(&BridgeAt::new(cfg, t), cfg.de_type)
}

/// Data estimate `x1_hat` from positions `x`, velocities `v` and the un-normalised network drift
/// `f_unnormalised = N(t) * net` (all the same length, any layout), for the config's DE type.
pub fn estimate_x1(
    cfg: &AgmConfig,
    t: f64,
    x: &[f64],
    v: &[f64],
    f_unnormalised: &[f64],
) -> Result<Vec<f64>, DynamicsError> {
    if x.len() != v.len() || x.len() != f_unnormalised.len() {
        return Err(DynamicsError::InvalidConfig(format!(
            "agm estimate_x1: lengths differ (x {}, v {}, f {})",
            x.len(),
            v.len(),
            f_unnormalised.len()
        )));
    }
    let c = hop_coefficients(cfg, t);
    Ok(x.iter()
        .zip(v)
        .zip(f_unnormalised)
        .map(|((&x, &v), &f)| c.on_f * f + c.on_x * x + c.on_v * v)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Time grids (methods.md 1.8.1)
// ---------------------------------------------------------------------------------------------

/// Sampling time grid of the official code (`get_discretizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeGrid {
    /// The code's `Euler`: `linspace(t0, T, n+1)[:-1]`, the last step ends at `T`.
    #[default]
    Uniform,
    /// `sqrt(linspace(t0^2, T^2, n+1))[:-1]`, the last step ends at `T`.
    Quad,
    /// `linspace(t0^(1/r), T^(1/r), n)^r`: n points, the last equal to `T`, final step
    /// `0.999 - T` (taken with the network output at `T`).
    RevQuad {
        /// The power `r` (official default 2).
        order: u32,
    },
}

/// `n` equally spaced points from `a` to `b` inclusive (the last exactly `b`).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    let last = (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i + 1 == n {
                b
            } else {
                a + (b - a) * (i as f64 / last)
            }
        })
        .collect()
}

/// Grid times `ts` (n of them, every one a network evaluation) and steps `dts` (n of them).
///
/// Needs `0 <= t0 < t_end < 1`, `n >= 1` (`n >= 2` and `t_end <= 0.999` for rev-quad, whose final
/// step is `0.999 - t_end`), and `order >= 1`.
pub fn grid_times(
    grid: &TimeGrid,
    t0: f64,
    t_end: f64,
    n: usize,
) -> Result<(Vec<f64>, Vec<f64>), DynamicsError> {
    let bad = |msg: String| Err(DynamicsError::InvalidConfig(format!("agm grid: {msg}")));
    if !(t0.is_finite() && t_end.is_finite() && t0 >= 0.0 && t0 < t_end && t_end < 1.0) {
        return bad(format!(
            "need 0 <= t0 < t_end < 1, got t0 = {t0}, t_end = {t_end}"
        ));
    }
    if n == 0 {
        return bad("number of grid points (nfe) must be >= 1".into());
    }
    let with_gaps = |points: Vec<f64>| {
        let dts = points.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
        let mut ts = points;
        ts.pop();
        (ts, dts)
    };
    match *grid {
        TimeGrid::Uniform => Ok(with_gaps(linspace(t0, t_end, n + 1))),
        TimeGrid::Quad => {
            let mut points = linspace(t0 * t0, t_end * t_end, n + 1);
            points.iter_mut().for_each(|p| *p = p.sqrt());
            // sqrt(T^2) may differ from T in the last bit; the grid must end at T exactly.
            points[n] = t_end;
            Ok(with_gaps(points))
        }
        TimeGrid::RevQuad { order } => {
            if order == 0 {
                return bad("rev_quad order must be >= 1".into());
            }
            if n < 2 {
                return bad("rev_quad needs nfe >= 2 (its last point is T)".into());
            }
            if t_end > REV_QUAD_END {
                return bad(format!(
                    "rev_quad needs t_end <= {REV_QUAD_END} (final step is {REV_QUAD_END} - t_end), got {t_end}"
                ));
            }
            let r = f64::from(order);
            let mut ts = linspace(t0.powf(1.0 / r), t_end.powf(1.0 / r), n);
            ts.iter_mut().for_each(|p| *p = p.powi(order as i32));
            ts[0] = t0;
            ts[n - 1] = t_end;
            let mut dts: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
            dts.push(REV_QUAD_END - t_end);
            Ok((ts, dts))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prior and samplers (methods.md 1.8)
// ---------------------------------------------------------------------------------------------

/// Writes `n` prior rows `[x (d), v (d)]` into `state` using the `t = 0` Cholesky factor.
fn fill_prior(cfg: &AgmConfig, state: &mut [f64], d: usize, rng: &mut Rng) {
    let c = cholesky(cfg, 0.0);
    let mut eps = vec![0.0; 2 * d];
    for row in state.chunks_exact_mut(2 * d) {
        fill_normal(rng, &mut eps);
        let (eps_x, eps_v) = eps.split_at(d);
        let (x, v) = row.split_at_mut(d);
        for j in 0..d {
            x[j] = c.lxx * eps_x[j];
            v[j] = c.lxv * eps_x[j] + c.lvv * eps_v[j];
        }
    }
}

/// `n` prior samples `m0 ~ N(0, Sigma_0)`, rows `[x (d), v (d)]` (`n x 2d`).
/// Draw order: per row, d normals `eps_x` then d normals `eps_v`;
/// `x = L_xx eps_x`, `v = L_xv eps_x + L_vv eps_v` with the `t = 0` factor.
pub fn sample_prior(cfg: &AgmConfig, n: usize, d: usize, rng: &mut Rng) -> Vec<f64> {
    let mut state = vec![0.0; n * 2 * d];
    if d > 0 {
        fill_prior(cfg, &mut state, d, rng);
    }
    state
}

/// Shared argument checks of the samplers.
fn check_sampler(
    cfg: &AgmConfig,
    need: DeType,
    name: &str,
    nfe: usize,
    field: &dyn Field,
    n: usize,
    d: usize,
) -> Result<(), DynamicsError> {
    cfg.validate()?;
    let bad = |msg: String| Err(DynamicsError::InvalidConfig(format!("agm {name}: {msg}")));
    if cfg.de_type != need {
        return bad(format!(
            "needs de_type {need:?} (a net trained on the other label cannot be used), got {:?}",
            cfg.de_type
        ));
    }
    if nfe == 0 || n == 0 || d == 0 {
        return bad(format!("nfe, n and d must be >= 1 (got {nfe}, {n}, {d})"));
    }
    if field.state_dim() != 2 * d || field.out_dim() != d {
        return bad(format!(
            "field must map width 2d = {} to d = {d}, it maps {} to {}",
            2 * d,
            field.state_dim(),
            field.out_dim()
        ));
    }
    Ok(())
}

fn check_finite(name: &str, values: &[f64]) -> Result<(), DynamicsError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(DynamicsError::Numerical(format!(
            "agm {name}: non-finite sample"
        )))
    }
}

/// Half step of the SSS splitting: free flight over `h` plus the exact noise of a free particle
/// whose noise intensity decays as `q (1 - tau)` (the code's approximation with `q = p (1 - t)`).
/// Draws, per row, d normals for x then d for v (always, even when `h = 0`).
fn sss_half_step(state: &mut [f64], d: usize, q: f64, h: f64, noise: &mut [f64], rng: &mut Rng) {
    let q2 = q * q;
    let qxx = q2 * h * h * h * (h * h - 5.0 * h + 10.0) / 30.0;
    let qxv = q2 * h * h * (h * h - 4.0 * h + 6.0) / 12.0;
    let qvv = q2 * h * (h * h - 3.0 * h + 3.0) / 3.0;
    // A zero-length step (rev-quad with T = 0.999) has no noise; the code would divide 0 by 0.
    let c = if qxx > 0.0 {
        chol_of(Cov2 {
            xx: qxx,
            xv: qxv,
            vv: qvv,
        })
    } else {
        Chol {
            lxx: 0.0,
            lxv: 0.0,
            lvv: 0.0,
        }
    };
    for row in state.chunks_exact_mut(2 * d) {
        fill_normal(rng, noise);
        let (eps_x, eps_v) = noise.split_at(d);
        let (x, v) = row.split_at_mut(d);
        for j in 0..d {
            x[j] += h * v[j] + c.lxx * eps_x[j];
            v[j] += c.lxv * eps_x[j] + c.lvv * eps_v[j];
        }
    }
}

/// The SSS ("sscs") sampler for SDE-trained nets (methods.md 1.8.2); returns `n x d` rows.
///
/// Random draws, in order: the prior ([`sample_prior`] order), then per grid step two
/// half-step noises (each: per row d normals for x, then d for v). Per grid time `t`, step `dt`:
/// half step (`h = dt/2`, noise intensity `p (1 - t)`), `F = N_SDE(t) net(m, t)` (1 NFE),
/// `v += F dt`, half step again. Returned positions, replicating the official code: the `x` after
/// the **first** half step of the last iteration plus `v dt_last`, with `v` after the last kick
/// (the code drops the last second half step and adds one free flight). With `hop`, returns
/// `x1_hat` from the last evaluation and the state it was evaluated at (SDE inversion, no extra
/// NFE). The field is called exactly `nfe` times.
#[allow(clippy::too_many_arguments)]
pub fn sample_sss(
    cfg: &AgmConfig,
    grid: &TimeGrid,
    nfe: usize,
    hop: bool,
    field: &mut dyn Field,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    check_sampler(cfg, DeType::Sde, "sss", nfe, field, n, d)?;
    let (ts, dts) = grid_times(grid, cfg.t0, cfg.t_end, nfe)?;
    let width = 2 * d;
    let mut state = sample_prior(cfg, n, d, rng);
    let mut net = vec![0.0; n * d];
    let mut noise = vec![0.0; width];
    let mut out = vec![0.0; n * d];
    for (idx, (&t, &dt)) in ts.iter().zip(&dts).enumerate() {
        let last = idx + 1 == ts.len();
        let q = cfg.p * (1.0 - t);
        sss_half_step(&mut state, d, q, 0.5 * dt, &mut noise, rng);
        field.eval(t, &state, &mut net)?;
        let b = BridgeAt::new(cfg, t);
        let norm = b.n_sde;
        let hop_c = hop_coeffs_of(&b, DeType::Sde);
        for ((row, f_row), o_row) in state
            .chunks_exact_mut(width)
            .zip(net.chunks_exact(d))
            .zip(out.chunks_exact_mut(d))
        {
            let (x, v) = row.split_at_mut(d);
            for j in 0..d {
                let f = norm * f_row[j];
                if last {
                    // Both outputs need the state at the last evaluation, before the kick.
                    o_row[j] = if hop {
                        hop_c.on_f * f + hop_c.on_x * x[j] + hop_c.on_v * v[j]
                    } else {
                        x[j]
                    };
                }
                v[j] += f * dt;
                if last && !hop {
                    o_row[j] += v[j] * dt;
                }
            }
        }
        // On the last step this state is discarded (as in the code), but the draw keeps the
        // documented two-half-steps-per-step order.
        sss_half_step(&mut state, d, q, 0.5 * dt, &mut noise, rng);
    }
    check_finite("sss", &out)?;
    Ok(out)
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on the Legendre recurrence).
fn gauss_legendre(m: usize) -> Vec<(f64, f64)> {
    let mut rule = Vec::with_capacity(m);
    for i in 0..m {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
        let mut deriv = 1.0;
        for _ in 0..100 {
            // P_m(z) by the three-term recurrence, then P_m'(z).
            let (mut p0, mut p1) = (1.0, z);
            for k in 2..=m {
                let kf = k as f64;
                let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
                p0 = p1;
                p1 = p2;
            }
            deriv = m as f64 * (z * p1 - p0) / (z * z - 1.0);
            let step = p1 / deriv;
            z -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        rule.push((z, 2.0 / ((1.0 - z * z) * deriv * deriv)));
    }
    rule
}

/// `int_a^b f(s) ds` by composite Gauss-Legendre. The integrands are analytic on [0, 1) but
/// singular at s = 1 (`ln(1 - s)`, `sqrt` of `L_vv^2 -> 0`), so panels shrink geometrically
/// towards 1: each panel is at most half of its start's distance to 1 (and at most 0.25).
fn integrate(rule: &[(f64, f64)], a: f64, b: f64, f: &mut impl FnMut(f64) -> f64) -> f64 {
    let mut total = 0.0;
    let mut lo = a;
    while lo < b {
        let hi = b.min(lo + (0.5 * (1.0 - lo)).min(0.25));
        let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        total += half
            * rule
                .iter()
                .map(|&(z, w)| w * f(mid + half * z))
                .sum::<f64>();
        lo = hi;
    }
    total
}

/// gDDIM coefficients `[C_ij, D_ij]` (methods.md 1.8.3) for grid `ts`, `dts` and order `r`:
/// entry `i` has `min(i, r) + 1` pairs for the outputs at `t_i, t_{i-1}, ...`, with
/// `C_ij = int (t_{i+1} - s) N_ODE(s) l_j(s) ds`, `D_ij = int N_ODE(s) l_j(s) ds` over
/// `[t_i, t_i + dt_i]` and `l_j` the Lagrange basis on `t_i, ..., t_{i - min(i, r)}`.
/// Computed by composite 32-node Gauss-Legendre in f64 (the code uses a 50 000-point Riemann sum).
pub fn gddim_coefficients(
    cfg: &AgmConfig,
    ts: &[f64],
    dts: &[f64],
    order: usize,
) -> Result<Vec<Vec<[f64; 2]>>, DynamicsError> {
    if ts.len() != dts.len() {
        return Err(DynamicsError::InvalidConfig(format!(
            "agm gddim: {} grid times but {} steps",
            ts.len(),
            dts.len()
        )));
    }
    let rule = gauss_legendre(GAUSS_NODES);
    let mut coeffs = Vec::with_capacity(ts.len());
    for (i, (&t, &dt)) in ts.iter().zip(dts).enumerate() {
        let r = i.min(order);
        let end = t + dt;
        let nodes: Vec<f64> = (0..=r).map(|k| ts[i - k]).collect();
        let mut row = Vec::with_capacity(r + 1);
        for j in 0..=r {
            let basis = |s: f64| {
                nodes
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != j)
                    .map(|(_, &tk)| (s - tk) / (nodes[j] - tk))
                    .product::<f64>()
            };
            let mut on_x = |s: f64| (end - s) * BridgeAt::new(cfg, s).n_ode * basis(s);
            let mut on_v = |s: f64| BridgeAt::new(cfg, s).n_ode * basis(s);
            row.push([
                integrate(&rule, t, end, &mut on_x),
                integrate(&rule, t, end, &mut on_v),
            ]);
        }
        coeffs.push(row);
    }
    Ok(coeffs)
}

/// The exponential-integrator multistep ("gDDIM") sampler for probODE-trained nets
/// (methods.md 1.8.3); returns `n x d` rows.
///
/// Random draws: only the prior. Per grid point `t_i` (1 NFE each, `nfe` in all, the evaluation
/// at `T` included on rev-quad): `f_i = net(m_i, t_i)` (raw), then
/// `x += dt_i v + sum_j C_ij f_{i-j}`, `v += sum_j D_ij f_{i-j}` with order `min(i, order)`.
/// Output: the final position (at `t_last + dt_last`), or with `hop` the probODE data estimate
/// from the last evaluation and the state it was made at.
#[allow(clippy::too_many_arguments)]
pub fn sample_gddim(
    cfg: &AgmConfig,
    grid: &TimeGrid,
    nfe: usize,
    order: usize,
    hop: bool,
    field: &mut dyn Field,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    check_sampler(cfg, DeType::ProbOde, "gddim", nfe, field, n, d)?;
    let (ts, dts) = grid_times(grid, cfg.t0, cfg.t_end, nfe)?;
    let coeffs = gddim_coefficients(cfg, &ts, &dts, order)?;
    let width = 2 * d;
    let mut state = sample_prior(cfg, n, d, rng);
    // history[0] is the newest raw output f_i, history[j] is f_{i-j}.
    let mut history: Vec<Vec<f64>> = (0..=order).map(|_| vec![0.0; n * d]).collect();
    let mut out = vec![0.0; n * d];
    for (idx, (&t, &dt)) in ts.iter().zip(&dts).enumerate() {
        history.rotate_right(1);
        field.eval(t, &state, &mut history[0])?;
        if hop && idx + 1 == ts.len() {
            let b = BridgeAt::new(cfg, t);
            let c = hop_coeffs_of(&b, DeType::ProbOde);
            for ((row, f_row), o_row) in state
                .chunks_exact(width)
                .zip(history[0].chunks_exact(d))
                .zip(out.chunks_exact_mut(d))
            {
                let (x, v) = row.split_at(d);
                for j in 0..d {
                    o_row[j] = c.on_f * b.n_ode * f_row[j] + c.on_x * x[j] + c.on_v * v[j];
                }
            }
        }
        let step = &coeffs[idx];
        for (r_idx, row) in state.chunks_exact_mut(width).enumerate() {
            let (x, v) = row.split_at_mut(d);
            for j in 0..d {
                let at = r_idx * d + j;
                let (mut dx, mut dv) = (dt * v[j], 0.0);
                for (past, [c_ij, d_ij]) in history.iter().zip(step) {
                    dx += c_ij * past[at];
                    dv += d_ij * past[at];
                }
                x[j] += dx;
                v[j] += dv;
            }
        }
    }
    if !hop {
        for (row, o_row) in state.chunks_exact(width).zip(out.chunks_exact_mut(d)) {
            o_row.copy_from_slice(&row[..d]);
        }
    }
    check_finite("gddim", &out)?;
    Ok(out)
}

/// Writes `out = [v, norm * net]` per row (`state`, `out`: rows x 2d; `net_out`: rows x d).
fn phase_velocity(
    name: &str,
    norm: f64,
    d: usize,
    state: &[f64],
    net_out: &[f64],
    out: &mut [f64],
) -> Result<(), DynamicsError> {
    if d == 0
        || !state.len().is_multiple_of(2 * d)
        || net_out.len() * 2 != state.len()
        || out.len() != state.len()
    {
        return Err(DynamicsError::InvalidConfig(format!(
            "agm {name}: need state and out of rows x 2d and net_out of rows x d with d = {d} >= 1, \
             got lengths state {}, net_out {}, out {}",
            state.len(),
            net_out.len(),
            out.len()
        )));
    }
    for ((s_row, f_row), o_row) in state
        .chunks_exact(2 * d)
        .zip(net_out.chunks_exact(d))
        .zip(out.chunks_exact_mut(2 * d))
    {
        let (o_x, o_v) = o_row.split_at_mut(d);
        o_x.copy_from_slice(&s_row[d..]);
        for (o, &f) in o_v.iter_mut().zip(f_row) {
            *o = norm * f;
        }
    }
    Ok(())
}

/// Probability-flow ODE velocity `d/dt [x, v] = [v, N_ODE(t) net]` for generic ODE solvers
/// (`state`, `out`: rows x 2d; `net_out`: raw net output, rows x d). Needs de_type ProbOde.
pub fn prob_ode_velocity(
    cfg: &AgmConfig,
    t: f64,
    d: usize,
    state: &[f64],
    net_out: &[f64],
    out: &mut [f64],
) -> Result<(), DynamicsError> {
    if cfg.de_type != DeType::ProbOde {
        return Err(DynamicsError::InvalidConfig(
            "agm prob_ode_velocity: needs de_type prob_ode".into(),
        ));
    }
    let norm = BridgeAt::new(cfg, t).n_ode;
    phase_velocity("prob_ode_velocity", norm, d, state, net_out, out)
}

/// Drift of the AGM SDE `dx = v dt, dv = N_SDE(t) net dt + g(t) dW` for a plain Euler-Maruyama
/// (`out = [v, N_SDE(t) net]`; the diffusion on v alone is [`g`]). Needs de_type Sde.
pub fn sde_velocity(
    cfg: &AgmConfig,
    t: f64,
    d: usize,
    state: &[f64],
    net_out: &[f64],
    out: &mut [f64],
) -> Result<(), DynamicsError> {
    if cfg.de_type != DeType::Sde {
        return Err(DynamicsError::InvalidConfig(
            "agm sde_velocity: needs de_type sde".into(),
        ));
    }
    let norm = BridgeAt::new(cfg, t).n_sde;
    phase_velocity("sde_velocity", norm, d, state, net_out, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FnField, rng};

    /// methods.md 1.4 reference table (defaults): t, Sxx, Sxv, Svv, Lxx, Lxv, Lvv, ell, c_x, c_v,
    /// N_SDE, N_ODE.
    const TABLE: [[f64; 12]; 8] = [
        [
            1e-5,
            0.99999599978,
            -0.20002199971,
            1.0000259987,
            0.999997999888,
            -0.200022399777,
            0.979804591889,
            -1.02061166918,
            1.9999866667e-10,
            3.99996000013e-5,
            5.05973596174,
            9.09363743345,
        ],
        [
            0.1,
            0.939729772218,
            -0.394857868385,
            1.16028431713,
            0.969396602129,
            -0.40732334683,
            0.997182033661,
            -1.00282592971,
            0.0187,
            0.361333333333,
            5.93205978842,
            9.57521116979,
        ],
        [
            0.25,
            0.786952771278,
            -0.608435914025,
            1.23992369992,
            0.887103585427,
            -0.685867945999,
            0.877216541437,
            -1.13996938357,
            0.10546875,
            0.770833333333,
            7.16937933157,
            10.6865551574,
        ],
        [
            0.5,
            0.439403995659,
            -0.724363728297,
            1.49296393055,
            0.662875550657,
            -1.09275976098,
            0.546662633925,
            -1.82928178723,
            0.354166666667,
            1.16666666667,
            9.5078914592,
            13.3918072446,
        ],
        [
            0.75,
            0.124199742459,
            -0.479222766384,
            1.89311945486,
            0.352419838344,
            -1.35980644176,
            0.209871140969,
            -4.76482852946,
            0.66796875,
            1.3125,
            13.8057958843,
            19.061328187,
        ],
        [
            0.9,
            0.0203895022981,
            -0.203170867454,
            2.02746571926,
            0.142791814535,
            -1.42284673751,
            0.0545241306442,
            -18.3405033365,
            0.8667,
            1.332,
            21.9037896265,
            30.1312420535,
        ],
        [
            0.99,
            0.000204443434522,
            -0.0204442019637,
            2.04440904752,
            0.0142983717437,
            -1.42982727895,
            0.00173202213629,
            -577.359826441,
            0.98666667,
            1.333332,
            69.2820161369,
            95.2628999538,
        ],
        [
            0.999,
            2.04444442974e-6,
            -0.00204444440868,
            2.04444439063,
            0.00142984070083,
            -1.4298406861,
            5.4772253758e-5,
            -18257.4192477,
            0.998666666667,
            1.333333332,
            219.089022951,
            301.247407406,
        ],
    ];

    fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
        let err = (got - want).abs() / want.abs().max(f64::MIN_POSITIVE);
        assert!(
            err <= tol,
            "{what}: got {got:e}, want {want:e}, rel err {err:e} > {tol:e}"
        );
    }

    fn assert_abs(got: f64, want: f64, tol: f64, what: &str) {
        assert!(
            (got - want).abs() <= tol,
            "{what}: got {got:e}, want {want:e}, tol {tol:e}"
        );
    }

    fn ode_cfg() -> AgmConfig {
        AgmConfig {
            de_type: DeType::ProbOde,
            ..AgmConfig::default()
        }
    }

    #[test]
    fn reference_table_all_columns() {
        let sde = AgmConfig::default();
        let ode = ode_cfg();
        for row in TABLE {
            let t = row[0];
            let c = cov(&sde, t);
            let l = cholesky(&sde, t);
            let (c_x, c_v) = bridge_mean_coeffs(t);
            // At t = 0.999, L_vv = sqrt(S_vv - L_xv^2) cancels ~9 digits (methods.md 1.9):
            // L_vv, ell and both normalisers (dominated by L_vv there) get 1e-6.
            let late = if t > 0.998 { 1e-6 } else { 1e-9 };
            let got = [
                (c.xx, 1e-9),
                (c.xv, 1e-9),
                (c.vv, 1e-9),
                (l.lxx, 1e-9),
                (l.lxv, 1e-9),
                (l.lvv, late),
                (ell(&sde, t), late),
                (c_x, 1e-9),
                (c_v, 1e-9),
                (normalizer(&sde, t), late),
                (normalizer(&ode, t), late),
            ];
            let names = [
                "Sxx", "Sxv", "Svv", "Lxx", "Lxv", "Lvv", "ell", "c_x", "c_v", "N_SDE", "N_ODE",
            ];
            for (col, ((value, tol), name)) in got.iter().zip(names).enumerate() {
                assert_rel(*value, row[col + 1], *tol, &format!("{name} at t = {t}"));
            }
        }
    }

    #[test]
    fn prior_covariance_at_zero_has_negative_correlation() {
        let cfg = AgmConfig {
            k: 0.5,
            varx: 2.0,
            varv: 0.5,
            ..AgmConfig::default()
        };
        let c = cov(&cfg, 0.0);
        let p = prior_cov(&cfg);
        assert_abs(c.xx, 2.0, 1e-15, "Sxx(0)");
        assert_abs(c.xv, -0.5, 1e-15, "Sxv(0) = -k sqrt(varx varv)");
        assert_abs(c.vv, 0.5, 1e-15, "Svv(0)");
        assert_eq!(
            p,
            Cov2 {
                xx: 2.0,
                xv: -0.5,
                vv: 0.5
            }
        );
        let q = noise_cov(&cfg, 0.0);
        assert_eq!((q.xx, q.xv, q.vv), (0.0, 0.0, 0.0));
    }

    /// RK4 of the Lyapunov ODE S' = A S + S A^T + diag(0, g^2) with
    /// A = [[0, 1], [-4/(1-t)^2, -4/(1-t)]] from `start` at t = 0; returns S at each checkpoint.
    fn lyapunov_rk4(cfg: &AgmConfig, start: [f64; 3], checkpoints: &[f64]) -> Vec<[f64; 3]> {
        let rhs = |t: f64, s: [f64; 3]| {
            let a = -4.0 / ((1.0 - t) * (1.0 - t));
            let b = -4.0 / (1.0 - t);
            let g = cfg.p * (1.0 - t);
            [
                2.0 * s[1],
                s[2] + a * s[0] + b * s[1],
                2.0 * (a * s[1] + b * s[2]) + g * g,
            ]
        };
        let axpy =
            |s: [f64; 3], h: f64, k: [f64; 3]| [s[0] + h * k[0], s[1] + h * k[1], s[2] + h * k[2]];
        let mut out = Vec::new();
        let mut s = start;
        let mut t = 0.0;
        for &target in checkpoints {
            let steps = ((target - t) / 2e-6).ceil() as usize;
            let h = (target - t) / steps as f64;
            for _ in 0..steps {
                let k1 = rhs(t, s);
                let k2 = rhs(t + 0.5 * h, axpy(s, 0.5 * h, k1));
                let k3 = rhs(t + 0.5 * h, axpy(s, 0.5 * h, k2));
                let k4 = rhs(t + h, axpy(s, h, k3));
                for i in 0..3 {
                    s[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
                t += h;
            }
            t = target;
            out.push(s);
        }
        out
    }

    #[test]
    fn covariance_matches_lyapunov_integration() {
        let cfg = AgmConfig {
            p: 1.5,
            k: 0.5,
            varx: 2.0,
            varv: 0.5,
            ..AgmConfig::default()
        };
        let p0 = prior_cov(&cfg);
        let times = [0.1, 0.3, 0.5, 0.9, 0.99];
        let integrated = lyapunov_rk4(&cfg, [p0.xx, p0.xv, p0.vv], &times);
        for (&t, s) in times.iter().zip(&integrated) {
            let c = cov(&cfg, t);
            // RK4 with h = 2e-6 is accurate to ~1e-12 relative here; 1e-9 leaves margin.
            assert_rel(c.xx, s[0], 1e-9, &format!("Sxx at {t}"));
            assert_rel(c.xv, s[1], 1e-9, &format!("Sxv at {t}"));
            assert_rel(c.vv, s[2], 1e-9, &format!("Svv at {t}"));
        }
    }

    #[test]
    fn noise_covariance_matches_lyapunov_from_zero_on_both_branches() {
        // Starting from S = 0 the Lyapunov solution is Q(t) alone; times straddle the series
        // switch at t = 1 - exp(-1/6) = 0.1535.
        let cfg = AgmConfig::default();
        let times = [0.001, 0.05, 0.15, 0.157, 0.4, 0.95];
        let integrated = lyapunov_rk4(&cfg, [0.0; 3], &times);
        for (&t, s) in times.iter().zip(&integrated) {
            let q = noise_cov(&cfg, t);
            assert_rel(q.xx, s[0], 1e-8, &format!("Qxx at {t}"));
            assert_rel(q.xv, s[1], 1e-8, &format!("Qxv at {t}"));
            assert_rel(q.vv, s[2], 1e-8, &format!("Qvv at {t}"));
        }
        // Leading small-t behaviour: Q ~ p^2 (t^3/3, t^2/2, t); next terms are O(t) relative.
        let t = 1e-7;
        let q = noise_cov(&cfg, t);
        assert_rel(q.xx, 9.0 * t * t * t / 3.0, 1e-6, "Qxx small t");
        assert_rel(q.xv, 9.0 * t * t / 2.0, 1e-6, "Qxv small t");
        assert_rel(q.vv, 9.0 * t, 1e-6, "Qvv small t");
    }

    #[test]
    fn mean_and_transition_follow_the_closed_loop_dynamics() {
        // Central differences (h = 1e-5, error ~1e-10) against mu_x' = mu_v,
        // mu_v' = a*(mu_x, mu_v, t | x1) and Phi' = A Phi.
        let h = 1e-5;
        for t in [0.05, 0.3, 0.6, 0.9] {
            let s = 1.0 - t;
            let (cx, cv) = bridge_mean_coeffs(t);
            let (cxp, cvp) = bridge_mean_coeffs(t + h);
            let (cxm, cvm) = bridge_mean_coeffs(t - h);
            assert_abs((cxp - cxm) / (2.0 * h), cv, 1e-8, "c_x' = c_v");
            let accel = 4.0 * (1.0 - cx - s * cv) / (s * s);
            assert_abs((cvp - cvm) / (2.0 * h), accel, 1e-8, "c_v' = a*");
            let (p, pp, pm) = (transition(t), transition(t + h), transition(t - h));
            let (a, b) = (-4.0 / (s * s), -4.0 / s);
            let d = |f: fn(&Mat2) -> f64| (f(&pp) - f(&pm)) / (2.0 * h);
            assert_abs(d(|m| m.xx), p.vx, 1e-8, "Phi_xx'");
            assert_abs(d(|m| m.xv), p.vv, 1e-8, "Phi_xv'");
            assert_abs(d(|m| m.vx), a * p.xx + b * p.vx, 1e-7, "Phi_vx'");
            assert_abs(d(|m| m.vv), a * p.xv + b * p.vv, 1e-7, "Phi_vv'");
        }
        let p0 = transition(0.0);
        assert_eq!((p0.xx, p0.xv, p0.vx, p0.vv), (1.0, 0.0, 0.0, 1.0));
        assert_eq!(bridge_mean_coeffs(0.0), (0.0, 0.0));
    }

    /// `score_v = -(S^{-1} (m - mu))_v` from the full 2x2 covariance (independent of the
    /// Cholesky route the module uses).
    fn velocity_score(cfg: &AgmConfig, t: f64, x: f64, v: f64, x1: f64) -> f64 {
        let c = cov(cfg, t);
        let (cx, cv) = bridge_mean_coeffs(t);
        let (dx, dv) = (x - cx * x1, v - cv * x1);
        let det = c.xx * c.vv - c.xv * c.xv;
        -(-c.xv * dx + c.xx * dv) / det
    }

    /// The un-normalised exact labels at (x, v, t) for data x1.
    fn exact_label(cfg: &AgmConfig, de: DeType, t: f64, x: f64, v: f64, x1: f64) -> f64 {
        let s = 1.0 - t;
        let a_star = 4.0 / s * ((x1 - x) / s - v);
        match de {
            DeType::Sde => a_star,
            DeType::ProbOde => {
                let gt = cfg.p * s;
                a_star - 0.5 * gt * gt * velocity_score(cfg, t, x, v, x1)
            }
        }
    }

    #[test]
    fn training_targets_match_closed_forms() {
        let d = 3;
        let mut r = rng(11, 0);
        let x1: Vec<f64> = (0..600 * d).map(|_| 2.0 * crate::normal(&mut r)).collect();
        for de in [DeType::Sde, DeType::ProbOde] {
            let cfg = AgmConfig {
                de_type: de,
                ..AgmConfig::default()
            };
            let rows = training_rows(&cfg, &x1, d, &mut rng(5, 1));
            assert_eq!(rows.time.len(), 600);
            for (i, &t) in rows.time.iter().enumerate() {
                assert!(t >= cfg.t0 && t < cfg.t_end);
                assert_rel(rows.weight[i], 1.0 / (1.0 - t), 1e-15, "reciprocal weight");
                let norm = normalizer(&cfg, t);
                for j in 0..d {
                    let x = rows.state[i * 2 * d + j];
                    let v = rows.state[i * 2 * d + d + j];
                    let want = exact_label(&cfg, de, t, x, v, x1[i * d + j]) / norm;
                    let got = rows.target[i * d + j];
                    assert_abs(
                        got,
                        want,
                        1e-9 * (1.0 + want.abs()),
                        &format!("{de:?} target, t = {t}"),
                    );
                }
            }
        }
    }

    #[test]
    fn training_states_have_the_bridge_moments() {
        // t pinned to 0.6 (t_end - t0 = 1e-12), fixed data: pooled moments of both coordinates
        // must match mu and cov(0.6) within 5 standard errors.
        let cfg = AgmConfig {
            t0: 0.6,
            t_end: 0.6 + 1e-12,
            ..AgmConfig::default()
        };
        let rows = 100_000;
        let data = [0.7, -0.3];
        let x1: Vec<f64> = (0..rows).flat_map(|_| data).collect();
        let b = training_rows(&cfg, &x1, 2, &mut rng(3, 0));
        let (cx, cv) = bridge_mean_coeffs(0.6);
        let c = cov(&cfg, 0.6);
        let (mut sxx, mut sxv, mut svv, mut mx, mut mv) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for row in b.state.chunks_exact(4) {
            for j in 0..2 {
                let dx = row[j] - cx * data[j];
                let dv = row[2 + j] - cv * data[j];
                mx += dx;
                mv += dv;
                sxx += dx * dx;
                sxv += dx * dv;
                svv += dv * dv;
            }
        }
        let n = (2 * rows) as f64;
        let se = |var: f64| 5.0 * (var / n).sqrt();
        assert_abs(mx / n, 0.0, se(c.xx), "mean x");
        assert_abs(mv / n, 0.0, se(c.vv), "mean v");
        assert_abs(sxx / n, c.xx, se(2.0 * c.xx * c.xx), "var x");
        assert_abs(svv / n, c.vv, se(2.0 * c.vv * c.vv), "var v");
        assert_abs(sxv / n, c.xv, se(c.xx * c.vv + c.xv * c.xv), "cov xv");
    }

    #[test]
    fn training_batch_is_deterministic_f32_cast_with_weights() {
        let x1: Vec<f32> = (0..40).map(|i| i as f32 * 0.1 - 2.0).collect();
        for (w, want) in [
            (
                Weighting::Reciprocal,
                (|t: f64| 1.0 / (1.0 - t)) as fn(f64) -> f64,
            ),
            (Weighting::Ones, |_| 1.0),
            (Weighting::ReciprocalInv, |t| 1.0 / t),
        ] {
            let cfg = AgmConfig {
                weighting: w,
                ..AgmConfig::default()
            };
            let a = training_batch(&cfg, &x1, 2, &mut rng(9, 4));
            let b = training_batch(&cfg, &x1, 2, &mut rng(9, 4));
            assert_eq!(a, b);
            assert_eq!((a.rows(), a.state.len(), a.target.len()), (20, 80, 40));
            let x1d: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
            let f = training_rows(&cfg, &x1d, 2, &mut rng(9, 4));
            assert_eq!(a.time, f.time);
            assert!(a.state.iter().zip(&f.state).all(|(&s, &g)| s == g as f32));
            assert!(a.target.iter().zip(&f.target).all(|(&s, &g)| s == g as f32));
            for (&wt, &t) in a.weight.iter().zip(&a.time) {
                assert_eq!(wt, want(t) as f32);
            }
            let c = training_batch(&cfg, &x1, 2, &mut rng(10, 4));
            assert_ne!(a.state, c.state);
        }
    }

    #[test]
    fn hop_recovers_data_from_exact_labels() {
        let x1 = [0.37, -1.2, 2.5];
        let eps = [(0.3, -1.1), (-1.7, 0.4), (0.9, 2.2)];
        for de in [DeType::Sde, DeType::ProbOde] {
            let cfg = AgmConfig {
                de_type: de,
                ..AgmConfig::default()
            };
            for t in [0.05, 0.3, 0.7, 0.95, 0.999] {
                let (cx, cv) = bridge_mean_coeffs(t);
                let l = cholesky(&cfg, t);
                let mut xs = Vec::new();
                let mut vs = Vec::new();
                let mut fs = Vec::new();
                for (&d1, &(ex, ev)) in x1.iter().zip(&eps) {
                    let x = cx * d1 + l.lxx * ex;
                    let v = cv * d1 + l.lxv * ex + l.lvv * ev;
                    xs.push(x);
                    vs.push(v);
                    fs.push(exact_label(&cfg, de, t, x, v, d1));
                }
                let est = estimate_x1(&cfg, t, &xs, &vs, &fs).unwrap();
                // ProbODE at 0.999 inherits the ~1e-7 relative error of L_vv (1.9).
                let tol = if de == DeType::ProbOde && t > 0.998 {
                    1e-6
                } else {
                    1e-9
                };
                for (&e, &d1) in est.iter().zip(&x1) {
                    assert_abs(
                        e,
                        d1,
                        tol * (1.0 + d1.abs()),
                        &format!("{de:?} hop at t = {t}"),
                    );
                }
            }
        }
        assert!(estimate_x1(&AgmConfig::default(), 0.5, &[1.0], &[], &[1.0]).is_err());
    }

    #[test]
    fn grids_match_the_official_discretiser() {
        let (t0, te) = (1e-5, 0.999);
        let (ts, dts) = grid_times(&TimeGrid::Uniform, t0, te, 10).unwrap();
        assert_eq!((ts.len(), dts.len(), ts[0]), (10, 10, t0));
        assert_abs(ts[9] + dts[9], te, 1e-15, "uniform ends at T");
        assert_abs(dts.iter().sum::<f64>(), te - t0, 1e-15, "uniform step sum");
        assert!(dts.iter().all(|&h| (h - (te - t0) / 10.0).abs() < 1e-15));

        let (ts, dts) = grid_times(&TimeGrid::Quad, t0, te, 8).unwrap();
        assert_eq!((ts.len(), dts.len(), ts[0]), (8, 8, t0));
        assert_eq!(ts[7] + dts[7], te);
        for (i, &t) in ts.iter().enumerate() {
            let want = (t0 * t0 + i as f64 * (te * te - t0 * t0) / 8.0).sqrt();
            assert_abs(t, want, 1e-15, "quad point");
        }

        let (ts, dts) = grid_times(&TimeGrid::RevQuad { order: 2 }, t0, 0.9, 6).unwrap();
        assert_eq!((ts.len(), dts.len(), ts[0], ts[5]), (6, 6, t0, 0.9));
        assert_abs(dts[5], REV_QUAD_END - 0.9, 1e-15, "rev-quad final step");
        assert_abs(
            dts[..5].iter().sum::<f64>(),
            0.9 - t0,
            1e-15,
            "rev-quad step sum",
        );
        let step = (0.9f64.sqrt() - t0.sqrt()) / 5.0;
        for (i, &t) in ts.iter().enumerate() {
            assert_abs(
                t,
                (t0.sqrt() + i as f64 * step).powi(2),
                1e-15,
                "rev-quad point",
            );
        }
        let (_, dts) = grid_times(&TimeGrid::RevQuad { order: 2 }, t0, te, 5).unwrap();
        assert_eq!(dts[4], 0.0);

        let bad = [
            grid_times(&TimeGrid::Uniform, t0, te, 0),
            grid_times(&TimeGrid::Uniform, 0.5, 0.4, 3),
            grid_times(&TimeGrid::Uniform, 0.0, 1.0, 3),
            grid_times(&TimeGrid::RevQuad { order: 2 }, t0, te, 1),
            grid_times(&TimeGrid::RevQuad { order: 0 }, t0, te, 4),
            grid_times(&TimeGrid::RevQuad { order: 2 }, t0, 0.9995, 4),
        ];
        assert!(
            bad.iter()
                .all(|r| matches!(r, Err(DynamicsError::InvalidConfig(_))))
        );
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let rule = gauss_legendre(GAUSS_NODES);
        for k in 0..64 {
            let got: f64 = rule.iter().map(|&(z, w)| w * z.powi(k)).sum();
            let want = if k % 2 == 0 {
                2.0 / (k as f64 + 1.0)
            } else {
                0.0
            };
            assert_abs(got, want, 1e-14, &format!("int z^{k}"));
        }
    }

    /// Composite Simpson with `panels` panels (even).
    fn simpson(a: f64, b: f64, panels: usize, f: impl Fn(f64) -> f64) -> f64 {
        let h = (b - a) / panels as f64;
        let inner: f64 = (1..panels)
            .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        h / 3.0 * (f(a) + f(b) + inner)
    }

    #[test]
    fn gddim_coefficients_match_a_fine_composite_rule() {
        let cfg = ode_cfg();
        let grids = [
            grid_times(&TimeGrid::RevQuad { order: 2 }, cfg.t0, 0.9, 6).unwrap(),
            grid_times(&TimeGrid::Uniform, cfg.t0, cfg.t_end, 4).unwrap(),
        ];
        for (ts, dts) in grids {
            let coeffs = gddim_coefficients(&cfg, &ts, &dts, 2).unwrap();
            for (i, row) in coeffs.iter().enumerate() {
                let r = i.min(2);
                assert_eq!(row.len(), r + 1);
                let (a, b) = (ts[i], ts[i] + dts[i]);
                for (j, &[c_ij, d_ij]) in row.iter().enumerate() {
                    let basis = |s: f64| {
                        (0..=r)
                            .filter(|&k| k != j)
                            .map(|k| (s - ts[i - k]) / (ts[i - j] - ts[i - k]))
                            .product::<f64>()
                    };
                    let n_ode = |s: f64| normalizer(&cfg, s);
                    let want_c = simpson(a, b, 200_000, |s| (b - s) * n_ode(s) * basis(s));
                    let want_d = simpson(a, b, 200_000, |s| n_ode(s) * basis(s));
                    let scale = want_d.abs().max(1e-300);
                    assert_abs(c_ij, want_c, 1e-9 * scale.max(want_c.abs()), "C_ij");
                    assert_abs(d_ij, want_d, 1e-9 * scale, "D_ij");
                }
            }
        }
    }

    /// The exact conditional field for one data point: raw net output (label / normaliser).
    fn exact_field(cfg: &AgmConfig, x1: Vec<f64>) -> FnField<impl FnMut(f64, &[f64], &mut [f64])> {
        let d = x1.len();
        let cfg = cfg.clone();
        FnField::new(2 * d, d, move |t, state, out| {
            let norm = normalizer(&cfg, t);
            for (row, o) in state.chunks_exact(2 * d).zip(out.chunks_exact_mut(d)) {
                for j in 0..d {
                    o[j] = exact_label(&cfg, cfg.de_type, t, row[j], row[d + j], x1[j]) / norm;
                }
            }
        })
    }

    fn mean_abs_error(pos: &[f64], target: &[f64]) -> f64 {
        let d = target.len();
        pos.iter()
            .enumerate()
            .map(|(i, &x)| (x - target[i % d]).abs())
            .sum::<f64>()
            / pos.len() as f64
    }

    #[test]
    fn sss_with_the_exact_field_lands_on_the_data_point() {
        let cfg = AgmConfig::default();
        let target = vec![0.8, -0.5];
        let (n, d) = (400, 2);
        // (grid, nfe, bound on the mean |x - x1*| of the final positions). The bridge itself
        // ends with std sqrt(S_xx(0.999)) = 1.4e-3 (mean |.| ~ 1.1e-3); the code's extra free
        // flight v dt_last (|v| ~ 1.4) dominates on coarse grids.
        for (grid, nfe, bound) in [
            (TimeGrid::Uniform, 200, 3e-3),
            (TimeGrid::Uniform, 10, 0.3),
            (TimeGrid::RevQuad { order: 2 }, 50, 0.06),
        ] {
            let mut field = exact_field(&cfg, target.clone());
            let hop = sample_sss(&cfg, &grid, nfe, true, &mut field, n, d, &mut rng(1, 0)).unwrap();
            assert_eq!(field.calls, nfe as u64);
            for (i, &h) in hop.iter().enumerate() {
                assert_abs(
                    h,
                    target[i % d],
                    1e-9,
                    "sss hop returns x1* for the exact field",
                );
            }
            let mut field = exact_field(&cfg, target.clone());
            let pos =
                sample_sss(&cfg, &grid, nfe, false, &mut field, n, d, &mut rng(1, 0)).unwrap();
            assert_eq!(field.calls, nfe as u64);
            let err = mean_abs_error(&pos, &target);
            assert!(
                err < bound,
                "sss {grid:?} nfe {nfe}: mean |x - x1*| = {err:e} >= {bound:e}"
            );
            // Same seed, same output; another seed, another output.
            let mut field = exact_field(&cfg, target.clone());
            let again =
                sample_sss(&cfg, &grid, nfe, false, &mut field, n, d, &mut rng(1, 0)).unwrap();
            assert_eq!(pos, again);
            let mut field = exact_field(&cfg, target.clone());
            let other =
                sample_sss(&cfg, &grid, nfe, false, &mut field, n, d, &mut rng(2, 0)).unwrap();
            assert_ne!(pos, other);
        }
        // Without noise and with a zero field, one SSS step from a point is pure free flight:
        // replicate the documented output x_half + v dt (no second half step).
        let tiny = AgmConfig {
            p: 1e-300,
            ..AgmConfig::default()
        };
        let mut zero = FnField::new(2, 1, |_, _, o: &mut [f64]| o.fill(0.0));
        let pos = sample_sss(
            &tiny,
            &TimeGrid::Uniform,
            1,
            false,
            &mut zero,
            3,
            1,
            &mut rng(4, 0),
        )
        .unwrap();
        let m0 = sample_prior(&tiny, 3, 1, &mut rng(4, 0));
        let dt = tiny.t_end - tiny.t0;
        for (row, &x) in m0.chunks_exact(2).zip(&pos) {
            assert_abs(x, row[0] + 1.5 * dt * row[1], 1e-12, "x0 + (dt/2 + dt) v0");
        }
    }

    #[test]
    fn sss_half_step_noise_is_the_decaying_free_flight_covariance() {
        // From x = v = 0, one half step adds noise with covariance
        // int_0^h [(h - tau)^2, (h - tau), 1] q^2 (1 - tau)^2 dtau (Simpson here); 5 standard errors.
        let (q, h, rows) = (2.1, 0.3, 200_000);
        let mut state = vec![0.0; rows * 2];
        let mut noise = vec![0.0; 2];
        sss_half_step(&mut state, 1, q, h, &mut noise, &mut rng(6, 0));
        let w = |tau: f64| q * q * (1.0 - tau) * (1.0 - tau);
        let want_xx = simpson(0.0, h, 1000, |tau| (h - tau) * (h - tau) * w(tau));
        let want_xv = simpson(0.0, h, 1000, |tau| (h - tau) * w(tau));
        let want_vv = simpson(0.0, h, 1000, w);
        let (mut sxx, mut sxv, mut svv) = (0.0, 0.0, 0.0);
        for r in state.chunks_exact(2) {
            sxx += r[0] * r[0];
            sxv += r[0] * r[1];
            svv += r[1] * r[1];
        }
        let n = rows as f64;
        let se = |var: f64| 5.0 * (var / n).sqrt();
        assert_abs(
            sxx / n,
            want_xx,
            se(2.0 * want_xx * want_xx),
            "half-step xx",
        );
        assert_abs(
            svv / n,
            want_vv,
            se(2.0 * want_vv * want_vv),
            "half-step vv",
        );
        assert_abs(
            sxv / n,
            want_xv,
            se(want_xx * want_vv + want_xv * want_xv),
            "half-step xv",
        );
        // A zero-length step adds nothing (and no NaN).
        let mut still = vec![0.5, -0.25];
        sss_half_step(&mut still, 1, q, 0.0, &mut noise, &mut rng(6, 0));
        assert_eq!(still, vec![0.5, -0.25]);
    }

    #[test]
    fn sss_two_steps_by_hand_without_noise() {
        // p = 1e-300 makes every half-step noise exactly 0 (q^2 underflows); a constant raw output
        // c then gives the documented two-step recursion written out by hand here.
        let cfg = AgmConfig {
            p: 1e-300,
            ..AgmConfig::default()
        };
        let c = 0.7;
        let dt = (cfg.t_end - cfg.t0) / 2.0;
        let (t_a, t_b) = (cfg.t0, cfg.t0 + dt);
        let (n_a, n_b) = (normalizer(&cfg, t_a), normalizer(&cfg, t_b));
        let m0 = sample_prior(&cfg, 4, 1, &mut rng(2, 0));
        for hop in [false, true] {
            let mut field = FnField::new(2, 1, |_, _, o: &mut [f64]| o.fill(c));
            let out = sample_sss(
                &cfg,
                &TimeGrid::Uniform,
                2,
                hop,
                &mut field,
                4,
                1,
                &mut rng(2, 0),
            );
            for (row, &got) in m0.chunks_exact(2).zip(&out.unwrap()) {
                let (x0, v0) = (row[0], row[1]);
                let x1 = x0 + 0.5 * dt * v0; // first half step of step 1
                let v1 = v0 + n_a * c * dt; // kick at t_a
                let x2 = x1 + 0.5 * dt * v1; // second half step of step 1
                let x3 = x2 + 0.5 * dt * v1; // first half step of step 2 (evaluated here)
                let v3 = v1 + n_b * c * dt; // kick at t_b
                let want = if hop {
                    let s = 1.0 - t_b;
                    x3 + s * (v1 + n_b * c / (4.0 / s))
                } else {
                    x3 + v3 * dt
                };
                assert_abs(got, want, 1e-12, &format!("sss by hand, hop = {hop}"));
            }
        }
    }

    #[test]
    fn sss_noise_accumulates_with_the_codes_intensity() {
        // Zero field, (almost) zero prior: x_final = sum over the three used half steps k of
        // xi_x,k + tau_k xi_v,k, tau_k = free flight after k (2 dt, 1.5 dt, dt); the fourth half
        // step is discarded. Intensity q_k = p (1 - t) of the step's grid time.
        let cfg = AgmConfig {
            varx: 1e-20,
            varv: 1e-20,
            ..AgmConfig::default()
        };
        let rows = 200_000;
        let mut zero = FnField::new(2, 1, |_, _, o: &mut [f64]| o.fill(0.0));
        let x = sample_sss(
            &cfg,
            &TimeGrid::Uniform,
            2,
            false,
            &mut zero,
            rows,
            1,
            &mut rng(3, 0),
        )
        .unwrap();
        let dt = (cfg.t_end - cfg.t0) / 2.0;
        let h = 0.5 * dt;
        let mut want = 0.0;
        for (t, tau) in [(cfg.t0, 2.0 * dt), (cfg.t0, 1.5 * dt), (cfg.t0 + dt, dt)] {
            let q = cfg.p * (1.0 - t);
            let w = |u: f64| q * q * (1.0 - u) * (1.0 - u);
            let qxx = simpson(0.0, h, 1000, |u| (h - u) * (h - u) * w(u));
            let qxv = simpson(0.0, h, 1000, |u| (h - u) * w(u));
            let qvv = simpson(0.0, h, 1000, w);
            want += qxx + 2.0 * tau * qxv + tau * tau * qvv;
        }
        let n = rows as f64;
        let var = x.iter().map(|v| v * v).sum::<f64>() / n;
        assert_abs(
            var,
            want,
            5.0 * (2.0 * want * want / n).sqrt(),
            "final position variance",
        );
    }

    #[test]
    fn gddim_hop_with_the_exact_field_returns_the_data_point() {
        let target = vec![0.8, -0.5];
        let (n, d) = (300, 2);
        for (grid, nfe, t_end) in [
            (TimeGrid::RevQuad { order: 2 }, 20, 0.999),
            (TimeGrid::RevQuad { order: 2 }, 10, 0.7),
            (TimeGrid::Uniform, 30, 0.999),
            (TimeGrid::Quad, 30, 0.9),
        ] {
            let cfg = AgmConfig { t_end, ..ode_cfg() };
            for order in [0, 1, 2, 3] {
                let mut field = exact_field(&cfg, target.clone());
                let hop = sample_gddim(
                    &cfg,
                    &grid,
                    nfe,
                    order,
                    true,
                    &mut field,
                    n,
                    d,
                    &mut rng(1, 0),
                )
                .unwrap();
                assert_eq!(field.calls, nfe as u64);
                // 1e-6: the probODE inversion near t = 0.999 inherits L_vv's cancellation.
                for (i, &h) in hop.iter().enumerate() {
                    assert_abs(
                        h,
                        target[i % d],
                        1e-6,
                        "gddim hop returns x1* for the exact field",
                    );
                }
                let mut field = exact_field(&cfg, target.clone());
                let pos = sample_gddim(
                    &cfg,
                    &grid,
                    nfe,
                    order,
                    false,
                    &mut field,
                    n,
                    d,
                    &mut rng(1, 0),
                )
                .unwrap();
                assert_eq!(field.calls, nfe as u64);
                let mut field = exact_field(&cfg, target.clone());
                let again = sample_gddim(
                    &cfg,
                    &grid,
                    nfe,
                    order,
                    false,
                    &mut field,
                    n,
                    d,
                    &mut rng(1, 0),
                )
                .unwrap();
                assert_eq!(pos, again);
            }
        }
    }

    #[test]
    fn gddim_converges_to_the_probability_flow_solution_with_its_order() {
        // Reference: fine RK4 of the same ODE through prob_ode_velocity from the same prior draw.
        let cfg = ode_cfg();
        let target = vec![0.8, -0.5];
        let (n, d) = (4, 2);
        let m0 = sample_prior(&cfg, n, d, &mut rng(1, 0));
        let reference = rk4_prob_ode(&cfg, &target, &m0, d, cfg.t0, REV_QUAD_END);
        let max_err = |nfe: usize, order: usize| {
            let mut field = exact_field(&cfg, target.clone());
            let grid = TimeGrid::RevQuad { order: 2 };
            let pos = sample_gddim(
                &cfg,
                &grid,
                nfe,
                order,
                false,
                &mut field,
                n,
                d,
                &mut rng(1, 0),
            )
            .unwrap();
            pos.chunks_exact(d)
                .zip(reference.chunks_exact(2 * d))
                .flat_map(|(p, r)| p.iter().zip(&r[..d]).map(|(a, b)| (a - b).abs()))
                .fold(0.0, f64::max)
        };
        // Measured: nfe 40 -> 1.4e-4 / 3.2e-5 / 3.7e-6 for r = 0 / 1 / 2; nfe 80, r = 2 -> 6e-8.
        let (e0, e1, e2) = (max_err(40, 0), max_err(40, 1), max_err(40, 2));
        assert!(
            e2 < e1 && e1 < e0,
            "higher order must be more accurate: {e0:e} {e1:e} {e2:e}"
        );
        assert!(e2 < 2e-5, "r = 2, nfe 40: {e2:e}");
        let e2_fine = max_err(80, 2);
        assert!(
            e2_fine < 1e-6 && e2_fine < e2 / 8.0,
            "r = 2, nfe 80: {e2_fine:e} vs {e2:e}"
        );
    }

    #[test]
    fn gddim_integrates_a_constant_field_exactly() {
        // A constant raw output c gives v = v0 + c int N_ODE and x = x0 + v0 (end - t0) +
        // c int (end - s) N_ODE(s) ds, for every order (the Lagrange weights sum to one).
        let cfg = AgmConfig {
            t_end: 0.95,
            ..ode_cfg()
        };
        let c = 0.25;
        let end = REV_QUAD_END;
        let int_n = simpson(cfg.t0, 0.95, 400_000, |s| normalizer(&cfg, s))
            + simpson(0.95, end, 400_000, |s| normalizer(&cfg, s));
        let int_xn = simpson(cfg.t0, 0.95, 400_000, |s| (end - s) * normalizer(&cfg, s))
            + simpson(0.95, end, 400_000, |s| (end - s) * normalizer(&cfg, s));
        let m0 = sample_prior(&cfg, 5, 1, &mut rng(8, 0));
        for order in [0, 2, 4] {
            let mut field = FnField::new(2, 1, |_, _, o: &mut [f64]| o.fill(c));
            let grid = TimeGrid::RevQuad { order: 2 };
            let pos = sample_gddim(
                &cfg,
                &grid,
                12,
                order,
                false,
                &mut field,
                5,
                1,
                &mut rng(8, 0),
            )
            .unwrap();
            for (row, &x) in m0.chunks_exact(2).zip(&pos) {
                let want = row[0] + row[1] * (end - cfg.t0) + c * int_xn;
                assert_abs(
                    x,
                    want,
                    1e-9 * (1.0 + want.abs()),
                    "constant-field position",
                );
            }
        }
        assert!(int_n > 0.0);
    }

    #[test]
    fn samplers_reject_the_wrong_de_type_and_bad_shapes() {
        let mut field = FnField::new(4, 2, |_, _, o: &mut [f64]| o.fill(0.0));
        let grid = TimeGrid::Uniform;
        let sde = AgmConfig::default();
        let ode = ode_cfg();
        let r = &mut rng(0, 0);
        assert!(matches!(
            sample_sss(&ode, &grid, 5, false, &mut field, 3, 2, r),
            Err(DynamicsError::InvalidConfig(_))
        ));
        assert!(matches!(
            sample_gddim(&sde, &grid, 5, 2, false, &mut field, 3, 2, r),
            Err(DynamicsError::InvalidConfig(_))
        ));
        assert!(sample_sss(&sde, &grid, 0, false, &mut field, 3, 2, r).is_err());
        assert!(sample_sss(&sde, &grid, 5, false, &mut field, 3, 3, r).is_err());
        let bad = AgmConfig {
            k: 1.0,
            ..AgmConfig::default()
        };
        assert!(sample_sss(&bad, &grid, 5, false, &mut field, 3, 2, r).is_err());
        assert_eq!(field.calls, 0);
        let mut nan = FnField::new(4, 2, |_, _, o: &mut [f64]| o.fill(f64::NAN));
        assert!(matches!(
            sample_sss(&sde, &grid, 2, false, &mut nan, 3, 2, r),
            Err(DynamicsError::Numerical(_))
        ));
    }

    #[test]
    fn velocity_fields_scale_by_the_normaliser() {
        let state = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let net = [0.5, -1.0, 2.0, 0.25];
        let mut out = [0.0; 8];
        let t = 0.4;
        let ode = ode_cfg();
        prob_ode_velocity(&ode, t, 2, &state, &net, &mut out).unwrap();
        let n_ode = normalizer(&ode, t);
        assert_eq!(&out[..2], &[3.0, 4.0]);
        assert_eq!(&out[4..6], &[7.0, 8.0]);
        assert_rel(out[2], 0.5 * n_ode, 1e-15, "v' row 0");
        assert_rel(out[7], 0.25 * n_ode, 1e-15, "v' row 1");
        let sde = AgmConfig::default();
        sde_velocity(&sde, t, 2, &state, &net, &mut out).unwrap();
        assert_rel(out[3], -normalizer(&sde, t), 1e-15, "sde v'");
        assert_rel(g(&sde, t), 3.0 * 0.6, 1e-15, "g");
        assert!(sde_velocity(&ode, t, 2, &state, &net, &mut out).is_err());
        assert!(prob_ode_velocity(&sde, t, 2, &state, &net, &mut out).is_err());
        assert!(prob_ode_velocity(&ode, t, 3, &state, &net, &mut out).is_err());
    }

    #[test]
    fn prior_samples_have_the_prior_covariance() {
        let cfg = AgmConfig {
            k: 0.6,
            varx: 2.0,
            varv: 0.5,
            ..AgmConfig::default()
        };
        let n = 100_000;
        let m = sample_prior(&cfg, n, 1, &mut rng(21, 0));
        let (mut sxx, mut sxv, mut svv) = (0.0, 0.0, 0.0);
        for row in m.chunks_exact(2) {
            sxx += row[0] * row[0];
            sxv += row[0] * row[1];
            svv += row[1] * row[1];
        }
        let (nf, p) = (n as f64, prior_cov(&cfg));
        let se = |var: f64| 5.0 * (var / nf).sqrt();
        assert_abs(sxx / nf, p.xx, se(2.0 * p.xx * p.xx), "prior var x");
        assert_abs(svv / nf, p.vv, se(2.0 * p.vv * p.vv), "prior var v");
        assert_abs(
            sxv / nf,
            p.xv,
            se(p.xx * p.vv + p.xv * p.xv),
            "prior cov xv (negative)",
        );
        assert!(sxv < 0.0);
    }

    #[test]
    fn config_defaults_serde_and_validation() {
        let cfg = AgmConfig::default();
        assert_eq!(
            (cfg.p, cfg.k, cfg.varx, cfg.varv, cfg.t0, cfg.t_end),
            (3.0, 0.2, 1.0, 1.0, 1e-5, 0.999)
        );
        assert_eq!(
            (cfg.de_type, cfg.weighting),
            (DeType::Sde, Weighting::Reciprocal)
        );
        cfg.validate().unwrap();
        let parsed: AgmConfig = serde_json::from_str(
            r#"{"de_type": "prob_ode", "weighting": "reciprocal_inv", "k": 0.5}"#,
        )
        .unwrap();
        assert_eq!(parsed.de_type, DeType::ProbOde);
        assert_eq!(parsed.weighting, Weighting::ReciprocalInv);
        assert_eq!(parsed.k, 0.5);
        let back: AgmConfig =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, parsed);
        assert!(serde_json::from_str::<AgmConfig>(r#"{"kk": 1}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Weighting::Ones).unwrap(),
            r#""ones""#
        );
        assert_eq!(serde_json::to_string(&TimeGrid::Quad).unwrap(), r#""quad""#);
        let g: TimeGrid = serde_json::from_str(r#"{"rev_quad": {"order": 2}}"#).unwrap();
        assert_eq!(g, TimeGrid::RevQuad { order: 2 });
        let bad = [
            (
                "p",
                AgmConfig {
                    p: 0.0,
                    ..cfg.clone()
                },
            ),
            (
                "k",
                AgmConfig {
                    k: -1.0,
                    ..cfg.clone()
                },
            ),
            (
                "varx",
                AgmConfig {
                    varx: f64::NAN,
                    ..cfg.clone()
                },
            ),
            (
                "varv",
                AgmConfig {
                    varv: -1.0,
                    ..cfg.clone()
                },
            ),
            (
                "t0",
                AgmConfig {
                    t0: -0.1,
                    ..cfg.clone()
                },
            ),
            (
                "t_end",
                AgmConfig {
                    t_end: 1.0,
                    ..cfg.clone()
                },
            ),
            (
                "t_end",
                AgmConfig {
                    t0: 0.5,
                    t_end: 0.5,
                    ..cfg.clone()
                },
            ),
            (
                "reciprocal_inv",
                AgmConfig {
                    t0: 0.0,
                    weighting: Weighting::ReciprocalInv,
                    ..cfg.clone()
                },
            ),
        ];
        for (field, c) in bad {
            match c.validate() {
                Err(DynamicsError::InvalidConfig(msg)) => assert!(msg.contains(field), "{msg}"),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    /// Fine RK4 of the probability-flow ODE [x, v]' = prob_ode_velocity(exact field), integrated
    /// in tau = -ln(1 - t) (uniform steps there resolve the 1/(1-t) stiffness near t = 1).
    fn rk4_prob_ode(
        cfg: &AgmConfig,
        x1: &[f64],
        m0: &[f64],
        d: usize,
        from: f64,
        to: f64,
    ) -> Vec<f64> {
        let mut field = exact_field(cfg, x1.to_vec());
        let mut rhs = |tau: f64, m: &[f64]| {
            let t = -(-tau).exp_m1();
            let mut net = vec![0.0; m.len() / 2];
            field.eval(t, m, &mut net).unwrap();
            let mut out = vec![0.0; m.len()];
            prob_ode_velocity(cfg, t, d, m, &net, &mut out).unwrap();
            // dm/dtau = (1 - t) dm/dt
            out.iter_mut().for_each(|o| *o *= 1.0 - t);
            out
        };
        let (a, b) = (-(-from).ln_1p(), -(-to).ln_1p());
        let steps = 40_000;
        let h = (b - a) / steps as f64;
        let mut m = m0.to_vec();
        for i in 0..steps {
            let tau = a + i as f64 * h;
            let k1 = rhs(tau, &m);
            let y: Vec<f64> = m.iter().zip(&k1).map(|(y, k)| y + 0.5 * h * k).collect();
            let k2 = rhs(tau + 0.5 * h, &y);
            let y: Vec<f64> = m.iter().zip(&k2).map(|(y, k)| y + 0.5 * h * k).collect();
            let k3 = rhs(tau + 0.5 * h, &y);
            let y: Vec<f64> = m.iter().zip(&k3).map(|(y, k)| y + h * k).collect();
            let k4 = rhs(tau + h, &y);
            for j in 0..m.len() {
                m[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
            }
        }
        m
    }
}
