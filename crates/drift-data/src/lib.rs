//! drift-data: seeded, bit-deterministic 2D toy data generators (two_moons, eight_gaussians,
//! checkerboard) with per-source recipe variants, and their catalogue for `drift list generators`.
//!
//! The same dataset name means different distributions in different code bases, so every
//! generator carries a variant naming whose recipe it reproduces; [`catalogue`] lists the exact
//! recipes.
//!
//! # Determinism
//!
//! One `ChaCha8Rng::seed_from_u64(seed)` stream drives each [`Generator::sample`] call. All
//! arithmetic is done in f64 and rounded to f32 once at the end; trigonometry goes through the
//! pure-Rust `libm` crate, integer draws through fixed-width `u64` ranges, and shuffles through
//! a Fisher-Yates written here. The same (generator, n, seed) therefore gives bit-identical
//! output on every run. (The only platform math left is the `exp`/`ln` inside rand_distr's
//! ziggurat normal sampler, which only decides its rare rejection-step comparisons.)

pub mod agm_toys;
mod checkerboard;
mod eight_gaussians;
mod moons;
mod points;
mod rng;

pub use checkerboard::CheckerboardVariant;
pub use eight_gaussians::EightGaussiansVariant;
pub use moons::MoonsVariant;
pub use points::Points;

/// Errors from building a [`Generator`] out of names and parameters.
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
}

/// A 2D toy distribution together with the recipe variant that defines it exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
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
}

impl Generator {
    /// Generator names, in catalogue order.
    pub const NAMES: &'static [&'static str] = &[
        "two_moons",
        "eight_gaussians",
        "checkerboard",
        "gmm",
        "spiral",
    ];

    /// Build a generator from spec-level names. `variant: None` selects the default variant;
    /// `noise: None` selects the variant's default noise (only `two_moons` takes a noise).
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
                no_noise("eight_gaussians")?;
                Self::EightGaussians {
                    variant: pick(
                        "eight_gaussians",
                        variant,
                        EightGaussiansVariant::ALL,
                        EightGaussiansVariant::from_name,
                        EightGaussiansVariant::name,
                    )?,
                }
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
                no_noise(if name == "gmm" { "gmm" } else { "spiral" })?;
                if let Some(v) = variant.filter(|v| *v != "agm") {
                    return Err(DataError::UnknownVariant {
                        generator: if name == "gmm" { "gmm" } else { "spiral" },
                        variant: v.to_owned(),
                        known: "agm".into(),
                    });
                }
                if name == "gmm" {
                    Self::Gmm
                } else {
                    Self::Spiral
                }
            }
            other => {
                return Err(DataError::UnknownGenerator {
                    name: other.to_owned(),
                    known: Self::NAMES.join(", "),
                });
            }
        };
        generator.validate()?;
        Ok(generator)
    }

    /// Check the parameters: `noise` must be finite and non-negative.
    pub fn validate(&self) -> Result<(), DataError> {
        match *self {
            Self::TwoMoons { noise, .. } if !(noise.is_finite() && noise >= 0.0) => {
                Err(DataError::InvalidNoise { noise })
            }
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
        }
    }

    /// The variant's snake_case name.
    pub fn variant_name(&self) -> &'static str {
        match *self {
            Self::TwoMoons { variant, .. } => variant.name(),
            Self::EightGaussians { variant } => variant.name(),
            Self::Checkerboard { variant } => variant.name(),
            Self::Gmm | Self::Spiral => "agm",
        }
    }

    /// Dimension of the generated points (2 for every current generator).
    pub fn dim(&self) -> usize {
        2
    }

    /// Draw `n` points from a fresh `ChaCha8Rng::seed_from_u64(seed)`. Bit-identical for the
    /// same (generator, n, seed). Parameters are not re-validated: an invalid noise (see
    /// [`Generator::validate`]) yields non-finite or mirrored values, never a panic.
    pub fn sample(&self, n: usize, seed: u64) -> Points {
        let mut rng = rng::stream(seed);
        let values = match *self {
            Self::TwoMoons { variant, noise } => moons::sample(variant, noise, n, &mut rng),
            Self::EightGaussians { variant } => eight_gaussians::sample(variant, n, &mut rng),
            Self::Checkerboard { variant } => checkerboard::sample(variant, n, &mut rng),
            Self::Gmm => agm_toys::sample_gmm(n, &mut rng),
            Self::Spiral => agm_toys::sample_spiral(n, &mut rng),
        };
        Points::from_f64(self.dim(), &values)
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

/// Every generator with its variants and recipes, in [`Generator::NAMES`] order.
pub fn catalogue() -> Vec<GeneratorInfo> {
    vec![
        GeneratorInfo {
            name: "two_moons",
            summary: "two interleaving half-circles (parameter: noise, default per variant)",
            variants: MoonsVariant::ALL
                .iter()
                .map(|v| (v.name(), v.recipe()))
                .collect(),
            default_variant: MoonsVariant::default().name(),
        },
        GeneratorInfo {
            name: "eight_gaussians",
            summary: "equal mixture of 8 isotropic Gaussians on the axes and diagonals of a circle",
            variants: EightGaussiansVariant::ALL
                .iter()
                .map(|v| (v.name(), v.recipe()))
                .collect(),
            default_variant: EightGaussiansVariant::default().name(),
        },
        GeneratorInfo {
            name: "checkerboard",
            summary: "uniform on the 8 black squares of a 4x4 checkerboard",
            variants: CheckerboardVariant::ALL
                .iter()
                .map(|v| (v.name(), v.recipe()))
                .collect(),
            default_variant: CheckerboardVariant::default().name(),
        },
        GeneratorInfo {
            name: "gmm",
            summary: "AGM's toy mixture: 9 isotropic Gaussians, std 0.04, means on the 3x3 grid \
                      {-0.5, 0, 0.5}^2 rotated by 45 degrees, equal weights",
            variants: vec![(
                "agm",
                "apple/ml-agm dataset/spiral.py: per point a uniform component, then mean + 0.04 N(0, I)",
            )],
            default_variant: "agm",
        },
        GeneratorInfo {
            name: "spiral",
            summary: "AGM's toy spirals: five equally likely swiss rolls, one at the origin and four \
                      at (+-1.2, +-1.2)",
            variants: vec![(
                "agm",
                "apple/ml-agm dataset/spiral.py: sklearn make_swiss_roll(noise=0.3), coordinates (x, z), \
                 x0.05, shifted to the roll's centre; t = 1.5 pi (1 + 2u)",
            )],
            default_variant: "agm",
        },
    ]
}

#[cfg(test)]
mod tests;
