//! Cache files under `RUN/.neuromapper/`: a JSON header and a binary payload, closed by a CRC-32;
//! and the housekeeping of that folder: where writes may go, its size cap, stale temp files.
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
//!
//! Housekeeping, done by every [`write()`]:
//! - Writes go only into real folders inside the run: `.neuromapper` or a folder below it that is a
//!   symbolic link (or not a folder) refuses the write, so nothing is written elsewhere through a link.
//! - Temp files of a killed writer (`.{name}.tmp-{pid}-{k}`, see `nm_run::temp_sibling`) are removed
//!   once their process is gone, or is a newer process with the same id.
//! - The cache is kept under a size cap ([`max_bytes`]: 1 GiB, or `NEUROMAPPER_CACHE_MAX_BYTES`) by
//!   removing the least recently used files first; [`read`] marks a file used (its modification time).
//!
//! A cache is only a cache: a failed write is reported by [`warn_not_cached`] on stderr and the
//! caller goes on with what it computed.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use nm_run::{text, RunError, CACHE_DIR};

const MAGIC: &[u8; 8] = b"NMCACHE\x01";
/// The extension of every cache file we write.
pub const EXT: &str = "nmc";
/// The cache's default size cap.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The environment variable that overrides [`DEFAULT_MAX_BYTES`] (bytes, or with a K, M or G suffix: binary units).
pub const MAX_BYTES_ENV: &str = "NEUROMAPPER_CACHE_MAX_BYTES";
/// Without a way to tell whether a temp file's writer still runs (no /proc), it is taken as
/// abandoned after this long: a write takes seconds.
const TEMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The cache's size cap in bytes: `NEUROMAPPER_CACHE_MAX_BYTES` when set (e.g. `500000000`, `512M`,
/// `2G`), else [`DEFAULT_MAX_BYTES`]. A value that does not parse is warned about once and ignored.
pub fn max_bytes() -> u64 {
    match std::env::var(MAX_BYTES_ENV) {
        Ok(v) => parse_bytes(&v).unwrap_or_else(|| {
            warn_once(
                format!("env {MAX_BYTES_ENV}"),
                format!(
                    "{MAX_BYTES_ENV}=\"{}\" is not a size (expected bytes, or a number with K, M or G); using {}",
                    text::clip(&v),
                    DEFAULT_MAX_BYTES
                ),
            );
            DEFAULT_MAX_BYTES
        }),
        Err(_) => DEFAULT_MAX_BYTES,
    }
}

fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// Prints `message` on stderr as a warning, once per `key` in this process.
fn warn_once(key: String, message: String) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.get_or_insert_with(HashSet::new).insert(key) {
        eprintln!("warning: {message}");
    }
}

/// Reports on stderr that `what` could not be cached, naming the file and the reason; the same
/// reason is reported once per process (an unwritable cache would otherwise warn for every slice).
pub fn warn_not_cached(what: &str, e: &RunError) {
    let key = match e {
        RunError::Invalid { message, .. } => message.clone(),
        RunError::Io { source, .. } => source.kind().to_string(),
    };
    warn_once(key, format!("the cache cannot be written, so results are used but not kept (first {what}): {e}"));
}

/// Splits a cache path into (the run's folder, the path below `.neuromapper/`).
fn split(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let comps: Vec<Component> = path.components().collect();
    let at = comps.iter().rposition(|c| c.as_os_str() == CACHE_DIR)?;
    let root: PathBuf = comps[..at].iter().collect();
    let rel: PathBuf = comps[at + 1..].iter().collect();
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    (rel.components().all(|c| matches!(c, Component::Normal(_))) && rel.file_name().is_some()).then_some((root, rel))
}

/// Makes (or checks) the folders of `rel` below the cache folder, each a real folder: never a link.
fn real_dirs(cache: &Path, rel: &Path) -> Result<(), RunError> {
    let mut p = cache.to_path_buf();
    for c in rel.parent().into_iter().flat_map(|d| d.components()) {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(m) => {
                return Err(RunError::invalid(
                    &p,
                    format!(
                        "is {}, not a folder; neuromapper writes its cache only into real folders inside the run",
                        if m.file_type().is_symlink() { "a symbolic link" } else { "a file" }
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_dir()) {
                        return Err(RunError::invalid(&p, "is not a real folder; the cache is not written there"));
                    }
                }
                Err(e) => return Err(RunError::io(&p, e)),
            },
            Err(e) => return Err(RunError::io(&p, e)),
        }
    }
    Ok(())
}

/// Whether `path` lies in real folders of the cache (no link from the run's folder down), so that
/// touching it changes nothing outside the run.
fn within_real_cache(path: &Path) -> bool {
    let Some((root, rel)) = split(path) else { return false };
    let mut p = root.join(CACHE_DIR);
    if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_dir()) {
        return false;
    }
    for c in rel.components() {
        p.push(c);
        let Ok(m) = std::fs::symlink_metadata(&p) else { return false };
        let last = p.as_path() == root.join(CACHE_DIR).join(&rel);
        if (last && !m.file_type().is_file()) || (!last && !m.file_type().is_dir()) {
            return false;
        }
    }
    true
}

/// Writes a cache file atomically at `path`, which must lie under a run's `.neuromapper/`; then
/// removes stale temp files and evicts the least recently used files beyond [`max_bytes`] (never
/// the file just written).
pub fn write(path: &Path, header: &serde_json::Value, payload: &[u8]) -> Result<(), RunError> {
    let (root, rel) =
        split(path).ok_or_else(|| RunError::invalid(path, format!("not a path under a run's {CACHE_DIR}/ folder")))?;
    let cache = nm_run::writable_cache_dir(&root)?;
    real_dirs(&cache, &rel)?;
    let header = serde_json::to_vec(header).map_err(|e| RunError::invalid(path, e.to_string()))?;
    let mut bytes = Vec::with_capacity(8 + 8 + header.len() + 8 + payload.len() + 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(payload);
    let crc = crc32fast::hash(&bytes);
    let target = cache.join(&rel);
    nm_run::write_atomic_with(&target, |w| {
        w.write_all(&bytes)?;
        w.write_all(&crc.to_le_bytes())
    })?;
    tidy(&cache, max_bytes(), Some(&target));
    Ok(())
}

/// Reads and verifies a cache file: (header, payload), or None when absent, damaged, or not a
/// regular file. A hit marks the file as recently used (for the size cap's eviction order).
pub fn read(path: &Path) -> Option<(serde_json::Value, Vec<u8>)> {
    let (hit, file) = read_file(path)?;
    if within_real_cache(path) {
        let _ = file.set_modified(SystemTime::now());
    }
    Some(hit)
}

/// Like [`read`], without marking the file used (for listings).
pub fn peek(path: &Path) -> Option<(serde_json::Value, Vec<u8>)> {
    read_file(path).map(|(hit, _)| hit)
}

fn read_file(path: &Path) -> Option<((serde_json::Value, Vec<u8>), std::fs::File)> {
    // Only a regular file, not a link: never a FIFO or a device (it would block or never end),
    // nor a link to some large file elsewhere (we never write links here).
    if !std::fs::symlink_metadata(path).ok()?.file_type().is_file() {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len().min(1 << 30) as usize);
    (&mut file).take(meta.len()).read_to_end(&mut bytes).ok()?;
    Some((verify(&bytes)?, file))
}

/// Only the JSON header of a cache file, without checking the payload (cheap, for listings).
pub fn read_header(path: &Path) -> Option<serde_json::Value> {
    if !std::fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let mut pre = [0u8; 16];
    f.read_exact(&mut pre).ok()?;
    if &pre[..8] != MAGIC {
        return None;
    }
    let h = u64::from_le_bytes(pre[8..16].try_into().ok()?);
    if h > 1 << 20 {
        return None;
    }
    let mut header = vec![0u8; h as usize];
    f.read_exact(&mut header).ok()?;
    serde_json::from_slice(&header).ok()
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

/// One file of ours in a cache folder.
#[derive(Clone, Debug)]
pub struct CacheFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Last written or used (a hit in [`read`] sets it).
    pub used: SystemTime,
}

/// What [`scan`] finds: our cache files (by [`EXT`]) and temp files of writers (ours or not).
struct Scan {
    files: Vec<CacheFile>,
    temps: Vec<(PathBuf, u32, SystemTime)>,
    dirs: Vec<PathBuf>,
}

/// Walks a cache folder without following links: regular files named `*.nmc` and temp files
/// `.{name}.tmp-{pid}-{k}`; anything else (a file a user put there, a link) is left alone.
fn scan(cache: &Path) -> Scan {
    let mut out = Scan { files: Vec::new(), temps: Vec::new(), dirs: Vec::new() };
    fn walk(dir: &Path, depth: usize, out: &mut Scan) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            let path = e.path();
            if m.file_type().is_dir() {
                if depth > 0 {
                    walk(&path, depth - 1, out);
                    out.dirs.push(path);
                }
                continue;
            }
            if !m.file_type().is_file() {
                continue;
            }
            let used = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = temp_pid(&name) {
                out.temps.push((path, pid, used));
            } else if path.extension().is_some_and(|x| x == EXT) {
                out.files.push(CacheFile { path, bytes: m.len(), used });
            }
        }
    }
    walk(cache, 4, &mut out);
    out
}

/// The writer's process id in a temp file name `.{name}.tmp-{pid}-{k}` (`nm_run::temp_sibling`).
fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, k) = tail.split_once('-')?;
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    pid.parse().ok()
}

/// When process `pid` started: `Ok(Some(t))` while it runs, `Ok(None)` when no such process runs,
/// `Err(())` when this system cannot tell (no Linux /proc).
fn process_start(pid: u32) -> Result<Option<SystemTime>, ()> {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(_) if Path::new("/proc/self/stat").exists() => return Ok(None),
        Err(_) => return Err(()),
    };
    // Field 22 (starttime, in clock ticks after boot) counts from the state, field 3, after `(comm)`.
    let after = &stat[stat.rfind(')').ok_or(())? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return Ok(None);
    }
    let ticks: u64 = fields.get(19).and_then(|t| t.parse().ok()).ok_or(())?;
    let boot = std::fs::read_to_string("/proc/stat").map_err(|_| ())?;
    let btime: u64 =
        boot.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok()).ok_or(())?;
    // Linux reports these ticks in USER_HZ, which is 100 on every architecture it runs on. btime is
    // rounded down, so this is at or before the true start: a file older than it is older still.
    Ok(Some(SystemTime::UNIX_EPOCH + Duration::from_secs(btime) + Duration::from_millis(ticks * 10)))
}

/// Whether a temp file of process `pid`, last written at `modified`, was abandoned: its writer is
/// gone, or the process with that id started after the file was last written (an id reused).
fn temp_is_stale(pid: u32, modified: SystemTime) -> bool {
    match process_start(pid) {
        Ok(None) => true,
        Ok(Some(start)) => modified < start,
        Err(()) => modified.elapsed().is_ok_and(|age| age > TEMP_MAX_AGE),
    }
}

/// Removes stale temp files, then the least recently used cache files while the total is above
/// `cap` (never `keep`). Returns the bytes removed. Errors are ignored: another process may be
/// tidying too.
fn tidy(cache: &Path, cap: u64, keep: Option<&Path>) -> u64 {
    let s = scan(cache);
    let mut removed = 0;
    for (path, pid, modified) in &s.temps {
        if temp_is_stale(*pid, *modified) {
            let len = std::fs::symlink_metadata(path).map_or(0, |m| m.len());
            if std::fs::remove_file(path).is_ok() {
                removed += len;
            }
        }
    }
    let mut files = s.files;
    let mut total: u64 = files.iter().map(|f| f.bytes).sum();
    if total <= cap {
        return removed;
    }
    files.sort_by(|a, b| (a.used, &a.path).cmp(&(b.used, &b.path)));
    for f in files {
        if total <= cap {
            break;
        }
        if Some(f.path.as_path()) == keep {
            continue;
        }
        if std::fs::remove_file(&f.path).is_ok() {
            total -= f.bytes;
            removed += f.bytes;
        }
    }
    for d in &s.dirs {
        let _ = std::fs::remove_dir(d); // only succeeds when empty
    }
    removed
}

/// Every cache file of ours under the run's `.neuromapper/` (links not followed), oldest use first.
pub fn files(run_root: &Path) -> Vec<CacheFile> {
    let mut f = scan(&run_root.join(CACHE_DIR)).files;
    f.sort_by(|a, b| (a.used, &a.path).cmp(&(b.used, &b.path)));
    f
}

/// Removes every cache file we wrote under the run's `.neuromapper/` and the stale temp files,
/// leaving anything else there alone. Returns (files removed, bytes removed). Refused when
/// `.neuromapper` is not a real folder (nothing is removed through a link).
pub fn clear(run_root: &Path) -> Result<(usize, u64), RunError> {
    let cache = run_root.join(CACHE_DIR);
    match std::fs::symlink_metadata(&cache) {
        Ok(m) if m.file_type().is_dir() => {}
        Ok(_) => {
            return Err(RunError::invalid(
                &cache,
                "is not a real folder (a symbolic link?); neuromapper removes nothing through it",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(RunError::io(&cache, e)),
    }
    let s = scan(&cache);
    let (mut n, mut bytes) = (0, 0);
    for f in &s.files {
        std::fs::remove_file(&f.path).map_err(|e| RunError::io(&f.path, e))?;
        n += 1;
        bytes += f.bytes;
    }
    for (path, pid, modified) in &s.temps {
        if temp_is_stale(*pid, *modified) {
            let len = std::fs::symlink_metadata(path).map_or(0, |m| m.len());
            if std::fs::remove_file(path).is_ok() {
                n += 1;
                bytes += len;
            }
        }
    }
    for d in &s.dirs {
        let _ = std::fs::remove_dir(d);
    }
    Ok((n, bytes))
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
    use nm_testkit::TempDir;

    #[test]
    fn every_damaged_byte_is_detected() {
        let dir = TempDir::new("nm_cache_unit_cache_unit");
        let p = dir.join(CACHE_DIR).join("x.nmc");
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
    }

    fn set_used(p: &Path, secs_ago: u64) {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_cache_folder_is_never_written_through() {
        let run = TempDir::new("nm_cache_unit_symlinked");
        let elsewhere = TempDir::new("nm_cache_unit_symlinked_target");
        std::os::unix::fs::symlink(&elsewhere, run.join(CACHE_DIR)).unwrap();
        let p = run.join(CACHE_DIR).join("pca/l/0.abc.nmc");
        let e = write(&p, &serde_json::json!({"k": 1}), b"xyz").unwrap_err();
        assert!(e.to_string().contains(".neuromapper") && e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through the link");
        // A link deeper down is refused the same way.
        std::fs::remove_file(run.join(CACHE_DIR)).unwrap();
        std::fs::create_dir_all(run.join(CACHE_DIR)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, run.join(CACHE_DIR).join("pca")).unwrap();
        let e = write(&p, &serde_json::json!({"k": 1}), b"xyz").unwrap_err();
        assert!(e.to_string().contains("pca") && e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        // Outside any .neuromapper folder: refused.
        assert!(write(&run.join("x.nmc"), &serde_json::json!({}), b"").is_err());
    }

    #[test]
    fn stale_temp_files_are_removed_on_the_next_write() {
        let run = TempDir::new("nm_cache_unit_temps");
        let dir = run.join(CACHE_DIR).join("embeddings");
        std::fs::create_dir_all(&dir).unwrap();
        // A process that has ended: its id is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let dead_tmp = dir.join(format!(".l.x.nmc.tmp-{dead}-0"));
        std::fs::write(&dead_tmp, b"half").unwrap();
        // pid 1 runs, but started long after this file was last written (an id reused).
        let reused_tmp = dir.join(".l.y.nmc.tmp-1-3");
        std::fs::write(&reused_tmp, b"half").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&reused_tmp)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1000))
            .unwrap();
        // Ours, being written now: kept.
        let live_tmp = dir.join(format!(".l.z.nmc.tmp-{}-7", std::process::id()));
        std::fs::write(&live_tmp, b"half").unwrap();
        // Not ours: kept.
        let foreign = dir.join("notes.txt");
        std::fs::write(&foreign, b"mine").unwrap();
        write(&dir.join("l.k.nmc"), &serde_json::json!({"k": 1}), b"payload").unwrap();
        assert!(!dead_tmp.exists(), "the dead writer's temp file is removed");
        if Path::new("/proc/self/stat").exists() {
            assert!(!reused_tmp.exists(), "a temp file older than its pid's process is removed");
        }
        assert!(live_tmp.exists() && foreign.exists() && dir.join("l.k.nmc").exists());
    }

    #[test]
    fn least_recently_used_files_go_first_beyond_the_cap() {
        let run = TempDir::new("nm_cache_unit_lru");
        let cache = run.join(CACHE_DIR);
        let payload = vec![7u8; 1000];
        let paths: Vec<PathBuf> = (0..4).map(|k| cache.join(format!("pca/l/{k}.key.nmc"))).collect();
        for p in &paths {
            write(p, &serde_json::json!({"k": 1}), &payload).unwrap();
        }
        let size = std::fs::metadata(&paths[0]).unwrap().len();
        // Written long ago in the order 0, 1, 2, 3; then 0 is read (used) now.
        for (k, p) in paths.iter().enumerate() {
            set_used(p, 1000 - k as u64 * 10);
        }
        assert!(read(&paths[0]).is_some());
        assert!(peek(&paths[1]).is_some(), "peek does not mark a file used");
        #[cfg(unix)]
        {
            // A link in the cache is not read (it could point at a huge file or a device).
            let link = cache.join("pca/l/link.key.nmc");
            std::os::unix::fs::symlink(&paths[1], &link).unwrap();
            assert!(read(&link).is_none() && peek(&link).is_none());
            std::fs::remove_file(&link).unwrap();
        }
        // Room for two files: 1 and 2 (least recently used) go; 0 (just read) and 3 stay.
        tidy(&cache, 2 * size, None);
        let left: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(left, [true, false, false, true]);
        // The file just written stays even when alone it is above the cap.
        tidy(&cache, 0, Some(&paths[3]));
        assert_eq!(paths.iter().map(|p| p.exists()).collect::<Vec<_>>(), [false, false, false, true]);
        assert_eq!(files(run.path()).len(), 1);
    }

    #[test]
    fn clear_removes_only_what_we_wrote() {
        let run = TempDir::new("nm_cache_unit_clear");
        let p = run.join(CACHE_DIR).join("embeddings/l.key.nmc");
        write(&p, &serde_json::json!({"kind": "embedding"}), b"12345678").unwrap();
        let foreign = run.join(CACHE_DIR).join("README");
        std::fs::write(&foreign, b"a user's note").unwrap();
        let (n, bytes) = clear(run.path()).unwrap();
        assert_eq!((n, bytes > 0), (1, true));
        assert!(!p.exists() && foreign.exists());
        assert!(!run.join(CACHE_DIR).join("embeddings").exists(), "emptied folders go too");
        assert_eq!(clear(&run.join("nothing-here")).unwrap(), (0, 0));
    }

    #[test]
    fn cap_sizes_parse() {
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2 GiB"), Some(2 << 30));
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("-5"), None);
        assert_eq!(parse_bytes("99999999999T"), None);
    }
}
