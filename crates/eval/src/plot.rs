//! The invariance figure (like the seed paper's Fig. 3): mean cosine distance against pitch
//! shift (left) and time-stretch rate (right), one curve per model/space. PNG text is drawn
//! with a bundled subset of DejaVu Sans (see `assets/`), so no system font is needed; SVG
//! output leaves text to the viewer.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::EvalError;
use crate::invariance::{InvariancePoint, Transform};
use crate::retrieval::RetrievalScores;
use crate::tables::ModelResults;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");
static REGISTER: Once = Once::new();

/// Curve colours, dark enough to read on white (Tableau 10 without its grey and olive, then
/// darker hues): 16, so that the full demo's 12 retrieval lines (five models and their
/// spaces) and a LOEV++ model's all get their own colour.
const CURVE_COLORS: [RGBColor; 16] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(128, 128, 0),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 128, 128),
    RGBColor(127, 127, 127),
    RGBColor(85, 107, 47),
    RGBColor(199, 21, 133),
];

fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is valid (checked by the plot test); if it were not, text would be
        // missing from the PNG but the curves would still be drawn.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A figure that can be drawn on any plotters backend (the PNG and the SVG one).
trait Figure {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `figure` of `size` pixels to `path`: an SVG when its extension says so, else a PNG.
fn render(path: &Path, size: (u32, u32), figure: &impl Figure) -> Result<(), EvalError> {
    register_font();
    let err = |e: String| EvalError::format(path, format!("cannot draw the plot: {e}"));
    if is_svg(path) {
        let root = SVGBackend::new(path, size).into_drawing_area();
        figure.draw_on(&root).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        figure.draw_on(&root).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))
    }
}

/// Draws `points` to `path` (`.png` or `.svg`).
pub fn plot_invariance(path: &Path, points: &[InvariancePoint], title: &str) -> Result<(), EvalError> {
    struct Plot<'a>(&'a [InvariancePoint], &'a str);
    impl Figure for Plot<'_> {
        fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            draw(root, self.0, self.1)
        }
    }
    render(path, (1400, 560), &Plot(points, title))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[InvariancePoint],
    title: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 2));
    let mut curves: Vec<(String, String)> = Vec::new();
    for p in points {
        let key = (p.model.clone(), p.space.clone());
        if !curves.contains(&key) {
            curves.push(key);
        }
    }
    let y_max = points.iter().map(|p| p.mean_distance).fold(0.0f64, f64::max).max(1e-3) * 1.1;
    for (panel, (transform, label, x_range)) in panels.iter().zip([
        (
            Transform::PitchShift,
            "pitch shift (semitones)",
            range_of(points, Transform::PitchShift, (-12.0, 12.0)),
        ),
        (
            Transform::TimeStretch,
            "time-stretch rate",
            range_of(points, Transform::TimeStretch, (0.5, 1.5)),
        ),
    ]) {
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range.0..x_range.1, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(label)
            .y_desc("cosine distance 1 - cos")
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| e.to_string())?;
        let lines = curves.iter().map(|(model, space)| {
            let mut series: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.transform == transform && &p.model == model && &p.space == space)
                .map(|p| (p.parameter, p.mean_distance))
                .collect();
            series.sort_by(|a, b| a.0.total_cmp(&b.0));
            (format!("{model} / {space}"), series)
        });
        draw_lines(&mut chart, lines, SeriesLabelPosition::UpperMiddle, 14)?;
    }
    Ok(())
}

/// Draws retrieval against k in the layout of the seed paper's Fig. 2: three panels (tag
/// precision@k, key score@k, tempo Acc1@k, in %), one line per model and space, to a PNG or an
/// SVG chosen by `path`'s extension.
pub fn plot_retrieval(path: &Path, rows: &[ModelResults], title: &str) -> Result<(), EvalError> {
    struct Plot<'a>(&'a [ModelResults], &'a str);
    impl Figure for Plot<'_> {
        fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            draw_retrieval(root, self.0, self.1)
        }
    }
    render(path, (1500, 560), &Plot(rows, title))
}

fn is_svg(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
}

/// One retrieval score of a row at every k, as `(k, %)`.
type Score = fn(&RetrievalScores) -> Option<f64>;

fn draw_retrieval<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[ModelResults],
    title: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 3));
    let k_max = rows
        .iter()
        .flat_map(|r| r.retrieval.iter().map(|s| s.k))
        .max()
        .unwrap_or(10) as f64;
    let scores: [(&str, Score); 3] = [
        ("tag precision@k (%)", |s| s.tag_precision),
        ("key score@k (%)", |s| s.key_score),
        ("tempo Acc1@k (%)", |s| s.tempo_acc1),
    ];
    for (panel, (label, score)) in panels.iter().zip(scores) {
        let series: Vec<(String, Vec<(f64, f64)>)> = rows
            .iter()
            .map(|r| {
                let points = r
                    .retrieval
                    .iter()
                    .filter_map(|s| score(s).map(|v| (s.k as f64, 100.0 * v)))
                    .collect();
                (format!("{} / {}", r.model, r.space), points)
            })
            .collect();
        let y_max = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5..k_max + 0.5, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("k (neighbours)")
            .x_label_formatter(&|k| format!("{k:.0}"))
            .y_desc(label)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| e.to_string())?;
        draw_lines(&mut chart, series, SeriesLabelPosition::UpperRight, 12)?;
    }
    Ok(())
}

/// Draws one line with dots per `(label, points)` in the curve colours (an empty one keeps its
/// colour and draws nothing), and the legend at `legend` in `font_size`.
fn draw_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    lines: impl IntoIterator<Item = (String, Vec<(f64, f64)>)>,
    legend: SeriesLabelPosition,
    font_size: u32,
) -> Result<(), String> {
    for (i, (label, points)) in lines.into_iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let style = ShapeStyle {
            color: CURVE_COLORS[i % CURVE_COLORS.len()].to_rgba(),
            filled: true,
            stroke_width: 2,
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(points.iter().map(|&(x, y)| Circle::new((x, y), 3, style)))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font_size))
        .draw()
        .map_err(|e| e.to_string())
}

fn range_of(points: &[InvariancePoint], transform: Transform, default: (f64, f64)) -> (f64, f64) {
    let xs: Vec<f64> = points
        .iter()
        .filter(|p| p.transform == transform)
        .map(|p| p.parameter)
        .collect();
    if xs.is_empty() {
        return default;
    }
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_parses_and_a_png_is_written() {
        assert!(plotters::style::register_font("loev-test", FontStyle::Normal, FONT).is_ok());
        let dir = std::env::temp_dir().join(format!("loev-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let points: Vec<InvariancePoint> = (-2..=2)
            .map(|s| InvariancePoint {
                model: "m".into(),
                space: "v".into(),
                transform: Transform::PitchShift,
                parameter: s as f64,
                mean_distance: (s as f64).abs() * 0.1,
                std_distance: 0.0,
                clips: 1,
            })
            .collect();
        let png = dir.join("p.png");
        plot_invariance(&png, &points, "test").unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let svg = dir.join("p.svg");
        plot_invariance(&svg, &points, "test").unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("pitch shift"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_retrieval_plot_has_three_panels_and_a_line_per_row() {
        let dir = std::env::temp_dir().join(format!("loev-plot-retrieval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows: Vec<ModelResults> = ["v", "z_pitch_shift"]
            .iter()
            .map(|space| ModelResults {
                model: "loev-ps".into(),
                space: space.to_string(),
                probes: Vec::new(),
                retrieval: [1, 3, 5, 10]
                    .iter()
                    .map(|&k| RetrievalScores {
                        k,
                        tag_precision: Some(0.3),
                        key_score: Some(0.2 + 0.01 * k as f64),
                        tempo_acc1: None,
                        queries: 10,
                    })
                    .collect(),
            })
            .collect();
        let png = dir.join("r.png");
        plot_retrieval(&png, &rows, "test").unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
        let svg = dir.join("r.svg");
        plot_retrieval(&svg, &rows, "test").unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        for needle in [
            "tag precision@k",
            "key score@k",
            "tempo Acc1@k",
            "loev-ps / z_pitch_shift",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
