//! The saturation's interpolator in `f32`: the same cascade of half-bands as
//! [`CascadeInterpolator`](crate::filters::oversampling::CascadeInterpolator) (same designs,
//! same latency; 2x and 4x only), written to be inlined into the saturation's AVX2 chunk loop
//! (the interleaving and copies then run eight lanes wide too), and taking the `f64` input
//! directly.

use super::decimator::fir;
use crate::filters::oversampling::FirDesign;

/// Base-rate samples the interpolator takes at a time (the saturation's chunk).
const MAX_CHUNK: usize = 64;
/// Taps per phase of the 2x-to-4x stage (as `CASCADE_LATER_TAPS[0]` of the `f64` cascade).
const LATER_TAPS: usize = 12;

/// One 2x Nyquist (half-band) stage: phase 0 is a pure delay, only the odd phase is filtered.
#[derive(Debug, Clone)]
struct Halfband {
    /// Odd-phase taps, oldest first.
    coeffs: Vec<f32>,
    /// The input, oldest first: `T - 1` samples of history, then the chunk.
    input: Vec<f32>,
    /// The odd phase's outputs for the chunk.
    odd: Vec<f32>,
}

impl Halfband {
    fn new(design: FirDesign, max_chunk: usize) -> Self {
        let h = design.prototype();
        let t = design.taps_per_phase;
        let sum: f64 = (0..t).map(|j| h[2 * j + 1]).sum();
        Self {
            coeffs: (0..t).map(|i| (h[2 * (t - 1 - i) + 1] / sum) as f32).collect(),
            input: vec![0.0; t - 1 + max_chunk],
            odd: vec![0.0; max_chunk],
        }
    }

    /// Delay in samples of the stage's output rate.
    fn latency(&self) -> usize {
        self.coeffs.len()
    }

    /// Where the next chunk of `n` input samples goes.
    #[inline(always)]
    fn chunk(&mut self, n: usize) -> &mut [f32] {
        let h = self.coeffs.len() - 1;
        &mut self.input[h..h + n]
    }

    /// Interpolate the `n` samples written into [`Halfband::chunk`] to `out[..2n]`.
    #[inline(always)]
    fn process(&mut self, n: usize, out: &mut [f32]) {
        let t = self.coeffs.len();
        let odd = &mut self.odd[..n];
        fir(&self.coeffs, &self.input[..t - 1 + n], odd);
        // Phase 0: the input delayed by T/2 (sample k sits at index T - 1 + k).
        let delayed = &self.input[t / 2 - 1..t / 2 - 1 + n];
        for ((pair, &d), &o) in out[..2 * n].chunks_exact_mut(2).zip(delayed).zip(&*odd) {
            pair[0] = d;
            pair[1] = o;
        }
        self.input.copy_within(n..n + t - 1, 0);
    }

    /// [`Halfband::process`] with the outputs split: `even[..n]` gets the samples `2k`,
    /// `odd[..n]` the samples `2k + 1`.
    #[inline(always)]
    fn process_planar(&mut self, n: usize, even: &mut [f32], odd: &mut [f32]) {
        let t = self.coeffs.len();
        fir(&self.coeffs, &self.input[..t - 1 + n], &mut odd[..n]);
        even[..n].copy_from_slice(&self.input[t / 2 - 1..t / 2 - 1 + n]);
        self.input.copy_within(n..n + t - 1, 0);
    }

    fn reset(&mut self) {
        self.input.fill(0.0);
    }
}

/// 2x or 4x interpolation in `f32`; see the module docs.
#[derive(Debug, Clone)]
pub(super) struct Interpolator {
    /// The sharp base-to-2x stage.
    first: Halfband,
    /// 4x only: the 2x-to-4x stage.
    second: Option<Halfband>,
}

impl Interpolator {
    /// `factor` 2 or 4; the first stage has `first_taps` taps per phase and is flat to
    /// `passband` (fraction of the base rate; stopband `1 - passband`), as
    /// `CascadeInterpolator::new`.
    pub(super) fn new(factor: usize, first_taps: usize, passband: f64) -> Self {
        assert!(matches!(factor, 2 | 4), "saturation interpolator factor must be 2 or 4");
        let design = FirDesign::new(2, first_taps).with_band(passband, 1.0 - passband);
        let second = (factor == 4).then(|| {
            // Highest frequency the stage must pass, as a fraction of its input rate.
            let edge = (1.0 - passband) / 2.0;
            let design = FirDesign::new(2, LATER_TAPS).with_band(edge, 1.0 - edge);
            Halfband::new(design, 2 * MAX_CHUNK)
        });
        Self { first: Halfband::new(design, MAX_CHUNK), second }
    }

    /// Delay in base-rate samples.
    pub(super) fn latency(&self) -> usize {
        let first = self.first.latency() / 2;
        match &self.second {
            Some(s) => {
                debug_assert!(s.latency().is_multiple_of(4));
                first + s.latency() / 4
            }
            None => first,
        }
    }

    pub(super) fn reset(&mut self) {
        self.first.reset();
        if let Some(s) = &mut self.second {
            s.reset();
        }
    }

    /// Push `input` (at most 64 samples). Of the `factor` high-rate samples per input sample,
    /// taken in pairs of consecutive samples, `even` gets the pairs' first samples and `odd`
    /// their second (`factor / 2` of each per input sample, oldest first).
    #[inline(always)]
    pub(super) fn process_block_planar(&mut self, input: &[f64], even: &mut [f32], odd: &mut [f32]) {
        let n = input.len();
        assert!(n <= MAX_CHUNK);
        for (to, &x) in self.first.chunk(n).iter_mut().zip(input) {
            *to = x as f32;
        }
        match &mut self.second {
            Some(second) => {
                self.first.process(n, second.chunk(2 * n));
                second.process_planar(2 * n, even, odd);
            }
            None => self.first.process_planar(n, even, odd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::oversampling::CascadeInterpolator;
    use crate::test_noise::TestNoise;

    /// Same latency and, within `f32` rounding, the same output as the `f64` cascade, over
    /// chunks of awkward lengths.
    #[test]
    fn matches_the_f64_cascade() {
        for factor in [2, 4] {
            let mut ours = Interpolator::new(factor, 48, 0.45);
            let mut reference = CascadeInterpolator::<f64>::new(factor, 48, 0.45);
            assert_eq!(ours.latency(), reference.latency());
            let mut noise = TestNoise::new(0x0fed_cba9_8765_4321);
            let mut worst = 0.0f64;
            for len in [64, 1, 17, 64, 33, 64, 64, 5, 16, 64] {
                let input: Vec<f64> = (0..len).map(|_| noise.uniform()).collect();
                let mut y = vec![0.0f32; factor * len];
                let mut y_ref = vec![0.0f64; factor * len];
                let mut even = vec![0.0f32; factor / 2 * len];
                let mut odd = vec![0.0f32; factor / 2 * len];
                ours.process_block_planar(&input, &mut even, &mut odd);
                for ((pair, &e), &o) in y.chunks_exact_mut(2).zip(&even).zip(&odd) {
                    pair[0] = e;
                    pair[1] = o;
                }
                reference.process_block(&input, &mut y_ref);
                for (&a, &b) in y.iter().zip(&y_ref) {
                    worst = worst.max((a as f64 - b).abs());
                }
            }
            assert!(worst < 1e-6, "{factor}x: worst difference {worst:e}");
        }
    }
}
