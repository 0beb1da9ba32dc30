//! The all-pairs summation engine behind the kernel metrics (`mmd`, `mmd_poly`,
//! `energy_distance`): per-row sums of a pair function over a second point set, in column
//! order, computed in blocks of rows over lane-wide column chunks (vectorised when the CPU has
//! AVX2 + FMA) and in parallel over row blocks. Every row sum is the same sequential sum in
//! column order whatever the blocking, the lane width or the thread count.

#[cfg(target_arch = "x86_64")]
use pulp::{bytemuck::cast, f64x4, x86::V3};
use rayon::prelude::*;

use crate::fastexp::LANES;

/// Rows handled together, sharing each column chunk while it is in L1.
const ROW_BLOCK: usize = 4;

/// A point set stored coordinate-major (`coords[d * n + j]` is coordinate `d` of point `j`),
/// so that a chunk of consecutive points is `dim` contiguous runs.
pub(crate) struct Columns<'a> {
    pub n: usize,
    pub dim: usize,
    /// The same points, row-major.
    pub points: &'a [f64],
    pub coords: Vec<f64>,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(points: &'a [f64], dim: usize) -> Self {
        let n = points.len() / dim;
        let mut coords = vec![0.0; n * dim];
        for (j, p) in points.chunks_exact(dim).enumerate() {
            for (d, &v) in p.iter().enumerate() {
                coords[d * n + j] = v;
            }
        }
        Columns {
            n,
            dim,
            points,
            coords,
        }
    }

    #[inline(always)]
    pub(crate) fn point(&self, j: usize) -> &[f64] {
        &self.points[j * self.dim..(j + 1) * self.dim]
    }

    /// Coordinate `d` of points `j..j + LANES`.
    #[inline(always)]
    pub(crate) fn chunk(&self, d: usize, j: usize) -> &[f64; LANES] {
        let start = d * self.n + j;
        self.coords[start..start + LANES]
            .try_into()
            .expect("a chunk is LANES long")
    }

    /// Squared Euclidean distances from `x` to points `j..j + LANES`, each summed over
    /// coordinates in order exactly like `input::sq_dist`.
    #[inline(always)]
    pub(crate) fn sq_dists(&self, x: &[f64], j: usize, out: &mut [f64; LANES]) {
        let c = self.chunk(0, j);
        for l in 0..LANES {
            let diff = x[0] - c[l];
            out[l] = diff * diff;
        }
        for (d, &xd) in x.iter().enumerate().skip(1) {
            let c = self.chunk(d, j);
            for l in 0..LANES {
                let diff = xd - c[l];
                out[l] += diff * diff;
            }
        }
    }

    /// Coordinate `d` of points `j..j + LANES` as two four-lane vectors.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn chunk_v3(&self, d: usize, j: usize) -> [f64x4; 2] {
        let c = self.chunk(d, j);
        let lo: [f64; 4] = c[..4].try_into().expect("4 lanes");
        let hi: [f64; 4] = c[4..].try_into().expect("4 lanes");
        [cast(lo), cast(hi)]
    }

    /// [`Columns::sq_dists`] with explicit AVX2 vectors (the same operations per lane).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn sq_dists_v3(&self, simd: V3, x: &[f64], j: usize) -> [f64x4; 2] {
        let mut out = [simd.splat_f64x4(0.0); 2];
        for (d, &xd) in x.iter().enumerate() {
            let xs = simd.splat_f64x4(xd);
            for (o, c) in out.iter_mut().zip(self.chunk_v3(d, j)) {
                let diff = simd.sub_f64x4(xs, c);
                let sq = simd.mul_f64x4(diff, diff);
                *o = if d == 0 { sq } else { simd.add_f64x4(*o, sq) };
            }
        }
        out
    }

    /// [`Columns::dots`] with explicit AVX2 vectors (the same operations per lane).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn dots_v3(&self, simd: V3, x: &[f64], j: usize) -> [f64x4; 2] {
        let mut out = [simd.splat_f64x4(0.0); 2];
        for (d, &xd) in x.iter().enumerate() {
            let xs = simd.splat_f64x4(xd);
            for (o, c) in out.iter_mut().zip(self.chunk_v3(d, j)) {
                let p = simd.mul_f64x4(xs, c);
                *o = if d == 0 { p } else { simd.add_f64x4(*o, p) };
            }
        }
        out
    }
}

/// The rows of `points` in a spatially coherent order (a k-d tree's leaf order: split at the
/// median of the widest coordinate, recursively, down to groups of at most [`LANES`], each
/// group in index order). Ties are broken by index, so the order depends only on the data.
pub(crate) fn spatially_ordered(points: &[f64], dim: usize) -> Vec<f64> {
    fn split(idx: &mut [usize], points: &[f64], dim: usize) {
        if idx.len() <= LANES {
            idx.sort_unstable();
            return;
        }
        let (mut widest, mut spread) = (0, f64::NEG_INFINITY);
        for d in 0..dim {
            let (lo, hi) = idx
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                    let v = points[i * dim + d];
                    (lo.min(v), hi.max(v))
                });
            if hi - lo > spread {
                (widest, spread) = (d, hi - lo);
            }
        }
        let mid = idx.len() / 2;
        idx.select_nth_unstable_by(mid, |&i, &j| {
            points[i * dim + widest]
                .total_cmp(&points[j * dim + widest])
                .then(i.cmp(&j))
        });
        let (lo, hi) = idx.split_at_mut(mid);
        split(lo, points, dim);
        split(hi, points, dim);
    }
    let mut idx: Vec<usize> = (0..points.len() / dim).collect();
    split(&mut idx, points, dim);
    idx.iter()
        .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

/// Write two four-lane vectors to a lane array (no closures: they would not inherit the
/// SIMD context).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn store(v: [f64x4; 2], out: &mut [f64; LANES]) {
    let (lo, hi): ([f64; 4], [f64; 4]) = (cast(v[0]), cast(v[1]));
    out[..4].copy_from_slice(&lo);
    out[4..].copy_from_slice(&hi);
}

/// A symmetric or cross pair function, given both one pair at a time and a lane-wide chunk of
/// columns at a time. The two forms must give bit-identical values for the same pair.
pub(crate) trait PairKernel: Sync {
    /// The value for one pair.
    fn pair(&self, x: &[f64], y: &[f64]) -> f64;
    /// The values for `x` against points `j..j + LANES` of `cols`, with AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    fn lanes(&self, simd: V3, x: &[f64], cols: &Columns<'_>, j: usize, out: &mut [f64; LANES]);
}

/// Which pairs a row sums over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairs {
    /// Row `i` of a set against the points after it in the same set (`j > i`).
    Upper,
    /// Every row of one set against every point of another.
    All,
}

/// Per-row sums `out[i] = sum over j of kernel(rows_i, cols_j)`, with `j > i` for
/// [`Pairs::Upper`] (then `rows` and `cols` are the same set) and every `j` for
/// [`Pairs::All`].
///
/// Summation order (fixed by `n`, the row and [`ROW_BLOCK`]; never by the thread count or the
/// CPU): rows go in blocks of [`ROW_BLOCK`]; the columns a whole block shares start at
/// `start` (the block's end for `Upper`, 0 for `All`). A row's sum is its own columns before
/// `start` in order, then [`LANES`] partial sums (lane `l` adds columns `start + l`,
/// `start + l + LANES`, ... of the whole chunks, in order) added in lane order, then the
/// remaining columns in order. Lanes and single pairs give the same bits, so the same sums
/// come out with or without AVX2.
pub(crate) fn row_sums<K: PairKernel>(
    kernel: &K,
    rows: &[f64],
    cols: &Columns<'_>,
    pairs: Pairs,
) -> Vec<f64> {
    let dim = cols.dim;
    let n_rows = rows.len() / dim;
    let mut out = vec![0.0; n_rows];
    out.par_chunks_mut(ROW_BLOCK)
        .enumerate()
        .for_each(|(block, sums)| {
            let op = Block {
                kernel,
                rows,
                cols,
                first: block * ROW_BLOCK,
                pairs,
                sums,
            };
            run_block(op);
        });
    out
}

struct Block<'a, 'c, K> {
    kernel: &'a K,
    rows: &'a [f64],
    cols: &'a Columns<'c>,
    first: usize,
    pairs: Pairs,
    sums: &'a mut [f64],
}

/// [`row_sums`] one pair at a time whatever the CPU (tests compare the two).
#[cfg(test)]
pub(crate) fn row_sums_single<K: PairKernel>(
    kernel: &K,
    rows: &[f64],
    cols: &Columns<'_>,
    pairs: Pairs,
) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() / cols.dim];
    for (block_index, sums) in out.chunks_mut(ROW_BLOCK).enumerate() {
        let op = Block {
            kernel,
            rows,
            cols,
            first: block_index * ROW_BLOCK,
            pairs,
            sums,
        };
        block(op, Single);
    }
    out
}

fn run_block<K: PairKernel>(op: Block<'_, '_, K>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = V3::try_new() {
        return pulp::Simd::vectorize(simd, V3Block(simd, op));
    }
    block(op, Single);
}

/// How a block gets the kernel values of one row against a lane chunk of columns.
trait Evaluate {
    fn lanes<K: PairKernel>(
        &self,
        kernel: &K,
        x: &[f64],
        cols: &Columns<'_>,
        j: usize,
        out: &mut [f64; LANES],
    );
}

/// One pair at a time.
struct Single;

impl Evaluate for Single {
    #[inline(always)]
    fn lanes<K: PairKernel>(
        &self,
        kernel: &K,
        x: &[f64],
        cols: &Columns<'_>,
        j: usize,
        out: &mut [f64; LANES],
    ) {
        for (l, o) in out.iter_mut().enumerate() {
            *o = kernel.pair(x, cols.point(j + l));
        }
    }
}

/// Four lanes at a time with AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
struct Vector(V3);

#[cfg(target_arch = "x86_64")]
impl Evaluate for Vector {
    #[inline(always)]
    fn lanes<K: PairKernel>(
        &self,
        kernel: &K,
        x: &[f64],
        cols: &Columns<'_>,
        j: usize,
        out: &mut [f64; LANES],
    ) {
        kernel.lanes(self.0, x, cols, j, out);
    }
}

#[cfg(target_arch = "x86_64")]
struct V3Block<'a, 'c, K>(V3, Block<'a, 'c, K>);

#[cfg(target_arch = "x86_64")]
impl<K: PairKernel> pulp::WithSimd for V3Block<'_, '_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let V3Block(simd, op) = self;
        block(op, Vector(simd));
    }
}

/// The rows of one block, in the order documented on [`row_sums`]; `eval` gives the kernel
/// values of a row against a lane chunk of columns.
#[inline(always)]
fn block<K: PairKernel, E: Evaluate>(op: Block<'_, '_, K>, eval: E) {
    let Block {
        kernel,
        rows,
        cols,
        first,
        pairs,
        sums,
    } = op;
    let (dim, n) = (cols.dim, cols.n);
    let count = sums.len();
    let x = |r: usize| &rows[(first + r) * dim..(first + r + 1) * dim];
    let start = match pairs {
        Pairs::Upper => (first + count).min(n),
        Pairs::All => 0,
    };
    let mut acc = [[0.0f64; LANES]; ROW_BLOCK];
    let mut values = [0.0f64; LANES];
    let mut j = start;
    while j + LANES <= n {
        for (r, a) in acc.iter_mut().enumerate().take(count) {
            eval.lanes(kernel, x(r), cols, j, &mut values);
            for (s, v) in a.iter_mut().zip(&values) {
                *s += v;
            }
        }
        j += LANES;
    }
    for (r, (sum, a)) in sums.iter_mut().zip(&acc).enumerate() {
        let own = match pairs {
            Pairs::Upper => first + r + 1..start,
            Pairs::All => 0..0,
        };
        let mut s = 0.0;
        for c in own {
            s += kernel.pair(x(r), cols.point(c));
        }
        for v in a {
            s += v;
        }
        for c in j..n {
            s += kernel.pair(x(r), cols.point(c));
        }
        *sum = s;
    }
}
