//! Stage 7, the true-peak limiter, always last: its ceiling is a promise.
//!
//! ```text
//! in ─ drive ─┬─ true-peak detector (L×) ─ required gain ─ stereo link ─ gain planner ─┐
//!             └─ delay (detector + lookahead) ───────────────────────────────────────── × ─┐
//!   ┌──────────────────────────────────────────────────────────────────────────────────────┘
//!   └─┬─ guard true-peak detector (L×) ─ required gain ─ short gain planner ─┐
//!     └─ delay (guard detector + guard ramp) ─────────────────────────────── × ─ out
//! ```
//!
//! **Main limiter.** The drive-gained input's true peak is estimated per sample with a
//! polyphase interpolator (4x, 8x or 16x) refined by three-point fits (`limiter/peak.rs`).
//! The gain each sample needs to stay under the ceiling goes through the gain planner
//! (`limiter/envelope.rs`): a sliding minimum over the lookahead, a release follower and two
//! running means, so the gain slides down along an S-curve that reaches its target exactly when
//! the peak arrives (the lookahead) and then recovers with the release. The audio is delayed to
//! match. There is no clipping in this path.
//!
//! **Guard.** Gain changes modulate the signal, and a smoothly varied gain applied at the base
//! rate can still form an inter-sample peak the detector never saw (the product of gain and
//! audio is not band-limited like either). So the *output* of the main limiter is measured
//! again with its own true-peak detector, and any residual excess is removed by a second,
//! short planner (a ramp of [`GUARD_RAMP_MS`]) that covers a few samples either side of the
//! excess. Its corrections are small (hundredths of a dB) and rare, so they are inaudible;
//! its latency is part of the reported latency.
//!
//! The main limiter aims [`MAIN_MARGIN_DB`] under the ceiling, the guard [`GUARD_MARGIN_DB`]
//! under it: the guard only acts on what the main limiter missed.
//!
//! **Release.** Fixed: one follower with the release time. Auto (program-dependent): a fast
//! follower (release × [`AUTO_FAST_RATIO`]) and a slow one that only charges under sustained
//! limiting (it moves towards deeper reduction with a time constant of release ×
//! [`AUTO_SLOW_ATTACK_RATIO`] and recovers with release × [`AUTO_SLOW_RELEASE_RATIO`]); the
//! deeper of the two is applied, so an isolated peak recovers fast (no pumping after a
//! snare) while a dense passage recovers slowly (no distortion from a gain that chases the
//! waveform).
//!
//! **Automation.** The ceiling travels with the audio: a ceiling change applies to the
//! samples that entered the limiter after it (the output meets the ceiling that was in force
//! when each sample came in). The gain planner smooths the resulting gain change. Drive is
//! smoothed over [`DRIVE_SMOOTH_MS`]. Lookahead and oversampling are structural: changing
//! them changes the latency and restarts the limiter (a short silence, as on any latency
//! change).

mod envelope;
mod peak;

use crate::delay::DelayLine;
use crate::stage::Stage;
use crate::util::{db_to_gain, gain_to_db, ms_to_samples};
use envelope::{LookaheadEnvelope, Release};
use peak::PeakEstimator;

/// Oversampling factor of the true-peak detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakOversampling {
    #[default]
    X4,
    X8,
    X16,
}

impl PeakOversampling {
    const ALL: [PeakOversampling; 3] = [PeakOversampling::X4, PeakOversampling::X8, PeakOversampling::X16];

    pub fn factor(self) -> usize {
        match self {
            PeakOversampling::X4 => 4,
            PeakOversampling::X8 => 8,
            PeakOversampling::X16 => 16,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimiterSettings {
    /// Output ceiling, dBTP (-3 .. -0.1).
    pub ceiling_dbtp: f64,
    /// Gain into the limiter, dB (-12 .. 24).
    pub drive_db: f64,
    /// Lookahead, ms (0.5 .. 5). Structural: sets the latency.
    pub lookahead_ms: f64,
    /// Base release time, ms (1 .. 1000).
    pub release_ms: f64,
    /// Program-dependent release: faster on transients, slower on sustained limiting.
    pub auto_release: bool,
    /// Detection oversampling. Structural: sets the latency.
    pub oversampling: PeakOversampling,
    /// 0 = channels independent, 1 = fully linked.
    pub stereo_link: f64,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            ceiling_dbtp: -1.0,
            drive_db: 0.0,
            lookahead_ms: 1.5,
            release_ms: 100.0,
            auto_release: true,
            oversampling: PeakOversampling::X4,
            stereo_link: 1.0,
        }
    }
}

/// Ceiling range, dBTP.
pub const CEILING_MIN_DBTP: f64 = -3.0;
pub const CEILING_MAX_DBTP: f64 = -0.1;
/// Lookahead range, ms.
pub const LOOKAHEAD_MIN_MS: f64 = 0.5;
pub const LOOKAHEAD_MAX_MS: f64 = 5.0;
/// Release range, ms.
pub const RELEASE_MIN_MS: f64 = 1.0;
pub const RELEASE_MAX_MS: f64 = 1000.0;
/// Drive range, dB (a limiter driven further is a clipper by another name).
pub const DRIVE_MIN_DB: f64 = -12.0;
pub const DRIVE_MAX_DB: f64 = 24.0;

/// Main detector: taps per phase of its first 2x stage and its passband edge (fraction of the
/// sample rate): flat to 0.485 fs. A cheaper detector (32 taps, flat to 0.45 fs) was tried:
/// on full-scale white noise it under-reads by a few tenths of a dB, more than the short guard
/// can remove without its own modulation overshooting (measured +0.07 dB). 96 taps flat to
/// 0.48 fs still under-read noise concentrated in 0.48-0.5 fs (what an oversampled saturator's
/// decimator leaves there) by up to 0.35 dB through the whole chain; 128/0.485 keeps the
/// worst case over the torture set at -1.01 dBTP for a -1 dBTP ceiling at 44.1/48/96 kHz.
const DETECTOR_TAPS: usize = 128;
const DETECTOR_PASSBAND: f64 = 0.485;
/// Guard detector: flat to 0.49 fs, so that even content right against half the sample rate
/// (a naive square wave, white noise, aliasing residue near Nyquist) is read as a long,
/// accurate reference interpolator reads it. Making both detectors 192/0.49 measured worse
/// (-0.80 dBTP): the main limiter's longer filter delays its own gain decisions.
const GUARD_TAPS: usize = 192;
const GUARD_PASSBAND: f64 = 0.49;
/// Main limiter target under the ceiling: absorbs the detector's residual under-read on
/// programme (not on sines, which the fit reads exactly), so the guard rarely has to act.
pub const MAIN_MARGIN_DB: f64 = 0.06;
/// Guard target under the ceiling: covers the guard detector's own error.
pub const GUARD_MARGIN_DB: f64 = 0.04;
/// Samples either side of a detected excess that its required gain also covers (an
/// inter-sample peak is shaped by its neighbours). Main limiter and guard.
const MAIN_SPREAD: usize = 2;
const GUARD_SPREAD: usize = 8;
/// Ramp of the guard's gain planner, ms: short, so its latency is small, long enough to be a
/// smooth gain change rather than a clip.
pub const GUARD_RAMP_MS: f64 = 0.25;
/// Drive smoothing time constant, ms.
pub const DRIVE_SMOOTH_MS: f64 = 10.0;
/// Auto release: fast follower's time as a fraction of the release time.
pub const AUTO_FAST_RATIO: f64 = 0.3;
/// Auto release: how long limiting must last to count as sustained, × release time.
pub const AUTO_SLOW_ATTACK_RATIO: f64 = 2.0;
/// Auto release: slow follower's recovery time, × release time.
pub const AUTO_SLOW_RELEASE_RATIO: f64 = 3.0;

/// One-pole coefficient for a time constant of `ms` at `sample_rate`.
fn one_pole(ms: f64, sample_rate: f64) -> f64 {
    1.0 - (-1.0 / (ms * 0.001 * sample_rate).max(1.0)).exp()
}

/// Gain that brings a peak `peak` down to `target` (1 if it is already below).
#[inline]
fn required_gain(target: f64, peak: f64) -> f64 {
    if peak > target {
        target / peak
    } else {
        1.0
    }
}

/// The smallest of `values` (+inf if empty; the ceilings it is used on are never NaN), in
/// four independent running minima so that it is not one long chain of dependent minima.
fn lowest(values: &[f64]) -> f64 {
    let mut m = [f64::INFINITY; 4];
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        for i in 0..4 {
            m[i] = if q[i] < m[i] { q[i] } else { m[i] };
        }
    }
    for &v in quads.remainder() {
        m[0] = if v < m[0] { v } else { m[0] };
    }
    let a = if m[1] < m[0] { m[1] } else { m[0] };
    let b = if m[3] < m[2] { m[3] } else { m[2] };
    if b < a {
        b
    } else {
        a
    }
}

/// A mono delay for the per-sample ceiling, so it travels with the audio.
#[derive(Debug, Default)]
struct ValueDelay {
    buf: Vec<f64>,
    pos: usize,
    delay: usize,
    /// The value pushed last and how many times in a row (saturating): once that is the whole
    /// buffer, every delayed value is it and a block needs no ring steps.
    last: f64,
    run: usize,
}

impl ValueDelay {
    fn prepare(&mut self, max_delay: usize) {
        self.buf = vec![0.0; max_delay + 1];
        self.delay = self.delay.min(max_delay);
        (self.last, self.run) = (0.0, 0);
    }

    /// Set the delay and fill with `value`.
    fn configure(&mut self, delay: usize, value: f64) {
        self.delay = delay.min(self.buf.len().saturating_sub(1));
        self.buf.fill(value);
        self.pos = 0;
        (self.last, self.run) = (value, usize::MAX);
    }

    /// Push `v` once per value of `out` and write the delayed values there (the position
    /// stays in a register, not in `self`, through the loop).
    #[inline]
    fn push_fill(&mut self, v: f64, out: &mut [f64]) {
        let len = self.delay + 1;
        if v.to_bits() != self.last.to_bits() {
            (self.last, self.run) = (v, 0);
        }
        if self.run >= len {
            // Every value in the ring is `v`: so is every value read, and the ring stays as it
            // is (only its position moves).
            out.fill(v);
            self.pos = (self.pos + out.len()) % len;
            return;
        }
        let buf = &mut self.buf[..len];
        let mut pos = self.pos;
        for o in out.iter_mut() {
            buf[pos] = v;
            pos += 1;
            if pos == len {
                pos = 0;
            }
            // The oldest of the last `len` values sits at the next write position.
            *o = buf[pos];
        }
        self.pos = pos;
        self.run = self.run.saturating_add(out.len());
    }
}

/// Stage 7.
#[derive(Debug, Default)]
pub struct Limiter {
    sample_rate: f64,
    settings: LimiterSettings,
    /// Main detectors per oversampling option, `[option][channel]`, all allocated in
    /// `prepare` so switching never allocates.
    detectors: Vec<[PeakEstimator; 2]>,
    /// Guard detectors, same layout.
    guard_detectors: Vec<[PeakEstimator; 2]>,
    /// Main planners, one per channel.
    planners: Vec<LookaheadEnvelope>,
    /// The right planner's state is the left one's: set by a reset and while fully linked
    /// (identical state, identical input, identical output). Then only the left planner runs
    /// and the right one is brought up to date (copied) when the link is loosened.
    right_follows_left: bool,
    /// The guard's planner (linked), in a `Vec` of one only because it exists after
    /// `prepare`.
    guard_planner: Vec<LookaheadEnvelope>,
    /// Active oversampling option and lookahead ramp (samples): the structure.
    active: PeakOversampling,
    ramp: usize,
    /// The guard's ramp, samples ([`GUARD_RAMP_MS`]).
    guard_ramp: usize,
    main_delay: DelayLine,
    guard_delay: DelayLine,
    ceiling_delay: ValueDelay,
    /// Linear ceiling as set (the targets are computed from it per block).
    ceiling: f64,
    /// Drive: smoothed gain, its target and the one-pole coefficient.
    drive: f64,
    drive_target: f64,
    drive_coef: f64,
    /// Stereo link, 0 .. 1.
    link: f64,
    /// Per-block scratch: main gains (L, R), guard gains, guard peaks (R), delayed ceilings.
    gain_l: Vec<f64>,
    gain_r: Vec<f64>,
    guard_gain: Vec<f64>,
    /// The guard detector's right-channel peaks.
    peak_r: Vec<f64>,
    ceiling_at_guard: Vec<f64>,
    /// Gain reduction applied to the last sample, dB, positive.
    reduction_db: f64,
    prepared: bool,
}

impl Limiter {
    /// Gain reduction currently applied (main limiter × guard, the more reduced channel), in
    /// dB as a positive number: 0 when not limiting, 3 when the output is 3 dB below the
    /// driven input. Drive is not included.
    pub fn gain_reduction_db(&self) -> f64 {
        self.reduction_db
    }

    fn main_delay_len(&self) -> usize {
        self.detector_delay(self.active) + LookaheadEnvelope::delay(self.ramp, MAIN_SPREAD)
    }

    fn guard_delay_len(&self) -> usize {
        self.guard_detector_delay(self.active) + LookaheadEnvelope::delay(self.guard_ramp, GUARD_SPREAD)
    }

    /// Delay of the main detector's estimate for an oversampling option.
    fn detector_delay(&self, option: PeakOversampling) -> usize {
        self.detectors[option.index()][0].latency()
    }

    fn guard_detector_delay(&self, option: PeakOversampling) -> usize {
        self.guard_detectors[option.index()][0].latency()
    }

    /// The ceiling delay: it must reach the guard together with the audio it measures.
    fn ceiling_delay_len(&self) -> usize {
        self.main_delay_len() + self.guard_detector_delay(self.active)
    }

    fn lookahead_samples(&self, ms: f64) -> usize {
        ms_to_samples(ms.clamp(LOOKAHEAD_MIN_MS, LOOKAHEAD_MAX_MS), self.sample_rate)
    }

    fn release_params(&self) -> Release {
        let ms = self.settings.release_ms.clamp(RELEASE_MIN_MS, RELEASE_MAX_MS);
        let fs = self.sample_rate;
        if self.settings.auto_release {
            Release {
                fast: one_pole(ms * AUTO_FAST_RATIO, fs),
                auto: true,
                slow_attack: one_pole(ms * AUTO_SLOW_ATTACK_RATIO, fs),
                slow_release: one_pole(ms * AUTO_SLOW_RELEASE_RATIO, fs),
            }
        } else {
            Release { fast: one_pole(ms, fs), ..Release::INSTANT }
        }
    }

    /// Apply the structural settings (oversampling, lookahead) and clear all state.
    fn restructure(&mut self) {
        self.active = self.settings.oversampling;
        self.ramp = self.lookahead_samples(self.settings.lookahead_ms);
        let release = self.release_params();
        for p in &mut self.planners {
            p.set_ramp(self.ramp);
            p.set_release(release);
        }
        let main = self.main_delay_len();
        let guard = self.guard_delay_len();
        self.main_delay.set_delay(main);
        self.guard_delay.set_delay(guard);
        self.reset();
    }
}

impl Stage for Limiter {
    type Settings = LimiterSettings;

    fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.sample_rate = sample_rate;
        let max_ramp = self.lookahead_samples(LOOKAHEAD_MAX_MS);
        self.guard_ramp = ms_to_samples(GUARD_RAMP_MS, sample_rate);
        self.detectors = PeakOversampling::ALL
            .iter()
            .map(|o| {
                // The main limiter's readings need no proven bound (the guard's carry the
                // promise): its fits run in `f32`.
                std::array::from_fn(|_| {
                    PeakEstimator::new(o.factor(), DETECTOR_TAPS, DETECTOR_PASSBAND).with_f32_fits()
                })
            })
            .collect();
        self.guard_detectors = PeakOversampling::ALL
            .iter()
            .map(|o| std::array::from_fn(|_| PeakEstimator::new(o.factor(), GUARD_TAPS, GUARD_PASSBAND)))
            .collect();
        self.planners = vec![LookaheadEnvelope::new(max_ramp, MAIN_SPREAD); 2];
        self.guard_planner = vec![LookaheadEnvelope::new(self.guard_ramp, GUARD_SPREAD)];
        // Size the delays for the longest structure: maximum lookahead, slowest option.
        self.ramp = max_ramp;
        self.active = PeakOversampling::X16;
        self.main_delay.prepare(self.main_delay_len());
        self.guard_delay.prepare(self.guard_delay_len());
        self.ceiling_delay.prepare(self.ceiling_delay_len());
        let max_block = max_block.max(1);
        self.gain_l = vec![1.0; max_block];
        self.gain_r = vec![1.0; max_block];
        self.guard_gain = vec![1.0; max_block];
        self.peak_r = vec![0.0; max_block];
        self.ceiling_at_guard = vec![1.0; max_block];
        self.drive_coef = one_pole(DRIVE_SMOOTH_MS, sample_rate);
        self.prepared = true;
        let settings = self.settings.clone();
        self.apply(&settings);
        self.restructure();
    }

    fn reset(&mut self) {
        for d in self.detectors.iter_mut().chain(self.guard_detectors.iter_mut()) {
            d.iter_mut().for_each(PeakEstimator::reset);
        }
        self.planners.iter_mut().for_each(LookaheadEnvelope::reset);
        self.right_follows_left = true;
        self.guard_planner.iter_mut().for_each(LookaheadEnvelope::reset);
        self.main_delay.reset();
        self.guard_delay.reset();
        let delay = self.ceiling_delay_len();
        self.ceiling_delay.configure(delay, self.ceiling);
        self.drive = self.drive_target;
        self.reduction_db = 0.0;
    }

    fn latency(&self) -> usize {
        if !self.prepared {
            return 0;
        }
        self.main_delay_len() + self.guard_delay_len()
    }

    fn max_latency(&self) -> usize {
        if !self.prepared {
            return 0;
        }
        let max_ramp = self.lookahead_samples(LOOKAHEAD_MAX_MS);
        PeakOversampling::ALL
            .iter()
            .map(|&o| {
                self.detector_delay(o)
                    + LookaheadEnvelope::delay(max_ramp, MAIN_SPREAD)
                    + self.guard_detector_delay(o)
                    + LookaheadEnvelope::delay(self.guard_ramp, GUARD_SPREAD)
            })
            .max()
            .unwrap_or(0)
    }

    fn set(&mut self, settings: &Self::Settings) {
        if *settings == self.settings {
            return;
        }
        let structural = settings.oversampling != self.settings.oversampling
            || self.lookahead_samples(settings.lookahead_ms) != self.lookahead_samples(self.settings.lookahead_ms);
        let release_changed =
            settings.release_ms != self.settings.release_ms || settings.auto_release != self.settings.auto_release;
        self.settings = settings.clone();
        if !self.prepared {
            return;
        }
        self.apply(settings);
        if release_changed {
            self.update_release();
        }
        if structural {
            self.restructure();
        }
    }

    crate::stage::process_with_simd!(Limiter, process_impl);
}

impl Limiter {
    /// [`Stage::process`], compiled once per instruction set (the per-sample loops here
    /// vectorise; the detectors and planners pick their own kernels).
    #[inline(always)]
    fn process_impl(&mut self, left: &mut [f64], right: &mut [f64]) {
        if !self.prepared {
            return;
        }
        let n = left.len().min(right.len());
        let main_target = self.ceiling * db_to_gain(-MAIN_MARGIN_DB);
        let guard_factor = db_to_gain(-GUARD_MARGIN_DB);
        let link = self.link;
        let index = self.active.index();

        // Main limiter: detect on the driven input, plan the gain. The detectors run a block
        // at a time (their interpolators are much faster so); their peaks go through the gain
        // buffers, which the planners then overwrite with the gains.
        if self.drive == self.drive_target {
            // Settled: the smoothing would leave the drive where it is (a serial recursion
            // otherwise, one of the longest chains of latency per sample).
            let drive = self.drive;
            for (l, r) in left[..n].iter_mut().zip(&mut right[..n]) {
                *l *= drive;
                *r *= drive;
            }
        } else {
            for (l, r) in left[..n].iter_mut().zip(&mut right[..n]) {
                self.drive += (self.drive_target - self.drive) * self.drive_coef;
                *l *= self.drive;
                *r *= self.drive;
            }
            // The one-pole never lands on its target exactly (the last steps round to
            // nothing): within 1e-12 (-240 dB) it has arrived.
            if (self.drive - self.drive_target).abs() <= 1e-12 * self.drive_target {
                self.drive = self.drive_target;
            }
        }
        let linked = link == 1.0;
        // Fully linked with the right planner's state the left one's: the left gains serve both.
        let right_is_left = linked && self.right_follows_left;
        {
            let [det_l, det_r] = &mut self.detectors[index];
            // Estimates at most the target need no gain, whatever their exact value.
            det_l.push_block(&left[..n], &mut self.gain_l[..n], main_target);
            det_r.push_block(&right[..n], &mut self.gain_r[..n], main_target);
            let gains = self.gain_l[..n].iter_mut().zip(&mut self.gain_r[..n]);
            if linked {
                // Both channels need what the louder one needs (division is monotonic, so
                // this is the smaller of the two requirements exactly, for one division).
                for (l, r) in gains {
                    let need = required_gain(main_target, l.max(*r));
                    (*l, *r) = (need, need);
                }
            } else {
                for (l, r) in gains {
                    let need_l = required_gain(main_target, *l);
                    let need_r = required_gain(main_target, *r);
                    let need_linked = need_l.min(need_r);
                    *l = need_l + link * (need_linked - need_l);
                    *r = need_r + link * (need_linked - need_r);
                }
            }
            let [plan_l, plan_r] = &mut self.planners[..] else { unreachable!() };
            if right_is_left {
                // Both channels take the left gains (the right buffer is left as it is).
                plan_l.process_block(&mut self.gain_l[..n]);
            } else {
                if self.right_follows_left {
                    plan_r.copy_from(plan_l);
                }
                plan_l.process_block(&mut self.gain_l[..n]);
                plan_r.process_block(&mut self.gain_r[..n]);
                // After a return to full link both see the same input: once their states
                // meet, one is enough again.
                self.right_follows_left = linked && plan_l == plan_r;
            }
        }
        self.ceiling_delay.push_fill(self.ceiling, &mut self.ceiling_at_guard[..n]);
        // The main gains apply to the delayed audio on its way out of the delay line. Guard:
        // measure the limited output, plan a residual correction (the left peaks go through
        // the guard's gain buffer).
        let gain_r = if right_is_left { &self.gain_l[..n] } else { &self.gain_r[..n] };
        self.main_delay.process_scaled(&mut left[..n], &mut right[..n], &self.gain_l[..n], gain_r);
        {
            let [det_l, det_r] = &mut self.guard_detectors[index];
            // The detectors interpolate in `f32`: each reading is within `error_bound · S` of
            // the exact-arithmetic one, `S` the largest magnitude the reading depends on. The
            // guard's input is already limited to about the ceiling, so `S` is taken as the
            // larger of the reading and the ceiling, and the bound added (an upper bound on
            // the rounding, about 0.0004 dB).
            let rounding = det_l.error_bound();
            // A reading `p <= c · (guard_factor - rounding)` (so `p < c`) gives
            // `p + rounding · c <= c · guard_factor`: no gain, whatever its exact value. The
            // floor takes the lowest ceiling of the block, less 1e-12 for the rounding of
            // these expressions.
            let lowest = lowest(&self.ceiling_at_guard[..n]);
            let floor = (lowest * (guard_factor - rounding) * (1.0 - 1e-12)).max(0.0);
            det_l.push_block(&left[..n], &mut self.guard_gain[..n], floor);
            det_r.push_block(&right[..n], &mut self.peak_r[..n], floor);
            for ((g, &r), &c) in self.guard_gain[..n].iter_mut().zip(&self.peak_r[..n]).zip(&self.ceiling_at_guard[..n])
            {
                let peak = g.max(r);
                *g = required_gain(c * guard_factor, peak + rounding * peak.max(c));
            }
            self.guard_planner[0].process_block(&mut self.guard_gain[..n]);
        }
        self.guard_delay.process_scaled(&mut left[..n], &mut right[..n], &self.guard_gain[..n], &self.guard_gain[..n]);
        if n > 0 {
            let gain = self.gain_l[n - 1].min(gain_r[n - 1]) * self.guard_gain[n - 1];
            self.reduction_db = -gain_to_db(gain);
        }
    }

    /// Take the non-structural settings (no allocation, no reset).
    fn apply(&mut self, s: &LimiterSettings) {
        self.ceiling = db_to_gain(s.ceiling_dbtp.clamp(CEILING_MIN_DBTP, CEILING_MAX_DBTP));
        self.drive_target = db_to_gain(s.drive_db.clamp(DRIVE_MIN_DB, DRIVE_MAX_DB));
        self.link = s.stereo_link.clamp(0.0, 1.0);
    }

    /// Recompute the release coefficients (a few `exp`, so only when they change).
    fn update_release(&mut self) {
        let release = self.release_params();
        self.planners.iter_mut().for_each(|p| p.set_release(release));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ceiling delay gives every pushed value back `delay` pushes later, whether it runs
    /// its ring or its settled shortcut, in blocks of any length and with values that hold
    /// for shorter and longer than the delay.
    #[test]
    fn value_delay_is_a_delay() {
        let delay = 37;
        let mut d = ValueDelay::default();
        d.prepare(100);
        d.configure(delay, 0.5);
        let mut history = vec![0.5; delay];
        let mut got = Vec::new();
        let (mut value, mut count) = (0.5, 0u64);
        for (k, &size) in [1usize, 5, 64, 3, 100, 36, 38, 1, 512, 7].iter().cycle().take(200).enumerate() {
            // A new value every few blocks; sometimes the same value again.
            if k % 7 == 3 {
                count += 1;
                value = [0.9, 0.9, 0.7, 0.25][(count % 4) as usize];
            }
            let mut out = vec![0.0; size];
            d.push_fill(value, &mut out);
            got.extend_from_slice(&out);
            history.extend(std::iter::repeat_n(value, size));
        }
        for (n, (g, e)) in got.iter().zip(&history).enumerate() {
            assert_eq!(g, e, "push {n}");
        }
    }

    /// Back to full link after a stretch of partial link, the two planners see the same
    /// requirements, their states meet, and one planner serves both channels again (in
    /// blocks of whole chunks, of half a chunk, or of neither).
    #[test]
    fn full_link_returns_to_one_planner() {
        for block in [512, 32, 100] {
            let mut limiter = Limiter::default();
            let settings =
                LimiterSettings { drive_db: 12.0, auto_release: false, stereo_link: 0.5, ..Default::default() };
            limiter.set(&settings);
            limiter.prepare(48_000.0, 512);
            let mut noise = crate::test_noise::TestNoise::new(0x5eed);
            let mut run = |limiter: &mut Limiter, blocks: usize| {
                for _ in 0..blocks {
                    let mut l: Vec<f64> = (0..block).map(|_| noise.uniform() - 0.5).collect();
                    let mut r: Vec<f64> = (0..block).map(|_| noise.uniform() - 0.5).collect();
                    limiter.process(&mut l, &mut r);
                }
            };
            run(&mut limiter, 48_000 / block);
            assert!(!limiter.right_follows_left, "block {block}: partly linked, both planners run");
            limiter.set(&LimiterSettings { stereo_link: 1.0, ..settings });
            run(&mut limiter, 48_000 / block);
            assert!(limiter.right_follows_left, "block {block}: fully linked again, one planner");
        }
    }
}
