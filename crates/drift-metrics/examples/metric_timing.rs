//! Times the metrics on n x n 2D point sets (n = 2000 by default):
//! `cargo run --release -p drift-metrics --example metric_timing [n] [what]`, where `what` is
//! a w2 case number (0-4), `new` (the metrics added after w2 / sliced_w2 / mmd, no w2 runs),
//! or one of `mmd`, `poly`, `energy`, `knn` alone (e.g. at n = 10000).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn gaussian(n: usize, shift: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..2 * n)
        .map(|_| (rng.sample::<f64, _>(StandardNormal) + shift) as f32)
        .collect()
}

fn ring(n: usize, radius: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .flat_map(|_| {
            let t = rng.random::<f64>() * std::f64::consts::TAU;
            let r = radius + rng.sample::<f64, _>(StandardNormal) * 0.1;
            [(r * t.cos()) as f32, (r * t.sin()) as f32]
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let only = std::env::args().nth(2);
    let a = gaussian(n, 0.0, 1);
    match only.as_deref() {
        Some("mmd") => {
            let b = gaussian(n, 0.5, 2);
            time("mmd", || drift_metrics::mmd(&a, &b, 2));
            return;
        }
        Some("energy") => {
            let b = gaussian(n, 0.5, 2);
            time("energy_distance", || {
                drift_metrics::energy_distance(&a, &b, 2)
            });
            return;
        }
        Some("poly") => {
            let b = gaussian(n, 0.5, 2);
            time("mmd_poly", || drift_metrics::mmd_poly(&a, &b, 2));
            return;
        }
        Some("knn") => {
            let b = gaussian(n, 0.5, 2);
            time("knn_precision_recall (k = 3)", || {
                drift_metrics::knn_precision_recall(&a, &b, 2, 3)
            });
            return;
        }
        Some("new") => {
            time_new(&a, &gaussian(n, 0.5, 2));
            return;
        }
        _ => {}
    }
    let cases = [
        ("w2 N(0,I) vs N(0,I)", gaussian(n, 0.0, 3)),
        ("w2 N(0,I) vs N(0.5,I)", gaussian(n, 0.5, 2)),
        ("w2 N(0,I) vs ring r=2", ring(n, 2.0, 4)),
        ("w2 N(0,I) vs one repeated point", vec![0.25; 2 * n]),
        (
            "w2 N(0,I) vs 3 repeated points",
            (0..2 * n).map(|k| (k % 3) as f32).collect(),
        ),
    ];
    for (k, (label, b)) in cases.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != k.to_string()) {
            continue;
        }
        let start = Instant::now();
        let value = drift_metrics::w2(&a, b, 2);
        println!(
            "{label}: {:.3} s -> {value:?}",
            start.elapsed().as_secs_f64()
        );
    }
    if only.is_none() {
        let b = &cases[1].1;
        let start = Instant::now();
        let value = drift_metrics::sliced_w2(&a, b, 2, 256, 0);
        println!(
            "sliced_w2 (256 directions): {:.3} s -> {value:?}",
            start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        let value = drift_metrics::mmd(&a, b, 2);
        println!("mmd: {:.3} s -> {value:?}", start.elapsed().as_secs_f64());
    }
}

fn time<T: std::fmt::Debug>(label: &str, f: impl FnOnce() -> T) {
    let start = Instant::now();
    let value = f();
    println!(
        "{label}: {:.3} s -> {value:?}",
        start.elapsed().as_secs_f64()
    );
}

fn time_new(a: &[f32], b: &[f32]) {
    time("w1", || drift_metrics::w1(a, b, 2));
    time("sliced_w1 (256 directions)", || {
        drift_metrics::sliced_w1(a, b, 2, 256, 0)
    });
    time("mmd", || drift_metrics::mmd(a, b, 2));
    time("mmd_linear", || drift_metrics::mmd_linear(a, b, 2));
    time("mmd_poly", || drift_metrics::mmd_poly(a, b, 2));
    time("energy_distance", || {
        drift_metrics::energy_distance(a, b, 2)
    });
    time("mean_error", || drift_metrics::mean_error(a, b, 2));
    time("median_error", || drift_metrics::median_error(a, b, 2));
    time("knn_precision_recall (k = 3)", || {
        drift_metrics::knn_precision_recall(a, b, 2, 3)
    });
    let means = [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0, -2.0];
    time("mode_coverage (5 components)", || {
        drift_metrics::mode_coverage(b, 2, &means, &[0.5; 5], 3.0, 20)
    });
}
