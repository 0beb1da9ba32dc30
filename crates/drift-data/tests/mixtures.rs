//! Exact densities: `log_density` integrates to 1 in 2D, matches a direct evaluation of the
//! formula, agrees with `mixture()`; `gaussian_mixture`'s means, weights and validation.

use drift_data::{
    CheckerboardVariant, DataError, EightGaussiansVariant, GaussianMixtureParams, Generator,
    Mixture, TwentyFiveGaussiansVariant,
};
use std::f64::consts::PI;

fn gaussian_generators() -> Vec<Generator> {
    let mut out: Vec<Generator> = EightGaussiansVariant::ALL
        .iter()
        .map(|&variant| Generator::EightGaussians { variant })
        .collect();
    out.extend(
        TwentyFiveGaussiansVariant::ALL
            .iter()
            .map(|&variant| Generator::TwentyFiveGaussians { variant }),
    );
    out.push(Generator::Gmm);
    out.push(Generator::GaussianMixture(GaussianMixtureParams::default()));
    out.push(Generator::GaussianMixture(GaussianMixtureParams {
        components: 3,
        weights: Some(vec![1.0, 2.0, 5.0]),
        std: 0.7,
        ..Default::default()
    }));
    out
}

/// Midpoint-rule integral of exp(log_density) over a square grid around the mixture.
fn integrate_2d(g: &Generator, m: &Mixture) -> f64 {
    let s_min = m.stds.iter().copied().fold(f64::INFINITY, f64::min);
    let s_max = m.stds.iter().copied().fold(0.0, f64::max);
    let lo = m.means.iter().copied().fold(f64::INFINITY, f64::min) - 8.0 * s_max;
    let hi = m.means.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 8.0 * s_max;
    // At least 8 cells per smallest std keeps the midpoint rule well below 1e-3 error.
    let cells = (((hi - lo) / s_min) * 8.0).ceil().min(6000.0) as usize;
    let h = (hi - lo) / cells as f64;
    let mut total = 0.0;
    let mut row = Vec::with_capacity(2 * cells);
    for i in 0..cells {
        row.clear();
        let x = lo + (i as f64 + 0.5) * h;
        for j in 0..cells {
            row.push(x);
            row.push(lo + (j as f64 + 0.5) * h);
        }
        let lp = g.log_density(&row).expect("closed form");
        total += lp.iter().map(|l| l.exp()).sum::<f64>();
    }
    total * h * h
}

#[test]
fn every_2d_mixture_integrates_to_one() {
    for g in gaussian_generators() {
        let m = g.mixture().expect("a mixture");
        assert_eq!(m.dim, 2);
        let total = integrate_2d(&g, &m);
        println!("{} / {}: {total}", g.name(), g.variant_name());
        assert!((total - 1.0).abs() < 2e-3, "{g:?}: {total}");
    }
}

#[test]
fn checkerboard_density_integrates_to_one_and_is_zero_on_white_squares() {
    for &variant in CheckerboardVariant::ALL {
        let g = Generator::Checkerboard { variant };
        let s = variant.scale();
        // h = s / 100: every unit square holds exactly 100 x 100 cell midpoints.
        let cells = 600;
        let h = 6.0 * s / cells as f64;
        let mut pts = Vec::new();
        for i in 0..cells {
            for j in 0..cells {
                pts.push(-3.0 * s + (i as f64 + 0.5) * h);
                pts.push(-3.0 * s + (j as f64 + 0.5) * h);
            }
        }
        let lp = g.log_density(&pts).expect("closed form");
        let total: f64 = lp.iter().map(|l| l.exp()).sum::<f64>() * h * h;
        assert!((total - 1.0).abs() < 1e-9, "{variant:?}: {total}");
        // Every sampled point has the in-support density; a white square has none.
        let sample: Vec<f64> = g
            .sample(1000, 3)
            .values
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let inside = -(8.0 * s * s).ln();
        for l in g.log_density(&sample).unwrap() {
            assert!((l - inside).abs() < 1e-12, "{l}");
        }
        let white = g.log_density(&[0.5 * s, -0.5 * s]).unwrap();
        assert_eq!(white, vec![f64::NEG_INFINITY]);
        assert!(g.mixture().is_none());
    }
}

#[test]
fn log_density_matches_a_direct_evaluation() {
    // A direct, unguarded evaluation of ln sum_k w_k (2 pi s_k^2)^(-d/2) exp(-|x - m_k|^2 / 2 s_k^2).
    let direct = |m: &Mixture, x: &[f64]| -> f64 {
        let d = m.dim as f64;
        let mut p = 0.0;
        for k in 0..m.components() {
            let s2 = m.stds[k] * m.stds[k];
            let r2: f64 = x.iter().zip(m.mean(k)).map(|(a, b)| (a - b).powi(2)).sum();
            p += m.weights[k] * (2.0 * PI * s2).powf(-d / 2.0) * (-r2 / (2.0 * s2)).exp();
        }
        p.ln()
    };
    let mut gens = gaussian_generators();
    gens.push(Generator::GaussianMixture(GaussianMixtureParams {
        dim: 5,
        components: 4,
        spread: 1.0,
        std: 0.8,
        ..Default::default()
    }));
    for g in gens {
        let m = g.mixture().unwrap();
        let pts: Vec<f64> = g
            .sample(50, 4)
            .values
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let got = g.log_density(&pts).unwrap();
        assert_eq!(got.len(), 50);
        for (x, l) in pts.chunks_exact(m.dim).zip(&got) {
            let want = direct(&m, x);
            assert!(
                (l - want).abs() < 1e-9 * want.abs().max(1.0),
                "{g:?}: {l} vs {want}"
            );
        }
        // Far away: finite (no underflow to -inf) and very negative.
        let far = vec![1e3; m.dim];
        let l = g.log_density(&far).unwrap()[0];
        assert!(l.is_finite() && l < -1e3, "{l}");
    }
    // A single standard normal in 1D, by hand: ln N(0; 0, 1) = -ln(2 pi) / 2.
    let one = Generator::GaussianMixture(GaussianMixtureParams {
        dim: 1,
        components: 1,
        spread: 0.0,
        std: 1.0,
        ..Default::default()
    });
    let l = one.log_density(&[0.0, 1.0]).unwrap();
    assert!((l[0] + 0.5 * (2.0 * PI).ln()).abs() < 1e-15);
    assert!((l[1] + 0.5 * (2.0 * PI).ln() + 0.5).abs() < 1e-15);
}

#[test]
fn mixture_descriptions_match_the_recipes() {
    // FFJORD: radius 4 / 1.414, std 0.5 / 1.414, equal weights.
    let m = Generator::from_parts("eight_gaussians", None, None)
        .unwrap()
        .mixture()
        .unwrap();
    assert_eq!(m.components(), 8);
    assert_eq!(m.mean(0), &[4.0 / 1.414, 0.0]);
    assert!(m.stds.iter().all(|&s| s == 0.5 / 1.414));
    assert!(m.weights.iter().all(|&w| w == 0.125));
    // torchdyn: unit circle, the shared offset folded into the std.
    let m = Generator::from_parts("eight_gaussians", Some("torchdyn"), None)
        .unwrap()
        .mixture()
        .unwrap();
    assert!((m.stds[0] - (1.0f64 + 1e-6).sqrt()).abs() < 1e-15);
    assert!((m.mean(3).iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-15);
    // AGM gmm: std 0.04, 9 components.
    let m = Generator::Gmm.mixture().unwrap();
    assert_eq!((m.components(), m.stds[0]), (9, 0.04));
    // No closed form for the others.
    for name in [
        "two_moons",
        "circles",
        "rings",
        "spirals",
        "pinwheel",
        "lorenz63",
    ] {
        let g = Generator::from_parts(name, None, None).unwrap();
        assert!(
            g.mixture().is_none() && g.log_density(&[0.0; 6]).is_none(),
            "{name}"
        );
    }
}

#[test]
fn sample_statistics_follow_the_mixture() {
    // Component frequencies follow the normalised weights.
    let p = GaussianMixtureParams {
        dim: 3,
        components: 3,
        spread: 20.0,
        std: 0.1,
        weights: Some(vec![1.0, 2.0, 5.0]),
        means_seed: 0,
    };
    let m = p.mixture();
    assert_eq!(m.weights, vec![0.125, 0.25, 0.625]);
    let g = Generator::GaussianMixture(p);
    let pts = g.sample(40_000, 1);
    assert_eq!(pts.dim, 3);
    let mut counts = [0usize; 3];
    for r in pts.rows() {
        let x: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
        let k = (0..3)
            .min_by(|&a, &b| {
                let da: f64 = x.iter().zip(m.mean(a)).map(|(u, v)| (u - v).powi(2)).sum();
                let db: f64 = x.iter().zip(m.mean(b)).map(|(u, v)| (u - v).powi(2)).sum();
                da.total_cmp(&db)
            })
            .unwrap();
        counts[k] += 1;
    }
    for (c, w) in counts.iter().zip(&m.weights) {
        assert!((*c as f64 / 40_000.0 - w).abs() < 0.01, "{counts:?}");
    }
}

#[test]
fn gaussian_mixture_means_depend_only_on_the_parameters() {
    let p = GaussianMixtureParams {
        dim: 4,
        components: 6,
        ..Default::default()
    };
    let a = p.mixture();
    assert_eq!(a, p.mixture(), "a pure function of the parameters");
    assert_eq!(a.means.len(), 24);
    // spread only rescales; weights and std leave the means alone.
    let b = GaussianMixtureParams {
        spread: 8.0,
        std: 0.1,
        weights: Some(vec![1.0; 6]),
        ..p.clone()
    }
    .mixture();
    for (x, y) in a.means.iter().zip(&b.means) {
        assert_eq!(2.0 * x, *y);
    }
    // means_seed selects another mixture.
    let c = GaussianMixtureParams {
        means_seed: 1,
        ..p.clone()
    }
    .mixture();
    assert_ne!(a.means, c.means);
    // Different sample seeds draw from the same mixture: the sample means agree with the
    // mixture mean sum_k w_k m_k.
    let g = Generator::GaussianMixture(GaussianMixtureParams { std: 0.5, ..p });
    let want: Vec<f64> = (0..4)
        .map(|j| (0..6).map(|k| a.mean(k)[j] / 6.0).sum())
        .collect();
    for seed in [1, 2] {
        let pts = g.sample(60_000, seed);
        for (j, w) in want.iter().enumerate() {
            let got = pts.rows().map(|r| f64::from(r[j])).sum::<f64>() / 60_000.0;
            assert!((got - w).abs() < 0.1, "seed {seed} coord {j}: {got} vs {w}");
        }
    }
}

#[test]
fn gaussian_mixture_validation_names_parameter_value_and_range() {
    let base = GaussianMixtureParams::default();
    let cases: Vec<(GaussianMixtureParams, &str)> = vec![
        (
            GaussianMixtureParams {
                dim: 0,
                ..base.clone()
            },
            "`dim` = 0",
        ),
        (
            GaussianMixtureParams {
                components: 0,
                ..base.clone()
            },
            "`components` = 0",
        ),
        (
            GaussianMixtureParams {
                spread: -1.0,
                ..base.clone()
            },
            "`spread` = -1",
        ),
        (
            GaussianMixtureParams {
                std: 0.0,
                ..base.clone()
            },
            "`std` = 0",
        ),
        (
            GaussianMixtureParams {
                std: f64::NAN,
                ..base.clone()
            },
            "`std` = NaN",
        ),
        (
            GaussianMixtureParams {
                weights: Some(vec![1.0; 3]),
                ..base.clone()
            },
            "a list of 3 numbers",
        ),
        (
            GaussianMixtureParams {
                weights: Some(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0]),
                ..base.clone()
            },
            "entry -1",
        ),
        (
            GaussianMixtureParams {
                weights: Some(vec![f64::MAX; 8]),
                ..base.clone()
            },
            "finite sum",
        ),
    ];
    for (p, needle) in cases {
        let err = p.validate().unwrap_err();
        assert!(matches!(err, DataError::InvalidParameter { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains(needle) && msg.contains("gaussian_mixture") && msg.contains("expected"),
            "{msg}"
        );
        let g = Generator::GaussianMixture(p);
        assert!(g.try_sample(10, 0).is_err());
        // sample never panics: an empty block.
        assert!(g.sample(10, 0).is_empty());
        assert!(g.mixture().is_none() && g.log_density(&[0.0, 0.0]).is_none());
    }
}
