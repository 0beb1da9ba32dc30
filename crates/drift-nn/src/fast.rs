//! The fast CPU training path: host-buffer forward pass, hand-derived backward pass, weighted
//! MSE loss and a fused AdamW / gradient-clip / EMA update for every [`Arch`] and
//! [`Activation`], used by [`crate::train`] on the CPU instead of candle autograd; and
//! [`FastForward`], the same forward pass without gradients, behind every CPU
//! [`crate::Evaluator`] (sampling, likelihoods, figures).
//!
//! Parameters, moments and activations live in host `f32` buffers. Matrix products go through
//! the gemm kernel candle's CPU matmul uses, on strided views ([`crate::host_gemm`]: no
//! transpose or concatenation is ever materialised, no autograd graph is built); everything
//! else (bias, residual, time-feature columns, activations and their derivatives, loss, AdamW)
//! is plain Rust in a fixed order, vectorised through `pulp`'s run-time dispatch without FMA
//! contraction.
//!
//! Threads: a batch is cut into chunks of [`CHUNK_ROWS`] rows fixed by the batch size alone;
//! each chunk's forward and backward pass runs single-threaded, chunks run in parallel on the
//! current rayon pool, and their gradients are added in chunk order. So a run is
//! bit-reproducible and gives the same bits at any thread count (tested below with 1 and 3
//! threads). The AdamW update repeats candle's `AdamW::step` operation by operation in `f32`
//! (bit-identical for the same gradients); gradients agree with candle autograd to rounding
//! (checked below to 1e-5 relative).
//!
//! Layout: the weights keep the network's layout (`fan_out x fan_in`, row-major); a residual
//! block's weight is `[W_h | W_t]` (state columns, then time-feature columns), multiplied as
//! `h W_h^T` through a strided view plus a small explicit loop for `t W_t^T`.

use drift_dynamics::TrainBatch;

use crate::host_gemm::{View, matmul_into};
use crate::net::HostTensor;
use crate::resume::{Checkpoints, TrainState};
use crate::train::{TrainConfig, TrainProgress, Trained, check_batch};
use crate::{Activation, Arch, ComputeDevice, NetConfig, Network, NnError};

/// SELU constants (as in net.rs and PyTorch).
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

/// Whether [`train_fast`] handles this configuration on this device.
pub(crate) fn supported(_cfg: &NetConfig, device: &ComputeDevice) -> bool {
    device.class() == "cpu"
}

/// An element-wise kernel run through [`pulp::Arch::dispatch`]: `with_simd` is instantiated
/// once per instruction set (AVX2/FMA, AVX-512, ... chosen at run time) and its
/// `#[inline(always)]` body is compiled for it, so the loop inside vectorises to full width. No
/// operation is contracted into an FMA, so the results are the same bits on every instruction
/// set.
macro_rules! simd_kernel {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? } => $body:expr) => {
        $(#[$doc])*
        struct $name<'a> {
            $($field: $ty,)*
            _life: std::marker::PhantomData<&'a ()>,
        }

        impl pulp::WithSimd for $name<'_> {
            type Output = ();

            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _simd: S) {
                let $name { $($field,)* .. } = self;
                $body
            }
        }
    };
}

simd_kernel! {
    /// The activation in place, its derivative into `d`.
    ActivateKernel { act: Activation, z: &'a mut [f32], d: &'a mut [f32] } =>
        activate_scalar(act, z, d)
}

simd_kernel! {
    /// One fused AdamW update of a parameter tensor; `k` holds
    /// `[beta1, 1 - beta1, beta2, 1 - beta2, scale_m, scale_v, eps, decay, lr]`.
    AdamKernel {
        theta: &'a mut [f32],
        g: &'a [f32],
        m: &'a mut [f32],
        v: &'a mut [f32],
        k: [f32; 9],
    } => adam_scalar(theta, g, m, v, k)
}

simd_kernel! {
    /// `avg <- avg * d + p * c`.
    EmaKernel { avg: &'a mut [f32], p: &'a [f32], d: f32, c: f32 } => {
        for (a, p) in avg.iter_mut().zip(p) {
            *a = *a * d + *p * c;
        }
    }
}

/// `exp(x)` in `f32` (Cephes `expf`: Cody-Waite reduction and a degree-6 polynomial, about
/// 1 ulp), written so the compiler can vectorise loops over it. Arguments are clamped to
/// [-87, 88]; NaN stays NaN.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if x < -87.0 { -87.0 } else { x };
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * C1;
    let r = r - n * C2;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    // 2^n without a float-to-int conversion (which would not vectorise): n + 127 is an
    // integer in [1, 254], so (n + 127 + 2^23) holds it in its low mantissa bits.
    let scale = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    y * scale
}

/// Applies the activation to `z` in place and writes its derivative at the old `z` into `d`.
fn activate(act: Activation, z: &mut [f32], d: &mut [f32]) {
    pulp::Arch::new().dispatch(ActivateKernel {
        act,
        z,
        d,
        _life: std::marker::PhantomData,
    });
}

#[inline(always)]
fn activate_scalar(act: Activation, z: &mut [f32], d: &mut [f32]) {
    match act {
        Activation::Silu => {
            for (z, d) in z.iter_mut().zip(d.iter_mut()) {
                let x = *z;
                let s = 1.0 / (1.0 + exp_f32(-x));
                *z = x * s;
                *d = s * (1.0 + x * (1.0 - s));
            }
        }
        Activation::Relu => {
            for (z, d) in z.iter_mut().zip(d.iter_mut()) {
                let x = *z;
                // As candle: relu = max(x, 0), derivative 1 where x >= 0.
                *d = if x >= 0.0 { 1.0 } else { 0.0 };
                *z = x.max(0.0);
            }
        }
        Activation::Gelu => {
            const INV_SQRT_2PI: f32 = 0.398_942_3;
            for (z, d) in z.iter_mut().zip(d.iter_mut()) {
                let x = *z;
                let cdf = 0.5
                    * (1.0 + candle_core::cpu::erf::erf_f32(x * std::f32::consts::FRAC_1_SQRT_2));
                *z = x * cdf;
                *d = cdf + x * INV_SQRT_2PI * exp_f32(-0.5 * x * x);
            }
        }
        Activation::Selu => {
            for (z, d) in z.iter_mut().zip(d.iter_mut()) {
                let x = *z;
                let e = SELU_ALPHA * exp_f32(x);
                // As candle: elu keeps x where x >= 0 (sign-positive), derivative 1 where x > 0.
                *z = SELU_SCALE * if x >= 0.0 { x } else { e - SELU_ALPHA };
                *d = SELU_SCALE * if x > 0.0 { 1.0 } else { e };
            }
        }
    }
}

simd_kernel! {
    /// The activation in place, without its derivative (forward-only evaluation).
    ActivateValueKernel { act: Activation, z: &'a mut [f32] } =>
        activate_value_scalar(act, z)
}

/// Applies the activation to `z` in place (no derivative).
fn activate_value(act: Activation, z: &mut [f32]) {
    pulp::Arch::new().dispatch(ActivateValueKernel {
        act,
        z,
        _life: std::marker::PhantomData,
    });
}

/// The values of [`activate_scalar`], expression for expression, so that evaluation and
/// training's forward pass give the same bits (tested below); only the derivative is dropped.
#[inline(always)]
fn activate_value_scalar(act: Activation, z: &mut [f32]) {
    match act {
        Activation::Silu => {
            for z in z.iter_mut() {
                let x = *z;
                let s = 1.0 / (1.0 + exp_f32(-x));
                *z = x * s;
            }
        }
        Activation::Relu => {
            for z in z.iter_mut() {
                *z = z.max(0.0);
            }
        }
        Activation::Gelu => {
            for z in z.iter_mut() {
                let x = *z;
                let cdf = 0.5
                    * (1.0 + candle_core::cpu::erf::erf_f32(x * std::f32::consts::FRAC_1_SQRT_2));
                *z = x * cdf;
            }
        }
        Activation::Selu => {
            for z in z.iter_mut() {
                let x = *z;
                let e = SELU_ALPHA * exp_f32(x);
                *z = SELU_SCALE * if x >= 0.0 { x } else { e - SELU_ALPHA };
            }
        }
    }
}

/// Rows per chunk of a training batch. The batch is cut into chunks of this many rows (the
/// last one shorter) whatever the thread count; each chunk's forward and backward pass runs on
/// one thread, and the chunk gradients are added in chunk order. So the partition, and with it
/// every bit of the result, depends on the batch size alone, while the chunks spread over as
/// many threads as the current rayon pool has.
const CHUNK_ROWS: usize = 128;

/// One linear layer: weight `fan_out x fan_in` (row-major), bias, and the batch gradients.
struct Layer {
    fan_in: usize,
    fan_out: usize,
    w: Vec<f32>,
    b: Vec<f32>,
    gw: Vec<f32>,
    gb: Vec<f32>,
}

impl Layer {
    fn weight_view(&self) -> View {
        View::rowmajor(self.fan_out, self.fan_in)
    }
}

/// A network's parameters on the host, with the forward and backward pass.
pub(crate) struct FastNet {
    cfg: NetConfig,
    /// In forward order (the order of [`NetConfig::layers`]).
    layers: Vec<Layer>,
    /// For each residual block, its time-feature weight columns transposed (`e x width`),
    /// refreshed from the weights at the start of every pass.
    time_cols: Vec<Vec<f32>>,
    /// One workspace per chunk, kept across steps so that every pass overwrites buffers
    /// instead of freeing and re-faulting megabytes.
    chunks: Vec<ChunkWork>,
}

/// What one chunk's pass reads: its rows of the batch, and the batch-wide loss scale.
#[derive(Clone, Copy)]
struct ChunkInput<'a> {
    state: &'a [f32],
    feature: &'a [f32],
    target: &'a [f32],
    weight: &'a [f32],
    rows: usize,
    /// `2 / (batch rows x out_dim)`: the loss is a mean over the whole batch.
    scale: f32,
}

/// The buffers of one chunk's pass.
#[derive(Default)]
struct ChunkWork {
    /// Slot i: the input of the i-th linear map (slot 0 the network input).
    acts: Vec<Vec<f32>>,
    /// Activation derivatives, one slot per activated layer.
    derivs: Vec<Vec<f32>>,
    /// The chunk's prediction.
    pred: Vec<f32>,
    /// Gradient with respect to the current layer's output, and the next one's.
    delta: Vec<f32>,
    delta_next: Vec<f32>,
    /// Scratch for a residual block's state-column gradient and time-column sums.
    block_w: Vec<f32>,
    block_t: Vec<f32>,
    /// The chunk's parameter gradients, `(weight, bias)` per layer in forward order.
    grads: Vec<(Vec<f32>, Vec<f32>)>,
    /// The chunk's sum over rows of `weight[row] * sum_j (pred - target)^2`.
    loss_sum: f64,
}

impl ChunkWork {
    /// Sizes the slot vectors for `layers` linear layers (buffer contents unspecified).
    fn prepare(&mut self, layers: &[Layer]) {
        self.acts.resize_with(layers.len(), Vec::new);
        self.derivs.resize_with(layers.len(), Vec::new);
        self.grads.resize_with(layers.len(), Default::default);
        for (g, l) in self.grads.iter_mut().zip(layers) {
            g.0.resize(l.w.len(), 0.0);
            g.1.resize(l.b.len(), 0.0);
        }
    }
}

/// `deriv` resized to `len` (contents unspecified).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    buf
}

simd_kernel! {
    /// Adds `bias` to every row of `z` (rows of `bias.len()`).
    BiasKernel { z: &'a mut [f32], bias: &'a [f32] } => {
        for row in z.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

simd_kernel! {
    /// `out[j] = sum over rows of m[row][j]`, rows in order.
    ColumnSumKernel { m: &'a [f32], out: &'a mut [f32] } => {
        out.fill(0.0);
        for row in m.chunks_exact(out.len()) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

simd_kernel! {
    /// `a <- a * b`.
    MulKernel { a: &'a mut [f32], b: &'a [f32] } => {
        for (x, y) in a.iter_mut().zip(b) {
            *x *= y;
        }
    }
}

simd_kernel! {
    /// `a <- a + b`.
    AddKernel { a: &'a mut [f32], b: &'a [f32] } => {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
}

simd_kernel! {
    /// The rest of a residual block's pre-activation, row by row:
    /// `z <- z + feature W_t^T + (bias + h)`, with `wt` = `W_t^T` (e x w).
    BlockInKernel {
        z: &'a mut [f32],
        h: &'a [f32],
        feature: &'a [f32],
        wt: &'a [f32],
        bias: &'a [f32],
        w: usize,
        e: usize,
    } => {
        for ((zr, hr), fr) in z
            .chunks_exact_mut(w)
            .zip(h.chunks_exact(w))
            .zip(feature.chunks_exact(e))
        {
            for (q, &f) in fr.iter().enumerate() {
                for (zv, wv) in zr.iter_mut().zip(&wt[q * w..(q + 1) * w]) {
                    *zv += f * wv;
                }
            }
            for ((zv, bv), hv) in zr.iter_mut().zip(bias).zip(hr) {
                *zv += bv + hv;
            }
        }
    }
}

simd_kernel! {
    /// A residual block's bias gradient `gb = sum_rows dz` and time-column gradient
    /// `acc[q][j] = sum_rows feature[q] dz[j]`, rows in order.
    BlockGradKernel {
        dz: &'a [f32],
        feature: &'a [f32],
        gb: &'a mut [f32],
        acc: &'a mut [f32],
        w: usize,
        e: usize,
    } => {
        acc.fill(0.0);
        gb.fill(0.0);
        for (dr, fr) in dz.chunks_exact(w).zip(feature.chunks_exact(e)) {
            for (g, dv) in gb.iter_mut().zip(dr) {
                *g += dv;
            }
            for (q, &f) in fr.iter().enumerate() {
                for (a, dv) in acc[q * w..(q + 1) * w].iter_mut().zip(dr) {
                    *a += f * dv;
                }
            }
        }
    }
}

fn add_bias(z: &mut [f32], bias: &[f32]) {
    pulp::Arch::new().dispatch(BiasKernel {
        z,
        bias,
        _life: std::marker::PhantomData,
    });
}

fn column_sums(m: &[f32], out: &mut [f32]) {
    pulp::Arch::new().dispatch(ColumnSumKernel {
        m,
        out,
        _life: std::marker::PhantomData,
    });
}

fn mul_in_place(a: &mut [f32], b: &[f32]) {
    pulp::Arch::new().dispatch(MulKernel {
        a,
        b,
        _life: std::marker::PhantomData,
    });
}

fn add_in_place(a: &mut [f32], b: &[f32]) {
    pulp::Arch::new().dispatch(AddKernel {
        a,
        b,
        _life: std::marker::PhantomData,
    });
}

impl FastNet {
    /// Copies a network's parameters.
    pub(crate) fn from_network(net: &Network) -> Result<Self, NnError> {
        let layers = host_layers(net, true)?;
        let cfg = net.config().clone();
        Ok(FastNet {
            time_cols: vec![Vec::new(); block_count(&cfg)],
            cfg,
            layers,
            chunks: Vec::new(),
        })
    }

    /// The parameters as `(name, shape, values)`, for [`Network::from_host_values`].
    fn host_values(&self, params: &[Vec<f32>]) -> Vec<HostTensor> {
        let mut out = Vec::with_capacity(params.len());
        for (k, l) in self.cfg.layers().into_iter().enumerate() {
            out.push((
                format!("{}.weight", l.name),
                vec![l.fan_out, l.fan_in],
                params[2 * k].clone(),
            ));
            out.push((
                format!("{}.bias", l.name),
                vec![l.fan_out],
                params[2 * k + 1].clone(),
            ));
        }
        out
    }

    /// A copy of every parameter, in the order of [`FastNet::params_mut`].
    fn snapshot(&self) -> Vec<Vec<f32>> {
        self.layers
            .iter()
            .flat_map(|l| [l.w.clone(), l.b.clone()])
            .collect()
    }

    /// `(parameter, gradient)` pairs: weight then bias of each layer in forward order.
    fn params_mut(&mut self) -> impl Iterator<Item = (&mut [f32], &mut [f32])> {
        self.layers.iter_mut().flat_map(|l| {
            [
                (l.w.as_mut_slice(), l.gw.as_mut_slice()),
                (l.b.as_mut_slice(), l.gb.as_mut_slice()),
            ]
        })
    }

    /// The forward pass without gradients (for tests), rows x out_dim.
    #[cfg(test)]
    fn forward(&mut self, state: &[f32], feature: &[f32], rows: usize) -> Vec<f32> {
        let target = vec![0.0; rows * self.cfg.out_dim];
        let weight = vec![1.0; rows];
        self.pass(state, feature, &target, &weight, rows, false);
        self.chunks[..rows.div_ceil(CHUNK_ROWS)]
            .iter()
            .flat_map(|c| c.pred.iter().copied())
            .collect()
    }

    /// The weighted MSE loss `mean over rows and columns of weight[row] * (pred - target)^2`
    /// on this batch, leaving its gradient in every layer's `gw`/`gb`.
    pub(crate) fn loss_and_grads(
        &mut self,
        state: &[f32],
        feature: &[f32],
        target: &[f32],
        weight: &[f32],
        rows: usize,
    ) -> f32 {
        self.pass(state, feature, target, weight, rows, true)
    }

    /// Runs every chunk's pass, in parallel when the current rayon pool has more than one
    /// thread, and with `backward` adds the chunk gradients into the layers in chunk order.
    /// Returns the batch loss.
    fn pass(
        &mut self,
        state: &[f32],
        feature: &[f32],
        target: &[f32],
        weight: &[f32],
        rows: usize,
        backward: bool,
    ) -> f32 {
        use rayon::prelude::*;
        let (sd, e, od) = (self.cfg.state_dim, self.cfg.time.dim(), self.cfg.out_dim);
        let n_chunks = rows.div_ceil(CHUNK_ROWS);
        if self.chunks.len() < n_chunks {
            self.chunks.resize_with(n_chunks, ChunkWork::default);
        }
        self.refresh_time_cols();
        let scale = 2.0 / (rows * od) as f32;
        let (cfg, layers, time_cols) = (&self.cfg, &self.layers, &self.time_cols);
        let run = |(c, work): (usize, &mut ChunkWork)| {
            let (r0, r1) = (c * CHUNK_ROWS, ((c + 1) * CHUNK_ROWS).min(rows));
            let input = ChunkInput {
                state: &state[r0 * sd..r1 * sd],
                feature: &feature[r0 * e..r1 * e],
                target: &target[r0 * od..r1 * od],
                weight: &weight[r0..r1],
                rows: r1 - r0,
                scale,
            };
            work.prepare(layers);
            chunk_pass(cfg, layers, time_cols, work, input, backward);
        };
        let works = &mut self.chunks[..n_chunks];
        if n_chunks > 1 && rayon::current_num_threads() > 1 {
            works.par_iter_mut().enumerate().for_each(run);
        } else {
            works.iter_mut().enumerate().for_each(run);
        }
        let works = &self.chunks[..n_chunks];
        if backward {
            for (k, layer) in self.layers.iter_mut().enumerate() {
                layer.gw.fill(0.0);
                layer.gb.fill(0.0);
                for work in works {
                    add_in_place(&mut layer.gw, &work.grads[k].0);
                    add_in_place(&mut layer.gb, &work.grads[k].1);
                }
            }
        }
        let total = works.iter().fold(0f64, |acc, w| acc + w.loss_sum);
        (total / (rows * od) as f64) as f32
    }

    /// Copies each residual block's time-feature weight columns, transposed, into
    /// `time_cols` (`wt[q][j] = W[j][width + q]`).
    fn refresh_time_cols(&mut self) {
        fill_time_cols(&self.cfg, &self.layers, &mut self.time_cols);
    }
}

/// The network's parameters as host layers in forward order; `grads` allocates the gradient
/// buffers (training), otherwise they stay empty (forward-only evaluation).
fn host_layers(net: &Network, grads: bool) -> Result<Vec<Layer>, NnError> {
    let mut by_name: std::collections::BTreeMap<String, Vec<f32>> = net
        .host_values()?
        .into_iter()
        .map(|(name, _, data)| (name, data))
        .collect();
    let mut take = |name: String| {
        by_name
            .remove(&name)
            .ok_or_else(|| NnError::Internal(format!("fast path: missing parameter {name}")))
    };
    let mut layers = Vec::new();
    for l in net.config().layers() {
        let w = take(format!("{}.weight", l.name))?;
        let b = take(format!("{}.bias", l.name))?;
        let zeros = |len: usize| if grads { vec![0.0; len] } else { Vec::new() };
        layers.push(Layer {
            fan_in: l.fan_in,
            fan_out: l.fan_out,
            gw: zeros(w.len()),
            gb: zeros(b.len()),
            w,
            b,
        });
    }
    Ok(layers)
}

/// Residual blocks of the architecture (0 for a plain MLP).
fn block_count(cfg: &NetConfig) -> usize {
    match cfg.arch {
        Arch::ResMlp { depth, .. } => depth,
        Arch::Mlp { .. } => 0,
    }
}

/// Copies each residual block's time-feature weight columns, transposed, into `time_cols`
/// (`wt[q][j] = W[j][width + q]`); nothing for a plain MLP.
fn fill_time_cols(cfg: &NetConfig, layers: &[Layer], time_cols: &mut [Vec<f32>]) {
    let Arch::ResMlp { width: w, .. } = cfg.arch else {
        return;
    };
    let e = cfg.time.dim();
    let blocks = &layers[1..layers.len() - 1];
    for (wt, block) in time_cols.iter_mut().zip(blocks) {
        wt.resize(e * w, 0.0);
        for q in 0..e {
            for j in 0..w {
                wt[q * w + j] = block.w[j * block.fan_in + w + q];
            }
        }
    }
}

/// One chunk's forward pass, loss and (with `backward`) its gradients into `work.grads`.
fn chunk_pass(
    cfg: &NetConfig,
    layers: &[Layer],
    time_cols: &[Vec<f32>],
    work: &mut ChunkWork,
    input: ChunkInput,
    backward: bool,
) {
    let x0 = &mut work.acts[0];
    x0.clear();
    for (s, f) in input
        .state
        .chunks_exact(cfg.state_dim)
        .zip(input.feature.chunks_exact(cfg.time.dim()))
    {
        x0.extend_from_slice(s);
        x0.extend_from_slice(f);
    }
    match cfg.arch {
        Arch::Mlp { .. } => mlp_pass(cfg.activation, layers, work, input, backward),
        Arch::ResMlp { width, .. } => res_mlp_pass(
            cfg.activation,
            cfg.time.dim(),
            width,
            layers,
            time_cols,
            work,
            input,
            backward,
        ),
    }
}

/// The chunk's weighted squared error `sum_row weight[row] * sum_j (pred - target)^2` (in
/// `f64`), writing the loss gradient with respect to the prediction into `grad`.
fn loss_grad(pred: &[f32], input: &ChunkInput, od: usize, grad: &mut Vec<f32>) -> f64 {
    grad.resize(pred.len(), 0.0);
    let mut total = 0f64;
    for (((g, p), t), w) in grad
        .chunks_exact_mut(od)
        .zip(pred.chunks_exact(od))
        .zip(input.target.chunks_exact(od))
        .zip(input.weight)
    {
        let mut row = 0f64;
        for ((g, p), t) in g.iter_mut().zip(p).zip(t) {
            let diff = p - t;
            row += f64::from(diff * diff);
            *g = input.scale * w * diff;
        }
        total += f64::from(*w) * row;
    }
    total
}

fn mlp_pass(
    act: Activation,
    layers: &[Layer],
    work: &mut ChunkWork,
    input: ChunkInput,
    backward: bool,
) {
    let rows = input.rows;
    let count = layers.len();
    let od = layers[count - 1].fan_out;
    let ChunkWork {
        acts,
        derivs,
        pred,
        delta,
        delta_next,
        grads,
        loss_sum,
        ..
    } = work;
    // acts[l] is the input of layer l; derivs[l] (l >= 1) the activation derivative there.
    for (l, layer) in layers.iter().enumerate() {
        let (done, next) = acts.split_at_mut(l + 1);
        let z = if l + 1 < count {
            &mut next[0]
        } else {
            &mut *pred
        };
        matmul_into(
            z,
            &done[l],
            View::rowmajor(rows, layer.fan_in),
            &layer.w,
            layer.weight_view().t(),
        );
        add_bias(z, &layer.b);
        if l + 1 < count {
            activate(act, z, sized(&mut derivs[l + 1], rows * layer.fan_out));
        }
    }
    *loss_sum = loss_grad(pred, &input, od, delta);
    if !backward {
        return;
    }
    for l in (0..count).rev() {
        let layer = &layers[l];
        let (gw, gb) = &mut grads[l];
        matmul_into(
            gw,
            delta,
            View::rowmajor(rows, layer.fan_out).t(),
            &acts[l],
            View::rowmajor(rows, layer.fan_in),
        );
        column_sums(delta, gb);
        if l > 0 {
            matmul_into(
                delta_next,
                delta,
                View::rowmajor(rows, layer.fan_out),
                &layer.w,
                layer.weight_view(),
            );
            mul_in_place(delta_next, &derivs[l]);
            std::mem::swap(delta, delta_next);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn res_mlp_pass(
    act: Activation,
    e: usize,
    w: usize,
    layers: &[Layer],
    time_cols: &[Vec<f32>],
    work: &mut ChunkWork,
    input: ChunkInput,
    backward: bool,
) {
    let rows = input.rows;
    let count = layers.len();
    let (input_layer, rest) = layers.split_first().expect("input layer");
    let (output, blocks) = rest.split_last().expect("output layer");
    let (depth, od) = (blocks.len(), output.fan_out);
    let ChunkWork {
        acts,
        derivs,
        pred,
        delta,
        delta_next,
        block_w,
        block_t,
        grads,
        loss_sum,
    } = work;

    // acts[0] = x0, acts[1 + i] = the input of block i (acts[1 + depth] the input of the
    // output layer); derivs[i] = the activation derivative of block i.
    {
        let (x0, rest) = acts.split_at_mut(1);
        let h0 = &mut rest[0];
        matmul_into(
            h0,
            &x0[0],
            View::rowmajor(rows, input_layer.fan_in),
            &input_layer.w,
            input_layer.weight_view().t(),
        );
        add_bias(h0, &input_layer.b);
    }
    for (i, block) in blocks.iter().enumerate() {
        let (done, next) = acts.split_at_mut(2 + i);
        let (h, z) = (&done[1 + i], &mut next[0]);
        matmul_into(
            z,
            h,
            View::rowmajor(rows, w),
            &block.w,
            View::leading(w, w, block.fan_in).t(),
        );
        pulp::Arch::new().dispatch(BlockInKernel {
            z,
            h,
            feature: input.feature,
            wt: &time_cols[i],
            bias: &block.b,
            w,
            e,
            _life: std::marker::PhantomData,
        });
        activate(act, z, sized(&mut derivs[i], rows * w));
    }
    let h = &acts[1 + depth];
    matmul_into(
        pred,
        h,
        View::rowmajor(rows, w),
        &output.w,
        output.weight_view().t(),
    );
    add_bias(pred, &output.b);
    *loss_sum = loss_grad(pred, &input, od, delta);
    if !backward {
        return;
    }

    let (gw, gb) = &mut grads[count - 1];
    matmul_into(
        gw,
        delta,
        View::rowmajor(rows, od).t(),
        h,
        View::rowmajor(rows, w),
    );
    column_sums(delta, gb);
    matmul_into(
        delta_next,
        delta,
        View::rowmajor(rows, od),
        &output.w,
        output.weight_view(),
    );
    std::mem::swap(delta, delta_next);
    // From here `delta` is the gradient with respect to a block's output h.
    for (i, block) in blocks.iter().enumerate().rev() {
        let fan_in = block.fan_in;
        mul_in_place(delta, &derivs[i]);
        matmul_into(
            block_w,
            delta,
            View::rowmajor(rows, w).t(),
            &acts[1 + i],
            View::rowmajor(rows, w),
        );
        let (gw, gb) = &mut grads[1 + i];
        // Time-feature columns and bias: sums over the chunk's rows, in row order.
        pulp::Arch::new().dispatch(BlockGradKernel {
            dz: delta,
            feature: input.feature,
            gb: gb.as_mut_slice(),
            acc: sized(block_t, e * w),
            w,
            e,
            _life: std::marker::PhantomData,
        });
        for (j, grow) in gw.chunks_exact_mut(fan_in).enumerate() {
            grow[..w].copy_from_slice(&block_w[j * w..(j + 1) * w]);
            for q in 0..e {
                grow[w + q] = block_t[q * w + j];
            }
        }
        matmul_into(
            delta_next,
            delta,
            View::rowmajor(rows, w),
            &block.w,
            View::leading(w, w, fan_in),
        );
        add_in_place(delta_next, delta);
        std::mem::swap(delta, delta_next);
    }
    let (gw, gb) = &mut grads[0];
    matmul_into(
        gw,
        delta,
        View::rowmajor(rows, w).t(),
        &acts[0],
        View::rowmajor(rows, input_layer.fan_in),
    );
    column_sums(delta, gb);
}

/// The forward-only fast path of a CPU [`crate::Evaluator`] (sampling, likelihoods, figures):
/// the network's parameters copied to the host once, and per call the layer code of
/// training's forward pass ([`matmul_into`], [`add_bias`], [`BlockInKernel`], the activation
/// values of [`activate_scalar`]) on the same fixed [`CHUNK_ROWS`]-row chunks. Each chunk runs
/// on one thread and writes only its own rows of the output (nothing is reduced across
/// chunks), so the result has the same bits at any thread count.
pub(crate) struct FastForward {
    cfg: NetConfig,
    /// In forward order, without gradient buffers.
    layers: Vec<Layer>,
    /// Each residual block's time-feature weight columns, transposed (`e x width`).
    time_cols: Vec<Vec<f32>>,
    /// The time feature of the current call, repeated for one chunk's rows (the time is
    /// common to every row, so every chunk reads the same rows).
    feature: Vec<f32>,
    /// Workspaces kept across calls, one per group of chunks run as one parallel task: a
    /// bounded number (a few per thread, not one per chunk), so a call on a million rows does
    /// not allocate a million rows of activations.
    works: Vec<ForwardWork>,
}

/// The buffers of one chunk's forward pass: the network input and two activation buffers
/// used in turn (no layer's input is kept once the next layer has read it).
#[derive(Default)]
struct ForwardWork {
    x: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Parallel tasks per rayon thread: a few, so that work stealing can even out a thread slowed
/// by other load on the machine.
const GROUPS_PER_THREAD: usize = 4;

impl FastForward {
    /// Copies a network's parameters.
    pub(crate) fn from_network(net: &Network) -> Result<Self, NnError> {
        let cfg = net.config().clone();
        let layers = host_layers(net, false)?;
        let mut time_cols = vec![Vec::new(); block_count(&cfg)];
        fill_time_cols(&cfg, &layers, &mut time_cols);
        Ok(FastForward {
            cfg,
            layers,
            time_cols,
            feature: Vec::new(),
            works: Vec::new(),
        })
    }

    /// The network's output (`rows x out_dim`) on `rows` state rows at the common time `t`.
    pub(crate) fn eval(&mut self, t: f64, state: &[f32], rows: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let (sd, e, od) = (self.cfg.state_dim, self.cfg.time.dim(), self.cfg.out_dim);
        debug_assert_eq!(state.len(), rows * sd);
        let mut out = vec![0f32; rows * od];
        if rows == 0 {
            return out;
        }
        // The feature exactly as the candle path computes it (f64, rounded to f32), once.
        self.feature.resize(e, 0.0);
        self.cfg.time.write(t, &mut self.feature);
        let per_chunk = CHUNK_ROWS.min(rows);
        for r in 1..per_chunk {
            self.feature.extend_from_within(..e);
            debug_assert_eq!(self.feature.len(), (r + 1) * e);
        }
        let n_chunks = rows.div_ceil(CHUNK_ROWS);
        let threads = rayon::current_num_threads();
        let groups = if threads > 1 {
            n_chunks.min(threads * GROUPS_PER_THREAD)
        } else {
            1
        };
        if self.works.len() < groups {
            self.works.resize_with(groups, ForwardWork::default);
        }
        // Group g takes the whole chunks [g n / groups, (g + 1) n / groups): group boundaries
        // fall on chunk boundaries, so the chunks, and each row's bits, do not depend on
        // the grouping.
        let mut tasks = Vec::with_capacity(groups);
        let mut rest: &mut [f32] = &mut out;
        for (g, work) in self.works[..groups].iter_mut().enumerate() {
            let (c0, c1) = (g * n_chunks / groups, (g + 1) * n_chunks / groups);
            let (r0, r1) = (c0 * CHUNK_ROWS, (c1 * CHUNK_ROWS).min(rows));
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut((r1 - r0) * od);
            rest = tail;
            tasks.push((work, &state[r0 * sd..r1 * sd], mine));
        }
        let (cfg, layers, time_cols, feature) =
            (&self.cfg, &self.layers, &self.time_cols, &self.feature);
        let run = |(work, state, out): (&mut ForwardWork, &[f32], &mut [f32])| {
            for (s, o) in state
                .chunks(CHUNK_ROWS * sd)
                .zip(out.chunks_mut(CHUNK_ROWS * od))
            {
                chunk_forward(cfg, layers, time_cols, feature, work, s, o);
            }
        };
        if groups > 1 {
            tasks.into_par_iter().for_each(run);
        } else {
            tasks.into_iter().for_each(run);
        }
        out
    }
}

/// One chunk's forward pass (as [`chunk_pass`] without loss or backward), its output written
/// into `out` (`rows x out_dim` of this chunk).
fn chunk_forward(
    cfg: &NetConfig,
    layers: &[Layer],
    time_cols: &[Vec<f32>],
    feature: &[f32],
    work: &mut ForwardWork,
    state: &[f32],
    out: &mut [f32],
) {
    let (sd, e) = (cfg.state_dim, cfg.time.dim());
    let rows = state.len() / sd;
    let feature = &feature[..rows * e];
    let ForwardWork { x, a, b } = work;
    x.clear();
    for (s, f) in state.chunks_exact(sd).zip(feature.chunks_exact(e)) {
        x.extend_from_slice(s);
        x.extend_from_slice(f);
    }
    let linear = |z: &mut Vec<f32>, input: &[f32], layer: &Layer| {
        matmul_into(
            z,
            input,
            View::rowmajor(rows, layer.fan_in),
            &layer.w,
            layer.weight_view().t(),
        );
        add_bias(z, &layer.b);
    };
    // After each step `a` holds the current layer's output.
    match cfg.arch {
        Arch::Mlp { .. } => {
            // Every layer but the last is activated, so each one after the first activates
            // its input (with no hidden layer the one linear map is the output).
            linear(a, x, &layers[0]);
            for layer in &layers[1..] {
                activate_value(cfg.activation, a);
                linear(b, a, layer);
                std::mem::swap(a, b);
            }
        }
        Arch::ResMlp { width: w, .. } => {
            let (input_layer, rest) = layers.split_first().expect("input layer");
            let (output, blocks) = rest.split_last().expect("output layer");
            linear(a, x, input_layer);
            for (block, wt) in blocks.iter().zip(time_cols) {
                matmul_into(
                    b,
                    a,
                    View::rowmajor(rows, w),
                    &block.w,
                    View::leading(w, w, block.fan_in).t(),
                );
                pulp::Arch::new().dispatch(BlockInKernel {
                    z: b,
                    h: a,
                    feature,
                    wt,
                    bias: &block.b,
                    w,
                    e,
                    _life: std::marker::PhantomData,
                });
                activate_value(cfg.activation, b);
                std::mem::swap(a, b);
            }
            linear(b, a, output);
            std::mem::swap(a, b);
        }
    }
    out.copy_from_slice(a);
}

/// AdamW with candle's `ParamsAdamW` defaults, fused into one pass per parameter tensor.
struct AdamW {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    step_t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    fn new(net: &FastNet) -> Self {
        let zeros: Vec<Vec<f32>> = net.snapshot().iter().map(|p| vec![0.0; p.len()]).collect();
        AdamW {
            m: zeros.clone(),
            v: zeros,
            step_t: 0,
        }
    }

    /// One update with learning rate `lr` and decoupled weight decay `wd`. Repeats candle's
    /// `AdamW::step` operation by operation: every scalar is rounded to `f32` as candle's
    /// `affine` does, and no operation is fused.
    fn step(&mut self, net: &mut FastNet, lr: f64, wd: f64) {
        self.step_t += 1;
        let scale_m = (1.0 / (1.0 - BETA1.powi(self.step_t))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(self.step_t))) as f32;
        let decay = (1.0 - lr * wd) as f32;
        let (b1, c1) = (BETA1 as f32, (1.0 - BETA1) as f32);
        let (b2, c2) = (BETA2 as f32, (1.0 - BETA2) as f32);
        let (lr, eps) = (lr as f32, EPS as f32);
        for ((theta, g), (m, v)) in net
            .params_mut()
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            pulp::Arch::new().dispatch(AdamKernel {
                theta,
                g,
                m,
                v,
                k: [b1, c1, b2, c2, scale_m, scale_v, eps, decay, lr],
                _life: std::marker::PhantomData,
            });
        }
    }
}

#[inline(always)]
fn adam_scalar(theta: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: [f32; 9]) {
    let [b1, c1, b2, c2, scale_m, scale_v, eps, decay, lr] = k;
    for (((t, &g), m), v) in theta.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let next_m = *m * b1 + g * c1;
        let next_v = *v * b2 + (g * g) * c2;
        let m_hat = next_m * scale_m;
        let v_hat = next_v * scale_v;
        let adjusted = m_hat / (v_hat.sqrt() + eps);
        *t = *t * decay - adjusted * lr;
        *m = next_m;
        *v = next_v;
    }
}

/// Scales the gradients so their global L2 norm is at most `max_norm` (PyTorch
/// `clip_grad_norm_`, as the candle path: coefficient `max_norm / (norm + 1e-6)`).
fn clip_gradients(net: &mut FastNet, max_norm: f64) {
    let mut total = 0f64;
    for (_, g) in net.params_mut() {
        let s: f32 = g.iter().map(|v| v * v).sum();
        total += f64::from(s);
    }
    let coef = max_norm / (total.sqrt() + 1e-6);
    if coef < 1.0 {
        let c = coef as f32;
        for (_, g) in net.params_mut() {
            for v in g.iter_mut() {
                *v *= c;
            }
        }
    }
}

/// Puts a checkpoint's state into the trainer, after checking that it fits this network.
fn restore(
    net: &mut FastNet,
    opt: &mut AdamW,
    ema: &mut Option<Vec<Vec<f32>>>,
    state: &TrainState,
    steps: usize,
) -> Result<(), NnError> {
    let shapes: Vec<usize> = net.snapshot().iter().map(Vec::len).collect();
    let fits = |group: &[Vec<f32>]| group.iter().map(Vec::len).eq(shapes.iter().copied());
    if state.step > steps
        || !fits(&state.params)
        || !fits(&state.adam_m)
        || !fits(&state.adam_v)
        || state.ema.is_some() != ema.is_some()
        || state.ema.as_deref().is_some_and(|e| !fits(e))
        || state.losses.len() != state.step
    {
        return Err(NnError::InvalidInput(format!(
            "the checkpoint (step {}) does not fit this training of {steps} steps",
            state.step
        )));
    }
    for ((p, _), v) in net.params_mut().zip(&state.params) {
        p.copy_from_slice(v);
    }
    opt.m = state.adam_m.clone();
    opt.v = state.adam_v.clone();
    opt.step_t = state.adam_t;
    if let Some(e) = ema {
        *e = state.ema.clone().expect("checked");
    }
    Ok(())
}

/// [`crate::train`] on the fast host path (CPU only; [`supported`] says when).
pub(crate) fn train_fast(
    cfg: &TrainConfig,
    init: Option<&Network>,
    device: &ComputeDevice,
    next_batch: &mut dyn FnMut(usize) -> Result<TrainBatch, NnError>,
    on_step: &mut dyn FnMut(TrainProgress),
    mut checkpoints: Option<&mut Checkpoints<'_>>,
) -> Result<Trained, NnError> {
    cfg.net.validate()?;
    cfg.optim.validate()?;
    let mut net = {
        let net = Network::new_initialised(&cfg.net, cfg.seed, device)?;
        if let Some(init) = init {
            net.load_from(init)?;
        }
        FastNet::from_network(&net)?
    };
    let mut opt = AdamW::new(&net);
    let mut ema = cfg.optim.ema.map(|_| net.snapshot());
    let (sd, e) = (cfg.net.state_dim, cfg.net.time.dim());
    let mut feature = Vec::new();
    let mut losses = Vec::with_capacity(cfg.steps);
    let mut first = 1;
    if let Some(state) = checkpoints.as_mut().and_then(|c| c.resume.take()) {
        restore(&mut net, &mut opt, &mut ema, &state, cfg.steps)?;
        losses = state.losses;
        first = state.step + 1;
    }
    for step in first..=cfg.steps {
        let batch = next_batch(step)?;
        check_batch(&batch, step, sd, cfg.net.out_dim)?;
        let rows = batch.rows();
        feature.resize(rows * e, 0f32);
        for (t, out) in batch.time.iter().zip(feature.chunks_exact_mut(e)) {
            cfg.net.time.write(*t, out);
        }
        let value = net.loss_and_grads(&batch.state, &feature, &batch.target, &batch.weight, rows);
        if !value.is_finite() {
            return Err(NnError::Diverged {
                step,
                last_finite_loss: losses.last().copied(),
            });
        }
        losses.push(value);
        if let Some(max_norm) = cfg.optim.grad_clip {
            clip_gradients(&mut net, max_norm);
        }
        opt.step(
            &mut net,
            cfg.optim.lr_at(step - 1, cfg.steps),
            cfg.optim.weight_decay,
        );
        if let (Some(ema), Some(d)) = (&mut ema, cfg.optim.ema_decay_at(step)) {
            let (d, c) = (d as f32, (1.0 - d) as f32);
            for (avg, (p, _)) in ema.iter_mut().zip(net.params_mut()) {
                pulp::Arch::new().dispatch(EmaKernel {
                    avg,
                    p,
                    d,
                    c,
                    _life: std::marker::PhantomData,
                });
            }
        }
        on_step(TrainProgress {
            step,
            steps: cfg.steps,
            loss: value,
        });
        if let Some(c) = checkpoints.as_mut()
            && c.every > 0
            && step % c.every == 0
            && step < cfg.steps
        {
            (c.save)(&TrainState {
                step,
                params: net.snapshot(),
                adam_m: opt.m.clone(),
                adam_v: opt.v.clone(),
                adam_t: opt.step_t,
                ema: ema.clone(),
                losses: losses.clone(),
            })?;
        }
    }
    let params = match ema {
        Some(ema) => ema,
        None => net.snapshot(),
    };
    if cfg.steps > 0 && !params.iter().flatten().all(|v| v.is_finite()) {
        return Err(NnError::Diverged {
            step: cfg.steps,
            last_finite_loss: losses.last().copied(),
        });
    }
    let out = Network::from_host_values(&cfg.net, net.host_values(&params), device)?;
    Ok(Trained { net: out, losses })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeFeature;
    use crate::train::{LrSchedule, OptimConfig, train_reference};
    use candle_core::Tensor;
    use candle_nn::Optimizer;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn configs() -> Vec<NetConfig> {
        let mut out = Vec::new();
        let archs = [
            Arch::Mlp {
                hidden: vec![16, 9],
            },
            Arch::Mlp { hidden: vec![] },
            Arch::ResMlp {
                width: 12,
                depth: 3,
            },
        ];
        let times = [
            TimeFeature::Sinusoidal { dim: 4 },
            TimeFeature::Log1m,
            TimeFeature::Raw,
        ];
        for arch in &archs {
            for act in Activation::ALL {
                for time in times {
                    out.push(NetConfig {
                        arch: arch.clone(),
                        activation: act,
                        time,
                        state_dim: 3,
                        out_dim: 2,
                    });
                }
            }
        }
        out
    }

    /// A network with every parameter (the zero-initialised output layer included) drawn from
    /// U(-s, s), s = 1.5 / sqrt(fan_in), so every gradient is non-trivial.
    fn random_net(cfg: &NetConfig, rng: &mut ChaCha8Rng) -> Network {
        let mut values = Vec::new();
        for l in cfg.layers() {
            let s = 1.5 / (l.fan_in as f64).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * s) as f32)
                    .collect()
            };
            let w = draw(l.fan_in * l.fan_out);
            let b = draw(l.fan_out);
            values.push((format!("{}.weight", l.name), vec![l.fan_out, l.fan_in], w));
            values.push((format!("{}.bias", l.name), vec![l.fan_out], b));
        }
        Network::from_host_values(cfg, values, &ComputeDevice::cpu()).unwrap()
    }

    fn random_batch(cfg: &NetConfig, rows: usize, rng: &mut ChaCha8Rng) -> TrainBatch {
        let mut u = |n: usize, a: f64, b: f64| -> Vec<f64> {
            (0..n).map(|_| a + (b - a) * rng.random::<f64>()).collect()
        };
        let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        TrainBatch {
            state: f(u(rows * cfg.state_dim, -2.0, 2.0)),
            time: u(rows, 0.0, 0.99),
            target: f(u(rows * cfg.out_dim, -1.5, 1.5)),
            weight: f(u(rows, 0.2, 2.0)),
        }
    }

    fn features(cfg: &NetConfig, batch: &TrainBatch) -> Vec<f32> {
        let e = cfg.time.dim();
        let mut feature = vec![0f32; batch.rows() * e];
        for (t, out) in batch.time.iter().zip(feature.chunks_exact_mut(e)) {
            cfg.time.write(*t, out);
        }
        feature
    }

    /// candle autograd: (loss, prediction, gradient of each parameter by name).
    fn candle_grads(
        net: &Network,
        batch: &TrainBatch,
    ) -> (f32, Vec<f32>, std::collections::BTreeMap<String, Vec<f32>>) {
        let cfg = net.config();
        let rows = batch.rows();
        let dev = &candle_core::Device::Cpu;
        let feature = features(cfg, batch);
        let state = Tensor::from_slice(&batch.state, (rows, cfg.state_dim), dev).unwrap();
        let time = Tensor::from_slice(&feature, (rows, cfg.time.dim()), dev).unwrap();
        let target = Tensor::from_slice(&batch.target, (rows, cfg.out_dim), dev).unwrap();
        let weight = Tensor::from_slice(&batch.weight, (rows, 1), dev).unwrap();
        let pred = net.forward_train(&state, &time).unwrap();
        let loss = (&pred - target)
            .unwrap()
            .sqr()
            .unwrap()
            .broadcast_mul(&weight)
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let names = net.host_values().unwrap();
        let mut out = std::collections::BTreeMap::new();
        for ((name, _, _), var) in names.iter().zip(net.vars()) {
            let g = grads
                .get(var.as_tensor())
                .expect("every parameter has a gradient");
            out.insert(
                name.clone(),
                g.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
        }
        (
            loss.to_scalar::<f32>().unwrap(),
            pred.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            out,
        )
    }

    /// max |a - b| / max |b|.
    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max);
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from((x - y).abs()))
            .fold(0.0, f64::max);
        if scale == 0.0 { diff } else { diff / scale }
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f64;
        for i in -86_999..=87_999 {
            let x = i as f32 * 1e-3;
            let (a, b) = (exp_f32(x), x.exp());
            worst = worst.max(f64::from(((a - b) / b).abs()));
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(-1000.0) < 1e-37);
    }

    #[test]
    fn gradients_match_candle_autograd() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for cfg in configs() {
            // 300 rows: three chunks, the last one short.
            for rows in [1usize, 37, 300] {
                let net = random_net(&cfg, &mut rng);
                let batch = random_batch(&cfg, rows, &mut rng);
                let (loss_c, pred_c, grads_c) = candle_grads(&net, &batch);
                let mut fast = FastNet::from_network(&net).unwrap();
                let feature = features(&cfg, &batch);
                let pred = fast.forward(&batch.state, &feature, rows);
                assert!(rel_err(&pred, &pred_c) < 1e-5, "{cfg:?}: prediction");
                let loss =
                    fast.loss_and_grads(&batch.state, &feature, &batch.target, &batch.weight, rows);
                assert!(
                    ((loss - loss_c) / loss_c).abs() < 1e-5,
                    "{cfg:?}: loss {loss} vs candle {loss_c}"
                );
                for (l, shape) in fast.layers.iter().zip(cfg.layers()) {
                    for (suffix, g) in [("weight", &l.gw), ("bias", &l.gb)] {
                        let name = format!("{}.{suffix}", shape.name);
                        let err = rel_err(g, &grads_c[&name]);
                        assert!(
                            err < 1e-5,
                            "{cfg:?} rows {rows}: {name} relative error {err}"
                        );
                    }
                }
            }
        }
    }

    /// Rows for the evaluation tests: empty, one, one short of a chunk, one chunk, one past,
    /// and two and a third chunks.
    const EVAL_ROWS: [usize; 6] = [0, 1, 127, 128, 129, 300];

    fn random_state(cfg: &NetConfig, rows: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..rows * cfg.state_dim)
            .map(|_| (rng.random::<f64>() * 4.0 - 2.0) as f32)
            .collect()
    }

    #[test]
    fn evaluation_matches_candle_forward() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for cfg in configs() {
            let net = random_net(&cfg, &mut rng);
            let mut fast = net.evaluator();
            let mut reference = net.candle_evaluator();
            for rows in EVAL_ROWS {
                for t in [0.0, 0.37, 0.999] {
                    let state = random_state(&cfg, rows, &mut rng);
                    let got = fast.eval(t, &state).unwrap();
                    let want = reference.eval(t, &state).unwrap();
                    assert_eq!(got.len(), rows * cfg.out_dim, "{cfg:?} rows {rows}");
                    let err = rel_err(&got, &want);
                    assert!(
                        err < 1e-5,
                        "{cfg:?} rows {rows} t {t}: relative error {err}"
                    );
                }
            }
            assert!(
                fast.runs_fast(),
                "{cfg:?}: the CPU evaluator took the candle path"
            );
        }
    }

    #[test]
    fn evaluation_is_trainings_forward_pass() {
        // The same layer code as training's forward: equal bits, not just close values.
        let mut rng = ChaCha8Rng::seed_from_u64(19);
        for cfg in configs() {
            let net = random_net(&cfg, &mut rng);
            let mut train_net = FastNet::from_network(&net).unwrap();
            let mut fast = FastForward::from_network(&net).unwrap();
            let rows = 300;
            let state = random_state(&cfg, rows, &mut rng);
            let t = 0.61;
            let mut feature = vec![0f32; rows * cfg.time.dim()];
            for out in feature.chunks_exact_mut(cfg.time.dim()) {
                cfg.time.write(t, out);
            }
            let want = train_net.forward(&state, &feature, rows);
            let got = fast.eval(t, &state, rows);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{cfg:?}: evaluation differs from training's forward pass"
            );
        }
    }

    #[test]
    fn evaluation_has_the_same_bits_at_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let cfgs = [
            NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![32, 32],
                },
                activation: Activation::Silu,
                time: TimeFeature::Sinusoidal { dim: 8 },
                state_dim: 2,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::ResMlp {
                    width: 16,
                    depth: 3,
                },
                activation: Activation::Gelu,
                time: TimeFeature::Log1m,
                state_dim: 4,
                out_dim: 2,
            },
        ];
        for cfg in cfgs {
            let net = random_net(&cfg, &mut rng);
            // 2000 rows: 16 chunks, more than 3 threads' groups; then the other sizes through
            // the same evaluator, so its reused buffers are exercised too.
            let sizes: Vec<usize> = std::iter::once(2000).chain(EVAL_ROWS).collect();
            let inputs: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&rows| random_state(&cfg, rows, &mut rng))
                .collect();
            let in_pool = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| {
                        let mut ev = net.evaluator();
                        inputs
                            .iter()
                            .map(|x| ev.eval(0.3, x).unwrap())
                            .collect::<Vec<_>>()
                    })
            };
            let one = in_pool(1);
            let three = in_pool(3);
            for ((a, b), rows) in one.iter().zip(&three).zip(&sizes) {
                assert!(
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{cfg:?} rows {rows}: 1 and 3 threads differ"
                );
            }
            // A fresh evaluator per size gives the same bits as the reused one.
            for (x, want) in inputs.iter().zip(&one) {
                let fresh = net.evaluator().eval(0.3, x).unwrap();
                assert_eq!(&fresh, want);
            }
        }
    }

    #[test]
    fn evaluation_counts_every_call() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let cfg = configs()[0].clone();
        let net = random_net(&cfg, &mut rng);
        let mut ev = net.evaluator();
        assert!(ev.eval(0.2, &[]).unwrap().is_empty());
        assert_eq!((ev.calls(), net.nfe()), (1, 1));
        for rows in EVAL_ROWS {
            ev.eval(0.5, &random_state(&cfg, rows, &mut rng)).unwrap();
        }
        assert_eq!((ev.calls(), net.nfe()), (7, 7));
        // A ragged input is an error and no call.
        assert!(ev.eval(0.5, &[1.0; 4]).is_err());
        assert_eq!((ev.calls(), net.nfe()), (7, 7));
    }

    #[test]
    fn adamw_is_bit_identical_to_candle() {
        let cfg = NetConfig {
            arch: Arch::Mlp { hidden: vec![7] },
            activation: Activation::Silu,
            time: TimeFeature::Raw,
            state_dim: 2,
            out_dim: 3,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = random_net(&cfg, &mut rng);
        let mut fast = FastNet::from_network(&net).unwrap();
        let mut opt = AdamW::new(&fast);
        let vars = net.vars();
        let names: Vec<String> = net
            .host_values()
            .unwrap()
            .into_iter()
            .map(|v| v.0)
            .collect();
        let mut copt = candle_nn::AdamW::new(
            vars.clone(),
            candle_nn::ParamsAdamW {
                lr: 0.01,
                weight_decay: 0.05,
                ..Default::default()
            },
        )
        .unwrap();
        for step in 0..5 {
            let lr = 0.01 / (1.0 + step as f64);
            // The same random gradient for both: candle gets it as the gradient of
            // sum(theta * G), which is exactly G.
            let mut total: Option<Tensor> = None;
            for (l, shape) in fast.layers.iter_mut().zip(cfg.layers()) {
                for g in l.gw.iter_mut().chain(l.gb.iter_mut()) {
                    *g = (rng.random::<f32>() - 0.5) * 2.0;
                }
                for (suffix, g, dims) in [
                    ("weight", &l.gw, vec![l.fan_out, l.fan_in]),
                    ("bias", &l.gb, vec![l.fan_out]),
                ] {
                    let name = format!("{}.{suffix}", shape.name);
                    let i = names.iter().position(|n| *n == name).unwrap();
                    let t = Tensor::from_slice(g, dims, &candle_core::Device::Cpu).unwrap();
                    let term = (vars[i].as_tensor() * t).unwrap().sum_all().unwrap();
                    total = Some(match total {
                        None => term,
                        Some(acc) => (acc + term).unwrap(),
                    });
                }
            }
            let store = total.unwrap().backward().unwrap();
            opt.step(&mut fast, lr, 0.05);
            copt.set_learning_rate(lr);
            copt.step(&store).unwrap();
        }
        let got = fast.snapshot();
        for (k, shape) in cfg.layers().iter().enumerate() {
            for (j, suffix) in ["weight", "bias"].iter().enumerate() {
                let name = format!("{}.{suffix}", shape.name);
                let i = names.iter().position(|n| *n == name).unwrap();
                let want = vars[i]
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let have = &got[2 * k + j];
                assert!(
                    have.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}: fused AdamW differs from candle's"
                );
            }
        }
    }

    fn train_cfg(net: NetConfig) -> TrainConfig {
        TrainConfig {
            steps: 20,
            seed: 5,
            net,
            optim: OptimConfig {
                lr: 3e-3,
                weight_decay: 0.01,
                schedule: LrSchedule::Cosine,
                warmup_steps: 3,
                grad_clip: Some(0.5),
                ema: Some(0.9),
            },
        }
    }

    fn run(
        cfg: &TrainConfig,
        fast: bool,
        init: Option<&Network>,
    ) -> Result<(Vec<f32>, Vec<HostTensor>), NnError> {
        run_rows(cfg, fast, init, 64)
    }

    fn run_rows(
        cfg: &TrainConfig,
        fast: bool,
        init: Option<&Network>,
        rows: usize,
    ) -> Result<(Vec<f32>, Vec<HostTensor>), NnError> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let batches: Vec<TrainBatch> = (0..cfg.steps)
            .map(|_| random_batch(&cfg.net, rows, &mut rng))
            .collect();
        let mut next = |step: usize| Ok(batches[step - 1].clone());
        let dev = ComputeDevice::cpu();
        let trained = if fast {
            train_fast(cfg, init, &dev, &mut next, &mut |_| {}, None)?
        } else {
            train_reference(cfg, init, &dev, &mut next, &mut |_| {})?
        };
        assert_eq!(trained.net.nfe(), 0);
        Ok((trained.losses, trained.net.host_values()?))
    }

    #[test]
    fn training_matches_candle_and_reproduces_itself() {
        let nets = [
            NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![32, 32, 32],
                },
                activation: Activation::Silu,
                time: TimeFeature::Sinusoidal { dim: 8 },
                state_dim: 2,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::ResMlp {
                    width: 16,
                    depth: 4,
                },
                activation: Activation::Silu,
                time: TimeFeature::Log1m,
                state_dim: 4,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::ResMlp {
                    width: 16,
                    depth: 2,
                },
                activation: Activation::Gelu,
                time: TimeFeature::Sinusoidal { dim: 4 },
                state_dim: 2,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![24, 24],
                },
                activation: Activation::Selu,
                time: TimeFeature::Raw,
                state_dim: 2,
                out_dim: 2,
            },
        ];
        for net in nets {
            let cfg = train_cfg(net);
            let (lf, wf) = run(&cfg, true, None).unwrap();
            let (lc, wc) = run(&cfg, false, None).unwrap();
            for (step, (a, b)) in lf.iter().zip(&lc).enumerate() {
                assert!(
                    ((a - b) / b).abs() < 1e-5,
                    "{:?}: step {} loss {a} vs candle {b}",
                    cfg.net,
                    step + 1
                );
            }
            for ((name, _, a), (_, _, b)) in wf.iter().zip(&wc) {
                assert!(rel_err(a, b) < 1e-4, "{name}: final EMA weights");
            }
            let (lf2, wf2) = run(&cfg, true, None).unwrap();
            assert_eq!(lf, lf2, "fast path is bit-reproducible");
            assert_eq!(wf, wf2);
        }
    }

    #[test]
    fn same_bits_at_any_thread_count() {
        let nets = [
            NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![32, 32],
                },
                activation: Activation::Silu,
                time: TimeFeature::Sinusoidal { dim: 8 },
                state_dim: 2,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::ResMlp {
                    width: 16,
                    depth: 3,
                },
                activation: Activation::Silu,
                time: TimeFeature::Log1m,
                state_dim: 4,
                out_dim: 2,
            },
        ];
        for net in nets {
            let mut cfg = train_cfg(net);
            cfg.steps = 6;
            // 2.5 chunks per batch, so the threads share uneven work.
            let rows = CHUNK_ROWS * 5 / 2;
            let in_pool = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| run_rows(&cfg, true, None, rows).unwrap())
            };
            let (l1, w1) = in_pool(1);
            let (l3, w3) = in_pool(3);
            assert_eq!(l1, l3, "{:?}: losses at 1 and 3 threads", cfg.net);
            assert_eq!(w1, w3, "{:?}: weights at 1 and 3 threads", cfg.net);
            let (lc, _) = run_rows(&cfg, false, None, rows).unwrap();
            for (a, b) in l1.iter().zip(&lc) {
                assert!(((a - b) / b).abs() < 1e-5, "loss {a} vs candle {b}");
            }
        }
    }

    /// A training resumed from any of its checkpoints ends with the same bits as one that ran
    /// straight through (the batches come from the same stream, as the stage layer restores).
    #[test]
    fn resumed_training_is_bit_identical() {
        for net in [
            NetConfig {
                arch: Arch::Mlp {
                    hidden: vec![16, 16],
                },
                activation: Activation::Silu,
                time: TimeFeature::Sinusoidal { dim: 4 },
                state_dim: 2,
                out_dim: 2,
            },
            NetConfig {
                arch: Arch::ResMlp { width: 8, depth: 2 },
                activation: Activation::Gelu,
                time: TimeFeature::Log1m,
                state_dim: 4,
                out_dim: 2,
            },
        ] {
            let mut cfg = train_cfg(net);
            cfg.steps = 12;
            let mut rng = ChaCha8Rng::seed_from_u64(21);
            let batches: Vec<TrainBatch> = (0..cfg.steps)
                .map(|_| random_batch(&cfg.net, 150, &mut rng))
                .collect();
            let dev = ComputeDevice::cpu();
            let mut saved: Vec<TrainState> = Vec::new();
            let mut save = |s: &TrainState| {
                saved.push(s.clone());
                Ok(())
            };
            let mut every = Checkpoints {
                every: 4,
                resume: None,
                save: &mut save,
            };
            let straight = train_fast(
                &cfg,
                None,
                &dev,
                &mut |step| Ok(batches[step - 1].clone()),
                &mut |_| {},
                Some(&mut every),
            )
            .unwrap();
            assert_eq!(saved.iter().map(|s| s.step).collect::<Vec<_>>(), vec![4, 8]);
            for state in saved.clone() {
                let bytes = state.to_bytes();
                let mut nothing = |_: &TrainState| Ok(());
                let mut resume = Checkpoints {
                    every: 4,
                    resume: Some(TrainState::from_bytes(&bytes).unwrap()),
                    save: &mut nothing,
                };
                let mut calls = Vec::new();
                let resumed = train_fast(
                    &cfg,
                    None,
                    &dev,
                    &mut |step| {
                        calls.push(step);
                        Ok(batches[step - 1].clone())
                    },
                    &mut |_| {},
                    Some(&mut resume),
                )
                .unwrap();
                assert_eq!(calls.first(), Some(&(state.step + 1)));
                assert_eq!(resumed.losses, straight.losses);
                assert_eq!(
                    resumed.net.host_values().unwrap(),
                    straight.net.host_values().unwrap()
                );
            }
            // A checkpoint of another shape is refused, not half-applied.
            let mut wrong = saved[0].clone();
            wrong.params[0].pop();
            let mut nothing = |_: &TrainState| Ok(());
            let mut bad = Checkpoints {
                every: 4,
                resume: Some(wrong),
                save: &mut nothing,
            };
            assert!(
                train_fast(
                    &cfg,
                    None,
                    &dev,
                    &mut |step| Ok(batches[step - 1].clone()),
                    &mut |_| {},
                    Some(&mut bad)
                )
                .is_err()
            );
        }
    }

    #[test]
    fn divergence_names_the_step_and_last_finite_loss() {
        let cfg = train_cfg(configs()[0].clone());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut next = |step: usize| {
            let mut b = random_batch(&cfg.net, 8, &mut rng);
            if step == 4 {
                b.target[3] = f32::NAN;
            }
            Ok(b)
        };
        let mut seen = Vec::new();
        let err = train_fast(
            &cfg,
            None,
            &ComputeDevice::cpu(),
            &mut next,
            &mut |p| seen.push(p.loss),
            None,
        )
        .unwrap_err();
        match err {
            NnError::Diverged {
                step,
                last_finite_loss,
            } => {
                assert_eq!(step, 4);
                assert_eq!(last_finite_loss, seen.last().copied());
                assert_eq!(seen.len(), 3);
            }
            other => panic!("expected Diverged, got {other}"),
        }
    }

    #[test]
    fn init_network_is_the_starting_point() {
        let mut cfg = train_cfg(configs()[2].clone());
        cfg.optim.ema = None;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let init = random_net(&cfg.net, &mut rng);
        let (lf, _) = run(&cfg, true, Some(&init)).unwrap();
        let (lc, _) = run(&cfg, false, Some(&init)).unwrap();
        assert!(((lf[0] - lc[0]) / lc[0]).abs() < 1e-6);
        cfg.steps = 0;
        let (_, w) = run(&cfg, true, Some(&init)).unwrap();
        assert_eq!(w, init.host_values().unwrap());
    }
}
