//! Checks w2, sliced_w2 and mmd against reference values from numpy / scipy / POT stored in
//! `tests/fixtures/metrics.json` (regenerate with `tests/fixtures/make_fixtures.py`).

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

#[test]
fn fixture_file_covers_every_metric() {
    let cases = cases();
    assert!(cases.len() >= 4);
    assert!(cases.iter().any(|c| c.dim == 5));
    assert!(cases.iter().any(|c| c.a.len() != c.b.len()));
    assert!(cases.iter().filter(|c| expected(c, "w2").is_some()).count() >= 3);
    let doc: Value = serde_json::from_str(FIXTURES).expect("fixtures parse");
    assert_eq!(floats(&doc["mmd_sigmas"]), drift_metrics::MMD_SIGMAS);
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
