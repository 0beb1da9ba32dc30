//! Input validation shared by every metric: shapes, minimum sizes and finiteness, plus the
//! f32 -> f64 widening all metrics compute in.

use crate::MetricError;

/// Validate a row-major `n x dim` point set and return `n`.
pub(crate) fn check_set(
    set: &'static str,
    values: &[f32],
    dim: usize,
    min_points: usize,
) -> Result<usize, MetricError> {
    if dim == 0 {
        return Err(MetricError::ZeroDimension);
    }
    if !values.len().is_multiple_of(dim) {
        return Err(MetricError::RaggedInput {
            set,
            len: values.len(),
            dim,
        });
    }
    let n = values.len() / dim;
    if n < min_points {
        return Err(MetricError::TooFewPoints {
            set,
            n,
            min: min_points,
        });
    }
    if let Some(row) = values
        .chunks_exact(dim)
        .position(|r| r.iter().any(|v| !v.is_finite()))
    {
        return Err(MetricError::NonFinite { set, row });
    }
    Ok(n)
}

/// Require equal sizes (for the transport metrics).
pub(crate) fn check_equal(metric: &'static str, n_a: usize, n_b: usize) -> Result<(), MetricError> {
    if n_a == n_b {
        Ok(())
    } else {
        Err(MetricError::SizeMismatch { metric, n_a, n_b })
    }
}

/// Widen to f64 once; every metric computes in f64.
pub(crate) fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// Squared Euclidean distance, summed over coordinates in order.
#[inline]
pub(crate) fn sq_dist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum()
}
