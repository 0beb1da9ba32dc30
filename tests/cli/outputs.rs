//! What users see and open: tables, show, gc, list, schema, artifacts, devices, exit codes.

use crate::util::{Scratch, instances, repo, spec};

#[test]
fn run_prints_the_report_and_table_formats_agree() {
    let s = Scratch::new();
    let out = s.drift(&["run", spec("tiny.toml").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("report.quality"), "{}", out.stdout);
    for row in ["gaussians", "moons"] {
        assert!(out.stdout.contains(row), "{}", out.stdout);
    }
    assert!(
        out.stderr.contains("23 instances: 23 executed"),
        "{}",
        out.stderr
    );

    let md = s.drift(&[
        "table",
        spec("tiny.toml").to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(md.stdout.contains("| data"), "{}", md.stdout);
    let json = s.drift(&[
        "table",
        spec("tiny.toml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json table");
    assert_eq!(v["rows"], serde_json::json!(["data", "method", "nfe"]));
    // 2 data sets x 2 nfe rows x 3 metrics, each over 2 seeds.
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 12);
    assert!(cells.iter().all(|c| c["n_runs"] == 2));

    let parquet = s.dir.path().join("{report}.parquet");
    let pq = s.drift(&[
        "table",
        spec("tiny.toml").to_str().unwrap(),
        "--format",
        "parquet",
        "--out",
        parquet.to_str().unwrap(),
    ]);
    assert_eq!(pq.code, 0, "{}", pq.stderr);
    let batches = drift_io::read_record_batches(&s.dir.path().join("quality.parquet")).unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 12);
}

#[test]
fn table_before_run_says_to_run_first() {
    let s = Scratch::new();
    let out = s.drift(&["table", spec("tiny.toml").to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("is not computed yet"), "{}", out.stderr);
}

#[test]
fn artifacts_have_the_documented_schemas() {
    let s = Scratch::new();
    let run = s.run_json(&spec("tiny.toml"), &[]);
    let entry = |id: &str| {
        let key = run.iter().find(|i| i["id"] == id).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string();
        s.cache().join("v1/entries").join(&key[..2]).join(key)
    };
    let (dim, train) = drift_io::read_points(&entry("data.moons").join("train.parquet")).unwrap();
    assert_eq!((dim, train.len()), (2, 512 * 2));
    let (_, test) = drift_io::read_points(&entry("data.moons").join("test.parquet")).unwrap();
    assert_eq!(test.len(), 200 * 2);
    let losses =
        drift_io::read_loss_curve(&entry("train.fm[data=moons,seed=0]").join("loss.parquet"))
            .unwrap();
    assert_eq!(losses.len(), 30);
    let (_, samples) =
        drift_io::read_points(&entry("sample.fm[data=moons,seed=0,nfe=4]").join("samples.parquet"))
            .unwrap();
    assert_eq!(samples.len(), 200 * 2);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(entry("sample.fm[data=moons,seed=0,nfe=4]").join("sample.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["nfe"], 4,
        "realised NFE is counted by the model wrapper"
    );
    let metrics =
        drift_io::read_metrics(&entry("eval.fm[data=moons,seed=0,nfe=4]").join("metrics.parquet"))
            .unwrap();
    let names: Vec<&str> = metrics.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, vec!["w2", "sliced_w2", "mmd"]);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(entry("train.fm[data=moons,seed=0]").join("manifest.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["components"]["device"], "cpu");
    assert_eq!(manifest["components"]["dtype"], "f32");
    assert!(manifest["cost"]["param_count"].as_u64().unwrap() > 0);
    assert!(manifest["cost"]["train_time_s"].as_f64().is_some());
}

#[test]
fn show_prints_key_components_and_paths() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    let out = s.drift(&[
        "show",
        spec("tiny.toml").to_str().unwrap(),
        "train.fm[data=moons,seed=1]",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("state:   fresh"), "{}", out.stdout);
    assert!(out.stdout.contains("\"lr\": 0.001"), "{}", out.stdout);
    let weights = out
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("artifact: ")
                .filter(|l| l.contains("weights.safetensors"))
        })
        .expect("weights path");
    let path = weights.split("  (").next().unwrap();
    assert!(std::path::Path::new(path).exists(), "{path}");
    // Without the spec: the last recorded run of that id.
    let recorded = s.drift(&["show", "train.fm[data=moons,seed=1]"]);
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert!(
        recorded.stdout.contains("experiment: tiny"),
        "{}",
        recorded.stdout
    );
    assert!(
        recorded.stdout.contains("weights.safetensors"),
        "{}",
        recorded.stdout
    );
    let unknown = s.drift(&["show", "train.nope"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("has no record"),
        "{}",
        unknown.stderr
    );
    let bad = s.drift(&[
        "show",
        spec("tiny.toml").to_str().unwrap(),
        "train.fm[data=moons,seed=7]",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("did you mean"), "{}", bad.stderr);
}

#[test]
fn gc_removes_only_unreachable_entries() {
    let s = Scratch::new();
    s.run_json(&spec("tiny.toml"), &[]);
    // A second variant of the spec leaves 21 entries that tiny.toml no longer reaches.
    let variant = s.write(
        "variant.toml",
        &std::fs::read_to_string(spec("tiny.toml"))
            .unwrap()
            .replace("lr = 1e-3", "lr = 2e-3"),
    );
    s.run_json(&variant, &[]);
    let dry = s.drift(&["gc", spec("tiny.toml").to_str().unwrap(), "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("would remove 21 entries"),
        "{}",
        dry.stdout
    );
    let gc = s.drift(&["gc", spec("tiny.toml").to_str().unwrap()]);
    assert!(gc.stdout.contains("removed 21 entries"), "{}", gc.stdout);
    let status = s.drift(&["status", spec("tiny.toml").to_str().unwrap(), "--json"]);
    assert!(
        instances(&status.stdout)
            .iter()
            .all(|i| i["state"] == "fresh")
    );
    let kept = s.drift(&[
        "gc",
        spec("tiny.toml").to_str().unwrap(),
        variant.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(
        kept.stdout.contains("would remove 0 entries"),
        "{}",
        kept.stdout
    );
}

#[test]
fn list_shows_every_catalogue() {
    let s = Scratch::new();
    let gens = s.drift(&["list", "generators"]);
    for needle in [
        "two_moons",
        "eight_gaussians",
        "checkerboard",
        "torchcfm",
        "n_train",
        "noise",
    ] {
        assert!(gens.stdout.contains(needle), "{needle}:\n{}", gens.stdout);
    }
    let methods = s.drift(&["list", "methods"]);
    assert!(
        methods.stdout.contains("flow_matching") && methods.stdout.contains("sigma"),
        "{}",
        methods.stdout
    );
    let metrics = s.drift(&["list", "metrics"]);
    for needle in ["w2", "sliced_w2", "mmd"] {
        assert!(metrics.stdout.contains(needle), "{}", metrics.stdout);
    }
    let solvers = s.drift(&["list", "solvers"]);
    for needle in ["euler", "heun", "rk4"] {
        assert!(solvers.stdout.contains(needle), "{}", solvers.stdout);
    }
}

#[test]
fn committed_schema_is_current() {
    let s = Scratch::new();
    let out = s.drift(&[
        "schema",
        "--check",
        "--out",
        repo()
            .join("schemas/drift-spec.schema.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        out.code, 0,
        "schemas/drift-spec.schema.json is stale: run `drift schema`\n{}",
        out.stderr
    );
}

#[test]
fn cuda_in_a_cpu_build_is_a_clear_error() {
    if drift_nn::ComputeDevice::cuda_built() {
        return; // only meaningful without the cuda feature
    }
    let s = Scratch::new();
    let out = s.drift(&[
        "run",
        spec("tiny.toml").to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--features cuda"), "{}", out.stderr);
    assert!(
        !s.cache().join("v1/entries").exists()
            || std::fs::read_dir(s.cache().join("v1/entries"))
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn force_with_an_unknown_selector_is_an_error() {
    let s = Scratch::new();
    let out = s.drift(&[
        "run",
        spec("tiny.toml").to_str().unwrap(),
        "--force",
        "train.nope",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no instance or stage matches"),
        "{}",
        out.stderr
    );
}

#[test]
fn drift_cache_moves_the_store() {
    let s = Scratch::new();
    let store = s.dir.path().join("elsewhere");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drift"))
        .current_dir(s.dir.path())
        .args(["check", spec("tiny.toml").to_str().unwrap()])
        .env("DRIFT_CACHE", &store)
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_drift"))
        .current_dir(s.dir.path())
        .args(["status", spec("tiny.toml").to_str().unwrap()])
        .env("DRIFT_CACHE", &store)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(
        store.join("v1/entries").is_dir(),
        "the store lives under $DRIFT_CACHE/v1"
    );
    assert!(!s.dir.path().join("cache").exists(), "and not in ./cache");
}
