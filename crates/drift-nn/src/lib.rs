//! drift-nn: the velocity network, flow-matching training and ODE sampling on candle.
//!
//! This is the only crate of drift that depends on candle; its API takes and returns host
//! values (`&[f32]`, `Vec<f32>`, paths), so callers never handle candle types.
//!
//! Determinism: every random number (initial weights, minibatch indices, t, x0, sigma noise,
//! sampler noise) is drawn on the host from seeded ChaCha8 streams (see `rng.rs`), so CPU
//! training and sampling are bit-reproducible. Use one candle thread (`RAYON_NUM_THREADS=1`)
//! per stage on small machines.

mod catalogue;
mod checkpoint;
mod device;
mod error;
mod model;
mod rng;
mod sample;
mod train;

pub use catalogue::{MethodInfo, SolverInfo, method_catalogue, methods, solver_catalogue, solvers};
pub use device::{ComputeDevice, DeviceRequest};
pub use error::NnError;
pub use model::{Activation, MlpConfig, VelocityModel};
pub use sample::{SAMPLE_CHUNK, SampleOutput, Solver, sample_flow};
pub use train::{FlowMatchingConfig, TrainConfig, TrainProgress, Trained, train_flow_matching};
