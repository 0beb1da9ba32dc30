//! Exact 2-Wasserstein distance between two equal-size uniform point clouds, via the exact
//! squared-Euclidean assignment solver.

use crate::input::{check_equal, check_set, sq_dist, widen};
use crate::{MetricError, assignment};

/// Exact W2 between the uniform empirical measures on `a` and `b` (row-major, `dim` columns,
/// equal point counts): `sqrt(min over permutations p of mean_i |a_i - b_p(i)|^2)`.
///
/// Time is O(n^3) in the worst case and about a second for n = 2000 in 2D. Memory is O(n dim)
/// up to dim 8 (cost rows are recomputed on demand) and one dense n x n f64 matrix above.
pub fn w2(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 1)?;
    let m = check_set("b", b, dim, 1)?;
    check_equal("w2", n, m)?;
    let (a, b) = (widen(a), widen(b));
    let col = assignment::solve_points(&a, &b, dim);
    let total: f64 = a
        .chunks_exact(dim)
        .zip(&col)
        .map(|(x, &j)| sq_dist(x, &b[j * dim..(j + 1) * dim]))
        .sum();
    Ok((total / n as f64).max(0.0).sqrt())
}
