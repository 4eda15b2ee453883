//! Stereo phase correlation: `sum(l r) / sqrt(sum(l^2) sum(r^2))` over a 400 ms window.
//! +1 = mono (identical channels), 0 = unrelated channels, -1 = one channel inverted (the mono
//! sum cancels). Silence reads 0.

use super::loudness::MOMENTARY_SUB_BLOCKS;

/// Products of one window part: `sum l r`, `sum l^2`, `sum r^2`.
type Sums = [f64; 3];

/// Correlation meter fed with sub-block sums (the sub-blocks of the loudness meters).
#[derive(Debug, Clone, Copy, Default)]
pub struct Correlation {
    /// Sums of the sub-block being filled.
    current: Sums,
    /// The last four complete sub-blocks, a ring.
    ring: [Sums; MOMENTARY_SUB_BLOCKS],
    pos: usize,
    value: f64,
}

impl Correlation {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Add frames to the current sub-block; `left` and `right` name the lanes of `frames`.
    pub fn accumulate<const N: usize>(&mut self, frames: &[[f64; N]], left: usize, right: usize) {
        // Two frames per step with separate sums, so the additions are not one serial chain.
        let mut acc = [[0.0f64; 2]; 3];
        let pairs = frames.chunks_exact(2);
        let rest = pairs.remainder();
        for pair in pairs {
            for (k, f) in pair.iter().enumerate() {
                let (l, r) = (f[left], f[right]);
                acc[0][k] += l * r;
                acc[1][k] += l * l;
                acc[2][k] += r * r;
            }
        }
        for f in rest {
            let (l, r) = (f[left], f[right]);
            acc[0][0] += l * r;
            acc[1][0] += l * l;
            acc[2][0] += r * r;
        }
        for (c, a) in self.current.iter_mut().zip(acc) {
            *c += a[0] + a[1];
        }
    }

    /// Close the current sub-block and update the reading.
    pub fn end_sub_block(&mut self) {
        self.ring[self.pos] = std::mem::take(&mut self.current);
        self.pos = (self.pos + 1) % MOMENTARY_SUB_BLOCKS;
        let mut s = [0.0; 3];
        for part in &self.ring {
            for k in 0..3 {
                s[k] += part[k];
            }
        }
        let denom = (s[1] * s[2]).sqrt();
        self.value = if denom > f64::MIN_POSITIVE && denom.is_finite() { (s[0] / denom).clamp(-1.0, 1.0) } else { 0.0 };
    }

    /// Correlation over the last 400 ms, -1 ..= +1.
    pub fn value(&self) -> f64 {
        self.value
    }
}
