//! Users' own data (`generator = "file"`) and the shipped digits: splits, the content digest in
//! the key, and clear errors for missing files, bad columns and non-finite values.

use crate::util::{Scratch, ids_in};

/// A spec next to `data.csv` in the scratch directory: a data stage reading it, a short
/// training, a sample and an eval.
fn user_spec(s: &Scratch, data_keys: &str) -> std::path::PathBuf {
    s.write(
        "user.toml",
        &format!(
            r#"[experiment]
name = "user"
seed = 0
device = "cpu"

[data.mine]
generator = "file"
path = "data.csv"
{data_keys}

[train.fm]
method = "flow_matching"
data = "data.mine"
steps = 5
batch = 16
model = {{ arch = "mlp", hidden = [8] }}

[sample.fm]
model = "train.fm"
solver = "euler"
n = 20
nfe = 2

[eval.fm]
samples = "sample.fm"
metrics = ["w2"]
"#
        ),
    )
}

/// 50 rows: x, y, a text label, and a constant column.
fn csv(rows: usize, edit: impl Fn(usize, f64) -> String) -> String {
    let mut out = String::from("x,y,label,c\n");
    for i in 0..rows {
        let x = i as f64 / 10.0;
        out.push_str(&format!("{},{},p{i},1\n", edit(i, x), x * x));
    }
    out
}

#[test]
fn a_csv_file_is_split_and_its_content_is_the_key() {
    let s = Scratch::new();
    s.write("data.csv", &csv(50, |_, x| x.to_string()));
    let spec = user_spec(
        &s,
        "columns = [\"x\", \"y\"]\nsplit = { train = 0.6, val = 0.2, test = 0.2 }\nstandardize = true",
    );
    let first = s.run_json(&spec, &[]);
    assert_eq!(ids_in(&first, "executed").len(), 4, "{first:?}");
    let data = first.iter().find(|i| i["id"] == "data.mine").unwrap();
    let dir = s.entry_dir(data);
    let (dim, train) = drift_io::read_points(&dir.join("train.parquet")).unwrap();
    let (_, val) = drift_io::read_points(&dir.join("val.parquet")).unwrap();
    let (_, test) = drift_io::read_points(&dir.join("test.parquet")).unwrap();
    assert_eq!(
        (dim, train.len() / 2, val.len() / 2, test.len() / 2),
        (2, 30, 10, 10)
    );
    // Standardised by the training split: mean 0, (population) std 1 per column.
    for c in 0..2 {
        let col: Vec<f64> = train
            .iter()
            .skip(c)
            .step_by(2)
            .map(|&v| f64::from(v))
            .collect();
        let mean = col.iter().sum::<f64>() / 30.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 30.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
    }

    // Moving the file (same content) reruns nothing: the path is not in the key.
    std::fs::create_dir(s.dir.path().join("sub")).unwrap();
    std::fs::rename(
        s.dir.path().join("data.csv"),
        s.dir.path().join("sub/data.csv"),
    )
    .unwrap();
    let moved = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("path = \"data.csv\"", "path = \"sub/data.csv\"");
    let spec = s.write("user.toml", &moved);
    let again = s.run_json(&spec, &[]);
    assert!(ids_in(&again, "executed").is_empty(), "{again:?}");

    // Editing one value reruns the data stage and everything downstream, and says why.
    s.write(
        "sub/data.csv",
        &csv(50, |i, x| if i == 7 { "9.5".into() } else { x.to_string() }),
    );
    let status = s.drift(&["status", spec.to_str().unwrap(), "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let listed = crate::util::instances(&status.stdout);
    let data = listed.iter().find(|i| i["id"] == "data.mine").unwrap();
    assert_eq!(data["state"], "stale");
    assert_eq!(data["reasons"][0]["type"], "param_changed", "{data}");
    assert_eq!(data["reasons"][0]["param"], "content_digest");
    let third = s.run_json(&spec, &[]);
    assert_eq!(ids_in(&third, "executed").len(), 4, "{third:?}");
}

#[test]
fn user_data_errors_name_the_file_row_and_column() {
    let s = Scratch::new();
    // A missing file is a spec error at the `path` key.
    let spec = user_spec(&s, "");
    let out = s.drift(&["run", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("user.toml:8:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot read data file"),
        "{}",
        out.stderr
    );

    // A typo in a column name suggests the nearest one.
    s.write("data.csv", &csv(20, |_, x| x.to_string()));
    let spec = user_spec(&s, "columns = [\"x\", \"yy\"]");
    let out = s.drift(&["run", spec.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("data.csv"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no column `yy`; did you mean `y`?"),
        "{}",
        out.stderr
    );

    // A NaN names its row and column.
    s.write(
        "data.csv",
        &csv(20, |i, x| if i == 4 { "nan".into() } else { x.to_string() }),
    );
    let spec = user_spec(&s, "columns = [\"y\", \"x\"]");
    let out = s.drift(&["run", spec.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("row 5 column `x` is NaN"),
        "{}",
        out.stderr
    );

    // A spec cannot read outside its project: absolute paths, `..` and symlinks out are refused.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, csv(20, |_, x| x.to_string())).unwrap();
    let original = std::fs::read_to_string(user_spec(&s, "")).unwrap();
    let text = original.replace(
        "path = \"data.csv\"",
        &format!("path = {:?}", secret.display().to_string()),
    );
    let spec = s.write("user.toml", &text);
    let out = s.drift(&["check", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is absolute"), "{}", out.stderr);
    let rel = pathdiff(&secret, s.dir.path());
    let text = original.replace("path = \"data.csv\"", &format!("path = {rel:?}"));
    let spec = s.write("user.toml", &text);
    let out = s.drift(&["check", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("outside the project root"),
        "{}",
        out.stderr
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, s.dir.path().join("link.csv")).unwrap();
        let text = original.replace("path = \"data.csv\"", "path = \"link.csv\"");
        let spec = s.write("user.toml", &text);
        let out = s.drift(&["check", spec.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("outside the project root"),
            "{}",
            out.stderr
        );
    }

    // Point counts do not apply to a file.
    let spec = user_spec(&s, "n_train = 10");
    let out = s.drift(&["check", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("`n_train` does not apply to generator `file`"),
        "{}",
        out.stderr
    );
}

/// `target` relative to `base` through `..` steps (both absolute).
fn pathdiff(target: &std::path::Path, base: &std::path::Path) -> String {
    let (t, b) = (target.canonicalize().unwrap(), base.canonicalize().unwrap());
    let common = t
        .components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .count();
    let ups = b.components().count() - common;
    let mut out: Vec<String> = vec!["..".into(); ups];
    out.extend(
        t.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    out.join("/")
}

#[test]
fn digits_are_shipped_and_split() {
    let s = Scratch::new();
    let spec = s.write(
        "digits.toml",
        r#"[experiment]
name = "digits"

[data.digits]
generator = "digits"
split = { train = 0.5, val = 0.25, test = 0.25 }
"#,
    );
    let run = s.run_json(&spec, &[]);
    let dir = s.entry_dir(&run[0]);
    let (dim, train) = drift_io::read_points(&dir.join("train.parquet")).unwrap();
    let (_, test) = drift_io::read_points(&dir.join("test.parquet")).unwrap();
    assert_eq!(dim, 64);
    // 1797 rows: test round(449.25) = 449, val 449, train the remaining 899.
    assert_eq!((train.len() / 64, test.len() / 64), (899, 449));
    assert!(train.iter().all(|&v| (0.0..=1.0).contains(&v)));
}
