//! drift-remote against real stores: a moto S3 server on loopback (skipped when moto is not
//! installed, except under CI) and a file:// directory (always), through the same scenarios.

mod support;

use drift_cache::{Cache, EntryCheck};
use drift_remote::{Pushed, Remote};
use std::sync::Arc;
use support::{Moto, Raw, TempDir, bytes, entry, tmp_count};

/// A remote plus raw access to its objects.
struct Target {
    remote: Remote,
    raw: Raw,
    _moto: Option<Moto>,
    _dir: Option<TempDir>,
}

fn s3_target(test: &str, bucket: &str) -> Option<Target> {
    let moto = Moto::start(test)?;
    moto.create_bucket(bucket);
    let remote =
        Remote::open_with_options(&format!("s3://{bucket}/team/cache"), &moto.options()).unwrap();
    let raw = moto.raw(bucket, "team/cache/");
    Some(Target {
        remote,
        raw,
        _moto: Some(moto),
        _dir: None,
    })
}

fn file_target() -> Target {
    let dir = TempDir::new("file-remote");
    let root = dir.0.join("shared remote");
    let url = format!("file://{}", root.display());
    let remote = Remote::open(&url).unwrap();
    let store = object_store::local::LocalFileSystem::new_with_prefix(&root).unwrap();
    Target {
        remote,
        raw: Raw::new(Arc::new(store), ""),
        _moto: None,
        _dir: Some(dir),
    }
}

/// (a) Two machines, two caches, one remote: an entry computed on A is pulled by B byte for byte.
fn two_machines(t: &Target) {
    let (a_dir, b_dir) = (TempDir::new("a"), TempDir::new("b"));
    let a = Cache::open(&a_dir.0).unwrap();
    let b = Cache::open(&b_dir.0).unwrap();
    let small = bytes("small", 3 * 1024);
    let big = bytes("big", (10 << 20) + 123); // multipart upload
    let (key, _) = entry(
        &a,
        1,
        &[("points.parquet", &small), ("model.safetensors", &big)],
    );
    assert!(!t.remote.contains(&key).unwrap());
    assert_eq!(t.remote.pull(&b, &key).unwrap().map(|m| m.key), None);

    let pushed = t.remote.push(&a, &key).unwrap();
    assert_eq!(
        pushed,
        Pushed {
            files_sent: 2,
            bytes_sent: (small.len() + big.len()) as u64,
            already_present: false
        }
    );
    assert!(t.remote.contains(&key).unwrap());
    assert_eq!(t.remote.keys().unwrap(), vec![key]);
    let objects = t.raw.list();
    assert_eq!(objects.len(), 3, "{objects:?}");
    assert!(objects.contains(&format!("v1/entries/{}.json", key.hex())));

    let pulled = t.remote.pull(&b, &key).unwrap().expect("B finds A's entry");
    assert_eq!(pulled.key, key);
    assert_eq!(
        b.manifest_bytes(&key).unwrap(),
        a.manifest_bytes(&key).unwrap()
    );
    for name in ["points.parquet", "model.safetensors"] {
        assert_eq!(
            std::fs::read(b.entry_dir(&key).join(name)).unwrap(),
            std::fs::read(a.entry_dir(&key).join(name)).unwrap(),
            "{name}"
        );
    }
    assert!(matches!(b.check_entry(&key, true), EntryCheck::Complete(_)));
    assert_eq!(tmp_count(&b), 0);
    // Found locally now: pulling again changes nothing.
    assert_eq!(
        t.remote.pull(&b, &key).unwrap().unwrap().output,
        pulled.output
    );
    assert_eq!(b.keys().unwrap(), vec![key]);
}

/// (b) Pushing is idempotent and content-addressed; one Remote serves many threads.
fn idempotent_and_shared_blobs(t: &Target) {
    let (a_dir, b_dir) = (TempDir::new("a"), TempDir::new("b"));
    let a = Cache::open(&a_dir.0).unwrap();
    let b = Cache::open(&b_dir.0).unwrap();
    let shared = bytes("shared", 50_000);
    let (one, _) = entry(&a, 2, &[("shared.bin", &shared), ("a.bin", b"only in one")]);
    let first = t.remote.push(&a, &one).unwrap();
    assert_eq!((first.files_sent, first.already_present), (2, false));
    let again = t.remote.push(&a, &one).unwrap();
    assert_eq!(
        again,
        Pushed {
            files_sent: 0,
            bytes_sent: 0,
            already_present: true
        }
    );
    // A second entry sharing a file sends only its own; equal files in one entry go once.
    let (two, _) = entry(&a, 3, &[("shared.bin", &shared), ("b.bin", b"only in two")]);
    let second = t.remote.push(&a, &two).unwrap();
    assert_eq!(
        second,
        Pushed {
            files_sent: 1,
            bytes_sent: 11,
            already_present: false
        }
    );
    let (three, _) = entry(&a, 4, &[("x.bin", b"twice"), ("y.bin", b"twice")]);
    assert_eq!(t.remote.push(&a, &three).unwrap().files_sent, 1);
    let blobs = t
        .raw
        .list()
        .into_iter()
        .filter(|o| o.starts_with("v1/blobs/"))
        .count();
    assert_eq!(blobs, 4, "shared, a, b, twice");
    let mut keys = vec![one, two, three];
    keys.sort();
    assert_eq!(t.remote.keys().unwrap(), keys);

    // Three threads pull through the same Remote at once.
    let pulled: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| s.spawn(|| t.remote.pull(&b, k).unwrap().unwrap().key))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(pulled, keys);
    for k in &keys {
        assert!(matches!(b.check_entry(k, true), EntryCheck::Complete(_)));
    }
}

/// (c) Blobs without their manifest (an interrupted push) are not an entry.
fn partial_upload_is_invisible(t: &Target) {
    let (a_dir, b_dir) = (TempDir::new("a"), TempDir::new("b"));
    let a = Cache::open(&a_dir.0).unwrap();
    let b = Cache::open(&b_dir.0).unwrap();
    let (key, _) = entry(&a, 5, &[("f.bin", &bytes("f", 4096)), ("g.bin", b"g")]);
    t.remote.push(&a, &key).unwrap();
    t.raw.delete(&format!("v1/entries/{}.json", key.hex()));
    assert_eq!(t.raw.list().len(), 2, "the blobs are still there");
    assert!(!t.remote.contains(&key).unwrap());
    assert!(t.remote.pull(&b, &key).unwrap().is_none());
    assert!(!t.remote.keys().unwrap().contains(&key));
    assert!(!b.has_entry_dir(&key));
    assert_eq!(tmp_count(&b), 0);
    // Pushing again completes it without sending the blobs again.
    let resumed = t.remote.push(&a, &key).unwrap();
    assert_eq!((resumed.files_sent, resumed.already_present), (0, false));
    assert!(t.remote.contains(&key).unwrap());
    assert!(t.remote.pull(&b, &key).unwrap().is_some());
}

/// (d) A damaged blob fails the pull and leaves nothing in the puller's cache.
fn corrupted_blob_is_refused(t: &Target) {
    let (a_dir, b_dir) = (TempDir::new("a"), TempDir::new("b"));
    let a = Cache::open(&a_dir.0).unwrap();
    let b = Cache::open(&b_dir.0).unwrap();
    let good = bytes("good", 20_000);
    let (key, manifest) = entry(&a, 6, &[("ok.bin", b"fine"), ("samples.parquet", &good)]);
    t.remote.push(&a, &key).unwrap();
    let digest = manifest.files["samples.parquet"].digest.hex();
    let mut bad = good.clone();
    bad[777] ^= 0xff;
    t.raw.put(&format!("v1/blobs/{digest}"), bad);
    let err = t.remote.pull(&b, &key).unwrap_err().to_string();
    for part in [
        digest.as_str(),
        "samples.parquet",
        &key.hex(),
        t.remote.url(),
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    assert!(b.lookup(&key).is_none());
    assert!(!b.has_entry_dir(&key));
    assert_eq!(tmp_count(&b), 0);
    // A truncated blob is refused too.
    t.raw
        .put(&format!("v1/blobs/{digest}"), good[..100].to_vec());
    let err = t.remote.pull(&b, &key).unwrap_err().to_string();
    assert!(err.contains("100 bytes"), "{err}");
    assert_eq!(tmp_count(&b), 0);
    assert!(!b.has_entry_dir(&key));
    // Once the blob is right again, the pull goes through.
    t.raw.put(&format!("v1/blobs/{digest}"), good);
    assert!(t.remote.pull(&b, &key).unwrap().is_some());
    assert!(matches!(b.check_entry(&key, true), EntryCheck::Complete(_)));
}

#[test]
fn s3_two_machines_share_results() {
    if let Some(t) = s3_target("s3_two_machines_share_results", "drift-a") {
        two_machines(&t);
    }
}

#[test]
fn s3_push_is_idempotent_and_content_addressed() {
    if let Some(t) = s3_target("s3_push_is_idempotent_and_content_addressed", "drift-b") {
        idempotent_and_shared_blobs(&t);
    }
}

#[test]
fn s3_partial_upload_is_invisible() {
    if let Some(t) = s3_target("s3_partial_upload_is_invisible", "drift-c") {
        partial_upload_is_invisible(&t);
    }
}

#[test]
fn s3_corrupted_blob_is_refused() {
    if let Some(t) = s3_target("s3_corrupted_blob_is_refused", "drift-d") {
        corrupted_blob_is_refused(&t);
    }
}

#[test]
fn s3_missing_bucket_is_an_error_with_a_hint() {
    let Some(moto) = Moto::start("s3_missing_bucket_is_an_error_with_a_hint") else {
        return;
    };
    let remote = Remote::open_with_options("s3://no-such-bucket/p", &moto.options()).unwrap();
    let key = support::components(1).key();
    let err = remote.contains(&key).unwrap_err().to_string();
    assert!(err.contains("does the bucket exist?"), "{err}");
    assert!(
        err.contains(&key.hex()) && err.contains("s3://no-such-bucket/p"),
        "{err}"
    );
    let err = remote.keys().unwrap_err().to_string();
    assert!(err.contains("does the bucket exist?"), "{err}");
}

#[test]
fn file_remote_round_trip() {
    two_machines(&file_target());
    idempotent_and_shared_blobs(&file_target());
    partial_upload_is_invisible(&file_target());
    corrupted_blob_is_refused(&file_target());
}

#[test]
fn bad_url_scheme_lists_the_accepted_ones() {
    let err = Remote::open("ftp://host/cache").unwrap_err().to_string();
    for scheme in ["ftp://", "s3://", "gs://", "az://", "file://"] {
        assert!(err.contains(scheme), "{scheme} missing from: {err}");
    }
    let err = Remote::open("not a url").unwrap_err().to_string();
    assert!(err.contains("s3://bucket/prefix"), "{err}");
}

#[test]
fn unreachable_endpoint_is_reported_quickly_with_a_hint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let remote = Remote::open_with_options(
        "s3://bucket/prefix",
        &[
            ("aws_access_key_id", "k"),
            ("aws_secret_access_key", "s"),
            ("aws_region", "us-east-1"),
            ("aws_endpoint", &endpoint),
            ("aws_allow_http", "true"),
        ],
    )
    .unwrap();
    let key = support::components(9).key();
    let started = std::time::Instant::now();
    let err = remote.contains(&key).unwrap_err().to_string();
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
    for part in [
        "is the endpoint reachable?",
        "s3://bucket/prefix",
        &key.hex(),
        &format!("prefix/v1/entries/{}.json", key.hex()),
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn pushing_a_missing_or_damaged_local_entry_fails_clearly() {
    let t = file_target();
    let dir = TempDir::new("a");
    let a = Cache::open(&dir.0).unwrap();
    let key = support::components(10).key();
    let err = t.remote.push(&a, &key).unwrap_err().to_string();
    assert!(
        err.contains(&key.hex()) && err.contains("run the stage first"),
        "{err}"
    );
    // Same size, other content: refused before anything is committed on the remote.
    let (key, _) = entry(&a, 11, &[("f.bin", b"abcdef")]);
    std::fs::write(a.entry_dir(&key).join("f.bin"), b"abcdeF").unwrap();
    let err = t.remote.push(&a, &key).unwrap_err().to_string();
    assert!(
        err.contains("f.bin") && err.contains("recorded digest"),
        "{err}"
    );
    assert!(!t.remote.contains(&key).unwrap());
    assert!(t.raw.list().is_empty(), "{:?}", t.raw.list());
}
