//! The networks: a time-conditioned plain MLP and the residual MLP of AGM's toy code, built
//! from host-initialised candle `Var`s, with host-computed time features and an NFE counter.
//!
//! A network maps a state row (width `state_dim`: d, or 2d for phase-space methods) and an
//! engine time t (prior 0, data 1) to an output row (width `out_dim`). The time feature is
//! computed on the host ([`TimeFeature`]), so the same network serves every method:
//! - `mlp`: `[state, feature(t)] -> (Linear + activation) per hidden width -> Linear`.
//! - `res_mlp` (AGM's toy ResNet): `h = Linear([state, feature(t)])`, then `depth` residual
//!   blocks `h <- act(h + Linear([h, feature(t)]))`, then a zero-initialised `Linear` to
//!   `out_dim` (so an untrained model outputs exactly 0).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Tensor, Var};
use candle_nn::{Linear, Module};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{STREAM_INIT, stream};
use crate::{ComputeDevice, NnError};

/// Highest sinusoidal time frequency, in radians per unit time.
const MAX_TIME_FREQUENCY: f64 = 100.0;

/// `log1m` clamps `1 - t` from below so that t = 1 (reached by some ODE solvers' last stage)
/// gives a large finite feature instead of -inf.
pub const LOG1M_FLOOR: f64 = 1e-6;

/// SELU constants (Klambauer et al. 2017), as in PyTorch.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
/// (alpha, scale) of SELU, for the host-side passes.
pub(crate) const SELU_CONSTANTS: (f64, f64) = (SELU_ALPHA, SELU_SCALE);

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

    /// The spec name.
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

/// How the engine time t enters the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimeFeature {
    /// `dim` features `[sin(f_k t)..., cos(f_k t)...]`, `f_k = exp(ln(100) k / (dim/2 - 1))`
    /// (geometric from 1 to 100 rad per unit time; `f_0 = 1` when dim = 2). `dim` even, >= 2.
    Sinusoidal { dim: usize },
    /// One feature `ln(max(1 - t, 1e-6))`: AGM's toy network (its wrapper feeds 1 - t and the
    /// backbone takes the log).
    Log1m,
    /// One feature: t itself.
    Raw,
}

impl TimeFeature {
    /// Width of the feature vector.
    pub fn dim(&self) -> usize {
        match self {
            TimeFeature::Sinusoidal { dim } => *dim,
            TimeFeature::Log1m | TimeFeature::Raw => 1,
        }
    }

    /// The spec name.
    pub fn name(&self) -> &'static str {
        match self {
            TimeFeature::Sinusoidal { .. } => "sinusoidal",
            TimeFeature::Log1m => "log1m",
            TimeFeature::Raw => "raw",
        }
    }

    fn validate(&self) -> Result<(), NnError> {
        if let TimeFeature::Sinusoidal { dim } = self
            && (*dim < 2 || !dim.is_multiple_of(2))
        {
            return Err(NnError::InvalidConfig(format!(
                "the sinusoidal time embedding needs an even width of at least 2, got {dim}"
            )));
        }
        Ok(())
    }

    /// Writes the feature of time `t` into `out` (length [`TimeFeature::dim`]), in f64 then
    /// rounded to f32.
    pub fn write(&self, t: f64, out: &mut [f32]) {
        match self {
            TimeFeature::Sinusoidal { dim } => {
                let half = dim / 2;
                let (sin, cos) = out.split_at_mut(half);
                for k in 0..half {
                    let f = if half <= 1 {
                        1.0
                    } else {
                        (MAX_TIME_FREQUENCY.ln() * k as f64 / (half - 1) as f64).exp()
                    };
                    let (s, c) = (t * f).sin_cos();
                    sin[k] = s as f32;
                    cos[k] = c as f32;
                }
            }
            TimeFeature::Log1m => out[0] = (1.0 - t).max(LOG1M_FLOOR).ln() as f32,
            TimeFeature::Raw => out[0] = t as f32,
        }
    }
}

/// The architecture.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum Arch {
    /// Plain MLP with these hidden widths (input side first; may be empty).
    Mlp { hidden: Vec<usize> },
    /// Residual MLP: an input projection to `width`, `depth` residual blocks, zero-initialised output.
    ResMlp { width: usize, depth: usize },
}

/// Everything that fixes a network's shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetConfig {
    pub arch: Arch,
    pub activation: Activation,
    pub time: TimeFeature,
    /// Width of a state row.
    pub state_dim: usize,
    /// Width of an output row.
    pub out_dim: usize,
}

/// One linear layer of the parameter layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerShape {
    pub name: String,
    pub fan_in: usize,
    pub fan_out: usize,
    pub zero_init: bool,
}

impl NetConfig {
    /// Checks widths and dimensions.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.state_dim == 0 || self.out_dim == 0 {
            return Err(NnError::InvalidConfig(format!(
                "state and output widths must be at least 1, got {} and {}",
                self.state_dim, self.out_dim
            )));
        }
        self.time.validate()?;
        match &self.arch {
            Arch::Mlp { hidden } => {
                if let Some(i) = hidden.iter().position(|&w| w == 0) {
                    return Err(NnError::InvalidConfig(format!(
                        "hidden layer {i} has width 0"
                    )));
                }
            }
            Arch::ResMlp { width, .. } => {
                if *width == 0 {
                    return Err(NnError::InvalidConfig(
                        "res_mlp width must be at least 1".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The linear layers, in forward order.
    pub(crate) fn layers(&self) -> Vec<LayerShape> {
        let e = self.time.dim();
        let layer = |name: String, fan_in, fan_out, zero_init| LayerShape {
            name,
            fan_in,
            fan_out,
            zero_init,
        };
        match &self.arch {
            Arch::Mlp { hidden } => {
                let mut out = Vec::with_capacity(hidden.len() + 1);
                let mut fan_in = self.state_dim + e;
                for (i, &w) in hidden.iter().enumerate() {
                    out.push(layer(format!("layers.{i}"), fan_in, w, false));
                    fan_in = w;
                }
                out.push(layer(
                    format!("layers.{}", hidden.len()),
                    fan_in,
                    self.out_dim,
                    false,
                ));
                out
            }
            Arch::ResMlp { width, depth } => {
                let mut out = vec![layer("input".into(), self.state_dim + e, *width, false)];
                for i in 0..*depth {
                    out.push(layer(format!("blocks.{i:03}"), width + e, *width, false));
                }
                out.push(layer("output".into(), *width, self.out_dim, true));
                out
            }
        }
    }
}

/// A parameter on the host: `(name, shape, row-major values)`.
pub(crate) type HostTensor = (String, Vec<usize>, Vec<f32>);

/// A network, its parameters and its forward-call counter.
pub struct Network {
    cfg: NetConfig,
    device: ComputeDevice,
    /// In forward order; the tensors share storage with `params`.
    layers: Vec<Linear>,
    /// All parameters, sorted by checkpoint name.
    params: Vec<(String, Var)>,
    pub(crate) nfe: AtomicU64,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("cfg", &self.cfg)
            .field("device", &self.device.label())
            .field("parameters", &self.parameter_count())
            .field("nfe", &self.nfe())
            .finish()
    }
}

impl Network {
    /// A freshly initialised network. Every layer is drawn on the host, like PyTorch's
    /// `Linear` default, from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by layer in forward
    /// order (weight row-major, then bias), from the initialisation stream of `seed`; a
    /// zero-initialised layer consumes no draws.
    pub fn new_initialised(
        cfg: &NetConfig,
        seed: u64,
        device: &ComputeDevice,
    ) -> Result<Self, NnError> {
        cfg.validate()?;
        let mut rng = stream(seed, STREAM_INIT);
        let mut values = Vec::new();
        for l in cfg.layers() {
            let bound = 1.0 / (l.fan_in as f64).sqrt();
            let mut draw = |len: usize| -> Vec<f32> {
                if l.zero_init {
                    return vec![0.0; len];
                }
                (0..len)
                    .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * bound) as f32)
                    .collect()
            };
            let w = draw(l.fan_out * l.fan_in);
            let b = draw(l.fan_out);
            values.push((format!("{}.weight", l.name), vec![l.fan_out, l.fan_in], w));
            values.push((format!("{}.bias", l.name), vec![l.fan_out], b));
        }
        Self::from_host_values(cfg, values, device)
    }

    /// Builds the network from host parameter values; every expected parameter must be
    /// present exactly once with the expected shape.
    pub(crate) fn from_host_values(
        cfg: &NetConfig,
        values: Vec<HostTensor>,
        device: &ComputeDevice,
    ) -> Result<Self, NnError> {
        cfg.validate()?;
        let mut by_name = std::collections::BTreeMap::new();
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
        let shapes = cfg.layers();
        let mut layers = Vec::with_capacity(shapes.len());
        let mut params = Vec::with_capacity(2 * shapes.len());
        for l in &shapes {
            let mut take = |name: String, want: Vec<usize>| -> Result<Var, NnError> {
                let (shape, data) = by_name
                    .remove(&name)
                    .ok_or_else(|| NnError::InvalidInput(format!("missing parameter {name}")))?;
                if shape != want {
                    return Err(NnError::InvalidInput(format!(
                        "parameter {name} has shape {shape:?}, the network needs {want:?}"
                    )));
                }
                let var = Var::from_tensor(&Tensor::from_vec(data, shape, dev)?)?;
                params.push((name, var.clone()));
                Ok(var)
            };
            let w = take(format!("{}.weight", l.name), vec![l.fan_out, l.fan_in])?;
            let b = take(format!("{}.bias", l.name), vec![l.fan_out])?;
            layers.push(Linear::new(
                w.as_tensor().clone(),
                Some(b.as_tensor().clone()),
            ));
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(NnError::InvalidInput(format!(
                "unexpected parameter {extra} for this network configuration"
            )));
        }
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Network {
            cfg: cfg.clone(),
            device: device.clone(),
            layers,
            params,
            nfe: AtomicU64::new(0),
        })
    }

    /// The network shape.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The device holding the parameters.
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Network forward calls made so far on this network (a batch counts once).
    pub fn nfe(&self) -> u64 {
        self.nfe.load(Ordering::Relaxed)
    }

    /// Sets the forward-call counter back to 0.
    pub fn reset_nfe(&self) {
        self.nfe.store(0, Ordering::Relaxed);
    }

    /// The parameters as candle variables, sorted by name.
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

    /// Copies another network's parameters (same configuration) into this one.
    pub fn load_from(&self, other: &Network) -> Result<(), NnError> {
        if other.cfg != self.cfg {
            return Err(NnError::InvalidInput(format!(
                "cannot initialise a {:?} network from a {:?} one",
                self.cfg, other.cfg
            )));
        }
        for ((_, dst), (_, src)) in self.params.iter().zip(&other.params) {
            dst.set(&src.as_tensor().to_device(dst.device())?)?;
        }
        Ok(())
    }

    /// Whether every parameter is finite.
    pub(crate) fn parameters_finite(&self) -> Result<bool, NnError> {
        for (_, v) in &self.params {
            // 0 * x is 0 for every finite x and NaN otherwise, so the sum is 0 exactly when all
            // values are finite (a plain sum of large finite values could overflow to inf).
            let s = v
                .as_tensor()
                .affine(0.0, 0.0)?
                .sum_all()?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            if !s.is_finite() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The forward pass on a state tensor (rows x state_dim) and a time-feature tensor
    /// (rows x feature dim), with the training layers (tracked by autograd). Counts one call.
    pub(crate) fn forward_train(
        &self,
        state: &Tensor,
        time: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.nfe.fetch_add(1, Ordering::Relaxed);
        forward(&self.cfg, &self.layers, state, time)
    }

    /// An evaluator for sampling (its own call counter). On the CPU it runs the fast host
    /// forward pass (`fast::FastForward`) on a copy of the parameters taken at its
    /// first call, so weights changed afterwards (`load_from`) need a new evaluator; elsewhere
    /// candle's forward pass on detached weights (no autograd graph).
    pub fn evaluator(&self) -> Evaluator<'_> {
        let path = if crate::fast::supported(&self.cfg, &self.device) {
            EvalPath::Pending
        } else {
            EvalPath::Candle
        };
        self.evaluator_with(path)
    }

    /// An evaluator that always runs candle's forward pass (the reference the fast path is
    /// tested against).
    #[cfg(test)]
    pub(crate) fn candle_evaluator(&self) -> Evaluator<'_> {
        self.evaluator_with(EvalPath::Candle)
    }

    fn evaluator_with(&self, path: EvalPath) -> Evaluator<'_> {
        Evaluator {
            net: self,
            layers: self
                .layers
                .iter()
                .map(|l| Linear::new(l.weight().detach(), l.bias().map(Tensor::detach)))
                .collect(),
            path,
            calls: 0,
        }
    }

    /// The last hidden layer's activations (the output layer's input) on host rows at time
    /// `t`: `(rows x width values, width)`. A feature extractor (the `fd` metric's); not counted
    /// as a network evaluation of a sampler.
    pub fn features(&self, t: f64, state: &[f32]) -> Result<(Vec<f32>, usize), NnError> {
        let rows = state_rows(&self.cfg, state)?;
        let (x, time) = host_inputs(&self.cfg, &self.device, t, state, rows)?;
        let hidden = &self.layers[..self.layers.len() - 1];
        let h = hidden_features(&self.cfg, hidden, &x, &time)?;
        let width = h.dim(1)?;
        Ok((h.flatten_all()?.to_vec1::<f32>()?, width))
    }

    /// Evaluates the network on host rows at the common time `t`: one forward call.
    pub fn eval_host(&self, t: f64, state: &[f32]) -> Result<Vec<f32>, NnError> {
        self.evaluator().eval(t, state)
    }
}

/// The number of `state_dim`-wide rows in `state`, or an error when it is ragged.
fn state_rows(cfg: &NetConfig, state: &[f32]) -> Result<usize, NnError> {
    if !state.len().is_multiple_of(cfg.state_dim) {
        return Err(NnError::InvalidInput(format!(
            "{} values is not a whole number of {}-wide state rows",
            state.len(),
            cfg.state_dim
        )));
    }
    Ok(state.len() / cfg.state_dim)
}

/// Host rows and the time feature at `t` as the network's input tensors.
fn host_inputs(
    cfg: &NetConfig,
    device: &ComputeDevice,
    t: f64,
    state: &[f32],
    rows: usize,
) -> Result<(Tensor, Tensor), NnError> {
    let dev = device.device();
    let e = cfg.time.dim();
    let mut feature = vec![0f32; e];
    cfg.time.write(t, &mut feature);
    let time = Tensor::from_vec(feature, (1, e), dev)?
        .broadcast_as((rows, e))?
        .contiguous()?;
    let x = Tensor::from_slice(state, (rows, cfg.state_dim), dev)?;
    Ok((x, time))
}

fn forward(
    cfg: &NetConfig,
    layers: &[Linear],
    state: &Tensor,
    time: &Tensor,
) -> candle_core::Result<Tensor> {
    let (hidden, output) = layers.split_at(layers.len() - 1);
    output[0].forward(&hidden_features(cfg, hidden, state, time)?)
}

/// The input of the output layer: everything but the last linear map of [`forward`].
fn hidden_features(
    cfg: &NetConfig,
    hidden: &[Linear],
    state: &Tensor,
    time: &Tensor,
) -> candle_core::Result<Tensor> {
    match &cfg.arch {
        Arch::Mlp { .. } => {
            let mut h = Tensor::cat(&[state, time], 1)?;
            for layer in hidden {
                h = cfg.activation.apply(&layer.forward(&h)?)?;
            }
            Ok(h)
        }
        Arch::ResMlp { .. } => {
            let (input, blocks) = hidden.split_first().expect("input layer");
            let mut h = input.forward(&Tensor::cat(&[state, time], 1)?)?;
            for block in blocks {
                let update = block.forward(&Tensor::cat(&[&h, time], 1)?)?;
                h = cfg.activation.apply(&(h + update)?)?;
            }
            Ok(h)
        }
    }
}

/// Evaluates a network: on the CPU through the fast host forward pass, elsewhere on detached
/// views of its weights (same storage, no autograd graph). Every forward call is counted here
/// and on the network.
pub struct Evaluator<'a> {
    net: &'a Network,
    layers: Vec<Linear>,
    path: EvalPath,
    calls: u64,
}

/// Which forward pass an [`Evaluator`] runs.
enum EvalPath {
    /// The fast host path, its parameters not copied yet: the copy can fail and
    /// [`Network::evaluator`] cannot, so it is made by the first call with rows.
    Pending,
    Fast(Box<crate::fast::FastForward>),
    /// candle's forward pass (CUDA, or a configuration the fast path refuses).
    Candle,
}

impl Evaluator<'_> {
    /// Forward calls made through this evaluator.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The network's configuration.
    pub fn config(&self) -> &NetConfig {
        &self.net.cfg
    }

    /// Whether the fast host path has served this evaluator's calls.
    #[cfg(test)]
    pub(crate) fn runs_fast(&self) -> bool {
        matches!(self.path, EvalPath::Fast(_))
    }

    /// One forward call on host rows (`rows x state_dim`, f32) at the common time `t`.
    pub fn eval(&mut self, t: f64, state: &[f32]) -> Result<Vec<f32>, NnError> {
        let cfg = &self.net.cfg;
        let rows = state_rows(cfg, state)?;
        // A call is an NFE whatever its row count, so a sampler's count and ours agree.
        self.calls += 1;
        self.net.nfe.fetch_add(1, Ordering::Relaxed);
        if rows == 0 {
            return Ok(Vec::new());
        }
        if matches!(self.path, EvalPath::Pending) {
            self.path = EvalPath::Fast(Box::new(crate::fast::FastForward::from_network(self.net)?));
        }
        if let EvalPath::Fast(fast) = &mut self.path {
            return Ok(fast.eval(t, state, rows));
        }
        let (x, time) = host_inputs(cfg, &self.net.device, t, state, rows)?;
        let out = forward(cfg, &self.layers, &x, &time)?;
        Ok(out.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// A network as a sampler's [`drift_dynamics::Field`]: f64 host state in, f64 output out,
/// rounded through f32 at the network boundary. Each `eval` is one counted forward call.
pub struct NetField<'a> {
    evaluator: Evaluator<'a>,
    buffer: Vec<f32>,
}

impl<'a> NetField<'a> {
    pub fn new(net: &'a Network) -> Self {
        NetField {
            evaluator: net.evaluator(),
            buffer: Vec::new(),
        }
    }

    /// Forward calls made through this field.
    pub fn calls(&self) -> u64 {
        self.evaluator.calls()
    }
}

impl drift_dynamics::Field for NetField<'_> {
    fn state_dim(&self) -> usize {
        self.evaluator.config().state_dim
    }

    fn out_dim(&self) -> usize {
        self.evaluator.config().out_dim
    }

    fn eval(
        &mut self,
        t: f64,
        state: &[f64],
        out: &mut [f64],
    ) -> Result<(), drift_dynamics::DynamicsError> {
        self.buffer.clear();
        self.buffer.extend(state.iter().map(|&v| v as f32));
        let y = self
            .evaluator
            .eval(t, &self.buffer)
            .map_err(|e| drift_dynamics::DynamicsError::Field(e.to_string()))?;
        if y.len() != out.len() {
            return Err(drift_dynamics::DynamicsError::Field(format!(
                "the network returned {} values where {} were expected",
                y.len(),
                out.len()
            )));
        }
        for (o, v) in out.iter_mut().zip(y) {
            *o = f64::from(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net_with(value: f32) -> Network {
        let cfg = NetConfig {
            arch: Arch::Mlp { hidden: vec![3] },
            activation: Activation::Silu,
            time: TimeFeature::Raw,
            state_dim: 2,
            out_dim: 2,
        };
        let values = cfg
            .layers()
            .iter()
            .flat_map(|l| {
                [
                    (
                        format!("{}.weight", l.name),
                        vec![l.fan_out, l.fan_in],
                        vec![value; l.fan_out * l.fan_in],
                    ),
                    (
                        format!("{}.bias", l.name),
                        vec![l.fan_out],
                        vec![value; l.fan_out],
                    ),
                ]
            })
            .collect();
        Network::from_host_values(&cfg, values, &ComputeDevice::cpu()).unwrap()
    }

    #[test]
    fn huge_finite_parameters_are_finite() {
        // Their plain sum overflows f32; the check must not call them infinite.
        assert!(net_with(3e38).parameters_finite().unwrap());
        assert!(!net_with(f32::NAN).parameters_finite().unwrap());
        assert!(!net_with(f32::INFINITY).parameters_finite().unwrap());
    }

    #[test]
    fn a_call_with_no_rows_still_counts() {
        let net = net_with(0.5);
        let mut eval = net.evaluator();
        assert!(eval.eval(0.3, &[]).unwrap().is_empty());
        assert_eq!(eval.calls(), 1);
        assert_eq!(net.nfe(), 1);
    }
}
