//! What a training shows and does after each step: progress bars on stderr, a summary line per
//! epoch, and in live mode the viewer, started once epoch 0 is written and told of every later epoch
//! (`Progress`, nm_train's `Observer`).

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use nm_run::EpochMetrics;
use nm_train::{DataInfo, EpochTiming, Observer};

/// Progress bars on stderr, a summary line per epoch, and (live mode) the server.
pub struct Progress {
    epochs: u32,
    bar: Option<ProgressBar>,
    pub start: Instant,
    live: Option<nm_server::ServeOptions>,
    run: PathBuf,
    pub server: Option<nm_server::ServerHandle>,
    pub server_error: Option<anyhow::Error>,
}

impl Progress {
    pub fn new(epochs: u32, live: Option<nm_server::ServeOptions>, run: PathBuf) -> Progress {
        Progress { epochs, bar: None, start: Instant::now(), live, run, server: None, server_error: None }
    }
}

fn percent(x: Option<f32>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

impl Observer for Progress {
    fn data_ready(&mut self, info: &DataInfo) {
        let dims: Vec<String> = info.layers.iter().map(|(n, d)| format!("{n} {d}")).collect();
        eprintln!(
            "{} training images, {} captured ({} classes); captured dims: {} ({:.1} s)",
            info.train_images,
            info.capture_images,
            info.classes.len(),
            dims.join(", "),
            self.start.elapsed().as_secs_f64()
        );
    }

    fn epoch_started(&mut self, epoch: u32, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    fn batch_finished(&mut self, _epoch: u32, _batch: usize, loss: f32, accuracy: f32) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {loss:.3} acc {:.1}%", 100.0 * accuracy));
            bar.inc(1);
        }
    }

    fn epoch_captured(&mut self, epoch: u32, m: &EpochMetrics, t: &EpochTiming) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {epoch}/{}: loss {} train acc {} test acc {}{} (train {:.1} s, capture {:.1} s, write {:.2} s; {:.1} s since start)",
            self.epochs,
            m.loss.map_or("-".into(), |l| format!("{l:.3}")),
            percent(m.train_accuracy),
            percent(m.test_accuracy),
            m.adv_success.map_or(String::new(), |r| format!(" attack success {}", percent(Some(r)))),
            t.train_secs,
            t.capture_secs,
            t.write_secs,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(server) = &self.server {
            server.epoch_added(epoch);
        } else if let Some(opts) = self.live.take() {
            match nm_server::start(self.run.clone(), opts) {
                Ok(server) => {
                    server.epoch_added(epoch);
                    eprintln!("viewer at {} ({:.1} s since start)", server.url(), self.start.elapsed().as_secs_f64());
                    self.server = Some(server);
                }
                Err(e) => self.server_error = Some(e.context("could not start the viewer")),
            }
        }
    }
}
