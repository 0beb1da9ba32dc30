//! drift-nn: the networks, the shared training loop and the network-as-field adapter, on
//! candle.
//!
//! This is the only crate of drift that depends on candle; its API takes and returns host
//! values (`&[f32]`, `Vec<f32>`, paths, drift-dynamics batches), so callers never handle
//! candle types. What a method trains on and how it samples lives in drift-dynamics; this crate
//! turns a network into a [`drift_dynamics::Field`] ([`NetField`]) and fits it to batches.
//!
//! Determinism: every random number (initial weights here; batches and sampler noise in
//! drift-dynamics) is drawn on the host from seeded ChaCha8 streams, so CPU training and
//! sampling are bit-reproducible. Use one candle thread (`RAYON_NUM_THREADS=1`) per stage on
//! small machines.

mod checkpoint;
mod device;
mod divergence;
mod error;
mod fast;
mod host_gemm;
mod net;
mod resume;
mod rng;
mod train;

pub use device::{ComputeDevice, DeviceRequest};
pub use divergence::{DivergenceEvaluator, NetDivergenceField, Tangents};
pub use error::NnError;
pub use net::{
    Activation, Arch, Evaluator, LOG1M_FLOOR, NetConfig, NetField, Network, TimeFeature,
};
pub use resume::{Checkpoints, TrainState};
pub use train::{
    LrSchedule, OptimConfig, TrainConfig, TrainProgress, Trained, train, train_reference,
    train_with_checkpoints,
};
