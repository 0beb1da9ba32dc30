//! Listings of the training methods and ODE solvers this crate implements.

use crate::Solver;

/// A training method, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    /// Spec name.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
}

/// An ODE solver, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolverInfo {
    /// Spec name.
    pub name: &'static str,
    /// One-line description, including the evaluations per step.
    pub summary: &'static str,
    /// Network evaluations per step.
    pub evals_per_step: u64,
}

/// Every training method.
pub fn methods() -> Vec<MethodInfo> {
    vec![MethodInfo {
        name: "flow_matching",
        summary: "conditional flow matching with independent coupling (I-CFM): \
                  x_t = (1-t) x0 + t x1 + sigma eps, x0 ~ N(0,I), t ~ U(0,1), \
                  MSE regression of v(t, x_t) on x1 - x0 (sigma = 0: rectified flow)",
    }]
}

/// Every ODE solver.
pub fn solvers() -> Vec<SolverInfo> {
    Solver::ALL
        .into_iter()
        .map(|s| SolverInfo {
            name: s.name(),
            summary: s.summary(),
            evals_per_step: s.evals_per_step(),
        })
        .collect()
}

/// `(name, summary)` of every solver.
pub fn solver_catalogue() -> Vec<(&'static str, &'static str)> {
    solvers().into_iter().map(|s| (s.name, s.summary)).collect()
}

/// `(name, summary)` of every training method.
pub fn method_catalogue() -> Vec<(&'static str, &'static str)> {
    methods().into_iter().map(|m| (m.name, m.summary)).collect()
}
