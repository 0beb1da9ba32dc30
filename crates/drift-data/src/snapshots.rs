//! Time-snapshot data: the marginals of a known SDE (Ornstein-Uhlenbeck, double well) at
//! several times, simulated by Euler-Maruyama from t = 0, returned with a time per row.

use crate::{DataError, Points, rng};

/// The initial distribution: every coordinate iid `N(mean, std^2)` (`std = 0`: a point mass).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitialDistribution {
    /// Mean of every coordinate (finite).
    pub mean: f64,
    /// Std of every coordinate (finite, >= 0).
    pub std: f64,
}

/// Ornstein-Uhlenbeck: `dX = theta (mu - X) dt + sigma dW`, independently per coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuParams {
    /// Mean-reversion rate (finite, >= 0). Default 1.
    pub theta: f64,
    /// Long-run mean of every coordinate (finite). Default 0.
    pub mu: f64,
    /// Diffusion coefficient (finite, >= 0). Default 1.
    pub sigma: f64,
    /// Initial distribution. Default N(2, 0.5^2) per coordinate.
    pub x0: InitialDistribution,
}

impl Default for OuParams {
    fn default() -> Self {
        Self {
            theta: 1.0,
            mu: 0.0,
            sigma: 1.0,
            x0: InitialDistribution {
                mean: 2.0,
                std: 0.5,
            },
        }
    }
}

impl OuParams {
    /// Exact mean of every coordinate at time `t`: `mu + (m0 - mu) e^{-theta t}`.
    pub fn marginal_mean(&self, t: f64) -> f64 {
        self.mu + (self.x0.mean - self.mu) * libm::exp(-self.theta * t)
    }

    /// Exact variance of every coordinate at time `t`:
    /// `s0^2 e^{-2 theta t} + sigma^2 (1 - e^{-2 theta t}) / (2 theta)`, and
    /// `s0^2 + sigma^2 t` when `theta = 0`. The marginal is Gaussian.
    pub fn marginal_variance(&self, t: f64) -> f64 {
        let s0 = self.x0.std * self.x0.std;
        let s2 = self.sigma * self.sigma;
        if self.theta == 0.0 {
            return s0 + s2 * t;
        }
        let e = libm::exp(-2.0 * self.theta * t);
        // 1 - e^{-2 theta t} without cancellation for small theta t.
        let one_minus = -libm::expm1(-2.0 * self.theta * t);
        s0 * e + s2 * one_minus / (2.0 * self.theta)
    }
}

/// Double well: `dX = -V'(X) dt + sigma dW` with `V(x) = (x^2 - 1)^2`, i.e.
/// `-V'(x) = -4 x (x^2 - 1)`, independently per coordinate (wells at +-1, barrier 1 at 0; the
/// stationary density is proportional to `exp(-2 V(x) / sigma^2)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoubleWellParams {
    /// Diffusion coefficient (finite, >= 0). Default 1.
    pub sigma: f64,
    /// Initial distribution. Default N(-1, 0.1^2) per coordinate (the left well).
    pub x0: InitialDistribution,
}

impl Default for DoubleWellParams {
    fn default() -> Self {
        Self {
            sigma: 1.0,
            x0: InitialDistribution {
                mean: -1.0,
                std: 0.1,
            },
        }
    }
}

impl DoubleWellParams {
    /// The drift `-V'(x) = -4 x (x^2 - 1)`.
    pub fn drift(x: f64) -> f64 {
        -4.0 * x * (x * x - 1.0)
    }

    /// Unnormalised stationary log-density of one coordinate: `-2 V(x) / sigma^2`.
    pub fn stationary_log_density_unnormalised(&self, x: f64) -> f64 {
        let v = (x * x - 1.0) * (x * x - 1.0);
        -2.0 * v / (self.sigma * self.sigma)
    }
}

/// The process to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SdeProcess {
    /// Ornstein-Uhlenbeck (`ou`).
    OrnsteinUhlenbeck(OuParams),
    /// Double well (`double_well`).
    DoubleWell(DoubleWellParams),
}

impl SdeProcess {
    /// Process names, in catalogue order.
    pub const NAMES: &'static [&'static str] = &["ou", "double_well"];

    /// The process name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OrnsteinUhlenbeck(_) => "ou",
            Self::DoubleWell(_) => "double_well",
        }
    }

    /// The process with default parameters, by name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ou" => Some(Self::OrnsteinUhlenbeck(OuParams::default())),
            "double_well" => Some(Self::DoubleWell(DoubleWellParams::default())),
            _ => None,
        }
    }

    /// One-line recipe, for listings.
    pub fn recipe(&self) -> &'static str {
        match self {
            Self::OrnsteinUhlenbeck(_) => {
                "dX = theta (mu - X) dt + sigma dW per coordinate; theta 1, mu 0, sigma 1, \
                 x0 ~ N(2, 0.5^2) per coordinate; exact marginal N(mu + (m0 - mu) e^{-theta t}, \
                 s0^2 e^{-2 theta t} + sigma^2 (1 - e^{-2 theta t}) / (2 theta))"
            }
            Self::DoubleWell(_) => {
                "dX = -V'(X) dt + sigma dW per coordinate, V(x) = (x^2 - 1)^2 (drift -4x(x^2 - 1)); \
                 sigma 1, x0 ~ N(-1, 0.1^2) per coordinate; stationary density ~ exp(-2 V / sigma^2)"
            }
        }
    }
}

/// Default Euler-Maruyama step.
pub const DEFAULT_SNAPSHOT_DT: f64 = 1e-3;
/// Largest accepted number of Euler-Maruyama steps per path (`max(times) / dt`).
pub const MAX_SNAPSHOT_STEPS: f64 = 1e10;
/// Largest accepted snapshot dimension.
pub const MAX_SNAPSHOT_DIM: usize = 1 << 20;

/// Parameters of a snapshot data set.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotParams {
    /// The SDE.
    pub process: SdeProcess,
    /// Dimension (>= 1). Default 2.
    pub dim: usize,
    /// Recording times: non-empty, finite, >= 0, strictly increasing. Default [0, 0.25, 0.5, 1, 2].
    pub times: Vec<f64>,
    /// Largest Euler-Maruyama step (finite, > 0). Default 1e-3.
    pub dt: f64,
}

impl SnapshotParams {
    /// Default parameters for `process`.
    pub fn new(process: SdeProcess) -> Self {
        Self {
            process,
            dim: 2,
            times: vec![0.0, 0.25, 0.5, 1.0, 2.0],
            dt: DEFAULT_SNAPSHOT_DT,
        }
    }

    /// Check every parameter; the error names the parameter, the value and what is accepted.
    pub fn validate(&self) -> Result<(), DataError> {
        let generator = self.process.name();
        let bad = |parameter: &'static str, value: String, expected: &'static str| {
            Err(DataError::InvalidParameter {
                generator,
                parameter,
                value,
                expected,
            })
        };
        if !(1..=MAX_SNAPSHOT_DIM).contains(&self.dim) {
            return bad("dim", self.dim.to_string(), "an integer in 1..=1048576");
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad("dt", self.dt.to_string(), "a finite step > 0");
        }
        if self.times.is_empty() {
            return bad("times", "[]".into(), "a non-empty list of times");
        }
        if let Some(t) = self.times.iter().find(|t| !(t.is_finite() && **t >= 0.0)) {
            return bad(
                "times",
                format!("{:?} (entry {t})", self.times),
                "finite times >= 0",
            );
        }
        if let Some(w) = self.times.windows(2).find(|w| w[1] <= w[0]) {
            return bad(
                "times",
                format!("{:?} ({} then {})", self.times, w[0], w[1]),
                "strictly increasing times",
            );
        }
        let last = self.times[self.times.len() - 1];
        if last / self.dt > MAX_SNAPSHOT_STEPS {
            return bad(
                "dt",
                format!("{} (for times up to {last})", self.dt),
                "a step giving at most 1e10 Euler-Maruyama steps per path",
            );
        }
        let (sigma, x0) = match self.process {
            SdeProcess::OrnsteinUhlenbeck(p) => {
                if !(p.theta.is_finite() && p.theta >= 0.0) {
                    return bad("theta", p.theta.to_string(), "a finite number >= 0");
                }
                if !p.mu.is_finite() {
                    return bad("mu", p.mu.to_string(), "a finite number");
                }
                (p.sigma, p.x0)
            }
            SdeProcess::DoubleWell(p) => (p.sigma, p.x0),
        };
        if !(sigma.is_finite() && sigma >= 0.0) {
            return bad("sigma", sigma.to_string(), "a finite number >= 0");
        }
        if !x0.mean.is_finite() {
            return bad("x0_mean", x0.mean.to_string(), "a finite number");
        }
        if !(x0.std.is_finite() && x0.std >= 0.0) {
            return bad("x0_std", x0.std.to_string(), "a finite number >= 0");
        }
        Ok(())
    }

    /// Simulate `n` paths and record them at every time. Validates first; a path that leaves
    /// the finite range (an Euler-Maruyama blow-up, e.g. a double well started far out with a
    /// large `dt`) is an error.
    ///
    /// Per path, from one `ChaCha8Rng::seed_from_u64(seed)` stream, paths in order: `dim`
    /// normals for `x0`, then for each interval `(t_{j-1}, t_j]` (from `t_0 = 0`) `k_j =
    /// ceil((t_j - t_{j-1}) / dt)` equal steps `h_j = (t_j - t_{j-1}) / k_j` of
    /// `x += b(x) h_j + sigma sqrt(h_j) z` (`z`: `dim` normals per step). Row `j n + i` of the
    /// output is path `i` at time `t_j`, so the snapshots at different times share paths.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Snapshots, DataError> {
        self.validate()?;
        let d = self.dim;
        let m = self.times.len();
        let mut rng = rng::stream(seed);
        let mut out = vec![0.0f64; m * n * d];
        let mut x = vec![0.0f64; d];
        // (steps, step length) per interval.
        let mut t_prev = 0.0;
        let grid: Vec<(u64, f64)> = self
            .times
            .iter()
            .map(|&t| {
                let span = t - t_prev;
                t_prev = t;
                if span <= 0.0 {
                    (0, 0.0)
                } else {
                    let k = (span / self.dt).ceil().max(1.0) as u64;
                    (k, span / k as f64)
                }
            })
            .collect();
        for i in 0..n {
            let (sigma, x0) = match self.process {
                SdeProcess::OrnsteinUhlenbeck(p) => (p.sigma, p.x0),
                SdeProcess::DoubleWell(p) => (p.sigma, p.x0),
            };
            for xi in x.iter_mut() {
                *xi = x0.mean + x0.std * rng::normal(&mut rng);
            }
            for (j, &(k, h)) in grid.iter().enumerate() {
                let sq = sigma * h.sqrt();
                for _ in 0..k {
                    match self.process {
                        SdeProcess::OrnsteinUhlenbeck(p) => {
                            for xi in x.iter_mut() {
                                *xi += p.theta * (p.mu - *xi) * h + sq * rng::normal(&mut rng);
                            }
                        }
                        SdeProcess::DoubleWell(_) => {
                            for xi in x.iter_mut() {
                                *xi +=
                                    DoubleWellParams::drift(*xi) * h + sq * rng::normal(&mut rng);
                            }
                        }
                    }
                }
                if !x.iter().all(|v| v.is_finite()) {
                    return Err(DataError::Diverged {
                        generator: self.process.name(),
                        step: grid[..=j].iter().map(|g| g.0 as usize).sum(),
                        time: self.times[j],
                        dt: self.dt,
                    });
                }
                out[(j * n + i) * d..(j * n + i + 1) * d].copy_from_slice(&x);
            }
        }
        let time_of_row = self
            .times
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, n))
            .collect();
        Ok(Snapshots {
            times: self.times.clone(),
            points: Points::from_f64(d, &out),
            time_of_row,
        })
    }
}

/// `n` points at each of several times: `points` holds `times.len() * n` rows, the `n` rows of
/// time `times[j]` at `j n .. (j + 1) n`; `time_of_row[r]` is the time of row `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshots {
    /// The recording times, increasing.
    pub times: Vec<f64>,
    /// The recorded states (`dim` columns, no time column), grouped by time.
    pub points: Points,
    /// The time of each row of `points`.
    pub time_of_row: Vec<f64>,
}

impl Snapshots {
    /// Points per time.
    pub fn per_time(&self) -> usize {
        self.points.len().checked_div(self.times.len()).unwrap_or(0)
    }

    /// The `n x dim` row-major block recorded at `times[j]`. Panics when `j >= times.len()`.
    pub fn at(&self, j: usize) -> &[f32] {
        let block = self.per_time() * self.points.dim;
        &self.points.values[j * block..(j + 1) * block]
    }

    /// One table with the time as an extra last column (`dim + 1` columns, time rounded to f32).
    pub fn with_time_column(&self) -> Points {
        let d = self.points.dim;
        let mut values = Vec::with_capacity(self.points.values.len() + self.time_of_row.len());
        for (row, &t) in self.points.rows().zip(&self.time_of_row) {
            values.extend_from_slice(row);
            values.push(t as f32);
        }
        Points { dim: d + 1, values }
    }
}
