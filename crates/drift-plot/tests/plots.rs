//! Renders each plot kind from synthetic data and checks the PNG pixels, the SVG structure
//! and text, determinism, and the error cases.

mod common;

use common::{Image, assert_xmlish, count_tag, near, texts};
use drift_plot::{
    LineChart, Panel, PlotError, ScatterGrid, Series, Trajectories, TrajectoryPanel, loss_curves,
    metric_vs_nfe, scatter_grid, series_colour, trajectories,
};

fn has_text(svg: &str, s: &str) -> bool {
    texts(svg).iter().any(|t| t == s)
}

fn colour_pixels(img: &Image, c: [u8; 3]) -> usize {
    img.count((0, 0), (img.width, img.height), |p| near(p, c, 24))
}

#[test]
fn metric_vs_nfe_draws_lines_markers_bands_and_legend() {
    let chart = common::metric_chart_input();
    let plot = metric_vs_nfe(&chart).unwrap();
    assert_eq!((plot.width, plot.height), (900, 600));
    let img = Image::decode(&plot.png);
    assert_eq!((img.width, img.height), (900, 600));
    assert!(
        img.non_white() > 20_000,
        "{} non-white pixels",
        img.non_white()
    );
    for i in 0..4 {
        assert!(
            colour_pixels(&img, series_colour(i)) > 30,
            "series {i} colour missing"
        );
    }

    assert_xmlish(&plot.svg);
    for s in [
        "Sliced W2 vs NFE",
        "NFE",
        "sliced W2",
        "flow matching",
        "DDPM",
    ] {
        assert!(
            has_text(&plot.svg, s),
            "no <text> {s:?} in {:?}",
            texts(&plot.svg)
        );
    }
    assert!(has_text(&plot.svg, "rectified flow") && has_text(&plot.svg, "one-step distillation"));
    // Log x axis, ticks at the NFEs measured.
    for tick in ["1", "2", "4", "8", "16", "32", "64"] {
        assert!(has_text(&plot.svg, tick), "no x tick {tick}");
    }
    // One marker per point (3 series × 7 + the single-point series) + 4 legend markers.
    assert_eq!(count_tag(&plot.svg, "circle"), 3 * 7 + 1 + 4);
    // One band polygon per banded series.
    assert_eq!(count_tag(&plot.svg, "polygon"), 3);
    assert!(count_tag(&plot.svg, "polyline") >= 3 + 4);
}

#[test]
fn single_point_series_still_gets_a_marker() {
    let chart = LineChart {
        title: "one point".into(),
        y_label: "W2".into(),
        series: vec![Series {
            name: "only".into(),
            x: vec![8.0],
            y: vec![0.3],
            ..Default::default()
        }],
        ..Default::default()
    };
    for plot in [metric_vs_nfe(&chart).unwrap(), loss_curves(&chart).unwrap()] {
        assert_eq!(
            count_tag(&plot.svg, "circle"),
            2,
            "data marker + legend marker"
        );
        let img = Image::decode(&plot.png);
        assert!(colour_pixels(&img, series_colour(0)) > 20);
    }
}

#[test]
fn loss_curves_log_y_and_gaps() {
    let mut chart = common::loss_chart_input();
    // A diverged stretch (NaN) and a non-positive value on the log axis: gaps, not errors.
    chart.series[0].y[500] = f64::NAN;
    chart.series[0].y[900] = 0.0;
    chart.series[1].y[100] = f64::INFINITY;
    let plot = loss_curves(&chart).unwrap();
    let img = Image::decode(&plot.png);
    assert_eq!((img.width, img.height), (900, 600));
    assert!(img.non_white() > 10_000);
    assert!(colour_pixels(&img, series_colour(0)) > 500);
    assert!(colour_pixels(&img, series_colour(1)) > 500);
    assert_xmlish(&plot.svg);
    for s in [
        "Training loss",
        "step",
        "loss",
        "velocity MLP",
        "score MLP",
        "1",
        "0.5",
    ] {
        assert!(
            has_text(&plot.svg, s),
            "no <text> {s:?} in {:?}",
            texts(&plot.svg)
        );
    }
    // Dense lines have no markers; the legend has none either.
    assert_eq!(count_tag(&plot.svg, "circle"), 0);
    // Series 0 is cut in three runs, series 1 in two; plus 2 legend lines.
    let data_lines = count_tag(&plot.svg, "polyline");
    assert!(data_lines >= 3 + 2 + 2, "{data_lines} polylines");
}

#[test]
fn loss_curves_linear_and_log_x() {
    let mut chart = common::loss_chart_input();
    chart.log_y = false;
    chart.log_x = true;
    chart.series[0].x[0] = 0.0; // step 0 cannot be drawn on a log axis: skipped
    let plot = loss_curves(&chart).unwrap();
    assert!(has_text(&plot.svg, "1000"), "{:?}", texts(&plot.svg));
    assert!(Image::decode(&plot.png).non_white() > 10_000);
}

#[test]
fn series_without_finite_data_is_marked_in_the_legend() {
    let mut chart = common::metric_chart_input();
    chart.series.push(Series {
        name: "diverged".into(),
        x: vec![1.0, 2.0],
        y: vec![f64::NAN, f64::INFINITY],
        ..Default::default()
    });
    let plot = metric_vs_nfe(&chart).unwrap();
    assert!(has_text(&plot.svg, "diverged (no finite data)"));
}

#[test]
fn scatter_grid_draws_every_panel_and_label() {
    let grid = common::scatter_grid_input();
    let plot = scatter_grid(&grid).unwrap();
    let img = Image::decode(&plot.png);
    assert_eq!((img.width, img.height), (plot.width, plot.height));
    // Grows with the panel count: 4 columns and 3 rows of 180 px squares.
    assert!(plot.width > 4 * 180 && plot.height > 3 * 180);
    assert!(img.non_white() > 40_000);

    assert_xmlish(&plot.svg);
    let t = texts(&plot.svg);
    for s in [
        "Samples by method and NFE",
        "flow matching",
        "DDPM",
        "rectified flow",
    ] {
        assert!(t.iter().any(|x| x == s), "no <text> {s:?}");
    }
    for s in [
        "NFE 2",
        "NFE 4",
        "NFE 8",
        "NFE 32",
        "W2 = 0.400",
        "W2 = 0.045",
    ] {
        assert!(t.iter().any(|x| x == s), "no <text> {s:?}");
    }
    // The outlier at (40, -40) does not stretch the axes: ticks stay around ±2.
    assert!(
        t.iter().any(|x| x == "2") && t.iter().any(|x| x == "-2"),
        "{t:?}"
    );
    assert!(
        !t.iter().any(|x| x == "40" || x == "-40" || x == "20"),
        "{t:?}"
    );
    // 12 panels × (≤ 600 samples + ≤ 1501 reference points) circles, most of them inside.
    let circles = count_tag(&plot.svg, "circle");
    assert!(
        (12 * 1800..=12 * 2101).contains(&circles),
        "{circles} circles"
    );
}

#[test]
fn scatter_grid_caps_points_per_panel() {
    let mut grid = common::scatter_grid_input();
    grid.max_points = Some(100);
    let plot = scatter_grid(&grid).unwrap();
    assert!(count_tag(&plot.svg, "circle") <= 12 * 200);
}

#[test]
fn scatter_grid_missing_and_diverged_panels() {
    let mut grid = common::scatter_grid_input();
    grid.panels[0][0] = None;
    grid.panels[1][1] = Some(Panel {
        title: "diverged".into(),
        points: vec![[f64::NAN, f64::NAN]; 10],
        colour: None,
    });
    let plot = scatter_grid(&grid).unwrap();
    assert!(has_text(&plot.svg, "no finite samples"));
    assert!(has_text(&plot.svg, "diverged"));

    // Without a reference, the extent comes from the panels' points.
    grid.reference.clear();
    let plot = scatter_grid(&grid).unwrap();
    assert!(Image::decode(&plot.png).non_white() > 20_000);
}

#[test]
fn trajectories_draw_paths_markers_and_titles() {
    let t = common::trajectories_input();
    let plot = trajectories(&t).unwrap();
    let img = Image::decode(&plot.png);
    assert_eq!((img.width, img.height), (plot.width, plot.height));
    assert!(plot.width > 2 * 360);
    assert!(img.non_white() > 40_000);
    assert!(colour_pixels(&img, series_colour(0)) > 200);
    assert!(colour_pixels(&img, series_colour(1)) > 200);
    assert_xmlish(&plot.svg);
    for s in [
        "ODE trajectories",
        "flow matching",
        "DDPM (prob. flow)",
        "start",
        "end",
        "data",
    ] {
        assert!(has_text(&plot.svg, s), "no <text> {s:?}");
    }
    // 2 panels × 200 paths: at least one line piece each, start and end markers (most
    // inside), the reference points, 3 legend markers.
    assert!(count_tag(&plot.svg, "polyline") >= 400);
    let circles = count_tag(&plot.svg, "circle");
    assert!(
        (2 * 390 + 900..=2 * (400 + 1000) + 3).contains(&circles),
        "{circles}"
    );
}

#[test]
fn trajectories_cut_paths_at_nan_and_clip_far_points() {
    let t = Trajectories {
        title: "edge cases".into(),
        panels: vec![TrajectoryPanel {
            title: "m".into(),
            paths: vec![
                vec![[0.0, 0.0], [1.0, 1.0], [f64::NAN, 2.0], [3.0, 3.0]],
                vec![[0.5, -0.5], [1e9, -1e9]],
                vec![[0.2, 0.1]],
                vec![],
            ],
            colour: Some(5),
        }],
        reference: vec![],
        panel_size: Some(200),
        max_paths: None,
    };
    let plot = trajectories(&t).unwrap();
    assert!(Image::decode(&plot.png).non_white() > 1000);
    assert_xmlish(&plot.svg);
}

#[test]
fn output_is_deterministic() {
    let a = (
        scatter_grid(&common::scatter_grid_input()).unwrap(),
        metric_vs_nfe(&common::metric_chart_input()).unwrap(),
        loss_curves(&common::loss_chart_input()).unwrap(),
        trajectories(&common::trajectories_input()).unwrap(),
    );
    // Render again on another thread too: no hidden global state changes the output.
    let b = std::thread::spawn(|| {
        (
            scatter_grid(&common::scatter_grid_input()).unwrap(),
            metric_vs_nfe(&common::metric_chart_input()).unwrap(),
            loss_curves(&common::loss_chart_input()).unwrap(),
            trajectories(&common::trajectories_input()).unwrap(),
        )
    })
    .join()
    .unwrap();
    assert!(a.0 == b.0, "scatter grid differs");
    assert!(a.1 == b.1, "metric chart differs");
    assert!(a.2 == b.2, "loss chart differs");
    assert!(a.3 == b.3, "trajectories differ");
}

#[test]
fn png_text_is_antialiased() {
    let plot = metric_vs_nfe(&common::metric_chart_input()).unwrap();
    let img = Image::decode(&plot.png);
    // The title strip holds only text: dark glyph cores and grey edge pixels.
    let dark = img.count((0, 0), (img.width, 50), |p| p.iter().all(|c| *c < 80));
    let grey = img.count((0, 0), (img.width, 50), |p| {
        p[0] == p[1] && p[1] == p[2] && (100..230).contains(&p[0])
    });
    assert!(dark > 150, "{dark} dark title pixels");
    assert!(grey > 100, "{grey} antialiasing pixels");
}

#[test]
fn text_is_escaped_in_svg() {
    let mut chart = common::metric_chart_input();
    chart.title = "W2 < 0.1 & \"fast\"".into();
    chart.series[0].name = "<flow>".into();
    let plot = metric_vs_nfe(&chart).unwrap();
    assert_xmlish(&plot.svg);
    assert!(plot.svg.contains("&lt;flow&gt;"));
}

// ---- errors: never a panic ----

fn series(name: &str, x: Vec<f64>, y: Vec<f64>) -> Series {
    Series {
        name: name.into(),
        x,
        y,
        ..Default::default()
    }
}

fn chart(series: Vec<Series>) -> LineChart {
    LineChart {
        title: "t".into(),
        series,
        ..Default::default()
    }
}

#[test]
fn line_chart_errors() {
    let both = |c: &LineChart| [metric_vs_nfe(c), loss_curves(c)];
    for r in both(&chart(vec![])) {
        assert!(matches!(r, Err(PlotError::Empty(_))), "{r:?}");
    }
    for r in both(&chart(vec![series("a", vec![], vec![])])) {
        assert!(matches!(r, Err(PlotError::Empty(_))), "{r:?}");
    }
    for r in both(&chart(vec![series("a", vec![1.0, 2.0], vec![1.0])])) {
        assert!(matches!(r, Err(PlotError::Shape(_))), "{r:?}");
    }
    let nan = chart(vec![
        series("a", vec![1.0, 2.0], vec![f64::NAN, f64::NAN]),
        series("b", vec![f64::NAN], vec![1.0]),
    ]);
    for r in both(&nan) {
        assert!(matches!(r, Err(PlotError::NoFiniteData(_))), "{r:?}");
    }
    // NFE 0 cannot go on the log axis.
    let r = metric_vs_nfe(&chart(vec![series("a", vec![0.0, -1.0], vec![1.0, 2.0])]));
    assert!(matches!(r, Err(PlotError::NoFiniteData(_))), "{r:?}");
    let mut log_y = chart(vec![series("a", vec![1.0, 2.0], vec![0.0, -1.0])]);
    log_y.log_y = true;
    assert!(matches!(
        loss_curves(&log_y),
        Err(PlotError::NoFiniteData(_))
    ));

    let mut banded = series("a", vec![1.0, 2.0], vec![1.0, 2.0]);
    banded.band = Some(vec![(0.5, 1.5)]);
    for r in both(&chart(vec![banded])) {
        assert!(matches!(r, Err(PlotError::Shape(_))), "{r:?}");
    }
    let mut tiny = chart(vec![series("a", vec![1.0, 2.0], vec![1.0, 2.0])]);
    tiny.size = Some((10, 10));
    assert!(matches!(loss_curves(&tiny), Err(PlotError::Size { .. })));
    tiny.size = Some((u32::MAX, 600));
    assert!(matches!(metric_vs_nfe(&tiny), Err(PlotError::Size { .. })));
}

#[test]
fn scatter_grid_errors() {
    let base = common::scatter_grid_input();
    let r = scatter_grid(&ScatterGrid::default());
    assert!(matches!(r, Err(PlotError::Empty(_))), "{r:?}");

    let mut g = base.clone();
    g.panels.pop();
    assert!(matches!(scatter_grid(&g), Err(PlotError::Shape(_))));
    let mut g = base.clone();
    g.panels[1].pop();
    assert!(matches!(scatter_grid(&g), Err(PlotError::Shape(_))));

    let mut g = base.clone();
    g.panels = vec![vec![None; 4]; 3];
    assert!(matches!(scatter_grid(&g), Err(PlotError::Empty(_))));

    let mut g = base.clone();
    g.reference = vec![[f64::NAN, 0.0]; 5];
    for row in &mut g.panels {
        for p in row.iter_mut().flatten() {
            p.points = vec![[f64::INFINITY, f64::NAN]; 3];
        }
    }
    let r = scatter_grid(&g);
    assert!(matches!(r, Err(PlotError::NoFiniteData(_))), "{r:?}");

    let mut g = base.clone();
    g.panel_size = Some(5000);
    assert!(matches!(scatter_grid(&g), Err(PlotError::Size { .. })));
    let mut g = base;
    g.panel_size = Some(u32::MAX);
    assert!(matches!(scatter_grid(&g), Err(PlotError::Size { .. })));
}

#[test]
fn trajectory_errors() {
    let r = trajectories(&Trajectories::default());
    assert!(matches!(r, Err(PlotError::Empty(_))), "{r:?}");
    let t = Trajectories {
        panels: vec![TrajectoryPanel {
            title: "m".into(),
            paths: vec![vec![], vec![[f64::NAN, 0.0], [1.0, 1.0]]],
            colour: None,
        }],
        ..Default::default()
    };
    let r = trajectories(&t);
    assert!(matches!(r, Err(PlotError::NoFiniteData(_))), "{r:?}");

    let mut huge = common::trajectories_input();
    huge.panel_size = Some(u32::MAX);
    assert!(matches!(trajectories(&huge), Err(PlotError::Size { .. })));
}

#[test]
fn extreme_finite_values_do_not_panic() {
    let extreme = chart(vec![
        series("a", vec![1.0, 2.0, 3.0], vec![-1e308, 1e308, 0.0]),
        series("b", vec![f64::MIN_POSITIVE, 1e300], vec![1e-300, 5e-324]),
    ]);
    for r in [metric_vs_nfe(&extreme), loss_curves(&extreme)] {
        assert!(r.is_ok(), "{r:?}");
    }
    let mut log = extreme.clone();
    log.log_x = true;
    log.log_y = true;
    assert!(loss_curves(&log).is_ok());
    let grid = ScatterGrid {
        row_labels: vec!["r".into()],
        col_labels: vec!["c".into()],
        panels: vec![vec![Some(Panel {
            points: vec![[1e308, -1e308], [-1e308, 1e308], [0.0, 0.0]],
            ..Default::default()
        })]],
        ..Default::default()
    };
    assert!(scatter_grid(&grid).is_ok());
    let t = Trajectories {
        panels: vec![TrajectoryPanel {
            paths: vec![
                vec![[1e308, -1e308], [-1e308, 1e308]],
                vec![[0.0, 0.0], [1.0, 1.0]],
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(trajectories(&t).is_ok());
}
