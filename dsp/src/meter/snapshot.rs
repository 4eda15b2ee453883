//! A lock-free snapshot of every reading: written by the audio thread, read by the GUI thread,
//! neither ever waits. Each value is an `f64` stored as bits in an `AtomicU64` with relaxed
//! ordering: a reader may see one value from publish N and the next from publish N+1, which
//! a display cannot tell apart; no value is ever torn.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::chain::STAGE_COUNT;

/// Number of multiband compressor bands with their own gain-reduction reading.
pub const MULTIBAND_BANDS: usize = 4;

/// An `f64` that can be shared between threads without locking.
#[derive(Debug)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub fn new(value: f64) -> Self {
        Self(AtomicU64::new(value.to_bits()))
    }
    #[inline]
    pub fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    #[inline]
    pub fn store(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
}

impl Default for AtomicF64 {
    fn default() -> Self {
        Self::new(0.0)
    }
}

/// Plain readings of one programme meter (input or output). Loudness in LUFS, ranges and
/// ratios in LU, peaks in dBFS / dBTP; `-inf` means silence / nothing measured yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgrammeValues {
    pub momentary: f64,
    pub short_term: f64,
    pub integrated: f64,
    pub loudness_range: f64,
    pub momentary_max: f64,
    pub short_term_max: f64,
    /// Highest true peak since reset.
    pub true_peak_max: f64,
    /// True peak of the last 400 ms.
    pub true_peak_current: f64,
    pub sample_peak_max: f64,
    /// Sample peak of the last 400 ms.
    pub sample_peak_current: f64,
    /// Peak to loudness ratio: true peak max minus integrated loudness.
    pub plr: f64,
    /// Peak to short-term loudness ratio: true peak of the last 3 s minus short-term loudness.
    pub psr: f64,
    /// Stereo phase correlation over 400 ms.
    pub correlation: f64,
}

impl Default for ProgrammeValues {
    fn default() -> Self {
        let silent = f64::NEG_INFINITY;
        Self {
            momentary: silent,
            short_term: silent,
            integrated: silent,
            loudness_range: 0.0,
            momentary_max: silent,
            short_term_max: silent,
            true_peak_max: silent,
            true_peak_current: silent,
            sample_peak_max: silent,
            sample_peak_current: silent,
            plr: 0.0,
            psr: 0.0,
            correlation: 0.0,
        }
    }
}

/// Plain readings of one stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageValues {
    pub in_peak_db: f64,
    pub out_peak_db: f64,
    pub in_short_term: f64,
    pub out_short_term: f64,
    /// Loudness change through the stage, LU.
    pub delta_lu: f64,
    /// Gain reduction the stage applies (0 for stages that never reduce gain), dB >= 0.
    pub gain_reduction_db: f64,
    pub bypassed: bool,
}

impl Default for StageValues {
    fn default() -> Self {
        Self {
            in_peak_db: f64::NEG_INFINITY,
            out_peak_db: f64::NEG_INFINITY,
            in_short_term: f64::NEG_INFINITY,
            out_short_term: f64::NEG_INFINITY,
            delta_lu: 0.0,
            gain_reduction_db: 0.0,
            bypassed: false,
        }
    }
}

/// Everything the GUI shows, as plain data (a copy read from a [`MeterSnapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeterValues {
    pub input: ProgrammeValues,
    pub output: ProgrammeValues,
    pub stages: [StageValues; STAGE_COUNT],
    pub multiband_gain_reduction_db: [f64; MULTIBAND_BANDS],
    pub limiter_gain_reduction_db: f64,
}

/// Atomic storage of [`ProgrammeValues`].
#[derive(Debug, Default)]
pub struct ProgrammeSnapshot {
    values: [AtomicF64; 13],
}

impl ProgrammeSnapshot {
    fn store(&self, v: &ProgrammeValues) {
        let all = [
            v.momentary,
            v.short_term,
            v.integrated,
            v.loudness_range,
            v.momentary_max,
            v.short_term_max,
            v.true_peak_max,
            v.true_peak_current,
            v.sample_peak_max,
            v.sample_peak_current,
            v.plr,
            v.psr,
            v.correlation,
        ];
        for (slot, value) in self.values.iter().zip(all) {
            slot.store(value);
        }
    }

    fn load(&self) -> ProgrammeValues {
        let v: [f64; 13] = std::array::from_fn(|i| self.values[i].load());
        ProgrammeValues {
            momentary: v[0],
            short_term: v[1],
            integrated: v[2],
            loudness_range: v[3],
            momentary_max: v[4],
            short_term_max: v[5],
            true_peak_max: v[6],
            true_peak_current: v[7],
            sample_peak_max: v[8],
            sample_peak_current: v[9],
            plr: v[10],
            psr: v[11],
            correlation: v[12],
        }
    }
}

/// Atomic storage of [`StageValues`].
#[derive(Debug, Default)]
pub struct StageSnapshot {
    values: [AtomicF64; 6],
    bypassed: AtomicBool,
}

impl StageSnapshot {
    fn store(&self, v: &StageValues) {
        let all = [v.in_peak_db, v.out_peak_db, v.in_short_term, v.out_short_term, v.delta_lu, v.gain_reduction_db];
        for (slot, value) in self.values.iter().zip(all) {
            slot.store(value);
        }
        self.bypassed.store(v.bypassed, Ordering::Relaxed);
    }

    fn load(&self) -> StageValues {
        let v: [f64; 6] = std::array::from_fn(|i| self.values[i].load());
        StageValues {
            in_peak_db: v[0],
            out_peak_db: v[1],
            in_short_term: v[2],
            out_short_term: v[3],
            delta_lu: v[4],
            gain_reduction_db: v[5],
            bypassed: self.bypassed.load(Ordering::Relaxed),
        }
    }
}

/// The shared snapshot (put it in an `Arc`; the audio thread calls
/// [`Metering::publish`](super::Metering::publish), the GUI calls [`MeterSnapshot::read`]).
#[derive(Debug, Default)]
pub struct MeterSnapshot {
    input: ProgrammeSnapshot,
    output: ProgrammeSnapshot,
    stages: [StageSnapshot; STAGE_COUNT],
    multiband_gr: [AtomicF64; MULTIBAND_BANDS],
    limiter_gr: AtomicF64,
    /// Incremented by every publish, so a reader can tell whether anything new arrived.
    generation: AtomicU64,
}

impl MeterSnapshot {
    pub fn new() -> Self {
        let snapshot = Self::default();
        snapshot.store(&MeterValues::default());
        snapshot
    }

    /// Write all values (audio thread; wait-free, no allocation).
    pub fn store(&self, v: &MeterValues) {
        self.input.store(&v.input);
        self.output.store(&v.output);
        for (slot, stage) in self.stages.iter().zip(&v.stages) {
            slot.store(stage);
        }
        for (slot, &gr) in self.multiband_gr.iter().zip(&v.multiband_gain_reduction_db) {
            slot.store(gr);
        }
        self.limiter_gr.store(v.limiter_gain_reduction_db);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Read all values (any thread; wait-free).
    pub fn read(&self) -> MeterValues {
        MeterValues {
            input: self.input.load(),
            output: self.output.load(),
            stages: std::array::from_fn(|i| self.stages[i].load()),
            multiband_gain_reduction_db: std::array::from_fn(|i| self.multiband_gr[i].load()),
            limiter_gain_reduction_db: self.limiter_gr.load(),
        }
    }

    /// Number of publishes so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}
