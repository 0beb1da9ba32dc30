//! Unit tests for the metrics added after w2 / sliced_w2 / mmd: definitions against naive
//! formulas, identities, edge cases, input errors, thread-count independence, and `mmd`'s
//! blocked, vectorised evaluation against the original one-pair-at-a-time code.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::*;

fn gaussian(n: usize, dim: usize, scale: f64, shift: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| (rng.sample::<f64, _>(StandardNormal) * scale + shift) as f32)
        .collect()
}

fn close(x: f64, y: f64, rel: f64) -> bool {
    (x - y).abs() <= rel * x.abs().max(y.abs()).max(1e-300)
}

fn pts(p: &[f32], dim: usize) -> Vec<Vec<f64>> {
    p.chunks(dim)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

fn dist(x: &[f64], y: &[f64]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        .sqrt()
}

/// The `mmd_with_sigmas` of the original implementation (libm `exp`, exponent by division,
/// rows summed strictly in column order), verbatim in its arithmetic.
fn original_mmd(a: &[f32], b: &[f32], dim: usize, sigmas: &[f64]) -> f64 {
    let denominators: Vec<f64> = sigmas.iter().map(|s| 2.0 * s * s).collect();
    let sq =
        |x: &[f64], y: &[f64]| -> f64 { x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum() };
    let kernel = |x: &[f64], y: &[f64]| -> f64 {
        let d2 = sq(x, y);
        denominators
            .iter()
            .map(|den| {
                let t = -d2 / den;
                if t < -746.0 { 0.0 } else { t.exp() }
            })
            .sum()
    };
    let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let (a, b) = (widen(a), widen(b));
    let within = |p: &[f64]| -> f64 {
        let rows: Vec<&[f64]> = p.chunks_exact(dim).collect();
        let partial: Vec<f64> = (0..rows.len())
            .map(|i| rows[i + 1..].iter().map(|y| kernel(rows[i], y)).sum())
            .collect();
        2.0 * partial.iter().sum::<f64>()
    };
    let kaa = within(&a);
    let kbb = within(&b);
    let cross: Vec<f64> = a
        .chunks_exact(dim)
        .map(|x| b.chunks_exact(dim).map(|y| kernel(x, y)).sum())
        .collect();
    let kab = cross.iter().sum::<f64>();
    let (n, m) = ((a.len() / dim) as f64, (b.len() / dim) as f64);
    kaa / (n * (n - 1.0)) + kbb / (m * (m - 1.0)) - 2.0 * kab / (n * m)
}

#[test]
fn mmd_agrees_with_the_original_evaluation() {
    let mut duplicated = gaussian(40, 2, 1.0, 0.0, 5);
    duplicated.extend_from_slice(&duplicated.clone()[..30]);
    let cases: Vec<(Vec<f32>, Vec<f32>, usize)> = vec![
        (
            gaussian(37, 2, 1.0, 0.0, 1),
            gaussian(53, 2, 1.0, 0.3, 2),
            2,
        ),
        (
            gaussian(203, 2, 1.0, 0.0, 3),
            gaussian(150, 2, 0.7, 0.5, 4),
            2,
        ),
        (
            gaussian(129, 1, 1.0, 0.0, 6),
            gaussian(64, 1, 2.0, 0.0, 7),
            1,
        ),
        (
            gaussian(100, 3, 1.0, 0.0, 8),
            gaussian(100, 3, 1.0, 0.1, 9),
            3,
        ),
        (
            gaussian(90, 9, 1.0, 0.0, 10),
            gaussian(70, 9, 1.0, 0.2, 11),
            9,
        ),
        // tight clusters: every bandwidth matters
        (
            gaussian(120, 2, 0.02, 0.0, 12),
            gaussian(80, 2, 0.03, 0.01, 13),
            2,
        ),
        // far apart: most terms underflow
        (
            gaussian(60, 2, 300.0, 0.0, 14),
            gaussian(60, 2, 300.0, 50.0, 15),
            2,
        ),
        // repeated points (zero distances)
        (duplicated, gaussian(33, 2, 1.0, 0.0, 16), 2),
        (vec![0.5; 2 * 20], vec![0.25; 2 * 17], 2),
    ];
    // Only rounding differs: ulp-level differences in the kernel averages (of size ~1 to 5),
    // so absolute differences of a few 1e-16, whatever the (possibly tiny) value.
    let mut worst = 0.0f64;
    for (k, (a, b, dim)) in cases.iter().enumerate() {
        for sigmas in [&MMD_SIGMAS[..], &[0.05, 0.7, 3.0][..]] {
            let got = mmd_with_sigmas(a, b, *dim, sigmas).unwrap();
            let want = original_mmd(a, b, *dim, sigmas);
            let diff = (got - want).abs();
            worst = worst.max(diff);
            assert!(diff <= 1e-14, "case {k} {sigmas:?}: {got:e} vs {want:e}");
        }
    }
    eprintln!("mmd vs the original evaluation: largest absolute difference {worst:e}");
}

#[test]
fn w1_matches_brute_force_and_one_dimensional_sorting() {
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
        let a = gaussian(n, dim, 1.0, 0.0, seed);
        let b = gaussian(n, dim, 1.0, 0.3, seed + 100);
        let (pa, pb) = (pts(&a, dim), pts(&b, dim));
        let best = permutations(n)
            .iter()
            .map(|p| (0..n).map(|i| dist(&pa[i], &pb[p[i]])).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        let got = w1(&a, &b, dim).unwrap();
        assert!(close(got, best / n as f64, 1e-12), "n={n}: {got}");
    }
    // 1D: the sorted matching is optimal
    let a = gaussian(500, 1, 1.0, 0.0, 20);
    let b = gaussian(500, 1, 2.0, 0.5, 21);
    let (mut sa, mut sb) = (pts(&a, 1), pts(&b, 1));
    sa.sort_by(|x, y| x[0].total_cmp(&y[0]));
    sb.sort_by(|x, y| x[0].total_cmp(&y[0]));
    let want = sa
        .iter()
        .zip(&sb)
        .map(|(x, y)| (x[0] - y[0]).abs())
        .sum::<f64>()
        / 500.0;
    let got = w1(&a, &b, 1).unwrap();
    assert!(close(got, want, 1e-12), "{got} vs {want}");
    let sliced = sliced_w1_with_directions(&a, &b, 1, &[1.0]).unwrap();
    assert!(close(sliced, want, 1e-12), "{sliced} vs {want}");
}

#[test]
fn w1_identities() {
    let a = gaussian(300, 2, 1.0, 0.0, 30);
    assert_eq!(w1(&a, &a, 2), Ok(0.0));
    let mut perm: Vec<f32> = a.chunks_exact(2).rev().flatten().copied().collect();
    perm.rotate_left(2 * 11);
    assert_eq!(w1(&a, &perm, 2), Ok(0.0));
    // a translation by s moves every point by |s|, and W1 of a translation is |s|
    let grid: Vec<f32> = (0..64)
        .flat_map(|k| [(k % 8) as f32 / 8.0, (k / 8) as f32 / 4.0])
        .collect();
    let moved: Vec<f32> = grid
        .chunks_exact(2)
        .flat_map(|p| [p[0] + 0.75, p[1] - 1.0])
        .collect();
    let got = w1(&grid, &moved, 2).unwrap();
    assert!(close(got, 1.25, 1e-15), "{got}");
    // symmetric, and below W2 (Jensen)
    let b = gaussian(300, 2, 1.3, 0.4, 31);
    let (ab, ba) = (w1(&a, &b, 2).unwrap(), w1(&b, &a, 2).unwrap());
    assert!(close(ab, ba, 1e-12), "{ab} {ba}");
    assert!(ab <= w2(&a, &b, 2).unwrap());
    // more than the multiscale threshold, with heavy ties: still a valid optimum
    let c: Vec<f32> = (0..2 * 700).map(|k| (k % 3) as f32).collect();
    let d = gaussian(700, 2, 1.0, 0.0, 32);
    let got = w1(&c, &d, 2).unwrap();
    assert!(got > 0.0 && got <= w2(&c, &d, 2).unwrap());
}

#[test]
fn sliced_w1_uses_the_sliced_w2_directions() {
    let a = gaussian(200, 3, 1.0, 0.0, 40);
    let b = gaussian(200, 3, 1.0, 0.5, 41);
    let directions = sliced_directions(3, 16, 9);
    assert_eq!(
        sliced_w1(&a, &b, 3, 16, 9),
        sliced_w1_with_directions(&a, &b, 3, &directions)
    );
    let s1 = sliced_w1(&a, &b, 3, 64, 2).unwrap();
    let s2 = sliced_w2(&a, &b, 3, 64, 2).unwrap();
    assert!(s1 <= s2 && s1 > 0.0, "{s1} {s2}");
    assert_eq!(sliced_w1(&a, &a, 3, 8, 0), Ok(0.0));
    let (ab, ba) = (
        sliced_w1(&a, &b, 3, 32, 1).unwrap(),
        sliced_w1(&b, &a, 3, 32, 1).unwrap(),
    );
    assert!(close(ab, ba, 1e-12));
    assert!(matches!(
        sliced_w1(&a, &b[..3 * 150], 3, 8, 0),
        Err(MetricError::SizeMismatch {
            metric: "sliced_w1",
            ..
        })
    ));
    assert_eq!(sliced_w1(&a, &b, 3, 0, 0), Err(MetricError::NoDirections));
    assert!(matches!(
        sliced_w1_with_directions(&a, &b, 3, &[1.0, 1.0, 0.0]),
        Err(MetricError::NonUnitDirection { index: 0, .. })
    ));
}

fn naive_unbiased(a: &[f32], b: &[f32], dim: usize, k: impl Fn(&[f64], &[f64]) -> f64) -> f64 {
    let (pa, pb) = (pts(a, dim), pts(b, dim));
    let (n, m) = (pa.len() as f64, pb.len() as f64);
    let mut saa = 0.0;
    for (i, x) in pa.iter().enumerate() {
        for (j, y) in pa.iter().enumerate() {
            if i != j {
                saa += k(x, y);
            }
        }
    }
    let mut sbb = 0.0;
    for (i, x) in pb.iter().enumerate() {
        for (j, y) in pb.iter().enumerate() {
            if i != j {
                sbb += k(x, y);
            }
        }
    }
    let sab: f64 = pa.iter().flat_map(|x| pb.iter().map(|y| k(x, y))).sum();
    saa / (n * (n - 1.0)) + sbb / (m * (m - 1.0)) - 2.0 * sab / (n * m)
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(p, q)| p * q).sum()
}

#[test]
fn mmd_linear_is_the_u_statistic_and_translation_invariant() {
    let a = gaussian(120, 3, 1.0, 0.0, 50);
    let b = gaussian(77, 3, 1.2, 0.4, 51);
    let got = mmd_linear(&a, &b, 3).unwrap();
    let want = naive_unbiased(&a, &b, 3, dot);
    // the naive form cancels terms of size ~1; compare on that scale
    assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    assert!(got > 0.3, "{got}");
    let shift = |p: &[f32]| -> Vec<f32> { p.iter().map(|x| x + 1000.0).collect() };
    let shifted = mmd_linear(&shift(&a), &shift(&b), 3).unwrap();
    // shifting in f32 moves coordinates by up to half an f32 ulp of 1000 (3e-5)
    assert!((shifted - got).abs() < 1e-3, "{shifted} vs {got}");
    // biased form: |mean difference|^2 = unbiased + s_a^2 / n + s_b^2 / m
    let e = mean_error(&a, &b, 3).unwrap();
    let var = |p: &[f32], count: f64| -> f64 {
        let rows = pts(p, 3);
        let mean: Vec<f64> = (0..3)
            .map(|d| rows.iter().map(|r| r[d]).sum::<f64>() / count)
            .collect();
        rows.iter().map(|r| dist(r, &mean).powi(2)).sum::<f64>() / (count - 1.0)
    };
    let biased = got + var(&a, 120.0) / 120.0 + var(&b, 77.0) / 77.0;
    assert!(close(e * e, biased, 1e-12), "{} vs {biased}", e * e);
    assert!(matches!(
        mmd_linear(&a[..3], &b, 3),
        Err(MetricError::TooFewPoints { set: "a", .. })
    ));
}

#[test]
fn mmd_poly_matches_its_definition() {
    let a = gaussian(90, 4, 1.0, 0.0, 60);
    let b = gaussian(61, 4, 1.0, 0.3, 61);
    let k = |x: &[f64], y: &[f64]| (dot(x, y) / 4.0 + 1.0).powi(3);
    let got = mmd_poly(&a, &b, 4).unwrap();
    let want = naive_unbiased(&a, &b, 4, k);
    assert!(close(got, want, 1e-11), "{got} vs {want}");
    let k5 = |x: &[f64], y: &[f64]| (dot(x, y) / 4.0 + 0.5).powi(5);
    let got = mmd_poly_with(&a, &b, 4, 5, 0.5).unwrap();
    let want = naive_unbiased(&a, &b, 4, k5);
    assert!(close(got, want, 1e-11), "{got} vs {want}");
    // degree 1 with c = 0 is the linear kernel divided by dim
    let lin = mmd_poly_with(&a, &b, 4, 1, 0.0).unwrap();
    assert!((lin - mmd_linear(&a, &b, 4).unwrap() / 4.0).abs() < 1e-13);
    let (ab, ba) = (mmd_poly(&a, &b, 4).unwrap(), mmd_poly(&b, &a, 4).unwrap());
    assert!(close(ab, ba, 1e-12));
    assert!(matches!(
        mmd_poly_with(&a, &b, 4, 0, 1.0),
        Err(MetricError::InvalidParameter {
            param: "degree",
            ..
        })
    ));
    assert!(matches!(
        mmd_poly_with(&a, &b, 4, 3, f64::NAN),
        Err(MetricError::InvalidParameter { param: "coef0", .. })
    ));
    assert!(matches!(
        mmd_poly(&a, &b[..7], 4),
        Err(MetricError::RaggedInput { set: "b", .. })
    ));
}

#[test]
fn energy_distance_matches_its_definition() {
    let a = gaussian(83, 2, 1.0, 0.0, 70);
    let b = gaussian(57, 2, 1.5, 0.2, 71);
    let (pa, pb) = (pts(&a, 2), pts(&b, 2));
    let mean_dist = |p: &[Vec<f64>], q: &[Vec<f64>]| -> f64 {
        let s: f64 = p.iter().flat_map(|x| q.iter().map(|y| dist(x, y))).sum();
        s / (p.len() * q.len()) as f64
    };
    let want = 2.0 * mean_dist(&pa, &pb) - mean_dist(&pa, &pa) - mean_dist(&pb, &pb);
    let got = energy_distance(&a, &b, 2).unwrap();
    assert!(close(got, want, 1e-12), "{got} vs {want}");
    let ba = energy_distance(&b, &a, 2).unwrap();
    assert!(close(got, ba, 1e-12));
    let same = energy_distance(&a, &a, 2).unwrap();
    assert!(same.abs() < 1e-14, "{same}");
    // one point each: 2 |x - y|
    let one = energy_distance(&[0.0, 0.0], &[3.0, 4.0], 2).unwrap();
    assert_eq!(one, 10.0);
    // translation of both sets changes nothing but rounding
    let shift = |p: &[f32]| -> Vec<f32> { p.iter().map(|x| x + 8.0).collect() };
    let moved = energy_distance(&shift(&a), &shift(&b), 2).unwrap();
    assert!((moved - got).abs() < 1e-5, "{moved} vs {got}");
    assert_eq!(energy_distance(&a, &b, 0), Err(MetricError::ZeroDimension));
}

#[test]
fn mean_and_median_errors() {
    let a = [0.0, 0.0, 2.0, 0.0, 4.0, 6.0];
    let b = [1.0, 1.0, 3.0, 5.0];
    // means (2, 2) and (2, 3); medians (2, 0) and (2, 3) (even count: middle values averaged)
    assert_eq!(mean_error(&a, &b, 2), Ok(1.0));
    assert_eq!(median_error(&a, &b, 2), Ok(3.0));
    let c = gaussian(101, 3, 1.0, 0.0, 80);
    assert_eq!(mean_error(&c, &c, 3), Ok(0.0));
    assert_eq!(median_error(&c, &c, 3), Ok(0.0));
    // exact translation by representable offsets
    let moved: Vec<f32> = c
        .iter()
        .enumerate()
        .map(|(k, x)| x + [0.0, 3.0, 4.0][k % 3])
        .collect();
    assert!(close(mean_error(&c, &moved, 3).unwrap(), 5.0, 1e-6));
    assert!(close(median_error(&c, &moved, 3).unwrap(), 5.0, 1e-6));
    // the median ignores an outlier, the mean does not
    let mut outlier = c.clone();
    outlier[0] = 1.0e6;
    assert!(median_error(&c, &outlier, 3).unwrap() < 0.1);
    assert!(mean_error(&c, &outlier, 3).unwrap() > 1000.0);
    assert_eq!(mean_error(&[1.0], &[4.0], 1), Ok(3.0));
    assert_eq!(
        median_error(&a, &b[..3], 2),
        Err(MetricError::RaggedInput {
            set: "b",
            len: 3,
            dim: 2
        })
    );
    assert_eq!(
        mean_error(&[], &b, 2),
        Err(MetricError::TooFewPoints {
            set: "a",
            n: 0,
            min: 1
        })
    );
}

/// Naive k-NN precision / recall from the definition, with true distances.
fn naive_pr(real: &[f32], generated: &[f32], dim: usize, k: usize) -> (f64, f64) {
    let (r, g) = (pts(real, dim), pts(generated, dim));
    let radii = |set: &[Vec<f64>]| -> Vec<f64> {
        set.iter()
            .enumerate()
            .map(|(i, x)| {
                let mut d: Vec<f64> = set
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, y)| dist(x, y))
                    .collect();
                d.sort_by(f64::total_cmp);
                d[k - 1]
            })
            .collect()
    };
    let (rr, rg) = (radii(&r), radii(&g));
    let frac = |points: &[Vec<f64>], centres: &[Vec<f64>], radii: &[f64]| -> f64 {
        let inside = points
            .iter()
            .filter(|x| centres.iter().zip(radii).any(|(c, rad)| dist(x, c) <= *rad))
            .count();
        inside as f64 / points.len() as f64
    };
    (frac(&g, &r, &rr), frac(&r, &g, &rg))
}

#[test]
fn knn_precision_recall_matches_the_definition() {
    for (k, n, m, dim, seed) in [(3, 150, 120, 2, 90), (1, 60, 61, 3, 91), (5, 97, 40, 5, 92)] {
        let real = gaussian(n, dim, 1.0, 0.0, seed);
        let generated = gaussian(m, dim, 0.6, 0.4, seed + 10);
        let got = knn_precision_recall(&real, &generated, dim, k).unwrap();
        let (p, r) = naive_pr(&real, &generated, dim, k);
        assert_eq!((got.precision, got.recall), (p, r), "k={k}");
        assert!(got.precision > 0.5 && got.recall < 1.0, "{got:?}");
    }
    // hand example in 1D, k = 1: real radii are all 1
    let real = [0.0, 1.0, 2.0, 3.0];
    let generated = [0.5, 10.0, 10.5];
    let got = knn_precision_recall(&real, &generated, 1, 1).unwrap();
    assert_eq!(got.precision, 1.0 / 3.0);
    // generated radii: 9.5 (0.5's nearest other point is 10.0), 0.5, 0.5
    assert_eq!(got.recall, 1.0);
    // identical sets: everything is covered; far apart sets: nothing
    let a = gaussian(50, 2, 1.0, 0.0, 93);
    assert_eq!(
        knn_precision_recall(&a, &a, 2, 3).unwrap(),
        PrecisionRecall {
            precision: 1.0,
            recall: 1.0
        }
    );
    let far = gaussian(50, 2, 1.0, 100.0, 94);
    assert_eq!(
        knn_precision_recall(&a, &far, 2, 3).unwrap(),
        PrecisionRecall {
            precision: 0.0,
            recall: 0.0
        }
    );
    assert!(matches!(
        knn_precision_recall(&a, &far, 2, 0),
        Err(MetricError::InvalidParameter { param: "k", .. })
    ));
    assert_eq!(
        knn_precision_recall(&a, &far[..6], 2, 3),
        Err(MetricError::TooFewPoints {
            set: "generated",
            n: 3,
            min: 4
        })
    );
    let mut bad = a.clone();
    bad[9] = f32::NAN;
    let msg = knn_precision_recall(&bad, &a, 2, 3)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`real` row 4"), "{msg}");
}

#[test]
fn mode_coverage_counts_on_mode_samples() {
    let means = [0.0, 0.0, 10.0, 0.0, 0.0, 10.0];
    let stds = [1.0, 2.0, 0.5];
    #[rustfmt::skip]
    let samples = [
        0.5, 0.0,   // component 0, 0.5 std
        10.0, 5.0,  // component 1, 2.5 std
        5.0, 0.0,   // component 1 (2.5 std) over component 0 (5 std)
        0.0, 4.0,   // component 2 at 12 std, component 0 at 4 std: off-mode
        0.0, 9.0,   // component 2, 2 std
        -3.0, 0.0,  // component 0, exactly 3 std: on-mode
    ];
    let got = mode_coverage(&samples, 2, &means, &stds, 3.0, 1).unwrap();
    assert_eq!(got.on_mode_counts, vec![2, 2, 1]);
    assert_eq!(got.coverage, 1.0);
    assert_eq!(got.off_mode_fraction, 1.0 / 6.0);
    let got = mode_coverage(&samples, 2, &means, &stds, 3.0, 2).unwrap();
    assert_eq!(got.coverage, 2.0 / 3.0);
    let got = mode_coverage(&samples, 2, &means, &stds, 2.0, 1).unwrap();
    assert_eq!(got.on_mode_counts, vec![1, 0, 1]);
    assert_eq!(got.off_mode_fraction, 4.0 / 6.0);
    assert_eq!(MODE_DEFAULT_THRESHOLD, 3.0);
    assert_eq!(MODE_DEFAULT_MIN_COUNT, 20);

    let err = |r: Result<ModeCoverage, MetricError>| r.unwrap_err().to_string();
    assert!(err(mode_coverage(&samples, 2, &means[..5], &stds, 3.0, 1)).contains("multiple"));
    assert!(err(mode_coverage(&samples, 2, &means, &stds[..2], 3.0, 1)).contains("3 means"));
    assert!(
        err(mode_coverage(&samples, 2, &means, &[1.0, 0.0, 1.0], 3.0, 1))
            .contains("standard deviation 1")
    );
    assert!(matches!(
        mode_coverage(&samples, 2, &means, &stds, 0.0, 1),
        Err(MetricError::InvalidParameter {
            param: "threshold",
            ..
        })
    ));
    assert!(matches!(
        mode_coverage(&samples, 2, &means, &stds, 3.0, 0),
        Err(MetricError::InvalidParameter {
            param: "min_count",
            ..
        })
    ));
    assert!(matches!(
        mode_coverage(&samples[..3], 2, &means, &stds, 3.0, 1),
        Err(MetricError::RaggedInput { set: "samples", .. })
    ));
}

/// Paths `x_p(t)` sampled at `times` with velocities at the first `v_nodes` nodes.
fn sampled_paths(
    n: usize,
    times: &[f64],
    v_nodes: usize,
    x: impl Fn(usize, f64) -> [f64; 2],
    v: impl Fn(usize, f64) -> [f64; 2],
) -> (Vec<f64>, Vec<f64>) {
    let states = (0..n)
        .flat_map(|p| times.iter().flat_map(|&t| x(p, t)).collect::<Vec<_>>())
        .collect();
    let velocities = (0..n)
        .flat_map(|p| {
            times[..v_nodes]
                .iter()
                .flat_map(|&t| v(p, t))
                .collect::<Vec<_>>()
        })
        .collect();
    (states, velocities)
}

#[test]
fn trajectory_metrics_on_known_paths() {
    let times: Vec<f64> = (0..=1000).map(|k| k as f64 / 1000.0).collect();
    // straight constant-speed paths: both metrics are 0
    let (states, velocities) = sampled_paths(
        3,
        &times,
        1001,
        |p, t| [p as f64 + 2.0 * t, -t],
        |_, _| [2.0, -1.0],
    );
    let paths = Trajectories {
        dim: 2,
        times: &times,
        states: &states,
        velocities: &velocities,
    };
    let got = trajectory_metrics(&paths, Quadrature::Trapezoid).unwrap();
    assert!(
        got.straightness.abs() < 1e-12 && got.path_energy.abs() < 1e-12,
        "{got:?}"
    );
    assert!(close(got.mean_sq_displacement, 5.0, 1e-12));

    // quarter circle: D = (-1, 1), |v|^2 = pi^2 / 4; S = pi^2/4 - 2, E = (pi^2/4 - 2) / 2
    let h = std::f64::consts::FRAC_PI_2;
    let (states, velocities) = sampled_paths(
        2,
        &times,
        1001,
        |_, t| [(h * t).cos(), (h * t).sin()],
        |_, t| [-h * (h * t).sin(), h * (h * t).cos()],
    );
    let paths = Trajectories {
        dim: 2,
        times: &times,
        states: &states,
        velocities: &velocities,
    };
    let got = trajectory_metrics(&paths, Quadrature::Trapezoid).unwrap();
    let s = h * h - 2.0;
    // the trapezoid rule's O(step^2) error on a curved integrand; |v|^2 is constant
    assert!(close(got.straightness, s, 1e-5), "{got:?}");
    assert!(close(got.path_energy, s / 2.0, 1e-12), "{got:?}");
    // the same paths on a doubled time span (velocities halved): unchanged
    let slow_times: Vec<f64> = times.iter().map(|t| 2.0 * t).collect();
    let slow_v: Vec<f64> = velocities.iter().map(|v| v / 2.0).collect();
    let slow = Trajectories {
        dim: 2,
        times: &slow_times,
        states: &states,
        velocities: &slow_v,
    };
    let again = trajectory_metrics(&slow, Quadrature::Trapezoid).unwrap();
    assert!(close(again.straightness, got.straightness, 1e-12));
    assert!(close(again.path_energy, got.path_energy, 1e-12));
}

#[test]
fn trajectory_metrics_on_euler_paths() {
    // Euler steps on a non-uniform grid: with the left-point rule E = S / mean |D|^2
    let times = [0.0, 0.1, 0.35, 0.5, 0.8, 1.0];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (n, dim) = (5, 3);
    let (mut states, mut velocities) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let mut x: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        states.extend_from_slice(&x);
        for w in times.windows(2) {
            let v: Vec<f64> = x.iter().map(|xi| -xi + rng.random::<f64>()).collect();
            for (xi, vi) in x.iter_mut().zip(&v) {
                *xi += (w[1] - w[0]) * vi;
            }
            velocities.extend_from_slice(&v);
            states.extend_from_slice(&x);
        }
    }
    let paths = Trajectories {
        dim,
        times: &times,
        states: &states,
        velocities: &velocities,
    };
    let got = trajectory_metrics(&paths, Quadrature::LeftPoint).unwrap();
    assert!(got.straightness > 0.0);
    assert!(
        close(
            got.path_energy,
            got.straightness / got.mean_sq_displacement,
            1e-12
        ),
        "{got:?}"
    );
    // shape and value errors
    let bad = |times: &[f64], states: &[f64], velocities: &[f64], rule| {
        let paths = Trajectories {
            dim,
            times,
            states,
            velocities,
        };
        trajectory_metrics(&paths, rule).unwrap_err().to_string()
    };
    assert!(bad(&times, &states, &velocities, Quadrature::Trapezoid).contains("velocities"));
    assert!(
        bad(
            &[0.0, 0.5, 0.5, 1.0, 1.1, 1.2],
            &states,
            &velocities,
            Quadrature::LeftPoint
        )
        .contains("increase")
    );
    assert!(bad(&[0.0], &states, &velocities, Quadrature::LeftPoint).contains("2 time nodes"));
    assert!(bad(&times, &states[..10], &velocities, Quadrature::LeftPoint).contains("states"));
    let mut nan = states.clone();
    nan[(6 + 2) * dim + 1] = f64::NAN; // path 1, node 2
    assert!(
        bad(&times, &nan, &velocities, Quadrature::LeftPoint).contains("path 1 at node 2"),
        "{}",
        bad(&times, &nan, &velocities, Quadrature::LeftPoint)
    );
    let still = vec![1.0; states.len()];
    assert!(bad(&times, &still, &velocities, Quadrature::LeftPoint).contains("zero displacement"));
    let paths = Trajectories {
        dim: 0,
        times: &times,
        states: &states,
        velocities: &velocities,
    };
    assert_eq!(
        trajectory_metrics(&paths, Quadrature::LeftPoint),
        Err(MetricError::ZeroDimension)
    );
}

#[test]
fn new_metrics_do_not_depend_on_the_thread_count() {
    let a = gaussian(301, 2, 1.0, 0.0, 100);
    let b = gaussian(301, 2, 1.0, 0.3, 101);
    let c = gaussian(250, 2, 0.8, 0.3, 102);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| {
                let pr = knn_precision_recall(&a, &c, 2, 3).unwrap();
                [
                    w1(&a, &b, 2).unwrap(),
                    sliced_w1(&a, &b, 2, 50, 5).unwrap(),
                    mmd(&a, &c, 2).unwrap(),
                    mmd_linear(&a, &c, 2).unwrap(),
                    mmd_poly(&a, &c, 2).unwrap(),
                    energy_distance(&a, &c, 2).unwrap(),
                    pr.precision,
                    pr.recall,
                    mode_coverage(&c, 2, &[0.0, 0.0, 1.0, 1.0], &[0.5, 0.5], 3.0, 20)
                        .unwrap()
                        .off_mode_fraction,
                ]
                .map(f64::to_bits)
            })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(5));
}
