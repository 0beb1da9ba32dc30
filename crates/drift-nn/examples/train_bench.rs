//! Training and sampling throughput of the two reference networks (issue 3): AGM's toy
//! res_mlp (width 128, depth 20, log1m time, state 4 -> out 2, batch 2048) and the 3x256 SiLU
//! MLP (sinusoidal time embedding 32, state 2 -> out 2, batch 256), through `drift_nn::train`.
//!
//! Usage: `train_bench [mlp|agm|all] [STEPS] [auto|candle] [EVALS]` (defaults: all, 200 for mlp
//! and 20 for agm when STEPS is omitted, auto, 20 sampling calls for mlp and 5 for agm; 0
//! skips sampling). `auto` is what `train` does (the fast host path on
//! the CPU); `candle` forces the candle-autograd reference trainer. Batches are drawn from a
//! seeded generator before timing (their cost is reported separately); the training rate
//! counts steps 2..=STEPS, so network initialisation and the first step are excluded. Thread
//! count: `RAYON_NUM_THREADS`. One line per model, `key=value` fields.

use std::time::Instant;

use drift_dynamics::TrainBatch;
use drift_nn::{Activation, Arch, ComputeDevice, NetConfig, OptimConfig, TimeFeature, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Distinct batches cycled through during a run.
const POOL: usize = 8;
/// Rows of a sampling forward call.
const SAMPLE_ROWS: usize = 10_000;

struct Model {
    name: &'static str,
    net: NetConfig,
    batch: usize,
    default_steps: usize,
}

fn models() -> Vec<Model> {
    vec![
        Model {
            name: "mlp",
            net: NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![256, 256, 256],
                },
                activation: Activation::Silu,
                time: TimeFeature::Sinusoidal { dim: 32 },
                state_dim: 2,
                out_dim: 2,
            },
            batch: 256,
            default_steps: 200,
        },
        Model {
            name: "agm",
            net: NetConfig {
                arch: Arch::ResMlp {
                    width: 128,
                    depth: 20,
                },
                activation: Activation::Silu,
                time: TimeFeature::Log1m,
                state_dim: 4,
                out_dim: 2,
            },
            batch: 2048,
            default_steps: 20,
        },
    ]
}

fn random_batch(rng: &mut ChaCha8Rng, rows: usize, sd: usize, od: usize) -> TrainBatch {
    let mut normal = || -> f32 {
        // Box-Muller from two uniforms: standard normal, enough for a throughput bench.
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    };
    let state = (0..rows * sd).map(|_| normal()).collect();
    let target = (0..rows * od).map(|_| normal()).collect();
    let time = (0..rows).map(|_| rng.random::<f64>() * 0.999).collect();
    let weight = (0..rows).map(|_| 0.5 + rng.random::<f32>()).collect();
    TrainBatch {
        state,
        time,
        target,
        weight,
    }
}

fn run(
    model: &Model,
    steps: usize,
    backend: &str,
    evals: Option<usize>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (sd, od) = (model.net.state_dim, model.net.out_dim);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let t0 = Instant::now();
    let pool: Vec<TrainBatch> = (0..POOL)
        .map(|_| random_batch(&mut rng, model.batch, sd, od))
        .collect();
    let gen_ms = t0.elapsed().as_secs_f64() * 1e3 / POOL as f64;

    let cfg = TrainConfig {
        steps,
        seed: 0,
        net: model.net.clone(),
        optim: OptimConfig {
            lr: 1e-3,
            ..OptimConfig::default()
        },
    };
    let device = ComputeDevice::cpu();
    let mut next = |step: usize| Ok(pool[(step - 1) % POOL].clone());
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut on_step = |p: drift_nn::TrainProgress| {
        let now = Instant::now();
        if p.step == 1 {
            first = Some(now);
        }
        last = now;
    };
    let start = Instant::now();
    let trained = match backend {
        "candle" => drift_nn::train_reference(&cfg, None, &device, &mut next, &mut on_step)?,
        _ => drift_nn::train(&cfg, None, &device, &mut next, &mut on_step)?,
    };
    let total = start.elapsed().as_secs_f64();
    let timed = last.duration_since(first.unwrap_or(start)).as_secs_f64();
    let steps_per_s = if steps > 1 {
        (steps - 1) as f64 / timed
    } else {
        steps as f64 / total
    };

    // Sampling: forward calls on SAMPLE_ROWS rows at varying times, no autograd.
    let state: Vec<f32> = (0..SAMPLE_ROWS * sd)
        .map(|i| ((i % 97) as f32 - 48.0) / 24.0)
        .collect();
    let evals = evals.unwrap_or(if model.name == "agm" { 5 } else { 20 });
    let mut evals_per_s = f64::NAN;
    if evals > 0 {
        let mut evaluator = trained.net.evaluator();
        evaluator.eval(0.5, &state)?;
        let s0 = Instant::now();
        for k in 0..evals {
            let y = evaluator.eval(k as f64 / evals as f64, &state)?;
            std::hint::black_box(y);
        }
        evals_per_s = evals as f64 / s0.elapsed().as_secs_f64();
    }

    // FNV-1a over the bits of every loss: equal hashes mean bit-identical loss curves.
    let losses_hash = trained
        .losses
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, l| {
            (h ^ u64::from(l.to_bits())).wrapping_mul(0x0100_0000_01b3)
        });
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    println!(
        "model={} backend={} threads={} batch={} params={} steps={} train_steps_per_s={:.2} \
         ms_per_step={:.3} batch_gen_ms={:.3} final_loss={:.6} sample_rows={} evals_per_s={:.2} \
         sample_rows_per_s={:.0} losses_hash={:016x}",
        model.name,
        backend,
        threads,
        model.batch,
        trained.net.parameter_count(),
        steps,
        steps_per_s,
        1e3 / steps_per_s,
        gen_ms,
        trained.losses.last().copied().unwrap_or(f32::NAN),
        SAMPLE_ROWS,
        evals_per_s,
        evals_per_s * SAMPLE_ROWS as f64,
        losses_hash,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let steps: Option<usize> = match args.get(1) {
        Some(s) => Some(
            s.parse()
                .map_err(|_| format!("STEPS must be a number, got {s}"))?,
        ),
        None => None,
    };
    let backend = args.get(2).map(String::as_str).unwrap_or("auto");
    let evals: Option<usize> = match args.get(3) {
        Some(s) => Some(
            s.parse()
                .map_err(|_| format!("EVALS must be a number, got {s}"))?,
        ),
        None => None,
    };
    if !matches!(backend, "auto" | "candle") {
        return Err(format!("backend must be auto or candle, got {backend}").into());
    }
    let selected: Vec<Model> = models()
        .into_iter()
        .filter(|m| which == "all" || which == m.name)
        .collect();
    if selected.is_empty() {
        return Err(format!("model must be mlp, agm or all, got {which}").into());
    }
    for m in &selected {
        run(m, steps.unwrap_or(m.default_steps), backend, evals)?;
    }
    Ok(())
}
