//! Host random streams: every random number in this crate comes from a seeded ChaCha8 stream.
//!
//! candle's CPU RNG cannot be seeded (toolchain.md), so nothing random is drawn on the device.
//! One `seed` gives independent streams through ChaCha's stream parameter:
//! stream 0 is the sampler's x0 noise (`ChaCha8Rng::seed_from_u64(seed)` as is), stream 1 the
//! weight initialisation, stream 2 the training minibatch indices, stream 3 the training
//! noise (t, x0, sigma * eps).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Sampler x0 noise: the plain generator of the seed.
pub(crate) const STREAM_SAMPLE: u64 = 0;
/// Weight initialisation.
pub(crate) const STREAM_INIT: u64 = 1;
/// Training minibatch row indices.
pub(crate) const STREAM_BATCH: u64 = 2;
/// Training t, x0 and eps.
pub(crate) const STREAM_NOISE: u64 = 3;

/// The generator for `seed` on stream `stream`.
pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One standard normal draw as f32.
#[inline]
pub(crate) fn normal_f32(rng: &mut ChaCha8Rng) -> f32 {
    let z: f64 = StandardNormal.sample(rng);
    z as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn stream_zero_is_the_plain_seeded_generator() {
        let mut a = stream(7, STREAM_SAMPLE);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn streams_differ() {
        let mut a = stream(7, STREAM_INIT);
        let mut b = stream(7, STREAM_BATCH);
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
