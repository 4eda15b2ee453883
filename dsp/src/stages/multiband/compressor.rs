//! One band's stereo compressor: detector, static gain computer and dB-domain envelope,
//! evaluated at a control rate and applied as a per-sample linear gain ramp.
//!
//! Signal path per channel (lane):
//! 1. Detector: the peak `|x|` or the mean square of each control chunk (about 1/3 ms) goes
//!    into a short ring; the level is the maximum over the last `PEAK_HOLD_MS` (peak; less
//!    for releases under 200 ms, see `HOLD_FRACTION_OF_RELEASE`) or the mean over the last
//!    `RMS_WINDOW_MS` (RMS). The hold makes a steady sine read its true peak with no ripple
//!    (any `|x|` period up to the hold: with the full hold, sines from 50 Hz up).
//! 2. Stereo link: each lane's level moves towards the louder lane's by `link`.
//! 3. Static curve (soft knee of width `knee`, quadratic inside it) gives the target gain
//!    reduction in dB.
//! 4. Envelope: a one-pole on the gain reduction in dB, with the attack coefficient while
//!    the reduction grows and the release coefficient while it shrinks.
//! 5. Gain in dB = band activity x (makeup - reduction), to linear (fast `exp2`), times the
//!    solo/mute factor; ramped linearly across the chunk.
//!
//! **Time constants.** The attack (release) time `tau` is the time the gain reduction in dB
//! takes to cover `1 - 1/e` (63.2 %) of a step of its target that raises (lowers) it. The
//! envelope realises exactly that (coefficient `exp(-chunk / (tau fs))` per chunk); with the
//! peak detector a rising level is seen within one chunk, a falling one only after the hold
//! has passed (at most 5 % of the release time, the price of a ripple-free peak reading). The RMS window
//! averages the level on top of the envelope.
//!
//! **Auto makeup** adds the static curve's gain reduction at a reference level of
//! `AUTO_MAKEUP_REF_DB` (a typical programme peak of a band in a mastering chain): material
//! around that level keeps its loudness whatever the threshold and ratio, and the makeup is
//! a fixed, predictable function of the settings (no slow level chasing that would pump).

use super::fast_log::fast_exp2;
use super::{CompBand, Detector};

/// Longest hold window of the peak detector (a sliding maximum).
pub const PEAK_HOLD_MS: f64 = 10.0;

/// The peak hold is at most this fraction of the release time, so the hold, which delays
/// the start of every release, stretches the measured release by 5 % at most. (A short
/// release then follows the waveform of low tones a little, as a fast release does anyway.)
pub const HOLD_FRACTION_OF_RELEASE: f64 = 0.05;

/// Length of the RMS detector's averaging window.
pub const RMS_WINDOW_MS: f64 = 20.0;

/// Reference level for auto makeup, dBFS (peak or RMS as the detector reads).
pub const AUTO_MAKEUP_REF_DB: f64 = -12.0;

/// Time constant of the makeup gain smoother (makeup and auto-makeup changes glide).
const MAKEUP_SMOOTH_MS: f64 = 20.0;

/// Duration of the fades for band bypass and solo/mute.
const BAND_FADE_MS: f64 = 10.0;

/// dB per unit of `log2` of an amplitude (`20 log10 2`).
const DB_PER_LOG2_AMPLITUDE: f64 = 6.020_599_913_279_624;

/// dB per unit of `log2` of a power (`10 log10 2`).
const DB_PER_LOG2_POWER: f64 = 3.010_299_956_639_812;

/// Stereo lanes (left/right or mid/side).
type Lanes = [f64; 2];

/// The static curve: gain reduction in dB (>= 0) for a level `x_db`, soft knee of width
/// `knee_db` centred on the threshold.
#[inline(always)]
pub fn static_reduction_db(x_db: f64, threshold_db: f64, ratio: f64, knee_db: f64) -> f64 {
    let slope = 1.0 - 1.0 / ratio;
    let over = x_db - threshold_db;
    if 2.0 * over <= -knee_db {
        0.0
    } else if 2.0 * over >= knee_db {
        slope * over
    } else {
        let d = over + 0.5 * knee_db;
        slope * d * d / (2.0 * knee_db)
    }
}

/// Per-band settings in the units the control path uses.
#[derive(Debug, Clone, Copy)]
struct Params {
    threshold_db: f64,
    ratio: f64,
    knee_db: f64,
    /// Envelope coefficients for one full control chunk.
    attack_coef: f64,
    release_coef: f64,
    attack_ms: f64,
    release_ms: f64,
    /// `1 - 1/ratio` and `slope / (2 knee)` (0 without a knee): the static curve without
    /// divisions, for the control path.
    slope: f64,
    knee_curve: f64,
}

impl Params {
    /// [`static_reduction_db`] with the divisions precomputed (equal up to rounding).
    #[inline(always)]
    fn reduction_db(&self, x_db: f64) -> f64 {
        let over = x_db - self.threshold_db;
        if 2.0 * over <= -self.knee_db {
            0.0
        } else if 2.0 * over >= self.knee_db {
            self.slope * over
        } else {
            let d = over + 0.5 * self.knee_db;
            d * d * self.knee_curve
        }
    }
}

/// One band's compressor over two lanes.
#[derive(Debug, Clone, Default)]
pub struct BandCompressor {
    /// Samples per control chunk and the sample rate (set by `prepare`).
    chunk: usize,
    sample_rate: f64,
    params: Option<Params>,
    detector: Detector,
    /// 0 = channels independent, 1 = both lanes follow the louder.
    link: f64,
    /// Detector ring: per chunk, the peak (peak mode) or the sum of squares (RMS mode),
    /// with the number of samples of each entry (the last chunk of a block may be short).
    ring: Vec<Lanes>,
    ring_len: Vec<usize>,
    /// Entries in use: the hold or averaging window in chunks.
    ring_used: usize,
    ring_pos: usize,
    /// Peak mode: the maximum of `ring[..ring_used]`, kept up to date incrementally.
    held: Lanes,
    /// RMS mode: running sums of `ring` and `ring_len` over the window.
    sum: Lanes,
    count: usize,
    /// Smoothed gain reduction per lane, dB.
    reduction_db: Lanes,
    makeup_db: f64,
    makeup_target_db: f64,
    makeup_coef: f64,
    /// Band activity: 1 = compressing, 0 = bypassed (unity); glides at `fade_step` per sample.
    active: f64,
    active_target: f64,
    /// Solo/mute factor: 0 while another band is soloed.
    audible: f64,
    audible_target: f64,
    fade_step: f64,
    /// Linear gain applied at the end of the previous chunk, per lane.
    gain: Lanes,
}

impl BandCompressor {
    pub fn prepare(&mut self, sample_rate: f64, chunk: usize) {
        self.sample_rate = sample_rate;
        self.chunk = chunk;
        let chunks = |ms: f64| ((ms * 0.001 * sample_rate / chunk as f64).ceil() as usize).max(1);
        let cap = chunks(PEAK_HOLD_MS).max(chunks(RMS_WINDOW_MS));
        self.ring = vec![[0.0; 2]; cap];
        self.ring_len = vec![0; cap];
        self.makeup_coef = (-(chunk as f64) / (MAKEUP_SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.fade_step = 1.0 / (BAND_FADE_MS * 0.001 * sample_rate).max(1.0);
        self.ring_used = self.window_chunks();
        if let Some(p) = self.params {
            self.params = Some(self.make_params(p.threshold_db, p.ratio, p.knee_db, p.attack_ms, p.release_ms));
        }
        self.reset();
    }

    /// Clear signal state; fades and makeup jump to their targets.
    pub fn reset(&mut self) {
        self.clear_detector();
        self.reduction_db = [0.0; 2];
        self.makeup_db = self.makeup_target_db;
        self.active = self.active_target;
        self.audible = self.audible_target;
        let g = self.audible * fast_exp2(self.active * self.makeup_db / DB_PER_LOG2_AMPLITUDE);
        self.gain = [g; 2];
    }

    fn clear_detector(&mut self) {
        self.ring.fill([0.0; 2]);
        self.ring_len.fill(0);
        self.ring_pos = 0;
        self.held = [0.0; 2];
        self.sum = [0.0; 2];
        self.count = 0;
    }

    fn window_chunks(&self) -> usize {
        let release_ms = self.params.map_or(PEAK_HOLD_MS, |p| p.release_ms);
        let ms = match self.detector {
            Detector::Peak => PEAK_HOLD_MS.min(HOLD_FRACTION_OF_RELEASE * release_ms),
            Detector::Rms => RMS_WINDOW_MS,
        };
        ((ms * 0.001 * self.sample_rate / self.chunk as f64).ceil() as usize).clamp(1, self.ring.len().max(1))
    }

    fn make_params(&self, threshold_db: f64, ratio: f64, knee_db: f64, attack_ms: f64, release_ms: f64) -> Params {
        let coef = |ms: f64| (-(self.chunk as f64) / (ms * 0.001 * self.sample_rate)).exp();
        Params {
            threshold_db,
            ratio,
            knee_db,
            attack_coef: coef(attack_ms),
            release_coef: coef(release_ms),
            attack_ms,
            release_ms,
            slope: 1.0 - 1.0 / ratio,
            knee_curve: if knee_db > 0.0 { (1.0 - 1.0 / ratio) / (2.0 * knee_db) } else { 0.0 },
        }
    }

    /// Take (already sanitised) band settings. `audible` is false while another band is
    /// soloed. Cheap when nothing changed.
    pub fn set(&mut self, band: &CompBand, detector: Detector, link: f64, auto_makeup: bool, audible: bool) {
        let changed = match self.params {
            Some(p) => {
                p.threshold_db != band.threshold_db
                    || p.ratio != band.ratio
                    || p.knee_db != band.knee_db
                    || p.attack_ms != band.attack_ms
                    || p.release_ms != band.release_ms
            }
            None => true,
        };
        if changed {
            self.params =
                Some(self.make_params(band.threshold_db, band.ratio, band.knee_db, band.attack_ms, band.release_ms));
        }
        if detector != self.detector {
            self.detector = detector;
            self.ring_used = self.window_chunks();
            self.clear_detector();
        } else if changed && self.detector == Detector::Peak {
            // A release change may resize the hold: keep the held peaks (clearing them would
            // let the gain jump while the release is automated), just wrap the ring anew.
            self.ring_used = self.window_chunks();
            if self.ring_pos >= self.ring_used {
                self.ring_pos = 0;
            }
            let used = self.ring_used.min(self.ring.len());
            for c in 0..2 {
                self.held[c] = self.ring[..used].iter().fold(0.0, |m, v| m.max(v[c]));
            }
        }
        self.link = link;
        let auto = if auto_makeup {
            static_reduction_db(AUTO_MAKEUP_REF_DB, band.threshold_db, band.ratio, band.knee_db)
        } else {
            0.0
        };
        self.makeup_target_db = band.makeup_db + auto;
        self.active_target = if band.bypass { 0.0 } else { 1.0 };
        self.audible_target = if audible { 1.0 } else { 0.0 };
    }

    /// Current gain reduction, dB (>= 0), the larger of the two lanes, scaled by the band's
    /// activity (a bypassed band reads 0).
    pub fn reduction_db(&self) -> f64 {
        self.active * self.reduction_db[0].max(self.reduction_db[1])
    }

    /// For an idle band: clear what its detector and envelope still hold (once; then they
    /// stay clear), so that a return starts afresh.
    pub fn forget_if_idle(&mut self) {
        if self.idle() && self.reduction_db != [0.0; 2] {
            self.reduction_db = [0.0; 2];
            self.clear_detector();
        }
    }

    /// Bypassed, silent-or-unity, and staying so: no detector work needed.
    pub fn idle(&self) -> bool {
        self.active == 0.0 && self.active_target == 0.0 && self.audible == self.audible_target
    }

    /// Samples per control chunk.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Phase 1 of the control path over one chunk `x` of the band (at most
    /// [`BandCompressor::chunk`] samples): run the detector and return each lane's linked
    /// level (peak amplitude, or mean square with the RMS detector). The stage takes the
    /// `log2` of every band's levels at once (one vector chain for all bands) and hands them
    /// to [`BandCompressor::envelope`]. An idle band skips its detector and returns 1.
    #[inline(always)]
    pub fn detect(&mut self, x: &[Lanes]) -> Lanes {
        if self.idle() {
            self.forget_if_idle();
            return [1.0; 2];
        }
        if self.params.is_none() {
            return [1.0; 2];
        }
        self.push_chunk(x)
    }

    /// Phase 2: from `log2` of the levels [`BandCompressor::detect`] returned, advance the
    /// envelope over the chunk's `len` samples; returns `log2` of the gain for the chunk's end
    /// (before the solo/mute factor; 0 for an idle band). The stage takes `2^` of every band's
    /// gains at once and hands them to [`BandCompressor::ramp`].
    #[inline(always)]
    pub fn envelope(&mut self, level_log2: Lanes, len: usize) -> Lanes {
        if self.idle() {
            return [0.0; 2];
        }
        let Some(p) = self.params else { return [0.0; 2] };
        let per_log2 = match self.detector {
            Detector::Peak => DB_PER_LOG2_AMPLITUDE,
            Detector::Rms => DB_PER_LOG2_POWER,
        };

        // A short chunk (end of an odd-sized block) advances the smoothers proportionally.
        let full = len == self.chunk;
        let scale = |c: f64| if full { c } else { c.powf(len as f64 / self.chunk as f64) };
        let (attack, release, makeup) = (scale(p.attack_coef), scale(p.release_coef), scale(self.makeup_coef));

        self.makeup_db = self.makeup_target_db + makeup * (self.makeup_db - self.makeup_target_db);
        let step = self.fade_step * len as f64;
        self.active = move_towards(self.active, self.active_target, step);
        self.audible = move_towards(self.audible, self.audible_target, step);

        let mut gain_log2 = [0.0; 2];
        for c in 0..2 {
            let target = p.reduction_db(per_log2 * level_log2[c]);
            let coef = if target > self.reduction_db[c] { attack } else { release };
            self.reduction_db[c] = target + coef * (self.reduction_db[c] - target);
            let gain_db = self.active * (self.makeup_db - self.reduction_db[c]);
            gain_log2[c] = gain_db * (1.0 / DB_PER_LOG2_AMPLITUDE);
        }
        if self.idle() {
            // The band's bypass fade has just ended: forget its detector now rather than at
            // the next `detect` (which the stage may already have run for the rest of the
            // block), so that a return starts from the same clean state however the host
            // cuts its blocks.
            self.reduction_db = [0.0; 2];
            self.clear_detector();
        }
        gain_log2
    }

    /// Phase 3: with `gain = 2^gain_log2` of [`BandCompressor::envelope`], the chunk's gain
    /// ramp `(from, step)` (`inv_len` = 1 / the chunk's length): sample `k` of the chunk takes
    /// the gain `from + (k + 1) step`, reaching the new gain on its last sample.
    #[inline(always)]
    pub fn ramp(&mut self, gain: Lanes, inv_len: f64) -> (Lanes, Lanes) {
        let target = gain.map(|g| self.audible * g);
        let from = self.gain;
        self.gain = target;
        (from, [(target[0] - from[0]) * inv_len, (target[1] - from[1]) * inv_len])
    }

    /// Push one chunk into the detector ring and return the linked level of each lane.
    #[inline(always)]
    fn push_chunk(&mut self, x: &[Lanes]) -> Lanes {
        let old = self.ring[self.ring_pos];
        let old_len = self.ring_len[self.ring_pos];
        let level = match self.detector {
            Detector::Peak => {
                // Eight running maxima over the values (lanes alternate), branch-free so the
                // loop vectorises (one AVX-512 register); the values are finite (sanitised
                // input, stable filters), so a plain comparison is `max`.
                let flat = x.as_flattened();
                let mut acc = [0.0f64; 8];
                let groups = flat.chunks_exact(8);
                let rest = groups.remainder();
                for g in groups {
                    for j in 0..8 {
                        let a = g[j].abs();
                        acc[j] = if a > acc[j] { a } else { acc[j] };
                    }
                }
                for (j, v) in rest.iter().enumerate() {
                    let a = v.abs();
                    acc[j] = if a > acc[j] { a } else { acc[j] };
                }
                let pick = |a: f64, b: f64| if a > b { a } else { b };
                let lane = |c: usize| pick(pick(acc[c], acc[c + 2]), pick(acc[c + 4], acc[c + 6]));
                let peak = [lane(0), lane(1)];
                self.ring[self.ring_pos] = peak;
                let mut rescan = false;
                for c in 0..2 {
                    if peak[c] >= self.held[c] {
                        self.held[c] = peak[c];
                    } else if old[c] >= self.held[c] {
                        rescan = true;
                    }
                }
                if rescan {
                    // A maximum just left the window (every chunk while a low tone's peaks
                    // fall): rescan both lanes at once, branch-free. A lane whose maximum did
                    // not leave reads the same value again.
                    let mut m = [0.0f64; 2];
                    for v in &self.ring[..self.ring_used] {
                        for c in 0..2 {
                            m[c] = if v[c] > m[c] { v[c] } else { m[c] };
                        }
                    }
                    self.held = m;
                }
                self.held
            }
            Detector::Rms => {
                let mut sq = [0.0f64; 2];
                for s in x {
                    sq[0] += s[0] * s[0];
                    sq[1] += s[1] * s[1];
                }
                self.ring[self.ring_pos] = sq;
                self.ring_len[self.ring_pos] = x.len();
                self.count = self.count + x.len() - old_len;
                for c in 0..2 {
                    // Rounding can leave a running sum a hair below zero after a loud passage.
                    self.sum[c] = (self.sum[c] + sq[c] - old[c]).max(0.0);
                }
                let inv = 1.0 / self.count.max(1) as f64;
                [self.sum[0] * inv, self.sum[1] * inv]
            }
        };
        self.ring_pos += 1;
        if self.ring_pos == self.ring_used {
            self.ring_pos = 0;
            if self.detector == Detector::Rms {
                // Once per window, recompute the running sums exactly so rounding cannot drift.
                let mut s = [0.0; 2];
                for v in &self.ring[..self.ring_used] {
                    s[0] += v[0];
                    s[1] += v[1];
                }
                self.sum = s;
            }
        }
        let loud = level[0].max(level[1]);
        [level[0] + self.link * (loud - level[0]), level[1] + self.link * (loud - level[1])]
    }
}

/// Step `x` by at most `step` towards `target`.
#[inline]
fn move_towards(x: f64, target: f64, step: f64) -> f64 {
    if x < target {
        (x + step).min(target)
    } else {
        (x - step).max(target)
    }
}
