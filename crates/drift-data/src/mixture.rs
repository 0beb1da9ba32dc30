//! Isotropic Gaussian mixtures: the [`Mixture`] description (means, per-component stds,
//! weights) with its exact log-density, and the `gaussian_mixture` generator, whose means are a
//! fixed function of its parameters.

use rand_chacha::ChaCha8Rng;

use crate::{DataError, rng};

/// A mixture of isotropic Gaussians in `dim` dimensions:
/// `p(x) = sum_k weights[k] N(x; means[k], stds[k]^2 I)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    /// Dimension of every component.
    pub dim: usize,
    /// Row-major `components x dim` means: component `k` is `means[k * dim..(k + 1) * dim]`.
    pub means: Vec<f64>,
    /// Isotropic standard deviation of each component (every coordinate has this std).
    pub stds: Vec<f64>,
    /// Component weights, positive and summing to 1.
    pub weights: Vec<f64>,
}

impl Mixture {
    /// Number of components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Mean of component `k`. Panics when `k >= self.components()`, like slice indexing.
    pub fn mean(&self, k: usize) -> &[f64] {
        &self.means[k * self.dim..(k + 1) * self.dim]
    }

    /// Exact log-density at each row of the row-major `points` (`n x dim`; a trailing partial
    /// row is ignored):
    ///
    /// `log p(x) = logsumexp_k [ ln w_k - (d / 2) ln(2 pi s_k^2) - |x - m_k|^2 / (2 s_k^2) ]`
    ///
    /// evaluated in f64 with the maximum term factored out (so far-away points give a finite,
    /// very negative value instead of `-inf` from underflow). `exp`/`ln` are `libm`'s.
    pub fn log_density(&self, points: &[f64]) -> Vec<f64> {
        let d = self.dim;
        if d == 0 {
            return Vec::new();
        }
        // Per-component constant ln w_k - (d / 2) ln(2 pi s_k^2) and 1 / (2 s_k^2); a
        // hand-built description with inconsistent lengths uses its complete components only.
        let k_max = self.weights.len().min(self.means.len() / d);
        let consts: Vec<(f64, f64)> = self.weights[..k_max]
            .iter()
            .zip(&self.stds)
            .map(|(&w, &s)| {
                let var = s * s;
                (
                    libm::log(w) - 0.5 * d as f64 * libm::log(2.0 * std::f64::consts::PI * var),
                    0.5 / var,
                )
            })
            .collect();
        let mut terms = vec![0.0; consts.len()];
        points
            .chunks_exact(d)
            .map(|x| {
                let mut best = f64::NEG_INFINITY;
                for (k, (c, inv2v)) in consts.iter().enumerate() {
                    let m = self.mean(k);
                    let r2: f64 = x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
                    terms[k] = c - r2 * inv2v;
                    best = best.max(terms[k]);
                }
                if !best.is_finite() {
                    return best;
                }
                let s: f64 = terms.iter().map(|t| libm::exp(t - best)).sum();
                best + libm::log(s)
            })
            .collect()
    }

    /// Cumulative weights, for drawing a component with [`rng::categorical`].
    pub(crate) fn cumulative_weights(&self) -> Vec<f64> {
        let mut acc = 0.0;
        self.weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect()
    }

    /// Row-major `n x dim` samples: per point a component (one U[0, 1) draw against the
    /// cumulative weights), then `dim` standard normals scaled by the component's std.
    pub(crate) fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let cumulative = self.cumulative_weights();
        let mut v = Vec::with_capacity(n * self.dim);
        for _ in 0..n {
            let k = rng::categorical(rng, &cumulative);
            let s = self.stds[k];
            for &m in self.mean(k) {
                v.push(m + s * rng::normal(rng));
            }
        }
        v
    }

    /// A mixture with equal weights and one common std over the given 2D centres.
    pub(crate) fn equal_2d(centres: &[[f64; 2]], std: f64) -> Self {
        let k = centres.len();
        Self {
            dim: 2,
            means: centres.iter().flatten().copied().collect(),
            stds: vec![std; k],
            weights: vec![1.0 / k as f64; k],
        }
    }
}

/// Parameters of the `gaussian_mixture` generator.
///
/// The means are `spread * z_k`, `z_k ~ N(0, I_dim)`, drawn from a ChaCha8 stream whose
/// 32-byte key is `"drift-gm"`, `dim`, `components` and `means_seed` (each as a little-endian
/// u64): a function of the parameters only, never of the sample seed, so that the train,
/// validation and test splits (different sample seeds) share one mixture. Changing `spread`
/// only rescales the means.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixtureParams {
    /// Dimension (>= 1). Default 2.
    pub dim: usize,
    /// Number of components (>= 1). Default 8.
    pub components: usize,
    /// Scale of the component means (finite, >= 0). Default 4.
    pub spread: f64,
    /// Isotropic std of every component (finite, > 0). Default 0.5.
    pub std: f64,
    /// Component weights (positive, finite, `components` of them; normalised to sum 1).
    /// `None` (the default) gives equal weights.
    pub weights: Option<Vec<f64>>,
    /// Selects another fixed set of means for the same (dim, components). Default 0.
    pub means_seed: u64,
}

impl Default for GaussianMixtureParams {
    fn default() -> Self {
        Self {
            dim: 2,
            components: 8,
            spread: 4.0,
            std: 0.5,
            weights: None,
            means_seed: 0,
        }
    }
}

/// Largest `dim * components` accepted (the means are held in memory).
pub const MAX_MIXTURE_SIZE: usize = 1 << 26;

impl GaussianMixtureParams {
    /// Check every parameter; the error names the parameter, the value and what is accepted.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |parameter: &'static str, value: String, expected: &'static str| {
            Err(DataError::InvalidParameter {
                generator: "gaussian_mixture",
                parameter,
                value,
                expected,
            })
        };
        if self.dim == 0 {
            return bad("dim", "0".into(), "an integer >= 1");
        }
        if self.components == 0 {
            return bad("components", "0".into(), "an integer >= 1");
        }
        if self.dim.saturating_mul(self.components) > MAX_MIXTURE_SIZE {
            return bad(
                "components",
                format!("{} (with dim {})", self.components, self.dim),
                "dim * components <= 67108864",
            );
        }
        if !(self.spread.is_finite() && self.spread >= 0.0) {
            return bad("spread", self.spread.to_string(), "a finite number >= 0");
        }
        if !(self.std.is_finite() && self.std > 0.0) {
            return bad("std", self.std.to_string(), "a finite number > 0");
        }
        if let Some(w) = &self.weights {
            if w.len() != self.components {
                return bad(
                    "weights",
                    format!("a list of {} numbers", w.len()),
                    "one weight per component (`components` numbers)",
                );
            }
            if let Some(x) = w.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return bad(
                    "weights",
                    format!("{w:?} (entry {x})"),
                    "finite weights > 0 (normalised to sum 1)",
                );
            }
            let total: f64 = w.iter().sum();
            if !total.is_finite() {
                return bad(
                    "weights",
                    format!("{w:?} (sum {total})"),
                    "weights with a finite sum",
                );
            }
        }
        Ok(())
    }

    /// The mixture these parameters define (the means as documented on the struct).
    /// Parameters are not re-validated; call [`GaussianMixtureParams::validate`] first.
    pub fn mixture(&self) -> Mixture {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(b"drift-gm");
        key[8..16].copy_from_slice(&(self.dim as u64).to_le_bytes());
        key[16..24].copy_from_slice(&(self.components as u64).to_le_bytes());
        key[24..].copy_from_slice(&self.means_seed.to_le_bytes());
        let mut rng = rng::keyed_stream(key);
        let means = (0..self.dim * self.components)
            .map(|_| self.spread * rng::normal(&mut rng))
            .collect();
        let weights = match &self.weights {
            Some(w) => {
                let total: f64 = w.iter().sum();
                w.iter().map(|x| x / total).collect()
            }
            None => vec![1.0 / self.components as f64; self.components],
        };
        Mixture {
            dim: self.dim,
            means,
            stds: vec![self.std; self.components],
            weights,
        }
    }
}
