//! Mode coverage of samples against a known isotropic Gaussian mixture: nearest component in
//! units of its standard deviation, on-mode within a threshold, covered components and the
//! off-mode fraction.

use rayon::prelude::*;

use crate::MetricError;
use crate::input::{check_set, sq_dist, widen};

/// Default on-mode threshold, in standard deviations of the nearest component (VEEGAN's
/// "high-quality sample": within three standard deviations of the nearest mode).
pub const MODE_DEFAULT_THRESHOLD: f64 = 3.0;

/// Default number of on-mode samples a component needs to count as covered (the PacGAN
/// convention on the 2D ring and grid: a mode with fewer than 20 of 2500 samples within three
/// standard deviations is lost).
pub const MODE_DEFAULT_MIN_COUNT: usize = 20;

/// The result of [`mode_coverage`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModeCoverage {
    /// Fraction of components with at least `min_count` on-mode samples.
    pub coverage: f64,
    /// Fraction of samples that are not on-mode.
    pub off_mode_fraction: f64,
    /// On-mode samples per component, in component order.
    pub on_mode_counts: Vec<usize>,
}

/// Mode coverage of `samples` (row-major, `dim` columns, at least one point) for the mixture
/// with component means `means` (row-major `k x dim`) and isotropic standard deviations
/// `stds` (`k`, positive). Each sample goes to the component `j` minimising the scaled
/// distance `|x - mu_j| / std_j` (the lowest index on a tie); it is on-mode when that scaled
/// distance is `<= threshold`. `coverage` is the fraction of components that receive at
/// least `min_count` on-mode samples; `off_mode_fraction` the fraction of samples that are not
/// on-mode. Mixture weights play no part. Defaults: [`MODE_DEFAULT_THRESHOLD`] (3) and
/// [`MODE_DEFAULT_MIN_COUNT`] (20).
pub fn mode_coverage(
    samples: &[f32],
    dim: usize,
    means: &[f64],
    stds: &[f64],
    threshold: f64,
    min_count: usize,
) -> Result<ModeCoverage, MetricError> {
    let n = check_set("samples", samples, dim, 1)?;
    let invalid = |reason: String| Err(MetricError::InvalidMixture { reason });
    if means.is_empty() || !means.len().is_multiple_of(dim) {
        return invalid(format!(
            "means have {} values, which is not a positive multiple of dim {dim}",
            means.len()
        ));
    }
    let k = means.len() / dim;
    if stds.len() != k {
        return invalid(format!("{k} means but {} standard deviations", stds.len()));
    }
    if let Some(j) = means
        .chunks_exact(dim)
        .position(|m| m.iter().any(|v| !v.is_finite()))
    {
        return invalid(format!("mean {j} has a non-finite coordinate"));
    }
    if let Some(j) = stds.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return invalid(format!(
            "standard deviation {j} is {}, expected positive and finite",
            stds[j]
        ));
    }
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(MetricError::InvalidParameter {
            metric: "mode_coverage",
            param: "threshold",
            reason: format!("must be positive and finite, got {threshold}"),
        });
    }
    if min_count == 0 {
        return Err(MetricError::InvalidParameter {
            metric: "mode_coverage",
            param: "min_count",
            reason: "must be at least 1".into(),
        });
    }
    let samples = widen(samples);
    // Per sample: the on-mode component, if any.
    let assigned: Vec<Option<usize>> = samples
        .par_chunks_exact(dim)
        .map(|x| {
            let (mut best, mut best_scaled) = (0, f64::INFINITY);
            for (j, (mu, s)) in means.chunks_exact(dim).zip(stds).enumerate() {
                let scaled = sq_dist(x, mu).sqrt() / s;
                if scaled < best_scaled {
                    (best, best_scaled) = (j, scaled);
                }
            }
            (best_scaled <= threshold).then_some(best)
        })
        .collect();
    let mut on_mode_counts = vec![0usize; k];
    for j in assigned.iter().flatten() {
        on_mode_counts[*j] += 1;
    }
    let on_mode: usize = on_mode_counts.iter().sum();
    let covered = on_mode_counts.iter().filter(|&&c| c >= min_count).count();
    Ok(ModeCoverage {
        coverage: covered as f64 / k as f64,
        off_mode_fraction: (n - on_mode) as f64 / n as f64,
        on_mode_counts,
    })
}
