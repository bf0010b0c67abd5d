//! Minimal .npy reading (versions 1-3; f2/f4/f8, either endianness, C or Fortran order) and
//! writing (f4, C order), enough for the benchmark; the project's real reader lives in nm_run.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

#[derive(Debug, Clone)]
pub struct Header {
    pub descr: String,
    pub fortran: bool,
    pub shape: Vec<usize>,
    pub data_offset: u64,
}

fn err(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

pub fn read_header(f: &mut File, path: &str) -> std::io::Result<Header> {
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(err(format!("{path}: not an .npy file")));
    }
    let hlen = if magic[6] == 1 {
        let mut b = [0u8; 2];
        f.read_exact(&mut b)?;
        u16::from_le_bytes(b) as usize
    } else {
        let mut b = [0u8; 4];
        f.read_exact(&mut b)?;
        u32::from_le_bytes(b) as usize
    };
    let mut h = vec![0u8; hlen];
    f.read_exact(&mut h)?;
    let h = String::from_utf8_lossy(&h).to_string();
    let field = |key: &str| -> Option<String> {
        let i = h.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = h[i..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest.to_string())
    };
    let descr = field("descr").and_then(|r| r.split('\'').nth(1).map(str::to_string)).ok_or_else(|| err(format!("{path}: no descr")))?;
    let fortran = field("fortran_order").map(|r| r.starts_with("True")).unwrap_or(false);
    let shape_s = field("shape").ok_or_else(|| err(format!("{path}: no shape")))?;
    let inner = &shape_s[1..shape_s.find(')').ok_or_else(|| err(format!("{path}: bad shape")))?];
    let shape = inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<usize>().map_err(|e| err(format!("{path}: {e}")))).collect::<Result<Vec<_>, _>>()?;
    let data_offset = f.stream_position()?;
    Ok(Header { descr, fortran, shape, data_offset })
}

fn convert(descr: &str, bytes: &[u8], out: &mut [f32]) -> std::io::Result<()> {
    let big = descr.starts_with('>');
    let kind = &descr[1..];
    match kind {
        "f4" => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                let b = [c[0], c[1], c[2], c[3]];
                *o = if big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) };
            }
        }
        "f8" => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let b: [u8; 8] = c.try_into().unwrap();
                *o = (if big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) }) as f32;
            }
        }
        "f2" => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                let b = [c[0], c[1]];
                let h = if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
                *o = f16_to_f32(h);
            }
        }
        _ => return Err(err(format!("unsupported dtype {descr}"))),
    }
    Ok(())
}

fn f16_to_f32(h: u16) -> f32 {
    let s = ((h >> 15) as u32) << 31;
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as u32;
    let v = if e == 0 {
        (m as f32) * 2f32.powi(-24)
    } else if e == 31 {
        if m == 0 { f32::INFINITY } else { f32::NAN }
    } else {
        f32::from_bits(((e + 112) as u32) << 23 | m << 13)
    };
    f32::from_bits(v.to_bits() | s)
}

fn item_size(descr: &str) -> usize {
    descr[2..].parse().unwrap_or(4)
}

/// Whole array as [rows, prod(rest)] f32.
pub fn read_matrix(path: &str) -> std::io::Result<(usize, usize, Vec<f32>)> {
    let mut f = File::open(path)?;
    let h = read_header(&mut f, path)?;
    let rows = h.shape.first().copied().unwrap_or(1);
    let cols: usize = h.shape.iter().skip(1).product();
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let mut out = vec![0f32; rows * cols];
    convert(&h.descr, &bytes[..rows * cols * item_size(&h.descr)], &mut out)?;
    if h.fortran && h.shape.len() == 2 {
        let mut t = vec![0f32; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[r * cols + c] = out[c * rows + r];
            }
        }
        out = t;
    }
    Ok((rows, cols, out))
}

pub fn write_f32(path: &str, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let tmp = format!("{path}.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    let mut bytes = Vec::with_capacity(data.len() * 4);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    f.write_all(&bytes)?;
    drop(f);
    std::fs::rename(tmp, path)
}

/// Rows of a C-order 2-D .npy file streamed from disk.
pub struct NpyRows {
    file: File,
    header: Header,
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
}

impl NpyRows {
    pub fn open(path: &str) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let header = read_header(&mut file, path)?;
        if header.fortran {
            return Err(err(format!("{path}: Fortran order cannot be streamed by rows")));
        }
        let rows = header.shape.first().copied().unwrap_or(1);
        let cols = header.shape.iter().skip(1).product();
        Ok(NpyRows { file, header, rows, cols, bytes: Vec::new() })
    }
}

impl nm_umap::RowBlocks for NpyRows {
    fn n_rows(&self) -> usize {
        self.rows
    }
    fn n_cols(&self) -> usize {
        self.cols
    }
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), String> {
        let isz = item_size(&self.header.descr);
        let off = self.header.data_offset + (start * self.cols * isz) as u64;
        self.bytes.resize(n * self.cols * isz, 0);
        self.file.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
        self.file.read_exact(&mut self.bytes).map_err(|e| e.to_string())?;
        convert(&self.header.descr, &self.bytes, out).map_err(|e| e.to_string())
    }
}
