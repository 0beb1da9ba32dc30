//! Straightness and path energy of discretised ODE sampling paths (Liu et al. 2022, "Flow
//! straight and fast"; Lee et al. 2023, "Minimizing trajectory curvature of ODE-based
//! generative models"), as pure functions of the states and velocity evaluations.

use rayon::prelude::*;

use crate::MetricError;

/// How the time integrals over a path are discretised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quadrature {
    /// `int f dt ~ sum_{k < K} (t_{k+1} - t_k) f(t_k)`: velocities at the first `K` nodes,
    /// `v_k = v(x_k, t_k)` for `k = 0..K-1`. This is the Euler solver's own rule: with Euler
    /// steps `x_{k+1} = x_k + (t_{k+1} - t_k) v_k` the integrals are those of the path taken.
    LeftPoint,
    /// `int f dt ~ sum_{k < K} (t_{k+1} - t_k) (f(t_k) + f(t_{k+1})) / 2`: velocities at all
    /// `K + 1` nodes, `v_k = v(x_k, t_k)` for `k = 0..K`.
    Trapezoid,
}

/// `n` discretised paths sharing one time grid, all row-major f64.
///
/// * `times`: `t_0 < t_1 < ... < t_K` (`K + 1 >= 2` finite values).
/// * `states`: `n x (K + 1) x dim`; the state of path `p` at node `k` is
///   `states[(p (K + 1) + k) dim ..][..dim]`.
/// * `velocities`: `n x V x dim` with `V = K` for [`Quadrature::LeftPoint`] and `V = K + 1`
///   for [`Quadrature::Trapezoid`]; `v_k = v(x_k, t_k)` of path `p` is
///   `velocities[(p V + k) dim ..][..dim]`.
#[derive(Debug, Clone, Copy)]
pub struct Trajectories<'a> {
    pub dim: usize,
    pub times: &'a [f64],
    pub states: &'a [f64],
    pub velocities: &'a [f64],
}

/// The result of [`trajectory_metrics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectoryMetrics {
    /// Straightness (Lee et al.'s "curvature"): `mean_p (1/T) int |D_p - T v_p(t)|^2 dt`.
    pub straightness: f64,
    /// Normalised path energy: `(mean_p T int |v_p|^2 dt - mean_p |D_p|^2) / mean_p |D_p|^2`.
    pub path_energy: f64,
    /// `mean_p |D_p|^2`, the normaliser of `path_energy`.
    pub mean_sq_displacement: f64,
}

/// Straightness and normalised path energy of `paths` under `rule`, with `T = t_K - t_0` and
/// `D_p = x_K - x_0` the end-to-end displacement of path `p`:
///
/// * straightness `S = mean_p (1/T) int_{t_0}^{t_K} |D_p - T v_p(t)|^2 dt`, which for
///   `t in [0, 1]` is Liu et al.'s `int_0^1 E|(X_1 - X_0) - v(X_t, t)|^2 dt`; the time
///   rescaling makes it independent of the grid's span. 0 exactly for straight paths
///   travelled at constant velocity `D_p / T`.
/// * path energy `E = (mean_p T int |v_p|^2 dt - mean_p |D_p|^2) / mean_p |D_p|^2`, which is
///   non-negative when the velocities integrate to the displacements (Cauchy-Schwarz) and 0
///   for straight constant-speed paths. With [`Quadrature::LeftPoint`] on Euler paths,
///   `E = S / mean_p |D_p|^2` exactly (up to rounding).
///
/// Per-path values are computed in parallel and summed in path order. Errors: `dim == 0`,
/// fewer than two or non-increasing or non-finite times, shapes that do not match (naming
/// what was expected), non-finite values (naming the path and node), no paths, or all
/// displacements zero (the energy is then undefined).
pub fn trajectory_metrics(
    paths: &Trajectories<'_>,
    rule: Quadrature,
) -> Result<TrajectoryMetrics, MetricError> {
    let invalid = |reason: String| Err(MetricError::InvalidTrajectories { reason });
    let Trajectories {
        dim,
        times,
        states,
        velocities,
    } = *paths;
    if dim == 0 {
        return Err(MetricError::ZeroDimension);
    }
    if times.len() < 2 {
        return invalid(format!("need at least 2 time nodes, got {}", times.len()));
    }
    if let Some(k) = times.iter().position(|t| !t.is_finite()) {
        return invalid(format!("time {k} is not finite"));
    }
    if let Some(k) = times.windows(2).position(|w| w[1] <= w[0]) {
        return invalid(format!(
            "times must increase strictly, but t_{} = {} >= t_{} = {}",
            k,
            times[k],
            k + 1,
            times[k + 1]
        ));
    }
    let nodes = times.len();
    let steps = nodes - 1;
    let per_path = nodes * dim;
    if states.is_empty() || !states.len().is_multiple_of(per_path) {
        return invalid(format!(
            "states have {} values, expected a positive multiple of {} (nodes) x {} (dim)",
            states.len(),
            nodes,
            dim
        ));
    }
    let n = states.len() / per_path;
    let v_nodes = match rule {
        Quadrature::LeftPoint => steps,
        Quadrature::Trapezoid => nodes,
    };
    if velocities.len() != n * v_nodes * dim {
        return invalid(format!(
            "velocities have {} values, expected {n} (paths) x {v_nodes} (nodes, {rule:?}) x {dim} (dim)",
            velocities.len()
        ));
    }
    for (what, values, count) in [("state", states, nodes), ("velocity", velocities, v_nodes)] {
        if let Some(row) = values
            .chunks_exact(dim)
            .position(|r| r.iter().any(|v| !v.is_finite()))
        {
            return invalid(format!(
                "{what} of path {} at node {} has a non-finite coordinate",
                row / count,
                row % count
            ));
        }
    }
    let span = times[steps] - times[0];
    let h: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();

    // Per path: (int |D - T v|^2 dt, int |v|^2 dt, |D|^2).
    let per: Vec<[f64; 3]> = (0..n)
        .into_par_iter()
        .map(|p| {
            let x = &states[p * per_path..(p + 1) * per_path];
            let v = &velocities[p * v_nodes * dim..(p + 1) * v_nodes * dim];
            let disp: Vec<f64> = x[steps * dim..]
                .iter()
                .zip(&x[..dim])
                .map(|(e, s)| e - s)
                .collect();
            let deviation = |k: usize| -> f64 {
                disp.iter()
                    .zip(&v[k * dim..(k + 1) * dim])
                    .map(|(d, vk)| (d - span * vk) * (d - span * vk))
                    .sum()
            };
            let speed = |k: usize| -> f64 { v[k * dim..(k + 1) * dim].iter().map(|c| c * c).sum() };
            let (mut dev, mut energy) = (0.0, 0.0);
            for (k, hk) in h.iter().enumerate() {
                match rule {
                    Quadrature::LeftPoint => {
                        dev += hk * deviation(k);
                        energy += hk * speed(k);
                    }
                    Quadrature::Trapezoid => {
                        dev += hk * (deviation(k) + deviation(k + 1)) / 2.0;
                        energy += hk * (speed(k) + speed(k + 1)) / 2.0;
                    }
                }
            }
            [dev, energy, disp.iter().map(|d| d * d).sum()]
        })
        .collect();
    let nf = n as f64;
    let mean = |c: usize| per.iter().map(|q| q[c]).sum::<f64>() / nf;
    let (dev, energy, disp2) = (mean(0), mean(1), mean(2));
    if disp2 == 0.0 {
        return invalid(
            "every path has zero displacement x_K - x_0; the path energy is undefined".into(),
        );
    }
    Ok(TrajectoryMetrics {
        straightness: dev / span,
        path_energy: (span * energy - disp2) / disp2,
        mean_sq_displacement: disp2,
    })
}
