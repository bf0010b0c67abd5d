//! The compact binary forms the browser reads, and the thumbnail atlases.
//!
//! Both binary forms start with a 12-byte preamble — 4-byte magic, u32 version, u32 header length —
//! then a JSON header padded with spaces to a multiple of 4 bytes, then little-endian arrays, each
//! starting at a multiple of 4 bytes (so the browser can view them as typed arrays without copying).
//!
//! Embedding (`NMEM`): header `{layer, view, epochs: [E], n, bounds: [E][x0, y0, x1, y1]}` (in a run
//! with adversarial twins also `divergence: [E]{epoch, twins, flipped, distance, toward_predicted}`), then
//! `samples: u32[n]` (run sample indices), then `positions: u16[E, n, 2]`, where a coordinate `v` of
//! epoch `e` is stored as `q = round((v - lo_e) / (hi_e - lo_e) * 65535)` with `lo_e`, `hi_e` that
//! epoch's bounds on that axis (error at most 1/131070 of the range).
//!
//! Samples (`NMSA`): header `{n, label_bytes, pred_epochs: [P], pred_bytes, absent}` (in a run with
//! adversarial twins also `twins: [[row, clean row], ...]`), then
//! `labels: u8|u16[n]`, then `predictions: u8|u16[P, n]` (each row padded to 4 bytes).
//!
//! Values (`NMVA`): header `{id, epochs: [R] | null, n, ...}`, then `values: f32[max(R, 1), n]`, one
//! per-sample value (NaN where unknown) per epoch, or one static row when `epochs` is null.

use axum::body::Bytes;
use nm_pipeline::LayerEmbedding;
use nm_run::Inputs;

pub const EMBEDDING_MAGIC: &[u8; 4] = b"NMEM";
pub const SAMPLES_MAGIC: &[u8; 4] = b"NMSA";
pub const VALUES_MAGIC: &[u8; 4] = b"NMVA";
pub const FORMAT_VERSION: u32 = 1;
/// Quantisation steps per axis per epoch.
const Q_MAX: f32 = 65535.0;
/// Thumbnails per atlas row, and rows per atlas page.
pub const THUMB_COLS: usize = 32;
pub const THUMB_ROWS: usize = 32;
/// Thumbnails larger than this (pixels on the longer side) are shrunk by an integer factor.
const MAX_THUMB_PX: usize = 48;

pub(crate) fn preamble(magic: &[u8; 4], header: &serde_json::Value) -> Vec<u8> {
    let mut text = header.to_string().into_bytes();
    while !text.len().is_multiple_of(4) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(12 + text.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(&text);
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// (epochs, samples) of `emb`, or an error when its positions are not [E, n, 2].
pub(crate) fn checked_shape(emb: &LayerEmbedding) -> Result<(usize, usize), String> {
    let (e, n) = (emb.epochs.len(), emb.samples.len());
    if emb.positions.len() != e * n * 2 {
        return Err(format!(
            "positions have {} values, expected epochs x samples x 2 = {e} x {n} x 2 = {}",
            emb.positions.len(),
            e * n * 2
        ));
    }
    Ok((e, n))
}

/// `[x0, y0, x1, y1]` of the finite coordinates of points `xy` ([m, 2]); `0, 0` on an axis with none.
pub(crate) fn finite_bounds(xy: &[f32]) -> [f32; 4] {
    let mut b = [f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
    for p in xy.chunks_exact(2) {
        for axis in 0..2 {
            if p[axis].is_finite() {
                b[axis] = b[axis].min(p[axis]);
                b[axis + 2] = b[axis + 2].max(p[axis]);
            }
        }
    }
    for axis in 0..2 {
        if b[axis] > b[axis + 2] {
            (b[axis], b[axis + 2]) = (0.0, 0.0);
        }
    }
    b
}

/// A view's header: `{layer, view, epochs, n, bounds}` and the `extra` fields.
pub(crate) fn view_header(
    view: &str,
    emb: &LayerEmbedding,
    bounds: &[[f32; 4]],
    extra: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut header = serde_json::json!({
        "layer": emb.layer, "view": view, "epochs": emb.epochs, "n": emb.samples.len(), "bounds": bounds,
    });
    if let Some(h) = header.as_object_mut() {
        h.extend(extra);
    }
    header
}

/// Encodes one view, with `extra` fields in the header (e.g. `divergence`). Errors when the
/// positions do not have the shape `[E, n, 2]`.
pub fn embedding_bytes(
    view: &str,
    emb: &LayerEmbedding,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<Bytes, String> {
    let (e, n) = checked_shape(emb)?;
    let bounds: Vec<[f32; 4]> = (0..e).map(|ei| finite_bounds(emb.slice(ei))).collect();
    let header = view_header(view, emb, &bounds, extra);
    let mut out = preamble(EMBEDDING_MAGIC, &header);
    out.reserve(n * 4 + e * n * 4);
    for &s in &emb.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for (ei, b) in bounds.iter().enumerate() {
        let slice = &emb.positions[ei * n * 2..(ei + 1) * n * 2];
        for p in slice.chunks_exact(2) {
            for axis in 0..2 {
                let range = b[axis + 2] - b[axis];
                let q = if range > 0.0 && p[axis].is_finite() {
                    ((p[axis] - b[axis]) / range * Q_MAX).round()
                } else {
                    0.0
                };
                out.extend_from_slice(&(q.clamp(0.0, Q_MAX) as u16).to_le_bytes());
            }
        }
    }
    pad4(&mut out);
    Ok(Bytes::from(out))
}

/// Encodes per-sample values: `header` (which must hold `n` and `epochs`) and `values`, f32 rows.
pub fn values_bytes(header: &serde_json::Value, values: &[f32]) -> Bytes {
    let mut out = preamble(VALUES_MAGIC, header);
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Bytes::from(out)
}

/// Width in bytes (1 or 2) needed for class ids below `max_exclusive`, keeping one value for "absent".
fn id_width(max_exclusive: u64) -> usize {
    if max_exclusive < 255 {
        1
    } else {
        2
    }
}

fn push_ids(out: &mut Vec<u8>, ids: &[u32], width: usize) {
    for &v in ids {
        if width == 1 {
            out.push(v.min(255) as u8);
        } else {
            out.extend_from_slice(&(v.min(65535) as u16).to_le_bytes());
        }
    }
    pad4(out);
}

/// The samples form (`NMSA`) of `labels` [n] and the predictions [n] of the epochs that have them
/// (ascending); ids are one byte each when every id, and `n_classes`, fit below 255.
pub fn samples_bytes(
    labels: &[u32],
    preds: &[(u32, Vec<u32>)],
    n_classes: usize,
    twins: Option<&[Option<u32>]>,
) -> Bytes {
    let n = labels.len();
    let max_id = labels.iter().chain(preds.iter().flat_map(|(_, p)| p.iter())).copied().max().unwrap_or(0) as u64;
    let width = id_width(max_id.max(n_classes as u64) + 1);
    let absent = if width == 1 { 255 } else { 65535 };
    let mut header = serde_json::json!({
        "n": n, "label_bytes": width, "pred_bytes": width, "absent": absent,
        "pred_epochs": preds.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
    });
    if let Some(t) = twins {
        let pairs: Vec<[u32; 2]> = t.iter().enumerate().filter_map(|(i, c)| Some([i as u32, (*c)?])).collect();
        header["twins"] = serde_json::json!(pairs);
    }
    let mut out = preamble(SAMPLES_MAGIC, &header);
    push_ids(&mut out, labels, width);
    for (_, p) in preds {
        push_ids(&mut out, p, width);
    }
    Bytes::from(out)
}

/// The samples form of a run not yet readable (a live run before its first epoch): no samples.
pub fn empty_samples() -> Bytes {
    let header = serde_json::json!({"n": 0, "label_bytes": 1, "pred_bytes": 1, "absent": 255, "pred_epochs": []});
    Bytes::from(preamble(SAMPLES_MAGIC, &header))
}

/// Size of one atlas tile: (shrink factor, tile height, tile width).
pub fn thumb_tile(inputs: &Inputs) -> (usize, usize, usize) {
    let longest = inputs.height.max(inputs.width).max(1);
    let f = longest.div_ceil(MAX_THUMB_PX).max(1);
    (f, inputs.height / f, inputs.width / f)
}

pub fn thumb_pages(inputs: &Inputs) -> usize {
    inputs.n.div_ceil(THUMB_COLS * THUMB_ROWS)
}

/// Atlas page `page` as an RGB PNG: thumbnail `i` of the page at column `i % THUMB_COLS`, row
/// `i / THUMB_COLS` (the last page has as many rows as it needs). None when the page does not exist.
pub fn thumb_page_png(inputs: &Inputs, page: usize) -> Option<Vec<u8>> {
    let per_page = THUMB_COLS * THUMB_ROWS;
    let first = page.checked_mul(per_page)?;
    if first >= inputs.n || inputs.channels == 0 {
        return None;
    }
    let count = per_page.min(inputs.n - first);
    let (f, th, tw) = thumb_tile(inputs);
    if th == 0 || tw == 0 {
        return None;
    }
    let rows = count.div_ceil(THUMB_COLS);
    let (w, h) = (THUMB_COLS * tw, rows * th);
    let mut rgb = vec![0u8; w * h * 3];
    let (ih, iw, c) = (inputs.height, inputs.width, inputs.channels);
    let img_len = ih * iw * c;
    for k in 0..count {
        let img = inputs.data.get((first + k) * img_len..(first + k + 1) * img_len)?;
        let (ox, oy) = ((k % THUMB_COLS) * tw, (k / THUMB_COLS) * th);
        for y in 0..th {
            for x in 0..tw {
                // Box filter over the f x f source block.
                let mut acc = [0u32; 3];
                for dy in 0..f {
                    for dx in 0..f {
                        let base = ((y * f + dy) * iw + (x * f + dx)) * c;
                        for (ch, a) in acc.iter_mut().enumerate() {
                            *a += img[base + if c == 1 { 0 } else { ch.min(c - 1) }] as u32;
                        }
                    }
                }
                let o = ((oy + y) * w + ox + x) * 3;
                for ch in 0..3 {
                    rgb[o + ch] = (acc[ch] / (f * f) as u32) as u8;
                }
            }
        }
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().ok()?;
        writer.write_image_data(&rgb).ok()?;
    }
    Some(png_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_round_trips_within_quantisation_error() {
        let positions = vec![0.0, 10.0, 1.0, -10.0, 0.5, 0.0, /* epoch 2 */ 3.0, 3.0, 3.0, 3.0, 3.0, 3.0];
        let emb = LayerEmbedding { layer: "l".into(), epochs: vec![1, 2], samples: vec![0, 4, 7], positions };
        let mut extra = serde_json::Map::new();
        extra.insert("divergence".into(), serde_json::json!([{"epoch": 1}]));
        let b = embedding_bytes("k", &emb, extra).unwrap();
        assert_eq!(&b[..4], EMBEDDING_MAGIC);
        let hl = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
        assert_eq!(hl % 4, 0);
        let h: serde_json::Value = serde_json::from_slice(&b[12..12 + hl]).unwrap();
        assert_eq!(h["n"], 3);
        assert_eq!(h["divergence"][0]["epoch"], 1, "extra header fields are kept");
        let body = &b[12 + hl..];
        let samples: Vec<u32> = body[..12].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(samples, vec![0, 4, 7]);
        let q: Vec<u16> = body[12..].chunks(2).map(|c| u16::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(q.len(), 12);
        // Sample 1 of epoch 1 has x = 1 (the max) and y = -10 (the min).
        assert_eq!((q[2], q[3]), (65535, 0));
        assert_eq!(q[4], 32768); // x = 0.5 of [0, 1]
                                 // Epoch 2 is a single point: zero range encodes as 0 with bounds lo = hi.
        assert!(q[6..].iter().all(|&v| v == 0));
        assert_eq!(h["bounds"][1][0], 3.0);
    }

    #[test]
    fn embedding_with_wrong_shape_is_an_error() {
        let emb = LayerEmbedding { layer: "l".into(), epochs: vec![1], samples: vec![0, 1], positions: vec![0.0; 3] };
        assert!(embedding_bytes("k", &emb, serde_json::Map::new()).unwrap_err().contains("expected"));
    }
}
