//! Recipe pieces shared by several generators: numpy-style angle grids, balanced component
//! labels, and the torch-style global standardisation of the TorchCFM runner's `two_dim.py`.

/// `k`-th of the `m` points of numpy's `linspace(0, 2 pi, m, endpoint=False)`: `k * (2 pi / m)`.
pub(crate) fn full_turn_grid(k: usize, m: usize) -> f64 {
    k as f64 * (2.0 * std::f64::consts::PI / m as f64)
}

/// Number of rows of group `k` when `n` rows are dealt as evenly as possible over `groups`
/// groups, the first `n % groups` groups taking one extra (scikit-learn's `make_blobs` rule).
pub(crate) fn balanced_count(n: usize, groups: usize, k: usize) -> usize {
    n / groups + usize::from(k < n % groups)
}

/// Standardise every value by the mean and the standard deviation of *all* values together
/// (torch `(x - x.mean()) / x.std()` on the whole `n x 2` tensor: one scalar mean and one
/// scalar std with Bessel's correction, over `2n` numbers), then multiply by `scale`.
/// With fewer than two values, or a zero or non-finite std, only the mean is removed.
pub(crate) fn standardise_global(values: &mut [f64], scale: f64) {
    let m = values.len();
    if m == 0 {
        return;
    }
    let mean = values.iter().sum::<f64>() / m as f64;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let std = if m > 1 {
        (ss / (m - 1) as f64).sqrt()
    } else {
        0.0
    };
    let inv = if std > 0.0 && std.is_finite() {
        scale / std
    } else {
        scale
    };
    for v in values.iter_mut() {
        *v = (*v - mean) * inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_counts_sum_to_n() {
        for n in [0, 1, 7, 24, 25, 26, 1001] {
            let total: usize = (0..25).map(|k| balanced_count(n, 25, k)).sum();
            assert_eq!(total, n);
        }
        assert_eq!(balanced_count(27, 25, 1), 2);
        assert_eq!(balanced_count(27, 25, 2), 1);
    }

    #[test]
    fn global_standardisation_matches_torch() {
        // torch: x = [[1, 2], [3, 6]]; x.mean() = 3, x.std() = sqrt(((4 + 1 + 0 + 9) / 3))
        let mut v = vec![1.0, 2.0, 3.0, 6.0];
        standardise_global(&mut v, 7.0);
        let std = (14.0f64 / 3.0).sqrt();
        let want = [-2.0 / std * 7.0, -1.0 / std * 7.0, 0.0, 3.0 / std * 7.0];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
        let mut one = vec![5.0];
        standardise_global(&mut one, 7.0);
        assert_eq!(one, vec![0.0]);
    }

    #[test]
    fn grid_has_no_endpoint() {
        assert_eq!(full_turn_grid(0, 4), 0.0);
        assert!((full_turn_grid(3, 4) - 1.5 * std::f64::consts::PI).abs() < 1e-15);
    }
}
