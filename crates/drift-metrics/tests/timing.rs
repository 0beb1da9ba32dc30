//! Timing probes for the metrics on 2000 x 2000 2D point sets (ignored by default; run with
//! `cargo test -p drift-metrics --test timing -- --ignored --nocapture`).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn gaussian(n: usize, dim: usize, shift: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| rng.sample::<f64, _>(StandardNormal) as f32 + shift)
        .collect()
}

/// Two moons-like clouds with a bimodal mismatch: a harder assignment than two Gaussians.
fn ring(n: usize, radius: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .flat_map(|_| {
            let t: f64 = rng.random::<f64>() * std::f64::consts::TAU;
            let e: f64 = rng.sample::<f64, _>(StandardNormal) * 0.1;
            [((radius + e) * t.cos()) as f32, ((radius + e) * t.sin()) as f32]
        })
        .collect()
}

fn time<T: std::fmt::Debug>(label: &str, f: impl FnOnce() -> T) {
    let start = Instant::now();
    let out = f();
    println!("{label}: {:.3} s -> {out:?}", start.elapsed().as_secs_f64());
}

#[test]
#[ignore = "timing probe"]
fn timing_2000() {
    let n = 2000;
    let a = gaussian(n, 2, 0.0, 1);
    let b = gaussian(n, 2, 0.5, 2);
    let same = gaussian(n, 2, 0.0, 3);
    let r = ring(n, 2.0, 4);
    time("w2 gaussian vs shifted gaussian", || drift_metrics::w2(&a, &b, 2));
    time("w2 gaussian vs gaussian", || drift_metrics::w2(&a, &same, 2));
    time("w2 gaussian vs ring", || drift_metrics::w2(&a, &r, 2));
    time("sliced_w2 256 projections", || {
        drift_metrics::sliced_w2(&a, &b, 2, 256, 0)
    });
    time("mmd", || drift_metrics::mmd(&a, &b, 2));
}
