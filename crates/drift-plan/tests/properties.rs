//! Property tests (proptest, bounded cases so CI stays fast): no input makes the spec parser,
//! the resolver or the planner panic or hang, and keys depend on what a spec means, not on how
//! it is written (any reordering or reformatting keeps every key; a changed value changes it).

use std::collections::BTreeMap;
use std::path::Path;

use drift_plan::key::OutputDigest;
use drift_plan::{PlanOptions, build};
use drift_spec::source::Sources;
use proptest::prelude::*;

fn plan_keys(text: &str, overrides: &[String]) -> Option<BTreeMap<String, String>> {
    let spec = drift_spec::parse(
        Sources::new(Path::new("prop.toml"), text.to_string()),
        overrides,
    )
    .ok()?;
    let plan = build(&spec, &PlanOptions::default()).ok()?;
    Some(
        plan.instances
            .iter()
            .map(|inst| {
                // A fixed digest stands in for every input's output: keys then differ exactly
                // when the instances' own components do.
                let digests = vec![OutputDigest([7; 32]); inst.inputs.len()];
                (
                    inst.id.clone(),
                    inst.key_components(&plan, &digests).key().hex(),
                )
            })
            .collect(),
    )
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// No panics, no hangs

/// Values a fuzzed key may take: well-formed TOML of every kind, plausible and absurd.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (-1e9f64..1e9).prop_map(|v| format!("{v:e}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("true".to_string()),
        prop::sample::select(vec![
            "\"data.moons\"",
            "\"train.fm\"",
            "\"sample.fm\"",
            "\"eval.*\"",
            "\"euler\"",
            "\"flow_matching\"",
            "\"agm\"",
            "\"two_moons\"",
            "\"file\"",
            "\"w2\"",
            "\"x\"",
            "\"data.moons[seed=0]\"",
            "\"../../etc/passwd\"",
            "\"\"",
            "\"gaussian\"",
        ])
        .prop_map(String::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(), inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "generator",
        "n_train",
        "n_test",
        "n_val",
        "seed",
        "noise",
        "variant",
        "method",
        "data",
        "steps",
        "batch",
        "lr",
        "model",
        "hidden",
        "arch",
        "solver",
        "nfe",
        "n",
        "samples",
        "metrics",
        "from",
        "rows",
        "columns",
        "aggregate",
        "sweep.seed",
        "sweep.lr",
        "sweep.nfe",
        "zip.seed",
        "source",
        "pairs",
        "init",
        "path",
        "split",
        "sigma",
        "dim",
        "components",
        "times",
        "classifier",
        "knn_k",
        "ema",
        "grad_clip",
        "projections",
        "bogus",
    ])
    .prop_map(String::from)
}

fn table() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        "data.moons",
        "data.x",
        "train.fm",
        "train.t",
        "sample.fm",
        "eval.e",
        "report.r",
        "experiment",
        "bogus.x",
        "data",
    ]);
    (header, prop::collection::vec((key(), value()), 0..8)).prop_map(|(h, kv)| {
        let mut out = format!("[{h}]\n");
        for (k, v) in kv {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    })
}

proptest! {
    #![proptest_config(cfg(300))]

    /// Any text at all: parse and plan return (errors are fine), never panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = plan_keys(&text, &[]);
    }

    /// TOML-shaped specs made of real table names, real keys and mixed values.
    #[test]
    fn structured_specs_never_panic(tables in prop::collection::vec(table(), 0..7)) {
        let text = format!("[experiment]\nname = \"p\"\n{}", tables.concat());
        let _ = plan_keys(&text, &[]);
    }

    /// `--set` overrides of any shape against a valid spec.
    #[test]
    fn overrides_never_panic(
        k in key(),
        v in value(),
        stage in "(data\\.moons|train\\.fm|sample\\.fm|eval\\.fm|x|data)",
    ) {
        let _ = plan_keys(TINY, &[format!("{stage}.{k}={v}")]);
    }
}

// ---------------------------------------------------------------------------------------------
// Keys: what a spec means, not how it is written

const TINY: &str = r#"[experiment]
name = "tiny"
seed = 0
device = "cpu"

[data.moons]
generator = "two_moons"
n_train = 512
n_test = 200
noise = 0.05

[train.fm]
method = "flow_matching"
data = "data.moons"
sweep.seed = [0, 1]
steps = 30
batch = 64
lr = 1e-3
model = { arch = "mlp", hidden = [32, 32] }

[sample.fm]
model = "train.fm"
solver = "euler"
n = 200
sweep.nfe = [1, 4]

[eval.fm]
samples = "sample.fm"
metrics = ["w2", "mmd"]
"#;

/// The spec's tables and their `key = value` lines.
fn tables_of(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with('[') {
            out.push((line.to_string(), Vec::new()));
        } else {
            out.last_mut().expect("a table").1.push(line.to_string());
        }
    }
    out
}

/// Writes tables back in the given order, each with its lines permuted, with the given
/// padding around `=` and comments.
fn render(
    tables: &[(String, Vec<String>)],
    order: &[usize],
    line_orders: &[Vec<usize>],
    pad: &str,
) -> String {
    let mut out = String::from("# reformatted\n");
    for &t in order {
        let (header, lines) = &tables[t];
        out.push_str(&format!("{header}   # table\n"));
        for &l in &line_orders[t] {
            let (k, v) = lines[l].split_once(" = ").expect("key = value");
            out.push_str(&format!("{k}{pad}={pad}{v}\n"));
        }
        out.push('\n');
    }
    out
}

fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<usize>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(cfg(64))]

    #[test]
    fn reordering_and_reformatting_keep_every_key(
        order in permutation(5),
        l0 in permutation(3),
        l1 in permutation(4),
        l2 in permutation(7),
        l3 in permutation(4),
        l4 in permutation(2),
        pad in prop::sample::select(vec![" ", "  ", "\t", ""]),
    ) {
        let tables = tables_of(TINY);
        let lines = vec![l0, l1, l2, l3, l4];
        let text = render(&tables, &order, &lines, pad);
        prop_assert_eq!(plan_keys(&text, &[]), plan_keys(TINY, &[]));
    }

    #[test]
    fn written_out_defaults_keep_every_key(which in 0usize..4) {
        let extra = [
            ("[train.fm]", "sigma = 0.0"),
            ("[train.fm]", "weight_decay = 0.0"),
            ("[eval.fm]", "projections = 256"),
            ("[data.moons]", "n_val = 0"),
        ][which];
        let text = TINY.replace(extra.0, &format!("{}\n{}", extra.0, extra.1));
        prop_assert_eq!(plan_keys(&text, &[]), plan_keys(TINY, &[]));
    }

    #[test]
    fn a_changed_value_changes_the_keys_it_reaches(lr in 1e-5f64..1e-1, steps in 1u64..100_000) {
        prop_assume!(lr != 1e-3 && steps != 30);
        let base = plan_keys(TINY, &[]).unwrap();
        let changed = plan_keys(TINY, &[format!("train.fm.lr={lr:e}")]).unwrap();
        let by_steps = plan_keys(TINY, &[format!("train.fm.steps={steps}")]).unwrap();
        for (id, key) in &base {
            // Trainings change (their parameters did); data stages do not. Downstream keys
            // change through their inputs' digests, which the fixed stand-in digest hides here.
            if id.starts_with("train.") {
                prop_assert_ne!(&changed[id], key);
                prop_assert_ne!(&by_steps[id], key);
            } else if id.starts_with("data.") {
                prop_assert_eq!(&changed[id], key);
            }
        }
    }
}

/// A sweep that would expand to 10^6 instances is refused before anything is allocated, with
/// the count.
#[test]
fn a_million_instance_sweep_is_refused_with_its_count() {
    let seeds: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let lrs: Vec<String> = (0..1000).map(|i| format!("{}e-5", i + 1)).collect();
    let text = TINY
        .replace(
            "sweep.seed = [0, 1]",
            &format!(
                "sweep.seed = [{}]\nsweep.lr = [{}]",
                seeds.join(", "),
                lrs.join(", ")
            ),
        )
        .replace("lr = 1e-3\n", "");
    let spec = drift_spec::parse(Sources::new(Path::new("big.toml"), text), &[]).unwrap();
    let err = build(&spec, &PlanOptions::default()).unwrap_err();
    let message = err.to_string();
    // 10^6 trainings, each with 2 samples and 2 evaluations, and the data stage.
    assert!(
        message.contains("expands to 5000001 stage instances, more than the limit of 100000"),
        "{message}"
    );
}

/// `Instance::key` (the fast path `status` uses) is `key_components(..).key()` for every
/// instance, whatever the input digests.
#[test]
fn an_instances_key_equals_the_key_of_its_components() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/specs/tiny-figures.toml"
    ))
    .unwrap()
    .replace("extends = \"tiny.toml\"", "");
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/specs/tiny.toml"
    ))
    .unwrap();
    // tiny-figures without its `extends` line, appended to its base: one self-contained text.
    let merged = format!(
        "{base}\n{}",
        text.replace("[experiment]\nname = \"tiny-figures\"\n", "")
    );
    let spec = drift_spec::parse(Sources::new(Path::new("merged.toml"), merged), &[]).unwrap();
    let plan = drift_plan::build(&spec, &PlanOptions::default()).unwrap();
    assert!(plan.instances.len() > 20);
    for (n, inst) in plan.instances.iter().enumerate() {
        let digests: Vec<drift_plan::key::OutputDigest> = (0..inst.inputs.len())
            .map(|i| drift_plan::key::OutputDigest([(n * 7 + i) as u8; 32]))
            .collect();
        assert_eq!(
            inst.key(&plan, &digests),
            inst.key_components(&plan, &digests).key(),
            "{}",
            inst.id
        );
    }
}
