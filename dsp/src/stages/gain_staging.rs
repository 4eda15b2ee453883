//! Stage 1, gain staging: input trim, polarity, DC blocking, balance, optional auto staging.
//!
//! Signal path per channel: static gain (trim × polarity × balance, one smoothed factor per
//! channel) → DC blocker → auto-staging gain.
//!
//! Balance law: the channel on the side the balance points to stays at unity and the other is
//! attenuated linearly, `gain_left = min(1, 1 - balance)`, `gain_right = min(1, 1 + balance)`.
//! So the centre is exactly neutral, ±0.5 lowers the far side by 6.02 dB, ±1 mutes it. (A
//! balance control, not a pan law: it never boosts, so it cannot clip a mix that had headroom.)
//!
//! Auto staging measures the short-term loudness (BS.1770 K-weighting, 3 s window, updated
//! every 100 ms) of the signal after trim and DC blocking, and glides its gain toward
//! `auto_target_lufs - loudness`, clamped to `±auto_range_db`, with a 3 s time constant. It is
//! feed-forward (it measures what it is given, not its own output), so it cannot oscillate; the
//! 3 s window and the slow glide keep it from following the music's dynamics (no pumping); and
//! 100 ms blocks below -60 LUFS are left out of the window (gated, as in integrated loudness),
//! so silence, pauses and count-ins freeze the gain instead of raising it.

use crate::filters::biquad::{Biquad, Coefs};
use crate::meter::kweight::{highpass_coefs, shelf_coefs};
use crate::stage::Stage;
use crate::util::{db_to_gain, gain_to_db};

/// Settings of the gain staging stage.
#[derive(Debug, Clone, PartialEq)]
pub struct GainStagingSettings {
    /// Input trim in dB (about ±24).
    pub input_db: f64,
    pub invert_left: bool,
    pub invert_right: bool,
    /// Sub-audio high-pass that removes DC offset.
    pub dc_block: bool,
    /// -1 (left only) .. 0 (centre) .. +1 (right only).
    pub balance: f64,
    /// Slowly steer the level toward `auto_target_lufs`.
    pub auto_enabled: bool,
    /// Working level for auto staging, short-term LUFS.
    pub auto_target_lufs: f64,
    /// Largest correction auto staging may apply, dB either way.
    pub auto_range_db: f64,
}

impl Default for GainStagingSettings {
    fn default() -> Self {
        Self {
            input_db: 0.0,
            invert_left: false,
            invert_right: false,
            dc_block: true,
            balance: 0.0,
            auto_enabled: false,
            auto_target_lufs: -18.0,
            auto_range_db: 12.0,
        }
    }
}

/// Largest input trim either way, dB.
pub const MAX_TRIM_DB: f64 = 24.0;
/// Largest auto-staging range either way, dB.
pub const MAX_AUTO_RANGE_DB: f64 = 24.0;
/// DC blocker corner: far enough below 20 Hz that 20 Hz passes within 0.05 dB.
pub const DC_BLOCK_HZ: f64 = 2.0;
/// Time constant of the trim / polarity / balance glide.
const GAIN_SMOOTH_MS: f64 = 20.0;
/// Fade length when the DC blocker is switched.
const DC_FADE_MS: f64 = 10.0;
/// Auto staging: loudness block (update period), window (short-term), gain time constant and
/// the silence gate below which the gain is frozen.
const AUTO_BLOCK_MS: f64 = 100.0;
const AUTO_WINDOW_BLOCKS: usize = 30;
const AUTO_SMOOTH_S: f64 = 3.0;
pub const AUTO_GATE_LUFS: f64 = -60.0;
/// The auto gain snaps onto its wanted value when this close (so "off" ends exactly at unity).
const AUTO_SNAP_DB: f64 = 1e-3;
/// BS.1770 loudness offset, LUFS = -0.691 + 10 log10(sum of channel mean squares).
const LUFS_OFFSET: f64 = -0.691;
/// Largest mean square a loudness block accepts (keeps the ring finite on absurd input).
const AUTO_POWER_CEIL: f64 = 1e8;

/// Stage 1: trim, polarity, DC blocker, balance and optional auto gain staging.
#[derive(Debug, Default)]
pub struct GainStaging {
    settings: GainStagingSettings,
    sample_rate: f64,
    /// Smoothed and target static gain per channel (trim × polarity × balance).
    gain: [f64; 2],
    gain_target: [f64; 2],
    gain_k: f64,
    /// DC blocker: pole radius, previous input and output per channel, wet amount and its
    /// per-sample step.
    dc_pole: f64,
    dc_x1: [f64; 2],
    dc_y1: [f64; 2],
    dc_mix: f64,
    dc_step: f64,
    /// Auto staging: K-weighting filters per channel, the running block sum, block length and
    /// position, the ring of block mean squares (fixed size, no allocation), and the gain.
    kw: [[Biquad; 2]; 2],
    block_sum: f64,
    block_len: usize,
    block_pos: usize,
    ring: [f64; AUTO_WINDOW_BLOCKS],
    ring_pos: usize,
    ring_filled: usize,
    /// Auto gain in dB: wanted (from the loudness), glided value at the last block boundary,
    /// and the linear gain ramp inside the current block.
    auto_wanted_db: f64,
    auto_db: f64,
    auto_k: f64,
    auto_gain: f64,
    auto_gain_step: f64,
    /// The CPU runs AVX2 and FMA (checked in `prepare`): the settled gain and DC blocker use
    /// the four-sample block kernel.
    avx2: bool,
}

impl GainStaging {
    /// The gain this stage applies now, dB: trim plus the auto-staging gain (the balance only
    /// ever lowers one side and is not counted).
    pub fn applied_gain_db(&self) -> f64 {
        let trim = self.gain[0].abs().max(self.gain[1].abs());
        gain_to_db(trim) + gain_to_db(self.auto_gain)
    }

    /// The auto-staging part of [`GainStaging::applied_gain_db`], dB.
    pub fn auto_gain_db(&self) -> f64 {
        gain_to_db(self.auto_gain)
    }

    fn targets(&mut self) {
        let s = &self.settings;
        let trim = db_to_gain(if s.input_db.is_finite() { s.input_db.clamp(-MAX_TRIM_DB, MAX_TRIM_DB) } else { 0.0 });
        let bal = if s.balance.is_finite() { s.balance.clamp(-1.0, 1.0) } else { 0.0 };
        let pol = |inv: bool| if inv { -1.0 } else { 1.0 };
        self.gain_target =
            [trim * pol(s.invert_left) * (1.0 - bal).min(1.0), trim * pol(s.invert_right) * (1.0 + bal).min(1.0)];
    }

    /// Static gain (trim × polarity × balance), gliding when it changed.
    fn apply_gain(&mut self, left: &mut [f64], right: &mut [f64]) {
        if self.gain != self.gain_target {
            let k = self.gain_k;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                for ch in 0..2 {
                    self.gain[ch] += (self.gain_target[ch] - self.gain[ch]) * k;
                }
                *l *= self.gain[0];
                *r *= self.gain[1];
            }
            for ch in 0..2 {
                if (self.gain[ch] - self.gain_target[ch]).abs() < 1e-12 {
                    self.gain[ch] = self.gain_target[ch];
                }
            }
        } else if self.gain != [1.0, 1.0] {
            let [gl, gr] = self.gain;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                *l *= gl;
                *r *= gr;
            }
        }
    }

    /// DC blocker, `y = x - x1 + R y1`, faded when switched.
    fn dc_block(&mut self, left: &mut [f64], right: &mut [f64], dc_target: f64) {
        if self.dc_mix == 1.0 && dc_target == 1.0 {
            let p = self.dc_pole;
            let [mut xl, mut xr] = self.dc_x1;
            let [mut yl, mut yr] = self.dc_y1;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                yl = *l - xl + p * yl;
                yr = *r - xr + p * yr;
                xl = *l;
                xr = *r;
                *l = yl;
                *r = yr;
            }
            self.dc_x1 = [xl, xr];
            self.dc_y1 = [yl, yr];
        } else if self.dc_mix != 0.0 || dc_target != 0.0 {
            let p = self.dc_pole;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                self.dc_mix = if dc_target > self.dc_mix {
                    (self.dc_mix + self.dc_step).min(1.0)
                } else {
                    (self.dc_mix - self.dc_step).max(0.0)
                };
                for (ch, x) in [l, r].into_iter().enumerate() {
                    let y = *x - self.dc_x1[ch] + p * self.dc_y1[ch];
                    self.dc_x1[ch] = *x;
                    self.dc_y1[ch] = y;
                    *x += self.dc_mix * (y - *x);
                }
            }
            if self.dc_mix == 0.0 {
                self.dc_x1 = [0.0; 2];
                self.dc_y1 = [0.0; 2];
            }
        }
    }

    /// Settled static gain and DC blocker in one pass. The blocker's recursion runs two
    /// samples per step (`y[n+1] = d[n+1] + R d[n] + R² y[n-1]`, `d` the input difference),
    /// so its loop-carried latency is paid once per two samples (four with AVX2).
    fn static_gain_and_dc(&mut self, left: &mut [f64], right: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only when the CPU reports AVX2 and FMA.
            unsafe { gain_dc_avx2(left, right, self.gain, self.dc_pole, &mut self.dc_x1, &mut self.dc_y1) };
            return;
        }
        let p = self.dc_pole;
        let p2 = p * p;
        let [gl, gr] = self.gain;
        let [mut xl, mut xr] = self.dc_x1;
        let [mut yl, mut yr] = self.dc_y1;
        let mut cl = left.chunks_exact_mut(2);
        let mut cr = right.chunks_exact_mut(2);
        for (l, r) in (&mut cl).zip(&mut cr) {
            let (l0, l1, r0, r1) = (l[0] * gl, l[1] * gl, r[0] * gr, r[1] * gr);
            let (dl0, dl1, dr0, dr1) = (l0 - xl, l1 - l0, r0 - xr, r1 - r0);
            l[0] = dl0 + p * yl;
            r[0] = dr0 + p * yr;
            yl = (dl1 + p * dl0) + p2 * yl;
            yr = (dr1 + p * dr0) + p2 * yr;
            l[1] = yl;
            r[1] = yr;
            xl = l1;
            xr = r1;
        }
        for (l, r) in cl.into_remainder().iter_mut().zip(cr.into_remainder().iter_mut()) {
            let (a, b) = (*l * gl, *r * gr);
            yl = a - xl + p * yl;
            yr = b - xr + p * yr;
            xl = a;
            xr = b;
            *l = yl;
            *r = yr;
        }
        self.dc_x1 = [xl, xr];
        self.dc_y1 = [yl, yr];
    }

    /// Close a loudness block: update the window and the auto gain's next ramp.
    fn end_block(&mut self) {
        let ms = (self.block_sum / self.block_len as f64).min(AUTO_POWER_CEIL);
        self.block_sum = 0.0;
        self.block_pos = 0;
        self.ring[self.ring_pos] = if ms.is_finite() { ms } else { 0.0 };
        self.ring_pos = (self.ring_pos + 1) % AUTO_WINDOW_BLOCKS;
        self.ring_filled = (self.ring_filled + 1).min(AUTO_WINDOW_BLOCKS);
        let s = &self.settings;
        if s.auto_enabled {
            // Gated like integrated loudness: silent blocks do not count, so neither silence nor
            // the silent part of a window (the start of a pause) lowers the reading.
            let gate = 10f64.powf((AUTO_GATE_LUFS - LUFS_OFFSET) / 10.0);
            let (sum, count) = self.ring[..self.ring_filled]
                .iter()
                .filter(|&&ms| ms > gate)
                .fold((0.0, 0usize), |(s, c), &ms| (s + ms, c + 1));
            // And nothing moves while the newest block is silent: when a song stops, the window
            // briefly holds only its decaying tail, which must not read as a quiet mix.
            let latest = self.ring[(self.ring_pos + AUTO_WINDOW_BLOCKS - 1) % AUTO_WINDOW_BLOCKS];
            if count > 0 && latest > gate && s.auto_target_lufs.is_finite() {
                let lufs = LUFS_OFFSET + 10.0 * (sum / count as f64).log10();
                let range =
                    if s.auto_range_db.is_finite() { s.auto_range_db.clamp(0.0, MAX_AUTO_RANGE_DB) } else { 0.0 };
                self.auto_wanted_db = (s.auto_target_lufs - lufs).clamp(-range, range);
            }
        } else {
            self.auto_wanted_db = 0.0;
        }
        self.auto_db += (self.auto_wanted_db - self.auto_db) * self.auto_k;
        if (self.auto_db - self.auto_wanted_db).abs() < AUTO_SNAP_DB {
            self.auto_db = self.auto_wanted_db;
        }
        let next = db_to_gain(self.auto_db);
        self.auto_gain_step = (next - self.auto_gain) / self.block_len as f64;
    }
}

/// Settled gain and DC blocker, both channels, four samples per step in AVX2 registers.
///
/// Per channel: the gained input `a`, its difference `d[n] = a[n] - a[n-1]` (the previous
/// sample by a lane rotation), then the recursion `y[n] = d[n] + R y[n-1]` for four samples at
/// once as a prefix scan (`t = d + R·(d shifted one lane)`, `t += R²·(t shifted two lanes)`,
/// `y = t + [R, R², R³, R⁴]·y[n-1]`), so the loop-carried latency (one broadcast and one fused
/// multiply-add) is paid once per four samples. Rounding differs from the scalar loop by a few
/// units in the last place (unit-tested).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gain_dc_avx2(
    left: &mut [f64],
    right: &mut [f64],
    gain: [f64; 2],
    p: f64,
    x1: &mut [f64; 2],
    y1: &mut [f64; 2],
) {
    use std::arch::x86_64::*;
    let n = left.len().min(right.len());
    let (p2, p3) = (p * p, p * p * p);
    let (vp, vp2, powers) = (_mm256_set1_pd(p), _mm256_set1_pd(p2), _mm256_setr_pd(p, p2, p3, p2 * p2));
    let zero = _mm256_setzero_pd();
    // Per channel: gain, previous gained input rotated into lane 0, previous output.
    let g = [_mm256_set1_pd(gain[0]), _mm256_set1_pd(gain[1])];
    let mut prev_rot = [_mm256_set1_pd(x1[0]), _mm256_set1_pd(x1[1])];
    let mut prev_y = [_mm256_set1_pd(y1[0]), _mm256_set1_pd(y1[1])];
    let blocks = n / 4;
    for i in 0..blocks {
        for (ch, x) in [&mut *left, &mut *right].into_iter().enumerate() {
            let ptr = x.as_mut_ptr().add(4 * i);
            let a = _mm256_mul_pd(g[ch], _mm256_loadu_pd(ptr));
            // [a3, a0, a1, a2], lane 0 replaced by the previous block's a3.
            let rot = _mm256_permute4x64_pd::<0b10_01_00_11>(a);
            let d = _mm256_sub_pd(a, _mm256_blend_pd::<0b0001>(rot, prev_rot[ch]));
            prev_rot[ch] = rot;
            // [0, d0, d1, d2] and [0, 0, t0, t1]: the prefix scan.
            let s1 = _mm256_blend_pd::<0b0001>(_mm256_permute4x64_pd::<0b10_01_00_00>(d), zero);
            let t = _mm256_fmadd_pd(vp, s1, d);
            let t = _mm256_fmadd_pd(vp2, _mm256_permute2f128_pd::<0x08>(t, t), t);
            let last = _mm256_permute4x64_pd::<0b11_11_11_11>(prev_y[ch]);
            let y = _mm256_fmadd_pd(powers, last, t);
            _mm256_storeu_pd(ptr, y);
            prev_y[ch] = y;
        }
    }
    let lane3 = |v: __m256d| _mm_cvtsd_f64(_mm256_extractf128_pd::<1>(_mm256_permute4x64_pd::<0b11_11_11_11>(v)));
    let mut state = [(x1[0], y1[0]), (x1[1], y1[1])];
    if blocks > 0 {
        // prev_rot holds [a3, a0, a1, a2]: a3 is lane 0.
        for ch in 0..2 {
            state[ch] = (_mm256_cvtsd_f64(prev_rot[ch]), lane3(prev_y[ch]));
        }
    }
    for (ch, x) in [left, right].into_iter().enumerate() {
        let (mut xp, mut yp) = state[ch];
        for v in x[4 * blocks..n].iter_mut() {
            let a = *v * gain[ch];
            yp = a - xp + p * yp;
            xp = a;
            *v = yp;
        }
        x1[ch] = xp;
        y1[ch] = yp;
    }
}

impl Stage for GainStaging {
    type Settings = GainStagingSettings;
    fn prepare(&mut self, sample_rate: f64, _max_block: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            self.avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        }
        self.sample_rate = sample_rate;
        self.gain_k = 1.0 - (-1.0 / (GAIN_SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.dc_pole = (-2.0 * std::f64::consts::PI * DC_BLOCK_HZ / sample_rate).exp();
        self.dc_step = 1.0 / (DC_FADE_MS * 0.001 * sample_rate).max(1.0);
        let kw: [Coefs; 2] = [shelf_coefs(sample_rate), highpass_coefs(sample_rate)];
        self.kw = [[Biquad::new(kw[0]), Biquad::new(kw[1])]; 2];
        self.block_len = ((AUTO_BLOCK_MS * 0.001 * sample_rate).round() as usize).max(1);
        self.auto_k = 1.0 - (-AUTO_BLOCK_MS * 0.001 / AUTO_SMOOTH_S).exp();
        self.reset();
    }
    fn reset(&mut self) {
        self.targets();
        self.gain = self.gain_target;
        self.dc_x1 = [0.0; 2];
        self.dc_y1 = [0.0; 2];
        self.dc_mix = if self.settings.dc_block { 1.0 } else { 0.0 };
        for ch in self.kw.iter_mut() {
            for f in ch.iter_mut() {
                f.reset();
            }
        }
        self.block_sum = 0.0;
        self.block_pos = 0;
        self.ring = [0.0; AUTO_WINDOW_BLOCKS];
        self.ring_pos = 0;
        self.ring_filled = 0;
        self.auto_wanted_db = 0.0;
        self.auto_db = 0.0;
        self.auto_gain = 1.0;
        self.auto_gain_step = 0.0;
    }
    fn latency(&self) -> usize {
        0
    }
    fn set(&mut self, settings: &Self::Settings) {
        if *settings != self.settings {
            self.settings = settings.clone();
            self.targets();
        }
    }
    fn process(&mut self, left: &mut [f64], right: &mut [f64]) {
        let dc_target = if self.settings.dc_block { 1.0 } else { 0.0 };
        if self.gain == self.gain_target && self.dc_mix == 1.0 && dc_target == 1.0 {
            // The usual case, settled gain and DC blocker on: one pass for both.
            self.static_gain_and_dc(left, right);
        } else {
            self.apply_gain(left, right);
            self.dc_block(left, right, dc_target);
        }

        // Auto staging: measure, then apply the ramped gain.
        if self.settings.auto_enabled || self.auto_gain != 1.0 || self.auto_db != 0.0 {
            let mut i = 0;
            let n = left.len();
            while i < n {
                let len = (self.block_len - self.block_pos).min(n - i);
                if self.settings.auto_enabled {
                    let [[sl, hl], [sr, hr]] = &mut self.kw;
                    let mut sum = 0.0;
                    for j in i..i + len {
                        let a = hl.tick(sl.tick(left[j]));
                        let b = hr.tick(sr.tick(right[j]));
                        sum += a * a + b * b;
                    }
                    if sum.is_finite() {
                        self.block_sum += sum;
                    } else {
                        // A detector fed absurd values recovers instead of staying NaN.
                        self.kw.iter_mut().flatten().for_each(Biquad::reset);
                    }
                }
                let mut g = self.auto_gain;
                for j in i..i + len {
                    g += self.auto_gain_step;
                    left[j] *= g;
                    right[j] *= g;
                }
                self.auto_gain = g;
                self.block_pos += len;
                i += len;
                if self.block_pos == self.block_len {
                    // Land exactly on the ramp's end, so unity stays exactly unity.
                    self.auto_gain = db_to_gain(self.auto_db);
                    self.end_block();
                }
            }
        }
    }
}
