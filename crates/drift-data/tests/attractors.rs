//! Attractor generators: standardised output, dimensions, determinism, the blow-up error and
//! parameter validation.

use drift_data::{AttractorKind, AttractorParams, AttractorSystem, DataError, Generator};

fn column_stats(p: &drift_data::Points) -> Vec<(f64, f64)> {
    let n = p.len() as f64;
    (0..p.dim)
        .map(|j| {
            let mean = p.rows().map(|r| f64::from(r[j])).sum::<f64>() / n;
            let var = p
                .rows()
                .map(|r| (f64::from(r[j]) - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, var.sqrt())
        })
        .collect()
}

#[test]
fn every_attractor_is_standardised_finite_and_deterministic() {
    for &kind in AttractorKind::ALL {
        let mut params = kind.default_params();
        if let AttractorSystem::Lorenz96 { forcing, .. } = params.system {
            params.system = AttractorSystem::Lorenz96 { dim: 7, forcing };
        }
        let g = Generator::Attractor(params);
        assert_eq!(g.name(), kind.name());
        assert_eq!(g.variant_name(), "drift");
        for seed in [0, 1, 2] {
            let p = g.try_sample(3000, seed).expect("the defaults stay bounded");
            assert_eq!(p.dim, g.dim());
            assert_eq!(p.len(), 3000);
            assert!(p.values.iter().all(|v| v.is_finite()));
            for (j, (mean, std)) in column_stats(&p).into_iter().enumerate() {
                assert!(mean.abs() < 1e-5, "{kind:?} coord {j}: mean {mean}");
                // std 1 exactly before rounding; a zero std would mean a collapsed trajectory.
                assert!((std - 1.0).abs() < 1e-5, "{kind:?} coord {j}: std {std}");
            }
        }
        let a = g.sample(500, 9);
        assert_eq!(a, g.sample(500, 9));
        assert_ne!(a, g.sample(500, 10));
    }
}

#[test]
fn dimensions_are_honoured() {
    for &kind in AttractorKind::ALL {
        let g = Generator::from_parts(kind.name(), None, None).unwrap();
        let want = if kind == AttractorKind::Lorenz96 {
            40
        } else {
            3
        };
        assert_eq!(g.dim(), want, "{kind:?}");
    }
    let g = Generator::Attractor(AttractorParams {
        system: AttractorSystem::Lorenz96 {
            dim: 5,
            forcing: 8.0,
        },
        dt: 0.01,
        burn_in: 500,
        stride: 5,
    });
    let p = g.try_sample(100, 0).unwrap();
    assert_eq!((p.dim, p.len(), p.values.len()), (5, 100, 500));
    assert!(g.try_sample(0, 0).unwrap().is_empty());
}

#[test]
fn lorenz63_statistics_match_the_known_attractor() {
    // Standardisation hides the scale, but not the shape: on the Lorenz attractor x and y are
    // strongly correlated (corr ~0.88) and x, z uncorrelated by the x -> -x symmetry.
    let p = Generator::from_parts("lorenz63", None, None)
        .unwrap()
        .try_sample(100_000, 3)
        .unwrap();
    let n = p.len() as f64;
    let corr = |a: usize, b: usize| {
        p.rows()
            .map(|r| f64::from(r[a]) * f64::from(r[b]))
            .sum::<f64>()
            / n
    };
    let xy = corr(0, 1);
    let xz = corr(0, 2);
    println!("corr xy {xy}, xz {xz}");
    assert!((0.8..0.95).contains(&xy), "{xy}");
    assert!(xz.abs() < 0.1, "{xz}");
}

#[test]
fn a_diverging_trajectory_is_an_error_not_nan() {
    // Lorenz-63 with dt = 0.5 leaves RK4's stability region and overflows.
    let mut params = AttractorKind::Lorenz63.default_params();
    params.dt = 0.5;
    let g = Generator::Attractor(params);
    let err = g.try_sample(100, 0).unwrap_err();
    match &err {
        DataError::Diverged { generator, .. } => assert_eq!(*generator, "lorenz63"),
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("lorenz63") && msg.contains("dt = 0.5"),
        "{msg}"
    );
    // sample() does not panic and returns no NaN: an empty block.
    let p = g.sample(100, 0);
    assert!(p.is_empty() && p.dim == 3);
    // Rössler with a large c escapes to infinity.
    let g = Generator::Attractor(AttractorParams {
        system: AttractorSystem::Rossler {
            a: 0.2,
            b: 0.2,
            c: -50.0,
        },
        ..AttractorKind::Rossler.default_params()
    });
    assert!(matches!(
        g.try_sample(100, 0),
        Err(DataError::Diverged { .. })
    ));
}

#[test]
fn invalid_parameters_are_named() {
    let base = AttractorKind::Lorenz63.default_params();
    let cases = [
        (AttractorParams { dt: 0.0, ..base }, "`dt` = 0"),
        (
            AttractorParams {
                dt: f64::NAN,
                ..base
            },
            "`dt` = NaN",
        ),
        (AttractorParams { stride: 0, ..base }, "`stride` = 0"),
        (
            AttractorParams {
                system: AttractorSystem::Lorenz63 {
                    sigma: 10.0,
                    rho: f64::INFINITY,
                    beta: 1.0,
                },
                ..base
            },
            "`rho` = inf",
        ),
        (
            AttractorParams {
                system: AttractorSystem::Lorenz96 {
                    dim: 3,
                    forcing: 8.0,
                },
                ..base
            },
            "lorenz96`: `dim` = 3",
        ),
    ];
    for (p, needle) in cases {
        let err = p.validate().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle) && msg.contains("expected"), "{msg}");
        assert_eq!(Generator::Attractor(p).try_sample(5, 0).unwrap_err(), err);
    }
    assert!(matches!(
        Generator::from_parts("lorenz63", Some("ffjord"), None),
        Err(DataError::UnknownVariant { .. })
    ));
    assert!(matches!(
        Generator::from_parts("thomas", None, Some(0.1)),
        Err(DataError::UnexpectedNoise { .. })
    ));
}

#[test]
fn default_parameters_are_the_standard_ones() {
    assert_eq!(
        AttractorKind::Lorenz63.default_system(),
        AttractorSystem::Lorenz63 {
            sigma: 10.0,
            rho: 28.0,
            beta: 8.0 / 3.0
        }
    );
    assert_eq!(
        AttractorKind::Rossler.default_system(),
        AttractorSystem::Rossler {
            a: 0.2,
            b: 0.2,
            c: 5.7
        }
    );
    assert_eq!(
        AttractorKind::Thomas.default_system(),
        AttractorSystem::Thomas { b: 0.208186 }
    );
    assert_eq!(
        AttractorKind::Lorenz96.default_system(),
        AttractorSystem::Lorenz96 {
            dim: 40,
            forcing: 8.0
        }
    );
    let p = AttractorKind::Lorenz63.default_params();
    assert_eq!((p.dt, p.burn_in, p.stride), (0.01, 1000, 10));
    for &kind in AttractorKind::ALL {
        assert_eq!(AttractorKind::from_name(kind.name()), Some(kind));
        assert_eq!(kind.default_system().kind(), kind);
    }
}

#[test]
fn thomas_samples_one_attractor_whatever_the_seed() {
    // At b = 0.208186 Thomas' system has two mirror-image attractors; seeds 0 and 1 start in
    // different basins, and the reflection makes their standardised samples agree (the skewness
    // of a mirror image would flip sign).
    let g = Generator::from_parts("thomas", None, None).unwrap();
    let skews: Vec<f64> = (0..6)
        .map(|seed| {
            let p = g.try_sample(20_000, seed).unwrap();
            p.rows().map(|r| f64::from(r[0]).powi(3)).sum::<f64>() / p.len() as f64
        })
        .collect();
    println!("thomas skewness per seed: {skews:?}");
    for s in &skews {
        assert!((s - skews[0]).abs() < 0.15 && s.abs() > 0.2, "{skews:?}");
    }
}
