//! drift-metrics: sample-quality metrics between point clouds, computed in f64 and
//! bit-identical for any thread count: exact W2 and W1, sliced W2 and W1, unbiased MMD^2
//! (multi-bandwidth Gaussian, linear, polynomial), energy distance, mean and median errors,
//! k-NN precision and recall, mixture mode coverage and ODE trajectory straightness, plus
//! their catalogue for `drift list metrics`.
//!
//! All inputs are row-major `f32` blocks (`n x dim`); each is validated (shape, size,
//! finiteness, naming the offending set and row) and widened to f64 before any arithmetic.
//! Parallel parts (rayon) write one value per row or direction into an index-ordered buffer
//! that is then summed sequentially, so results never depend on `RAYON_NUM_THREADS`. The
//! all-pairs kernel sums (`pairs`) fix their summation order by the data alone and evaluate
//! lanes with the same IEEE operations as single pairs, so they also do not depend on whether
//! the CPU has AVX2 (`fastexp` is the crate's own exponential, so no libm either).

mod assignment;
mod energy;
mod fastexp;
mod frechet;
mod input;
mod knn;
mod location;
mod mmd;
mod modes;
mod pairs;
mod sliced;
mod trajectory;
mod w1;
mod w2;

pub use energy::energy_distance;
pub use frechet::frechet_distance;
pub use knn::{KNN_DEFAULT_K, PrecisionRecall, knn_precision_recall};
pub use location::{mean_error, median_error};
pub use mmd::{
    MMD_POLY_DEFAULT_COEF0, MMD_POLY_DEFAULT_DEGREE, MMD_SIGMAS, mmd, mmd_linear, mmd_poly,
    mmd_poly_with, mmd_with_sigmas,
};
pub use modes::{MODE_DEFAULT_MIN_COUNT, MODE_DEFAULT_THRESHOLD, ModeCoverage, mode_coverage};
pub use sliced::{
    SLICED_W1_DEFAULT_PROJECTIONS, SLICED_W2_DEFAULT_PROJECTIONS, sliced_directions, sliced_w1,
    sliced_w1_with_directions, sliced_w2, sliced_w2_with_directions,
};
pub use trajectory::{Quadrature, Trajectories, TrajectoryMetrics, trajectory_metrics};
pub use w1::w1;
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
    /// Sliced W2 or W1 was asked for zero directions.
    #[error("sliced Wasserstein needs at least one projection direction")]
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
    /// A metric parameter is out of its range.
    #[error("{metric}: parameter `{param}` {reason}")]
    InvalidParameter {
        metric: &'static str,
        param: &'static str,
        reason: String,
    },
    /// The mixture description given to `mode_coverage` is malformed.
    #[error("mode_coverage: invalid mixture: {reason}")]
    InvalidMixture { reason: String },
    /// The paths given to `trajectory_metrics` are malformed.
    #[error("trajectory metrics: {reason}")]
    InvalidTrajectories { reason: String },
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

/// Every metric, in a stable order: `w2`, `sliced_w2`, `mmd`, then `w1`, `sliced_w1`,
/// `mmd_linear`, `mmd_poly`, `energy_distance`, `mean_error`, `median_error`,
/// `knn_precision`, `knn_recall`, `mode_coverage`, `off_mode_fraction`, `straightness`,
/// `path_energy`.
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
        MetricInfo {
            name: "w1",
            definition: "exact 1-Wasserstein distance between the uniform empirical measures of two \
                         equal-size sets: min over permutations p of mean_i |a_i - b_p(i)| \
                         (Euclidean, not squared), solved exactly by the w2 assignment solver on \
                         Euclidean costs in f64 (O(n^3))",
            params: &[],
        },
        MetricInfo {
            name: "sliced_w1",
            definition: "sliced 1-Wasserstein distance between two equal-size sets: mean over k unit \
                         directions u of mean_i |sort(a.u)_i - sort(b.u)_i|; the same seeded \
                         directions as sliced_w2",
            params: &[
                ("projections", "number of random directions (default 256)"),
                ("seed", "u64 seed of the direction stream"),
            ],
        },
        MetricInfo {
            name: "mmd_linear",
            definition: "unbiased squared MMD with the linear kernel k(x, y) = x.y: \
                         sum_{i!=j} a_i.a_j / (n(n-1)) + sum_{i!=j} b_i.b_j / (m(m-1)) - 2 mean_{i,j} a_i.b_j, \
                         computed as |mean(a) - mean(b)|^2 - s_a^2/n - s_b^2/m with s^2 the total \
                         unbiased variance; the biased form is mean_error^2; n, m >= 2; may be slightly negative",
            params: &[],
        },
        MetricInfo {
            name: "mmd_poly",
            definition: "unbiased squared MMD (same estimator as mmd) with the polynomial kernel \
                         k(x, y) = (x.y / dim + c)^degree, as in KID; n, m >= 2; may be slightly negative",
            params: &[
                ("degree", "integer power, at least 1 (default 3)"),
                ("coef0", "offset c, finite (default 1)"),
            ],
        },
        MetricInfo {
            name: "energy_distance",
            definition: "energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Euclidean) between the \
                         empirical measures, as a V-statistic (all pairs, zero diagonal included: \
                         within-set sums divided by n^2 and m^2), dcor's convention and the square of \
                         scipy.stats.energy_distance; sizes may differ",
            params: &[],
        },
        MetricInfo {
            name: "mean_error",
            definition: "|mean(a) - mean(b)|_2, the Euclidean distance between the coordinate-wise means",
            params: &[],
        },
        MetricInfo {
            name: "median_error",
            definition: "|median(a) - median(b)|_2 with coordinate-wise medians; the median of an even \
                         count is the mean of the two middle values",
            params: &[],
        },
        MetricInfo {
            name: "knn_precision",
            definition: "k-NN precision (Kynkaanniemi et al. 2019): fraction of generated points inside \
                         the real manifold, the union of closed balls around each real point with radius \
                         its distance to its k-th nearest other real point; exact brute force",
            params: &[("k", "neighbourhood size, at least 1 (default 3)")],
        },
        MetricInfo {
            name: "knn_recall",
            definition: "k-NN recall (Kynkaanniemi et al. 2019): fraction of real points inside the \
                         generated manifold (balls around generated points, radius = distance to the \
                         k-th nearest other generated point); exact brute force",
            params: &[("k", "neighbourhood size, at least 1 (default 3)")],
        },
        MetricInfo {
            name: "mode_coverage",
            definition: "for samples of a known isotropic Gaussian mixture (means mu_j, stds s_j): each \
                         sample goes to the component minimising |x - mu_j| / s_j and is on-mode when \
                         that scaled distance is <= threshold; the fraction of components with at \
                         least min_count on-mode samples",
            params: &[
                (
                    "threshold",
                    "on-mode radius in standard deviations (default 3)",
                ),
                (
                    "min_count",
                    "on-mode samples a component needs to be covered (default 20)",
                ),
            ],
        },
        MetricInfo {
            name: "off_mode_fraction",
            definition: "for samples of a known isotropic Gaussian mixture: the fraction of samples that \
                         are not on-mode (see mode_coverage)",
            params: &[(
                "threshold",
                "on-mode radius in standard deviations (default 3)",
            )],
        },
        MetricInfo {
            name: "straightness",
            definition: "of n ODE sampling paths on times t_0 < ... < t_K (T = t_K - t_0, D = x_K - x_0): \
                         mean over paths of (1/T) int |D - T v(x_t, t)|^2 dt (Liu et al. 2022; Lee et \
                         al. 2023's curvature), the integral by the left-point rule over the solver's \
                         velocity evaluations (or the trapezoid rule with velocities at every node); \
                         0 for straight constant-speed paths",
            params: &[("quadrature", "left_point (default) or trapezoid")],
        },
        MetricInfo {
            name: "path_energy",
            definition: "of n ODE sampling paths: normalised path energy \
                         (mean T int |v|^2 dt - mean |D|^2) / mean |D|^2 with D = x_K - x_0 and the same \
                         quadrature as straightness; >= 0, 0 for straight constant-speed paths",
            params: &[("quadrature", "left_point (default) or trapezoid")],
        },
        MetricInfo {
            name: "fd",
            definition: "Frechet distance between Gaussians fitted to two feature sets (FID's formula; \
                         drift computes it on a classifier's features): |mu_a - mu_b|^2 + tr(S_a) + \
                         tr(S_b) - 2 tr((S_a S_b)^(1/2)) with unbiased (n - 1) covariances, the \
                         square-root trace as sum_i sqrt(max(lambda_i, 0)) over the eigenvalues of \
                         S_a^(1/2) S_b S_a^(1/2) (cyclic Jacobi, f64); sizes may differ (n, m >= 2); \
                         a round-off negative result is returned as 0",
            params: &[],
        },
    ]
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
