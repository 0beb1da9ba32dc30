//! The remote cache from the command line: `[cache] remote` (or `--remote`) opened as
//! drift-exec's [`EntrySource`] for `run`, and `drift push` / `drift pull`, which move the
//! entries a spec reaches between this machine's cache and the remote.

use crate::SpecArgs;
use crate::commands::{Failure, fail, finish, invalid, load, open_cache};
use crate::exit;
use drift_cache::{Cache, Manifest};
use drift_exec::EntrySource;
use drift_plan::NodeIndex;
use drift_plan::key::{OutputDigest, StageKey};
use drift_remote::Remote;
use drift_spec::Spec;
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A remote cache as the executor's second source of entries. After its first failure it is
/// not asked again in this run (an unreachable endpoint would otherwise cost every instance a
/// timeout and a message).
pub(crate) struct RemoteSource(Remote, AtomicBool);

impl EntrySource for RemoteSource {
    fn fetch(&self, cache: &Cache, key: &StageKey) -> Result<Option<Manifest>, String> {
        if self.1.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match self.0.pull(cache, key) {
            Ok(found) => Ok(found),
            // Concurrent lookups may fail together: only the first one reports.
            Err(_) if self.1.swap(true, Ordering::Relaxed) => Ok(None),
            Err(e) => Err(format!("{e} (not asked again in this run)")),
        }
    }

    fn describe(&self) -> String {
        self.0.url().to_string()
    }
}

/// The remote to use: `--remote` (or `DRIFT_REMOTE`) over the spec's `[cache] remote`.
pub(crate) fn configured(flag: Option<&str>, spec: &Spec) -> Option<String> {
    flag.filter(|u| !u.is_empty())
        .map(str::to_string)
        .or_else(|| spec.cache.remote.clone())
}

pub(crate) fn open(url: &str) -> Result<RemoteSource, Failure> {
    Remote::open(url)
        .map(|r| RemoteSource(r, AtomicBool::new(false)))
        .map_err(|e| fail(format!("remote cache: {e}")))
}

fn required(flag: Option<&str>, spec: &Spec) -> Result<RemoteSource, Failure> {
    match configured(flag, spec) {
        Some(url) => open(&url),
        None => Err(invalid(
            "error: no remote cache configured\n  = help: add `[cache] remote = \"s3://bucket/prefix\"` to the spec, or pass `--remote URL`"
                .into(),
        )),
    }
}

/// `drift push SPEC`: uploads every complete entry the spec reaches (`--all`: every complete
/// entry of the cache).
pub fn push(cache_dir: &Path, flag: Option<&str>, args: &SpecArgs, all: bool) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let remote = required(flag, &loaded.spec)?;
        let keys: Vec<(StageKey, String)> = if all {
            cache
                .keys()
                .map_err(fail)?
                .into_iter()
                .filter_map(|k| cache.lookup(&k).map(|m| (k, m.id)))
                .collect()
        } else {
            drift_exec::status_with(&loaded.plan, &cache, false)
                .into_iter()
                .filter(|r| r.state == drift_exec::State::Fresh)
                .filter_map(|r| Some((r.key?, r.id)))
                .collect()
        };
        let results: Vec<_> = keys
            .par_iter()
            .map(|(key, id)| (id, remote.0.push(&cache, key)))
            .collect();
        let (mut files, mut bytes, mut present, mut failed) = (0usize, 0u64, 0usize, 0usize);
        for (id, result) in &results {
            match result {
                Ok(p) => {
                    files += p.files_sent;
                    bytes += p.bytes_sent;
                    present += usize::from(p.already_present);
                }
                Err(e) => {
                    failed += 1;
                    errln!("error: push {id}: {e}");
                }
            }
        }
        outln!(
            "pushed {} entries to {}: {files} files ({}) sent, {present} already there{}",
            results.len() - failed,
            remote.0.url(),
            human_bytes(bytes),
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        );
        Ok(if failed > 0 { exit::FAILED } else { exit::OK })
    })())
}

/// `drift pull SPEC`: downloads every entry the spec reaches that this cache lacks and the
/// remote has, in dependency order (an instance's key is known once its inputs are here).
pub fn pull(cache_dir: &Path, flag: Option<&str>, args: &SpecArgs) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let remote = required(flag, &loaded.spec)?;
        let plan = &loaded.plan;
        let mut outputs: Vec<Option<OutputDigest>> = vec![None; plan.instances.len()];
        let (mut local, mut pulled, mut absent, mut unknown, mut failed) = (0, 0, 0, 0, 0);
        // Depth in the DAG: the instances of one depth are independent and pulled in parallel.
        for level in plan.levels() {
            let found: Vec<(NodeIndex, Found)> = level
                .par_iter()
                .map(|&ix| {
                    let inst = plan.get(ix);
                    let digests: Option<Vec<OutputDigest>> = inst
                        .inputs
                        .iter()
                        .map(|input| outputs[input.node.index()])
                        .collect();
                    let Some(digests) = digests else {
                        return (ix, Found::Unknown);
                    };
                    let key = inst.key(plan, &digests);
                    if let Some(m) = cache.lookup(&key) {
                        return (ix, Found::Local(m));
                    }
                    let found = match remote.0.pull(&cache, &key) {
                        Ok(Some(m)) => Found::Pulled(m),
                        Ok(None) => Found::Absent,
                        Err(e) => Found::Failed(e.to_string()),
                    };
                    (ix, found)
                })
                .collect();
            for (ix, result) in found {
                match result {
                    Found::Pulled(m) => {
                        outputs[ix.index()] = Some(m.output);
                        pulled += 1;
                    }
                    Found::Local(m) => {
                        outputs[ix.index()] = Some(m.output);
                        local += 1;
                    }
                    Found::Absent => absent += 1,
                    Found::Unknown => unknown += 1,
                    Found::Failed(e) => {
                        failed += 1;
                        errln!("error: pull {}: {e}", plan.get(ix).id);
                    }
                }
            }
        }
        outln!(
            "pulled {pulled} entries from {}: {local} already here, {absent} not on the remote, {unknown} unknown (an input is missing){}",
            remote.0.url(),
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        );
        Ok(if failed > 0 { exit::FAILED } else { exit::OK })
    })())
}

/// What `pull` found for one instance.
enum Found {
    /// Already in this cache.
    Local(Manifest),
    /// Downloaded from the remote.
    Pulled(Manifest),
    /// Neither here nor on the remote.
    Absent,
    /// Its key is unknown: an input is missing.
    Unknown,
    Failed(String),
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
