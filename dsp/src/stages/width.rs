//! Stage 6, stereo width: mid/side width, mono bass, per-band width, mono-safety.
//!
//! Works on mid `m = (l+r)/2` and side `s = (l-r)/2`, output `l = m + g s`, `r = m - g s`.
//!
//! - **Neutral skip.** Width 1, mono bass off, band widths 1 and balance 0 (all settled): the
//!   audio is not touched at all (bit-exact null); only the meters run.
//! - **Mono bass** removes the side below `mono_bass_hz` with a Linkwitz-Riley 48 dB/oct split
//!   placed `MONO_BASS_SPLIT_RATIO` above it (side >= 18 dB down at `mono_bass_hz`, >= 40 dB
//!   down two thirds of it, within 0.1 dB from 2.5x up). The mid goes through the split's
//!   allpass, so mid and side keep their relative phase: enabling mono bass adds that allpass
//!   phase shift to the whole signal (magnitude untouched).
//! - **Per-band width** splits mid and side into low / mid / high with the LR4 network and
//!   scales the side bands; it is only in the path while some band width differs from 1
//!   (then the whole signal takes the network's allpass phase).
//!   Either filter path fades in and out over `PATH_FADE_MS` when switched; it starts from a
//!   cleared state.
//! - **Mono safety** (while the stage processes and `safety` is on): over a
//!   `SAFETY_WINDOW_MS` window it measures the energies `M` of the output mid and `S` of the
//!   would-be output side. With `r = S/M` the mono sum loses `10 log10(1 + r)` dB against the
//!   stereo level and, for uncorrelated mid and side, the output correlation is
//!   `(1 - r)/(1 + r)` (a correlated mid/side pair only raises it). So the largest allowed
//!   `r` is `min(10^(loss/10) - 1, (1 - floor)/(1 + floor))`, and the side gain is reduced by
//!   `sqrt(r_max / r)` when `r` exceeds it; the reduction engages with a 10 ms and lets go with
//!   a 300 ms time constant. It acts on the output as a whole, so a mix that already breaks
//!   the bounds is narrowed too once the stage processes.
//! - **Balance** attenuates the opposite channel: `b > 0` scales left by `1 - b`.

use crate::filters::crossover::{clamp_crossover, Crossover, Lr8MidSide, Lr8MidSideCoefs};
use crate::stage::Stage;
#[cfg(doc)]
use crate::util::sanitize;
use crate::util::SAMPLE_LIMIT;

#[derive(Debug, Clone, PartialEq)]
pub struct WidthSettings {
    /// Overall width, 0 = mono, 1 = unchanged, 2 = double side level.
    pub width: f64,
    /// Sum the low end to mono below `mono_bass_hz` (40 ..= 300 Hz).
    pub mono_bass: bool,
    pub mono_bass_hz: f64,
    /// Extra per-band width factors (1 = unchanged) for low / mid / high, split at the two
    /// crossover frequencies.
    pub band_width: [f64; 3],
    pub band_crossovers_hz: [f64; 2],
    /// -1 .. +1 output balance.
    pub balance: f64,
    /// Mono-safety: keep the output correlation above `min_correlation` and the mono sum's
    /// loss relative to stereo below `max_mono_loss_db`.
    pub safety: bool,
    pub min_correlation: f64,
    pub max_mono_loss_db: f64,
}

impl Default for WidthSettings {
    fn default() -> Self {
        Self {
            width: 1.0,
            mono_bass: false,
            mono_bass_hz: 120.0,
            band_width: [1.0; 3],
            band_crossovers_hz: [250.0, 4000.0],
            balance: 0.0,
            safety: true,
            min_correlation: 0.0,
            max_mono_loss_db: 3.0,
        }
    }
}

/// Range of the mono-bass frequency.
pub const MONO_BASS_RANGE_HZ: (f64, f64) = (40.0, 300.0);

/// The mono-bass split sits this factor above `mono_bass_hz`, so the side is well down (not
/// just -6 dB) at the set frequency while the band from 2.5x up keeps its side untouched.
pub const MONO_BASS_SPLIT_RATIO: f64 = 1.3;

/// Largest width factor (overall and per band).
pub const MAX_WIDTH: f64 = 2.0;

/// Fade time of the mono-bass and per-band filter paths when they are switched.
const PATH_FADE_MS: f64 = 20.0;

/// Time constant of the width, band-width and balance smoothers.
const PARAM_SMOOTH_MS: f64 = 20.0;

/// Mono-safety measuring window (time constant of the energy averages).
const SAFETY_WINDOW_MS: f64 = 50.0;

/// Mono-safety engage and release time constants.
const SAFETY_ATTACK_MS: f64 = 10.0;
const SAFETY_RELEASE_MS: f64 = 300.0;

/// Time constant of the meters' averages.
const METER_MS: f64 = 300.0;

/// Control chunk: smoothers, the safety and the meters update once per this many samples.
const CHUNK: usize = 32;

/// Floor / ceiling of the side-to-mid reading, dB.
const SIDE_TO_MID_LIMIT_DB: f64 = 120.0;

/// Glide coefficient of the mono-bass frequency per control chunk (log-domain one-pole).
const MONO_BASS_GLIDE_MS: f64 = 30.0;

/// Linear per-sample ramp from `from` to `to` over `n` samples; returns the step.
#[inline]
fn ramp_step(from: f64, to: f64, n: usize) -> f64 {
    (to - from) / n.max(1) as f64
}

/// `c^frac`, the coefficient of a partial chunk (the last one of an odd-sized block). Kept out
/// of line: written inline, the compiler evaluates the power for every chunk, full or not.
#[cold]
#[inline(never)]
fn partial_chunk_coef(c: f64, frac: f64) -> f64 {
    c.powf(frac)
}

/// [`sanitize`] written branch-free (same result), so the input loop vectorises.
#[inline(always)]
fn clean_sample(x: f64) -> f64 {
    let clamped = x.max(-SAMPLE_LIMIT).min(SAMPLE_LIMIT);
    if x.abs() < f64::INFINITY {
        clamped
    } else {
        0.0
    }
}

/// Partial sums kept apart in the per-sample loops, so that they vectorise (one AVX-512
/// register, two AVX2 ones).
const LANES: usize = 8;

/// Sum of the lanes, pairwise.
#[inline(always)]
fn lane_sum(a: [f64; LANES]) -> f64 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// `[sum m², sum s², sum m s]`, in `LANES` partial sums each.
#[inline(always)]
fn chunk_sums(mid: &[f64], side: &[f64]) -> [f64; 3] {
    let (mut mm, mut ss, mut ms) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let (gm, gs) = (mid.chunks_exact(LANES), side.chunks_exact(LANES));
    for (j, (m, s)) in gm.remainder().iter().zip(gs.remainder()).enumerate() {
        mm[j] += m * m;
        ss[j] += s * s;
        ms[j] += m * s;
    }
    for (m, s) in gm.zip(gs) {
        for j in 0..LANES {
            mm[j] += m[j] * m[j];
            ss[j] += s[j] * s[j];
            ms[j] += m[j] * s[j];
        }
    }
    [lane_sum(mm), lane_sum(ss), lane_sum(ms)]
}

/// `(sum (g s)², sum m g s)` with the side gain `g = from + (k + 1) step` of sample `k`, in
/// `LANES` partial sums each (the safety can ramp for long stretches while it lets go).
#[inline(always)]
fn ramped_sums(mid: &[f64], side: &[f64], from: f64, step: f64) -> (f64, f64) {
    let (mut ss, mut ms) = ([0.0; LANES], [0.0; LANES]);
    let mut t: [f64; LANES] = std::array::from_fn(|j| (j + 1) as f64);
    let (gm, gs) = (mid.chunks_exact(LANES), side.chunks_exact(LANES));
    let whole = mid.len() / LANES * LANES;
    for (j, (&m, &s)) in gm.remainder().iter().zip(gs.remainder()).enumerate() {
        let s = (from + (whole + j + 1) as f64 * step) * s;
        ss[j] += s * s;
        ms[j] += m * s;
    }
    for (m, s) in gm.zip(gs) {
        for j in 0..LANES {
            let s = (from + t[j] * step) * s[j];
            ss[j] += s * s;
            ms[j] += m[j] * s;
            t[j] += LANES as f64;
        }
    }
    (lane_sum(ss), lane_sum(ms))
}

/// The mono-safety's side gain while the side energy exceeds `allowed`. Out of line (and cold:
/// the safety rarely acts) so that the common path does not compute a division and a square
/// root for nothing, which a branch-free select would.
#[cold]
#[inline(never)]
fn safety_target(allowed: f64, side: f64) -> f64 {
    (allowed / side).sqrt()
}

/// A one-pole smoother advanced by whole chunks.
#[inline]
fn smooth(x: f64, target: f64, coef: f64) -> f64 {
    let y = target + coef * (x - target);
    if (y - target).abs() < 1e-12 {
        target
    } else {
        y
    }
}

/// Stage 6: stereo width.
#[derive(Debug, Default)]
pub struct Width {
    sample_rate: f64,
    settings: Option<WidthSettings>,
    /// Sanitised targets.
    width: f64,
    band_width: [f64; 3],
    balance: f64,
    mono_bass: bool,
    mono_bass_split_hz: f64,
    bands_on: bool,
    safety: bool,
    /// Largest allowed side-to-mid energy ratio of the output (from the safety settings).
    max_side_ratio: f64,
    /// Smoothed values (at the end of the last chunk / block).
    width_now: f64,
    band_width_now: [f64; 3],
    balance_now: f64,
    safety_gain: f64,
    mono_bass_mix: f64,
    bands_mix: f64,
    mono_bass_hz_now: f64,
    /// Per-chunk coefficients and per-sample fade step.
    param_coef: f64,
    safety_attack: f64,
    safety_release: f64,
    safety_window: f64,
    meter_coef: f64,
    glide_coef: f64,
    fade_step: f64,
    /// Filter paths.
    mono_bass_coefs: Lr8MidSideCoefs,
    mono_bass_split: Lr8MidSide,
    bands: Crossover<2>,
    /// Mid and side working buffers (planar, so every per-sample loop is plain vector
    /// arithmetic), `max_block` samples.
    mid: Vec<f64>,
    side: Vec<f64>,
    /// The mono-bass path's filtered mid and side while it fades in or out.
    wet: [Vec<f64>; 2],
    /// Mid/side frames into the per-band network, and its band outputs, `max_block` frames.
    frames: Vec<[f64; 2]>,
    band_buf: Vec<Vec<[f64; 2]>>,
    /// Safety energy averages of output mid and would-be side.
    safety_mid: f64,
    safety_side: f64,
    /// Meter averages: mid², side², mid·side of the output.
    meter: [f64; 3],
}

impl Width {
    /// Phase correlation of the output, -1 ..= 1, over ~300 ms (0 for silence).
    pub fn correlation(&self) -> f64 {
        let [m, s, x] = self.meter;
        let den = ((m + s) * (m + s) - 4.0 * x * x).max(0.0).sqrt();
        if den > 1e-30 {
            ((m - s) / den).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    }

    /// Side energy relative to mid energy of the output, dB, over ~300 ms (clamped to
    /// ±120 dB; silence reads -120).
    pub fn side_to_mid_db(&self) -> f64 {
        let [m, s, _] = self.meter;
        if s <= 0.0 {
            return -SIDE_TO_MID_LIMIT_DB;
        }
        (10.0 * (s / m.max(1e-300)).log10()).clamp(-SIDE_TO_MID_LIMIT_DB, SIDE_TO_MID_LIMIT_DB)
    }

    /// The mono-safety's current side gain (1 = not acting).
    pub fn safety_gain(&self) -> f64 {
        self.safety_gain
    }

    /// Nothing to do to the audio, now and after smoothing.
    fn neutral(&self) -> bool {
        self.width == 1.0
            && self.width_now == 1.0
            && self.balance == 0.0
            && self.balance_now == 0.0
            && !self.mono_bass
            && self.mono_bass_mix == 0.0
            && !self.bands_on
            && self.bands_mix == 0.0
            && self.safety_gain == 1.0
    }

    /// Add a block of output mid/side to the meter averages, per chunk.
    fn meter_chunk(&mut self, m: f64, s: f64, x: f64) {
        let c = self.meter_coef;
        self.meter = [self.meter[0] * c + m, self.meter[1] * c + s, self.meter[2] * c + x];
    }

    /// Run the mono-bass path over `mid[..n]` and `side[..n]` in place, faded by its mix.
    #[inline(always)]
    fn mono_bass_path(&mut self, n: usize) {
        let target_hz = self.mono_bass_split_hz;
        if self.mono_bass_hz_now != target_hz {
            let ratio = target_hz / self.mono_bass_hz_now;
            let step = 1.0 - self.glide_coef.powf(n as f64 / CHUNK as f64);
            self.mono_bass_hz_now =
                if (ratio - 1.0).abs() < 1e-6 { target_hz } else { self.mono_bass_hz_now * ratio.powf(step) };
            self.mono_bass_coefs = Lr8MidSideCoefs::new(self.mono_bass_hz_now, self.sample_rate);
        }
        let target = if self.mono_bass { 1.0 } else { 0.0 };
        let c = &self.mono_bass_coefs;
        let (mid, side) = (&mut self.mid[..n], &mut self.side[..n]);
        if self.mono_bass_mix == 1.0 && target == 1.0 {
            // Fully on: mid through the split's allpass, side only above the split, in place.
            self.mono_bass_split.process(c, mid, side);
            return;
        }
        // Fading: a filtered copy, mixed with the dry signal.
        let [wet_mid, wet_side] = &mut self.wet;
        let (wet_mid, wet_side) = (&mut wet_mid[..n], &mut wet_side[..n]);
        wet_mid.copy_from_slice(mid);
        wet_side.copy_from_slice(side);
        self.mono_bass_split.process(c, wet_mid, wet_side);
        let mut mix = self.mono_bass_mix;
        for i in 0..n {
            if mix != target {
                mix = if target > mix { (mix + self.fade_step).min(1.0) } else { (mix - self.fade_step).max(0.0) };
            }
            mid[i] += mix * (wet_mid[i] - mid[i]);
            side[i] += mix * (wet_side[i] - side[i]);
        }
        self.mono_bass_mix = mix;
        if mix == 0.0 && target == 0.0 {
            self.mono_bass_split.reset();
        }
    }

    /// Run the per-band width path over `mid[..n]` and `side[..n]` in place, faded by its mix.
    fn bands_path(&mut self, n: usize) {
        for ((f, &m), &s) in self.frames[..n].iter_mut().zip(&self.mid[..n]).zip(&self.side[..n]) {
            *f = [m, s];
        }
        self.bands.process(&self.frames[..n], &mut self.band_buf);
        let coef = self.param_coef.powf(n as f64 / CHUNK as f64);
        let from = self.band_width_now;
        let to: [f64; 3] = std::array::from_fn(|b| smooth(from[b], self.band_width[b], coef));
        let step: [f64; 3] = std::array::from_fn(|b| ramp_step(from[b], to[b], n));
        let target = if self.bands_on { 1.0 } else { 0.0 };
        let mut mix = self.bands_mix;
        let mut w = from;
        for i in 0..n {
            for b in 0..3 {
                w[b] += step[b];
            }
            let [lo, mi, hi] = [self.band_buf[0][i], self.band_buf[1][i], self.band_buf[2][i]];
            let wet = [lo[0] + mi[0] + hi[0], w[0] * lo[1] + w[1] * mi[1] + w[2] * hi[1]];
            if mix != target {
                mix = if target > mix { (mix + self.fade_step).min(1.0) } else { (mix - self.fade_step).max(0.0) };
            }
            self.mid[i] += mix * (wet[0] - self.mid[i]);
            self.side[i] += mix * (wet[1] - self.side[i]);
        }
        self.band_width_now = to;
        self.bands_mix = mix;
        if mix == 0.0 && target == 0.0 {
            self.bands.reset();
        }
    }
}

impl Stage for Width {
    type Settings = WidthSettings;

    fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.sample_rate = sample_rate;
        let per_chunk = |ms: f64| (-(CHUNK as f64) / (ms * 0.001 * sample_rate)).exp();
        self.param_coef = per_chunk(PARAM_SMOOTH_MS);
        self.safety_attack = per_chunk(SAFETY_ATTACK_MS);
        self.safety_release = per_chunk(SAFETY_RELEASE_MS);
        self.safety_window = per_chunk(SAFETY_WINDOW_MS);
        self.meter_coef = per_chunk(METER_MS);
        self.glide_coef = per_chunk(MONO_BASS_GLIDE_MS);
        self.fade_step = 1.0 / (PATH_FADE_MS * 0.001 * sample_rate).max(1.0);
        self.bands.prepare(sample_rate);
        self.bands.set_bands(3);
        self.mid = vec![0.0; max_block];
        self.side = vec![0.0; max_block];
        self.wet = [vec![0.0; max_block], vec![0.0; max_block]];
        self.frames = vec![[0.0; 2]; max_block];
        self.band_buf = vec![vec![[0.0; 2]; max_block]; 3];
        let s = self.settings.take().unwrap_or_default();
        self.set(&s);
        self.reset();
    }

    fn reset(&mut self) {
        self.width_now = self.width;
        self.band_width_now = self.band_width;
        self.balance_now = self.balance;
        self.safety_gain = 1.0;
        self.mono_bass_mix = if self.mono_bass { 1.0 } else { 0.0 };
        self.bands_mix = if self.bands_on { 1.0 } else { 0.0 };
        self.mono_bass_hz_now = self.mono_bass_split_hz;
        self.mono_bass_coefs = Lr8MidSideCoefs::new(self.mono_bass_split_hz, self.sample_rate);
        self.mono_bass_split.reset();
        self.bands.settle();
        self.bands.reset();
        self.safety_mid = 0.0;
        self.safety_side = 0.0;
        self.meter = [0.0; 3];
    }

    fn latency(&self) -> usize {
        0
    }

    /// Sanitising: widths clamp to `0..=MAX_WIDTH`, balance to `-1..=1`, the mono-bass
    /// frequency to `MONO_BASS_RANGE_HZ`, the band crossovers are sorted and clamped;
    /// `min_correlation` clamps to `-1..=1`, `max_mono_loss_db` to `0..=60`. Non-finite values
    /// take the defaults.
    fn set(&mut self, settings: &Self::Settings) {
        if self.settings.as_ref() == Some(settings) {
            return;
        }
        self.settings = Some(settings.clone());
        let d = WidthSettings::default();
        let clean = |x: f64, lo: f64, hi: f64, def: f64| if x.is_finite() { x.clamp(lo, hi) } else { def };
        self.width = clean(settings.width, 0.0, MAX_WIDTH, d.width);
        self.band_width = std::array::from_fn(|b| clean(settings.band_width[b], 0.0, MAX_WIDTH, 1.0));
        self.bands_on = self.band_width != [1.0; 3];
        self.balance = clean(settings.balance, -1.0, 1.0, 0.0);
        self.mono_bass = settings.mono_bass;
        let mb = clean(settings.mono_bass_hz, MONO_BASS_RANGE_HZ.0, MONO_BASS_RANGE_HZ.1, d.mono_bass_hz);
        self.mono_bass_split_hz = clamp_crossover(mb * MONO_BASS_SPLIT_RATIO, self.sample_rate.max(1.0));
        let mut xo: [f64; 2] = std::array::from_fn(|i| {
            let f = clean(settings.band_crossovers_hz[i], 20.0, 20000.0, d.band_crossovers_hz[i]);
            clamp_crossover(f, self.sample_rate.max(1.0))
        });
        xo.sort_by(|a, b| a.total_cmp(b));
        self.bands.set_frequencies(&xo);
        self.safety = settings.safety;
        let floor = clean(settings.min_correlation, -1.0, 1.0, d.min_correlation);
        let loss = clean(settings.max_mono_loss_db, 0.0, 60.0, d.max_mono_loss_db);
        let by_loss = 10f64.powf(loss / 10.0) - 1.0;
        let by_corr = if floor <= -1.0 { f64::INFINITY } else { (1.0 - floor) / (1.0 + floor) };
        self.max_side_ratio = by_loss.min(by_corr);
    }

    crate::stage::process_with_simd!(Width, process_impl);
}

impl Width {
    /// The body of [`Stage::process`], compiled once per instruction set
    /// ([`process_with_simd`](crate::stage::process_with_simd)).
    #[inline(always)]
    fn process_impl(&mut self, left: &mut [f64], right: &mut [f64]) {
        let n = left.len().min(right.len()).min(self.mid.len());
        if self.neutral() {
            // Untouched audio; the meters still follow it.
            for (cl, cr) in left[..n].chunks(CHUNK).zip(right[..n].chunks(CHUNK)) {
                let mut acc = [0.0; 3];
                for (l, r) in cl.iter().zip(cr) {
                    let (m, s) = (0.5 * (l + r), 0.5 * (l - r));
                    acc[0] += m * m;
                    acc[1] += s * s;
                    acc[2] += m * s;
                }
                self.meter_chunk(acc[0], acc[1], acc[2]);
            }
            return;
        }
        for (((m, s), &l), &r) in self.mid[..n].iter_mut().zip(&mut self.side[..n]).zip(&left[..n]).zip(&right[..n]) {
            let (l, r) = (clean_sample(l), clean_sample(r));
            *m = 0.5 * (l + r);
            *s = 0.5 * (l - r);
        }
        if self.mono_bass || self.mono_bass_mix > 0.0 {
            self.mono_bass_path(n);
        }
        if self.bands_on || self.bands_mix > 0.0 {
            self.bands_path(n);
        }
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let frac = len as f64 / CHUNK as f64;
            let coef = |c: f64| if len == CHUNK { c } else { partial_chunk_coef(c, frac) };
            let width_to = smooth(self.width_now, self.width, coef(self.param_coef));
            let balance_to = smooth(self.balance_now, self.balance, coef(self.param_coef));
            let (mid, side) = (&self.mid[start..start + len], &self.side[start..start + len]);
            // This chunk's sums of mid², side² and mid·side before the side gain: the safety's
            // energies of the output mid and would-be side (at the new width), and the meters.
            let [em, es0, ems] = chunk_sums(mid, side);
            let es = es0 * width_to * width_to;
            let safety_to = if self.safety {
                let w = coef(self.safety_window);
                self.safety_mid = self.safety_mid * w + em;
                self.safety_side = self.safety_side * w + es;
                let allowed = self.max_side_ratio * self.safety_mid;
                let target = if self.safety_side > allowed { safety_target(allowed, self.safety_side) } else { 1.0 };
                let c = if target < self.safety_gain { self.safety_attack } else { self.safety_release };
                smooth(self.safety_gain, target, coef(c))
            } else {
                smooth(self.safety_gain, 1.0, coef(self.safety_release))
            };
            let g_from = self.width_now * self.safety_gain;
            let g_to = width_to * safety_to;
            let g_step = ramp_step(g_from, g_to, len);
            let gains = |b: f64| [(1.0 - b).min(1.0), (1.0 + b).min(1.0)];
            let (bl_from, bl_to) = (gains(self.balance_now), gains(balance_to));
            let bl_step = [ramp_step(bl_from[0], bl_to[0], len), ramp_step(bl_from[1], bl_to[1], len)];
            // Gains from the sample index (no serial chain between samples), so the loop
            // vectorises.
            let (l, r) = (&mut left[start..start + len], &mut right[start..start + len]);
            for (k, (((l, r), &m), &s)) in l.iter_mut().zip(r.iter_mut()).zip(mid).zip(side).enumerate() {
                let t = (k as i32 + 1) as f64;
                let g = g_from + t * g_step;
                let (b0, b1) = (bl_from[0] + t * bl_step[0], bl_from[1] + t * bl_step[1]);
                let s = g * s;
                *l = b0 * (m + s);
                *r = b1 * (m - s);
            }
            // The meters: with a steady side gain the output sums follow from the chunk's
            // sums; while it ramps they are taken sample by sample (rare: automation or the
            // safety moving).
            let (ss_out, ms_out) = if g_step == 0.0 {
                (g_from * g_from * es0, g_from * ems)
            } else {
                ramped_sums(mid, side, g_from, g_step)
            };
            self.meter_chunk(em, ss_out, ms_out);
            self.width_now = width_to;
            self.balance_now = balance_to;
            self.safety_gain = safety_to;
            start += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_noise::TestNoise;

    /// The meter averages equal the output's own mid², side² and mid·side sums per chunk,
    /// averaged with the meter's coefficient, while the width is automated (side gain ramps)
    /// and while it is steady.
    #[test]
    fn meters_follow_the_output_exactly() {
        let fs = 48000.0;
        let mut w = Width::default();
        w.prepare(fs, 512);
        let mut noise = TestNoise::new(17);
        let mut reference = [0.0; 3];
        for block in 0..200 {
            let width = if block < 100 { 0.5 + 0.01 * block as f64 } else { 1.7 };
            w.set(&WidthSettings { width, ..Default::default() });
            let mut l: Vec<f64> = (0..CHUNK).map(|_| 0.5 * noise.uniform()).collect();
            let mut r: Vec<f64> = l.iter().map(|x| 0.6 * x + 0.2 * noise.uniform()).collect();
            w.process(&mut l, &mut r);
            let mut sums = [0.0; 3];
            for (l, r) in l.iter().zip(&r) {
                let (m, s) = (0.5 * (l + r), 0.5 * (l - r));
                sums[0] += m * m;
                sums[1] += s * s;
                sums[2] += m * s;
            }
            for i in 0..3 {
                reference[i] = reference[i] * w.meter_coef + sums[i];
            }
            for i in 0..3 {
                let d = (w.meter[i] - reference[i]).abs();
                assert!(d <= 1e-9 * reference[0].max(reference[1]), "block {block} sum {i}: {d}");
            }
        }
    }
}
