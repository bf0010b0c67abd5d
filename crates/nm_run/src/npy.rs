//! numpy `.npy` files, versions 1.0 to 3.0: header parsing and writing.
//!
//! Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
//! (u16 little-endian for 1.0, u32 for 2.0 and 3.0), then the header, a Python dict literal
//! such as `{'descr': '<f4', 'fortran_order': False, 'shape': (10, 20), }` padded with spaces
//! and a newline, then the raw data. Only the header is parsed here; the data is streamed by
//! the crate's `array` module.

use std::io::Read;
use std::path::Path;

use crate::array::{ArrayDesc, Dtype, LayerReader, ScalarKind};
use crate::{text, RunError};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The header (magic included) is padded so the data starts on a multiple of this (numpy >= 1.9 uses 64).
const HEADER_ALIGN: usize = 64;
/// Refuse headers larger than this: a real header is a few hundred bytes.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// numpy allows at most 64 dimensions (32 before numpy 2).
const MAX_DIMS: usize = 64;

/// Reads and validates the header of the `.npy` file at `path` (the data is not read, but the
/// file's length is checked against the shape so a truncated file is caught here).
pub(crate) fn read_header(path: &Path) -> Result<ArrayDesc, RunError> {
    let (mut file, meta) = crate::files::open_regular(path)?;
    let file_len = meta.len();
    let mut pre = [0u8; 12];
    let got = read_up_to(&mut file, &mut pre).map_err(|e| RunError::io(path, e))?;
    if got < 10 || &pre[..6] != MAGIC {
        return Err(RunError::invalid(
            path,
            "not a numpy .npy file (expected the magic bytes \\x93NUMPY at the start); write it with numpy.save",
        ));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (len_bytes, header_len) = match major {
        1 => (2usize, u16::from_le_bytes([pre[8], pre[9]]) as usize),
        2 | 3 => {
            if got < 12 {
                return Err(RunError::invalid(path, "truncated .npy header"));
            }
            (4usize, u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize)
        }
        _ => {
            return Err(RunError::invalid(
                path,
                format!("unsupported .npy version {major}.{minor}; expected 1.0, 2.0 or 3.0"),
            ))
        }
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(RunError::invalid(
            path,
            format!("garbled .npy header: it claims {header_len} bytes (expected a few hundred, at most {MAX_HEADER_BYTES})"),
        ));
    }
    let data_offset = (8 + len_bytes + header_len) as u64;
    if data_offset > file_len {
        return Err(RunError::invalid(
            path,
            format!("truncated .npy file: the header needs {data_offset} bytes, the file has {file_len}"),
        ));
    }
    let mut header = vec![0u8; header_len];
    let already = got - (8 + len_bytes).min(got);
    header[..already.min(header_len)].copy_from_slice(&pre[8 + len_bytes..8 + len_bytes + already.min(header_len)]);
    if already < header_len {
        file.read_exact(&mut header[already..]).map_err(|e| RunError::io(path, e))?;
    }
    // Versions 1.0 and 2.0 are latin-1; 3.0 is utf-8. The dict numpy writes is ASCII, and the
    // parser works on bytes, so a stray high byte is a parse error, never a broken char boundary.
    if major == 3 && std::str::from_utf8(&header).is_err() {
        return Err(RunError::invalid(
            path,
            format!("garbled .npy header (version 3.0 headers are utf-8, this is not): {}", text::snippet(&header)),
        ));
    }
    let dict = parse_header_dict(&header).map_err(|m| {
        RunError::invalid(
            path,
            format!(
                "garbled .npy header ({m}); expected {{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }}, found: {}",
                text::snippet(header.trim_ascii_end())
            ),
        )
    })?;
    let dtype = Dtype::from_npy_descr(&dict.descr);
    let desc = ArrayDesc {
        path: path.to_path_buf(),
        data_offset,
        dtype,
        fortran: dict.fortran_order,
        shape: dict.shape,
        file_len,
        modified: meta.modified().ok(),
    };
    desc.check_length(true)?;
    Ok(desc)
}

/// A float `.npy` array held in memory (an upload), as f32 rows: `(rows, values per row, data)`.
/// The array must be float (16, 32 or 64 bit), C order, with at least 2 dimensions (`[m, ...]`,
/// flattened per row). Errors are messages that say what was expected.
pub fn decode_float_rows(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(
            "not a numpy .npy file (expected the magic bytes \\x93NUMPY at the start); write it with numpy.save".into(),
        );
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_bytes, header_len) = match major {
        1 => (2usize, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (4usize, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        2 | 3 => return Err("truncated .npy header".into()),
        _ => return Err(format!("unsupported .npy version {major}.{minor}; expected 1.0, 2.0 or 3.0")),
    };
    let start = 8 + len_bytes;
    if header_len > MAX_HEADER_BYTES || start + header_len > bytes.len() {
        return Err(format!("truncated or garbled .npy header (it claims {header_len} bytes)"));
    }
    let header = &bytes[start..start + header_len];
    let dict = parse_header_dict(header).map_err(|m| {
        format!(
            "garbled .npy header ({m}); expected {{'descr': '<f4', 'fortran_order': False, 'shape': (m, D), }}, found: {}",
            text::snippet(header.trim_ascii_end())
        )
    })?;
    let dtype = Dtype::from_npy_descr(&dict.descr);
    if dtype.kind != ScalarKind::Float {
        return Err(format!("expected a float array (float32 or float64), found {}", dtype.describe()));
    }
    if dict.fortran_order {
        return Err("the array is in Fortran order; save a C-ordered one (numpy.ascontiguousarray)".into());
    }
    if dict.shape.len() < 2 {
        return Err(format!("expected a 2-D array [m, D] (one row per point), found shape {:?}", dict.shape));
    }
    let rows = dict.shape[0];
    let cols = dict.shape[1..].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let count = cols.and_then(|c| c.checked_mul(rows));
    let (Some(cols), Some(count)) = (cols, count) else {
        return Err(format!("the shape {:?} is too large", dict.shape));
    };
    let data = &bytes[start + header_len..];
    if count.checked_mul(dtype.size) != Some(data.len()) {
        return Err(format!(
            "the data has {} bytes, but shape {:?} of {} needs {}",
            data.len(),
            dict.shape,
            dtype.describe(),
            count.saturating_mul(dtype.size)
        ));
    }
    let mut out = vec![0f32; count];
    dtype.decode_f32(data, &mut out);
    Ok((rows, cols, out))
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct HeaderDict {
    descr: Vec<u8>,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the Python dict literal of an .npy header. Only the three keys numpy writes are
/// accepted; a structured dtype (a list as `descr`) is reported as such. Works on bytes (the
/// header may be latin-1 or garbled); what the messages quote is clipped and escaped.
fn parse_header_dict(header: &[u8]) -> Result<HeaderDict, String> {
    let mut p = Parser { s: header, i: 0 };
    p.skip_ws();
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.peek() == Some(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        match key.as_slice() {
            b"descr" => {
                if p.peek() == Some(b'[') {
                    return Err("a structured dtype (a list of fields) is not a numeric array".into());
                }
                descr = Some(p.string()?);
            }
            b"fortran_order" => fortran = Some(p.boolean()?),
            b"shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unexpected key '{}'", text::snippet(other))),
        }
        p.skip_ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b'}') => {}
            _ => return Err("expected ',' or '}'".into()),
        }
    }
    Ok(HeaderDict {
        descr: descr.ok_or("no 'descr'")?,
        fortran_order: fortran.ok_or("no 'fortran_order'")?,
        shape: shape.ok_or("no 'shape'")?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> Result<Vec<u8>, String> {
        let Some(q @ (b'\'' | b'"')) = self.peek() else {
            return Err(format!("expected a quoted string at byte {}", self.i));
        };
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == q {
                let s = self.s[start..self.i].to_vec();
                self.i += 1;
                return Ok(s);
            }
            self.i += 1;
        }
        Err("unterminated string".into())
    }
    fn boolean(&mut self) -> Result<bool, String> {
        if self.s[self.i..].starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if self.s[self.i..].starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err(format!("expected True or False at byte {}", self.i))
        }
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b')') => {
                    self.i += 1;
                    return Ok(dims);
                }
                Some(b'0'..=b'9') => {
                    let start = self.i;
                    while matches!(self.peek(), Some(b'0'..=b'9')) {
                        self.i += 1;
                    }
                    // Python 2 era files may write longs as `10L`.
                    let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                    if self.peek() == Some(b'L') {
                        self.i += 1;
                    }
                    let dim = digits
                        .parse::<usize>()
                        .map_err(|_| format!("dimension {} is too large", text::clip(digits)))?;
                    if dims.len() == MAX_DIMS {
                        return Err(format!("more than {MAX_DIMS} dimensions"));
                    }
                    dims.push(dim);
                    self.skip_ws();
                    if self.peek() == Some(b',') {
                        self.i += 1;
                    }
                }
                _ => return Err(format!("expected a dimension or ')' at byte {}", self.i)),
            }
        }
    }
}

/// An element type that [`encode`] can write.
pub trait NpyElement: Copy {
    /// numpy's little-endian type string, e.g. `<f4`.
    const DESCR: &'static str;
    fn put_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl NpyElement for i64 {
    const DESCR: &'static str = "<i8";
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

/// The header (magic to newline) of a version 1.0 C-order `.npy` file, padded to 64 bytes.
pub fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(std::string::ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (HEADER_ALIGN - unpadded % HEADER_ALIGN) % HEADER_ALIGN;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A whole C-order `.npy` file holding `data` with `shape` (`data.len()` must be the shape's product).
pub fn encode<T: NpyElement>(shape: &[usize], data: &[T]) -> Vec<u8> {
    debug_assert_eq!(shape.iter().product::<usize>(), data.len());
    let mut out = header_bytes(T::DESCR, shape);
    out.reserve(std::mem::size_of_val(data));
    for &x in data {
        x.put_le(&mut out);
    }
    out
}

/// Writes `data` with `shape` as a `.npy` file atomically (temp file + rename).
pub fn write<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<(), RunError> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(RunError::invalid(
            path,
            format!("cannot write shape {shape:?}: it needs {expected} values, {} given", data.len()),
        ));
    }
    crate::files::write_atomic(path, &encode(shape, data))
}

impl Dtype {
    /// Interprets a numpy type string such as `<f4`, `>i8`, `|u1` (raw header bytes: anything
    /// that is not one of these, non-ASCII included, is `Other`, named by an escaped, clipped copy).
    pub(crate) fn from_npy_descr(b: &[u8]) -> Dtype {
        let other = Dtype { kind: ScalarKind::Other, size: 0, big_endian: false, name: text::snippet(b) };
        if b.len() < 3 || !b.is_ascii() {
            return other;
        }
        let descr = std::str::from_utf8(b).expect("ASCII is utf-8");
        let big_endian = match b[0] {
            b'<' | b'|' | b'=' => cfg!(target_endian = "big") && b[0] == b'=',
            b'>' => true,
            _ => return other,
        };
        let Ok(size) = descr[2..].parse::<usize>() else { return other };
        let kind = match (b[1], size) {
            (b'f', 2 | 4 | 8) => ScalarKind::Float,
            (b'i', 1 | 2 | 4 | 8) => ScalarKind::Int,
            (b'u', 1 | 2 | 4 | 8) => ScalarKind::UInt,
            (b'b', 1) => ScalarKind::Bool,
            _ => return other,
        };
        Dtype { kind, size, big_endian, name: descr.to_string() }
    }
}

impl LayerReader {
    /// Opens a standalone 2-D (or higher, flattened per row) float `.npy` file for streaming,
    /// outside any run: benchmarks and tools feed big matrices to the engine this way.
    pub fn open_npy(path: &Path) -> Result<LayerReader, RunError> {
        let desc = read_header(path)?;
        if !desc.dtype.is_float() || desc.shape.is_empty() {
            return Err(RunError::invalid(
                path,
                format!("expected a float array [N, ...], found {}", desc.dtype.describe()),
            ));
        }
        LayerReader::open(&desc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dict_parses_numpy_variants() {
        let h = parse_header_dict(b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }   \n").unwrap();
        assert_eq!((h.descr.as_slice(), h.fortran_order, h.shape), (&b"<f4"[..], false, vec![3, 4]));
        let h = parse_header_dict(b"{'descr':'>i8','fortran_order':True,'shape':(7,)}").unwrap();
        assert_eq!((h.descr.as_slice(), h.fortran_order, h.shape), (&b">i8"[..], true, vec![7]));
        let h = parse_header_dict(b"{'shape': (10L, 2L), 'descr': '|u1', 'fortran_order': False}").unwrap();
        assert_eq!(h.shape, vec![10, 2]);
        assert!(parse_header_dict(b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}").is_err());
        assert!(parse_header_dict(b"{'descr': '<f4', 'shape': (3,)}").is_err());
        assert!(parse_header_dict(b"garbage").is_err());
    }

    #[test]
    fn non_ascii_descr_is_an_unknown_dtype_not_a_panic() {
        // '<f4' with the high bit of 'f' set, as latin-1 (one byte) and as utf-8 (two bytes).
        for descr in [&b"<\xe64"[..], "<\u{e6}4".as_bytes(), b"<\xff", b"\xe6\xe6\xe6\xe6"] {
            let d = Dtype::from_npy_descr(descr);
            assert_eq!(d.kind, ScalarKind::Other, "{descr:?}");
            assert!(d.name.is_ascii() || d.name.contains('\u{fffd}') || d.name.contains('æ'));
        }
        assert_eq!(Dtype::from_npy_descr(b"<f4").kind, ScalarKind::Float);
        assert_eq!(Dtype::from_npy_descr(b">i8").size, 8);
    }

    #[test]
    fn float_rows_decode_from_memory_and_bad_arrays_say_why() {
        let mut f8 = header_bytes("<f8", &[2, 3]);
        (0..6).for_each(|i| f8.extend_from_slice(&f64::from(i).to_le_bytes()));
        let (m, d, rows) = decode_float_rows(&f8).unwrap();
        assert_eq!((m, d, rows), (2, 3, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        let (m, d, _) = decode_float_rows(&encode(&[2, 2, 2], &[0f32; 8])).unwrap();
        assert_eq!((m, d), (2, 4));
        assert!(decode_float_rows(&encode(&[4], &[0f32; 4])).unwrap_err().contains("2-D"));
        assert!(decode_float_rows(&encode(&[2, 2], &[0i64; 4])).unwrap_err().contains("float"));
        let mut short = encode(&[2, 2], &[0f32; 4]);
        short.pop();
        assert!(decode_float_rows(&short).unwrap_err().contains("needs"));
        assert!(decode_float_rows(b"hello").unwrap_err().contains("magic"));
    }

    #[test]
    fn written_header_is_aligned() {
        for shape in [&[5usize][..], &[10, 3], &[1000, 65536, 2]] {
            assert_eq!(header_bytes("<f4", shape).len() % HEADER_ALIGN, 0);
        }
    }
}
