//! Unit tests for the metrics: exact identities, symmetry, agreement with naive formulas,
//! thread-count independence and input errors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::*;

fn gaussian(n: usize, dim: usize, shift: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| rng.sample::<f64, _>(StandardNormal) as f32 + shift)
        .collect()
}

fn close(x: f64, y: f64, rel: f64) -> bool {
    (x - y).abs() <= rel * x.abs().max(y.abs()).max(1e-300)
}

#[test]
fn w2_of_a_set_with_itself_is_zero() {
    let a = gaussian(300, 2, 0.0, 1);
    assert_eq!(w2(&a, &a, 2), Ok(0.0));
    // also against a row permutation of itself
    let mut b: Vec<f32> = a.chunks_exact(2).rev().flatten().copied().collect();
    b.rotate_left(2 * 17);
    assert_eq!(w2(&a, &b, 2), Ok(0.0));
}

#[test]
fn w2_of_a_shifted_set_is_the_shift_norm() {
    // Grid points and shift exactly representable in f32, so b - a is exactly the shift.
    let a: Vec<f32> = (0..64)
        .flat_map(|k| [(k % 8) as f32 / 8.0, (k / 8) as f32 / 4.0])
        .collect();
    let b: Vec<f32> = a
        .chunks_exact(2)
        .flat_map(|p| [p[0] + 0.5, p[1] - 0.25])
        .collect();
    let want = (0.5f64 * 0.5 + 0.25 * 0.25).sqrt();
    let got = w2(&a, &b, 2).unwrap();
    assert!(close(got, want, 1e-15), "{got} vs {want}");
    // random cloud, shift applied in f32: agreement to f32 rounding
    let a = gaussian(500, 3, 0.0, 2);
    let b: Vec<f32> = a
        .iter()
        .enumerate()
        .map(|(k, x)| x + [1.0, -2.0, 0.5][k % 3])
        .collect();
    let got = w2(&a, &b, 3).unwrap();
    assert!(close(got, 5.25f64.sqrt(), 1e-6), "{got}");
}

#[test]
fn w2_matches_brute_force() {
    fn permutations(k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(k - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, k - 1);
                out.push(q);
            }
        }
        out
    }
    for (seed, n) in [(3u64, 1usize), (4, 2), (5, 5), (6, 7)] {
        let dim = 3;
        let a = gaussian(n, dim, 0.0, seed);
        let b = gaussian(n, dim, 0.3, seed + 100);
        let best = permutations(n)
            .iter()
            .map(|p| {
                (0..n)
                    .map(|i| {
                        (0..dim)
                            .map(|d| {
                                let e = f64::from(a[i * dim + d]) - f64::from(b[p[i] * dim + d]);
                                e * e
                            })
                            .sum::<f64>()
                    })
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        let want = (best / n as f64).sqrt();
        let got = w2(&a, &b, dim).unwrap();
        assert!(close(got, want, 1e-12), "n={n}: {got} vs {want}");
    }
}

#[test]
fn metrics_are_symmetric() {
    let a = gaussian(400, 2, 0.0, 7);
    let b = gaussian(400, 2, 0.7, 8);
    let c = gaussian(250, 2, 0.7, 9);
    let (ab, ba) = (w2(&a, &b, 2).unwrap(), w2(&b, &a, 2).unwrap());
    assert!(close(ab, ba, 1e-12), "{ab} {ba}");
    let (ab, ba) = (
        sliced_w2(&a, &b, 2, 64, 1).unwrap(),
        sliced_w2(&b, &a, 2, 64, 1).unwrap(),
    );
    assert!(close(ab, ba, 1e-12), "{ab} {ba}");
    let (ac, ca) = (mmd(&a, &c, 2).unwrap(), mmd(&c, &a, 2).unwrap());
    assert!(close(ac, ca, 1e-12), "{ac} {ca}");
}

#[test]
fn sliced_is_exact_w2_in_one_dimension_and_bounded_by_w2() {
    let a = gaussian(300, 1, 0.0, 10);
    let b = gaussian(300, 1, 1.5, 11);
    let exact = w2(&a, &b, 1).unwrap();
    for dir in [[1.0], [-1.0]] {
        let s = sliced_w2_with_directions(&a, &b, 1, &dir).unwrap();
        assert!(close(s, exact, 1e-12), "{s} vs {exact}");
    }
    let a = gaussian(300, 4, 0.0, 12);
    let b = gaussian(300, 4, 0.5, 13);
    let exact = w2(&a, &b, 4).unwrap();
    let s = sliced_w2(&a, &b, 4, 256, 3).unwrap();
    assert!(s <= exact, "sliced {s} > exact {exact}");
    // A pure shift t: every direction u gives (t.u)^2; E[(t.u)^2] = |t|^2 / dim.
    let shifted: Vec<f32> = a.iter().map(|x| x + 1.0).collect();
    let s = sliced_w2(&a, &shifted, 4, 4096, 3).unwrap();
    assert!((s - 1.0).abs() < 0.03, "{s}");
}

#[test]
fn sliced_directions_are_seeded_unit_vectors() {
    let d1 = sliced_directions(5, 10, 42);
    let d2 = sliced_directions(5, 10, 42);
    let d3 = sliced_directions(5, 10, 43);
    assert_eq!(d1, d2);
    assert_ne!(d1, d3);
    for d in d1.chunks_exact(5) {
        let norm: f64 = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-15);
    }
    // the seeded form is the explicit form with these directions
    let a = gaussian(100, 5, 0.0, 1);
    let b = gaussian(100, 5, 0.2, 2);
    assert_eq!(
        sliced_w2(&a, &b, 5, 10, 42),
        sliced_w2_with_directions(&a, &b, 5, &d1)
    );
}

/// Naive O(n^2) MMD^2 straight from the definition (no symmetry shortcut).
fn naive_mmd(a: &[f32], b: &[f32], dim: usize) -> f64 {
    let k = |x: &[f32], y: &[f32]| -> f64 {
        let d2: f64 = x
            .iter()
            .zip(y)
            .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
            .sum();
        MMD_SIGMAS.iter().map(|s| (-d2 / (2.0 * s * s)).exp()).sum()
    };
    let (ra, rb): (Vec<_>, Vec<_>) = (a.chunks(dim).collect(), b.chunks(dim).collect());
    let (n, m) = (ra.len() as f64, rb.len() as f64);
    let mut saa = 0.0;
    for (i, x) in ra.iter().enumerate() {
        for (j, y) in ra.iter().enumerate() {
            if i != j {
                saa += k(x, y);
            }
        }
    }
    let mut sbb = 0.0;
    for (i, x) in rb.iter().enumerate() {
        for (j, y) in rb.iter().enumerate() {
            if i != j {
                sbb += k(x, y);
            }
        }
    }
    let mut sab = 0.0;
    for x in &ra {
        for y in &rb {
            sab += k(x, y);
        }
    }
    saa / (n * (n - 1.0)) + sbb / (m * (m - 1.0)) - 2.0 * sab / (n * m)
}

#[test]
fn mmd_matches_the_naive_definition() {
    let a = gaussian(120, 2, 0.0, 20);
    let b = gaussian(77, 2, 0.4, 21);
    let got = mmd(&a, &b, 2).unwrap();
    let want = naive_mmd(&a, &b, 2);
    assert!(close(got, want, 1e-10), "{got} vs {want}");
    // the smallest sizes allowed
    let got = mmd(&a[..4], &b[..4], 2).unwrap();
    assert!(close(got, naive_mmd(&a[..4], &b[..4], 2), 1e-12));
}

#[test]
fn mmd_is_near_zero_for_the_same_distribution() {
    let a = gaussian(1500, 2, 0.0, 30);
    let b = gaussian(1500, 2, 0.0, 31);
    let c = gaussian(1500, 2, 0.5, 32);
    let same = mmd(&a, &b, 2).unwrap();
    let different = mmd(&a, &c, 2).unwrap();
    assert!(same.abs() < 5e-3, "{same}");
    assert!(
        different > 20.0 * same.abs().max(1e-4),
        "{different} vs {same}"
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let a = gaussian(600, 2, 0.0, 40);
    let b = gaussian(600, 2, 0.3, 41);
    let c = gaussian(450, 2, 0.3, 42);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| {
                [
                    w2(&a, &b, 2).unwrap(),
                    sliced_w2(&a, &b, 2, 100, 5).unwrap(),
                    mmd(&a, &c, 2).unwrap(),
                ]
                .map(f64::to_bits)
            })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(8));
}

#[test]
fn bad_inputs_are_errors() {
    let a = gaussian(10, 2, 0.0, 50);
    let b = gaussian(11, 2, 0.0, 51);
    assert_eq!(
        w2(&a, &b, 2),
        Err(MetricError::SizeMismatch {
            metric: "w2",
            n_a: 10,
            n_b: 11
        })
    );
    assert!(matches!(
        sliced_w2(&a, &b, 2, 8, 0),
        Err(MetricError::SizeMismatch {
            metric: "sliced_w2",
            ..
        })
    ));
    assert!(mmd(&a, &b, 2).is_ok());
    assert_eq!(w2(&a, &a, 0), Err(MetricError::ZeroDimension));
    assert_eq!(
        w2(&a[..3], &a[..3], 2),
        Err(MetricError::RaggedInput {
            set: "a",
            len: 3,
            dim: 2
        })
    );
    assert_eq!(
        w2(&[], &[], 2),
        Err(MetricError::TooFewPoints {
            set: "a",
            n: 0,
            min: 1
        })
    );
    assert_eq!(
        mmd(&a, &b[..2], 2),
        Err(MetricError::TooFewPoints {
            set: "b",
            n: 1,
            min: 2
        })
    );
    let mut bad = a.clone();
    bad[7] = f32::NAN;
    assert_eq!(
        w2(&a, &bad, 2),
        Err(MetricError::NonFinite { set: "b", row: 3 })
    );
    bad[7] = f32::INFINITY;
    assert_eq!(
        mmd(&bad, &b, 2),
        Err(MetricError::NonFinite { set: "a", row: 3 })
    );
    let msg = sliced_w2(&bad, &a, 2, 4, 0).unwrap_err().to_string();
    assert!(msg.contains("row 3"), "{msg}");
    assert_eq!(sliced_w2(&a, &a, 2, 0, 0), Err(MetricError::NoDirections));
    assert_eq!(
        sliced_w2_with_directions(&a, &a, 2, &[1.0, 0.0, 0.0]),
        Err(MetricError::RaggedDirections { len: 3, dim: 2 })
    );
    assert!(matches!(
        sliced_w2_with_directions(&a, &a, 2, &[1.0, 0.0, 1.0, 1.0]),
        Err(MetricError::NonUnitDirection { index: 1, .. })
    ));
    assert!(matches!(
        sliced_w2_with_directions(&a, &a, 2, &[f64::NAN, 0.0]),
        Err(MetricError::NonUnitDirection { index: 0, .. })
    ));
    assert!(matches!(
        mmd_with_sigmas(&a, &b, 2, &[1.0, -1.0]),
        Err(MetricError::InvalidBandwidths { .. })
    ));
    assert!(matches!(
        mmd_with_sigmas(&a, &b, 2, &[]),
        Err(MetricError::InvalidBandwidths { .. })
    ));
    assert!(matches!(
        mmd_with_sigmas(&a, &b, 2, &[1.0, 1e-200]),
        Err(MetricError::InvalidBandwidths { .. })
    ));
}

#[test]
fn catalogue_lists_the_metrics() {
    let cat = catalogue();
    let names: Vec<_> = cat.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "w2",
            "sliced_w2",
            "mmd",
            "w1",
            "sliced_w1",
            "mmd_linear",
            "mmd_poly",
            "energy_distance",
            "mean_error",
            "median_error",
            "knn_precision",
            "knn_recall",
            "mode_coverage",
            "off_mode_fraction",
            "straightness",
            "path_energy",
            "fd",
        ]
    );
    for m in &cat {
        assert!(!m.definition.is_empty(), "{}", m.name);
    }
    let sliced = &cat[1];
    assert!(
        sliced
            .params
            .iter()
            .any(|(p, d)| *p == "projections" && d.contains("256"))
    );
    assert_eq!(SLICED_W2_DEFAULT_PROJECTIONS, 256);
}
