//! SDE time snapshots: the OU simulation against its exact Gaussian marginals, the double well
//! against its stationary density, the row layout, determinism and validation.

use drift_data::{
    DataError, DoubleWellParams, InitialDistribution, OuParams, SdeProcess, SnapshotParams,
};

fn moments(block: &[f32]) -> (f64, f64) {
    let n = block.len() as f64;
    let mean = block.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = block
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var)
}

#[test]
fn ou_marginals_match_the_exact_mean_and_variance() {
    let ou = OuParams {
        theta: 1.5,
        mu: 0.5,
        sigma: 0.8,
        x0: InitialDistribution {
            mean: 3.0,
            std: 0.3,
        },
    };
    let params = SnapshotParams {
        process: SdeProcess::OrnsteinUhlenbeck(ou),
        dim: 2,
        times: vec![0.0, 0.1, 0.5, 1.0, 3.0],
        dt: 1e-3,
    };
    let n = 20_000;
    let s = params.sample(n, 7).unwrap();
    assert_eq!(s.per_time(), n);
    for (j, &t) in s.times.iter().enumerate() {
        // Every coordinate is an independent OU path: pool the 2n values.
        let (mean, var) = moments(s.at(j));
        let (want_m, want_v) = (ou.marginal_mean(t), ou.marginal_variance(t));
        // Tolerances: 5 standard errors of the estimates (2n = 40000 values, so about
        // 0.025 sd for the mean and 0.035 relative for the variance), plus the O(dt) Euler
        // bias (relative ~theta dt / 2 < 1e-3).
        let se_m = (want_v / (2 * n) as f64).sqrt();
        println!("t {t}: mean {mean} (exact {want_m}), var {var} (exact {want_v})");
        assert!(
            (mean - want_m).abs() < 5.0 * se_m + 1e-3,
            "t {t}: mean {mean} vs {want_m}"
        );
        assert!(
            (var / want_v - 1.0).abs() < 0.04,
            "t {t}: var {var} vs {want_v}"
        );
    }
    // Hand-computed exact values: t = 0 gives the initial distribution, t -> inf the
    // stationary N(mu, sigma^2 / (2 theta)).
    assert_eq!(ou.marginal_mean(0.0), 3.0);
    assert!((ou.marginal_variance(0.0) - 0.09).abs() < 1e-15);
    assert!((ou.marginal_variance(100.0) - 0.64 / 3.0).abs() < 1e-12);
    assert!((ou.marginal_mean(1.0) - (0.5 + 2.5 * (-1.5f64).exp())).abs() < 1e-15);
    // theta = 0: Brownian motion, variance s0^2 + sigma^2 t.
    let bm = OuParams { theta: 0.0, ..ou };
    assert!((bm.marginal_variance(2.0) - (0.09 + 0.64 * 2.0)).abs() < 1e-15);
}

#[test]
fn double_well_relaxes_to_its_stationary_density() {
    let dw = DoubleWellParams::default();
    let params = SnapshotParams {
        process: SdeProcess::DoubleWell(dw),
        dim: 1,
        times: vec![0.0, 0.5, 20.0],
        dt: 1e-3,
    };
    let n = 5_000;
    let s = params.sample(n, 3).unwrap();
    // t = 0: N(-1, 0.1^2).
    let (m0, v0) = moments(s.at(0));
    assert!(
        (m0 + 1.0).abs() < 0.01 && (v0 - 0.01).abs() < 0.0015,
        "{m0} {v0}"
    );
    // t = 0.5: still mostly in the left well.
    let left = s.at(1).iter().filter(|&&x| x < 0.0).count() as f64 / n as f64;
    assert!(left > 0.8, "{left}");
    // t = 20 (several Kramers times with sigma = 1): E[x^2] under p ~ exp(-2 V / sigma^2),
    // by quadrature, and a symmetric split between the wells.
    let (mut z, mut m2) = (0.0, 0.0);
    for i in 0..40_000 {
        let x = -4.0 + (i as f64 + 0.5) * 8.0 / 40_000.0;
        let w = dw.stationary_log_density_unnormalised(x).exp();
        z += w;
        m2 += w * x * x;
    }
    let want_m2 = m2 / z;
    let block = s.at(2);
    let got_m2 = block.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / n as f64;
    let left = block.iter().filter(|&&x| x < 0.0).count() as f64 / n as f64;
    println!("E[x^2] {got_m2} (stationary {want_m2}), left fraction {left}");
    assert!(
        (got_m2 / want_m2 - 1.0).abs() < 0.03,
        "{got_m2} vs {want_m2}"
    );
    assert!((left - 0.5).abs() < 0.03, "{left}");
    assert_eq!(DoubleWellParams::drift(1.0), 0.0);
    assert_eq!(DoubleWellParams::drift(2.0), -24.0);
}

#[test]
fn layout_time_column_and_determinism() {
    let params = SnapshotParams::new(SdeProcess::from_name("ou").unwrap());
    let s = params.sample(10, 1).unwrap();
    assert_eq!(s.times, vec![0.0, 0.25, 0.5, 1.0, 2.0]);
    assert_eq!(s.points.dim, 2);
    assert_eq!(s.points.len(), 50);
    assert_eq!(s.time_of_row.len(), 50);
    assert_eq!(s.time_of_row[9], 0.0);
    assert_eq!(s.time_of_row[10], 0.25);
    assert_eq!(s.time_of_row[49], 2.0);
    let t = s.with_time_column();
    assert_eq!(t.dim, 3);
    assert_eq!(t.len(), 50);
    assert_eq!(&t.row(12)[..2], s.points.row(12));
    assert_eq!(t.row(12)[2], 0.25);
    assert!(s.points.values.iter().all(|v| v.is_finite()));
    assert_eq!(s, params.sample(10, 1).unwrap());
    assert_ne!(s.points, params.sample(10, 2).unwrap().points);
    // Times that do not fall on the dt grid are hit exactly (steps are shortened).
    let odd = SnapshotParams {
        times: vec![0.0123, 0.1],
        dt: 0.01,
        ..params.clone()
    };
    assert_eq!(
        odd.sample(3, 0).unwrap().time_of_row,
        vec![0.0123; 3]
            .into_iter()
            .chain(vec![0.1; 3])
            .collect::<Vec<_>>()
    );
    // A point-mass start with no noise stays on the exact deterministic path (up to Euler).
    let det = SnapshotParams {
        process: SdeProcess::OrnsteinUhlenbeck(OuParams {
            theta: 1.0,
            mu: 0.0,
            sigma: 0.0,
            x0: InitialDistribution {
                mean: 1.0,
                std: 0.0,
            },
        }),
        dim: 1,
        times: vec![1.0],
        dt: 1e-4,
    };
    let x = f64::from(det.sample(1, 0).unwrap().points.values[0]);
    assert!((x - (-1.0f64).exp()).abs() < 1e-4, "{x}");
}

#[test]
fn validation_names_the_parameter() {
    let base = SnapshotParams::new(SdeProcess::from_name("double_well").unwrap());
    let cases: Vec<(SnapshotParams, &str)> = vec![
        (
            SnapshotParams {
                times: vec![],
                ..base.clone()
            },
            "`times` = []",
        ),
        (
            SnapshotParams {
                times: vec![0.0, 1.0, 1.0],
                ..base.clone()
            },
            "strictly increasing",
        ),
        (
            SnapshotParams {
                times: vec![-1.0, 1.0],
                ..base.clone()
            },
            "entry -1",
        ),
        (
            SnapshotParams {
                times: vec![0.0, f64::INFINITY],
                ..base.clone()
            },
            "entry inf",
        ),
        (
            SnapshotParams {
                dt: 0.0,
                ..base.clone()
            },
            "`dt` = 0",
        ),
        (
            SnapshotParams {
                dim: 0,
                ..base.clone()
            },
            "`dim` = 0",
        ),
        (
            SnapshotParams {
                dt: 1e-12,
                ..base.clone()
            },
            "at most 1e10",
        ),
        (
            SnapshotParams {
                process: SdeProcess::OrnsteinUhlenbeck(OuParams {
                    theta: -1.0,
                    ..OuParams::default()
                }),
                ..base.clone()
            },
            "`theta` = -1",
        ),
        (
            SnapshotParams {
                process: SdeProcess::DoubleWell(DoubleWellParams {
                    sigma: f64::NAN,
                    ..DoubleWellParams::default()
                }),
                ..base.clone()
            },
            "`sigma` = NaN",
        ),
        (
            SnapshotParams {
                process: SdeProcess::DoubleWell(DoubleWellParams {
                    x0: InitialDistribution {
                        mean: 0.0,
                        std: -1.0,
                    },
                    ..DoubleWellParams::default()
                }),
                ..base.clone()
            },
            "`x0_std` = -1",
        ),
    ];
    for (p, needle) in cases {
        let err = p.sample(5, 0).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, DataError::InvalidParameter { .. }) && msg.contains(needle),
            "{msg}"
        );
        assert!(msg.contains("expected"), "{msg}");
    }
    // A double well started far out with a coarse step blows up: an error, not NaN.
    let blow = SnapshotParams {
        process: SdeProcess::DoubleWell(DoubleWellParams {
            sigma: 1.0,
            x0: InitialDistribution {
                mean: 50.0,
                std: 0.0,
            },
        }),
        dt: 0.1,
        times: vec![1.0],
        dim: 1,
    };
    assert!(matches!(
        blow.sample(3, 0),
        Err(DataError::Diverged {
            generator: "double_well",
            ..
        })
    ));
}
