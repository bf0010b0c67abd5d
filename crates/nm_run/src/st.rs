//! `.safetensors` epochs: one file per epoch, one tensor per layer (plus an optional
//! `predictions`). Only the header is parsed (with the `safetensors` crate's metadata type); tensor
//! data is streamed from the file like an `.npy` array's (little-endian, C order).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::Metadata;
use safetensors::Dtype as StDtype;

use crate::array::{ArrayDesc, Dtype, ScalarKind};
use crate::RunError;

/// Refuse headers larger than this (the format's own limit is 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Every tensor of the file at `path`, by name.
pub(crate) fn read_tensors(path: &Path) -> Result<BTreeMap<String, ArrayDesc>, RunError> {
    let mut file = std::fs::File::open(path).map_err(|e| RunError::io(path, e))?;
    let meta = file.metadata().map_err(|e| RunError::io(path, e))?;
    let file_len = meta.len();
    let mut len8 = [0u8; 8];
    if file_len < 8 || file.read_exact(&mut len8).is_err() {
        return Err(RunError::invalid(path, "truncated .safetensors file: shorter than its 8-byte header length"));
    }
    let header_len = u64::from_le_bytes(len8);
    if header_len > MAX_HEADER_BYTES || 8 + header_len > file_len {
        return Err(RunError::invalid(
            path,
            format!("garbled or truncated .safetensors file: header of {header_len} bytes, file of {file_len}"),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| RunError::io(path, e))?;
    let text =
        std::str::from_utf8(&header).map_err(|_| RunError::invalid(path, "garbled .safetensors header: not utf-8"))?;
    let metadata: Metadata =
        serde_json::from_str(text).map_err(|e| RunError::invalid(path, format!("garbled .safetensors header: {e}")))?;
    let data_start = 8 + header_len;
    let mut out = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let dtype = convert_dtype(info.dtype);
        let (begin, end) = info.data_offsets;
        let elements = info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let expected = elements.and_then(|e| e.checked_mul(dtype.size));
        if dtype.kind != ScalarKind::Other && (end < begin || Some(end - begin) != expected) {
            return Err(RunError::invalid(
                path,
                format!(
                    "garbled .safetensors header: tensor `{name}` of shape {:?} ({}) has data offsets {begin}..{end}",
                    info.shape,
                    dtype.describe()
                ),
            ));
        }
        let desc = ArrayDesc {
            path: path.to_path_buf(),
            data_offset: data_start + begin as u64,
            dtype,
            fortran: false,
            shape: info.shape.clone(),
            file_len,
            modified: meta.modified().ok(),
        };
        desc.check_length()?;
        out.insert(name, desc);
    }
    Ok(out)
}

fn convert_dtype(d: StDtype) -> Dtype {
    let (kind, size) = match d {
        StDtype::F16 => (ScalarKind::Float, 2),
        StDtype::BF16 => (ScalarKind::BFloat, 2),
        StDtype::F32 => (ScalarKind::Float, 4),
        StDtype::F64 => (ScalarKind::Float, 8),
        StDtype::I8 => (ScalarKind::Int, 1),
        StDtype::I16 => (ScalarKind::Int, 2),
        StDtype::I32 => (ScalarKind::Int, 4),
        StDtype::I64 => (ScalarKind::Int, 8),
        StDtype::U8 => (ScalarKind::UInt, 1),
        StDtype::U16 => (ScalarKind::UInt, 2),
        StDtype::U32 => (ScalarKind::UInt, 4),
        StDtype::U64 => (ScalarKind::UInt, 8),
        StDtype::BOOL => (ScalarKind::Bool, 1),
        _ => (ScalarKind::Other, 0),
    };
    Dtype { kind, size, big_endian: false, name: format!("{d:?}") }
}
