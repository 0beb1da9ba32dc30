//! Results as shown to people: report tables with their display-time cost columns, model
//! selection notes and provenance (`drift run`, `drift table`), the self-contained HTML page
//! (`drift report`), and the comparison of two result sets (`drift diff`).

use crate::commands::{
    Failure, Loaded, computed_key, fail, finish, invalid, load, not_computed, open_cache,
};
use crate::exit;
use crate::provenance::Provenance;
use anyhow::Context;
use drift_cache::Cache;
use drift_exec::Record;
use drift_plan::{NodeIndex, columns_of};
use drift_spec::StageParams;
use drift_spec::params::{CostName, ReportParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A table row's labels and the (instance id, key) of every record behind it.
pub type RowSources = (Vec<String>, Vec<(String, String)>);

/// A report table as shown.
pub struct ShownTable {
    pub name: String,
    pub table: drift_report::Table,
    pub choices: Vec<drift_report::Choice>,
    /// Per row (labels, in table order): the (instance id, key) of every record behind it.
    pub row_sources: Vec<RowSources>,
}

/// The figures a plot report's entry holds.
pub struct ShownFigures {
    pub name: String,
    pub dir: PathBuf,
    /// (file stem, caption)
    pub figures: Vec<(String, String)>,
}

/// The computed key of every instance, by node.
fn key_of(records: &[Record], node: NodeIndex) -> Option<drift_plan::key::StageKey> {
    computed_key(&records[node.index()])
}

/// Every table report of the spec, built from its evaluations' outputs in the cache, with the
/// cost columns it asks for read from the manifests of the evaluations' ancestors.
pub fn shown_tables(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
) -> Result<Vec<ShownTable>, Failure> {
    tables_with(loaded, cache, records, true)
}

/// [`shown_tables`], with or without the cost columns (a comparison of two result sets leaves
/// out timings, which differ between any two runs).
fn tables_with(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    with_costs: bool,
) -> Result<Vec<ShownTable>, Failure> {
    reports(loaded, false)
        .map(|(i, inst, params)| built_table(loaded, cache, records, i, inst, params, with_costs))
        .collect()
}

/// The report instances of the plan (index, instance, parameters) that are figures (`plots`)
/// or tables (`!plots`).
fn reports(
    loaded: &Loaded,
    plots: bool,
) -> impl Iterator<Item = (usize, &drift_plan::Instance, &ReportParams)> {
    loaded
        .plan
        .instances
        .iter()
        .enumerate()
        .filter_map(move |(i, inst)| match &inst.params {
            StageParams::Report(p) if p.plot.is_some() == plots => Some((i, inst, p)),
            _ => None,
        })
}

/// One table report built from its evaluations' outputs in the cache (and, `with_costs`, the
/// cost columns read from the manifests).
fn built_table(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    i: usize,
    inst: &drift_plan::Instance,
    params: &ReportParams,
    with_costs: bool,
) -> Result<ShownTable, Failure> {
    if computed_key(&records[i]).is_none() {
        return Err(not_computed(loaded, inst, &records[i]));
    }
    let mut inputs = Vec::new();
    for input in &inst.inputs {
        let key =
            key_of(records, input.node).expect("the inputs of a computed report are computed");
        inputs.push((input.node, cache.entry_dir(&key)));
    }
    let borrowed: Vec<(NodeIndex, &Path)> = inputs.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let costs = if with_costs {
        cost_records(loaded, cache, records, params, &borrowed)?
    } else {
        Vec::new()
    };
    let built =
        drift_stages::report_table(&loaded.plan, params, &borrowed, costs).map_err(|e| {
            Failure {
                code: exit::INVALID,
                message: format!("error: {}: {e}", inst.id),
            }
        })?;
    let row_sources = row_sources(loaded, records, params, &built);
    Ok(ShownTable {
        name: inst.stage.clone(),
        table: built.table,
        choices: built.choices,
        row_sources,
    })
}

/// One record per (evaluation, requested cost): the value the nearest ancestor (its sample
/// stage, then the training) recorded in its manifest. A cost no ancestor recorded is left out,
/// so its cell shows as missing.
fn cost_records(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    params: &ReportParams,
    evals: &[(NodeIndex, &Path)],
) -> Result<Vec<drift_report::ResultRecord>, Failure> {
    let mut out = Vec::new();
    if params.costs.is_empty() {
        return Ok(out);
    }
    let plan = &loaded.plan;
    for (node, _) in evals {
        let inst = plan.get(*node);
        let columns = columns_of(&plan.instances, *node);
        let axes: std::collections::BTreeSet<String> =
            inst.coords.iter().map(|c| c.name.clone()).collect();
        let sample = inst.input("samples");
        let train = sample.and_then(|s| plan.get(s).input("model"));
        let mut manifests = Vec::new();
        for ancestor in [sample, train].into_iter().flatten() {
            if let Some(key) = key_of(records, ancestor)
                && let Some(m) = cache.lookup(&key)
            {
                manifests.push(m);
            }
        }
        for cost in &params.costs {
            let value = manifests
                .iter()
                .find_map(|m| m.cost.get(cost.name()).and_then(serde_json::Value::as_f64));
            if let Some(value) = value {
                out.push(drift_report::ResultRecord {
                    instance: inst.id.clone(),
                    columns: columns.clone(),
                    axes: axes.clone(),
                    metric: cost.name().to_string(),
                    value,
                    reproducible: CostName::reproducible(*cost),
                });
            }
        }
    }
    Ok(out)
}

/// The (id, key) of the instances behind each row of a built table.
fn row_sources(
    loaded: &Loaded,
    records: &[Record],
    params: &ReportParams,
    built: &drift_stages::ReportTable,
) -> Vec<RowSources> {
    let mut by_row: BTreeMap<Vec<String>, Vec<(String, String)>> = BTreeMap::new();
    for r in &built.records {
        let row: Vec<String> = params
            .rows
            .iter()
            .map(|n| {
                if n == drift_report::METRIC_COLUMN {
                    r.metric.clone()
                } else {
                    r.columns
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| drift_report::ABSENT_LABEL.to_string())
                }
            })
            .collect();
        let key = loaded
            .plan
            .instances
            .iter()
            .position(|i| i.id == r.instance)
            .and_then(|ix| computed_key(&records[ix]))
            .map(|k| k.hex())
            .unwrap_or_default();
        let entry = by_row.entry(row).or_default();
        if !entry.iter().any(|(id, _)| *id == r.instance) {
            entry.push((r.instance.clone(), key));
        }
    }
    built
        .table
        .row_labels()
        .iter()
        .map(|labels| (labels.clone(), by_row.remove(labels).unwrap_or_default()))
        .collect()
}

/// The table reports as their entries hold them (`table.parquet`, `selection.json`): one file
/// read per report instead of one per evaluation, for printing after every `drift run`. A report
/// with cost columns is rebuilt (costs are read from manifests when shown, never cached). No
/// row sources: the formats printed this way do not show them.
fn cached_tables(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
) -> Result<Vec<ShownTable>, Failure> {
    let mut out = Vec::new();
    for (i, inst, params) in reports(loaded, false) {
        if !params.costs.is_empty() {
            out.push(built_table(loaded, cache, records, i, inst, params, true)?);
            continue;
        }
        let Some(key) = computed_key(&records[i]) else {
            return Err(not_computed(loaded, inst, &records[i]));
        };
        let dir = cache.entry_dir(&key);
        let table = drift_report::read_parquet(&dir.join("table.parquet")).map_err(fail)?;
        let choices = match std::fs::read_to_string(dir.join("selection.json")) {
            Ok(text) => parse_choices(&text).map_err(fail)?,
            Err(_) => Vec::new(),
        };
        out.push(ShownTable {
            name: inst.stage.clone(),
            table,
            choices,
            row_sources: Vec::new(),
        });
    }
    Ok(out)
}

/// The choices `selection.json` records (written by [`drift_stages::choice_json`]).
fn parse_choices(text: &str) -> Result<Vec<drift_report::Choice>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let pairs = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string()))
            .collect()
    };
    Ok(value
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| drift_report::Choice {
            group: pairs(&c["group"]),
            chosen: pairs(&c["chosen"]),
            by_mean: c["by_mean"].as_f64().unwrap_or(f64::NAN),
            candidates: c["candidates"].as_u64().unwrap_or(0) as usize,
        })
        .collect())
}

/// Every plot report of the spec, with the figures its entry holds.
pub fn shown_figures(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
) -> Result<Vec<ShownFigures>, Failure> {
    let mut out = Vec::new();
    for (i, inst, _) in reports(loaded, true) {
        let Some(key) = computed_key(&records[i]) else {
            return Err(not_computed(loaded, inst, &records[i]));
        };
        let dir = cache.entry_dir(&key);
        let index: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("figures.json"))
                .with_context(|| format!("reading the figures of {}", inst.id))?,
        )
        .map_err(fail)?;
        let figures = index["figures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["stem"].as_str().unwrap_or_default().to_string(),
                    f["caption"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        out.push(ShownFigures {
            name: inst.stage.clone(),
            dir,
            figures,
        });
    }
    Ok(out)
}

/// "method=fm, data=moons: lr=0.001 (val w2 0.0123 of 3 candidates)" lines.
fn choice_lines(params: Option<&ReportParams>, choices: &[drift_report::Choice]) -> Vec<String> {
    let Some(select) = params.and_then(|p| p.select.as_ref()) else {
        return Vec::new();
    };
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(k, x)| format!("{k}={x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    choices
        .iter()
        .map(|c| {
            format!(
                "selected {} for {} ({} {} = {} of {} candidates)",
                pairs(&c.chosen),
                if c.group.is_empty() {
                    "all".into()
                } else {
                    pairs(&c.group)
                },
                select.split.name(),
                select.by.name(),
                drift_report::format_significant(c.by_mean, 4),
                c.candidates
            )
        })
        .collect()
}

fn report_params<'a>(loaded: &'a Loaded, name: &str) -> Option<&'a ReportParams> {
    loaded.plan.instances.iter().find_map(|i| match &i.params {
        StageParams::Report(p) if i.stage == name => Some(p),
        _ => None,
    })
}

/// Every report rendered in `format`, with selection notes, figure listings and provenance.
pub fn render_all(
    loaded: &Loaded,
    cache: &Cache,
    records: &[Record],
    format: drift_report::Format,
    colour: bool,
) -> Result<String, Failure> {
    use drift_report::Format as F;
    let provenance = Provenance::of(&loaded.spec);
    let tables = if format == F::Json {
        shown_tables(loaded, cache, records)?
    } else {
        cached_tables(loaded, cache, records)?
    };
    let figures = shown_figures(loaded, cache, records)?;
    let mut text = String::new();
    for t in &tables {
        let title = format!("report.{}", t.name);
        let notes = choice_lines(report_params(loaded, &t.name), &t.choices);
        let body = if colour && format == F::Terminal {
            drift_report::render_terminal_coloured(&t.table, &title)
        } else {
            drift_report::render(&t.table, &title, format)
        };
        match format {
            F::Json => {
                let mut doc: serde_json::Value = serde_json::from_str(&body).map_err(fail)?;
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert(
                        "selection".into(),
                        t.choices.iter().map(drift_stages::choice_json).collect(),
                    );
                    obj.insert(
                        "provenance".into(),
                        json!({
                            "run": provenance,
                            "rows": t.row_sources.iter().map(|(labels, sources)| json!({
                                "row": labels,
                                "instances": sources.iter().map(|(id, key)| json!({"id": id, "key": key})).collect::<Vec<_>>(),
                            })).collect::<Vec<_>>(),
                        }),
                    );
                }
                text.push_str(&serde_json::to_string_pretty(&doc).map_err(fail)?);
                text.push('\n');
            }
            F::Csv => {
                text.push_str(&body);
                text.push('\n');
            }
            F::Latex => {
                text.push_str(&body);
                for n in &notes {
                    text.push_str(&format!("% {n}\n"));
                }
                text.push('\n');
            }
            _ => {
                text.push_str(&body);
                for n in &notes {
                    text.push_str(&format!("{n}\n"));
                }
                text.push('\n');
            }
        }
    }
    if matches!(format, F::Terminal | F::Markdown) {
        for f in &figures {
            text.push_str(&format!(
                "report.{}: {} figure(s) in {} (`drift report SPEC --out DIR` puts them in a page)\n",
                f.name,
                f.figures.len(),
                f.dir.display()
            ));
        }
    }
    match format {
        F::Terminal => text.push_str(&format!("{}\n", provenance.footer())),
        F::Markdown => text.push_str(&format!("_{}_\n", provenance.footer())),
        F::Latex => text.push_str(&format!("% {}\n", provenance.footer())),
        _ => {}
    }
    Ok(text)
}

/// Standard base64 (RFC 4648, with padding), for PNGs inlined in the page.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Figures whose SVG is larger than this are inlined as PNG (scatter plots of thousands of
/// points are smaller as pixels).
const SVG_INLINE_LIMIT: usize = 1 << 20;

/// `drift report SPEC --out DIR`: one self-contained page (`DIR/index.html`) with every table,
/// every figure, the spec, the plan and the provenance; the figures also as files in DIR.
pub fn report(cache_dir: &Path, args: &crate::SpecArgs, out: &Path) -> u8 {
    finish((|| {
        let loaded = load(args)?;
        let cache = open_cache(cache_dir)?;
        let records = drift_exec::status(&loaded.plan, &cache);
        let provenance = Provenance::of(&loaded.spec);
        let tables = shown_tables(&loaded, &cache, &records)?;
        let figures = shown_figures(&loaded, &cache, &records)?;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let mut page =
            drift_report::HtmlPage::new(&format!("drift report: {}", loaded.spec.experiment.name));
        page.paragraph(&provenance.footer(), Some("note"));
        for t in &tables {
            page.heading(&format!("report.{}", t.name));
            page.result_table(&t.table);
            for n in choice_lines(report_params(&loaded, &t.name), &t.choices) {
                page.paragraph(&n, Some("note"));
            }
        }
        for f in &figures {
            page.heading(&format!("report.{}", f.name));
            for (i, (stem, caption)) in f.figures.iter().enumerate() {
                let svg_path = f.dir.join(format!("{stem}.svg"));
                let png_path = f.dir.join(format!("{stem}.png"));
                let svg = std::fs::read_to_string(&svg_path)
                    .with_context(|| format!("reading {}", svg_path.display()))?;
                let png = std::fs::read(&png_path)
                    .with_context(|| format!("reading {}", png_path.display()))?;
                if svg.len() <= SVG_INLINE_LIMIT {
                    page.figure(&svg, caption);
                } else {
                    page.figure_png(&base64(&png), caption);
                }
                for (ext, bytes) in [("svg", svg.as_bytes()), ("png", png.as_slice())] {
                    let name = format!("{}_{}.{ext}", f.name, i + 1);
                    write_atomic(&out.join(name), bytes)?;
                }
            }
        }
        page.heading("Spec");
        for source in &loaded.spec.sources.texts {
            page.collapsed_text(&source.name, &source.text);
        }
        page.heading("Plan");
        let rows: Vec<Vec<String>> = loaded
            .plan
            .instances
            .iter()
            .zip(&records)
            .map(|(inst, r)| {
                vec![
                    inst.id.clone(),
                    format!("{:?}", r.state).to_lowercase(),
                    r.key.map(|k| k.hex()).unwrap_or_default(),
                ]
            })
            .collect();
        page.text_table(&["instance", "state", "key"], &rows);
        page.heading("Provenance");
        let mut kv = vec![
            ("drift".to_string(), provenance.drift_version.clone()),
            ("spec".to_string(), provenance.spec.clone()),
            ("spec blake3".to_string(), provenance.spec_digest.clone()),
            (
                "cpu".to_string(),
                format!(
                    "{} ({})",
                    provenance.cpu.arch,
                    provenance.cpu.features.join(", ")
                ),
            ),
        ];
        if let Some(g) = &provenance.git {
            kv.push((
                "git".to_string(),
                format!(
                    "{}{}",
                    g.commit,
                    if g.spec_modified {
                        " (spec modified since)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        page.key_values(&kv);
        for t in &tables {
            let rows: Vec<Vec<String>> = t
                .row_sources
                .iter()
                .map(|(labels, sources)| {
                    vec![
                        labels.join(" / "),
                        sources
                            .iter()
                            .map(|(id, key)| format!("{id} {}", &key[..key.len().min(16)]))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect();
            page.paragraph(
                &format!("report.{}: the stage keys behind each row", t.name),
                None,
            );
            page.text_table(&["row", "instances (key)"], &rows);
        }
        let index = out.join("index.html");
        write_atomic(&index, page.finish().as_bytes())?;
        errln!("wrote {}", index.display());
        Ok(exit::OK)
    })())
}

/// Writes through a temporary file in the same directory, then renames: a reader never sees a
/// half-written page.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `drift diff OLD NEW`: every report table of two result sets, matched by report name, old ->
/// new. A side is a spec (its tables in a cache: `--old-cache` for the old one) or a bundle
/// written by `drift export` (any path not ending in `.toml`). Cost columns are left out:
/// timings differ between any two runs.
pub fn diff(
    cache_dir: &Path,
    old: &Path,
    new: &Path,
    old_cache: Option<&Path>,
    format: &str,
) -> u8 {
    finish((|| {
        let format = drift_report::Format::from_name(format)
            .map_err(|e| invalid(format!("error: --format: {e}")))?;
        let side = |path: &Path, dir: &Path| -> Result<Vec<ShownTable>, Failure> {
            if path.extension().is_none_or(|e| e != "toml") {
                return Ok(crate::bundle::bundle_tables(path)?
                    .into_iter()
                    .map(|(name, table)| ShownTable {
                        name,
                        table,
                        choices: Vec::new(),
                        row_sources: Vec::new(),
                    })
                    .collect());
            }
            let args = crate::SpecArgs {
                spec: path.to_path_buf(),
                overrides: Vec::new(),
                device: None,
                max_instances: None,
            };
            let loaded = load(&args)?;
            let cache = open_cache(dir)?;
            let records = drift_exec::status(&loaded.plan, &cache);
            tables_with(&loaded, &cache, &records, false)
        };
        let before = side(old, old_cache.unwrap_or(cache_dir))?;
        let after = side(new, cache_dir)?;
        let mut text = String::new();
        let mut changed = false;
        for t in &after {
            let Some(o) = before.iter().find(|b| b.name == t.name) else {
                text.push_str(&format!("report.{}: only in the new results\n\n", t.name));
                changed = true;
                continue;
            };
            let d = drift_report::diff(&o.table, &t.table).map_err(|e| Failure {
                code: exit::INVALID,
                message: format!("error: report.{}: {e}", t.name),
            })?;
            let s = d.summary();
            changed |= s.changed + s.added + s.removed > 0;
            text.push_str(
                &drift_report::render_diff(&d, &format!("report.{}", t.name), format)
                    .map_err(fail)?,
            );
            text.push('\n');
        }
        for b in before
            .iter()
            .filter(|b| !after.iter().any(|a| a.name == b.name))
        {
            text.push_str(&format!("report.{}: only in the old results\n\n", b.name));
            changed = true;
        }
        out!("{text}");
        Ok(if changed { exit::FAILED } else { exit::OK })
    })())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), expected);
        }
    }
}
