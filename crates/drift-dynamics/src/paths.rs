//! The flow-matching family (methods.md §2, §3): conditional probability paths, their
//! regression targets and the training minibatch of flow matching (Lipman), I-CFM, OT-CFM,
//! SB-CFM, the variance-preserving/trigonometric path and 1-rectified flow.
//!
//! Engine time throughout: `t = 0` is the source `x0`, `t = 1` the target/data `x1` (the same
//! direction as TorchCFM and rectified flow, so nothing is converted). Every path is
//! `x_t = mu_t(x0, x1) + sigma_t * n` with a closed-form target `u_t = d x_t / dt`; the
//! minibatch coupling that decides which `x0` goes with which `x1` is [`crate::coupling`].

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::coupling::{Coupling, OtPairing, Pairs, pair};
use crate::{DynamicsError, Rng, TrainBatch, fill_normal};

/// Added to the SB-CFM denominator `2 t (1 - t)` so the target stays finite at `t = 0, 1`,
/// as TorchCFM's library class does (its runner copy does not). There `x_t - mu_t = 0`, so
/// the target reduces to `x1 - x0`.
pub const SB_CFM_DENOMINATOR_OFFSET: f64 = 1e-8;

/// Rectified flow's lower time clamp: `t ~ U(1e-3, 1)` (drawn as `t = u (1 - eps) + eps`).
pub const RECTIFIED_FLOW_T_MIN: f64 = 1e-3;

/// A conditional probability path of the flow-matching family (methods.md §2 table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Path {
    /// I-CFM / OT-CFM / rectified flow (`sigma = 0`): `mu_t = t x1 + (1 - t) x0`,
    /// `sigma_t = sigma`, `u = x1 - x0`.
    ICfm {
        /// Constant path noise (>= 0).
        sigma: f64,
    },
    /// Flow matching of Lipman et al.: `mu_t = t x1`, `sigma_t = 1 - (1 - sigma) t`, and the
    /// noise is `x0` itself (the source must be N(0, I)), so `x_t = t x1 + sigma_t x0` and
    /// `u = (x1 - (1 - sigma) x_t) / (1 - (1 - sigma) t)`.
    Lipman {
        /// Noise left at `t = 1` (in (0, 1]).
        sigma: f64,
    },
    /// SB-CFM (Brownian bridge): `mu_t` as I-CFM, `sigma_t = sigma sqrt(t (1 - t))`,
    /// `u = (1 - 2t) / (2 t (1 - t) + 1e-8) (x_t - mu_t) + x1 - x0`.
    SbCfm {
        /// Bridge noise scale (> 0).
        sigma: f64,
    },
    /// Variance-preserving / trigonometric interpolant: `mu_t = cos(pi t / 2) x0 +
    /// sin(pi t / 2) x1`, `sigma_t = sigma`, `u = (pi/2)(cos(pi t/2) x1 - sin(pi t/2) x0)`.
    VpTrig {
        /// Constant path noise (>= 0).
        sigma: f64,
    },
}

impl Default for Path {
    /// I-CFM with `sigma = 0.1` (TorchCFM tutorials and runner).
    fn default() -> Self {
        Path::ICfm { sigma: 0.1 }
    }
}

/// Time coefficients of a path at one `t`: `mu_t = source * x0 + target * x1` and standard
/// deviation `std` (the noise it multiplies is `eps`, or `x0` for [`Path::Lipman`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathMeanStd {
    /// Coefficient of `x0` in the mean.
    pub source: f64,
    /// Coefficient of `x1` in the mean.
    pub target: f64,
    /// `sigma_t`.
    pub std: f64,
}

impl Path {
    /// The path's `sigma` parameter.
    pub fn sigma(&self) -> f64 {
        match *self {
            Path::ICfm { sigma }
            | Path::Lipman { sigma }
            | Path::SbCfm { sigma }
            | Path::VpTrig { sigma } => sigma,
        }
    }

    /// True for the Lipman path, whose noise is the source row `x0` rather than `eps`.
    pub fn noise_is_source(&self) -> bool {
        matches!(self, Path::Lipman { .. })
    }

    /// Checks `sigma` against the range each path accepts.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        let sigma = self.sigma();
        let ok = sigma.is_finite()
            && match self {
                Path::ICfm { .. } | Path::VpTrig { .. } => sigma >= 0.0,
                // sigma = 0 would divide by 1 - t = 0 at t = 1.
                Path::Lipman { .. } => sigma > 0.0 && sigma <= 1.0,
                Path::SbCfm { .. } => sigma > 0.0,
            };
        if ok {
            return Ok(());
        }
        let range = match self {
            Path::ICfm { .. } | Path::VpTrig { .. } => "finite and >= 0",
            Path::Lipman { .. } => "in (0, 1] (the target divides by 1 - (1 - sigma) t)",
            Path::SbCfm { .. } => "finite and > 0 (it sets the bridge noise and reg = 2 sigma^2)",
        };
        Err(DynamicsError::InvalidConfig(format!(
            "path.sigma must be {range}, got {sigma}"
        )))
    }

    /// Mean coefficients and standard deviation of `x_t` given `(x0, x1)` at engine time `t`.
    pub fn mean_std(&self, t: f64) -> PathMeanStd {
        match *self {
            Path::ICfm { sigma } => PathMeanStd {
                source: 1.0 - t,
                target: t,
                std: sigma,
            },
            Path::Lipman { sigma } => PathMeanStd {
                source: 0.0,
                target: t,
                std: 1.0 - (1.0 - sigma) * t,
            },
            Path::SbCfm { sigma } => PathMeanStd {
                source: 1.0 - t,
                target: t,
                // max(0) keeps rounding at t = 0, 1 from producing sqrt of a negative.
                std: sigma * (t * (1.0 - t)).max(0.0).sqrt(),
            },
            Path::VpTrig { sigma } => {
                let (s, c) = (0.5 * std::f64::consts::PI * t).sin_cos();
                PathMeanStd {
                    source: c,
                    target: s,
                    std: sigma,
                }
            }
        }
    }

    /// Samples `x_t` and its regression target `u_t(x_t | x0, x1)` elementwise at time `t`.
    ///
    /// `x0`, `x1`, `eps`, `out_xt` and `out_target` have equal lengths (one row of `d` values,
    /// or several rows sharing `t`). `eps` is standard normal noise; the Lipman path ignores it
    /// and uses `x0` as its noise.
    ///
    /// # Panics
    /// If the slice lengths differ (a programming error, not a configuration one).
    pub fn sample(
        &self,
        t: f64,
        x0: &[f64],
        x1: &[f64],
        eps: &[f64],
        out_xt: &mut [f64],
        out_target: &mut [f64],
    ) {
        let n = x0.len();
        assert!(
            x1.len() == n && eps.len() == n && out_xt.len() == n && out_target.len() == n,
            "Path::sample: slice lengths differ"
        );
        let coeffs = self.mean_std(t);
        for k in 0..n {
            let (a, b, e) = (x0[k], x1[k], eps[k]);
            let (x, u) = match *self {
                Path::ICfm { .. } => (
                    coeffs.source * a + coeffs.target * b + coeffs.std * e,
                    b - a,
                ),
                Path::Lipman { sigma } => {
                    let x = coeffs.target * b + coeffs.std * a;
                    (x, (b - (1.0 - sigma) * x) / coeffs.std)
                }
                Path::SbCfm { .. } => {
                    let mean = coeffs.source * a + coeffs.target * b;
                    let x = mean + coeffs.std * e;
                    let ratio = (1.0 - 2.0 * t) / (2.0 * t * (1.0 - t) + SB_CFM_DENOMINATOR_OFFSET);
                    (x, ratio * (x - mean) + b - a)
                }
                Path::VpTrig { .. } => {
                    let half_pi = 0.5 * std::f64::consts::PI;
                    (
                        coeffs.source * a + coeffs.target * b + coeffs.std * e,
                        half_pi * (coeffs.source * b - coeffs.target * a),
                    )
                }
            };
            out_xt[k] = x;
            out_target[k] = u;
        }
    }
}

/// A flow-matching training method: path, minibatch coupling and time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FmConfig {
    /// The conditional path and its target.
    pub path: Path,
    /// How source and target rows are paired.
    pub coupling: Coupling,
    /// Lower end of training times, `t = t_min + u (t_max - t_min)`, `u ~ U[0, 1)`.
    pub t_min: f64,
    /// Upper end of training times.
    pub t_max: f64,
}

impl Default for FmConfig {
    /// I-CFM (`sigma = 0.1`), independent pairs, `t ~ U(0, 1)`.
    fn default() -> Self {
        FmConfig {
            path: Path::default(),
            coupling: Coupling::Independent,
            t_min: 0.0,
            t_max: 1.0,
        }
    }
}

impl FmConfig {
    /// I-CFM: straight path with constant noise, independent pairs.
    pub fn icfm(sigma: f64) -> Self {
        FmConfig {
            path: Path::ICfm { sigma },
            ..FmConfig::default()
        }
    }

    /// OT-CFM: I-CFM's path on pairs resampled from the exact minibatch OT plan (TorchCFM).
    pub fn ot_cfm(sigma: f64) -> Self {
        FmConfig {
            path: Path::ICfm { sigma },
            coupling: Coupling::ExactOt {
                pairing: OtPairing::Resample,
            },
            ..FmConfig::default()
        }
    }

    /// SB-CFM: Brownian-bridge path on pairs from the entropic plan with `reg = 2 sigma^2`
    /// (the explicit Sinkhorn coupling, not TorchCFM's silent exact default).
    pub fn sb_cfm(sigma: f64) -> Self {
        FmConfig {
            path: Path::SbCfm { sigma },
            coupling: Coupling::schrodinger_bridge(sigma),
            ..FmConfig::default()
        }
    }

    /// Flow matching of Lipman et al. (the source rows must be N(0, I) draws).
    pub fn lipman(sigma: f64) -> Self {
        FmConfig {
            path: Path::Lipman { sigma },
            ..FmConfig::default()
        }
    }

    /// The variance-preserving / trigonometric path with independent pairs.
    pub fn vp_trig(sigma: f64) -> Self {
        FmConfig {
            path: Path::VpTrig { sigma },
            ..FmConfig::default()
        }
    }

    /// 1-rectified flow: I-CFM with `sigma = 0` and `t ~ U(1e-3, 1)`. Reflow is the same
    /// config trained on fixed pairs `(z0, ODE(z0))`.
    pub fn rectified_flow() -> Self {
        FmConfig {
            path: Path::ICfm { sigma: 0.0 },
            coupling: Coupling::Independent,
            t_min: RECTIFIED_FLOW_T_MIN,
            t_max: 1.0,
        }
    }

    /// Checks the path, the coupling and `0 <= t_min <= t_max <= 1`.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        self.path.validate()?;
        self.coupling.validate()?;
        if !(self.t_min.is_finite() && self.t_max.is_finite())
            || self.t_min < 0.0
            || self.t_max > 1.0
            || self.t_min > self.t_max
        {
            return Err(DynamicsError::InvalidConfig(format!(
                "t_min and t_max must satisfy 0 <= t_min <= t_max <= 1, got t_min = {}, t_max = {}",
                self.t_min, self.t_max
            )));
        }
        Ok(())
    }
}

/// One flow-matching minibatch from `b` source rows `x0` and `b` target rows `x1` (row-major,
/// width `d`): state `x_t`, time `t`, target `u_t`, weight 1 (plain MSE, as TorchCFM).
///
/// The coupling's diagnostics (notably a Sinkhorn fallback to the uniform plan) are dropped
/// here; use [`training_batch_with_pairs`] to see them.
pub fn training_batch(
    cfg: &FmConfig,
    x0: &[f64],
    x1: &[f64],
    d: usize,
    rng: &mut Rng,
) -> Result<TrainBatch, DynamicsError> {
    training_batch_with_pairs(cfg, x0, x1, d, rng).map(|(batch, _)| batch)
}

/// [`training_batch`], also returning the pairs the coupling chose (row `k` of the batch is
/// built from `x0[pairs.i0[k]]` and `x1[pairs.i1[k]]`) and its fallback flag.
///
/// Randomness, in this order: first the coupling's draws (see [`crate::coupling::pair`]),
/// then for each pair in order one uniform `u = rng.random::<f64>()` giving
/// `t = t_min + u (t_max - t_min)`, followed by `d` standard normals `eps`. `eps` is drawn for
/// every path (the Lipman path ignores it) so the stream layout does not depend on the path.
pub fn training_batch_with_pairs(
    cfg: &FmConfig,
    x0: &[f64],
    x1: &[f64],
    d: usize,
    rng: &mut Rng,
) -> Result<(TrainBatch, Pairs), DynamicsError> {
    cfg.validate()?;
    let pairs = pair(&cfg.coupling, x0, x1, d, rng)?;
    let rows = pairs.len();
    let mut batch = TrainBatch::with_capacity(rows, d, d);
    let mut eps = vec![0.0; d];
    let mut xt = vec![0.0; d];
    let mut target = vec![0.0; d];
    for (&i, &j) in pairs.i0.iter().zip(&pairs.i1) {
        let t = cfg.t_min + rng.random::<f64>() * (cfg.t_max - cfg.t_min);
        fill_normal(rng, &mut eps);
        cfg.path.sample(
            t,
            &x0[i * d..(i + 1) * d],
            &x1[j * d..(j + 1) * d],
            &eps,
            &mut xt,
            &mut target,
        );
        if xt.iter().chain(&target).any(|v| !v.is_finite()) {
            return Err(DynamicsError::Numerical(format!(
                "flow-matching sample at t = {t} (source row {i}, target row {j}) is not finite"
            )));
        }
        batch.state.extend(xt.iter().map(|&v| v as f32));
        batch.time.push(t);
        batch.target.extend(target.iter().map(|&v| v as f32));
        batch.weight.push(1.0);
    }
    Ok((batch, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    const PATHS: [Path; 8] = [
        Path::ICfm { sigma: 0.0 },
        Path::ICfm { sigma: 0.3 },
        Path::Lipman { sigma: 0.1 },
        Path::Lipman { sigma: 1.0 },
        Path::SbCfm { sigma: 1.0 },
        Path::SbCfm { sigma: 0.2 },
        Path::VpTrig { sigma: 0.0 },
        Path::VpTrig { sigma: 0.5 },
    ];

    fn rows(seed: u64, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut r = rng(seed, 0);
        let mut v = vec![0.0; 3 * n];
        fill_normal(&mut r, &mut v);
        (v[..n].to_vec(), v[n..2 * n].to_vec(), v[2 * n..].to_vec())
    }

    fn xt(path: &Path, t: f64, x0: &[f64], x1: &[f64], eps: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; x0.len()];
        let mut u = vec![0.0; x0.len()];
        path.sample(t, x0, x1, eps, &mut x, &mut u);
        x
    }

    /// The target is the time derivative of `x_t` for fixed (x0, x1, eps): central
    /// differences with h = 1e-5 (truncation O(h^2) ~ 1e-10 times third derivatives).
    #[test]
    fn target_is_time_derivative_of_path() {
        let (x0, x1, eps) = rows(3, 4);
        let h = 1e-5;
        for path in PATHS {
            for t in [0.03, 0.2, 0.5, 0.77, 0.97] {
                let mut x = vec![0.0; 4];
                let mut u = vec![0.0; 4];
                path.sample(t, &x0, &x1, &eps, &mut x, &mut u);
                let plus = xt(&path, t + h, &x0, &x1, &eps);
                let minus = xt(&path, t - h, &x0, &x1, &eps);
                for k in 0..4 {
                    let fd = (plus[k] - minus[k]) / (2.0 * h);
                    // SB-CFM's 1e-8 offset shifts u by at most 1e-8 / (2t(1-t)) * |u| ~ 2e-7.
                    assert!(
                        (fd - u[k]).abs() < 1e-6 * (1.0 + u[k].abs()),
                        "{path:?} t={t}: fd {fd} vs target {}",
                        u[k]
                    );
                }
            }
        }
    }

    /// Lipman: the conditional flow psi_t(x0) = (1 - (1 - sigma) t) x0 + t x1 has velocity
    /// x1 - (1 - sigma) x0, which the target written in terms of x_t must equal.
    #[test]
    fn lipman_target_matches_conditional_flow() {
        let (x0, x1, eps) = rows(5, 6);
        for sigma in [0.01, 0.1, 0.5, 1.0] {
            let path = Path::Lipman { sigma };
            for t in [0.0, 0.25, 0.6, 1.0] {
                let mut x = vec![0.0; 6];
                let mut u = vec![0.0; 6];
                path.sample(t, &x0, &x1, &eps, &mut x, &mut u);
                for k in 0..6 {
                    let psi = (1.0 - (1.0 - sigma) * t) * x0[k] + t * x1[k];
                    let velocity = x1[k] - (1.0 - sigma) * x0[k];
                    assert!((x[k] - psi).abs() < 1e-12);
                    // The division by sigma_t = sigma at t = 1 amplifies rounding by 1/sigma.
                    assert!(
                        (u[k] - velocity).abs() < 1e-12 / sigma,
                        "{} vs {velocity}",
                        u[k]
                    );
                }
            }
        }
    }

    #[test]
    fn endpoint_values() {
        let (x0, x1, eps) = rows(7, 3);
        let check = |path: Path, t: f64, expect: &dyn Fn(usize) -> f64| {
            let x = xt(&path, t, &x0, &x1, &eps);
            for (k, v) in x.iter().enumerate() {
                assert!((v - expect(k)).abs() < 1e-14, "{path:?} t={t}");
            }
        };
        check(Path::ICfm { sigma: 0.2 }, 0.0, &|k| x0[k] + 0.2 * eps[k]);
        check(Path::ICfm { sigma: 0.2 }, 1.0, &|k| x1[k] + 0.2 * eps[k]);
        check(Path::Lipman { sigma: 0.1 }, 0.0, &|k| x0[k]);
        check(Path::Lipman { sigma: 0.1 }, 1.0, &|k| x1[k] + 0.1 * x0[k]);
        check(Path::SbCfm { sigma: 1.0 }, 0.0, &|k| x0[k]);
        check(Path::SbCfm { sigma: 1.0 }, 1.0, &|k| x1[k]);
        check(Path::VpTrig { sigma: 0.3 }, 0.0, &|k| x0[k] + 0.3 * eps[k]);
        check(Path::VpTrig { sigma: 0.3 }, 1.0, &|k| x1[k] + 0.3 * eps[k]);
    }

    #[test]
    fn mean_std_matches_table() {
        let t = 0.3;
        let m = Path::SbCfm { sigma: 2.0 }.mean_std(t);
        assert_eq!((m.source, m.target), (0.7, 0.3));
        assert!((m.std - 2.0 * (0.21f64).sqrt()).abs() < 1e-15);
        let m = Path::Lipman { sigma: 0.1 }.mean_std(t);
        assert_eq!(m.source, 0.0);
        assert!((m.std - (1.0 - 0.9 * 0.3)).abs() < 1e-15);
        let m = Path::VpTrig { sigma: 0.1 }.mean_std(t);
        assert!((m.source - (0.15 * std::f64::consts::PI).cos()).abs() < 1e-15);
        assert!((m.target - (0.15 * std::f64::consts::PI).sin()).abs() < 1e-15);
        // Variance preserving: cos^2 + sin^2 = 1.
        assert!((m.source.powi(2) + m.target.powi(2) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn sb_cfm_target_is_finite_at_and_near_endpoints() {
        let (x0, x1, eps) = rows(9, 3);
        let path = Path::SbCfm { sigma: 1.0 };
        for t in [0.0, 1e-300, 1e-12, 1.0 - 1e-12, 1.0] {
            let mut x = vec![0.0; 3];
            let mut u = vec![0.0; 3];
            path.sample(t, &x0, &x1, &eps, &mut x, &mut u);
            assert!(u.iter().all(|v| v.is_finite()), "t={t}: {u:?}");
            if t == 0.0 || t == 1.0 {
                for k in 0..3 {
                    assert_eq!(u[k], x1[k] - x0[k]);
                }
            }
        }
    }

    #[test]
    fn training_batch_straight_path_on_ot_pairs() {
        let (b, d) = (6, 2);
        let mut r = rng(12, 0);
        let mut x0 = vec![0.0; b * d];
        let mut x1 = vec![0.0; b * d];
        fill_normal(&mut r, &mut x0);
        fill_normal(&mut r, &mut x1);
        x1.iter_mut().for_each(|v| *v += 3.0);
        let cfg = FmConfig {
            path: Path::ICfm { sigma: 0.0 },
            coupling: Coupling::ExactOt {
                pairing: OtPairing::Permutation,
            },
            t_min: 0.2,
            t_max: 0.4,
        };
        let (batch, pairs) = training_batch_with_pairs(&cfg, &x0, &x1, d, &mut r).unwrap();
        let col = drift_metrics::optimal_assignment(&x0, &x1, d);
        assert_eq!(batch.rows(), b);
        assert_eq!(pairs.i1, col);
        for k in 0..b {
            let t = batch.time[k];
            assert!((0.2..0.4).contains(&t));
            assert_eq!(batch.weight[k], 1.0);
            for c in 0..d {
                let (a, e) = (x0[k * d + c], x1[col[k] * d + c]);
                // f32 rounding of O(5) values: 1e-6 relative.
                assert!((batch.target[k * d + c] as f64 - (e - a)).abs() < 1e-5);
                assert!((batch.state[k * d + c] as f64 - (a + t * (e - a))).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn training_batch_is_deterministic_and_follows_draw_order() {
        let (b, d) = (5, 3);
        let (x0, x1, _) = rows(2, b * d);
        let cfg = FmConfig::icfm(0.5);
        let one = training_batch(&cfg, &x0, &x1, d, &mut rng(4, 1)).unwrap();
        let two = training_batch(&cfg, &x0, &x1, d, &mut rng(4, 1)).unwrap();
        assert_eq!(one, two);
        // Replay the documented order: per row one uniform for t, then d normals.
        let mut r = rng(4, 1);
        for k in 0..b {
            let t = r.random::<f64>();
            let mut eps = vec![0.0; d];
            fill_normal(&mut r, &mut eps);
            assert_eq!(one.time[k], t);
            for c in 0..d {
                let x = (1.0 - t) * x0[k * d + c] + t * x1[k * d + c] + 0.5 * eps[c];
                assert_eq!(one.state[k * d + c], x as f32);
            }
        }
    }

    #[test]
    fn rectified_flow_times_are_clamped() {
        let (b, d) = (200, 1);
        let (x0, x1, _) = rows(8, b);
        let cfg = FmConfig::rectified_flow();
        let batch = training_batch(&cfg, &x0, &x1, d, &mut rng(1, 0)).unwrap();
        assert!(batch.time.iter().all(|&t| (1e-3..1.0).contains(&t)));
        for k in 0..b {
            assert!((batch.target[k] as f64 - (x1[k] - x0[k])).abs() < 1e-6);
        }
    }

    #[test]
    fn sb_cfm_preset_uses_sinkhorn_with_two_sigma_squared() {
        let cfg = FmConfig::sb_cfm(0.5);
        assert_eq!(cfg.coupling, Coupling::Sinkhorn { reg: 0.5 });
        let (x0, x1, _) = rows(1, 8);
        let (batch, pairs) = training_batch_with_pairs(&cfg, &x0, &x1, 2, &mut rng(0, 0)).unwrap();
        assert_eq!(batch.rows(), 4);
        assert!(!pairs.fallback);
    }

    #[test]
    fn validation_messages_name_the_field() {
        let bad = [
            FmConfig::lipman(0.0),
            FmConfig::lipman(1.5),
            FmConfig::sb_cfm(0.0),
            FmConfig::icfm(-0.1),
            FmConfig::vp_trig(f64::NAN),
        ];
        for cfg in bad {
            match cfg.validate() {
                Err(DynamicsError::InvalidConfig(m)) => assert!(m.contains("path.sigma"), "{m}"),
                other => panic!("{cfg:?}: {other:?}"),
            }
        }
        let times = FmConfig {
            t_min: 0.6,
            t_max: 0.5,
            ..FmConfig::default()
        };
        assert!(
            matches!(times.validate(), Err(DynamicsError::InvalidConfig(m)) if m.contains("t_min"))
        );
        assert!(FmConfig::rectified_flow().validate().is_ok());
        assert!(FmConfig::default().validate().is_ok());
    }

    #[test]
    fn serde_round_trip_and_defaults() {
        let cfg = FmConfig::ot_cfm(0.1);
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<FmConfig>(&json).unwrap(), cfg);
        let partial: FmConfig =
            serde_json::from_str(r#"{"path":{"kind":"sb_cfm","sigma":1.0}}"#).unwrap();
        assert_eq!(partial.path, Path::SbCfm { sigma: 1.0 });
        assert_eq!(partial.coupling, Coupling::Independent);
        assert_eq!((partial.t_min, partial.t_max), (0.0, 1.0));
    }
}
