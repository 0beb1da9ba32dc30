//! The `swissroll` and `scurve` generators: scikit-learn's swiss roll and S curve seen from
//! above (coordinates x and z), in the FFJORD, TorchCFM runner `SKLearnDataModule` and runner
//! `two_dim.py` scalings.

use rand_chacha::ChaCha8Rng;

use crate::{rng, shared};

/// Which code base's `swissroll` recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SwissRollVariant {
    /// FFJORD: `make_swiss_roll(noise=1.0)`, coordinates (x, z), ÷5.
    #[default]
    Ffjord,
    /// TorchCFM runner `two_dim.py` `swiss`: `make_swiss_roll(noise=0.1)`, (x, z),
    /// standardised by the global mean/std, ×7.
    Runner,
}

impl SwissRollVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::Runner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`SwissRollVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The source's `noise` (std of the Gaussian noise on the raw roll).
    pub fn default_noise(self) -> f64 {
        match self {
            Self::Ffjord => 1.0,
            Self::Runner => 0.1,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py: sklearn make_swiss_roll(n, noise): t = 1.5 pi (1 + 2u), \
                 (x, z) = (t cos t, t sin t) + N(0, noise^2) iid per coordinate (the height is not used), \
                 then / 5; default noise 1.0"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py swiss: sklearn make_swiss_roll(n, noise), coordinates (x, z), \
                 standardised by the global mean and std of the drawn n x 2 sample (one scalar mean and one \
                 Bessel-corrected scalar std over all 2n coordinates), then x7; default noise 0.1"
            }
        }
    }
}

/// Which code base's `scurve` recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SCurveVariant {
    /// TorchCFM runner `SKLearnDataModule`: `make_s_curve(noise=0.05)`, (x, z), ×1.5.
    #[default]
    TorchcfmRunner,
    /// TorchCFM runner `two_dim.py` `scurve`: `make_s_curve(noise=0.1)`, (x, z), standardised
    /// by the global mean/std, ×7.
    Runner,
}

impl SCurveVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::TorchcfmRunner, Self::Runner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::TorchcfmRunner => "torchcfm_runner",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`SCurveVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The source's `noise` (std of the Gaussian noise on the raw curve).
    pub fn default_noise(self) -> f64 {
        match self {
            Self::TorchcfmRunner => 0.05,
            Self::Runner => 0.1,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::TorchcfmRunner => {
                "TorchCFM runner SKLearnDataModule: sklearn make_s_curve(n, noise): t = 3 pi (u - 1/2), \
                 (x, z) = (sin t, sign(t) (cos t - 1)) + N(0, noise^2) iid per coordinate (the height is \
                 not used), then x1.5; default noise 0.05"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py scurve: sklearn make_s_curve(n, noise), coordinates (x, z), \
                 standardised by the global mean and std of the drawn n x 2 sample (one scalar mean and one \
                 Bessel-corrected scalar std over all 2n coordinates), then x7; default noise 0.1"
            }
        }
    }
}

/// The noise-free (x, z) of scikit-learn's swiss roll at roll parameter `t`.
pub(crate) fn swiss_roll_point(t: f64) -> [f64; 2] {
    [t * libm::cos(t), t * libm::sin(t)]
}

/// The noise-free (x, z) of scikit-learn's S curve at curve parameter `t`.
pub(crate) fn s_curve_point(t: f64) -> [f64; 2] {
    let sign = if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        0.0
    };
    [libm::sin(t), sign * (libm::cos(t) - 1.0)]
}

/// Row-major `n x 2` swiss-roll samples. Per point: `u`, then two normals.
pub(crate) fn sample_swiss_roll(
    variant: SwissRollVariant,
    noise: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * rng::unit(rng));
        let [x, z] = swiss_roll_point(t);
        v.push(x + noise * rng::normal(rng));
        v.push(z + noise * rng::normal(rng));
    }
    match variant {
        SwissRollVariant::Ffjord => v.iter_mut().for_each(|x| *x /= 5.0),
        SwissRollVariant::Runner => shared::standardise_global(&mut v, 7.0),
    }
    v
}

/// Row-major `n x 2` S-curve samples. Per point: `u`, then two normals.
pub(crate) fn sample_s_curve(
    variant: SCurveVariant,
    noise: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let t = 3.0 * std::f64::consts::PI * (rng::unit(rng) - 0.5);
        let [x, z] = s_curve_point(t);
        v.push(x + noise * rng::normal(rng));
        v.push(z + noise * rng::normal(rng));
    }
    match variant {
        SCurveVariant::TorchcfmRunner => v.iter_mut().for_each(|x| *x *= 1.5),
        SCurveVariant::Runner => shared::standardise_global(&mut v, 7.0),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_points_by_hand() {
        let pi = std::f64::consts::PI;
        let p = swiss_roll_point(2.0 * pi);
        assert!((p[0] - 2.0 * pi).abs() < 1e-14 && p[1].abs() < 1e-14);
        // S curve: t = pi / 2 -> (1, -1); t = -pi / 2 -> (-1, 1); t = 0 -> (0, 0).
        let p = s_curve_point(pi / 2.0);
        assert!((p[0] - 1.0).abs() < 1e-15 && (p[1] + 1.0).abs() < 1e-15);
        let p = s_curve_point(-pi / 2.0);
        assert!((p[0] + 1.0).abs() < 1e-15 && (p[1] - 1.0).abs() < 1e-15);
        assert_eq!(s_curve_point(0.0), [0.0, 0.0]);
    }
}
