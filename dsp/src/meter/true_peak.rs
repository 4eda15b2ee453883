//! True peak (ITU-R BS.1770 Annex 2): the largest magnitude of the signal interpolated between
//! its samples, by polyphase oversampling.
//!
//! Oversampling factor by sample rate (our choice, see [`oversampling_factor`]):
//! - below 88.2 kHz: 4x (the standard's figure; a sine at 0.45 fs under-reads by <= 0.55 dB);
//! - 88.2 and 96 kHz: 4x (rather than the common 2x, which under-reads a 20 kHz tone at 96 kHz
//!   by up to 0.13 dB and anything near 0.25 fs by up to 0.7 dB);
//! - 176.4 kHz and above: 2x. Not 1x: the Tech 3341 true-peak cases are defined per sample
//!   (a tone at fs/4 with a 45 degree phase), and 1x under-reads them by 3 dB at any rate.
//!
//! The interpolator is the shared Kaiser-windowed-sinc design of
//! [`crate::filters::oversampling`] (a Nyquist filter: every `factor`-th tap is zero except the
//! centre one), so phase 0 is the input sample itself, only `factor - 1` branches are computed,
//! and a true-peak reading is never below the sample peak. The branches are evaluated here
//! rather than through [`PolyphaseInterpolator`](crate::filters::oversampling::PolyphaseInterpolator)
//! because a meter runs several channels ("lanes") in lock step: the dot products then vectorise
//! across lanes, which is what the metering CPU budget needs.

use crate::filters::oversampling::FirDesign;

/// Taps per polyphase branch. The centre of the window is half of it, so the reading lags the
/// input by `TAPS_PER_PHASE / 2` samples, which a meter never notices.
pub const TAPS_PER_PHASE: usize = 16;
/// Passband edge of the interpolator, fraction of the base rate. Narrower than the shared
/// default (0.45) because a meter needs a flat passband more than a wide one: with 16 taps per
/// phase the default design ripples by about 0.2 dB, this one by a few hundredths.
const PASSBAND: f64 = 0.40;
/// Stopband edge: the mirror of the passband about fs/2, so the filter stays a Nyquist filter.
const STOPBAND: f64 = 1.0 - PASSBAND;

/// Oversampling factor used at `sample_rate`.
pub fn oversampling_factor(sample_rate: f64) -> usize {
    if sample_rate < 176_000.0 {
        4
    } else {
        2
    }
}

/// The most branches computed per sample (4x: branches 1, 2, 3).
const MAX_BRANCHES: usize = 3;

/// Branches 1..factor of the shared interpolator design, tap-major (`[slot][branch]`), window
/// slot 0 being the oldest sample; each branch normalised to unity DC gain.
fn design(factor: usize) -> [[f64; MAX_BRANCHES]; TAPS_PER_PHASE] {
    let h = FirDesign::new(factor, TAPS_PER_PHASE).with_band(PASSBAND, STOPBAND).prototype();
    let mut taps = [[0.0; MAX_BRANCHES]; TAPS_PER_PHASE];
    for p in 1..factor {
        // Branch p weights x[k - j] by h[j L + p]; window slot i holds x[k - (T - 1 - i)].
        let sum: f64 = (0..TAPS_PER_PHASE).map(|j| h[j * factor + p]).sum();
        for (i, slot) in taps.iter_mut().enumerate() {
            slot[p - 1] = h[(TAPS_PER_PHASE - 1 - i) * factor + p] / sum;
        }
    }
    taps
}

/// True-peak detector for `N` lanes.
#[derive(Debug, Clone)]
pub struct TruePeak<const N: usize> {
    factor: usize,
    /// Branches 1..factor (branch 0 is the sample itself), tap-major.
    taps: [[f64; MAX_BRANCHES]; TAPS_PER_PHASE],
    /// The last `TAPS_PER_PHASE` inputs, stored twice so every window is one contiguous slice.
    history: Vec<[f64; N]>,
    pos: usize,
}

impl<const N: usize> TruePeak<N> {
    /// Allocates; call from `prepare`.
    pub fn new(sample_rate: f64) -> Self {
        let factor = oversampling_factor(sample_rate);
        Self { factor, taps: design(factor), history: vec![[0.0; N]; 2 * TAPS_PER_PHASE], pos: 0 }
    }

    /// Oversampling factor in use.
    pub fn factor(&self) -> usize {
        self.factor
    }

    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| *h = [0.0; N]);
        self.pos = 0;
    }

    /// Run `frames` through the interpolator and raise each lane of `peak` (linear magnitude)
    /// to the largest interpolated magnitude seen.
    pub fn process(&mut self, frames: &[[f64; N]], peak: &mut [f64; N]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { self.process_avx512(frames, peak) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { self.process_avx2(frames, peak) };
            return;
        }
        self.dispatch::<false>(frames, peak);
    }

    /// AVX-512: twice the registers, so the window and all accumulators stay in them.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn process_avx512(&mut self, frames: &[[f64; N]], peak: &mut [f64; N]) {
        self.dispatch::<true>(frames, peak);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2(&mut self, frames: &[[f64; N]], peak: &mut [f64; N]) {
        self.dispatch::<true>(frames, peak);
    }

    #[inline(always)]
    fn dispatch<const FMA: bool>(&mut self, frames: &[[f64; N]], peak: &mut [f64; N]) {
        if self.factor == 4 {
            self.process_impl::<FMA, 3>(frames, peak)
        } else {
            self.process_impl::<FMA, 1>(frames, peak)
        }
    }

    /// Append one frame to the double-buffered history.
    #[inline(always)]
    fn push(&mut self, frame: &[f64; N]) {
        self.history[self.pos] = *frame;
        self.history[self.pos + TAPS_PER_PHASE] = *frame;
        self.pos = (self.pos + 1) % TAPS_PER_PHASE;
    }

    /// `B` = branches computed (factor - 1). Tap-major: each window sample is loaded once and
    /// multiplied into all branches while the accumulators stay in registers. (Evaluating two
    /// frames per step to share the coefficient loads was tried and was slower: it spills.)
    #[inline(always)]
    fn process_impl<const FMA: bool, const B: usize>(&mut self, frames: &[[f64; N]], peak: &mut [f64; N]) {
        let taps = self.taps;
        let mut pk = *peak;
        for frame in frames {
            self.push(frame);
            let window: &[[f64; N]; TAPS_PER_PHASE] =
                self.history[self.pos..self.pos + TAPS_PER_PHASE].try_into().expect("window length");
            // Branch 0 of the Nyquist filter is x[j - T/2] itself.
            let centre = &window[TAPS_PER_PHASE / 2 - 1];
            for i in 0..N {
                pk[i] = pk[i].max(centre[i].abs());
            }
            let mut acc = [[0.0; N]; B];
            for (slot, x) in taps.iter().zip(window) {
                for b in 0..B {
                    for i in 0..N {
                        acc[b][i] = if FMA { slot[b].mul_add(x[i], acc[b][i]) } else { slot[b] * x[i] + acc[b][i] };
                    }
                }
            }
            for a in &acc {
                for i in 0..N {
                    pk[i] = pk[i].max(a[i].abs());
                }
            }
        }
        *peak = pk;
    }
}
