//! The packed embedding form (`NMEP`) that `neuromapper site` writes in place of `NMEM`: positions
//! on one grid shared by every epoch of a view, epoch 0 as grid indices and each later epoch as the
//! change from the epoch before, gzip-compressed. Aligned UMAP keeps points near where they were, so
//! the changes are small numbers and compress to about a byte per point and epoch; the viewer
//! (`ui/js/packed.js`) turns the file back into the same arrays `NMEM` gives.
//!
//! Layout: the 12-byte preamble and JSON header of encode.rs (magic `NMEP`), the header being NMEM's
//! `{layer, view, epochs, n, bounds, …}` plus `grid: {x0, y0, step, bits}`, then one gzip member
//! holding, in order:
//! - `samples: u32[n]`, little-endian, each the difference from the previous sample index (wrapping;
//!   the first from 0), so the ascending indices of a view compress to almost nothing;
//! - epoch 0's grid indices as four byte planes of n bytes each: x low, x high, y low, y high;
//! - for each later epoch, n x-changes then n y-changes, one byte each: the zigzag-coded change
//!   (0, −1, 1, −2, … → 0, 1, 2, 3, …) when below 255, else 255;
//! - for every 255 above, in the same order, the zigzag-coded change as u32 (little-endian).
//!
//! A coordinate with grid index `k` is `x0 + k * step` (`y0` for y); `step` is the larger extent of
//! the view, over every epoch, divided by 2^bits − 1, so a decoded position is within `step / 2` of
//! the embedded one on each axis. A non-finite coordinate is stored at index 0. `bounds` are those of
//! the decoded positions, so the viewer's per-epoch quantisation matches NMEM's.

use std::io::Write;

use axum::body::Bytes;
use nm_pipeline::LayerEmbedding;

use crate::encode;

pub const PACKED_MAGIC: &[u8; 4] = b"NMEP";
/// The precisions `site --precision` takes, in bits per axis.
pub const BITS: std::ops::RangeInclusive<u32> = 8..=16;
/// `site`'s default: 1/4095 of the view's extent, finer than a pixel of a full-screen plot.
pub const DEFAULT_BITS: u32 = 12;
const ESCAPE: u8 = 255;

/// The shared grid of a view: its origin, step and the index of each coordinate ([E, n, 2]).
struct Grid {
    x0: f32,
    y0: f32,
    step: f32,
    index: Vec<u16>,
}

fn grid(positions: &[f32], bits: u32) -> Grid {
    let [x0, y0, x1, y1] = encode::finite_bounds(positions);
    let (lo, hi) = ([x0, y0], [x1, y1]);
    let levels = ((1u32 << bits) - 1) as f32;
    let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let step = if extent > 0.0 { extent / levels } else { 1.0 };
    let index = positions
        .chunks_exact(2)
        .flat_map(|p| {
            (0..2).map(
                move |a| if p[a].is_finite() { ((p[a] - lo[a]) / step).round().clamp(0.0, levels) as u16 } else { 0 },
            )
        })
        .collect();
    Grid { x0: lo[0], y0: lo[1], step, index }
}

fn zigzag(d: i32) -> u32 {
    ((d << 1) ^ (d >> 31)) as u32
}

/// Packs one view (positions [E, n, 2]) at `bits` per axis, with `extra` header fields as
/// encode.rs's `embedding_bytes` takes them. Errors on a bad shape or precision.
pub fn packed_embedding_bytes(
    view: &str,
    emb: &LayerEmbedding,
    extra: serde_json::Map<String, serde_json::Value>,
    bits: u32,
) -> Result<Bytes, String> {
    if !BITS.contains(&bits) {
        return Err(format!("a precision of {bits} bits per axis; it must be {} to {}", BITS.start(), BITS.end()));
    }
    let (e, n) = encode::checked_shape(emb)?;
    let g = grid(&emb.positions, bits);
    // Bounds of the positions as the viewer will decode them (non-finite ones stay out).
    let decoded: Vec<f32> = emb
        .positions
        .iter()
        .zip(&g.index)
        .enumerate()
        .map(
            |(j, (&v, &k))| {
                if v.is_finite() {
                    (if j % 2 == 0 { g.x0 } else { g.y0 }) + k as f32 * g.step
                } else {
                    f32::NAN
                }
            },
        )
        .collect();
    let bounds: Vec<[f32; 4]> =
        (0..e).map(|ei| encode::finite_bounds(&decoded[ei * n * 2..(ei + 1) * n * 2])).collect();
    let mut header = encode::view_header(view, emb, &bounds, extra);
    header["grid"] = serde_json::json!({"x0": g.x0, "y0": g.y0, "step": g.step, "bits": bits});

    let mut raw = Vec::with_capacity(n * 4 + e * n * 2 + 4 * n);
    let mut previous = 0u32;
    for &s in &emb.samples {
        raw.extend_from_slice(&s.wrapping_sub(previous).to_le_bytes());
        previous = s;
    }
    if e > 0 {
        for a in 0..2 {
            for shift in [0, 8] {
                raw.extend((0..n).map(|i| (g.index[i * 2 + a] >> shift) as u8));
            }
        }
    }
    let mut escapes = Vec::new();
    for ei in 1..e {
        for a in 0..2 {
            for i in 0..n {
                let (now, before) = (g.index[(ei * n + i) * 2 + a], g.index[((ei - 1) * n + i) * 2 + a]);
                let z = zigzag(now as i32 - before as i32);
                if z < ESCAPE as u32 {
                    raw.push(z as u8);
                } else {
                    raw.push(ESCAPE);
                    escapes.push(z);
                }
            }
        }
    }
    for z in escapes {
        raw.extend_from_slice(&z.to_le_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw).map_err(|err| format!("compressing the positions: {err}"))?;
    let body = gz.finish().map_err(|err| format!("compressing the positions: {err}"))?;

    let mut out = encode::preamble(PACKED_MAGIC, &header);
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn emb(epochs: usize, n: usize, f: impl Fn(usize, usize) -> [f32; 2]) -> LayerEmbedding {
        let f = &f;
        let positions = (0..epochs).flat_map(|e| (0..n).flat_map(move |i| f(e, i))).collect();
        LayerEmbedding {
            layer: "l".into(),
            epochs: (0..epochs as u32).collect(),
            samples: (0..n as u32).map(|i| i * 3).collect(),
            positions,
        }
    }

    /// The reference decoder, written from the layout in the module comment.
    fn unpack(bytes: &[u8]) -> (serde_json::Value, Vec<u32>, Vec<f32>) {
        assert_eq!(&bytes[..4], PACKED_MAGIC);
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[12..12 + len]).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&bytes[12 + len..]).read_to_end(&mut raw).unwrap();
        let n = header["n"].as_u64().unwrap() as usize;
        let e = header["epochs"].as_array().unwrap().len();
        let mut previous = 0u32;
        let samples = raw[..4 * n]
            .chunks_exact(4)
            .map(|c| {
                previous = previous.wrapping_add(u32::from_le_bytes(c.try_into().unwrap()));
                previous
            })
            .collect();
        let mut at = 4 * n;
        let mut k = vec![0i64; e * n * 2];
        for a in 0..2 {
            for i in 0..n {
                k[i * 2 + a] = raw[at + i] as i64 + ((raw[at + n + i] as i64) << 8);
            }
            at += 2 * n;
        }
        let deltas = &raw[at..at + (e.saturating_sub(1)) * n * 2];
        let mut esc = raw[at + deltas.len()..].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()));
        let mut d = deltas.iter();
        for ei in 1..e {
            for a in 0..2 {
                for i in 0..n {
                    let b = *d.next().unwrap();
                    let z = if b == ESCAPE { esc.next().unwrap() } else { b as u32 } as i64;
                    let delta = (z >> 1) ^ -(z & 1);
                    k[(ei * n + i) * 2 + a] = k[((ei - 1) * n + i) * 2 + a] + delta;
                }
            }
        }
        assert!(esc.next().is_none(), "escapes left over");
        let gr = &header["grid"];
        let (x0, y0, step) = (gr["x0"].as_f64().unwrap(), gr["y0"].as_f64().unwrap(), gr["step"].as_f64().unwrap());
        let pos =
            k.iter().enumerate().map(|(j, &k)| ((if j % 2 == 0 { x0 } else { y0 }) + k as f64 * step) as f32).collect();
        (header, samples, pos)
    }

    #[test]
    fn positions_come_back_within_half_a_step() {
        // Small steady moves, a few big jumps (escapes), a non-finite point.
        let v = emb(5, 300, |e, i| {
            let t = i as f32 * 0.37;
            let jump = if i % 50 == 0 { e as f32 * 3.0 } else { 0.0 };
            if (e, i) == (2, 7) {
                return [f32::NAN, 1.0];
            }
            [t.sin() * 4.0 + e as f32 * 0.01 + jump, t.cos() * 2.0 - e as f32 * 0.02]
        });
        for bits in [8, 12, 16] {
            let bytes = packed_embedding_bytes("v", &v, serde_json::Map::default(), bits).unwrap();
            let (header, samples, pos) = unpack(&bytes);
            assert_eq!(samples, v.samples);
            let step = header["grid"]["step"].as_f64().unwrap() as f32;
            let extent = v.positions.chunks_exact(2).map(|p| p[0]).fold(f32::MIN, f32::max)
                - v.positions.chunks_exact(2).map(|p| p[0]).fold(f32::MAX, f32::min);
            assert!((step - extent / ((1u32 << bits) - 1) as f32).abs() < 1e-6 * extent);
            let worst = pos
                .iter()
                .zip(&v.positions)
                .filter(|(_, b)| b.is_finite())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= step * 0.5 + 1e-4, "{bits} bits: off by {worst}, step {step}");
            // The header's bounds are those of the decoded positions.
            let b0 = &header["bounds"][4];
            let xs = pos[4 * 600..5 * 600].chunks_exact(2).map(|p| p[0]);
            let max_x = xs.fold(f32::MIN, f32::max);
            assert!((b0[2].as_f64().unwrap() as f32 - max_x).abs() < 1e-5);
        }
    }

    #[test]
    fn steady_views_pack_far_smaller_than_nmem() {
        let v = emb(10, 2000, |e, i| {
            let t = i as f32 * 0.618;
            [(t * 7.1).sin() * 5.0 + e as f32 * 0.003 * (t.cos()), (t * 3.3).cos() * 5.0]
        });
        let packed = packed_embedding_bytes("v", &v, serde_json::Map::default(), DEFAULT_BITS).unwrap().len();
        let nmem = encode::embedding_bytes("v", &v, serde_json::Map::default()).unwrap().len();
        assert!(packed * 3 < nmem, "packed {packed} bytes against NMEM's {nmem}");
    }

    #[test]
    fn bad_precision_and_shape_are_refused() {
        let v = emb(2, 3, |_, _| [0.0, 0.0]);
        assert!(packed_embedding_bytes("v", &v, serde_json::Map::default(), 7).unwrap_err().contains("8 to 16"));
        let mut bad = v.clone();
        bad.positions.pop();
        assert!(packed_embedding_bytes("v", &bad, serde_json::Map::default(), 12)
            .unwrap_err()
            .contains("expected epochs"));
        let empty = emb(0, 0, |_, _| [0.0, 0.0]);
        let (h, s, p) = unpack(&packed_embedding_bytes("v", &empty, serde_json::Map::default(), 12).unwrap());
        assert_eq!((h["n"].as_u64(), s.len(), p.len()), (Some(0), 0, 0));
    }
}
