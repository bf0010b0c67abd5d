//! A small keyed random number generator (SplitMix64).
//!
//! Every random stream in the engine is derived from the user's seed and a tuple of keys
//! (stage, epoch, slice, vertex, ...), never from a shared mutable generator. That is what makes
//! results independent of how rayon splits the work between threads.

/// SplitMix64 (Steele, Lea and Flood, 2014): 64-bit state, one add and a finaliser per draw.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A stream determined by `seed` and `keys` alone (keys are hashed in order).
    #[inline]
    pub(crate) fn keyed(seed: u64, keys: &[u64]) -> Self {
        let mut h = mix64(seed ^ 0x6A09_E667_F3BC_C909);
        for &k in keys {
            h = mix64(h ^ k.wrapping_mul(GOLDEN_GAMMA).wrapping_add(0x3C6E_F372_FE94_F82B));
        }
        Rng { state: h }
    }

    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform integer in `0..n` (n > 0), by Lemire's multiply-shift (bias below 2^-32 · n).
    #[inline(always)]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in [0, 1).
    #[inline]
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box-Muller.
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
