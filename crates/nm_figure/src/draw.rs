//! Paints a [`Plan`] with plotters, on its SVG or bitmap backend: panel frames, points (opaque, in
//! a fixed shuffled order so no class always hides another), trajectories, titles and the legend.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::layout::{Plan, Rect};
use crate::palette::{class_colours, Rgb};
use crate::{font, Figure, Format};

const FRAME_COLOUR: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
const TEXT_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);
const TRAJECTORY_COLOUR: RGBColor = RGBColor(0x11, 0x11, 0x11);

fn colour(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Draws into `out` with the backend `format` names; text only when `with_text`.
pub(crate) fn draw(fig: &Figure, plan: &Plan, format: Format, with_text: bool, out: &Path) -> Result<(), String> {
    let size = (plan.width_px, plan.height_px);
    match format {
        Format::Svg => paint(&SVGBackend::new(out, size).into_drawing_area(), fig, plan, with_text),
        Format::Png => paint(&BitMapBackend::new(out, size).into_drawing_area(), fig, plan, with_text),
    }
}

/// A fixed permutation of `0..n` (sorted by a multiplicative hash): runs often list samples class
/// by class, and drawing in that order would put the last class on top of all others.
fn draw_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 16);
    order
}

fn paint<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
    plan: &Plan,
    with_text: bool,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let colours: Vec<RGBColor> = class_colours(fig.class_names.len()).into_iter().map(colour).collect();
    let order = draw_order(fig.labels.len());
    let font_px = plan.font_px;
    let text = |anchor: Pos| TextStyle::from((font::FAMILY, font_px).into_font()).color(&TEXT_COLOUR).pos(anchor);
    let r = plan.point_radius_px;

    for p in &plan.panels {
        let row = &fig.rows[p.row];
        let positions = row.panels[p.col].positions;
        let frame = plan.frames[p.row];
        area.draw(&rect_outline(&p.rect)).map_err(err)?;
        for &i in &order {
            let (x, y) = (positions[2 * i], positions[2 * i + 1]);
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let at = frame.to_px(&p.rect, x, y);
            area.draw(&Circle::new(at, r, colours[fig.labels[i] as usize].filled())).map_err(err)?;
        }
        for &t in &fig.trajectories {
            let path: Vec<(i32, i32)> = row
                .panels
                .iter()
                .map(|q| (q.positions[2 * t], q.positions[2 * t + 1]))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| frame.to_px(&p.rect, x, y))
                .collect();
            let line = ShapeStyle { color: TRAJECTORY_COLOUR.to_rgba(), filled: false, stroke_width: 1 + r / 3 };
            area.draw(&PathElement::new(path, line)).map_err(err)?;
            let (x, y) = (positions[2 * t], positions[2 * t + 1]);
            if x.is_finite() && y.is_finite() {
                let ring = ShapeStyle { color: TRAJECTORY_COLOUR.to_rgba(), filled: false, stroke_width: 2 };
                area.draw(&Circle::new(frame.to_px(&p.rect, x, y), r + 3, ring)).map_err(err)?;
            }
        }
        if with_text {
            let at = p.title_at;
            area.draw(&Text::new(p.title.clone(), at, text(Pos::new(HPos::Center, VPos::Center)))).map_err(err)?;
        }
    }
    for e in &plan.legend {
        let s = e.swatch;
        area.draw(&Rectangle::new([(s.x, s.y), (s.x + s.w, s.y + s.h)], colours[e.class].filled())).map_err(err)?;
        if with_text {
            area.draw(&Text::new(e.name.clone(), e.text_at, text(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
        }
    }
    area.present().map_err(err)
}

fn rect_outline(r: &Rect) -> Rectangle<(i32, i32)> {
    Rectangle::new([(r.x - 1, r.y - 1), (r.x + r.w, r.y + r.h)], ShapeStyle::from(&FRAME_COLOUR).stroke_width(1))
}
