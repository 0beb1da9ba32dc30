//! `drift report` in a real browser: the page is loaded from disk by headless Chromium, which
//! must log no console error; the table and every figure must lay out with a real size and
//! show ink in a screenshot. Under CI (`CI` set) Chromium is required (`.ci/run` installs it);
//! elsewhere the test skips with how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Scratch, spec};

const WIDTH: u32 = 1280;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(move |dir| dir.join(name))
        })
        .flat_map(|c| c.collect::<Vec<_>>())
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with extra arguments; returns (stdout, stderr).
fn browse(browser: &Path, profile: &Path, page: &Path, extra: &[String]) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A laid-out element: its tag and page rectangle.
#[derive(Debug)]
struct Element {
    tag: String,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

#[test]
fn the_report_page_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is required under CI (.ci/run installs Debian's `chromium`)"
        );
        eprintln!(
            "skipped: no Chromium on PATH (install it with `apt-get install chromium` to run this test)"
        );
        return;
    };
    let s = Scratch::new();
    let figures = spec("tiny-figures.toml");
    s.run_json(&figures, &[]);
    let out_dir = s.dir.path().join("site");
    let out = s.drift(&[
        "report",
        figures.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = out_dir.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page is script-free");
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(attr),
            "the page loads something from the network: {attr}"
        );
    }
    let profile = s.dir.path().join("profile");

    // 1. The page as shipped: no console message of any kind.
    let (_, log) = browse(&browser, &profile, &page, &["--dump-dom".into()]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:?}");

    // 2. Layout: a probe copy of the page reports the boxes of the table and of every figure.
    let probe = out_dir.join("probe.html");
    let script = "<script>document.title='BOXES'+[...document.querySelectorAll('table.results,figure svg,figure img')].map(e=>{const r=e.getBoundingClientRect();return [e.tagName,Math.round(r.left+scrollX),Math.round(r.top+scrollY),Math.round(r.width),Math.round(r.height)].join(',')}).join(';')+'|'+document.documentElement.scrollHeight</script></body>";
    std::fs::write(&probe, html.replace("</body>", script)).unwrap();
    let size = format!("--window-size={WIDTH},1000");
    let (dom, _) = browse(&browser, &profile, &probe, &[size, "--dump-dom".into()]);
    let title = dom
        .split("<title>BOXES")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .expect("the probe wrote its title");
    let (boxes, height) = title.rsplit_once('|').unwrap();
    let height: u32 = height.parse().unwrap();
    let elements: Vec<Element> = boxes
        .split(';')
        .map(|b| {
            let f: Vec<&str> = b.split(',').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap().max(0) as u32;
            Element {
                tag: f[0].to_lowercase(),
                x: n(1),
                y: n(2),
                w: n(3),
                h: n(4),
            }
        })
        .collect();
    let figure_files = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert_eq!(
        elements.iter().filter(|e| e.tag != "table").count(),
        figure_files,
        "every figure is in the page: {elements:?}"
    );
    assert_eq!(elements.iter().filter(|e| e.tag == "table").count(), 1);

    // 3. Pixels: a screenshot of the whole page has ink inside every box.
    let shot = s.dir.path().join("page.png");
    browse(
        &browser,
        &profile,
        &page,
        &[
            format!("--window-size={WIDTH},{height}"),
            format!("--screenshot={}", shot.display()),
        ],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    for e in &elements {
        assert!(e.w >= 100 && e.h >= 40, "{e:?} has no real size");
        let mut ink = 0usize;
        let mut total = 0usize;
        for y in e.y..(e.y + e.h).min(info.height) {
            for x in e.x..(e.x + e.w).min(info.width) {
                let at = (y as usize * info.width as usize + x as usize) * channels;
                let px = &buf[at..at + 3];
                total += 1;
                if px.iter().any(|&c| c < 200) {
                    ink += 1;
                }
            }
        }
        assert!(total > 0, "{e:?} lies outside the screenshot");
        let share = ink as f64 / total as f64;
        assert!(
            share > 0.01,
            "{e:?} looks blank ({:.3}% ink)",
            share * 100.0
        );
    }
}
