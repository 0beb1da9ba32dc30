//! Exact 1-Wasserstein distance between two equal-size uniform point clouds, via the exact
//! assignment solver under Euclidean cost.

use crate::MetricError;
use crate::assignment::{self, Ground};
use crate::input::{check_equal, check_set, sq_dist, widen};

/// Exact W1 between the uniform empirical measures on `a` and `b` (row-major, `dim` columns,
/// equal point counts): `min over permutations p of mean_i |a_i - b_p(i)|`, Euclidean (not
/// squared) ground cost. For uniform measures of equal size an optimal plan is a permutation
/// (Birkhoff), so this is the optimal-transport value.
///
/// Same solver, time and memory as [`w2`](crate::w2), on the costs `sqrt(|a_i - b_j|^2)`.
pub fn w1(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 1)?;
    let m = check_set("b", b, dim, 1)?;
    check_equal("w1", n, m)?;
    let (a, b) = (widen(a), widen(b));
    let col = assignment::solve_points_with(&a, &b, dim, Ground::Euclidean);
    let total: f64 = a
        .chunks_exact(dim)
        .zip(&col)
        .map(|(x, &j)| sq_dist(x, &b[j * dim..(j + 1) * dim]).sqrt())
        .sum();
    Ok(total / n as f64)
}
