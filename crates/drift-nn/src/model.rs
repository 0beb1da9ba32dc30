//! The velocity network: a time-conditioned MLP built from host-initialised candle `Var`s,
//! with a forward-call (NFE) counter.
//!
//! Input is `[x (dim), emb(t) (time_embed_dim)]`, then `Linear + activation` per hidden width,
//! then a `Linear` to `dim`. The time embedding is computed on the host (see
//! [`time_embedding`]): `half = time_embed_dim / 2` frequencies
//! `f_k = exp(ln(100) * k / (half - 1))`, k = 0..half (so f runs geometrically from 1 to 100
//! radians per unit time; `f_0 = 1` when `half == 1`), and
//! `emb(t) = [sin(f_0 t) .. sin(f_{half-1} t), cos(f_0 t) .. cos(f_{half-1} t)]`.
//! Since t lives in [0, 1], the lowest frequency gives an almost linear code of t and the
//! highest resolves about 1/100 of the time interval; ln(1000)-style ranges from diffusion
//! codebases (t in [0, 1000]) would waste most features on frequencies that are flat here.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Tensor, Var};
use candle_nn::{Linear, Module};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{STREAM_INIT, stream};
use crate::{ComputeDevice, NnError};

/// Highest time-embedding frequency, in radians per unit time.
const MAX_TIME_FREQUENCY: f64 = 100.0;

/// SELU constants (Klambauer et al. 2017), as in PyTorch.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// x * sigmoid(x).
    Silu,
    /// max(0, x).
    Relu,
    /// Exact (erf) GELU, PyTorch's default.
    Gelu,
    /// Scaled ELU with PyTorch's constants.
    Selu,
}

impl Activation {
    /// Every activation, in listing order.
    pub const ALL: [Activation; 4] = [
        Activation::Silu,
        Activation::Relu,
        Activation::Gelu,
        Activation::Selu,
    ];

    /// The spec name: `silu`, `relu`, `gelu` or `selu`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Silu => "silu",
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Selu => "selu",
        }
    }

    /// The activation with this spec name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Silu => x.silu(),
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu_erf(),
            Activation::Selu => x.elu(SELU_ALPHA)? * SELU_SCALE,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
            NnError::InvalidConfig(format!(
                "unknown activation `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

/// Shape of the velocity MLP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Width of each hidden layer, input side first (may be empty: a single linear map).
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Width of the sinusoidal time embedding; even and at least 2. Default 32.
    pub time_embed_dim: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            hidden: vec![64, 64, 64],
            activation: Activation::Silu,
            time_embed_dim: 32,
        }
    }
}

impl MlpConfig {
    /// Checks the widths; `dim` is the data dimension.
    pub fn validate(&self, dim: usize) -> Result<(), NnError> {
        if dim == 0 {
            return Err(NnError::InvalidConfig(
                "data dimension must be at least 1".into(),
            ));
        }
        if self.time_embed_dim < 2 || !self.time_embed_dim.is_multiple_of(2) {
            return Err(NnError::InvalidConfig(format!(
                "time_embed_dim must be even and at least 2, got {}",
                self.time_embed_dim
            )));
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(NnError::InvalidConfig(format!(
                "hidden layer {i} has width 0"
            )));
        }
        Ok(())
    }

    /// `(in, out)` of every linear layer for data dimension `dim`.
    pub(crate) fn layer_shapes(&self, dim: usize) -> Vec<(usize, usize)> {
        let mut shapes = Vec::with_capacity(self.hidden.len() + 1);
        let mut fan_in = dim + self.time_embed_dim;
        for &w in &self.hidden {
            shapes.push((fan_in, w));
            fan_in = w;
        }
        shapes.push((fan_in, dim));
        shapes
    }
}

/// A parameter on the host: `(name, shape, row-major values)`.
pub(crate) type HostTensor = (String, Vec<usize>, Vec<f32>);

/// Name of layer `i`'s weight in checkpoints (PyTorch `Linear` layout: `[out, in]`).
pub(crate) fn weight_name(i: usize) -> String {
    format!("layers.{i}.weight")
}

/// Name of layer `i`'s bias in checkpoints (`[out]`).
pub(crate) fn bias_name(i: usize) -> String {
    format!("layers.{i}.bias")
}

/// The time-embedding frequencies for `time_embed_dim` (see the module docs).
pub(crate) fn time_frequencies(time_embed_dim: usize) -> Vec<f64> {
    let half = time_embed_dim / 2;
    if half <= 1 {
        return vec![1.0; half];
    }
    (0..half)
        .map(|k| (MAX_TIME_FREQUENCY.ln() * k as f64 / (half - 1) as f64).exp())
        .collect()
}

/// Writes `[sin(f t)..., cos(f t)...]` into `out` (length `2 * freqs.len()`), in f64 then
/// rounded to f32.
#[inline]
pub(crate) fn time_embedding(t: f64, freqs: &[f64], out: &mut [f32]) {
    let half = freqs.len();
    let (sin, cos) = out.split_at_mut(half);
    for ((f, s), c) in freqs.iter().zip(sin.iter_mut()).zip(cos.iter_mut()) {
        let (sv, cv) = (t * f).sin_cos();
        *s = sv as f32;
        *c = cv as f32;
    }
}

/// A time-conditioned velocity field `v(t, x)`: the MLP, its parameters and an NFE counter.
pub struct VelocityModel {
    cfg: MlpConfig,
    dim: usize,
    device: ComputeDevice,
    /// One per layer, input side first; the tensors share storage with `params`.
    layers: Vec<Linear>,
    /// All parameters, sorted by checkpoint name.
    params: Vec<(String, Var)>,
    freqs: Vec<f64>,
    nfe: AtomicU64,
}

impl fmt::Debug for VelocityModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VelocityModel")
            .field("cfg", &self.cfg)
            .field("dim", &self.dim)
            .field("device", &self.device.label())
            .field("parameters", &self.parameter_count())
            .field("nfe", &self.nfe())
            .finish()
    }
}

impl VelocityModel {
    /// A freshly initialised model. Weights and biases of every layer are drawn on the host,
    /// like PyTorch's `Linear` default, from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by
    /// layer (weight row-major, then bias), from the initialisation stream of `seed`.
    pub fn new_initialised(
        cfg: &MlpConfig,
        dim: usize,
        seed: u64,
        device: &ComputeDevice,
    ) -> Result<Self, NnError> {
        cfg.validate(dim)?;
        let mut rng = stream(seed, STREAM_INIT);
        let mut values = Vec::new();
        for (i, (fan_in, fan_out)) in cfg.layer_shapes(dim).into_iter().enumerate() {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * bound) as f32)
                    .collect()
            };
            let w = draw(fan_out * fan_in);
            let b = draw(fan_out);
            values.push((weight_name(i), vec![fan_out, fan_in], w));
            values.push((bias_name(i), vec![fan_out], b));
        }
        Self::from_host_values(cfg, dim, values, device)
    }

    /// Builds the model from host parameter values `(name, shape, data)`; every expected
    /// parameter must be present exactly once with the expected shape.
    pub(crate) fn from_host_values(
        cfg: &MlpConfig,
        dim: usize,
        values: Vec<HostTensor>,
        device: &ComputeDevice,
    ) -> Result<Self, NnError> {
        cfg.validate(dim)?;
        let shapes = cfg.layer_shapes(dim);
        let mut by_name: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> =
            std::collections::BTreeMap::new();
        for (name, shape, data) in values {
            if shape.iter().product::<usize>() != data.len() {
                return Err(NnError::Internal(format!(
                    "parameter {name}: shape {shape:?} does not match {} values",
                    data.len()
                )));
            }
            if by_name.insert(name.clone(), (shape, data)).is_some() {
                return Err(NnError::InvalidInput(format!("duplicate parameter {name}")));
            }
        }
        let dev = device.device();
        let mut layers = Vec::with_capacity(shapes.len());
        let mut params = Vec::with_capacity(2 * shapes.len());
        for (i, &(fan_in, fan_out)) in shapes.iter().enumerate() {
            let mut take = |name: String, want: Vec<usize>| -> Result<Var, NnError> {
                let (shape, data) = by_name
                    .remove(&name)
                    .ok_or_else(|| NnError::InvalidInput(format!("missing parameter {name}")))?;
                if shape != want {
                    return Err(NnError::InvalidInput(format!(
                        "parameter {name} has shape {shape:?}, the model needs {want:?}"
                    )));
                }
                let var = Var::from_tensor(&Tensor::from_vec(data, shape, dev)?)?;
                params.push((name, var.clone()));
                Ok(var)
            };
            let w = take(weight_name(i), vec![fan_out, fan_in])?;
            let b = take(bias_name(i), vec![fan_out])?;
            layers.push(Linear::new(
                w.as_tensor().clone(),
                Some(b.as_tensor().clone()),
            ));
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(NnError::InvalidInput(format!(
                "unexpected parameter {extra} for this model configuration"
            )));
        }
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(VelocityModel {
            cfg: cfg.clone(),
            dim,
            device: device.clone(),
            layers,
            params,
            freqs: time_frequencies(cfg.time_embed_dim),
            nfe: AtomicU64::new(0),
        })
    }

    /// The network shape.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// The data dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The device holding the parameters.
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// Number of scalar parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Number of network forward calls made on this model so far (a batch counts once).
    /// [`crate::train_flow_matching`] resets it before returning, so a freshly trained model
    /// reads 0.
    pub fn nfe(&self) -> u64 {
        self.nfe.load(Ordering::Relaxed)
    }

    /// Sets the forward-call counter back to 0.
    pub fn reset_nfe(&self) {
        self.nfe.store(0, Ordering::Relaxed);
    }

    /// Evaluates `v(t, x)` for row-major `points` (n x dim) at the common time `t`, on the
    /// host side of the API. One forward call.
    pub fn velocity(&self, t: f64, points: &[f32]) -> Result<Vec<f32>, NnError> {
        if !points.len().is_multiple_of(self.dim) {
            return Err(NnError::InvalidInput(format!(
                "{} values is not a whole number of {}-dimensional points",
                points.len(),
                self.dim
            )));
        }
        let n = points.len() / self.dim;
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::from_slice(points, (n, self.dim), self.device.device())?;
        let v = self.evaluator().velocity_at(t, &x)?;
        Ok(v.flatten_all()?.to_vec1::<f32>()?)
    }

    /// The parameters as candle variables, sorted by name (for the optimiser).
    pub(crate) fn vars(&self) -> Vec<Var> {
        self.params.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The parameters as `(name, shape, host values)`, sorted by name.
    pub(crate) fn host_values(&self) -> Result<Vec<HostTensor>, NnError> {
        self.params
            .iter()
            .map(|(name, v)| {
                let t = v.as_tensor();
                let shape = t.dims().to_vec();
                let data = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                Ok((name.clone(), shape, data))
            })
            .collect()
    }

    /// Whether every parameter is finite (one device-to-host scalar per parameter tensor).
    pub(crate) fn parameters_finite(&self) -> Result<bool, NnError> {
        for (_, v) in &self.params {
            let s = v
                .as_tensor()
                .sum_all()?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            // A sum is NaN/inf if any element is; a finite-element overflow also counts as
            // divergence here, which is what we want for parameters of that size.
            if !s.is_finite() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(crate) fn time_embed_dim(&self) -> usize {
        self.cfg.time_embed_dim
    }

    pub(crate) fn freqs(&self) -> &[f64] {
        &self.freqs
    }

    /// The network on an already assembled input `[x, emb(t)]` (rows x (dim + time_embed_dim)),
    /// with the training layers (tracked by autograd). Counts one forward call.
    pub(crate) fn forward_train(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        self.nfe.fetch_add(1, Ordering::Relaxed);
        run_layers(&self.layers, self.cfg.activation, input)
    }

    /// An evaluator for sampling and evaluation (no autograd graph, own call counter).
    pub(crate) fn evaluator(&self) -> Evaluator<'_> {
        Evaluator {
            model: self,
            layers: self
                .layers
                .iter()
                .map(|l| Linear::new(l.weight().detach(), l.bias().map(Tensor::detach)))
                .collect(),
            calls: 0,
        }
    }
}

/// `Linear + activation` for every layer but the last, then the last `Linear`.
fn run_layers(
    layers: &[Linear],
    activation: Activation,
    input: &Tensor,
) -> candle_core::Result<Tensor> {
    let mut h = input.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = layer.forward(&h)?;
        if i + 1 < layers.len() {
            h = activation.apply(&h)?;
        }
    }
    Ok(h)
}

/// Evaluates `v(t, x)` on detached views of a model's weights (same storage, so no autograd
/// graph is built). Every forward call is counted both here (per evaluator, so concurrent
/// users of one model do not disturb each other's counts) and on the model.
pub(crate) struct Evaluator<'a> {
    model: &'a VelocityModel,
    layers: Vec<Linear>,
    calls: u64,
}

impl Evaluator<'_> {
    /// Forward calls made through this evaluator.
    pub(crate) fn calls(&self) -> u64 {
        self.calls
    }

    /// `v(t, x)` for a state tensor `x` (rows x dim) at the common time `t`: one forward call.
    pub(crate) fn velocity_at(&mut self, t: f64, x: &Tensor) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        let e = self.model.time_embed_dim();
        let mut emb = vec![0f32; e];
        time_embedding(t, &self.model.freqs, &mut emb);
        let emb = Tensor::from_vec(emb, (1, e), x.device())?
            .broadcast_as((rows, e))?
            .contiguous()?;
        let input = Tensor::cat(&[x, &emb], 1)?;
        self.calls += 1;
        self.model.nfe.fetch_add(1, Ordering::Relaxed);
        run_layers(&self.layers, self.model.cfg.activation, &input)
    }
}
