//! Throughput benchmark: flow-matching training steps/s and sampling samples/s on the CPU.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p drift-nn --example train_bench -- [steps] [width] [depth]`
//! (defaults: 300 steps, hidden 3 x 128, batch 256, dim 2; sampling 10 000 samples x 100 Euler steps).

use std::time::Instant;

use drift_nn::{
    Activation, ComputeDevice, DeviceRequest, FlowMatchingConfig, MlpConfig, Solver, TrainConfig,
    sample_flow, train_flow_matching,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(match args.get(i) {
            Some(s) => s.parse()?,
            None => default,
        })
    };
    let steps = arg(1, 300)?;
    let width = arg(2, 128)?;
    let depth = arg(3, 3)?;
    let device = ComputeDevice::resolve(DeviceRequest::Cpu)?;

    // Two-moons-like data is irrelevant for speed: a fixed ring of 4096 points.
    let data: Vec<f32> = (0..4096)
        .flat_map(|i| {
            let a = i as f32 * 0.001_534;
            [3.0 * a.cos(), 3.0 * a.sin()]
        })
        .collect();
    let cfg = TrainConfig {
        steps,
        batch: 256,
        lr: 1e-3,
        weight_decay: 1e-5,
        seed: 0,
        model: MlpConfig {
            hidden: vec![width; depth],
            activation: Activation::Silu,
            time_embed_dim: 32,
        },
        method: FlowMatchingConfig { sigma: 0.1 },
    };
    let start = Instant::now();
    let trained = train_flow_matching(&cfg, &data, 2, &device, &mut |_| {})?;
    let secs = start.elapsed().as_secs_f64();
    // FNV-1a over the loss bits and checkpoint bytes: equal across runs and thread counts.
    let mut fnv = 0xcbf2_9ce4_8422_2325u64;
    let bytes = trained.model.to_safetensors_bytes()?;
    for b in trained
        .losses
        .iter()
        .flat_map(|l| l.to_bits().to_le_bytes())
        .chain(bytes)
    {
        fnv = (fnv ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    println!(
        "train: hidden {depth}x{width}, batch 256, {steps} steps in {secs:.2} s = {:.1} steps/s (final loss {:.4}, run checksum {fnv:016x})",
        steps as f64 / secs,
        trained.losses.last().copied().unwrap_or(f32::NAN)
    );

    let n = 10_000;
    let start = Instant::now();
    let out = sample_flow(&trained.model, Solver::Euler, 100, n, 1, &device)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sample: {n} samples x 100 Euler steps (nfe {}) in {secs:.2} s = {:.0} samples/s",
        out.nfe,
        n as f64 / secs
    );
    Ok(())
}
