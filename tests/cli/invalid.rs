//! Invalid specs: each file in tests/specs/invalid/ holds one class of mistake, fails `drift check`
//! with exit code 2 and nothing on stdout, and its diagnostics (stderr) are pinned by a snapshot in
//! tests/cli/snapshots/NAME.snap. Every valid spec of the repository passes `drift check`.
//!
//! Paths are given relative to the repository root, so the snapshots do not depend on where the
//! checkout lives. Update them with `INSTA_UPDATE=always cargo test -p drift-cli --test cli invalid`
//! and review the diff.

use crate::util::{Scratch, repo};

/// `drift check`'s exit code for an invalid spec or command line.
const INVALID: i32 = 2;

/// The `.toml` files directly inside `dir` (relative to the repository root), sorted, as
/// repository-relative paths with `/` separators.
fn specs_in(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_str()
                .expect("utf-8 name");
            format!("{dir}/{name}")
        })
        .collect();
    names.sort();
    names
}

/// Runs `drift check ARGS`, asserts that it is rejected with exit code 2 and an empty stdout,
/// and snapshots stderr as `snapshots/NAME.snap`.
fn assert_rejected(name: &str, args: &[&str]) {
    let mut command = vec!["check"];
    command.extend_from_slice(args);
    let out = Scratch::new().drift(&command);
    let shown = format!("drift {}", command.join(" "));
    assert_eq!(
        out.code, INVALID,
        "`{shown}` should exit with {INVALID}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "`{shown}` printed on stdout:\n{}",
        out.stdout
    );
    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        description => shown,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, out.stderr);
    });
}

#[test]
fn every_invalid_spec_is_rejected_with_its_diagnostics() {
    let specs = specs_in("tests/specs/invalid");
    assert!(
        specs.len() >= 15,
        "expected the invalid spec collection, found {specs:?}"
    );
    for path in &specs {
        let name = path
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".toml"))
            .expect("a .toml file name");
        assert_rejected(name, &[path]);
    }
}

#[test]
fn invalid_overrides_are_rejected_with_their_diagnostics() {
    let tiny = "tests/specs/tiny.toml";
    let cases: &[(&str, &str)] = &[
        ("set_unknown_key", "train.fm.stesp=3"),
        ("set_without_equals", "train.fm.steps"),
        ("set_type_error", "train.fm.steps=ten"),
        ("set_below_a_value", "train.fm.lr.x=3"),
    ];
    for (name, set) in cases {
        assert_rejected(name, &[tiny, "--set", set]);
    }
}

#[test]
fn every_valid_spec_passes_check() {
    let specs: Vec<String> = ["specs", "tests/specs"]
        .iter()
        .flat_map(|dir| specs_in(dir))
        .collect();
    assert!(
        specs.iter().any(|s| s == "specs/quickstart.toml"),
        "{specs:?}"
    );
    for path in &specs {
        let out = Scratch::new().drift(&["check", path]);
        assert_eq!(out.code, 0, "`drift check {path}` failed:\n{}", out.stderr);
        assert!(
            out.stdout.starts_with(&format!("ok: {path} (")),
            "`drift check {path}` printed:\n{}",
            out.stdout
        );
    }
}

#[test]
fn a_plain_override_of_a_swept_key_replaces_the_sweep() {
    let out = Scratch::new().drift(&["check", "tests/specs/tiny.toml", "--set", "sample.fm.nfe=5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 2 data + 4 train + 4 sample + 4 eval + 1 report: one nfe value instead of two.
    assert!(out.stdout.contains("15 instances"), "{}", out.stdout);
    let nested =
        Scratch::new().drift(&["check", "tests/specs/tiny.toml", "--set", "train.fm.seed=3"]);
    assert!(nested.stdout.contains("13 instances"), "{}", nested.stdout);
}
