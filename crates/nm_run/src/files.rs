//! Files of a run on the filesystem: refusing anything but regular files, bounded reads of small
//! files, atomic writes (temp sibling + rename) and the run's writable cache folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{RunError, CACHE_DIR};

/// What a path is when it is not a regular file, in words ("a FIFO (named pipe)", "a folder", ...).
pub(crate) fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Whether `path` is a regular file (symlinks followed), with the refusal when it exists as
/// something else; `Ok(None)` when nothing is there.
pub(crate) fn regular_file_meta(path: &Path) -> Result<Option<std::fs::Metadata>, RunError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(m) => Err(RunError::invalid(
            path,
            format!(
                "is {}, not a regular file; a run holds regular files only (symbolic links to files are fine)",
                file_kind(m.file_type())
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunError::io(path, e)),
    }
}

/// Opens a file of the run for reading, refusing anything but a regular file: a FIFO would block
/// the reader forever and a device never ends. The type is checked before opening (symlinks are
/// followed) and again on the open handle, in case the path was swapped in between.
pub(crate) fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), RunError> {
    if regular_file_meta(path)?.is_none() {
        return Err(RunError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let file = std::fs::File::open(path).map_err(|e| RunError::io(path, e))?;
    let meta = file.metadata().map_err(|e| RunError::io(path, e))?;
    if !meta.is_file() {
        return Err(RunError::invalid(path, format!("is {}, not a regular file", file_kind(meta.file_type()))));
    }
    Ok((file, meta))
}

/// The whole of a small regular file (`None` when absent), refusing one larger than `max` bytes;
/// `what` says what the file should be, for the error ("metrics.json is small JSON").
pub(crate) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Option<Vec<u8>>, RunError> {
    if regular_file_meta(path)?.is_none() {
        return Ok(None);
    }
    let (file, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(RunError::invalid(
            path,
            format!("is {} bytes; {what} (at most {max} bytes): is this the right file?", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Read at most max + 1 bytes, in case the file grew since.
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max + 1), &mut bytes)
        .map_err(|e| RunError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(RunError::invalid(path, format!("is more than {max} bytes; {what}")));
    }
    Ok(Some(bytes))
}

/// `RUN/.neuromapper/`, created when absent; refused unless it is a real folder (not a symbolic
/// link) directly inside the run, so nothing of ours is ever written elsewhere through a link.
pub fn writable_cache_dir(run_root: &Path) -> Result<PathBuf, RunError> {
    let p = run_root.join(CACHE_DIR);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_dir() => Ok(p),
        Ok(m) => Err(RunError::invalid(
            &p,
            format!(
                "is {}; neuromapper writes its cache only into a real folder inside the run \
                 (remove it and neuromapper makes the folder)",
                if m.file_type().is_symlink() { "a symbolic link" } else { file_kind(m.file_type()) }
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(&p) {
            Ok(()) => Ok(p),
            // Made by another process in between: check what it is.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => Ok(p),
                _ => Err(RunError::invalid(&p, "is not a real folder; neuromapper writes its cache only into one")),
            },
            Err(e) => Err(RunError::io(&p, e)),
        },
        Err(e) => Err(RunError::io(&p, e)),
    }
}

/// Calls `f` on every regular file under `dir` (not following symbolic links to folders), down to
/// `depth` levels of folders.
pub(crate) fn walk_files(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if depth > 0 {
                    walk_files(&e.path(), depth - 1, f);
                }
            }
            Ok(_) => f(&e.path()),
            Err(_) => {}
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden, unique sibling name for building `path` before renaming it into place.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let k = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{k}", std::process::id()))
}

/// Writes `path` atomically: the bytes go to a temp file beside it, which is then renamed over it,
/// so readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], streaming: `fill` writes the content to a buffered writer.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), RunError> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(RunError::io(path, e));
    }
    Ok(())
}
