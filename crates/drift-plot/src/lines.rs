//! Line charts: metric vs NFE (log x, markers, error bands) and training-loss curves.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::palette::{AXIS_GREY, colour};
use crate::render::{self, Figure, Frame};
use crate::scale::Axis;
use crate::{DEFAULT_CHART_SIZE, LineChart, Plot, PlotError};

/// Metric vs number of function evaluations: one line with markers per series over a log10
/// x axis with ticks at the NFEs present, a shaded band where the series has one, a legend.
///
/// `chart.log_x` is ignored (always log); `chart.log_y` is honoured; an empty `x_label`
/// becomes `NFE`. Non-positive or non-finite x values are skipped.
pub fn metric_vs_nfe(chart: &LineChart) -> Result<Plot, PlotError> {
    let figure = LineFigure::new(chart, Kind::MetricVsNfe)?;
    render::render(&figure)
}

/// Training loss vs step: one line per series (no markers, except for isolated points),
/// optional bands, log x / log y as `chart.log_x` / `chart.log_y` say, a legend.
pub fn loss_curves(chart: &LineChart) -> Result<Plot, PlotError> {
    let figure = LineFigure::new(chart, Kind::LossCurves)?;
    render::render(&figure)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    MetricVsNfe,
    LossCurves,
}

struct PreparedSeries {
    name: String,
    colour: RGBColor,
    /// Runs of consecutive drawable points, in drawing space.
    segments: Vec<Vec<(f64, f64)>>,
    /// Runs of drawable band points `(x, lower, upper)`; a lower of `None` is off the bottom
    /// of a log axis and is drawn at the axis' lower edge.
    bands: Vec<Vec<(f64, Option<f64>, f64)>>,
}

impl PreparedSeries {
    fn is_drawable(&self) -> bool {
        !self.segments.is_empty()
    }
}

struct LineFigure {
    title: String,
    x_label: String,
    y_label: String,
    x: Axis,
    y: Axis,
    series: Vec<PreparedSeries>,
    markers: bool,
    size: (u32, u32),
}

/// Splits `items` into runs of consecutive `Some`s.
fn runs<T>(items: impl IntoIterator<Item = Option<T>>) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    for item in items {
        match item {
            Some(v) => cur.push(v),
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl LineFigure {
    fn new(chart: &LineChart, kind: Kind) -> Result<LineFigure, PlotError> {
        if chart.series.is_empty() {
            return Err(PlotError::Empty(format!(
                "chart `{}` has no series",
                chart.title
            )));
        }
        let log_x = kind == Kind::MetricVsNfe || chart.log_x;
        let log_y = chart.log_y;
        let mut series = Vec::with_capacity(chart.series.len());
        let (mut xmin, mut xmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut xs_seen: Vec<f64> = Vec::new();
        for (i, s) in chart.series.iter().enumerate() {
            if s.x.is_empty() {
                return Err(PlotError::Empty(format!(
                    "series `{}` has no points",
                    s.name
                )));
            }
            if s.x.len() != s.y.len() {
                return Err(PlotError::Shape(format!(
                    "series `{}` has {} x values but {} y values",
                    s.name,
                    s.x.len(),
                    s.y.len()
                )));
            }
            if let Some(band) = &s.band
                && band.len() != s.x.len()
            {
                return Err(PlotError::Shape(format!(
                    "series `{}` has {} points but {} band entries",
                    s.name,
                    s.x.len(),
                    band.len()
                )));
            }
            let mapped = s.x.iter().zip(&s.y).map(|(x, y)| {
                let x = crate::scale::map_value(log_x, *x)?;
                let y = crate::scale::map_value(log_y, *y)?;
                Some((x, y))
            });
            let segments = runs(mapped);
            let bands = match &s.band {
                None => Vec::new(),
                Some(band) => runs(s.x.iter().zip(band).map(|(x, (lo, hi))| {
                    let x = crate::scale::map_value(log_x, *x)?;
                    let hi = crate::scale::map_value(log_y, *hi)?;
                    let lo = match crate::scale::map_value(log_y, *lo) {
                        Some(lo) => Some(lo),
                        // Below zero on a log axis: draw the band down to the axis.
                        None if log_y && lo.is_finite() => None,
                        None => return None,
                    };
                    Some((x, lo, hi))
                })),
            };
            for (x, y) in segments.iter().flatten() {
                xmin = xmin.min(*x);
                xmax = xmax.max(*x);
                ymin = ymin.min(*y);
                ymax = ymax.max(*y);
            }
            for (x, lo, hi) in bands.iter().flatten() {
                xmin = xmin.min(*x);
                xmax = xmax.max(*x);
                if let Some(lo) = lo {
                    ymin = ymin.min(*lo);
                }
                ymax = ymax.max(*hi);
            }
            xs_seen.extend(segments.iter().flatten().map(|(x, _)| 10f64.powf(*x)));
            series.push(PreparedSeries {
                name: s.name.clone(),
                colour: colour(s.colour.unwrap_or(i)),
                segments,
                bands,
            });
        }
        if !series.iter().any(PreparedSeries::is_drawable) {
            let what = if log_x || log_y {
                "every point is non-finite or not positive on a log axis"
            } else {
                "every point is non-finite"
            };
            return Err(PlotError::NoFiniteData(format!(
                "chart `{}`: {what}",
                chart.title
            )));
        }
        let x = if log_x {
            let at = (kind == Kind::MetricVsNfe).then_some(xs_seen.as_slice());
            Axis::log(10f64.powf(xmin), 10f64.powf(xmax), 0.04, at)
        } else {
            Axis::linear(xmin, xmax, 0.02)
        };
        let y = if log_y {
            Axis::log(10f64.powf(ymin), 10f64.powf(ymax), 0.05, None)
        } else {
            Axis::linear(ymin, ymax, 0.05)
        };
        let size = chart.size.unwrap_or(DEFAULT_CHART_SIZE);
        let x_label = match (kind, chart.x_label.is_empty()) {
            (Kind::MetricVsNfe, true) => "NFE".to_string(),
            _ => chart.x_label.clone(),
        };
        Ok(LineFigure {
            title: chart.title.clone(),
            x_label,
            y_label: chart.y_label.clone(),
            x,
            y,
            series,
            markers: kind == Kind::MetricVsNfe,
            size,
        })
    }

    fn legend_name(s: &PreparedSeries) -> String {
        if s.is_drawable() {
            s.name.clone()
        } else {
            format!("{} (no finite data)", s.name)
        }
    }
}

const MARKER_RADIUS: i32 = 4;
const LINE_WIDTH: u32 = 2;
const BAND_ALPHA: f64 = 0.2;
/// Above this many points in a run, lines are drawn 1 px wide.
const DENSE_POINTS: usize = 150;

impl Figure for LineFigure {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (w, _) = self.size;
        let title_h = if self.title.is_empty() { 16 } else { 52 };
        let (title_area, body) = root.split_vertically(title_h);
        render::draw_text(
            &title_area,
            &self.title,
            &render::text(render::TITLE_SIZE),
            (w as i32 / 2, title_h / 2 + 4),
            HPos::Center,
            VPos::Center,
        )?;

        // The legend sits in its own column at the right, so it never hides data.
        let legend_style = render::text(render::SMALL_SIZE);
        let names: Vec<String> = self.series.iter().map(Self::legend_name).collect();
        let legend_w =
            render::max_text_width(names.iter().map(String::as_str), render::SMALL_SIZE)?;
        let legend_col = (legend_w + 64).min(w / 3);
        let (plot_area, legend_area) = body.split_horizontally(w - legend_col);

        let y_labels: Vec<String> = self.y.ticks.iter().map(|t| self.y.label(*t)).collect();
        let y_tick_w =
            render::max_text_width(y_labels.iter().map(String::as_str), render::TICK_SIZE)?;
        let plot_area = plot_area.margin(4, 8, 12, 8);
        let frame = Frame {
            x: &self.x,
            y: &self.y,
            x_desc: &self.x_label,
            y_desc: &self.y_label,
            x_label_area: 58,
            y_label_area: y_tick_w + 44,
            grid: true,
            tick_size: render::TICK_SIZE,
        };
        let mut chart = render::chart(&plot_area, &frame)?;

        // Bands first, under every line.
        for s in &self.series {
            for run in &s.bands {
                let mut poly: Vec<(f64, f64)> = run
                    .iter()
                    .map(|(x, _, hi)| (*x, hi.min(self.y.hi)))
                    .collect();
                poly.extend(
                    run.iter()
                        .rev()
                        .map(|(x, lo, _)| (*x, lo.unwrap_or(self.y.lo).max(self.y.lo))),
                );
                if run.len() == 1 {
                    // A single band point: a short vertical bar instead of a polygon.
                    chart.draw_series(std::iter::once(PathElement::new(
                        poly,
                        s.colour.mix(0.5).stroke_width(6),
                    )))?;
                } else {
                    chart.draw_series(std::iter::once(Polygon::new(
                        poly,
                        s.colour.mix(BAND_ALPHA).filled(),
                    )))?;
                }
            }
        }
        for s in &self.series {
            for run in &s.segments {
                if run.len() > 1 {
                    // Dense curves (training losses) read better thin: wide bitmap strokes
                    // of many short segments turn into ragged slivers.
                    let width = if run.len() > DENSE_POINTS {
                        1
                    } else {
                        LINE_WIDTH
                    };
                    chart.draw_series(LineSeries::new(
                        run.iter().copied(),
                        s.colour.stroke_width(width),
                    ))?;
                }
                if self.markers || run.len() == 1 {
                    chart.draw_series(
                        run.iter()
                            .map(|p| Circle::new(*p, MARKER_RADIUS, s.colour.filled())),
                    )?;
                }
            }
        }

        // Legend: a line sample (with marker) and the name per series.
        let row_h = 26;
        let top = 24;
        for (i, s) in self.series.iter().enumerate() {
            let y = top + i as i32 * row_h;
            let style = if s.is_drawable() {
                s.colour.stroke_width(LINE_WIDTH)
            } else {
                AXIS_GREY.stroke_width(1)
            };
            legend_area.draw(&PathElement::new(vec![(4, y), (32, y)], style))?;
            if self.markers || s.segments.iter().all(|r| r.len() == 1) {
                legend_area.draw(&Circle::new((18, y), MARKER_RADIUS, style.filled()))?;
            }
            render::draw_text(
                &legend_area,
                &Self::legend_name(s),
                &legend_style,
                (40, y),
                HPos::Left,
                VPos::Center,
            )?;
        }
        Ok(())
    }
}
