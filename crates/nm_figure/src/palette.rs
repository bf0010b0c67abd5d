//! The class colours, computed exactly as the viewer's `ui/js/palette.js` computes them (that file is
//! the reference and explains the choices; `tests/palette_reference.txt`, written by it, checks
//! that both give the same 1,010 colours).
//!
//! Up to [`FIXED_CLASSES`] classes: a fixed list (pairs far apart under normal vision, protanopia and
//! deuteranopia). More: colour `i` of a sequence in OKLCH, hue `H0 + i·137.5°` and lightness
//! `LEVELS[i mod 3]`, chroma the largest up to [`MAX_CHROMA`] inside sRGB (a fixed-step bisection).
//! Only +, −, ×, ÷, `fmod`, `cos`, `sin` and `powf` are used, in the same order as in JavaScript, so
//! the rounded 8-bit values agree.

/// An sRGB colour, 8 bits per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#RRGGBB`, upper case (as palette.js writes it).
    pub fn hex(self) -> String {
        format!("#{:02X}{:02X}{:02X}", self.0, self.1, self.2)
    }
}

/// How many classes the fixed list covers.
pub const FIXED_CLASSES: usize = 10;
const FIXED: [Rgb; FIXED_CLASSES] = [
    Rgb(0x00, 0x1E, 0xC3),
    Rgb(0x96, 0xC3, 0x0F),
    Rgb(0x96, 0x00, 0x00),
    Rgb(0xE6, 0x96, 0xE6),
    Rgb(0x1E, 0x3C, 0x3C),
    Rgb(0x00, 0x78, 0x5A),
    Rgb(0x96, 0x78, 0x96),
    Rgb(0xE1, 0x00, 0xFF),
    Rgb(0xB4, 0xA5, 0x87),
    Rgb(0x96, 0x78, 0x00),
];

/// Hue of class 0, degrees.
const H0_DEG: f64 = 30.0;
/// The golden angle, 180·(3 − √5) degrees: consecutive classes far apart in hue, never repeating.
const HUE_STEP_DEG: f64 = 137.50776405003785;
/// OKLab lightness of class `i` is `LEVELS[i % 3]`; 0.72 is the lightest that keeps palette.js's
/// `MIN_CONTRAST` (2:1) against the plots' background.
const LEVELS: [f64; 3] = [0.45, 0.72, 0.58];
/// Upper bound of the OKLCH chroma.
pub const MAX_CHROMA: f64 = 0.16;
const BISECTION_STEPS: usize = 24;

/// One colour per class: the fixed list's first `n_classes` when `n_classes <= FIXED_CLASSES`,
/// else colours `0..n_classes` of [`generated_colour`].
pub fn class_colours(n_classes: usize) -> Vec<Rgb> {
    if n_classes <= FIXED_CLASSES {
        FIXED[..n_classes].to_vec()
    } else {
        (0..n_classes).map(generated_colour).collect()
    }
}

/// OKLab to linear sRGB (Björn Ottosson's published matrices, as in palette.js).
fn oklab_to_linear(l: f64, a: f64, b: f64) -> [f64; 3] {
    let l_ = l + 0.3963377774 * a + 0.2158037573 * b;
    let m_ = l - 0.1055613458 * a - 0.0638541728 * b;
    let s_ = l - 0.0894841775 * a - 1.291485548 * b;
    let (l3, m3, s3) = (l_ * l_ * l_, m_ * m_ * m_, s_ * s_ * s_);
    [
        4.0767416621 * l3 - 3.3077115913 * m3 + 0.2309699292 * s3,
        -1.2684380046 * l3 + 2.6097574011 * m3 - 0.3413193965 * s3,
        -0.0041960863 * l3 - 0.7034186147 * m3 + 1.707614701 * s3,
    ]
}

fn in_gamut(v: [f64; 3]) -> bool {
    v.iter().all(|&x| (0.0..=1.0).contains(&x))
}

/// Linear light to an 8-bit sRGB value (IEC 61966-2-1); for values >= 0 `round` is `Math.round`.
fn encode(x: f64) -> u8 {
    let c = x.clamp(0.0, 1.0);
    let s = if c <= 0.0031308 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
    (s * 255.0).round() as u8
}

/// Colour `i` of the generated sequence (used for more than [`FIXED_CLASSES`] classes).
pub fn generated_colour(i: usize) -> Rgb {
    let h = ((H0_DEG + i as f64 * HUE_STEP_DEG) % 360.0) * std::f64::consts::PI / 180.0;
    let l = LEVELS[i % LEVELS.len()];
    let (ca, sa) = (h.cos(), h.sin());
    let (mut lo, mut hi) = (0.0, MAX_CHROMA);
    if in_gamut(oklab_to_linear(l, MAX_CHROMA * ca, MAX_CHROMA * sa)) {
        lo = MAX_CHROMA;
    } else {
        for _ in 0..BISECTION_STEPS {
            let c = (lo + hi) / 2.0;
            if in_gamut(oklab_to_linear(l, c * ca, c * sa)) {
                lo = c;
            } else {
                hi = c;
            }
        }
    }
    let [r, g, b] = oklab_to_linear(l, lo * ca, lo * sa);
    Rgb(encode(r), encode(g), encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_or_fewer_classes_take_a_prefix_of_the_fixed_list() {
        assert_eq!(class_colours(3), FIXED[..3].to_vec());
        assert_eq!(class_colours(0), Vec::<Rgb>::new());
        assert_eq!(class_colours(11)[10], generated_colour(10));
    }

    #[test]
    fn hex_is_upper_case() {
        assert_eq!(Rgb(0, 0x1E, 0xC3).hex(), "#001EC3");
    }
}
