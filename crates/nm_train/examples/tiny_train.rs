//! Trains a small config and prints accuracy per epoch: `tiny_train WIDTH TRAIN EPOCHS LR BATCH`.
use nm_train::{Capture, DataSource, Scenario, Silent, TrainConfig};
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let p = |i: usize, d: &str| a.get(i).cloned().unwrap_or(d.into());
    let config = TrainConfig {
        data: DataSource::Shapes,
        train_size: Some(p(1, "1200").parse().unwrap()),
        epochs: p(2, "3").parse().unwrap(),
        capture_per_class: 20,
        width: p(0, "4").parse().unwrap(),
        blocks_per_stage: 1,
        learning_rate: p(3, "0.005").parse().unwrap(),
        batch_size: p(4, "32").parse().unwrap(),
        seed: 1,
        capture: Capture::Grid(2),
        scenario: Scenario::Normal,
        name: None,
        adversarial: None,
    };
    let t = std::time::Instant::now();
    let out = std::env::temp_dir().join(format!("tiny_train_{}", std::process::id()));
    let s = nm_train::train(&config, &out, &mut Silent).unwrap();
    for (m, t) in s.metrics.iter().zip(&s.timings) {
        println!(
            "epoch {} train {:?} test {:?} loss {:?} train {:.1}s capture {:.1}s",
            m.epoch, m.train_accuracy, m.test_accuracy, m.loss, t.train_secs, t.capture_secs
        );
    }
    println!("total {:.1}s", t.elapsed().as_secs_f64());
    std::fs::remove_dir_all(out).ok();
}
