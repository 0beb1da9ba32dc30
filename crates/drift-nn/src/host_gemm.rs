//! Bounds-checked host matrix products for the fast path: strided views over `f32` slices and
//! one safe entry point to the `gemm` crate's kernel (the one candle's CPU matmul calls), run
//! on the calling thread so that the fast path decides all parallelism itself.
//!
//! This is the only module of drift that contains `unsafe`: `gemm::gemm` takes raw pointers and
//! strides. [`matmul_into`] checks, before the call, that every element either view can address
//! lies inside its slice, and the destination is an exclusively borrowed, contiguous buffer of
//! exactly the output's size, so no call can read or write out of bounds or alias.
#![allow(unsafe_code)]

/// A strided matrix view: element (i, j) lies at `offset + i * rs + j * cs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
    pub offset: usize,
}

impl View {
    pub fn rowmajor(rows: usize, cols: usize) -> Self {
        View {
            rows,
            cols,
            rs: cols,
            cs: 1,
            offset: 0,
        }
    }

    /// The first `cols` columns of a row-major matrix whose rows are `stride` wide.
    pub fn leading(rows: usize, cols: usize, stride: usize) -> Self {
        View {
            rows,
            cols,
            rs: stride,
            cs: 1,
            offset: 0,
        }
    }

    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            offset: self.offset,
        }
    }

    /// Whether every element of the view lies inside a slice of `len` elements.
    fn fits(self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return self.offset <= len;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .and_then(|r| (self.cols - 1).checked_mul(self.cs).map(|c| (r, c)))
            .and_then(|(r, c)| r.checked_add(c))
            .and_then(|rc| rc.checked_add(self.offset));
        matches!(last, Some(last) if last < len)
    }

    fn isize(v: usize) -> isize {
        isize::try_from(v).expect("matrix strides fit in isize")
    }
}

/// The element types the gemm kernel takes here.
pub(crate) trait Scalar: Copy + Default + 'static {
    const ZERO: Self;
    const ONE: Self;
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// `dst = a * b` for `a` (m x k) and `b` (k x n) given as views of `a_data` and `b_data`; `dst`
/// becomes the row-major m x n product (resized as needed, its old contents ignored).
///
/// # Panics
/// If the inner dimensions differ or a view reaches outside its slice: both are bugs in the
/// caller, never a consequence of user input.
pub(crate) fn matmul_into<T: Scalar>(
    dst: &mut Vec<T>,
    a_data: &[T],
    a: View,
    b_data: &[T],
    b: View,
) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    assert!(
        a.fits(a_data.len()),
        "matmul: lhs view {a:?} outside its slice"
    );
    assert!(
        b.fits(b_data.len()),
        "matmul: rhs view {b:?} outside its slice"
    );
    let (m, n, k) = (a.rows, b.cols, a.cols);
    dst.clear();
    dst.resize(m * n, T::ZERO);
    if m == 0 || n == 0 || k == 0 {
        return; // the empty sum: zeros
    }
    // SAFETY: both views were checked to lie inside their slices (so every pointer gemm forms
    // from base, row stride and column stride is in bounds), `dst` holds exactly m * n elements
    // written row-major (row stride n, column stride 1), and it is borrowed mutably, so it
    // aliases neither input. `read_dst = false`: gemm writes `dst` without reading it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            View::isize(n),
            false,
            a_data.as_ptr().add(a.offset),
            View::isize(a.cs),
            View::isize(a.rs),
            b_data.as_ptr().add(b.offset),
            View::isize(b.cs),
            View::isize(b.rs),
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook triple loop over the same views.
    fn naive(a_data: &[f32], a: View, b_data: &[f32], b: View) -> Vec<f32> {
        let mut out = vec![0f32; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0f64;
                for p in 0..a.cols {
                    let x = a_data[a.offset + i * a.rs + p * a.cs];
                    let y = b_data[b.offset + p * b.rs + j * b.cs];
                    s += f64::from(x) * f64::from(y);
                }
                out[i * b.cols + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn strided_products_match_the_triple_loop() {
        let data: Vec<f32> = (0..600)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let cases = [
            (View::rowmajor(7, 5), View::rowmajor(5, 3)),
            (View::rowmajor(5, 7).t(), View::rowmajor(5, 3)),
            (View::rowmajor(7, 5), View::rowmajor(3, 5).t()),
            (View::leading(6, 4, 9), View::leading(4, 6, 11)),
            (View::leading(4, 6, 9).t(), View::leading(4, 6, 11)),
        ];
        for (a, b) in cases {
            let mut b = b;
            b.offset = 13;
            let mut dst = vec![99.0; 2];
            matmul_into(&mut dst, &data, a, &data, b);
            let want = naive(&data, a, &data, b);
            assert_eq!(dst.len(), want.len());
            for (x, y) in dst.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{a:?} x {b:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn f64_products_are_exact_on_small_integers() {
        let a: Vec<f64> = (0..6).map(f64::from).collect();
        let mut dst = Vec::new();
        matmul_into(
            &mut dst,
            &a,
            View::rowmajor(2, 3),
            &a,
            View::rowmajor(2, 3).t(),
        );
        assert_eq!(dst, vec![5.0, 14.0, 14.0, 50.0]);
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut dst = vec![5.0; 1];
        matmul_into(
            &mut dst,
            &[],
            View::rowmajor(2, 0),
            &[],
            View::rowmajor(0, 3),
        );
        assert_eq!(dst, vec![0.0; 6]);
    }

    #[test]
    #[should_panic(expected = "outside its slice")]
    fn a_view_past_the_end_is_refused() {
        let mut dst: Vec<f32> = Vec::new();
        matmul_into(
            &mut dst,
            &[0.0; 5],
            View::rowmajor(2, 3),
            &[0.0; 9],
            View::rowmajor(3, 3),
        );
    }
}
