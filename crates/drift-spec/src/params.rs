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
    /// Where stage instances run: `local` (worker threads of this process) or `slurm` (each
    /// instance, or an array of them, submitted with `sbatch`; the cache must be on a file
    /// system the compute nodes share). An execution setting, outside every key; `drift run
    /// --executor` overrides it.
    #[serde(default)]
    #[schemars(extend("x-drift-semantic" = false))]
    pub executor: ExecutorName,
}

names! {
    /// Where stage instances run.
    pub enum ExecutorName { Local = "local", Slurm = "slurm" } default Local
}

// ---------------------------------------------------------------------------------------------
// execution settings: cluster resources, the Slurm executor, the remote cache (outside keys)

/// Cluster resources of a stage instance under `--executor slurm`: `[slurm]` gives defaults,
/// a stage's `resources = { ... }` overrides them key by key. Execution settings: changing
/// them reruns nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resources {
    /// CPUs per instance (`sbatch --cpus-per-task`); also the instance's compute threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cpus: Option<u32>,
    /// Memory per instance (`sbatch --mem`): megabytes, or a number with a K, M, G or T suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// GPUs per instance (`sbatch --gpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// Time limit (`sbatch --time`): `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM` or
    /// `D-HH:MM:SS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Partition (`sbatch --partition`); the cluster's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Account to charge (`sbatch --account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Further `sbatch` options, passed as written (e.g. `["--qos=low", "--constraint=a100"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbatch: Option<Vec<String>>,
}

impl Resources {
    /// `self`, with every key it leaves unset taken from `defaults`.
    pub fn or(&self, defaults: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(defaults.cpus),
            memory: self.memory.clone().or_else(|| defaults.memory.clone()),
            gpus: self.gpus.or(defaults.gpus),
            time: self.time.clone().or_else(|| defaults.time.clone()),
            partition: self
                .partition
                .clone()
                .or_else(|| defaults.partition.clone()),
            account: self.account.clone().or_else(|| defaults.account.clone()),
            sbatch: self.sbatch.clone().or_else(|| defaults.sbatch.clone()),
        }
    }
}

/// A table of execution settings, checked after it is read: a problem names its key.
pub trait Settings: serde::de::DeserializeOwned {
    /// `Err((key, message))` when a value is out of its accepted forms.
    fn check(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

impl Settings for ExperimentParams {}

impl Settings for Resources {
    /// The forms Slurm accepts for `memory` and `time`, so a typo fails at `drift check`
    /// rather than in the first job.
    fn check(&self) -> Result<(), (String, String)> {
        if self.cpus == Some(0) {
            return Err((
                "cpus".into(),
                "cpus = 0: give at least 1 (or leave it out for the cluster's default)".into(),
            ));
        }
        if let Some(m) = &self.memory {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
            if digits.is_empty()
                || !digits.chars().all(|c| c.is_ascii_digit())
                || m.len() > digits.len() + 1
            {
                return Err((
                    "memory".into(),
                    format!(
                        "memory = {m:?}: expected megabytes or a number with a K, M, G or T suffix, e.g. \"4G\""
                    ),
                ));
            }
        }
        if let Some(t) = &self.time
            && !is_slurm_time(t)
        {
            return Err((
                "time".into(),
                format!(
                    "time = {t:?}: expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. \"02:00:00\""
                ),
            ));
        }
        Ok(())
    }
}

fn is_slurm_time(t: &str) -> bool {
    let numbers = |s: &str| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    if matches!(t, "UNLIMITED" | "INFINITE") {
        return true;
    }
    match t.split_once('-') {
        Some((days, rest)) => {
            !days.is_empty() && days.chars().all(|c| c.is_ascii_digit()) && numbers(rest)
        }
        None => numbers(t),
    }
}

impl Settings for SlurmParams {
    fn check(&self) -> Result<(), (String, String)> {
        self.resources.check()?;
        if self.max_array_size == 0 {
            return Err((
                "max_array_size".into(),
                "max_array_size = 0: give at least 1 (the cluster's MaxArraySize or less)".into(),
            ));
        }
        if !(self.poll_min_s > 0.0 && self.poll_min_s.is_finite()) {
            return Err((
                "poll_min_s".into(),
                format!(
                    "poll_min_s = {}: give a positive number of seconds",
                    self.poll_min_s
                ),
            ));
        }
        if !(self.poll_max_s >= self.poll_min_s && self.poll_max_s.is_finite()) {
            return Err((
                "poll_max_s".into(),
                format!(
                    "poll_max_s = {} is below poll_min_s = {}",
                    self.poll_max_s, self.poll_min_s
                ),
            ));
        }
        Ok(())
    }
}

/// URL schemes a remote cache may use.
pub const REMOTE_SCHEMES: [&str; 4] = ["s3", "gs", "az", "file"];

impl Settings for CacheParams {
    fn check(&self) -> Result<(), (String, String)> {
        if let Some(url) = &self.remote {
            let scheme = url.split_once("://").map(|(s, _)| s);
            if !scheme.is_some_and(|s| REMOTE_SCHEMES.contains(&s)) {
                return Err((
                    "remote".into(),
                    format!(
                        "remote = {url:?}: expected s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///path"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `[slurm]`: how `--executor slurm` submits and watches jobs. The resource keys are the
/// defaults of every stage (a stage's `resources` table overrides them).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SlurmParams {
    #[serde(flatten)]
    pub resources: Resources,
    /// Resubmit a job that failed, timed out, ran out of memory, was preempted or lost its
    /// node, up to this many times.
    #[serde(default)]
    pub retries: u32,
    /// Submit instances of one stage that become ready together as one job array.
    #[serde(default = "default_true")]
    pub arrays: bool,
    /// Most tasks in one array (stay under the cluster's `MaxArraySize`).
    #[serde(default = "default_max_array_size")]
    #[schemars(range(min = 1))]
    pub max_array_size: u32,
    /// First interval between status queries (`squeue`), in seconds; it doubles while nothing
    /// changes, up to `poll_max_s`, and drops back when something does.
    #[serde(default = "default_poll_min_s")]
    pub poll_min_s: f64,
    /// Longest interval between status queries, in seconds.
    #[serde(default = "default_poll_max_s")]
    pub poll_max_s: f64,
    /// The `drift` binary the jobs run, as the compute nodes see it (default: this binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

impl Default for SlurmParams {
    fn default() -> Self {
        SlurmParams {
            resources: Resources::default(),
            retries: 0,
            arrays: true,
            max_array_size: default_max_array_size(),
            poll_min_s: default_poll_min_s(),
            poll_max_s: default_poll_max_s(),
            drift: None,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_max_array_size() -> u32 {
    1000
}
fn default_poll_min_s() -> f64 {
    2.0
}
fn default_poll_max_s() -> f64 {
    60.0
}

/// `[cache]`: where results are shared beyond this machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CacheParams {
    /// A remote store shared by every machine of a lab: `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix` or `file:///path`. Entries missing here
    /// are looked up there before a stage runs; `drift push` / `drift pull` move entries
    /// explicitly. Credentials come from the environment (AWS_*, GOOGLE_*, AZURE_*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
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
    /// Number of training points (generators that draw points; not for `file` and `digits`,
    /// which split a fixed table by `split`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_train: Option<u64>,
    /// Number of validation points.
    #[serde(default)]
    pub n_val: u64,
    /// Number of test points (metrics use the test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_test: Option<u64>,
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
    /// AGM's toy mixture: 9 Gaussians (std 0.04) on a 45-degree rotated 3x3 grid over [-0.5, 0.5]^2.
    #[serde(rename = "gmm")]
    Gmm(AgmToyParams),
    /// AGM's toy spirals: five swiss rolls (noise 0.3, x0.05), at the origin and (+-1.2, +-1.2).
    #[serde(rename = "spiral")]
    Spiral(AgmToyParams),
    /// Two concentric circles (scikit-learn make_circles, factor 0.5), scaled per variant.
    #[serde(rename = "circles")]
    Circles(ToyParams<CirclesVariant>),
    /// FFJORD's four concentric rings.
    #[serde(rename = "rings")]
    Rings(RingsParams),
    /// Two point-symmetric spiral arms.
    #[serde(rename = "spirals")]
    Spirals(ToyParams<SpiralsVariant>),
    /// scikit-learn's swiss roll seen from above.
    #[serde(rename = "swissroll")]
    SwissRoll(ToyParams<SwissRollVariant>),
    /// FFJORD's five-armed pinwheel.
    #[serde(rename = "pinwheel")]
    Pinwheel(ToyParams<PinwheelVariant>),
    /// scikit-learn's S curve seen from above.
    #[serde(rename = "scurve")]
    SCurve(ToyParams<SCurveVariant>),
    /// 25 narrow Gaussians on a 5x5 grid.
    #[serde(rename = "twenty_five_gaussians")]
    TwentyFiveGaussians(ToyParams<TwentyFiveGaussiansVariant>),
    /// An isotropic Gaussian mixture in d dimensions, with its exact log-density.
    #[serde(rename = "gaussian_mixture")]
    GaussianMixture(GaussianMixtureSpec),
    /// The Lorenz-63 attractor as a distribution (one long RK4 trajectory, standardised).
    #[serde(rename = "lorenz63")]
    Lorenz63(Lorenz63Spec),
    /// The Roessler attractor.
    #[serde(rename = "rossler")]
    Rossler(RosslerSpec),
    /// The Lorenz-96 system in `dim` dimensions.
    #[serde(rename = "lorenz96")]
    Lorenz96(Lorenz96Spec),
    /// Thomas' cyclically symmetric attractor.
    #[serde(rename = "thomas")]
    Thomas(ThomasSpec),
    /// Aizawa's attractor.
    #[serde(rename = "aizawa")]
    Aizawa(AizawaSpec),
    /// Halvorsen's attractor.
    #[serde(rename = "halvorsen")]
    Halvorsen(HalvorsenSpec),
    /// The Chen-Ueta attractor.
    #[serde(rename = "chen")]
    Chen(ChenSpec),
    /// Marginals of an Ornstein-Uhlenbeck process at several times (one table with a time
    /// column; `n_train` / `n_test` points per time), for trajectory inference.
    #[serde(rename = "ou_snapshots")]
    OuSnapshots(OuSnapshotSpec),
    /// Marginals of the double-well process dX = -V'(X) dt + sigma dW, V(x) = (x^2 - 1)^2 per
    /// coordinate, at several times.
    #[serde(rename = "double_well_snapshots")]
    DoubleWellSnapshots(DoubleWellSnapshotSpec),
    /// Your own data: the numeric columns of a Parquet, CSV or NPY file, shuffled with the stage
    /// seed and split by `split`. The file's content digest is part of the key (its path is not).
    #[serde(rename = "file")]
    File(FileParams),
    /// The 8x8 handwritten digits (1797 images, 64 pixel values / 16 in [0, 1]) that
    /// scikit-learn ships, from the UCI repository; shipped inside drift (data/digits.parquet).
    #[serde(rename = "digits")]
    Digits(DigitsParams),
}

/// Fractions of a fixed table that go to each split (they must add up to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitFractions {
    pub train: f64,
    #[serde(default)]
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        SplitFractions {
            train: 0.8,
            val: 0.0,
            test: 0.2,
        }
    }
}

names! {
    /// A user data file's format.
    pub enum FileFormat {
        /// Apache Parquet: numeric columns of any integer or float type
        Parquet = "parquet",
        /// comma-separated text with a header line; numeric columns are those whose every cell is a number
        Csv = "csv",
        /// a NumPy .npy array, 1-D or 2-D, of integers or floats; columns are named "0", "1", ...
        Npy = "npy",
    } default Parquet
}

/// `generator = "file"`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileParams {
    /// The file, relative to the spec file's directory (or absolute). Not part of the key: the
    /// planner hashes the file's content, so moving it reruns nothing and editing it reruns what
    /// depends on it.
    #[schemars(extend("x-drift-semantic" = false))]
    pub path: String,
    /// `parquet`, `csv` or `npy`; default: from the file name's extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    /// Columns to use, in this order (for NPY: "0", "1", ...); default: every numeric column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Split fractions (default train 0.8, val 0, test 0.2).
    #[serde(default)]
    pub split: SplitFractions,
    /// Shift and scale every column by the training split's mean and standard deviation (applied
    /// to all splits, so nothing leaks from val/test into training).
    #[serde(default)]
    pub standardize: bool,
    /// The file as the planner resolved it (the spec's directory joined with `path`).
    #[serde(skip)]
    #[schemars(skip)]
    pub resolved_path: Option<std::path::PathBuf>,
}

impl FileParams {
    /// The format in force: the explicit one, else the extension's.
    pub fn format_in_force(&self) -> Option<FileFormat> {
        self.format.or_else(|| {
            let ext = std::path::Path::new(&self.path)
                .extension()?
                .to_str()?
                .to_ascii_lowercase();
            match ext.as_str() {
                "parquet" | "pq" => Some(FileFormat::Parquet),
                "csv" => Some(FileFormat::Csv),
                "npy" => Some(FileFormat::Npy),
                _ => None,
            }
        })
    }
}

/// `generator = "digits"`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DigitsParams {
    /// Split fractions (default train 0.8, val 0, test 0.2).
    #[serde(default)]
    pub split: SplitFractions,
    /// Standardise each pixel by the training split's mean and standard deviation (constant
    /// pixels keep scale 1).
    #[serde(default)]
    pub standardize: bool,
}

/// AGM's toys have one recipe, the official code's.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgmToyParams {}

impl GeneratorParams {
    pub fn name(&self) -> &'static str {
        match self {
            GeneratorParams::TwoMoons(_) => "two_moons",
            GeneratorParams::EightGaussians(_) => "eight_gaussians",
            GeneratorParams::Checkerboard(_) => "checkerboard",
            GeneratorParams::Gmm(_) => "gmm",
            GeneratorParams::Spiral(_) => "spiral",
            GeneratorParams::File(_) => "file",
            GeneratorParams::Digits(_) => "digits",
            GeneratorParams::Circles(_) => "circles",
            GeneratorParams::Rings(_) => "rings",
            GeneratorParams::Spirals(_) => "spirals",
            GeneratorParams::SwissRoll(_) => "swissroll",
            GeneratorParams::Pinwheel(_) => "pinwheel",
            GeneratorParams::SCurve(_) => "scurve",
            GeneratorParams::TwentyFiveGaussians(_) => "twenty_five_gaussians",
            GeneratorParams::GaussianMixture(_) => "gaussian_mixture",
            GeneratorParams::Lorenz63(_) => "lorenz63",
            GeneratorParams::Rossler(_) => "rossler",
            GeneratorParams::Lorenz96(_) => "lorenz96",
            GeneratorParams::Thomas(_) => "thomas",
            GeneratorParams::Aizawa(_) => "aizawa",
            GeneratorParams::Halvorsen(_) => "halvorsen",
            GeneratorParams::Chen(_) => "chen",
            GeneratorParams::OuSnapshots(_) => "ou_snapshots",
            GeneratorParams::DoubleWellSnapshots(_) => "double_well_snapshots",
        }
    }

    /// Whether the generator splits a fixed table by fractions (`file`, `digits`) instead of
    /// drawing `n_train` / `n_val` / `n_test` points.
    pub fn splits_a_table(&self) -> bool {
        matches!(self, GeneratorParams::File(_) | GeneratorParams::Digits(_))
    }

    /// Whether the generator writes time snapshots (a time column beside the coordinates).
    pub fn is_snapshots(&self) -> bool {
        matches!(
            self,
            GeneratorParams::OuSnapshots(_) | GeneratorParams::DoubleWellSnapshots(_)
        )
    }

    /// Split fractions of a table generator.
    pub fn split(&self) -> Option<SplitFractions> {
        match self {
            GeneratorParams::File(f) => Some(f.split),
            GeneratorParams::Digits(d) => Some(d.split),
            _ => None,
        }
    }

    /// Fills defaults that depend on other values (a variant's noise level, an attractor's
    /// system parameters and integration settings), from drift-data's own defaults.
    pub fn complete(&mut self) {
        crate::generators::complete(self);
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
        /// make_moons(noise 0.1), standardised by the sample's mean and std, x7
        Runner = "runner",
    } default Ffjord
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TwoMoonsParams {
    #[serde(default)]
    pub variant: MoonsVariant,
    /// Noise level; default depends on the variant (ffjord 0.1, torchcfm 0.2, torchcfm_runner 0.05,
    /// runner 0.1).
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
        /// torchdyn generate_gaussians: unit circle, std 1, one shared offset per component of scale `noise` (1e-3)
        Torchdyn = "torchdyn",
        /// the runner's generators2d: radius 2, variance 0.02
        Generators2d = "generators2d",
    } default Ffjord
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EightGaussiansParams {
    #[serde(default)]
    pub variant: EightGaussiansVariant,
    /// Offset scale of the `torchdyn` variant (default 1e-3); other variants take none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
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
// the 2D zoo, mixtures and attractors (recipes in drift-data; `drift list generators` prints them)

names! {
    /// Which published recipe of `circles` to follow.
    pub enum CirclesVariant {
        /// make_circles(factor 0.5, noise 0.08) x3
        Ffjord = "ffjord",
        /// make_circles(factor 0.5, noise 0.05) x3.5
        TorchcfmRunner = "torchcfm_runner",
        /// make_circles(factor 0.5, noise 0) x10
        Runner = "runner",
    } default Ffjord
}

names! {
    /// Which published recipe of `spirals` to follow.
    pub enum SpiralsVariant {
        /// FFJORD's 2spirals: 540 degrees, /3, Gaussian noise 0.1
        Ffjord = "ffjord",
        /// torchdyn: 780 degrees, uniform noise
        Torchdyn = "torchdyn",
    } default Ffjord
}

names! {
    /// Which published recipe of `swissroll` to follow.
    pub enum SwissRollVariant {
        /// make_swiss_roll(noise 1.0), coordinates (0, 2), /5
        Ffjord = "ffjord",
        /// make_swiss_roll(noise 0.1), standardised, x7
        Runner = "runner",
    } default Ffjord
}

names! {
    /// Which published recipe of `pinwheel` to follow.
    pub enum PinwheelVariant {
        /// five arms, x2
        Ffjord = "ffjord",
        /// five arms, x7.5
        Runner = "runner",
    } default Ffjord
}

names! {
    /// Which published recipe of `scurve` to follow.
    pub enum SCurveVariant {
        /// make_s_curve(noise 0.05), coordinates (0, 2), x1.5
        TorchcfmRunner = "torchcfm_runner",
        /// make_s_curve(noise 0.1), standardised, x7
        Runner = "runner",
    } default TorchcfmRunner
}

names! {
    /// Which published recipe of `twenty_five_gaussians` to follow.
    pub enum TwentyFiveGaussiansVariant {
        /// WGAN-GP toy: centres 2(i, j), i, j in -2..2, std 0.05, all / 2.828
        WganGp = "wgan_gp",
        /// the same without the final scaling
        Generators2d = "generators2d",
    } default WganGp
}

/// A 2D toy with recipe variants and an optional noise level.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToyParams<V: Default> {
    #[serde(default)]
    pub variant: V,
    /// Noise level of generators that take one (default per variant; `drift list generators`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
}

/// FFJORD's rings have one recipe; only the noise level is a parameter.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RingsParams {
    /// Std of the final Gaussian noise (default 0.08).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
}

/// `generator = "gaussian_mixture"`: an isotropic Gaussian mixture in `dim` dimensions whose
/// means are `spread * N(0, I)` from a fixed stream keyed by (dim, components, means_seed),
/// never by the stage seed, so every split samples the same mixture. Its exact log-density is
/// known to metrics.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GaussianMixtureSpec {
    #[serde(default = "gm_dim")]
    pub dim: u64,
    #[serde(default = "gm_components")]
    pub components: u64,
    /// Scale of the component means.
    #[serde(default = "gm_spread")]
    pub spread: f64,
    /// Isotropic standard deviation of every component.
    #[serde(default = "gm_std")]
    pub component_std: f64,
    /// Component weights (positive; normalised); default equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Selects another fixed set of means for the same (dim, components).
    #[serde(default)]
    pub means_seed: u64,
}

fn gm_dim() -> u64 {
    2
}
fn gm_components() -> u64 {
    8
}
fn gm_spread() -> f64 {
    4.0
}
fn gm_std() -> f64 {
    0.5
}

/// `generator = "ou_snapshots"`: dX = theta (mu - X) dt + sigma dW from X_0 ~ N(x0_mean, x0_std^2),
/// simulated by Euler-Maruyama with step `dt` (every requested time is hit exactly).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OuSnapshotSpec {
    #[serde(default = "snap_dim")]
    pub dim: u64,
    /// Snapshot times, increasing, >= 0.
    #[serde(default = "snap_times")]
    pub times: Vec<f64>,
    #[serde(default = "snap_dt")]
    pub dt: f64,
    #[serde(default = "one")]
    pub theta: f64,
    #[serde(default)]
    pub mu: f64,
    #[serde(default = "one")]
    pub sigma: f64,
    #[serde(default = "ou_x0_mean")]
    pub x0_mean: f64,
    #[serde(default = "ou_x0_std")]
    pub x0_std: f64,
}

/// `generator = "double_well_snapshots"`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DoubleWellSnapshotSpec {
    #[serde(default = "snap_dim")]
    pub dim: u64,
    /// Snapshot times, increasing, >= 0.
    #[serde(default = "snap_times")]
    pub times: Vec<f64>,
    #[serde(default = "snap_dt")]
    pub dt: f64,
    #[serde(default = "one")]
    pub sigma: f64,
    #[serde(default = "dw_x0_mean")]
    pub x0_mean: f64,
    #[serde(default = "dw_x0_std")]
    pub x0_std: f64,
}

fn snap_dim() -> u64 {
    drift_data::SnapshotParams::new(drift_data::SdeProcess::OrnsteinUhlenbeck(Default::default()))
        .dim as u64
}
fn snap_times() -> Vec<f64> {
    drift_data::SnapshotParams::new(drift_data::SdeProcess::OrnsteinUhlenbeck(Default::default()))
        .times
}
fn snap_dt() -> f64 {
    drift_data::SnapshotParams::new(drift_data::SdeProcess::OrnsteinUhlenbeck(Default::default()))
        .dt
}
fn ou_x0_mean() -> f64 {
    drift_data::OuParams::default().x0.mean
}
fn ou_x0_std() -> f64 {
    drift_data::OuParams::default().x0.std
}
fn dw_x0_mean() -> f64 {
    drift_data::DoubleWellParams::default().x0.mean
}
fn dw_x0_std() -> f64 {
    drift_data::DoubleWellParams::default().x0.std
}

macro_rules! attractor_spec {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// RK4 step (default per system; `drift list generators`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dt: Option<f64>,
            /// Steps integrated and discarded before the first kept state.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub burn_in: Option<u64>,
            /// Steps between kept states.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub stride: Option<u64>,
        }
    };
}

attractor_spec! {
    /// Lorenz-63: `x' = sigma (y - x)`, `y' = x (rho - z) - y`, `z' = x y - beta z`.
    Lorenz63Spec { sigma: f64, rho: f64, beta: f64 }
}
attractor_spec! {
    /// Roessler: `x' = -y - z`, `y' = x + a y`, `z' = b + z (x - c)`.
    RosslerSpec { a: f64, b: f64, c: f64 }
}
attractor_spec! {
    /// Lorenz-96 in `dim` dimensions (>= 4) with forcing F.
    Lorenz96Spec { dim: u64, forcing: f64 }
}
attractor_spec! {
    /// Thomas: `x' = sin y - b x` and cyclic.
    ThomasSpec { b: f64 }
}
attractor_spec! {
    /// Aizawa (Langford system).
    AizawaSpec { a: f64, b: f64, c: f64, d: f64, e: f64, f: f64 }
}
attractor_spec! {
    /// Halvorsen: `x' = -a x - 4 y - 4 z - y^2` and cyclic.
    HalvorsenSpec { a: f64 }
}
attractor_spec! {
    /// Chen-Ueta: `x' = a (y - x)`, `y' = (c - a) x - x z + c y`, `z' = x y - b z`.
    ChenSpec { a: f64, b: f64, c: f64 }
}

// ---------------------------------------------------------------------------------------------
// train

/// `[train.NAME]`: trains a network by one method on a data stage's training split (or on the
/// (x0, x1) pairs of a sample stage, for reflow).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainParams {
    /// Reference to a data stage (`"data.NAME"`, optionally filtered `"data.NAME[k=v]"`): the
    /// target distribution (t = 1). Required unless `pairs` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The source distribution at t = 0: `"gaussian"` (N(0, I), the default) or a reference to a
    /// data stage, for transport between two data sets (flow-matching family only).
    #[serde(default = "default_source")]
    pub source: String,
    /// Reflow: train on the fixed (x0, x1) pairs of a sample stage that has `pairs = true`
    /// (`rectified_flow` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs: Option<String>,
    /// Start from the weights of a train stage with the same network (e.g. the previous reflow round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    #[serde(flatten)]
    pub method: MethodParams,
    /// Optimiser steps.
    pub steps: u64,
    /// Minibatch size.
    #[serde(default = "default_batch")]
    pub batch: u64,
    /// How minibatches are drawn from the data.
    #[serde(default)]
    pub data_sampling: DataSampling,
    /// AdamW learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// AdamW decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Learning-rate schedule over `steps`.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Linear warm-up steps (rate x min(1, (k+1)/warmup_steps)); 0 = none.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Clip the global gradient norm to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
    /// Exponential moving average of the weights with this decay (torch_ema warm-up); sampling
    /// uses the EMA weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
    /// The network.
    #[serde(default)]
    pub model: ModelParams,
    /// Write a resumable checkpoint (weights, optimiser state, EMA, random-stream positions,
    /// step) every this many steps; a killed training resumes from the last one on the next run,
    /// bit-identically on the CPU. An execution setting: not part of the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-drift-semantic" = false))]
    pub checkpoint_every: Option<u64>,
    /// Stage seed: initial weights, minibatches, noise and times.
    #[serde(default)]
    pub seed: u64,
}

fn default_source() -> String {
    "gaussian".into()
}
fn default_batch() -> u64 {
    256
}
fn default_lr() -> f64 {
    1e-3
}

names! {
    /// How training minibatches are drawn.
    pub enum DataSampling {
        /// rows drawn with replacement from the fixed training split
        WithReplacement = "with_replacement",
        /// fresh points from the data stage's generator every step (infinite data)
        Fresh = "fresh",
    } default WithReplacement
}

names! {
    /// Learning-rate schedule.
    pub enum LrSchedule {
        /// the base rate throughout
        Constant = "constant",
        /// cosine annealing to 0 over `steps`
        Cosine = "cosine",
    } default Constant
}

/// The training method, selected by `method = "..."`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method")]
pub enum MethodParams {
    /// I-CFM (TorchCFM ConditionalFlowMatcher): independent coupling, x_t = (1-t) x0 + t x1 +
    /// sigma eps, target x1 - x0, t ~ U(0, 1); `path = "vp_trig"` uses cos/sin(pi t/2) instead.
    #[serde(rename = "flow_matching")]
    FlowMatching(FlowMatchingParams),
    /// Lipman et al.'s flow matching: x_t = t x1 + (1 - (1 - sigma) t) x0 with x0 ~ N(0, I),
    /// target (x1 - (1 - sigma) x_t) / (1 - (1 - sigma) t).
    #[serde(rename = "flow_matching_lipman")]
    FlowMatchingLipman(LipmanParams),
    /// OT-CFM: I-CFM on exact minibatch optimal-transport pairs.
    #[serde(rename = "ot_cfm")]
    OtCfm(OtCfmParams),
    /// SB-CFM: Schroedinger-bridge CFM on entropic (Sinkhorn, reg = 2 sigma^2) minibatch pairs,
    /// sigma_t = sigma sqrt(t (1 - t)).
    #[serde(rename = "sb_cfm")]
    SbCfm(SbCfmParams),
    /// Rectified flow (Liu et al.): straight path, t ~ U(t_eps, 1); with `pairs`, reflow on
    /// fixed pairs; `distill = true` trains the one-step map at t = t_eps.
    #[serde(rename = "rectified_flow")]
    RectifiedFlow(RectifiedFlowParams),
    /// Stochastic interpolants (Albergo, Vanden-Eijnden): x_t = alpha x0 + beta x1 + gamma z.
    #[serde(rename = "stochastic_interpolant")]
    StochasticInterpolant(InterpolantParams),
    /// VP-SDE score diffusion with epsilon prediction, continuous time.
    #[serde(rename = "vp_diffusion")]
    VpDiffusion(VpParams),
    /// Critically-damped Langevin diffusion (Dockhorn et al.), hybrid score matching.
    #[serde(rename = "cld")]
    Cld(CldParams),
    /// AGM, phase-space stochastic bridges (Chen et al., ICLR 2024).
    #[serde(rename = "agm")]
    Agm(AgmParams),
    /// Not a generative model: a classifier of a labelled data set (`digits`), trained by
    /// squared error on one-hot targets, whose last hidden layer gives the features of the
    /// `fd` metric. No sampler fits it.
    #[serde(rename = "classifier")]
    Classifier(ClassifierParams),
}

/// `method = "classifier"` has no parameters of its own (the network is `model`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ClassifierParams {}

impl MethodParams {
    pub fn name(&self) -> &'static str {
        match self {
            MethodParams::FlowMatching(_) => "flow_matching",
            MethodParams::FlowMatchingLipman(_) => "flow_matching_lipman",
            MethodParams::OtCfm(_) => "ot_cfm",
            MethodParams::SbCfm(_) => "sb_cfm",
            MethodParams::RectifiedFlow(_) => "rectified_flow",
            MethodParams::StochasticInterpolant(_) => "stochastic_interpolant",
            MethodParams::VpDiffusion(_) => "vp_diffusion",
            MethodParams::Cld(_) => "cld",
            MethodParams::Agm(_) => "agm",
            MethodParams::Classifier(_) => "classifier",
        }
    }

    /// Whether the state is (x, v) (phase space), so the network sees 2d inputs.
    pub fn phase_space(&self) -> bool {
        matches!(self, MethodParams::Cld(_) | MethodParams::Agm(_))
    }

    /// Whether a non-Gaussian `source` is meaningful (the flow-matching family transports any
    /// source; diffusions and phase-space bridges start from their own Gaussian prior).
    pub fn accepts_data_source(&self) -> bool {
        matches!(
            self,
            MethodParams::FlowMatching(_)
                | MethodParams::OtCfm(_)
                | MethodParams::SbCfm(_)
                | MethodParams::RectifiedFlow(_)
                | MethodParams::StochasticInterpolant(_)
        )
    }

    /// The sample-stage solvers that fit a model trained this way.
    pub fn solvers(&self) -> Vec<SolverKind> {
        use SolverKind::*;
        let ode = [Euler, Heun, Midpoint, Rk4, Dopri5];
        if matches!(self, MethodParams::Classifier(_)) {
            return Vec::new();
        }
        let mut out: Vec<SolverKind> = match self {
            MethodParams::Agm(a) if a.de_type == AgmDeType::Sde => vec![Sss, EulerMaruyama],
            MethodParams::Agm(_) => vec![Gddim],
            _ => Vec::new(),
        };
        if !matches!(self, MethodParams::Agm(a) if a.de_type == AgmDeType::Sde) {
            out.extend(ode);
        }
        match self {
            // The SDE sampler needs the denoiser head and latent noise (a > 0).
            MethodParams::StochasticInterpolant(si)
                if si.heads == SiHeads::VelocityDenoiser && si.a > 0.0 =>
            {
                out.push(EulerMaruyama)
            }
            MethodParams::VpDiffusion(_) => out.extend([EulerMaruyama, Ddim]),
            MethodParams::Cld(_) => out.extend([EulerMaruyama, Sscs]),
            _ => {}
        }
        out
    }
}

names! {
    /// Probability path of `flow_matching`.
    pub enum FmPath {
        /// x_t = (1 - t) x0 + t x1
        Straight = "straight",
        /// x_t = cos(pi t / 2) x0 + sin(pi t / 2) x1 (TorchCFM's VariancePreserving CFM)
        VpTrig = "vp_trig",
    } default Straight
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FlowMatchingParams {
    /// Std of the Gaussian around the path (>= 0).
    #[serde(default)]
    pub sigma: f64,
    #[serde(default)]
    pub path: FmPath,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LipmanParams {
    /// sigma_min, the terminal std (0 < sigma <= 1).
    #[serde(default = "default_lipman_sigma")]
    pub sigma: f64,
}

fn default_lipman_sigma() -> f64 {
    1e-4
}

names! {
    /// How OT-CFM pairs a minibatch after solving the exact OT problem.
    pub enum OtPairing {
        /// draw the batch with replacement from the plan (TorchCFM's behaviour)
        Resample = "resample",
        /// pair by the optimal permutation, every point once
        Permutation = "permutation",
    } default Resample
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OtCfmParams {
    /// Std of the Gaussian around the straight path (>= 0).
    #[serde(default)]
    pub sigma: f64,
    #[serde(default)]
    pub pairing: OtPairing,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SbCfmParams {
    /// Bridge noise (> 0); the Sinkhorn regularisation is 2 sigma^2. Default 1 (TorchCFM runner).
    #[serde(default = "one")]
    pub sigma: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RectifiedFlowParams {
    /// Training times t ~ U(t_eps, 1) (the RF code's eps).
    #[serde(default = "default_rf_eps")]
    pub t_eps: f64,
    /// One-step distillation: train only at t = t_eps (needs `pairs`).
    #[serde(default)]
    pub distill: bool,
}

fn default_rf_eps() -> f64 {
    1e-3
}

names! {
    /// alpha/beta of a stochastic interpolant.
    pub enum SiSchedule {
        /// alpha = 1 - t, beta = t
        Linear = "linear",
        /// alpha = cos(pi t / 2), beta = sin(pi t / 2)
        Trig = "trig",
    } default Linear
}

names! {
    /// What the interpolant network predicts.
    pub enum SiHeads {
        /// the velocity b only (ODE sampling)
        Velocity = "velocity",
        /// b and the denoiser eta in one network (2d outputs, one NFE per step; needed for SDE sampling)
        VelocityDenoiser = "velocity_denoiser",
    } default VelocityDenoiser
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InterpolantParams {
    #[serde(default)]
    pub schedule: SiSchedule,
    /// Latent noise gamma(t) = sqrt(a t (1 - t)) (a >= 0; 0 = deterministic interpolant).
    #[serde(default = "one")]
    pub a: f64,
    /// Training times t ~ U(t_min, 1 - t_min), in [0, 0.5).
    #[serde(default = "default_si_tmin")]
    pub t_min: f64,
    #[serde(default)]
    pub heads: SiHeads,
    /// SDE sampler diffusion eps(t) = eps0 t (1 - t) (>= 0).
    #[serde(default = "one")]
    pub eps0: f64,
}

fn default_si_tmin() -> f64 {
    1e-3
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VpParams {
    /// Linear beta(t) = beta_min + t (beta_max - beta_min), diffusion time.
    #[serde(default = "default_beta_min")]
    pub beta_min: f64,
    /// beta at diffusion time 1 (>= beta_min).
    #[serde(default = "default_beta_max")]
    pub beta_max: f64,
    /// Training diffusion times t ~ U(train_eps, 1).
    #[serde(default = "default_vp_train_eps")]
    pub train_eps: f64,
    /// Sampling stops at diffusion time sample_eps.
    #[serde(default = "default_sample_eps")]
    pub sample_eps: f64,
}

fn default_beta_min() -> f64 {
    0.1
}
fn default_beta_max() -> f64 {
    20.0
}
fn default_vp_train_eps() -> f64 {
    1e-5
}
fn default_sample_eps() -> f64 {
    1e-3
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CldParams {
    /// beta(t) = beta0 + beta1 t.
    #[serde(default = "default_cld_beta0")]
    pub beta0: f64,
    /// Slope of beta(t) (>= 0).
    #[serde(default)]
    pub beta1: f64,
    /// Inverse mass M^-1 (critical damping Gamma = 2 sqrt(M)).
    #[serde(default = "default_cld_m_inv")]
    pub m_inv: f64,
    /// Initial velocity variance gamma M (hybrid score matching).
    #[serde(default = "default_cld_gamma")]
    pub gamma: f64,
    /// Added to the kernel variances.
    #[serde(default = "default_cld_numerical_eps")]
    pub numerical_eps: f64,
    /// Training diffusion times t ~ U(loss_eps, 1).
    #[serde(default = "default_vp_train_eps")]
    pub loss_eps: f64,
    /// Sampling stops at diffusion time sample_eps.
    #[serde(default = "default_sample_eps")]
    pub sample_eps: f64,
}

fn default_cld_beta0() -> f64 {
    4.0
}
fn default_cld_m_inv() -> f64 {
    4.0
}
fn default_cld_gamma() -> f64 {
    0.04
}
fn default_cld_numerical_eps() -> f64 {
    1e-6
}

names! {
    /// What an AGM network regresses (and so which sampler it pairs with).
    pub enum AgmDeType {
        /// the optimal acceleration; sampler `sss` (or `euler_maruyama`)
        Sde = "sde",
        /// the probability-flow drift; sampler `gddim` (or an ODE solver)
        ProbOde = "prob_ode",
    } default Sde
}

names! {
    /// AGM loss weighting lambda(t)^2.
    pub enum AgmWeighting {
        /// 1 / (1 - t)
        Reciprocal = "reciprocal",
        /// 1
        Ones = "ones",
        /// 1 / t
        ReciprocalInv = "reciprocal_inv",
    } default Reciprocal
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgmParams {
    /// Diffusion coefficient: g(t) = p (1 - t).
    #[serde(default = "default_agm_p")]
    pub p: f64,
    /// Prior x-v correlation magnitude (the correlation is -k).
    #[serde(default = "default_agm_k")]
    pub k: f64,
    /// Prior position variance.
    #[serde(default = "one")]
    pub varx: f64,
    /// Prior velocity variance.
    #[serde(default = "one")]
    pub varv: f64,
    /// Training times t ~ U(t0, t_end).
    #[serde(default = "default_agm_t0")]
    pub t0: f64,
    /// Training (and default sampling) end time T < 1.
    #[serde(default = "default_agm_t_end")]
    pub t_end: f64,
    /// Which target the network regresses (decides the sampler).
    #[serde(default)]
    pub de_type: AgmDeType,
    /// Loss weighting lambda(t)^2.
    #[serde(default)]
    pub weighting: AgmWeighting,
}

fn default_agm_p() -> f64 {
    3.0
}
fn default_agm_k() -> f64 {
    0.2
}
fn default_agm_t0() -> f64 {
    1e-5
}
fn default_agm_t_end() -> f64 {
    0.999
}

names! {
    /// Network architecture.
    pub enum Arch {
        /// [state, time feature] -> hidden layers -> output
        Mlp = "mlp",
        /// AGM's toy residual MLP: input projection, `depth` blocks h <- act(h + Linear([h, time])), zero-initialised output
        ResMlp = "res_mlp",
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

names! {
    /// How time enters the network.
    pub enum TimeEmbedding {
        /// `time_embed_dim` sin/cos features of t
        Sinusoidal = "sinusoidal",
        /// ln(1 - t) (AGM's toy network)
        Log1m = "log1m",
        /// t itself
        Raw = "raw",
    } default Sinusoidal
}

/// `model = { arch = "mlp", hidden = [...] }` or `{ arch = "res_mlp", width = 128, depth = 20 }`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelParams {
    #[serde(default)]
    pub arch: Arch,
    /// Widths of the hidden layers (`mlp`; default [128, 128, 128]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<u64>>,
    /// Block width (`res_mlp`; default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    /// Number of residual blocks (`res_mlp`; default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub time_embedding: TimeEmbedding,
    /// Width of the sinusoidal time embedding (even; `sinusoidal` only; default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_embed_dim: Option<u64>,
}

impl Default for ModelParams {
    fn default() -> Self {
        let mut m = ModelParams {
            arch: Arch::Mlp,
            hidden: None,
            width: None,
            depth: None,
            activation: Activation::Silu,
            time_embedding: TimeEmbedding::Sinusoidal,
            time_embed_dim: None,
        };
        let _ = m.complete();
        m
    }
}

impl ModelParams {
    /// Fills the defaults of the chosen architecture and embedding; a key that does not apply
    /// to them is an error `(key, message)`.
    pub fn complete(&mut self) -> Result<(), (&'static str, String)> {
        let wrong = |key: &'static str, applies: &str| {
            Err((key, format!("`model.{key}` applies only to {applies}")))
        };
        match self.arch {
            Arch::Mlp => {
                if self.width.is_some() {
                    return wrong("width", "arch = \"res_mlp\"");
                }
                if self.depth.is_some() {
                    return wrong("depth", "arch = \"res_mlp\"");
                }
                self.hidden.get_or_insert_with(|| vec![128, 128, 128]);
            }
            Arch::ResMlp => {
                if self.hidden.is_some() {
                    return wrong(
                        "hidden",
                        "arch = \"mlp\" (res_mlp takes `width` and `depth`)",
                    );
                }
                self.width.get_or_insert(128);
                self.depth.get_or_insert(20);
            }
        }
        match self.time_embedding {
            TimeEmbedding::Sinusoidal => {
                self.time_embed_dim.get_or_insert(32);
            }
            _ if self.time_embed_dim.is_some() => {
                return wrong("time_embed_dim", "time_embedding = \"sinusoidal\"");
            }
            _ => {}
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// sample

names! {
    /// Every sampler, for listings and method checks.
    pub enum SolverKind {
        Euler = "euler",
        Heun = "heun",
        Midpoint = "midpoint",
        Rk4 = "rk4",
        Dopri5 = "dopri5",
        EulerMaruyama = "euler_maruyama",
        Sss = "sss",
        Gddim = "gddim",
        Ddim = "ddim",
        Sscs = "sscs",
    } default Euler
}

/// The sampler and its own options, selected by `solver = "..."`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "solver")]
pub enum SolverParams {
    /// Explicit Euler ODE solver: 1 network evaluation per step.
    #[serde(rename = "euler")]
    Euler {},
    /// Heun (explicit trapezoid): 2 evaluations per step, the last step's corrector included.
    #[serde(rename = "heun")]
    Heun {},
    /// Explicit midpoint rule: 2 evaluations per step.
    #[serde(rename = "midpoint")]
    Midpoint {},
    /// Classical Runge-Kutta: 4 evaluations per step.
    #[serde(rename = "rk4")]
    Rk4 {},
    /// Adaptive Dormand-Prince 5(4): the NFE is an output (give no `nfe`/`steps`).
    #[serde(rename = "dopri5")]
    Dopri5(Dopri5Params),
    /// Euler-Maruyama on the method's SDE: 1 evaluation per step, the final denoising included.
    #[serde(rename = "euler_maruyama")]
    EulerMaruyama(EmParams),
    /// AGM's symmetric splitting sampler (SDE-trained AGM models).
    #[serde(rename = "sss")]
    Sss(AgmSamplerParams),
    /// AGM's exponential integrator with an Adams-Bashforth multistep (probODE-trained models).
    #[serde(rename = "gddim")]
    Gddim(GddimParams),
    /// DDIM for VP diffusion (eta = 0: deterministic).
    #[serde(rename = "ddim")]
    Ddim(DdimParams),
    /// CLD's symmetric splitting sampler.
    #[serde(rename = "sscs")]
    Sscs(SscsParams),
}

impl SolverParams {
    pub fn kind(&self) -> SolverKind {
        match self {
            SolverParams::Euler {} => SolverKind::Euler,
            SolverParams::Heun {} => SolverKind::Heun,
            SolverParams::Midpoint {} => SolverKind::Midpoint,
            SolverParams::Rk4 {} => SolverKind::Rk4,
            SolverParams::Dopri5(_) => SolverKind::Dopri5,
            SolverParams::EulerMaruyama(_) => SolverKind::EulerMaruyama,
            SolverParams::Sss(_) => SolverKind::Sss,
            SolverParams::Gddim(_) => SolverKind::Gddim,
            SolverParams::Ddim(_) => SolverKind::Ddim,
            SolverParams::Sscs(_) => SolverKind::Sscs,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Network evaluations per step; `None` for adaptive solvers (NFE is an output).
    pub fn evals_per_step(&self) -> Option<u64> {
        match self {
            SolverParams::Heun {} | SolverParams::Midpoint {} => Some(2),
            SolverParams::Rk4 {} => Some(4),
            SolverParams::Dopri5(_) => None,
            _ => Some(1),
        }
    }

    /// Whether the sampler is a deterministic ODE solve (needed for reflow pairs).
    pub fn deterministic(&self) -> bool {
        match self {
            SolverParams::EulerMaruyama(_) | SolverParams::Sss(_) => false,
            SolverParams::Ddim(d) => d.eta == 0.0,
            SolverParams::Sscs(_) => false,
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Dopri5Params {
    /// Relative tolerance.
    #[serde(default = "default_tol")]
    pub rtol: f64,
    /// Absolute tolerance.
    #[serde(default = "default_tol")]
    pub atol: f64,
}

fn default_tol() -> f64 {
    1e-5
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmParams {
    /// Spend the last evaluation on a final denoising step (VP, CLD); interpolants always denoise.
    #[serde(default = "yes")]
    pub denoise: bool,
}

fn yes() -> bool {
    true
}

names! {
    /// AGM time grid.
    pub enum AgmGrid {
        /// linspace(t0, T, n + 1)[:-1] (the toy default)
        Uniform = "uniform",
        /// sqrt(linspace(t0^2, T^2, n + 1))
        Quad = "quad",
        /// linspace(t0^(1/2), T^(1/2), n)^2 (the image default)
        RevQuad = "rev_quad",
    } default Uniform
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgmSamplerParams {
    #[serde(default)]
    pub grid: AgmGrid,
    /// Sampling hop: return the data estimate x1 from the last evaluation (no extra NFE).
    #[serde(default = "yes")]
    pub hop: bool,
    /// Stop time T of sampling (default: the model's t_end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_end: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GddimParams {
    #[serde(default)]
    pub grid: AgmGrid,
    /// Sampling hop: return the data estimate x1 from the last evaluation (no extra NFE).
    #[serde(default = "yes")]
    pub hop: bool,
    /// Stop time T of sampling (default: the model's t_end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_end: Option<f64>,
    /// Adams-Bashforth order r of the multistep.
    #[serde(default = "default_gddim_order")]
    pub order: u64,
}

fn default_gddim_order() -> u64 {
    2
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DdimParams {
    /// 0 = deterministic DDIM; 1 = DDPM-like ancestral noise.
    #[serde(default)]
    pub eta: f64,
}

names! {
    /// SSCS time grid.
    pub enum Striding {
        Uniform = "uniform",
        Quadratic = "quadratic",
    } default Uniform
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SscsParams {
    #[serde(default)]
    pub striding: Striding,
    /// Spend the last evaluation on a final denoising step.
    #[serde(default = "yes")]
    pub denoise: bool,
}

/// `[sample.NAME]`: draws samples from a trained model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SampleParams {
    /// Reference to a train stage.
    pub model: String,
    #[serde(flatten)]
    pub solver: SolverParams,
    /// Number of samples.
    pub n: u64,
    /// Budget of network evaluations per sample; give this or `steps` (not for `dopri5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfe: Option<u64>,
    /// Solver steps; give this or `nfe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Also store the (x0, x1) pairs, for reflow (deterministic solvers only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pairs: bool,
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
        /// realised network evaluations per sample, counted by the model wrapper
        Nfe = "nfe",
        /// exact 1-Wasserstein distance (Euclidean cost, f64 assignment)
        W1 = "w1",
        /// sliced 1-Wasserstein over `projections` seeded directions
        SlicedW1 = "sliced_w1",
        /// unbiased MMD^2 with the linear kernel x.y
        MmdLinear = "mmd_linear",
        /// unbiased MMD^2 with the polynomial kernel (x.y / dim + poly_coef)^poly_degree
        MmdPoly = "mmd_poly",
        /// energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'|
        EnergyDistance = "energy_distance",
        /// |mean(samples) - mean(test)|
        MeanError = "mean_error",
        /// |coordinate-wise median(samples) - median(test)|
        MedianError = "median_error",
        /// k-NN precision (Kynkaanniemi et al. 2019): samples inside the test set's k-NN balls
        Precision = "knn_precision",
        /// k-NN recall: test points inside the samples' k-NN balls
        Recall = "knn_recall",
        /// fraction of the data mixture's components with at least mode_min_count on-mode samples
        ModeCoverage = "mode_coverage",
        /// fraction of samples farther than mode_threshold stds from every component
        OffModeFraction = "off_mode_fraction",
        /// mean log-density of the samples under the data generator's exact density
        LogLikelihood = "log_likelihood",
        /// test-set negative log-likelihood (nats per point) of a flow by the probability-flow ODE
        Nll = "nll",
        /// straightness of the flow's paths: mean (1/T) int |(x_1 - x_0) - T v(x_t, t)|^2 dt
        Straightness = "straightness",
        /// normalised path energy: (mean T int |v|^2 dt - mean |x_1 - x_0|^2) / mean |x_1 - x_0|^2
        PathEnergy = "path_energy",
        /// Frechet distance between Gaussians fitted to the features of `classifier` (FID's formula)
        Fd = "fd",
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
    /// The data split the samples are compared with: `test`, or `val` to choose
    /// hyperparameters (a report's `select`) without looking at the test split.
    #[serde(default)]
    pub split: EvalSplit,
    /// Reference to a train stage with `method = "classifier"` whose last hidden layer gives
    /// the features of `fd` (required by `fd`, only with `fd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    /// k of `knn_precision` / `knn_recall` (default 3; only with those metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn_k: Option<u64>,
    /// Degree of `mmd_poly`'s kernel (default 3; only with `mmd_poly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poly_degree: Option<u64>,
    /// Offset c of `mmd_poly`'s kernel (default 1; only with `mmd_poly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poly_coef: Option<f64>,
    /// On-mode radius in component standard deviations (default 3; mode metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_threshold: Option<f64>,
    /// On-mode samples a component needs to count as covered (default 20; `mode_coverage` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_min_count: Option<u64>,
    /// RK4 steps of `nll`'s probability-flow ODE from t = 1 to t = 0 (default 100; `nll` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nll_steps: Option<u64>,
    /// Hutchinson probes per evaluation for `nll` above 16 dimensions (default 1; exact
    /// divergence at 16 dimensions or fewer; `nll` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hutchinson_probes: Option<u64>,
    /// Euler steps of the paths `straightness` and `path_energy` measure (default 100; those
    /// metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_steps: Option<u64>,
}

impl Metric {
    /// Whether lower values are better (distances, errors, NLL), higher (precision, recall,
    /// coverage, likelihood), or neither (`nfe` counts cost, not quality).
    pub fn lower_is_better(self) -> Option<bool> {
        use Metric as M;
        match self {
            M::Nfe => None,
            M::Precision | M::Recall | M::ModeCoverage | M::LogLikelihood => Some(false),
            M::W2
            | M::SlicedW2
            | M::Mmd
            | M::W1
            | M::SlicedW1
            | M::MmdLinear
            | M::MmdPoly
            | M::EnergyDistance
            | M::MeanError
            | M::MedianError
            | M::OffModeFraction
            | M::Nll
            | M::Straightness
            | M::PathEnergy
            | M::Fd => Some(true),
        }
    }

    /// Whether the metric integrates the model's flow itself (so the evaluation reads the
    /// model behind its samples).
    pub fn reads_the_model(self) -> bool {
        matches!(
            self,
            Metric::Nll | Metric::Straightness | Metric::PathEnergy
        )
    }
}

names! {
    /// The data split an evaluation compares samples with.
    pub enum EvalSplit {
        /// the test split (what results tables report)
        Test = "test",
        /// the validation split (`n_val` points; for model selection)
        Val = "val",
    } default Test
}

/// Defaults of the eval keys `nll_steps`, `hutchinson_probes` and `trajectory_steps`.
pub const NLL_DEFAULT_STEPS: u64 = 100;
pub const HUTCHINSON_DEFAULT_PROBES: u64 = 1;
pub const TRAJECTORY_DEFAULT_STEPS: u64 = 100;

/// Up to this data dimension `nll` computes the exact divergence; above, Hutchinson's estimate.
pub const NLL_EXACT_MAX_DIM: usize = 16;

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

/// `[report.NAME]`: a table (or, with `plot`, a figure) gathered from eval stages.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReportParams {
    /// Eval stages to gather; `*` globs allowed (`"eval.*"`).
    pub from: Vec<String>,
    /// A figure instead of a table (PNG and SVG): `rows` label its series or panel rows,
    /// `columns` its panel columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plot: Option<PlotKind>,
    /// The metric a `metric_vs_nfe` plot shows (only with that plot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Columns that label the rows.
    pub rows: Vec<String>,
    /// Columns that label the column groups (`metric` is the metric's name).
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Axes that `mean_std` averages over (default: the seed axes). An axis also in `rows` or
    /// `columns` is shown instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<Vec<String>>,
    /// What follows `±` in terminal, Markdown and LaTeX tables (CSV, JSON and Parquet carry
    /// both).
    #[serde(default)]
    pub interval: Interval,
    /// Model selection: for every other combination of axes, keep the value of the `over`
    /// axes that is best on the `split` evaluation by the metric `by`, and report the test
    /// evaluations of the chosen instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<SelectParams>,
    /// Cost columns read from the manifests of the evaluations' ancestors when the table is
    /// shown (measured on the machine that ran them: not reproducible, never cached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-drift-semantic" = false))]
    pub costs: Vec<CostName>,
    #[serde(default)]
    pub seed: u64,
}

fn default_columns() -> Vec<String> {
    vec!["metric".into()]
}

names! {
    /// A report's figure.
    pub enum PlotKind {
        /// scatter plots of 2-D samples over the test data: a panel per (row, column) label
        Samples = "samples",
        /// `metric` against realised NFE (log scale), a line per row label, band = spread over seeds
        MetricVsNfe = "metric_vs_nfe",
        /// training loss against step, a line per row label (mean over seeds, band = std)
        Loss = "loss",
        /// probability-flow paths of 2-D flow-matching models from fresh noise, a panel per row label
        Trajectories = "trajectories",
    } default Samples
}

names! {
    /// The spread a table shows after `±`.
    pub enum Interval {
        /// sample standard deviation (ddof 1)
        Std = "std",
        /// half-width of the 95% confidence interval of the mean (Student t)
        Ci95 = "ci95",
    } default Std
}

/// `select = { by = "w2", split = "val", over = ["lr"] }`: hyperparameter selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectParams {
    /// The metric that decides (its direction comes from the metric: lower W2 is better).
    pub by: Metric,
    /// The evaluation split that decides (the test split is what the table reports).
    #[serde(default = "default_select_split")]
    pub split: EvalSplit,
    /// The axes to choose a value of, e.g. `["lr"]`.
    pub over: Vec<String>,
}

fn default_select_split() -> EvalSplit {
    EvalSplit::Val
}

names! {
    /// A cost recorded in the manifest of an evaluation's ancestor.
    pub enum CostName {
        /// seconds of training (the train stage's compute, excluding I/O)
        TrainTime = "train_time_s",
        /// training steps per second
        StepsPerSecond = "steps_per_s",
        /// seconds of sampling
        SampleTime = "sample_time_s",
        /// samples drawn per second
        SamplesPerSecond = "samples_per_s",
        /// trainable parameters of the network (deterministic, shown with the costs)
        ParamCount = "param_count",
    } default TrainTime
}

impl CostName {
    /// Whether the value is the same on every machine (parameter counts are; timings are not).
    pub fn reproducible(self) -> bool {
        matches!(self, CostName::ParamCount)
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn memory_and_time_forms_are_checked() {
        let ok = |memory: &str, time: &str| {
            Resources {
                memory: Some(memory.into()),
                time: Some(time.into()),
                ..Resources::default()
            }
            .check()
            .map_err(|(_, message)| message)
        };
        for (m, t) in [
            ("512", "30"),
            ("4G", "30:00"),
            ("100M", "02:00:00"),
            ("1T", "1-12"),
            ("2g", "2-00:30:00"),
        ] {
            assert!(ok(m, t).is_ok(), "{m} {t}");
        }
        assert!(ok("4GB", "30").unwrap_err().contains("memory"));
        assert!(ok("G", "30").unwrap_err().contains("memory"));
        assert!(ok("4G", "1h").unwrap_err().contains("time"));
        assert!(ok("4G", "1:2:3:4").unwrap_err().contains("time"));
    }
}
