//! [`RunSpec`]: a synthetic run described (samples, classes, layers, epochs, dtype, thumbnails,
//! predictions, metrics); [`TestRun`]: that run written to disk, ready to grow by more epochs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nm_run::{EpochMetrics, Inputs, Manifest, Run, RunWriter, EPOCHS_DIR};

use crate::data::{clustered, Rng};
use crate::TempDir;

/// How the layer files are stored (`predictions.npy` is always `[N]` uint32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`, written by [`RunWriter::write_epoch`] (atomic, as a trainer writes).
    F32,
    /// `<f8`, written by the kit (the epoch folder still appears at once, by rename).
    F64,
    /// `<f2`, written by the kit like [`Dtype::F64`].
    F16,
}

/// Which epochs have `predictions.npy`, and which samples are predicted wrong there. A wrong
/// prediction is the next class, `(label + 1) % classes`; the others are the label.
#[derive(Clone, Copy, Debug)]
pub struct Predictions {
    /// Only this epoch has predictions; every epoch when `None`.
    pub only_epoch: Option<u32>,
    /// Whether sample `i` is predicted wrong at `epoch`.
    pub wrong: fn(epoch: u32, sample: usize) -> bool,
}

impl Predictions {
    /// Every epoch; sample `i` is wrong when `i % (epoch + 2) == 0`, so accuracy rises with the
    /// epochs (epoch 1: every third sample wrong).
    pub fn improving() -> Predictions {
        Predictions { only_epoch: None, wrong: |epoch, i| i % (epoch as usize + 2) == 0 }
    }

    /// Only at `epoch`; every third sample (`i % 3 == 0`) is wrong.
    pub fn every_third_wrong_at(epoch: u32) -> Predictions {
        Predictions { only_epoch: Some(epoch), wrong: |_, i| i % 3 == 0 }
    }
}

/// A synthetic run: `n` samples with labels `i % classes` (or blocks, [`RunSpec::class_counts`]),
/// clustered activations per layer and epoch (see the crate docs), and optional thumbnails,
/// predictions and metrics. Build it with the methods, then [`RunSpec::write`] it.
#[derive(Clone, Debug)]
pub struct RunSpec {
    labels: Vec<u32>,
    classes: Vec<String>,
    named_classes: bool,
    layers: Vec<(String, usize)>,
    epochs: Vec<u32>,
    dtype: Dtype,
    separation: (f32, f32),
    noise: f32,
    seed: u64,
    thumbnails: Option<(usize, usize, usize)>,
    predictions: Option<Predictions>,
    metrics: bool,
}

impl RunSpec {
    /// `n` samples in `classes` classes named `class0`, `class1`, ...; defaults: one layer `fc`
    /// [n, 8], epoch 0, float32, separation 6 + 0.2 per epoch, noise ±1, seed 0, no thumbnails,
    /// predictions or metrics.
    pub fn new(n: usize, classes: usize) -> RunSpec {
        assert!(classes > 0, "a run needs at least one class");
        RunSpec {
            labels: (0..n).map(|i| (i % classes) as u32).collect(),
            classes: (0..classes).map(|c| format!("class{c}")).collect(),
            named_classes: true,
            layers: vec![("fc".into(), 8)],
            epochs: vec![0],
            dtype: Dtype::F32,
            separation: (6.0, 0.2),
            noise: 1.0,
            seed: 0,
            thumbnails: None,
            predictions: None,
            metrics: false,
        }
    }

    /// The class names (as many as classes).
    pub fn class_names(mut self, names: &[&str]) -> RunSpec {
        assert_eq!(names.len(), self.classes.len(), "one name per class");
        self.classes = names.iter().map(std::string::ToString::to_string).collect();
        self
    }

    /// No `classes` in the manifest: class ids name themselves.
    pub fn unnamed_classes(mut self) -> RunSpec {
        self.named_classes = false;
        self
    }

    /// Labels in blocks: `counts[0]` samples of class 0, then `counts[1]` of class 1, ... (one
    /// count per class; N becomes their sum).
    pub fn class_counts(mut self, counts: &[usize]) -> RunSpec {
        assert_eq!(counts.len(), self.classes.len(), "one count per class");
        self.labels = counts.iter().enumerate().flat_map(|(k, &m)| std::iter::repeat_n(k as u32, m)).collect();
        self
    }

    /// The layers in manifest order, as (name, D).
    pub fn layers(mut self, layers: &[(&str, usize)]) -> RunSpec {
        self.layers = layers.iter().map(|&(name, d)| (name.to_string(), d)).collect();
        self
    }

    /// The epochs written at once (more can follow with [`TestRun::write_epoch`]).
    pub fn epochs(mut self, epochs: &[u32]) -> RunSpec {
        self.epochs = epochs.to_vec();
        self
    }

    pub fn dtype(mut self, dtype: Dtype) -> RunSpec {
        self.dtype = dtype;
        self
    }

    /// Where a class sits on its own coordinates: `base + per_epoch * epoch`.
    pub fn separation(mut self, base: f32, per_epoch: f32) -> RunSpec {
        self.separation = (base, per_epoch);
        self
    }

    /// Half-width of the uniform noise on every coordinate.
    pub fn noise(mut self, half_width: f32) -> RunSpec {
        self.noise = half_width;
        self
    }

    pub fn seed(mut self, seed: u64) -> RunSpec {
        self.seed = seed;
        self
    }

    /// `inputs.npy` as `[N, height, width, channels]` u8, byte `k` of the whole array being `k % 251`.
    pub fn thumbnails(mut self, height: usize, width: usize, channels: usize) -> RunSpec {
        self.thumbnails = Some((height, width, channels));
        self
    }

    pub fn predictions(mut self, predictions: Predictions) -> RunSpec {
        self.predictions = Some(predictions);
        self
    }

    /// `metrics.json` listing every epoch written: accuracy from the predictions (when the epoch
    /// has some) as both train and test accuracy, and loss `1 / (1 + epoch)`.
    pub fn metrics(mut self) -> RunSpec {
        self.metrics = true;
        self
    }

    /// The labels the run will have.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Writes the run into `root` (created when absent) through [`RunWriter`].
    pub fn write(self, root: &Path) -> TestRun {
        let manifest = Manifest::new(
            self.named_classes.then(|| self.classes.clone()),
            Some(self.layers.iter().map(|l| l.0.clone()).collect()),
        );
        let n = self.labels.len();
        let inputs = self.thumbnails.map(|(height, width, channels)| Inputs {
            n,
            height,
            width,
            channels,
            data: (0..n * height * width * channels).map(|k| (k % 251) as u8).collect(),
        });
        let writer = RunWriter::create(root, &manifest, &self.labels, inputs.as_ref())
            .unwrap_or_else(|e| panic!("test kit: cannot create the run: {e}"));
        let epochs = self.epochs.clone();
        let run = TestRun { spec: self, writer, written: Mutex::new(Vec::new()), _temp: None };
        for e in epochs {
            run.write_epoch(e);
        }
        run
    }

    /// Writes the run into `run/` of a fresh [`TempDir`] that the returned run owns (removed with it).
    pub fn write_temp(self, tag: &str) -> TestRun {
        let temp = TempDir::new(tag);
        let mut run = self.write(&temp.join("run"));
        run._temp = Some(temp);
        run
    }
}

/// A synthetic run on disk. More epochs can be written at any time (a live run), each with the
/// same generator, so the data of an epoch does not depend on when it was written.
pub struct TestRun {
    spec: RunSpec,
    writer: RunWriter,
    written: Mutex<Vec<u32>>,
    /// The folder holding the run when [`RunSpec::write_temp`] made it; dropped last.
    _temp: Option<TempDir>,
}

impl TestRun {
    /// The run's folder.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// The run's folder, owned.
    pub fn path_buf(&self) -> PathBuf {
        self.writer.path().to_path_buf()
    }

    pub fn labels(&self) -> &[u32] {
        &self.spec.labels
    }

    /// The writer, for what the kit does not write (hand-made epochs, metrics, the finished marker).
    pub fn writer(&self) -> &RunWriter {
        &self.writer
    }

    /// Opens the run with [`Run::open`].
    pub fn open(&self) -> Run {
        Run::open(self.path()).unwrap_or_else(|e| panic!("test kit: the run does not open: {e}"))
    }

    /// The activations the generator gives `layer` at `epoch` ([N, D] row-major), written or not.
    pub fn activations(&self, layer: &str, epoch: u32) -> Vec<f32> {
        let (k, &(_, dim)) = self
            .spec
            .layers
            .iter()
            .enumerate()
            .find(|(_, l)| l.0 == layer)
            .unwrap_or_else(|| panic!("test kit: no layer {layer} in the spec"));
        let seed = self.spec.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ ((k as u64) << 40) ^ u64::from(epoch);
        let (base, per_epoch) = self.spec.separation;
        let centre = base + per_epoch * epoch as f32;
        clustered(&self.spec.labels, self.spec.classes.len(), dim, centre, self.spec.noise, &mut Rng::new(seed))
    }

    /// The predictions the spec gives `epoch`, if that epoch has any.
    pub fn predictions(&self, epoch: u32) -> Option<Vec<u32>> {
        let p = self.spec.predictions?;
        if p.only_epoch.is_some_and(|only| only != epoch) {
            return None;
        }
        let classes = self.spec.classes.len() as u32;
        let out =
            self.spec.labels.iter().enumerate().map(|(i, &l)| if (p.wrong)(epoch, i) { (l + 1) % classes } else { l });
        Some(out.collect())
    }

    /// Writes (or replaces) `epochs/<epoch>` with every layer of the spec, its predictions, and
    /// brings `metrics.json` up to date when the spec asks for metrics.
    pub fn write_epoch(&self, epoch: u32) {
        let data: Vec<(&str, usize, Vec<f32>)> =
            self.spec.layers.iter().map(|(name, d)| (name.as_str(), *d, self.activations(name, epoch))).collect();
        let preds = self.predictions(epoch);
        match self.spec.dtype {
            Dtype::F32 => {
                let layers: Vec<(&str, usize, &[f32])> = data.iter().map(|(n, d, v)| (*n, *d, v.as_slice())).collect();
                self.writer
                    .write_epoch(epoch, &layers, preds.as_deref())
                    .unwrap_or_else(|e| panic!("test kit: cannot write epoch {epoch}: {e}"));
            }
            Dtype::F64 | Dtype::F16 => self.write_wide_epoch(epoch, &data, preds.as_deref()),
        }
        let mut written = self.written.lock().unwrap();
        if !written.contains(&epoch) {
            written.push(epoch);
            written.sort_unstable();
        }
        if self.spec.metrics {
            let metrics: Vec<EpochMetrics> = written
                .iter()
                .map(|&e| {
                    let accuracy = self.predictions(e).map(|p| {
                        let right = p.iter().zip(&self.spec.labels).filter(|(a, b)| a == b).count();
                        right as f32 / p.len() as f32
                    });
                    EpochMetrics {
                        epoch: e,
                        train_accuracy: accuracy,
                        test_accuracy: accuracy,
                        loss: Some(1.0 / (1.0 + e as f32)),
                        adv_success: None,
                    }
                })
                .collect();
            self.writer.write_metrics(&metrics).unwrap_or_else(|e| panic!("test kit: cannot write metrics: {e}"));
        }
    }

    /// The epochs written so far, ascending.
    pub fn written_epochs(&self) -> Vec<u32> {
        self.written.lock().unwrap().clone()
    }

    /// Marks the run finished, listing the epochs written.
    pub fn finish(&self) {
        let epochs = self.written_epochs();
        self.writer.finish(&epochs).unwrap_or_else(|e| panic!("test kit: cannot mark the run finished: {e}"));
    }

    /// An epoch folder of float64 or float16 layers, built beside `epochs/<epoch>` and renamed
    /// into place so a reader never sees half of it.
    fn write_wide_epoch(&self, epoch: u32, data: &[(&str, usize, Vec<f32>)], preds: Option<&[u32]>) {
        let n = self.spec.labels.len();
        let final_dir = self.path().join(EPOCHS_DIR).join(epoch.to_string());
        let tmp = nm_run::temp_sibling(&final_dir);
        let fail = |what: &Path, e: &dyn std::fmt::Display| panic!("test kit: cannot write {}: {e}", what.display());
        std::fs::create_dir_all(&tmp).unwrap_or_else(|e| fail(&tmp, &e));
        for (name, dim, values) in data {
            let (descr, body): (&str, Vec<u8>) = match self.spec.dtype {
                Dtype::F64 => ("<f8", values.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect()),
                _ => ("<f2", values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect()),
            };
            let mut bytes = nm_run::npy::header_bytes(descr, &[n, *dim]);
            bytes.extend_from_slice(&body);
            let p = tmp.join(format!("{name}.npy"));
            std::fs::write(&p, bytes).unwrap_or_else(|e| fail(&p, &e));
        }
        if let Some(p) = preds {
            let path = tmp.join("predictions.npy");
            nm_run::npy::write(&path, &[n], p).unwrap_or_else(|e| fail(&path, &e));
        }
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).unwrap_or_else(|e| fail(&final_dir, &e));
        }
        std::fs::rename(&tmp, &final_dir).unwrap_or_else(|e| fail(&final_dir, &e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_written_as_described_and_reads_back() {
        let run = RunSpec::new(40, 4)
            .layers(&[("a", 6), ("b", 3)])
            .epochs(&[1, 3])
            .thumbnails(2, 3, 1)
            .predictions(Predictions::improving())
            .metrics()
            .write_temp("spec");
        let r = run.open();
        assert_eq!((r.n_samples(), r.classes().len(), r.epochs()), (40, 4, &[1, 3][..]));
        assert_eq!(r.layers().iter().map(|l| (l.name.as_str(), l.dim)).collect::<Vec<_>>(), [("a", 6), ("b", 3)]);
        assert_eq!(r.inputs_shape(), Some((40, 2, 3, 1)));
        assert_eq!(r.read_layer("b", 3).unwrap().1, run.activations("b", 3));
        // Epoch 1: every third sample (i % 3 == 0) is wrong: 14 of 40.
        let p = r.predictions(1).unwrap().unwrap();
        assert_eq!(p.iter().zip(r.labels()).filter(|(a, b)| a != b).count(), 14);
        let m = r.metrics().unwrap();
        assert_eq!(m.iter().map(|m| m.epoch).collect::<Vec<_>>(), [1, 3]);
        assert!((m[0].test_accuracy.unwrap() - 26.0 / 40.0).abs() < 1e-6);
        run.write_epoch(2);
        assert_eq!(run.open().epochs(), &[1, 2, 3]);
        assert_eq!(run.written_epochs(), [1, 2, 3]);
        let folder = run.path().parent().unwrap().to_path_buf();
        drop(run);
        assert!(!folder.exists(), "write_temp's folder goes with the run");
    }

    #[test]
    fn float64_and_float16_layers_read_back_as_written() {
        for (dtype, tol) in [(Dtype::F64, 0.0), (Dtype::F16, 1e-2)] {
            let run =
                RunSpec::new(12, 2).dtype(dtype).predictions(Predictions::every_third_wrong_at(0)).write_temp("dt");
            let (d, got) = run.open().read_layer("fc", 0).unwrap();
            let want = run.activations("fc", 0);
            assert_eq!((d, got.len()), (8, want.len()));
            assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() <= tol * w.abs().max(1.0)), "{dtype:?}");
            assert_eq!(run.open().predictions(0).unwrap(), run.predictions(0));
        }
    }

    #[test]
    fn the_same_spec_gives_the_same_data_and_another_seed_other_data() {
        let a = RunSpec::new(20, 2).write_temp("same");
        let b = RunSpec::new(20, 2).write_temp("same");
        let c = RunSpec::new(20, 2).seed(1).write_temp("other");
        assert_eq!(a.activations("fc", 0), b.activations("fc", 0));
        assert_ne!(a.activations("fc", 0), c.activations("fc", 0));
        assert_ne!(a.activations("fc", 0), a.activations("fc", 1), "epochs differ");
    }

    #[test]
    fn class_counts_give_labels_in_blocks() {
        let spec = RunSpec::new(0, 3).class_counts(&[2, 1, 3]);
        assert_eq!(spec.labels(), [0, 0, 1, 2, 2, 2]);
    }
}
