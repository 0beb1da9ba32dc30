//! Bundles: `drift export` then `drift reproduce` reruns the experiment from the bundle alone
//! (spec, its base, plan) in a fresh cache and finds every key and result bit-identical; a
//! bundle whose results were altered is caught row by row; a hostile bundle cannot write outside
//! its unpacking directory.

use std::io::Read;
use std::path::Path;

use crate::util::{Scratch, spec};

/// Every (name, bytes) of a tar file.
fn read_tar(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// A tar whose entry names are written raw (the tar crate refuses `..` when building).
fn write_raw_tar(path: &Path, entries: &[(&str, tar::EntryType, &[u8])]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, kind, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_gnu_mut().unwrap().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(bytes.len() as u64);
        header.set_entry_type(*kind);
        if *kind == tar::EntryType::Symlink {
            header.set_link_name("/etc").unwrap();
        }
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *bytes).unwrap();
    }
    builder.finish().unwrap();
}

#[test]
fn a_bundle_reproduces_bit_for_bit_and_altered_results_are_named() {
    let s = Scratch::new();
    let figures = spec("tiny-figures.toml");
    s.run_json(&figures, &[]);
    let bundle = s.dir.path().join("tiny.tar");
    let out = s.drift(&[
        "export",
        figures.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let entries = read_tar(&bundle);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    // The spec and the base it extends travel at their places in the project.
    assert!(
        names.contains(&"project/tests/specs/tiny-figures.toml"),
        "{names:?}"
    );
    assert!(
        names.contains(&"project/tests/specs/tiny.toml"),
        "{names:?}"
    );
    assert!(names.contains(&"bundle.json") && names.contains(&"plan.json"));
    assert!(!names.iter().any(|n| n.ends_with("weights.safetensors")));
    // Exporting twice gives the same bytes.
    let again = s.dir.path().join("again.tar");
    s.drift(&[
        "export",
        figures.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let out = s.drift(&["reproduce", bundle.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("every key and every result identical"),
        "{}",
        out.stdout
    );

    // The spec's current results against the bundle's: the same tables, cell for cell.
    let out = s.drift(&["diff", bundle.to_str().unwrap(), figures.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("0 changed, 12 unchanged"),
        "{}",
        out.stdout
    );

    // Swap the metrics of two evaluations inside the bundle: reproduce names both.
    let plan: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n == "plan.json").unwrap().1).unwrap();
    let evals: Vec<(&str, &str)> = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "eval")
        .map(|i| (i["id"].as_str().unwrap(), i["key"].as_str().unwrap()))
        .take(2)
        .collect();
    let metrics_of = |key: &str| format!("entries/{key}/metrics.parquet");
    let a = entries
        .iter()
        .find(|(n, _)| *n == metrics_of(evals[0].1))
        .unwrap()
        .1
        .clone();
    let b = entries
        .iter()
        .find(|(n, _)| *n == metrics_of(evals[1].1))
        .unwrap()
        .1
        .clone();
    // And replace the report's table by the table of a longer training (same layout, other
    // values): reproduce names the rows that differ.
    let dir = s.dir.path();
    for name in ["tiny.toml", "tiny-figures.toml"] {
        std::fs::copy(spec(name), dir.join(name)).unwrap();
    }
    let longer = s.write(
        "longer.toml",
        "extends = \"tiny-figures.toml\"\n[experiment]\nname = \"longer\"\n[train.fm]\nsteps = 31\n",
    );
    s.run_json(&longer, &[]);
    let pattern = dir.join("alt-{report}.parquet");
    let out = s.drift(&[
        "table",
        longer.to_str().unwrap(),
        "--format",
        "parquet",
        "--out",
        pattern.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let other_table = std::fs::read(dir.join("alt-quality.parquet")).unwrap();
    let report_key = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "report.quality")
        .map(|i| i["key"].as_str().unwrap().to_string())
        .unwrap();
    let table_entry = format!("entries/{report_key}/table.parquet");
    let altered = s.dir.path().join("altered.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&altered).unwrap());
        for (name, bytes) in &entries {
            let bytes = if *name == metrics_of(evals[0].1) {
                &b
            } else if *name == metrics_of(evals[1].1) {
                &a
            } else if *name == table_entry {
                &other_table
            } else {
                bytes
            };
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
        builder.finish().unwrap();
    }
    let out = s.drift(&["reproduce", altered.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for (id, _) in &evals {
        assert!(
            out.stdout.contains(&format!("{id}: w2 = ")),
            "{id}:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .contains("report.quality: row gaussians / flow_matching / 1 w2: "),
        "{}",
        out.stdout
    );
}

#[test]
fn hostile_bundles_are_refused_before_anything_is_written_outside() {
    let s = Scratch::new();
    for (name, kind) in [
        ("../escaped.txt", tar::EntryType::Regular),
        ("/tmp/drift-absolute-escape.txt", tar::EntryType::Regular),
        ("project/link", tar::EntryType::Symlink),
    ] {
        let bundle = s.dir.path().join("hostile.tar");
        write_raw_tar(&bundle, &[(name, kind, b"x")]);
        let out = s.drift(&["reproduce", bundle.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains("refusing") || out.stderr.contains("regular files only"),
            "{name}: {}",
            out.stderr
        );
    }
    assert!(!s.dir.path().join("escaped.txt").exists());
    assert!(!Path::new("/tmp/drift-absolute-escape.txt").exists());
    // Not a tar at all.
    let junk = s.write("junk.tar", "not a bundle");
    let out = s.drift(&["reproduce", junk.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("junk.tar"), "{}", out.stderr);
}
