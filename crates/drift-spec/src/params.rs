//! Typed parameters of every stage kind: the serde surface of a spec, with defaults, and the
//! source of the JSON Schema. Reference-valued keys are plain strings here; `resolve` checks them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares a snake_case string enum with `ALL`, `name()` and `Default`.
macro_rules! names {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        $vis enum $name { $($(#[$vm])* #[serde(rename = $text)] $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn name(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            pub fn from_name(s: &str) -> Option<Self> { Self::ALL.iter().copied().find(|v| v.name() == s) }
        }
        impl Default for $name { fn default() -> Self { $name::$default } }
    };
}

// ---------------------------------------------------------------------------------------------
// experiment

/// `[experiment]`: settings shared by the whole spec.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentParams {
    /// Display name; not part of any key.
    pub name: String,
    /// Root seed, part of every key.
    #[serde(default)]
    pub seed: u64,
    /// Device for train and sample stages: `cpu`, `cuda`, `cuda:N` or `auto` (cuda:0 when built
    /// with the `cuda` feature and a GPU is present, else cpu). The device class is part of the key.
    #[serde(default = "default_device")]
    pub device: String,
    /// Refuse specs that expand to more stage instances than this.
    #[serde(default = "default_max_instances")]
    #[schemars(extend("x-drift-semantic" = false))]
    pub max_instances: u64,
}

fn default_device() -> String {
    "auto".into()
}
fn default_max_instances() -> u64 {
    100_000
}

// ---------------------------------------------------------------------------------------------
// data

/// `[data.NAME]`: a data set generated with a seed, split into train/val/test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DataParams {
    #[serde(flatten)]
    pub generator: GeneratorParams,
    /// Number of training points.
    pub n_train: u64,
    /// Number of validation points.
    #[serde(default)]
    pub n_val: u64,
    /// Number of test points (metrics use the test split).
    pub n_test: u64,
    /// Stage seed (combined with `experiment.seed`).
    #[serde(default)]
    pub seed: u64,
}

/// The generator and its own parameters, selected by `generator = "..."`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "generator")]
pub enum GeneratorParams {
    /// Two interleaving half circles (scikit-learn's make_moons), scaled per variant.
    #[serde(rename = "two_moons")]
    TwoMoons(TwoMoonsParams),
    /// Eight isotropic Gaussians on a circle.
    #[serde(rename = "eight_gaussians")]
    EightGaussians(EightGaussiansParams),
    /// A 4x4 checkerboard of uniform squares.
    #[serde(rename = "checkerboard")]
    Checkerboard(CheckerboardParams),
}

impl GeneratorParams {
    pub fn name(&self) -> &'static str {
        match self {
            GeneratorParams::TwoMoons(_) => "two_moons",
            GeneratorParams::EightGaussians(_) => "eight_gaussians",
            GeneratorParams::Checkerboard(_) => "checkerboard",
        }
    }

    /// Fills defaults that depend on other values (the variant's noise level).
    pub fn complete(&mut self) {
        if let GeneratorParams::TwoMoons(p) = self {
            p.noise.get_or_insert(p.variant.default_noise());
        }
    }
}

names! {
    /// Which published recipe to follow, so that numbers compare with that code base
    /// (`drift list generators` prints each recipe).
    pub enum MoonsVariant {
        /// make_moons(noise) x2 + (-1, -0.2)
        Ffjord = "ffjord",
        /// uniform noise on both coordinates, x3 - 1
        Torchcfm = "torchcfm",
        /// make_moons(noise) x2, then x0 -= 1 (first coordinate only)
        TorchcfmRunner = "torchcfm_runner",
    } default Ffjord
}

impl MoonsVariant {
    pub fn default_noise(self) -> f64 {
        match self {
            MoonsVariant::Ffjord => 0.1,
            MoonsVariant::Torchcfm => 0.2,
            MoonsVariant::TorchcfmRunner => 0.05,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TwoMoonsParams {
    #[serde(default)]
    pub variant: MoonsVariant,
    /// Noise level; default depends on the variant (ffjord 0.1, torchcfm 0.2, torchcfm_runner 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
}

names! {
    /// Which published recipe of `eight_gaussians` to follow.
    pub enum EightGaussiansVariant {
        /// radius 4, std 0.5, all / 1.414
        Ffjord = "ffjord",
        /// radius 5, std 0.1^0.25
        Torchcfm = "torchcfm",
        /// radius 4, std 0.5, all x3
        TorchcfmRunner = "torchcfm_runner",
    } default Ffjord
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EightGaussiansParams {
    #[serde(default)]
    pub variant: EightGaussiansVariant,
}

names! {
    /// Which published recipe of `checkerboard` to follow.
    pub enum CheckerboardVariant {
        /// support [-4, 4]^2
        Ffjord = "ffjord",
        /// FFJORD's recipe scaled by 7.5 / 2
        Runner = "runner",
    } default Ffjord
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckerboardParams {
    #[serde(default)]
    pub variant: CheckerboardVariant,
}

// ---------------------------------------------------------------------------------------------
// train

/// `[train.NAME]`: trains a model on a data stage's training split.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainParams {
    /// Reference to a data stage (`"data.NAME"`, optionally filtered `"data.NAME[k=v]"`).
    pub data: String,
    #[serde(flatten)]
    pub method: MethodParams,
    /// Optimiser steps.
    pub steps: u64,
    /// Minibatch size (drawn with replacement).
    #[serde(default = "default_batch")]
    pub batch: u64,
    /// AdamW learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// AdamW weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// The network.
    #[serde(default)]
    pub model: ModelParams,
    /// Stage seed: initial weights, minibatches, noise and times.
    #[serde(default)]
    pub seed: u64,
}

fn default_batch() -> u64 {
    256
}
fn default_lr() -> f64 {
    1e-3
}

/// The training method, selected by `method = "..."`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method")]
pub enum MethodParams {
    /// I-CFM (Tong et al.; Lipman et al.): x_t = (1-t) x0 + t x1 + sigma eps, target x1 - x0, t ~ U(0, 1).
    /// sigma = 0 is 1-rectified flow.
    #[serde(rename = "flow_matching")]
    FlowMatching(FlowMatchingParams),
}

impl MethodParams {
    pub fn name(&self) -> &'static str {
        match self {
            MethodParams::FlowMatching(_) => "flow_matching",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FlowMatchingParams {
    /// Std of the Gaussian around the straight path.
    #[serde(default)]
    pub sigma: f64,
}

names! {
    /// Network architecture.
    pub enum Arch {
        /// [x, sinusoidal(t)] -> hidden layers -> velocity
        Mlp = "mlp",
    } default Mlp
}

names! {
    /// Hidden-layer activation.
    pub enum Activation {
        Silu = "silu",
        Relu = "relu",
        Gelu = "gelu",
        Selu = "selu",
    } default Silu
}

/// `model = { arch = "mlp", hidden = [...] }`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelParams {
    #[serde(default)]
    pub arch: Arch,
    /// Widths of the hidden layers.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<u64>,
    #[serde(default)]
    pub activation: Activation,
    /// Size of the sinusoidal time embedding (even).
    #[serde(default = "default_time_embed")]
    pub time_embed_dim: u64,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            arch: Arch::Mlp,
            hidden: default_hidden(),
            activation: Activation::Silu,
            time_embed_dim: default_time_embed(),
        }
    }
}

fn default_hidden() -> Vec<u64> {
    vec![128, 128, 128]
}
fn default_time_embed() -> u64 {
    32
}

// ---------------------------------------------------------------------------------------------
// sample

names! {
    /// Fixed-step ODE solver.
    pub enum Solver {
        /// 1 network evaluation per step
        Euler = "euler",
        /// explicit trapezoid, 2 evaluations per step
        Heun = "heun",
        /// classical Runge-Kutta, 4 evaluations per step
        Rk4 = "rk4",
    } default Euler
}

impl Solver {
    pub fn evals_per_step(self) -> u64 {
        match self {
            Solver::Euler => 1,
            Solver::Heun => 2,
            Solver::Rk4 => 4,
        }
    }
}

/// `[sample.NAME]`: draws samples from a trained model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SampleParams {
    /// Reference to a train stage.
    pub model: String,
    #[serde(default)]
    pub solver: Solver,
    /// Number of samples.
    pub n: u64,
    /// Budget of network evaluations per sample; give this or `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfe: Option<u64>,
    /// Solver steps; give this or `nfe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Stage seed: the initial noise.
    #[serde(default)]
    pub seed: u64,
}

// ---------------------------------------------------------------------------------------------
// eval

names! {
    /// Sample-quality metric (each compares the samples with the data's test split).
    pub enum Metric {
        /// exact 2-Wasserstein distance (f64 assignment)
        W2 = "w2",
        /// sliced 2-Wasserstein over `projections` seeded directions
        SlicedW2 = "sliced_w2",
        /// unbiased MMD^2, sum of RBF kernels, sigma in {0.01, 0.1, 1, 10, 100}
        Mmd = "mmd",
    } default W2
}

/// `[eval.NAME]`: computes metrics of a sample stage against its data's test split.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EvalParams {
    /// Reference to a sample stage.
    pub samples: String,
    pub metrics: Vec<Metric>,
    /// Directions for `sliced_w2`.
    #[serde(default = "default_projections")]
    pub projections: u64,
    /// Stage seed: the sliced directions.
    #[serde(default)]
    pub seed: u64,
}

fn default_projections() -> u64 {
    256
}

// ---------------------------------------------------------------------------------------------
// report

names! {
    /// How a report pools repeated runs.
    pub enum Aggregate {
        /// mean and std (ddof 1) over the seed axes
        MeanStd = "mean_std",
        /// no pooling: every axis must be a row or a column
        None = "none",
    } default MeanStd
}

/// `[report.NAME]`: a table gathered from eval stages.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReportParams {
    /// Eval stages to gather; `*` globs allowed (`"eval.*"`).
    pub from: Vec<String>,
    /// Columns that label the rows.
    pub rows: Vec<String>,
    /// Columns that label the column groups (`metric` is the metric's name).
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    #[serde(default)]
    pub aggregate: Aggregate,
    #[serde(default)]
    pub seed: u64,
}

fn default_columns() -> Vec<String> {
    vec!["metric".into()]
}
