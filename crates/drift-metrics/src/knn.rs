//! k-nearest-neighbour precision and recall (Kynkaanniemi et al. 2019, "Improved precision
//! and recall metric for assessing generative models"), exact by brute force: O(n^2 dim)
//! distance evaluations, parallel over points, deterministic.

use rayon::prelude::*;

use crate::MetricError;
use crate::fastexp::LANES;
use crate::input::{check_set, sq_dist, widen};
use crate::pairs::Columns;

/// Default neighbourhood size `k` of `knn_precision` / `knn_recall` (the paper's k = 3).
pub const KNN_DEFAULT_K: usize = 3;

/// Precision and recall of a generated set against a real one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecall {
    /// Fraction of generated points inside the real manifold.
    pub precision: f64,
    /// Fraction of real points inside the generated manifold.
    pub recall: f64,
}

/// k-NN precision and recall. The manifold of a set is the union over its points `p` of the
/// closed balls `{x : |x - p| <= r_k(p)}`, where `r_k(p)` is the distance from `p` to its
/// k-th nearest neighbour among the *other* points of the same set (a duplicate of `p`
/// counts, at distance 0). `precision` is the fraction of generated points inside the real
/// manifold, `recall` the fraction of real points inside the generated manifold. Distances
/// are Euclidean; comparisons are made on squared distances (`|x - p|^2 <= r_k(p)^2`, both
/// computed in f64 from the same coordinate differences), which is the same test without a
/// square root. Each set needs at least `k + 1` points; sizes may differ.
///
/// Cost: O((n + m)^2 dim) for the radii and at most O(n m dim) for the memberships (a point's
/// scan stops at the first ball that contains it); about a second for 10k x 10k in 2D.
pub fn knn_precision_recall(
    real: &[f32],
    generated: &[f32],
    dim: usize,
    k: usize,
) -> Result<PrecisionRecall, MetricError> {
    if k == 0 {
        return Err(MetricError::InvalidParameter {
            metric: "knn_precision_recall",
            param: "k",
            reason: "must be at least 1".into(),
        });
    }
    let n = check_set("real", real, dim, k.saturating_add(1))?;
    let m = check_set("generated", generated, dim, k.saturating_add(1))?;
    let (real, generated) = (widen(real), widen(generated));
    let (cols_real, cols_gen) = (Columns::new(&real, dim), Columns::new(&generated, dim));
    let radii_real = kth_neighbour_sq_dists(&cols_real, k);
    let radii_gen = kth_neighbour_sq_dists(&cols_gen, k);
    let inside_real = count_inside(&generated, dim, &cols_real, &radii_real);
    let inside_gen = count_inside(&real, dim, &cols_gen, &radii_gen);
    Ok(PrecisionRecall {
        precision: inside_real as f64 / m as f64,
        recall: inside_gen as f64 / n as f64,
    })
}

/// For every point of `set`, the k-th smallest squared distance to the other points.
pub(crate) fn kth_neighbour_sq_dists(set: &Columns<'_>, k: usize) -> Vec<f64> {
    let n = set.n;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let x = set.point(i);
            // The k smallest so far, ascending.
            let mut best = vec![f64::INFINITY; k];
            let mut d2 = [0.0; LANES];
            let mut j = 0;
            while j + LANES <= n {
                set.sq_dists(x, j, &mut d2);
                let worst = best[k - 1];
                if d2.iter().any(|&d| d < worst) {
                    for (l, &d) in d2.iter().enumerate() {
                        if j + l != i {
                            offer(&mut best, d);
                        }
                    }
                }
                j += LANES;
            }
            for jj in j..n {
                if jj != i {
                    offer(&mut best, sq_dist(x, set.point(jj)));
                }
            }
            best[k - 1]
        })
        .collect()
}

/// Insert `d` into the ascending list `best` of the smallest values so far, if it belongs.
#[inline]
fn offer(best: &mut [f64], d: f64) {
    let k = best.len();
    if d < best[k - 1] {
        let mut pos = k - 1;
        while pos > 0 && best[pos - 1] > d {
            best[pos] = best[pos - 1];
            pos -= 1;
        }
        best[pos] = d;
    }
}

/// How many rows of `points` lie in at least one ball `|x - c_j|^2 <= radii[j]`.
fn count_inside(points: &[f64], dim: usize, centres: &Columns<'_>, radii: &[f64]) -> usize {
    let n = centres.n;
    let inside: Vec<bool> = points
        .par_chunks_exact(dim)
        .map(|x| {
            let mut d2 = [0.0; LANES];
            let mut j = 0;
            while j + LANES <= n {
                centres.sq_dists(x, j, &mut d2);
                let r = &radii[j..j + LANES];
                if d2.iter().zip(r).any(|(d, r)| d <= r) {
                    return true;
                }
                j += LANES;
            }
            (j..n).any(|jj| sq_dist(x, centres.point(jj)) <= radii[jj])
        })
        .collect();
    inside.iter().filter(|&&b| b).count()
}
