//! The training loop shared by every method: weighted regression of a [`Network`] on host-built
//! minibatches ([`drift_dynamics::TrainBatch`]) with AdamW, a learning-rate schedule, optional
//! gradient-norm clipping and an optional EMA of the weights.
//!
//! The method (what a batch contains) lives in drift-dynamics; this loop only sees
//! `(state, time, target, weight)` rows, so it is the same for flow matching, diffusion, CLD
//! and AGM. Everything random is drawn on the host by the batch callback, so a CPU run is
//! bit-reproducible.
//!
//! Two implementations, same semantics: on the CPU, [`train`] runs the fast host path
//! (`fast.rs`: hand-derived gradients and a fused AdamW matching candle's update); on other
//! devices it runs candle autograd with candle's `AdamW` ([`train_reference`], which tests and
//! benchmarks also call directly). Their losses agree to about 1e-5 relative, not bit for bit.

use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use drift_dynamics::TrainBatch;
use serde::{Deserialize, Serialize};

use crate::{ComputeDevice, NetConfig, Network, NnError};

/// Learning-rate schedule (multiplied by the warm-up factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// `lr * (1 + cos(pi k / steps)) / 2` at step k (PyTorch's CosineAnnealingLR, eta_min 0).
    Cosine,
}

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    /// AdamW base learning rate (> 0).
    pub lr: f64,
    /// AdamW decoupled weight decay (>= 0).
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    /// Linear warm-up: the rate is multiplied by `min(1, (k + 1) / warmup_steps)` at step k
    /// (0 = none; `pytorch_warmup.UntunedLinearWarmup` is 2 / (1 - beta2) = 2000 steps).
    pub warmup_steps: usize,
    /// Clip the global gradient norm to this value (PyTorch `clip_grad_norm_`), if set.
    pub grad_clip: Option<f64>,
    /// EMA decay of the weights, if set; sampling then uses the EMA weights. As in torch_ema,
    /// the decay at update k (1-based) is `min(decay, (1 + k) / (10 + k))`.
    pub ema: Option<f64>,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
            warmup_steps: 0,
            grad_clip: None,
            ema: None,
        }
    }
}

impl OptimConfig {
    pub(crate) fn validate(&self) -> Result<(), NnError> {
        let bad = |m: String| Err(NnError::InvalidConfig(m));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be finite and positive, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay must be finite and non-negative, got {}",
                self.weight_decay
            ));
        }
        if let Some(c) = self.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("grad_clip must be finite and positive, got {c}"));
        }
        if let Some(d) = self.ema
            && !(0.0..1.0).contains(&d)
        {
            return bad(format!("ema must be in [0, 1), got {d}"));
        }
        Ok(())
    }

    /// The EMA decay of update `step` (1-based, as torch_ema counts): `min(decay, (1 + step) /
    /// (10 + step))`, so the first update uses at most 2 / 11. `None` when EMA is off.
    pub fn ema_decay_at(&self, step: usize) -> Option<f64> {
        let k = step as f64;
        self.ema.map(|decay| decay.min((1.0 + k) / (10.0 + k)))
    }

    /// The learning rate of step `k` (0-based) of `steps`.
    pub fn lr_at(&self, k: usize, steps: usize) -> f64 {
        let base = match self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Cosine => {
                let frac = k as f64 / steps.max(1) as f64;
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
            }
        };
        if self.warmup_steps == 0 {
            base
        } else {
            base * ((k + 1) as f64 / self.warmup_steps as f64).min(1.0)
        }
    }
}

/// Everything a training run depends on besides the batches and the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps (0 returns the initialised network).
    pub steps: usize,
    /// Seed of the weight initialisation.
    pub seed: u64,
    pub net: NetConfig,
    pub optim: OptimConfig,
}

/// Reported after every completed step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Steps completed so far (1-based).
    pub step: usize,
    /// Total steps of the run.
    pub steps: usize,
    /// This step's minibatch loss.
    pub loss: f32,
}

/// A trained network and its loss curve.
#[derive(Debug)]
pub struct Trained {
    /// The weights sampling uses: the EMA weights when EMA is on, else the last weights. Its
    /// NFE counter reads 0.
    pub net: Network,
    /// The minibatch loss of every step, in order (`losses[i]` is step `i + 1`).
    pub losses: Vec<f32>,
}

/// Trains a network on the batches `next_batch(step)` returns (step is 1-based).
///
/// `init`, if given, provides the initial weights (same configuration; e.g. reflow starting
/// from the previous round). A non-finite loss stops training with [`NnError::Diverged`]
/// before the optimiser touches the parameters.
pub fn train(
    cfg: &TrainConfig,
    init: Option<&Network>,
    device: &ComputeDevice,
    next_batch: &mut dyn FnMut(usize) -> Result<TrainBatch, NnError>,
    on_step: &mut dyn FnMut(TrainProgress),
) -> Result<Trained, NnError> {
    train_with_checkpoints(cfg, init, device, next_batch, on_step, None)
}

/// [`train`] with periodic checkpoints and, when `checkpoints.resume` holds a state, continuing
/// from it: on the CPU the result is bit-identical to an uninterrupted training, provided
/// `next_batch` continues the same batch stream (the caller restores its own random streams).
/// Checkpoints need the CPU training path; elsewhere they are an error.
pub fn train_with_checkpoints(
    cfg: &TrainConfig,
    init: Option<&Network>,
    device: &ComputeDevice,
    next_batch: &mut dyn FnMut(usize) -> Result<TrainBatch, NnError>,
    on_step: &mut dyn FnMut(TrainProgress),
    checkpoints: Option<&mut crate::Checkpoints<'_>>,
) -> Result<Trained, NnError> {
    if crate::fast::supported(&cfg.net, device) {
        crate::fast::train_fast(cfg, init, device, next_batch, on_step, checkpoints)
    } else if checkpoints.is_some() {
        Err(NnError::InvalidConfig(format!(
            "training checkpoints are implemented on the CPU path only, not on {}",
            device.label()
        )))
    } else {
        train_reference(cfg, init, device, next_batch, on_step)
    }
}

/// [`train`] on candle autograd and candle's AdamW on any device: the reference the fast host
/// path is checked against, kept public for benchmarks and cross-checks.
#[doc(hidden)]
pub fn train_reference(
    cfg: &TrainConfig,
    init: Option<&Network>,
    device: &ComputeDevice,
    next_batch: &mut dyn FnMut(usize) -> Result<TrainBatch, NnError>,
    on_step: &mut dyn FnMut(TrainProgress),
) -> Result<Trained, NnError> {
    cfg.net.validate()?;
    cfg.optim.validate()?;
    let net = Network::new_initialised(&cfg.net, cfg.seed, device)?;
    if let Some(init) = init {
        net.load_from(init)?;
    }
    let vars = net.vars();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: cfg.optim.lr_at(0, cfg.steps),
            weight_decay: cfg.optim.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let ema: Option<Vec<Var>> = match cfg.optim.ema {
        Some(_) => Some(
            vars.iter()
                .map(|v| Var::from_tensor(&v.as_tensor().copy()?))
                .collect::<candle_core::Result<_>>()?,
        ),
        None => None,
    };
    let dev = device.device();
    let (sd, od, e) = (cfg.net.state_dim, cfg.net.out_dim, cfg.net.time.dim());
    let mut feature = Vec::new();
    let mut losses = Vec::with_capacity(cfg.steps);

    for step in 1..=cfg.steps {
        let batch = next_batch(step)?;
        check_batch(&batch, step, sd, od)?;
        let rows = batch.rows();
        feature.resize(rows * e, 0f32);
        for (t, out) in batch.time.iter().zip(feature.chunks_exact_mut(e)) {
            cfg.net.time.write(*t, out);
        }
        let state = Tensor::from_slice(&batch.state, (rows, sd), dev)?;
        let time = Tensor::from_slice(&feature, (rows, e), dev)?;
        let target = Tensor::from_slice(&batch.target, (rows, od), dev)?;
        let weight = Tensor::from_slice(&batch.weight, (rows, 1), dev)?;
        let pred = net.forward_train(&state, &time)?;
        let loss = (pred - target)?.sqr()?.broadcast_mul(&weight)?.mean_all()?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(NnError::Diverged {
                step,
                last_finite_loss: losses.last().copied(),
            });
        }
        losses.push(value);
        opt.set_learning_rate(cfg.optim.lr_at(step - 1, cfg.steps));
        let mut grads = loss.backward()?;
        if let Some(max_norm) = cfg.optim.grad_clip {
            let mut total = 0f64;
            for v in &vars {
                if let Some(g) = grads.get(v.as_tensor()) {
                    total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
                }
            }
            let coef = max_norm / (total.sqrt() + 1e-6);
            if coef < 1.0 {
                for v in &vars {
                    if let Some(g) = grads.remove(v.as_tensor()) {
                        grads.insert(v.as_tensor(), (g * coef)?);
                    }
                }
            }
        }
        opt.step(&grads)?;
        if let (Some(ema), Some(d)) = (&ema, cfg.optim.ema_decay_at(step)) {
            for (avg, v) in ema.iter().zip(&vars) {
                let next = ((avg.as_tensor() * d)? + (v.as_tensor() * (1.0 - d))?)?;
                avg.set(&next)?;
            }
        }
        on_step(TrainProgress {
            step,
            steps: cfg.steps,
            loss: value,
        });
    }
    if let Some(ema) = &ema {
        for (v, avg) in vars.iter().zip(ema) {
            v.set(avg.as_tensor())?;
        }
    }
    if cfg.steps > 0 && !net.parameters_finite()? {
        return Err(NnError::Diverged {
            step: cfg.steps,
            last_finite_loss: losses.last().copied(),
        });
    }
    net.reset_nfe();
    Ok(Trained { net, losses })
}

/// Rejects a batch whose buffers do not hold whole rows of the network's widths.
pub(crate) fn check_batch(
    batch: &TrainBatch,
    step: usize,
    sd: usize,
    od: usize,
) -> Result<(), NnError> {
    let rows = batch.rows();
    if rows == 0
        || batch.state.len() != rows * sd
        || batch.target.len() != rows * od
        || batch.weight.len() != rows
    {
        return Err(NnError::InvalidInput(format!(
            "malformed batch at step {step}: {rows} rows, {} state, {} target and {} weight values \
             (state width {sd}, output width {od})",
            batch.state.len(),
            batch.target.len(),
            batch.weight.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_with_warmup() {
        let o = OptimConfig {
            lr: 1.0,
            schedule: LrSchedule::Cosine,
            warmup_steps: 10,
            ..OptimConfig::default()
        };
        assert!((o.lr_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((o.lr_at(50, 100) - 0.5).abs() < 1e-12);
        assert!(o.lr_at(99, 100) < 1e-3);
        let c = OptimConfig::default();
        assert_eq!(c.lr_at(7, 10), 1e-3);
    }
}
