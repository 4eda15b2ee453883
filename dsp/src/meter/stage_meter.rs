//! The light per-stage meter: sample peak and K-weighted short-term loudness at one point of
//! the chain (a "tap"), and what a stage changed between its input tap and its output tap.
//!
//! Light on purpose: no gating, no histograms, no true peak. A stage's output tap is the next
//! stage's input tap, so seven stages need eight taps, not fourteen meters, and the K-weighting
//! of all taps runs in one [`KWeightBank`](super::kweight::KWeightBank) (see
//! [`Metering`](super::Metering)).

use super::loudness::{loudness_of, MOMENTARY_SUB_BLOCKS, SHORT_TERM_SUB_BLOCKS};
use crate::util::gain_to_db;

/// Readings at one tap, fed with 100 ms sub-blocks.
#[derive(Debug, Clone, Copy)]
pub struct TapMeter {
    /// The last 30 sub-block mean squares (L + R, K-weighted), a ring.
    energy: [f64; SHORT_TERM_SUB_BLOCKS],
    /// Sample peak of the last 4 sub-blocks (400 ms), a ring.
    peaks: [f64; MOMENTARY_SUB_BLOCKS],
    pos: usize,
    short_term: f64,
    peak: f64,
}

impl Default for TapMeter {
    fn default() -> Self {
        Self {
            energy: [0.0; SHORT_TERM_SUB_BLOCKS],
            peaks: [0.0; MOMENTARY_SUB_BLOCKS],
            pos: 0,
            short_term: f64::NEG_INFINITY,
            peak: 0.0,
        }
    }
}

impl TapMeter {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// One 100 ms sub-block: channel-summed K-weighted mean square and the linear sample peak.
    pub fn push_sub_block(&mut self, mean_square: f64, peak: f64) {
        self.energy[self.pos % SHORT_TERM_SUB_BLOCKS] = mean_square;
        self.peaks[self.pos % MOMENTARY_SUB_BLOCKS] = peak;
        self.pos = (self.pos + 1) % (SHORT_TERM_SUB_BLOCKS * MOMENTARY_SUB_BLOCKS);
        self.short_term = k_weighted_short_term(&self.energy);
        self.peak = self.peaks.iter().fold(0.0, |a: f64, &b| a.max(b));
    }

    /// K-weighted short-term loudness (3 s), LUFS.
    pub fn short_term(&self) -> f64 {
        self.short_term
    }

    /// Sample peak over the last 400 ms, dBFS.
    pub fn peak_db(&self) -> f64 {
        gain_to_db(self.peak)
    }
}

/// Short-term loudness (LUFS) from the 30 sub-block mean squares of a 3 s window.
pub fn k_weighted_short_term(sub_blocks: &[f64; SHORT_TERM_SUB_BLOCKS]) -> f64 {
    loudness_of(sub_blocks.iter().sum::<f64>() / SHORT_TERM_SUB_BLOCKS as f64)
}

/// What one stage did, read from its input and output taps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageReading {
    pub in_peak_db: f64,
    pub out_peak_db: f64,
    pub in_short_term: f64,
    pub out_short_term: f64,
    /// Short-term loudness change through the stage, LU (0 when either side is silent).
    pub delta_lu: f64,
}

impl StageReading {
    pub fn from_taps(input: &TapMeter, output: &TapMeter) -> Self {
        let (i, o) = (input.short_term(), output.short_term());
        Self {
            in_peak_db: input.peak_db(),
            out_peak_db: output.peak_db(),
            in_short_term: i,
            out_short_term: o,
            delta_lu: if i.is_finite() && o.is_finite() { o - i } else { 0.0 },
        }
    }
}
