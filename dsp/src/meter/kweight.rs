//! K-weighting (ITU-R BS.1770-4): a high shelf followed by the RLB high-pass, re-derived for
//! every sample rate from the analogue design (the published 48 kHz coefficients are only
//! valid at 48 kHz; using them at 44.1 kHz shifts both corners by 9 %).
//!
//! [`KWeightBank`] filters `N` independent channels ("lanes") in lock step. Every meter in
//! Lacquer (input, output and the per-stage taps) runs through one bank, so the recursion of
//! one lane hides the latency of another and the lane loop vectorises: this is what keeps the
//! whole metering path within its CPU budget.

use crate::filters::biquad::Coefs;

/// Shelf centre frequency, Hz (the analogue prototype behind the published coefficients).
pub const SHELF_F0: f64 = 1681.974450955533;
/// Shelf quality factor.
pub const SHELF_Q: f64 = 0.7071752369554196;
/// Shelf gain, dB.
pub const SHELF_GAIN_DB: f64 = 3.999843853973347;
/// Exponent that places the shelf's mid-band gain so that the bilinear design reproduces the
/// published 48 kHz coefficients to 1e-9 (the value libebur128 and the ITU's own derivation use).
const SHELF_VB_EXPONENT: f64 = 0.4996667741545416;
/// RLB high-pass corner, Hz.
pub const HIGHPASS_F0: f64 = 38.13547087602444;
/// RLB high-pass quality factor.
pub const HIGHPASS_Q: f64 = 0.5003270373238773;

/// The K-weighting shelf at `sample_rate` (bilinear transform of the analogue shelf).
pub fn shelf_coefs(sample_rate: f64) -> Coefs {
    let k = (std::f64::consts::PI * SHELF_F0 / sample_rate).tan();
    let vh = 10f64.powf(SHELF_GAIN_DB / 20.0);
    let vb = vh.powf(SHELF_VB_EXPONENT);
    let kq = k / SHELF_Q;
    let a0 = 1.0 + kq + k * k;
    Coefs::from_ba(
        [vh + vb * kq + k * k, 2.0 * (k * k - vh), vh - vb * kq + k * k],
        [a0, 2.0 * (k * k - 1.0), 1.0 - kq + k * k],
    )
}

/// The RLB high-pass at `sample_rate`. Its numerator is `[1, -2, 1]` un-normalised, exactly as
/// in BS.1770 (the pass-band gain is then a hair above unity, and that is part of the standard).
pub fn highpass_coefs(sample_rate: f64) -> Coefs {
    let k = (std::f64::consts::PI * HIGHPASS_F0 / sample_rate).tan();
    let kq = k / HIGHPASS_Q;
    let a0 = 1.0 + kq + k * k;
    Coefs { b0: 1.0, b1: -2.0, b2: 1.0, a1: 2.0 * (k * k - 1.0) / a0, a2: (1.0 - kq + k * k) / a0 }
}

/// K-weighting filters for `N` lanes, run in lock step (structure of arrays).
#[derive(Debug, Clone)]
pub struct KWeightBank<const N: usize> {
    shelf: Coefs,
    highpass: Coefs,
    /// Transposed-direct-form-II states: shelf s1, s2, high-pass s1, s2.
    state: [[f64; N]; 4],
}

impl<const N: usize> KWeightBank<N> {
    pub fn new(sample_rate: f64) -> Self {
        Self { shelf: shelf_coefs(sample_rate), highpass: highpass_coefs(sample_rate), state: [[0.0; N]; 4] }
    }

    pub fn reset(&mut self) {
        self.state = [[0.0; N]; 4];
    }

    /// Filter `frames` (one `[f64; N]` per sample, lane = channel), add each lane's sum of
    /// squared K-weighted samples to `energy` and raise `peak` to each lane's largest input
    /// magnitude (the sample peak comes for free while the samples are in registers).
    pub fn accumulate(&mut self, frames: &[[f64; N]], energy: &mut [f64; N], peak: &mut [f64; N]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { self.accumulate_avx512(frames, energy, peak) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { self.accumulate_avx2(frames, energy, peak) };
            return;
        }
        self.accumulate_impl::<false>(frames, energy, peak);
    }

    /// The same loop compiled for AVX-512: eight lanes per instruction, 32 registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn accumulate_avx512(&mut self, frames: &[[f64; N]], energy: &mut [f64; N], peak: &mut [f64; N]) {
        self.accumulate_impl::<true>(frames, energy, peak);
    }

    /// The same loop compiled for AVX2 with fused multiply-adds: four lanes per instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate_avx2(&mut self, frames: &[[f64; N]], energy: &mut [f64; N], peak: &mut [f64; N]) {
        self.accumulate_impl::<true>(frames, energy, peak);
    }

    /// All lanes advance together, one frame at a time: the lanes hide each other's recursion
    /// latency. With AVX-512 the whole state of 18 lanes fits in the 32 vector registers.
    #[inline(always)]
    fn accumulate_impl<const FMA: bool>(&mut self, frames: &[[f64; N]], energy: &mut [f64; N], peak: &mut [f64; N]) {
        #[inline(always)]
        fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
            if FMA {
                a.mul_add(b, c)
            } else {
                a * b + c
            }
        }
        let (sh, hp) = (self.shelf, self.highpass);
        let [mut s1, mut s2, mut t1, mut t2] = self.state;
        let mut acc = *energy;
        let mut pk = *peak;
        for x in frames {
            for i in 0..N {
                pk[i] = pk[i].max(x[i].abs());
                let y = madd::<FMA>(sh.b0, x[i], s1[i]);
                s1[i] = madd::<FMA>(-sh.a1, y, madd::<FMA>(sh.b1, x[i], s2[i]));
                s2[i] = madd::<FMA>(sh.b2, x[i], -sh.a2 * y);
                // High-pass numerator is [1, -2, 1].
                let z = y + t1[i];
                t1[i] = madd::<FMA>(-hp.a1, z, madd::<FMA>(-2.0, y, t2[i]));
                t2[i] = madd::<FMA>(-hp.a2, z, y);
                acc[i] = madd::<FMA>(z, z, acc[i]);
            }
        }
        self.state = [s1, s2, t1, t2];
        *energy = acc;
        *peak = pk;
    }
}
