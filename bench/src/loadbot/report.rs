//! The `--report` chart: RTT p50/p99 and per-client down rate, per second of the window.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::stats::SecondSummary;

/// Fonts tried, in order, for the chart's text (plotters' ab_glyph backend loads no system fonts
/// by itself).
pub const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// The first font of [`FONT_PATHS`] that exists.
pub fn find_font() -> Option<&'static str> {
    FONT_PATHS.iter().copied().find(|p| Path::new(p).is_file())
}

/// Registers the first usable font of [`FONT_PATHS`] as plotters' `sans-serif`.
fn register_sans() -> anyhow::Result<()> {
    for path in FONT_PATHS {
        let Ok(bytes) = std::fs::read(path) else { continue };
        // plotters keeps fonts for the life of the program.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
            return Ok(());
        }
    }
    bail!("no usable TrueType font found (tried {}); install fonts-dejavu-core", FONT_PATHS.join(", "))
}

/// What the chart shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Chart title.
    pub title: String,
    /// One point per second of the window.
    pub series: Vec<SecondSummary>,
}

/// Writes the chart to `path` (`.svg` or `.png`).
pub fn write(path: &Path, data: &ReportData) -> anyhow::Result<()> {
    register_sans()?;
    if data.series.is_empty() {
        bail!("no samples in the measurement window: nothing to chart");
    }
    let size = (1100, 760);
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => draw(SVGBackend::new(path, size).into_drawing_area(), data),
        Some("png") => draw(BitMapBackend::new(path, size).into_drawing_area(), data),
        _ => bail!("the report must be a .svg or .png file"),
    }
    .with_context(|| format!("cannot write the report {}", path.display()))
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &ReportData) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(&data.title, ("sans-serif", 22)).map_err(err)?;
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
    let s = &data.series;
    let x_max = s.iter().map(|p| p.t_s + 1.0).fold(1.0, f64::max);
    let x_min = s.iter().map(|p| p.t_s).fold(0.0, f64::min);

    let rtt_max = s.iter().map(|p| p.rtt_p99.max(p.rtt_p50)).fold(0.0, f64::max);
    let mut rtt = ChartBuilder::on(&top)
        .caption("Round-trip time per second (renet, all bots)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..(rtt_max * 1.15).max(1.0))
        .map_err(err)?;
    rtt.configure_mesh().x_desc("seconds into the measurement window").y_desc("RTT (ms)").draw().map_err(err)?;
    for (name, color, f) in [
        ("p50", BLUE, (|p: &SecondSummary| p.rtt_p50) as fn(&SecondSummary) -> f64),
        ("p99", RED, |p: &SecondSummary| p.rtt_p99),
    ] {
        rtt.draw_series(LineSeries::new(s.iter().map(|p| (p.t_s, f(p))), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    rtt.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(err)?;

    let down_max = s.iter().map(|p| p.down_kbps.max(p.snapshot_kbps)).fold(0.0, f64::max);
    let mut down = ChartBuilder::on(&bottom)
        .caption("Down rate per client per second (mean over bots)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..(down_max * 1.15).max(1.0))
        .map_err(err)?;
    down.configure_mesh().x_desc("seconds into the measurement window").y_desc("kbit/s").draw().map_err(err)?;
    let green = RGBColor(0, 140, 60);
    for (name, color, f) in [
        ("renet bytes received", green, (|p: &SecondSummary| p.down_kbps) as fn(&SecondSummary) -> f64),
        ("snapshot payload", MAGENTA, |p: &SecondSummary| p.snapshot_kbps),
    ] {
        down.draw_series(LineSeries::new(s.iter().map(|p| (p.t_s, f(p))), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    down.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
