//! Training actually learns: flow matching on eight_gaussians beats the (almost) untrained model.

use crate::util::{Scratch, spec};

/// W2 at NFE 50 per `steps` value, read from `drift table --format csv`.
fn w2_by_steps(s: &Scratch) -> Vec<(String, f64)> {
    let out = s.drift(&[
        "table",
        spec("quality.toml").to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "w2_mean")
        .expect("w2_mean column");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[0].to_string(),
                cells[col].parse::<f64>().expect("number"),
            )
        })
        .collect()
}

#[test]
fn flow_matching_on_eight_gaussians_learns() {
    let s = Scratch::new();
    let out = s.drift(&["run", spec("quality.toml").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let w2 = w2_by_steps(&s);
    assert_eq!(
        w2.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        vec!["1", "1500"]
    );
    let (untrained, trained) = (w2[0].1, w2[1].1);
    // Measured (root seeds 0-3, 1000 test points): after 1 step W2 = 1.63-1.70, after 1500 steps
    // 0.33-0.48. The bounds leave room for platform differences but fail if training is broken.
    assert!(untrained > 1.2, "untrained W2 {untrained}");
    assert!(trained < 0.75, "trained W2 {trained}");
    assert!(
        trained < 0.5 * untrained,
        "trained {trained} vs untrained {untrained}"
    );
}
