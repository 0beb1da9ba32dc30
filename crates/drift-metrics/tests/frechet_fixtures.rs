//! Checks `frechet_distance` against the numpy / scipy references (scipy.linalg.sqrtm, the
//! pytorch-fid formula, plus eigenvalue routes) stored in `tests/fixtures/frechet.json`
//! (regenerate with `tests/fixtures/make_frechet_fixtures.py`).

use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/frechet.json");

struct Case {
    name: String,
    dim: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    expected: Value,
}

/// Points are float32 values stored as decimal float64; the cast back to f32 is exact.
fn points(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
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
            expected: c["expected"].clone(),
        })
        .collect()
}

fn expected(case: &Case, key: &str) -> Option<f64> {
    case.expected.get(key).map(|v| v.as_f64().expect("number"))
}

fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn fixture_file_covers_the_cases() {
    let cases = cases();
    for dim in [2, 8, 64] {
        assert!(cases.iter().any(|c| c.dim == dim), "dim {dim}");
    }
    assert!(cases.iter().any(|c| c.a.len() >= 20 * c.b.len()));
    assert!(cases.iter().any(|c| expected(c, "fd") == Some(0.0)));
    assert!(cases.iter().any(|c| expected(c, "fd_reduced").is_some()));
    for c in &cases {
        assert_eq!(c.a.len() % c.dim, 0, "{}", c.name);
        assert_eq!(c.b.len() % c.dim, 0, "{}", c.name);
    }
}

#[test]
fn frechet_distance_matches_scipy_sqrtm() {
    for case in cases() {
        let got = drift_metrics::frechet_distance(&case.a, &case.b, case.dim).expect("fd");
        let want = expected(&case, "fd").expect("fd");
        if want == 0.0 {
            // identical sets: the exact value is 0 (scipy's round-off value is ~2e-13)
            let scipy = expected(&case, "fd_scipy").expect("fd_scipy");
            eprintln!("{}: fd = {got:e} (exact 0; scipy {scipy:e})", case.name);
            assert!(got.abs() <= 1e-9, "{}: fd = {got:e}, want 0", case.name);
            continue;
        }
        let mut line = format!("{}: fd = {got:.17}", case.name);
        for key in ["fd", "fd_eigvals", "fd_symmetric", "fd_reduced"] {
            if let Some(reference) = expected(&case, key) {
                line.push_str(&format!(", vs {key} {:.1e}", relative(got, reference)));
            }
        }
        eprintln!("{line}");
        let err = relative(got, want);
        assert!(
            err <= 1e-6,
            "{}: fd = {got:e}, scipy sqrtm reference {want:e} (relative error {err:e})",
            case.name
        );
        // Where the covariances are full rank the agreement is much closer than 1e-6.
        if expected(&case, "fd_reduced").is_none() {
            let sym = expected(&case, "fd_symmetric").expect("fd_symmetric");
            assert!(
                err <= 1e-10 && relative(got, sym) <= 1e-10,
                "{}: {got:e} vs sqrtm {want:e} / eigh {sym:e}",
                case.name
            );
        }
    }
}

#[test]
fn frechet_distance_is_symmetric_and_bit_reproducible_on_the_fixtures() {
    for case in cases() {
        let ab = drift_metrics::frechet_distance(&case.a, &case.b, case.dim).expect("fd");
        let again = drift_metrics::frechet_distance(&case.a, &case.b, case.dim).expect("fd");
        assert_eq!(ab.to_bits(), again.to_bits(), "{}", case.name);
        let ba = drift_metrics::frechet_distance(&case.b, &case.a, case.dim).expect("fd");
        assert!(
            (ab - ba).abs() <= 1e-6 * ab.max(1e-3),
            "{}: fd(a, b) = {ab:e}, fd(b, a) = {ba:e}",
            case.name
        );
    }
}
