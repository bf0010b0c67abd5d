use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use nm_train::model::ResNetConfig;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let width = *args.first().unwrap_or(&16);
    let batch = *args.get(1).unwrap_or(&64);
    let device = Device::flex().autodiff();
    device.seed(0);
    let cfg = ResNetConfig { in_channels: 3, classes: 10, width, blocks_per_stage: 1 };
    let mut model = cfg.init(&device);
    println!("params {}", model.num_params());
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Default, &device);
    let y: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [batch]), &device);
    for step in 0..8 {
        let t = Instant::now();
        let logits = model.forward(x.clone());
        let loss = loss_fn.forward(logits, y.clone());
        let l: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        println!("step {step} loss {l:.4} {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    let eval = model.valid();
    let xe = Tensor::<4>::random([256, 3, 32, 32], Distribution::Default, &Device::flex());
    let t = Instant::now();
    let f = eval.forward_stages(xe);
    let _ = f.logits.into_data();
    println!("eval 256: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
