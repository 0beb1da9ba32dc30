//! Trajectory panels: ODE paths of a 2-D model from start marker to end marker.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::palette::{REFERENCE_GREY, colour, rgb};
use crate::render::{self, Figure, Frame};
use crate::scale::{Axis, robust_square_axes};
use crate::{DEFAULT_MAX_PATHS, DEFAULT_MAX_POINTS, Plot, PlotError, Trajectories};

/// Renders [`Trajectories`]: one square panel per method, side by side, sharing one axis
/// range (robust extent of the reference and the paths). Each path is a thin translucent line
/// in the panel's colour from a dark start marker to an end marker in the panel's colour,
/// over the reference points in grey. Lines are clipped to the panel.
///
/// Errors: no panels, no path with a finite state in any panel.
pub fn trajectories(t: &Trajectories) -> Result<Plot, PlotError> {
    let figure = TrajectoryFigure::new(t)?;
    render::render(&figure)
}

struct PreparedPanel {
    title: String,
    colour: RGBColor,
    /// Finite prefixes of the paths (at least one state each), in data space.
    paths: Vec<Vec<(f64, f64)>>,
}

struct TrajectoryFigure {
    title: String,
    panels: Vec<PreparedPanel>,
    reference: Vec<(f64, f64)>,
    x: Axis,
    y: Axis,
    square: u32,
    left: u32,
    /// The title's width plus margins: a single narrow panel must not clip it.
    min_width: u32,
}

const TITLE_H: u32 = 50;
const LEGEND_H: u32 = 28;
const PANEL_TITLE_H: u32 = 30;
const GAP: u32 = 22;
const BOTTOM: u32 = 34;
const RIGHT: u32 = 16;

impl TrajectoryFigure {
    fn new(t: &Trajectories) -> Result<TrajectoryFigure, PlotError> {
        if t.panels.is_empty() {
            return Err(PlotError::Empty(format!(
                "trajectory figure `{}` has no panels",
                t.title
            )));
        }
        let cap = t.max_paths.unwrap_or(DEFAULT_MAX_PATHS);
        let panels: Vec<PreparedPanel> = t
            .panels
            .iter()
            .enumerate()
            .map(|(i, p)| PreparedPanel {
                title: p.title.clone(),
                colour: colour(p.colour.unwrap_or(i)),
                paths: p
                    .paths
                    .iter()
                    .map(|path| {
                        path.iter()
                            .take_while(|s| s[0].is_finite() && s[1].is_finite())
                            .map(|s| (s[0], s[1]))
                            .collect::<Vec<_>>()
                    })
                    .filter(|path| !path.is_empty())
                    .take(cap)
                    .collect(),
            })
            .collect();
        if panels.iter().all(|p| p.paths.is_empty()) {
            return Err(PlotError::NoFiniteData(format!(
                "trajectory figure `{}`: no path has a finite state",
                t.title
            )));
        }
        let states: Vec<[f64; 2]> = t
            .reference
            .iter()
            .copied()
            .chain(
                panels
                    .iter()
                    .flat_map(|p| &p.paths)
                    .flatten()
                    .map(|(x, y)| [*x, *y]),
            )
            .collect();
        let (x, y) = robust_square_axes(&states)
            .ok_or_else(|| PlotError::NoFiniteData(format!("trajectory figure `{}`", t.title)))?;
        let reference = t
            .reference
            .iter()
            .filter(|p| (x.lo..=x.hi).contains(&p[0]) && (y.lo..=y.hi).contains(&p[1]))
            .take(DEFAULT_MAX_POINTS)
            .map(|p| (p[0], p[1]))
            .collect();
        let y_ticks: Vec<String> = y.ticks.iter().map(|v| y.label(*v)).collect();
        let y_tick_w =
            render::max_text_width(y_ticks.iter().map(String::as_str), render::TICK_SIZE)?;
        Ok(TrajectoryFigure {
            title: t.title.clone(),
            panels,
            reference,
            x,
            y,
            square: t.panel_size.unwrap_or(360).clamp(16, 8192),
            left: 16 + y_tick_w + 8,
            min_width: render::text_width(&t.title, render::TITLE_SIZE)?.saturating_add(40),
        })
    }

    fn top(&self) -> u32 {
        let title = if self.title.is_empty() { 8 } else { TITLE_H };
        title + LEGEND_H + PANEL_TITLE_H
    }
}

/// Clips segment `a`–`b` to the box (Liang–Barsky); `None` if it misses it.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1, y0, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// The parts of a polyline inside the box, as polylines.
pub(crate) fn clip_polyline(
    path: &[(f64, f64)],
    bounds: (f64, f64, f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in path.windows(2) {
        match clip_segment(w[0], w[1], bounds) {
            Some((a, b)) => {
                if cur.last() != Some(&a) {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
            }
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

impl Figure for TrajectoryFigure {
    fn size(&self) -> (u32, u32) {
        // Saturates (and is then refused by the size check) instead of overflowing.
        let n = u32::try_from(self.panels.len()).unwrap_or(u32::MAX);
        let w = self
            .left
            .saturating_add(n.saturating_mul(self.square))
            .saturating_add(n.saturating_sub(1).saturating_mul(GAP))
            .saturating_add(RIGHT)
            .max(self.min_width);
        (w, self.top() + self.square + BOTTOM)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (w, _) = self.size();
        let sq = self.square as i32;
        let title_h = if self.title.is_empty() { 8 } else { TITLE_H };
        render::draw_text(
            root,
            &self.title,
            &render::text(render::TITLE_SIZE),
            (w as i32 / 2, TITLE_H as i32 / 2 + 2),
            HPos::Center,
            VPos::Center,
        )?;

        // Legend row: what the markers mean.
        let legend = render::text(render::SMALL_SIZE);
        let start_colour = RGBColor(0x30, 0x30, 0x30);
        let ly = (title_h + LEGEND_H / 2) as i32;
        let items: [(&str, ShapeStyle); 3] = [
            ("start", start_colour.mix(0.8).filled()),
            ("end", colour(0).filled()),
            ("data", rgb(REFERENCE_GREY).filled()),
        ];
        let widths: Vec<u32> = items
            .iter()
            .map(|(s, _)| render::text_width(s, render::SMALL_SIZE))
            .collect::<Result<_, _>>()?;
        let total: i32 = widths.iter().map(|w| *w as i32 + 40).sum();
        let mut lx = w as i32 / 2 - total / 2;
        for ((name, style), tw) in items.iter().zip(&widths) {
            root.draw(&Circle::new((lx + 6, ly), 4, *style))?;
            render::draw_text(root, name, &legend, (lx + 16, ly), HPos::Left, VPos::Center)?;
            lx += *tw as i32 + 40;
        }

        let bounds = (self.x.lo, self.x.hi, self.y.lo, self.y.hi);
        let inside = |p: &(f64, f64)| {
            (bounds.0..=bounds.1).contains(&p.0) && (bounds.2..=bounds.3).contains(&p.1)
        };
        let tick_style = render::text(render::TICK_SIZE);
        let top = self.top();
        for (i, panel) in self.panels.iter().enumerate() {
            let px = self.left + i as u32 * (self.square + GAP);
            render::draw_text(
                root,
                &panel.title,
                &render::text(render::LABEL_SIZE),
                (px as i32 + sq / 2, top as i32 - PANEL_TITLE_H as i32 / 2),
                HPos::Center,
                VPos::Center,
            )?;
            let area = root.clone().shrink((px, top), (self.square, self.square));
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
            let grey = rgb(REFERENCE_GREY);
            chart.draw_series(
                self.reference
                    .iter()
                    .map(|p| Circle::new(*p, 2, grey.filled())),
            )?;
            let line = panel.colour.mix(0.35).stroke_width(1);
            chart.draw_series(
                panel
                    .paths
                    .iter()
                    .flat_map(|path| clip_polyline(path, bounds))
                    .map(|part| PathElement::new(part, line)),
            )?;
            let starts = panel
                .paths
                .iter()
                .filter_map(|p| p.first())
                .filter(|p| inside(p));
            chart
                .draw_series(starts.map(|p| Circle::new(*p, 2, start_colour.mix(0.8).filled())))?;
            let ends = panel
                .paths
                .iter()
                .filter_map(|p| p.last())
                .filter(|p| inside(p));
            chart.draw_series(ends.map(|p| Circle::new(*p, 3, panel.colour.filled())))?;

            if panel.paths.is_empty() {
                render::draw_text(
                    root,
                    "no finite trajectories",
                    &render::muted_text(render::SMALL_SIZE),
                    (px as i32 + sq / 2, top as i32 + sq / 2),
                    HPos::Center,
                    VPos::Center,
                )?;
            }
            if i == 0 {
                for t in &self.y.ticks {
                    let (_, ty) = chart.backend_coord(&(self.x.lo, *t));
                    render::draw_text(
                        root,
                        &self.y.label(*t),
                        &tick_style,
                        (px as i32 - 8, ty),
                        HPos::Right,
                        VPos::Center,
                    )?;
                }
            }
            for t in &self.x.ticks {
                let (tx, _) = chart.backend_coord(&(*t, self.y.lo));
                render::draw_text(
                    root,
                    &self.x.label(*t),
                    &tick_style,
                    (tx, top as i32 + sq + 6),
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

    #[test]
    fn clipping_keeps_inside_parts() {
        let b = (0.0, 1.0, 0.0, 1.0);
        let parts = clip_polyline(&[(-1.0, 0.5), (0.5, 0.5), (0.5, 2.0), (0.7, 0.5)], b);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], vec![(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)]);
        assert_eq!(parts[1].last(), Some(&(0.7, 0.5)));
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 3.0)], b).is_empty());
    }
}
