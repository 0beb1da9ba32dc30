//! drift-metrics: sample-quality metrics between point clouds, computed in f64 and
//! bit-identical for any thread count: exact W2, sliced W2 and unbiased multi-bandwidth MMD^2,
//! plus their catalogue for `drift list metrics`.
//!
//! All inputs are row-major `f32` blocks (`n x dim`); each is validated (shape, size,
//! finiteness, naming the offending set and row) and widened to f64 before any arithmetic.
//! Parallel parts (rayon) write one value per row or direction into an index-ordered buffer
//! that is then summed sequentially, so results never depend on `RAYON_NUM_THREADS`.

mod assignment;
mod input;
mod mmd;
mod sliced;
mod w2;

pub use mmd::{MMD_SIGMAS, mmd, mmd_with_sigmas};
pub use sliced::{
    SLICED_W2_DEFAULT_PROJECTIONS, sliced_directions, sliced_w2, sliced_w2_with_directions,
};
pub use w2::w2;

/// Optimal assignment between equal-size point sets `a` and `b` (row-major f64, `dim`
/// columns) under squared Euclidean cost: `col[i]` is the point of `b` matched to point `i`
/// of `a`. Exact (the solver behind [`w2`]); used for minibatch optimal-transport couplings.
pub fn optimal_assignment(a: &[f64], b: &[f64], dim: usize) -> Vec<usize> {
    assignment::solve_points(a, b, dim)
}

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// `dim` was 0.
    #[error("point dimension must be at least 1")]
    ZeroDimension,
    /// A point set's length is not a multiple of `dim`.
    #[error("set `{set}` has {len} values, which is not a multiple of dim {dim}")]
    RaggedInput {
        set: &'static str,
        len: usize,
        dim: usize,
    },
    /// A metric that needs equal sizes got different ones.
    #[error("{metric} needs equal point counts, got {n_a} (a) and {n_b} (b)")]
    SizeMismatch {
        metric: &'static str,
        n_a: usize,
        n_b: usize,
    },
    /// Too few points in a set.
    #[error("set `{set}` has {n} points; at least {min} are needed")]
    TooFewPoints {
        set: &'static str,
        n: usize,
        min: usize,
    },
    /// A coordinate is NaN or infinite.
    #[error("set `{set}` row {row} has a non-finite coordinate")]
    NonFinite { set: &'static str, row: usize },
    /// Sliced W2 was asked for zero directions.
    #[error("sliced_w2 needs at least one projection direction")]
    NoDirections,
    /// The explicit directions' length is not a multiple of `dim`.
    #[error("directions have {len} values, which is not a multiple of dim {dim}")]
    RaggedDirections { len: usize, dim: usize },
    /// An explicit direction is not a unit vector.
    #[error("direction {index} has norm {norm}, expected 1")]
    NonUnitDirection { index: usize, norm: f64 },
    /// MMD bandwidths must be a non-empty list of positive finite numbers.
    #[error("MMD bandwidths must be non-empty, positive and finite, got {sigmas:?}")]
    InvalidBandwidths { sigmas: Vec<f64> },
}

/// One metric's entry in `drift list metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// Spec name of the metric.
    pub name: &'static str,
    /// Exact definition.
    pub definition: &'static str,
    /// (parameter, description with default).
    pub params: &'static [(&'static str, &'static str)],
}

/// Every metric, in a stable order: `w2`, `sliced_w2`, `mmd`.
pub fn catalogue() -> Vec<MetricInfo> {
    vec![
        MetricInfo {
            name: "w2",
            definition: "exact 2-Wasserstein distance between the uniform empirical measures of two \
                         equal-size sets: sqrt(min over permutations p of mean_i |a_i - b_p(i)|^2), \
                         solved as a dense assignment problem in f64 (O(n^3))",
            params: &[],
        },
        MetricInfo {
            name: "sliced_w2",
            definition: "sliced 2-Wasserstein distance between two equal-size sets: \
                         sqrt(mean over k unit directions u of mean_i (sort(a.u)_i - sort(b.u)_i)^2); \
                         directions are iid standard normal vectors drawn in f64 from \
                         ChaCha8Rng::seed_from_u64(seed), normalised to unit length",
            params: &[
                ("projections", "number of random directions (default 256)"),
                ("seed", "u64 seed of the direction stream"),
            ],
        },
        MetricInfo {
            name: "mmd",
            definition: "unbiased squared maximum mean discrepancy with kernel \
                         k(x, y) = sum over s in {0.01, 0.1, 1, 10, 100} of exp(-|x - y|^2 / (2 s^2)): \
                         sum_{i!=j} k(a_i, a_j) / (n(n-1)) + sum_{i!=j} k(b_i, b_j) / (m(m-1)) \
                         - 2 mean_{i,j} k(a_i, b_j); sizes may differ (n, m >= 2); may be slightly negative",
            params: &[],
        },
    ]
}

#[cfg(test)]
mod tests;
