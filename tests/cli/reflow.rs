//! Reflow is a visible chain of stages: train -> sample pairs -> train on the pairs; the second
//! round generates in one step far better than the first, and evaluations of either round use
//! the original data stage's test split.

use crate::util::{Scratch, spec};

#[test]
fn second_round_generates_in_one_step() {
    let s = Scratch::new();
    let path = spec("reflow.toml");
    let out = s.drift(&["run", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table = s.csv_rows(&path);
    let cell = |model: &str, nfe: &str, column: &str| -> f64 {
        table
            .iter()
            .find(|r| r["model"] == model && r["nfe"] == nfe)
            .unwrap_or_else(|| panic!("no row {model} nfe {nfe} in {table:?}"))[column]
            .parse()
            .expect("a number")
    };
    let get = |model: &str, nfe: &str| cell(model, nfe, "w2_mean");
    // Measured 2026-11-29 (this spec, seed 0): rf1 nfe 1 -> 1.76, rf2 nfe 1 -> 0.44; both about
    // 0.43 at nfe 50. One-step generation of the 2-rectified flow must be at least twice as good.
    let (rf1, rf2) = (get("rf1", "1"), get("rf2", "1"));
    assert!(
        rf2 < 0.5 * rf1,
        "reflow did not straighten: rf1 {rf1}, rf2 {rf2}"
    );
    assert!(
        rf2 < 1.5 * get("rf2", "50"),
        "rf2 one-step {rf2} far from its nfe-50 quality"
    );
    // The paths themselves straighten. Measured 2026-11-30 (this spec, 50 Euler steps,
    // 500 paths): straightness 1.107 for rf1, 0.00117 for rf2.
    let (s1, s2) = (
        cell("rf1", "50", "straightness_mean"),
        cell("rf2", "50", "straightness_mean"),
    );
    assert!(s2 < 0.1 * s1, "straightness rf1 {s1}, rf2 {s2}");

    // The pairs are a cached artifact of their own, and the evaluation of round 2 reads the
    // test split of the original data stage through them.
    let show = s.drift(&["show", path.to_str().unwrap(), "eval.gen[model=rf2,nfe=1]"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("\"id\": \"data.moons\""),
        "{}",
        show.stdout
    );
    let pairs = s.drift(&["show", path.to_str().unwrap(), "sample.pairs1"]);
    assert!(
        pairs.stdout.contains("pairs_x0.parquet"),
        "{}",
        pairs.stdout
    );
}
