//! Deterministic synthetic data: a small seeded generator ([`Rng`]) and clustered activations
//! ([`clustered`]) whose classes separate more with every epoch, as a training network's do.

/// A seeded generator (SplitMix64): fast, deterministic, good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [-half_width, half_width).
    pub fn symmetric(&mut self, half_width: f32) -> f32 {
        (2.0 * self.unit() - 1.0) * half_width
    }
}

/// `[labels.len(), dim]` row-major activations: sample `i` of class `l` sits at `centre` on every
/// coordinate `j` with `j % classes == l` (0 elsewhere), plus uniform noise in `[-noise, noise)`.
/// Classes at or beyond `dim` own no coordinate and overlap; give `dim >= classes` for structure.
pub fn clustered(labels: &[u32], classes: usize, dim: usize, centre: f32, noise: f32, rng: &mut Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(labels.len() * dim);
    for &l in labels {
        for j in 0..dim {
            let c = if j % classes.max(1) == l as usize { centre } else { 0.0 };
            out.push(c + rng.symmetric(noise));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spread_over_its_range() {
        let a: Vec<f32> = (0..1000).scan(Rng::new(7), |r, _| Some(r.unit())).collect();
        let b: Vec<f32> = (0..1000).scan(Rng::new(7), |r, _| Some(r.unit())).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
        assert!(a.iter().any(|&x| x < 0.05) && a.iter().any(|&x| x > 0.95));
    }

    #[test]
    fn clusters_sit_on_their_own_coordinates() {
        let labels: Vec<u32> = (0..300).map(|i| (i % 3) as u32).collect();
        let x = clustered(&labels, 3, 6, 5.0, 1.0, &mut Rng::new(1));
        for (i, row) in x.chunks_exact(6).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let want = if j % 3 == labels[i] as usize { 5.0 } else { 0.0 };
                assert!((v - want).abs() <= 1.0, "sample {i} coordinate {j}: {v}");
            }
        }
    }
}
