//! One drawing routine, two backends: runs a figure's drawing code into SVG and into an RGB
//! bitmap, encodes the PNG, and holds the shared text styles and chart-frame helpers.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::palette::{AXIS_GREY, GRID_GREY, MUTED_TEXT, TEXT};
use crate::raster::Raster;
use crate::scale::Axis;
use crate::{Plot, PlotError, font};

/// Largest figure side we agree to draw, in pixels.
const MAX_SIDE: u32 = 8192;
/// Largest figure area we agree to draw, in pixels (the RGB bitmap takes 3 bytes each).
const MAX_PIXELS: u64 = 40_000_000;

/// A validated figure, ready to be drawn into any plotters backend.
pub(crate) trait Figure {
    /// Figure size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure onto `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Draws `figure` into an SVG string and a PNG, from the same drawing code.
pub(crate) fn render<F: Figure>(figure: &F) -> Result<Plot, PlotError> {
    font::ensure_registered()?;
    let (width, height) = figure.size();
    if width < 64 || height < 64 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PlotError::Size {
            width,
            height,
            reason: "each side must be between 64 and 8192 pixels",
        });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PlotError::Size {
            width,
            height,
            reason: "the figure may have at most 40 million pixels",
        });
    }

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
    }

    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = Raster::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
    }
    let png = encode_png(&rgb, width, height)?;
    Ok(Plot {
        svg,
        png,
        width,
        height,
    })
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Default);
        let mut writer = encoder
            .write_header()
            .map_err(|e| PlotError::Png(e.to_string()))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| PlotError::Png(e.to_string()))?;
        writer.finish().map_err(|e| PlotError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// Text sizes (plotters' font size: the ab_glyph pixel scale; SVG gets `size / 1.24` px).
pub(crate) const TITLE_SIZE: f64 = 26.0;
pub(crate) const LABEL_SIZE: f64 = 19.0;
pub(crate) const TICK_SIZE: f64 = 16.0;
pub(crate) const SMALL_SIZE: f64 = 15.0;

pub(crate) fn text(size: f64) -> TextStyle<'static> {
    TextStyle::from((font::FAMILY, size).into_font()).color(&TEXT)
}

pub(crate) fn muted_text(size: f64) -> TextStyle<'static> {
    TextStyle::from((font::FAMILY, size).into_font()).color(&MUTED_TEXT)
}

/// Draws `s` with the given anchor at `pos` (pixels of `area`).
pub(crate) fn draw_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle<'_>,
    pos: (i32, i32),
    h: HPos,
    v: VPos,
) -> Result<(), PlotError> {
    if s.is_empty() {
        return Ok(());
    }
    area.draw_text(s, &style.pos(Pos::new(h, v)), pos)?;
    Ok(())
}

/// Width in pixels of `s` drawn at font `size` (layout estimate from the bundled font).
pub(crate) fn text_width(s: &str, size: f64) -> Result<u32, PlotError> {
    font::ensure_registered()?;
    if s.is_empty() {
        return Ok(0);
    }
    let (w, _) = (font::FAMILY, size)
        .into_font()
        .box_size(s)
        .map_err(|e| PlotError::Draw(format!("text layout: {e}")))?;
    Ok(w)
}

/// The largest [`text_width`] of `labels`.
pub(crate) fn max_text_width<'a>(
    labels: impl IntoIterator<Item = &'a str>,
    size: f64,
) -> Result<u32, PlotError> {
    let mut w = 0;
    for l in labels {
        w = w.max(text_width(l, size)?);
    }
    Ok(w)
}

/// One chart axis for plotters: linear f64 in drawing space (log axes are already
/// transformed), with our own tick positions as the only key points.
pub(crate) struct AxisCoord {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl AxisCoord {
    fn of(axis: &Axis) -> AxisCoord {
        AxisCoord {
            lo: axis.lo,
            hi: axis.hi,
            ticks: axis.ticks.clone(),
        }
    }
}

impl Ranged for AxisCoord {
    // Labels always come from our formatter; Debug formatting is only the unused default.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let f = if span > 0.0 {
            (value - self.lo) / span
        } else {
            0.5
        };
        let pixels = f64::from(limit.1 - limit.0);
        // Clamp far-off values so the pixel arithmetic cannot overflow.
        let offset = (pixels * f).clamp(-1e6, 1e6);
        limit.0 + offset.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Chart coordinates: our axes on both sides.
pub(crate) type Coord = Cartesian2d<AxisCoord, AxisCoord>;

/// How a chart frame is decorated.
pub(crate) struct Frame<'a> {
    pub x: &'a Axis,
    pub y: &'a Axis,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    /// Pixels reserved for the x tick labels (0: no x labels, no x ticks).
    pub x_label_area: u32,
    /// Pixels reserved for the y tick labels (0: none).
    pub y_label_area: u32,
    /// Grid lines at the ticks.
    pub grid: bool,
    /// Tick label font size.
    pub tick_size: f64,
}

/// Builds a chart on `area` with our axis conventions and draws its mesh and frame.
pub(crate) fn chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    frame: &Frame<'_>,
) -> Result<ChartContext<'a, DB, Coord>, PlotError> {
    let x_spec = AxisCoord::of(frame.x);
    let y_spec = AxisCoord::of(frame.y);
    let mut chart = ChartBuilder::on(area)
        .x_label_area_size(frame.x_label_area)
        .y_label_area_size(frame.y_label_area)
        .build_cartesian_2d(x_spec, y_spec)?;

    let x_fmt = |v: &f64| frame.x.label(*v);
    let y_fmt = |v: &f64| frame.y.label(*v);
    let tick_style = text(frame.tick_size);
    let desc_style = text(LABEL_SIZE);
    let (x0, x1) = (frame.x.lo, frame.x.hi);
    let (y0, y1) = (frame.y.lo, frame.y.hi);
    if frame.grid {
        let grid = ShapeStyle::from(&GRID_GREY).stroke_width(1);
        let vertical = frame.x.ticks.iter().map(|t| vec![(*t, y0), (*t, y1)]);
        let horizontal = frame.y.ticks.iter().map(|t| vec![(x0, *t), (x1, *t)]);
        chart.draw_series(
            vertical
                .chain(horizontal)
                .map(|path| PathElement::new(path, grid)),
        )?;
    }
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_labels(frame.x.ticks.len().max(1))
        .y_labels(frame.y.ticks.len().max(1))
        .bold_line_style(TRANSPARENT)
        .light_line_style(TRANSPARENT)
        .axis_style(ShapeStyle::from(&AXIS_GREY).stroke_width(1))
        .label_style(tick_style)
        .axis_desc_style(desc_style)
        .set_all_tick_mark_size(5);
    if frame.x_label_area == 0 {
        mesh.x_labels(0);
    }
    if frame.y_label_area == 0 {
        mesh.y_labels(0);
    }
    if !frame.x_desc.is_empty() {
        mesh.x_desc(frame.x_desc);
    }
    if !frame.y_desc.is_empty() {
        mesh.y_desc(frame.y_desc);
    }
    mesh.draw()?;

    // The frame: all four sides (the mesh draws the left and bottom axes only where it has
    // a label area).
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)],
        ShapeStyle::from(&AXIS_GREY).stroke_width(1),
    )))?;
    Ok(chart)
}
