//! Exact linear assignment (min-cost perfect matching) in f64 between two equal-size point
//! sets under squared Euclidean cost (`w2`) or Euclidean cost (`w1`): shortest augmenting
//! paths with dual potentials
//! (Jonker-Volgenant / Hungarian family, O(n^3) worst case), warm-started by augmenting row
//! reduction and by potentials from a strided sub-problem (multiscale).

const NONE: usize = usize::MAX;

/// Problems at most this large are solved directly; larger ones get multiscale warm starts.
const DIRECT_MAX: usize = 256;

/// Each multiscale level keeps one point in this many of each set (2 measured fastest for
/// 2000 points in 2D, against 3, 4 and 8).
const COARSENING: usize = 2;

/// Passes of augmenting row reduction before the shortest-path phase.
const ARR_PASSES: usize = 2;

/// Immediate retries allowed per pass of augmenting row reduction, per row.
const ARR_RETRIES_PER_ROW: usize = 4;

/// Up to this dimension cost rows are recomputed from the points on demand (cheaper than
/// streaming a dense matrix from memory); above it a dense matrix is stored.
const ON_THE_FLY_MAX_DIM: usize = 8;

/// Row access to an `n x n` cost matrix.
pub(crate) trait CostRows {
    /// Number of rows (= columns).
    fn n(&self) -> usize;
    /// Row `i`, written into `buf` (length `n`) or borrowed from storage.
    fn row<'a>(&'a self, i: usize, buf: &'a mut [f64]) -> &'a [f64];
}

/// A dense row-major matrix.
pub(crate) struct Dense {
    pub n: usize,
    pub values: Vec<f64>,
}

impl CostRows for Dense {
    fn n(&self) -> usize {
        self.n
    }
    fn row<'a>(&'a self, i: usize, _buf: &'a mut [f64]) -> &'a [f64] {
        &self.values[i * self.n..(i + 1) * self.n]
    }
}

/// The ground cost between two points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ground {
    /// `|x - y|^2` (summed over coordinates in order, as `input::sq_dist`).
    SqEuclidean,
    /// `|x - y|`: the square root of the `SqEuclidean` cost.
    Euclidean,
}

/// Costs between rows of `a` and rows of `b`, computed on demand from `b` stored
/// coordinate-major so that a row is a few sequential passes.
struct OnTheFly {
    n: usize,
    dim: usize,
    ground: Ground,
    a: Vec<f64>,
    /// `b_t[d * n + j]` is coordinate `d` of point `j` of `b`.
    b_t: Vec<f64>,
}

impl CostRows for OnTheFly {
    fn n(&self) -> usize {
        self.n
    }
    fn row<'a>(&'a self, i: usize, buf: &'a mut [f64]) -> &'a [f64] {
        let x = &self.a[i * self.dim..(i + 1) * self.dim];
        let mut coords = x.iter().zip(self.b_t.chunks_exact(self.n));
        // Same value as `input::sq_dist`, which sums the same terms in the same order from
        // -0.0 (and -0.0 + t == t for the first, non-negative term).
        if let Some((&x0, b0)) = coords.next() {
            for (c, &y) in buf.iter_mut().zip(b0) {
                *c = (x0 - y) * (x0 - y);
            }
        }
        for (&xd, bd) in coords {
            for (c, &y) in buf.iter_mut().zip(bd) {
                *c += (xd - y) * (xd - y);
            }
        }
        if self.ground == Ground::Euclidean {
            for c in buf.iter_mut() {
                *c = c.sqrt();
            }
        }
        buf
    }
}

/// Optimal assignment between point sets `a` and `b` (row-major f64, `dim` columns, equal
/// sizes) under squared Euclidean cost: `col[i]` is the point of `b` matched to point `i`.
///
/// The result is exact whatever the warm start; the warm start only shortens the augmenting
/// paths. Problems above `DIRECT_MAX` points first solve the sub-problem on every
/// `COARSENING`-th point of each set, extend its row potentials to every column by a
/// c-transform, and start from those column potentials: for point clouds these approximate
/// the optimal potentials, which keeps the augmenting paths short.
pub(crate) fn solve_points(a: &[f64], b: &[f64], dim: usize) -> Vec<usize> {
    solve_points_with(a, b, dim, Ground::SqEuclidean)
}

/// [`solve_points`] under either ground cost. The solver only needs finite costs; the
/// multiscale warm start (c-transform of a sub-problem's potentials) is valid for any cost.
pub(crate) fn solve_points_with(a: &[f64], b: &[f64], dim: usize, ground: Ground) -> Vec<usize> {
    let n = a.len() / dim;
    assert!(
        a.len() == n * dim && b.len() == n * dim,
        "assignment: point sets must both be n x dim"
    );
    if n == 0 {
        return Vec::new();
    }
    multiscale(a, b, dim, ground).col4row
}

/// Solve from scratch (column-reduction start) for an arbitrary cost matrix.
#[cfg(test)]
pub(crate) fn solve<C: CostRows>(cost: &C) -> Vec<usize> {
    if cost.n() == 0 {
        return Vec::new();
    }
    solve_from(cost, None).col4row
}

fn multiscale(a: &[f64], b: &[f64], dim: usize, ground: Ground) -> Solution {
    let n = a.len() / dim;
    let v0 = if n <= DIRECT_MAX {
        None
    } else {
        let m = n / COARSENING;
        let pick = |p: &[f64]| -> Vec<f64> {
            (0..m)
                .flat_map(|s| {
                    let i = s * n / m;
                    p[i * dim..(i + 1) * dim].iter().copied()
                })
                .collect()
        };
        let (sub_a, sub_b) = (pick(a), pick(b));
        let coarse = multiscale(&sub_a, &sub_b, dim, ground);
        // c-transform: v[j] = min over sub-problem rows s of cost(a_s, b_j) - u[s].
        let costs = costs_between(&sub_a, b, dim, m, n, ground);
        let mut buf = vec![0.0; n];
        let mut v = vec![f64::INFINITY; n];
        for (s, &us) in coarse.u.iter().enumerate() {
            for (vj, c) in v.iter_mut().zip(costs.row(s, &mut buf)) {
                *vj = vj.min(c - us);
            }
        }
        Some(v)
    };
    match costs_for(a, b, dim, ground) {
        Costs::OnTheFly(c) => solve_from(&c, v0),
        Costs::Dense(c) => solve_from(&c, v0),
    }
}

enum Costs {
    OnTheFly(OnTheFly),
    Dense(Dense),
}

fn costs_for(a: &[f64], b: &[f64], dim: usize, ground: Ground) -> Costs {
    let n = a.len() / dim;
    let on_the_fly = costs_between(a, b, dim, n, n, ground);
    if dim <= ON_THE_FLY_MAX_DIM {
        return Costs::OnTheFly(on_the_fly);
    }
    let mut values = vec![0.0; n * n];
    {
        use rayon::prelude::*;
        values.par_chunks_mut(n).enumerate().for_each(|(i, out)| {
            let mut buf = vec![0.0; n];
            out.copy_from_slice(on_the_fly.row(i, &mut buf));
        });
    }
    Costs::Dense(Dense { n, values })
}

/// Costs between `rows` points of `a` and `cols` points of `b` (only `rows == cols` is a
/// square problem; the c-transform uses the rectangular case through `row`).
fn costs_between(
    a: &[f64],
    b: &[f64],
    dim: usize,
    rows: usize,
    cols: usize,
    ground: Ground,
) -> OnTheFly {
    debug_assert!(a.len() == rows * dim && b.len() == cols * dim);
    let mut b_t = vec![0.0; dim * cols];
    for (j, y) in b.chunks_exact(dim).enumerate() {
        for (d, &yd) in y.iter().enumerate() {
            b_t[d * cols + j] = yd;
        }
    }
    OnTheFly {
        n: cols,
        dim,
        ground,
        a: a.to_vec(),
        b_t,
    }
}

/// An optimal assignment with its row potentials: `cost[i][j] - u[i] - v[j] >= 0` for all
/// pairs (up to rounding), with equality on the matching.
struct Solution {
    col4row: Vec<usize>,
    u: Vec<f64>,
}

/// Exact assignment starting from column potentials `v0` (column reduction when `None`).
fn solve_from<C: CostRows>(cost: &C, v0: Option<Vec<f64>>) -> Solution {
    let n = cost.n();
    let mut buf = vec![0.0f64; n];
    let mut col4row = vec![NONE; n];
    let mut row4col = vec![NONE; n];
    let mut v = match v0 {
        Some(v) => {
            // Each row takes its cheapest column (in reduced cost) when that column is free.
            for (i, col) in col4row.iter_mut().enumerate() {
                let j = argmin_reduced(cost.row(i, &mut buf), &v).0;
                if row4col[j] == NONE {
                    row4col[j] = i;
                    *col = j;
                }
            }
            v
        }
        None => {
            // Column reduction: v[j] = min_i cost[i][j]; each column is matched to its
            // minimising row when that row is still free.
            let mut v = vec![f64::INFINITY; n];
            let mut argmin = vec![0usize; n];
            for i in 0..n {
                for (j, &c) in cost.row(i, &mut buf).iter().enumerate() {
                    if c < v[j] {
                        v[j] = c;
                        argmin[j] = i;
                    }
                }
            }
            for (j, &i) in argmin.iter().enumerate() {
                if col4row[i] == NONE {
                    col4row[i] = j;
                    row4col[j] = i;
                }
            }
            v
        }
    };
    // Invariant from here on: every matched row's column attains min_j (cost[i][j] - v[j]).
    let mut free_rows: Vec<usize> = (0..n).filter(|&i| col4row[i] == NONE).collect();
    for _ in 0..ARR_PASSES {
        if free_rows.is_empty() {
            break;
        }
        free_rows = augmenting_row_reduction(cost, &free_rows, &mut v, &mut col4row, &mut row4col);
    }

    // Row potentials u[i] = min_j (cost[i][j] - v[j]) make every reduced cost >= 0; a
    // matched row attains it on its own column.
    let mut u: Vec<f64> = (0..n)
        .map(|i| {
            let row = cost.row(i, &mut buf);
            match col4row[i] {
                NONE => argmin_reduced(row, &v).1,
                j => row[j] - v[j],
            }
        })
        .collect();

    shortest_augmenting_paths(cost, &free_rows, &mut u, &mut v, &mut col4row, &mut row4col);
    Solution { col4row, u }
}

/// Match every row of `free_rows` by a Dijkstra search for the shortest augmenting path in
/// reduced costs `cost[i][j] - u[i] - v[j]`, updating the potentials so that reduced costs
/// stay >= 0 and are 0 on the matching.
///
/// Each scanned row is relaxed against every column in index order (a sequential,
/// branch-free pass). A column leaves the search by setting its working potential to -inf (its
/// relaxations become +inf and never win) and its tentative distance to +inf (it is never
/// picked again).
fn shortest_augmenting_paths<C: CostRows>(
    cost: &C,
    free_rows: &[usize],
    u: &mut [f64],
    v: &mut [f64],
    col4row: &mut [usize],
    row4col: &mut [usize],
) {
    let n = cost.n();
    let mut buf = vec![0.0f64; n];
    let mut dist = vec![0.0f64; n];
    let mut path = vec![NONE; n];
    let mut tentative = vec![f64::INFINITY; n];
    let mut v_work = vec![0.0f64; n];
    let mut visited_rows: Vec<usize> = Vec::with_capacity(n);
    let mut visited_cols: Vec<usize> = Vec::with_capacity(n);
    for &cur in free_rows {
        tentative.fill(f64::INFINITY);
        v_work.copy_from_slice(v);
        let mut min_val = 0.0f64;
        let mut i = cur;
        visited_rows.clear();
        visited_cols.clear();
        let sink = loop {
            visited_rows.push(i);
            let row = cost.row(i, &mut buf);
            let offset = min_val - u[i];
            let lane_min = relax(row, &v_work, offset, i, &mut tentative, &mut path);
            let lowest = lane_min.into_iter().fold(f64::INFINITY, f64::min);
            assert!(
                lowest.is_finite(),
                "assignment: non-finite reduced cost (costs must be finite)"
            );
            let j = pick_column(&tentative, lowest, row4col);
            min_val = lowest;
            dist[j] = lowest;
            tentative[j] = f64::INFINITY;
            v_work[j] = f64::NEG_INFINITY;
            visited_cols.push(j);
            if row4col[j] == NONE {
                break j;
            }
            i = row4col[j];
        };

        // Dual update keeps reduced costs >= 0 and zero along the matching.
        u[cur] += min_val;
        for &r in &visited_rows[1..] {
            u[r] += min_val - dist[col4row[r]];
        }
        for &c in &visited_cols {
            v[c] -= min_val - dist[c];
        }

        // Augment along the path back to `cur`.
        let mut j = sink;
        loop {
            let i = path[j];
            row4col[j] = i;
            let prev = std::mem::replace(&mut col4row[i], j);
            if i == cur {
                break;
            }
            j = prev;
        }
    }
}

/// Relax every column through row `i` (`tentative[j] = min(tentative[j], row[j] - v[j] +
/// offset)`, recording `i` in `path[j]` when it improves) and return four partial minima of
/// the updated `tentative`. Written with bit-mask selects over fixed groups of four so that
/// it compiles to branch-free vector code; a minimum is exact, so splitting it into lanes does
/// not change the result.
fn relax(
    row: &[f64],
    v: &[f64],
    offset: f64,
    i: usize,
    tentative: &mut [f64],
    path: &mut [usize],
) -> [f64; 4] {
    #[inline(always)]
    fn step(c: f64, vj: f64, offset: f64, i: usize, d: &mut f64, p: &mut usize, low: &mut f64) {
        let r = c - vj + offset;
        let mask = u64::from(r < *d).wrapping_neg();
        *d = f64::from_bits((r.to_bits() & mask) | (d.to_bits() & !mask));
        let pmask = mask as usize;
        *p = (i & pmask) | (*p & !pmask);
        let lmask = u64::from(*d < *low).wrapping_neg();
        *low = f64::from_bits((d.to_bits() & lmask) | (low.to_bits() & !lmask));
    }
    let mut low = [f64::INFINITY; 4];
    let (rows, row_tail) = row.as_chunks::<4>();
    let (vs, v_tail) = v.as_chunks::<4>();
    let (ds, d_tail) = tentative.as_chunks_mut::<4>();
    let (ps, p_tail) = path.as_chunks_mut::<4>();
    for (((c, vj), d), p) in rows.iter().zip(vs).zip(ds.iter_mut()).zip(ps.iter_mut()) {
        for k in 0..4 {
            step(c[k], vj[k], offset, i, &mut d[k], &mut p[k], &mut low[k]);
        }
    }
    let tail = row_tail
        .iter()
        .zip(v_tail)
        .zip(d_tail.iter_mut().zip(p_tail.iter_mut()));
    for ((&c, &vj), (d, p)) in tail {
        step(c, vj, offset, i, d, p, &mut low[0]);
    }
    low
}

/// The column to scan next: the first with tentative distance `lowest`, or, when that one is
/// matched, the first *free* column at the same distance if there is one. Preferring a free
/// column ends the search at once, which matters when many costs tie (duplicated points).
/// Scans four entries per step with a branch-free "any equal" test.
fn pick_column(tentative: &[f64], lowest: f64, row4col: &[usize]) -> usize {
    let first = next_equal(tentative, 0, lowest).expect("assignment: the minimum is attained");
    if row4col[first] == NONE {
        return first;
    }
    let mut from = first + 1;
    while let Some(j) = next_equal(tentative, from, lowest) {
        if row4col[j] == NONE {
            return j;
        }
        from = j + 1;
    }
    first
}

/// Index of the first entry at or after `from` equal to `value`.
fn next_equal(values: &[f64], from: usize, value: f64) -> Option<usize> {
    let rest = &values[from..];
    let (groups, _) = rest.as_chunks::<4>();
    let start = groups
        .iter()
        .position(|g| (g[0] == value) | (g[1] == value) | (g[2] == value) | (g[3] == value))
        .map_or(groups.len() * 4, |k| k * 4);
    rest[start..]
        .iter()
        .position(|&d| d == value)
        .map(|k| from + start + k)
}

/// (argmin, min) over j of `row[j] - v[j]`.
fn argmin_reduced(row: &[f64], v: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, (c, vj)) in row.iter().zip(v).enumerate() {
        let h = c - vj;
        if h < best.1 {
            best = (j, h);
        }
    }
    best
}

/// One pass of Jonker-Volgenant augmenting row reduction over `free`; returns the rows left
/// free. Each free row takes its cheapest column (in reduced cost `c - v`), lowering that
/// column's `v` by the gap to its second cheapest so the choice stays optimal for the row; a
/// displaced row is retried at once when the gap was positive, else queued for the next pass.
/// The number of immediate retries is capped so that tiny gaps cannot stall the pass.
fn augmenting_row_reduction<C: CostRows>(
    cost: &C,
    free: &[usize],
    v: &mut [f64],
    col4row: &mut [usize],
    row4col: &mut [usize],
) -> Vec<usize> {
    let n = cost.n();
    let mut buf = vec![0.0f64; n];
    let mut queue: Vec<usize> = free.to_vec();
    let mut next_free = Vec::new();
    let mut k = 0;
    let mut retries_left = ARR_RETRIES_PER_ROW * n;
    while k < queue.len() {
        let i = queue[k];
        k += 1;
        let (mut u1, mut j1) = (f64::INFINITY, NONE);
        let (mut u2, mut j2) = (f64::INFINITY, NONE);
        for (j, (c, vj)) in cost.row(i, &mut buf).iter().zip(v.iter()).enumerate() {
            let h = c - vj;
            if h < u2 {
                if h >= u1 {
                    (u2, j2) = (h, j);
                } else {
                    (u2, j2) = (u1, j1);
                    (u1, j1) = (h, j);
                }
            }
        }
        if n == 1 {
            (u2, j2) = (u1, j1);
        }
        let mut displaced = row4col[j1];
        if u1 < u2 {
            v[j1] -= u2 - u1;
        } else if displaced != NONE {
            j1 = j2;
            displaced = row4col[j1];
        }
        if displaced != NONE {
            col4row[displaced] = NONE;
        }
        col4row[i] = j1;
        row4col[j1] = i;
        if displaced != NONE {
            if u1 < u2 && retries_left > 0 {
                retries_left -= 1;
                k -= 1;
                queue[k] = displaced;
            } else {
                next_free.push(displaced);
            }
        }
    }
    next_free
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn rec(cost: &[f64], n: usize, i: usize, used: &mut [bool], acc: f64, best: &mut f64) {
            if i == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    rec(cost, n, i + 1, used, acc + cost[i * n + j], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(cost, n, 0, &mut vec![false; n], 0.0, &mut best);
        best
    }

    fn total(cost: &[f64], n: usize, col: &[usize]) -> f64 {
        let mut seen = vec![false; n];
        for &j in col {
            assert!(!seen[j], "not a permutation");
            seen[j] = true;
        }
        col.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum()
    }

    #[test]
    fn matches_brute_force_on_small_matrices() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for n in 1..=7 {
            for trial in 0..30 {
                // many ties when trial % 3 == 0
                let values: Vec<f64> = (0..n * n)
                    .map(|_| {
                        if trial % 3 == 0 {
                            f64::from(rng.random_range(0..3u8))
                        } else {
                            rng.random::<f64>() * 10.0 - 5.0
                        }
                    })
                    .collect();
                let col = solve(&Dense {
                    n,
                    values: values.clone(),
                });
                let got = total(&values, n, &col);
                let want = brute_force(&values, n);
                assert!(
                    (got - want).abs() < 1e-9,
                    "n={n} trial={trial}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn multiscale_and_dense_paths_agree_with_the_plain_solver() {
        // 700 points: two multiscale levels; dims 2 (on-the-fly rows) and 9 (dense matrix).
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for dim in [2, 9] {
            let n = 700;
            let a: Vec<f64> = (0..n * dim).map(|_| rng.random::<f64>()).collect();
            let b: Vec<f64> = (0..n * dim).map(|_| rng.random::<f64>() * 1.5).collect();
            let values: Vec<f64> = a
                .chunks_exact(dim)
                .flat_map(|x| {
                    b.chunks_exact(dim)
                        .map(move |y| x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum())
                })
                .collect();
            let plain = total(
                &values,
                n,
                &solve(&Dense {
                    n,
                    values: values.clone(),
                }),
            );
            let fast = total(&values, n, &solve_points(&a, &b, dim));
            assert!(
                (plain - fast).abs() <= 1e-12 * plain,
                "dim {dim}: {plain} vs {fast}"
            );
        }
    }

    #[test]
    fn euclidean_ground_cost_is_solved_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // brute force on small problems
        for n in 1..=7 {
            let a: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>()).collect();
            let b: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>() + 0.2).collect();
            let values: Vec<f64> = a
                .chunks_exact(2)
                .flat_map(|x| {
                    b.chunks_exact(2)
                        .map(move |y| ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2)).sqrt())
                })
                .collect();
            let got = total(&values, n, &solve_points_with(&a, &b, 2, Ground::Euclidean));
            assert!((got - brute_force(&values, n)).abs() < 1e-12, "n={n}");
        }
        // multiscale (700 points) and dense (dim 9) paths against the plain solver
        for dim in [2, 9] {
            let n = 700;
            let a: Vec<f64> = (0..n * dim).map(|_| rng.random::<f64>()).collect();
            let b: Vec<f64> = (0..n * dim).map(|_| rng.random::<f64>() * 1.5).collect();
            let values: Vec<f64> = a
                .chunks_exact(dim)
                .flat_map(|x| {
                    b.chunks_exact(dim).map(move |y| {
                        x.iter()
                            .zip(y)
                            .map(|(p, q)| (p - q) * (p - q))
                            .sum::<f64>()
                            .sqrt()
                    })
                })
                .collect();
            let plain = total(
                &values,
                n,
                &solve(&Dense {
                    n,
                    values: values.clone(),
                }),
            );
            let fast = total(
                &values,
                n,
                &solve_points_with(&a, &b, dim, Ground::Euclidean),
            );
            assert!(
                (plain - fast).abs() <= 1e-12 * plain,
                "dim {dim}: {plain} vs {fast}"
            );
        }
    }

    #[test]
    fn multiscale_handles_heavy_ties() {
        // Repeated points on a coarse integer grid: many optimal assignments, many equal costs.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 600;
        let a: Vec<f64> = (0..2 * n)
            .map(|_| f64::from(rng.random_range(0..3u8)))
            .collect();
        let b: Vec<f64> = (0..2 * n)
            .map(|_| f64::from(rng.random_range(0..4u8)))
            .collect();
        let values: Vec<f64> = a
            .chunks_exact(2)
            .flat_map(|x| {
                b.chunks_exact(2)
                    .map(move |y| (x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2))
            })
            .collect();
        let plain = total(
            &values,
            n,
            &solve(&Dense {
                n,
                values: values.clone(),
            }),
        );
        let fast = total(&values, n, &solve_points(&a, &b, 2));
        assert_eq!(plain, fast, "integer costs: both sums are exact");
        // all points identical on one side
        let same = vec![0.5; 2 * n];
        let col = solve_points(&same, &b, 2);
        let mut seen = vec![false; n];
        for &j in &col {
            assert!(!std::mem::replace(&mut seen[j], true));
        }
    }

    #[test]
    fn empty_problem() {
        assert!(solve_points(&[], &[], 3).is_empty());
        assert!(
            solve(&Dense {
                n: 0,
                values: vec![]
            })
            .is_empty()
        );
    }
}
