//! Flow-matching training (I-CFM) of a [`VelocityModel`] with AdamW, fully seeded on the host.
//!
//! Each step draws, for every row of the minibatch: a data index (with replacement, batch
//! stream), then `t ~ U[0, 1)`, `x0 ~ N(0, I)` and `eps ~ N(0, I)` (noise stream, in that
//! order). The network input `[x_t, emb(t)]` with `x_t = (1 - t) x0 + t x1 + sigma eps` and the
//! target `x1 - x0` are assembled on the host into reused buffers and copied to the device as
//! two tensors; the loss is the mean squared error over all elements. Because nothing random
//! happens on the device, a CPU run is bit-reproducible.

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::time_embedding;
use crate::rng::{STREAM_BATCH, STREAM_NOISE, normal_f32, stream};
use crate::{ComputeDevice, MlpConfig, NnError, VelocityModel};

/// Independent-coupling conditional flow matching (I-CFM, TorchCFM's
/// `ConditionalFlowMatcher`): `x_t = (1 - t) x0 + t x1 + sigma eps`, target `x1 - x0`,
/// `t ~ U(0, 1)`, `x0 ~ N(0, I)`. `sigma = 0` is 1-rectified flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowMatchingConfig {
    /// Standard deviation of the Gaussian probability path around the straight line; >= 0.
    /// Default 0.1 (the TorchCFM runner's value).
    pub sigma: f64,
}

impl Default for FlowMatchingConfig {
    fn default() -> Self {
        FlowMatchingConfig { sigma: 0.1 }
    }
}

/// Everything a training run depends on besides the data and the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps (0 returns the initialised model).
    pub steps: usize,
    /// Rows per minibatch, drawn with replacement.
    pub batch: usize,
    /// AdamW learning rate (> 0).
    pub lr: f64,
    /// AdamW decoupled weight decay (>= 0).
    pub weight_decay: f64,
    /// Seed of every random stream (initialisation, batches, noise).
    pub seed: u64,
    /// Network shape.
    pub model: MlpConfig,
    /// The flow-matching objective.
    pub method: FlowMatchingConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 2000,
            batch: 256,
            lr: 1e-3,
            weight_decay: 1e-5,
            seed: 0,
            model: MlpConfig::default(),
            method: FlowMatchingConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Checks the values; `dim` is the data dimension.
    pub fn validate(&self, dim: usize) -> Result<(), NnError> {
        self.model.validate(dim)?;
        if self.batch == 0 {
            return Err(NnError::InvalidConfig("batch must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(NnError::InvalidConfig(format!(
                "lr must be finite and positive, got {}",
                self.lr
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(NnError::InvalidConfig(format!(
                "weight_decay must be finite and non-negative, got {}",
                self.weight_decay
            )));
        }
        if !(self.method.sigma.is_finite() && self.method.sigma >= 0.0) {
            return Err(NnError::InvalidConfig(format!(
                "sigma must be finite and non-negative, got {}",
                self.method.sigma
            )));
        }
        Ok(())
    }
}

/// Reported after every completed step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Steps completed so far (1-based: the first report has `step == 1`).
    pub step: usize,
    /// Total steps of the run.
    pub steps: usize,
    /// This step's minibatch loss.
    pub loss: f32,
}

/// A trained model and its loss curve.
#[derive(Debug)]
pub struct Trained {
    /// The trained network (its NFE counter reads 0).
    pub model: VelocityModel,
    /// The minibatch loss of every step, in order (`losses[i]` is step `i + 1`).
    pub losses: Vec<f32>,
}

/// Trains a velocity model by I-CFM on `data` (row-major `n x dim`).
///
/// A non-finite loss stops training with [`NnError::Diverged`] before the optimiser touches
/// the parameters; non-finite parameters after the last step are reported the same way.
/// `on_step` is called after every step.
pub fn train_flow_matching(
    cfg: &TrainConfig,
    data: &[f32],
    dim: usize,
    device: &ComputeDevice,
    on_step: &mut dyn FnMut(TrainProgress),
) -> Result<Trained, NnError> {
    cfg.validate(dim)?;
    if data.is_empty() || !data.len().is_multiple_of(dim) {
        return Err(NnError::InvalidInput(format!(
            "training data has {} values, which is not a positive whole number of {dim}-dimensional points",
            data.len()
        )));
    }
    let n = data.len() / dim;
    let model = VelocityModel::new_initialised(&cfg.model, dim, cfg.seed, device)?;
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;

    let mut batch_rng = stream(cfg.seed, STREAM_BATCH);
    let mut noise_rng = stream(cfg.seed, STREAM_NOISE);
    let b = cfg.batch;
    let e = model.time_embed_dim();
    let in_dim = dim + e;
    let sigma = cfg.method.sigma as f32;
    let dev = device.device();

    let mut input = vec![0f32; b * in_dim];
    let mut target = vec![0f32; b * dim];
    let mut x0 = vec![0f32; dim];
    let mut eps = vec![0f32; dim];
    let mut losses = Vec::with_capacity(cfg.steps);

    for step in 1..=cfg.steps {
        for (row, tgt) in input
            .chunks_exact_mut(in_dim)
            .zip(target.chunks_exact_mut(dim))
        {
            let idx = batch_rng.random_range(0..n);
            let x1 = &data[idx * dim..(idx + 1) * dim];
            let t: f32 = noise_rng.random();
            x0.iter_mut().for_each(|v| *v = normal_f32(&mut noise_rng));
            eps.iter_mut().for_each(|v| *v = normal_f32(&mut noise_rng));
            let (xt, emb) = row.split_at_mut(dim);
            for j in 0..dim {
                xt[j] = (1.0 - t) * x0[j] + t * x1[j] + sigma * eps[j];
                tgt[j] = x1[j] - x0[j];
            }
            time_embedding(f64::from(t), model.freqs(), emb);
        }
        let xin = Tensor::from_slice(&input, (b, in_dim), dev)?;
        let tgt = Tensor::from_slice(&target, (b, dim), dev)?;
        let pred = model.forward_train(&xin)?;
        let loss = (pred - tgt)?.sqr()?.mean_all()?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(NnError::Diverged {
                step,
                last_finite_loss: losses.last().copied(),
            });
        }
        losses.push(value);
        opt.backward_step(&loss)?;
        on_step(TrainProgress {
            step,
            steps: cfg.steps,
            loss: value,
        });
    }
    if cfg.steps > 0 && !model.parameters_finite()? {
        return Err(NnError::Diverged {
            step: cfg.steps,
            last_finite_loss: losses.last().copied(),
        });
    }
    model.reset_nfe();
    Ok(Trained { model, losses })
}
