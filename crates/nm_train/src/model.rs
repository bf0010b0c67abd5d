//! The network: a small ResNet (He et al. 2016, "basic" blocks) for 32×32-ish images.
//!
//! ```text
//! input [B, C_in, H, W]
//!  └ stem      conv3×3(C_in→w) · BN · ReLU                    [B, w,  H,   W  ]
//!  └ stage1    blocks × BasicBlock(w→w,   stride 1)           [B, w,  H,   W  ]
//!  └ stage2    blocks × BasicBlock(w→2w,  first stride 2)     [B, 2w, H/2, W/2]
//!  └ stage3    blocks × BasicBlock(2w→4w, first stride 2)     [B, 4w, H/4, W/4]
//!  └ stage4    blocks × BasicBlock(4w→8w, first stride 2)     [B, 8w, H/8, W/8]
//!  └ head      global average pool · linear(8w→classes)       [B, classes]
//! ```
//!
//! A basic block computes `relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`, where the shortcut
//! is the identity, or a strided 1×1 convolution with batch norm when the shape changes.
//! Batch norm uses batch statistics while training (tensors on an autodiff device) and its
//! running statistics in eval mode (after [`burn::module::Module::valid`]).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Names of the captured stages, in order; also the layer names in the run.
pub const STAGE_NAMES: [&str; 4] = ["stage1", "stage2", "stage3", "stage4"];

/// Shape of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Input channels (3 for RGB, 1 for MNIST).
    pub in_channels: usize,
    /// Number of classes (the head's outputs).
    pub classes: usize,
    /// Channels of the stem and stage 1; stage k has `width · 2^(k-1)`.
    pub width: usize,
    /// Basic blocks per stage.
    pub blocks_per_stage: usize,
}

impl ResNetConfig {
    /// Channels of each stage's output: `[w, 2w, 4w, 8w]`.
    pub fn stage_channels(&self) -> [usize; 4] {
        [self.width, 2 * self.width, 4 * self.width, 8 * self.width]
    }

    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> ResNet {
        let [c1, c2, c3, c4] = self.stage_channels();
        let stage = |c_in: usize, c_out: usize, stride: usize| -> Vec<BasicBlock> {
            (0..self.blocks_per_stage.max(1))
                .map(|i| {
                    if i == 0 {
                        BasicBlock::new(c_in, c_out, stride, device)
                    } else {
                        BasicBlock::new(c_out, c_out, 1, device)
                    }
                })
                .collect()
        };
        ResNet {
            stem_conv: conv3x3(self.in_channels, c1, 1, device),
            stem_bn: BatchNormConfig::new(c1).init(device),
            stage1: stage(c1, c1, 1),
            stage2: stage(c1, c2, 2),
            stage3: stage(c2, c3, 2),
            stage4: stage(c3, c4, 2),
            head: LinearConfig::new(c4, self.classes).init(device),
        }
    }
}

fn conv3x3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// The residual branch's shortcut when the shape changes: strided 1×1 conv + batch norm.
#[derive(Module, Debug)]
pub struct Projection {
    conv: Conv2d,
    bn: BatchNorm,
}

/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    projection: Option<Projection>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let projection = (stride != 1 || c_in != c_out).then(|| Projection {
            conv: Conv2dConfig::new([c_in, c_out], [1, 1]).with_stride([stride, stride]).with_bias(false).init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        BasicBlock {
            conv1: conv3x3(c_in, c_out, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv3x3(c_out, c_out, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            projection,
        }
    }

    /// `[B, c_in, H, W] -> [B, c_out, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.projection {
            Some(p) => p.bn.forward(p.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(self.conv1.forward(x)));
        let y = self.bn2.forward(self.conv2.forward(y));
        relu(y + shortcut)
    }
}

/// The network (see the module docs for the shapes).
#[derive(Module, Debug)]
pub struct ResNet {
    stem_conv: Conv2d,
    stem_bn: BatchNorm,
    stage1: Vec<BasicBlock>,
    stage2: Vec<BasicBlock>,
    stage3: Vec<BasicBlock>,
    stage4: Vec<BasicBlock>,
    head: Linear,
}

/// Every stage's output and the logits of one forward pass.
pub struct Forward {
    /// `[B, C_k, H_k, W_k]` for k = 1..4.
    pub stages: [Tensor<4>; 4],
    /// `[B, classes]`.
    pub logits: Tensor<2>,
}

impl ResNet {
    /// Forward pass keeping each stage's output. `x`: `[B, C_in, H, W]`.
    pub fn forward_stages(&self, x: Tensor<4>) -> Forward {
        let run = |blocks: &[BasicBlock], x: Tensor<4>| blocks.iter().fold(x, |x, b| b.forward(x));
        let x = relu(self.stem_bn.forward(self.stem_conv.forward(x)));
        let s1 = run(&self.stage1, x);
        let s2 = run(&self.stage2, s1.clone());
        let s3 = run(&self.stage3, s2.clone());
        let s4 = run(&self.stage4, s3.clone());
        // Global average pool: mean over H and W.
        let [b, c, _, _] = s4.dims();
        let pooled = s4.clone().flatten::<3>(2, 3).mean_dim(2).reshape([b, c]);
        let logits = self.head.forward(pooled);
        Forward { stages: [s1, s2, s3, s4], logits }
    }

    /// Logits only: `[B, C_in, H, W] -> [B, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_stages(x).logits
    }
}
