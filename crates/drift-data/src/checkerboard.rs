//! The `checkerboard` generator: uniform density on the "black" squares of a 4x4 board, in the
//! FFJORD (×2) and TorchCFM-runner (×7.5) scalings.

use rand_chacha::ChaCha8Rng;

use crate::rng;

/// Which code base's checkerboard recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CheckerboardVariant {
    /// FFJORD: support [−4, 4]².
    #[default]
    Ffjord,
    /// TorchCFM runner `two_dim.py` `checker`: the same board scaled by 7.5.
    Runner,
}

impl CheckerboardVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::Runner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`CheckerboardVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py: x1 ~ U(-2, 2); x2 = U(0, 1) - 2*Bernoulli(1/2) + (floor(x1) mod 2); \
                 then (x1, x2) x2 (support [-4, 4]^2, the squares where floor(x1) + floor(x2) is even before scaling)"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py checker: the ffjord board before scaling, then x7.5 \
                 (support [-15, 15]^2)"
            }
        }
    }

    /// Factor applied to the unit board.
    pub fn scale(self) -> f64 {
        match self {
            Self::Ffjord => 2.0,
            Self::Runner => 7.5,
        }
    }
}

/// Row-major `n x 2` checkerboard samples in f64.
pub(crate) fn sample(variant: CheckerboardVariant, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let scale = variant.scale();
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let x1 = rng::unit(rng) * 4.0 - 2.0;
        let u = rng::unit(rng);
        let b = rng::index(rng, 2) as f64;
        let x2 = u - 2.0 * b + x1.floor().rem_euclid(2.0);
        v.push(x1 * scale);
        v.push(x2 * scale);
    }
    v
}

/// Exact log-density at each row of a row-major `n x 2` buffer: `-ln(8 s^2)` on the 8 black
/// squares (the board before scaling is uniform with density 1/8 on them, `s` the variant's
/// scale), `-inf` elsewhere. Squares are half-open like the sampler's draws: a scaled point
/// `(x, y)` is black when `u = x / s` and `v = y / s` lie in [-2, 2) and
/// `floor(u) + floor(v)` is even.
pub(crate) fn log_density(variant: CheckerboardVariant, points: &[f64]) -> Vec<f64> {
    let s = variant.scale();
    let inside = -libm::log(8.0 * s * s);
    points
        .chunks_exact(2)
        .map(|p| {
            let (u, v) = (p[0] / s, p[1] / s);
            let in_box = (-2.0..2.0).contains(&u) && (-2.0..2.0).contains(&v);
            if in_box && (u.floor() + v.floor()).rem_euclid(2.0) == 0.0 {
                inside
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect()
}
