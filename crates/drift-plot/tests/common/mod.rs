//! Synthetic inputs and PNG inspection shared by the integration tests.
#![allow(dead_code)]

use drift_plot::{LineChart, Panel, ScatterGrid, Series, Trajectories, TrajectoryPanel};

/// A small deterministic generator (splitmix64) with Box–Muller normals.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Eight Gaussians on a circle of radius 2.
pub fn eight_gaussians(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let a = (i % 8) as f64 * std::f64::consts::TAU / 8.0;
            [
                2.0 * a.cos() + 0.12 * rng.normal(),
                2.0 * a.sin() + 0.12 * rng.normal(),
            ]
        })
        .collect()
}

/// Samples of a "method" at a given NFE: the data blurred by noise shrinking with NFE.
pub fn samples(n: usize, nfe: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng::new(seed ^ 0xABCD);
    let blur = 1.2 / nfe as f64;
    eight_gaussians(n, seed)
        .into_iter()
        .map(|p| [p[0] + blur * rng.normal(), p[1] + blur * rng.normal()])
        .collect()
}

pub const METHODS: [&str; 3] = ["flow matching", "DDPM", "rectified flow"];
pub const NFES: [usize; 4] = [2, 4, 8, 32];

pub fn scatter_grid_input() -> ScatterGrid {
    let mut reference = eight_gaussians(1500, 1);
    // A few outliers that must not squash the picture.
    reference.push([40.0, -40.0]);
    reference.push([f64::NAN, 1.0]);
    ScatterGrid {
        title: "Samples by method and NFE".into(),
        row_labels: METHODS.iter().map(|s| s.to_string()).collect(),
        col_labels: NFES.iter().map(|n| format!("NFE {n}")).collect(),
        panels: METHODS
            .iter()
            .enumerate()
            .map(|(r, _)| {
                NFES.iter()
                    .map(|nfe| {
                        Some(Panel {
                            title: format!("W2 = {:.3}", 0.8 / *nfe as f64 + 0.01 * r as f64),
                            points: samples(600, *nfe, 7 + r as u64),
                            colour: None,
                        })
                    })
                    .collect()
            })
            .collect(),
        reference,
        panel_size: Some(180),
        max_points: None,
    }
}

pub fn metric_chart_input() -> LineChart {
    let nfes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
    let series = METHODS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let y: Vec<f64> = nfes
                .iter()
                .map(|n| 0.05 + (1.5 + 0.4 * i as f64) / n)
                .collect();
            let band = y.iter().map(|v| (v * 0.85, v * 1.15)).collect();
            Series {
                name: name.to_string(),
                x: nfes.to_vec(),
                y,
                band: Some(band),
                colour: None,
            }
        })
        .chain(std::iter::once(Series {
            name: "one-step distillation".into(),
            x: vec![1.0],
            y: vec![0.4],
            band: None,
            colour: None,
        }))
        .collect();
    LineChart {
        title: "Sliced W2 vs NFE".into(),
        x_label: String::new(),
        y_label: "sliced W2".into(),
        series,
        log_x: false,
        log_y: false,
        size: None,
    }
}

pub fn loss_chart_input() -> LineChart {
    let mut rng = Rng::new(3);
    let series = ["velocity MLP", "score MLP"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let x: Vec<f64> = (0..2000).map(|s| (s * 5) as f64).collect();
            let y = x
                .iter()
                .map(|s| (2.0 + i as f64) * (-s / 2500.0).exp() + 0.3 + 0.05 * rng.normal().abs())
                .collect();
            Series {
                name: name.to_string(),
                x,
                y,
                band: None,
                colour: None,
            }
        })
        .collect();
    LineChart {
        title: "Training loss".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        series,
        log_x: false,
        log_y: true,
        size: None,
    }
}

/// Straight-ish paths from Gaussian noise to the eight-Gaussians data.
pub fn trajectories_input() -> Trajectories {
    let mut rng = Rng::new(11);
    let data = eight_gaussians(200, 5);
    let panels = ["flow matching", "DDPM (prob. flow)"]
        .iter()
        .enumerate()
        .map(|(m, name)| TrajectoryPanel {
            title: name.to_string(),
            paths: data
                .iter()
                .map(|end| {
                    let start = [rng.normal(), rng.normal()];
                    let wiggle = 0.6 * m as f64;
                    (0..=20)
                        .map(|k| {
                            let t = k as f64 / 20.0;
                            let bend = wiggle * (std::f64::consts::PI * t).sin();
                            [
                                start[0] + t * (end[0] - start[0]) + bend * end[1] * 0.3,
                                start[1] + t * (end[1] - start[1]) - bend * end[0] * 0.3,
                            ]
                        })
                        .collect()
                })
                .collect(),
            colour: None,
        })
        .collect();
    Trajectories {
        title: "ODE trajectories".into(),
        panels,
        reference: eight_gaussians(1000, 9),
        panel_size: None,
        max_paths: None,
    }
}

/// A decoded PNG: width, height, RGB bytes.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Image {
    pub fn decode(bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            rgb: buf,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels in the rectangle `[x0, x1) × [y0, y1)` satisfying `pred`.
    pub fn count(
        &self,
        (x0, y0): (u32, u32),
        (x1, y1): (u32, u32),
        pred: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                if pred(self.pixel(x, y)) {
                    n += 1;
                }
            }
        }
        n
    }

    pub fn non_white(&self) -> usize {
        self.count((0, 0), (self.width, self.height), |p| p != [255, 255, 255])
    }
}

/// Whether `p` is within `tol` (per channel) of `c`.
pub fn near(p: [u8; 3], c: [u8; 3], tol: u8) -> bool {
    p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= tol)
}

/// Number of `<tag` elements in `svg`.
pub fn count_tag(svg: &str, tag: &str) -> usize {
    svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count()
}

/// The text content of every `<text>` element.
pub fn texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        rest = &rest[i..];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let Some(close) = rest.find("</text>") else {
            break;
        };
        out.push(rest[open_end + 1..close].trim().to_string());
        rest = &rest[close + 7..];
    }
    out
}

/// Checks that `svg` is well-formed enough: every tag closes in order, no stray `<` in text.
pub fn assert_xmlish(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        assert!(!text.contains('>'), "stray `>` in text {text:?}");
        let end = rest[i..].find('>').expect("unterminated tag") + i;
        let tag = &rest[i + 1..end];
        assert!(!tag.contains('<'), "`<` inside tag {tag:?}");
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("unopened </{name}>"));
            assert_eq!(open, name.trim(), "mismatched closing tag");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            stack.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(rest.trim().is_empty(), "trailing text {rest:?}");
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
}
