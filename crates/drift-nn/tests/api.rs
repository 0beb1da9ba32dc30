//! Integration tests of drift-nn's public API: devices, network shapes and time features,
//! the generic training loop (loss, clipping, EMA, schedules, init, divergence, malformed
//! batches), deterministic checkpoints, `NetField` NFE accounting and end-to-end learning.

use std::path::Path;

use drift_dynamics::Field;
use drift_dynamics::method::{Method, Sampler};
use drift_dynamics::ode::FixedSolver;
use drift_dynamics::paths::FmConfig;
use drift_dynamics::{DynamicsError, TrainBatch};
use drift_nn::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn cpu() -> ComputeDevice {
    ComputeDevice::resolve(DeviceRequest::Cpu).unwrap()
}

fn net_cfg(arch: Arch, activation: Activation, time: TimeFeature) -> NetConfig {
    NetConfig {
        arch,
        activation,
        time,
        state_dim: 2,
        out_dim: 2,
    }
}

/// A small 2-D network for the training-loop tests.
fn small_net() -> NetConfig {
    net_cfg(
        Arch::Mlp {
            hidden: vec![16, 16],
        },
        Activation::Silu,
        TimeFeature::Sinusoidal { dim: 8 },
    )
}

fn train_cfg(steps: usize, seed: u64, optim: OptimConfig) -> TrainConfig {
    TrainConfig {
        steps,
        seed,
        net: small_net(),
        optim,
    }
}

/// `n` rows of N(mean, std^2 I) in 2-D (f32, row-major) from a seeded ChaCha8 stream.
fn gaussian_2d(n: usize, mean: [f32; 2], std: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    (0..n)
        .flat_map(|_| [0, 1])
        .map(|j| mean[j] + std * normal.sample(rng))
        .collect()
}

/// The I-CFM (sigma 0) batch of `step` of a run with data seed `seed`: a pure function of
/// `(seed, step)`, so two runs see identical batches.
fn flow_batch(seed: u64, step: usize, rows: usize) -> TrainBatch {
    let mut rng = drift_dynamics::rng(seed, step as u64);
    let x1 = gaussian_2d(rows, [2.0, -1.0], 0.5, &mut rng);
    Method::Flow(FmConfig::icfm(0.0))
        .training_batch(None, &x1, 2, &mut rng)
        .unwrap()
}

/// Trains on `flow_batch(data_seed, step, 32)`.
fn run(cfg: &TrainConfig, init: Option<&Network>, data_seed: u64) -> Result<Trained, NnError> {
    train(
        cfg,
        init,
        &cpu(),
        &mut |step| Ok(flow_batch(data_seed, step, 32)),
        &mut |_| {},
    )
}

/// Trains on a fixed list of batches (`batches[step - 1]`).
fn run_batches(cfg: &TrainConfig, batches: &[TrainBatch]) -> Result<Trained, NnError> {
    train(
        cfg,
        None,
        &cpu(),
        &mut |step| Ok(batches[step - 1].clone()),
        &mut |_| {},
    )
}

/// All parameter values of a network, in checkpoint (name) order, read back from its
/// safetensors bytes: the data section of one configuration always has the same layout.
fn params(net: &Network) -> Vec<f32> {
    let bytes = net.to_safetensors_bytes().unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + n..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn bits(l: &[f32]) -> Vec<u32> {
    l.iter().map(|v| v.to_bits()).collect()
}

// ---------------------------------------------------------------------------------------------
// Devices

#[test]
fn device_requests_parse() {
    assert_eq!("cpu".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cpu);
    assert_eq!(
        "cuda".parse::<DeviceRequest>().unwrap(),
        DeviceRequest::Cuda(0)
    );
    assert_eq!(
        "cuda:3".parse::<DeviceRequest>().unwrap(),
        DeviceRequest::Cuda(3)
    );
    assert_eq!(
        "auto".parse::<DeviceRequest>().unwrap(),
        DeviceRequest::Auto
    );
    for bad in [
        "", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "CPU", "cuda:0 ", " cpu",
    ] {
        let err = bad.parse::<DeviceRequest>().unwrap_err();
        assert!(
            matches!(err, NnError::ParseDevice { .. }),
            "{bad:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("`cpu`") && msg.contains("`cuda:N`") && msg.contains("`auto`"),
            "{bad:?}: {msg}"
        );
    }
    // Display round-trips through FromStr.
    for req in [
        DeviceRequest::Cpu,
        DeviceRequest::Cuda(0),
        DeviceRequest::Cuda(2),
        DeviceRequest::Auto,
    ] {
        assert_eq!(req.to_string().parse::<DeviceRequest>().unwrap(), req);
    }
    assert_eq!(DeviceRequest::Cuda(2).to_string(), "cuda:2");
}

#[test]
fn devices_resolve() {
    let d = cpu();
    assert_eq!(d.class(), "cpu");
    assert_eq!(d.label(), "cpu");
    assert_eq!(d, ComputeDevice::cpu());
    assert_eq!(d, ComputeDevice::default());
    if !ComputeDevice::cuda_built() {
        for req in [DeviceRequest::Cuda(0), DeviceRequest::Cuda(1)] {
            let err = ComputeDevice::resolve(req).unwrap_err();
            assert!(matches!(err, NnError::CudaNotBuilt { .. }), "{err:?}");
            assert!(err.to_string().contains("--features cuda"), "{err}");
            assert!(err.to_string().contains(&req.to_string()), "{err}");
        }
        // Only `auto` falls back to the CPU.
        assert_eq!(
            ComputeDevice::resolve(DeviceRequest::Auto).unwrap().class(),
            "cpu"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Networks and time features

/// Parameter count by hand from the documented layer shapes.
fn expected_params(cfg: &NetConfig) -> usize {
    let lin = |i: usize, o: usize| i * o + o;
    let e = cfg.time.dim();
    match &cfg.arch {
        Arch::Mlp { hidden } => {
            let mut fan_in = cfg.state_dim + e;
            let mut total = 0;
            for &w in hidden {
                total += lin(fan_in, w);
                fan_in = w;
            }
            total + lin(fan_in, cfg.out_dim)
        }
        Arch::ResMlp { width, depth } => {
            lin(cfg.state_dim + e, *width)
                + depth * lin(width + e, *width)
                + lin(*width, cfg.out_dim)
        }
    }
}

#[test]
fn every_arch_time_feature_and_activation_builds_with_the_documented_size() {
    // Spot values worked out by hand (state 3, out 2, sinusoidal width 4, so input width 7):
    // mlp [8, 5]: 7*8+8 + 8*5+5 + 5*2+2 = 64 + 45 + 12 = 121.
    // res_mlp width 6 depth 2: 7*6+6 + 2*((6+4)*6+6) + 6*2+2 = 48 + 132 + 14 = 194.
    let spot = |arch| NetConfig {
        arch,
        activation: Activation::Gelu,
        time: TimeFeature::Sinusoidal { dim: 4 },
        state_dim: 3,
        out_dim: 2,
    };
    let mlp = Network::new_initialised(&spot(Arch::Mlp { hidden: vec![8, 5] }), 0, &cpu()).unwrap();
    assert_eq!(mlp.parameter_count(), 121);
    let res =
        Network::new_initialised(&spot(Arch::ResMlp { width: 6, depth: 2 }), 0, &cpu()).unwrap();
    assert_eq!(res.parameter_count(), 194);

    let archs = [
        Arch::Mlp { hidden: vec![8, 5] },
        Arch::Mlp { hidden: vec![] },
        Arch::ResMlp { width: 6, depth: 2 },
        Arch::ResMlp { width: 4, depth: 0 },
    ];
    let times = [
        TimeFeature::Sinusoidal { dim: 2 },
        TimeFeature::Sinusoidal { dim: 6 },
        TimeFeature::Log1m,
        TimeFeature::Raw,
    ];
    let state: Vec<f32> = (0..12).map(|i| 0.3 * i as f32 - 1.1).collect(); // 4 rows x 3
    for arch in &archs {
        for time in times {
            for activation in Activation::ALL {
                let cfg = NetConfig {
                    arch: arch.clone(),
                    activation,
                    time,
                    state_dim: 3,
                    out_dim: 2,
                };
                let tag = format!("{arch:?} {time:?} {activation:?}");
                let net = Network::new_initialised(&cfg, 7, &cpu()).unwrap();
                assert_eq!(net.config(), &cfg);
                assert_eq!(net.parameter_count(), expected_params(&cfg), "{tag}");
                assert_eq!(net.nfe(), 0, "{tag}");
                let y = net.eval_host(0.25, &state).unwrap();
                assert_eq!(y.len(), 4 * 2, "{tag}");
                assert!(y.iter().all(|v| v.is_finite()), "{tag}");
                match arch {
                    // Zero-initialised output layer: exactly 0.
                    Arch::ResMlp { .. } => assert!(y.iter().all(|&v| v == 0.0), "{tag}: {y:?}"),
                    Arch::Mlp { .. } => assert!(y.iter().any(|&v| v != 0.0), "{tag}: {y:?}"),
                }
                // Same seed, same weights; another seed, other weights.
                let again = Network::new_initialised(&cfg, 7, &cpu()).unwrap();
                assert_eq!(
                    net.to_safetensors_bytes().unwrap(),
                    again.to_safetensors_bytes().unwrap(),
                    "{tag}"
                );
                let other = Network::new_initialised(&cfg, 8, &cpu()).unwrap();
                assert_ne!(params(&net), params(&other), "{tag}");
            }
        }
    }
}

#[test]
fn activation_names_round_trip() {
    for a in Activation::ALL {
        assert_eq!(Activation::from_name(a.name()), Some(a));
    }
    assert_eq!(Activation::from_name("tanh"), None);
    assert_eq!(
        [
            TimeFeature::Sinusoidal { dim: 4 }.name(),
            TimeFeature::Log1m.name(),
            TimeFeature::Raw.name()
        ],
        ["sinusoidal", "log1m", "raw"]
    );
}

#[test]
fn invalid_network_configs_are_errors() {
    let good = small_net();
    let mut bad = Vec::new();
    for dim in [0, 1, 3, 7] {
        bad.push(NetConfig {
            time: TimeFeature::Sinusoidal { dim },
            ..good.clone()
        });
    }
    bad.push(NetConfig {
        state_dim: 0,
        ..good.clone()
    });
    bad.push(NetConfig {
        out_dim: 0,
        ..good.clone()
    });
    bad.push(NetConfig {
        arch: Arch::Mlp { hidden: vec![4, 0] },
        ..good.clone()
    });
    bad.push(NetConfig {
        arch: Arch::ResMlp { width: 0, depth: 2 },
        ..good.clone()
    });
    for cfg in bad {
        let err = Network::new_initialised(&cfg, 0, &cpu()).unwrap_err();
        assert!(matches!(err, NnError::InvalidConfig(_)), "{cfg:?}: {err:?}");
        let err = run(
            &TrainConfig {
                net: cfg.clone(),
                ..train_cfg(1, 0, OptimConfig::default())
            },
            None,
            0,
        )
        .unwrap_err();
        assert!(matches!(err, NnError::InvalidConfig(_)), "{cfg:?}: {err:?}");
    }
    // Bad optimiser settings.
    let o = OptimConfig::default;
    for optim in [
        OptimConfig { lr: 0.0, ..o() },
        OptimConfig {
            lr: f64::NAN,
            ..o()
        },
        OptimConfig {
            weight_decay: -1.0,
            ..o()
        },
        OptimConfig {
            grad_clip: Some(0.0),
            ..o()
        },
        OptimConfig {
            ema: Some(1.0),
            ..o()
        },
        OptimConfig {
            ema: Some(-0.1),
            ..o()
        },
    ] {
        let err = run(&train_cfg(1, 0, optim.clone()), None, 0).unwrap_err();
        assert!(
            matches!(err, NnError::InvalidConfig(_)),
            "{optim:?}: {err:?}"
        );
    }
    // Evaluating a row of the wrong width.
    let net = Network::new_initialised(&good, 0, &cpu()).unwrap();
    assert!(matches!(
        net.eval_host(0.5, &[1.0, 2.0, 3.0]),
        Err(NnError::InvalidInput(_))
    ));
}

#[test]
fn time_feature_values() {
    // Tolerance 1e-6: the features are computed in f64 and rounded to f32 (|value| <= 14).
    let close = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1.0);

    // Sinusoidal: frequencies geometric from 1 to 100; [sin..., cos...].
    let t = 0.37;
    let mut out = [0f32; 8];
    TimeFeature::Sinusoidal { dim: 8 }.write(t, &mut out);
    let freqs = [1.0, 100f64.powf(1.0 / 3.0), 100f64.powf(2.0 / 3.0), 100.0];
    for (k, f) in freqs.iter().enumerate() {
        assert!(close(out[k], (f * t).sin()), "sin {k}: {out:?}");
        assert!(close(out[4 + k], (f * t).cos()), "cos {k}: {out:?}");
    }
    // The endpoints explicitly: lowest frequency 1, highest 100.
    assert!(close(out[0], t.sin()) && close(out[3], (100.0 * t).sin()));
    assert!(close(out[4], t.cos()) && close(out[7], (100.0 * t).cos()));
    // At t = 0: all sines 0, all cosines 1, exactly.
    TimeFeature::Sinusoidal { dim: 8 }.write(0.0, &mut out);
    assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    // dim 2: frequency 1.
    let mut two = [0f32; 2];
    TimeFeature::Sinusoidal { dim: 2 }.write(1.0, &mut two);
    assert!(
        close(two[0], 1f64.sin()) && close(two[1], 1f64.cos()),
        "{two:?}"
    );

    // log1m = ln(1 - t), floored at ln(LOG1M_FLOOR) from t = 1 - 1e-6 on.
    let mut one = [0f32; 1];
    for t in [0.0, 0.3, 0.9, 0.999] {
        TimeFeature::Log1m.write(t, &mut one);
        assert!(close(one[0], (1.0 - t).ln()), "log1m({t}) = {}", one[0]);
    }
    let floor = LOG1M_FLOOR.ln();
    assert!(
        (floor - (1e-6f64).ln()).abs() < 1e-12,
        "floor {LOG1M_FLOOR}"
    );
    for t in [1.0 - 1e-7, 1.0, 1.5] {
        TimeFeature::Log1m.write(t, &mut one);
        assert!(
            one[0].is_finite() && close(one[0], floor),
            "log1m({t}) = {}",
            one[0]
        );
    }

    // raw = t.
    for t in [0.0, 0.25, 1.0, -3.5] {
        TimeFeature::Raw.write(t, &mut one);
        assert_eq!(one[0], t as f32);
    }
    assert_eq!(TimeFeature::Sinusoidal { dim: 8 }.dim(), 8);
    assert_eq!(TimeFeature::Log1m.dim(), 1);
    assert_eq!(TimeFeature::Raw.dim(), 1);
}

#[test]
fn the_network_uses_its_time_feature() {
    // Raw and log1m at t = 0 both feed 0, so equally seeded networks agree there and differ
    // at t = 0.5 (raw 0.5 vs log1m ln 0.5).
    let make = |time| {
        let cfg = net_cfg(Arch::Mlp { hidden: vec![8] }, Activation::Relu, time);
        Network::new_initialised(&cfg, 3, &cpu()).unwrap()
    };
    let (raw, log) = (make(TimeFeature::Raw), make(TimeFeature::Log1m));
    let x = [0.4f32, -0.7, 1.2, 0.1];
    assert_eq!(
        raw.eval_host(0.0, &x).unwrap(),
        log.eval_host(0.0, &x).unwrap()
    );
    assert_ne!(
        raw.eval_host(0.5, &x).unwrap(),
        log.eval_host(0.5, &x).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Training

#[test]
fn training_is_bit_reproducible_and_reports_progress() {
    let cfg = train_cfg(
        30,
        42,
        OptimConfig {
            lr: 3e-3,
            weight_decay: 1e-4,
            ..OptimConfig::default()
        },
    );
    let mut seen = Vec::new();
    let a = train(
        &cfg,
        None,
        &cpu(),
        &mut |step| Ok(flow_batch(5, step, 32)),
        &mut |p| seen.push(p),
    )
    .unwrap();
    let b = run(&cfg, None, 5).unwrap();
    assert_eq!(a.losses.len(), 30);
    assert_eq!(bits(&a.losses), bits(&b.losses));
    assert_eq!(
        a.net.to_safetensors_bytes().unwrap(),
        b.net.to_safetensors_bytes().unwrap(),
        "checkpoint bytes differ between identical runs"
    );
    assert_eq!(
        a.net.nfe(),
        0,
        "training calls are not counted on the result"
    );
    assert_eq!(
        seen,
        (1..=30)
            .map(|step| TrainProgress {
                step,
                steps: 30,
                loss: a.losses[step - 1],
            })
            .collect::<Vec<_>>()
    );

    // Another weight seed: other losses and weights (same batches).
    let c = run(
        &TrainConfig {
            seed: 43,
            ..cfg.clone()
        },
        None,
        5,
    )
    .unwrap();
    assert_ne!(bits(&a.losses), bits(&c.losses));
    assert_ne!(params(&a.net), params(&c.net));

    // 1 step vs 0 steps: the weights move, and 0 steps is the initialised network.
    let zero = run(
        &TrainConfig {
            steps: 0,
            ..cfg.clone()
        },
        None,
        5,
    )
    .unwrap();
    assert!(zero.losses.is_empty());
    let init = Network::new_initialised(&cfg.net, cfg.seed, &cpu()).unwrap();
    assert_eq!(
        zero.net.to_safetensors_bytes().unwrap(),
        init.to_safetensors_bytes().unwrap()
    );
    let one = run(
        &TrainConfig {
            steps: 1,
            ..cfg.clone()
        },
        None,
        5,
    )
    .unwrap();
    assert_eq!(one.losses.len(), 1);
    assert_eq!(one.losses[0].to_bits(), a.losses[0].to_bits());
    // Adam's first step moves every weight with a nonzero gradient by about lr.
    let moved = max_abs_diff(&params(&one.net), &params(&zero.net));
    assert!(moved > 1e-3, "1 step moved the weights by only {moved}");
    let x = [0.3f32, 0.1];
    assert_ne!(
        one.net.eval_host(0.5, &x).unwrap(),
        zero.net.eval_host(0.5, &x).unwrap()
    );
}

#[test]
fn the_loss_is_the_weighted_mse() {
    let cfg = train_cfg(1, 9, OptimConfig::default());
    let base = flow_batch(1, 1, 24);
    let rows = base.rows();

    // All weights w vs all 1: the first loss (same initial network) scales by w. Relative
    // tolerance 1e-6 (f32 products and mean; w = 3 is not a power of two, so not exact).
    let ones = run_batches(&cfg, std::slice::from_ref(&base))
        .unwrap()
        .losses[0];
    for w in [3.0f32, 0.25, 1e-3] {
        let mut b = base.clone();
        b.weight = vec![w; rows];
        let lw = run_batches(&cfg, &[b]).unwrap().losses[0];
        let rel = (f64::from(lw) - f64::from(w) * f64::from(ones)).abs()
            / (f64::from(w) * f64::from(ones));
        assert!(rel < 1e-6, "w {w}: loss {lw} vs {w} x {ones} (rel {rel:e})");
    }

    // Mixed per-row weights: the loss is sum_r w_r |net(x_r, t_r) - y_r|^2 / (rows * out_dim)
    // with the initial network, recomputed here in f64 from per-row evaluations (relative
    // tolerance 1e-5: the network itself runs in f32 in both places).
    let mut b = base.clone();
    b.weight = (0..rows).map(|r| (r % 5) as f32 * 0.7).collect();
    let loss = run_batches(&cfg, std::slice::from_ref(&b)).unwrap().losses[0];
    let net = Network::new_initialised(&cfg.net, cfg.seed, &cpu()).unwrap();
    let mut sum = 0.0f64;
    for r in 0..rows {
        let pred = net
            .eval_host(b.time[r], &b.state[2 * r..2 * r + 2])
            .unwrap();
        for (c, &p) in pred.iter().enumerate() {
            let e = f64::from(p) - f64::from(b.target[2 * r + c]);
            sum += f64::from(b.weight[r]) * e * e;
        }
    }
    let want = sum / (rows * 2) as f64;
    let rel = (f64::from(loss) - want).abs() / want;
    assert!(rel < 1e-5, "loss {loss}, weighted MSE {want} (rel {rel:e})");
}

#[test]
fn grad_clip_limits_the_step() {
    // lr 0.1: an unclipped Adam first step moves every weight with a nonzero gradient by
    // about lr. Clipping the global gradient norm to 1e-8 leaves the gradient components at
    // or below Adam's eps (1e-8), so each step shrinks to lr * |g_i| / (|g_i| + eps): at most
    // lr / 2 for the largest component and far less for the typical one. Thresholds: the mean
    // absolute move is under 10% of the unclipped mean, and no weight moves more than lr / 2
    // (plus 1% for f32 rounding).
    let optim = |grad_clip| OptimConfig {
        lr: 0.1,
        grad_clip,
        ..OptimConfig::default()
    };
    let init = params(&Network::new_initialised(&small_net(), 4, &cpu()).unwrap());
    let free = run(&train_cfg(1, 4, optim(None)), None, 2).unwrap();
    let clipped = run(&train_cfg(1, 4, optim(Some(1e-8))), None, 2).unwrap();
    let loose = run(&train_cfg(1, 4, optim(Some(1e9))), None, 2).unwrap();
    let mean_move = |p: &[f32]| {
        p.iter()
            .zip(&init)
            .map(|(a, b)| f64::from((a - b).abs()))
            .sum::<f64>()
            / init.len() as f64
    };
    let (m_free, m_clip) = (
        mean_move(&params(&free.net)),
        mean_move(&params(&clipped.net)),
    );
    eprintln!("mean move: unclipped {m_free:e}, clipped {m_clip:e}");
    assert!(m_free > 0.05, "unclipped mean step {m_free}");
    assert!(
        m_clip < 0.1 * m_free,
        "clipped mean step {m_clip} vs unclipped {m_free}"
    );
    let d_clip = max_abs_diff(&params(&clipped.net), &init);
    assert!(d_clip < 0.0505, "clipped max step {d_clip}");
    // The loss is computed before clipping, so it is the same.
    assert_eq!(free.losses[0].to_bits(), clipped.losses[0].to_bits());
    // A clip above the gradient norm changes nothing, bit for bit.
    assert_eq!(
        free.net.to_safetensors_bytes().unwrap(),
        loose.net.to_safetensors_bytes().unwrap()
    );
}

/// The EMA decay torch_ema-style warm-up gives the first update, as documented in
/// `OptimConfig::ema`: `min(decay, (1 + k) / (10 + k))` with k = 1 (torch_ema counts from 1).
const FIRST_EMA_DECAY: f32 = 2.0 / 11.0;

#[test]
fn ema_of_the_weights() {
    let optim = |ema| OptimConfig {
        lr: 1e-2,
        ema,
        ..OptimConfig::default()
    };
    // A few steps: the EMA weights are not the last weights, but the losses (computed on the
    // raw weights) are the same.
    let plain = run(&train_cfg(5, 6, optim(None)), None, 3).unwrap();
    let ema = run(&train_cfg(5, 6, optim(Some(0.999))), None, 3).unwrap();
    assert_eq!(bits(&plain.losses), bits(&ema.losses));
    let gap = max_abs_diff(&params(&plain.net), &params(&ema.net));
    assert!(gap > 1e-3, "EMA weights equal the last weights (gap {gap})");

    // One step: EMA = d * init + (1 - d) * after_step with d = min(0.999, 1/10) = 0.1.
    // Tolerance 1e-6 absolute (weights are O(1); the EMA update is two f32 products and a sum).
    let init = params(&Network::new_initialised(&small_net(), 6, &cpu()).unwrap());
    let after = params(&run(&train_cfg(1, 6, optim(None)), None, 3).unwrap().net);
    let avg = params(
        &run(&train_cfg(1, 6, optim(Some(0.999))), None, 3)
            .unwrap()
            .net,
    );
    let d = FIRST_EMA_DECAY;
    let want: Vec<f32> = init
        .iter()
        .zip(&after)
        .map(|(w0, w1)| d * w0 + (1.0 - d) * w1)
        .collect();
    let err = max_abs_diff(&avg, &want);
    assert!(err < 1e-6, "EMA after one step is off by {err}");
    // And it is really between the two (not just one of them).
    assert!(max_abs_diff(&avg, &after) > 1e-4 && max_abs_diff(&avg, &init) > 1e-3);

    // A decay below the warm-up value wins: ema = 0.05 after one step.
    let small = params(
        &run(&train_cfg(1, 6, optim(Some(0.05))), None, 3)
            .unwrap()
            .net,
    );
    let want: Vec<f32> = init
        .iter()
        .zip(&after)
        .map(|(w0, w1)| 0.05 * w0 + 0.95 * w1)
        .collect();
    let err = max_abs_diff(&small, &want);
    assert!(err < 1e-6, "EMA 0.05 after one step is off by {err}");
}

#[test]
fn learning_rate_schedules() {
    // Closed forms to 1e-12.
    let near = |a: f64, b: f64| (a - b).abs() < 1e-12;
    let cos = OptimConfig {
        lr: 2.0,
        schedule: LrSchedule::Cosine,
        ..OptimConfig::default()
    };
    assert!(near(cos.lr_at(0, 100), 2.0));
    assert!(near(cos.lr_at(50, 100), 1.0));
    assert!(near(
        cos.lr_at(25, 100),
        1.0 + std::f64::consts::FRAC_1_SQRT_2
    ));
    assert!(near(cos.lr_at(100, 100), 0.0));
    assert!(cos.lr_at(99, 100) < 1e-3 && cos.lr_at(99, 100) > 0.0);
    // Monotone decreasing over the run.
    assert!((1..100).all(|k| cos.lr_at(k, 100) < cos.lr_at(k - 1, 100)));

    let warm = OptimConfig {
        warmup_steps: 10,
        ..cos.clone()
    };
    assert!(near(warm.lr_at(0, 100), 0.2));
    let c4 = 2.0 * 0.5 * (1.0 + (std::f64::consts::PI * 0.04).cos());
    assert!(near(warm.lr_at(4, 100), c4 * 0.5));
    assert!(near(warm.lr_at(9, 100), cos.lr_at(9, 100)));
    assert!(near(warm.lr_at(50, 100), 1.0));

    let constant_warm = OptimConfig {
        lr: 1e-3,
        warmup_steps: 4,
        ..OptimConfig::default()
    };
    assert!(near(constant_warm.lr_at(0, 10), 2.5e-4));
    assert!(near(constant_warm.lr_at(1, 10), 5e-4));
    assert!(near(constant_warm.lr_at(3, 10), 1e-3));
    assert!(near(constant_warm.lr_at(9, 10), 1e-3));
    assert_eq!(OptimConfig::default().lr_at(7, 10), 1e-3);

    // Training uses the schedule: a warm-up of 1e9 steps makes the first rate ~1e-10, so one
    // Adam step moves no weight by more than ~1e-9 (threshold 1e-6), where lr 0.1 without
    // warm-up moves them by ~0.1.
    let frozen = OptimConfig {
        lr: 0.1,
        warmup_steps: 1_000_000_000,
        ..OptimConfig::default()
    };
    let init = params(&Network::new_initialised(&small_net(), 1, &cpu()).unwrap());
    let t = run(&train_cfg(1, 1, frozen), None, 1).unwrap();
    let moved = max_abs_diff(&params(&t.net), &init);
    assert!(moved < 1e-6, "warm-up rate ignored: moved {moved}");
}

#[test]
fn training_starts_from_init() {
    let cfg = train_cfg(0, 1, OptimConfig::default());
    let other = run(
        &TrainConfig {
            steps: 3,
            seed: 77,
            ..cfg.clone()
        },
        None,
        8,
    )
    .unwrap()
    .net;
    let other_bytes = other.to_safetensors_bytes().unwrap();
    // 0 steps from `other`: exactly other's weights (not seed 1's).
    let zero = run(&cfg, Some(&other), 8).unwrap();
    assert_eq!(zero.net.to_safetensors_bytes().unwrap(), other_bytes);
    // `init` is only read.
    assert_eq!(other.to_safetensors_bytes().unwrap(), other_bytes);
    // The first loss of a run from `other` is other's loss on that batch, whatever the seed.
    let from_a = run(
        &TrainConfig {
            steps: 1,
            seed: 1,
            ..cfg.clone()
        },
        Some(&other),
        8,
    )
    .unwrap();
    let from_b = run(
        &TrainConfig {
            steps: 1,
            seed: 2,
            ..cfg.clone()
        },
        Some(&other),
        8,
    )
    .unwrap();
    assert_eq!(from_a.losses[0].to_bits(), from_b.losses[0].to_bits());
    assert_eq!(
        from_a.net.to_safetensors_bytes().unwrap(),
        from_b.net.to_safetensors_bytes().unwrap()
    );
    let fresh = run(
        &TrainConfig {
            steps: 1,
            ..cfg.clone()
        },
        None,
        8,
    )
    .unwrap();
    assert_ne!(fresh.losses[0].to_bits(), from_a.losses[0].to_bits());

    // A network of another configuration is an error, for another activation (same shapes)
    // and for other widths.
    for net in [
        NetConfig {
            activation: Activation::Relu,
            ..small_net()
        },
        NetConfig {
            arch: Arch::Mlp { hidden: vec![16] },
            ..small_net()
        },
    ] {
        let wrong = Network::new_initialised(&net, 0, &cpu()).unwrap();
        let err = run(
            &TrainConfig {
                steps: 1,
                ..cfg.clone()
            },
            Some(&wrong),
            8,
        )
        .unwrap_err();
        assert!(
            matches!(err, NnError::InvalidInput(_) | NnError::InvalidConfig(_)),
            "{err:?}"
        );
    }
}

#[test]
fn divergence_is_reported_with_its_step() {
    let cfg = train_cfg(5, 2, OptimConfig::default());
    let good: Vec<TrainBatch> = (1..=2).map(|s| flow_batch(4, s, 32)).collect();
    let reference = run_batches(
        &TrainConfig {
            steps: 2,
            ..cfg.clone()
        },
        &good,
    )
    .unwrap();

    // Huge target at step 3: the f32 loss overflows to inf.
    let mut huge = flow_batch(4, 3, 32);
    huge.target[5] = 1e30;
    let mut batches = good.clone();
    batches.extend([huge.clone(), huge]);
    let err = run_batches(&cfg, &batches).unwrap_err();
    let NnError::Diverged {
        step,
        last_finite_loss,
    } = &err
    else {
        panic!("expected Diverged at step 3, got {err:?}");
    };
    assert_eq!(*step, 3);
    assert_eq!(
        last_finite_loss.map(f32::to_bits),
        Some(reference.losses[1].to_bits())
    );
    let msg = err.to_string();
    assert!(msg.contains("step 3"), "{msg}");
    assert!(msg.contains(&reference.losses[1].to_string()), "{msg}");

    // NaN in the state, the time or the weight of the first batch: step 1, no finite loss.
    let nan_cases: [fn(&mut TrainBatch); 4] = [
        |b| b.state[0] = f32::NAN,
        |b| b.time[0] = f64::NAN,
        |b| b.weight[0] = f32::NAN,
        |b| b.target[1] = f32::INFINITY,
    ];
    for (i, poison) in nan_cases.into_iter().enumerate() {
        let mut b = flow_batch(4, 1, 32);
        poison(&mut b);
        match run_batches(&train_cfg(1, 2, OptimConfig::default()), &[b]) {
            Err(
                e @ NnError::Diverged {
                    step: 1,
                    last_finite_loss: None,
                },
            ) => assert!(e.to_string().contains("step 1"), "{e}"),
            other => panic!("case {i}: expected Diverged at step 1, got {other:?}"),
        }
    }
}

#[test]
fn malformed_batches_are_errors() {
    let cfg = train_cfg(3, 0, OptimConfig::default());
    type Mangle = fn(&mut TrainBatch);
    let cases: [(&str, Mangle); 6] = [
        ("zero rows", |b| *b = TrainBatch::default()),
        ("short state", |b| {
            b.state.pop();
        }),
        ("long target", |b| b.target.push(0.0)),
        ("short weight", |b| {
            b.weight.pop();
        }),
        ("extra time", |b| b.time.push(0.5)),
        ("state of another width", |b| {
            b.state.extend([0.0; 32]);
        }),
    ];
    for (name, mangle) in cases {
        // A good first step, then the malformed batch at step 2.
        let mut bad = flow_batch(0, 2, 32);
        mangle(&mut bad);
        let batches = [flow_batch(0, 1, 32), bad.clone(), bad];
        let err = run_batches(&cfg, &batches).unwrap_err();
        assert!(!matches!(err, NnError::Diverged { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains("step 2"), "{name}: {err}");
    }
    // An error from the batch callback is passed through unchanged, at its step.
    let mut calls = 0;
    let err = train(
        &cfg,
        None,
        &cpu(),
        &mut |step| {
            calls += 1;
            if step == 2 {
                Err(NnError::InvalidInput("no more data".into()))
            } else {
                Ok(flow_batch(0, step, 8))
            }
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, NnError::InvalidInput(m) if m == "no more data"),
        "{err:?}"
    );
    assert_eq!(calls, 2);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

#[test]
fn checkpoints_round_trip_and_check_the_config() {
    let cfg = train_cfg(5, 3, OptimConfig::default());
    let trained = run(&cfg, None, 1).unwrap().net;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    trained.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, trained.to_safetensors_bytes().unwrap());
    // Standard safetensors framing: header length, then a space-padded JSON header.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(
        header.starts_with("{\"__metadata__\":{\"config\":"),
        "{header}"
    );
    assert_eq!(bytes.len(), 8 + n + 4 * trained.parameter_count());

    let loaded = Network::load_safetensors(&path, &cfg.net, &cpu()).unwrap();
    assert_eq!(loaded.config(), &cfg.net);
    assert_eq!(loaded.parameter_count(), trained.parameter_count());
    assert_eq!(loaded.to_safetensors_bytes().unwrap(), bytes);
    let x = [0.1f32, -0.2, 1.5, 2.5, -3.0, 0.0];
    for t in [0.0, 0.3, 1.0] {
        assert_eq!(
            loaded.eval_host(t, &x).unwrap(),
            trained.eval_host(t, &x).unwrap()
        );
    }
    // A res_mlp checkpoint round-trips too.
    let res_cfg = net_cfg(
        Arch::ResMlp { width: 8, depth: 3 },
        Activation::Selu,
        TimeFeature::Log1m,
    );
    let res = Network::new_initialised(&res_cfg, 5, &cpu()).unwrap();
    let res_path = dir.path().join("res.safetensors");
    res.save_safetensors(&res_path).unwrap();
    let back = Network::load_safetensors(&res_path, &res_cfg, &cpu()).unwrap();
    assert_eq!(
        back.to_safetensors_bytes().unwrap(),
        res.to_safetensors_bytes().unwrap()
    );

    // Another configuration: a checkpoint error naming the config, for the same shapes
    // (activation, time feature of width 1) and for other shapes.
    let wrongs = [
        NetConfig {
            activation: Activation::Gelu,
            ..cfg.net.clone()
        },
        NetConfig {
            arch: Arch::Mlp {
                hidden: vec![16, 8],
            },
            ..cfg.net.clone()
        },
        NetConfig {
            time: TimeFeature::Sinusoidal { dim: 4 },
            ..cfg.net.clone()
        },
        NetConfig {
            state_dim: 3,
            ..cfg.net.clone()
        },
        NetConfig {
            arch: Arch::ResMlp { width: 8, depth: 3 },
            activation: Activation::Selu,
            time: TimeFeature::Raw,
            ..cfg.net.clone()
        },
    ];
    for wrong in &wrongs {
        let err = Network::load_safetensors(&path, wrong, &cpu()).unwrap_err();
        assert!(
            matches!(err, NnError::Checkpoint { .. }),
            "{wrong:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("config"), "{msg}");
        assert!(msg.contains("m.safetensors"), "{msg}");
    }
    let err = Network::load_safetensors(&res_path, &wrongs[4], &cpu()).unwrap_err();
    assert!(matches!(err, NnError::Checkpoint { .. }), "{err:?}");
}

#[test]
fn broken_checkpoint_files_are_errors() {
    let cfg = small_net();
    let net = Network::new_initialised(&cfg, 0, &cpu()).unwrap();
    let bytes = net.to_safetensors_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        Network::load_safetensors(&p, &cfg, &cpu())
    };
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut huge_header = bytes.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut not_json = bytes.clone();
    not_json[8] = b'[';
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("short", bytes[..5].to_vec()),
        ("header only", bytes[..8 + n].to_vec()),
        ("truncated data", bytes[..bytes.len() - 3].to_vec()),
        ("truncated header", bytes[..8 + n / 2].to_vec()),
        ("garbage", b"not a checkpoint at all, really not".to_vec()),
        ("huge header length", huge_header),
        ("not json", not_json),
        ("zeros", vec![0; 64]),
    ];
    for (name, content) in cases {
        match load(name, &content) {
            Err(NnError::Checkpoint { .. }) => {}
            other => panic!("{name}: expected a checkpoint error, got {other:?}"),
        }
    }
    let missing = dir.path().join("missing.safetensors");
    assert!(matches!(
        Network::load_safetensors(&missing, &cfg, &cpu()),
        Err(NnError::Io { .. })
    ));
    // Saving into a missing directory is an i/o error naming the path.
    let bad_dir = dir.path().join("no/such/dir/m.safetensors");
    match net.save_safetensors(&bad_dir) {
        Err(e @ NnError::Io { .. }) => assert!(e.to_string().contains("no/such/dir"), "{e}"),
        other => panic!("expected an i/o error, got {other:?}"),
    }
    assert!(!Path::new(&bad_dir).exists());
}

// ---------------------------------------------------------------------------------------------
// NetField and NFE accounting

#[test]
fn net_field_counts_one_call_per_eval() {
    let cfg = NetConfig {
        arch: Arch::Mlp { hidden: vec![8] },
        activation: Activation::Silu,
        time: TimeFeature::Sinusoidal { dim: 4 },
        state_dim: 4,
        out_dim: 3,
    };
    let net = Network::new_initialised(&cfg, 2, &cpu()).unwrap();
    let mut field = NetField::new(&net);
    assert_eq!((field.state_dim(), field.out_dim()), (4, 3));
    assert_eq!(field.calls(), 0);

    // One row, then 100 rows: one call each, on the field and on the network.
    let one = [0.5, -0.25, 1.0, 2.0];
    let mut out = [0.0; 3];
    field.eval(0.3, &one, &mut out).unwrap();
    assert_eq!((field.calls(), net.nfe()), (1, 1));
    // The field is the network through f32: identical to eval_host on the f32 rows.
    let host = net.eval_host(0.3, &one.map(|v| v as f32)).unwrap();
    assert_eq!(
        out.to_vec(),
        host.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()
    );
    assert_eq!(net.nfe(), 2, "eval_host counts on the network");

    let many: Vec<f64> = (0..400).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut out = vec![0.0; 300];
    field.eval(0.7, &many, &mut out).unwrap();
    assert_eq!((field.calls(), net.nfe()), (2, 3));
    assert!(out.iter().all(|v| v.is_finite()));
    // Row 7 alone gives the same values as row 7 in the batch.
    let mut row = [0.0; 3];
    let mut solo = NetField::new(&net);
    solo.eval(0.7, &many[28..32], &mut row).unwrap();
    for c in 0..3 {
        assert!(
            (row[c] - out[21 + c]).abs() <= 1e-6 * row[c].abs().max(1.0),
            "{row:?}"
        );
    }

    // A wrong width or output length is an error, not a panic.
    assert!(matches!(
        field.eval(0.5, &many[..5], &mut [0.0; 3]),
        Err(DynamicsError::Field(_))
    ));
    assert!(matches!(
        field.eval(0.5, &one, &mut [0.0; 2]),
        Err(DynamicsError::Field(_))
    ));

    net.reset_nfe();
    assert_eq!(net.nfe(), 0);
    let mut ev = net.evaluator();
    ev.eval(0.1, &[1.0; 8]).unwrap();
    ev.eval(0.2, &[1.0; 4]).unwrap();
    assert_eq!((ev.calls(), net.nfe()), (2, 2));
    assert_eq!(ev.config(), &cfg);
}

#[test]
fn concurrent_evaluators_keep_their_own_counts() {
    let cfg = net_cfg(
        Arch::ResMlp { width: 8, depth: 2 },
        Activation::Gelu,
        TimeFeature::Sinusoidal { dim: 4 },
    );
    // Train a few steps so the res_mlp output is not identically zero.
    let net = train(
        &TrainConfig {
            steps: 3,
            seed: 0,
            net: cfg.clone(),
            optim: OptimConfig::default(),
        },
        None,
        &cpu(),
        &mut |step| Ok(flow_batch(0, step, 16)),
        &mut |_| {},
    )
    .unwrap()
    .net;
    assert_eq!(net.nfe(), 0);
    let state: Vec<f64> = (0..200).map(|i| (i as f64 * 0.11).cos()).collect();
    let alone = {
        let mut f = NetField::new(&net);
        let mut out = vec![0.0; 200];
        f.eval(0.4, &state, &mut out).unwrap();
        out
    };
    assert!(alone.iter().any(|&v| v != 0.0));
    net.reset_nfe();
    let (a, b) = std::thread::scope(|s| {
        let work = |n: u64| {
            let net = &net;
            let state = &state;
            move || {
                let mut f = NetField::new(net);
                let mut out = vec![0.0; 200];
                let mut first = Vec::new();
                for k in 0..n {
                    f.eval(0.4, state, &mut out).unwrap();
                    if k == 0 {
                        first = out.clone();
                    }
                }
                (f.calls(), first)
            }
        };
        let a = s.spawn(work(37));
        let b = s.spawn(work(23));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.0, 37);
    assert_eq!(b.0, 23);
    assert_eq!(
        net.nfe(),
        60,
        "the network counts every call of every evaluator"
    );
    assert_eq!(a.1, alone);
    assert_eq!(b.1, alone);
}

// ---------------------------------------------------------------------------------------------
// End to end

/// Per-coordinate mean and standard deviation of row-major 2-D points.
fn mean_std(points: &[f64]) -> ([f64; 2], [f64; 2]) {
    let n = (points.len() / 2) as f64;
    let mut mean = [0.0; 2];
    for p in points.chunks_exact(2) {
        mean[0] += p[0] / n;
        mean[1] += p[1] / n;
    }
    let mut var = [0.0; 2];
    for p in points.chunks_exact(2) {
        var[0] += (p[0] - mean[0]).powi(2) / n;
        var[1] += (p[1] - mean[1]).powi(2) / n;
    }
    (mean, [var[0].sqrt(), var[1].sqrt()])
}

#[test]
fn flow_matching_learns_a_gaussian() {
    // I-CFM (sigma 0) on N((2, -1), 0.5^2 I), mlp [64, 64], 400 steps at batch 256, lr 2e-3;
    // Euler-50 samples of 2000 points. Measured (1 thread): mean (1.985, -0.996), std
    // (0.459, 0.441); with two other data seeds the errors stayed below 0.065. Thresholds
    // from the task: mean and std within 0.15 of the target. The untrained network's samples
    // stay near N(0, I) (measured mean (0.02, -0.09); threshold: over 0.8 from the target).
    const STEPS: usize = 400;
    let method = Method::Flow(FmConfig::icfm(0.0));
    let cfg = TrainConfig {
        steps: STEPS,
        seed: 0,
        net: net_cfg(
            Arch::Mlp {
                hidden: vec![64, 64],
            },
            Activation::Silu,
            TimeFeature::Sinusoidal { dim: 16 },
        ),
        optim: OptimConfig {
            lr: 2e-3,
            schedule: LrSchedule::Constant,
            ..OptimConfig::default()
        },
    };
    let mut data_rng = ChaCha8Rng::seed_from_u64(123);
    let mut batch_rng = drift_dynamics::rng(123, 1);
    let trained = train(
        &cfg,
        None,
        &cpu(),
        &mut |_| {
            let x1 = gaussian_2d(256, [2.0, -1.0], 0.5, &mut data_rng);
            method
                .training_batch(None, &x1, 2, &mut batch_rng)
                .map_err(|e| NnError::InvalidInput(e.to_string()))
        },
        &mut |_| {},
    )
    .unwrap();
    let head: f32 = trained.losses[..10].iter().sum();
    let tail: f32 = trained.losses[STEPS - 10..].iter().sum();
    assert!(tail < 0.5 * head, "loss head {head} tail {tail}");

    let sampler = Sampler::Ode {
        solver: FixedSolver::Euler,
        steps: 50,
    };
    let sample = |net: &Network| {
        net.reset_nfe();
        let mut field = NetField::new(net);
        let mut rng = drift_dynamics::rng(99, 0);
        let out = method
            .sample(&sampler, &mut field, None, 2000, 2, &mut rng)
            .unwrap();
        assert_eq!(out.nfe, 50);
        assert_eq!(field.calls(), 50);
        assert_eq!(net.nfe(), 50);
        assert_eq!(out.points.len(), 4000);
        out.points
    };
    let (gm, gs) = mean_std(&sample(&trained.net));
    let untrained = Network::new_initialised(&cfg.net, cfg.seed, &cpu()).unwrap();
    let (bm, _) = mean_std(&sample(&untrained));
    eprintln!("trained mean {gm:?} std {gs:?}; untrained mean {bm:?}");
    let target = [2.0, -1.0];
    for j in 0..2 {
        assert!((gm[j] - target[j]).abs() < 0.15, "trained mean {gm:?}");
        assert!((gs[j] - 0.5).abs() < 0.15, "trained std {gs:?}");
    }
    let dist = ((bm[0] - 2.0).powi(2) + (bm[1] + 1.0).powi(2)).sqrt();
    assert!(dist > 0.8, "untrained mean {bm:?}");
}
