//! Stage 3, multiband compression: Linkwitz-Riley split, per-band compressors.
//!
//! The input (left/right, or mid/side in [`StereoMode::MidSide`]) is split by a
//! phase-compensated LR4 network (`filters::crossover`) into 2 to 4 bands; each band runs its
//! own compressor (`compressor.rs`) and the bands are summed. With every band at unity the
//! stage is the allpass of the network: flat magnitude, no latency.
//!
//! Settings are sanitised in [`Multiband::set`] (documented there): crossovers sorted,
//! clamped to 20 Hz .. min(20 kHz, 0.45 fs) and kept at least a third of an octave apart;
//! non-finite numbers fall back to the defaults.

mod compressor;
mod fast_log;

pub use compressor::{static_reduction_db, AUTO_MAKEUP_REF_DB, PEAK_HOLD_MS, RMS_WINDOW_MS};

use crate::filters::crossover::Crossover;
use crate::stage::Stage;
#[cfg(doc)]
use crate::util::sanitize;
use crate::util::SAMPLE_LIMIT;
use compressor::BandCompressor;
use fast_log::{fast_exp2_lanes, fast_log2_lanes};

/// The most bands the stage can run.
pub const MAX_BANDS: usize = 4;

/// Lanes of the control path's vectorised `log2` / `2^`: two per band.
const LANES: usize = 2 * MAX_BANDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detector {
    #[default]
    Peak,
    Rms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StereoMode {
    #[default]
    Stereo,
    MidSide,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompBand {
    pub threshold_db: f64,
    pub ratio: f64,
    pub attack_ms: f64,
    pub release_ms: f64,
    pub knee_db: f64,
    pub makeup_db: f64,
    pub solo: bool,
    pub bypass: bool,
}

impl Default for CompBand {
    fn default() -> Self {
        Self {
            threshold_db: -18.0,
            ratio: 2.0,
            attack_ms: 20.0,
            release_ms: 150.0,
            knee_db: 6.0,
            makeup_db: 0.0,
            solo: false,
            bypass: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MultibandSettings {
    /// 2..=MAX_BANDS.
    pub bands: usize,
    /// Crossover frequencies, ascending; the first `bands - 1` are used.
    pub crossovers_hz: [f64; MAX_BANDS - 1],
    pub band: [CompBand; MAX_BANDS],
    pub detector: Detector,
    /// 0 = channels independent, 1 = fully linked.
    pub stereo_link: f64,
    pub mode: StereoMode,
    pub auto_makeup: bool,
}

impl Default for MultibandSettings {
    fn default() -> Self {
        Self {
            bands: 3,
            crossovers_hz: [120.0, 2500.0, 8000.0],
            band: [CompBand::default(); MAX_BANDS],
            detector: Detector::Peak,
            stereo_link: 1.0,
            mode: StereoMode::Stereo,
            auto_makeup: false,
        }
    }
}

/// Lowest crossover frequency the stage accepts.
pub const MIN_CROSSOVER_HZ: f64 = 20.0;

/// Highest crossover frequency (further capped at 0.45 fs by the filters).
pub const MAX_CROSSOVER_HZ: f64 = 20000.0;

/// Smallest ratio between neighbouring crossovers (a third of an octave): closer splits would
/// leave a band with almost nothing in it and overlapping skirts.
pub const MIN_CROSSOVER_RATIO: f64 = 1.259_921_049_894_873_2;

/// Control-rate interval: each compressor updates its detector, envelope and gain once per
/// this many seconds (rounded to whole samples) and ramps its gain linearly in between.
const CONTROL_INTERVAL_S: f64 = 1.0 / 3000.0;

/// Accepted ranges of the per-band settings (outside: clamped; non-finite: the default).
const THRESHOLD_RANGE_DB: (f64, f64) = (-96.0, 24.0);
const RATIO_RANGE: (f64, f64) = (1.0, 100.0);
const ATTACK_RANGE_MS: (f64, f64) = (0.05, 2000.0);
const RELEASE_RANGE_MS: (f64, f64) = (1.0, 10000.0);
const KNEE_RANGE_DB: (f64, f64) = (0.0, 48.0);
const MAKEUP_RANGE_DB: (f64, f64) = (-48.0, 48.0);

/// Clamp `x` into `range`, or take `fallback` when it is not finite.
fn clean(x: f64, range: (f64, f64), fallback: f64) -> f64 {
    if x.is_finite() {
        x.clamp(range.0, range.1)
    } else {
        fallback
    }
}

/// Sanitised copy of a band's settings.
fn clean_band(b: &CompBand) -> CompBand {
    let d = CompBand::default();
    CompBand {
        threshold_db: clean(b.threshold_db, THRESHOLD_RANGE_DB, d.threshold_db),
        ratio: clean(b.ratio, RATIO_RANGE, d.ratio),
        attack_ms: clean(b.attack_ms, ATTACK_RANGE_MS, d.attack_ms),
        release_ms: clean(b.release_ms, RELEASE_RANGE_MS, d.release_ms),
        knee_db: clean(b.knee_db, KNEE_RANGE_DB, d.knee_db),
        makeup_db: clean(b.makeup_db, MAKEUP_RANGE_DB, d.makeup_db),
        solo: b.solo,
        bypass: b.bypass,
    }
}

/// Sanitise the crossovers for `sample_rate`: non-finite ones take their default, then all
/// are sorted, clamped to `MIN_CROSSOVER_HZ ..= min(MAX_CROSSOVER_HZ, 0.45 fs)` and spread to
/// at least `MIN_CROSSOVER_RATIO` apart (pushed up from the bottom, then down from the top if
/// that overran the upper limit).
pub fn clean_crossovers(freqs: &[f64; MAX_BANDS - 1], sample_rate: f64) -> [f64; MAX_BANDS - 1] {
    let defaults = MultibandSettings::default().crossovers_hz;
    let mut f = [0.0; MAX_BANDS - 1];
    for i in 0..f.len() {
        f[i] = if freqs[i].is_finite() { freqs[i] } else { defaults[i] };
    }
    f.sort_by(|a, b| a.total_cmp(b));
    let hi = MAX_CROSSOVER_HZ.min(crate::filters::crossover::MAX_CROSSOVER_FRACTION * sample_rate);
    let lo = MIN_CROSSOVER_HZ.min(hi);
    for x in &mut f {
        *x = x.clamp(lo, hi);
    }
    for i in 1..f.len() {
        f[i] = f[i].max(f[i - 1] * MIN_CROSSOVER_RATIO);
    }
    let last = f.len() - 1;
    f[last] = f[last].min(hi);
    for i in (0..last).rev() {
        f[i] = f[i].min(f[i + 1] / MIN_CROSSOVER_RATIO);
    }
    f
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

/// Stage 3: multiband compression.
#[derive(Debug, Default)]
pub struct Multiband {
    sample_rate: f64,
    /// The settings last given to [`Stage::set`], to skip the work when nothing changed.
    settings: Option<MultibandSettings>,
    mode: StereoMode,
    bands: usize,
    crossover: Crossover<2>,
    comps: [BandCompressor; MAX_BANDS],
    /// Working buffers, `max_block` frames each: the (M/S-converted) input and the bands.
    input: Vec<[f64; 2]>,
    band_buf: Vec<Vec<[f64; 2]>>,
    /// The control path's per-chunk values (levels, then their `log2`, then gains in `log2`,
    /// then linear gains; two lanes per band), one entry per control chunk of `max_block`.
    control: Vec<[f64; LANES]>,
}

impl Multiband {
    /// Gain reduction per band in dB (positive = reduction), the larger of the two channels;
    /// bands beyond [`Multiband::active_bands`] read 0.
    pub fn gain_reduction_db(&self) -> [f64; MAX_BANDS] {
        let mut gr = [0.0; MAX_BANDS];
        for (b, g) in gr.iter_mut().enumerate().take(self.bands) {
            *g = self.comps[b].reduction_db();
        }
        gr
    }

    /// Number of bands in use.
    pub fn active_bands(&self) -> usize {
        self.bands
    }

    /// The crossover frequencies in use right now (gliding towards their settings).
    pub fn crossover_hz(&self) -> [f64; MAX_BANDS - 1] {
        std::array::from_fn(|i| self.crossover.frequency(i))
    }
}

impl Multiband {
    /// Every band's control path for every control chunk of the block, then per chunk one pass
    /// that applies each band's gain ramp, sums the bands and writes the output (decoded from
    /// mid/side if `MID_SIDE`).
    #[inline(always)]
    fn apply<const BANDS: usize, const MID_SIDE: bool>(&mut self, left: &mut [f64], right: &mut [f64], n: usize) {
        let chunk = self.comps[0].chunk().max(1);
        // `prepare` sized `control` for `max_block`, which bounds `n`.
        debug_assert!(n.div_ceil(chunk) <= self.control.len());
        let chunks = n.div_ceil(chunk).min(self.control.len());
        let chunk_len = |k: usize| chunk.min(n - k * chunk);
        // The control path of every chunk of the block first, phase by phase over all chunks
        // and bands: the detectors (in chunk order), then the `log2` of all levels, the
        // envelopes (in chunk order: the only recursion), and `2^` of all gains. The two
        // transcendental phases are long dependency chains per chunk but independent across
        // chunks, so run back to back they overlap instead of stalling each chunk's output.
        // (An idle band's detector is skipped; a band that turns idle within the block clears
        // its detector in its envelope, which forgets what this phase pushed after that point:
        // the same output as chunk by chunk, see the test of block sizes in tests/multiband.rs.)
        if self.comps[..BANDS].iter().all(BandCompressor::idle) {
            // Every band bypassed and settled (and staying so for the block): unity gains,
            // nothing to detect.
            for c in &mut self.comps[..BANDS] {
                c.forget_if_idle();
            }
            self.control[..chunks].fill([1.0; LANES]);
        } else {
            for k in 0..chunks {
                let (start, len) = (k * chunk, chunk_len(k));
                let level = &mut self.control[k];
                *level = [1.0; LANES];
                for b in 0..BANDS {
                    [level[2 * b], level[2 * b + 1]] = self.comps[b].detect(&self.band_buf[b][start..start + len]);
                }
            }
            for v in &mut self.control[..chunks] {
                *v = fast_log2_lanes(*v);
            }
            for k in 0..chunks {
                let level_log2 = self.control[k];
                let mut gain_log2 = [0.0; LANES];
                for b in 0..BANDS {
                    [gain_log2[2 * b], gain_log2[2 * b + 1]] =
                        self.comps[b].envelope([level_log2[2 * b], level_log2[2 * b + 1]], chunk_len(k));
                }
                self.control[k] = gain_log2;
            }
            for v in &mut self.control[..chunks] {
                *v = fast_exp2_lanes(*v);
            }
        }
        for k in 0..chunks {
            let (start, len) = (k * chunk, chunk_len(k));
            let gain = self.control[k];
            let inv_len = 1.0 / len as f64;
            let mut from = [[0.0; 2]; BANDS];
            let mut step = [[0.0; 2]; BANDS];
            for b in 0..BANDS {
                (from[b], step[b]) = self.comps[b].ramp([gain[2 * b], gain[2 * b + 1]], inv_len);
            }
            let bands: [&[[f64; 2]]; BANDS] = std::array::from_fn(|b| &self.band_buf[b][start..start + len]);
            let (l, r) = (&mut left[start..start + len], &mut right[start..start + len]);
            // Sample `k` of the band with its gain ramp, summed over the bands and decoded.
            let frame = |k: usize| {
                let t = (k + 1) as f64;
                let mut acc = [0.0; 2];
                for b in 0..BANDS {
                    for c in 0..2 {
                        acc[c] += bands[b][k][c] * (from[b][c] + t * step[b][c]);
                    }
                }
                if MID_SIDE {
                    (acc[0] + acc[1], acc[0] - acc[1])
                } else {
                    (acc[0], acc[1])
                }
            };
            let quads = len / 4;
            for k in 4 * quads..len {
                (l[k], r[k]) = frame(k);
            }
            // Whole groups of four frames as four-lane arrays (the same arithmetic as
            // `frame`), so that gains, sums and the output fill vector registers.
            for q in 0..quads {
                let tq = (4 * q) as f64;
                let t = [tq + 1.0, tq + 2.0, tq + 3.0, tq + 4.0];
                let mut acc = [[0.0; 4]; 2];
                for b in 0..BANDS {
                    let v: &[[f64; 2]; 4] = bands[b][4 * q..4 * q + 4].try_into().unwrap();
                    for c in 0..2 {
                        for j in 0..4 {
                            acc[c][j] += v[j][c] * (from[b][c] + t[j] * step[b][c]);
                        }
                    }
                }
                let lo: &mut [f64; 4] = (&mut l[4 * q..4 * q + 4]).try_into().unwrap();
                for j in 0..4 {
                    lo[j] = if MID_SIDE { acc[0][j] + acc[1][j] } else { acc[0][j] };
                }
                let ro: &mut [f64; 4] = (&mut r[4 * q..4 * q + 4]).try_into().unwrap();
                for j in 0..4 {
                    ro[j] = if MID_SIDE { acc[0][j] - acc[1][j] } else { acc[1][j] };
                }
            }
        }
    }
}

impl Stage for Multiband {
    type Settings = MultibandSettings;

    fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.sample_rate = sample_rate;
        let chunk = ((CONTROL_INTERVAL_S * sample_rate).round() as usize).max(1);
        for c in &mut self.comps {
            c.prepare(sample_rate, chunk);
        }
        self.crossover.prepare(sample_rate);
        self.input = vec![[0.0; 2]; max_block];
        self.band_buf = vec![vec![[0.0; 2]; max_block]; MAX_BANDS];
        self.control = vec![[0.0; LANES]; max_block.div_ceil(chunk)];
        if let Some(s) = self.settings.take() {
            // Re-derive everything rate-dependent (crossover clamps, envelope coefficients).
            self.set(&s);
        } else {
            self.set(&MultibandSettings::default());
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.crossover.settle();
        self.crossover.reset();
        for c in &mut self.comps {
            c.reset();
        }
    }

    fn latency(&self) -> usize {
        0
    }

    /// Sanitising: `bands` is clamped to `2..=MAX_BANDS`; crossovers as in
    /// [`clean_crossovers`]; per-band values are clamped to their ranges and fall back to the
    /// band defaults when not finite; `stereo_link` is clamped to `0..=1` (non-finite: 1).
    fn set(&mut self, settings: &Self::Settings) {
        if self.settings.as_ref() == Some(settings) {
            return;
        }
        self.settings = Some(settings.clone());
        let bands = settings.bands.clamp(2, MAX_BANDS);
        if bands != self.bands {
            // Bands coming into use start from a clean compressor state.
            for b in self.bands.min(bands)..bands {
                self.comps[b].reset();
            }
            self.crossover.set_bands(bands);
            self.bands = bands;
        }
        self.crossover.set_frequencies(&clean_crossovers(&settings.crossovers_hz, self.sample_rate));
        self.mode = settings.mode;
        let link = clean(settings.stereo_link, (0.0, 1.0), 1.0);
        let any_solo = settings.band[..bands].iter().any(|b| b.solo);
        for b in 0..MAX_BANDS {
            let band = clean_band(&settings.band[b]);
            let audible = !any_solo || band.solo;
            self.comps[b].set(&band, settings.detector, link, settings.auto_makeup, audible);
        }
    }

    crate::stage::process_with_simd!(Multiband, process_impl);
}

impl Multiband {
    /// The body of [`Stage::process`], compiled once per instruction set
    /// ([`process_with_simd`](crate::stage::process_with_simd)).
    #[inline(always)]
    fn process_impl(&mut self, left: &mut [f64], right: &mut [f64]) {
        let n = left.len().min(right.len()).min(self.input.len());
        let mid_side = self.mode == StereoMode::MidSide;
        let frames = self.input[..n].iter_mut().zip(&left[..n]).zip(&right[..n]);
        if mid_side {
            for ((v, &l), &r) in frames {
                let (l, r) = (clean_sample(l), clean_sample(r));
                *v = [0.5 * (l + r), 0.5 * (l - r)];
            }
        } else {
            for ((v, &l), &r) in frames {
                *v = [clean_sample(l), clean_sample(r)];
            }
        }
        self.crossover.process(&self.input[..n], &mut self.band_buf);
        match (self.bands, mid_side) {
            (2, false) => self.apply::<2, false>(left, right, n),
            (3, false) => self.apply::<3, false>(left, right, n),
            (_, false) => self.apply::<4, false>(left, right, n),
            (2, true) => self.apply::<2, true>(left, right, n),
            (3, true) => self.apply::<3, true>(left, right, n),
            (_, true) => self.apply::<4, true>(left, right, n),
        }
    }
}
