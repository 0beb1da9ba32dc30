//! Log-likelihood of data under a flow by the probability-flow ODE (the instantaneous change
//! of variables): integrate `dx/dt = v(x, t)` from the data (t = 1) back to the N(0, I) prior
//! (t = 0) together with the divergence, so that
//! `log p_1(x_1) = log N(x_0; 0, I) - int_0^1 div v(x_t, t) dt`.
//!
//! Fixed-step classical RK4 on the augmented state `(x, int div)`, from t = 1 to t = 0 in
//! `steps` equal steps: 4 network evaluations per step, all rows at once.

use crate::DynamicsError;

/// A velocity field that also returns its divergence in the state (exactly or estimated).
/// One call is one network evaluation.
pub trait DivergenceField {
    /// Width of one state row (= width of one velocity row).
    fn dim(&self) -> usize;
    /// The velocity (`rows x dim`) into `out` and its divergence (`rows`) into `div`.
    fn eval_div(
        &mut self,
        t: f64,
        state: &[f64],
        out: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), DynamicsError>;
}

/// Per-row log-likelihoods and the network evaluations spent.
#[derive(Debug, Clone, PartialEq)]
pub struct Likelihood {
    /// `log p_1(x)` of each row, in nats.
    pub log_p: Vec<f64>,
    /// Network evaluations (4 per RK4 step).
    pub nfe: u64,
}

/// `log p_1` of every row of `x1` (row-major, `field.dim()` columns) under the flow of
/// `field` from N(0, I) at t = 0, by RK4 with `steps` steps.
pub fn log_likelihood(
    field: &mut dyn DivergenceField,
    x1: &[f64],
    steps: usize,
) -> Result<Likelihood, DynamicsError> {
    log_likelihood_over(field, x1, steps, (0.0, 1.0))
}

/// [`log_likelihood`] over the time window `(t0, t1)`: the prior N(0, I) sits at `t0` and the
/// data at `t1` (a sampler's own window, e.g. VP's `(0, 1 - sample_eps)`).
pub fn log_likelihood_over(
    field: &mut dyn DivergenceField,
    x1: &[f64],
    steps: usize,
    (t0, t1): (f64, f64),
) -> Result<Likelihood, DynamicsError> {
    if !(t0.is_finite() && t1.is_finite() && t0 < t1) {
        return Err(DynamicsError::InvalidConfig(format!(
            "the likelihood window ({t0}, {t1}) is not an increasing finite interval"
        )));
    }
    let d = field.dim();
    if d == 0 || !x1.len().is_multiple_of(d) {
        return Err(DynamicsError::InvalidConfig(format!(
            "{} values is not a whole number of {d}-wide rows",
            x1.len()
        )));
    }
    if steps == 0 {
        return Err(DynamicsError::InvalidConfig(
            "the likelihood ODE needs at least one step".into(),
        ));
    }
    let rows = x1.len() / d;
    let n = rows * d;
    let h = -(t1 - t0) / steps as f64;
    let mut x = x1.to_vec();
    // int_{t1}^t div v ds along the path; at t0 it is -int_{t0}^{t1} div v dt.
    let mut acc = vec![0f64; rows];
    let (mut k, mut kd) = (vec![vec![0f64; n]; 4], vec![vec![0f64; rows]; 4]);
    let mut probe = vec![0f64; n];
    let mut nfe = 0u64;
    for s in 0..steps {
        let t = t1 + s as f64 * h;
        for stage in 0..4 {
            let (c, from) = match stage {
                0 => (0.0, None),
                1 => (0.5, Some(0)),
                2 => (0.5, Some(1)),
                _ => (1.0, Some(2)),
            };
            match from {
                None => probe.copy_from_slice(&x),
                Some(prev) => {
                    for ((p, xv), kv) in probe.iter_mut().zip(&x).zip(&k[prev]) {
                        *p = xv + c * h * kv;
                    }
                }
            }
            let (ks, kds) = (&mut k[stage], &mut kd[stage]);
            field.eval_div(t + c * h, &probe, ks, kds)?;
            nfe += 1;
        }
        for (i, xv) in x.iter_mut().enumerate() {
            *xv += h / 6.0 * (k[0][i] + 2.0 * k[1][i] + 2.0 * k[2][i] + k[3][i]);
        }
        for (r, a) in acc.iter_mut().enumerate() {
            *a += h / 6.0 * (kd[0][r] + 2.0 * kd[1][r] + 2.0 * kd[2][r] + kd[3][r]);
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(DynamicsError::Numerical(format!(
                "the likelihood ODE left the finite range at row {} (t = {})",
                i / d,
                t + h
            )));
        }
    }
    let log_norm = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let log_p = x
        .chunks_exact(d)
        .zip(&acc)
        .map(|(x0, a)| log_norm - 0.5 * x0.iter().map(|v| v * v).sum::<f64>() + a)
        .collect();
    Ok(Likelihood { log_p, nfe })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v(x, t) = a x: x_t = x_0 e^{a t}, so p_1 = N(0, e^{2a} I) exactly.
    struct Linear {
        a: f64,
        d: usize,
        calls: u64,
    }

    impl DivergenceField for Linear {
        fn dim(&self) -> usize {
            self.d
        }
        fn eval_div(
            &mut self,
            _t: f64,
            state: &[f64],
            out: &mut [f64],
            div: &mut [f64],
        ) -> Result<(), DynamicsError> {
            self.calls += 1;
            for (o, s) in out.iter_mut().zip(state) {
                *o = self.a * s;
            }
            div.fill(self.a * self.d as f64);
            Ok(())
        }
    }

    #[test]
    fn linear_flow_gives_the_exact_gaussian_density() {
        let (a, d) = (0.7, 3);
        let x1 = [0.4, -1.1, 2.0, 0.0, 0.3, -0.2];
        let mut f = Linear { a, d, calls: 0 };
        let got = log_likelihood(&mut f, &x1, 50).unwrap();
        assert_eq!((got.nfe, f.calls), (200, 200));
        let var = (2.0 * a).exp();
        for (row, lp) in x1.chunks(d).zip(&got.log_p) {
            let want = -0.5 * d as f64 * (2.0 * std::f64::consts::PI * var).ln()
                - 0.5 * row.iter().map(|v| v * v).sum::<f64>() / var;
            assert!((lp - want).abs() < 1e-9, "{lp} vs {want}");
        }
    }

    /// v(x, t) = b(t) x with b(t) = 2t: x_1 = x_0 e^{1}, a time-dependent check; the error
    /// shrinks ~16x when the steps double (fourth order).
    struct TimeDependent;

    impl DivergenceField for TimeDependent {
        fn dim(&self) -> usize {
            1
        }
        fn eval_div(
            &mut self,
            t: f64,
            state: &[f64],
            out: &mut [f64],
            div: &mut [f64],
        ) -> Result<(), DynamicsError> {
            for (o, s) in out.iter_mut().zip(state) {
                *o = 2.0 * t * s;
            }
            div.fill(2.0 * t);
            Ok(())
        }
    }

    #[test]
    fn rk4_converges_at_fourth_order() {
        let var = 2f64.exp(); // x_1 = x_0 e^{int_0^1 2t dt} = x_0 e
        let x = 1.3;
        let want = -0.5 * (2.0 * std::f64::consts::PI * var).ln() - 0.5 * x * x / var;
        let err = |steps| {
            (log_likelihood(&mut TimeDependent, &[x], steps)
                .unwrap()
                .log_p[0]
                - want)
                .abs()
        };
        let (e4, e8) = (err(4), err(8));
        assert!(e4 > 1e-10 && e8 < e4);
        let ratio = e4 / e8;
        assert!((12.0..20.0).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut f = Linear {
            a: 1.0,
            d: 2,
            calls: 0,
        };
        assert!(log_likelihood(&mut f, &[1.0, 2.0, 3.0], 10).is_err());
        assert!(log_likelihood(&mut f, &[1.0, 2.0], 0).is_err());
        let mut blow = Linear {
            a: 1e200,
            d: 2,
            calls: 0,
        };
        let r = log_likelihood(&mut blow, &[1.0, 2.0], 1);
        assert!(matches!(r, Err(DynamicsError::Numerical(_))), "{r:?}");
    }
}
