//! The generator zoo and the metrics of issue 4 through the real binary: every metric is
//! computed, lands in the report and has a sane value for a short training.

use crate::util::{Scratch, spec};

#[test]
fn zoo_generators_and_every_metric_run() {
    let s = Scratch::new();
    let run = s.run_json(&spec("zoo.toml"), &[]);
    assert!(run.iter().all(|i| i["state"] == "executed"), "{run:?}");
    let rows = s.csv_rows(&spec("zoo.toml"));
    let value = |data: &str, metric: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| r["data"] == data && r["metric"] == metric)
            .unwrap_or_else(|| panic!("no row {data}/{metric} in {rows:?}"));
        row.iter()
            .find(|(k, _)| k.as_str() == "nfe=20_mean")
            .map(|(_, v)| {
                v.parse::<f64>()
                    .unwrap_or_else(|_| panic!("{data}/{metric}: {v}"))
            })
            .unwrap_or_else(|| panic!("{data}/{metric}: no nfe=20 column in {row:?}"))
    };
    for data in ["mix", "lorenz", "rings"] {
        for metric in [
            "w2",
            "w1",
            "sliced_w1",
            "energy_distance",
            "mean_error",
            "median_error",
        ] {
            let v = value(data, metric);
            assert!(v.is_finite() && v >= 0.0, "{data}/{metric} = {v}");
        }
        for metric in ["precision", "recall"] {
            let v = value(data, metric);
            assert!((0.0..=1.0).contains(&v), "{data}/{metric} = {v}");
        }
        assert!(value(data, "mmd_linear").is_finite() && value(data, "mmd_poly").is_finite());
        assert_eq!(value(data, "nfe"), 20.0);
        // W1 <= W2 for the same optimal-transport problem (Jensen).
        assert!(value(data, "w1") <= value(data, "w2") + 1e-12);
    }
    // The 4-component mixture in 3D: a short training finds most modes, and the samples'
    // log-likelihood under the true density is finite.
    let coverage = value("mix", "mode_coverage");
    assert!((0.0..=1.0).contains(&coverage), "{coverage}");
    let off = value("mix", "off_mode_fraction");
    assert!((0.0..=1.0).contains(&off), "{off}");
    assert!(value("mix", "log_likelihood").is_finite());
    // The test-set NLL of the flow (exact divergence in 3D): finite and, as a cross-entropy,
    // not far below the samples' own log-likelihood under the truth.
    let nll = value("mix", "nll");
    assert!(nll.is_finite(), "{nll}");
    // Paths of a flow-matching model bend a little: small positive straightness and energy.
    for metric in ["straightness", "path_energy"] {
        let v = value("mix", metric);
        assert!(v.is_finite() && v >= 0.0, "{metric} = {v}");
    }
}

#[test]
fn mode_metrics_need_a_mixture_and_options_need_their_metrics() {
    let s = Scratch::new();
    let text = std::fs::read_to_string(spec("zoo.toml")).unwrap().replace(
        "samples = \"sample.fm[data=mix]\"",
        "samples = \"sample.fm[data=rings]\"",
    );
    let bad = s.write("zoo_rings.toml", &text);
    let out = s.drift(&["run", bad.to_str().unwrap(), "--jobs", "1"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("is not a Gaussian mixture"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(spec("zoo.toml"))
        .unwrap()
        .replace("mode_min_count = 10", "mode_min_count = 10\nknn_k = 5");
    let bad = s.write("zoo_knn.toml", &text);
    let out = s.drift(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("`knn_k` applies only to precision, recall"),
        "{}",
        out.stderr
    );
}
