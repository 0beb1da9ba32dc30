//! AGM's own 2D toy sets (`apple/ml-agm`, `dataset/spiral.py`): `gmm`, a rotated 3x3 grid of
//! narrow Gaussians, and `spiral`, five small swiss rolls.

use rand_chacha::ChaCha8Rng;

use crate::rng;

/// Std of every `gmm` component.
pub const GMM_STD: f64 = 0.04;

/// The 9 `gmm` means: the grid {-0.5, 0, 0.5}^2 rotated by 45 degrees, row-major over (x, y).
pub fn gmm_means() -> [[f64; 2]; 9] {
    let (s, c) = std::f64::consts::FRAC_PI_4.sin_cos();
    let mut out = [[0.0; 2]; 9];
    for (k, m) in out.iter_mut().enumerate() {
        let x = -0.5 + 0.5 * (k / 3) as f64;
        let y = -0.5 + 0.5 * (k % 3) as f64;
        *m = [c * x - s * y, s * x + c * y];
    }
    out
}

/// Row-major `n x 2` `gmm` samples: per point a component (uniform over 9), then two normals.
pub(crate) fn sample_gmm(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let means = gmm_means();
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let [mx, my] = means[rng::index(rng, 9)];
        v.push(mx + GMM_STD * rng::normal(rng));
        v.push(my + GMM_STD * rng::normal(rng));
    }
    v
}

/// Noise of each swiss roll (scikit-learn `make_swiss_roll(noise=0.3)`).
pub const SPIRAL_NOISE: f64 = 0.3;
/// Scale applied to the roll's (x, z) coordinates.
pub const SPIRAL_SCALE: f64 = 0.05;
/// Centres of the five rolls: the origin and (+-1.2, +-1.2).
pub const SPIRAL_CENTRES: [[f64; 2]; 5] = [
    [0.0, 0.0],
    [1.2, 1.2],
    [1.2, -1.2],
    [-1.2, 1.2],
    [-1.2, -1.2],
];

/// Row-major `n x 2` `spiral` samples. Per point: a roll (uniform over 5), then scikit-learn's
/// swiss-roll draw `t = 1.5 pi (1 + 2 u)`, `(x, z) = (t cos t, t sin t) + 0.3 N(0, I)` (the
/// unused height coordinate is not drawn), scaled by 0.05 and shifted to the roll's centre.
pub(crate) fn sample_spiral(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let [cx, cy] = SPIRAL_CENTRES[rng::index(rng, 5)];
        let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * rng::unit(rng));
        let x = t * libm::cos(t) + SPIRAL_NOISE * rng::normal(rng);
        let z = t * libm::sin(t) + SPIRAL_NOISE * rng::normal(rng);
        v.push(cx + SPIRAL_SCALE * x);
        v.push(cy + SPIRAL_SCALE * z);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmm_means_are_the_rotated_grid() {
        let m = gmm_means();
        // The grid corner (0.5, 0.5) rotates onto the y axis at distance sqrt(0.5).
        assert!(m[8][0].abs() < 1e-15 && (m[8][1] - 0.5f64.sqrt()).abs() < 1e-15);
        assert!(m[4][0].abs() < 1e-15 && m[4][1].abs() < 1e-15);
        let points = sample_gmm(20000, &mut rng::stream(1));
        // Every point lies within 6 std of some mean; the overall mean is near 0.
        for p in points.chunks_exact(2) {
            let near = m
                .iter()
                .any(|c| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt() < 6.0 * GMM_STD);
            assert!(near, "{p:?}");
        }
        let mean_x: f64 = points.iter().step_by(2).sum::<f64>() / 20000.0;
        assert!(mean_x.abs() < 0.01, "{mean_x}");
    }

    #[test]
    fn spiral_rolls_have_the_documented_extent() {
        let points = sample_spiral(20000, &mut rng::stream(2));
        // A roll spans radius t in [1.5 pi, 4.5 pi] times 0.05: at most ~0.71 (+ noise) from
        // its centre; the centre roll holds about a fifth of the points.
        let mut in_centre = 0;
        for p in points.chunks_exact(2) {
            let d = SPIRAL_CENTRES
                .iter()
                .map(|c| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min);
            assert!(d < 0.71 + 6.0 * SPIRAL_NOISE * SPIRAL_SCALE, "{p:?}");
            if (p[0].powi(2) + p[1].powi(2)).sqrt() < 0.8 {
                in_centre += 1;
            }
        }
        let frac = in_centre as f64 / 20000.0;
        assert!((frac - 0.2).abs() < 0.015, "{frac}");
    }
}
