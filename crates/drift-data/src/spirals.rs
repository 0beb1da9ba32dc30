//! The `spirals` generator: two interleaved point-symmetric spiral arms, in FFJORD's
//! `2spirals` and torchdyn's `generate_spirals` recipes.

use rand_chacha::ChaCha8Rng;

use crate::rng;

/// Which code base's spirals recipe to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpiralsVariant {
    /// FFJORD `2spirals`: 540 degrees, uniform jitter 0.5, ÷3, + N(0, 0.1²).
    #[default]
    Ffjord,
    /// torchdyn `generate_spirals`: 780 degrees, uniform jitter `noise`, no scaling.
    Torchdyn,
}

impl SpiralsVariant {
    /// Every variant, default first.
    pub const ALL: &'static [Self] = &[Self::Ffjord, Self::Torchdyn];

    /// The snake_case name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffjord => "ffjord",
            Self::Torchdyn => "torchdyn",
        }
    }

    /// Inverse of [`SpiralsVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The source's noise level: FFJORD's final Gaussian std (0.1), torchdyn's `noise`
    /// default (1e-4, the scale of its uniform jitter).
    pub fn default_noise(self) -> f64 {
        match self {
            Self::Ffjord => 0.1,
            Self::Torchdyn => 1e-4,
        }
    }

    /// Largest arm angle `t_max` in radians (540 or 780 degrees).
    pub fn max_angle(self) -> f64 {
        match self {
            Self::Ffjord => 3.0 * std::f64::consts::PI,
            Self::Torchdyn => 13.0 * std::f64::consts::PI / 3.0,
        }
    }

    /// One-line exact recipe, for documentation and `drift list generators`.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Ffjord => {
                "FFJORD lib/toy_data.py 2spirals: ceil(n/2) arm points t = sqrt(u) 3 pi (540 degrees), \
                 d = (-t cos t + 0.5 u', t sin t + 0.5 u''), each followed by its point reflection -d (the \
                 last reflection dropped when n is odd), all / 3, rows shuffled (FFJORD leaves the arms in \
                 two blocks), + N(0, noise^2) iid per coordinate; default noise 0.1"
            }
            Self::Torchdyn => {
                "torchdyn generate_spirals: ceil(n/2) arm points t = sqrt(u) 780 degrees (13 pi / 3), \
                 d = (-t cos t + noise u', t sin t + noise u''), each with its point reflection -d (the last \
                 reflection dropped when n is odd), no scaling, no Gaussian noise, rows shuffled (torchdyn \
                 leaves the arms in two blocks); default noise 1e-4 (torchdyn's default)"
            }
        }
    }
}

/// The noise-free arm point at angle `t`: `(-t cos t, t sin t)`.
pub(crate) fn arm_point(t: f64) -> [f64; 2] {
    [-t * libm::cos(t), t * libm::sin(t)]
}

/// Row-major `n x 2` spirals. Per arm point: three uniforms (angle, x jitter, y jitter); then
/// the shuffle; then (FFJORD) two normals per row.
pub(crate) fn sample(
    variant: SpiralsVariant,
    noise: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let (jitter, divide) = match variant {
        SpiralsVariant::Ffjord => (0.5, 3.0),
        SpiralsVariant::Torchdyn => (noise, 1.0),
    };
    let t_max = variant.max_angle();
    let mut v = Vec::with_capacity(2 * n + 2);
    for _ in 0..n.div_ceil(2) {
        let t = rng::unit(rng).sqrt() * t_max;
        let [x, y] = arm_point(t);
        let x = (x + jitter * rng::unit(rng)) / divide;
        let y = (y + jitter * rng::unit(rng)) / divide;
        v.extend_from_slice(&[x, y, -x, -y]);
    }
    v.truncate(2 * n);
    rng::shuffle_rows(rng, &mut v, 2);
    if variant == SpiralsVariant::Ffjord {
        for x in &mut v {
            *x += noise * rng::normal(rng);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_point_by_hand() {
        let pi = std::f64::consts::PI;
        // t = pi: (-pi cos pi, pi sin pi) = (pi, 0); t = pi / 2: (0, pi / 2).
        let p = arm_point(pi);
        assert!((p[0] - pi).abs() < 1e-15 && p[1].abs() < 1e-15);
        let p = arm_point(pi / 2.0);
        assert!(p[0].abs() < 1e-15 && (p[1] - pi / 2.0).abs() < 1e-15);
        assert_eq!(SpiralsVariant::Torchdyn.max_angle(), 780.0f64.to_radians());
    }
}
