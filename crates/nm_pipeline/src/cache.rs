//! Cache files under `RUN/.neuromapper/`: a JSON header and a binary payload, closed by a CRC-32.
//!
//! Layout (all integers little-endian):
//! ```text
//! magic  b"NMCACHE\x01"            8 bytes
//! u64    header length H
//! header JSON (utf-8)              H bytes: what was computed, from which data, with which params
//! u64    payload length P
//! payload                          P bytes: little-endian u32 / f32 arrays, described by the header
//! u32    CRC-32 (IEEE) of every byte above
//! ```
//! Files are written to a temp name and renamed, so a killed writer leaves no file that loads; a
//! damaged or truncated file fails the length or checksum test and is treated as absent.

use std::io::Write;
use std::path::Path;

use nm_run::RunError;

const MAGIC: &[u8; 8] = b"NMCACHE\x01";

/// Writes a cache file atomically.
pub fn write(path: &Path, header: &serde_json::Value, payload: &[u8]) -> Result<(), RunError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RunError::io(dir, e))?;
    }
    let header = serde_json::to_vec(header).map_err(|e| RunError::invalid(path, e.to_string()))?;
    let mut bytes = Vec::with_capacity(8 + 8 + header.len() + 8 + payload.len() + 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(payload);
    let crc = crc32fast::hash(&bytes);
    nm_run::write_atomic_with(path, |w| {
        w.write_all(&bytes)?;
        w.write_all(&crc.to_le_bytes())
    })
}

/// Reads and verifies a cache file: (header, payload), or None when absent or damaged.
pub fn read(path: &Path) -> Option<(serde_json::Value, Vec<u8>)> {
    let bytes = std::fs::read(path).ok()?;
    verify(&bytes)
}

fn verify(bytes: &[u8]) -> Option<(serde_json::Value, Vec<u8>)> {
    if bytes.len() < 8 + 8 + 8 + 4 || &bytes[..8] != MAGIC {
        return None;
    }
    let body = &bytes[..bytes.len() - 4];
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().ok()?);
    if crc32fast::hash(body) != crc {
        return None;
    }
    let h = u64::from_le_bytes(body[8..16].try_into().ok()?) as usize;
    let header_end = 16usize.checked_add(h)?;
    let p_start = header_end.checked_add(8)?;
    if p_start > body.len() {
        return None;
    }
    let p = u64::from_le_bytes(body[header_end..p_start].try_into().ok()?) as usize;
    if p_start.checked_add(p)? != body.len() {
        return None;
    }
    let header = serde_json::from_slice(&body[16..header_end]).ok()?;
    Some((header, body[p_start..].to_vec()))
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f32_from(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn u32_from(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// FNV-1a, 64 bit: a stable hash for cache keys (std's hasher may change between releases).
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn bytes(mut self, b: &[u8]) -> Fnv {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    /// Adds a length-prefixed string (so "ab","c" and "a","bc" differ).
    pub fn str(self, s: &str) -> Fnv {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    pub fn u64(self, v: u64) -> Fnv {
        self.bytes(&v.to_le_bytes())
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_damaged_byte_is_detected() {
        let dir = std::env::temp_dir().join(format!("nm_cache_unit_{}", std::process::id()));
        let p = dir.join("x.nmc");
        write(&p, &serde_json::json!({"k": 1}), &f32_bytes(&[1.0, 2.0])).unwrap();
        let good = std::fs::read(&p).unwrap();
        let (h, payload) = verify(&good).unwrap();
        assert_eq!((h["k"].as_i64(), f32_from(&payload)), (Some(1), vec![1.0, 2.0]));
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(verify(&bad).is_none(), "flipped byte {i} not detected");
        }
        for len in 0..good.len() {
            assert!(verify(&good[..len]).is_none(), "truncation to {len} not detected");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
