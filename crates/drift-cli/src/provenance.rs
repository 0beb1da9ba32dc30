//! Provenance of shown results: drift's version, the digest of the spec texts, the git
//! revision of the spec's repository, and the CPU features the GEMM kernels could use. Shown
//! with every table and kept in bundles; never part of a key.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// Where a set of results came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Provenance {
    pub drift_version: String,
    /// BLAKE3 of every text the spec was assembled from (the file, its bases, `--set`).
    pub spec_digest: String,
    /// The spec file as given.
    pub spec: String,
    /// The commit of the repository holding the spec, when it is in one and git is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRevision>,
    /// The instruction-set features the matrix kernels select from on this CPU: results are
    /// bit-identical only between machines with the same ones.
    pub cpu: CpuInfo,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GitRevision {
    pub commit: String,
    /// Whether the spec files differ from that commit (then the commit alone does not
    /// reproduce them).
    pub spec_modified: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct CpuInfo {
    pub arch: String,
    pub features: Vec<String>,
}

impl CpuInfo {
    /// The features the gemm crate dispatches on (x86-64: SSE/AVX/FMA/AVX-512 levels; aarch64:
    /// NEON and FP16 arithmetic).
    pub fn detect() -> CpuInfo {
        let mut features = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! probe {
                ($($f:tt),*) => {$(
                    if std::arch::is_x86_feature_detected!($f) {
                        features.push($f.to_string());
                    }
                )*};
            }
            probe!("sse4.1", "avx", "avx2", "fma", "f16c", "avx512f");
        }
        #[cfg(target_arch = "aarch64")]
        {
            macro_rules! probe {
                ($($f:tt),*) => {$(
                    if std::arch::is_aarch64_feature_detected!($f) {
                        features.push($f.to_string());
                    }
                )*};
            }
            probe!("neon", "fp16");
        }
        CpuInfo {
            arch: std::env::consts::ARCH.to_string(),
            features,
        }
    }
}

impl Provenance {
    pub fn of(spec: &drift_spec::Spec) -> Provenance {
        let sources = &spec.sources;
        let files: Vec<&Path> = sources
            .texts
            .iter()
            .filter_map(|t| t.path.as_deref())
            .collect();
        Provenance {
            drift_version: env!("CARGO_PKG_VERSION").to_string(),
            spec_digest: sources.digest().to_hex().to_string(),
            spec: sources.spec_path.display().to_string(),
            git: git_revision(&sources.base_dir(drift_spec::SourceId(0)), &files),
            cpu: CpuInfo::detect(),
        }
    }

    /// One line for the foot of a text table.
    pub fn footer(&self) -> String {
        let git = match &self.git {
            Some(g) if g.spec_modified => {
                format!(" · git {} (spec modified since)", short(&g.commit))
            }
            Some(g) => format!(" · git {}", short(&g.commit)),
            None => String::new(),
        };
        format!(
            "drift {} · spec {} blake3:{}{git}",
            self.drift_version,
            self.spec,
            short(&self.spec_digest)
        )
    }
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// The HEAD commit of the repository around `dir`, and whether any of `files` differs from it.
/// None when `dir` is not in a repository or git is not installed.
fn git_revision(dir: &Path, files: &[&Path]) -> Option<GitRevision> {
    let git = |args: &[&std::ffi::OsStr]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let head = git(&["rev-parse".as_ref(), "HEAD".as_ref()])?;
    let commit = String::from_utf8(head.stdout).ok()?.trim().to_string();
    let mut args: Vec<&std::ffi::OsStr> = vec!["status".as_ref(), "--porcelain".as_ref()];
    args.push("--".as_ref());
    let absolute: Vec<std::path::PathBuf> = files
        .iter()
        .filter_map(|f| std::path::absolute(f).ok())
        .collect();
    args.extend(absolute.iter().map(|p| p.as_os_str()));
    let spec_modified = git(&args).is_none_or(|o| !o.stdout.is_empty());
    Some(GitRevision {
        commit,
        spec_modified,
    })
}
