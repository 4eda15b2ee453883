//! A full programme meter: loudness (M/S/I/LRA), true peak, sample peak, PLR, PSR and
//! correlation. [`ProgrammeStats`] turns 100 ms sub-block measurements into readings;
//! [`ProgrammeMeter`] is the complete standalone meter for `C` channels (offline analysis,
//! multichannel tests). The plugin's input and output meters use [`ProgrammeStats`] inside
//! [`Metering`](super::Metering), which shares one K-weighting bank with the stage taps.

use super::correlation::Correlation;
use super::kweight::KWeightBank;
use super::loudness::{sub_block_len, LoudnessMeter, MOMENTARY_SUB_BLOCKS, SHORT_TERM_SUB_BLOCKS};
use super::snapshot::ProgrammeValues;
use super::true_peak::{TruePeak, TAPS_PER_PHASE};
use crate::util::gain_to_db;

/// Readings of one programme, fed once per 100 ms sub-block.
#[derive(Debug, Clone)]
pub struct ProgrammeStats {
    pub loudness: LoudnessMeter,
    pub correlation: Correlation,
    /// Per-sub-block true peak and sample peak of the last 3 s (linear), rings.
    true_peaks: [f64; SHORT_TERM_SUB_BLOCKS],
    sample_peaks: [f64; SHORT_TERM_SUB_BLOCKS],
    pos: usize,
    true_peak_max: f64,
    sample_peak_max: f64,
}

impl Default for ProgrammeStats {
    fn default() -> Self {
        Self {
            loudness: LoudnessMeter::new(),
            correlation: Correlation::default(),
            true_peaks: [0.0; SHORT_TERM_SUB_BLOCKS],
            sample_peaks: [0.0; SHORT_TERM_SUB_BLOCKS],
            pos: 0,
            true_peak_max: 0.0,
            sample_peak_max: 0.0,
        }
    }
}

impl ProgrammeStats {
    pub fn reset(&mut self) {
        self.loudness.reset();
        self.correlation.reset();
        self.true_peaks = [0.0; SHORT_TERM_SUB_BLOCKS];
        self.sample_peaks = [0.0; SHORT_TERM_SUB_BLOCKS];
        self.pos = 0;
        self.true_peak_max = 0.0;
        self.sample_peak_max = 0.0;
    }

    /// Close one sub-block: weighted mean square, true peak and sample peak (linear).
    /// The correlation's own sub-block is closed here too.
    pub fn push_sub_block(&mut self, mean_square: f64, true_peak: f64, sample_peak: f64) {
        self.loudness.push_sub_block(mean_square);
        self.correlation.end_sub_block();
        // The sample peak is never above the true peak, whatever the interpolator's ripple.
        let true_peak = true_peak.max(sample_peak);
        self.true_peaks[self.pos] = true_peak;
        self.sample_peaks[self.pos] = sample_peak;
        self.pos = (self.pos + 1) % SHORT_TERM_SUB_BLOCKS;
        self.true_peak_max = self.true_peak_max.max(true_peak);
        self.sample_peak_max = self.sample_peak_max.max(sample_peak);
    }

    /// Raise the peak maxima without closing a sub-block (the tail of a file shorter than one
    /// sub-block carries no loudness, but its peaks count).
    pub fn note_peaks(&mut self, true_peak: f64, sample_peak: f64) {
        self.true_peak_max = self.true_peak_max.max(true_peak.max(sample_peak));
        self.sample_peak_max = self.sample_peak_max.max(sample_peak);
    }

    /// Largest value of the last `n` sub-blocks of `ring`.
    fn recent_max(&self, ring: &[f64; SHORT_TERM_SUB_BLOCKS], n: usize) -> f64 {
        (1..=n).map(|k| ring[(self.pos + SHORT_TERM_SUB_BLOCKS - k) % SHORT_TERM_SUB_BLOCKS]).fold(0.0, f64::max)
    }

    /// All readings, in dB / LUFS / LU.
    pub fn values(&self) -> ProgrammeValues {
        let l = &self.loudness;
        let true_peak_max = gain_to_db(self.true_peak_max);
        let true_peak_3s = gain_to_db(self.recent_max(&self.true_peaks, SHORT_TERM_SUB_BLOCKS));
        let ratio =
            |peak: f64, loudness: f64| if peak.is_finite() && loudness.is_finite() { peak - loudness } else { 0.0 };
        ProgrammeValues {
            momentary: l.momentary(),
            short_term: l.short_term(),
            integrated: l.integrated(),
            loudness_range: l.loudness_range(),
            momentary_max: l.momentary_max(),
            short_term_max: l.short_term_max(),
            true_peak_max,
            true_peak_current: gain_to_db(self.recent_max(&self.true_peaks, MOMENTARY_SUB_BLOCKS)),
            sample_peak_max: gain_to_db(self.sample_peak_max),
            sample_peak_current: gain_to_db(self.recent_max(&self.sample_peaks, MOMENTARY_SUB_BLOCKS)),
            plr: ratio(true_peak_max, l.integrated()),
            psr: ratio(true_peak_3s, l.short_term()),
            correlation: self.correlation.value(),
        }
    }
}

/// A complete meter for `C` channels with BS.1770 channel weights (1.0 for L, R, C; 1.41 for
/// surrounds; leave the LFE out). Correlation reads lanes 0 and 1.
#[derive(Debug, Clone)]
pub struct ProgrammeMeter<const C: usize> {
    weights: [f64; C],
    sub_len: usize,
    sub_pos: usize,
    kweight: KWeightBank<C>,
    true_peak: TruePeak<C>,
    energy: [f64; C],
    sample_peak: [f64; C],
    peak: [f64; C],
    stats: ProgrammeStats,
}

impl<const C: usize> ProgrammeMeter<C> {
    /// Allocates; `weights` are the BS.1770 channel weights G.
    pub fn new(sample_rate: f64, weights: [f64; C]) -> Self {
        Self {
            weights,
            sub_len: sub_block_len(sample_rate),
            sub_pos: 0,
            kweight: KWeightBank::new(sample_rate),
            true_peak: TruePeak::new(sample_rate),
            energy: [0.0; C],
            sample_peak: [0.0; C],
            peak: [0.0; C],
            stats: ProgrammeStats::default(),
        }
    }

    pub fn reset(&mut self) {
        self.sub_pos = 0;
        self.kweight.reset();
        self.true_peak.reset();
        self.energy = [0.0; C];
        self.sample_peak = [0.0; C];
        self.peak = [0.0; C];
        self.stats.reset();
    }

    /// Measure frames (one `[f64; C]` per sample). Readings update every 100 ms.
    pub fn process(&mut self, mut frames: &[[f64; C]]) {
        while !frames.is_empty() {
            let seg = frames.len().min(self.sub_len - self.sub_pos);
            let (now, rest) = frames.split_at(seg);
            self.kweight.accumulate(now, &mut self.energy, &mut self.sample_peak);
            self.true_peak.process(now, &mut self.peak);
            if C >= 2 {
                self.stats.correlation.accumulate(now, 0, 1);
            }
            self.sub_pos += seg;
            frames = rest;
            if self.sub_pos == self.sub_len {
                self.end_sub_block();
            }
        }
    }

    fn end_sub_block(&mut self) {
        if self.energy.iter().chain(&self.peak).any(|v| !v.is_finite()) {
            // Absurd input overflowed a filter: start the filters afresh, drop the sub-block.
            self.kweight.reset();
            self.true_peak.reset();
            self.energy = [0.0; C];
            self.peak = [0.0; C];
        }
        let mean_square = self.energy.iter().zip(&self.weights).map(|(e, g)| e * g).sum::<f64>() / self.sub_len as f64;
        let true_peak = self.peak.iter().fold(0.0, |a: f64, &b| a.max(b));
        let sample_peak = self.sample_peak.iter().fold(0.0, |a: f64, &b| a.max(b));
        self.stats.push_sub_block(mean_square, true_peak, sample_peak);
        self.sub_pos = 0;
        self.energy = [0.0; C];
        self.sample_peak = [0.0; C];
        self.peak = [0.0; C];
    }

    /// End of the programme: flush the interpolator's delay and count the peaks of the
    /// incomplete last sub-block (its loudness is dropped, as the standard's blocks are whole).
    pub fn finish(&mut self) {
        let silence = [[0.0; C]; TAPS_PER_PHASE];
        self.true_peak.process(&silence, &mut self.peak);
        let true_peak = self.peak.iter().fold(0.0, |a: f64, &b| a.max(b));
        let sample_peak = self.sample_peak.iter().fold(0.0, |a: f64, &b| a.max(b));
        self.stats.note_peaks(true_peak, sample_peak);
    }

    /// Readings so far (as of the last complete 100 ms sub-block).
    pub fn values(&self) -> ProgrammeValues {
        self.stats.values()
    }

    /// The loudness meter, e.g. for per-reading checks.
    pub fn loudness(&self) -> &LoudnessMeter {
        &self.stats.loudness
    }
}
