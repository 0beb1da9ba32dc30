//! Data-stage parameters as drift-data generators: defaults are completed from the generators'
//! own defaults and parameters are validated by the generators themselves, so the spec layer
//! never restates a recipe's numbers.

use drift_data::{AttractorKind, AttractorParams, AttractorSystem, DataError, Generator};

use crate::params::*;

/// The drift-data generator these parameters describe; `None` for the table generators
/// (`file`, `digits`), which are read rather than drawn.
pub fn to_generator(p: &GeneratorParams) -> Option<Result<Generator, DataError>> {
    let toy = |variant: &str, noise: Option<f64>| {
        Some(Generator::from_parts(p.name(), Some(variant), noise))
    };
    match p {
        GeneratorParams::TwoMoons(m) => toy(m.variant.name(), m.noise),
        GeneratorParams::EightGaussians(g) => toy(g.variant.name(), g.noise),
        GeneratorParams::Checkerboard(c) => toy(c.variant.name(), None),
        GeneratorParams::Gmm(_) | GeneratorParams::Spiral(_) => toy("agm", None),
        GeneratorParams::Circles(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::Rings(r) => Some(Generator::from_parts("rings", None, r.noise)),
        GeneratorParams::Spirals(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::SwissRoll(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::Pinwheel(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::SCurve(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::TwentyFiveGaussians(t) => toy(t.variant.name(), t.noise),
        GeneratorParams::GaussianMixture(g) => {
            let params = drift_data::GaussianMixtureParams {
                dim: g.dim as usize,
                components: g.components as usize,
                spread: g.spread,
                std: g.component_std,
                weights: g.weights.clone(),
                means_seed: g.means_seed,
            };
            Some(
                params
                    .validate()
                    .map(|()| Generator::GaussianMixture(params)),
            )
        }
        GeneratorParams::File(_)
        | GeneratorParams::Digits(_)
        | GeneratorParams::OuSnapshots(_)
        | GeneratorParams::DoubleWellSnapshots(_) => None,
        _ => {
            let params = attractor(p)?;
            Some(params.validate().map(|()| Generator::Attractor(params)))
        }
    }
}

/// Fills every default that the generator decides (noise levels per variant, attractor
/// parameters), so that keys never depend on whether a default was written out.
pub fn complete(p: &mut GeneratorParams) {
    // The noise in force, for the generators whose noise defaults per variant.
    let noise = match to_generator(p) {
        Some(Ok(g)) => g.noise(),
        _ => None,
    };
    match p {
        GeneratorParams::TwoMoons(m) => fill(&mut m.noise, noise),
        GeneratorParams::EightGaussians(g) => fill(&mut g.noise, noise),
        GeneratorParams::Circles(t) => fill(&mut t.noise, noise),
        GeneratorParams::Rings(r) => fill(&mut r.noise, noise),
        GeneratorParams::Spirals(t) => fill(&mut t.noise, noise),
        GeneratorParams::SwissRoll(t) => fill(&mut t.noise, noise),
        GeneratorParams::SCurve(t) => fill(&mut t.noise, noise),
        _ => {}
    }
    let Some(defaults) = attractor_kind(p).map(AttractorKind::default_params) else {
        return;
    };
    let (dt, burn_in, stride) = (defaults.dt, defaults.burn_in as u64, defaults.stride as u64);
    macro_rules! fill_all {
        ($spec:expr, $sys:pat => { $($field:ident),* }) => {{
            let $sys = defaults.system else { unreachable!("kind matches") };
            $( $spec.$field.get_or_insert($field); )*
            $spec.dt.get_or_insert(dt);
            $spec.burn_in.get_or_insert(burn_in);
            $spec.stride.get_or_insert(stride);
        }};
    }
    match p {
        GeneratorParams::Lorenz63(s) => {
            fill_all!(s, AttractorSystem::Lorenz63 { sigma, rho, beta } => { sigma, rho, beta })
        }
        GeneratorParams::Rossler(s) => {
            fill_all!(s, AttractorSystem::Rossler { a, b, c } => { a, b, c })
        }
        GeneratorParams::Lorenz96(s) => {
            let AttractorSystem::Lorenz96 { dim, forcing } = defaults.system else {
                unreachable!("kind matches")
            };
            s.dim.get_or_insert(dim as u64);
            s.forcing.get_or_insert(forcing);
            s.dt.get_or_insert(dt);
            s.burn_in.get_or_insert(burn_in);
            s.stride.get_or_insert(stride);
        }
        GeneratorParams::Thomas(s) => fill_all!(s, AttractorSystem::Thomas { b } => { b }),
        GeneratorParams::Aizawa(s) => {
            fill_all!(s, AttractorSystem::Aizawa { a, b, c, d, e, f } => { a, b, c, d, e, f })
        }
        GeneratorParams::Halvorsen(s) => fill_all!(s, AttractorSystem::Halvorsen { a } => { a }),
        GeneratorParams::Chen(s) => fill_all!(s, AttractorSystem::Chen { a, b, c } => { a, b, c }),
        _ => {}
    }
}

fn fill(slot: &mut Option<f64>, value: Option<f64>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn attractor_kind(p: &GeneratorParams) -> Option<AttractorKind> {
    AttractorKind::from_name(p.name())
}

/// The attractor parameters: the spec's values over the system's defaults.
fn attractor(p: &GeneratorParams) -> Option<AttractorParams> {
    let mut out = attractor_kind(p)?.default_params();
    macro_rules! take {
        ($spec:expr, $($field:ident),*) => {{
            $( if let Some(v) = $spec.$field { *$field = v; } )*
            if let Some(v) = $spec.dt { out.dt = v; }
            if let Some(v) = $spec.burn_in { out.burn_in = v as usize; }
            if let Some(v) = $spec.stride { out.stride = v as usize; }
        }};
    }
    match (p, &mut out.system) {
        (GeneratorParams::Lorenz63(s), AttractorSystem::Lorenz63 { sigma, rho, beta }) => {
            take!(s, sigma, rho, beta)
        }
        (GeneratorParams::Rossler(s), AttractorSystem::Rossler { a, b, c }) => take!(s, a, b, c),
        (GeneratorParams::Lorenz96(s), AttractorSystem::Lorenz96 { dim, forcing }) => {
            if let Some(d) = s.dim {
                *dim = d as usize;
            }
            take!(s, forcing)
        }
        (GeneratorParams::Thomas(s), AttractorSystem::Thomas { b }) => take!(s, b),
        (GeneratorParams::Aizawa(s), AttractorSystem::Aizawa { a, b, c, d, e, f }) => {
            take!(s, a, b, c, d, e, f)
        }
        (GeneratorParams::Halvorsen(s), AttractorSystem::Halvorsen { a }) => take!(s, a),
        (GeneratorParams::Chen(s), AttractorSystem::Chen { a, b, c }) => take!(s, a, b, c),
        _ => return None,
    }
    Some(out)
}

/// The snapshot simulation these parameters describe (`None` for other generators).
pub fn to_snapshots(p: &GeneratorParams) -> Option<drift_data::SnapshotParams> {
    use drift_data::{InitialDistribution, SdeProcess, SnapshotParams};
    let (process, dim, times, dt) = match p {
        GeneratorParams::OuSnapshots(s) => (
            SdeProcess::OrnsteinUhlenbeck(drift_data::OuParams {
                theta: s.theta,
                mu: s.mu,
                sigma: s.sigma,
                x0: InitialDistribution {
                    mean: s.x0_mean,
                    std: s.x0_std,
                },
            }),
            s.dim,
            &s.times,
            s.dt,
        ),
        GeneratorParams::DoubleWellSnapshots(s) => (
            SdeProcess::DoubleWell(drift_data::DoubleWellParams {
                sigma: s.sigma,
                x0: InitialDistribution {
                    mean: s.x0_mean,
                    std: s.x0_std,
                },
            }),
            s.dim,
            &s.times,
            s.dt,
        ),
        _ => return None,
    };
    let mut params = SnapshotParams::new(process);
    params.dim = dim as usize;
    params.times = times.clone();
    params.dt = dt;
    Some(params)
}

/// The spec key a generator error is about (for the diagnostic's position).
pub fn error_key(e: &DataError) -> &'static str {
    match e {
        DataError::UnknownVariant { .. } => "variant",
        DataError::UnexpectedNoise { .. } | DataError::InvalidNoise { .. } => "noise",
        DataError::InvalidParameter { parameter, .. } => parameter,
        _ => "generator",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(toml_text: &str) -> GeneratorParams {
        let v: toml::Value = toml::from_str(toml_text).unwrap();
        let j = serde_json::to_value(v).unwrap();
        let mut p: DataParams = serde_json::from_value(j).unwrap();
        p.generator.complete();
        p.generator
    }

    /// Every spec variant name is one drift-data knows, and every drift-data variant is
    /// selectable from a spec.
    #[test]
    fn spec_variants_match_the_generators() {
        for info in drift_data::catalogue() {
            for (variant, _) in &info.variants {
                let text = format!("generator = \"{}\"\nvariant = \"{variant}\"", info.name);
                let v: toml::Value = toml::from_str(&text).unwrap();
                let parsed: Result<DataParams, _> =
                    serde_json::from_value(serde_json::to_value(v).unwrap());
                let takes_variant =
                    !matches!(info.name, "gmm" | "spiral" | "rings" | "gaussian_mixture")
                        && AttractorKind::from_name(info.name).is_none();
                if takes_variant {
                    let p = parsed.unwrap_or_else(|e| panic!("{}/{variant}: {e}", info.name));
                    let g = to_generator(&p.generator).unwrap().unwrap();
                    assert_eq!(g.variant_name(), *variant);
                }
            }
        }
    }

    #[test]
    fn defaults_are_completed_from_the_generators() {
        let p = params("generator = \"circles\"\nvariant = \"torchcfm_runner\"");
        let GeneratorParams::Circles(c) = &p else {
            panic!()
        };
        assert_eq!(c.noise, Some(0.05));
        let p = params("generator = \"lorenz63\"\nrho = 30.0");
        let GeneratorParams::Lorenz63(l) = &p else {
            panic!()
        };
        assert_eq!(
            (l.sigma, l.rho, l.dt, l.burn_in),
            (Some(10.0), Some(30.0), Some(0.01), Some(1000))
        );
        let g = to_generator(&p).unwrap().unwrap();
        let Generator::Attractor(a) = g else { panic!() };
        assert_eq!(
            a.system,
            AttractorSystem::Lorenz63 {
                sigma: 10.0,
                rho: 30.0,
                beta: 8.0 / 3.0
            }
        );
        let p = params("generator = \"lorenz96\"\ndim = 6");
        assert_eq!(to_generator(&p).unwrap().unwrap().dim(), 6);
        let p = params("generator = \"two_moons\"");
        let GeneratorParams::TwoMoons(m) = &p else {
            panic!()
        };
        assert_eq!(m.noise, Some(0.1));
    }

    #[test]
    fn file_formats_from_extensions() {
        let file = |path: &str| FileParams {
            path: path.into(),
            format: None,
            columns: None,
            split: SplitFractions::default(),
            standardize: false,
            resolved_path: None,
        };
        assert_eq!(
            file("a/b.PARQUET").format_in_force(),
            Some(FileFormat::Parquet)
        );
        assert_eq!(file("b.npy").format_in_force(), Some(FileFormat::Npy));
        assert_eq!(file("b.txt").format_in_force(), None);
        let explicit = FileParams {
            format: Some(FileFormat::Csv),
            ..file("b.txt")
        };
        assert_eq!(explicit.format_in_force(), Some(FileFormat::Csv));
    }

    #[test]
    fn invalid_parameters_are_reported_by_key() {
        let p = params("generator = \"gaussian_mixture\"\ncomponents = 3\nweights = [1.0, 2.0]");
        let e = to_generator(&p).unwrap().unwrap_err();
        assert_eq!(error_key(&e), "weights", "{e}");
        let p = params("generator = \"checkerboard\"\nvariant = \"ffjord\"");
        assert!(to_generator(&p).unwrap().is_ok());
    }
}
