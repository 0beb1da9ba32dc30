//! Minibatch couplings between source rows `x0` and target rows `x1` (equal counts `b`,
//! width `d`, f64): which source row is trained together with which target row.
//!
//! This module owns the three couplings of the flow-matching family (methods.md §2):
//! independent pairing (I-CFM, rectified flow), exact minibatch optimal transport (OT-CFM)
//! and entropic optimal transport solved by Sinkhorn iterations (SB-CFM). A coupling only
//! produces row indices ([`Pairs`]); the path formulas live in [`crate::paths`].
//!
//! Costs are squared Euclidean distances (not normalised) with uniform marginals, as in
//! TorchCFM's `OTPlanSampler`. Unlike TorchCFM, a Sinkhorn plan that breaks down is replaced
//! by the uniform plan *and reported* through [`Pairs::fallback`].

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::{DynamicsError, Rng};

/// Sinkhorn stops once the L1 error of the row marginal is below this (POT's default `stopThr`).
pub const SINKHORN_TOLERANCE: f64 = 1e-9;

/// Sinkhorn gives up refining after this many iterations (POT's default `numItermax`) and
/// uses the plan it has.
pub const SINKHORN_MAX_ITERATIONS: usize = 1000;

/// A plan whose total mass is below this (or non-finite) counts as broken down.
const MIN_PLAN_MASS: f64 = 1e-8;

/// How pairs are read off an exact optimal-transport plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtPairing {
    /// TorchCFM's behaviour: draw `b` pairs with replacement, with probability proportional to
    /// the plan entries. Duplicate pairs are possible and some rows are left out.
    #[default]
    Resample,
    /// Pair every source row with its partner under the optimal permutation (each row used
    /// exactly once, no randomness).
    Permutation,
}

/// Which rows of a minibatch are paired for training.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Coupling {
    /// Row `i` of `x0` with row `i` of `x1` (the rows are independent draws already).
    #[default]
    Independent,
    /// Exact minibatch optimal transport under squared Euclidean cost (OT-CFM).
    ExactOt {
        /// How pairs are taken from the optimal plan.
        #[serde(default)]
        pairing: OtPairing,
    },
    /// Entropic optimal transport (SB-CFM), with regularisation `reg` (SB-CFM uses
    /// `reg = 2 sigma^2`; the caller passes it). Pairs are always resampled from the plan,
    /// since an entropic plan is not a permutation.
    Sinkhorn {
        /// Entropic regularisation strength, in units of the (unnormalised) squared cost.
        reg: f64,
    },
}

impl Coupling {
    /// The Schrödinger-bridge coupling of SB-CFM for path noise `sigma`: Sinkhorn with
    /// `reg = 2 sigma^2`.
    pub fn schrodinger_bridge(sigma: f64) -> Self {
        Coupling::Sinkhorn {
            reg: 2.0 * sigma * sigma,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), DynamicsError> {
        match self {
            Coupling::Independent | Coupling::ExactOt { .. } => Ok(()),
            Coupling::Sinkhorn { reg } => {
                if reg.is_finite() && *reg > 0.0 {
                    Ok(())
                } else {
                    Err(DynamicsError::InvalidConfig(format!(
                        "coupling.reg must be finite and > 0 (entropic regularisation, \
                         SB-CFM uses 2 sigma^2), got {reg}"
                    )))
                }
            }
        }
    }
}

/// The outcome of a coupling: training pair `k` is row `i0[k]` of `x0` with row `i1[k]` of `x1`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pairs {
    /// Indices into the source rows.
    pub i0: Vec<usize>,
    /// Indices into the target rows.
    pub i1: Vec<usize>,
    /// True when the Sinkhorn plan broke down (non-finite or near-zero mass) and the
    /// uniform plan was used instead, i.e. the pairs are independent, not entropic-OT.
    pub fallback: bool,
}

impl Pairs {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.i0.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.i0.is_empty()
    }

    /// The paired rows, gathered into two new row-major blocks of width `d`.
    pub fn gather(&self, x0: &[f64], x1: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        (gather_rows(x0, &self.i0, d), gather_rows(x1, &self.i1, d))
    }
}

/// Rows `idx` of the row-major block `rows` (width `d`), in order.
fn gather_rows(rows: &[f64], idx: &[usize], d: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        out.extend_from_slice(&rows[i * d..(i + 1) * d]);
    }
    out
}

/// Pairs the `b` source rows `x0` with the `b` target rows `x1` (row-major, width `d`).
///
/// Randomness (in this order): `Independent` and `ExactOt{Permutation}` draw nothing;
/// `ExactOt{Resample}` draws `b` uniform indices `rng.random_range(0..b)`; `Sinkhorn` draws
/// `b` uniforms `rng.random::<f64>()`, one per pair, each inverted through the cumulative
/// row-major plan.
///
/// Why `ExactOt{Resample}` draws source indices uniformly: for equal sizes and uniform
/// marginals the exact (EMD) plan is a permutation matrix divided by `b` (Birkhoff: an optimal
/// vertex of the transport polytope), so its `b` non-zero entries `(i, col[i])` each carry
/// mass `1/b`. Drawing flat entries with probability proportional to the plan, as TorchCFM
/// does, is therefore the same as drawing `i` uniformly and taking `(i, col[i])`.
pub fn pair(
    coupling: &Coupling,
    x0: &[f64],
    x1: &[f64],
    d: usize,
    rng: &mut Rng,
) -> Result<Pairs, DynamicsError> {
    coupling.validate()?;
    let b = check_blocks(x0, x1, d)?;
    match coupling {
        Coupling::Independent => Ok(Pairs {
            i0: (0..b).collect(),
            i1: (0..b).collect(),
            fallback: false,
        }),
        Coupling::ExactOt { pairing } => {
            check_finite(x0, "x0")?;
            check_finite(x1, "x1")?;
            if b == 0 {
                return Ok(Pairs::default());
            }
            let col = drift_metrics::optimal_assignment(x0, x1, d);
            match pairing {
                OtPairing::Permutation => Ok(Pairs {
                    i0: (0..b).collect(),
                    i1: col,
                    fallback: false,
                }),
                OtPairing::Resample => {
                    let i0: Vec<usize> = (0..b).map(|_| rng.random_range(0..b)).collect();
                    let i1 = i0.iter().map(|&i| col[i]).collect();
                    Ok(Pairs {
                        i0,
                        i1,
                        fallback: false,
                    })
                }
            }
        }
        Coupling::Sinkhorn { reg } => {
            check_finite(x0, "x0")?;
            check_finite(x1, "x1")?;
            if b == 0 {
                return Ok(Pairs::default());
            }
            let solved = sinkhorn_plan(x0, x1, d, *reg)?;
            let (i0, i1) = resample_from_plan(&solved.plan, b, b, rng);
            Ok(Pairs {
                i0,
                i1,
                fallback: solved.fallback,
            })
        }
    }
}

/// An entropic transport plan and how the iterations went.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornPlan {
    /// `b x b` row-major plan: `plan[i * b + j]` is the mass moved from `x0[i]` to `x1[j]`
    /// (sums to 1).
    pub plan: Vec<f64>,
    /// Iterations performed (one iteration updates both potentials).
    pub iterations: usize,
    /// L1 error of the row marginal at the end (the column marginal is exact after each
    /// iteration).
    pub marginal_error: f64,
    /// True when the error fell below [`SINKHORN_TOLERANCE`].
    pub converged: bool,
    /// True when the iterations broke down and `plan` is the uniform plan instead.
    pub fallback: bool,
}

/// The entropic optimal-transport plan between the rows of `x0` and `x1` (equal counts,
/// width `d`) for squared Euclidean cost, uniform marginals and regularisation `reg`:
/// `argmin <P, C> - reg H(P)`.
///
/// Log-domain Sinkhorn in f64: with potentials `f`, `g` the plan is
/// `P_ij = exp((f_i + g_j - C_ij) / reg)`; each iteration sets `f` to match the row marginal,
/// then `g` to match the column marginal, by log-sum-exp (stable for small `reg`, where the
/// plain kernel `exp(-C/reg)` underflows). Stops at [`SINKHORN_TOLERANCE`] or after
/// [`SINKHORN_MAX_ITERATIONS`]. A plan that is non-finite or has near-zero mass is replaced by
/// the uniform plan with `fallback = true`.
pub fn sinkhorn_plan(
    x0: &[f64],
    x1: &[f64],
    d: usize,
    reg: f64,
) -> Result<SinkhornPlan, DynamicsError> {
    Coupling::Sinkhorn { reg }.validate()?;
    let b = check_blocks(x0, x1, d)?;
    check_finite(x0, "x0")?;
    check_finite(x1, "x1")?;
    if b == 0 {
        return Ok(SinkhornPlan {
            plan: Vec::new(),
            iterations: 0,
            marginal_error: 0.0,
            converged: true,
            fallback: false,
        });
    }
    let cost = squared_distances(x0, x1, d);
    // The same fixed-point iteration in kernel space (two mat-vecs per sweep instead of two
    // passes of b^2 exponentials) when the Gibbs kernel exp(-C / reg) cannot underflow; the
    // log-domain form below handles small regularisations.
    let max_cost = cost.iter().copied().fold(0.0, f64::max);
    if max_cost / reg < KERNEL_SPACE_MAX_EXPONENT {
        return Ok(sinkhorn_kernel_space(&cost, b, reg));
    }
    Ok(sinkhorn_log_domain(&cost, b, reg))
}

/// Sinkhorn in the log domain (potentials f, g), stable for any regularisation.
fn sinkhorn_log_domain(cost: &[f64], b: usize, reg: f64) -> SinkhornPlan {
    let log_marginal = -(b as f64).ln();
    let marginal = 1.0 / b as f64;
    let mut f = vec![0.0; b];
    let mut g = vec![0.0; b];
    let mut scratch = vec![0.0; b];
    let (iterations, marginal_error, converged) = iterate_until_marginal(|| {
        for i in 0..b {
            for j in 0..b {
                scratch[j] = (g[j] - cost[i * b + j]) / reg;
            }
            f[i] = reg * (log_marginal - log_sum_exp(&scratch));
        }
        for j in 0..b {
            for i in 0..b {
                scratch[i] = (f[i] - cost[i * b + j]) / reg;
            }
            g[j] = reg * (log_marginal - log_sum_exp(&scratch));
        }
        (0..b)
            .map(|i| {
                let row_mass: f64 = (0..b)
                    .map(|j| ((f[i] + g[j] - cost[i * b + j]) / reg).exp())
                    .sum();
                (row_mass - marginal).abs()
            })
            .sum()
    });
    let plan: Vec<f64> = (0..b * b)
        .map(|k| ((f[k / b] + g[k % b] - cost[k]) / reg).exp())
        .collect();
    finish_plan(plan, b, iterations, marginal_error, converged)
}

/// Runs `sweep` (one Sinkhorn update returning the L1 row-marginal error) until the error is
/// below [`SINKHORN_TOLERANCE`], becomes non-finite, or [`SINKHORN_MAX_ITERATIONS`] sweeps have
/// run: the stopping rule both Sinkhorn forms share. Returns (sweeps, last error, converged).
fn iterate_until_marginal(mut sweep: impl FnMut() -> f64) -> (usize, f64, bool) {
    let mut marginal_error = f64::INFINITY;
    for iterations in 1..=SINKHORN_MAX_ITERATIONS {
        marginal_error = sweep();
        if !marginal_error.is_finite() {
            return (iterations, marginal_error, false);
        }
        if marginal_error < SINKHORN_TOLERANCE {
            return (iterations, marginal_error, true);
        }
    }
    (SINKHORN_MAX_ITERATIONS, marginal_error, false)
}

/// The result of either Sinkhorn form: the plan, or the uniform plan when it has (numerically)
/// no mass or is not finite.
fn finish_plan(
    plan: Vec<f64>,
    b: usize,
    iterations: usize,
    marginal_error: f64,
    converged: bool,
) -> SinkhornPlan {
    let mass: f64 = plan.iter().sum();
    if !mass.is_finite() || mass < MIN_PLAN_MASS || plan.iter().any(|p| !p.is_finite()) {
        let marginal = 1.0 / b as f64;
        return SinkhornPlan {
            plan: vec![marginal * marginal; b * b],
            iterations,
            marginal_error,
            converged: false,
            fallback: true,
        };
    }
    SinkhornPlan {
        plan,
        iterations,
        marginal_error,
        converged,
        fallback: false,
    }
}

/// Largest `cost / reg` for which the kernel-space iteration is used: exp(-600) ~ 1e-261 keeps
/// every kernel entry and every scaling product a normal f64.
const KERNEL_SPACE_MAX_EXPONENT: f64 = 600.0;

/// Sinkhorn's scaling iteration `u = a / (K v)`, `v = b / (K^T u)` with `K = exp(-C / reg)`,
/// uniform marginals; the same stopping rule as the log-domain form (L1 row-marginal error).
fn sinkhorn_kernel_space(cost: &[f64], b: usize, reg: f64) -> SinkhornPlan {
    let marginal = 1.0 / b as f64;
    let kernel: Vec<f64> = cost.iter().map(|c| (-c / reg).exp()).collect();
    let mut u = vec![1.0; b];
    let mut v = vec![1.0; b];
    let mut kv = vec![0.0; b];
    let mut ktu = vec![0.0; b];
    let (iterations, marginal_error, converged) = iterate_until_marginal(|| {
        for i in 0..b {
            let row = &kernel[i * b..(i + 1) * b];
            kv[i] = row.iter().zip(&v).map(|(k, v)| k * v).sum();
            u[i] = marginal / kv[i];
        }
        ktu.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..b {
            let row = &kernel[i * b..(i + 1) * b];
            for (acc, k) in ktu.iter_mut().zip(row) {
                *acc += k * u[i];
            }
        }
        for j in 0..b {
            v[j] = marginal / ktu[j];
        }
        // Row masses of diag(u) K diag(v).
        (0..b)
            .map(|i| {
                let row = &kernel[i * b..(i + 1) * b];
                let mass: f64 = row.iter().zip(&v).map(|(k, v)| k * v).sum::<f64>() * u[i];
                (mass - marginal).abs()
            })
            .sum()
    });
    let plan: Vec<f64> = (0..b * b)
        .map(|k| u[k / b] * kernel[k] * v[k % b])
        .collect();
    finish_plan(plan, b, iterations, marginal_error, converged)
}

/// Draws `count` flat entries of the `rows x cols` row-major non-negative `plan` with
/// probability proportional to the entries (with replacement): one `rng.random::<f64>()` per
/// draw, inverted through the cumulative sums.
fn resample_from_plan(
    plan: &[f64],
    cols: usize,
    count: usize,
    rng: &mut Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut cumulative = Vec::with_capacity(plan.len());
    let mut running = 0.0;
    for &p in plan {
        running += p.max(0.0);
        cumulative.push(running);
    }
    let total = running;
    let last = plan.len() - 1;
    let mut i0 = Vec::with_capacity(count);
    let mut i1 = Vec::with_capacity(count);
    for _ in 0..count {
        let target = rng.random::<f64>() * total;
        // First entry whose cumulative mass exceeds the target (zero-mass entries are never
        // chosen because their cumulative value equals their predecessor's).
        let k = cumulative.partition_point(|&c| c <= target).min(last);
        i0.push(k / cols);
        i1.push(k % cols);
    }
    (i0, i1)
}

/// Squared Euclidean distances, `b x b` row-major.
fn squared_distances(x0: &[f64], x1: &[f64], d: usize) -> Vec<f64> {
    let mut cost = Vec::with_capacity(x0.len() / d * (x1.len() / d));
    for a in x0.chunks_exact(d) {
        for c in x1.chunks_exact(d) {
            cost.push(a.iter().zip(c).map(|(p, q)| (p - q) * (p - q)).sum());
        }
    }
    cost
}

/// `log(sum exp(v))`, shifted by the maximum; `-inf` when every entry is `-inf`.
fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Checks shapes and returns the row count.
fn check_blocks(x0: &[f64], x1: &[f64], d: usize) -> Result<usize, DynamicsError> {
    if d == 0 {
        return Err(DynamicsError::InvalidConfig(
            "coupling: row width d must be at least 1".into(),
        ));
    }
    if !x0.len().is_multiple_of(d) || !x1.len().is_multiple_of(d) {
        return Err(DynamicsError::InvalidConfig(format!(
            "coupling: x0 ({} values) and x1 ({} values) must be whole rows of width {d}",
            x0.len(),
            x1.len()
        )));
    }
    if x0.len() != x1.len() {
        return Err(DynamicsError::InvalidConfig(format!(
            "coupling: x0 has {} rows but x1 has {}; minibatch couplings need equal counts",
            x0.len() / d,
            x1.len() / d
        )));
    }
    Ok(x0.len() / d)
}

/// Optimal-transport costs need finite coordinates.
fn check_finite(rows: &[f64], name: &str) -> Result<(), DynamicsError> {
    match rows.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(DynamicsError::Numerical(format!(
            "coupling: {name} has a non-finite value at flat index {k}; cannot compute transport costs"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fill_normal, rng};

    fn points(seed: u64, b: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
        let mut r = rng(seed, 0);
        let mut x0 = vec![0.0; b * d];
        let mut x1 = vec![0.0; b * d];
        fill_normal(&mut r, &mut x0);
        fill_normal(&mut r, &mut x1);
        (x0, x1)
    }

    fn pair_cost(x0: &[f64], x1: &[f64], d: usize, i0: &[usize], i1: &[usize]) -> f64 {
        i0.iter()
            .zip(i1)
            .map(|(&i, &j)| {
                (0..d)
                    .map(|k| (x0[i * d + k] - x1[j * d + k]).powi(2))
                    .sum::<f64>()
            })
            .sum()
    }

    /// Minimum total cost over all permutations (Heap's algorithm), independent of the solver.
    fn brute_force_min_cost(x0: &[f64], x1: &[f64], d: usize, b: usize) -> f64 {
        let mut perm: Vec<usize> = (0..b).collect();
        let ident: Vec<usize> = (0..b).collect();
        let mut best = pair_cost(x0, x1, d, &ident, &perm);
        let mut c = vec![0usize; b];
        let mut i = 0;
        while i < b {
            if c[i] < i {
                if i % 2 == 0 {
                    perm.swap(0, i);
                } else {
                    perm.swap(c[i], i);
                }
                best = best.min(pair_cost(x0, x1, d, &ident, &perm));
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        best
    }

    fn is_permutation(p: &[usize]) -> bool {
        let mut seen = vec![false; p.len()];
        p.iter()
            .all(|&j| j < p.len() && !std::mem::replace(&mut seen[j], true))
    }

    #[test]
    fn exact_ot_permutation_is_optimal_against_brute_force() {
        for (seed, b, d) in [
            (1, 2, 1),
            (2, 4, 2),
            (3, 5, 3),
            (4, 6, 2),
            (5, 7, 2),
            (6, 7, 1),
        ] {
            let (x0, x1) = points(seed, b, d);
            let pairs = pair(
                &Coupling::ExactOt {
                    pairing: OtPairing::Permutation,
                },
                &x0,
                &x1,
                d,
                &mut rng(0, 0),
            )
            .unwrap();
            assert_eq!(pairs.i0, (0..b).collect::<Vec<_>>());
            assert!(is_permutation(&pairs.i1), "{:?}", pairs.i1);
            assert!(!pairs.fallback);
            let got = pair_cost(&x0, &x1, d, &pairs.i0, &pairs.i1);
            let best = brute_force_min_cost(&x0, &x1, d, b);
            assert!(
                (got - best).abs() <= 1e-12 * best.max(1.0),
                "b={b}: {got} vs {best}"
            );
        }
    }

    #[test]
    fn exact_ot_resample_draws_only_optimal_pairs_uniformly() {
        let (b, d) = (5, 2);
        let (x0, x1) = points(11, b, d);
        let col = drift_metrics::optimal_assignment(&x0, &x1, d);
        let coupling = Coupling::ExactOt {
            pairing: OtPairing::Resample,
        };
        let mut r = rng(7, 1);
        let mut counts = vec![0usize; b];
        let calls = 4000;
        for _ in 0..calls {
            let pairs = pair(&coupling, &x0, &x1, d, &mut r).unwrap();
            assert_eq!(pairs.len(), b);
            for (&i, &j) in pairs.i0.iter().zip(&pairs.i1) {
                assert_eq!(j, col[i], "resampled pair is off the optimal plan");
                counts[i] += 1;
            }
        }
        // Each source row has probability 1/b per draw; binomial sd = sqrt(n p (1-p)).
        let n = (calls * b) as f64;
        let p = 1.0 / b as f64;
        let sd = (n * p * (1.0 - p)).sqrt();
        for &c in &counts {
            assert!((c as f64 - n * p).abs() < 5.0 * sd, "{counts:?}");
        }
    }

    #[test]
    fn independent_is_identity_and_draws_nothing() {
        let (x0, x1) = points(3, 4, 2);
        let mut r = rng(1, 0);
        let before = r.clone();
        let pairs = pair(&Coupling::Independent, &x0, &x1, 2, &mut r).unwrap();
        assert_eq!(pairs.i0, vec![0, 1, 2, 3]);
        assert_eq!(pairs.i1, vec![0, 1, 2, 3]);
        assert_eq!(r, before);
    }

    #[test]
    fn sinkhorn_marginals_match() {
        for (seed, b, d, reg) in [(1, 8, 2, 1.0), (2, 16, 2, 2.0), (3, 6, 3, 0.7)] {
            let (x0, x1) = points(seed, b, d);
            let s = sinkhorn_plan(&x0, &x1, d, reg).unwrap();
            assert!(s.converged && !s.fallback, "reg {reg}: {s:?}");
            for i in 0..b {
                let row: f64 = (0..b).map(|j| s.plan[i * b + j]).sum();
                let col: f64 = (0..b).map(|j| s.plan[j * b + i]).sum();
                assert!((row - 1.0 / b as f64).abs() < 1e-6, "row {i}: {row}");
                assert!((col - 1.0 / b as f64).abs() < 1e-6, "col {i}: {col}");
            }
        }
    }

    #[test]
    fn sinkhorn_approaches_exact_plan_for_small_reg() {
        let (b, d) = (6, 2);
        let (x0, x1) = points(21, b, d);
        let col = drift_metrics::optimal_assignment(&x0, &x1, d);
        let ident: Vec<usize> = (0..b).collect();
        let ot_cost = pair_cost(&x0, &x1, d, &ident, &col) / b as f64;
        let cost = squared_distances(&x0, &x1, d);
        let independent_cost = cost.iter().sum::<f64>() / (b * b) as f64;
        let mut gaps = Vec::new();
        let mut last = None;
        for reg in [1.0, 0.1, 1e-3] {
            let s = sinkhorn_plan(&x0, &x1, d, reg).unwrap();
            assert!(!s.fallback);
            let entropic_cost: f64 = s.plan.iter().zip(&cost).map(|(p, c)| p * c).sum();
            gaps.push(entropic_cost - ot_cost);
            last = Some(s);
        }
        // Small reg needs more than the 1000-iteration cap (as in POT): the plan is then not
        // fully converged, but its column marginal is exact and its row marginal close.
        let s = last.unwrap();
        assert!(s.marginal_error < 1e-3, "{}", s.marginal_error);
        // The transport cost decreases towards the optimum as reg shrinks; at reg = 1e-3 it
        // is within 1e-3 of the (independent - optimal) cost difference.
        assert!(gaps[0] > gaps[1] && gaps[1] > gaps[2], "{gaps:?}");
        assert!(
            gaps[2].abs() < 1e-3 * (independent_cost - ot_cost),
            "{gaps:?}"
        );
        // ... and the plan is the permutation / b up to the marginal error.
        let l1: f64 = (0..b * b)
            .map(|k| {
                let exact = if col[k / b] == k % b {
                    1.0 / b as f64
                } else {
                    0.0
                };
                (s.plan[k] - exact).abs()
            })
            .sum();
        assert!(l1 < 2e-3, "L1 distance to the exact plan {l1}");
    }

    #[test]
    fn sinkhorn_is_near_independent_for_huge_reg() {
        let (b, d) = (7, 2);
        let (x0, x1) = points(5, b, d);
        let s = sinkhorn_plan(&x0, &x1, d, 1e6).unwrap();
        let uniform = 1.0 / (b * b) as f64;
        for p in &s.plan {
            // Entries deviate from 1/b^2 by O(cost / reg) relative (costs here are O(10)).
            assert!((p - uniform).abs() < 1e-4 * uniform, "{p} vs {uniform}");
        }
    }

    #[test]
    fn resampling_frequencies_follow_the_plan() {
        let (b, d) = (4, 2);
        let (x0, x1) = points(8, b, d);
        let reg = 1.0;
        let plan = sinkhorn_plan(&x0, &x1, d, reg).unwrap().plan;
        let mut r = rng(99, 3);
        let mut counts = vec![0usize; b * b];
        let calls = 20_000;
        for _ in 0..calls {
            let pairs = pair(&Coupling::Sinkhorn { reg }, &x0, &x1, d, &mut r).unwrap();
            assert!(!pairs.fallback);
            for (&i, &j) in pairs.i0.iter().zip(&pairs.i1) {
                counts[i * b + j] += 1;
            }
        }
        let n = (calls * b) as f64;
        for (k, &c) in counts.iter().enumerate() {
            let p = plan[k];
            let sd = (n * p * (1.0 - p)).sqrt();
            assert!(
                (c as f64 - n * p).abs() < 5.0 * sd + 1.0,
                "entry {k}: {c} vs expected {}",
                n * p
            );
        }
    }

    #[test]
    fn resampling_never_picks_zero_entries() {
        let plan = [0.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0];
        let mut r = rng(2, 2);
        let (i0, i1) = resample_from_plan(&plan, 3, 5000, &mut r);
        for (&i, &j) in i0.iter().zip(&i1) {
            assert!((i, j) == (0, 1) || (i, j) == (1, 2), "picked ({i},{j})");
        }
    }

    #[test]
    fn sinkhorn_breakdown_falls_back_to_uniform_and_reports_it() {
        // reg = 1e-320 (subnormal) makes cost / reg overflow to infinity: the potentials
        // become non-finite, which must be caught and reported, not hidden.
        let (b, d) = (4, 2);
        let (x0, x1) = points(4, b, d);
        let s = sinkhorn_plan(&x0, &x1, d, 1e-320).unwrap();
        assert!(s.fallback && !s.converged);
        assert!(s.plan.iter().all(|&p| p == 1.0 / 16.0));
        let pairs = pair(
            &Coupling::Sinkhorn { reg: 1e-320 },
            &x0,
            &x1,
            d,
            &mut rng(1, 1),
        )
        .unwrap();
        assert!(pairs.fallback);
        assert_eq!(pairs.len(), b);
    }

    #[test]
    fn pairing_is_deterministic_for_a_seed() {
        let (x0, x1) = points(31, 9, 2);
        for coupling in [
            Coupling::ExactOt {
                pairing: OtPairing::Resample,
            },
            Coupling::Sinkhorn { reg: 0.5 },
        ] {
            let a = pair(&coupling, &x0, &x1, 2, &mut rng(5, 0)).unwrap();
            let b = pair(&coupling, &x0, &x1, 2, &mut rng(5, 0)).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut r = rng(0, 0);
        let x = vec![0.0; 4];
        assert!(matches!(
            pair(&Coupling::Sinkhorn { reg: 0.0 }, &x, &x, 2, &mut r),
            Err(DynamicsError::InvalidConfig(m)) if m.contains("coupling.reg")
        ));
        assert!(pair(&Coupling::Sinkhorn { reg: f64::NAN }, &x, &x, 2, &mut r).is_err());
        assert!(pair(&Coupling::Independent, &x, &x[..2], 2, &mut r).is_err());
        assert!(pair(&Coupling::Independent, &x, &x, 0, &mut r).is_err());
        assert!(pair(&Coupling::Independent, &x, &x, 3, &mut r).is_err());
        let bad = vec![0.0, f64::NAN, 0.0, 0.0];
        assert!(matches!(
            pair(
                &Coupling::ExactOt {
                    pairing: OtPairing::Permutation
                },
                &bad,
                &x,
                2,
                &mut r
            ),
            Err(DynamicsError::Numerical(_))
        ));
        let empty = pair(
            &Coupling::ExactOt {
                pairing: OtPairing::Resample,
            },
            &[],
            &[],
            2,
            &mut r,
        );
        assert!(empty.unwrap().is_empty());
    }

    #[test]
    fn serde_names() {
        let c = Coupling::ExactOt {
            pairing: OtPairing::Permutation,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"kind":"exact_ot","pairing":"permutation"}"#);
        let back: Coupling = serde_json::from_str(r#"{"kind":"exact_ot"}"#).unwrap();
        assert_eq!(
            back,
            Coupling::ExactOt {
                pairing: OtPairing::Resample
            }
        );
        let s: Coupling = serde_json::from_str(r#"{"kind":"sinkhorn","reg":2.0}"#).unwrap();
        assert_eq!(s, Coupling::schrodinger_bridge(1.0));
        let i: Coupling = serde_json::from_str(r#"{"kind":"independent"}"#).unwrap();
        assert_eq!(i, Coupling::default());
    }

    #[test]
    fn kernel_space_and_log_domain_sinkhorn_agree() {
        let mut r = crate::rng(11, 0);
        let (b, d) = (40, 2);
        let mut x0 = vec![0.0; b * d];
        let mut x1 = vec![0.0; b * d];
        crate::fill_normal(&mut r, &mut x0);
        crate::fill_normal(&mut r, &mut x1);
        let cost = squared_distances(&x0, &x1, d);
        for reg in [0.5, 2.0, 8.0] {
            let k = sinkhorn_kernel_space(&cost, b, reg);
            let l = sinkhorn_log_domain(&cost, b, reg);
            assert!(k.converged && l.converged, "reg {reg}");
            let diff = k
                .plan
                .iter()
                .zip(&l.plan)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(diff < 1e-12, "reg {reg}: max plan difference {diff}");
        }
    }
}
