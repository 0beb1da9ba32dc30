//! Axes: ranges (linear or log10, padded, robust percentiles), tick positions and tick labels.
//!
//! Charts are drawn in a linear coordinate space; a log axis stores `log10(value)` and maps
//! data through [`Axis::map`]. Ticks are chosen here, not by plotters, so they are readable.

/// One axis in drawing space: range `lo..hi`, tick positions and how to label them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    /// Tick positions in drawing space, ascending, inside `lo..=hi`.
    pub ticks: Vec<f64>,
    /// log10 axis: drawing-space values are `log10(data)`.
    pub log: bool,
    /// Linear axes: the tick step, used to choose the label precision.
    step: f64,
}

impl Axis {
    /// The tick label of drawing-space value `t`.
    pub fn label(&self, t: f64) -> String {
        if self.log {
            fmt_num(10f64.powf(t))
        } else {
            fmt_linear(t, self.step, self.lo.abs().max(self.hi.abs()))
        }
    }

    /// A linear axis covering `min..=max` (data values), padded by `pad` of the span.
    pub fn linear(min: f64, max: f64, pad: f64) -> Axis {
        let (lo, hi) = padded(min, max, pad, 1.0);
        let (ticks, step) = nice_ticks(lo, hi, 6);
        Axis {
            lo,
            hi,
            ticks,
            log: false,
            step,
        }
    }

    /// A linear axis of exactly `lo..hi` (no padding).
    pub fn linear_exact(lo: f64, hi: f64, target_ticks: usize) -> Axis {
        let (ticks, step) = nice_ticks(lo, hi, target_ticks);
        Axis {
            lo,
            hi,
            ticks,
            log: false,
            step,
        }
    }

    /// A log10 axis covering the positive data values `min..=max`, padded by `pad` of the
    /// span in decades. With `at`, ticks are placed at those data values (e.g. the NFEs
    /// measured), thinned if they are too many; otherwise at decades (and 2, 5 multiples
    /// on short ranges).
    pub fn log(min: f64, max: f64, pad: f64, at: Option<&[f64]>) -> Axis {
        let (lo, hi) = padded(min.log10(), max.log10(), pad, 0.15);
        let ticks = match at {
            Some(values) => data_ticks(values, lo, hi),
            None => log_ticks(lo, hi),
        };
        Axis {
            lo,
            hi,
            ticks,
            log: true,
            step: 0.0,
        }
    }
}

/// `v` in drawing space of a (log or linear) axis; `None` if not drawable.
pub(crate) fn map_value(log: bool, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        if v > 0.0 { Some(v.log10()) } else { None }
    } else {
        Some(v)
    }
}

/// `min..max` widened by `pad` of its span on each side; a zero span gets `±zero_pad`
/// (relative to the magnitude for large values).
fn padded(min: f64, max: f64, pad: f64, zero_pad: f64) -> (f64, f64) {
    let span = max - min;
    if span > 0.0 && span.is_finite() {
        (min - pad * span, max + pad * span)
    } else {
        let half = (min.abs() * 0.1).max(zero_pad);
        (min - half, max + half)
    }
}

/// "Nice" ticks (steps of 1, 2, 2.5, 5 × 10^k) inside `lo..=hi`, about `target` of them;
/// returns the ticks and the step.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || span.is_infinite() {
        return (vec![lo], 1.0);
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let mult = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|m| *m >= norm - 1e-9)
        .unwrap_or(10.0);
    let step = mult * mag;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last)
        .map(|k| {
            let t = k as f64 * step;
            if t.abs() < step * 1e-9 { 0.0 } else { t }
        })
        .collect();
    (ticks, step)
}

/// Ticks of a log10 axis `lo..hi` (drawing space): decades, thinned on long ranges, with 2
/// and 5 multiples on short ones; on very short ranges, nice linear values.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let first = lo.ceil() as i64;
    let last = hi.floor() as i64;
    let decades: Vec<i64> = (first..=last).collect();
    if decades.len() > 8 {
        let every = decades.len().div_ceil(8) as i64;
        return decades
            .into_iter()
            .filter(|d| d.rem_euclid(every) == 0)
            .map(|d| d as f64)
            .collect();
    }
    if decades.len() >= 3 {
        return decades.into_iter().map(|d| d as f64).collect();
    }
    let mut ticks: Vec<f64> = Vec::new();
    for d in (first - 1)..=(last + 1) {
        for m in [1.0f64, 2.0, 5.0] {
            let t = d as f64 + m.log10();
            if t >= lo - 1e-12 && t <= hi + 1e-12 {
                ticks.push(t);
            }
        }
    }
    if ticks.len() >= 3 {
        return ticks;
    }
    // Less than about half a decade: nice linear values, placed on the log axis.
    let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
    nice_ticks(vlo, vhi, 5)
        .0
        .into_iter()
        .filter(|v| *v > 0.0)
        .map(f64::log10)
        .collect()
}

/// Ticks at data values (positive, finite), in drawing space, thinned to about 12 so the
/// labels do not overlap.
fn data_ticks(values: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mut ts: Vec<f64> = values.iter().filter_map(|v| map_value(true, *v)).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let min_gap = (hi - lo) / 14.0;
    let mut kept: Vec<f64> = Vec::with_capacity(ts.len());
    for t in ts {
        if kept.last().is_none_or(|k| t - *k >= min_gap) {
            kept.push(t);
        }
    }
    kept
}

/// The `q`-quantile (0..=1) of sorted finite values, linearly interpolated.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    let f = pos - i as f64;
    sorted[i] * (1.0 - f) + sorted[j] * f
}

/// Square axes (same span on x and y) around the robust extent of `points`: the 0.5–99.5
/// percentiles of each coordinate, padded by 10%. `None` if no point is finite.
pub(crate) fn robust_square_axes<'a>(
    points: impl IntoIterator<Item = &'a [f64; 2]>,
) -> Option<(Axis, Axis)> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for p in points {
        if p[0].is_finite() && p[1].is_finite() {
            xs.push(p[0]);
            ys.push(p[1]);
        }
    }
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    let (x0, x1) = (quantile(&xs, 0.005), quantile(&xs, 0.995));
    let (y0, y1) = (quantile(&ys, 0.005), quantile(&ys, 0.995));
    let span = (x1 - x0).max(y1 - y0);
    let half = if span > 0.0 && span.is_finite() {
        span * 0.5 * 1.2
    } else {
        1.0
    };
    let (cx, cy) = ((x0 + x1) * 0.5, (y0 + y1) * 0.5);
    Some((
        Axis::linear_exact(cx - half, cx + half, 4),
        Axis::linear_exact(cy - half, cy + half, 4),
    ))
}

/// A short readable number: integers as such, others with up to 4 significant digits,
/// scientific notation for very large or small magnitudes.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".to_string();
    }
    if !(1e-3..1e6).contains(&a) {
        return fmt_sci(v, 3);
    }
    if (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        return format!("{}", v.round() as i64);
    }
    let digits = (4 - 1 - a.log10().floor() as i32).clamp(0, 8) as usize;
    trim_zeros(format!("{v:.digits$}"))
}

/// A linear tick label: as many decimals as the step needs.
fn fmt_linear(t: f64, step: f64, magnitude: f64) -> String {
    // No "-0.0".
    let t = if t == 0.0 { 0.0 } else { t };
    if magnitude >= 1e6 || (step > 0.0 && step < 1e-4) {
        return fmt_sci(t, 3);
    }
    let decimals = if step > 0.0 {
        let mut d = (-step.log10().floor()).max(0.0) as usize;
        // Steps like 0.25 or 2.5 need one more digit than their magnitude.
        let scaled = step / 10f64.powf(step.log10().floor());
        if (scaled - 2.5).abs() < 1e-6 {
            d += 1;
        }
        d.min(10)
    } else {
        3
    };
    format!("{t:.decimals$}")
}

/// `1.5e-5` style, with at most `sig` significant digits and no trailing zeros.
fn fmt_sci(v: f64, sig: usize) -> String {
    let s = format!("{:.*e}", sig.saturating_sub(1), v);
    match s.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{}", trim_zeros(mantissa.to_string()), exp),
        None => s,
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_inside() {
        let (t, step) = nice_ticks(-0.13, 1.07, 6);
        assert_eq!(step, 0.2);
        assert_eq!(t.first().copied(), Some(0.0));
        assert!(t.iter().all(|v| (-0.13..=1.07).contains(v)));
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn numbers_format_readably() {
        assert_eq!(fmt_num(8.0), "8");
        assert_eq!(fmt_num(1000.0), "1000");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1e-5), "1e-5");
        assert_eq!(fmt_num(2.5e7), "2.5e7");
        assert_eq!(fmt_linear(0.5, 0.25, 1.0), "0.50");
        assert_eq!(fmt_linear(3.0, 1.0, 3.0), "3");
        assert_eq!(fmt_linear(-0.0, 0.5, 3.0), "0.0");
    }

    #[test]
    fn log_axis_ticks_at_data_values() {
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let a = Axis::log(1.0, 64.0, 0.05, Some(&xs));
        let labels: Vec<String> = a.ticks.iter().map(|t| a.label(*t)).collect();
        assert_eq!(labels, ["1", "2", "4", "8", "16", "32", "64"]);
    }

    #[test]
    fn log_axis_decades_and_short_ranges() {
        let a = Axis::log(1e-4, 10.0, 0.02, None);
        let labels: Vec<String> = a.ticks.iter().map(|t| a.label(*t)).collect();
        assert_eq!(labels, ["1e-4", "0.001", "0.01", "0.1", "1", "10"]);
        let b = Axis::log(0.3, 0.5, 0.02, None);
        assert!(b.ticks.len() >= 2, "{:?}", b.ticks);
    }

    #[test]
    fn robust_axes_ignore_outliers() {
        let mut pts: Vec<[f64; 2]> = (0..1000)
            .map(|i| {
                let t = i as f64 / 1000.0;
                [t, -t]
            })
            .collect();
        pts.push([1e6, 1e6]);
        pts.push([f64::NAN, 0.0]);
        let (x, y) = robust_square_axes(&pts).unwrap();
        assert!(x.hi < 2.0 && x.lo > -1.0, "{x:?}");
        assert!((x.hi - x.lo - (y.hi - y.lo)).abs() < 1e-12);
    }
}
