//! Location errors between two point sets: the distance between their means and between
//! their coordinate-wise medians.

use crate::MetricError;
use crate::input::{check_set, sq_dist, widen};
use crate::mmd::mean_and_scatter;

/// `|mean(a) - mean(b)|_2`, each mean coordinate-wise over the rows (sums in row order,
/// divided by the count). Sizes may differ (n, m >= 1).
pub fn mean_error(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    check_set("a", a, dim, 1)?;
    check_set("b", b, dim, 1)?;
    let (mean_a, _) = mean_and_scatter(&widen(a), dim);
    let (mean_b, _) = mean_and_scatter(&widen(b), dim);
    Ok(sq_dist(&mean_a, &mean_b).sqrt())
}

/// `|median(a) - median(b)|_2` with coordinate-wise medians; the median of an even count is
/// the mean `(lo + hi) / 2` of the two middle values. Sizes may differ (n, m >= 1).
pub fn median_error(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    check_set("a", a, dim, 1)?;
    check_set("b", b, dim, 1)?;
    Ok(sq_dist(&coordinate_medians(a, dim), &coordinate_medians(b, dim)).sqrt())
}

/// The coordinate-wise median of a validated row-major set.
pub(crate) fn coordinate_medians(points: &[f32], dim: usize) -> Vec<f64> {
    let n = points.len() / dim;
    let mut column = Vec::with_capacity(n);
    (0..dim)
        .map(|d| {
            column.clear();
            column.extend(points.chunks_exact(dim).map(|p| f64::from(p[d])));
            column.sort_unstable_by(f64::total_cmp);
            if n % 2 == 1 {
                column[n / 2]
            } else {
                (column[n / 2 - 1] + column[n / 2]) / 2.0
            }
        })
        .collect()
}
