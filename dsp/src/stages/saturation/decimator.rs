//! The saturation's decimator in `f32`: the same cascade of half-bands as
//! [`CascadeDecimator`](crate::filters::oversampling::CascadeDecimator) (same designs, same
//! latency; 2x and 4x only), run in `f32` like the rest of the distortion path, eight (AVX2)
//! lanes per instruction instead of four. Its output is the distortion only, so its rounding
//! (about 1e-7 of it) is far below anything the stage resolves.

use crate::filters::oversampling::FirDesign;

/// Base-rate samples the decimator takes at a time (the saturation's chunk).
const MAX_CHUNK: usize = 64;
/// Taps per phase of the 4x-to-2x stage (as `CASCADE_EARLY_DOWN_TAPS[0]` of the `f64`
/// cascade: > 75 dB, and a delay that is a whole number of base-rate samples).
const EARLY_TAPS: usize = 10;

/// One 2x Nyquist (half-band) stage: the pairs' second samples go through a filter of `T`
/// taps, the first samples only meet the centre tap.
#[derive(Debug, Clone)]
struct Halfband {
    /// Taps on the pairs' second samples, oldest first.
    coeffs: Vec<f32>,
    centre: f32,
    /// The pairs' second samples, oldest first: `T - 1` of history, then the chunk.
    second: Vec<f32>,
    /// The pairs' first samples, oldest first: `T/2 - 1` of history, then the chunk.
    first: Vec<f32>,
}

impl Halfband {
    fn new(design: FirDesign, max_chunk: usize) -> Self {
        let h = design.prototype();
        let t = design.taps_per_phase;
        let sum: f64 = h[1..].iter().sum();
        Self {
            coeffs: (0..t).map(|i| (h[2 * (t - 1 - i) + 1] / sum) as f32).collect(),
            centre: (h[t] / sum) as f32,
            second: vec![0.0; t - 1 + max_chunk],
            first: vec![0.0; t / 2 - 1 + max_chunk],
        }
    }

    /// Delay in samples of the stage's output rate.
    fn latency(&self) -> usize {
        self.coeffs.len() / 2 - 1
    }

    /// Where the next `n` pairs go: their first samples, and their second samples.
    #[inline(always)]
    fn planes(&mut self, n: usize) -> (&mut [f32], &mut [f32]) {
        let t = self.coeffs.len();
        let (h_second, h_first) = (t - 1, t / 2 - 1);
        (&mut self.first[h_first..h_first + n], &mut self.second[h_second..h_second + n])
    }

    /// Decimate `2 · out.len()` samples of `input` (oldest first) into `out`.
    #[inline(always)]
    fn process(&mut self, input: &[f32], out: &mut [f32]) {
        let n = out.len();
        let (first, second) = self.planes(n);
        for ((pair, s), f) in input[..2 * n].chunks_exact(2).zip(second).zip(first) {
            *f = pair[0];
            *s = pair[1];
        }
        self.filter(out);
    }

    /// Decimate the `out.len()` pairs written into [`Halfband::planes`] into `out`.
    #[inline(always)]
    fn filter(&mut self, out: &mut [f32]) {
        let n = out.len();
        let t = self.coeffs.len();
        let (h_second, h_first) = (t - 1, t / 2 - 1);
        fir(&self.coeffs, &self.second[..h_second + n], out);
        for (y, &f) in out.iter_mut().zip(&self.first[..n]) {
            *y += self.centre * f;
        }
        self.second.copy_within(n..n + h_second, 0);
        self.first.copy_within(n..n + h_first, 0);
    }

    fn reset(&mut self) {
        self.second.fill(0.0);
        self.first.fill(0.0);
    }
}

/// `y[n] = Σ_i c[i] · x[n + i]`, vectorised across outputs (each coefficient broadcast once
/// into a run of consecutive outputs); with AVX2 + FMA, chosen at run time.
pub(super) fn fir(c: &[f32], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { fir_avx512(c, x, y) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { fir_avx2_fma(c, x, y) };
        return;
    }
    fir_kernel::<false>(c, x, y);
}

/// AVX-512: a run of outputs is two registers instead of four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn fir_avx512(c: &[f32], x: &[f32], y: &mut [f32]) {
    fir_kernel::<true>(c, x, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fir_avx2_fma(c: &[f32], x: &[f32], y: &mut [f32]) {
    fir_kernel::<true>(c, x, y);
}

/// The body of [`fir`]: [`RUN`] outputs at a time, even and odd taps in separate accumulators
/// (half as long a chain of dependent adds). Leftover outputs one by one.
#[inline(always)]
fn fir_kernel<const FMA: bool>(c: &[f32], x: &[f32], y: &mut [f32]) {
    #[inline(always)]
    fn mac<const FMA: bool>(acc: f32, c: f32, x: f32) -> f32 {
        if FMA {
            c.mul_add(x, acc)
        } else {
            acc + c * x
        }
    }
    let t = c.len();
    assert!(t.is_multiple_of(2) && x.len() + 1 >= y.len() + t);
    let mut runs = y.chunks_exact_mut(RUN);
    let mut start = 0;
    for run in &mut runs {
        let mut even = [0.0f32; RUN];
        let mut odd = [0.0f32; RUN];
        let xw = &x[start..start + t + RUN - 1];
        for (i, pair) in c.chunks_exact(2).enumerate() {
            let x0: &[f32; RUN] = xw[2 * i..2 * i + RUN].try_into().unwrap();
            let x1: &[f32; RUN] = xw[2 * i + 1..2 * i + 1 + RUN].try_into().unwrap();
            for k in 0..RUN {
                even[k] = mac::<FMA>(even[k], pair[0], x0[k]);
                odd[k] = mac::<FMA>(odd[k], pair[1], x1[k]);
            }
        }
        for k in 0..RUN {
            run[k] = even[k] + odd[k];
        }
        start += RUN;
    }
    for (k, out) in runs.into_remainder().iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for (&c, &x) in c.iter().zip(&x[start + k..]) {
            acc = mac::<FMA>(acc, c, x);
        }
        *out = acc;
    }
}

/// Outputs per run of [`fir_kernel`]: four AVX2 registers (eight accumulators in all).
const RUN: usize = 32;

/// 2x or 4x decimation in `f32`; see the module docs.
#[derive(Debug, Clone)]
pub(super) struct Decimator {
    /// 4x only: the 4x-to-2x stage, and its output.
    early: Option<(Halfband, Vec<f32>)>,
    /// The sharp 2x-to-1x stage.
    last: Halfband,
    factor: usize,
}

impl Decimator {
    /// `factor` 2 or 4; the last stage has `last_taps` taps per phase and is flat to
    /// `passband` (fraction of the base rate; stopband `1 - passband`), as
    /// `CascadeDecimator::new`.
    pub(super) fn new(factor: usize, last_taps: usize, passband: f64) -> Self {
        assert!(matches!(factor, 2 | 4), "saturation decimator factor must be 2 or 4");
        let early = (factor == 4).then(|| {
            // Output rate 2x: the band to keep is passband / 2 of it.
            let edge = passband / 2.0;
            let design = FirDesign::new(2, EARLY_TAPS).with_band(edge, 1.0 - edge);
            (Halfband::new(design, 2 * MAX_CHUNK), vec![0.0; 2 * MAX_CHUNK])
        });
        let design = FirDesign::new(2, last_taps).with_band(passband, 1.0 - passband);
        Self { early, last: Halfband::new(design, MAX_CHUNK), factor }
    }

    /// Delay in base-rate samples.
    pub(super) fn latency(&self) -> usize {
        let early = self.early.as_ref().map_or(0, |(e, _)| e.latency());
        debug_assert!(early.is_multiple_of(2));
        self.last.latency() + early / 2
    }

    pub(super) fn reset(&mut self) {
        if let Some((e, _)) = &mut self.early {
            e.reset();
        }
        self.last.reset();
    }

    /// Where the next `factor · n / 2` high-rate sample pairs go, split into the pairs' first
    /// samples and their second samples (for a caller that produces them so, and shapes them
    /// in place: no interleaving); then [`Decimator::process_planes`].
    #[inline(always)]
    pub(super) fn planes(&mut self, n: usize) -> (&mut [f32], &mut [f32]) {
        assert!(n <= MAX_CHUNK);
        let pairs = self.factor / 2 * n;
        match &mut self.early {
            Some((early, _)) => early.planes(pairs),
            None => self.last.planes(pairs),
        }
    }

    /// Decimate the samples written into [`Decimator::planes`] into `out` (`out.len() = n`).
    #[inline(always)]
    pub(super) fn process_planes(&mut self, out: &mut [f32]) {
        let n = out.len();
        assert!(n <= MAX_CHUNK);
        match &mut self.early {
            Some((early, between)) => {
                let between = &mut between[..2 * n];
                early.filter(between);
                self.last.process(between, out);
            }
            None => self.last.filter(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::oversampling::CascadeDecimator;
    use crate::test_noise::TestNoise;

    /// Same latency and, within `f32` rounding, the same output as the `f64` cascade, over
    /// chunks of awkward lengths.
    #[test]
    fn matches_the_f64_cascade() {
        for factor in [2, 4] {
            let mut ours = Decimator::new(factor, 48, 0.45);
            let mut reference = CascadeDecimator::new(factor, 48, 0.45);
            assert_eq!(ours.latency(), reference.latency());
            let mut noise = TestNoise::new(0x1234_5678_9abc_def1);
            let mut worst = 0.0f64;
            for len in [64, 1, 17, 64, 33, 64, 64, 5, 16, 64] {
                let input: Vec<f64> = (0..factor * len).map(|_| noise.uniform()).collect();
                let input32: Vec<f32> = input.iter().map(|&v| v as f32).collect();
                let mut y = vec![0.0f32; len];
                let mut y_ref = vec![0.0f64; len];
                let (first, second) = ours.planes(len);
                for ((pair, f), s) in input32.chunks_exact(2).zip(first).zip(second) {
                    *f = pair[0];
                    *s = pair[1];
                }
                ours.process_planes(&mut y);
                reference.process_block(&input, &mut y_ref);
                for (&a, &b) in y.iter().zip(&y_ref) {
                    worst = worst.max((a as f64 - b).abs());
                }
            }
            assert!(worst < 1e-6, "{factor}x: worst difference {worst:e}");
        }
    }
}
