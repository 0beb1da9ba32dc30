//! Integration tests of drift-nn's public API: devices, names, validation, determinism,
//! checkpoints, NFE accounting, divergence and sample quality.

use drift_nn::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn cpu() -> ComputeDevice {
    ComputeDevice::resolve(DeviceRequest::Cpu).unwrap()
}

/// `n` points of N(mean, std^2 I) in 2D, row-major.
fn gaussian_2d(n: usize, mean: [f32; 2], std: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    (0..n)
        .flat_map(|_| [0, 1])
        .map(|j| mean[j] + std * normal.sample(&mut rng))
        .collect()
}

fn small_cfg(steps: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        steps,
        batch: 64,
        lr: 1e-3,
        weight_decay: 1e-5,
        seed,
        model: MlpConfig {
            hidden: vec![32, 32],
            activation: Activation::Silu,
            time_embed_dim: 32,
        },
        method: FlowMatchingConfig { sigma: 0.1 },
    }
}

fn train(cfg: &TrainConfig, data: &[f32], dim: usize) -> Result<Trained, NnError> {
    train_flow_matching(cfg, data, dim, &cpu(), &mut |_| {})
}

/// Per-coordinate mean and standard deviation of row-major 2D points.
fn mean_std(points: &[f32]) -> ([f64; 2], [f64; 2]) {
    let n = (points.len() / 2) as f64;
    let mut mean = [0.0; 2];
    for p in points.chunks_exact(2) {
        mean[0] += f64::from(p[0]) / n;
        mean[1] += f64::from(p[1]) / n;
    }
    let mut var = [0.0; 2];
    for p in points.chunks_exact(2) {
        var[0] += (f64::from(p[0]) - mean[0]).powi(2) / n;
        var[1] += (f64::from(p[1]) - mean[1]).powi(2) / n;
    }
    (mean, [var[0].sqrt(), var[1].sqrt()])
}

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
        "", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "CPU", "cuda:0 ",
    ] {
        let err = bad.parse::<DeviceRequest>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`cpu`") && msg.contains("`cuda:N`") && msg.contains("`auto`"),
            "{bad:?}: {msg}"
        );
    }
    assert_eq!(DeviceRequest::Cuda(2).to_string(), "cuda:2");
}

#[test]
fn devices_resolve() {
    let d = cpu();
    assert_eq!(d.class(), "cpu");
    assert_eq!(d.label(), "cpu");
    if !ComputeDevice::cuda_built() {
        for req in [DeviceRequest::Cuda(0), DeviceRequest::Cuda(1)] {
            let err = ComputeDevice::resolve(req).unwrap_err();
            assert!(matches!(err, NnError::CudaNotBuilt { .. }), "{err:?}");
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
        assert_eq!(
            ComputeDevice::resolve(DeviceRequest::Auto).unwrap().class(),
            "cpu"
        );
    }
}

#[test]
fn names_round_trip() {
    for a in Activation::ALL {
        assert_eq!(Activation::from_name(a.name()), Some(a));
        assert_eq!(a.name().parse::<Activation>().unwrap(), a);
    }
    for s in Solver::ALL {
        assert_eq!(Solver::from_name(s.name()), Some(s));
    }
    assert!(Activation::from_name("tanh").is_none());
    assert!(
        "tanh"
            .parse::<Activation>()
            .unwrap_err()
            .to_string()
            .contains("silu")
    );
    assert!(
        "dopri5"
            .parse::<Solver>()
            .unwrap_err()
            .to_string()
            .contains("rk4")
    );
    assert_eq!(
        Solver::ALL.map(Solver::evals_per_step),
        [1, 2, 4],
        "evals per step"
    );
    let solvers = solver_catalogue();
    assert_eq!(
        solvers.iter().map(|s| s.0).collect::<Vec<_>>(),
        ["euler", "heun", "rk4"]
    );
    assert!(solvers.iter().all(|s| s.1.contains("per step")));
    let methods = method_catalogue();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].0, "flow_matching");
    assert!(methods[0].1.contains("I-CFM"));
}

#[test]
fn bad_inputs_are_errors() {
    let data = gaussian_2d(16, [0.0, 0.0], 1.0, 1);
    let base = small_cfg(2, 0);
    let cases: Vec<(TrainConfig, &[f32], usize)> = vec![
        (
            TrainConfig {
                batch: 0,
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                lr: 0.0,
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                lr: f64::NAN,
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                weight_decay: -1.0,
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                method: FlowMatchingConfig { sigma: -0.1 },
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                model: MlpConfig {
                    time_embed_dim: 7,
                    ..base.model.clone()
                },
                ..base.clone()
            },
            &data,
            2,
        ),
        (
            TrainConfig {
                model: MlpConfig {
                    hidden: vec![8, 0],
                    ..base.model.clone()
                },
                ..base.clone()
            },
            &data,
            2,
        ),
        (base.clone(), &data[..5], 2),
        (base.clone(), &[], 2),
        (base.clone(), &data, 0),
    ];
    for (i, (cfg, d, dim)) in cases.into_iter().enumerate() {
        let err = train(&cfg, d, dim).unwrap_err();
        assert!(
            matches!(err, NnError::InvalidConfig(_) | NnError::InvalidInput(_)),
            "case {i}: {err:?}"
        );
    }
    let model = VelocityModel::new_initialised(&base.model, 2, 0, &cpu()).unwrap();
    assert!(sample_flow(&model, Solver::Euler, 0, 4, 0, &cpu()).is_err());
    assert!(sample_flow(&model, Solver::Euler, 4, 0, 0, &cpu()).is_err());
    assert!(model.velocity(0.5, &[1.0, 2.0, 3.0]).is_err());
}

#[test]
fn parameter_count_and_progress() {
    let cfg = small_cfg(5, 3);
    let data = gaussian_2d(32, [1.0, -1.0], 0.5, 2);
    let mut seen = Vec::new();
    let trained = train_flow_matching(&cfg, &data, 2, &cpu(), &mut |p| {
        seen.push((p.step, p.steps, p.loss))
    })
    .unwrap();
    // (2 + 32) * 32 + 32, 32 * 32 + 32, 32 * 2 + 2.
    assert_eq!(trained.model.parameter_count(), 1120 + 1056 + 66);
    assert_eq!(trained.losses.len(), 5);
    assert_eq!(
        seen,
        (1..=5)
            .map(|s| (s, 5, trained.losses[s - 1]))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        trained.model.nfe(),
        0,
        "training calls are not counted on the result"
    );
    let zero = train(&small_cfg(0, 3), &data, 2).unwrap();
    assert!(zero.losses.is_empty());
}

#[test]
fn training_is_bit_reproducible() {
    let data = gaussian_2d(500, [2.0, -1.0], 0.7, 11);
    let cfg = small_cfg(50, 42);
    let a = train(&cfg, &data, 2).unwrap();
    let b = train(&cfg, &data, 2).unwrap();
    assert_eq!(a.losses.len(), 50);
    let bits = |l: &[f32]| l.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.losses), bits(&b.losses));

    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    a.model.save_safetensors(&pa).unwrap();
    b.model.save_safetensors(&pb).unwrap();
    let (ba, bb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    assert_eq!(ba, bb, "checkpoint bytes differ between identical runs");
    assert_eq!(ba, a.model.to_safetensors_bytes().unwrap());

    // Another seed gives another run.
    let c = train(&small_cfg(50, 43), &data, 2).unwrap();
    assert_ne!(bits(&a.losses), bits(&c.losses));
    // The loss goes down on this easy target.
    let head: f32 = a.losses[..5].iter().sum();
    let tail: f32 = a.losses[45..].iter().sum();
    assert!(tail < head, "head {head} tail {tail}");
}

#[test]
fn every_activation_trains() {
    let data = gaussian_2d(64, [1.0, 1.0], 0.5, 5);
    for activation in Activation::ALL {
        let mut cfg = small_cfg(3, 1);
        cfg.model.activation = activation;
        let t = train(&cfg, &data, 2).unwrap();
        assert!(t.losses.iter().all(|l| l.is_finite()), "{activation}");
    }
}

#[test]
fn checkpoints_round_trip_and_check_the_shape() {
    let data = gaussian_2d(64, [1.0, 1.0], 0.5, 5);
    let cfg = small_cfg(10, 9);
    let trained = train(&cfg, &data, 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    trained.model.save_safetensors(&path).unwrap();
    let loaded = VelocityModel::load_safetensors(&path, &cfg.model, 2, &cpu()).unwrap();
    assert_eq!(loaded.parameter_count(), trained.model.parameter_count());
    assert_eq!(
        loaded.to_safetensors_bytes().unwrap(),
        std::fs::read(&path).unwrap()
    );
    let x = [0.1f32, -0.2, 1.5, 2.5];
    assert_eq!(
        loaded.velocity(0.3, &x).unwrap(),
        trained.model.velocity(0.3, &x).unwrap()
    );
    let s1 = sample_flow(&trained.model, Solver::Heun, 5, 100, 1, &cpu()).unwrap();
    let s2 = sample_flow(&loaded, Solver::Heun, 5, 100, 1, &cpu()).unwrap();
    assert_eq!(s1, s2);

    // Wrong activation, widths, embedding or dim: a checkpoint error, not a panic.
    let mut wrong = cfg.model.clone();
    wrong.activation = Activation::Relu;
    let err = VelocityModel::load_safetensors(&path, &wrong, 2, &cpu()).unwrap_err();
    assert!(matches!(err, NnError::Checkpoint { .. }), "{err:?}");
    let mut wrong = cfg.model.clone();
    wrong.hidden = vec![32, 16];
    assert!(matches!(
        VelocityModel::load_safetensors(&path, &wrong, 2, &cpu()),
        Err(NnError::Checkpoint { .. })
    ));
    assert!(matches!(
        VelocityModel::load_safetensors(&path, &cfg.model, 3, &cpu()),
        Err(NnError::Checkpoint { .. })
    ));
    let missing = dir.path().join("missing.safetensors");
    assert!(matches!(
        VelocityModel::load_safetensors(&missing, &cfg.model, 2, &cpu()),
        Err(NnError::Io { .. })
    ));
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        VelocityModel::load_safetensors(&garbage, &cfg.model, 2, &cpu()),
        Err(NnError::Checkpoint { .. })
    ));
}

#[test]
fn sampling_is_reproducible_and_counts_nfe() {
    let cfg = small_cfg(0, 0).model;
    let model = VelocityModel::new_initialised(&cfg, 2, 4, &cpu()).unwrap();
    for solver in Solver::ALL {
        for steps in [1, 7] {
            let a = sample_flow(&model, solver, steps, 300, 17, &cpu()).unwrap();
            let b = sample_flow(&model, solver, steps, 300, 17, &cpu()).unwrap();
            assert_eq!(a.points.len(), 600);
            assert_eq!(a, b, "{solver} {steps}");
            assert_eq!(a.nfe, steps as u64 * solver.evals_per_step(), "{solver}");
            assert!(a.points.iter().all(|v| v.is_finite()));
        }
    }
    let c = sample_flow(&model, Solver::Euler, 7, 300, 18, &cpu()).unwrap();
    let a = sample_flow(&model, Solver::Euler, 7, 300, 17, &cpu()).unwrap();
    assert_ne!(a.points, c.points);
    // The model counter counts every call of every chunk.
    model.reset_nfe();
    sample_flow(&model, Solver::Rk4, 3, 10, 0, &cpu()).unwrap();
    assert_eq!(model.nfe(), 12);
}

#[test]
fn nfe_is_per_trajectory_across_chunks() {
    let cfg = MlpConfig {
        hidden: vec![4],
        activation: Activation::Relu,
        time_embed_dim: 2,
    };
    let model = VelocityModel::new_initialised(&cfg, 2, 0, &cpu()).unwrap();
    let n = SAMPLE_CHUNK + 5;
    let out = sample_flow(&model, Solver::Heun, 3, n, 0, &cpu()).unwrap();
    assert_eq!(out.points.len(), 2 * n);
    assert_eq!(out.nfe, 6);
    assert_eq!(model.nfe(), 12, "two chunks, six calls each");
}

#[test]
fn euler_one_step_matches_the_velocity() {
    // x1 = x0 + v(0, x0) with x0 from ChaCha8Rng::seed_from_u64(seed).
    let cfg = small_cfg(0, 0).model;
    let model = VelocityModel::new_initialised(&cfg, 2, 4, &cpu()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x0: Vec<f32> = (0..20)
        .map(|_| {
            let z: f64 = rand_distr::StandardNormal.sample(&mut rng);
            z as f32
        })
        .collect();
    let v = model.velocity(0.0, &x0).unwrap();
    let out = sample_flow(&model, Solver::Euler, 1, 10, 5, &cpu()).unwrap();
    for i in 0..20 {
        assert!((out.points[i] - (x0[i] + v[i])).abs() < 1e-6);
    }
}

#[test]
fn divergence_is_an_error() {
    let data = gaussian_2d(200, [3.0, 3.0], 0.5, 7);
    let mut cfg = small_cfg(50, 1);
    cfg.lr = 1e6;
    match train(&cfg, &data, 2) {
        Err(NnError::Diverged {
            step,
            last_finite_loss,
        }) => {
            eprintln!("lr 1e6 diverged at step {step}, last finite loss {last_finite_loss:?}");
            assert!((1..=50).contains(&step));
            if step > 1 {
                assert!(last_finite_loss.is_some_and(f32::is_finite));
            }
        }
        other => panic!("expected Diverged, got {other:?}"),
    }

    let mut nan_data = data.clone();
    for v in nan_data.iter_mut().step_by(3) {
        *v = f32::NAN;
    }
    match train(&small_cfg(20, 1), &nan_data, 2) {
        Err(NnError::Diverged {
            step: 1,
            last_finite_loss: None,
        }) => {}
        other => panic!("expected Diverged at step 1, got {other:?}"),
    }
}

#[test]
fn training_moves_samples_to_the_target() {
    // Target N((3, 3), 0.5^2 I). Measured with this exact configuration (seed 0, 400 steps,
    // 1 thread): trained Euler-50 samples have mean (3.013, 3.029) and std (0.470, 0.446),
    // RK4-10 mean (3.008, 3.031) and std (0.478, 0.453); the untrained model's samples have
    // mean (0.03, -0.09). Thresholds: mean within 0.15 and std within 0.12 of the target for
    // the trained model (about 3x the measured error), mean over 1.5 away for the untrained.
    let data = gaussian_2d(4000, [3.0, 3.0], 0.5, 123);
    let cfg = TrainConfig {
        steps: 400,
        batch: 256,
        lr: 2e-3,
        weight_decay: 0.0,
        seed: 0,
        model: MlpConfig {
            hidden: vec![64, 64],
            activation: Activation::Silu,
            time_embed_dim: 16,
        },
        method: FlowMatchingConfig { sigma: 0.0 },
    };
    let trained = train(&cfg, &data, 2).unwrap();
    let untrained = VelocityModel::new_initialised(&cfg.model, 2, cfg.seed, &cpu()).unwrap();
    let n = 4000;
    let good = sample_flow(&trained.model, Solver::Euler, 50, n, 99, &cpu()).unwrap();
    let bad = sample_flow(&untrained, Solver::Euler, 50, n, 99, &cpu()).unwrap();
    let (gm, gs) = mean_std(&good.points);
    let (bm, _) = mean_std(&bad.points);
    eprintln!("trained mean {gm:?} std {gs:?}; untrained mean {bm:?}");
    eprintln!(
        "first losses {:?}, last losses {:?}",
        &trained.losses[..3],
        &trained.losses[397..]
    );
    for j in 0..2 {
        assert!((gm[j] - 3.0).abs() < 0.15, "trained mean {gm:?}");
        assert!((gs[j] - 0.5).abs() < 0.12, "trained std {gs:?}");
        assert!((bm[j] - 3.0).abs() > 1.5, "untrained mean {bm:?}");
    }
    let rk4 = sample_flow(&trained.model, Solver::Rk4, 10, n, 99, &cpu()).unwrap();
    let (rm, rs) = mean_std(&rk4.points);
    eprintln!("rk4-10 mean {rm:?} std {rs:?}");
    for j in 0..2 {
        assert!((rm[j] - 3.0).abs() < 0.15 && (rs[j] - 0.5).abs() < 0.12);
    }
}

#[test]
fn concurrent_sampling_on_one_model_keeps_its_own_nfe() {
    let cfg = small_cfg(0, 0).model;
    let model = VelocityModel::new_initialised(&cfg, 2, 4, &cpu()).unwrap();
    let alone = sample_flow(&model, Solver::Rk4, 20, 200, 3, &cpu()).unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| sample_flow(&model, Solver::Rk4, 20, 200, 3, &cpu()).unwrap());
        let b = s.spawn(|| sample_flow(&model, Solver::Euler, 30, 200, 4, &cpu()).unwrap());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a, alone);
        assert_eq!(a.nfe, 80);
        assert_eq!(b.nfe, 30);
    });
}
