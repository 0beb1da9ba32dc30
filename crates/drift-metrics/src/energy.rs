//! Energy distance between two point sets (V-statistic), from exact all-pairs Euclidean
//! distances summed deterministically.

#[cfg(target_arch = "x86_64")]
use pulp::x86::V3;

use crate::MetricError;
#[cfg(target_arch = "x86_64")]
use crate::fastexp::LANES;
use crate::input::{check_set, sq_dist, widen};
#[cfg(target_arch = "x86_64")]
use crate::pairs::store;
use crate::pairs::{Columns, PairKernel, Pairs, row_sums};

/// Energy distance `2 E|X - Y| - E|X - X'| - E|Y - Y'|` between the empirical measures of `a`
/// (n points) and `b` (m points), Euclidean norm, as a V-statistic (every pair, the zero
/// diagonal included):
/// `2 sum_{i,j} |a_i - b_j| / (n m) - sum_{i,j} |a_i - a_j| / n^2 - sum_{i,j} |b_i - b_j| / m^2`.
/// This is dcor's `energy_distance` (default V-statistic) and the square of SciPy's
/// `scipy.stats.energy_distance` (which returns its square root, 1D only). It is >= 0 up to
/// rounding, 0 for identical sets, and sizes may differ (n, m >= 1).
pub fn energy_distance(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 1)?;
    let m = check_set("b", b, dim, 1)?;
    let (a, b) = (widen(a), widen(b));
    let (cols_a, cols_b) = (Columns::new(&a, dim), Columns::new(&b, dim));
    // Within-set sums over i < j, doubled; the diagonal is zero.
    let saa = 2.0
        * row_sums(&Distance, &a, &cols_a, Pairs::Upper)
            .iter()
            .sum::<f64>();
    let sbb = 2.0
        * row_sums(&Distance, &b, &cols_b, Pairs::Upper)
            .iter()
            .sum::<f64>();
    let sab = row_sums(&Distance, &a, &cols_b, Pairs::All)
        .iter()
        .sum::<f64>();
    let (nf, mf) = (n as f64, m as f64);
    Ok(2.0 * sab / (nf * mf) - saa / (nf * nf) - sbb / (mf * mf))
}

/// `|x - y|`, the square root of `sq_dist`.
struct Distance;

impl PairKernel for Distance {
    #[inline(always)]
    fn pair(&self, x: &[f64], y: &[f64]) -> f64 {
        sq_dist(x, y).sqrt()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn lanes(&self, simd: V3, x: &[f64], cols: &Columns<'_>, j: usize, out: &mut [f64; LANES]) {
        let [lo, hi] = cols.sq_dists_v3(simd, x, j);
        store([simd.sqrt_f64x4(lo), simd.sqrt_f64x4(hi)], out);
    }
}
