//! Shared seeded-randomness helpers: the per-call ChaCha8 stream, Gaussian and uniform draws,
//! and the Fisher-Yates shuffle used by every generator.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The single random stream used by one `Generator::sample` call.
pub(crate) fn stream(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// One standard normal draw in f64.
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// One U[0, 1) draw in f64 (53 random mantissa bits).
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// Uniform index in `0..k` drawn through a fixed-width `u64` range, so that the draw does
/// not depend on the platform's pointer width.
pub(crate) fn index(rng: &mut ChaCha8Rng, k: usize) -> usize {
    debug_assert!(k > 0);
    rng.random_range(0..k as u64) as usize
}

/// Index `k` drawn with probability `cumulative[k] - cumulative[k - 1]` from one U[0, 1)
/// draw: the first `k` with `u < cumulative[k]` (the last index if rounding leaves `u` above
/// every entry). `cumulative` is non-decreasing and ends at (about) 1.
pub(crate) fn categorical(rng: &mut ChaCha8Rng, cumulative: &[f64]) -> usize {
    let u = unit(rng);
    cumulative
        .iter()
        .position(|&c| u < c)
        .unwrap_or(cumulative.len().saturating_sub(1))
}

/// A stream seeded by 32 fixed bytes rather than a sample seed: used for the parts of a
/// distribution that must not change with the sample seed (the means of `gaussian_mixture`).
pub(crate) fn keyed_stream(key: [u8; 32]) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(key)
}

/// In-place Fisher-Yates shuffle of the rows of a row-major `n x dim` buffer.
pub(crate) fn shuffle_rows(rng: &mut ChaCha8Rng, values: &mut [f64], dim: usize) {
    let n = values.len() / dim;
    for i in (1..n).rev() {
        let j = index(rng, i + 1);
        if j != i {
            for d in 0..dim {
                values.swap(i * dim + d, j * dim + d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = stream(3);
        let mut v: Vec<f64> = (0..20).map(f64::from).collect();
        shuffle_rows(&mut rng, &mut v, 2);
        for pair in v.chunks_exact(2) {
            // rows move as a whole
            assert_eq!(pair[1], pair[0] + 1.0);
        }
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, (0..20).map(f64::from).collect::<Vec<_>>());
        assert_ne!(v, sorted, "seed 3 should move something");
    }
}
