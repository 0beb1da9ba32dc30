//! The `circles` generator (scikit-learn's two concentric circles in the FFJORD, TorchCFM
//! runner `SKLearnDataModule` and runner `two_dim.py` scalings) and FFJORD's `rings` (four
//! concentric circles).

use rand_chacha::ChaCha8Rng;

use crate::{rng, shared};

/// Which code base's `circles` recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CirclesVariant {
    /// FFJORD: `make_circles(factor=0.5, noise=0.08)`, ×3.
    #[default]
    Ffjord,
    /// TorchCFM runner `SKLearnDataModule`: `make_circles(factor=0.5, noise=0.05)`, ×3.5.
    TorchcfmRunner,
    /// TorchCFM runner `two_dim.py` `circle`: `make_circles(factor=0.5, noise=0)`, ×10.
    Runner,
}

impl CirclesVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::TorchcfmRunner, Self::Runner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::TorchcfmRunner => "torchcfm_runner",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`CirclesVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The source's `noise` (the std of the Gaussian noise, before the final scaling).
    pub fn default_noise(self) -> f64 {
        match self {
            Self::Ffjord => 0.08,
            Self::TorchcfmRunner => 0.05,
            Self::Runner => 0.0,
        }
    }

    /// The final scaling of both coordinates.
    pub fn scale(self) -> f64 {
        match self {
            Self::Ffjord => 3.0,
            Self::TorchcfmRunner => 3.5,
            Self::Runner => 10.0,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py: sklearn make_circles(n, factor=0.5, noise) [n//2 outer points \
                 (cos a, sin a) and n - n//2 inner points 0.5 (cos a, sin a), a = 2 pi k / m for k < m \
                 (linspace without endpoint) per circle, rows shuffled, + N(0, noise^2) iid per coordinate], \
                 then x3; default noise 0.08 (0.24 after scaling)"
            }
            Self::TorchcfmRunner => {
                "TorchCFM runner SKLearnDataModule: sklearn make_circles(n, factor=0.5, noise) as in ffjord, \
                 then x3.5; default noise 0.05"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py circle: sklearn make_circles(n, factor=0.5, noise) as in ffjord, \
                 then x10 (radii 10 and 5); default noise 0 (points exactly on the two circles)"
            }
        }
    }
}

/// Row-major `n x 2` circles: scikit-learn's `make_circles` (outer grid, inner grid, shuffle,
/// then Gaussian noise of std `noise`), then the variant's scaling.
pub(crate) fn sample_circles(
    variant: CirclesVariant,
    noise: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let n_out = n / 2;
    let n_in = n - n_out;
    let mut v = Vec::with_capacity(2 * n);
    for (m, radius) in [(n_out, 1.0), (n_in, 0.5)] {
        for k in 0..m {
            let a = shared::full_turn_grid(k, m);
            v.push(libm::cos(a) * radius);
            v.push(libm::sin(a) * radius);
        }
    }
    rng::shuffle_rows(rng, &mut v, 2);
    let scale = variant.scale();
    for x in &mut v {
        *x = (*x + noise * rng::normal(rng)) * scale;
    }
    v
}

/// FFJORD's default `rings` noise (std, after the ×3 scaling).
pub const RINGS_NOISE: f64 = 0.08;

/// The `rings` recipe, for documentation and `drift list generators`.
pub const RINGS_RECIPE: &str = "FFJORD lib/toy_data.py (later commit) rings: four circles of radii 1, 0.75, 0.5 and 0.25 \
     with n//4, n//4, n//4 and n - 3 (n//4) points on angle grids a = 2 pi k / m (linspace without \
     endpoint); the 0.75 circle's x uses the radius-1 circle's grid (quirk, harmless: both grids have \
     n//4 points); x3 (radii 3, 2.25, 1.5, 0.75), rows shuffled, + N(0, noise^2) iid per coordinate \
     after the scaling; default noise 0.08";

/// Row-major `n x 2` rings (see [`RINGS_RECIPE`]).
pub(crate) fn sample_rings(noise: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let q = n / 4;
    let sizes = [q, q, q, n - 3 * q];
    let radii = [1.0, 0.75, 0.5, 0.25];
    let mut v = Vec::with_capacity(2 * n);
    for (c, (&m, &r)) in sizes.iter().zip(&radii).enumerate() {
        for k in 0..m {
            // The quirk: circle 1 (radius 0.75) takes x from circle 0's grid (same length).
            let ax = shared::full_turn_grid(k, if c == 1 { sizes[0] } else { m });
            let ay = shared::full_turn_grid(k, m);
            v.push(libm::cos(ax) * r * 3.0);
            v.push(libm::sin(ay) * r * 3.0);
        }
    }
    rng::shuffle_rows(rng, &mut v, 2);
    for x in &mut v {
        *x += noise * rng::normal(rng);
    }
    v
}
