//! The `pinwheel` generator: FFJORD's five curved Gaussian arms, in the FFJORD (×2) and TorchCFM
//! runner `two_dim.py` (×7.5) scalings.

use rand_chacha::ChaCha8Rng;

use crate::{rng, shared};

/// Which code base's pinwheel recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PinwheelVariant {
    /// FFJORD: the arms ×2.
    #[default]
    Ffjord,
    /// TorchCFM runner `two_dim.py` `pinwheel`: the same arms ×7.5.
    Runner,
}

/// Number of arms.
pub const ARMS: usize = 5;
/// Std of the radial coordinate (mean 1).
pub const RADIAL_STD: f64 = 0.3;
/// Std of the tangential coordinate (mean 0).
pub const TANGENTIAL_STD: f64 = 0.1;
/// How fast an arm curls: the rotation grows by `RATE * exp(radial)`.
pub const RATE: f64 = 0.25;

impl PinwheelVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::Runner];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Runner => "runner",
        }
    }

    /// Inverse of [`PinwheelVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The final scaling of both coordinates.
    pub fn scale(self) -> f64 {
        match self {
            Self::Ffjord => 2.0,
            Self::Runner => 7.5,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py pinwheel: 5 arms with n/5 points each (the first n mod 5 arms one \
                 more; FFJORD drops the remainder); per point f = (r, s), r ~ N(1, 0.3^2), s ~ N(0, 0.1^2); \
                 angle a = 2 pi k / 5 + 0.25 exp(r) for arm k; x = f R(a) with the row vector on the left, \
                 i.e. (r cos a + s sin a, -r sin a + s cos a) (a clockwise rotation by a); rows shuffled; x2"
            }
            Self::Runner => {
                "TorchCFM runner two_dim.py pinwheel: the ffjord arms (same draws), x7.5 instead of x2"
            }
        }
    }
}

/// One unscaled pinwheel point of arm `arm` from its radial and tangential coordinates.
pub(crate) fn point(arm: usize, radial: f64, tangential: f64) -> [f64; 2] {
    let a = shared::full_turn_grid(arm, ARMS) + RATE * libm::exp(radial);
    let (s, c) = (libm::sin(a), libm::cos(a));
    [radial * c + tangential * s, -radial * s + tangential * c]
}

/// Row-major `n x 2` pinwheel samples: arms in blocks (two normals per point), then the
/// shuffle, then the scaling.
pub(crate) fn sample(variant: PinwheelVariant, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let scale = variant.scale();
    let mut v = Vec::with_capacity(2 * n);
    for arm in 0..ARMS {
        for _ in 0..shared::balanced_count(n, ARMS, arm) {
            let radial = 1.0 + RADIAL_STD * rng::normal(rng);
            let tangential = TANGENTIAL_STD * rng::normal(rng);
            v.extend_from_slice(&point(arm, radial, tangential));
        }
    }
    rng::shuffle_rows(rng, &mut v, 2);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_points() {
        // Arm 0, r = 1, s = 0: angle a = 0.25 e, point (cos a, -sin a) (clockwise rotation).
        let a = 0.25 * std::f64::consts::E;
        let p = point(0, 1.0, 0.0);
        assert!((p[0] - a.cos()).abs() < 1e-15 && (p[1] + a.sin()).abs() < 1e-15);
        // Arm 1, r = 0 (exp(0) = 1), s = 1: angle 2 pi / 5 + 0.25, point (sin a, cos a).
        let a = 2.0 * std::f64::consts::PI / 5.0 + 0.25;
        let p = point(1, 0.0, 1.0);
        assert!((p[0] - a.sin()).abs() < 1e-15 && (p[1] - a.cos()).abs() < 1e-15);
    }
}
