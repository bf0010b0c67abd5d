//! Where everything goes, in pixels: the panel grid (square panels, one title line above each), the
//! legend (one column at the right when it fits beside the grid, else rows below it), the font size,
//! the point radius, and each layer's frame (one per row, shared by its epochs).

use crate::Figure;

/// Space around the figure and between panels, as a fraction of the width.
const MARGIN_FRAC: f64 = 0.015;
/// Font size as a fraction of the width, and its bounds in pixels.
const FONT_FRAC: f64 = 1.0 / 70.0;
const FONT_MIN_PX: f64 = 11.0;
const FONT_MAX_PX: f64 = 30.0;
/// Average advance of a sans-serif glyph, in ems: text width is estimated, not measured, so the
/// layout is the same with or without a font file (and for SVG, where the viewer picks the font).
const GLYPH_EM: f64 = 0.6;
/// Class names longer than this are cut (with an ellipsis) in the legend.
pub const MAX_NAME_CHARS: usize = 24;
/// Point radius = this × the side of the square each point would get if the panel were shared
/// evenly (`panel / √n`), between the bounds: small, dense runs get small points; sparse ones larger.
const POINT_FRAC: f64 = 0.3;
const POINT_MIN_PX: f64 = 1.0;
const POINT_MAX_PX: f64 = 5.0;
/// Empty border inside a panel's frame, as a fraction of the data's extent.
const FRAME_PAD: f64 = 0.04;
/// Panels narrower than this are refused.
pub const MIN_PANEL_PX: i32 = 60;

/// A pixel rectangle; `x`, `y` its top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

/// One panel: where its points go and its title.
#[derive(Clone, Debug)]
pub struct PanelPlan {
    pub row: usize,
    pub col: usize,
    pub rect: Rect,
    /// Centre of the title's baseline area, above `rect`.
    pub title_at: (i32, i32),
    pub title: String,
}

/// One legend line: a colour swatch and the class name after it.
#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub class: usize,
    pub swatch: Rect,
    /// Left end, vertical centre of the name.
    pub text_at: (i32, i32),
    pub name: String,
}

/// A row's data-to-pixel map: `px = rect centre + (x − cx)·scale`, y upwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub cx: f64,
    pub cy: f64,
    pub scale: f64,
}

impl Frame {
    /// Pixel of data point `(x, y)` in `rect`.
    pub fn to_px(&self, rect: &Rect, x: f32, y: f32) -> (i32, i32) {
        let px = rect.x as f64 + rect.w as f64 / 2.0 + (x as f64 - self.cx) * self.scale;
        let py = rect.y as f64 + rect.h as f64 / 2.0 - (y as f64 - self.cy) * self.scale;
        (px.round() as i32, py.round() as i32)
    }
}

/// The whole figure's geometry.
#[derive(Clone, Debug)]
pub struct Plan {
    pub width_px: u32,
    pub height_px: u32,
    pub font_px: f64,
    pub point_radius_px: u32,
    /// The side of every (square) panel.
    pub panel_px: i32,
    /// Row-major.
    pub panels: Vec<PanelPlan>,
    /// One per row.
    pub frames: Vec<Frame>,
    pub legend: Vec<LegendEntry>,
}

/// `name` cut to [`MAX_NAME_CHARS`] characters.
pub fn short_name(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(MAX_NAME_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Lays out `fig` (already checked: at least one row and one panel, equal panel counts).
pub fn plan(fig: &Figure) -> Plan {
    let w = fig.width_px as f64;
    let margin = (w * MARGIN_FRAC).round().max(6.0) as i32;
    let font_px = (w * FONT_FRAC).clamp(FONT_MIN_PX, FONT_MAX_PX);
    let title_h = (font_px * 1.7).round() as i32;
    let line_h = (font_px * 1.5).round() as i32;
    let swatch = (font_px * 0.8).round() as i32;
    let names: Vec<String> = fig.class_names.iter().map(|n| short_name(n)).collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(1) as f64;
    let col_w = swatch + margin / 2 + (longest * font_px * GLYPH_EM).ceil() as i32 + margin;
    let (rows, cols) = (fig.rows.len() as i32, fig.rows[0].panels.len() as i32);

    let grid = |legend_w: i32| {
        let grid_w = fig.width_px as i32 - 2 * margin - legend_w;
        let panel = (grid_w - (cols - 1) * margin) / cols;
        let grid_h = rows * (title_h + panel) + (rows - 1) * margin;
        (panel, grid_h)
    };
    let (mut panel, mut grid_h) = grid(col_w + margin);
    let classes = names.len() as i32;
    let beside = classes * line_h <= grid_h;
    let mut legend = Vec::with_capacity(names.len());
    let legend_h;
    if beside {
        let x0 = fig.width_px as i32 - margin - col_w;
        let y0 = margin + title_h;
        for (c, name) in names.into_iter().enumerate() {
            legend.push(entry(c, name, x0, y0 + c as i32 * line_h, swatch, line_h, margin));
        }
        legend_h = 0;
    } else {
        (panel, grid_h) = grid(0);
        let per_line = ((fig.width_px as i32 - 2 * margin) / col_w).max(1);
        let y0 = margin + grid_h + margin;
        for (c, name) in names.into_iter().enumerate() {
            let (r, k) = (c as i32 / per_line, c as i32 % per_line);
            legend.push(entry(c, name, margin + k * col_w, y0 + r * line_h, swatch, line_h, margin));
        }
        legend_h = margin + (classes + per_line - 1) / per_line * line_h;
    }
    let height_px = (margin + grid_h + legend_h + margin).max(1) as u32;

    let mut panels = Vec::with_capacity((rows * cols) as usize);
    for (r, row) in fig.rows.iter().enumerate() {
        for (c, p) in row.panels.iter().enumerate() {
            let x = margin + c as i32 * (panel + margin);
            let y = margin + r as i32 * (title_h + panel + margin) + title_h;
            panels.push(PanelPlan {
                row: r,
                col: c,
                rect: Rect { x, y, w: panel, h: panel },
                title_at: (x + panel / 2, y - title_h / 2),
                title: format!("{} · epoch {}", short_name(&row.layer), p.epoch),
            });
        }
    }
    let frames = fig.rows.iter().map(|row| frame(row, panel)).collect();
    let n = fig.labels.len().max(1) as f64;
    let radius = (POINT_FRAC * panel.max(1) as f64 / n.sqrt()).clamp(POINT_MIN_PX, POINT_MAX_PX).round() as u32;
    Plan {
        width_px: fig.width_px,
        height_px,
        font_px,
        point_radius_px: radius,
        panel_px: panel,
        panels,
        frames,
        legend,
    }
}

fn entry(class: usize, name: String, x: i32, y: i32, swatch: i32, line_h: i32, margin: i32) -> LegendEntry {
    let top = y + (line_h - swatch) / 2;
    LegendEntry {
        class,
        swatch: Rect { x, y: top, w: swatch, h: swatch },
        text_at: (x + swatch + margin / 2, y + line_h / 2),
        name,
    }
}

/// The bounding square of every finite position of the row's panels, padded, fitted to `panel_px`.
fn frame(row: &crate::Row, panel_px: i32) -> Frame {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &row.panels {
        for xy in p.positions.chunks_exact(2) {
            let (x, y) = (xy[0] as f64, xy[1] as f64);
            if x.is_finite() && y.is_finite() {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
        }
    }
    if x0 > x1 {
        return Frame { cx: 0.0, cy: 0.0, scale: 1.0 };
    }
    let span = (x1 - x0).max(y1 - y0) * (1.0 + 2.0 * FRAME_PAD);
    let scale = if span > 0.0 { panel_px as f64 / span } else { 1.0 };
    Frame { cx: (x0 + x1) / 2.0, cy: (y0 + y1) / 2.0, scale }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Panel, Row};

    fn fig<'a>(positions: &'a [f32], rows: usize, cols: usize, labels: &'a [u32], names: &'a [String]) -> Figure<'a> {
        Figure {
            rows: (0..rows)
                .map(|r| Row {
                    layer: format!("l{r}"),
                    panels: (0..cols).map(|c| Panel { epoch: c as u32 * 5, positions }).collect(),
                })
                .collect(),
            labels,
            class_names: names,
            trajectories: vec![],
            width_px: 1200,
        }
    }

    #[test]
    fn panels_are_square_disjoint_and_inside_the_figure() {
        let pos = [0.0, 0.0, 2.0, 1.0, -1.0, 3.0];
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let p = plan(&fig(&pos, 2, 3, &[0, 1, 1], &names));
        assert_eq!(p.panels.len(), 6);
        for (i, a) in p.panels.iter().enumerate() {
            assert_eq!(a.rect.w, a.rect.h);
            assert!(a.rect.x >= 0 && a.rect.x + a.rect.w <= 1200 && a.rect.y + a.rect.h <= p.height_px as i32);
            for b in &p.panels[i + 1..] {
                let apart = a.rect.x + a.rect.w <= b.rect.x || b.rect.y >= a.rect.y + a.rect.h;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(p.panels[5].title, "l1 · epoch 10");
        // Two classes fit beside the grid: the legend is right of the last column.
        assert!(p.legend[0].swatch.x > p.panels[2].rect.x + p.panels[2].rect.w);
    }

    #[test]
    fn every_point_of_a_row_lands_inside_its_panels() {
        let pos = [-5.0, 1.0, 7.0, 2.0, 0.0, -9.0, 3.0, 3.0];
        let names = vec!["a".to_string()];
        let p = plan(&fig(&pos, 1, 2, &[0; 4], &names));
        for pp in &p.panels {
            for xy in pos.chunks_exact(2) {
                let (x, y) = p.frames[0].to_px(&pp.rect, xy[0], xy[1]);
                assert!(pp.rect.contains(x, y), "({x}, {y}) outside {:?}", pp.rect);
            }
        }
    }

    #[test]
    fn many_classes_put_the_legend_below_the_grid() {
        let pos = [0.0, 0.0];
        let names: Vec<String> = (0..200).map(|i| format!("class {i}")).collect();
        let p = plan(&fig(&pos, 1, 2, &[0], &names));
        let grid_bottom = p.panels[0].rect.y + p.panels[0].rect.h;
        assert!(p.legend.iter().all(|e| e.swatch.y > grid_bottom));
        assert!(p.legend.iter().all(|e| e.swatch.y + e.swatch.h <= p.height_px as i32));
        assert_eq!(p.legend.len(), 200);
    }

    #[test]
    fn points_shrink_as_their_number_grows() {
        let names = vec!["a".to_string()];
        let few = vec![0.0; 2 * 50];
        let many = vec![0.0; 2 * 50_000];
        let r_few = plan(&fig(&few, 1, 2, &[0; 50], &names)).point_radius_px;
        let r_many = plan(&fig(&many, 1, 2, &[0; 50_000], &names)).point_radius_px;
        assert!(r_few > r_many && r_many >= 1, "{r_few} vs {r_many}");
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(short_name("short"), "short");
        let cut = short_name(&"x".repeat(40));
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.ends_with('…'));
    }
}
