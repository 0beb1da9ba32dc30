//! Bundles: `drift export` packs what anyone needs to check a result set (the spec and its
//! bases, user data files, the resolved plan, every manifest, the result Parquet files; weights
//! on request) into one deterministic tar file; `drift reproduce` unpacks it safely, reruns the
//! experiment in a fresh cache and compares every key and every result, bit for bit.
//!
//! Layout of a bundle (all paths relative, regular files only):
//! * `bundle.json`: format, drift version, the spec's path inside `project/`, `--set`
//!   overrides, provenance (spec digest, git revision, CPU features);
//! * `plan.json`: every instance (id, kind, key, inputs by id);
//! * `project/...`: the spec files and data files, at their paths below the project root;
//! * `entries/<key>/manifest.json` and the results: `metrics.parquet` (evaluations), every
//!   file of a report, `loss.parquet` and `model.json` of trainings (`weights.safetensors`
//!   with `--with-weights`).

use crate::commands::{Failure, Loaded, computed_key, fail, finish, load, open_cache, parallelism};
use crate::exit;
use crate::progress::Reporter;
use crate::provenance::{CpuInfo, Provenance};
use anyhow::Context;
use drift_spec::StageKind;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

const FORMAT: u64 = 1;
/// The largest file a bundle may hold (weights of big models fit; a hostile size does not).
const MAX_FILE_BYTES: u64 = 8 << 30;

fn bad_bundle(path: &Path, message: String) -> Failure {
    Failure {
        code: exit::INVALID,
        message: format!("error: {}: {message}", path.display()),
    }
}

/// `path` relative to `root`, if it lies below it.
fn below(root: &Path, path: &Path) -> Option<PathBuf> {
    let canonical = path.canonicalize().ok()?;
    canonical.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// Results of an instance kind that a bundle carries.
fn carried(kind: StageKind, file: &str, with_weights: bool) -> bool {
    match kind {
        StageKind::Eval => file == "metrics.parquet",
        StageKind::Report => true,
        StageKind::Train => {
            file == "loss.parquet"
                || file == "model.json"
                || (with_weights && file == "weights.safetensors")
        }
        StageKind::Data | StageKind::Sample => file == "sample.json",
    }
}

/// `drift export SPEC --out FILE [--with-weights]`.
pub fn export(cache_dir: &Path, args: &crate::SpecArgs, out: &Path, with_weights: bool) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let records = drift_exec::status(&loaded.plan, &cache);
        let root = loaded.spec.sources.project_root().map_err(fail)?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // The spec and its bases, at their places below the project root.
        let mut spec_rel = None;
        for (i, source) in loaded.spec.sources.texts.iter().enumerate() {
            let Some(path) = &source.path else { continue };
            let rel = below(&root, path).ok_or_else(|| {
                fail(format!(
                    "{} lies outside the project root {}",
                    path.display(),
                    root.display()
                ))
            })?;
            let name = format!("project/{}", portable(&rel)?);
            if i == 0 {
                spec_rel = Some(name.clone());
            }
            files.insert(name, source.text.clone().into_bytes());
        }
        let mut plan = Vec::new();
        for (inst, record) in loaded.plan.instances.iter().zip(&records) {
            let Some(key) = computed_key(record) else {
                return Err(crate::commands::not_computed(&loaded, inst, record));
            };
            if let drift_spec::StageParams::Data(d) = &inst.params
                && let drift_spec::params::GeneratorParams::File(f) = &d.generator
                && let Some(path) = &f.resolved_path
            {
                let rel = below(&root, path)
                    .ok_or_else(|| fail(format!("{} lies outside the project", path.display())))?;
                files.insert(
                    format!("project/{}", portable(&rel)?),
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                );
            }
            let dir = cache.entry_dir(&key);
            let manifest = cache
                .lookup(&key)
                .ok_or_else(|| fail(format!("the entry of {} is incomplete", inst.id)))?;
            let hex = key.hex();
            files.insert(
                format!("entries/{hex}/manifest.json"),
                std::fs::read(dir.join("manifest.json")).map_err(fail)?,
            );
            for name in manifest.files.keys() {
                if carried(inst.kind, name, with_weights) {
                    files.insert(
                        format!("entries/{hex}/{name}"),
                        std::fs::read(dir.join(name))
                            .with_context(|| format!("reading {}", dir.join(name).display()))?,
                    );
                }
            }
            plan.push(json!({
                "id": inst.id,
                "kind": inst.kind.name(),
                "key": hex,
                "inputs": inst.inputs.iter().map(|i| json!({
                    "role": i.role,
                    "id": loaded.plan.get(i.node).id,
                })).collect::<Vec<_>>(),
            }));
        }
        let meta = json!({
            "format": FORMAT,
            "drift_version": env!("CARGO_PKG_VERSION"),
            "spec": spec_rel.ok_or_else(|| fail("the spec was not read from a file"))?,
            "overrides": args.overrides,
            "with_weights": with_weights,
            "provenance": Provenance::of(&loaded.spec),
        });
        files.insert("bundle.json".into(), pretty(&meta)?);
        files.insert("plan.json".into(), pretty(&json!({ "instances": plan }))?);
        write_tar(out, &files)?;
        errln!(
            "wrote {} ({} instances, {} files)",
            out.display(),
            loaded.plan.instances.len(),
            files.len()
        );
        Ok(exit::OK)
    })())
}

fn pretty(v: &serde_json::Value) -> Result<Vec<u8>, Failure> {
    let mut text = serde_json::to_string_pretty(v).map_err(fail)?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// A relative path with `/` separators and only normal components.
fn portable(rel: &Path) -> Result<String, Failure> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| fail(format!("{} is not UTF-8", rel.display())))?
                    .to_string(),
            ),
            _ => {
                return Err(fail(format!(
                    "{} is not a plain relative path",
                    rel.display()
                )));
            }
        }
    }
    Ok(parts.join("/"))
}

/// A tar with fixed metadata (mode 0644, owner 0, mtime 0) in name order: the same files give
/// the same bytes. Written to a temporary file and renamed.
fn write_tar(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), Failure> {
    let tmp = out.with_file_name(format!(
        ".{}.tmp{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
        for (name, bytes) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, bytes.as_slice())?;
        }
        let mut inner = builder.into_inner()?;
        std::io::Write::flush(&mut inner)?;
        inner.get_ref().sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("writing {}: {e}", out.display())));
    }
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Unpacks `bundle` into `into`, refusing anything that could write outside it: absolute
/// paths, `..`, links and special files. Returns the file names.
fn unpack(bundle: &Path, into: &Path) -> Result<Vec<String>, Failure> {
    let file =
        std::fs::File::open(bundle).with_context(|| format!("opening {}", bundle.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut names = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| bad_bundle(bundle, e.to_string()))?
    {
        let mut entry = entry.map_err(|e| bad_bundle(bundle, e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| bad_bundle(bundle, e.to_string()))?
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad_bundle(
                bundle,
                format!(
                    "{} is a link or special file; bundles hold regular files only",
                    path.display()
                ),
            ));
        }
        let rel = portable(&path).map_err(|_| {
            bad_bundle(
                bundle,
                format!(
                    "{} leaves the bundle (absolute or `..`); refusing to unpack",
                    path.display()
                ),
            )
        })?;
        if entry.size() > MAX_FILE_BYTES {
            return Err(bad_bundle(
                bundle,
                format!("{rel} is larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        let target = into.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad_bundle(bundle, e.to_string()))?;
        std::fs::write(&target, bytes).map_err(fail)?;
        names.push(rel);
    }
    Ok(names)
}

/// The report tables a bundle holds, by report name (`drift diff` against a bundle).
pub fn bundle_tables(bundle: &Path) -> Result<Vec<(String, drift_report::Table)>, Failure> {
    let work = tempfile::tempdir().map_err(fail)?;
    unpack(bundle, work.path())?;
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("plan.json"))
            .map_err(|_| bad_bundle(bundle, "no plan.json: not a drift bundle".into()))?,
    )
    .map_err(|e| bad_bundle(bundle, format!("plan.json: {e}")))?;
    let mut out = Vec::new();
    for inst in plan["instances"].as_array().into_iter().flatten() {
        let (Some(id), Some(key)) = (inst["id"].as_str(), inst["key"].as_str()) else {
            continue;
        };
        let Some(name) = id.strip_prefix("report.") else {
            continue;
        };
        let path = work.path().join("entries").join(key).join("table.parquet");
        if path.exists() {
            let table = drift_report::read_parquet(&path)
                .map_err(|e| bad_bundle(bundle, format!("{id}: {e}")))?;
            out.push((name.to_string(), table));
        }
    }
    Ok(out)
}

/// `drift reproduce BUNDLE`: reruns the bundled experiment in a fresh cache (a temporary one
/// unless `--cache-dir` is given) and compares keys and results with the bundle. Exit 0 when
/// everything matches bit for bit, 1 when something differs.
pub fn reproduce(bundle: &Path, cache: Option<&Path>, jobs: Option<usize>, threads: usize) -> u8 {
    finish((|| {
        let work = tempfile::tempdir().map_err(fail)?;
        let names = unpack(bundle, work.path())?;
        let read_json = |name: &str| -> Result<serde_json::Value, Failure> {
            let text = std::fs::read_to_string(work.path().join(name))
                .map_err(|_| bad_bundle(bundle, format!("no {name}")))?;
            serde_json::from_str(&text).map_err(|e| bad_bundle(bundle, format!("{name}: {e}")))
        };
        let meta = read_json("bundle.json")?;
        if meta["format"].as_u64() != Some(FORMAT) {
            return Err(bad_bundle(
                bundle,
                format!("unknown bundle format {}", meta["format"]),
            ));
        }
        let plan_json = read_json("plan.json")?;
        let spec_rel = meta["spec"]
            .as_str()
            .ok_or_else(|| bad_bundle(bundle, "bundle.json names no spec".into()))?;
        if !names.iter().any(|n| n == spec_rel) {
            return Err(bad_bundle(
                bundle,
                format!("the spec {spec_rel} is missing"),
            ));
        }
        // The unpacked project is the root that spec paths are checked against.
        std::fs::create_dir_all(work.path().join("project/.git")).map_err(fail)?;
        let here = CpuInfo::detect();
        let bundled: Option<CpuInfo> =
            serde_json::from_value(meta["provenance"]["cpu"].clone()).ok();
        if bundled.as_ref() != Some(&here) {
            errln!(
                "note: the bundle was made on {} ({}), this machine is {} ({}): the matrix kernels may differ, so results may differ in the last bits",
                bundled.as_ref().map_or("?", |c| c.arch.as_str()),
                bundled
                    .as_ref()
                    .map_or(String::new(), |c| c.features.join(", ")),
                here.arch,
                here.features.join(", ")
            );
        }
        let overrides: Vec<String> = meta["overrides"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let args = crate::SpecArgs {
            spec: work.path().join(spec_rel),
            overrides,
            device: Some("cpu".into()),
            max_instances: None,
        };
        let loaded = load(&args)?;
        let cache_dir = match cache {
            Some(c) => c.to_path_buf(),
            None => work.path().join("cache"),
        };
        let cache = open_cache(&cache_dir)?;
        let (jobs, threads) = parallelism(jobs, Some(threads));
        let reporter = Reporter::new(loaded.plan.instances.len());
        let records = drift_exec::run(
            &loaded.plan,
            &cache,
            drift_exec::Compute::local(&drift_stages::StageExecutor {
                device: loaded.device.clone(),
            }),
            &reporter,
            &drift_exec::RunOptions {
                force: Vec::new(),
                jobs,
                threads,
                keep_going: true,
            },
        );
        reporter.finish();
        let differences = compare(&loaded, &cache, &records, &plan_json, work.path())?;
        let compared = plan_json["instances"].as_array().map_or(0, Vec::len);
        if differences.is_empty() {
            outln!(
                "reproduced: {compared} instances, every key and every result identical to the bundle"
            );
            Ok(exit::OK)
        } else {
            outln!("{} difference(s) from the bundle:", differences.len());
            for d in &differences {
                outln!("  {d}");
            }
            Ok(exit::FAILED)
        }
    })())
}

/// Every way the rerun differs from the bundle: instances missing on either side, keys, and
/// results (per metric for evaluations, per file for the rest).
fn compare(
    loaded: &Loaded,
    cache: &drift_cache::Cache,
    records: &[drift_exec::Record],
    plan_json: &serde_json::Value,
    work: &Path,
) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    let rerun: BTreeMap<&str, usize> = loaded
        .plan
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (inst.id.as_str(), i))
        .collect();
    let bundled: Vec<&serde_json::Value> = plan_json["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for b in &bundled {
        let id = b["id"].as_str().unwrap_or_default();
        let Some(&i) = rerun.get(id) else {
            out.push(format!("{id}: in the bundle, not in the rerun plan"));
            continue;
        };
        let record = &records[i];
        let Some(key) = computed_key(record) else {
            out.push(format!(
                "{id}: not computed in the rerun ({})",
                record.error.as_deref().unwrap_or("skipped")
            ));
            continue;
        };
        let hex = b["key"].as_str().unwrap_or_default();
        if key.hex() != hex {
            out.push(format!(
                "{id}: key {} in the rerun, {} in the bundle",
                &key.hex()[..16],
                &hex[..hex.len().min(16)]
            ));
            continue;
        }
        let entry = work.join("entries").join(hex);
        let dir = cache.entry_dir(&key);
        let mut names: Vec<String> = std::fs::read_dir(&entry)
            .map_err(fail)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != "manifest.json")
            .collect();
        names.sort();
        for name in names {
            let old = std::fs::read(entry.join(&name)).map_err(fail)?;
            let new = std::fs::read(dir.join(&name)).unwrap_or_default();
            if old == new {
                continue;
            }
            if name == "metrics.parquet" {
                let read = |p: &Path| drift_io::read_metrics(p).map_err(fail);
                let (a, b) = (read(&entry.join(&name))?, read(&dir.join(&name))?);
                for ((m, x), (_, y)) in a.iter().zip(&b) {
                    if x.to_bits() != y.to_bits() {
                        out.push(format!("{id}: {m} = {x} in the bundle, {y} in the rerun"));
                    }
                }
                if a.len() != b.len() {
                    out.push(format!(
                        "{id}: {} metrics in the bundle, {} in the rerun",
                        a.len(),
                        b.len()
                    ));
                }
            } else if name == "table.parquet" {
                // Name the rows and cells that differ, not just the file.
                let read = |p: &Path| drift_report::read_parquet(p).map_err(fail);
                let (a, b) = (read(&entry.join(&name))?, read(&dir.join(&name))?);
                match drift_report::diff(&a, &b) {
                    Ok(d) => {
                        for cell in d.cells.iter().filter(|c| {
                            matches!(c.change.status(), "changed" | "added" | "removed")
                        }) {
                            out.push(format!(
                                "{id}: row {} {}: {} in the bundle, {} in the rerun",
                                cell.row.join(" / "),
                                cell.header,
                                cell.change.old_mean().map_or("—".into(), |v| v.to_string()),
                                cell.change.new_mean().map_or("—".into(), |v| v.to_string()),
                            ));
                        }
                        if d.summary().changed + d.summary().added + d.summary().removed == 0 {
                            out.push(format!("{id}: {name} differs (spreads or layout)"));
                        }
                    }
                    Err(e) => out.push(format!("{id}: {name} differs ({e})")),
                }
            } else {
                out.push(format!("{id}: {name} differs"));
            }
        }
    }
    for inst in &loaded.plan.instances {
        if !bundled.iter().any(|b| b["id"] == inst.id) {
            out.push(format!("{}: in the rerun plan, not in the bundle", inst.id));
        }
    }
    Ok(out)
}
