//! The official AGM toy setup runs end to end in its shortened CI copy: both training types on
//! gmm and spiral, each paired with its own sampler at NFE 10 with the sampling hop.

use crate::util::{Scratch, spec};

#[test]
fn agm_toy_short_runs_both_training_types() {
    let s = Scratch::new();
    let path = spec("agm-toy-short.toml");
    let out = s.drift(&["run", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = s.csv_rows(&path);
    let mut seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["data"].clone(),
                r["de_type"].clone(),
                r["samples"].clone(),
            )
        })
        .collect();
    seen.sort();
    let want = [
        ("gmm", "prob_ode", "gddim"),
        ("gmm", "sde", "sss"),
        ("spiral", "prob_ode", "gddim"),
        ("spiral", "sde", "sss"),
    ];
    assert_eq!(
        seen,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    for r in &rows {
        // The hop reuses the last evaluation: the realised NFE is exactly the budget.
        assert_eq!(r["nfe_mean"].parse::<f64>().unwrap(), 10.0, "{r:?}");
        let w2: f64 = r["w2_mean"].parse().unwrap();
        assert!(w2.is_finite() && w2 > 0.0, "{r:?}");
    }
}
