//! [`Metering`]: every real-time meter of the plugin in one place — input and output programme
//! meters, the per-stage taps, the spectrum feed — sharing one clock of 100 ms sub-blocks.
//!
//! Efficiency: the signal at each tap is copied into one frame-major buffer of
//! [`LANES`] channels; when the block's last tap (the output) arrives, one
//! [`KWeightBank`] filters all lanes together and one [`TruePeak`] interpolates the four lanes
//! of the input and output meters. Lanes in lock step vectorise, which is how sixteen
//! K-weighting filter pairs and four true-peak interpolators fit in the CPU budget.

use std::sync::Arc;

use super::kweight::KWeightBank;
use super::loudness::sub_block_len;
use super::programme::ProgrammeStats;
use super::snapshot::{MeterSnapshot, MeterValues, StageValues, MULTIBAND_BANDS};
use super::spectrum::SpectrumRing;
use super::stage_meter::{StageReading, TapMeter};
use super::true_peak::TruePeak;
use crate::chain::STAGE_COUNT;

/// Taps: the chain input (stage 1's input), the output of each stage, the plugin output.
pub const TAP_COUNT: usize = STAGE_COUNT + 2;
/// Two channels per tap.
pub const LANES: usize = 2 * TAP_COUNT;
const INPUT_TAP: usize = 0;
const OUTPUT_TAP: usize = TAP_COUNT - 1;
/// Lanes of the true-peak detector: input L, R, output L, R.
const PEAK_LANES: usize = 4;

/// All real-time meters. See the module docs of [`crate::meter`] for the call pattern.
pub struct Metering {
    sub_len: usize,
    /// Samples already in the current sub-block.
    sub_pos: usize,
    max_block: usize,
    /// Frame-major copy of every tap for the current block (`max_block` frames).
    frames: Vec<[f64; LANES]>,
    /// Input and output lanes regrouped for the true-peak detector.
    peak_frames: Vec<[f64; PEAK_LANES]>,
    /// Which taps were fed this block (unfed taps read silence).
    fed: [bool; TAP_COUNT],
    /// Frames in the current block (set by [`Metering::process_input`]).
    block_len: usize,
    kweight: KWeightBank<LANES>,
    true_peak: TruePeak<PEAK_LANES>,
    /// Sums of the current sub-block.
    energy: [f64; LANES],
    sample_peak: [f64; LANES],
    peak: [f64; PEAK_LANES],
    taps: [TapMeter; TAP_COUNT],
    input: ProgrammeStats,
    output: ProgrammeStats,
    gain_reduction_db: [f64; STAGE_COUNT],
    bypassed: [bool; STAGE_COUNT],
    multiband_gr_db: [f64; MULTIBAND_BANDS],
    spectrum_in: Arc<SpectrumRing>,
    spectrum_out: Arc<SpectrumRing>,
    /// Weight of each lane's energy in the loudness sums: 1 for stereo; 1/2 for a mono
    /// programme, which the chain carries as two identical lanes but BS.1770 measures as one
    /// channel (dual mono would read 3 dB louder than the same track on a mono bus).
    channel_weight: f64,
}

impl Default for Metering {
    fn default() -> Self {
        Self::new()
    }
}

impl Metering {
    /// Allocates for 48 kHz and 512-frame blocks; call [`Metering::prepare`] before use.
    pub fn new() -> Self {
        let mut metering = Self {
            sub_len: 1,
            sub_pos: 0,
            max_block: 0,
            frames: Vec::new(),
            peak_frames: Vec::new(),
            fed: [false; TAP_COUNT],
            block_len: 0,
            kweight: KWeightBank::new(48_000.0),
            true_peak: TruePeak::new(48_000.0),
            energy: [0.0; LANES],
            sample_peak: [0.0; LANES],
            peak: [0.0; PEAK_LANES],
            taps: [TapMeter::default(); TAP_COUNT],
            input: ProgrammeStats::default(),
            output: ProgrammeStats::default(),
            gain_reduction_db: [0.0; STAGE_COUNT],
            bypassed: [false; STAGE_COUNT],
            multiband_gr_db: [0.0; MULTIBAND_BANDS],
            spectrum_in: Arc::new(SpectrumRing::new()),
            spectrum_out: Arc::new(SpectrumRing::new()),
            channel_weight: 1.0,
        };
        metering.prepare(48_000.0, 512);
        metering
    }

    /// Measure a programme of `channels` channels (1 or 2): a mono programme arrives as two
    /// identical lanes and is measured as one channel.
    pub fn set_channels(&mut self, channels: usize) {
        self.channel_weight = if channels == 1 { 0.5 } else { 1.0 };
    }

    /// Allocate for `sample_rate` and blocks of up to `max_block` frames, and reset.
    pub fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        let max_block = max_block.max(1);
        self.sub_len = sub_block_len(sample_rate);
        self.max_block = max_block;
        self.frames = vec![[0.0; LANES]; max_block];
        self.peak_frames = vec![[0.0; PEAK_LANES]; max_block];
        self.kweight = KWeightBank::new(sample_rate);
        self.true_peak = TruePeak::new(sample_rate);
        self.reset();
    }

    /// Forget all readings (the user's reset button, the host transport starting). No
    /// allocation; the spectrum rings are left alone (they hold no statistics).
    pub fn reset(&mut self) {
        self.sub_pos = 0;
        self.fed = [false; TAP_COUNT];
        self.block_len = 0;
        self.kweight.reset();
        self.true_peak.reset();
        self.energy = [0.0; LANES];
        self.sample_peak = [0.0; LANES];
        self.peak = [0.0; PEAK_LANES];
        self.taps.iter_mut().for_each(TapMeter::reset);
        self.input.reset();
        self.output.reset();
    }

    /// Largest block the buffers hold; longer blocks are measured up to this length only (the
    /// chain already splits host blocks to its own `max_block`).
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Copy one tap into its lanes.
    fn store_tap(&mut self, tap: usize, left: &[f64], right: &[f64]) {
        let n = left.len().min(right.len()).min(self.block_len);
        let lane = 2 * tap;
        // The tap's two lanes are neighbours: one 16-byte store per frame. Written as such on
        // x86-64, where the compiler otherwise vectorises the loop into scatters (slow on
        // every CPU that has them).
        for ((frame, &l), &r) in self.frames[..n].iter_mut().zip(left).zip(right) {
            let pair: &mut [f64; 2] = (&mut frame[lane..lane + 2]).try_into().unwrap();
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::x86_64::*;
                // SAFETY: SSE2 is part of the x86-64 baseline; the store writes the two
                // values of `pair`.
                unsafe { _mm_storeu_pd(pair.as_mut_ptr(), _mm_setr_pd(l, r)) };
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                *pair = [l, r];
            }
        }
        self.fed[tap] = true;
    }

    /// First call of a block: the chain's (sanitised) input, which is also stage 1's input.
    pub fn process_input(&mut self, left: &[f64], right: &[f64]) {
        self.block_len = left.len().min(right.len()).min(self.max_block);
        self.fed = [false; TAP_COUNT];
        self.store_tap(INPUT_TAP, left, right);
        self.spectrum_in.push(&left[..self.block_len], &right[..self.block_len]);
    }

    /// After stage `stage` (0-based, signal order) processed the block: its output, which is
    /// also the next stage's input. `gain_reduction_db` (>= 0) is what the stage reduces now,
    /// 0 for stages that never reduce gain; `bypassed` whether the stage is bypassed.
    pub fn process_stage(&mut self, stage: usize, left: &[f64], right: &[f64], gain_reduction_db: f64, bypassed: bool) {
        if stage < STAGE_COUNT {
            self.store_tap(stage + 1, left, right);
            self.gain_reduction_db[stage] = gain_reduction_db;
            self.bypassed[stage] = bypassed;
        }
    }

    /// Per-band gain reduction of the multiband compressor, dB (>= 0).
    pub fn set_multiband_gain_reduction(&mut self, bands: [f64; MULTIBAND_BANDS]) {
        self.multiband_gr_db = bands;
    }

    /// Last call of a block: the plugin output. Runs the measurement of every tap.
    pub fn process_output(&mut self, left: &[f64], right: &[f64]) {
        self.store_tap(OUTPUT_TAP, left, right);
        let n = self.block_len;
        self.spectrum_out.push(&left[..n.min(left.len())], &right[..n.min(right.len())]);
        for tap in 0..TAP_COUNT {
            if !self.fed[tap] {
                let lane = 2 * tap;
                self.frames[..n].iter_mut().for_each(|f| {
                    f[lane] = 0.0;
                    f[lane + 1] = 0.0;
                });
            }
        }
        let (in_lane, out_lane) = (2 * INPUT_TAP, 2 * OUTPUT_TAP);
        for (p, f) in self.peak_frames[..n].iter_mut().zip(&self.frames[..n]) {
            *p = [f[in_lane], f[in_lane + 1], f[out_lane], f[out_lane + 1]];
        }
        let mut start = 0;
        while start < n {
            let seg = (n - start).min(self.sub_len - self.sub_pos);
            let range = start..start + seg;
            self.kweight.accumulate(&self.frames[range.clone()], &mut self.energy, &mut self.sample_peak);
            let peaks = &self.peak_frames[range];
            self.true_peak.process(peaks, &mut self.peak);
            self.input.correlation.accumulate(peaks, 0, 1);
            self.output.correlation.accumulate(peaks, 2, 3);
            self.sub_pos += seg;
            start += seg;
            if self.sub_pos == self.sub_len {
                self.end_sub_block();
            }
        }
        self.block_len = 0;
    }

    fn end_sub_block(&mut self) {
        if self.energy.iter().chain(&self.peak).any(|v| !v.is_finite()) {
            // Absurd input overflowed a filter: start the filters afresh, drop the sub-block.
            self.kweight.reset();
            self.true_peak.reset();
            self.energy = [0.0; LANES];
            self.peak = [0.0; PEAK_LANES];
        }
        let inv_len = self.channel_weight / self.sub_len as f64;
        let mut mean_square = [0.0; TAP_COUNT];
        let mut sample_peak = [0.0; TAP_COUNT];
        for (t, tap) in self.taps.iter_mut().enumerate() {
            mean_square[t] = (self.energy[2 * t] + self.energy[2 * t + 1]) * inv_len;
            sample_peak[t] = self.sample_peak[2 * t].max(self.sample_peak[2 * t + 1]);
            tap.push_sub_block(mean_square[t], sample_peak[t]);
        }
        self.input.push_sub_block(mean_square[INPUT_TAP], self.peak[0].max(self.peak[1]), sample_peak[INPUT_TAP]);
        self.output.push_sub_block(mean_square[OUTPUT_TAP], self.peak[2].max(self.peak[3]), sample_peak[OUTPUT_TAP]);
        self.energy = [0.0; LANES];
        self.sample_peak = [0.0; LANES];
        self.peak = [0.0; PEAK_LANES];
        self.sub_pos = 0;
    }

    /// What stage `stage` (0-based) did, from its input and output taps.
    pub fn stage_reading(&self, stage: usize) -> StageReading {
        StageReading::from_taps(&self.taps[stage], &self.taps[stage + 1])
    }

    /// All readings as plain data.
    pub fn values(&self) -> MeterValues {
        MeterValues {
            input: self.input.values(),
            output: self.output.values(),
            stages: std::array::from_fn(|s| {
                let r = self.stage_reading(s);
                StageValues {
                    in_peak_db: r.in_peak_db,
                    out_peak_db: r.out_peak_db,
                    in_short_term: r.in_short_term,
                    out_short_term: r.out_short_term,
                    delta_lu: r.delta_lu,
                    gain_reduction_db: self.gain_reduction_db[s],
                    bypassed: self.bypassed[s],
                }
            }),
            multiband_gain_reduction_db: self.multiband_gr_db,
            limiter_gain_reduction_db: self.gain_reduction_db[STAGE_COUNT - 1],
        }
    }

    /// Write all readings into the shared snapshot (wait-free, no allocation).
    pub fn publish(&self, snapshot: &MeterSnapshot) {
        snapshot.store(&self.values());
    }

    /// The spectrum feed of the chain input (mid signal), for a GUI-side analyser.
    pub fn spectrum_input(&self) -> Arc<SpectrumRing> {
        Arc::clone(&self.spectrum_in)
    }

    /// The spectrum feed of the plugin output (mid signal), for a GUI-side analyser.
    pub fn spectrum_output(&self) -> Arc<SpectrumRing> {
        Arc::clone(&self.spectrum_out)
    }
}
