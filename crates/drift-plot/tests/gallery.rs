//! Writes every plot kind as PNG and SVG to a directory to look at: `$DRIFT_PLOT_GALLERY` when
//! set (kept), otherwise a temporary directory (removed).

mod common;

use std::path::PathBuf;

#[test]
fn gallery() {
    let (_keep, dir): (Option<tempfile::TempDir>, PathBuf) =
        match std::env::var_os("DRIFT_PLOT_GALLERY") {
            Some(d) => {
                std::fs::create_dir_all(&d).unwrap();
                (None, PathBuf::from(d))
            }
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
    let mut log_metric = common::metric_chart_input();
    log_metric.title = "MMD² vs NFE (log y)".into();
    log_metric.y_label = "MMD²".into();
    log_metric.log_y = true;
    for s in &mut log_metric.series {
        for (y, b) in s.y.iter_mut().zip(s.band.iter_mut().flatten()) {
            *y = y.powi(3) * 0.01;
            // Bands reaching below zero: drawn down to the axis on a log scale.
            *b = (*y - 0.02, *y * 1.5);
        }
        s.y.iter_mut().for_each(|y| *y = y.max(1e-5));
    }
    let mut wide = common::scatter_grid_input();
    wide.title = String::new();
    wide.row_labels = vec!["a long method name (σ = 0.5)".into(), "DDPM".into()];
    wide.col_labels = (1..=7).map(|k| format!("NFE {}", 1 << k)).collect();
    wide.panels = (0..2)
        .map(|r| {
            (1..=7usize)
                .map(|k| {
                    (k != 3 || r == 0).then(|| drift_plot::Panel {
                        title: String::new(),
                        points: common::samples(500, 1 << k, r as u64),
                        colour: Some(r * 3),
                    })
                })
                .collect()
        })
        .collect();
    wide.panel_size = None;
    let plots = [
        ("metric_log_y", drift_plot::metric_vs_nfe(&log_metric)),
        ("scatter_wide", drift_plot::scatter_grid(&wide)),
        (
            "scatter_grid",
            drift_plot::scatter_grid(&common::scatter_grid_input()),
        ),
        (
            "metric_vs_nfe",
            drift_plot::metric_vs_nfe(&common::metric_chart_input()),
        ),
        (
            "loss_curves",
            drift_plot::loss_curves(&common::loss_chart_input()),
        ),
        (
            "trajectories",
            drift_plot::trajectories(&common::trajectories_input()),
        ),
    ];
    for (name, plot) in plots {
        let plot = plot.unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(dir.join(format!("{name}.png")), &plot.png).unwrap();
        std::fs::write(dir.join(format!("{name}.svg")), &plot.svg).unwrap();
        assert!(dir.join(format!("{name}.png")).metadata().unwrap().len() > 1000);
    }
}
