//! Ignored bench-style measurements of drift-io throughput; run them in release with
//! `cargo test --release -p drift-io --test throughput -- --ignored --nocapture`.
//! `BENCH_DIR=/dev/shm` writes the points file to memory (no disk and fsync in the figure).

use std::fs;
use std::time::{Duration, Instant};

use drift_io::{file_digest, read_points, write_points};

const REPEATS: usize = 5;

fn best_of(mut f: impl FnMut()) -> Duration {
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one repeat")
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn points_write_read_throughput_1m_x_2() {
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let path = dir.path().join("points.parquet");
    let n = 1_000_000usize;
    let dim = 2usize;
    let mut state = 0x9E37_79B9u32;
    let values: Vec<f32> = (0..n * dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 8.0 - 4.0
        })
        .collect();
    let raw = values.len() * 4;

    let w = best_of(|| write_points(&path, dim, &values).unwrap());
    let size = fs::metadata(&path).unwrap().len();
    let mut back = Vec::new();
    let r = best_of(|| back = read_points(&path).unwrap().1);
    assert_eq!(back, values);
    println!(
        "points 1M x 2 f32 ({:.1} MiB raw, file {:.1} MiB): write {:.1} ms ({:.0} MiB/s, {:.1} Mpoints/s), read {:.1} ms ({:.0} MiB/s, {:.1} Mpoints/s) [best of {REPEATS}]",
        raw as f64 / 1048576.0,
        size as f64 / 1048576.0,
        w.as_secs_f64() * 1e3,
        mib_per_s(raw, w),
        n as f64 / w.as_secs_f64() / 1e6,
        r.as_secs_f64() * 1e3,
        mib_per_s(raw, r),
        n as f64 / r.as_secs_f64() / 1e6,
    );
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn blake3_digest_throughput_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob.bin");
    let len = 64usize << 20;
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&path, &bytes).unwrap();
    let expected = blake3::hash(&bytes);

    let single = best_of(|| assert_eq!(blake3::hash(&bytes), expected));
    let mut got = None;
    let file = best_of(|| got = Some(file_digest(&path).unwrap()));
    assert_eq!(got, Some(expected));
    println!(
        "blake3 64 MiB: file_digest (page-cached file, chunked read + update_rayon, {} rayon threads) {:.1} ms = {:.0} MiB/s; in-memory single-thread blake3::hash {:.1} ms = {:.0} MiB/s [best of {REPEATS}]",
        rayon_threads(),
        file.as_secs_f64() * 1e3,
        mib_per_s(len, file),
        single.as_secs_f64() * 1e3,
        mib_per_s(len, single),
    );
}

fn rayon_threads() -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_else(|_| "?".into())
    })
}
