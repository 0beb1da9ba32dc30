//! The `eight_gaussians` generator: an equal-weight mixture of 8 isotropic Gaussians centred on
//! a circle, in the FFJORD, TorchCFM, TorchCFM-runner, torchdyn and OT-ICNN (`generators2d`)
//! recipes.

use rand_chacha::ChaCha8Rng;

use crate::{Mixture, rng, shared};

/// Which code base's `8gaussians` recipe to reproduce. The parameterised variants carry their
/// parameters; [`EightGaussiansVariant::ALL`] and [`EightGaussiansVariant::from_name`] give
/// them with their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EightGaussiansVariant {
    /// FFJORD: radius 4, std 0.5, then everything / 1.414.
    #[default]
    Ffjord,
    /// TorchCFM `sample_8gaussians`: radius 5, std 0.1^(1/4).
    Torchcfm,
    /// TorchCFM runner `two_dim.py` (from DSB): radius 4, std 0.5, then ×3.
    TorchcfmRunner,
    /// torchdyn `generate_gaussians` as the TorchCFM runner calls it (8 components, radius
    /// argument 5 but ignored, so the centres lie on the *unit* circle), with
    /// `std` = `std_gaussians` (runner: 1) and `noise` = the scale of one N(0, I) offset drawn
    /// per component and shared by all of its points (torchdyn default 1e-3).
    Torchdyn {
        /// Per-coordinate std of each component (> 0). Default 1.
        std: f64,
        /// Scale of the per-component shared offset (>= 0). Default 1e-3.
        noise: f64,
    },
    /// TorchCFM runner `generators2d.py` (from OT-ICNN) `sample_data("8gaussians", .., scale,
    /// var)`: radius `scale`, per-coordinate std `var`, no rescaling. The source has no
    /// defaults; drift's are scale 2, var 0.02 (those of the WGAN-GP toy it derives from).
    Generators2d {
        /// Radius of the circle of centres (finite). Default 2.
        scale: f64,
        /// Per-coordinate std (> 0; the source calls it `var`). Default 0.02.
        var: f64,
    },
}

/// torchdyn's `std_gaussians` as the TorchCFM runner passes it.
pub const TORCHDYN_STD: f64 = 1.0;
/// torchdyn `generate_gaussians`'s default `noise`.
pub const TORCHDYN_NOISE: f64 = 1e-3;
/// drift's default `scale` of the `generators2d` variant.
pub const GENERATORS2D_SCALE: f64 = 2.0;
/// drift's default `var` (a std) of the `generators2d` variant.
pub const GENERATORS2D_VAR: f64 = 0.02;

impl EightGaussiansVariant {
    /// Every variant (parameterised ones with their defaults), default first.
    pub const ALL: &'static [Self] = &[
        Self::Ffjord,
        Self::Torchcfm,
        Self::TorchcfmRunner,
        Self::Torchdyn {
            std: TORCHDYN_STD,
            noise: TORCHDYN_NOISE,
        },
        Self::Generators2d {
            scale: GENERATORS2D_SCALE,
            var: GENERATORS2D_VAR,
        },
    ];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Torchcfm => "torchcfm",
            Self::TorchcfmRunner => "torchcfm_runner",
            Self::Torchdyn { .. } => "torchdyn",
            Self::Generators2d { .. } => "generators2d",
        }
    }

    /// Inverse of [`EightGaussiansVariant::name`] (parameterised variants get their defaults).
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
            Self::Torchdyn { .. } => {
                "torchdyn generate_gaussians(n_gaussians=8, radius=5, std_gaussians=std) as the TorchCFM runner \
                 calls it: centres (cos a_k, sin a_k), a_k = 2 pi (k + 1) / 8 -- on the UNIT circle, the radius \
                 argument is ignored (quirk); n/8 points per component (the first n mod 8 components one more), \
                 each c_k + std N(0, I) + o_k with ONE offset o_k = noise N(0, I) per component shared by its \
                 points (quirk); rows shuffled (torchdyn leaves them grouped); parameters std (default 1) and \
                 noise (default 1e-3); marginal of one row: N(c_k, (std^2 + noise^2) I), equal weights"
            }
            Self::Generators2d { .. } => {
                "TorchCFM runner generators2d.py (from OT-ICNN) sample_data('8gaussians', scale, var): centre \
                 uniform over the 8 points scale*(cos k*pi/4, sin k*pi/4), + var N(0, I) (var is a std), no \
                 rescaling; parameters scale (default 2) and var (default 0.02); the source has no defaults"
            }
        }
    }

    /// Radius of the circle of centres, before the final rescaling.
    pub fn radius(self) -> f64 {
        match self {
            Self::Ffjord | Self::TorchcfmRunner => 4.0,
            Self::Torchcfm => 5.0,
            Self::Torchdyn { .. } => 1.0,
            Self::Generators2d { scale, .. } => scale,
        }
    }

    /// Per-coordinate standard deviation of a component, before the final rescaling (for
    /// torchdyn, without the per-component offset; see [`EightGaussiansVariant::mixture`]).
    pub fn std(self) -> f64 {
        match self {
            Self::Ffjord | Self::TorchcfmRunner => 0.5,
            Self::Torchcfm => 0.1f64.sqrt().sqrt(),
            Self::Torchdyn { std, .. } => std,
            Self::Generators2d { var, .. } => var,
        }
    }

    /// The final rescaling of every coordinate (FFJORD divides by the literal 1.414).
    pub fn rescale(self, x: f64) -> f64 {
        match self {
            Self::Ffjord => x / 1.414,
            Self::Torchcfm | Self::Torchdyn { .. } | Self::Generators2d { .. } => x,
            Self::TorchcfmRunner => x * 3.0,
        }
    }

    /// The 8 centres after the final rescaling, in the order used for sampling.
    pub fn centres(self) -> [[f64; 2]; 8] {
        let r = self.radius();
        match self {
            Self::Torchdyn { .. } => std::array::from_fn(|k| {
                let a = torchdyn_angle(k);
                [libm::cos(a), libm::sin(a)]
            }),
            _ => UNIT_CENTRES.map(|[x, y]| [self.rescale(r * x), self.rescale(r * y)]),
        }
    }

    /// The distribution of one row as a mixture: equal weights over [`Self::centres`], std
    /// `rescale(std)`; for torchdyn `sqrt(std^2 + noise^2)` (the shared offset integrated out).
    pub fn mixture(self) -> Mixture {
        let std = match self {
            Self::Torchdyn { std, noise } => std.hypot(noise),
            _ => self.rescale(self.std()),
        };
        Mixture::equal_2d(&self.centres(), std)
    }
}

/// Angle of torchdyn's `k`-th component: the loop adds 2 pi / 8 before placing component `k`.
fn torchdyn_angle(k: usize) -> f64 {
    (k + 1) as f64 * (2.0 * std::f64::consts::PI / 8.0)
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
    if let EightGaussiansVariant::Torchdyn { std, noise } = variant {
        return sample_torchdyn(std, noise, n, rng);
    }
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

/// torchdyn's blocks: component `k` gets its balanced share of the `n` rows, one shared
/// offset `noise * N(0, I)` (drawn before the block's points), then `std * N(0, I)` per point;
/// the rows are shuffled at the end.
fn sample_torchdyn(std: f64, noise: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut v = Vec::with_capacity(2 * n);
    for k in 0..8 {
        let a = torchdyn_angle(k);
        let (cx, cy) = (libm::cos(a), libm::sin(a));
        let ox = noise * rng::normal(rng);
        let oy = noise * rng::normal(rng);
        for _ in 0..shared::balanced_count(n, 8, k) {
            let ex = std * rng::normal(rng);
            let ey = std * rng::normal(rng);
            v.push(cx + ex + ox);
            v.push(cy + ey + oy);
        }
    }
    rng::shuffle_rows(rng, &mut v, 2);
    v
}
