//! Unbiased squared maximum mean discrepancies: the fixed multi-bandwidth Gaussian kernel
//! (`mmd`), the linear kernel (`mmd_linear`) and the KID-style polynomial kernel
//! (`mmd_poly`), reduced deterministically (per-row partial sums, then a sequential sum).

#[cfg(target_arch = "x86_64")]
use pulp::{bytemuck::cast, x86::V3};

use crate::MetricError;
use crate::fastexp::exp_scalar;
#[cfg(target_arch = "x86_64")]
use crate::fastexp::{LANES, exp4};
use crate::input::{check_set, sq_dist, widen};
#[cfg(target_arch = "x86_64")]
use crate::pairs::store;
use crate::pairs::{Columns, PairKernel, Pairs, row_sums, spatially_ordered};

/// Bandwidths of the default MMD kernel `k(x, y) = sum_s exp(-|x - y|^2 / (2 s^2))`.
pub const MMD_SIGMAS: [f64; 5] = [0.01, 0.1, 1.0, 10.0, 100.0];

/// Default degree of the `mmd_poly` kernel `(x.y / dim + c)^degree` (KID's).
pub const MMD_POLY_DEFAULT_DEGREE: u32 = 3;

/// Default offset `c` of the `mmd_poly` kernel (KID's).
pub const MMD_POLY_DEFAULT_COEF0: f64 = 1.0;

/// Unbiased MMD^2 between `a` (n points) and `b` (m points), n, m >= 2, with the kernel over
/// [`MMD_SIGMAS`]:
/// `sum_{i != j} k(a_i, a_j) / (n (n - 1)) + sum_{i != j} k(b_i, b_j) / (m (m - 1))
///  - 2 sum_{i, j} k(a_i, b_j) / (n m)`. Can be slightly negative.
///
/// Each within-set sum is taken over `i < j` and doubled; per-row sums are taken in a fixed
/// blocked order (see the pair engine) and added in row order. The exponent is formed as
/// `|x - y|^2 * (-1 / (2 s^2))` and the exponential is the crate's own (about 0.51 ulp, no
/// libm), evaluated the same way one pair at a time or four lanes at a time (x86-64 with
/// AVX2 + FMA), so the result is the same bits on every machine and at every thread count.
/// Compared with the earlier evaluation (libm `exp`, exponent by division, each row summed
/// strictly in column order) the value differs only by rounding: absolute differences below
/// 1e-14 (the kernel averages are of order 1), which on the reference fixtures is at most
/// 5e-13 relative (for a value of 2e-3).
pub fn mmd(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    mmd_with_sigmas(a, b, dim, &MMD_SIGMAS)
}

/// [`mmd`] with a caller-chosen, non-empty list of positive, finite bandwidths (each above
/// about 1e-154, so that `2 s^2` does not underflow).
pub fn mmd_with_sigmas(
    a: &[f32],
    b: &[f32],
    dim: usize,
    sigmas: &[f64],
) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 2)?;
    let m = check_set("b", b, dim, 2)?;
    // Each bandwidth must give a finite, negative exponent factor -1 / (2 s^2).
    let factor = |s: f64| -1.0 / (2.0 * s * s);
    let usable = |s: &f64| s.is_finite() && *s > 0.0 && factor(*s).is_finite();
    if sigmas.is_empty() || !sigmas.iter().all(usable) {
        return Err(MetricError::InvalidBandwidths {
            sigmas: sigmas.to_vec(),
        });
    }
    // Largest bandwidth first: the terms then come in decreasing size (see `Gaussian`).
    let mut sorted = sigmas.to_vec();
    sorted.sort_by(|x, y| y.total_cmp(x));
    let kernel = Gaussian {
        factors: sorted.iter().map(|&s| factor(s)).collect(),
    };
    // A spatially coherent point order lets whole lane chunks skip negligible terms.
    let (a, b) = (widen(a), widen(b));
    let (a, b) = (spatially_ordered(&a, dim), spatially_ordered(&b, dim));
    Ok(unbiased(&kernel, &a, &b, dim, n, m))
}

/// Unbiased MMD^2 with the linear kernel `k(x, y) = x.y`, n, m >= 2. The U-statistic
/// `sum_{i != j} a_i.a_j / (n (n - 1)) + sum_{i != j} b_i.b_j / (m (m - 1))
///  - 2 sum_{i, j} a_i.b_j / (n m)` equals `|mean(a) - mean(b)|^2 - s_a^2 / n - s_b^2 / m`,
/// where `s^2 = sum_i |x_i - mean|^2 / (count - 1)` is a set's total unbiased variance; it is
/// computed in that form (two passes, O((n + m) dim)), so it is exact up to rounding even
/// when the means are far from the origin. Can be slightly negative. The biased
/// (V-statistic) form is `|mean(a) - mean(b)|^2`, the square of [`mean_error`](crate::mean_error).
pub fn mmd_linear(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 2)?;
    let m = check_set("b", b, dim, 2)?;
    let (a, b) = (widen(a), widen(b));
    let (mean_a, ss_a) = mean_and_scatter(&a, dim);
    let (mean_b, ss_b) = mean_and_scatter(&b, dim);
    let (nf, mf) = (n as f64, m as f64);
    Ok(sq_dist(&mean_a, &mean_b) - ss_a / (nf * (nf - 1.0)) - ss_b / (mf * (mf - 1.0)))
}

/// Unbiased MMD^2 with the polynomial kernel `k(x, y) = (x.y / dim + c)^degree` and KID's
/// defaults, degree [`MMD_POLY_DEFAULT_DEGREE`] = 3 and c [`MMD_POLY_DEFAULT_COEF0`] = 1;
/// same estimator and reduction as [`mmd`]. The base is formed as `x.y * (1 / dim) + c`, as
/// scikit-learn's `polynomial_kernel(gamma = 1 / dim)` does.
pub fn mmd_poly(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    mmd_poly_with(a, b, dim, MMD_POLY_DEFAULT_DEGREE, MMD_POLY_DEFAULT_COEF0)
}

/// [`mmd_poly`] with an explicit `degree` (at least 1) and finite offset `coef0` (`c`).
pub fn mmd_poly_with(
    a: &[f32],
    b: &[f32],
    dim: usize,
    degree: u32,
    coef0: f64,
) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 2)?;
    let m = check_set("b", b, dim, 2)?;
    if degree == 0 {
        return Err(MetricError::InvalidParameter {
            metric: "mmd_poly",
            param: "degree",
            reason: "must be at least 1".into(),
        });
    }
    if !coef0.is_finite() {
        return Err(MetricError::InvalidParameter {
            metric: "mmd_poly",
            param: "coef0",
            reason: format!("must be finite, got {coef0}"),
        });
    }
    let kernel = Polynomial {
        gamma: 1.0 / dim as f64,
        coef0,
        degree,
    };
    Ok(unbiased(&kernel, &widen(a), &widen(b), dim, n, m))
}

/// The unbiased estimator from a symmetric kernel's row sums.
fn unbiased<K: PairKernel>(
    kernel: &K,
    a: &[f64],
    b: &[f64],
    dim: usize,
    n: usize,
    m: usize,
) -> f64 {
    let (cols_a, cols_b) = (Columns::new(a, dim), Columns::new(b, dim));
    // Within-set sums over i < j, doubled: the kernel is symmetric.
    let kaa = 2.0
        * row_sums(kernel, a, &cols_a, Pairs::Upper)
            .iter()
            .sum::<f64>();
    let kbb = 2.0
        * row_sums(kernel, b, &cols_b, Pairs::Upper)
            .iter()
            .sum::<f64>();
    let kab = row_sums(kernel, a, &cols_b, Pairs::All).iter().sum::<f64>();
    let (nf, mf) = (n as f64, m as f64);
    kaa / (nf * (nf - 1.0)) + kbb / (mf * (mf - 1.0)) - 2.0 * kab / (nf * mf)
}

/// Coordinate-wise mean (sequential sums) and total scatter `sum_i |x_i - mean|^2`.
pub(crate) fn mean_and_scatter(points: &[f64], dim: usize) -> (Vec<f64>, f64) {
    let n = (points.len() / dim) as f64;
    let mut mean = vec![0.0; dim];
    for p in points.chunks_exact(dim) {
        for (s, v) in mean.iter_mut().zip(p) {
            *s += v;
        }
    }
    for s in &mut mean {
        *s /= n;
    }
    let scatter = points.chunks_exact(dim).map(|p| sq_dist(p, &mean)).sum();
    (mean, scatter)
}

/// `sum_s exp(-|x - y|^2 / (2 s^2))`, the exponent formed as `|x - y|^2 * f_s` with
/// `f_s = -1 / (2 s^2)`, the bandwidths in decreasing order, so the terms come in decreasing
/// size and each is added to the running sum of the larger ones.
///
/// A term whose exponent is more than [`NEGLIGIBLE`] below the first (largest) term's is
/// not evaluated: it is below `e^-38 < 2^-54` times the first term, hence below half an ulp of
/// the running sum, and adding it would return the running sum unchanged. Skipping it is
/// therefore exact, and the single-pair and lane forms agree bit for bit whether a lane's
/// term is evaluated or not.
struct Gaussian {
    factors: Vec<f64>,
}

/// How far (in the exponent) below the first term a term has no effect on the sum.
const NEGLIGIBLE: f64 = 38.0;

impl PairKernel for Gaussian {
    #[inline(always)]
    fn pair(&self, x: &[f64], y: &[f64]) -> f64 {
        let d2 = sq_dist(x, y);
        let t0 = d2 * self.factors[0];
        let mut k = exp_scalar(t0);
        let floor = t0 - NEGLIGIBLE;
        for f in &self.factors[1..] {
            let t = d2 * f;
            if t >= floor {
                k += exp_scalar(t);
            }
        }
        k
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn lanes(&self, simd: V3, x: &[f64], cols: &Columns<'_>, j: usize, out: &mut [f64; LANES]) {
        let d2 = cols.sq_dists_v3(simd, x, j);
        let mut k = [simd.splat_f64x4(0.0); 2];
        for (kh, &dh) in k.iter_mut().zip(&d2) {
            let t0 = simd.mul_f64x4(dh, simd.splat_f64x4(self.factors[0]));
            *kh = exp4(simd, t0);
            let floor = simd.sub_f64x4(t0, simd.splat_f64x4(NEGLIGIBLE));
            for &f in &self.factors[1..] {
                let t = simd.mul_f64x4(dh, simd.splat_f64x4(f));
                // Lanes below the floor add exactly nothing, evaluated or not.
                let matters: [u64; 4] = cast(simd.cmp_ge_f64x4(t, floor));
                if matters.iter().any(|&m| m != 0) {
                    *kh = simd.add_f64x4(*kh, exp4(simd, t));
                }
            }
        }
        store(k, out);
    }
}

/// `(x.y / dim + coef0)^degree`, formed as `x.y * gamma + coef0` with `gamma = 1 / dim` (as
/// scikit-learn's `polynomial_kernel` does), the power taken by binary exponentiation.
struct Polynomial {
    gamma: f64,
    coef0: f64,
    degree: u32,
}

impl Polynomial {
    #[inline(always)]
    fn power(&self, base: f64) -> f64 {
        let (mut result, mut square, mut e) = (1.0f64, base, self.degree);
        loop {
            if e & 1 == 1 {
                result *= square;
            }
            e >>= 1;
            if e == 0 {
                return result;
            }
            square *= square;
        }
    }
}

impl PairKernel for Polynomial {
    #[inline(always)]
    fn pair(&self, x: &[f64], y: &[f64]) -> f64 {
        let mut dot = x[0] * y[0];
        for (p, q) in x.iter().zip(y).skip(1) {
            dot += p * q;
        }
        self.power(dot * self.gamma + self.coef0)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn lanes(&self, simd: V3, x: &[f64], cols: &Columns<'_>, j: usize, out: &mut [f64; LANES]) {
        let dot = cols.dots_v3(simd, x, j);
        let (gamma, coef0) = (simd.splat_f64x4(self.gamma), simd.splat_f64x4(self.coef0));
        let mut power = [simd.splat_f64x4(1.0); 2];
        for (p, &d) in power.iter_mut().zip(&dot) {
            let (mut square, mut e) =
                (simd.add_f64x4(simd.mul_f64x4(d, gamma), coef0), self.degree);
            loop {
                if e & 1 == 1 {
                    *p = simd.mul_f64x4(*p, square);
                }
                e >>= 1;
                if e == 0 {
                    break;
                }
                square = simd.mul_f64x4(square, square);
            }
        }
        store(power, out);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::pairs::row_sums_single;

    fn points(n: usize, dim: usize, scale: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim)
            .map(|_| (rng.random::<f64>() - 0.5) * scale)
            .collect()
    }

    /// The vectorised and the one-pair-at-a-time evaluations give the same bits.
    fn same_sums<K: PairKernel>(kernel: &K, a: &[f64], b: &[f64], dim: usize) {
        let (ca, cb) = (Columns::new(a, dim), Columns::new(b, dim));
        for (rows, cols, pairs) in [(a, &ca, Pairs::Upper), (a, &cb, Pairs::All)] {
            let fast = row_sums(kernel, rows, cols, pairs);
            let single = row_sums_single(kernel, rows, cols, pairs);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&single));
        }
    }

    #[test]
    fn lanes_and_single_pairs_agree_bit_for_bit() {
        for (dim, scale) in [
            (1, 3.0),
            (2, 0.05),
            (2, 6.0),
            (3, 1.0),
            (9, 2.0),
            (2, 4000.0),
        ] {
            let a = points(77, dim, scale, dim as u64);
            let b = points(50, dim, scale, 100 + dim as u64);
            let gaussian = Gaussian {
                factors: [100.0, 10.0, 1.0, 0.1, 0.01]
                    .iter()
                    .map(|s: &f64| -1.0 / (2.0 * s * s))
                    .collect(),
            };
            same_sums(&gaussian, &a, &b, dim);
            let poly = Polynomial {
                gamma: 1.0 / dim as f64,
                coef0: 1.0,
                degree: 3,
            };
            same_sums(&poly, &a, &b, dim);
        }
    }

    #[test]
    fn skipped_terms_change_nothing() {
        // The same pairs with every term evaluated and added in the same order.
        let factors: Vec<f64> = [100.0, 10.0, 1.0, 0.1, 0.01]
            .iter()
            .map(|s: &f64| -1.0 / (2.0 * s * s))
            .collect();
        let kernel = Gaussian {
            factors: factors.clone(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200_000 {
            let x = [(10f64).powf(rng.random::<f64>() * 4.0 - 2.0), 0.0];
            let d2 = x[0] * x[0];
            let full = factors[1..]
                .iter()
                .fold(exp_scalar(d2 * factors[0]), |k, f| k + exp_scalar(d2 * f));
            assert_eq!(
                kernel.pair(&x, &[0.0, 0.0]).to_bits(),
                full.to_bits(),
                "{d2:e}"
            );
        }
    }
}
