//! nm_figure end to end: the palette equals palette.js's (through the reference list it wrote), an
//! SVG holds one circle per point and panel, a PNG shows every class in every panel, bad input errs.

use std::path::{Path, PathBuf};

use nm_figure::layout::Rect;
use nm_figure::{class_colours, render, Figure, FigureError, Format, Panel, Rgb, Row};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nm_figure_test_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn palette_matches_the_reference_written_by_palette_js() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/palette_reference.txt")).unwrap();
    let reference: Vec<&str> = text.lines().filter(|l| l.starts_with('#') && l.len() == 7).collect();
    assert_eq!(reference.len(), 1010);
    let fixed: Vec<String> = class_colours(10).into_iter().map(Rgb::hex).collect();
    assert_eq!(fixed, reference[..10]);
    let generated: Vec<String> = class_colours(1000).into_iter().map(Rgb::hex).collect();
    assert_eq!(generated, reference[10..]);
}

/// 3 classes × 20 points in three blobs that drift apart over the epochs; 2 layers.
struct Data {
    labels: Vec<u32>,
    names: Vec<String>,
    epochs: Vec<Vec<f32>>,
}

fn data() -> Data {
    let labels: Vec<u32> = (0..60).map(|i| (i % 3) as u32).collect();
    let epochs = (0..3)
        .map(|e| {
            labels
                .iter()
                .enumerate()
                .flat_map(|(i, &l)| {
                    let a = l as f32 * 2.1 + (i as f32 * 0.37).sin() * 0.3;
                    let d = 1.0 + e as f32 + (i as f32 * 1.3).cos() * 0.4;
                    [a.cos() * d, a.sin() * d]
                })
                .collect()
        })
        .collect();
    Data { labels, names: vec!["ant".into(), "bee & co".into(), "<cow>".into()], epochs }
}

fn figure<'a>(d: &'a Data, layers: usize, width_px: u32, trajectories: Vec<usize>) -> Figure<'a> {
    Figure {
        rows: (0..layers)
            .map(|l| Row {
                layer: format!("layer{l}"),
                panels: d.epochs.iter().enumerate().map(|(e, p)| Panel { epoch: e as u32 * 5, positions: p }).collect(),
            })
            .collect(),
        labels: &d.labels,
        class_names: &d.names,
        trajectories,
        width_px,
    }
}

#[test]
fn svg_has_one_circle_per_point_and_panel_in_class_colours() {
    let d = data();
    let out = scratch("svg").join("fig.svg");
    let done = render(&figure(&d, 2, 900, vec![4]), &out).unwrap();
    assert_eq!((done.format, done.panels, done.points), (Format::Svg, 6, 360));
    let svg = std::fs::read_to_string(&out).unwrap();
    let colours: Vec<String> = class_colours(3).into_iter().map(Rgb::hex).collect();
    // Filled circles are points; the trajectory's rings are stroked, not filled.
    let filled: Vec<&str> =
        svg.match_indices("<circle").map(|(i, _)| &svg[i..i + svg[i..].find("/>").unwrap()]).collect();
    let points: Vec<&&str> = filled.iter().filter(|c| !c.contains("fill=\"none\"")).collect();
    assert_eq!(points.len(), 6 * 60);
    for (k, c) in colours.iter().enumerate() {
        let n = points.iter().filter(|p| p.contains(&format!("fill=\"{c}\""))).count();
        assert_eq!(n, 6 * 20, "class {k} ({c})");
    }
    assert_eq!(filled.len() - points.len(), 6, "one ring per panel for the one trajectory");
    for title in ["layer0 · epoch 0", "layer1 · epoch 10", "bee &amp; co", "&lt;cow&gt;"] {
        assert!(svg.contains(title), "{title} missing");
    }
    assert!(!out.with_file_name(".fig.partial").exists());
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "plotters writes RGB");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn png_shows_every_class_in_every_panel_and_nothing_between_panels() {
    let d = data();
    let out = scratch("png").join("fig.png");
    let done = render(&figure(&d, 2, 900, vec![]), &out).unwrap();
    let (w, h, px) = decode_png(&out);
    assert_eq!((w, h), (done.width_px, done.height_px));
    let colours = class_colours(3);
    let at = |x: u32, y: u32| {
        let k = 3 * (y * w + x) as usize;
        Rgb(px[k], px[k + 1], px[k + 2])
    };
    // Count each class colour's pixels inside each panel, and outside all panels and the legend.
    let mut inside = vec![[0usize; 3]; done.panel_rects.len()];
    let mut stray = 0;
    let legend_x = done.panel_rects.iter().map(|r| r.x + r.w).max().unwrap();
    for y in 0..h {
        for x in 0..w {
            let Some(c) = colours.iter().position(|&c| c == at(x, y)) else { continue };
            match done.panel_rects.iter().position(|r: &Rect| r.contains(x as i32, y as i32)) {
                Some(p) => inside[p][c] += 1,
                None if (x as i32) > legend_x => {}
                None => stray += 1,
            }
        }
    }
    assert_eq!(inside.len(), 6);
    for (p, counts) in inside.iter().enumerate() {
        assert!(counts.iter().all(|&n| n > 0), "panel {p}: {counts:?}");
    }
    assert_eq!(stray, 0, "class colours outside the panels");
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let d = data();
    let dir = scratch("bad");
    let e = render(&figure(&d, 1, 900, vec![]), &dir.join("fig.jpg")).unwrap_err();
    assert!(matches!(e, FigureError::UnsupportedFormat { .. }) && e.to_string().contains(".png or .svg"), "{e}");
    let e = render(&figure(&d, 1, 100, vec![]), &dir.join("fig.svg")).unwrap_err();
    assert!(e.to_string().contains("width 100 px is out of range; choose 300 to 10000 px"), "{e}");
    let e = render(&figure(&d, 1, 900, vec![60]), &dir.join("fig.svg")).unwrap_err();
    assert!(e.to_string().contains("trajectory of point 60, but there are 60 points"), "{e}");
    let mut many = figure(&d, 1, 300, vec![]);
    let p = &d.epochs[0];
    many.rows[0].panels = (0..12).map(|e| Panel { epoch: e, positions: p }).collect();
    let e = render(&many, &dir.join("fig.svg")).unwrap_err();
    assert!(e.to_string().contains("12 epochs do not fit in 300 px"), "{e}");
    let e = render(&figure(&d, 1, 900, vec![]), &dir.join("missing/fig.svg")).unwrap_err();
    assert!(e.to_string().contains("missing/fig.svg"), "{e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}
