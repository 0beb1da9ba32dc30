//! The `twenty_five_gaussians` generator: 25 narrow Gaussians on a 5x5 grid, in the WGAN-GP
//! toy recipe (`igul222/improved_wgan_training` `gan_toy.py`, the origin of `25gaussians`) and
//! the TorchCFM runner's `generators2d.py` copy of it.

use rand_chacha::ChaCha8Rng;

use crate::{Mixture, rng};

/// Which code base's `25gaussians` recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TwentyFiveGaussiansVariant {
    /// WGAN-GP `gan_toy.py`: centres 2(i, j), i, j in -2..=2, std 0.05, balanced, shuffled,
    /// everything / 2.828.
    #[default]
    WganGp,
    /// TorchCFM runner `generators2d.py` (from OT-ICNN): the same without the / 2.828.
    Generators2d,
}

/// Number of components.
pub const COMPONENTS: usize = 25;
/// Per-coordinate std of every component before the final division.
pub const STD: f64 = 0.05;

impl TwentyFiveGaussiansVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::WganGp, Self::Generators2d];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::WganGp => "wgan_gp",
            Self::Generators2d => "generators2d",
        }
    }

    /// Inverse of [`TwentyFiveGaussiansVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The final division of every coordinate (WGAN-GP's literal 2.828, "stdev").
    pub fn divisor(self) -> f64 {
        match self {
            Self::WganGp => 2.828,
            Self::Generators2d => 1.0,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::WganGp => {
                "igul222/improved_wgan_training gan_toy.py 25gaussians (the WGAN-GP toy that later code copies): \
                 centres 2 (i, j) for i (outer), j (inner) in -2..=2; the points are made in passes over the 25 \
                 centres, so every centre gets n/25 points (the first n mod 25 in that order one more), each \
                 centre + 0.05 N(0, I); rows shuffled; everything / 2.828 (centres spaced ~0.707, std ~0.0177); \
                 equal-weight mixture"
            }
            Self::Generators2d => {
                "TorchCFM runner generators2d.py (from OT-ICNN) 25gaussians: the wgan_gp recipe without the \
                 final / 2.828 (the line is commented out): centres on {-4, -2, 0, 2, 4}^2, std 0.05"
            }
        }
    }

    /// The 25 centres after the final division, in sampling order (index `5 (i + 2) + (j + 2)`).
    pub fn centres(self) -> [[f64; 2]; COMPONENTS] {
        let d = self.divisor();
        std::array::from_fn(|k| {
            let i = (k / 5) as f64 - 2.0;
            let j = (k % 5) as f64 - 2.0;
            [2.0 * i / d, 2.0 * j / d]
        })
    }

    /// The distribution of one row: equal weights, std `0.05 / divisor`.
    pub fn mixture(self) -> Mixture {
        Mixture::equal_2d(&self.centres(), STD / self.divisor())
    }
}

/// Row-major `n x 2` samples: row `r` belongs to centre `r mod 25` (two normals each), then
/// the rows are shuffled and divided.
pub(crate) fn sample(
    variant: TwentyFiveGaussiansVariant,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let d = variant.divisor();
    let mut v = Vec::with_capacity(2 * n);
    for r in 0..n {
        let k = r % COMPONENTS;
        let i = (k / 5) as f64 - 2.0;
        let j = (k % 5) as f64 - 2.0;
        v.push(STD * rng::normal(rng) + 2.0 * i);
        v.push(STD * rng::normal(rng) + 2.0 * j);
    }
    rng::shuffle_rows(rng, &mut v, 2);
    v.iter_mut().for_each(|x| *x /= d);
    v
}
