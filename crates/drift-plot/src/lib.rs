//! drift-plot: the plots of drift's reports, rendered from plain data to SVG text and PNG bytes.
//!
//! Every plot function takes a plain-data description ([`ScatterGrid`], [`LineChart`],
//! [`Trajectories`]), validates it, and draws it with one drawing routine into two backends:
//! an SVG string (text as `<text>` elements) and an RGB bitmap encoded as PNG. Text is
//! rasterised with the bundled DejaVu Sans font through `ab_glyph`, so no system font library
//! is needed. Output is deterministic: the same input gives byte-identical SVG and PNG.
//!
//! Colours come from one fixed colour-blind friendly palette ([`PALETTE`], Okabe–Ito), so a
//! method drawn with palette index `i` has the same colour in every plot.
//!
//! There is no file IO here: callers write [`Plot::svg`] and [`Plot::png`] where they like.

mod font;
mod lines;
mod palette;
mod raster;
mod render;
mod scale;
mod scatter;
mod trajectories;

pub use lines::{loss_curves, metric_vs_nfe};
pub use palette::{PALETTE, REFERENCE_GREY, series_colour};
pub use scatter::scatter_grid;
pub use trajectories::trajectories;

/// Default size of a single-chart figure ([`LineChart`]), in pixels.
pub const DEFAULT_CHART_SIZE: (u32, u32) = (900, 600);
/// Default size of one panel's plotting square in grid figures, in pixels.
pub const DEFAULT_PANEL_SIZE: u32 = 240;
/// Default cap on the points drawn per scatter panel (the first ones are drawn).
pub const DEFAULT_MAX_POINTS: usize = 2000;
/// Default cap on the paths drawn per trajectory panel (the first ones are drawn).
pub const DEFAULT_MAX_PATHS: usize = 300;

/// A rendered figure: the same drawing as SVG text and as PNG bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plot {
    /// A standalone SVG document.
    pub svg: String,
    /// A PNG file (8-bit RGB).
    pub png: Vec<u8>,
    /// Width of the figure in pixels (of the PNG, and the SVG's `width`).
    pub width: u32,
    /// Height of the figure in pixels.
    pub height: u32,
}

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There is nothing to draw: no series, no panels, a series without points...
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// The data has no finite value that can be drawn (on a log axis: no positive one).
    #[error("no drawable data: {0}")]
    NoFiniteData(String),
    /// The input's parts do not fit together (lengths, grid shape).
    #[error("inconsistent plot input: {0}")]
    Shape(String),
    /// The requested figure size cannot hold the plot.
    #[error("invalid figure size {width}x{height}: {reason}")]
    Size {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bundled font could not be registered with the text renderer.
    #[error("the bundled font could not be loaded")]
    Font,
    /// The drawing backend failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for PlotError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}

/// A grid of 2-D scatter panels: rows (e.g. methods) × columns (e.g. NFE).
///
/// Each panel draws the shared [`reference`](Self::reference) points (the data) in light grey
/// and the panel's own points on top in its row's colour. All panels share one axis range:
/// the robust extent (0.5–99.5 percentiles, padded) of the reference points, or of all
/// panels' points when there is no reference, so a few outliers do not squash the picture.
#[derive(Debug, Clone, Default)]
pub struct ScatterGrid {
    /// Figure title, drawn on top.
    pub title: String,
    /// One label per row, drawn at the left of the row (e.g. the method).
    pub row_labels: Vec<String>,
    /// One label per column, drawn above the column (e.g. `NFE 8`).
    pub col_labels: Vec<String>,
    /// `panels[row][col]`; `None` leaves the cell empty (e.g. a method without that NFE).
    /// Must have `row_labels.len()` rows of `col_labels.len()` cells.
    pub panels: Vec<Vec<Option<Panel>>>,
    /// Reference points drawn in grey under every panel (typically the data); may be empty.
    pub reference: Vec<[f64; 2]>,
    /// Side of each panel's plotting square in pixels; `None`: [`DEFAULT_PANEL_SIZE`].
    pub panel_size: Option<u32>,
    /// Cap on drawn points per panel and on drawn reference points (the first ones are
    /// drawn); `None`: [`DEFAULT_MAX_POINTS`].
    pub max_points: Option<usize>,
}

/// One scatter panel of a [`ScatterGrid`].
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Small title above the panel (e.g. a metric value); may be empty.
    pub title: String,
    /// The points (e.g. samples of a method). Non-finite points are skipped; a panel with
    /// none left says so in place of the points.
    pub points: Vec<[f64; 2]>,
    /// Palette index of the points' colour; `None`: the row index.
    pub colour: Option<usize>,
}

/// A line chart: used by [`metric_vs_nfe`] and [`loss_curves`].
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Figure title.
    pub title: String,
    /// x-axis label; [`metric_vs_nfe`] uses `NFE` when empty.
    pub x_label: String,
    /// y-axis label (e.g. the metric name, `loss`).
    pub y_label: String,
    /// The series, one line (and legend entry) each, in palette order unless overridden.
    pub series: Vec<Series>,
    /// Log10 x axis. [`metric_vs_nfe`] always uses a log x axis.
    pub log_x: bool,
    /// Log10 y axis.
    pub log_y: bool,
    /// Figure size in pixels; `None`: [`DEFAULT_CHART_SIZE`].
    pub size: Option<(u32, u32)>,
}

/// One series of a [`LineChart`].
///
/// Points whose x or y is not finite (or not positive on a log axis) are skipped and break
/// the line. A series without any drawable point is kept in the legend, marked
/// `(no finite data)`, as long as another series can be drawn.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// x values (e.g. NFE, training step).
    pub x: Vec<f64>,
    /// y values, one per x.
    pub y: Vec<f64>,
    /// Optional shaded band around the line, one `(lower, upper)` pair per x (e.g. mean ± std,
    /// or a confidence interval over seeds). Non-finite pairs leave a gap.
    pub band: Option<Vec<(f64, f64)>>,
    /// Palette index of the colour; `None`: the series index.
    pub colour: Option<usize>,
}

/// ODE trajectories of a 2-D model: one panel per method, side by side.
#[derive(Debug, Clone, Default)]
pub struct Trajectories {
    /// Figure title.
    pub title: String,
    /// The panels, drawn left to right.
    pub panels: Vec<TrajectoryPanel>,
    /// Points drawn in grey under every panel (typically the data); may be empty.
    pub reference: Vec<[f64; 2]>,
    /// Side of each panel's plotting square in pixels; `None`: 360.
    pub panel_size: Option<u32>,
    /// Cap on drawn paths per panel (the first ones); `None`: [`DEFAULT_MAX_PATHS`].
    pub max_paths: Option<usize>,
}

/// One panel of [`Trajectories`].
#[derive(Debug, Clone, Default)]
pub struct TrajectoryPanel {
    /// Panel title (e.g. the method).
    pub title: String,
    /// Paths, each a sequence of states from start (t = 0) to end. A path is cut at its first
    /// non-finite state; paths with fewer than one finite state are skipped.
    pub paths: Vec<Vec<[f64; 2]>>,
    /// Palette index of the paths' colour; `None`: the panel index.
    pub colour: Option<usize>,
}
