//! CLD: critically-damped Langevin diffusion (methods.md §6) in phase space `(x, v)`: the
//! closed-form perturbation kernel (mean map, covariance, Cholesky factor, noise multiplier
//! `ell`), the HSM training batch (epsilon_v regression), and the samplers: SSCS (symmetric
//! splitting), Euler–Maruyama on the reverse SDE, and the probability-flow ODE right-hand side
//! for generic ODE solvers.
//!
//! # Time convention
//!
//! CLD is written in *native* time `t` (t = 0 data, t = 1 prior). The kernel functions
//! ([`beta`], [`integrated_beta`], [`mean_coeffs`], [`cov`], [`hsm_cov`]) take native `t`. At the
//! module boundary everything is in *engine* time `tau = 1 - t` (prior at tau = 0, data at
//! tau = 1): `TrainBatch::time`, the `t` given to [`Field::eval`], the time of
//! [`pf_ode_velocity`], the grid of [`time_grid`]. Engine time coincides with the "reverse time"
//! of the official sampler code.
//!
//! # Forward process and parametrisation
//!
//! `dx = M⁻¹ β v dt`, `dv = (-β x - Γ M⁻¹ β v) dt + sqrt(2 Γ β) dW`, with `M = 1/m_inv` and
//! critical damping `Γ = 2 sqrt(M)` (so `M⁻¹ = 4 g²`, `Γ M⁻¹ = 4 g` with `g = 1/Γ`, and the
//! drift matrix in units of `B = ∫β` has the double eigenvalue `-2g`). The network sees the
//! state `[x, v]` (2d wide) and returns `NN` (d wide); the velocity score is `s_v = ell(t) NN`
//! with `ell` from the HSM covariance (toy configuration, no mixed score).
//!
//! # Random draw order (determinism)
//!
//! * [`training_batch`]: per row, one uniform for t, then d normals `eps_x`, then d normals
//!   `eps_v`.
//! * Samplers: prior first, per row `x` (d normals) then `v` (d normals, scaled by sqrt(M)).
//!   SSCS: each analytic half step draws, per row, d normals for x then d for v; the score step
//!   draws nothing. Euler–Maruyama: each step draws n·d normals for v only (x has no noise),
//!   after the step's network call. The denoising step draws nothing.

use rand::Rng as _;

use crate::{DynamicsError, Field, Rng, TrainBatch, fill_normal, normal};

/// CLD settings (native time, t = 0 data). Defaults are the official toy/CIFAR values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CldConfig {
    /// beta at native t = 0 (`beta(t) = beta0 + beta1 t`).
    pub beta0: f64,
    /// Slope of beta in native time.
    pub beta1: f64,
    /// Inverse mass M⁻¹ (M = 1/m_inv; Γ = 2 sqrt(M) is derived, critical damping).
    pub m_inv: f64,
    /// Initial velocity variance factor: HSM starts from v0 ~ N(0, gamma M).
    pub gamma: f64,
    /// Added to Σxx and Σvv of the kernel so the Cholesky factor stays defined near t = 0.
    pub numerical_eps: f64,
    /// Lower end of the training time draw t ~ U(loss_eps, 1).
    pub loss_eps: f64,
    /// Native time where samplers stop before the optional denoising step.
    pub sample_eps: f64,
}

impl Default for CldConfig {
    fn default() -> Self {
        CldConfig {
            beta0: 4.0,
            beta1: 0.0,
            m_inv: 4.0,
            gamma: 0.04,
            numerical_eps: 1e-6,
            loss_eps: 1e-5,
            sample_eps: 1e-3,
        }
    }
}

impl CldConfig {
    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        let checks: [(bool, String); 7] = [
            (
                self.beta0.is_finite() && self.beta0 > 0.0,
                format!("cld.beta0 = {} must be finite and > 0", self.beta0),
            ),
            (
                self.beta1.is_finite() && self.beta1 >= 0.0,
                format!("cld.beta1 = {} must be finite and >= 0", self.beta1),
            ),
            (
                self.m_inv.is_finite() && self.m_inv > 0.0,
                format!("cld.m_inv = {} must be finite and > 0", self.m_inv),
            ),
            (
                self.gamma.is_finite() && self.gamma >= 0.0,
                format!("cld.gamma = {} must be finite and >= 0", self.gamma),
            ),
            (
                (0.0..1.0).contains(&self.numerical_eps),
                format!(
                    "cld.numerical_eps = {} must lie in [0, 1)",
                    self.numerical_eps
                ),
            ),
            (
                self.loss_eps > 0.0 && self.loss_eps < 1.0,
                format!("cld.loss_eps = {} must lie in (0, 1)", self.loss_eps),
            ),
            (
                self.sample_eps > 0.0 && self.sample_eps < 1.0,
                format!("cld.sample_eps = {} must lie in (0, 1)", self.sample_eps),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(DynamicsError::InvalidConfig(message)),
            None => Ok(()),
        }
    }

    /// The mass `M = 1 / m_inv`.
    pub fn mass(&self) -> f64 {
        1.0 / self.m_inv
    }

    /// The critical damping `Γ = 2 sqrt(M)`.
    pub fn damping(&self) -> f64 {
        2.0 * self.mass().sqrt()
    }

    /// The HSM initial velocity variance `gamma M`.
    pub fn initial_velocity_variance(&self) -> f64 {
        self.gamma * self.mass()
    }

    /// `g = 1/Γ`, the constant every closed form is written in.
    fn g(&self) -> f64 {
        1.0 / self.damping()
    }
}

fn invalid(message: String) -> DynamicsError {
    DynamicsError::InvalidConfig(message)
}

/// Time striding of the sampler grid (engine time from 0 to `1 - sample_eps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Striding {
    /// Even steps.
    #[default]
    #[serde(alias = "linear")]
    Uniform,
    /// `tau_k = tau_end (1 - (1 - k/N)²)`: steps shrink towards the data end.
    Quadratic,
}

/// `beta(t) = beta0 + beta1 t` at native time `t`.
pub fn beta(cfg: &CldConfig, t: f64) -> f64 {
    cfg.beta0 + cfg.beta1 * t
}

/// `B(t) = ∫_0^t beta = beta0 t + beta1 t²/2` at native time `t`.
pub fn integrated_beta(cfg: &CldConfig, t: f64) -> f64 {
    cfg.beta0 * t + 0.5 * cfg.beta1 * t * t
}

/// The linear mean map of the kernel: `mean_x = xx x0 + xv v0`, `mean_v = vx x0 + vv v0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanCoeffs {
    /// Weight of x0 in mean_x.
    pub xx: f64,
    /// Weight of v0 in mean_x.
    pub xv: f64,
    /// Weight of x0 in mean_v.
    pub vx: f64,
    /// Weight of v0 in mean_v.
    pub vv: f64,
}

/// Per-coordinate 2x2 covariance of `(x, v)` (shared by all d coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseCov {
    /// Var(x).
    pub xx: f64,
    /// Cov(x, v).
    pub xv: f64,
    /// Var(v).
    pub vv: f64,
}

/// Lower Cholesky factor of a [`PhaseCov`]: `x = lxx e_x`, `v = lxv e_x + lvv e_v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseCholesky {
    /// sqrt(Σxx).
    pub lxx: f64,
    /// Σxv / lxx.
    pub lxv: f64,
    /// sqrt(Σvv - lxv²).
    pub lvv: f64,
}

/// Transition matrix `exp(B A)` of the forward drift, `A = [[0, 4g²], [-1, -4g]]` per unit of
/// `B`; the repeated eigenvalue `-2g` gives `e^{-2gB} (I + B (A + 2g I))`.
fn transition(g: f64, b: f64) -> MeanCoeffs {
    let decay = (-2.0 * g * b).exp();
    MeanCoeffs {
        xx: decay * (1.0 + 2.0 * g * b),
        xv: decay * 4.0 * g * g * b,
        vx: -decay * b,
        vv: decay * (1.0 - 2.0 * g * b),
    }
}

/// `e^z - 1 - z - z²/2` without cancellation for small z (the series from z³/6 on).
fn exp_tail3(z: f64) -> f64 {
    if z.abs() < 0.5 {
        let mut term = z * z * z / 6.0;
        let mut sum = term;
        for k in 4..40 {
            term *= z / k as f64;
            sum += term;
            if term.abs() < 1e-18 * sum.abs() {
                break;
            }
        }
        sum
    } else {
        z.exp_m1() - z - 0.5 * z * z
    }
}

/// Covariance the forward process accumulates from a zero initial covariance over an interval
/// with `∫β = b`. With `y = 2gB` this is `Σxx = e^{-2y} (e^{2y} - 1 - 2y - 2y²)`,
/// `Σxv = 4 g B² e^{-2y}`, `Σvv = M (1 - e^{-2y} (1 - 2y + 2y²))`: the methods.md expressions
/// with Σ0 = 0, rearranged so the O(B³) value of Σxx at small B does not cancel.
fn noise_cov(g: f64, b: f64) -> PhaseCov {
    let y = 2.0 * g * b;
    let decay2 = (-2.0 * y).exp();
    let mass = 0.25 / (g * g);
    PhaseCov {
        xx: decay2 * exp_tail3(2.0 * y),
        xv: 4.0 * g * b * b * decay2,
        vv: mass * (-(-2.0 * y).exp_m1() + decay2 * (2.0 * y - 2.0 * y * y)),
    }
}

/// Mean map of the perturbation kernel from native time 0 to `t`:
/// `mean_x = e^{-2Bg}((1 + 2Bg) x0 + 4Bg² v0)`, `mean_v = e^{-2Bg}(-B x0 + (1 - 2Bg) v0)`.
pub fn mean_coeffs(cfg: &CldConfig, t: f64) -> MeanCoeffs {
    transition(cfg.g(), integrated_beta(cfg, t))
}

/// Kernel covariance at native time `t` from an initial covariance `diag(sxx0, svv0)`:
/// `Φ diag(sxx0, svv0) Φᵀ + Q(B)`, plus `numerical_eps` on both diagonal entries
/// (methods.md §6; algebraically the same expressions, arranged for accuracy at small t).
pub fn cov(cfg: &CldConfig, t: f64, sxx0: f64, svv0: f64) -> PhaseCov {
    let g = cfg.g();
    let b = integrated_beta(cfg, t);
    let phi = transition(g, b);
    let q = noise_cov(g, b);
    PhaseCov {
        xx: phi.xx * phi.xx * sxx0 + phi.xv * phi.xv * svv0 + q.xx + cfg.numerical_eps,
        xv: phi.xx * phi.vx * sxx0 + phi.xv * phi.vv * svv0 + q.xv,
        vv: phi.vx * phi.vx * sxx0 + phi.vv * phi.vv * svv0 + q.vv + cfg.numerical_eps,
    }
}

/// The HSM kernel covariance: `cov(cfg, t, 0, gamma M)` (x0 known, v0 ~ N(0, gamma M)).
pub fn hsm_cov(cfg: &CldConfig, t: f64) -> PhaseCov {
    cov(cfg, t, 0.0, cfg.initial_velocity_variance())
}

/// Cholesky factor `lxx = sqrt(Σxx)`, `lxv = Σxv/lxx`, `lvv = sqrt(Σvv - lxv²)`; fails with
/// [`DynamicsError::Numerical`] when the covariance is not positive definite (raise
/// `numerical_eps` then, as the official code advises).
pub fn cholesky(cov: &PhaseCov) -> Result<PhaseCholesky, DynamicsError> {
    let lxx = cov.xx.sqrt();
    let lxv = cov.xv / lxx;
    let schur = cov.vv - lxv * lxv;
    if !(lxx > 0.0 && lxx.is_finite() && schur > 0.0 && schur.is_finite()) {
        return Err(DynamicsError::Numerical(format!(
            "cld: covariance (xx {}, xv {}, vv {}) is not positive definite; increase numerical_eps",
            cov.xx, cov.xv, cov.vv
        )));
    }
    Ok(PhaseCholesky {
        lxx,
        lxv,
        lvv: schur.sqrt(),
    })
}

/// Noise multiplier `ell = -sqrt(Σxx / (Σxx Σvv - Σxv²))` (= `-1/lvv`): the velocity score of
/// the kernel is `ell eps_v`.
pub fn ell(cov: &PhaseCov) -> f64 {
    -(cov.xx / (cov.xx * cov.vv - cov.xv * cov.xv)).sqrt()
}

/// `ell` of the HSM kernel at native time `t`: the factor that turns the network output into
/// the velocity score.
pub fn hsm_ell(cfg: &CldConfig, t: f64) -> f64 {
    ell(&hsm_cov(cfg, t))
}

/// Engine-time integration window of the samplers: `(0, 1 - sample_eps)`.
pub fn sample_window(cfg: &CldConfig) -> (f64, f64) {
    (0.0, 1.0 - cfg.sample_eps)
}

/// `steps + 1` engine times from 0 to `1 - sample_eps` with the given striding.
pub fn time_grid(cfg: &CldConfig, steps: usize, striding: Striding) -> Vec<f64> {
    let end = 1.0 - cfg.sample_eps;
    (0..=steps)
        .map(|k| {
            let frac = k as f64 / steps as f64;
            match striding {
                _ if k == steps => end,
                Striding::Uniform => end * frac,
                Striding::Quadratic => end * (1.0 - (1.0 - frac).powi(2)),
            }
        })
        .collect()
}

/// HSM training batch from data rows `x1` (rows x d).
///
/// Per row, in order: `t ~ U(loss_eps, 1)` (native), `eps_x`, `eps_v ~ N(0, I_d)`; with the
/// HSM kernel (x0 = data, v0 marginalised into the covariance),
/// `x_t = m_xx x0 + lxx eps_x`, `v_t = m_vx x0 + lxv eps_x + lvv eps_v`. The state is
/// `[x_t, v_t]` (2d), the time is the engine time `1 - t`, the target is `eps_v` (d), the
/// weight is 1 (the `reweightedv2` loss `(s_v/ell - eps_v)²` with `s_v = ell NN`).
pub fn training_batch(
    cfg: &CldConfig,
    x1: &[f32],
    d: usize,
    rng: &mut Rng,
) -> Result<TrainBatch, DynamicsError> {
    cfg.validate()?;
    if d == 0 || !x1.len().is_multiple_of(d) {
        return Err(invalid(format!(
            "cld: data length {} must be a positive multiple of the width d = {d} (d >= 1)",
            x1.len()
        )));
    }
    let rows = x1.len() / d;
    let mut batch = TrainBatch::with_capacity(rows, 2 * d, d);
    let (mut eps_x, mut eps_v) = (vec![0.0; d], vec![0.0; d]);
    for row in x1.chunks_exact(d) {
        let t = cfg.loss_eps + (1.0 - cfg.loss_eps) * rng.random::<f64>();
        fill_normal(rng, &mut eps_x);
        fill_normal(rng, &mut eps_v);
        let mean = mean_coeffs(cfg, t);
        let l = cholesky(&hsm_cov(cfg, t))?;
        for (&x0, &ex) in row.iter().zip(&eps_x) {
            batch
                .state
                .push((mean.xx * f64::from(x0) + l.lxx * ex) as f32);
        }
        for ((&x0, &ex), &ev) in row.iter().zip(&eps_x).zip(&eps_v) {
            batch
                .state
                .push((mean.vx * f64::from(x0) + l.lxv * ex + l.lvv * ev) as f32);
        }
        batch.target.extend(eps_v.iter().map(|&e| e as f32));
        batch.time.push(1.0 - t);
        batch.weight.push(1.0);
    }
    Ok(batch)
}

/// Common sampler preconditions: valid config, n, d >= 1 and a field mapping 2d -> d.
fn check_sampler<F: Field + ?Sized>(
    cfg: &CldConfig,
    field: &F,
    nfe: usize,
    denoise: bool,
    n: usize,
    d: usize,
) -> Result<usize, DynamicsError> {
    cfg.validate()?;
    if n == 0 || d == 0 {
        return Err(invalid(format!(
            "cld sampler: rows n = {n} and width d = {d} must both be >= 1"
        )));
    }
    if field.state_dim() != 2 * d || field.out_dim() != d {
        return Err(invalid(format!(
            "cld sampler: field maps {} -> {} but must map [x, v] (2d = {}) -> d = {d}",
            field.state_dim(),
            field.out_dim(),
            2 * d
        )));
    }
    let min_nfe = if denoise { 2 } else { 1 };
    if nfe < min_nfe {
        return Err(invalid(format!(
            "cld sampler: nfe = {nfe} must be >= {min_nfe} (denoise = {denoise})"
        )));
    }
    Ok(if denoise { nfe - 1 } else { nfe })
}

/// Prior draw at native t = 1: per row, x ~ N(0, I_d) then v ~ N(0, M I_d); rows x 2d.
fn sample_prior(cfg: &CldConfig, n: usize, d: usize, rng: &mut Rng) -> Vec<f64> {
    let velocity_std = cfg.mass().sqrt();
    let mut u = vec![0.0; n * 2 * d];
    for row in u.chunks_exact_mut(2 * d) {
        let (x, v) = row.split_at_mut(d);
        fill_normal(rng, x);
        v.iter_mut().for_each(|vi| *vi = velocity_std * normal(rng));
    }
    u
}

/// Positions (rows x d) of a phase-space state (rows x 2d).
fn positions(u: &[f64], d: usize) -> Vec<f64> {
    u.chunks_exact(2 * d)
        .flat_map(|row| row[..d].iter().copied())
        .collect()
}

fn check_finite(u: &[f64], who: &str) -> Result<(), DynamicsError> {
    if u.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(DynamicsError::Numerical(format!(
            "{who}: the state became non-finite"
        )))
    }
}

/// Exact step of the linear part of the reverse SDE over the native interval
/// `[t_lo, t_hi]` (moving from `t_hi` down to `t_lo`).
///
/// Derivation: the reverse drift is `dx/dtau = -M⁻¹β v`, `dv/dtau = βx + ΓM⁻¹βv + 2Γβ s_v`.
/// Writing `ΓM⁻¹βv + 2Γβ s_v = -ΓM⁻¹βv + 2Γβ (s_v + M⁻¹ v)` splits it into a linear part
/// `[[0, -M⁻¹],[1, -ΓM⁻¹]] β` (reversed Hamiltonian flow plus a *damped* OU part, with noise
/// `sqrt(2Γβ)`) and the score part `dv = 2Γβ (s_v + M⁻¹ v) dtau`. The linear matrix is
/// `P A P` with `P = diag(1, -1)` and `A` the forward drift, so its transition is
/// `P Φ(b) P` and its accumulated noise `P Q(b) P` with `b = ∫_{t_lo}^{t_hi} β`: the forward
/// kernel with the off-diagonal signs flipped.
fn reverse_linear_step(cfg: &CldConfig, t_hi: f64, t_lo: f64) -> (MeanCoeffs, PhaseCov) {
    let g = cfg.g();
    let b = integrated_beta(cfg, t_hi) - integrated_beta(cfg, t_lo);
    let phi = transition(g, b);
    let q = noise_cov(g, b);
    (
        MeanCoeffs {
            xx: phi.xx,
            xv: -phi.xv,
            vx: -phi.vx,
            vv: phi.vv,
        },
        PhaseCov {
            xx: q.xx,
            xv: -q.xv,
            vv: q.vv,
        },
    )
}

/// Applies [`reverse_linear_step`] to every row, drawing per row d normals for x, then d for v.
fn apply_linear_step(
    cfg: &CldConfig,
    t_hi: f64,
    t_lo: f64,
    u: &mut [f64],
    d: usize,
    noise: &mut [f64],
    rng: &mut Rng,
) {
    let (m, q) = reverse_linear_step(cfg, t_hi, t_lo);
    // A zero-length interval has Q = 0; guard the factor instead of dividing by sqrt(0).
    let (lxx, lxv, lvv) = if q.xx > 0.0 {
        let lxx = q.xx.sqrt();
        let lxv = q.xv / lxx;
        (lxx, lxv, (q.vv - lxv * lxv).max(0.0).sqrt())
    } else {
        (0.0, 0.0, q.vv.max(0.0).sqrt())
    };
    for row in u.chunks_exact_mut(2 * d) {
        fill_normal(rng, noise);
        let (x, v) = row.split_at_mut(d);
        let (zx, zv) = noise.split_at(d);
        for k in 0..d {
            let (x0, v0) = (x[k], v[k]);
            x[k] = m.xx * x0 + m.xv * v0 + lxx * zx[k];
            v[k] = m.vx * x0 + m.vv * v0 + lxv * zx[k] + lvv * zv[k];
        }
    }
}

/// Final denoising step: one Euler step (no noise) of the reverse SDE from native `sample_eps`
/// to 0 with the network at `sample_eps` (one NFE). Only x is returned by the samplers; its
/// update `x - M⁻¹β v eps` does not use the network, the call keeps the NFE convention of the
/// official code (n − 1 steps + 1 denoising call = n) and updates v consistently.
fn denoise_step<F: Field + ?Sized>(
    cfg: &CldConfig,
    field: &mut F,
    u: &mut [f64],
    net: &mut [f64],
    d: usize,
) -> Result<(), DynamicsError> {
    let t = cfg.sample_eps;
    field.eval(1.0 - t, u, net)?;
    let (b, ell_t, gamma, m_inv) = (beta(cfg, t), hsm_ell(cfg, t), cfg.damping(), cfg.m_inv);
    let dt = t;
    for (row, nn) in u.chunks_exact_mut(2 * d).zip(net.chunks_exact(d)) {
        let (x, v) = row.split_at_mut(d);
        for k in 0..d {
            let (x0, v0) = (x[k], v[k]);
            let score = ell_t * nn[k];
            x[k] = x0 - m_inv * b * v0 * dt;
            v[k] = v0 + (b * x0 + gamma * m_inv * b * v0 + 2.0 * gamma * b * score) * dt;
        }
    }
    Ok(())
}

/// SSCS (symmetric splitting CLD sampler) from the prior at native t = 1 down to `sample_eps`
/// on [`time_grid`]; returns positions x (rows x d).
///
/// Each step `tau -> tau + dt` (h = dt/2): an exact half step of the linear part
/// ([`reverse_linear_step`]: exact mean and covariance over native `[1 - tau - h, 1 - tau]`),
/// one network call at the step's start time `tau` on the half-stepped state, the Euler step
/// `v += 2Γ (s_v + M⁻¹ v) β dt` with `s_v = ell NN` (β, ell also at `tau`), then the second
/// exact half step over native `[1 - tau - dt, 1 - tau - h]`. With `denoise`, `nfe - 1` such
/// steps are followed by the denoising Euler step (1 call); without, `nfe` steps. NFE = `nfe`.
///
/// The start-time evaluation follows the official code (a midpoint-time variant was tried and
/// was less accurate at low NFE on the Gaussian test problem). One difference from the official
/// code: the second half step integrates β over the second half interval (the official code
/// reuses the first half's interval); identical for the default constant β.
#[allow(clippy::too_many_arguments)]
pub fn sample_sscs<F: Field + ?Sized>(
    cfg: &CldConfig,
    nfe: usize,
    striding: Striding,
    denoise: bool,
    field: &mut F,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    let steps = check_sampler(cfg, field, nfe, denoise, n, d)?;
    let grid = time_grid(cfg, steps, striding);
    let mut u = sample_prior(cfg, n, d, rng);
    let mut net = vec![0.0; n * d];
    let mut noise = vec![0.0; 2 * d];
    let (gamma, m_inv) = (cfg.damping(), cfg.m_inv);
    for pair in grid.windows(2) {
        let (tau, tau_next) = (pair[0], pair[1]);
        let dt = tau_next - tau;
        let tau_mid = tau + 0.5 * dt;
        apply_linear_step(cfg, 1.0 - tau, 1.0 - tau_mid, &mut u, d, &mut noise, rng);
        // Network, beta and ell at the step's start time, as in the official sampler: with the
        // stiff toy score this was more accurate at low NFE than the midpoint time.
        field.eval(tau, &u, &mut net)?;
        let t_start = 1.0 - tau;
        let (b, ell_t) = (beta(cfg, t_start), hsm_ell(cfg, t_start));
        for (row, nn) in u.chunks_exact_mut(2 * d).zip(net.chunks_exact(d)) {
            for (v, &o) in row[d..].iter_mut().zip(nn) {
                *v += 2.0 * gamma * (ell_t * o + m_inv * *v) * b * dt;
            }
        }
        apply_linear_step(
            cfg,
            1.0 - tau_mid,
            1.0 - tau_next,
            &mut u,
            d,
            &mut noise,
            rng,
        );
    }
    if denoise {
        denoise_step(cfg, field, &mut u, &mut net, d)?;
    }
    check_finite(&u, "cld sscs")?;
    Ok(positions(&u, d))
}

/// Euler–Maruyama on the reverse SDE (engine time), from the prior down to `sample_eps` on
/// [`time_grid`]; returns positions x (rows x d). Each step evaluates the network and beta at
/// the step's start `tau`:
/// `x -= M⁻¹β v dt`, `v += (βx + ΓM⁻¹βv + 2Γβ s_v) dt + sqrt(2Γβ dt) z` (z: n·d normals drawn
/// after the call). With `denoise`, `nfe - 1` steps then the denoising Euler step, else `nfe`
/// steps; NFE = `nfe`.
#[allow(clippy::too_many_arguments)]
pub fn sample_euler_maruyama<F: Field + ?Sized>(
    cfg: &CldConfig,
    nfe: usize,
    striding: Striding,
    denoise: bool,
    field: &mut F,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    let steps = check_sampler(cfg, field, nfe, denoise, n, d)?;
    let grid = time_grid(cfg, steps, striding);
    let mut u = sample_prior(cfg, n, d, rng);
    let mut net = vec![0.0; n * d];
    let mut noise = vec![0.0; n * d];
    let (gamma, m_inv) = (cfg.damping(), cfg.m_inv);
    for pair in grid.windows(2) {
        let (tau, tau_next) = (pair[0], pair[1]);
        let dt = tau_next - tau;
        field.eval(tau, &u, &mut net)?;
        fill_normal(rng, &mut noise);
        let t = 1.0 - tau;
        let (b, ell_t) = (beta(cfg, t), hsm_ell(cfg, t));
        let noise_scale = (2.0 * gamma * b * dt).sqrt();
        for ((row, nn), z) in u
            .chunks_exact_mut(2 * d)
            .zip(net.chunks_exact(d))
            .zip(noise.chunks_exact(d))
        {
            let (x, v) = row.split_at_mut(d);
            for k in 0..d {
                let (x0, v0) = (x[k], v[k]);
                let score = ell_t * nn[k];
                x[k] = x0 - m_inv * b * v0 * dt;
                v[k] = v0
                    + (b * x0 + gamma * m_inv * b * v0 + 2.0 * gamma * b * score) * dt
                    + noise_scale * z[k];
            }
        }
    }
    if denoise {
        denoise_step(cfg, field, &mut u, &mut net, d)?;
    }
    check_finite(&u, "cld euler_maruyama")?;
    Ok(positions(&u, d))
}

/// Right-hand side `d[x, v]/dtau` of the probability-flow ODE in engine time, for generic ODE
/// solvers over [`sample_window`]; `state` is rows x 2d (`[x, v]` per row), `net_out` the
/// network output (rows x d) at `(state, tau)`, `out` rows x 2d.
///
/// `dx/dtau = -M⁻¹β v`, `dv/dtau = βx + ΓM⁻¹βv + Γβ s_v` with `s_v = ell NN` (the reverse drift
/// with half the score term and no noise). The native time is clamped to `[sample_eps, 1]`
/// so a stage that overshoots the window stays on the tabulated kernel.
pub fn pf_ode_velocity(
    cfg: &CldConfig,
    tau: f64,
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
        return Err(invalid(format!(
            "cld pf_ode_velocity: lengths (state {}, net_out {}, out {}) do not fit d = {d}",
            state.len(),
            net_out.len(),
            out.len()
        )));
    }
    if !tau.is_finite() {
        return Err(DynamicsError::Numerical(format!(
            "cld pf_ode_velocity: time {tau} is not finite"
        )));
    }
    let t = (1.0 - tau).clamp(cfg.sample_eps, 1.0);
    let (b, ell_t, gamma, m_inv) = (beta(cfg, t), hsm_ell(cfg, t), cfg.damping(), cfg.m_inv);
    for ((row, nn), o) in state
        .chunks_exact(2 * d)
        .zip(net_out.chunks_exact(d))
        .zip(out.chunks_exact_mut(2 * d))
    {
        let (x, v) = row.split_at(d);
        let (ox, ov) = o.split_at_mut(d);
        for k in 0..d {
            ox[k] = -m_inv * b * v[k];
            ov[k] = b * x[k] + gamma * m_inv * b * v[k] + gamma * b * ell_t * nn[k];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FnField, rng};

    const MU: [f64; 2] = [1.5, -0.7];
    const S: f64 = 0.5;

    /// Forward drift matrix per unit time at native t: [[0, M⁻¹β], [-β, -ΓM⁻¹β]].
    fn drift_matrix(cfg: &CldConfig, t: f64) -> [[f64; 2]; 2] {
        let b = beta(cfg, t);
        [[0.0, cfg.m_inv * b], [-b, -cfg.damping() * cfg.m_inv * b]]
    }

    /// RK4 on the mean ODE m' = A m and the Lyapunov ODE Σ' = AΣ + ΣAᵀ + diag(0, 2Γβ) from
    /// native 0 to t; returns (m, Σ) as ([mx, mv], [xx, xv, vv]).
    fn integrate_forward(
        cfg: &CldConfig,
        t_end: f64,
        m0: [f64; 2],
        s0: [f64; 3],
    ) -> ([f64; 2], [f64; 3]) {
        let rhs = |t: f64, y: &[f64; 5]| -> [f64; 5] {
            let a = drift_matrix(cfg, t);
            let (mx, mv, xx, xv, vv) = (y[0], y[1], y[2], y[3], y[4]);
            let q = 2.0 * cfg.damping() * beta(cfg, t);
            [
                a[0][0] * mx + a[0][1] * mv,
                a[1][0] * mx + a[1][1] * mv,
                2.0 * (a[0][0] * xx + a[0][1] * xv),
                a[0][0] * xv + a[0][1] * vv + a[1][0] * xx + a[1][1] * xv,
                2.0 * (a[1][0] * xv + a[1][1] * vv) + q,
            ]
        };
        let steps = 4000;
        let h = t_end / steps as f64;
        let mut y = [m0[0], m0[1], s0[0], s0[1], s0[2]];
        let add = |y: &[f64; 5], k: &[f64; 5], s: f64| -> [f64; 5] {
            std::array::from_fn(|i| y[i] + s * k[i])
        };
        for i in 0..steps {
            let t = i as f64 * h;
            let k1 = rhs(t, &y);
            let k2 = rhs(t + 0.5 * h, &add(&y, &k1, 0.5 * h));
            let k3 = rhs(t + 0.5 * h, &add(&y, &k2, 0.5 * h));
            let k4 = rhs(t + h, &add(&y, &k3, h));
            y = std::array::from_fn(|j| {
                y[j] + h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
            });
        }
        ([y[0], y[1]], [y[2], y[3], y[4]])
    }

    fn no_eps(cfg: &CldConfig) -> CldConfig {
        CldConfig {
            numerical_eps: 0.0,
            ..cfg.clone()
        }
    }

    #[test]
    fn kernel_matches_the_forward_ode_and_lyapunov_integration() {
        // Default config and a time-varying beta with another mass; RK4 with 4000 steps is
        // accurate to ~1e-12 here, the tolerance is 1e-9 (absolute, all entries O(1) or less).
        let configs = [
            CldConfig::default(),
            CldConfig {
                beta0: 1.0,
                beta1: 3.0,
                m_inv: 2.0,
                gamma: 0.3,
                ..CldConfig::default()
            },
        ];
        for cfg in configs {
            let exact = no_eps(&cfg);
            for &t in &[0.01, 0.1, 0.4, 1.0] {
                for (m0, sxx0, svv0) in [
                    ([1.0, 0.0], 0.0, cfg.initial_velocity_variance()),
                    ([0.3, -0.8], 0.7, 0.2),
                ] {
                    let (m, s) = integrate_forward(&cfg, t, m0, [sxx0, 0.0, svv0]);
                    let mc = mean_coeffs(&cfg, t);
                    let c = cov(&exact, t, sxx0, svv0);
                    let mean = [mc.xx * m0[0] + mc.xv * m0[1], mc.vx * m0[0] + mc.vv * m0[1]];
                    for (got, want) in [
                        (mean[0], m[0]),
                        (mean[1], m[1]),
                        (c.xx, s[0]),
                        (c.xv, s[1]),
                        (c.vv, s[2]),
                    ] {
                        assert!(
                            (got - want).abs() < 1e-9,
                            "t {t}: {got} vs {want} ({cfg:?})"
                        );
                    }
                }
            }
        }
    }

    /// methods.md §6 covariance, written literally (with num_eps), for comparison.
    fn literal_cov(cfg: &CldConfig, t: f64, sxx0: f64, svv0: f64) -> [f64; 3] {
        let b = integrated_beta(cfg, t);
        let gam = cfg.damping();
        let g = 1.0 / gam;
        let e = (-4.0 * b * g).exp();
        let xx = e
            * (sxx0 + 1.0 / e - 1.0
                + 4.0 * b * g * (sxx0 - 1.0)
                + 4.0 * b * b * g * g * (sxx0 - 2.0)
                + 16.0 * g.powi(4) * b * b * svv0)
            + cfg.numerical_eps;
        let xv = e
            * (-b * sxx0 + 4.0 * g * g * b * svv0
                - 2.0 * g * b * b * (sxx0 - 2.0)
                - 8.0 * g.powi(3) * b * b * svv0);
        let vv = e
            * (gam * gam / 4.0 * (1.0 / e - 1.0) + gam * b - 4.0 * g * b * svv0
                + 4.0 * g * g * b * b * svv0
                + svv0
                + b * b * (sxx0 - 2.0))
            + cfg.numerical_eps;
        [xx, xv, vv]
    }

    #[test]
    fn covariance_matches_the_reference_formula_and_endpoints() {
        let cfg = CldConfig::default();
        for &t in &[0.05, 0.3, 0.7, 1.0] {
            let c = hsm_cov(&cfg, t);
            let want = literal_cov(&cfg, t, 0.0, cfg.initial_velocity_variance());
            for (got, w) in [(c.xx, want[0]), (c.xv, want[1]), (c.vv, want[2])] {
                assert!((got - w).abs() < 1e-12, "t {t}: {got} vs {w}");
            }
        }
        // t = 0: (Sxx0, 0, Svv0) plus num_eps on the diagonal (exactly, up to rounding).
        let c0 = hsm_cov(&cfg, 0.0);
        assert!((c0.xx - cfg.numerical_eps).abs() < 1e-18);
        assert_eq!(c0.xv, 0.0);
        assert!((c0.vv - (0.01 + cfg.numerical_eps)).abs() < 1e-15);
        // t = 1 (B = 4): close to the prior N(0, 1) x N(0, M); e^{-16}-size corrections.
        let c1 = hsm_cov(&cfg, 1.0);
        assert!((c1.xx - 1.0).abs() < 1e-4 && c1.xv.abs() < 1e-4);
        assert!((c1.vv - cfg.mass()).abs() < 1e-4);
        let m1 = mean_coeffs(&cfg, 1.0);
        assert!(m1.xx.abs() < 4e-3 && m1.vx.abs() < 2e-3);
        // Small-B accuracy of the noise covariance: Σxx ≈ (2/3)·(2Γ)·(M⁻¹)²·B³ (relative 1e-3
        // at B = 4e-5), where the literal formula loses all digits to cancellation.
        let tiny = no_eps(&CldConfig {
            gamma: 0.0,
            ..cfg.clone()
        });
        let t = 1e-5;
        let b = integrated_beta(&tiny, t);
        let lead = 2.0 * tiny.damping() * tiny.m_inv.powi(2) * b.powi(3) / 3.0;
        assert!((cov(&tiny, t, 0.0, 0.0).xx / lead - 1.0).abs() < 1e-3);
    }

    #[test]
    fn cholesky_and_ell_reconstruct_the_covariance() {
        let cfg = CldConfig::default();
        for &t in &[1e-5, 1e-3, 0.2, 0.9] {
            let c = hsm_cov(&cfg, t);
            let l = cholesky(&c).unwrap();
            assert!((l.lxx * l.lxx - c.xx).abs() < 1e-14 * c.xx.max(1e-300) + 1e-18);
            assert!((l.lxx * l.lxv - c.xv).abs() < 1e-14);
            assert!((l.lxv * l.lxv + l.lvv * l.lvv - c.vv).abs() < 1e-13);
            assert!((ell(&c) + 1.0 / l.lvv).abs() < 1e-9 * (1.0 / l.lvv));
            assert_eq!(hsm_ell(&cfg, t), ell(&c));
        }
        let bad = PhaseCov {
            xx: 1.0,
            xv: 2.0,
            vv: 1.0,
        };
        assert!(matches!(cholesky(&bad), Err(DynamicsError::Numerical(_))));
    }

    #[test]
    fn reverse_half_step_matches_integration_of_the_linear_reverse_part() {
        // The linear part in engine time: d[x,v]/dtau = [[0, -M⁻¹β], [β, -ΓM⁻¹β]] [x, v] with noise
        // 2Γβ on v, β at native 1 - tau. Integrate mean and covariance (from 0) with RK4.
        let cfg = CldConfig {
            beta0: 1.5,
            beta1: 2.0,
            m_inv: 3.0,
            ..CldConfig::default()
        };
        let (t_hi, t_lo) = (0.8, 0.55);
        let (m, q) = reverse_linear_step(&cfg, t_hi, t_lo);
        let steps = 4000;
        let h = (t_hi - t_lo) / steps as f64;
        for (x0, v0) in [(1.0, 0.0), (0.0, 1.0)] {
            let mut y = [x0, v0, 0.0, 0.0, 0.0];
            let rhs = |tau: f64, y: &[f64; 5]| -> [f64; 5] {
                let b = beta(&cfg, 1.0 - tau);
                let a = [[0.0, -cfg.m_inv * b], [b, -cfg.damping() * cfg.m_inv * b]];
                [
                    a[0][1] * y[1],
                    a[1][0] * y[0] + a[1][1] * y[1],
                    2.0 * a[0][1] * y[3],
                    a[0][1] * y[4] + a[1][0] * y[2] + a[1][1] * y[3],
                    2.0 * (a[1][0] * y[3] + a[1][1] * y[4]) + 2.0 * cfg.damping() * b,
                ]
            };
            let add = |y: &[f64; 5], k: &[f64; 5], s: f64| -> [f64; 5] {
                std::array::from_fn(|i| y[i] + s * k[i])
            };
            let tau0 = 1.0 - t_hi;
            for i in 0..steps {
                let tau = tau0 + i as f64 * h;
                let k1 = rhs(tau, &y);
                let k2 = rhs(tau + 0.5 * h, &add(&y, &k1, 0.5 * h));
                let k3 = rhs(tau + 0.5 * h, &add(&y, &k2, 0.5 * h));
                let k4 = rhs(tau + h, &add(&y, &k3, h));
                y = std::array::from_fn(|j| {
                    y[j] + h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
                });
            }
            let want_x = m.xx * x0 + m.xv * v0;
            let want_v = m.vx * x0 + m.vv * v0;
            assert!((y[0] - want_x).abs() < 1e-10 && (y[1] - want_v).abs() < 1e-10);
            assert!((y[2] - q.xx).abs() < 1e-10 && (y[3] - q.xv).abs() < 1e-10);
            assert!((y[4] - q.vv).abs() < 1e-10);
        }
    }

    #[test]
    fn config_defaults_validation_striding_and_serde() {
        let cfg = CldConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.mass(), 0.25);
        assert_eq!(cfg.damping(), 1.0);
        assert!((cfg.initial_velocity_variance() - 0.01).abs() < 1e-16);
        let bad = [
            (
                CldConfig {
                    beta0: 0.0,
                    ..cfg.clone()
                },
                "beta0",
            ),
            (
                CldConfig {
                    beta1: -1.0,
                    ..cfg.clone()
                },
                "beta1",
            ),
            (
                CldConfig {
                    m_inv: f64::INFINITY,
                    ..cfg.clone()
                },
                "m_inv",
            ),
            (
                CldConfig {
                    gamma: -0.1,
                    ..cfg.clone()
                },
                "gamma",
            ),
            (
                CldConfig {
                    numerical_eps: -1e-9,
                    ..cfg.clone()
                },
                "numerical_eps",
            ),
            (
                CldConfig {
                    loss_eps: 0.0,
                    ..cfg.clone()
                },
                "loss_eps",
            ),
            (
                CldConfig {
                    sample_eps: 1.0,
                    ..cfg.clone()
                },
                "sample_eps",
            ),
        ];
        for (c, field) in bad {
            match c.validate() {
                Err(DynamicsError::InvalidConfig(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<CldConfig>(&json).unwrap(), cfg);
        assert!(serde_json::from_str::<CldConfig>(r#"{"mass": 1.0}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Striding::Quadratic).unwrap(),
            "\"quadratic\""
        );
        assert_eq!(
            serde_json::from_str::<Striding>("\"uniform\"").unwrap(),
            Striding::Uniform
        );
        assert_eq!(
            serde_json::from_str::<Striding>("\"linear\"").unwrap(),
            Striding::Uniform
        );
        let end = 1.0 - cfg.sample_eps;
        let uni = time_grid(&cfg, 4, Striding::Uniform);
        let quad = time_grid(&cfg, 4, Striding::Quadratic);
        for k in 0..=4 {
            let f = k as f64 / 4.0;
            assert!((uni[k] - end * f).abs() < 1e-15);
            assert!((quad[k] - end * (1.0 - (1.0 - f).powi(2))).abs() < 1e-15);
        }
        assert_eq!((uni[4], quad[4]), (end, end));
        assert_eq!(sample_window(&cfg), (0.0, end));
    }

    #[test]
    fn training_batch_rows_are_consistent_and_match_the_kernel_moments() {
        let cfg = CldConfig::default();
        let c = 1.3_f64;
        let rows = 100_000;
        let data = vec![c as f32; rows];
        let batch = training_batch(&cfg, &data, 1, &mut rng(21, 0)).unwrap();
        assert_eq!(
            (batch.rows(), batch.state.len(), batch.target.len()),
            (rows, 2 * rows, rows)
        );
        // Per row: the target is the eps_v that rebuilds v_t (f32 rounding, tolerance 1e-3).
        for r in 0..200 {
            let t = 1.0 - batch.time[r];
            let (m, l) = (mean_coeffs(&cfg, t), cholesky(&hsm_cov(&cfg, t)).unwrap());
            let (x, v) = (
                f64::from(batch.state[2 * r]),
                f64::from(batch.state[2 * r + 1]),
            );
            let ex = (x - m.xx * c) / l.lxx;
            let ev = (v - m.vx * c - l.lxv * ex) / l.lvv;
            assert!(
                (ev - f64::from(batch.target[r])).abs() < 1e-3 * ev.abs().max(1.0),
                "row {r}"
            );
        }
        // Moments over t ~ U(loss_eps, 1): Simpson quadrature (4000 panels) of the kernel
        // moments, compared within 5 standard errors of the 100k rows.
        let simpson = |f: &dyn Fn(f64) -> f64| {
            let (lo, hi, m) = (cfg.loss_eps, 1.0, 4000);
            let h = (hi - lo) / m as f64;
            let mut s = f(lo) + f(hi);
            for i in 1..m {
                s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            s * h / 3.0 / (hi - lo)
        };
        let n = rows as f64;
        let col = |k: usize| batch.state.iter().skip(k).step_by(2).map(|&v| f64::from(v));
        let emp =
            |f: &dyn Fn(f64, f64) -> f64| col(0).zip(col(1)).map(|(x, v)| f(x, v)).sum::<f64>() / n;
        let kernel = |f: &dyn Fn(MeanCoeffs, PhaseCov) -> f64| {
            simpson(&|t| f(mean_coeffs(&cfg, t), hsm_cov(&cfg, t)))
        };
        let checks: [(f64, f64); 5] = [
            (emp(&|x, _| x), kernel(&|m, _| m.xx * c)),
            (emp(&|_, v| v), kernel(&|m, _| m.vx * c)),
            (
                emp(&|x, _| x * x),
                kernel(&|m, s| m.xx * m.xx * c * c + s.xx),
            ),
            (
                emp(&|_, v| v * v),
                kernel(&|m, s| m.vx * m.vx * c * c + s.vv),
            ),
            (
                emp(&|x, v| x * v),
                kernel(&|m, s| m.xx * m.vx * c * c + s.xv),
            ),
        ];
        // Second moment of each summand, for its standard error.
        let summand_second_moments = [
            emp(&|x, _| x * x),
            emp(&|_, v| v * v),
            emp(&|x, _| x.powi(4)),
            emp(&|_, v| v.powi(4)),
            emp(&|x, v| (x * v).powi(2)),
        ];
        for (i, (got, want)) in checks.into_iter().enumerate() {
            let se = ((summand_second_moments[i] - got * got).max(1e-12) / n).sqrt();
            assert!(
                (got - want).abs() < 5.0 * se,
                "moment {i}: {got} vs {want} (se {se})"
            );
        }
    }

    /// Exact network for data N(MU, S² I): the (x, v) marginal per coordinate is Gaussian with
    /// mean (m_xx mu, m_vx mu) and covariance cov(t; S², gamma M) (no num_eps); its velocity
    /// score is -[C⁻¹ (u - m)]_v, and the network output is that score divided by the sampler's
    /// ell(t).
    fn gaussian_net(cfg: &CldConfig) -> FnField<impl FnMut(f64, &[f64], &mut [f64])> {
        let cfg = cfg.clone();
        FnField::new(4, 2, move |tau: f64, u: &[f64], out: &mut [f64]| {
            let t = 1.0 - tau;
            let m = mean_coeffs(&cfg, t);
            let c = cov(&no_eps(&cfg), t, S * S, cfg.initial_velocity_variance());
            let det = c.xx * c.vv - c.xv * c.xv;
            let ell_t = hsm_ell(&cfg, t);
            for (row, o) in u.chunks_exact(4).zip(out.chunks_exact_mut(2)) {
                for k in 0..2 {
                    let dx = row[k] - m.xx * MU[k];
                    let dv = row[2 + k] - m.vx * MU[k];
                    let score = -(-c.xv * dx + c.xx * dv) / det;
                    o[k] = score / ell_t;
                }
            }
        })
    }

    fn assert_moments(x: &[f64], target_mean: [f64; 2], target_std: f64, z: f64, bias: f64) {
        let n = (x.len() / 2) as f64;
        for (k, &want_mean) in target_mean.iter().enumerate() {
            let mean = x.iter().skip(k).step_by(2).sum::<f64>() / n;
            let var = x
                .iter()
                .skip(k)
                .step_by(2)
                .map(|v| (v - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            let std = var.sqrt();
            let (se_mean, se_std) = (target_std / n.sqrt(), target_std / (2.0 * n).sqrt());
            assert!(
                (mean - want_mean).abs() < z * se_mean + bias,
                "column {k}: mean {mean}"
            );
            assert!(
                (std - target_std).abs() < z * se_std + bias,
                "column {k}: std {std}"
            );
        }
    }

    #[test]
    fn sscs_recovers_gaussian_data() {
        let cfg = CldConfig::default();
        for striding in [Striding::Uniform, Striding::Quadratic] {
            let mut field = gaussian_net(&cfg);
            let out = sample_sscs(
                &cfg,
                200,
                striding,
                true,
                &mut field,
                20_000,
                2,
                &mut rng(31, 0),
            )
            .unwrap();
            assert_eq!(field.calls, 200);
            // Bias allowance 0.02 (mean and std) for the splitting error at 199 steps and the
            // prior mismatch (m_xx(1) MU ≈ 0.005).
            assert_moments(&out, MU, S, 4.0, 0.02);
        }
    }

    #[test]
    fn euler_maruyama_recovers_gaussian_data() {
        let cfg = CldConfig::default();
        let mut field = gaussian_net(&cfg);
        let out = sample_euler_maruyama(
            &cfg,
            1000,
            Striding::Uniform,
            true,
            &mut field,
            20_000,
            2,
            &mut rng(32, 0),
        )
        .unwrap();
        assert_eq!(field.calls, 1000);
        // First-order scheme: bias allowance 0.015 (measured bias ≈ 0.0035 at 1000 steps).
        assert_moments(&out, MU, S, 4.0, 0.015);
    }

    #[test]
    fn pf_ode_with_rk4_in_engine_time_recovers_gaussian_data() {
        let cfg = CldConfig::default();
        let (n, d, steps) = (20_000, 2, 200);
        let mut field = gaussian_net(&cfg);
        let mut u = sample_prior(&cfg, n, d, &mut rng(33, 0));
        let (tau0, tau1) = sample_window(&cfg);
        let h = (tau1 - tau0) / steps as f64;
        let mut net = vec![0.0; n * d];
        let mut rhs = |tau: f64, u: &[f64], out: &mut [f64]| {
            field.eval(tau, u, &mut net).unwrap();
            pf_ode_velocity(&cfg, tau, d, u, &net, out).unwrap();
        };
        let len = n * 2 * d;
        let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
            vec![0.0; len],
            vec![0.0; len],
            vec![0.0; len],
            vec![0.0; len],
            vec![0.0; len],
        );
        for i in 0..steps {
            let tau = tau0 + i as f64 * h;
            rhs(tau, &u, &mut k1);
            tmp.iter_mut()
                .zip(&u)
                .zip(&k1)
                .for_each(|((t, &a), &k)| *t = a + 0.5 * h * k);
            rhs(tau + 0.5 * h, &tmp, &mut k2);
            tmp.iter_mut()
                .zip(&u)
                .zip(&k2)
                .for_each(|((t, &a), &k)| *t = a + 0.5 * h * k);
            rhs(tau + 0.5 * h, &tmp, &mut k3);
            tmp.iter_mut()
                .zip(&u)
                .zip(&k3)
                .for_each(|((t, &a), &k)| *t = a + h * k);
            rhs(tau + h, &tmp, &mut k4);
            for j in 0..len {
                u[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
            }
        }
        // Target: the x marginal at native sample_eps, N(m_xx MU, S² m_xx² + Q_xx); the bias
        // allowance 0.01 covers the prior mismatch at t = 1 (m_xx(1) MU ≈ 0.005).
        let m = mean_coeffs(&cfg, cfg.sample_eps);
        let c = cov(
            &no_eps(&cfg),
            cfg.sample_eps,
            S * S,
            cfg.initial_velocity_variance(),
        );
        let x = positions(&u, d);
        assert_moments(&x, [m.xx * MU[0], m.xx * MU[1]], c.xx.sqrt(), 4.0, 0.01);
    }

    #[test]
    fn nfe_equals_field_calls_and_bad_inputs_are_rejected() {
        let cfg = CldConfig::default();
        let zero = |_: f64, _: &[f64], out: &mut [f64]| out.fill(0.0);
        for nfe in [1usize, 2, 9] {
            for denoise in [false, true] {
                if denoise && nfe < 2 {
                    continue;
                }
                for striding in [Striding::Uniform, Striding::Quadratic] {
                    let mut f = FnField::new(4, 2, zero);
                    sample_sscs(&cfg, nfe, striding, denoise, &mut f, 3, 2, &mut rng(0, 0))
                        .unwrap();
                    assert_eq!(f.calls, nfe as u64);
                    let mut f = FnField::new(4, 2, zero);
                    sample_euler_maruyama(
                        &cfg,
                        nfe,
                        striding,
                        denoise,
                        &mut f,
                        3,
                        2,
                        &mut rng(0, 0),
                    )
                    .unwrap();
                    assert_eq!(f.calls, nfe as u64);
                }
            }
        }
        let mut f = FnField::new(4, 2, zero);
        assert!(
            sample_sscs(
                &cfg,
                1,
                Striding::Uniform,
                true,
                &mut f,
                3,
                2,
                &mut rng(0, 0)
            )
            .is_err()
        );
        assert!(
            sample_sscs(
                &cfg,
                0,
                Striding::Uniform,
                false,
                &mut f,
                3,
                2,
                &mut rng(0, 0)
            )
            .is_err()
        );
        assert!(
            sample_sscs(
                &cfg,
                4,
                Striding::Uniform,
                false,
                &mut f,
                3,
                3,
                &mut rng(0, 0)
            )
            .is_err()
        );
        assert_eq!(f.calls, 0);
        let mut out = [0.0; 4];
        assert!(pf_ode_velocity(&cfg, 0.5, 2, &[0.0; 4], &[0.0; 1], &mut out).is_err());
        assert!(training_batch(&cfg, &[1.0; 3], 2, &mut rng(0, 0)).is_err());
    }

    #[test]
    fn draw_order_and_determinism() {
        let cfg = CldConfig::default();
        // training_batch: uniform, eps_x (d), eps_v (d) per row.
        let data = [0.4_f32, -1.2];
        let batch = training_batch(&cfg, &data, 2, &mut rng(8, 2)).unwrap();
        let mut r = rng(8, 2);
        let t = cfg.loss_eps + (1.0 - cfg.loss_eps) * r.random::<f64>();
        let ex = [normal(&mut r), normal(&mut r)];
        let ev = [normal(&mut r), normal(&mut r)];
        let (m, l) = (mean_coeffs(&cfg, t), cholesky(&hsm_cov(&cfg, t)).unwrap());
        assert_eq!(batch.time[0], 1.0 - t);
        for k in 0..2 {
            let x0 = f64::from(data[k]);
            assert_eq!(batch.state[k], (m.xx * x0 + l.lxx * ex[k]) as f32);
            assert_eq!(
                batch.state[2 + k],
                (m.vx * x0 + l.lxv * ex[k] + l.lvv * ev[k]) as f32
            );
            assert_eq!(batch.target[k], ev[k] as f32);
        }
        // Samplers: bit-identical per seed, different across seeds.
        let run = |seed: u64| {
            let mut f = gaussian_net(&cfg);
            let a = sample_sscs(
                &cfg,
                12,
                Striding::Quadratic,
                true,
                &mut f,
                40,
                2,
                &mut rng(seed, 0),
            )
            .unwrap();
            let b = sample_euler_maruyama(
                &cfg,
                12,
                Striding::Uniform,
                true,
                &mut f,
                40,
                2,
                &mut rng(seed, 0),
            )
            .unwrap();
            (a, b)
        };
        let (a1, b1) = run(4);
        let (a2, b2) = run(4);
        assert!(a1.iter().zip(&a2).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert!(b1.iter().zip(&b2).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert_ne!(a1, run(5).0);
        // Prior: x ~ N(0, 1), v ~ N(0, M) per row in that order.
        let u = sample_prior(&cfg, 1, 2, &mut rng(6, 0));
        let mut r = rng(6, 0);
        let want = [
            normal(&mut r),
            normal(&mut r),
            0.5 * normal(&mut r),
            0.5 * normal(&mut r),
        ];
        assert_eq!(u, want);
    }
}
