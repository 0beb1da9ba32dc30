//! The `two_moons` generator: scikit-learn's two interleaving half-circles and the FFJORD,
//! TorchCFM, TorchCFM-runner (`SKLearnDataModule`) and runner `two_dim.py` rescalings of them.

use rand_chacha::ChaCha8Rng;

use crate::{rng, shared};

/// Which code base's `moons` recipe to reproduce (see `docs: datasets.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MoonsVariant {
    /// FFJORD: `make_moons(noise)`, ×2, + (−1, −0.2).
    #[default]
    Ffjord,
    /// TorchCFM `sample_moons`: torchdyn `generate_moons` (uniform diagonal noise), ×3 − 1.
    Torchcfm,
    /// TorchCFM runner `SKLearnDataModule`: `make_moons(noise)`, ×2, first coordinate − 1.
    TorchcfmRunner,
    /// TorchCFM runner `two_dim.py` `moon`: `make_moons(noise)`, standardised by the global
    /// mean/std of the drawn sample, ×7.
    Runner,
}

impl MoonsVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[
        Self::Ffjord,
        Self::Torchcfm,
        Self::TorchcfmRunner,
        Self::Runner,
    ];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Torchcfm => "torchcfm",
            Self::TorchcfmRunner => "torchcfm_runner",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`MoonsVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The noise level the source code base uses.
    pub fn default_noise(self) -> f64 {
        match self {
            Self::Ffjord | Self::Runner => 0.1,
            Self::Torchcfm => 0.2,
            Self::TorchcfmRunner => 0.05,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py: sklearn make_moons(n, noise) [n//2 outer points (cos t, sin t) and \
                 n - n//2 inner points (1 - cos t, 0.5 - sin t), t = linspace(0, pi) per moon, rows shuffled, \
                 + N(0, noise^2) iid per coordinate], then x2 and + (-1, -0.2); default noise 0.1"
            }
            Self::Torchcfm => {
                "TorchCFM sample_moons = torchdyn generate_moons(n, noise): the same two half-circles \
                 (rows shuffled; torchdyn leaves them ordered), + (u, u) with one u ~ U[0, noise) per point \
                 added to both coordinates (a diagonal shift, not Gaussian), then x3 - 1 on both coordinates; \
                 default noise 0.2"
            }
            Self::TorchcfmRunner => {
                "TorchCFM runner SKLearnDataModule: sklearn make_moons(n, noise) as in ffjord, x2, then 1 \
                 subtracted from the first coordinate only (the source does data[:, 0] -= 1); default noise 0.05"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py moon: sklearn make_moons(n, noise) as in ffjord, then standardised \
                 by the global mean and std of the drawn n x 2 sample (one scalar mean and one scalar std, \
                 Bessel-corrected, over all 2n coordinates, as torch x.mean() / x.std()), then x7; default noise 0.1"
            }
        }
    }
}

/// `k`-th of `m` points of numpy's `linspace(0, pi, m)` (last point exactly pi).
fn linspace_pi(k: usize, m: usize) -> f64 {
    if k + 1 == m && m > 1 {
        std::f64::consts::PI
    } else if m <= 1 {
        0.0
    } else {
        k as f64 * (std::f64::consts::PI / (m - 1) as f64)
    }
}

/// Row-major `n x 2` moons in f64.
pub(crate) fn sample(
    variant: MoonsVariant,
    noise: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let n_out = n / 2;
    let n_in = n - n_out;
    let mut v = Vec::with_capacity(2 * n);
    for k in 0..n_out {
        let t = linspace_pi(k, n_out);
        v.push(libm::cos(t));
        v.push(libm::sin(t));
    }
    for k in 0..n_in {
        let t = linspace_pi(k, n_in);
        v.push(1.0 - libm::cos(t));
        v.push(1.0 - libm::sin(t) - 0.5);
    }
    rng::shuffle_rows(rng, &mut v, 2);
    match variant {
        MoonsVariant::Ffjord | MoonsVariant::TorchcfmRunner | MoonsVariant::Runner => {
            for x in &mut v {
                *x += noise * rng::normal(rng);
            }
        }
        MoonsVariant::Torchcfm => {
            for row in v.chunks_exact_mut(2) {
                let u = rng::unit(rng) * noise;
                row[0] += u;
                row[1] += u;
            }
        }
    }
    for row in v.chunks_exact_mut(2) {
        match variant {
            MoonsVariant::Ffjord => {
                row[0] = row[0] * 2.0 - 1.0;
                row[1] = row[1] * 2.0 - 0.2;
            }
            MoonsVariant::Torchcfm => {
                row[0] = row[0] * 3.0 - 1.0;
                row[1] = row[1] * 3.0 - 1.0;
            }
            MoonsVariant::TorchcfmRunner => {
                row[0] = row[0] * 2.0 - 1.0;
                row[1] *= 2.0;
            }
            MoonsVariant::Runner => {}
        }
    }
    if variant == MoonsVariant::Runner {
        shared::standardise_global(&mut v, 7.0);
    }
    v
}
