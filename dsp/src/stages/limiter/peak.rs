//! True-peak estimation for the limiter: polyphase interpolation plus three-point fits (a
//! sinusoid and a parabola) around the largest interpolated sample.
//!
//! Taking the largest of `L` interpolated samples under-reads a peak that falls between them
//! (by up to 0.55 dB at 4x for content at 0.45 fs). Around a local maximum `b` with
//! neighbours `a` and `c`, a sinusoid through the three points has amplitude
//! `sqrt(b² + ((c - a) / (2 sin d))²)` with `cos d = (a + c) / (2b)`; this is exact for any
//! sinusoid, whatever its frequency and phase, and a close bound for band-limited programme
//! near a peak. `d` is clamped to the range that band-limited content can produce, so the fit
//! cannot run away on odd shapes. A sinusoid riding on an offset (the ringing on the plateau
//! after a step) breaks that model, so the parabola's vertex, which ignores offsets, is also
//! taken and the larger of the two estimates wins (at 4x the parabola alone leaves at most
//! 0.8 % of a Nyquist-rate ripple's amplitude unseen).
//!
//! **Precision.** The interpolation runs in `f32` (eight lanes per AVX2 vector instead of
//! four: the filters are most of the estimator's arithmetic), the fits in `f64`. The rounding
//! is bounded, not estimated: [`CascadeInterpolator::rounding_bound`] proves that every
//! interpolated sample is within `δ·S` of the exact one (`S` = the largest input magnitude the
//! sample depends on; `δ` about 1.2e-5 at 4x), and a fit moves by at most
//! [`fit_sensitivity`] times the largest move of its three points, so every estimate is
//! within [`PeakEstimator::error_bound`]` · S` (about 4e-5 · S, 0.0004 dB at `S` = the peak)
//! of the estimate the same design gives in exact arithmetic. The limiter adds that bound to
//! what its guard reads (see `limiter.rs`).

use crate::filters::oversampling::CascadeInterpolator;
use std::f64::consts::PI;

/// The smallest phase step assumed by the fit, as a fraction of the largest (`π / L`, content
/// at half the base rate). Below it the fit uses this step, which can only under-read a
/// slow peak by `1 - cos(π / (32 L))` (0.006 dB at 4x).
const MIN_STEP_FRACTION: f64 = 1.0 / 16.0;

/// Base-rate samples estimated per call of the interpolator (bounds the scratch buffer).
const CHUNK: usize = 128;

/// How far a fit can move, per unit move of each of its three points (a Lipschitz bound),
/// for factor `L`. With `m = |b|`, slope `s = c - a`, `σ = a + c` (after the sign flip) and
/// `|a|, |c| <= m`, so `|s| <= 2m - σ`: the sinusoid's amplitude has `|∂/∂m| <= 5/4`,
/// `|∂/∂σ| <= 1/8` and `|∂/∂s| <= max(1/2, 1 / (2 sin(π/L)))` (the last where the clamp of
/// `cos d` at `cos(π/L)` holds), and `σ`, `s` move by up to twice a point's move; the
/// parabola's vertex has `|∂/∂m| = 1`, `|∂/∂s| <= 1/4`, `|∂/∂curvature| <= 1/8`. Both stay
/// under `2 + 1 / sin(π/L)`. (A move that changes which sample is the largest or whether it
/// is a local maximum is not covered: that is the same as the exact estimator reading a
/// signal changed by as little.)
fn fit_sensitivity(factor: usize) -> f64 {
    2.0 + 1.0 / (PI / factor as f64).sin()
}

/// Per-channel true-peak estimator.
#[derive(Debug, Clone)]
pub struct PeakEstimator {
    interp: CascadeInterpolator<f32>,
    factor: usize,
    /// The high-rate samples of the current chunk, phase by phase: phase `j` of step `k` at
    /// `phases[j · STRIDE + 1 + k]`; index 0 of every phase holds the previous chunk's last
    /// step, so each step's window (the previous step's last sample, its own first `L - 1`,
    /// one neighbour either side) is complete. Planar, so the search runs across steps in
    /// vector lanes.
    phases: Vec<f32>,
    /// Clamp range of `cos d` (see the module docs).
    cos_min: f64,
    cos_max: f64,
    /// See [`PeakEstimator::error_bound`].
    error_bound: f64,
    /// [`fit_gain_bound`] for the factor, rounded up.
    fit_gain: f64,
    /// `2 cos(π/L)`, padded up by 1e-6 and rounded up to `f32`: a step whose neighbours'
    /// sum (after the sign flip) is at least this times its magnitude is not clamped from
    /// below by the fit, which then gains at most [`SMOOTH_FIT_GAIN`].
    smooth_sum: f32,
    /// Fits in `f32` where the vector search runs ([`PeakEstimator::with_f32_fits`]): no
    /// proven bound, for a caller that needs none.
    f32_fits: bool,
}

/// The magnitudes between which [`PeakEstimator::refine_avx2_f32`] may fit a group: its
/// largest product is of the order of `m⁵` and its smallest divisor of `m³ · 2⁻³⁵` (see
/// there), both well inside `f32`'s normal range for `2⁻²⁰ <= m <= 2²⁰` (-120 to +120 dBFS).
/// Groups with a magnitude outside take the `f64` fits.
const F32_FIT_MIN: f32 = 1.0 / (1u32 << 20) as f32;
const F32_FIT_MAX: f32 = (1u32 << 20) as f32;

/// The largest factor by which a fit can exceed the magnitude `m` of its centre when the sum
/// `σ` of its neighbours (after the sign flip) is at least `2m cos(π/L)`, i.e. not clamped from
/// below: the sinusoid's `slope² / (4m² - σ²)` is then at most `(2m - σ) / (2m + σ) <= 1` (see
/// [`fit_gain_bound`]), so the sinusoid is at most `sqrt(2) m` and the parabola's vertex
/// `1.5 m`. Band-limited content around a peak is smooth at the high rate, so this is the
/// usual case, and it holds whatever the factor (the general bound grows with it: 1.73 at
/// 4x, 5.1 at 16x). Padded as [`fit_gain_bound`].
const SMOOTH_FIT_GAIN: f64 = 1.5 * (1.0 + 1e-9);

/// The levels under which a group of steps may skip its fits (see
/// [`PeakEstimator::push_block`]): any step, and steps with smooth neighbours.
#[derive(Debug, Clone, Copy)]
struct Limits {
    any: f32,
    smooth: f32,
}

/// The largest `f32` at most `x`.
fn f32_below(x: f64) -> f32 {
    let m = x as f32;
    if m as f64 > x {
        m.next_down()
    } else {
        m
    }
}

/// The largest factor by which a fit can exceed the magnitude of its centre (the largest
/// sample of a step), for factor `L`: `sqrt(1 + 1/sin²(π/L))`. With `|a|, |c| <= m` (a local
/// maximum; otherwise the estimate is `m`) and `σ = a + c` after the sign flip,
/// `|c - a| <= 2m - σ`; where the clamp raises `σ` to `2m cos(π/L)` the sinusoid's
/// `slope² / (4m² - σ²)` is at most `4m² / (4m² sin²(π/L))`, elsewhere at most
/// `(2m - σ) / (2m + σ) <= 1`; the parabola's vertex is at most `1.5 m` (`slope² <=
/// curvature · 4m`). Padded by 1e-9 (relative) so that the rounding of the computed fits, of
/// the order of 1e-13, stays inside.
fn fit_gain_bound(factor: usize) -> f64 {
    let s = (PI / factor as f64).sin();
    (1.0 + 1.0 / (s * s)).sqrt() * (1.0 + 1e-9)
}

/// Length of one phase in [`PeakEstimator::phases`]: the carried step, a chunk, and padding to
/// a whole number of vector groups (the search reads whole groups; what it computes past the
/// chunk is discarded).
const STRIDE: usize = CHUNK + 1 + GROUP;

/// Steps searched together (`f32` vector lanes; the fits then take two `f64` vectors).
const GROUP: usize = 8;

impl PeakEstimator {
    /// `factor`x detection whose first 2x stage has `first_taps` taps per phase and is flat to
    /// `passband` (fraction of the sample rate; see [`CascadeInterpolator`]).
    pub fn new(factor: usize, first_taps: usize, passband: f64) -> Self {
        assert!(matches!(factor, 4 | 8 | 16), "peak detection is 4x, 8x or 16x");
        let step = PI / factor as f64;
        let interp = CascadeInterpolator::new(factor, first_taps, passband);
        Self {
            error_bound: interp.rounding_bound() * fit_sensitivity(factor),
            fit_gain: fit_gain_bound(factor),
            smooth_sum: {
                let v = 2.0 * step.cos() * (1.0 + 1e-6);
                let m = v as f32;
                if (m as f64) < v {
                    m.next_up()
                } else {
                    m
                }
            },
            interp,
            factor,
            phases: vec![0.0; factor * STRIDE],
            cos_min: step.cos(),
            cos_max: (step * MIN_STEP_FRACTION).cos(),
            f32_fits: false,
        }
    }

    /// The same estimator with its fits in `f32` (eight lanes a vector instead of four, and
    /// `f32` divisions and square roots, several times cheaper) where the vector search runs.
    /// The fits then lose the proven bound of [`PeakEstimator::error_bound`]: they are within
    /// 2e-5 (relative) of the `f64` ones on programme and random shapes (tested; 2.7e-6 seen;
    /// see [`PeakEstimator::refine_avx2_f32`]), which the main limiter's margin takes easily,
    /// while the guard, whose readings carry the ceiling's promise, keeps the `f64` fits.
    pub fn with_f32_fits(mut self) -> Self {
        self.f32_fits = true;
        self
    }

    /// Every estimate is within this times `S` of the estimate of the same design in exact
    /// arithmetic, where `S` is the largest input magnitude within the interpolator's reach
    /// (see the module docs).
    pub fn error_bound(&self) -> f64 {
        debug_assert!(!self.f32_fits, "an estimator with f32 fits has no proven bound");
        self.error_bound
    }

    /// Delay of the estimate in base-rate samples.
    pub fn latency(&self) -> usize {
        self.interp.latency()
    }

    pub fn reset(&mut self) {
        self.interp.reset();
        self.phases.fill(0.0);
    }

    /// Push `x.len()` samples; `peaks[k]` is the estimated true peak (magnitude) of the signal
    /// around the base-rate sample [`PeakEstimator::latency`] steps before `x[k]` (the span
    /// from the previous step's last interpolated sample to this step's second to last).
    ///
    /// Only estimates above `floor` are needed: an estimate that is provably at most `floor`
    /// may be written as any value at most `floor` (the step's largest sample). Whole groups
    /// of steps whose largest samples times [`fit_gain_bound`] (or [`SMOOTH_FIT_GAIN`] for a
    /// step with smooth neighbours) stay under `floor` skip the fits (their divisions and
    /// square roots). `0` asks for every estimate exactly. (The limiter's floors are near its
    /// ceiling, far above where the `f32` products of these tests could underflow.)
    #[inline(always)]
    pub fn push_block(&mut self, x: &[f64], peaks: &mut [f64], floor: f64) {
        // The largest `f32` `m` with `m · gain <= floor` (negative: never skip).
        let limit = Limits { any: f32_below(floor / self.fit_gain), smooth: f32_below(floor / SMOOTH_FIT_GAIN) };
        match self.factor {
            4 => self.push_block_with::<4>(x, peaks, limit),
            8 => self.push_block_with::<8>(x, peaks, limit),
            16 => self.push_block_with::<16>(x, peaks, limit),
            _ => unreachable!("checked in `new`"),
        }
    }

    /// [`PeakEstimator::push_block`] for factor `L` (a constant, so the loops over the phases
    /// unroll).
    #[inline(always)]
    fn push_block_with<const L: usize>(&mut self, x: &[f64], peaks: &mut [f64], limit: Limits) {
        for (x, peaks) in x.chunks(CHUNK).zip(peaks.chunks_mut(CHUNK)) {
            let n = x.len();
            self.interp.process_chunk_planar::<L>(x, &mut self.phases[1..], STRIDE);
            self.search_and_fit::<L>(n, peaks, limit);
            for phase in self.phases.chunks_exact_mut(STRIDE) {
                phase[0] = phase[n];
            }
        }
    }

    /// The search and the fits of a chunk (see [`PeakEstimator::search_and_fit_scalar`]):
    /// with AVX2 (detected at run time; the build targets baseline x86-64) four steps at a
    /// time, with the same operations in the same order, so the result is the same to the bit.
    #[inline(always)]
    fn search_and_fit<const L: usize>(&self, n: usize, peaks: &mut [f64], limit: Limits) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports the feature the function is compiled for (checked
            // above).
            unsafe {
                if self.f32_fits {
                    self.search_and_fit_avx2::<L, true>(n, peaks, limit)
                } else {
                    self.search_and_fit_avx2::<L, false>(n, peaks, limit)
                }
            };
            return;
        }
        self.search_and_fit_scalar::<L>(n, peaks, limit);
    }

    /// For each step `k < n` of the chunk in [`PeakEstimator::phases`]: find the largest
    /// magnitude among its `L` centres (the previous step's last sample, then its own first
    /// `L - 1`; the first largest wins), take it and its two neighbours, and write the fit
    /// through them to `peaks[k]`. A group of [`GROUP`] steps whose largest magnitudes are all
    /// at most `limit` writes those magnitudes instead (no fit can then exceed the caller's
    /// floor, see [`PeakEstimator::push_block`]); the steps computed past `n` count in the
    /// group, which only makes skipping rarer.
    fn search_and_fit_scalar<const L: usize>(&self, n: usize, peaks: &mut [f64], limit: Limits) {
        let p: [&[f32]; L] = std::array::from_fn(|j| &self.phases[j * STRIDE..(j + 1) * STRIDE]);
        for (g, out) in peaks[..n].chunks_mut(GROUP).enumerate() {
            let k0 = g * GROUP;
            // Lane `i` is step `k0 + i`: its previous step is at index k0 + i, its own at
            // k0 + i + 1.
            let prev = |j: usize| -> [f32; GROUP] { p[j][k0..k0 + GROUP].try_into().unwrap() };
            let own = |j: usize| -> [f32; GROUP] { p[j][k0 + 1..k0 + 1 + GROUP].try_into().unwrap() };
            // Centre 0: the previous step's last sample.
            let mut a = prev(L - 2);
            let mut b = prev(L - 1);
            let mut c = own(0);
            let mut best = b.map(f32::abs);
            for j in 0..L - 1 {
                let left = if j == 0 { prev(L - 1) } else { own(j - 1) };
                let centre = own(j);
                let right = own(j + 1);
                for i in 0..GROUP {
                    let m = centre[i].abs();
                    let take = m > best[i];
                    best[i] = if take { m } else { best[i] };
                    a[i] = if take { left[i] } else { a[i] };
                    b[i] = if take { centre[i] } else { b[i] };
                    c[i] = if take { right[i] } else { c[i] };
                }
            }
            let quiet = |i: usize| {
                // The neighbours with the sign of the centre taken off (a bit operation, as
                // in the vector version), their sum against `smooth_sum` times the magnitude.
                let flip = b[i].to_bits() & 0x8000_0000;
                let sum = f32::from_bits(a[i].to_bits() ^ flip) + f32::from_bits(c[i].to_bits() ^ flip);
                let smooth = sum >= best[i] * self.smooth_sum;
                best[i] <= if smooth { limit.smooth } else { limit.any }
            };
            if (0..GROUP).all(quiet) {
                for (out, &m) in out.iter_mut().zip(&best) {
                    *out = m.into();
                }
                continue;
            }
            for (i, out) in out.iter_mut().enumerate() {
                *out = self.refine(a[i].into(), b[i].into(), c[i].into());
            }
        }
    }

    /// [`PeakEstimator::search_and_fit_scalar`] on eight steps per vector (four per `f64`
    /// vector for the fits): the comparisons become masks and the choices blends, so no
    /// branch depends on the audio. With `F32_FITS` a group whose magnitudes lie within
    /// [`F32_FIT_MIN`]`..=`[`F32_FIT_MAX`] is fitted in `f32` instead
    /// ([`PeakEstimator::refine_avx2_f32`]); otherwise the result is the scalar one to the bit.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn search_and_fit_avx2<const L: usize, const F32_FITS: bool>(
        &self,
        n: usize,
        peaks: &mut [f64],
        limit: Limits,
    ) {
        use std::arch::x86_64::*;
        let base = self.phases.as_ptr();
        assert!(self.phases.len() >= L * STRIDE && peaks.len() >= n);
        // `abs` and the sign flip of `refine` are bit operations on the sign.
        let sign = _mm256_set1_ps(-0.0);
        let (limit_any, limit_smooth) = (_mm256_set1_ps(limit.any), _mm256_set1_ps(limit.smooth));
        let smooth_sum = _mm256_set1_ps(self.smooth_sum);
        for k0 in (0..n).step_by(GROUP) {
            // SAFETY: phase j's values k0 ..= k0 + GROUP lie within its STRIDE (k0 < CHUNK).
            macro_rules! load {
                ($j:expr, $at:expr) => {
                    unsafe { _mm256_loadu_ps(base.add($j * STRIDE + $at)) }
                };
            }
            let prev_last = load!(L - 1, k0);
            let mut a = load!(L - 2, k0);
            let mut b = prev_last;
            let mut left = prev_last;
            let mut centre = load!(0, k0 + 1);
            let mut c = centre;
            let mut best = _mm256_andnot_ps(sign, b);
            for j in 0..L - 1 {
                let right = load!(j + 1, k0 + 1);
                let m = _mm256_andnot_ps(sign, centre);
                let take = _mm256_cmp_ps::<_CMP_GT_OQ>(m, best);
                best = _mm256_blendv_ps(best, m, take);
                a = _mm256_blendv_ps(a, left, take);
                b = _mm256_blendv_ps(b, centre, take);
                c = _mm256_blendv_ps(c, right, take);
                left = centre;
                centre = right;
            }
            let low = |v: __m256| _mm256_cvtps_pd(_mm256_castps256_ps128(v));
            let high = |v: __m256| _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v));
            // All eight at most `limit` (false for a NaN): the magnitudes stand in for the fits.
            let flip = _mm256_and_ps(sign, b);
            let sum = _mm256_add_ps(_mm256_xor_ps(a, flip), _mm256_xor_ps(c, flip));
            let smooth = _mm256_cmp_ps::<_CMP_GE_OQ>(sum, _mm256_mul_ps(best, smooth_sum));
            let limit = _mm256_blendv_ps(limit_any, limit_smooth, smooth);
            let quiet = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(best, limit)) == 0xff;
            let in_f32_range = || {
                let above = _mm256_cmp_ps::<_CMP_GE_OQ>(best, _mm256_set1_ps(F32_FIT_MIN));
                let below = _mm256_cmp_ps::<_CMP_LE_OQ>(best, _mm256_set1_ps(F32_FIT_MAX));
                _mm256_movemask_ps(_mm256_and_ps(above, below)) == 0xff
            };
            let fits = if quiet {
                [low(best), high(best)]
            } else if F32_FITS && in_f32_range() {
                let fit = self.refine_avx2_f32(a, b, c);
                [low(fit), high(fit)]
            } else {
                [self.refine_avx2(low(a), low(b), low(c)), self.refine_avx2(high(a), high(b), high(c))]
            };
            if n - k0 >= GROUP {
                _mm256_storeu_pd(peaks.as_mut_ptr().add(k0), fits[0]);
                _mm256_storeu_pd(peaks.as_mut_ptr().add(k0 + GROUP / 2), fits[1]);
            } else {
                let mut out = [0.0f64; GROUP];
                _mm256_storeu_pd(out.as_mut_ptr(), fits[0]);
                _mm256_storeu_pd(out.as_mut_ptr().add(GROUP / 2), fits[1]);
                for (p, &v) in peaks[k0..n].iter_mut().zip(&out) {
                    *p = v;
                }
            }
        }
    }

    /// [`PeakEstimator::refine`] on four points at a time, with the same operations in the
    /// same order.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn refine_avx2(
        &self,
        a: std::arch::x86_64::__m256d,
        b: std::arch::x86_64::__m256d,
        c: std::arch::x86_64::__m256d,
    ) -> std::arch::x86_64::__m256d {
        use std::arch::x86_64::*;
        let sign = _mm256_set1_pd(-0.0);
        let zero = _mm256_setzero_pd();
        let mag = _mm256_andnot_pd(sign, b);
        let local_max = _mm256_and_pd(
            _mm256_cmp_pd::<_CMP_GT_OQ>(mag, zero),
            _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_andnot_pd(sign, a), mag),
                _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_andnot_pd(sign, c), mag),
            ),
        );
        let flip = _mm256_and_pd(sign, b);
        let (a, c) = (_mm256_xor_pd(a, flip), _mm256_xor_pd(c, flip));
        let two_mag = _mm256_mul_pd(_mm256_set1_pd(2.0), mag);
        let sum = _mm256_min_pd(
            _mm256_max_pd(_mm256_add_pd(a, c), _mm256_mul_pd(two_mag, _mm256_set1_pd(self.cos_min))),
            _mm256_mul_pd(two_mag, _mm256_set1_pd(self.cos_max)),
        );
        let slope = _mm256_sub_pd(c, a);
        let mag2 = _mm256_mul_pd(mag, mag);
        let slope2 = _mm256_mul_pd(slope, slope);
        let d = _mm256_sub_pd(_mm256_mul_pd(_mm256_set1_pd(4.0), mag2), _mm256_mul_pd(sum, sum));
        let curvature = _mm256_sub_pd(_mm256_sub_pd(two_mag, a), c);
        let bends = _mm256_cmp_pd::<_CMP_GT_OQ>(curvature, zero);
        let e = _mm256_blendv_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(_mm256_set1_pd(8.0), curvature), bends);
        let q = _mm256_div_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(d, e));
        let sine = _mm256_sqrt_pd(_mm256_add_pd(mag2, _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(slope2, mag2), e), q)));
        let vertex = _mm256_add_pd(mag, _mm256_mul_pd(_mm256_mul_pd(slope2, d), q));
        let parabola = _mm256_blendv_pd(mag, vertex, bends);
        _mm256_blendv_pd(mag, _mm256_max_pd(sine, parabola), local_max)
    }

    /// [`PeakEstimator::refine`] on eight points at a time in `f32`, for magnitudes `m`
    /// within [`F32_FIT_MIN`]`..=`[`F32_FIT_MAX`]. No overflow or underflow there: the
    /// largest product, `slope² · m² · e`, is at most `4m² · m² · 32m = 128 m⁵` (2¹⁰⁷); the
    /// smallest `d · e` is about `4m² sin²(π/(16L)) · 8 · curvature` with a nonzero curvature
    /// (a difference of `f32` values that can only come near zero when both are of the order
    /// of `m`) of at least `ulp(m) / 2`, so above `m³ · 2⁻³⁵` (2⁻⁹⁵); a zero curvature gives
    /// `e = 1`. The difference `d = 4m² - sum²` can cancel (down to `sin²(π/(16L))` of its
    /// operands), but at a local maximum the slope shrinks with it (`|slope| <= 2m - σ` for
    /// `|a|, |c| <= m`, `σ = a + c`), so the sinusoid's `slope² m² / d` still carries only a
    /// few roundings relative to `m²`; likewise the vertex's `slope² / 8·curvature`
    /// (`|slope| <= curvature`). Measured: within 1e-7 of the `f64` fits on shapes built at
    /// that clamp, within 2.7e-6 on the tests' programme and random shapes; the main
    /// limiter's margin ([`MAIN_MARGIN_DB`](super::MAIN_MARGIN_DB), 0.06 dB, 7e-3) is far
    /// above either. No bound is proven: the guard's fits stay `f64`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn refine_avx2_f32(
        &self,
        a: std::arch::x86_64::__m256,
        b: std::arch::x86_64::__m256,
        c: std::arch::x86_64::__m256,
    ) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        let sign = _mm256_set1_ps(-0.0);
        let zero = _mm256_setzero_ps();
        let mag = _mm256_andnot_ps(sign, b);
        let local_max = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(mag, zero),
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_andnot_ps(sign, a), mag),
                _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_andnot_ps(sign, c), mag),
            ),
        );
        let flip = _mm256_and_ps(sign, b);
        let (a, c) = (_mm256_xor_ps(a, flip), _mm256_xor_ps(c, flip));
        let two_mag = _mm256_mul_ps(_mm256_set1_ps(2.0), mag);
        let sum = _mm256_min_ps(
            _mm256_max_ps(_mm256_add_ps(a, c), _mm256_mul_ps(two_mag, _mm256_set1_ps(self.cos_min as f32))),
            _mm256_mul_ps(two_mag, _mm256_set1_ps(self.cos_max as f32)),
        );
        let slope = _mm256_sub_ps(c, a);
        let mag2 = _mm256_mul_ps(mag, mag);
        let slope2 = _mm256_mul_ps(slope, slope);
        let d = _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(4.0), mag2), _mm256_mul_ps(sum, sum));
        let curvature = _mm256_sub_ps(_mm256_sub_ps(two_mag, a), c);
        let bends = _mm256_cmp_ps::<_CMP_GT_OQ>(curvature, zero);
        let e = _mm256_blendv_ps(_mm256_set1_ps(1.0), _mm256_mul_ps(_mm256_set1_ps(8.0), curvature), bends);
        let q = _mm256_div_ps(_mm256_set1_ps(1.0), _mm256_mul_ps(d, e));
        let sine = _mm256_sqrt_ps(_mm256_add_ps(mag2, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(slope2, mag2), e), q)));
        let vertex = _mm256_add_ps(mag, _mm256_mul_ps(_mm256_mul_ps(slope2, d), q));
        let parabola = _mm256_blendv_ps(mag, vertex, bends);
        _mm256_blendv_ps(mag, _mm256_max_ps(sine, parabola), local_max)
    }

    /// Amplitude of the sinusoid through `a, b, c` if `b` is a local maximum of magnitude,
    /// else `|b|`.
    #[inline(always)]
    fn refine(&self, a: f64, b: f64, c: f64) -> f64 {
        let mag = b.abs();
        let local_max = mag > 0.0 && a.abs() <= mag && c.abs() <= mag;
        // Everything below is computed whether or not it is needed and then selected: the
        // test above depends on the audio, and a mispredicted branch costs more than the
        // arithmetic (a zero magnitude gives NaN here, which the selection discards).
        let flip = 1.0f64.copysign(b);
        let (a, c) = (a * flip, c * flip);
        // cos d = (a + c) / 2|b|, clamped; kept as the clamped sum so the sinusoid's
        // `slope² / 4(1 - cos² d)` is `slope² |b|² / d`, `d = 4|b|² - sum²` (> 0).
        let two_mag = 2.0 * mag;
        let sum = (a + c).max(two_mag * self.cos_min).min(two_mag * self.cos_max);
        let slope = c - a;
        let mag2 = mag * mag;
        let slope2 = slope * slope;
        let d = 4.0 * mag2 - sum * sum;
        // The parabola's vertex `mag + slope² / 8·curvature`: blind to a DC offset, which the
        // sinusoid fit is not (a ripple riding on a plateau, like the Gibbs ringing after a
        // step). Both fits' divisions share one reciprocal, `1 / (d · e)` (`e` = 8·curvature,
        // or 1 where the vertex is not used). No overflow: with `|a|, |c| <= mag` (all `f32`,
        // so at most 3.4e38) the largest product is of the order of `mag⁵`, well inside `f64`
        // (and `mag⁵` of the smallest `f32` above its underflow).
        let curvature = two_mag - a - c;
        let bends = curvature > 0.0;
        let e = if bends { 8.0 * curvature } else { 1.0 };
        let q = 1.0 / (d * e);
        let sine = (mag2 + slope2 * mag2 * e * q).sqrt();
        let vertex = mag + slope2 * d * q;
        let parabola = if bends { vertex } else { mag };
        if local_max {
            sine.max(parabola)
        } else {
            mag
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_noise::TestNoise;

    /// The vector search and fits give the scalar ones to the bit, on values with ties,
    /// zeros and both signs, for every factor and chunk length.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_search_equals_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut noise = TestNoise::new(0x9e37_79b9_7f4a_7c15);
        // Coarse values so that ties and zeros occur.
        let mut next = move || ((noise.next_bits() >> 40) % 9) as f64 / 4.0 - 1.0;
        for factor in [4, 8, 16] {
            let mut est = PeakEstimator::new(factor, 96, 0.48);
            for n in [1, 3, 4, 37, 64] {
                for round in 0..150 {
                    // Never, sometimes and often skipping.
                    let limit = [(-1.0, -1.0), (0.5, 0.6), (0.8, 0.9)][round % 3];
                    let limit = Limits { any: limit.0, smooth: limit.1 };
                    est.phases.iter_mut().for_each(|v| *v = next() as f32);
                    let mut scalar = vec![0.0; n];
                    let mut vector = vec![0.0; n];
                    match factor {
                        4 => {
                            est.search_and_fit_scalar::<4>(n, &mut scalar, limit);
                            unsafe { est.search_and_fit_avx2::<4, false>(n, &mut vector, limit) };
                        }
                        8 => {
                            est.search_and_fit_scalar::<8>(n, &mut scalar, limit);
                            unsafe { est.search_and_fit_avx2::<8, false>(n, &mut vector, limit) };
                        }
                        _ => {
                            est.search_and_fit_scalar::<16>(n, &mut scalar, limit);
                            unsafe { est.search_and_fit_avx2::<16, false>(n, &mut vector, limit) };
                        }
                    }
                    for (s, v) in scalar.iter().zip(&vector) {
                        assert_eq!(s.to_bits(), v.to_bits(), "L={factor} n={n}: {s} vs {v}");
                    }
                }
            }
        }
    }

    /// The `f32` fits stay within 2e-5 (relative) of the `f64` ones (2.7e-6 seen): on random values of
    /// every sign with ties and near-flat tops, for every factor, at magnitudes across the
    /// range they take (outside it the `f64` fits run, to the bit); and on programme-like
    /// noise and sines through the whole estimator.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f32_fits_are_close_to_the_f64_ones() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut noise = TestNoise::new(0x5851_f42d_4c95_7f2d);
        for factor in [4, 8, 16] {
            let mut est = PeakEstimator::new(factor, 128, 0.485);
            for n in [5, 64, 128] {
                for round in 0..300 {
                    let scale = [1.0, 3e-6, 1e5, 1e-7, 2e6][round % 5];
                    // Smooth tops (neighbours close to the centre) as well as rough ones.
                    let smooth = round % 2 == 0;
                    let mut prev = noise.uniform();
                    for v in est.phases.iter_mut() {
                        let x = if smooth { prev + 0.02 * noise.uniform() } else { noise.uniform() };
                        prev = x.clamp(-1.0, 1.0);
                        *v = (prev * scale) as f32;
                    }
                    let never = Limits { any: -1.0, smooth: -1.0 };
                    let mut exact = vec![0.0; n];
                    let mut fast = vec![0.0; n];
                    unsafe {
                        match factor {
                            4 => {
                                est.search_and_fit_avx2::<4, false>(n, &mut exact, never);
                                est.search_and_fit_avx2::<4, true>(n, &mut fast, never);
                            }
                            8 => {
                                est.search_and_fit_avx2::<8, false>(n, &mut exact, never);
                                est.search_and_fit_avx2::<8, true>(n, &mut fast, never);
                            }
                            _ => {
                                est.search_and_fit_avx2::<16, false>(n, &mut exact, never);
                                est.search_and_fit_avx2::<16, true>(n, &mut fast, never);
                            }
                        }
                    }
                    for (e, f) in exact.iter().zip(&fast) {
                        if scale < F32_FIT_MIN as f64 {
                            assert_eq!(e.to_bits(), f.to_bits(), "L={factor} scale {scale}: {e} vs {f}");
                        } else {
                            assert!((e - f).abs() <= 2e-5 * e, "L={factor} scale {scale}: {e} vs {f}");
                        }
                    }
                }
            }
        }
        // Whole estimators on programme-like noise and a near-Nyquist sine.
        let mut lp = 0.0;
        let x: Vec<f64> = (0..20000)
            .map(|n| {
                lp += 0.5 * (noise.uniform() - lp);
                if n < 10000 {
                    lp * (0.2 + (-((n % 3000) as f64) / 700.0).exp())
                } else {
                    0.9 * (2.0 * PI * 0.47 * n as f64 + 0.3).sin()
                }
            })
            .collect();
        for factor in [4, 8, 16] {
            let mut exact = PeakEstimator::new(factor, 128, 0.485);
            let mut fast = PeakEstimator::new(factor, 128, 0.485).with_f32_fits();
            let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            exact.push_block(&x, &mut a, 0.0);
            fast.push_block(&x, &mut b, 0.0);
            for (e, f) in a.iter().zip(&b) {
                assert!((e - f).abs() <= 2e-5 * e, "L={factor}: {e} vs {f}");
            }
        }
    }

    /// With a floor, every estimate above it is the exact one and every other is at most the
    /// floor, on programme-like noise of varying level.
    #[test]
    fn a_floor_changes_only_estimates_under_it() {
        let mut noise = TestNoise::new(0x2545_f491_4f6c_dd1d);
        let mut lp = 0.0;
        let x: Vec<f64> = (0..20000)
            .map(|n| {
                let white = noise.uniform();
                lp += 0.5 * (white - lp);
                lp * (0.2 + (-((n % 3000) as f64) / 700.0).exp())
            })
            .collect();
        for factor in [4, 8, 16] {
            for floor in [0.3, 0.6, 0.9] {
                let mut exact = PeakEstimator::new(factor, 128, 0.485);
                let mut floored = PeakEstimator::new(factor, 128, 0.485);
                let mut a = vec![0.0; x.len()];
                let mut b = vec![0.0; x.len()];
                let mut skipped = 0;
                let mut start = 0;
                for size in [1usize, 64, 100, 512, 7].iter().cycle() {
                    let end = (start + size).min(x.len());
                    exact.push_block(&x[start..end], &mut a[start..end], 0.0);
                    floored.push_block(&x[start..end], &mut b[start..end], floor);
                    start = end;
                    if start == x.len() {
                        break;
                    }
                }
                for (k, (&e, &f)) in a.iter().zip(&b).enumerate() {
                    if e > floor {
                        assert_eq!(e.to_bits(), f.to_bits(), "L={factor} floor {floor} k={k}");
                    } else {
                        assert!(f <= floor, "L={factor} floor {floor} k={k}: {f}");
                        skipped += (e != f) as usize;
                    }
                }
                assert!(skipped > 0, "L={factor} floor {floor}: nothing skipped");
            }
        }
    }

    /// The fits never exceed their magnitude times the gains the skipping relies on, on
    /// random triples (including the worst shapes: neighbours at either end of their range).
    #[test]
    fn fits_stay_within_their_gain_bounds() {
        let mut noise = TestNoise::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || noise.uniform();
        for factor in [4, 8, 16] {
            let est = PeakEstimator::new(factor, 128, 0.485);
            let cos_min = (PI / factor as f64).cos();
            for k in 0..200_000 {
                let b = next();
                let (mut a, mut c) = (next() * b.abs(), next() * b.abs());
                if k % 4 == 0 {
                    a = a.signum() * b.abs();
                }
                if k % 8 == 1 {
                    (a, c) = (-b, b);
                }
                let fit = est.refine(a, b, c);
                let m = b.abs();
                assert!(fit <= est.fit_gain * m, "L={factor}: {a} {b} {c}: {fit}");
                let flip = b.signum();
                if (a * flip + c * flip) >= 2.0 * m * cos_min {
                    assert!(fit <= SMOOTH_FIT_GAIN * m, "L={factor}: {a} {b} {c}: {fit}");
                }
            }
        }
    }

    #[test]
    fn sines_read_their_amplitude() {
        for factor in [4, 8, 16] {
            for f in [0.01, 0.1, 0.25, 0.33, 0.45] {
                for phase in [0.0, 0.3, 0.785, 1.2] {
                    let mut est = PeakEstimator::new(factor, 96, 0.48);
                    let x: Vec<f64> = (0..4000).map(|n| 0.5 * (2.0 * PI * f * n as f64 + phase).sin()).collect();
                    let mut peaks = vec![0.0; x.len()];
                    est.push_block(&x, &mut peaks, 0.0);
                    let peak = peaks[401..].iter().fold(0.0f64, |a, &b| a.max(b));
                    let err_db = 20.0 * (peak / 0.5).log10();
                    assert!(err_db.abs() < 0.03, "L={factor} f={f} phase={phase}: {err_db:.4} dB");
                }
            }
        }
    }
}
