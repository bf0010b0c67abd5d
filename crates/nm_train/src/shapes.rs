//! The `shapes` dataset: 32×32 RGB images of ten kinds of shape and glyph, generated
//! deterministically from a seed, so the demo needs no download.
//!
//! Each image is drawn independently from its own random stream, seeded by
//! `(seed, split, index)`: the same triple always gives the same image, and splits never share
//! an image. One image:
//!
//! 1. a background: a vertical gradient between two random colours;
//! 2. clutter: [`CLUTTER_MAX`] or fewer faint random strokes and blobs;
//! 3. the shape of class `index % 10` in a random colour that contrasts with the background,
//!    at a random position, radius ([`RADIUS_PX`]) and rotation, anti-aliased by
//!    [`SUPERSAMPLE`]² supersampling;
//! 4. Gaussian pixel noise with standard deviation [`NOISE_STD`].
//!
//! Some classes are deliberately confusable: disk / ring / crescent (a thick ring or a fat
//! crescent looks like a disk at small sizes), square / diamond (the diamond is a rhombus
//! turned by 45°, the square turns up to ±[`SQUARE_MAX_TURN_DEG`]°), and six / nine (the same
//! glyph upside down, each turned up to ±[`GLYPH_MAX_TURN_DEG`]°).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use crate::data::Dataset;

/// Image side in pixels.
pub const SIZE: usize = 32;
/// Class names, indexed by label.
pub const CLASSES: [&str; 10] =
    ["disk", "ring", "crescent", "square", "diamond", "triangle", "plus", "bars", "six", "nine"];
/// Shape radius range in pixels (the shape spans about twice this).
pub const RADIUS_PX: (f32, f32) = (7.0, 12.0);
/// Largest rotation of the square, in degrees (the diamond sits at 45° ± this).
pub const SQUARE_MAX_TURN_DEG: f32 = 25.0;
/// Largest rotation of the six and nine glyphs and the bars, in degrees.
pub const GLYPH_MAX_TURN_DEG: f32 = 35.0;
/// Most clutter strokes and blobs per image.
pub const CLUTTER_MAX: usize = 3;
/// Standard deviation of the additive Gaussian noise, in 0..255 units.
pub const NOISE_STD: f32 = 8.0;
/// Sub-samples per pixel side for anti-aliasing.
pub const SUPERSAMPLE: usize = 3;
/// Smallest colour distance (Euclidean, 0..1 RGB) between shape and background.
pub const MIN_CONTRAST: f32 = 0.5;

/// Which independent stream of images to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
    Capture,
}

impl Split {
    fn id(self) -> u64 {
        match self {
            Split::Train => 1,
            Split::Test => 2,
            Split::Capture => 3,
        }
    }
}

/// `n` images of `split`, class of image `i` = `i % 10` (balanced, interleaved).
pub fn generate(seed: u64, split: Split, n: usize) -> Dataset {
    let len = SIZE * SIZE * 3;
    let mut pixels = vec![0u8; n * len];
    pixels.par_chunks_mut(len).enumerate().for_each(|(i, out)| {
        let class = i % CLASSES.len();
        let mut rng = Pcg64Mcg::seed_from_u64(mix(seed, split.id(), i as u64));
        draw(class, &mut rng, out);
    });
    Dataset {
        n,
        height: SIZE,
        width: SIZE,
        channels: 3,
        pixels,
        labels: (0..n).map(|i| (i % CLASSES.len()) as u32).collect(),
        classes: CLASSES.iter().map(std::string::ToString::to_string).collect(),
    }
}

/// SplitMix64-style mixing of the three seeds into one stream seed.
fn mix(seed: u64, split: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(split.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

type Rgb = [f32; 3];

fn random_colour(rng: &mut Pcg64Mcg) -> Rgb {
    [rng.gen::<f32>(), rng.gen::<f32>(), rng.gen::<f32>()]
}

fn distance(a: Rgb, b: Rgb) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn blend(dst: &mut Rgb, src: Rgb, alpha: f32) {
    for c in 0..3 {
        dst[c] = dst[c] * (1.0 - alpha) + src[c] * alpha;
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Pcg64Mcg) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Distance from point `p` to segment `a–b`.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len_sq = (dx * dx + dy * dy).max(1e-12);
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len_sq).clamp(0.0, 1.0);
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// Shape parameters drawn once per image (thicknesses etc.), in shape units (radius 1).
struct ShapeParams {
    class: usize,
    ring_inner: f32,
    crescent_offset: f32,
    stroke: f32,
}

/// Whether shape-local point `(u, v)` (radius-1 units, v pointing down) is inside the shape.
fn inside(s: &ShapeParams, u: f32, v: f32) -> bool {
    let r2 = u * u + v * v;
    match s.class {
        0 => r2 <= 1.0,
        1 => r2 <= 1.0 && r2 >= s.ring_inner * s.ring_inner,
        2 => {
            let (cu, cv) = (u - s.crescent_offset, v);
            r2 <= 1.0 && cu * cu + cv * cv >= 0.85 * 0.85
        }
        3 => u.abs().max(v.abs()) <= 0.8,
        4 => u.abs() / 0.75 + v.abs() / 1.05 <= 1.0,
        5 => v <= 0.6 && v >= -0.95 + 1.7 * u.abs(),
        6 => (u.abs() <= s.stroke && v.abs() <= 0.95) || (v.abs() <= s.stroke && u.abs() <= 0.95),
        7 => u.abs() <= 0.9 && ((v - 0.42).abs() <= s.stroke || (v + 0.42).abs() <= s.stroke),
        8 | 9 => {
            // "6": a loop in the lower half and a stroke rising from its left side to the top
            // right. "9" is the same glyph turned by 180°.
            let (u, v) = if s.class == 9 { (-u, -v) } else { (u, v) };
            let t = s.stroke * 0.8;
            let (lu, lv) = (u - 0.0, v - 0.4);
            let loop_r = (lu * lu + lv * lv).sqrt();
            let on_loop = (loop_r - 0.5).abs() <= t;
            let p = (u, v);
            let on_stem = segment_distance(p, (-0.5, 0.4), (-0.35, -0.45)) <= t
                || segment_distance(p, (-0.35, -0.45), (0.2, -0.95)) <= t;
            on_loop || on_stem
        }
        _ => false,
    }
}

/// Renders one image of `class` into `out` (`[32, 32, 3]` u8).
fn draw(class: usize, rng: &mut Pcg64Mcg, out: &mut [u8]) {
    // 1. background gradient
    let bg_top = random_colour(rng);
    let bg_bottom = random_colour(rng);
    let mut img = vec![[0f32; 3]; SIZE * SIZE];
    for y in 0..SIZE {
        let t = y as f32 / (SIZE - 1) as f32;
        for x in 0..SIZE {
            let px = &mut img[y * SIZE + x];
            for c in 0..3 {
                px[c] = bg_top[c] * (1.0 - t) + bg_bottom[c] * t;
            }
        }
    }
    let bg_mean =
        [(bg_top[0] + bg_bottom[0]) / 2.0, (bg_top[1] + bg_bottom[1]) / 2.0, (bg_top[2] + bg_bottom[2]) / 2.0];

    // 2. clutter: faint strokes and blobs
    let n_clutter = rng.gen_range(0..=CLUTTER_MAX);
    for _ in 0..n_clutter {
        let colour = random_colour(rng);
        let alpha = rng.gen_range(0.25..0.6);
        let a = (rng.gen_range(0.0..SIZE as f32), rng.gen_range(0.0..SIZE as f32));
        if rng.gen_bool(0.6) {
            let b = (a.0 + rng.gen_range(-12.0..12.0), a.1 + rng.gen_range(-12.0..12.0));
            let width = rng.gen_range(0.5..1.5);
            for y in 0..SIZE {
                for x in 0..SIZE {
                    let d = segment_distance((x as f32 + 0.5, y as f32 + 0.5), a, b);
                    if d <= width {
                        blend(&mut img[y * SIZE + x], colour, alpha);
                    }
                }
            }
        } else {
            let r = rng.gen_range(1.0..3.5f32);
            for y in 0..SIZE {
                for x in 0..SIZE {
                    let (dx, dy) = (x as f32 + 0.5 - a.0, y as f32 + 0.5 - a.1);
                    if dx * dx + dy * dy <= r * r {
                        blend(&mut img[y * SIZE + x], colour, alpha);
                    }
                }
            }
        }
    }

    // 3. the shape
    let mut fg = random_colour(rng);
    for _ in 0..16 {
        if distance(fg, bg_mean) >= MIN_CONTRAST {
            break;
        }
        fg = random_colour(rng);
    }
    let radius = rng.gen_range(RADIUS_PX.0..RADIUS_PX.1);
    let margin = radius * 0.7;
    let cx = rng.gen_range(margin..SIZE as f32 - margin);
    let cy = rng.gen_range(margin..SIZE as f32 - margin);
    let turn_deg = match class {
        3 => rng.gen_range(-SQUARE_MAX_TURN_DEG..SQUARE_MAX_TURN_DEG),
        4 => 45.0 + rng.gen_range(-SQUARE_MAX_TURN_DEG..SQUARE_MAX_TURN_DEG),
        7..=9 => rng.gen_range(-GLYPH_MAX_TURN_DEG..GLYPH_MAX_TURN_DEG),
        _ => rng.gen_range(0.0..360.0),
    };
    let params = ShapeParams {
        class,
        ring_inner: rng.gen_range(0.45..0.7),
        crescent_offset: rng.gen_range(0.35..0.7),
        stroke: rng.gen_range(0.16..0.28),
    };
    let (sin, cos) = turn_deg.to_radians().sin_cos();
    let sub = SUPERSAMPLE as f32;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let mut hits = 0;
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let px = x as f32 + (sx as f32 + 0.5) / sub - cx;
                    let py = y as f32 + (sy as f32 + 0.5) / sub - cy;
                    // rotate into shape coordinates, scale to radius 1
                    let u = (cos * px + sin * py) / radius;
                    let v = (-sin * px + cos * py) / radius;
                    if inside(&params, u, v) {
                        hits += 1;
                    }
                }
            }
            if hits > 0 {
                let alpha = hits as f32 / (SUPERSAMPLE * SUPERSAMPLE) as f32;
                blend(&mut img[y * SIZE + x], fg, alpha);
            }
        }
    }

    // 4. noise and quantisation
    for (px, dst) in img.iter().zip(out.chunks_exact_mut(3)) {
        for c in 0..3 {
            let v = px[c] * 255.0 + NOISE_STD * normal(rng);
            dst[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}
