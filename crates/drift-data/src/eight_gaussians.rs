//! The `eight_gaussians` generator: an equal-weight mixture of 8 isotropic Gaussians centred on
//! the axes and diagonals of a circle, in the FFJORD, TorchCFM and TorchCFM-runner scalings.

use rand_chacha::ChaCha8Rng;

use crate::rng;

/// Which code base's `8gaussians` recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EightGaussiansVariant {
    /// FFJORD: radius 4, std 0.5, then everything / 1.414.
    #[default]
    Ffjord,
    /// TorchCFM `sample_8gaussians`: radius 5, std 0.1^(1/4).
    Torchcfm,
    /// TorchCFM runner `two_dim.py` (from DSB): radius 4, std 0.5, then ×3.
    TorchcfmRunner,
}

impl EightGaussiansVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::Torchcfm, Self::TorchcfmRunner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Torchcfm => "torchcfm",
            Self::TorchcfmRunner => "torchcfm_runner",
        }
    }

    /// Inverse of [`EightGaussiansVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py: centre c uniform over the 8 points 4*(cos k*pi/4, sin k*pi/4) \
                 (axes and diagonals), x = c + N(0, 0.5^2 I), then everything / 1.414 \
                 (radius ~2.83, std ~0.354)"
            }
            Self::Torchcfm => {
                "TorchCFM sample_8gaussians: centre uniform over the 8 points 5*(cos k*pi/4, sin k*pi/4), \
                 + N(0, sqrt(0.1) I), i.e. std 0.1^(1/4) ~ 0.562 (the source passes sqrt(var) as the covariance)"
            }
            Self::TorchcfmRunner => {
                "TorchCFM runner two_dim.py (from DSB): centre uniform over the 8 points 4*(cos k*pi/4, sin k*pi/4), \
                 + N(0, 0.5^2 I), then x3 (radius 12, std 1.5)"
            }
        }
    }

    /// Radius of the circle of centres, before the final rescaling.
    pub fn radius(self) -> f64 {
        match self {
            Self::Ffjord | Self::TorchcfmRunner => 4.0,
            Self::Torchcfm => 5.0,
        }
    }

    /// Per-coordinate standard deviation, before the final rescaling.
    pub fn std(self) -> f64 {
        match self {
            Self::Ffjord | Self::TorchcfmRunner => 0.5,
            Self::Torchcfm => 0.1f64.sqrt().sqrt(),
        }
    }

    /// The final rescaling of every coordinate (FFJORD divides by the literal 1.414).
    pub fn rescale(self, x: f64) -> f64 {
        match self {
            Self::Ffjord => x / 1.414,
            Self::Torchcfm => x,
            Self::TorchcfmRunner => x * 3.0,
        }
    }

    /// The 8 centres after the final rescaling, in the order used for sampling.
    pub fn centres(self) -> [[f64; 2]; 8] {
        let r = self.radius();
        UNIT_CENTRES.map(|[x, y]| [self.rescale(r * x), self.rescale(r * y)])
    }
}

const S: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Unit-circle centres in FFJORD's order: axes, then diagonals.
const UNIT_CENTRES: [[f64; 2]; 8] = [
    [1.0, 0.0],
    [-1.0, 0.0],
    [0.0, 1.0],
    [0.0, -1.0],
    [S, S],
    [S, -S],
    [-S, S],
    [-S, -S],
];

/// Row-major `n x 2` mixture samples in f64.
pub(crate) fn sample(variant: EightGaussiansVariant, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (radius, std) = (variant.radius(), variant.std());
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let ex = rng::normal(rng) * std;
        let ey = rng::normal(rng) * std;
        let [cx, cy] = UNIT_CENTRES[rng::index(rng, 8)];
        v.push(variant.rescale(radius * cx + ex));
        v.push(variant.rescale(radius * cy + ey));
    }
    v
}
