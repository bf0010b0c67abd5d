//! In-memory image datasets: `[N, H, W, C]` u8 pixels with a class per image.

/// A labelled image set held in memory.
///
/// `pixels` is `[n, height, width, channels]` row-major u8 (channels last, as in `inputs.npy`);
/// `labels[i] < classes.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub classes: Vec<String>,
}

impl Dataset {
    /// Bytes of one image: `height · width · channels`.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The pixels of image `i`, `[H, W, C]`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// A new dataset made of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            n: indices.len(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
        }
    }

    /// The first `per_class` images of every class (in dataset order), grouped by class;
    /// fewer for a class that has fewer. Returns the chosen indices.
    pub fn first_per_class(&self, per_class: usize) -> Vec<usize> {
        let mut taken = vec![0usize; self.classes.len()];
        let mut chosen: Vec<Vec<usize>> = vec![Vec::new(); self.classes.len()];
        for (i, &label) in self.labels.iter().enumerate() {
            let c = label as usize;
            if taken[c] < per_class {
                taken[c] += 1;
                chosen[c].push(i);
            }
        }
        chosen.concat()
    }

    /// Images `indices` as a `[B, C, H, W]` float batch, each channel standardised:
    /// `x = (p / 255 − mean_c) / std_c` with `stats = (mean_c, std_c)` per channel.
    pub fn batch_nchw(&self, indices: &[usize], stats: &ChannelStats) -> Vec<f32> {
        let (h, w, c) = (self.height, self.width, self.channels);
        let plane = h * w;
        let mut out = vec![0f32; indices.len() * c * plane];
        for (b, &i) in indices.iter().enumerate() {
            let img = self.image(i);
            let dst = &mut out[b * c * plane..(b + 1) * c * plane];
            for (p, px) in img.chunks_exact(c).enumerate() {
                for (ch, &v) in px.iter().enumerate() {
                    dst[ch * plane + p] = (v as f32 / 255.0 - stats.mean[ch]) / stats.std[ch];
                }
            }
        }
        out
    }

    /// Per-channel mean and standard deviation of `pixels / 255`.
    pub fn channel_stats(&self) -> ChannelStats {
        let c = self.channels;
        let mut sum = vec![0f64; c];
        let mut sum_sq = vec![0f64; c];
        for px in self.pixels.chunks_exact(c) {
            for (ch, &v) in px.iter().enumerate() {
                let x = v as f64 / 255.0;
                sum[ch] += x;
                sum_sq[ch] += x * x;
            }
        }
        let count = (self.pixels.len() / c.max(1)).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / count) as f32).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(sq, &m)| ((sq / count - (m as f64).powi(2)).max(1e-6).sqrt() as f32).max(1e-3))
            .collect();
        ChannelStats { mean, std }
    }
}

/// Per-channel mean and standard deviation used to standardise inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}
