//! Integration tests of drift-io: round trips, byte determinism, schema contracts as
//! pandas/polars see them, and the errors for missing, foreign or malformed files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Float64Array, LargeStringArray, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use drift_io::{
    IoError, file_digest, read_loss_curve, read_metrics, read_points, read_record_batches,
    write_atomic, write_loss_curve, write_metrics, write_points, write_record_batch,
};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Deterministic pseudo-random floats (no RNG dependency needed).
fn floats(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 8.0 - 4.0
        })
        .collect()
}

fn batch(fields: Vec<(&str, DataType, bool, ArrayRef)>) -> RecordBatch {
    let schema = Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t, nullable, _)| Field::new(*n, t.clone(), *nullable))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, fields.into_iter().map(|f| f.3).collect()).expect("batch")
}

fn message(err: &IoError) -> String {
    err.to_string()
}

fn assert_names_file(err: &IoError, path: &Path) {
    let msg = message(err);
    assert!(
        msg.contains(&path.display().to_string()),
        "error should name {}: {msg}",
        path.display()
    );
    assert_eq!(err.path(), path);
}

// --- round trips ------------------------------------------------------------------------

#[test]
fn points_round_trip_various_dims() {
    let dir = tmp();
    for (dim, n) in [(1usize, 7usize), (2, 1000), (3, 5), (5, 0)] {
        let path = dir.path().join(format!("p{dim}.parquet"));
        let values = floats(dim * n, dim as u32);
        write_points(&path, dim, &values).unwrap();
        let (d, back) = read_points(&path).unwrap();
        assert_eq!(d, dim);
        assert_eq!(back.len(), values.len());
        // Bit-exact, including the sign of zero.
        assert!(
            back.iter()
                .zip(&values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}

#[test]
fn points_round_trip_multiple_batches_and_special_values() {
    let dir = tmp();
    let path = dir.path().join("big.parquet");
    let mut values = floats(2 * 150_000, 9);
    values[0] = f32::NAN;
    values[1] = f32::INFINITY;
    values[2] = -0.0;
    values[3] = f32::MIN_POSITIVE / 2.0; // subnormal
    write_points(&path, 2, &values).unwrap();
    let (dim, back) = read_points(&path).unwrap();
    assert_eq!(dim, 2);
    assert!(
        back.iter()
            .zip(&values)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn metrics_round_trip_keeps_order_and_special_values() {
    let dir = tmp();
    let path = dir.path().join("metrics.parquet");
    let rows = vec![
        ("w2".to_string(), 0.125),
        ("mmd".to_string(), f64::NAN),
        ("energy".to_string(), f64::INFINITY),
        ("a".to_string(), -1e-300),
    ];
    write_metrics(&path, &rows).unwrap();
    let back = read_metrics(&path).unwrap();
    assert_eq!(back.len(), rows.len());
    for ((n1, v1), (n2, v2)) in back.iter().zip(&rows) {
        assert_eq!(n1, n2);
        assert_eq!(v1.to_bits(), v2.to_bits());
    }
    write_metrics(&path, &[]).unwrap();
    assert!(read_metrics(&path).unwrap().is_empty());
}

#[test]
fn loss_curve_round_trip() {
    let dir = tmp();
    let path = dir.path().join("loss.parquet");
    let losses = floats(2500, 3);
    write_loss_curve(&path, &losses).unwrap();
    assert_eq!(read_loss_curve(&path).unwrap(), losses);
    // Stored steps are 1-based.
    let batches = read_record_batches(&path).unwrap();
    let steps = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(steps.value(0), 1);
    assert_eq!(steps.value(2), 3);
}

#[test]
fn record_batch_round_trip_including_empty() {
    let dir = tmp();
    let path = dir.path().join("t.parquet");
    let b = batch(vec![
        (
            "data",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from(vec!["moons", "moons", "rings"])),
        ),
        (
            "std",
            DataType::Float64,
            true,
            Arc::new(Float64Array::from(vec![Some(0.5), None, Some(1.0)])),
        ),
        (
            "n_runs",
            DataType::UInt64,
            false,
            Arc::new(UInt64Array::from(vec![3u64, 1, 2])),
        ),
    ]);
    write_record_batch(&path, &b).unwrap();
    let back = read_record_batches(&path).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0], b);

    let empty = b.slice(0, 0);
    write_record_batch(&path, &empty).unwrap();
    let back = read_record_batches(&path).unwrap();
    assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

// --- determinism ------------------------------------------------------------------------

fn write_twice(dir: &Path, name: &str, write: impl Fn(&Path)) -> (Vec<u8>, Vec<u8>) {
    let a = dir.join(format!("{name}-a.parquet"));
    let b = dir.join(format!("{name}-b.parquet"));
    write(&a);
    write(&b);
    (fs::read(a).unwrap(), fs::read(b).unwrap())
}

#[test]
fn identical_input_gives_identical_bytes() {
    let dir = tmp();
    let values = floats(2 * 40_000, 1);
    let (a, b) = write_twice(dir.path(), "points", |p| {
        write_points(p, 2, &values).unwrap()
    });
    assert_eq!(a, b);
    assert_eq!(&a[..4], b"PAR1");

    let rows = vec![("w2".to_string(), 0.5), ("mmd".to_string(), 0.25)];
    let (a, b) = write_twice(dir.path(), "metrics", |p| write_metrics(p, &rows).unwrap());
    assert_eq!(a, b);

    let losses = floats(1000, 2);
    let (a, b) = write_twice(dir.path(), "loss", |p| {
        write_loss_curve(p, &losses).unwrap()
    });
    assert_eq!(a, b);

    // Overwriting a file with the same content gives the same bytes too.
    let p = dir.path().join("points-a.parquet");
    let before = fs::read(&p).unwrap();
    write_points(&p, 2, &values).unwrap();
    assert_eq!(fs::read(&p).unwrap(), before);
    // And the digest is stable.
    assert_eq!(file_digest(&p).unwrap(), blake3::hash(&before));
}

#[test]
fn different_input_gives_different_bytes() {
    let dir = tmp();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    write_points(&a, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    write_points(&b, 2, &[1.0, 2.0, 3.0, 4.5]).unwrap();
    assert_ne!(file_digest(&a).unwrap(), file_digest(&b).unwrap());
}

// --- what pandas / polars / pyarrow see --------------------------------------------------

#[test]
fn points_schema_is_what_a_pandas_user_expects() {
    let dir = tmp();
    let path = dir.path().join("p.parquet");
    write_points(&path, 3, &floats(12, 4)).unwrap();

    // The Parquet-level schema (what pyarrow/pandas/polars read without Arrow metadata):
    // exactly three required FLOAT columns x0, x1, x2, and nothing else (no index column).
    let reader = SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 4);
    let schema = meta.file_metadata().schema_descr();
    let names: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(names, ["x0", "x1", "x2"]);
    for c in schema.columns() {
        assert_eq!(c.physical_type(), parquet::basic::Type::FLOAT);
        assert_eq!(c.max_def_level(), 0, "column {} must be non-null", c.name());
    }
    // Only the Arrow schema is stored as key-value metadata (no pandas index metadata, no
    // timestamps or host names that would break determinism).
    let keys: Vec<String> = meta
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().map(|k| k.key.clone()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["ARROW:schema"]);

    // The Arrow view.
    let batches = read_record_batches(&path).unwrap();
    let s = batches[0].schema();
    let arrow_names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(arrow_names, ["x0", "x1", "x2"]);
    assert!(
        s.fields()
            .iter()
            .all(|f| f.data_type() == &DataType::Float32 && !f.is_nullable())
    );
}

#[test]
fn metrics_and_loss_schemas_are_as_documented() {
    let dir = tmp();
    let m = dir.path().join("m.parquet");
    write_metrics(&m, &[("w2".into(), 1.0)]).unwrap();
    let s = read_record_batches(&m).unwrap()[0].schema();
    let got: Vec<(String, DataType, bool)> = s
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(
        got,
        [
            ("metric".to_string(), DataType::Utf8, false),
            ("value".to_string(), DataType::Float64, false)
        ]
    );

    let l = dir.path().join("l.parquet");
    write_loss_curve(&l, &[1.0, 0.5]).unwrap();
    let s = read_record_batches(&l).unwrap()[0].schema();
    let got: Vec<(String, DataType, bool)> = s
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(
        got,
        [
            ("step".to_string(), DataType::UInt64, false),
            ("loss".to_string(), DataType::Float32, false)
        ]
    );
}

#[test]
fn files_written_by_other_tools_are_accepted_when_they_follow_the_schema() {
    let dir = tmp();
    // polars declares columns nullable; that is fine as long as no value is null.
    let p = dir.path().join("polars_points.parquet");
    let b = batch(vec![
        (
            "x0",
            DataType::Float32,
            true,
            Arc::new(Float32Array::from(vec![1.0, 3.0])),
        ),
        (
            "x1",
            DataType::Float32,
            true,
            Arc::new(Float32Array::from(vec![2.0, 4.0])),
        ),
    ]);
    write_record_batch(&p, &b).unwrap();
    assert_eq!(read_points(&p).unwrap(), (2, vec![1.0, 2.0, 3.0, 4.0]));

    // Large strings for metric names.
    let m = dir.path().join("large_metrics.parquet");
    let b = batch(vec![
        (
            "metric",
            DataType::LargeUtf8,
            true,
            Arc::new(LargeStringArray::from(vec!["w2", "mmd"])),
        ),
        (
            "value",
            DataType::Float64,
            true,
            Arc::new(Float64Array::from(vec![0.5, 0.25])),
        ),
    ]);
    write_record_batch(&m, &b).unwrap();
    assert_eq!(
        read_metrics(&m).unwrap(),
        vec![("w2".to_string(), 0.5), ("mmd".to_string(), 0.25)]
    );
}

// --- errors -----------------------------------------------------------------------------

#[test]
fn missing_file_errors_name_the_file() {
    let dir = tmp();
    let path = dir.path().join("nope.parquet");
    for err in [
        read_points(&path).unwrap_err(),
        read_metrics(&path).unwrap_err(),
        read_loss_curve(&path).unwrap_err(),
        read_record_batches(&path).unwrap_err(),
        file_digest(&path).unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err}");
        assert_names_file(&err, &path);
        assert!(message(&err).starts_with("cannot open"), "{err}");
    }
}

#[test]
fn non_parquet_file_is_rejected() {
    let dir = tmp();
    for (name, bytes) in [
        ("text.parquet", b"metric,value\nw2,0.5\n".repeat(10)),
        ("empty.parquet", Vec::new()),
        ("tiny.parquet", b"PAR1".to_vec()),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let err = read_points(&path).unwrap_err();
        assert!(matches!(err, IoError::NotParquet { .. }), "{err:?}");
        assert_names_file(&err, &path);
        assert!(
            message(&err).contains("is not a readable Parquet file"),
            "{err}"
        );
    }
}

#[test]
fn wrong_column_type_is_rejected_with_the_column_named() {
    let dir = tmp();
    let path = dir.path().join("f64.parquet");
    // What pandas writes from a default float64 frame.
    let b = batch(vec![
        (
            "x0",
            DataType::Float64,
            true,
            Arc::new(Float64Array::from(vec![1.0])),
        ),
        (
            "x1",
            DataType::Float64,
            true,
            Arc::new(Float64Array::from(vec![2.0])),
        ),
    ]);
    write_record_batch(&path, &b).unwrap();
    let err = read_points(&path).unwrap_err();
    assert!(matches!(err, IoError::Schema { .. }), "{err:?}");
    assert_names_file(&err, &path);
    let msg = message(&err);
    assert!(
        msg.contains("column `x0` has type Float64, expected Float32"),
        "{msg}"
    );

    // The same file is not a metrics file nor a loss curve.
    let err = read_metrics(&path).unwrap_err();
    assert!(
        message(&err)
            .contains("expected columns [metric, value], found [x0: Float64, x1: Float64]"),
        "{err}"
    );
    let err = read_loss_curve(&path).unwrap_err();
    assert!(matches!(err, IoError::Schema { .. }), "{err:?}");

    // Metrics with an integer value column.
    let m = dir.path().join("int_metrics.parquet");
    let b = batch(vec![
        (
            "metric",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from(vec!["w2"])),
        ),
        (
            "value",
            DataType::UInt64,
            false,
            Arc::new(UInt64Array::from(vec![1u64])),
        ),
    ]);
    write_record_batch(&m, &b).unwrap();
    let err = read_metrics(&m).unwrap_err();
    assert!(
        message(&err).contains("column `value` has type UInt64, expected Float64"),
        "{err}"
    );
}

#[test]
fn wrong_column_names_are_rejected() {
    let dir = tmp();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("renamed", vec!["x", "y"]),
        ("skipped", vec!["x0", "x2"]),
        ("swapped", vec!["x1", "x0"]),
        ("extra", vec!["x0", "x1", "label"]),
    ];
    for (name, cols) in cases {
        let path = dir.path().join(format!("{name}.parquet"));
        let b = batch(
            cols.iter()
                .map(|c| {
                    (
                        *c,
                        DataType::Float32,
                        false,
                        Arc::new(Float32Array::from(vec![0.0f32])) as ArrayRef,
                    )
                })
                .collect(),
        );
        write_record_batch(&path, &b).unwrap();
        let err = read_points(&path).unwrap_err();
        assert!(matches!(err, IoError::Schema { .. }), "{name}: {err:?}");
        assert_names_file(&err, &path);
        assert!(message(&err).contains("expected columns [x0, x1"), "{err}");
    }
}

#[test]
fn nulls_and_bad_steps_are_rejected() {
    let dir = tmp();
    let p = dir.path().join("nulls.parquet");
    let b = batch(vec![(
        "x0",
        DataType::Float32,
        true,
        Arc::new(Float32Array::from(vec![Some(1.0), None])),
    )]);
    write_record_batch(&p, &b).unwrap();
    let err = read_points(&p).unwrap_err();
    assert!(matches!(err, IoError::Data { .. }), "{err:?}");
    assert!(
        message(&err).contains("column `x0` holds 1 null value(s)"),
        "{err}"
    );

    let l = dir.path().join("steps.parquet");
    let b = batch(vec![
        (
            "step",
            DataType::UInt64,
            false,
            Arc::new(UInt64Array::from(vec![1u64, 3])),
        ),
        (
            "loss",
            DataType::Float32,
            false,
            Arc::new(Float32Array::from(vec![1.0f32, 0.5])),
        ),
    ]);
    write_record_batch(&l, &b).unwrap();
    let err = read_loss_curve(&l).unwrap_err();
    assert_names_file(&err, &l);
    assert!(
        message(&err).contains("row 1 holds 3 (expected 2)"),
        "{err}"
    );

    let m = dir.path().join("dup.parquet");
    let b = batch(vec![
        (
            "metric",
            DataType::Utf8,
            false,
            Arc::new(StringArray::from(vec!["w2", "w2"])),
        ),
        (
            "value",
            DataType::Float64,
            false,
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ),
    ]);
    write_record_batch(&m, &b).unwrap();
    let err = read_metrics(&m).unwrap_err();
    assert!(
        message(&err).contains("metric `w2` appears more than once"),
        "{err}"
    );
}

#[test]
fn invalid_writer_input_is_rejected_without_creating_a_file() {
    let dir = tmp();
    let path = dir.path().join("bad.parquet");
    let err = write_points(&path, 0, &[]).unwrap_err();
    assert!(matches!(err, IoError::InvalidInput { .. }), "{err:?}");
    let err = write_points(&path, 2, &[1.0, 2.0, 3.0]).unwrap_err();
    assert!(
        message(&err).contains("3 values do not form rows of dim 2"),
        "{err}"
    );
    assert_names_file(&err, &path);
    let err = write_metrics(&path, &[("a".into(), 1.0), ("a".into(), 2.0)]).unwrap_err();
    assert!(
        message(&err).contains("metric `a` appears more than once"),
        "{err}"
    );
    assert!(!path.exists());
}

// --- atomic writes and digests ----------------------------------------------------------

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn write_atomic_replaces_and_leaves_no_temporaries() {
    let dir = tmp();
    let path = dir.path().join("file.bin");
    write_atomic(&path, b"first").unwrap();
    write_atomic(&path, b"second, longer").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer");
    assert_eq!(entries(dir.path()), std::slice::from_ref(&path));

    let missing_dir = dir.path().join("no/such/dir/file.bin");
    let err = write_atomic(&missing_dir, b"x").unwrap_err();
    assert!(matches!(err, IoError::Fs { .. }), "{err:?}");
    assert!(message(&err).contains("no/such/dir"), "{err}");
    assert_eq!(entries(dir.path()), [path]);
}

#[test]
fn file_digest_matches_blake3_for_small_and_large_files() {
    let dir = tmp();
    for len in [
        0usize,
        1,
        1023,
        (1 << 20) - 1,
        1 << 20,
        (3 << 20) + 123,
        (17 << 20) + 5,
    ] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let path = dir.path().join(format!("f{len}"));
        fs::write(&path, &bytes).unwrap();
        assert_eq!(
            file_digest(&path).unwrap(),
            blake3::hash(&bytes),
            "len {len}"
        );
    }
}

#[test]
fn snapshots_round_trip_and_points_readers_refuse_them() {
    let dir = tmp();
    let path = dir.path().join("snap.parquet");
    let times = [0.0, 0.0, 0.5, 0.5, 2.0, 2.0];
    let values = floats(12, 9);
    drift_io::write_snapshots(&path, 2, &times, &values).unwrap();
    let (dim, t, v) = drift_io::read_snapshots(&path).unwrap();
    assert_eq!((dim, t.as_slice(), v), (2, &times[..], values));
    // A points reader sees the time column and says so.
    let err = read_points(&path).unwrap_err();
    assert_names_file(&err, &path);
    // Mismatched counts are refused before anything is written.
    let bad = dir.path().join("bad.parquet");
    assert!(drift_io::write_snapshots(&bad, 2, &times[..5], &floats(12, 1)).is_err());
    assert!(!bad.exists());
}

#[test]
fn labels_round_trip() {
    let dir = tmp();
    let path = dir.path().join("train_labels.parquet");
    drift_io::write_labels(&path, &[3, 1, 4, 1, 5]).unwrap();
    assert_eq!(drift_io::read_labels(&path).unwrap(), vec![3, 1, 4, 1, 5]);
    let points = dir.path().join("p.parquet");
    write_points(&points, 1, &[1.0]).unwrap();
    assert_names_file(&drift_io::read_labels(&points).unwrap_err(), &points);
}
