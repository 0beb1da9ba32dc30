//! Frechet distance between Gaussians fitted to two feature sets (FID's formula), with the
//! cyclic Jacobi eigensolver for symmetric matrices that its matrix square roots use.
//!
//! `fd = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})` with unbiased
//! covariances (divided by `n - 1`, as `numpy.cov`). The trace of the square root is taken
//! on the symmetric route: with `S_a = V diag(l) V^T` (Jacobi, negative round-off eigenvalues
//! clamped to 0) and `B = diag(sqrt(l)) V^T`, the matrix `M = B S_b B^T` is symmetric PSD and
//! similar to `S_a^{1/2} S_b S_a^{1/2}` (`S_a^{1/2} = V B`), whose square root has the same
//! trace as `(S_a S_b)^{1/2}`; so `tr((S_a S_b)^{1/2}) = sum_i sqrt(max(lambda_i(M), 0))`.
//!
//! Everything is plain sequential f64 loops in a fixed order (no rayon, no FMA contraction),
//! so the result is the same bits on every run and thread count. Cost: `O((n + m) dim^2)` for
//! the covariances and `O(dim^3)` for two Jacobi solves (about 11 sweeps each) and two matrix
//! products: dim 1024 with 3500 rows took 37 s in a release build on a busy 2-core machine.

use crate::MetricError;
use crate::input::{check_set, widen};

/// Jacobi stops once the off-diagonal Frobenius norm is at most this fraction of the
/// matrix's Frobenius norm (an orthogonal invariant, so fixed by the input).
const JACOBI_TOLERANCE: f64 = 1e-14;

/// Sweeps the Jacobi solver may take before giving up. Cyclic Jacobi converges
/// quadratically; symmetric matrices up to dim 1024 take roughly 6 to 15 sweeps.
const JACOBI_MAX_SWEEPS: usize = 60;

/// Why the Jacobi eigensolver failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum JacobiError {
    /// The off-diagonal norm did not fall below the tolerance within the sweep cap.
    #[error(
        "Jacobi eigensolver did not converge in {sweeps} sweeps (relative off-diagonal norm \
         {relative_off:e}, tolerance {tolerance:e})"
    )]
    NotConverged {
        sweeps: usize,
        relative_off: f64,
        tolerance: f64,
    },
    /// The matrix holds a NaN or an infinity.
    #[error("Jacobi eigensolver got a non-finite matrix entry")]
    NonFinite,
}

/// Eigenvalues (unsorted, in the solver's index order) and, when asked for, eigenvectors of a
/// symmetric matrix: row `k` of the row-major `n x n` `vectors` is the unit eigenvector of
/// `values[k]`, so `A = vectors^T diag(values) vectors`.
#[derive(Debug, Clone)]
pub(crate) struct SymmetricEigen {
    pub(crate) values: Vec<f64>,
    pub(crate) vectors: Option<Vec<f64>>,
}

/// Cyclic Jacobi eigendecomposition of the symmetric `n x n` row-major matrix `a` (its upper
/// triangle is read; the lower is taken to mirror it).
///
/// Each sweep visits the pairs `(p, q)`, `p < q`, row by row and zeroes `a_pq` with one
/// rotation (Rutishauser's stable form: `t = tan` of the smaller angle, updates through
/// `tau = s / (1 + c)`). A pair whose `a_pq` is 0, or so small that adding `100 |a_pq|` to
/// either diagonal entry's magnitude changes nothing, is set to 0 without rotating. Before each sweep the
/// off-diagonal norm is compared with `JACOBI_TOLERANCE` times the input's Frobenius norm;
/// after `max_sweeps` sweeps without meeting it the solver returns
/// [`JacobiError::NotConverged`]. Deterministic: no data-dependent order anywhere.
pub(crate) fn symmetric_eigen(
    a: &[f64],
    n: usize,
    want_vectors: bool,
    max_sweeps: usize,
) -> Result<SymmetricEigen, JacobiError> {
    eigen_with(a, n, want_vectors, max_sweeps, sweep)
}

/// One full cyclic sweep over `m` (full symmetric storage) and the eigenvector rows `v`.
type Sweep = fn(&mut [f64], Option<&mut [f64]>, usize);

fn eigen_with(
    a: &[f64],
    n: usize,
    want_vectors: bool,
    max_sweeps: usize,
    sweep_once: Sweep,
) -> Result<SymmetricEigen, JacobiError> {
    debug_assert_eq!(a.len(), n * n);
    if a.iter().any(|v| !v.is_finite()) {
        return Err(JacobiError::NonFinite);
    }
    // Full symmetric storage, mirrored from the upper triangle.
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            m[i * n + j] = a[i * n + j];
            m[j * n + i] = a[i * n + j];
        }
    }
    let mut vectors = want_vectors.then(|| {
        let mut v = vec![0.0; n * n];
        for k in 0..n {
            v[k * n + k] = 1.0;
        }
        v
    });
    let total: f64 = m.iter().map(|v| v * v).sum::<f64>();
    let limit = JACOBI_TOLERANCE * JACOBI_TOLERANCE * total;
    let mut sweeps = 0;
    loop {
        let off = off_diagonal_sq(&m, n);
        if off <= limit {
            break;
        }
        if sweeps == max_sweeps {
            return Err(JacobiError::NotConverged {
                sweeps,
                relative_off: (off / total).sqrt(),
                tolerance: JACOBI_TOLERANCE,
            });
        }
        sweep_once(&mut m, vectors.as_deref_mut(), n);
        sweeps += 1;
    }
    Ok(SymmetricEigen {
        values: (0..n).map(|k| m[k * n + k]).collect(),
        vectors,
    })
}

/// Sum of the squares of the off-diagonal entries (both triangles), in index order.
fn off_diagonal_sq(m: &[f64], n: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += m[i * n + j] * m[i * n + j];
        }
    }
    2.0 * s
}

/// What to do with the pair `(p, q)`.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `a_pq` is already 0.
    Skip,
    /// `a_pq` is below round-off of both diagonal entries: set it to 0 without rotating.
    Zero,
    /// Rotate with `t = tan(angle)`, `s = sin(angle)`, `tau = s / (1 + cos(angle))`.
    Rotate { t: f64, s: f64, tau: f64 },
}

fn plan(apq: f64, app: f64, aqq: f64) -> Step {
    if apq == 0.0 {
        return Step::Skip;
    }
    let g = 100.0 * apq.abs();
    if app.abs() + g == app.abs() && aqq.abs() + g == aqq.abs() {
        return Step::Zero;
    }
    let h = aqq - app;
    let t = if h.abs() + g == h.abs() {
        // theta = h / (2 apq) so large that t = 1 / (2 theta) to working precision.
        apq / h
    } else {
        let theta = 0.5 * h / apq;
        let t = 1.0 / (theta.abs() + (1.0 + theta * theta).sqrt());
        if theta < 0.0 { -t } else { t }
    };
    let c = 1.0 / (1.0 + t * t).sqrt();
    let s = t * c;
    Step::Rotate {
        t,
        s,
        tau: s / (1.0 + c),
    }
}

/// The rotated pair `(c g - s h, s g + c h)`, in Rutishauser's form.
#[inline]
fn turn(g: f64, h: f64, s: f64, tau: f64) -> (f64, f64) {
    (g - s * (h + g * tau), h + s * (g - h * tau))
}

/// Rotate rows `p < q` of `m` (all columns but `p` and `q`) or of the eigenvector rows (all
/// columns, `skip` = None).
fn turn_rows(m: &mut [f64], n: usize, p: usize, q: usize, s: f64, tau: f64, skip: bool) {
    let (head, tail) = m.split_at_mut(q * n);
    let row_p = &mut head[p * n..(p + 1) * n];
    let row_q = &mut tail[..n];
    for (r, (x, y)) in row_p.iter_mut().zip(row_q.iter_mut()).enumerate() {
        if skip && (r == p || r == q) {
            continue;
        }
        (*x, *y) = turn(*x, *y, s, tau);
    }
}

/// Apply the pair's rotation to `m`: the 2 x 2 block, rows `p` and `q`, and the eigenvector
/// rows; columns `p` and `q` of the other rows are the caller's business.
fn apply_rows(m: &mut [f64], v: Option<&mut [f64]>, n: usize, p: usize, q: usize, step: Step) {
    let apq = m[p * n + q];
    match step {
        Step::Skip => {}
        Step::Zero => {
            m[p * n + q] = 0.0;
            m[q * n + p] = 0.0;
        }
        Step::Rotate { t, s, tau } => {
            m[p * n + p] -= t * apq;
            m[q * n + q] += t * apq;
            m[p * n + q] = 0.0;
            m[q * n + p] = 0.0;
            turn_rows(m, n, p, q, s, tau, true);
            if let Some(v) = v {
                turn_rows(v, n, p, q, s, tau, false);
            }
        }
    }
}

/// One cyclic sweep, arranged so that only rows are traversed. A rotation `(p, q)` changes
/// rows `p`, `q` and columns `p`, `q`; by symmetry the column entries equal the new row
/// entries, but writing them at once would touch one cache line per row. Instead, for fixed
/// `p` the rotations are recorded, and each other row `r` receives their column part on its
/// entries `(r, p)`, `(r, q)` just in time: row `q` before rotation `(p, q)` reads it (the
/// rotations with smaller `q`), every row at the end of `p`'s pass (the rest). The column
/// parts of one row form a dependent chain (entry `(r, p)` is rotated by each `q` in turn),
/// so rows are processed [`ROW_GROUP`] at a time to overlap their chains. Every entry is
/// computed by the same operations on the same values, in the same order per entry, as the
/// plain order (`plain_sweep` in the tests), so the results are bit-identical to it.
fn sweep(m: &mut [f64], mut v: Option<&mut [f64]>, n: usize) {
    let mut done: Vec<(usize, f64, f64)> = Vec::with_capacity(n);
    for p in 0..n {
        done.clear();
        // Rows below `block_end` (and above p) hold the column parts of `done[..block_len]`.
        let (mut block_end, mut block_len) = (p + 1, 0);
        for q in p + 1..n {
            if q >= block_end {
                block_end = (q + ROW_GROUP).min(n);
                block_len = done.len();
                column_parts(&mut m[q * n..block_end * n], n, p, &done);
            }
            column_part(&mut m[q * n..(q + 1) * n], p, &done[block_len..]);
            let step = plan(m[p * n + q], m[p * n + p], m[q * n + q]);
            apply_rows(m, v.as_deref_mut(), n, p, q, step);
            if let Step::Rotate { s, tau, .. } = step {
                done.push((q, s, tau));
            }
        }
        // Rows before p need every rotation; a row r after p has those with q < r (and its
        // own, as a row) and needs those with q > r.
        for start in (0..p).step_by(ROW_GROUP) {
            let end = (start + ROW_GROUP).min(p);
            column_parts(&mut m[start * n..end * n], n, p, &done);
        }
        let first_needed = |r: usize| done.partition_point(|&(q, _, _)| q <= r);
        for start in (p + 1..n).step_by(ROW_GROUP) {
            let end = (start + ROW_GROUP).min(n);
            let common = first_needed(end - 1);
            for r in start..end {
                column_part(
                    &mut m[r * n..(r + 1) * n],
                    p,
                    &done[first_needed(r)..common],
                );
            }
            column_parts(&mut m[start * n..end * n], n, p, &done[common..]);
        }
    }
}

/// Rows processed together by [`column_parts`].
const ROW_GROUP: usize = 4;

/// The column part of the recorded rotations `(p, q)` on one other row: entries `p` and `q`.
fn column_part(row: &mut [f64], p: usize, rotations: &[(usize, f64, f64)]) {
    let mut x = row[p];
    for &(q, s, tau) in rotations {
        (x, row[q]) = turn(x, row[q], s, tau);
    }
    row[p] = x;
}

/// [`column_part`] on each of the consecutive rows in `rows` (length a multiple of `n`),
/// interleaved when there are [`ROW_GROUP`] of them. Per entry the same operations in the
/// same order as row by row.
fn column_parts(rows: &mut [f64], n: usize, p: usize, rotations: &[(usize, f64, f64)]) {
    if rows.len() != ROW_GROUP * n || rotations.is_empty() {
        for row in rows.chunks_exact_mut(n) {
            column_part(row, p, rotations);
        }
        return;
    }
    let (r0, rest) = rows.split_at_mut(n);
    let (r1, rest) = rest.split_at_mut(n);
    let (r2, r3) = rest.split_at_mut(n);
    let (mut x0, mut x1, mut x2, mut x3) = (r0[p], r1[p], r2[p], r3[p]);
    for &(q, s, tau) in rotations {
        (x0, r0[q]) = turn(x0, r0[q], s, tau);
        (x1, r1[q]) = turn(x1, r1[q], s, tau);
        (x2, r2[q]) = turn(x2, r2[q], s, tau);
        (x3, r3[q]) = turn(x3, r3[q], s, tau);
    }
    (r0[p], r1[p], r2[p], r3[p]) = (x0, x1, x2, x3);
}

/// Mean (sums in row order, divided by `n`) and unbiased covariance (centred outer products
/// summed in row order, divided by `n - 1`; full symmetric row-major `dim x dim`) of a
/// validated set with at least 2 rows.
fn mean_and_covariance(points: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = points.len() / dim;
    let mut mean = vec![0.0; dim];
    for row in points.chunks_exact(dim) {
        for (s, x) in mean.iter_mut().zip(row) {
            *s += x;
        }
    }
    for s in &mut mean {
        *s /= n as f64;
    }
    let mut cov = vec![0.0; dim * dim];
    let mut centred = vec![0.0; dim];
    for row in points.chunks_exact(dim) {
        for ((c, x), mu) in centred.iter_mut().zip(row).zip(&mean) {
            *c = x - mu;
        }
        for i in 0..dim {
            let ci = centred[i];
            for (s, cj) in cov[i * dim + i..(i + 1) * dim]
                .iter_mut()
                .zip(&centred[i..])
            {
                *s += ci * cj;
            }
        }
    }
    let denominator = (n - 1) as f64;
    for i in 0..dim {
        for j in i..dim {
            let value = cov[i * dim + j] / denominator;
            cov[i * dim + j] = value;
            cov[j * dim + i] = value;
        }
    }
    (mean, cov)
}

/// `2^k` for `-1022 <= k <= 1023`, exactly.
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Binary exponent `e` of a positive normal `x` (`2^e <= x < 2^(e+1)`).
fn exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// Frechet distance between the Gaussians fitted to the feature sets `a` and `b` (row-major
/// `f32`, `dim` columns, at least 2 rows each; sizes may differ), as in FID:
///
/// `|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})`
///
/// with the means and the unbiased (`n - 1`) covariances, all in f64. The square-root trace
/// is `sum_i sqrt(max(lambda_i, 0))` over the eigenvalues of the symmetric PSD matrix
/// `S_a^{1/2} S_b S_a^{1/2}` (see the module docs); both eigenproblems are solved by cyclic
/// Jacobi. The exact value is `>= 0` (it is the squared 2-Wasserstein distance between the two
/// Gaussians); a slightly negative result from round-off (identical or nearly identical sets)
/// is returned as `0.0`.
///
/// The data are first scaled by a power of two (exact) so that the largest magnitude lies in
/// `[1, 2)`, and the result is scaled back: this changes no rounding (in the normal range), only
/// keeps the `O(x^4)` intermediates of extreme inputs away from overflow and underflow.
///
/// Accuracy: about 1e-12 relative or better for full-rank covariances. A singular covariance
/// (features confined to a subspace, or fewer rows than `dim`) has round-off eigenvalues of
/// order `eps |S|` whose square roots enter the sum, so expect about 1e-8 relative there (as
/// with scipy's `sqrtm`).
///
/// Deterministic: the same bits on every run, independent of the thread count. Errors as the
/// other metrics (`dim` 0, ragged sets, fewer than 2 rows, non-finite values naming the set and
/// row); a Jacobi solve that does not converge (not expected for finite input) is reported as
/// [`MetricError::InvalidParameter`] with the solver's message. Cost `O((n + m) dim^2 + dim^3)`;
/// dim up to about 1024 is practical.
pub fn frechet_distance(a: &[f32], b: &[f32], dim: usize) -> Result<f64, MetricError> {
    check_set("a", a, dim, 2)?;
    check_set("b", b, dim, 2)?;
    let (mut a, mut b) = (widen(a), widen(b));
    let largest = a.iter().chain(&b).fold(0.0f64, |m, x| m.max(x.abs()));
    let e = if largest > 0.0 { exponent(largest) } else { 0 };
    if e != 0 {
        let scale = pow2(-e);
        for x in a.iter_mut().chain(b.iter_mut()) {
            *x *= scale;
        }
    }
    let (mean_a, cov_a) = mean_and_covariance(&a, dim);
    let (mean_b, cov_b) = mean_and_covariance(&b, dim);
    let mean_term: f64 = mean_a
        .iter()
        .zip(&mean_b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace_a: f64 = (0..dim).map(|i| cov_a[i * dim + i]).sum();
    let trace_b: f64 = (0..dim).map(|i| cov_b[i * dim + i]).sum();
    let sqrt_trace =
        sqrt_product_trace(&cov_a, &cov_b, dim).map_err(|e| MetricError::InvalidParameter {
            metric: "fd",
            param: "features",
            reason: format!("covariance square root failed: {e}"),
        })?;
    let fd = mean_term + trace_a + trace_b - 2.0 * sqrt_trace;
    // Round-off can leave a tiny negative value where the exact one is 0.
    Ok(fd.max(0.0) * pow2(2 * e))
}

/// `tr((S_a S_b)^{1/2})` for symmetric PSD `S_a`, `S_b` (full row-major `dim x dim`): the sum
/// of `sqrt(max(lambda, 0))` over the eigenvalues of `B S_b B^T`, `B = diag(sqrt(l)) V^T`
/// from `S_a = V diag(l) V^T` with `l` clamped at 0.
pub(crate) fn sqrt_product_trace(
    cov_a: &[f64],
    cov_b: &[f64],
    dim: usize,
) -> Result<f64, JacobiError> {
    let eig = symmetric_eigen(cov_a, dim, true, JACOBI_MAX_SWEEPS)?;
    let mut root = eig.vectors.unwrap_or_default();
    for (k, &l) in eig.values.iter().enumerate() {
        let r = l.max(0.0).sqrt();
        for x in &mut root[k * dim..(k + 1) * dim] {
            *x *= r;
        }
    }
    // t = B S_b, row by row as sums of scaled rows of S_b (S_b's rows in index order).
    let mut t = vec![0.0; dim * dim];
    for k in 0..dim {
        let t_row = &mut t[k * dim..(k + 1) * dim];
        for (j, &bkj) in root[k * dim..(k + 1) * dim].iter().enumerate() {
            for (x, s) in t_row.iter_mut().zip(&cov_b[j * dim..(j + 1) * dim]) {
                *x += bkj * s;
            }
        }
    }
    // M = t B^T, upper triangle as row dot products (the solver reads only that triangle).
    let mut product = vec![0.0; dim * dim];
    for k in 0..dim {
        let t_row = &t[k * dim..(k + 1) * dim];
        for l in k..dim {
            product[k * dim + l] = t_row
                .iter()
                .zip(&root[l * dim..(l + 1) * dim])
                .map(|(x, y)| x * y)
                .sum();
        }
    }
    let eig = symmetric_eigen(&product, dim, false, JACOBI_MAX_SWEEPS)?;
    Ok(eig.values.iter().map(|l| l.max(0.0).sqrt()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The plain cyclic sweep: each rotation writes its columns at once.
    fn plain_sweep(m: &mut [f64], mut v: Option<&mut [f64]>, n: usize) {
        for p in 0..n {
            for q in p + 1..n {
                let step = plan(m[p * n + q], m[p * n + p], m[q * n + q]);
                apply_rows(m, v.as_deref_mut(), n, p, q, step);
                for r in 0..n {
                    if r != p && r != q {
                        m[r * n + p] = m[p * n + r];
                        m[r * n + q] = m[q * n + r];
                    }
                }
            }
        }
    }

    #[test]
    fn row_ordered_sweep_is_bit_identical_to_the_plain_one() {
        for (n, seed) in [(2, 20), (5, 21), (6, 24), (17, 22), (64, 23), (130, 25)] {
            let a = random_symmetric(n, seed);
            let fast = symmetric_eigen(&a, n, true, JACOBI_MAX_SWEEPS).unwrap();
            let plain = eigen_with(&a, n, true, JACOBI_MAX_SWEEPS, plain_sweep).unwrap();
            assert_eq!(fast.values, plain.values, "n {n}");
            assert_eq!(fast.vectors, plain.vectors, "n {n}");
            // and sweep by sweep, on the whole matrix
            let (mut m1, mut m2) = (a.clone(), a.clone());
            for _ in 0..3 {
                sweep(&mut m1, None, n);
                plain_sweep(&mut m2, None, n);
                assert_eq!(m1, m2, "n {n}");
            }
        }
    }

    fn random_symmetric(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let x: f64 = rng.random_range(-1.0..1.0);
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        a
    }

    /// max |A - W^T diag(l) W| and max |W W^T - I|.
    fn reconstruction_errors(a: &[f64], n: usize, eig: &SymmetricEigen) -> (f64, f64) {
        let w = eig.vectors.as_ref().expect("vectors");
        let (mut recon, mut ortho) = (0.0f64, 0.0f64);
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n)
                    .map(|k| w[k * n + i] * eig.values[k] * w[k * n + j])
                    .sum();
                recon = recon.max((r - a[i * n + j]).abs());
                let d: f64 = (0..n).map(|k| w[i * n + k] * w[j * n + k]).sum();
                ortho = ortho.max((d - f64::from(u8::from(i == j))).abs());
            }
        }
        (recon, ortho)
    }

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn jacobi_diagonal_is_returned_unchanged() {
        let a = [3.0, 0.0, 0.0, 0.0, -1.5, 0.0, 0.0, 0.0, 7.25];
        let eig = symmetric_eigen(&a, 3, true, JACOBI_MAX_SWEEPS).unwrap();
        assert_eq!(eig.values, [3.0, -1.5, 7.25]);
        assert_eq!(
            eig.vectors.unwrap(),
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        );
        let zero = symmetric_eigen(&[0.0; 4], 2, false, 0).unwrap();
        assert_eq!(zero.values, [0.0, 0.0]);
    }

    #[test]
    fn jacobi_2x2_matches_the_closed_form() {
        for (a, b, c) in [
            (2.0, 1.0, 3.0),
            (1.0, 1e-3, 1.0),
            (-4.0, 2.5, 0.5),
            (5.0, -7.0, 5.0),
        ] {
            let m = [a, b, b, c];
            let eig = symmetric_eigen(&m, 2, true, JACOBI_MAX_SWEEPS).unwrap();
            let (mid, rad) = ((a + c) / 2.0, (((a - c) / 2.0f64).powi(2) + b * b).sqrt());
            let got = sorted(eig.values.clone());
            for (g, w) in got.iter().zip([mid - rad, mid + rad]) {
                assert!((g - w).abs() <= 1e-14 * rad.max(1.0), "{got:?} vs {w}");
            }
            let (recon, ortho) = reconstruction_errors(&m, 2, &eig);
            assert!(recon <= 1e-14 && ortho <= 1e-15, "{recon:e} {ortho:e}");
        }
    }

    #[test]
    fn jacobi_reconstructs_random_symmetric_matrices() {
        for (n, seed) in [(3, 1), (10, 2), (37, 3), (80, 4)] {
            let a = random_symmetric(n, seed);
            let eig = symmetric_eigen(&a, n, true, JACOBI_MAX_SWEEPS).unwrap();
            let (recon, ortho) = reconstruction_errors(&a, n, &eig);
            assert!(recon <= 1e-10, "n {n}: reconstruction error {recon:e}");
            assert!(ortho <= 1e-10, "n {n}: orthogonality error {ortho:e}");
            // trace and Frobenius norm are invariants
            let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
            let sum: f64 = eig.values.iter().sum();
            assert!((trace - sum).abs() <= 1e-12 * n as f64);
            // eigenvalues only: the same values, bit for bit (vectors do not feed back)
            let plain = symmetric_eigen(&a, n, false, JACOBI_MAX_SWEEPS).unwrap();
            assert_eq!(plain.values, eig.values);
            assert!(plain.vectors.is_none());
        }
    }

    #[test]
    fn jacobi_reports_a_sweep_cap() {
        let a = random_symmetric(6, 9);
        let err = symmetric_eigen(&a, 6, false, 1).unwrap_err();
        assert!(matches!(err, JacobiError::NotConverged { sweeps: 1, .. }));
        assert!(err.to_string().contains("did not converge in 1 sweeps"));
        let mut bad = a.clone();
        bad[7] = f64::NAN;
        assert_eq!(
            symmetric_eigen(&bad, 6, false, 10).unwrap_err(),
            JacobiError::NonFinite
        );
    }

    fn gaussian_points(n: usize, dim: usize, seed: u64, scale: f32, shift: f32) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim)
            .map(|_| {
                let x: f32 = rng.random_range(-1.0..1.0);
                x * scale + shift
            })
            .collect()
    }

    #[test]
    fn one_dimension_matches_the_closed_form() {
        // fd = (mu_a - mu_b)^2 + (sd_a - sd_b)^2 in 1D
        let a = gaussian_points(300, 1, 1, 1.0, 0.0);
        let b = gaussian_points(170, 1, 2, 2.5, 0.75);
        let stats = |x: &[f32]| {
            let v: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() - 1) as f64;
            (mean, var.sqrt())
        };
        let ((ma, sa), (mb, sb)) = (stats(&a), stats(&b));
        let want = (ma - mb) * (ma - mb) + (sa - sb) * (sa - sb);
        let got = frechet_distance(&a, &b, 1).unwrap();
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
    }

    #[test]
    fn identical_sets_give_zero_and_order_does_not_matter_much() {
        let a = gaussian_points(200, 5, 3, 1.0, 0.3);
        let zero = frechet_distance(&a, &a, 5).unwrap();
        assert!((0.0..=1e-12).contains(&zero), "{zero:e}");
        let b = gaussian_points(150, 5, 4, 1.5, -0.3);
        let ab = frechet_distance(&a, &b, 5).unwrap();
        let ba = frechet_distance(&b, &a, 5).unwrap();
        assert!(ab > 0.1 && (ab - ba).abs() <= 1e-12 * ab, "{ab} {ba}");
    }

    #[test]
    fn result_is_bit_identical_and_scale_exact() {
        let a = gaussian_points(120, 7, 5, 1.0, 0.0);
        let b = gaussian_points(90, 7, 6, 0.7, 0.2);
        let first = frechet_distance(&a, &b, 7).unwrap();
        for _ in 0..3 {
            assert_eq!(
                frechet_distance(&a, &b, 7).unwrap().to_bits(),
                first.to_bits()
            );
        }
        // Scaling by a power of two scales fd by its square, exactly.
        for k in [-60i32, -3, 5, 40] {
            let f = pow2(k) as f32;
            let (sa, sb): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|x| x * f).collect(),
                b.iter().map(|x| x * f).collect(),
            );
            let got = frechet_distance(&sa, &sb, 7).unwrap();
            assert_eq!(got, first * pow2(2 * k), "k {k}");
        }
    }

    #[test]
    fn extreme_magnitudes_stay_finite() {
        let a = gaussian_points(50, 4, 7, 1e37, 0.0);
        let b = gaussian_points(40, 4, 8, 3e37, 1e37);
        let big = frechet_distance(&a, &b, 4).unwrap();
        assert!(big.is_finite() && big > 1e74, "{big:e}");
        let a = gaussian_points(50, 4, 7, 1e-40, 0.0); // f32 subnormals
        let b = gaussian_points(40, 4, 8, 3e-40, 0.0);
        let tiny = frechet_distance(&a, &b, 4).unwrap();
        assert!(tiny > 0.0 && tiny < 1e-78, "{tiny:e}");
    }

    #[test]
    fn rank_deficient_covariances_are_handled() {
        // a lives on a 2D subspace of R^4 (duplicated and negated columns), b is constant.
        let base = gaussian_points(100, 2, 9, 1.0, 0.0);
        let a: Vec<f32> = base
            .chunks_exact(2)
            .flat_map(|r| [r[0], r[1], r[0], -r[1]])
            .collect();
        let b = vec![0.5f32; 4 * 30];
        // S_b = 0: fd = |mu_a - mu_b|^2 + tr(S_a)
        let v: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
        let (mean, cov) = mean_and_covariance(&v, 4);
        let want: f64 = mean.iter().map(|m| (m - 0.5) * (m - 0.5)).sum::<f64>()
            + (0..4).map(|i| cov[i * 5]).sum::<f64>();
        let got = frechet_distance(&a, &b, 4).unwrap();
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
        let self_fd = frechet_distance(&a, &a, 4).unwrap();
        assert!(self_fd <= 1e-7, "{self_fd:e}");
    }

    /// Timing at the documented upper end; run with
    /// `cargo test --release -p drift-metrics -- --ignored frechet_at_dim_1024`.
    #[test]
    #[ignore = "slow in debug builds"]
    fn frechet_at_dim_1024() {
        let dim = 1024;
        let a = gaussian_points(2000, dim, 10, 1.0, 0.0);
        let b = gaussian_points(1500, dim, 11, 1.1, 0.01);
        let start = std::time::Instant::now();
        let fd = frechet_distance(&a, &b, dim).unwrap();
        eprintln!("dim {dim}: fd = {fd:e} in {:?}", start.elapsed());
        assert!(fd.is_finite() && fd > 0.0);
    }

    #[test]
    fn invalid_input_is_named() {
        let ok = [0.0f32, 1.0, 2.0, 3.0];
        assert_eq!(
            frechet_distance(&ok, &ok, 0),
            Err(MetricError::ZeroDimension)
        );
        assert_eq!(
            frechet_distance(&ok, &[1.0, 2.0], 2),
            Err(MetricError::TooFewPoints {
                set: "b",
                n: 1,
                min: 2
            })
        );
        assert_eq!(
            frechet_distance(&ok, &[1.0, 2.0, 3.0], 2),
            Err(MetricError::RaggedInput {
                set: "b",
                len: 3,
                dim: 2
            })
        );
        assert_eq!(
            frechet_distance(&[0.0, 1.0, f32::INFINITY, 2.0], &ok, 2),
            Err(MetricError::NonFinite { set: "a", row: 1 })
        );
        assert_eq!(
            frechet_distance(&ok, &[0.0, 1.0, 2.0, 3.0, f32::NAN, 0.0], 2),
            Err(MetricError::NonFinite { set: "b", row: 2 })
        );
    }
}
