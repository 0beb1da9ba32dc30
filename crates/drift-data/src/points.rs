//! `Points`: a dense, row-major `n x dim` block of `f32` samples, the output of every generator.

/// A row-major block of `n` points in `dim` dimensions (`values.len() == n * dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// Number of coordinates per point.
    pub dim: usize,
    /// Row-major coordinates: point `i` is `values[i * dim..(i + 1) * dim]`.
    pub values: Vec<f32>,
}

impl Points {
    /// Number of points (rows). A zero `dim` holds no points.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Coordinates of point `i`. Panics when `i >= self.len()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterator over the rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        // `chunks_exact(0)` would panic; a zero-dimensional block has no rows.
        self.values.chunks_exact(self.dim.max(1)).take(self.len())
    }

    /// Build from f64 coordinates, rounding each to the nearest f32.
    pub(crate) fn from_f64(dim: usize, values: &[f64]) -> Self {
        debug_assert!(dim > 0 && values.len().is_multiple_of(dim));
        Self {
            dim,
            values: values.iter().map(|&v| v as f32).collect(),
        }
    }
}
