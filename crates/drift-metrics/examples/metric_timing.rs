//! Times the metrics on 2000 x 2000 2D point sets:
//! `cargo run --release -p drift-metrics --example metric_timing [n]`.

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
