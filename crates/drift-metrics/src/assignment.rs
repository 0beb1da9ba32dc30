//! Exact dense linear assignment (min-cost perfect matching) in f64: shortest augmenting
//! paths with dual potentials (Jonker-Volgenant / Hungarian family, O(n^3) worst case), warm
//! started by augmenting row reduction and, for large problems, by potentials from a strided
//! sub-problem (multiscale).

const NONE: usize = usize::MAX;

/// Problems at most this large are solved directly; larger ones get multiscale warm starts.
const DIRECT_MAX: usize = 256;

/// Each multiscale level keeps one row and column in this many.
const COARSENING: usize = 4;

/// An optimal assignment with its dual potentials: `cost[i][j] - u[i] - v[j] >= 0` for all
/// pairs (up to rounding), with equality on the matching.
pub(crate) struct Solution {
    pub col4row: Vec<usize>,
    pub u: Vec<f64>,
    pub v: Vec<f64>,
}

/// Minimise `sum_i cost[i][col[i]]` over permutations `col` of an `n x n` row-major matrix of
/// finite costs. Returns `col` (the column assigned to each row).
///
/// The result is exact whatever the warm start; the warm start only shortens the augmenting
/// paths. Problems above `DIRECT_MAX` first solve the sub-problem on every `COARSENING`-th
/// row and column, extend its row potentials to every column by a c-transform, and start from
/// those column potentials: for costs from point clouds these approximate the optimal
/// potentials well, which keeps the augmenting paths short.
pub(crate) fn solve(cost: &[f64], n: usize) -> Vec<usize> {
    assert_eq!(cost.len(), n * n, "assignment: cost matrix is not n x n");
    if n == 0 {
        return Vec::new();
    }
    multiscale(cost, n).col4row
}

fn multiscale(cost: &[f64], n: usize) -> Solution {
    if n <= DIRECT_MAX {
        return solve_from(cost, n, None);
    }
    let coarsening: usize = std::env::var("COARSE").ok().and_then(|x| x.parse().ok()).unwrap_or(COARSENING);
    let m = n / coarsening;
    let idx: Vec<usize> = (0..m).map(|s| s * n / m).collect();
    let sub: Vec<f64> = idx
        .iter()
        .flat_map(|&i| idx.iter().map(move |&j| cost[i * n + j]))
        .collect();
    let coarse = multiscale(&sub, m);
    // c-transform: v[j] = min over sub-problem rows s of cost[s][j] - u[s].
    let mut v = vec![f64::INFINITY; n];
    for (&i, &us) in idx.iter().zip(&coarse.u) {
        for (vj, c) in v.iter_mut().zip(&cost[i * n..(i + 1) * n]) {
            *vj = vj.min(c - us);
        }
    }
    solve_from(cost, n, Some(v))
}

/// Exact assignment starting from column potentials `v0` (column reduction when `None`).
fn solve_from(cost: &[f64], n: usize, v0: Option<Vec<f64>>) -> Solution {
    let tstart = std::time::Instant::now();
    let mut col4row = vec![NONE; n];
    let mut row4col = vec![NONE; n];
    let mut v = match v0 {
        Some(v) => {
            // Each row takes its cheapest column (in reduced cost) when that column is free.
            for (i, row) in cost.chunks_exact(n).enumerate() {
                let j = argmin_reduced(row, &v).0;
                if row4col[j] == NONE {
                    row4col[j] = i;
                    col4row[i] = j;
                }
            }
            v
        }
        None => {
            // Column reduction: v[j] = min_i cost[i][j]; each column is matched to its
            // minimising row when that row is still free.
            let mut v = vec![f64::INFINITY; n];
            let mut argmin = vec![0usize; n];
            for (i, row) in cost.chunks_exact(n).enumerate() {
                for (j, &c) in row.iter().enumerate() {
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
    let passes: usize = std::env::var("PASSES").ok().and_then(|x| x.parse().ok()).unwrap_or(2);
    for _ in 0..passes {
        if free_rows.is_empty() {
            break;
        }
        free_rows =
            augmenting_row_reduction(cost, n, &free_rows, &mut v, &mut col4row, &mut row4col);
    }

    // Row potentials u[i] = min_j (cost[i][j] - v[j]) make every reduced cost >= 0; a
    // matched row attains it on its own column.
    let mut u: Vec<f64> = cost
        .chunks_exact(n)
        .zip(&col4row)
        .map(|(row, &j)| {
            if j == NONE {
                argmin_reduced(row, &v).1
            } else {
                row[j] - v[j]
            }
        })
        .collect();

    let t0 = std::time::Instant::now();
    let nfree = free_rows.len();
    shortest_augmenting_paths(cost, n, &free_rows, &mut u, &mut v, &mut col4row, &mut row4col);
    eprintln!("n {n} free {nfree} sap {:?} total {:?}", t0.elapsed(), tstart.elapsed());
    Solution { col4row, u, v }
}

/// Match every row of `free_rows` by a Dijkstra search for the shortest augmenting path in
/// reduced costs `cost[i][j] - u[i] - v[j]`, updating the potentials so that reduced costs
/// stay >= 0 and are 0 on the matching.
///
/// Each scanned row is relaxed against every column in index order, so the cost row and the
/// per-column arrays are read sequentially (the cost matrix is far larger than the caches). A
/// column leaves the search by setting its working potential to -inf (its relaxations become
/// +inf and never win) and its tentative distance to +inf (it is never picked again).
fn shortest_augmenting_paths(
    cost: &[f64],
    n: usize,
    free_rows: &[usize],
    u: &mut [f64],
    v: &mut [f64],
    col4row: &mut [usize],
    row4col: &mut [usize],
) {
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
            let row = &cost[i * n..(i + 1) * n];
            let offset = min_val - u[i];
            // Relax: tentative[j] = min(tentative[j], reduced cost via row i), branch-free.
            for (((&c, &vj), d), p) in row
                .iter()
                .zip(&v_work)
                .zip(tentative.iter_mut())
                .zip(path.iter_mut())
            {
                let r = c - vj + offset;
                let better = r < *d;
                *d = if better { r } else { *d };
                *p = if better { i } else { *p };
            }
            // The smallest tentative distance, preferring a free column on ties (it ends the
            // search sooner).
            let lowest = tentative
                .iter()
                .fold(f64::INFINITY, |m, &d| if d < m { d } else { m });
            assert!(
                lowest.is_finite(),
                "assignment: non-finite reduced cost (costs must be finite)"
            );
            let mut j = NONE;
            for (k, &d) in tentative.iter().enumerate() {
                if d == lowest {
                    if j == NONE {
                        j = k;
                    }
                    if row4col[k] == NONE {
                        j = k;
                        break;
                    }
                }
            }
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
fn augmenting_row_reduction(
    cost: &[f64],
    n: usize,
    free: &[usize],
    v: &mut [f64],
    col4row: &mut [usize],
    row4col: &mut [usize],
) -> Vec<usize> {
    let mut queue: Vec<usize> = free.to_vec();
    let mut next_free = Vec::new();
    let mut k = 0;
    let mut retries_left = 4 * n;
    while k < queue.len() {
        let i = queue[k];
        k += 1;
        let row = &cost[i * n..(i + 1) * n];
        let (mut u1, mut j1) = (f64::INFINITY, NONE);
        let (mut u2, mut j2) = (f64::INFINITY, NONE);
        for (j, (c, vj)) in row.iter().zip(v.iter()).enumerate() {
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

    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn rec(cost: &[f64], n: usize, i: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
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

    #[test]
    fn matches_brute_force_on_small_matrices() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for n in 1..=7 {
            for trial in 0..30 {
                // include many ties for trial % 3 == 0
                let cost: Vec<f64> = (0..n * n)
                    .map(|_| {
                        if trial % 3 == 0 {
                            f64::from(rng.random_range(0..3u8))
                        } else {
                            rng.random::<f64>() * 10.0 - 5.0
                        }
                    })
                    .collect();
                let col = solve_from(&cost, n, None).col4row;
                let mut seen = vec![false; n];
                for &j in &col {
                    assert!(!seen[j], "not a permutation");
                    seen[j] = true;
                }
                let got: f64 = col.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum();
                let want = brute_force(&cost, n);
                assert!((got - want).abs() < 1e-9, "n={n} trial={trial}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn empty_matrix() {
        assert!(solve(&[], 0).is_empty());
    }
}
