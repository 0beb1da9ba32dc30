//! drift-data: seeded, bit-deterministic data generators with per-source recipe variants — the
//! 2D toy zoo (two_moons, eight_gaussians, checkerboard, circles, rings, spirals, swissroll,
//! pinwheel, scurve, twenty_five_gaussians, AGM's gmm and spiral), `gaussian_mixture` in d
//! dimensions, chaotic attractors as distributions, and SDE time snapshots — with exact
//! log-densities where they exist and the catalogue for `drift list generators`.
//!
//! The same dataset name means different distributions in different code bases, so every
//! generator carries a variant naming whose recipe it reproduces; [`catalogue`] lists the exact
//! recipes.
//!
//! # Determinism
//!
//! One `ChaCha8Rng::seed_from_u64(seed)` stream drives each [`Generator::sample`] call. All
//! arithmetic is done in f64 and rounded to f32 once at the end; trigonometry, `exp` and `ln`
//! go through the pure-Rust `libm` crate, integer draws through fixed-width `u64` ranges, and
//! shuffles through a Fisher-Yates written here. The same (generator, parameters, n, seed)
//! therefore gives bit-identical output on every run. (The only platform math left is the
//! `exp`/`ln` inside rand_distr's ziggurat normal sampler, which only decides its rare
//! rejection-step comparisons.) Reductions (the global or per-column standardisations) are
//! sequential f64 sums in row order.

pub mod agm_toys;
mod attractors;
mod checkerboard;
mod circles;
mod eight_gaussians;
mod mixture;
mod moons;
mod pinwheel;
mod points;
mod rng;
mod rolls;
mod shared;
mod snapshots;
mod spirals;
mod twenty_five;

pub use attractors::{AttractorKind, AttractorParams, AttractorSystem, MAX_LORENZ96_DIM};
pub use checkerboard::CheckerboardVariant;
pub use circles::{CirclesVariant, RINGS_NOISE};
pub use eight_gaussians::EightGaussiansVariant;
pub use mixture::{GaussianMixtureParams, MAX_MIXTURE_SIZE, Mixture};
pub use moons::MoonsVariant;
pub use pinwheel::PinwheelVariant;
pub use points::Points;
pub use rolls::{SCurveVariant, SwissRollVariant};
pub use snapshots::{
    DEFAULT_SNAPSHOT_DT, DoubleWellParams, InitialDistribution, MAX_SNAPSHOT_DIM,
    MAX_SNAPSHOT_STEPS, OuParams, SdeProcess, SnapshotParams, Snapshots,
};
pub use spirals::SpiralsVariant;
pub use twenty_five::TwentyFiveGaussiansVariant;

/// Errors from building a [`Generator`] out of names and parameters, or from sampling one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The generator name is not one of [`Generator::NAMES`].
    #[error("unknown generator `{name}` (known: {known})")]
    UnknownGenerator { name: String, known: String },
    /// The variant name is not one of the generator's variants.
    #[error("generator `{generator}` has no variant `{variant}` (known: {known})")]
    UnknownVariant {
        generator: &'static str,
        variant: String,
        known: String,
    },
    /// A noise level was given to a generator that takes none.
    #[error("generator `{generator}` takes no `noise` parameter")]
    UnexpectedNoise { generator: &'static str },
    /// The noise level is negative or not finite.
    #[error("noise must be finite and >= 0, got {noise}")]
    InvalidNoise { noise: f64 },
    /// A parameter other than `noise` is out of range.
    #[error("generator `{generator}`: `{parameter}` = {value} is invalid; expected {expected}")]
    InvalidParameter {
        generator: &'static str,
        parameter: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A simulated trajectory left the finite range (these parameters make it blow up).
    #[error(
        "generator `{generator}`: the trajectory left the finite range at step {step} (t = {time}) \
         with dt = {dt}; use a smaller `dt` or parameters for which the system stays bounded"
    )]
    Diverged {
        generator: &'static str,
        step: usize,
        time: f64,
        dt: f64,
    },
}

/// A distribution together with the recipe variant (and parameters) that define it exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Two interleaving half-circles; `noise` is the source's `noise` argument.
    TwoMoons { variant: MoonsVariant, noise: f64 },
    /// Mixture of 8 Gaussians on a circle.
    EightGaussians { variant: EightGaussiansVariant },
    /// Uniform on the black squares of a 4x4 checkerboard.
    Checkerboard { variant: CheckerboardVariant },
    /// AGM's `gmm`: 9 Gaussians (std 0.04) on a 45-degree rotated 3x3 grid over [-0.5, 0.5]^2.
    Gmm,
    /// AGM's `spiral`: five small swiss rolls, one at the origin and four at (+-1.2, +-1.2).
    Spiral,
    /// Two concentric circles (scikit-learn `make_circles`, factor 0.5); `noise` is the
    /// source's `noise` argument.
    Circles { variant: CirclesVariant, noise: f64 },
    /// FFJORD's four concentric rings; `noise` is the std of the final Gaussian noise.
    Rings { noise: f64 },
    /// Two point-symmetric spiral arms; `noise` as documented per variant.
    Spirals { variant: SpiralsVariant, noise: f64 },
    /// scikit-learn's swiss roll seen from above; `noise` is the source's `noise` argument.
    SwissRoll {
        variant: SwissRollVariant,
        noise: f64,
    },
    /// FFJORD's five-armed pinwheel.
    Pinwheel { variant: PinwheelVariant },
    /// scikit-learn's S curve seen from above; `noise` is the source's `noise` argument.
    SCurve { variant: SCurveVariant, noise: f64 },
    /// 25 narrow Gaussians on a 5x5 grid.
    TwentyFiveGaussians { variant: TwentyFiveGaussiansVariant },
    /// An isotropic Gaussian mixture in `dim` dimensions with parameter-determined means.
    GaussianMixture(GaussianMixtureParams),
    /// A chaotic attractor sampled along one long trajectory (name = the system's name).
    Attractor(AttractorParams),
}

/// Variant name of the generators that reproduce no peer's recipe (drift's own definition).
pub const DRIFT_VARIANT: &str = "drift";

impl Generator {
    /// Generator names, in catalogue order.
    pub const NAMES: &'static [&'static str] = &[
        "two_moons",
        "eight_gaussians",
        "checkerboard",
        "gmm",
        "spiral",
        "circles",
        "rings",
        "spirals",
        "swissroll",
        "pinwheel",
        "scurve",
        "twenty_five_gaussians",
        "gaussian_mixture",
        "lorenz63",
        "rossler",
        "lorenz96",
        "thomas",
        "aizawa",
        "halvorsen",
        "chen",
    ];

    /// Build a generator from spec-level names. `variant: None` selects the default variant;
    /// `noise: None` selects the variant's default noise. Generators that take a noise level:
    /// two_moons, circles, rings, spirals, swissroll, scurve, and eight_gaussians' `torchdyn`
    /// variant (its per-component offset scale). `gaussian_mixture` and the attractors get
    /// their default parameters (build them with their typed parameters to change those).
    pub fn from_parts(
        name: &str,
        variant: Option<&str>,
        noise: Option<f64>,
    ) -> Result<Self, DataError> {
        fn pick<V: Copy + Default>(
            generator: &'static str,
            variant: Option<&str>,
            all: &[V],
            from_name: fn(&str) -> Option<V>,
            name_of: fn(V) -> &'static str,
        ) -> Result<V, DataError> {
            match variant {
                None => Ok(V::default()),
                Some(v) => from_name(v).ok_or_else(|| DataError::UnknownVariant {
                    generator,
                    variant: v.to_owned(),
                    known: all
                        .iter()
                        .map(|&x| name_of(x))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
        /// The single fixed variant of a generator without peer variants.
        fn only(
            generator: &'static str,
            variant: Option<&str>,
            name: &str,
        ) -> Result<(), DataError> {
            match variant {
                Some(v) if v != name => Err(DataError::UnknownVariant {
                    generator,
                    variant: v.to_owned(),
                    known: name.into(),
                }),
                _ => Ok(()),
            }
        }
        let no_noise = |generator: &'static str| match noise {
            Some(_) => Err(DataError::UnexpectedNoise { generator }),
            None => Ok(()),
        };
        let generator = match name {
            "two_moons" => {
                let variant = pick(
                    "two_moons",
                    variant,
                    MoonsVariant::ALL,
                    MoonsVariant::from_name,
                    MoonsVariant::name,
                )?;
                let noise = noise.unwrap_or(variant.default_noise());
                Self::TwoMoons { variant, noise }
            }
            "eight_gaussians" => {
                let variant = pick(
                    "eight_gaussians",
                    variant,
                    EightGaussiansVariant::ALL,
                    EightGaussiansVariant::from_name,
                    EightGaussiansVariant::name,
                )?;
                let variant = match (variant, noise) {
                    (EightGaussiansVariant::Torchdyn { std, .. }, Some(noise)) => {
                        EightGaussiansVariant::Torchdyn { std, noise }
                    }
                    (EightGaussiansVariant::Torchdyn { .. }, None) => variant,
                    _ => {
                        no_noise("eight_gaussians")?;
                        variant
                    }
                };
                Self::EightGaussians { variant }
            }
            "checkerboard" => {
                no_noise("checkerboard")?;
                Self::Checkerboard {
                    variant: pick(
                        "checkerboard",
                        variant,
                        CheckerboardVariant::ALL,
                        CheckerboardVariant::from_name,
                        CheckerboardVariant::name,
                    )?,
                }
            }
            "gmm" | "spiral" => {
                let generator = if name == "gmm" { "gmm" } else { "spiral" };
                no_noise(generator)?;
                only(generator, variant, "agm")?;
                if name == "gmm" {
                    Self::Gmm
                } else {
                    Self::Spiral
                }
            }
            "circles" => {
                let variant = pick(
                    "circles",
                    variant,
                    CirclesVariant::ALL,
                    CirclesVariant::from_name,
                    CirclesVariant::name,
                )?;
                let noise = noise.unwrap_or(variant.default_noise());
                Self::Circles { variant, noise }
            }
            "rings" => {
                only("rings", variant, "ffjord")?;
                Self::Rings {
                    noise: noise.unwrap_or(RINGS_NOISE),
                }
            }
            "spirals" => {
                let variant = pick(
                    "spirals",
                    variant,
                    SpiralsVariant::ALL,
                    SpiralsVariant::from_name,
                    SpiralsVariant::name,
                )?;
                let noise = noise.unwrap_or(variant.default_noise());
                Self::Spirals { variant, noise }
            }
            "swissroll" => {
                let variant = pick(
                    "swissroll",
                    variant,
                    SwissRollVariant::ALL,
                    SwissRollVariant::from_name,
                    SwissRollVariant::name,
                )?;
                let noise = noise.unwrap_or(variant.default_noise());
                Self::SwissRoll { variant, noise }
            }
            "pinwheel" => {
                no_noise("pinwheel")?;
                Self::Pinwheel {
                    variant: pick(
                        "pinwheel",
                        variant,
                        PinwheelVariant::ALL,
                        PinwheelVariant::from_name,
                        PinwheelVariant::name,
                    )?,
                }
            }
            "scurve" => {
                let variant = pick(
                    "scurve",
                    variant,
                    SCurveVariant::ALL,
                    SCurveVariant::from_name,
                    SCurveVariant::name,
                )?;
                let noise = noise.unwrap_or(variant.default_noise());
                Self::SCurve { variant, noise }
            }
            "twenty_five_gaussians" => {
                no_noise("twenty_five_gaussians")?;
                Self::TwentyFiveGaussians {
                    variant: pick(
                        "twenty_five_gaussians",
                        variant,
                        TwentyFiveGaussiansVariant::ALL,
                        TwentyFiveGaussiansVariant::from_name,
                        TwentyFiveGaussiansVariant::name,
                    )?,
                }
            }
            "gaussian_mixture" => {
                no_noise("gaussian_mixture")?;
                only("gaussian_mixture", variant, DRIFT_VARIANT)?;
                Self::GaussianMixture(GaussianMixtureParams::default())
            }
            other => match AttractorKind::from_name(other) {
                Some(kind) => {
                    no_noise(kind.name())?;
                    only(kind.name(), variant, DRIFT_VARIANT)?;
                    Self::Attractor(kind.default_params())
                }
                None => {
                    return Err(DataError::UnknownGenerator {
                        name: other.to_owned(),
                        known: Self::NAMES.join(", "),
                    });
                }
            },
        };
        generator.validate()?;
        Ok(generator)
    }

    /// Check the parameters: every noise level finite and >= 0, and the typed parameters of
    /// the parameterised generators (see their `validate`).
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |generator: &'static str,
                   parameter: &'static str,
                   value: f64,
                   expected: &'static str| {
            Err(DataError::InvalidParameter {
                generator,
                parameter,
                value: value.to_string(),
                expected,
            })
        };
        match self {
            Self::TwoMoons { noise, .. }
            | Self::Circles { noise, .. }
            | Self::Rings { noise }
            | Self::Spirals { noise, .. }
            | Self::SwissRoll { noise, .. }
            | Self::SCurve { noise, .. }
            | Self::EightGaussians {
                variant: EightGaussiansVariant::Torchdyn { noise, .. },
            } if !(noise.is_finite() && *noise >= 0.0) => {
                Err(DataError::InvalidNoise { noise: *noise })
            }
            Self::EightGaussians {
                variant: EightGaussiansVariant::Torchdyn { std, .. },
            } if !(std.is_finite() && *std > 0.0) => {
                bad("eight_gaussians", "std", *std, "a finite number > 0")
            }
            Self::EightGaussians {
                variant: EightGaussiansVariant::Generators2d { scale, var },
            } => {
                if !scale.is_finite() {
                    bad("eight_gaussians", "scale", *scale, "a finite number")
                } else if !(var.is_finite() && *var > 0.0) {
                    bad(
                        "eight_gaussians",
                        "var",
                        *var,
                        "a finite std > 0 (the source's `var` is a std)",
                    )
                } else {
                    Ok(())
                }
            }
            Self::GaussianMixture(p) => p.validate(),
            Self::Attractor(p) => p.validate(),
            _ => Ok(()),
        }
    }

    /// The generator's name (one of [`Generator::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::TwoMoons { .. } => "two_moons",
            Self::EightGaussians { .. } => "eight_gaussians",
            Self::Checkerboard { .. } => "checkerboard",
            Self::Gmm => "gmm",
            Self::Spiral => "spiral",
            Self::Circles { .. } => "circles",
            Self::Rings { .. } => "rings",
            Self::Spirals { .. } => "spirals",
            Self::SwissRoll { .. } => "swissroll",
            Self::Pinwheel { .. } => "pinwheel",
            Self::SCurve { .. } => "scurve",
            Self::TwentyFiveGaussians { .. } => "twenty_five_gaussians",
            Self::GaussianMixture(_) => "gaussian_mixture",
            Self::Attractor(p) => p.system.kind().name(),
        }
    }

    /// The variant's snake_case name.
    pub fn variant_name(&self) -> &'static str {
        match self {
            Self::TwoMoons { variant, .. } => variant.name(),
            Self::EightGaussians { variant } => variant.name(),
            Self::Checkerboard { variant } => variant.name(),
            Self::Gmm | Self::Spiral => "agm",
            Self::Circles { variant, .. } => variant.name(),
            Self::Rings { .. } => "ffjord",
            Self::Spirals { variant, .. } => variant.name(),
            Self::SwissRoll { variant, .. } => variant.name(),
            Self::Pinwheel { variant } => variant.name(),
            Self::SCurve { variant, .. } => variant.name(),
            Self::TwentyFiveGaussians { variant } => variant.name(),
            Self::GaussianMixture(_) | Self::Attractor(_) => DRIFT_VARIANT,
        }
    }

    /// The noise level in force, for the generators that take one (`from_parts`' `noise`).
    pub fn noise(&self) -> Option<f64> {
        match self {
            Self::TwoMoons { noise, .. }
            | Self::Circles { noise, .. }
            | Self::Rings { noise }
            | Self::Spirals { noise, .. }
            | Self::SwissRoll { noise, .. }
            | Self::SCurve { noise, .. } => Some(*noise),
            Self::EightGaussians {
                variant: EightGaussiansVariant::Torchdyn { noise, .. },
            } => Some(*noise),
            _ => None,
        }
    }

    /// Dimension of the generated points: 2 for the toys, `dim` for `gaussian_mixture`, 3 for
    /// the 3D attractors and `dim` for Lorenz-96.
    pub fn dim(&self) -> usize {
        match self {
            Self::GaussianMixture(p) => p.dim,
            Self::Attractor(p) => p.system.dim(),
            _ => 2,
        }
    }

    /// Draw `n` points from a fresh `ChaCha8Rng::seed_from_u64(seed)`. Bit-identical for the
    /// same (generator, n, seed). Never panics. The 2D toys' parameters are not re-validated
    /// (an invalid noise, see [`Generator::validate`], yields non-finite or mirrored values);
    /// `gaussian_mixture` and the attractors are, and give an *empty* block (0 rows) when
    /// invalid or, for an attractor, when the trajectory diverges: use
    /// [`Generator::try_sample`] to get the reason.
    pub fn sample(&self, n: usize, seed: u64) -> Points {
        let checked = match self {
            Self::GaussianMixture(p) => p.validate(),
            Self::Attractor(p) => p.validate(),
            _ => Ok(()),
        };
        checked
            .and_then(|()| self.draw(n, seed))
            .unwrap_or_else(|_| Points {
                dim: self.dim(),
                values: Vec::new(),
            })
    }

    /// Validate the parameters, then draw `n` points exactly as [`Generator::sample`] does;
    /// an attractor whose trajectory leaves the finite range gives [`DataError::Diverged`].
    pub fn try_sample(&self, n: usize, seed: u64) -> Result<Points, DataError> {
        self.validate()?;
        self.draw(n, seed)
    }

    fn draw(&self, n: usize, seed: u64) -> Result<Points, DataError> {
        let mut rng = rng::stream(seed);
        let values = match self {
            Self::TwoMoons { variant, noise } => moons::sample(*variant, *noise, n, &mut rng),
            Self::EightGaussians { variant } => eight_gaussians::sample(*variant, n, &mut rng),
            Self::Checkerboard { variant } => checkerboard::sample(*variant, n, &mut rng),
            Self::Gmm => agm_toys::sample_gmm(n, &mut rng),
            Self::Spiral => agm_toys::sample_spiral(n, &mut rng),
            Self::Circles { variant, noise } => {
                circles::sample_circles(*variant, *noise, n, &mut rng)
            }
            Self::Rings { noise } => circles::sample_rings(*noise, n, &mut rng),
            Self::Spirals { variant, noise } => spirals::sample(*variant, *noise, n, &mut rng),
            Self::SwissRoll { variant, noise } => {
                rolls::sample_swiss_roll(*variant, *noise, n, &mut rng)
            }
            Self::Pinwheel { variant } => pinwheel::sample(*variant, n, &mut rng),
            Self::SCurve { variant, noise } => rolls::sample_s_curve(*variant, *noise, n, &mut rng),
            Self::TwentyFiveGaussians { variant } => twenty_five::sample(*variant, n, &mut rng),
            Self::GaussianMixture(p) => p.mixture().sample(n, &mut rng),
            Self::Attractor(p) => p.sample(n, &mut rng)?,
        };
        Ok(Points::from_f64(self.dim(), &values))
    }

    /// The exact log-density at each row of the row-major `points` (`n x dim`, f64; a
    /// trailing partial row is ignored), where the distribution has one in closed form:
    ///
    /// - every Gaussian mixture ([`Generator::mixture`] is `Some`): see
    ///   [`Mixture::log_density`] — `logsumexp_k [ln w_k - (d/2) ln(2 pi s_k^2) -
    ///   |x - m_k|^2 / (2 s_k^2)]`. For the stratified recipes (torchdyn, twenty_five_gaussians)
    ///   it is the density of one row, whose component is uniform; for torchdyn the shared
    ///   per-component offset is integrated out (`s^2 = std^2 + noise^2`);
    /// - checkerboard: `-ln(8 s^2)` on the black squares of the board scaled by `s`, `-inf`
    ///   elsewhere.
    ///
    /// `None` for the other generators (and for invalid `gaussian_mixture` parameters).
    pub fn log_density(&self, points: &[f64]) -> Option<Vec<f64>> {
        match self {
            Self::Checkerboard { variant } => Some(checkerboard::log_density(*variant, points)),
            _ => self.mixture().map(|m| m.log_density(points)),
        }
    }

    /// The Gaussian mixture this generator samples from (the distribution of one row), for the
    /// eight_gaussians variants, twenty_five_gaussians, gmm and gaussian_mixture (when valid);
    /// `None` otherwise.
    pub fn mixture(&self) -> Option<Mixture> {
        match self {
            Self::EightGaussians { variant } => Some(variant.mixture()),
            Self::TwentyFiveGaussians { variant } => Some(variant.mixture()),
            Self::Gmm => Some(Mixture::equal_2d(&agm_toys::gmm_means(), agm_toys::GMM_STD)),
            Self::GaussianMixture(p) => p.validate().ok().map(|()| p.mixture()),
            _ => None,
        }
    }
}

/// One generator's entry in `drift list generators`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorInfo {
    /// Spec name of the generator.
    pub name: &'static str,
    /// One-line description of the distribution.
    pub summary: &'static str,
    /// (variant name, exact recipe), default variant first.
    pub variants: Vec<(&'static str, &'static str)>,
    /// Name of the variant used when a spec gives none.
    pub default_variant: &'static str,
}

fn info<V: Copy + Default>(
    name: &'static str,
    summary: &'static str,
    all: &[V],
    name_of: fn(V) -> &'static str,
    recipe: fn(V) -> &'static str,
) -> GeneratorInfo {
    GeneratorInfo {
        name,
        summary,
        variants: all.iter().map(|&v| (name_of(v), recipe(v))).collect(),
        default_variant: name_of(V::default()),
    }
}

fn single(
    name: &'static str,
    summary: &'static str,
    variant: &'static str,
    recipe: &'static str,
) -> GeneratorInfo {
    GeneratorInfo {
        name,
        summary,
        variants: vec![(variant, recipe)],
        default_variant: variant,
    }
}

/// Every generator with its variants and recipes, in [`Generator::NAMES`] order.
pub fn catalogue() -> Vec<GeneratorInfo> {
    let mut out = vec![
        info(
            "two_moons",
            "two interleaving half-circles (parameter: noise, default per variant)",
            MoonsVariant::ALL,
            MoonsVariant::name,
            MoonsVariant::recipe,
        ),
        info(
            "eight_gaussians",
            "equal mixture of 8 isotropic Gaussians on a circle (torchdyn: parameters std, noise; \
             generators2d: parameters scale, var)",
            EightGaussiansVariant::ALL,
            EightGaussiansVariant::name,
            EightGaussiansVariant::recipe,
        ),
        info(
            "checkerboard",
            "uniform on the 8 black squares of a 4x4 checkerboard",
            CheckerboardVariant::ALL,
            CheckerboardVariant::name,
            CheckerboardVariant::recipe,
        ),
        single(
            "gmm",
            "AGM's toy mixture: 9 isotropic Gaussians, std 0.04, means on the 3x3 grid \
             {-0.5, 0, 0.5}^2 rotated by 45 degrees, equal weights",
            "agm",
            "apple/ml-agm dataset/spiral.py: per point a uniform component, then mean + 0.04 N(0, I)",
        ),
        single(
            "spiral",
            "AGM's toy spirals: five equally likely swiss rolls, one at the origin and four \
             at (+-1.2, +-1.2)",
            "agm",
            "apple/ml-agm dataset/spiral.py: sklearn make_swiss_roll(noise=0.3), coordinates (x, z), \
             x0.05, shifted to the roll's centre; t = 1.5 pi (1 + 2u)",
        ),
        info(
            "circles",
            "two concentric circles, radii 1 and 0.5 before scaling (parameter: noise, default per variant)",
            CirclesVariant::ALL,
            CirclesVariant::name,
            CirclesVariant::recipe,
        ),
        single(
            "rings",
            "four concentric circles of radii 3, 2.25, 1.5, 0.75 (parameter: noise, default 0.08)",
            "ffjord",
            circles::RINGS_RECIPE,
        ),
        info(
            "spirals",
            "two point-symmetric spiral arms (parameter: noise, default per variant)",
            SpiralsVariant::ALL,
            SpiralsVariant::name,
            SpiralsVariant::recipe,
        ),
        info(
            "swissroll",
            "a swiss roll seen from above (parameter: noise, default per variant)",
            SwissRollVariant::ALL,
            SwissRollVariant::name,
            SwissRollVariant::recipe,
        ),
        info(
            "pinwheel",
            "five curved Gaussian arms",
            PinwheelVariant::ALL,
            PinwheelVariant::name,
            PinwheelVariant::recipe,
        ),
        info(
            "scurve",
            "an S curve seen from above (parameter: noise, default per variant)",
            SCurveVariant::ALL,
            SCurveVariant::name,
            SCurveVariant::recipe,
        ),
        info(
            "twenty_five_gaussians",
            "equal mixture of 25 narrow Gaussians on a 5x5 grid",
            TwentyFiveGaussiansVariant::ALL,
            TwentyFiveGaussiansVariant::name,
            TwentyFiveGaussiansVariant::recipe,
        ),
        single(
            "gaussian_mixture",
            "isotropic Gaussian mixture in d dimensions (parameters: dim 2, components 8, spread 4, \
             std 0.5, weights equal, means_seed 0)",
            DRIFT_VARIANT,
            "means m_k = spread z_k, z_k ~ N(0, I_dim) from a ChaCha8 stream keyed by (\"drift-gm\", dim, \
             components, means_seed), never by the sample seed; weights normalised to sum 1; per point a \
             component by one U[0,1) draw against the cumulative weights, then m_k + std N(0, I_dim)",
        ),
    ];
    for &kind in AttractorKind::ALL {
        out.push(GeneratorInfo {
            name: kind.name(),
            summary: kind.recipe(),
            variants: vec![(DRIFT_VARIANT, attractors::ATTRACTOR_RECIPE)],
            default_variant: DRIFT_VARIANT,
        });
    }
    out
}

/// The time-snapshot processes ([`SnapshotParams`]) with their recipes, in
/// [`SdeProcess::NAMES`] order. Each simulates by Euler-Maruyama (default step 1e-3) from
/// t = 0 and records `n` points at every requested time.
pub fn snapshot_catalogue() -> Vec<GeneratorInfo> {
    SdeProcess::NAMES
        .iter()
        .filter_map(|name| SdeProcess::from_name(name))
        .map(|p| GeneratorInfo {
            name: p.name(),
            summary: p.recipe(),
            variants: vec![(
                DRIFT_VARIANT,
                "n paths, Euler-Maruyama with k = ceil(span / dt) equal steps per interval between \
                 consecutive times (from t = 0); row j n + i is path i at times[j]; parameters dim 2, \
                 times [0, 0.25, 0.5, 1, 2], dt 1e-3",
            )],
            default_variant: DRIFT_VARIANT,
        })
        .collect()
}

#[cfg(test)]
mod tests;
