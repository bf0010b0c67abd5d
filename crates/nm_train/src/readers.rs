//! Readers for datasets users already have on disk.
//!
//! - **CIFAR-10, binary version** (`cifar-10-batches-bin/`): `data_batch_1.bin` …
//!   `data_batch_5.bin` and `test_batch.bin`, each a sequence of 3,073-byte records: one label
//!   byte (0–9) then 3,072 pixel bytes, the 1,024 red values of the 32×32 image row by row,
//!   then green, then blue. `batches.meta.txt`, when present, names the classes one a line.
//! - **MNIST, IDX** (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//!   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, optionally gzip-free only): big-endian
//!   headers, magic `0x00000803` (u8, 3 dims: n, rows, cols) for images and `0x00000801`
//!   (u8, 1 dim: n) for labels, then the raw bytes.
//!
//! Both return [`Dataset`]s with channels last (`[N, 32, 32, 3]` and `[N, 28, 28, 1]`).

use std::path::{Path, PathBuf};

use crate::data::Dataset;
use crate::error::TrainError;

/// CIFAR-10's class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/// Bytes per CIFAR-10 record: label + 3 × 32 × 32.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;
/// The training batch files of CIFAR-10's binary version.
pub const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
/// The test batch file of CIFAR-10's binary version.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

/// MNIST IDX magic numbers.
const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

fn read(path: &Path) -> Result<Vec<u8>, TrainError> {
    std::fs::read(path).map_err(|source| TrainError::Io { path: path.to_path_buf(), source })
}

fn data_error(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Data { path: path.to_path_buf(), message: message.into() }
}

/// Finds `name` in `dir` or in the usual sub-folder the archive unpacks to.
fn locate(dir: &Path, name: &str, subdirs: &[&str]) -> Option<PathBuf> {
    std::iter::once(dir.to_path_buf())
        .chain(subdirs.iter().map(|s| dir.join(s)))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Loads CIFAR-10 (binary version) from `dir` (or `dir/cifar-10-batches-bin`):
/// returns `(train, test)`. The training files that exist are used (at least one is needed).
pub fn load_cifar10(dir: &Path) -> Result<(Dataset, Dataset), TrainError> {
    const SUB: [&str; 1] = ["cifar-10-batches-bin"];
    let train_paths: Vec<PathBuf> = CIFAR10_TRAIN_FILES.iter().filter_map(|f| locate(dir, f, &SUB)).collect();
    if train_paths.is_empty() {
        return Err(data_error(
            dir,
            "no CIFAR-10 training batch (data_batch_1.bin … data_batch_5.bin) here or in \
             cifar-10-batches-bin/; download and unpack the *binary version* \
             (cifar-10-binary.tar.gz) and pass its folder with --data-dir",
        ));
    }
    let test_path = locate(dir, CIFAR10_TEST_FILE, &SUB).ok_or_else(|| {
        data_error(dir, "test_batch.bin is missing (CIFAR-10 binary version); pass the folder holding it")
    })?;
    let classes = match locate(dir, "batches.meta.txt", &SUB) {
        Some(p) => {
            let text = String::from_utf8_lossy(&read(&p)?).into_owned();
            let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            if names.len() == 10 {
                names
            } else {
                CIFAR10_CLASSES.iter().map(std::string::ToString::to_string).collect()
            }
        }
        None => CIFAR10_CLASSES.iter().map(std::string::ToString::to_string).collect(),
    };
    let mut train = empty(32, 32, 3, classes.clone());
    for p in &train_paths {
        read_cifar10_file(p, &mut train)?;
    }
    let mut test = empty(32, 32, 3, classes);
    read_cifar10_file(&test_path, &mut test)?;
    Ok((train, test))
}

fn empty(height: usize, width: usize, channels: usize, classes: Vec<String>) -> Dataset {
    Dataset { n: 0, height, width, channels, pixels: Vec::new(), labels: Vec::new(), classes }
}

/// Appends the records of one CIFAR-10 binary batch file to `out`.
pub fn read_cifar10_file(path: &Path, out: &mut Dataset) -> Result<(), TrainError> {
    let bytes = read(path)?;
    if bytes.is_empty() || bytes.len() % CIFAR10_RECORD != 0 {
        return Err(data_error(
            path,
            format!(
                "{} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 records \
                 (1 label byte + 3072 pixel bytes); is this the binary version, not the python one?",
                bytes.len()
            ),
        ));
    }
    let plane = 32 * 32;
    out.pixels.reserve(bytes.len() / CIFAR10_RECORD * 3 * plane);
    for (r, rec) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        let label = rec[0];
        if label as usize >= 10 {
            return Err(data_error(
                path,
                format!("record {r} (byte {}): label {label}, expected 0..=9", r * CIFAR10_RECORD),
            ));
        }
        let px = &rec[1..];
        // planar RGB -> interleaved HWC
        for p in 0..plane {
            out.pixels.extend_from_slice(&[px[p], px[plane + p], px[2 * plane + p]]);
        }
        out.labels.push(label as u32);
        out.n += 1;
    }
    Ok(())
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads an IDX image file (magic 0x803): `[n, rows, cols]` u8.
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), TrainError> {
    let bytes = read(path)?;
    if bytes.len() < 16 {
        return Err(data_error(path, format!("{} bytes: too short for an IDX image header (16 bytes)", bytes.len())));
    }
    let magic = be_u32(&bytes, 0);
    if magic != IDX_IMAGES_MAGIC {
        let hint = if bytes[0] == 0x1f && bytes[1] == 0x8b { " (this is gzip: gunzip it first)" } else { "" };
        return Err(data_error(
            path,
            format!("magic number {magic:#010x}, expected {IDX_IMAGES_MAGIC:#010x} (IDX u8 images, 3 dims){hint}"),
        ));
    }
    let (n, rows, cols) = (be_u32(&bytes, 4) as usize, be_u32(&bytes, 8) as usize, be_u32(&bytes, 12) as usize);
    let expected = n.checked_mul(rows).and_then(|v| v.checked_mul(cols)).and_then(|v| v.checked_add(16));
    if expected != Some(bytes.len()) {
        return Err(data_error(
            path,
            format!(
                "header says {n} images of {rows}×{cols} ({} bytes with the header), file has {} bytes",
                expected.map_or("too many".into(), |e| e.to_string()),
                bytes.len()
            ),
        ));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Reads an IDX label file (magic 0x801): `[n]` u8.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, TrainError> {
    let bytes = read(path)?;
    if bytes.len() < 8 {
        return Err(data_error(path, format!("{} bytes: too short for an IDX label header (8 bytes)", bytes.len())));
    }
    let magic = be_u32(&bytes, 0);
    if magic != IDX_LABELS_MAGIC {
        let hint = if bytes[0] == 0x1f && bytes[1] == 0x8b { " (this is gzip: gunzip it first)" } else { "" };
        return Err(data_error(
            path,
            format!("magic number {magic:#010x}, expected {IDX_LABELS_MAGIC:#010x} (IDX u8 labels, 1 dim){hint}"),
        ));
    }
    let n = be_u32(&bytes, 4) as usize;
    if bytes.len() != 8 + n {
        return Err(data_error(
            path,
            format!("header says {n} labels ({} bytes with the header), file has {} bytes", 8 + n, bytes.len()),
        ));
    }
    Ok(bytes[8..].to_vec())
}

/// Loads one MNIST split from its image and label files.
fn load_mnist_split(images: &Path, labels: &Path) -> Result<Dataset, TrainError> {
    let (n, rows, cols, pixels) = read_idx_images(images)?;
    let lab = read_idx_labels(labels)?;
    if lab.len() != n {
        return Err(data_error(labels, format!("{} labels, but {} has {n} images", lab.len(), images.display())));
    }
    if let Some((i, &l)) = lab.iter().enumerate().find(|(_, &l)| l >= 10) {
        return Err(data_error(labels, format!("label {i} is {l}, expected 0..=9")));
    }
    Ok(Dataset {
        n,
        height: rows,
        width: cols,
        channels: 1,
        pixels,
        labels: lab.into_iter().map(u32::from).collect(),
        classes: (0..10).map(|d| d.to_string()).collect(),
    })
}

/// Loads MNIST (IDX files, uncompressed) from `dir`: returns `(train, test)`. File names may
/// use `-` or `.` before `idx` (both spellings circulate).
pub fn load_mnist(dir: &Path) -> Result<(Dataset, Dataset), TrainError> {
    let find = |stem: &str, kind: &str| -> Result<PathBuf, TrainError> {
        let names = [format!("{stem}-{kind}-ubyte"), format!("{stem}.{kind}-ubyte")];
        names.iter().find_map(|n| locate(dir, n, &["mnist", "MNIST/raw", "raw"])).ok_or_else(|| {
            data_error(
                dir,
                format!("{} is missing; MNIST needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (uncompressed) in --data-dir", names[0]),
            )
        })
    };
    let train = load_mnist_split(&find("train-images", "idx3")?, &find("train-labels", "idx1")?)?;
    let test = load_mnist_split(&find("t10k-images", "idx3")?, &find("t10k-labels", "idx1")?)?;
    Ok((train, test))
}
