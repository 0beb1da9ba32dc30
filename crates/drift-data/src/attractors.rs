//! Chaotic attractors as distributions: one long RK4 trajectory in f64 from a seeded initial
//! condition, burn-in discarded, every `stride`-th state kept, each coordinate standardised.
//! Systems: Lorenz-63, Rössler, Lorenz-96, Thomas, Aizawa, Halvorsen and Chen.

use rand_chacha::ChaCha8Rng;

use crate::{DataError, rng};

/// The attractor families, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttractorKind {
    /// Lorenz (1963).
    Lorenz63,
    /// Rössler (1976).
    Rossler,
    /// Lorenz (1996), any dimension >= 4.
    Lorenz96,
    /// Thomas' cyclically symmetric attractor (1999).
    Thomas,
    /// Aizawa's attractor (Langford system).
    Aizawa,
    /// Halvorsen's cyclically symmetric attractor.
    Halvorsen,
    /// Chen and Ueta (1999).
    Chen,
}

/// A system with its parameters; the defaults are the standard chaotic values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttractorSystem {
    /// `x' = sigma (y - x)`, `y' = x (rho - z) - y`, `z' = x y - beta z`.
    Lorenz63 { sigma: f64, rho: f64, beta: f64 },
    /// `x' = -y - z`, `y' = x + a y`, `z' = b + z (x - c)`.
    Rossler { a: f64, b: f64, c: f64 },
    /// `x_i' = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + forcing`, indices cyclic, `dim >= 4`.
    Lorenz96 { dim: usize, forcing: f64 },
    /// `x' = sin y - b x`, `y' = sin z - b y`, `z' = sin x - b z`.
    Thomas { b: f64 },
    /// `x' = (z - b) x - d y`, `y' = d x + (z - b) y`,
    /// `z' = c + a z - z^3 / 3 - (x^2 + y^2)(1 + e z) + f z x^3`.
    Aizawa {
        a: f64,
        b: f64,
        c: f64,
        d: f64,
        e: f64,
        f: f64,
    },
    /// `x' = -a x - 4 y - 4 z - y^2`, `y' = -a y - 4 z - 4 x - z^2`, `z' = -a z - 4 x - 4 y - x^2`.
    Halvorsen { a: f64 },
    /// `x' = a (y - x)`, `y' = (c - a) x - x z + c y`, `z' = x y - b z`.
    Chen { a: f64, b: f64, c: f64 },
}

/// Parameters of an attractor generator. All of them (system parameters included) are part of
/// the generator's identity, so they belong in a cache key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttractorParams {
    /// The system and its parameters.
    pub system: AttractorSystem,
    /// RK4 step (finite, > 0).
    pub dt: f64,
    /// Steps integrated and discarded before the first kept state.
    pub burn_in: usize,
    /// Steps between kept states (>= 1).
    pub stride: usize,
}

/// Largest accepted Lorenz-96 dimension.
pub const MAX_LORENZ96_DIM: usize = 1 << 20;

impl AttractorKind {
    /// Every kind, in catalogue order.
    pub const ALL: &'static [Self] = &[
        Self::Lorenz63,
        Self::Rossler,
        Self::Lorenz96,
        Self::Thomas,
        Self::Aizawa,
        Self::Halvorsen,
        Self::Chen,
    ];

    /// The generator name used in specs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lorenz63 => "lorenz63",
            Self::Rossler => "rossler",
            Self::Lorenz96 => "lorenz96",
            Self::Thomas => "thomas",
            Self::Aizawa => "aizawa",
            Self::Halvorsen => "halvorsen",
            Self::Chen => "chen",
        }
    }

    /// Inverse of [`AttractorKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The system with its standard parameters.
    pub fn default_system(self) -> AttractorSystem {
        match self {
            Self::Lorenz63 => AttractorSystem::Lorenz63 {
                sigma: 10.0,
                rho: 28.0,
                beta: 8.0 / 3.0,
            },
            Self::Rossler => AttractorSystem::Rossler {
                a: 0.2,
                b: 0.2,
                c: 5.7,
            },
            Self::Lorenz96 => AttractorSystem::Lorenz96 {
                dim: 40,
                forcing: 8.0,
            },
            Self::Thomas => AttractorSystem::Thomas { b: 0.208186 },
            Self::Aizawa => AttractorSystem::Aizawa {
                a: 0.95,
                b: 0.7,
                c: 0.6,
                d: 3.5,
                e: 0.25,
                f: 0.1,
            },
            Self::Halvorsen => AttractorSystem::Halvorsen { a: 1.89 },
            Self::Chen => AttractorSystem::Chen {
                a: 35.0,
                b: 3.0,
                c: 28.0,
            },
        }
    }

    /// The default (dt, burn_in, stride): about 0.1 time units (Thomas 0.5, Rössler 0.2,
    /// Chen 0.05) between kept states after a burn-in long enough to reach the attractor.
    pub fn default_integration(self) -> (f64, usize, usize) {
        match self {
            Self::Lorenz63 => (0.01, 1000, 10),
            Self::Rossler => (0.02, 5000, 10),
            Self::Lorenz96 => (0.01, 2000, 10),
            Self::Thomas => (0.05, 2000, 10),
            Self::Aizawa => (0.01, 5000, 10),
            Self::Halvorsen => (0.01, 2000, 10),
            Self::Chen => (0.005, 2000, 10),
        }
    }

    /// Default parameters of this kind: [`Self::default_system`] and
    /// [`Self::default_integration`].
    pub fn default_params(self) -> AttractorParams {
        let (dt, burn_in, stride) = self.default_integration();
        AttractorParams {
            system: self.default_system(),
            dt,
            burn_in,
            stride,
        }
    }

    /// The initial condition is `base + scale * N(0, I)`: (base, scale) for `system`.
    fn initial_condition(system: &AttractorSystem) -> (Vec<f64>, f64) {
        match *system {
            AttractorSystem::Lorenz96 { dim, forcing } => (vec![forcing; dim], 1.0),
            AttractorSystem::Lorenz63 { .. } | AttractorSystem::Chen { .. } => {
                (vec![1.0, 1.0, 1.0], 1.0)
            }
            AttractorSystem::Rossler { .. } | AttractorSystem::Thomas { .. } => {
                (vec![0.0, 0.0, 0.0], 1.0)
            }
            AttractorSystem::Aizawa { .. } => (vec![0.1, 0.0, 0.0], 0.1),
            AttractorSystem::Halvorsen { .. } => (vec![-1.48, -1.51, 2.04], 0.1),
        }
    }

    /// One-line description with the equations, the defaults and the initial condition.
    pub fn recipe(self) -> &'static str {
        match self {
            Self::Lorenz63 => {
                "x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z; sigma 10, rho 28, beta 8/3; \
                 x0 = (1, 1, 1) + N(0, I); defaults dt 0.01, burn_in 1000, stride 10"
            }
            Self::Rossler => {
                "x' = -y - z, y' = x + a y, z' = b + z (x - c); a 0.2, b 0.2, c 5.7; x0 = N(0, I); \
                 defaults dt 0.02, burn_in 5000, stride 10"
            }
            Self::Lorenz96 => {
                "x_i' = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F (indices mod dim); dim 40 (>= 4), F 8; \
                 x0 = F + N(0, I); defaults dt 0.01, burn_in 2000, stride 10"
            }
            Self::Thomas => {
                "x' = sin y - b x, y' = sin z - b y, z' = sin x - b z; b 0.208186; x0 = N(0, I); \
                 defaults dt 0.05, burn_in 2000, stride 10; the system has two mirror-image attractors \
                 at this b: a trajectory whose kept states have a negative coordinate sum is reflected \
                 (x -> -x) before the standardisation, so every seed samples the same one"
            }
            Self::Aizawa => {
                "x' = (z - b) x - d y, y' = d x + (z - b) y, z' = c + a z - z^3/3 - (x^2 + y^2)(1 + e z) + f z x^3; \
                 a 0.95, b 0.7, c 0.6, d 3.5, e 0.25, f 0.1; x0 = (0.1, 0, 0) + 0.1 N(0, I); \
                 defaults dt 0.01, burn_in 5000, stride 10"
            }
            Self::Halvorsen => {
                "x' = -a x - 4y - 4z - y^2 (and cyclically for y', z'); a 1.89; \
                 x0 = (-1.48, -1.51, 2.04) + 0.1 N(0, I); defaults dt 0.01, burn_in 2000, stride 10"
            }
            Self::Chen => {
                "x' = a (y - x), y' = (c - a) x - x z + c y, z' = x y - b z; a 35, b 3, c 28; \
                 x0 = (1, 1, 1) + N(0, I); defaults dt 0.005, burn_in 2000, stride 10"
            }
        }
    }
}

/// What every attractor generator does, for the catalogue.
pub const ATTRACTOR_RECIPE: &str = "one RK4 trajectory in f64 with step dt from the seeded initial \
     condition; the first burn_in steps are discarded, then the state is kept at steps burn_in, \
     burn_in + stride, burn_in + 2 stride, ... until n states are kept; each coordinate is then \
     standardised by the mean and the (population) std of the kept states; a trajectory that \
     leaves the finite range is an error, never NaN output";

impl AttractorSystem {
    /// The family of this system.
    pub fn kind(&self) -> AttractorKind {
        match self {
            Self::Lorenz63 { .. } => AttractorKind::Lorenz63,
            Self::Rossler { .. } => AttractorKind::Rossler,
            Self::Lorenz96 { .. } => AttractorKind::Lorenz96,
            Self::Thomas { .. } => AttractorKind::Thomas,
            Self::Aizawa { .. } => AttractorKind::Aizawa,
            Self::Halvorsen { .. } => AttractorKind::Halvorsen,
            Self::Chen { .. } => AttractorKind::Chen,
        }
    }

    /// State dimension (3, or `dim` for Lorenz-96).
    pub fn dim(&self) -> usize {
        match self {
            Self::Lorenz96 { dim, .. } => *dim,
            _ => 3,
        }
    }

    /// The named real parameters, for validation and messages.
    fn real_parameters(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Self::Lorenz63 { sigma, rho, beta } => {
                vec![("sigma", sigma), ("rho", rho), ("beta", beta)]
            }
            Self::Rossler { a, b, c } | Self::Chen { a, b, c } => {
                vec![("a", a), ("b", b), ("c", c)]
            }
            Self::Lorenz96 { forcing, .. } => vec![("forcing", forcing)],
            Self::Thomas { b } => vec![("b", b)],
            Self::Aizawa { a, b, c, d, e, f } => {
                vec![("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("f", f)]
            }
            Self::Halvorsen { a } => vec![("a", a)],
        }
    }

    /// The vector field of a 3D system at `x`.
    #[inline(always)]
    fn field3(&self, x: &[f64; 3]) -> [f64; 3] {
        let [x, y, z] = *x;
        match *self {
            Self::Lorenz63 { sigma, rho, beta } => {
                [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]
            }
            Self::Rossler { a, b, c } => [-y - z, x + a * y, b + z * (x - c)],
            Self::Thomas { b } => [
                libm::sin(y) - b * x,
                libm::sin(z) - b * y,
                libm::sin(x) - b * z,
            ],
            Self::Aizawa { a, b, c, d, e, f } => [
                (z - b) * x - d * y,
                d * x + (z - b) * y,
                c + a * z - z * z * z / 3.0 - (x * x + y * y) * (1.0 + e * z) + f * z * x * x * x,
            ],
            Self::Halvorsen { a } => [
                -a * x - 4.0 * y - 4.0 * z - y * y,
                -a * y - 4.0 * z - 4.0 * x - z * z,
                -a * z - 4.0 * x - 4.0 * y - x * x,
            ],
            Self::Chen { a, b, c } => [a * (y - x), (c - a) * x - x * z + c * y, x * y - b * z],
            Self::Lorenz96 { .. } => [0.0; 3],
        }
    }
}

impl AttractorParams {
    /// Check every parameter; the error names the parameter, the value and what is accepted.
    pub fn validate(&self) -> Result<(), DataError> {
        let generator = self.system.kind().name();
        let bad = |parameter: &'static str, value: String, expected: &'static str| {
            Err(DataError::InvalidParameter {
                generator,
                parameter,
                value,
                expected,
            })
        };
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad("dt", self.dt.to_string(), "a finite step > 0");
        }
        if self.stride == 0 {
            return bad("stride", "0".into(), "an integer >= 1");
        }
        if let AttractorSystem::Lorenz96 { dim, .. } = self.system
            && !(4..=MAX_LORENZ96_DIM).contains(&dim)
        {
            return bad("dim", dim.to_string(), "an integer in 4..=1048576");
        }
        for (name, value) in self.system.real_parameters() {
            if !value.is_finite() {
                return bad(name, value.to_string(), "a finite number");
            }
        }
        Ok(())
    }

    /// Row-major `n x dim` standardised states; `Err(Diverged)` when the trajectory leaves the
    /// finite range. Parameters are assumed valid.
    pub(crate) fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f64>, DataError> {
        let (base, scale) = AttractorKind::initial_condition(&self.system);
        let x0: Vec<f64> = base.iter().map(|b| b + scale * rng::normal(rng)).collect();
        let mut v = match self.system {
            AttractorSystem::Lorenz96 { forcing, .. } => self.run_lorenz96(forcing, x0, n)?,
            _ => self.run3([x0[0], x0[1], x0[2]], n)?,
        };
        if let AttractorSystem::Thomas { .. } = self.system {
            reflect_onto_positive_mean(&mut v);
        }
        standardise_columns(&mut v, self.system.dim());
        Ok(v)
    }

    fn diverged(&self, step: usize) -> DataError {
        DataError::Diverged {
            generator: self.system.kind().name(),
            step,
            time: step as f64 * self.dt,
            dt: self.dt,
        }
    }

    /// RK4 on a 3D system, monomorphised per call site through `field3`.
    fn run3(&self, mut x: [f64; 3], n: usize) -> Result<Vec<f64>, DataError> {
        let sys = self.system;
        let h = self.dt;
        let step = |x: &mut [f64; 3]| {
            let k1 = sys.field3(x);
            let k2 = sys.field3(&std::array::from_fn(|i| x[i] + 0.5 * h * k1[i]));
            let k3 = sys.field3(&std::array::from_fn(|i| x[i] + 0.5 * h * k2[i]));
            let k4 = sys.field3(&std::array::from_fn(|i| x[i] + h * k3[i]));
            for i in 0..3 {
                x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
            x.iter().all(|v| v.is_finite())
        };
        self.collect(&mut x, n, step)
    }

    /// RK4 on Lorenz-96 with preallocated stage buffers.
    fn run_lorenz96(&self, forcing: f64, mut x: Vec<f64>, n: usize) -> Result<Vec<f64>, DataError> {
        let d = x.len();
        let h = self.dt;
        // Cyclic neighbours without `%` in the hot loop (d >= 4).
        let field = |x: &[f64], out: &mut [f64]| {
            for i in 0..d {
                let xp1 = if i + 1 == d { x[0] } else { x[i + 1] };
                let xm1 = if i == 0 { x[d - 1] } else { x[i - 1] };
                let xm2 = if i >= 2 { x[i - 2] } else { x[d + i - 2] };
                out[i] = (xp1 - xm2) * xm1 - x[i] + forcing;
            }
        };
        let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
            vec![0.0; d],
            vec![0.0; d],
            vec![0.0; d],
            vec![0.0; d],
            vec![0.0; d],
        );
        let step = |x: &mut [f64]| {
            field(x, &mut k1);
            for i in 0..d {
                tmp[i] = x[i] + 0.5 * h * k1[i];
            }
            field(&tmp, &mut k2);
            for i in 0..d {
                tmp[i] = x[i] + 0.5 * h * k2[i];
            }
            field(&tmp, &mut k3);
            for i in 0..d {
                tmp[i] = x[i] + h * k3[i];
            }
            field(&tmp, &mut k4);
            let mut finite = true;
            for i in 0..d {
                x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                finite &= x[i].is_finite();
            }
            finite
        };
        self.collect(x.as_mut_slice(), n, step)
    }

    /// Runs `step` (one RK4 step in place; false when the state left the finite range) for the
    /// burn-in, then keeps `n` states `stride` steps apart, row after row. Generic, so each
    /// integrator's step is inlined into the loop.
    fn collect<S: AsRef<[f64]> + ?Sized>(
        &self,
        x: &mut S,
        n: usize,
        mut step: impl FnMut(&mut S) -> bool,
    ) -> Result<Vec<f64>, DataError> {
        let mut out = Vec::with_capacity(x.as_ref().len() * n);
        let mut steps = 0usize;
        for _ in 0..self.burn_in {
            steps += 1;
            if !step(x) {
                return Err(self.diverged(steps));
            }
        }
        for i in 0..n {
            if i > 0 {
                for _ in 0..self.stride {
                    steps += 1;
                    if !step(x) {
                        return Err(self.diverged(steps));
                    }
                }
            }
            out.extend_from_slice(x.as_ref());
        }
        Ok(out)
    }
}

/// Thomas' system is odd (`f(-x) = -f(x)`) and, at the standard `b`, has two mirror-image
/// attractors; which one a trajectory settles on depends on its initial condition. So that the
/// distribution does not depend on the seed, a trajectory whose kept states have a negative
/// coordinate sum (sequential f64 sum) is reflected, `x -> -x`, which maps it onto a
/// trajectory of the other attractor.
fn reflect_onto_positive_mean(v: &mut [f64]) {
    if v.iter().sum::<f64>() < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
}

/// Standardise each column of a row-major `n x dim` buffer by its mean and population std
/// (sequential f64 sums); a column with zero std is only centred.
pub(crate) fn standardise_columns(v: &mut [f64], dim: usize) {
    let n = v.len() / dim.max(1);
    if n == 0 {
        return;
    }
    for j in 0..dim {
        let mean = v.iter().skip(j).step_by(dim).sum::<f64>() / n as f64;
        let var = v
            .iter()
            .skip(j)
            .step_by(dim)
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / n as f64;
        let std = var.sqrt();
        let inv = if std > 0.0 && std.is_finite() {
            1.0 / std
        } else {
            1.0
        };
        for x in v.iter_mut().skip(j).step_by(dim) {
            *x = (*x - mean) * inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_fields_at_hand_computed_points() {
        let lorenz = AttractorKind::Lorenz63.default_system();
        assert_eq!(lorenz.field3(&[1.0, 2.0, 3.0]), [10.0, 23.0, 2.0 - 8.0]);
        let rossler = AttractorKind::Rossler.default_system();
        let r = rossler.field3(&[1.0, 2.0, 3.0]);
        assert_eq!(r, [-5.0, 1.0 + 0.2 * 2.0, 0.2 + 3.0 * (1.0 - 5.7)]);
        let thomas = AttractorSystem::Thomas { b: 0.5 };
        let t = thomas.field3(&[0.0, std::f64::consts::FRAC_PI_2, 0.0]);
        assert!((t[0] - 1.0).abs() < 1e-15 && (t[1] + 0.25 * std::f64::consts::PI).abs() < 1e-15);
        let chen = AttractorKind::Chen.default_system();
        assert_eq!(
            chen.field3(&[1.0, 1.0, 1.0]),
            [0.0, -7.0 - 1.0 + 28.0, -2.0]
        );
        let halvorsen = AttractorSystem::Halvorsen { a: 1.0 };
        assert_eq!(halvorsen.field3(&[1.0, 1.0, 1.0]), [-10.0, -10.0, -10.0]);
        let aizawa = AttractorKind::Aizawa.default_system();
        // z' at (1, 0, 0): c - (1 + 0) = 0.6 - 1.
        assert!((aizawa.field3(&[1.0, 0.0, 0.0])[2] + 0.4).abs() < 1e-15);
    }

    #[test]
    fn one_rk4_step_by_hand() {
        // Lorenz-63 from (1, 1, 1), h = 0.01, written out stage by stage.
        let (s, r, b) = (10.0, 28.0, 8.0 / 3.0);
        let f = |x: [f64; 3]| {
            [
                s * (x[1] - x[0]),
                x[0] * (r - x[2]) - x[1],
                x[0] * x[1] - b * x[2],
            ]
        };
        let h = 0.01;
        let x = [1.0, 1.0, 1.0];
        let k1 = f(x);
        let k2 = f([
            x[0] + h / 2.0 * k1[0],
            x[1] + h / 2.0 * k1[1],
            x[2] + h / 2.0 * k1[2],
        ]);
        let k3 = f([
            x[0] + h / 2.0 * k2[0],
            x[1] + h / 2.0 * k2[1],
            x[2] + h / 2.0 * k2[2],
        ]);
        let k4 = f([x[0] + h * k3[0], x[1] + h * k3[1], x[2] + h * k3[2]]);
        let want: Vec<f64> = (0..3)
            .map(|i| x[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
            .collect();
        let params = AttractorParams {
            system: AttractorKind::Lorenz63.default_system(),
            dt: h,
            burn_in: 1,
            stride: 1,
        };
        let got = params.run3(x, 1).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-14, "{got:?} vs {want:?}");
        }
        // burn_in 0: the first kept state is the initial condition; then one state per stride.
        let params = AttractorParams {
            burn_in: 0,
            stride: 2,
            ..params
        };
        let got = params.run3(x, 2).unwrap();
        assert_eq!(&got[..3], &x);
        let two = AttractorParams {
            stride: 1,
            ..params
        }
        .run3(x, 3)
        .unwrap();
        assert_eq!(&got[3..], &two[6..]);
    }

    #[test]
    fn lorenz96_matches_a_plain_modulo_implementation() {
        let d = 6;
        let forcing = 8.0;
        let h = 0.01;
        let f = |x: &[f64]| -> Vec<f64> {
            (0..d)
                .map(|i| {
                    (x[(i + 1) % d] - x[(i + d - 2) % d]) * x[(i + d - 1) % d] - x[i] + forcing
                })
                .collect()
        };
        let mut x: Vec<f64> = (0..d).map(|i| 8.0 + 0.1 * i as f64).collect();
        let x0 = x.clone();
        for _ in 0..3 {
            let k1 = f(&x);
            let y: Vec<f64> = (0..d).map(|i| x[i] + 0.5 * h * k1[i]).collect();
            let k2 = f(&y);
            let y: Vec<f64> = (0..d).map(|i| x[i] + 0.5 * h * k2[i]).collect();
            let k3 = f(&y);
            let y: Vec<f64> = (0..d).map(|i| x[i] + h * k3[i]).collect();
            let k4 = f(&y);
            for i in 0..d {
                x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        let params = AttractorParams {
            system: AttractorSystem::Lorenz96 { dim: d, forcing },
            dt: h,
            burn_in: 3,
            stride: 1,
        };
        let got = params.run_lorenz96(forcing, x0, 1).unwrap();
        assert_eq!(got, x);
    }

    #[test]
    fn column_standardisation() {
        let mut v = vec![1.0, 10.0, 3.0, 10.0];
        standardise_columns(&mut v, 2);
        assert_eq!(v, vec![-1.0, 0.0, 1.0, 0.0]);
    }
}
