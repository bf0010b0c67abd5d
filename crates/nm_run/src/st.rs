//! `.safetensors` epochs: one file per epoch, one tensor per layer (plus an optional
//! `predictions`). Only the header is parsed (with the `safetensors` crate's metadata type); tensor
//! data is streamed from the file like an `.npy` array's (little-endian, C order).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::Metadata;
use safetensors::Dtype as StDtype;

use crate::array::{ArrayDesc, Dtype, ScalarKind};
use crate::{text, RunError};

/// Refuse headers larger than this (the format's own limit is 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Every tensor of the file at `path`, by name.
pub(crate) fn read_tensors(path: &Path) -> Result<BTreeMap<String, ArrayDesc>, RunError> {
    let (mut file, meta) = crate::files::open_regular(path)?;
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
    let garbled = |what: String| {
        RunError::invalid(
            path,
            format!(
                "garbled .safetensors header ({what}); expected JSON such as \
                 {{\"layer\": {{\"dtype\": \"F32\", \"shape\": [N, D], \"data_offsets\": [0, 4·N·D]}}}}, found: {}",
                text::snippet(&header)
            ),
        )
    };
    let json = std::str::from_utf8(&header).map_err(|e| garbled(format!("not utf-8 at byte {}", e.valid_up_to())))?;
    let metadata: Metadata = serde_json::from_str(json).map_err(|e| garbled(text::clip(&e.to_string())))?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    let mut out = BTreeMap::new();
    let mut data_end = 0u64;
    for (name, info) in metadata.tensors() {
        let dtype = convert_dtype(info.dtype);
        let (begin, end) = info.data_offsets;
        let elements = info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let expected = elements.and_then(|e| e.checked_mul(dtype.size));
        let (begin, end) = (begin as u64, end as u64);
        if dtype.kind != ScalarKind::Other && (end < begin || usize::try_from(end - begin).ok() != expected) {
            return Err(garbled(format!(
                "tensor `{}` of shape {:?} ({}) has data offsets {begin}..{end}",
                text::clip(&name),
                info.shape,
                dtype.describe()
            )));
        }
        if end > data_len {
            return Err(RunError::invalid(
                path,
                format!(
                    "truncated file: tensor `{}` needs data bytes {begin}..{end}, the file has {data_len} after its header",
                    text::clip(&name)
                ),
            ));
        }
        data_end = data_end.max(end);
        let desc = ArrayDesc {
            path: path.to_path_buf(),
            data_offset: data_start + begin,
            dtype,
            fortran: false,
            shape: info.shape.clone(),
            file_len,
            modified: meta.modified().ok(),
        };
        desc.check_length(false)?;
        out.insert(name, desc);
    }
    if data_end != data_len {
        return Err(RunError::invalid(
            path,
            format!(
                "garbled file: its tensors end at data byte {data_end}, but {data_len} bytes follow the header \
                 (a damaged header, or something appended); write it again"
            ),
        ));
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
