//! End-to-end sample quality of every training method: a short CPU training (AdamW with a
//! cosine schedule, batch 256 drawn with replacement from 4000 eight_gaussians (ffjord) points)
//! must bring the exact W2 of 1000 high-NFE samples against 1000 fresh test points well below
//! the untrained model's (same sampler, 0 steps) and below a threshold measured on 2026-11-29
//! with `RAYON_NUM_THREADS=1 cargo test -p drift-stages --test method_quality -- --ignored
//! measure_thresholds --nocapture` (seeds 0-3; `METHOD_QUALITY_ONLY=a,b` picks cases). Also:
//! OT-CFM from a two_moons source, and bit-reproducible training and sampling.

use std::time::Instant;

use drift_data::{EightGaussiansVariant, Generator, MoonsVariant};
use drift_dynamics::agm::{AgmConfig, DeType, TimeGrid};
use drift_dynamics::cld::{CldConfig, Striding};
use drift_dynamics::interpolant::SiConfig;
use drift_dynamics::method::{Method, Sampler};
use drift_dynamics::ode::FixedSolver;
use drift_dynamics::paths::FmConfig;
use drift_dynamics::vp::VpConfig;
use drift_nn::{
    Activation, Arch, ComputeDevice, LrSchedule, NetConfig, NetField, OptimConfig, TimeFeature,
    TrainConfig,
};
use rand::Rng as _;

const DIM: usize = 2;
const N_TRAIN: usize = 4000;
const N_TEST: usize = 1000;
const BATCH: usize = 256;

fn eight_gaussians() -> Generator {
    Generator::EightGaussians {
        variant: EightGaussiansVariant::Ffjord,
    }
}

fn two_moons() -> Generator {
    Generator::TwoMoons {
        variant: MoonsVariant::Ffjord,
        noise: MoonsVariant::Ffjord.default_noise(),
    }
}

/// One method with its sampler, network and training budget.
#[derive(Clone)]
struct Case {
    name: &'static str,
    method: Method,
    sampler: Sampler,
    net: NetConfig,
    steps: usize,
    lr: f64,
    /// Transport from two_moons instead of the method's own prior.
    source: bool,
}

fn mlp(method: &Method) -> NetConfig {
    NetConfig {
        arch: Arch::Mlp {
            hidden: vec![128, 128, 128],
        },
        activation: Activation::Silu,
        time: TimeFeature::Sinusoidal { dim: 32 },
        state_dim: method.state_dim(DIM),
        out_dim: method.out_dim(DIM),
    }
}

fn res_mlp(method: &Method) -> NetConfig {
    NetConfig {
        arch: Arch::ResMlp {
            width: 64,
            depth: 4,
        },
        activation: Activation::Silu,
        time: TimeFeature::Log1m,
        state_dim: method.state_dim(DIM),
        out_dim: method.out_dim(DIM),
    }
}

const RK4_25: Sampler = Sampler::Ode {
    solver: FixedSolver::Rk4,
    steps: 25,
};

fn flow(name: &'static str, c: FmConfig) -> Case {
    let method = Method::Flow(c);
    Case {
        name,
        net: mlp(&method),
        method,
        sampler: RK4_25,
        steps: 1500,
        lr: 2e-3,
        source: false,
    }
}

fn case(name: &str) -> Case {
    match name {
        "flow_matching" => flow("flow_matching", FmConfig::icfm(0.0)),
        "flow_matching_lipman" => flow("flow_matching_lipman", FmConfig::lipman(1e-4)),
        "ot_cfm" => flow("ot_cfm", FmConfig::ot_cfm(0.0)),
        "sb_cfm" => flow("sb_cfm", FmConfig::sb_cfm(1.0)),
        "rectified_flow" => flow("rectified_flow", FmConfig::rectified_flow()),
        "ot_cfm_two_moons" => Case {
            source: true,
            ..flow("ot_cfm_two_moons", FmConfig::ot_cfm(0.0))
        },
        "stochastic_interpolant" => {
            let method = Method::Interpolant(SiConfig::default());
            Case {
                name: "stochastic_interpolant",
                net: mlp(&method),
                method,
                sampler: RK4_25,
                steps: 3000,
                lr: 2e-3,
                source: false,
            }
        }
        "vp_diffusion" => {
            let method = Method::Vp(VpConfig::default());
            Case {
                name: "vp_diffusion",
                net: mlp(&method),
                method,
                sampler: Sampler::Ddim { nfe: 100, eta: 0.0 },
                steps: 3000,
                lr: 2e-3,
                source: false,
            }
        }
        "cld" => {
            let method = Method::Cld(CldConfig::default());
            Case {
                name: "cld",
                net: mlp(&method),
                method,
                sampler: Sampler::Sscs {
                    nfe: 200,
                    striding: Striding::Uniform,
                    denoise: true,
                },
                steps: 6000,
                lr: 2e-3,
                source: false,
            }
        }
        "agm_sde" => {
            let method = Method::Agm(AgmConfig::default());
            Case {
                name: "agm_sde",
                net: res_mlp(&method),
                method,
                sampler: Sampler::Sss {
                    grid: TimeGrid::Uniform,
                    nfe: 50,
                    hop: true,
                    t_end: None,
                },
                steps: 3000,
                lr: 2e-3,
                source: false,
            }
        }
        "agm_prob_ode" => {
            let method = Method::Agm(AgmConfig {
                de_type: DeType::ProbOde,
                ..AgmConfig::default()
            });
            Case {
                name: "agm_prob_ode",
                net: res_mlp(&method),
                method,
                sampler: Sampler::Gddim {
                    grid: TimeGrid::Uniform,
                    nfe: 50,
                    order: 2,
                    hop: true,
                    t_end: None,
                },
                steps: 3000,
                lr: 2e-3,
                source: false,
            }
        }
        other => panic!("no case `{other}`"),
    }
}

/// Random rows (with replacement) of a row-major block.
fn gather(values: &[f32], idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| values[i * DIM..(i + 1) * DIM].iter().copied())
        .collect()
}

fn draw(rng: &mut drift_dynamics::Rng, rows: usize, n: usize) -> Vec<usize> {
    (0..n).map(|_| rng.random_range(0..rows)).collect()
}

/// Trains `case` for `steps` steps from `seed` and draws `N_TEST` samples.
fn train_and_sample(case: &Case, steps: usize, seed: u64) -> Vec<f32> {
    let x1 = eight_gaussians().sample(N_TRAIN, 1000 + seed).values;
    let x0 = two_moons().sample(N_TRAIN, 3000 + seed).values;
    let mut batch_rng = drift_dynamics::rng(seed, 1);
    let mut source_rng = drift_dynamics::rng(seed, 2);
    let mut noise_rng = drift_dynamics::rng(seed, 3);
    let cfg = TrainConfig {
        steps,
        seed,
        net: case.net.clone(),
        optim: OptimConfig {
            lr: case.lr,
            schedule: LrSchedule::Cosine,
            ..OptimConfig::default()
        },
    };
    let trained = drift_nn::train(
        &cfg,
        None,
        &ComputeDevice::cpu(),
        &mut |_| {
            let batch = gather(&x1, &draw(&mut batch_rng, N_TRAIN, BATCH));
            let source: Option<Vec<f64>> = case.source.then(|| {
                gather(&x0, &draw(&mut source_rng, N_TRAIN, BATCH))
                    .into_iter()
                    .map(f64::from)
                    .collect()
            });
            case.method
                .training_batch(source.as_deref(), &batch, DIM, &mut noise_rng)
                .map_err(|e| drift_nn::NnError::InvalidInput(e.to_string()))
        },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{}: training failed: {e}", case.name));
    let mut rng = drift_dynamics::rng(seed, 4);
    let start = case.source.then(|| {
        two_moons()
            .sample(N_TEST, 4000 + seed)
            .values
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    });
    let mut field = NetField::new(&trained.net);
    let out = case
        .method
        .sample(&case.sampler, &mut field, start, N_TEST, DIM, &mut rng)
        .unwrap_or_else(|e| panic!("{}: sampling failed: {e}", case.name));
    assert_eq!(out.nfe, field.calls());
    out.points.iter().map(|&v| v as f32).collect()
}

/// (untrained W2, trained W2, seconds) of `case` at `seed`.
fn measure(case: &Case, seed: u64) -> (f64, f64, f64) {
    let started = Instant::now();
    let test = eight_gaussians().sample(N_TEST, 2000 + seed).values;
    let w2 = |samples: &[f32]| drift_metrics::w2(samples, &test, DIM).expect("w2");
    let untrained = w2(&train_and_sample(case, 0, seed));
    let trained = w2(&train_and_sample(case, case.steps, seed));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{:<24} seed {seed}: untrained W2 {untrained:.4}, trained W2 {trained:.4} \
         ({} steps, {:.1} s)",
        case.name, case.steps, secs
    );
    (untrained, trained, secs)
}

/// Trains at seed 0 and checks the trained W2 against `threshold` and the untrained W2.
fn check(name: &str, threshold: f64) {
    let case = case(name);
    let (untrained, trained, _) = measure(&case, 0);
    assert!(
        trained < threshold,
        "{name}: trained W2 {trained:.4} >= threshold {threshold}"
    );
    assert!(
        trained < 0.5 * untrained,
        "{name}: trained W2 {trained:.4} is not well below the untrained {untrained:.4}"
    );
}

const ALL: &[&str] = &[
    "flow_matching",
    "flow_matching_lipman",
    "ot_cfm",
    "sb_cfm",
    "rectified_flow",
    "stochastic_interpolant",
    "vp_diffusion",
    "cld",
    "agm_sde",
    "agm_prob_ode",
    "ot_cfm_two_moons",
];

/// Prints every method's W2 over seeds 0-3 (how the thresholds below were measured).
#[test]
#[ignore = "measurement run (minutes): -- --ignored measure_thresholds"]
fn measure_thresholds() {
    let only = std::env::var("METHOD_QUALITY_ONLY").ok();
    for seed in 0..4 {
        let a = eight_gaussians().sample(N_TEST, 2000 + seed).values;
        let b = eight_gaussians().sample(N_TEST, 5000 + seed).values;
        let w2 = drift_metrics::w2(&a, &b, DIM).expect("w2");
        eprintln!("reference: W2 between two test sets, seed {seed}: {w2:.4}");
    }
    for name in ALL {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == *name))
        {
            continue;
        }
        let case = case(name);
        let mut trained = Vec::new();
        for seed in 0..4 {
            trained.push(measure(&case, seed).1);
        }
        let max = trained.iter().copied().fold(0.0, f64::max);
        eprintln!("{name}: trained W2 per seed {trained:.4?}, max {max:.4}");
    }
}

// Thresholds: max over seeds 0-3 of the trained W2 (from `measure_thresholds`) x 1.3,
// rounded up. For scale: W2 between two independent 1000-point test sets of eight_gaussians
// (the floor a perfect sampler reaches) measured 0.3841, 0.2606, 0.4060, 0.4718 (seeds 0-3).

#[test]
fn flow_matching() {
    // Measured 0.4610, 0.4821, 0.3765, 0.3348 (untrained 1.67); max 0.4821.
    check("flow_matching", 0.63);
}

#[test]
fn flow_matching_lipman() {
    // Measured 0.4610, 0.4821, 0.3765, 0.3347 (untrained 1.67); max 0.4821.
    check("flow_matching_lipman", 0.63);
}

#[test]
fn ot_cfm() {
    // Measured 0.4654, 0.4881, 0.4024, 0.3548 (untrained 1.67); max 0.4881.
    check("ot_cfm", 0.64);
}

#[test]
fn sb_cfm() {
    // Measured 0.4842, 0.4833, 0.4358, 0.4109 (untrained 1.67); max 0.4842.
    check("sb_cfm", 0.63);
}

#[test]
fn rectified_flow() {
    // Measured 0.4609, 0.4818, 0.3765, 0.3344 (untrained 1.67); max 0.4818.
    check("rectified_flow", 0.63);
}

#[test]
fn stochastic_interpolant() {
    // Measured 0.4244, 0.5386, 0.3819, 0.3085 (untrained 1.66); max 0.5386.
    check("stochastic_interpolant", 0.71);
}

#[test]
fn vp_diffusion() {
    // Measured 0.4211, 0.5127, 0.3841, 0.3097 (untrained 213: DDIM with a random epsilon
    // network diverges); max 0.5127.
    check("vp_diffusion", 0.67);
}

#[test]
fn cld() {
    // Measured 0.4033, 0.4236, 0.4158, 0.3630 (untrained 3779); max 0.4236. (3000 steps at
    // nfe 100 gave 0.57-0.72: CLD needs the longer training, not a different sampler.)
    check("cld", 0.56);
}

#[test]
fn agm_sde() {
    // Measured 0.3837, 0.4076, 0.3925, 0.3302 (untrained 1.15: the res_mlp output layer is
    // zero-initialised, so this is the bridge with a zero network); max 0.4076.
    check("agm_sde", 0.53);
}

#[test]
fn agm_prob_ode() {
    // Measured 0.4006, 0.4616, 0.4512, 0.4472 (untrained 1.40, zero network); max 0.4616.
    check("agm_prob_ode", 0.61);
}

#[test]
fn ot_cfm_from_two_moons() {
    // Source: two_moons (ffjord) training rows as x0; samples start at two_moons test rows.
    // Measured 0.4003, 0.4104, 0.4165, 0.4274 (untrained 1.33, the identity map); max 0.4274.
    check("ot_cfm_two_moons", 0.56);
}

/// The same seed trains the same network and draws the same samples, bit for bit; another
/// seed does not.
#[test]
fn training_is_bit_reproducible() {
    let case = Case {
        steps: 300,
        ..case("agm_sde")
    };
    let started = Instant::now();
    let a = train_and_sample(&case, case.steps, 7);
    let b = train_and_sample(&case, case.steps, 7);
    let c = train_and_sample(&case, case.steps, 8);
    let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same && a.len() == b.len(), "same seed, different samples");
    assert_ne!(a, c, "different seeds gave identical samples");
    eprintln!(
        "training_is_bit_reproducible (agm_sde, 300 steps, 3 runs): {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
