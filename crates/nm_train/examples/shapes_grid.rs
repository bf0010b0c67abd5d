//! Writes a PNG contact sheet of generated shapes: one row per class.
//! `cargo run -p nm_train --example shapes_grid -- OUT.png [per_class] [seed]`

use nm_train::shapes::{self, Split, CLASSES, SIZE};

const SCALE: usize = 3;
const GAP: usize = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().cloned().unwrap_or_else(|| "shapes.png".into());
    let per_class: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(12);
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let d = shapes::generate(seed, Split::Train, per_class * CLASSES.len());
    let cell = SIZE * SCALE + GAP;
    let (w, h) = (per_class * cell, CLASSES.len() * cell);
    let mut img = vec![255u8; w * h * 3];
    for i in 0..d.n {
        let (row, col) = (d.labels[i] as usize, i / CLASSES.len());
        let src = d.image(i);
        for y in 0..SIZE * SCALE {
            for x in 0..SIZE * SCALE {
                let s = ((y / SCALE) * SIZE + x / SCALE) * 3;
                let t = ((row * cell + y) * w + col * cell + x) * 3;
                img[t..t + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img)?;
    println!("wrote {out}: rows = {CLASSES:?}");
    Ok(())
}
