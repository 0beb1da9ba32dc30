//! The scatter grid: rows × columns of 2-D sample panels over a grey reference set.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::palette::{REFERENCE_GREY, colour, rgb};
use crate::render::{self, Figure, Frame};
use crate::scale::{Axis, robust_square_axes};
use crate::{DEFAULT_MAX_POINTS, DEFAULT_PANEL_SIZE, Plot, PlotError, ScatterGrid};

/// Renders a [`ScatterGrid`]: one square panel per cell, the reference points in light grey
/// under the panel's points, one shared axis range (robust extent of the reference, or of all
/// points without a reference), row labels at the left, column labels on top, tick labels on
/// the left column and the bottom row. The figure grows with the number of panels.
///
/// Errors: no rows or columns, no panel at all, a `panels` shape that does not match the
/// labels, no finite point anywhere, or a figure larger than 8192 pixels a side. A panel whose
/// points are all non-finite (e.g. a diverged sampler) says so instead of failing the grid.
pub fn scatter_grid(grid: &ScatterGrid) -> Result<Plot, PlotError> {
    let figure = ScatterFigure::new(grid)?;
    render::render(&figure)
}

/// Pixel layout of the grid: where each panel's plotting square lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridLayout {
    pub rows: usize,
    pub cols: usize,
    /// Left margin: row labels and y tick labels.
    pub left: u32,
    /// Top margin: title and column labels.
    pub top: u32,
    /// Side of each plotting square.
    pub square: u32,
    /// Height of each panel's title row, above its square.
    pub panel_title: u32,
    /// Gap between squares (horizontal and vertical, besides the title row).
    pub gap: u32,
    pub bottom: u32,
    pub right: u32,
    /// Width of the row-label column (inside `left`).
    pub row_label: u32,
}

impl GridLayout {
    /// Top-left pixel of the plotting square of panel (`row`, `col`).
    pub fn origin(&self, row: usize, col: usize) -> (u32, u32) {
        let x = self.left + col as u32 * (self.square + self.gap);
        let y =
            self.top + row as u32 * (self.square + self.panel_title + self.gap) + self.panel_title;
        (x, y)
    }

    /// Figure size; saturates (and is then refused by the size check) instead of overflowing.
    pub fn size(&self) -> (u32, u32) {
        let c = u64::try_from(self.cols).unwrap_or(u64::MAX);
        let r = u64::try_from(self.rows).unwrap_or(u64::MAX);
        let (sq, gap, title) = (
            u64::from(self.square),
            u64::from(self.gap),
            u64::from(self.panel_title),
        );
        let w = u64::from(self.left)
            .saturating_add(c.saturating_mul(sq))
            .saturating_add(c.saturating_sub(1).saturating_mul(gap))
            .saturating_add(u64::from(self.right));
        let h = u64::from(self.top)
            .saturating_add(r.saturating_mul(sq + title))
            .saturating_add(r.saturating_sub(1).saturating_mul(gap))
            .saturating_add(u64::from(self.bottom));
        (
            u32::try_from(w).unwrap_or(u32::MAX),
            u32::try_from(h).unwrap_or(u32::MAX),
        )
    }
}

struct PreparedPanel {
    title: String,
    colour: RGBColor,
    /// Finite points inside the axis range, capped.
    points: Vec<(f64, f64)>,
    /// The panel had points, but none finite.
    no_finite: bool,
}

struct ScatterFigure {
    title: String,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    panels: Vec<Vec<Option<PreparedPanel>>>,
    reference: Vec<(f64, f64)>,
    x: Axis,
    y: Axis,
    layout: GridLayout,
}

const TITLE_H: u32 = 50;
const COL_LABEL_H: u32 = 30;
const Y_TICK_GAP: u32 = 8;
const SAMPLE_RADIUS: i32 = 2;
const REFERENCE_RADIUS: i32 = 2;

/// Pixel offset of drawing-space value `t` along an axis `side` pixels long.
fn pixel_offset(axis: &Axis, t: f64, side: u32) -> i32 {
    let span = axis.hi - axis.lo;
    let f = if span > 0.0 {
        (t - axis.lo) / span
    } else {
        0.5
    };
    (f * f64::from(side)).round() as i32
}

/// The finite points of `pts` inside the axes, at most `cap` of them (the first ones).
fn inside(pts: &[[f64; 2]], x: &Axis, y: &Axis, cap: usize) -> Vec<(f64, f64)> {
    pts.iter()
        .filter(|p| {
            p[0].is_finite()
                && p[1].is_finite()
                && (x.lo..=x.hi).contains(&p[0])
                && (y.lo..=y.hi).contains(&p[1])
        })
        .take(cap)
        .map(|p| (p[0], p[1]))
        .collect()
}

impl ScatterFigure {
    fn new(grid: &ScatterGrid) -> Result<ScatterFigure, PlotError> {
        let rows = grid.row_labels.len();
        let cols = grid.col_labels.len();
        if rows == 0 || cols == 0 {
            return Err(PlotError::Empty(format!(
                "scatter grid `{}` has {rows} rows and {cols} columns",
                grid.title
            )));
        }
        if grid.panels.len() != rows {
            return Err(PlotError::Shape(format!(
                "scatter grid `{}` has {rows} row labels but {} rows of panels",
                grid.title,
                grid.panels.len()
            )));
        }
        if let Some((r, row)) = grid
            .panels
            .iter()
            .enumerate()
            .find(|(_, row)| row.len() != cols)
        {
            return Err(PlotError::Shape(format!(
                "scatter grid `{}` has {cols} column labels but row {r} has {} panels",
                grid.title,
                row.len()
            )));
        }
        let all = || grid.panels.iter().flatten().flatten();
        if all().next().is_none() {
            return Err(PlotError::Empty(format!(
                "scatter grid `{}` has no panels",
                grid.title
            )));
        }
        let finite = |p: &&[f64; 2]| p[0].is_finite() && p[1].is_finite();
        let (x, y) = if grid.reference.iter().any(|p| finite(&p)) {
            robust_square_axes(&grid.reference)
        } else {
            robust_square_axes(all().flat_map(|p| &p.points))
        }
        .ok_or_else(|| {
            PlotError::NoFiniteData(format!(
                "scatter grid `{}`: no finite point in the reference or any panel",
                grid.title
            ))
        })?;

        let cap = grid.max_points.unwrap_or(DEFAULT_MAX_POINTS);
        let panels = grid
            .panels
            .iter()
            .enumerate()
            .map(|(r, row)| {
                row.iter()
                    .map(|cell| {
                        cell.as_ref().map(|p| PreparedPanel {
                            title: p.title.clone(),
                            colour: colour(p.colour.unwrap_or(r)),
                            points: inside(&p.points, &x, &y, cap),
                            no_finite: !p.points.iter().any(|q| finite(&q)),
                        })
                    })
                    .collect()
            })
            .collect();
        let reference = inside(&grid.reference, &x, &y, cap);

        let square = grid
            .panel_size
            .unwrap_or(DEFAULT_PANEL_SIZE)
            .clamp(16, 8192);
        let row_label = render::max_text_width(
            grid.row_labels.iter().map(String::as_str),
            render::LABEL_SIZE,
        )?
        .min(320);
        let y_ticks: Vec<String> = y.ticks.iter().map(|t| y.label(*t)).collect();
        let y_tick_w =
            render::max_text_width(y_ticks.iter().map(String::as_str), render::TICK_SIZE)?;
        let has_panel_titles = all().any(|p| !p.title.is_empty());
        let title_h = if grid.title.is_empty() { 8 } else { TITLE_H };
        let layout = GridLayout {
            rows,
            cols,
            left: 16 + row_label + 16 + y_tick_w + Y_TICK_GAP + 6,
            top: title_h + COL_LABEL_H,
            square,
            panel_title: if has_panel_titles { 24 } else { 4 },
            gap: 14,
            bottom: 34,
            right: 16,
            row_label,
        };
        Ok(ScatterFigure {
            title: grid.title.clone(),
            row_labels: grid.row_labels.clone(),
            col_labels: grid.col_labels.clone(),
            panels,
            reference,
            x,
            y,
            layout,
        })
    }
}

impl Figure for ScatterFigure {
    fn size(&self) -> (u32, u32) {
        self.layout.size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let l = &self.layout;
        let (w, _) = l.size();
        let sq = l.square as i32;
        render::draw_text(
            root,
            &self.title,
            &render::text(render::TITLE_SIZE),
            (w as i32 / 2, TITLE_H as i32 / 2 + 2),
            HPos::Center,
            VPos::Center,
        )?;
        for (c, label) in self.col_labels.iter().enumerate() {
            let (x, _) = l.origin(0, c);
            render::draw_text(
                root,
                label,
                &render::text(render::LABEL_SIZE),
                (x as i32 + sq / 2, l.top as i32 - COL_LABEL_H as i32 / 2),
                HPos::Center,
                VPos::Center,
            )?;
        }
        let tick_style = render::text(render::TICK_SIZE);
        let reference_colour = rgb(REFERENCE_GREY);
        for (r, row) in self.panels.iter().enumerate() {
            let (_, y_top) = l.origin(r, 0);
            render::draw_text(
                root,
                &self.row_labels[r],
                &render::text(render::LABEL_SIZE),
                (16 + l.row_label as i32, y_top as i32 + sq / 2),
                HPos::Right,
                VPos::Center,
            )?;
            for (c, cell) in row.iter().enumerate() {
                let Some(panel) = cell else { continue };
                let (px, py) = l.origin(r, c);
                render::draw_text(
                    root,
                    &panel.title,
                    &render::muted_text(render::SMALL_SIZE),
                    (px as i32 + sq / 2, py as i32 - l.panel_title as i32 / 2),
                    HPos::Center,
                    VPos::Center,
                )?;
                let area = root.clone().shrink((px, py), (l.square, l.square));
                let frame = Frame {
                    x: &self.x,
                    y: &self.y,
                    x_desc: "",
                    y_desc: "",
                    x_label_area: 0,
                    y_label_area: 0,
                    grid: true,
                    tick_size: render::TICK_SIZE,
                };
                let mut chart = render::chart(&area, &frame)?;
                chart.draw_series(
                    self.reference
                        .iter()
                        .map(|p| Circle::new(*p, REFERENCE_RADIUS, reference_colour.filled())),
                )?;
                chart.draw_series(
                    panel
                        .points
                        .iter()
                        .map(|p| Circle::new(*p, SAMPLE_RADIUS, panel.colour.mix(0.7).filled())),
                )?;
                if panel.no_finite {
                    render::draw_text(
                        root,
                        "no finite samples",
                        &render::muted_text(render::SMALL_SIZE),
                        (px as i32 + sq / 2, py as i32 + sq / 2),
                        HPos::Center,
                        VPos::Center,
                    )?;
                }
            }
        }

        // Tick labels for every row (left of column 0) and every column (under the bottom
        // row), drawn even where those cells are empty.
        for r in 0..l.rows {
            let (px, py) = l.origin(r, 0);
            for t in &self.y.ticks {
                let ty = py as i32 + sq - pixel_offset(&self.y, *t, l.square);
                render::draw_text(
                    root,
                    &self.y.label(*t),
                    &tick_style,
                    (px as i32 - Y_TICK_GAP as i32, ty),
                    HPos::Right,
                    VPos::Center,
                )?;
            }
        }
        for c in 0..l.cols {
            let (px, py) = l.origin(l.rows - 1, c);
            for t in &self.x.ticks {
                let tx = px as i32 + pixel_offset(&self.x, *t, l.square);
                render::draw_text(
                    root,
                    &self.x.label(*t),
                    &tick_style,
                    (tx, py as i32 + sq + 6),
                    HPos::Center,
                    VPos::Top,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Panel, series_colour};

    fn blob(cx: f64, cy: f64, n: usize) -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| {
                let a = i as f64 * 2.399_963;
                let r = 0.4 * ((i % 50) as f64 / 50.0).sqrt();
                [cx + r * a.cos(), cy + r * a.sin()]
            })
            .collect()
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(png_bytes).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    /// Whether pixel `p` shows colour `c` drawn at the samples' alpha (over white, over the
    /// grey reference, or over other samples).
    fn shows(p: [u8; 3], c: [u8; 3]) -> bool {
        [255.0, 196.0, 0.0].iter().any(|under| {
            (0..3).all(|k| {
                let a = 0.7 * f64::from(c[k]) + 0.3 * under;
                let full = f64::from(c[k]);
                let v = f64::from(p[k]);
                (v - a).abs() <= 12.0 || (v - full).abs() <= 40.0 && (p != [255, 255, 255])
            })
        })
    }

    #[test]
    fn each_panel_shows_its_row_colour_inside_its_square() {
        let rows = 3;
        let cols = 2;
        let grid = ScatterGrid {
            title: "colours".into(),
            row_labels: (0..rows).map(|r| format!("row {r}")).collect(),
            col_labels: (0..cols).map(|c| format!("col {c}")).collect(),
            panels: (0..rows)
                .map(|r| {
                    (0..cols)
                        .map(|c| {
                            Some(Panel {
                                title: format!("{r},{c}"),
                                // Each panel's blob sits somewhere else.
                                points: blob(c as f64 - 0.5, r as f64 - 1.0, 400),
                                colour: None,
                            })
                        })
                        .collect()
                })
                .collect(),
            // A sparse lattice over [-1.6, 1.6]²: sets the axes, leaves room for the blobs.
            reference: (0..100)
                .map(|i| {
                    [
                        (i % 10) as f64 / 9.0 * 3.2 - 1.6,
                        (i / 10) as f64 / 9.0 * 3.2 - 1.6,
                    ]
                })
                .collect(),
            panel_size: Some(160),
            max_points: None,
        };
        let figure = ScatterFigure::new(&grid).unwrap();
        let layout = figure.layout;
        let plot = render::render(&figure).unwrap();
        let (w, h, rgb) = decode(&plot.png);
        assert_eq!((w, h), layout.size());
        let pixel = |x: u32, y: u32| {
            let i = (y * w + x) as usize * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        for r in 0..rows {
            for c in 0..cols {
                let (x0, y0) = layout.origin(r, c);
                let mut counts = [0usize; 3];
                for y in y0 + 2..y0 + layout.square - 2 {
                    for x in x0 + 2..x0 + layout.square - 2 {
                        let p = pixel(x, y);
                        for (k, n) in counts.iter_mut().enumerate() {
                            if shows(p, series_colour(k)) {
                                *n += 1;
                            }
                        }
                    }
                }
                assert!(counts[r] > 300, "panel ({r},{c}): {counts:?}");
                for (k, n) in counts.iter().enumerate() {
                    if k != r {
                        assert!(
                            *n < counts[r] / 10,
                            "panel ({r},{c}) shows row {k}: {counts:?}"
                        );
                    }
                }
            }
        }
        // Outside the squares (margins, labels) no sample colour appears.
        let (x0, _) = layout.origin(0, 0);
        let margin = (0..h)
            .flat_map(|y| (0..x0 - 4).map(move |x| (x, y)))
            .filter(|(x, y)| (0..3).any(|k| shows(pixel(*x, *y), series_colour(k))))
            .count();
        assert_eq!(margin, 0);
    }
}
