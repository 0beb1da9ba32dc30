//! The divergence of a network's output with respect to its state input, for likelihoods by
//! the probability-flow ODE: forward-mode tangents pushed through every layer in f64 on the
//! host, either one tangent per state coordinate (the exact trace of the Jacobian) or given
//! probe vectors (Hutchinson's unbiased estimate `mean_k eps_k^T J eps_k`).
//!
//! Tangents are linear in the layer inputs, so the primal rows and every tangent's rows are
//! stacked into one matrix and each layer is one gemm; the bias, the time-feature columns and
//! the activation act on the primal rows, and the tangent rows are multiplied by the
//! activation's derivative at the primal pre-activation.

use std::sync::atomic::Ordering;

use crate::host_gemm::{View, matmul_into};
use crate::net::SELU_CONSTANTS;
use crate::{Activation, Arch, Network, NnError};

/// Which tangents [`DivergenceEvaluator::eval`] pushes through the network.
#[derive(Debug, Clone, Copy)]
pub enum Tangents<'p> {
    /// One tangent per state coordinate: the exact divergence (cost: 1 + state_dim passes).
    Exact,
    /// Hutchinson's estimator with these probes: `k` blocks of `rows x state_dim` values,
    /// concatenated (cost: 1 + k passes). Rademacher or standard normal probes are unbiased.
    Probes(&'p [f64]),
}

/// One linear layer in f64: weight `fan_out x fan_in` (row-major) and bias.
struct Layer64 {
    fan_in: usize,
    fan_out: usize,
    w: Vec<f64>,
    b: Vec<f64>,
}

/// Evaluates a network's output and the divergence of that output in the state, in f64.
/// Every call counts as one network evaluation on the network.
pub struct DivergenceEvaluator<'a> {
    net: &'a Network,
    layers: Vec<Layer64>,
    calls: u64,
}

impl Network {
    /// A divergence evaluator on this network's current weights (widened to f64). The network
    /// must map a state to a vector of the same size (a velocity field).
    pub fn divergence_evaluator(&self) -> Result<DivergenceEvaluator<'_>, NnError> {
        let cfg = self.config();
        if cfg.out_dim < cfg.state_dim {
            return Err(NnError::InvalidInput(format!(
                "a divergence needs a vector field: the network maps {} state values to only {} outputs",
                cfg.state_dim, cfg.out_dim
            )));
        }
        let mut by_name: std::collections::BTreeMap<String, Vec<f32>> = self
            .host_values()?
            .into_iter()
            .map(|(name, _, v)| (name, v))
            .collect();
        let mut take = |name: String| {
            by_name
                .remove(&name)
                .map(|v| v.into_iter().map(f64::from).collect::<Vec<f64>>())
                .ok_or_else(|| NnError::Internal(format!("missing parameter {name}")))
        };
        let mut layers = Vec::new();
        for l in cfg.layers() {
            layers.push(Layer64 {
                fan_in: l.fan_in,
                fan_out: l.fan_out,
                w: take(format!("{}.weight", l.name))?,
                b: take(format!("{}.bias", l.name))?,
            });
        }
        Ok(DivergenceEvaluator {
            net: self,
            layers,
            calls: 0,
        })
    }
}

/// The activation at `x` and its derivative, in f64 (the same functions as the network's).
fn activate(act: Activation, x: f64) -> (f64, f64) {
    match act {
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-x).exp());
            (x * s, s * (1.0 + x * (1.0 - s)))
        }
        Activation::Relu => (x.max(0.0), if x >= 0.0 { 1.0 } else { 0.0 }),
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f64(x / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * cdf, cdf + x * pdf)
        }
        Activation::Selu => {
            let (alpha, scale) = SELU_CONSTANTS;
            if x >= 0.0 {
                (scale * x, if x > 0.0 { scale } else { scale * alpha })
            } else {
                let e = alpha * x.exp();
                (scale * (e - alpha), scale * e)
            }
        }
    }
}

impl DivergenceEvaluator<'_> {
    /// Network evaluations made through this evaluator.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The output (`rows x out_dim`) and the divergence in the state of its first `state_dim`
    /// columns (`rows`; a head such as an interpolant's velocity when the network has more
    /// outputs) at time `t`, for row-major `state` (`rows x state_dim`).
    pub fn eval(
        &mut self,
        t: f64,
        state: &[f64],
        tangents: Tangents<'_>,
    ) -> Result<(Vec<f64>, Vec<f64>), NnError> {
        let cfg = self.net.config().clone();
        let (sd, e) = (cfg.state_dim, cfg.time.dim());
        if !state.len().is_multiple_of(sd) {
            return Err(NnError::InvalidInput(format!(
                "{} values is not a whole number of {sd}-wide state rows",
                state.len()
            )));
        }
        let rows = state.len() / sd;
        let probes = match tangents {
            Tangents::Exact => sd,
            Tangents::Probes(p) => {
                if p.is_empty() || !p.len().is_multiple_of(rows.max(1) * sd) {
                    return Err(NnError::InvalidInput(format!(
                        "{} probe values is not a positive number of {rows} x {sd} blocks",
                        p.len()
                    )));
                }
                p.len() / (rows.max(1) * sd)
            }
        };
        self.calls += 1;
        self.net.nfe.fetch_add(1, Ordering::Relaxed);
        if rows == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        // The time feature as the network sees it (rounded to f32).
        let mut feature32 = vec![0f32; e];
        cfg.time.write(t, &mut feature32);
        let feature: Vec<f64> = feature32.iter().map(|&v| f64::from(v)).collect();
        let tangent = |p: usize, r: usize, j: usize| -> f64 {
            match tangents {
                Tangents::Exact => f64::from(u8::from(p == j)),
                Tangents::Probes(v) => v[(p * rows + r) * sd + j],
            }
        };
        let blocks = 1 + probes;
        let total = blocks * rows;
        // Stacked input: block 0 = [state, feature]; block p = [tangent p, 0].
        let width0 = sd + e;
        let mut x = vec![0f64; total * width0];
        for r in 0..rows {
            let row = &mut x[r * width0..(r + 1) * width0];
            row[..sd].copy_from_slice(&state[r * sd..(r + 1) * sd]);
            row[sd..].copy_from_slice(&feature);
            for p in 0..probes {
                let tr = &mut x[((p + 1) * rows + r) * width0..][..sd];
                for (j, v) in tr.iter_mut().enumerate() {
                    *v = tangent(p, r, j);
                }
            }
        }
        let act = cfg.activation;
        let mut z = Vec::new();
        let out = match cfg.arch {
            Arch::Mlp { .. } => {
                let count = self.layers.len();
                let mut width = width0;
                for (l, layer) in self.layers.iter().enumerate() {
                    matmul_into(
                        &mut z,
                        &x,
                        View::rowmajor(total, width),
                        &layer.w,
                        View::rowmajor(layer.fan_out, layer.fan_in).t(),
                    );
                    add_bias(&mut z[..rows * layer.fan_out], &layer.b);
                    if l + 1 < count {
                        nonlinearity(act, &mut z, rows, layer.fan_out);
                    }
                    std::mem::swap(&mut x, &mut z);
                    width = layer.fan_out;
                }
                debug_assert_eq!(width, cfg.out_dim);
                x
            }
            Arch::ResMlp { width: w, .. } => {
                let (input, rest) = self.layers.split_first().expect("input layer");
                let (output, hidden) = rest.split_last().expect("output layer");
                matmul_into(
                    &mut z,
                    &x,
                    View::rowmajor(total, width0),
                    &input.w,
                    View::rowmajor(input.fan_out, input.fan_in).t(),
                );
                add_bias(&mut z[..rows * w], &input.b);
                let mut h = z;
                let mut z = Vec::new();
                let mut time_part = Vec::new();
                for block in hidden {
                    let fan_in = block.fan_in;
                    // h W_h^T for every block; the time columns and bias for the primal rows.
                    matmul_into(
                        &mut z,
                        &h,
                        View::rowmajor(total, w),
                        &block.w,
                        View::leading(w, w, fan_in).t(),
                    );
                    let time_cols = View {
                        rows: w,
                        cols: e,
                        rs: fan_in,
                        cs: 1,
                        offset: w,
                    };
                    matmul_into(
                        &mut time_part,
                        &feature,
                        View::rowmajor(1, e),
                        &block.w,
                        time_cols.t(),
                    );
                    for r in 0..rows {
                        for ((v, tp), b) in z[r * w..(r + 1) * w]
                            .iter_mut()
                            .zip(&time_part)
                            .zip(&block.b)
                        {
                            *v += tp + b;
                        }
                    }
                    // The residual, in every block (it is linear).
                    for (v, hv) in z.iter_mut().zip(&h) {
                        *v += hv;
                    }
                    nonlinearity(act, &mut z, rows, w);
                    std::mem::swap(&mut h, &mut z);
                }
                let mut o = Vec::new();
                matmul_into(
                    &mut o,
                    &h,
                    View::rowmajor(total, w),
                    &output.w,
                    View::rowmajor(output.fan_out, output.fan_in).t(),
                );
                add_bias(&mut o[..rows * output.fan_out], &output.b);
                o
            }
        };
        let od = cfg.out_dim;
        let primal = out[..rows * od].to_vec();
        let mut div = vec![0f64; rows];
        for (r, d) in div.iter_mut().enumerate() {
            let mut acc = 0.0;
            for p in 0..probes {
                let jt = &out[((p + 1) * rows + r) * od..][..od];
                acc += match tangents {
                    // (J e_p)_p: the p-th diagonal entry.
                    Tangents::Exact => jt[p],
                    Tangents::Probes(_) => (0..sd).map(|j| tangent(p, r, j) * jt[j]).sum::<f64>(),
                };
            }
            *d = match tangents {
                Tangents::Exact => acc,
                Tangents::Probes(_) => acc / probes as f64,
            };
        }
        Ok((primal, div))
    }
}

/// A network as a [`drift_dynamics::likelihood::DivergenceField`]: the exact divergence, or
/// Hutchinson's estimate with `probes` fresh Rademacher probes per evaluation drawn from a
/// seeded stream (so a run is reproducible).
pub struct NetDivergenceField<'a> {
    evaluator: DivergenceEvaluator<'a>,
    hutchinson: Option<(usize, drift_dynamics::Rng)>,
}

impl<'a> NetDivergenceField<'a> {
    /// The exact divergence.
    pub fn exact(net: &'a Network) -> Result<Self, NnError> {
        Ok(NetDivergenceField {
            evaluator: net.divergence_evaluator()?,
            hutchinson: None,
        })
    }

    /// Hutchinson's estimator with `probes` Rademacher probes per evaluation.
    pub fn hutchinson(net: &'a Network, probes: usize, seed: u64) -> Result<Self, NnError> {
        Ok(NetDivergenceField {
            evaluator: net.divergence_evaluator()?,
            hutchinson: Some((probes.max(1), drift_dynamics::rng(seed, 0))),
        })
    }

    /// Network evaluations made through this field.
    pub fn calls(&self) -> u64 {
        self.evaluator.calls()
    }
}

impl drift_dynamics::likelihood::DivergenceField for NetDivergenceField<'_> {
    fn dim(&self) -> usize {
        self.evaluator.net.config().state_dim
    }

    fn eval_div(
        &mut self,
        t: f64,
        state: &[f64],
        out: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), drift_dynamics::DynamicsError> {
        let probes = self.hutchinson.as_mut().map(|(k, rng)| {
            use rand::Rng as _;
            (0..*k * state.len())
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect::<Vec<f64>>()
        });
        let tangents = match &probes {
            Some(p) => Tangents::Probes(p),
            None => Tangents::Exact,
        };
        let (o, d) = self
            .evaluator
            .eval(t, state, tangents)
            .map_err(|e| drift_dynamics::DynamicsError::Field(e.to_string()))?;
        let cfg = self.evaluator.net.config();
        let (sd, od) = (cfg.state_dim, cfg.out_dim);
        if o.len() / od * sd != out.len() || d.len() != div.len() {
            return Err(drift_dynamics::DynamicsError::Field(format!(
                "the network returned {} values and {} divergences, expected {} and {}",
                o.len(),
                d.len(),
                out.len() / sd * od,
                div.len()
            )));
        }
        // The first state_dim columns of each output row (the whole row for a vector field).
        for (dst, src) in out.chunks_exact_mut(sd).zip(o.chunks_exact(od)) {
            dst.copy_from_slice(&src[..sd]);
        }
        div.copy_from_slice(&d);
        Ok(())
    }
}

fn add_bias(z: &mut [f64], b: &[f64]) {
    for row in z.chunks_exact_mut(b.len()) {
        for (v, bv) in row.iter_mut().zip(b) {
            *v += bv;
        }
    }
}

/// Applies the activation to the primal rows (the first `rows` of `z`, `width` wide) and
/// multiplies every tangent row by the derivative at its primal row.
fn nonlinearity(act: Activation, z: &mut [f64], rows: usize, width: usize) {
    let (primal, tangents) = z.split_at_mut(rows * width);
    let mut deriv = vec![0f64; rows * width];
    for (v, d) in primal.iter_mut().zip(deriv.iter_mut()) {
        let (y, dy) = activate(act, *v);
        *v = y;
        *d = dy;
    }
    for block in tangents.chunks_exact_mut(rows * width) {
        for (v, d) in block.iter_mut().zip(&deriv) {
            *v *= d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ComputeDevice, NetConfig, TimeFeature};

    fn net(arch: Arch, act: Activation, time: TimeFeature) -> Network {
        let cfg = NetConfig {
            arch,
            activation: act,
            time,
            state_dim: 3,
            out_dim: 3,
        };
        // Random weights everywhere (the output layer too), so the Jacobian is non-trivial.
        let mut k = 0u64;
        let values = cfg
            .layers()
            .iter()
            .flat_map(|l| {
                let mut draw = |n: usize| -> Vec<f32> {
                    (0..n)
                        .map(|_| {
                            k = k
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            (((k >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0
                                / (l.fan_in as f64).sqrt()) as f32
                        })
                        .collect()
                };
                let w = draw(l.fan_out * l.fan_in);
                let b = draw(l.fan_out);
                [
                    (format!("{}.weight", l.name), vec![l.fan_out, l.fan_in], w),
                    (format!("{}.bias", l.name), vec![l.fan_out], b),
                ]
            })
            .collect();
        Network::from_host_values(&cfg, values, &ComputeDevice::cpu()).unwrap()
    }

    fn nets() -> Vec<Network> {
        let mut out = Vec::new();
        for act in Activation::ALL {
            out.push(net(
                Arch::Mlp {
                    hidden: vec![16, 16],
                },
                act,
                TimeFeature::Sinusoidal { dim: 4 },
            ));
            out.push(net(
                Arch::ResMlp {
                    width: 12,
                    depth: 3,
                },
                act,
                TimeFeature::Log1m,
            ));
        }
        out
    }

    const STATE: [f64; 6] = [0.3, -1.2, 0.7, 1.5, 0.2, -0.4];

    #[test]
    fn output_matches_the_network() {
        for n in nets() {
            let (out, _) = n
                .divergence_evaluator()
                .unwrap()
                .eval(0.4, &STATE, Tangents::Exact)
                .unwrap();
            let state32: Vec<f32> = STATE.iter().map(|&v| v as f32).collect();
            let want = n.evaluator().eval(0.4, &state32).unwrap();
            for (a, b) in out.iter().zip(&want) {
                assert!(
                    (a - f64::from(*b)).abs() < 1e-5,
                    "{:?}: {a} vs {b}",
                    n.config()
                );
            }
        }
    }

    #[test]
    fn exact_divergence_matches_central_differences() {
        for n in nets() {
            let mut ev = n.divergence_evaluator().unwrap();
            let (_, div) = ev.eval(0.4, &STATE, Tangents::Exact).unwrap();
            let h = 1e-5;
            for r in 0..2 {
                let mut fd = 0.0;
                for j in 0..3 {
                    let mut plus = STATE;
                    let mut minus = STATE;
                    plus[r * 3 + j] += h;
                    minus[r * 3 + j] -= h;
                    let (op, _) = ev.eval(0.4, &plus, Tangents::Exact).unwrap();
                    let (om, _) = ev.eval(0.4, &minus, Tangents::Exact).unwrap();
                    fd += (op[r * 3 + j] - om[r * 3 + j]) / (2.0 * h);
                }
                assert!(
                    (div[r] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{:?} row {r}: {} vs finite differences {fd}",
                    n.config(),
                    div[r]
                );
            }
        }
    }

    #[test]
    fn hutchinson_with_basis_probes_is_exact_and_counts_calls() {
        let n = &nets()[0];
        let mut ev = n.divergence_evaluator().unwrap();
        let (_, exact) = ev.eval(0.2, &STATE, Tangents::Exact).unwrap();
        // The 3 basis vectors as probes: mean of e_p^T J e_p = trace / 3.
        let mut probes = vec![0f64; 3 * 2 * 3];
        for p in 0..3 {
            for r in 0..2 {
                probes[(p * 2 + r) * 3 + p] = 1.0;
            }
        }
        let (_, est) = ev.eval(0.2, &STATE, Tangents::Probes(&probes)).unwrap();
        for (a, b) in exact.iter().zip(&est) {
            assert!((a / 3.0 - b).abs() < 1e-12);
        }
        assert_eq!(ev.calls(), 2);
        assert_eq!(n.nfe(), 2);
        assert!(
            ev.eval(0.2, &STATE, Tangents::Probes(&probes[..5]))
                .is_err()
        );
    }
}

#[cfg(test)]
mod likelihood_tests {
    use super::*;
    use crate::{ComputeDevice, NetConfig, TimeFeature};
    use drift_dynamics::likelihood::log_likelihood;

    /// Hutchinson's estimate of the mean log-likelihood agrees with the exact divergence within
    /// its sampling error (8 independent probe streams, 4 standard errors), on a random 3D
    /// flow and a mixture of two Gaussian clusters as test points.
    #[test]
    fn hutchinson_likelihood_agrees_with_exact_within_its_error() {
        let cfg = NetConfig {
            arch: Arch::Mlp {
                hidden: vec![24, 24],
            },
            activation: Activation::Silu,
            time: TimeFeature::Sinusoidal { dim: 4 },
            state_dim: 3,
            out_dim: 3,
        };
        let net = Network::new_initialised(&cfg, 7, &ComputeDevice::cpu()).unwrap();
        // Give the zero-initialised output layer weights, so the flow is not the identity.
        let values = net
            .host_values()
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape, v))| {
                let v = v
                    .iter()
                    .enumerate()
                    .map(|(j, x)| x + 0.3 * (((i * 31 + j * 17) % 13) as f32 / 13.0 - 0.5))
                    .collect();
                (name, shape, v)
            })
            .collect();
        let net = Network::from_host_values(&cfg, values, &ComputeDevice::cpu()).unwrap();
        let mut rng = drift_dynamics::rng(3, 0);
        let mut x1 = vec![0f64; 300 * 3];
        drift_dynamics::fill_normal(&mut rng, &mut x1);
        for (k, v) in x1.iter_mut().enumerate() {
            *v = 0.5 * *v + if (k / 3) % 2 == 0 { 1.5 } else { -1.5 };
        }
        let mean = |lp: &[f64]| lp.iter().sum::<f64>() / lp.len() as f64;
        let mut exact_field = NetDivergenceField::exact(&net).unwrap();
        let exact = mean(&log_likelihood(&mut exact_field, &x1, 20).unwrap().log_p);
        let estimates: Vec<f64> = (0..8)
            .map(|seed| {
                let mut f = NetDivergenceField::hutchinson(&net, 1, seed).unwrap();
                mean(&log_likelihood(&mut f, &x1, 20).unwrap().log_p)
            })
            .collect();
        let m = mean(&estimates);
        let var = estimates.iter().map(|e| (e - m).powi(2)).sum::<f64>() / 7.0;
        let stderr = (var / 8.0).sqrt();
        assert!(stderr > 0.0, "the estimates vary with the probes");
        assert!(
            (m - exact).abs() < 4.0 * stderr + 1e-9,
            "Hutchinson {m} +- {stderr} vs exact {exact}"
        );
    }
}
