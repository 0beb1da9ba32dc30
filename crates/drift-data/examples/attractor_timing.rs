//! Times the attractor generators: 1,000,000 points of lorenz63 with the default parameters
//! (dt 0.01, burn_in 1000, stride 10: 10,001,000 RK4 steps), best of a few runs, on one thread.
//!
//! Run with `cargo run --release -p drift-data --example attractor_timing [n] [name]`.

use std::time::Instant;

use drift_data::{AttractorKind, Generator};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("n must be an integer"))
        .unwrap_or(1_000_000);
    let kind = match args.next() {
        Some(name) => AttractorKind::from_name(&name).expect("an attractor name"),
        None => AttractorKind::Lorenz63,
    };
    let generator = Generator::Attractor(kind.default_params());
    let mut best = f64::INFINITY;
    for run in 0..3 {
        let start = Instant::now();
        let points = generator
            .try_sample(n, run)
            .expect("the default parameters stay bounded");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(points.len(), n);
        best = best.min(secs);
        println!("{} n={n} seed={run}: {secs:.3} s", kind.name());
    }
    println!("{} n={n}: best {best:.3} s", kind.name());
}
