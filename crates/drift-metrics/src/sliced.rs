//! Sliced 2- and 1-Wasserstein distances: seeded random unit directions, 1D sorted matching
//! per direction, deterministic reduction over directions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::MetricError;
use crate::input::{check_equal, check_set, widen};

/// Default number of projections for `sliced_w2` in specs and listings.
pub const SLICED_W2_DEFAULT_PROJECTIONS: usize = 256;

/// Default number of projections for `sliced_w1` in specs and listings.
pub const SLICED_W1_DEFAULT_PROJECTIONS: usize = 256;

/// How far from 1 a direction's norm may be in [`sliced_w2_with_directions`].
const UNIT_TOLERANCE: f64 = 1e-6;

/// The `k x dim` row-major unit directions [`sliced_w2`] uses for `seed`: each is `dim` iid
/// standard normals (drawn in f64 from `ChaCha8Rng::seed_from_u64(seed)`, row by row)
/// divided by its Euclidean norm. A draw with zero norm is redrawn.
pub fn sliced_directions(dim: usize, projections: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(dim * projections);
    let mut g = vec![0.0f64; dim];
    for _ in 0..projections {
        let norm = loop {
            for x in &mut g {
                *x = rng.sample(StandardNormal);
            }
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                break norm;
            }
        };
        out.extend(g.iter().map(|x| x / norm));
    }
    out
}

/// Sliced W2 over `projections` seeded random directions (see [`sliced_directions`]):
/// `sqrt(mean over directions of W2^2 between the projected sets)`, where each 1D W2^2 is
/// the mean squared difference of the sorted projections. Needs equal point counts.
pub fn sliced_w2(
    a: &[f32],
    b: &[f32],
    dim: usize,
    projections: usize,
    seed: u64,
) -> Result<f64, MetricError> {
    seeded(
        "sliced_w2",
        a,
        b,
        dim,
        projections,
        seed,
        sliced_w2_with_directions,
    )
}

/// Sliced W2 with explicit directions: `directions` is row-major `k x dim`, each row a unit
/// vector (within 1e-6); they are used as given, not renormalised.
pub fn sliced_w2_with_directions(
    a: &[f32],
    b: &[f32],
    dim: usize,
    directions: &[f64],
) -> Result<f64, MetricError> {
    let mean = mean_over_directions("sliced_w2", a, b, dim, directions, |x, y| (x - y) * (x - y))?;
    Ok(mean.max(0.0).sqrt())
}

/// Sliced W1 over `projections` seeded random directions, the same directions as
/// [`sliced_w2`] for the same `seed` (see [`sliced_directions`]): the mean over directions
/// `u` of the 1D W1 between the projected sets, `mean_i |sort(a.u)_i - sort(b.u)_i|`. Needs
/// equal point counts.
pub fn sliced_w1(
    a: &[f32],
    b: &[f32],
    dim: usize,
    projections: usize,
    seed: u64,
) -> Result<f64, MetricError> {
    seeded(
        "sliced_w1",
        a,
        b,
        dim,
        projections,
        seed,
        sliced_w1_with_directions,
    )
}

/// Sliced W1 with explicit directions (row-major `k x dim` unit vectors, within 1e-6, used
/// as given).
pub fn sliced_w1_with_directions(
    a: &[f32],
    b: &[f32],
    dim: usize,
    directions: &[f64],
) -> Result<f64, MetricError> {
    mean_over_directions("sliced_w1", a, b, dim, directions, |x, y| (x - y).abs())
}

type WithDirections = fn(&[f32], &[f32], usize, &[f64]) -> Result<f64, MetricError>;

/// Validate, draw the seeded directions and evaluate.
fn seeded(
    metric: &'static str,
    a: &[f32],
    b: &[f32],
    dim: usize,
    projections: usize,
    seed: u64,
    with_directions: WithDirections,
) -> Result<f64, MetricError> {
    // Validate before drawing directions so errors do not depend on `projections`.
    let n = check_set("a", a, dim, 1)?;
    let m = check_set("b", b, dim, 1)?;
    check_equal(metric, n, m)?;
    if projections == 0 {
        return Err(MetricError::NoDirections);
    }
    with_directions(a, b, dim, &sliced_directions(dim, projections, seed))
}

/// `mean over directions of (sum_i term(sort(a.u)_i, sort(b.u)_i)) / n`, after validation.
fn mean_over_directions(
    metric: &'static str,
    a: &[f32],
    b: &[f32],
    dim: usize,
    directions: &[f64],
    term: impl Fn(f64, f64) -> f64 + Sync,
) -> Result<f64, MetricError> {
    let n = check_set("a", a, dim, 1)?;
    let m = check_set("b", b, dim, 1)?;
    check_equal(metric, n, m)?;
    if directions.is_empty() {
        return Err(MetricError::NoDirections);
    }
    if !directions.len().is_multiple_of(dim) {
        return Err(MetricError::RaggedDirections {
            len: directions.len(),
            dim,
        });
    }
    for (index, d) in directions.chunks_exact(dim).enumerate() {
        let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm.is_nan() || (norm - 1.0).abs() > UNIT_TOLERANCE {
            return Err(MetricError::NonUnitDirection { index, norm });
        }
    }
    let (a, b) = (widen(a), widen(b));
    // One value per direction, collected in direction order, then summed sequentially: the
    // result does not depend on the thread count.
    let per_direction: Vec<f64> = directions
        .par_chunks_exact(dim)
        .map(|d| {
            let mut pa = project(&a, dim, d);
            let mut pb = project(&b, dim, d);
            pa.sort_unstable_by(f64::total_cmp);
            pb.sort_unstable_by(f64::total_cmp);
            let s: f64 = pa.iter().zip(&pb).map(|(x, y)| term(*x, *y)).sum();
            s / n as f64
        })
        .collect();
    let k = per_direction.len();
    Ok(per_direction.iter().sum::<f64>() / k as f64)
}

fn project(points: &[f64], dim: usize, direction: &[f64]) -> Vec<f64> {
    points
        .chunks_exact(dim)
        .map(|p| p.iter().zip(direction).map(|(x, d)| x * d).sum())
        .collect()
}
