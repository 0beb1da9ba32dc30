//! Checks every metric against reference values from numpy / scipy / POT / scikit-learn stored
//! in `tests/fixtures/metrics.json` (regenerate with `tests/fixtures/make_fixtures.py`), and
//! `mmd` against its original evaluation.

use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/metrics.json");

struct Case {
    name: String,
    dim: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    directions: Option<Vec<f64>>,
    expected: Value,
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Points are float32 values stored as decimal float64; the cast back to f32 is exact.
fn points(v: &Value) -> Vec<f32> {
    floats(v).into_iter().map(|x| x as f32).collect()
}

fn cases() -> Vec<Case> {
    let doc: Value = serde_json::from_str(FIXTURES).expect("fixtures parse");
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_owned(),
            dim: c["dim"].as_u64().expect("dim") as usize,
            a: points(&c["a"]),
            b: points(&c["b"]),
            directions: c.get("directions").map(floats),
            expected: c["expected"].clone(),
        })
        .collect()
}

fn expected(case: &Case, key: &str) -> Option<f64> {
    case.expected.get(key).map(|v| v.as_f64().expect("number"))
}

fn assert_rel(name: &str, what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs() / want.abs().max(f64::MIN_POSITIVE);
    assert!(
        err <= tol,
        "{name}: {what} = {got:e}, reference {want:e} (relative error {err:e})"
    );
}

fn doc() -> Value {
    serde_json::from_str(FIXTURES).expect("fixtures parse")
}

#[test]
fn fixture_file_covers_every_metric() {
    let cases = cases();
    assert!(cases.len() >= 4);
    assert!(cases.iter().any(|c| c.dim == 5));
    assert!(cases.iter().any(|c| c.dim == 1));
    assert!(cases.iter().any(|c| c.a.len() != c.b.len()));
    assert!(cases.iter().filter(|c| expected(c, "w2").is_some()).count() >= 3);
    for key in ["w1", "sliced_w1"] {
        assert!(
            cases.iter().filter(|c| expected(c, key).is_some()).count() >= 3,
            "{key}"
        );
    }
    for key in [
        "mmd",
        "mmd_linear",
        "mmd_poly",
        "energy_distance",
        "mean_error",
        "median_error",
        "knn_precision",
        "knn_recall",
    ] {
        assert!(cases.iter().all(|c| expected(c, key).is_some()), "{key}");
    }
    assert!(
        cases
            .iter()
            .any(|c| expected(c, "energy_distance_scipy").is_some())
    );
    let doc = doc();
    assert_eq!(floats(&doc["mmd_sigmas"]), drift_metrics::MMD_SIGMAS);
    assert_eq!(
        doc["knn_k"].as_u64(),
        Some(drift_metrics::KNN_DEFAULT_K as u64)
    );
    assert!(doc["mixtures"].as_array().is_some_and(|m| m.len() >= 2));
    assert!(
        doc["trajectories"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

#[test]
fn w2_matches_pot_and_scipy() {
    for case in cases() {
        let Some(want) = expected(&case, "w2") else {
            continue;
        };
        let got = drift_metrics::w2(&case.a, &case.b, case.dim).expect("w2");
        assert_rel(&case.name, "w2 vs ot.emd2", got, want, 1e-9);
        let scipy = expected(&case, "w2_scipy").expect("w2_scipy");
        assert_rel(&case.name, "w2 vs linear_sum_assignment", got, scipy, 1e-9);
    }
}

#[test]
fn sliced_w2_matches_numpy_and_pot_with_the_same_directions() {
    for case in cases() {
        let Some(directions) = &case.directions else {
            continue;
        };
        let got = drift_metrics::sliced_w2_with_directions(&case.a, &case.b, case.dim, directions)
            .expect("sliced_w2");
        let want = expected(&case, "sliced_w2").expect("sliced_w2");
        assert_rel(&case.name, "sliced_w2 vs numpy", got, want, 1e-9);
        let pot = expected(&case, "sliced_w2_pot").expect("sliced_w2_pot");
        assert_rel(&case.name, "sliced_w2 vs POT", got, pot, 1e-9);
    }
}

#[test]
fn mmd_matches_numpy() {
    for case in cases() {
        let want = expected(&case, "mmd").expect("mmd");
        let got = drift_metrics::mmd(&case.a, &case.b, case.dim).expect("mmd");
        assert_rel(&case.name, "mmd", got, want, 1e-9);
    }
}

#[test]
fn w1_matches_pot_and_scipy() {
    for case in cases() {
        let Some(want) = expected(&case, "w1") else {
            continue;
        };
        let got = drift_metrics::w1(&case.a, &case.b, case.dim).expect("w1");
        assert_rel(&case.name, "w1 vs ot.emd2", got, want, 1e-9);
        let scipy = expected(&case, "w1_scipy").expect("w1_scipy");
        assert_rel(&case.name, "w1 vs linear_sum_assignment", got, scipy, 1e-9);
    }
}

#[test]
fn sliced_w1_matches_numpy_and_pot_with_the_same_directions() {
    for case in cases() {
        let Some(directions) = &case.directions else {
            continue;
        };
        let got = drift_metrics::sliced_w1_with_directions(&case.a, &case.b, case.dim, directions)
            .expect("sliced_w1");
        let want = expected(&case, "sliced_w1").expect("sliced_w1");
        assert_rel(&case.name, "sliced_w1 vs numpy", got, want, 1e-9);
        let pot = expected(&case, "sliced_w1_pot").expect("sliced_w1_pot");
        assert_rel(&case.name, "sliced_w1 vs POT", got, pot, 1e-9);
    }
}

#[test]
fn kernel_discrepancies_match_numpy_and_sklearn() {
    for case in cases() {
        let (a, b, dim) = (&case.a, &case.b, case.dim);
        let got = drift_metrics::mmd_linear(a, b, dim).expect("mmd_linear");
        let want = expected(&case, "mmd_linear").expect("mmd_linear");
        assert_rel(&case.name, "mmd_linear vs numpy", got, want, 1e-9);
        let got = drift_metrics::mmd_poly(a, b, dim).expect("mmd_poly");
        let want = expected(&case, "mmd_poly").expect("mmd_poly");
        assert_rel(&case.name, "mmd_poly vs sklearn", got, want, 1e-9);
    }
}

#[test]
fn energy_distance_matches_scipy() {
    for case in cases() {
        let got = drift_metrics::energy_distance(&case.a, &case.b, case.dim).expect("energy");
        let want = expected(&case, "energy_distance").expect("energy_distance");
        assert_rel(&case.name, "energy_distance vs cdist", got, want, 1e-9);
        if let Some(scipy) = expected(&case, "energy_distance_scipy") {
            assert_rel(
                &case.name,
                "energy_distance vs scipy.stats",
                got,
                scipy,
                1e-9,
            );
        }
    }
}

#[test]
fn location_errors_match_numpy() {
    for case in cases() {
        let (a, b, dim) = (&case.a, &case.b, case.dim);
        let got = drift_metrics::mean_error(a, b, dim).expect("mean_error");
        let want = expected(&case, "mean_error").expect("mean_error");
        assert_rel(&case.name, "mean_error vs numpy", got, want, 1e-9);
        let got = drift_metrics::median_error(a, b, dim).expect("median_error");
        let want = expected(&case, "median_error").expect("median_error");
        assert_rel(&case.name, "median_error vs numpy", got, want, 1e-9);
    }
}

#[test]
fn knn_precision_recall_match_sklearn() {
    for case in cases() {
        // real = a, generated = b
        let got = drift_metrics::knn_precision_recall(
            &case.a,
            &case.b,
            case.dim,
            drift_metrics::KNN_DEFAULT_K,
        )
        .expect("knn");
        // Fractions of counts: exact on both sides, up to serde_json's (not always correctly
        // rounded) decimal parsing.
        let precision = expected(&case, "knn_precision").expect("knn_precision");
        let recall = expected(&case, "knn_recall").expect("knn_recall");
        assert_rel(&case.name, "knn_precision", got.precision, precision, 1e-15);
        assert_rel(&case.name, "knn_recall", got.recall, recall, 1e-15);
    }
}

#[test]
fn mode_coverage_matches_numpy() {
    for m in doc()["mixtures"].as_array().expect("mixtures") {
        let name = m["name"].as_str().expect("name");
        let dim = m["dim"].as_u64().expect("dim") as usize;
        let got = drift_metrics::mode_coverage(
            &points(&m["samples"]),
            dim,
            &floats(&m["means"]),
            &floats(&m["stds"]),
            m["threshold"].as_f64().expect("threshold"),
            m["min_count"].as_u64().expect("min_count") as usize,
        )
        .expect("mode_coverage");
        let e = &m["expected"];
        let want = e["mode_coverage"].as_f64().unwrap();
        assert_rel(name, "mode_coverage", got.coverage, want, 1e-15);
        let want = e["off_mode_fraction"].as_f64().unwrap();
        assert_rel(
            name,
            "off_mode_fraction",
            got.off_mode_fraction,
            want,
            1e-15,
        );
        let counts: Vec<usize> = floats(&e["on_mode_counts"])
            .into_iter()
            .map(|c| c as usize)
            .collect();
        assert_eq!(got.on_mode_counts, counts, "{name}");
    }
}

#[test]
fn trajectory_metrics_match_numpy() {
    use drift_metrics::{Quadrature, Trajectories};
    for t in doc()["trajectories"].as_array().expect("trajectories") {
        let name = t["name"].as_str().expect("name");
        let (times, states) = (floats(&t["times"]), floats(&t["states"]));
        for (rule, key, velocities) in [
            (Quadrature::LeftPoint, "left_point", "velocities_left_point"),
            (Quadrature::Trapezoid, "trapezoid", "velocities_trapezoid"),
        ] {
            let velocities = floats(&t[velocities]);
            let paths = Trajectories {
                dim: t["dim"].as_u64().expect("dim") as usize,
                times: &times,
                states: &states,
                velocities: &velocities,
            };
            let got = drift_metrics::trajectory_metrics(&paths, rule).expect("trajectories");
            let e = &t["expected"][key];
            let want = e["straightness"].as_f64().unwrap();
            assert_rel(name, "straightness", got.straightness, want, 1e-12);
            let want = e["path_energy"].as_f64().unwrap();
            assert_rel(name, "path_energy", got.path_energy, want, 1e-12);
        }
    }
}

/// `mmd` as first implemented (libm `exp`, exponent by division, every row summed strictly
/// in column order), to bound what the blocked, vectorised evaluation changed.
fn original_mmd(a: &[f32], b: &[f32], dim: usize) -> f64 {
    let dens: Vec<f64> = drift_metrics::MMD_SIGMAS
        .iter()
        .map(|s| 2.0 * s * s)
        .collect();
    let kernel = |x: &[f64], y: &[f64]| -> f64 {
        let d2: f64 = x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum();
        dens.iter()
            .map(|den| {
                let t = -d2 / den;
                if t < -746.0 { 0.0 } else { t.exp() }
            })
            .sum()
    };
    let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let (a, b) = (widen(a), widen(b));
    let within = |p: &[f64]| -> f64 {
        let rows: Vec<&[f64]> = p.chunks_exact(dim).collect();
        let partial: Vec<f64> = (0..rows.len())
            .map(|i| rows[i + 1..].iter().map(|y| kernel(rows[i], y)).sum())
            .collect();
        2.0 * partial.iter().sum::<f64>()
    };
    let cross: f64 = a
        .chunks_exact(dim)
        .map(|x| b.chunks_exact(dim).map(|y| kernel(x, y)).sum::<f64>())
        .sum();
    let (n, m) = ((a.len() / dim) as f64, (b.len() / dim) as f64);
    within(&a) / (n * (n - 1.0)) + within(&b) / (m * (m - 1.0)) - 2.0 * cross / (n * m)
}

#[test]
fn mmd_stays_within_1e12_of_its_original_evaluation() {
    let mut worst = 0.0f64;
    let mut identical = 0;
    let cases = cases();
    for case in &cases {
        let got = drift_metrics::mmd(&case.a, &case.b, case.dim).expect("mmd");
        let old = original_mmd(&case.a, &case.b, case.dim);
        let rel = (got - old).abs() / old.abs();
        assert!(rel <= 1e-12, "{}: {got:e} vs original {old:e}", case.name);
        let reference = expected(case, "mmd").expect("mmd");
        eprintln!(
            "{}: mmd relative error vs the fsum reference: new {:e}, original {:e}",
            case.name,
            (got - reference).abs() / reference.abs(),
            (old - reference).abs() / reference.abs()
        );
        worst = worst.max(rel);
        identical += usize::from(got.to_bits() == old.to_bits());
    }
    eprintln!(
        "mmd vs original: {identical} of {} fixture cases bit-identical, largest relative \
         difference {worst:e}",
        cases.len()
    );
}
