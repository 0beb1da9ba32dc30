//! VP-SDE / DDPM score diffusion (methods.md §5): the linear-beta noise schedule, the
//! epsilon-prediction training batch, and three samplers (reverse-SDE Euler–Maruyama, DDIM with
//! optional stochasticity eta, and the probability-flow ODE right-hand side for generic solvers).
//!
//! # Time convention
//!
//! The method is written in its *native* time `t` (t = 0 data, t = 1 noise): every schedule
//! function here (`beta`, `integrated_beta`, `alpha`, `sigma`) takes native `t`. Everything that
//! crosses the module boundary uses *engine* time `tau = 1 - t` (prior at tau = 0, data at
//! tau = 1): `TrainBatch::time`, the `t` passed to [`Field::eval`], and the time argument of
//! [`pf_ode_velocity`]. The `*_engine` helpers take `tau`.
//!
//! # Network parametrisation
//!
//! The network predicts the noise: `eps_theta(x, tau)`, with score `-eps_theta / sigma(t)`.
//! Samplers stop at native `t = sample_eps` (engine `tau = 1 - sample_eps`), because
//! `1 / sigma(t)` blows up at t = 0.
//!
//! # Random draw order (determinism)
//!
//! * [`training_batch`]: per row, one uniform for t, then the row's d normals.
//! * Samplers: first the prior, n·d normals row-major; then, per stochastic step and after that
//!   step's network call, n·d normals row-major. Deterministic steps draw nothing.

use rand::Rng as _;

use crate::{DynamicsError, Field, Rng, TrainBatch, fill_normal};

/// VP-SDE settings (native time, t = 0 data).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VpConfig {
    /// beta at native t = 0.
    pub beta_min: f64,
    /// beta at native t = 1.
    pub beta_max: f64,
    /// Lower end of the training time draw t ~ U(train_eps, 1).
    pub train_eps: f64,
    /// Native time where samplers stop (engine time 1 - sample_eps).
    pub sample_eps: f64,
}

impl Default for VpConfig {
    fn default() -> Self {
        VpConfig {
            beta_min: 0.1,
            beta_max: 20.0,
            train_eps: 1e-5,
            sample_eps: 1e-3,
        }
    }
}

impl VpConfig {
    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        if !(self.beta_min.is_finite() && self.beta_min > 0.0) {
            return Err(invalid(format!(
                "vp.beta_min = {} must be finite and > 0",
                self.beta_min
            )));
        }
        if !(self.beta_max.is_finite() && self.beta_max >= self.beta_min) {
            return Err(invalid(format!(
                "vp.beta_max = {} must be finite and >= beta_min ({})",
                self.beta_max, self.beta_min
            )));
        }
        if !(self.train_eps > 0.0 && self.train_eps < 1.0) {
            return Err(invalid(format!(
                "vp.train_eps = {} must lie in (0, 1)",
                self.train_eps
            )));
        }
        if !(self.sample_eps > 0.0 && self.sample_eps < 1.0) {
            return Err(invalid(format!(
                "vp.sample_eps = {} must lie in (0, 1)",
                self.sample_eps
            )));
        }
        Ok(())
    }
}

fn invalid(message: String) -> DynamicsError {
    DynamicsError::InvalidConfig(message)
}

/// Linear noise rate `beta(t) = beta_min + t (beta_max - beta_min)` at native time `t`.
pub fn beta(cfg: &VpConfig, t: f64) -> f64 {
    cfg.beta_min + t * (cfg.beta_max - cfg.beta_min)
}

/// `B(t) = ∫_0^t beta = beta_min t + t² (beta_max - beta_min) / 2` at native time `t`.
pub fn integrated_beta(cfg: &VpConfig, t: f64) -> f64 {
    cfg.beta_min * t + 0.5 * t * t * (cfg.beta_max - cfg.beta_min)
}

/// Signal scale `alpha(t) = exp(-B(t)/2)` at native time `t`.
pub fn alpha(cfg: &VpConfig, t: f64) -> f64 {
    (-0.5 * integrated_beta(cfg, t)).exp()
}

/// Noise scale `sigma(t) = sqrt(1 - exp(-B(t)))` at native time `t`; `expm1` keeps it accurate
/// for small t, where `1 - exp(-B)` would cancel.
pub fn sigma(cfg: &VpConfig, t: f64) -> f64 {
    (-(-integrated_beta(cfg, t)).exp_m1()).sqrt()
}

/// Native time of engine time `tau` (`t = 1 - tau`).
pub fn native_time(tau: f64) -> f64 {
    1.0 - tau
}

/// `alpha` at engine time `tau`.
pub fn alpha_engine(cfg: &VpConfig, tau: f64) -> f64 {
    alpha(cfg, native_time(tau))
}

/// `sigma` at engine time `tau`.
pub fn sigma_engine(cfg: &VpConfig, tau: f64) -> f64 {
    sigma(cfg, native_time(tau))
}

/// Engine-time integration window of the samplers: `(0, 1 - sample_eps)`.
pub fn sample_window(cfg: &VpConfig) -> (f64, f64) {
    (0.0, 1.0 - cfg.sample_eps)
}

/// Epsilon-prediction training batch from data rows `x1` (rows x d).
///
/// Per row, in order: `t ~ U(train_eps, 1)` (native), `eps ~ N(0, I_d)`; the state is
/// `alpha(t) x + sigma(t) eps`, the time is the engine time `1 - t`, the target is `eps`, the
/// weight is 1 (the "simple" loss).
pub fn training_batch(
    cfg: &VpConfig,
    x1: &[f32],
    d: usize,
    rng: &mut Rng,
) -> Result<TrainBatch, DynamicsError> {
    cfg.validate()?;
    let rows = rows_of(x1.len(), d)?;
    let mut batch = TrainBatch::with_capacity(rows, d, d);
    let mut eps = vec![0.0; d];
    for row in x1.chunks_exact(d) {
        let t = cfg.train_eps + (1.0 - cfg.train_eps) * rng.random::<f64>();
        fill_normal(rng, &mut eps);
        let (a, s) = (alpha(cfg, t), sigma(cfg, t));
        for (&x, &e) in row.iter().zip(&eps) {
            batch.state.push((a * f64::from(x) + s * e) as f32);
            batch.target.push(e as f32);
        }
        batch.time.push(native_time(t));
        batch.weight.push(1.0);
    }
    Ok(batch)
}

fn rows_of(len: usize, d: usize) -> Result<usize, DynamicsError> {
    if d == 0 {
        return Err(invalid("vp: data width d must be >= 1".into()));
    }
    if !len.is_multiple_of(d) {
        return Err(invalid(format!(
            "vp: data length {len} is not a multiple of the width d = {d}"
        )));
    }
    Ok(len / d)
}

/// Common sampler preconditions: valid config, n, d >= 1 and a field of shape d -> d.
fn check_sampler<F: Field + ?Sized>(
    cfg: &VpConfig,
    field: &F,
    n: usize,
    d: usize,
) -> Result<(), DynamicsError> {
    cfg.validate()?;
    if n == 0 || d == 0 {
        return Err(invalid(format!(
            "vp sampler: rows n = {n} and width d = {d} must both be >= 1"
        )));
    }
    if field.state_dim() != d || field.out_dim() != d {
        return Err(invalid(format!(
            "vp sampler: field maps {} -> {} but the eps-prediction must map d -> d with d = {d}",
            field.state_dim(),
            field.out_dim()
        )));
    }
    Ok(())
}

/// `count` evenly spaced native times from 1 down to `sample_eps` (both ends included).
fn native_grid(cfg: &VpConfig, count: usize) -> Vec<f64> {
    let span = 1.0 - cfg.sample_eps;
    let last = (count - 1) as f64;
    (0..count)
        .map(|k| {
            if k + 1 == count {
                cfg.sample_eps
            } else {
                1.0 - span * (k as f64 / last)
            }
        })
        .collect()
}

fn check_finite(x: &[f64], who: &str) -> Result<(), DynamicsError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(DynamicsError::Numerical(format!(
            "{who}: the state became non-finite"
        )))
    }
}

/// Euler–Maruyama on the reverse SDE `dx = [-beta x/2 - beta score] dt + sqrt(beta) dW̄`,
/// integrated in native time from 1 down to `sample_eps` on an even grid, starting at
/// `x ~ N(0, I)`. Returns the positions (n x d).
///
/// With `denoise = false`: `nfe` EM steps. With `denoise = true`: `nfe - 1` EM steps ending at
/// `sample_eps`, then the last network call returns the Tweedie estimate
/// `x0_hat = (x - sigma eps_theta) / alpha` at `sample_eps` (needs `nfe >= 2`). Either way the
/// field is called exactly `nfe` times. Each EM step evaluates the field at the start of the
/// step and then draws n·d normals.
pub fn sample_euler_maruyama<F: Field + ?Sized>(
    cfg: &VpConfig,
    nfe: usize,
    denoise: bool,
    field: &mut F,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    check_sampler(cfg, field, n, d)?;
    let min_nfe = if denoise { 2 } else { 1 };
    if nfe < min_nfe {
        return Err(invalid(format!(
            "vp euler_maruyama: nfe = {nfe} must be >= {min_nfe} (denoise = {denoise})"
        )));
    }
    let steps = if denoise { nfe - 1 } else { nfe };
    let grid = native_grid(cfg, steps + 1);
    let mut x = vec![0.0; n * d];
    fill_normal(rng, &mut x);
    let mut eps = vec![0.0; n * d];
    let mut noise = vec![0.0; n * d];
    for pair in grid.windows(2) {
        let (t, t_next) = (pair[0], pair[1]);
        let dt = t - t_next;
        field.eval(native_time(t), &x, &mut eps)?;
        fill_normal(rng, &mut noise);
        let (b, s) = (beta(cfg, t), sigma(cfg, t));
        let noise_scale = (b * dt).sqrt();
        for ((xi, &ei), &zi) in x.iter_mut().zip(&eps).zip(&noise) {
            // score = -eps / sigma; reverse drift (in decreasing native time) = beta (x/2 + score).
            let drift = b * (0.5 * *xi - ei / s);
            *xi += drift * dt + noise_scale * zi;
        }
    }
    if denoise {
        let t = cfg.sample_eps;
        field.eval(native_time(t), &x, &mut eps)?;
        let (a, s) = (alpha(cfg, t), sigma(cfg, t));
        for (xi, &ei) in x.iter_mut().zip(&eps) {
            *xi = (*xi - s * ei) / a;
        }
    }
    check_finite(&x, "vp euler_maruyama")?;
    Ok(x)
}

/// DDIM on `nfe + 1` evenly spaced native times from 1 down to `sample_eps` (one network call per
/// step), starting at `x ~ N(0, I)`.
///
/// Each step from `t` to `t' < t`: `x0_hat = (x - sigma_t eps) / alpha_t`, then
/// `x' = alpha_t' x0_hat + sqrt(sigma_t'^2 - eta_t^2) eps + eta_t z` with
/// `eta_t = eta (sigma_t'/sigma_t) sqrt(1 - alpha_t^2/alpha_t'^2)` (methods.md §5); `eta = 0` is
/// deterministic DDIM and draws nothing, `eta = 1` is DDPM-like ancestral sampling. `eta` must
/// lie in [0, 1], which keeps the square root real. For `eta > 0` every step draws n·d normals
/// after its network call.
///
/// Returns the state at native `sample_eps` (not the last `x0_hat`): the two differ by
/// `sigma(sample_eps) ≈ 0.01` times the predicted noise, and the state is what the ODE samplers
/// return too.
pub fn sample_ddim<F: Field + ?Sized>(
    cfg: &VpConfig,
    nfe: usize,
    eta: f64,
    field: &mut F,
    n: usize,
    d: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, DynamicsError> {
    check_sampler(cfg, field, n, d)?;
    if nfe == 0 {
        return Err(invalid("vp ddim: nfe must be >= 1".into()));
    }
    if !(0.0..=1.0).contains(&eta) {
        return Err(invalid(format!("vp ddim: eta = {eta} must lie in [0, 1]")));
    }
    let grid = native_grid(cfg, nfe + 1);
    let mut x = vec![0.0; n * d];
    fill_normal(rng, &mut x);
    let mut eps = vec![0.0; n * d];
    let mut noise = vec![0.0; n * d];
    for pair in grid.windows(2) {
        let (t, t_next) = (pair[0], pair[1]);
        field.eval(native_time(t), &x, &mut eps)?;
        let (a, s) = (alpha(cfg, t), sigma(cfg, t));
        let (a_next, s_next) = (alpha(cfg, t_next), sigma(cfg, t_next));
        let eta_t = if eta > 0.0 {
            fill_normal(rng, &mut noise);
            eta * (s_next / s) * (1.0 - (a / a_next).powi(2)).max(0.0).sqrt()
        } else {
            0.0
        };
        let eps_scale = (s_next * s_next - eta_t * eta_t).max(0.0).sqrt();
        for ((xi, &ei), &zi) in x.iter_mut().zip(&eps).zip(&noise) {
            let x0_hat = (*xi - s * ei) / a;
            *xi = a_next * x0_hat + eps_scale * ei + eta_t * zi;
        }
    }
    check_finite(&x, "vp ddim")?;
    Ok(x)
}

/// Right-hand side `dx/dtau` of the probability-flow ODE in engine time, for generic ODE
/// solvers integrating over [`sample_window`] with the eps-prediction `eps_pred` at `(x, tau)`.
///
/// Native PF-ODE: `dx/dt = -beta(t)/2 (x + score)`, score `= -eps/sigma(t)`; with `tau = 1 - t`
/// this is `dx/dtau = beta(t)/2 (x - eps/sigma(t))`. The native time is clamped to
/// `[sample_eps, 1]` so a solver stage that overshoots the window never divides by
/// `sigma(0) = 0`.
pub fn pf_ode_velocity(
    cfg: &VpConfig,
    tau: f64,
    x: &[f64],
    eps_pred: &[f64],
    out: &mut [f64],
) -> Result<(), DynamicsError> {
    if x.len() != eps_pred.len() || x.len() != out.len() {
        return Err(invalid(format!(
            "vp pf_ode_velocity: lengths differ (x {}, eps_pred {}, out {})",
            x.len(),
            eps_pred.len(),
            out.len()
        )));
    }
    if !tau.is_finite() {
        return Err(DynamicsError::Numerical(format!(
            "vp pf_ode_velocity: time {tau} is not finite"
        )));
    }
    // Written as beta/2 (x - eps/sigma), not through pf_ode_coefficients: cached samples depend
    // on these exact operations.
    let t = native_time(tau).clamp(cfg.sample_eps, 1.0);
    let (half_beta, s) = (0.5 * beta(cfg, t), sigma(cfg, t));
    for ((o, &xi), &ei) in out.iter_mut().zip(x).zip(eps_pred) {
        *o = half_beta * (xi - ei / s);
    }
    Ok(())
}

/// The probability-flow velocity is affine in the state and the eps-prediction:
/// `dx/dtau = a x + b eps_pred` with `a = beta(t)/2` and `b = -beta(t) / (2 sigma(t))` at the
/// native time `t = 1 - tau` clamped to `[sample_eps, 1]` (so its divergence is
/// `a d + b div eps_pred`).
pub fn pf_ode_coefficients(cfg: &VpConfig, tau: f64) -> (f64, f64) {
    let t = native_time(tau).clamp(cfg.sample_eps, 1.0);
    let (half_beta, s) = (0.5 * beta(cfg, t), sigma(cfg, t));
    (half_beta, -half_beta / s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FnField, rng};

    const MU: [f64; 2] = [1.5, -0.7];
    const S: f64 = 0.5;

    /// Exact eps-prediction when the data are N(MU, S² I): the marginal at native t is
    /// N(alpha MU, (alpha² S² + sigma²) I), so eps*(x, t) = sigma (x - alpha MU)/(alpha² S² + sigma²).
    fn gaussian_eps(cfg: &VpConfig) -> FnField<impl FnMut(f64, &[f64], &mut [f64])> {
        let cfg = cfg.clone();
        FnField::new(2, 2, move |tau: f64, x: &[f64], out: &mut [f64]| {
            let t = 1.0 - tau;
            let (a, s) = (alpha(&cfg, t), sigma(&cfg, t));
            let var = a * a * S * S + s * s;
            for (k, (o, &xi)) in out.iter_mut().zip(x).enumerate() {
                *o = s * (xi - a * MU[k % 2]) / var;
            }
        })
    }

    /// The exact PF-ODE flow for Gaussian data keeps the standardised value of each coordinate:
    /// x_t' = alpha' MU + sqrt(v'/v) (x_t - alpha MU), v = alpha² S² + sigma².
    fn exact_flow(cfg: &VpConfig, t_from: f64, t_to: f64, x: f64, mu: f64) -> f64 {
        let var = |t: f64| alpha(cfg, t).powi(2) * S * S + sigma(cfg, t).powi(2);
        alpha(cfg, t_to) * mu + (var(t_to) / var(t_from)).sqrt() * (x - alpha(cfg, t_from) * mu)
    }

    /// Per-column mean and standard deviation of an n x 2 array.
    fn moments(x: &[f64]) -> [(f64, f64); 2] {
        let n = (x.len() / 2) as f64;
        let mut out = [(0.0, 0.0); 2];
        for (k, o) in out.iter_mut().enumerate() {
            let mean = x.iter().skip(k).step_by(2).sum::<f64>() / n;
            let var = x
                .iter()
                .skip(k)
                .step_by(2)
                .map(|v| (v - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            *o = (mean, var.sqrt());
        }
        out
    }

    /// Asserts the sample moments are those of `N(mean_k, std²)` per column within
    /// `z` standard errors plus a bias allowance `bias` (absolute, on the mean and on the std).
    fn assert_moments(x: &[f64], target_mean: [f64; 2], target_std: f64, z: f64, bias: f64) {
        let n = (x.len() / 2) as f64;
        for (k, (mean, std)) in moments(x).into_iter().enumerate() {
            let se_mean = target_std / n.sqrt();
            let se_std = target_std / (2.0 * n).sqrt();
            assert!(
                (mean - target_mean[k]).abs() < z * se_mean + bias,
                "column {k}: mean {mean} vs {}",
                target_mean[k]
            );
            assert!(
                (std - target_std).abs() < z * se_std + bias,
                "column {k}: std {std} vs {target_std}"
            );
        }
    }

    #[test]
    fn alpha_sigma_are_a_unit_pair() {
        let cfg = VpConfig::default();
        for k in 0..=1000 {
            let t = k as f64 / 1000.0;
            let (a, s) = (alpha(&cfg, t), sigma(&cfg, t));
            assert!((a * a + s * s - 1.0).abs() < 1e-14, "t = {t}");
        }
        // Small-t accuracy of sigma: sigma² = 1 - e^{-B} = B - B²/2 + B³/6 - ..., relative 1e-12.
        let t = 1e-7;
        let b = integrated_beta(&cfg, t);
        let series = b - b * b / 2.0 + b * b * b / 6.0;
        assert!((sigma(&cfg, t).powi(2) / series - 1.0).abs() < 1e-12);
    }

    #[test]
    fn integrated_beta_matches_quadrature() {
        let cfg = VpConfig {
            beta_min: 0.3,
            beta_max: 13.0,
            ..VpConfig::default()
        };
        for &t in &[1e-3, 0.1, 0.37, 0.8, 1.0] {
            // Composite trapezoid with 20000 panels on the linear beta (exact up to rounding).
            let panels = 20_000;
            let h = t / panels as f64;
            let mut sum = 0.5 * (beta(&cfg, 0.0) + beta(&cfg, t));
            for i in 1..panels {
                sum += beta(&cfg, i as f64 * h);
            }
            let quad = sum * h;
            assert!((integrated_beta(&cfg, t) - quad).abs() < 1e-11 * quad.max(1.0));
        }
        assert_eq!(beta(&cfg, 0.0), 0.3);
        assert_eq!(beta(&cfg, 1.0), 13.0);
        assert!((alpha_engine(&cfg, 0.25) - alpha(&cfg, 0.75)).abs() < 1e-15);
        assert!((sigma_engine(&cfg, 0.25) - sigma(&cfg, 0.75)).abs() < 1e-15);
    }

    #[test]
    fn config_defaults_validation_and_serde() {
        let cfg = VpConfig::default();
        assert_eq!(
            (cfg.beta_min, cfg.beta_max, cfg.train_eps, cfg.sample_eps),
            (0.1, 20.0, 1e-5, 1e-3)
        );
        cfg.validate().unwrap();
        let bad = [
            (
                VpConfig {
                    beta_min: 0.0,
                    ..cfg.clone()
                },
                "beta_min",
            ),
            (
                VpConfig {
                    beta_max: 0.05,
                    ..cfg.clone()
                },
                "beta_max",
            ),
            (
                VpConfig {
                    train_eps: 1.0,
                    ..cfg.clone()
                },
                "train_eps",
            ),
            (
                VpConfig {
                    sample_eps: f64::NAN,
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
        assert_eq!(serde_json::from_str::<VpConfig>(&json).unwrap(), cfg);
        let partial: VpConfig = serde_json::from_str(r#"{"beta_max": 10.0}"#).unwrap();
        assert_eq!(partial.beta_max, 10.0);
        assert_eq!(partial.beta_min, 0.1);
        assert!(serde_json::from_str::<VpConfig>(r#"{"beta_mx": 1.0}"#).is_err());
    }

    #[test]
    fn training_batch_follows_the_documented_draw_order() {
        let cfg = VpConfig::default();
        let data: Vec<f32> = vec![0.5, -1.0, 2.0, 0.25, -0.75, 1.5];
        let batch = training_batch(&cfg, &data, 2, &mut rng(7, 3)).unwrap();
        assert_eq!(batch.rows(), 3);
        let mut r = rng(7, 3);
        for (row, x) in data.chunks(2).enumerate() {
            let t = cfg.train_eps + (1.0 - cfg.train_eps) * r.random::<f64>();
            let e = [normal_of(&mut r), normal_of(&mut r)];
            assert_eq!(batch.time[row], 1.0 - t);
            assert_eq!(batch.weight[row], 1.0);
            for k in 0..2 {
                let want = alpha(&cfg, t) * f64::from(x[k]) + sigma(&cfg, t) * e[k];
                assert_eq!(batch.state[2 * row + k], want as f32);
                assert_eq!(batch.target[2 * row + k], e[k] as f32);
            }
        }
        assert!(training_batch(&cfg, &data, 4, &mut rng(7, 3)).is_err());
        assert!(training_batch(&cfg, &data, 0, &mut rng(7, 3)).is_err());
    }

    fn normal_of(r: &mut Rng) -> f64 {
        crate::normal(r)
    }

    #[test]
    fn training_batch_moments_match_the_kernel_mixture() {
        // Data fixed at c: over t ~ U(train_eps, 1), E[x_t] = c E[alpha], E[x_t²] = c² E[alpha²]
        // + E[sigma²]; expectations by Simpson quadrature (2000 panels), compared within
        // 5 standard errors of the 100k-row sample.
        let cfg = VpConfig::default();
        let c = 1.3_f64;
        let rows = 100_000;
        let data = vec![c as f32; rows];
        let batch = training_batch(&cfg, &data, 1, &mut rng(11, 0)).unwrap();
        let simpson = |f: &dyn Fn(f64) -> f64| {
            let (lo, hi, m) = (cfg.train_eps, 1.0, 2000);
            let h = (hi - lo) / m as f64;
            let mut s = f(lo) + f(hi);
            for i in 1..m {
                s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            s * h / 3.0 / (hi - lo)
        };
        let m1 = c * simpson(&|t| alpha(&cfg, t));
        let m2 =
            c * c * simpson(&|t| alpha(&cfg, t).powi(2)) + simpson(&|t| sigma(&cfg, t).powi(2));
        let n = rows as f64;
        let e1 = batch.state.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let e2 = batch
            .state
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            / n;
        let sd = (m2 - m1 * m1).sqrt();
        assert!((e1 - m1).abs() < 5.0 * sd / n.sqrt(), "{e1} vs {m1}");
        assert!((e2 - m2).abs() < 5.0 * 2.0 * m2 / n.sqrt(), "{e2} vs {m2}");
        assert!(
            batch
                .time
                .iter()
                .all(|&tau| (0.0..=1.0 - cfg.train_eps).contains(&tau))
        );
    }

    #[test]
    fn one_ddim_step_matches_the_closed_form() {
        let cfg = VpConfig::default();
        let affine = |x: f64| 0.3 * x + 0.1;
        for eta in [0.0, 0.6] {
            let mut field = FnField::new(2, 2, |_tau: f64, x: &[f64], out: &mut [f64]| {
                out.iter_mut().zip(x).for_each(|(o, &v)| *o = affine(v));
            });
            let out = sample_ddim(&cfg, 1, eta, &mut field, 3, 2, &mut rng(5, 1)).unwrap();
            assert_eq!(field.calls, 1);
            // Reproduce: prior draws first, then (eta > 0) the step's n·d normals.
            let mut r = rng(5, 1);
            let prior: Vec<f64> = (0..6).map(|_| normal_of(&mut r)).collect();
            let z: Vec<f64> = (0..6).map(|_| normal_of(&mut r)).collect();
            let (a1, s1) = (alpha(&cfg, 1.0), sigma(&cfg, 1.0));
            let (ae, se) = (alpha(&cfg, cfg.sample_eps), sigma(&cfg, cfg.sample_eps));
            let eta_t = eta * (se / s1) * (1.0 - a1 * a1 / (ae * ae)).sqrt();
            for i in 0..6 {
                let e = affine(prior[i]);
                let x0 = (prior[i] - s1 * e) / a1;
                let noise = if eta > 0.0 { eta_t * z[i] } else { 0.0 };
                let want = ae * x0 + (se * se - eta_t * eta_t).sqrt() * e + noise;
                assert!(
                    (out[i] - want).abs() < 1e-12 * want.abs().max(1.0),
                    "eta {eta}"
                );
            }
        }
    }

    #[test]
    fn ddim_deterministic_maps_the_prior_to_the_data() {
        // Pathwise: DDIM with the exact eps follows the exact flow (affine per coordinate) up to
        // a first-order discretisation error: the worst error over 2000 rows must be below 0.02
        // at 500 steps and halve (ratio in [1.8, 2.2]) from 250 to 500 steps.
        let cfg = VpConfig::default();
        let worst_error = |nfe: usize| {
            let (n, d) = (2000, 2);
            let mut field = gaussian_eps(&cfg);
            let out = sample_ddim(&cfg, nfe, 0.0, &mut field, n, d, &mut rng(1, 0)).unwrap();
            assert_eq!(field.calls, nfe as u64);
            let mut prior = vec![0.0; n * d];
            fill_normal(&mut rng(1, 0), &mut prior);
            let mut worst: f64 = 0.0;
            for (i, (&o, &p)) in out.iter().zip(&prior).enumerate() {
                let want = exact_flow(&cfg, 1.0, cfg.sample_eps, p, MU[i % 2]);
                worst = worst.max((o - want).abs());
            }
            worst
        };
        let (coarse, fine) = (worst_error(250), worst_error(500));
        assert!(fine < 0.02, "worst pathwise error {fine}");
        let ratio = coarse / fine;
        assert!((1.8..=2.2).contains(&ratio), "convergence ratio {ratio}");
        // Moments: target N(MU, S²); the 0.01 bias allowance covers the prior mismatch
        // (alpha(1) MU ≈ 0.01) and the discretisation error.
        let mut field = gaussian_eps(&cfg);
        let out = sample_ddim(&cfg, 500, 0.0, &mut field, 20_000, 2, &mut rng(1, 0)).unwrap();
        assert_moments(&out, MU, S, 4.0, 0.01);
    }

    #[test]
    fn ddim_ancestral_recovers_the_data_moments() {
        let cfg = VpConfig::default();
        let mut field = gaussian_eps(&cfg);
        let out = sample_ddim(&cfg, 300, 1.0, &mut field, 20_000, 2, &mut rng(2, 0)).unwrap();
        assert_eq!(field.calls, 300);
        // Bias allowance 0.015 covers the prior mismatch (alpha(1) MU) and the 300-step error.
        assert_moments(&out, MU, S, 4.0, 0.015);
    }

    #[test]
    fn pf_ode_coefficients_reproduce_the_velocity() {
        let cfg = VpConfig::default();
        let (x, eps) = ([0.7, -1.3], [0.2, 0.9]);
        for tau in [0.0, 0.3, 0.9, 1.0 - cfg.sample_eps] {
            let mut v = [0.0; 2];
            pf_ode_velocity(&cfg, tau, &x, &eps, &mut v).unwrap();
            let (a, b) = pf_ode_coefficients(&cfg, tau);
            for k in 0..2 {
                let w = a * x[k] + b * eps[k];
                assert!(
                    (v[k] - w).abs() <= 1e-12 * v[k].abs().max(1.0),
                    "{tau}: {} vs {w}",
                    v[k]
                );
            }
        }
    }

    #[test]
    fn pf_ode_with_rk4_in_engine_time_maps_the_prior_to_the_data() {
        let cfg = VpConfig::default();
        let (n, d, steps) = (20_000, 2, 400);
        let mut field = gaussian_eps(&cfg);
        let mut x = vec![0.0; n * d];
        fill_normal(&mut rng(3, 0), &mut x);
        let prior = x.clone();
        let (tau0, tau1) = sample_window(&cfg);
        assert_eq!((tau0, tau1), (0.0, 1.0 - cfg.sample_eps));
        let h = (tau1 - tau0) / steps as f64;
        let mut eps = vec![0.0; n * d];
        let mut rhs = |tau: f64, x: &[f64], out: &mut [f64]| {
            field.eval(tau, x, &mut eps).unwrap();
            pf_ode_velocity(&cfg, tau, x, &eps, out).unwrap();
        };
        let (mut k1, mut k2, mut k3, mut k4) = (
            vec![0.0; n * d],
            vec![0.0; n * d],
            vec![0.0; n * d],
            vec![0.0; n * d],
        );
        let mut tmp = vec![0.0; n * d];
        for i in 0..steps {
            let tau = tau0 + i as f64 * h;
            rhs(tau, &x, &mut k1);
            tmp.iter_mut()
                .zip(&x)
                .zip(&k1)
                .for_each(|((t, &a), &k)| *t = a + 0.5 * h * k);
            rhs(tau + 0.5 * h, &tmp, &mut k2);
            tmp.iter_mut()
                .zip(&x)
                .zip(&k2)
                .for_each(|((t, &a), &k)| *t = a + 0.5 * h * k);
            rhs(tau + 0.5 * h, &tmp, &mut k3);
            tmp.iter_mut()
                .zip(&x)
                .zip(&k3)
                .for_each(|((t, &a), &k)| *t = a + h * k);
            rhs(tau + h, &tmp, &mut k4);
            for j in 0..n * d {
                x[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
            }
        }
        let mut worst: f64 = 0.0;
        for (i, (&o, &p)) in x.iter().zip(&prior).enumerate() {
            let want = exact_flow(&cfg, 1.0, cfg.sample_eps, p, MU[i % 2]);
            worst = worst.max((o - want).abs());
        }
        assert!(worst < 1e-4, "worst pathwise error {worst}");
        assert_moments(&x, MU, S, 4.0, 0.01);
    }

    #[test]
    fn euler_maruyama_recovers_the_data_moments() {
        let cfg = VpConfig::default();
        for denoise in [true, false] {
            let mut field = gaussian_eps(&cfg);
            let out =
                sample_euler_maruyama(&cfg, 1000, denoise, &mut field, 20_000, 2, &mut rng(4, 0))
                    .unwrap();
            assert_eq!(field.calls, 1000);
            // Looser: EM is first order; bias allowance 0.03 (mean and std).
            assert_moments(&out, MU, S, 4.0, 0.03);
        }
    }

    #[test]
    fn nfe_equals_field_calls_and_bad_inputs_are_rejected() {
        let cfg = VpConfig::default();
        let zero = |_: f64, _: &[f64], out: &mut [f64]| out.fill(0.0);
        for nfe in [1, 2, 7] {
            let mut f = FnField::new(2, 2, zero);
            sample_ddim(&cfg, nfe, 0.3, &mut f, 4, 2, &mut rng(0, 0)).unwrap();
            assert_eq!(f.calls, nfe as u64);
            let mut f = FnField::new(2, 2, zero);
            sample_euler_maruyama(&cfg, nfe, false, &mut f, 4, 2, &mut rng(0, 0)).unwrap();
            assert_eq!(f.calls, nfe as u64);
            if nfe >= 2 {
                let mut f = FnField::new(2, 2, zero);
                sample_euler_maruyama(&cfg, nfe, true, &mut f, 4, 2, &mut rng(0, 0)).unwrap();
                assert_eq!(f.calls, nfe as u64);
            }
        }
        let mut f = FnField::new(2, 2, zero);
        assert!(sample_euler_maruyama(&cfg, 1, true, &mut f, 4, 2, &mut rng(0, 0)).is_err());
        assert!(sample_ddim(&cfg, 0, 0.0, &mut f, 4, 2, &mut rng(0, 0)).is_err());
        assert!(sample_ddim(&cfg, 3, 1.5, &mut f, 4, 2, &mut rng(0, 0)).is_err());
        assert!(sample_ddim(&cfg, 3, 0.0, &mut f, 4, 3, &mut rng(0, 0)).is_err());
        assert_eq!(f.calls, 0);
        let mut out = [0.0; 2];
        assert!(pf_ode_velocity(&cfg, 0.5, &[1.0, 2.0], &[0.0], &mut out).is_err());
    }

    #[test]
    fn samplers_are_deterministic_per_seed() {
        let cfg = VpConfig::default();
        let run = |seed: u64| {
            let mut f = gaussian_eps(&cfg);
            let a = sample_ddim(&cfg, 20, 0.5, &mut f, 50, 2, &mut rng(seed, 0)).unwrap();
            let b =
                sample_euler_maruyama(&cfg, 20, true, &mut f, 50, 2, &mut rng(seed, 0)).unwrap();
            (a, b)
        };
        let (a1, b1) = run(9);
        let (a2, b2) = run(9);
        assert!(a1.iter().zip(&a2).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert!(b1.iter().zip(&b2).all(|(p, q)| p.to_bits() == q.to_bits()));
        let (a3, _) = run(10);
        assert_ne!(a1, a3);
    }
}
