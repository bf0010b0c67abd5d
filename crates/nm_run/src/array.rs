//! Arrays on disk (an `.npy` file, or one tensor of a `.safetensors` file): their description and
//! streamed reading, converting any supported dtype, byte order and memory order to f32 rows.
//!
//! Nothing here reads a whole file unless asked to: [`LayerReader::read_rows`] reads just the
//! requested rows with positioned reads, so a [N, 65,536] float32 layer never has to fit in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::RunError;

/// Bytes read per I/O call when streaming whole columns or arrays.
const STREAM_CHUNK_BYTES: usize = 4 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Float,
    /// bfloat16 (safetensors only).
    BFloat,
    Int,
    UInt,
    Bool,
    /// Anything else (strings, objects, complex, fp8...): not numeric for our purposes.
    Other,
}

/// Element type: kind, size in bytes, byte order, and the name it had in the file (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dtype {
    pub kind: ScalarKind,
    pub size: usize,
    pub big_endian: bool,
    pub name: String,
}

impl Dtype {
    pub fn is_float(&self) -> bool {
        matches!(self.kind, ScalarKind::Float | ScalarKind::BFloat)
    }
    pub fn is_int(&self) -> bool {
        matches!(self.kind, ScalarKind::Int | ScalarKind::UInt)
    }
    /// A readable name such as `float32 (<f4)`.
    pub fn describe(&self) -> String {
        let base = match self.kind {
            ScalarKind::Float => format!("float{}", self.size * 8),
            ScalarKind::BFloat => "bfloat16".to_string(),
            ScalarKind::Int => format!("int{}", self.size * 8),
            ScalarKind::UInt => format!("uint{}", self.size * 8),
            ScalarKind::Bool => "bool".to_string(),
            ScalarKind::Other => return format!("`{}`", self.name),
        };
        format!("{base} ({})", self.name)
    }

    fn bytes<const K: usize>(&self, b: &[u8]) -> [u8; K] {
        let mut a = [0u8; K];
        a.copy_from_slice(&b[..K]);
        if self.big_endian {
            a.reverse();
        }
        a
    }

    /// Decodes `bytes` (a whole number of elements) into `out` as f32.
    pub fn decode_f32(&self, bytes: &[u8], out: &mut [f32]) {
        let s = self.size;
        debug_assert_eq!(bytes.len(), out.len() * s);
        let chunks = bytes.chunks_exact(s).zip(out.iter_mut());
        match (self.kind, s) {
            (ScalarKind::Float, 4) if !self.big_endian => {
                for (c, o) in chunks {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            (ScalarKind::Float, 4) => chunks.for_each(|(c, o)| *o = f32::from_le_bytes(self.bytes::<4>(c))),
            (ScalarKind::Float, 8) => chunks.for_each(|(c, o)| *o = f64::from_le_bytes(self.bytes::<8>(c)) as f32),
            (ScalarKind::Float, 2) => {
                chunks.for_each(|(c, o)| *o = half::f16::from_le_bytes(self.bytes::<2>(c)).to_f32());
            }
            (ScalarKind::BFloat, 2) => {
                chunks.for_each(|(c, o)| *o = half::bf16::from_le_bytes(self.bytes::<2>(c)).to_f32());
            }
            _ => {
                for (c, o) in chunks {
                    *o = self.decode_i128(c) as f32;
                }
            }
        }
    }

    /// Decodes one integer (or bool) element.
    pub fn decode_i128(&self, c: &[u8]) -> i128 {
        match (self.kind, self.size) {
            (ScalarKind::Int, 1) => c[0] as i8 as i128,
            (ScalarKind::Int, 2) => i16::from_le_bytes(self.bytes::<2>(c)) as i128,
            (ScalarKind::Int, 4) => i32::from_le_bytes(self.bytes::<4>(c)) as i128,
            (ScalarKind::Int, 8) => i64::from_le_bytes(self.bytes::<8>(c)) as i128,
            (ScalarKind::UInt | ScalarKind::Bool, 1) => c[0] as i128,
            (ScalarKind::UInt, 2) => u16::from_le_bytes(self.bytes::<2>(c)) as i128,
            (ScalarKind::UInt, 4) => u32::from_le_bytes(self.bytes::<4>(c)) as i128,
            (ScalarKind::UInt, 8) => u64::from_le_bytes(self.bytes::<8>(c)) as i128,
            _ => 0,
        }
    }
}

/// Where an array's elements are and how they are stored.
#[derive(Clone, Debug)]
pub(crate) struct ArrayDesc {
    pub path: PathBuf,
    /// Byte offset of the first element in the file.
    pub data_offset: u64,
    pub dtype: Dtype,
    /// Column-major (Fortran) storage.
    pub fortran: bool,
    pub shape: Vec<usize>,
    /// Length of the whole file, and its modification time (the cache's identity of the data).
    pub file_len: u64,
    pub modified: Option<SystemTime>,
}

impl ArrayDesc {
    pub fn n_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
    /// Rows: the first dimension (1 for a scalar).
    pub fn n_rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    /// Columns after flattening every dimension but the first.
    pub fn n_cols(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Bytes of data the shape and dtype promise, with every product checked: `None` when it
    /// overflows. Zero dimensions count as one here, so that every partial product (rows, columns)
    /// is known to fit too.
    pub fn data_bytes(&self) -> Option<u64> {
        let all = self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d.max(1)))?;
        all.checked_mul(self.dtype.size.max(1))?;
        let bytes = self.n_elements()?.checked_mul(self.dtype.size.max(1))?;
        u64::try_from(bytes).ok()
    }

    /// The file must hold the elements the header promises: `exact` when the array is the whole
    /// rest of the file (an .npy file), else at least (one tensor of a .safetensors file).
    pub fn check_length(&self, exact: bool) -> Result<(), RunError> {
        let too_large = || {
            RunError::invalid(
                &self.path,
                format!(
                    "garbled header: shape {:?} of {} is larger than any file (its size in bytes overflows)",
                    self.shape,
                    self.dtype.describe()
                ),
            )
        };
        let bytes = self.data_bytes().ok_or_else(too_large)?;
        let end = self.data_offset.checked_add(bytes).ok_or_else(too_large)?;
        if self.dtype.kind == ScalarKind::Other {
            return Ok(());
        }
        if self.file_len < end {
            return Err(RunError::invalid(
                &self.path,
                format!(
                    "truncated file: shape {:?} of {} needs {} bytes of data, only {} are there; write it again",
                    self.shape,
                    self.dtype.describe(),
                    bytes,
                    self.file_len.saturating_sub(self.data_offset)
                ),
            ));
        }
        if exact && self.file_len > end {
            return Err(RunError::invalid(
                &self.path,
                format!(
                    "garbled file: shape {:?} of {} needs {} bytes of data, but {} follow the header \
                     (a damaged header, or something appended); write it again",
                    self.shape,
                    self.dtype.describe(),
                    bytes,
                    self.file_len - self.data_offset
                ),
            ));
        }
        Ok(())
    }

    /// Validates a layer's array: a float dtype, N rows, at least one column. Returns D.
    pub fn check_layer(&self, n: usize, labels_file: &Path) -> Result<usize, RunError> {
        if !self.dtype.is_float() {
            return Err(RunError::invalid(
                &self.path,
                format!(
                    "activations must be float16, float32 or float64; found {}. Convert with .astype(np.float32)",
                    self.dtype.describe()
                ),
            ));
        }
        self.check_rows(n, labels_file)?;
        let d = self.n_cols();
        if d == 0 {
            return Err(RunError::invalid(&self.path, format!("shape {:?} has no columns", self.shape)));
        }
        Ok(d)
    }

    pub fn check_rows(&self, n: usize, labels_file: &Path) -> Result<(), RunError> {
        if self.shape.is_empty() || self.shape[0] != n {
            return Err(RunError::invalid(
                &self.path,
                format!(
                    "expected {n} rows (one per sample, as {} has {n} labels), found shape {:?}",
                    labels_file.display(),
                    self.shape
                ),
            ));
        }
        Ok(())
    }

    /// Reads every element as i64 (for labels and predictions; u64 values above i64::MAX saturate,
    /// which is out of range for any class id anyway).
    pub fn read_ints(&self) -> Result<Vec<i64>, RunError> {
        let bytes = self.read_all_bytes()?;
        let s = self.dtype.size.max(1);
        let mut out: Vec<i64> = bytes
            .chunks_exact(s)
            .map(|c| self.dtype.decode_i128(c).clamp(i64::MIN as i128, i64::MAX as i128) as i64)
            .collect();
        if self.fortran && self.shape.len() > 1 {
            out = fortran_to_c(&out, &self.shape);
        }
        Ok(out)
    }

    /// The raw data bytes in storage order (small arrays only). Never allocates more than the
    /// file holds: the length was checked against the file when the header was read, and is
    /// checked again against the file as it is now.
    pub fn read_all_bytes(&self) -> Result<Vec<u8>, RunError> {
        let (mut f, meta) = crate::files::open_regular(&self.path)?;
        let len = self.data_bytes().filter(|&b| self.data_offset.checked_add(b).is_some_and(|end| end <= meta.len()));
        let Some(len) = len.and_then(|b| usize::try_from(b).ok()) else {
            return Err(self.read_error(std::io::ErrorKind::UnexpectedEof.into()));
        };
        f.seek(SeekFrom::Start(self.data_offset)).map_err(|e| RunError::io(&self.path, e))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).map_err(|e| self.read_error(e))?;
        Ok(buf)
    }

    pub fn read_error(&self, e: std::io::Error) -> RunError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            RunError::invalid(
                &self.path,
                "truncated file: it ended while reading its data (was it replaced while reading?)",
            )
        } else {
            RunError::io(&self.path, e)
        }
    }
}

/// Reorders a Fortran-order array's elements (given in storage order) into C order.
pub(crate) fn fortran_to_c<T: Copy + Default>(storage: &[T], shape: &[usize]) -> Vec<T> {
    let n = storage.len();
    let mut out = vec![T::default(); n];
    // Storage index s of the C index c: decompose c into C-order coordinates, recompose Fortran-order.
    let mut idx = vec![0usize; shape.len()];
    for slot in &mut out {
        let mut s = 0usize;
        let mut stride = 1usize;
        for (k, &i) in idx.iter().enumerate() {
            s += i * stride;
            stride *= shape[k];
        }
        *slot = storage[s];
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Streams the rows of one layer at one epoch as f32, checking that every value is finite.
///
/// An [N, d1, d2, ...] array is read as [N, D] with D = d1·d2·…, each row flattened in C order
/// (as `x.reshape(N, -1)` would in numpy), whatever the storage order.
pub struct LayerReader {
    desc: ArrayDesc,
    file: File,
    n: usize,
    d: usize,
    /// For Fortran-order arrays: the C-order column of each storage column.
    fortran_cols: Option<Vec<u32>>,
    buf: Vec<u8>,
}

impl LayerReader {
    pub(crate) fn open(desc: &ArrayDesc) -> Result<LayerReader, RunError> {
        let (file, _) = crate::files::open_regular(&desc.path)?;
        let n = desc.n_rows();
        let d = desc.n_cols();
        let fortran_cols = (desc.fortran && desc.shape.len() > 1).then(|| {
            let inner = &desc.shape[1..];
            // Storage column fc = j1 + s1*j2 + s1*s2*j3 ...; C column = ((j1*s2 + j2)*s3 + j3)...
            (0..d)
                .map(|fc| {
                    let mut rest = fc;
                    let mut coords = Vec::with_capacity(inner.len());
                    for &s in inner {
                        coords.push(rest % s);
                        rest /= s;
                    }
                    coords.iter().zip(inner).fold(0usize, |c, (&j, &s)| c * s + j) as u32
                })
                .collect()
        });
        Ok(LayerReader { desc: desc.clone(), file, n, d, fortran_cols, buf: Vec::new() })
    }

    /// N: samples.
    pub fn n_rows(&self) -> usize {
        self.n
    }
    /// D: values per sample after flattening.
    pub fn n_cols(&self) -> usize {
        self.d
    }
    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.desc.path
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<(), RunError> {
        self.buf.resize(len, 0);
        self.file.seek(SeekFrom::Start(offset)).map_err(|e| RunError::io(&self.desc.path, e))?;
        let r = self.file.read_exact(&mut self.buf[..len]);
        r.map_err(|e| self.desc.read_error(e))
    }

    /// Fills `out` (len = n · D) with rows `start..start + n`, row-major, as f32.
    /// Fails on I/O errors and on any NaN or infinite value (the error counts them in the whole array).
    pub fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), RunError> {
        self.read_rows_unchecked(start, n, out)?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(self.non_finite_error());
        }
        Ok(())
    }

    fn read_rows_unchecked(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), RunError> {
        let (d, s) = (self.d, self.desc.dtype.size);
        if start.checked_add(n).is_none_or(|end| end > self.n) || Some(out.len()) != n.checked_mul(d) {
            return Err(RunError::invalid(
                &self.desc.path,
                format!("asked for {n} rows from row {start} (buffer {}) of a [{}, {}] array", out.len(), self.n, d),
            ));
        }
        if n == 0 {
            return Ok(());
        }
        let dtype = self.desc.dtype.clone();
        match self.fortran_cols.take() {
            None => {
                // C order: the rows are one contiguous byte range; decode in chunks of rows.
                let rows_per_chunk = (STREAM_CHUNK_BYTES / (d * s)).max(1);
                let mut r = 0;
                while r < n {
                    let k = rows_per_chunk.min(n - r);
                    let off = self.desc.data_offset + ((start + r) * d * s) as u64;
                    self.read_at(off, k * d * s)?;
                    dtype.decode_f32(&self.buf[..k * d * s], &mut out[r * d..(r + k) * d]);
                    r += k;
                }
                Ok(())
            }
            Some(cols) => {
                // Fortran order: each storage column holds rows start..start+n contiguously.
                let mut col = vec![0f32; n];
                let mut result = Ok(());
                for (fc, &c) in cols.iter().enumerate() {
                    let off = self.desc.data_offset + ((fc * self.n + start) * s) as u64;
                    if let Err(e) = self.read_at(off, n * s) {
                        result = Err(e);
                        break;
                    }
                    dtype.decode_f32(&self.buf[..n * s], &mut col);
                    for (r, &v) in col.iter().enumerate() {
                        out[r * d + c as usize] = v;
                    }
                }
                self.fortran_cols = Some(cols);
                result
            }
        }
    }

    /// Fills `out` (len = rows.len() · D) with the given rows, in the given order.
    /// Runs of consecutive indices are read with one call each.
    pub fn read_indexed(&mut self, rows: &[u32], out: &mut [f32]) -> Result<(), RunError> {
        let d = self.d;
        if out.len() != rows.len() * d {
            return Err(RunError::invalid(&self.desc.path, "read_indexed: buffer length is not rows × D"));
        }
        let mut k = 0;
        while k < rows.len() {
            let mut run = 1;
            while k + run < rows.len() && rows[k + run] as usize == rows[k] as usize + run {
                run += 1;
            }
            let first = rows[k] as usize;
            self.read_rows_unchecked(first, run, &mut out[k * d..(k + run) * d])?;
            k += run;
        }
        if out.iter().any(|v| !v.is_finite()) {
            return Err(self.non_finite_error());
        }
        Ok(())
    }

    /// Every row: [N, D] row-major.
    pub fn read_all(&mut self) -> Result<Vec<f32>, RunError> {
        let mut out = vec![0f32; self.n * self.d];
        let n = self.n;
        self.read_rows(0, n, &mut out)?;
        Ok(out)
    }

    /// Scans the whole array and describes its non-finite values (count, first row).
    fn non_finite_error(&mut self) -> RunError {
        let d = self.d;
        let rows_per_block = (STREAM_CHUNK_BYTES / (4 * d)).max(1);
        let mut block = vec![0f32; rows_per_block * d];
        let (mut count, mut first_row) = (0usize, None);
        let mut start = 0;
        while start < self.n {
            let k = rows_per_block.min(self.n - start);
            if let Err(e) = self.read_rows_unchecked(start, k, &mut block[..k * d]) {
                return e;
            }
            for (r, row) in block[..k * d].chunks_exact(d).enumerate() {
                let bad = row.iter().filter(|v| !v.is_finite()).count();
                if bad > 0 && first_row.is_none() {
                    first_row = Some(start + r);
                }
                count += bad;
            }
            start += k;
        }
        let where_ = match first_row {
            Some(r) => format!("first in row {r}"),
            None => "the file changed while being read".to_string(),
        };
        RunError::invalid(
            &self.desc.path,
            format!(
                "{count} values are NaN or infinite ({where_}); neuromapper needs finite activations \
                 (did training diverge? drop or fix this epoch)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_to_c_reorders_3d() {
        // shape (2, 3, 2): C index (i, j, k) -> value 100i + 10j + k; Fortran storage s = i + 2j + 6k.
        let shape = [2usize, 3, 2];
        let mut storage = vec![0i32; 12];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..2 {
                    storage[i + 2 * j + 6 * k] = (100 * i + 10 * j + k) as i32;
                }
            }
        }
        let c = fortran_to_c(&storage, &shape);
        assert_eq!(c, vec![0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]);
    }
}
