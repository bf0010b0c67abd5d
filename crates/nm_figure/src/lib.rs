//! Publication figures of aligned embeddings, without a browser: a grid of panels (one row per
//! layer, one column per chosen epoch), points coloured by class in the viewer's colours
//! ([`palette`], the same algorithm as `ui/js/palette.js`), a legend with the class names, panel
//! titles (`layer · epoch E`) and optional trajectories of chosen samples, written as PNG or SVG.
//!
//! The crate knows nothing of runs or the pipeline: the caller hands it positions and labels.
//! [`layout`] places everything (pure arithmetic, tested on its own); `draw` paints it with
//! [plotters](https://docs.rs/plotters) (its SVG and bitmap backends only). Each layer keeps one
//! frame across its epochs, as in the viewer, so motion between panels is real motion. Text in PNGs
//! needs a font file, found on the machine at run time ([`font`]); without one the points are still
//! drawn and [`Rendered::text`] says the text was left out. SVGs always carry their text.
//!
//! ```
//! use nm_figure::{render, Figure, Panel, Row};
//! // Two samples of two classes, one layer at epochs 0 and 5.
//! let (e0, e5) = (vec![0.0, 0.0, 1.0, 1.0], vec![0.0, 1.0, 1.0, 0.0]);
//! let fig = Figure {
//!     rows: vec![Row { layer: "fc".into(), panels: vec![Panel { epoch: 0, positions: &e0 }, Panel { epoch: 5, positions: &e5 }] }],
//!     labels: &[0, 1],
//!     class_names: &["cat".to_string(), "dog".to_string()],
//!     trajectories: vec![1],
//!     width_px: 800,
//! };
//! let out = std::env::temp_dir().join(format!("nm_figure_doc_{}.svg", std::process::id()));
//! let done = render(&fig, &out)?;
//! assert_eq!(done.panels, 2);
//! assert!(std::fs::read_to_string(&out)?.contains("fc · epoch 5"));
//! # std::fs::remove_file(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

mod draw;
pub mod font;
pub mod layout;
pub mod palette;

pub use font::FontStatus;
pub use palette::{class_colours, Rgb};

/// Narrowest and widest figure accepted, in pixels (SVG user units are pixels too).
pub const MIN_WIDTH_PX: u32 = 300;
pub const MAX_WIDTH_PX: u32 = 10_000;
/// Tallest figure accepted: past this, choose fewer layers or a smaller width.
pub const MAX_HEIGHT_PX: u32 = 30_000;

/// One panel: a layer's embedding at one epoch.
pub struct Panel<'a> {
    pub epoch: u32,
    /// `[n, 2]` row-major: point `i` of every panel is the same sample.
    pub positions: &'a [f32],
}

/// One layer: its panels, left to right; they share one frame.
pub struct Row<'a> {
    pub layer: String,
    pub panels: Vec<Panel<'a>>,
}

/// Everything a figure shows.
pub struct Figure<'a> {
    /// Rows top to bottom; every row has the same number of panels.
    pub rows: Vec<Row<'a>>,
    /// Class of each point, `[n]`: an index into `class_names`.
    pub labels: &'a [u32],
    pub class_names: &'a [String],
    /// Points (indices into `labels`) whose path across the row's epochs is drawn in every panel.
    pub trajectories: Vec<usize>,
    pub width_px: u32,
}

/// The output format, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `.png` or `.svg` (any case); anything else is `None`.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub format: Format,
    pub width_px: u32,
    pub height_px: u32,
    pub panels: usize,
    /// Points drawn over all panels (points × panels).
    pub points: usize,
    /// Where each panel's points lie, row-major, in pixels.
    pub panel_rects: Vec<layout::Rect>,
    /// For PNGs, the font used for text or why there was none; for SVGs, `None` (no font needed).
    pub text: Option<FontStatus>,
}

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("{path}: unsupported output format; the file name must end in .png or .svg")]
    UnsupportedFormat { path: PathBuf },
    #[error("width {width_px} px is out of range; choose {MIN_WIDTH_PX} to {MAX_WIDTH_PX} px")]
    Width { width_px: u32 },
    #[error(
        "the figure would be {height_px} px tall (at most {MAX_HEIGHT_PX}); choose fewer layers or a smaller width"
    )]
    Height { height_px: u32 },
    #[error("{0}")]
    Shape(String),
    #[error("{path}: could not draw the figure: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{path}: could not write the figure: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Figure<'_> {
    /// Every row the same number of panels, positions `[n, 2]` with `n = labels.len()`, labels
    /// within `class_names`, trajectories within `0..n`.
    fn check(&self) -> Result<(), FigureError> {
        let bad = |m: String| Err(FigureError::Shape(m));
        if !(MIN_WIDTH_PX..=MAX_WIDTH_PX).contains(&self.width_px) {
            return Err(FigureError::Width { width_px: self.width_px });
        }
        let cols = self.rows.first().map_or(0, |r| r.panels.len());
        if self.rows.is_empty() || cols == 0 {
            return bad("a figure needs at least one layer and one epoch".into());
        }
        let n = self.labels.len();
        for row in &self.rows {
            if row.panels.len() != cols {
                return bad(format!("layer {} has {} panels, the first layer {cols}", row.layer, row.panels.len()));
            }
            for p in &row.panels {
                if p.positions.len() != n * 2 {
                    return bad(format!(
                        "layer {} epoch {}: {} coordinates for {n} points (expected {})",
                        row.layer,
                        p.epoch,
                        p.positions.len(),
                        n * 2
                    ));
                }
            }
        }
        if let Some(&l) = self.labels.iter().find(|&&l| l as usize >= self.class_names.len()) {
            return bad(format!("label {l} but only {} class names", self.class_names.len()));
        }
        if let Some(&t) = self.trajectories.iter().find(|&&t| t >= n) {
            return bad(format!("trajectory of point {t}, but there are {n} points"));
        }
        Ok(())
    }
}

/// Draws `fig` into `out` (.png or .svg), written to a temporary sibling and renamed into place.
pub fn render(fig: &Figure, out: &Path) -> Result<Rendered, FigureError> {
    let format = Format::from_path(out).ok_or_else(|| FigureError::UnsupportedFormat { path: out.to_path_buf() })?;
    fig.check()?;
    let text = match format {
        Format::Png => Some(font::ensure_font().clone()),
        Format::Svg => None,
    };
    let with_text = !matches!(text, Some(FontStatus::Missing(_)));
    let plan = layout::plan(fig);
    if plan.panel_px < layout::MIN_PANEL_PX {
        return Err(FigureError::Shape(format!(
            "{} epochs do not fit in {} px: each panel would be {} px wide (at least {}); choose fewer epochs or a \
             larger width",
            fig.rows[0].panels.len(),
            fig.width_px,
            plan.panel_px,
            layout::MIN_PANEL_PX
        )));
    }
    if plan.height_px > MAX_HEIGHT_PX {
        return Err(FigureError::Height { height_px: plan.height_px });
    }
    // Same folder (a rename within one file system), same extension (the bitmap backend picks the
    // encoder from it).
    let ext = if format == Format::Png { "png" } else { "svg" };
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = out.with_file_name(format!(".{stem}.partial-{}.{ext}", std::process::id()));
    let drawn = draw::draw(fig, &plan, format, with_text, &tmp);
    if let Err(message) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(FigureError::Draw { path: out.to_path_buf(), message });
    }
    if let Err(source) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FigureError::Io { path: out.to_path_buf(), source });
    }
    let panels = plan.panels.len();
    Ok(Rendered {
        format,
        width_px: plan.width_px,
        height_px: plan.height_px,
        panels,
        points: panels * fig.labels.len(),
        panel_rects: plan.panels.iter().map(|p| p.rect).collect(),
        text,
    })
}
