//! The host random stream of weight initialisation: candle's CPU RNG cannot be seeded
//! (toolchain.md), so initial weights are drawn here from ChaCha8 (stream 1 of the seed).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Weight initialisation.
pub(crate) const STREAM_INIT: u64 = 1;

/// The generator for `seed` on stream `stream`.
pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
