//! EBU R128 / ITU-R BS.1770 loudness from 100 ms sub-blocks of K-weighted energy: momentary
//! (400 ms), short-term (3 s), integrated (gated) and loudness range (EBU Tech 3342).
//!
//! The meter never allocates after construction, however long a session runs: the integrated
//! gate and the loudness range read fixed histograms instead of keeping every block.
//!
//! Quantisation error of the histograms (bins of [`BIN_LU`] = 0.01 LU):
//! - Integrated: every bin keeps the exact energy sum of its blocks, so the gated mean is exact
//!   except for the one bin that straddles the relative gate. That bin is included when its own
//!   mean loudness is above the gate; the blocks it may misclassify lie within 0.01 LU of a gate
//!   10 LU below the programme, which moves the result by far less than 0.001 LU.
//! - Loudness range: a percentile is reported as the mean loudness of the bin holding that rank,
//!   so each percentile is within one bin (0.01 LU) of the sorted-list value and the range within
//!   0.02 LU (the standard's tolerance is 1 LU).

/// Offset of the loudness formula: `L = -0.691 + 10 log10(sum G_i * mean square_i)`.
pub const LOUDNESS_OFFSET: f64 = -0.691;
/// Length of the energy sub-blocks every reading is built from, seconds. Readings update at
/// this rate (10 Hz), and the 400 ms gating blocks overlap by 75 % as the standard asks.
pub const SUB_BLOCK_SECONDS: f64 = 0.1;
/// Momentary window in sub-blocks (400 ms).
pub const MOMENTARY_SUB_BLOCKS: usize = 4;
/// Short-term window in sub-blocks (3 s).
pub const SHORT_TERM_SUB_BLOCKS: usize = 30;
/// Absolute gate for integrated loudness and loudness range, LUFS.
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// Relative gate of the integrated loudness, LU below the absolute-gated loudness.
pub const INTEGRATED_RELATIVE_GATE_LU: f64 = -10.0;
/// Relative gate of the loudness range, LU below the absolute-gated short-term mean.
pub const LRA_RELATIVE_GATE_LU: f64 = -20.0;
/// Loudness range percentiles (Tech 3342).
pub const LRA_LOW_PERCENTILE: f64 = 0.10;
pub const LRA_HIGH_PERCENTILE: f64 = 0.95;
/// Histogram bin width, LU.
pub const BIN_LU: f64 = 0.01;
/// Histogram top, LUFS. Louder blocks share the top bin (their energy still counts exactly).
const HISTOGRAM_MAX_LUFS: f64 = 30.0;
const BIN_COUNT: usize = ((HISTOGRAM_MAX_LUFS - ABSOLUTE_GATE_LUFS) / BIN_LU) as usize;

/// Loudness (LUFS) of a channel-weighted mean square; `-inf` for silence.
#[inline]
pub fn loudness_of(mean_square: f64) -> f64 {
    LOUDNESS_OFFSET + 10.0 * mean_square.log10()
}

/// Mean square for a loudness in LUFS (inverse of [`loudness_of`]).
#[inline]
pub fn mean_square_of(lufs: f64) -> f64 {
    10f64.powf((lufs - LOUDNESS_OFFSET) / 10.0)
}

/// Number of samples in one sub-block at `sample_rate` (exact at every common rate).
pub fn sub_block_len(sample_rate: f64) -> usize {
    ((sample_rate * SUB_BLOCK_SECONDS).round() as usize).max(1)
}

/// Loudness values above the absolute gate, binned, with the exact energy of every bin.
#[derive(Debug, Clone)]
struct GateHistogram {
    counts: Vec<u32>,
    energy: Vec<f64>,
    total_count: u64,
    total_energy: f64,
    /// Occupied bin range (`lo > hi` when empty), so scans and resets skip empty space.
    lo: usize,
    hi: usize,
}

impl GateHistogram {
    fn new() -> Self {
        Self {
            counts: vec![0; BIN_COUNT],
            energy: vec![0.0; BIN_COUNT],
            total_count: 0,
            total_energy: 0.0,
            lo: BIN_COUNT,
            hi: 0,
        }
    }

    fn clear(&mut self) {
        if self.lo <= self.hi {
            self.counts[self.lo..=self.hi].fill(0);
            self.energy[self.lo..=self.hi].fill(0.0);
        }
        self.total_count = 0;
        self.total_energy = 0.0;
        self.lo = BIN_COUNT;
        self.hi = 0;
    }

    fn bin_of(lufs: f64) -> usize {
        (((lufs - ABSOLUTE_GATE_LUFS) / BIN_LU).max(0.0) as usize).min(BIN_COUNT - 1)
    }

    /// Add a value if it passes the absolute gate.
    fn add(&mut self, mean_square: f64) {
        let lufs = loudness_of(mean_square);
        if lufs.is_nan() || lufs <= ABSOLUTE_GATE_LUFS {
            return;
        }
        let bin = Self::bin_of(lufs);
        self.counts[bin] += 1;
        self.energy[bin] += mean_square;
        self.total_count += 1;
        self.total_energy += mean_square;
        self.lo = self.lo.min(bin);
        self.hi = self.hi.max(bin);
    }

    /// First bin above `gate_lufs`: the straddling bin counts when its own mean is above it.
    fn first_bin_above(&self, gate_lufs: f64) -> usize {
        let bin = Self::bin_of(gate_lufs).max(self.lo);
        if self.counts[bin] > 0 && loudness_of(self.energy[bin] / self.counts[bin] as f64) <= gate_lufs {
            bin + 1
        } else {
            bin
        }
    }

    /// The relative gate: `offset_lu` below the mean of everything above the absolute gate.
    fn relative_gate(&self, offset_lu: f64) -> Option<f64> {
        (self.total_count > 0).then(|| loudness_of(self.total_energy / self.total_count as f64) + offset_lu)
    }

    /// Mean loudness of the values above the relative gate (BS.1770 integrated loudness).
    fn gated_loudness(&self, offset_lu: f64) -> f64 {
        let Some(gate) = self.relative_gate(offset_lu) else { return f64::NEG_INFINITY };
        let start = self.first_bin_above(gate);
        let (mut count, mut energy) = (0u64, 0.0);
        for bin in start..=self.hi {
            count += self.counts[bin] as u64;
            energy += self.energy[bin];
        }
        if count == 0 {
            f64::NEG_INFINITY
        } else {
            loudness_of(energy / count as f64)
        }
    }

    /// Loudness range: high minus low percentile of the values above the relative gate.
    fn range(&self, offset_lu: f64, low: f64, high: f64) -> f64 {
        let Some(gate) = self.relative_gate(offset_lu) else { return 0.0 };
        let start = self.first_bin_above(gate);
        if start > self.hi {
            return 0.0;
        }
        let count: u64 = self.counts[start..=self.hi].iter().map(|&c| c as u64).sum();
        if count == 0 {
            return 0.0;
        }
        let rank_of = |p: f64| ((count - 1) as f64 * p).round() as u64;
        let (low_rank, high_rank) = (rank_of(low), rank_of(high));
        let (mut seen, mut low_value) = (0u64, f64::NAN);
        for bin in start..=self.hi {
            let c = self.counts[bin] as u64;
            if c == 0 {
                continue;
            }
            let value = loudness_of(self.energy[bin] / c as f64);
            if low_value.is_nan() && seen + c > low_rank {
                low_value = value;
            }
            if seen + c > high_rank {
                return value - low_value;
            }
            seen += c;
        }
        0.0
    }
}

/// Loudness readings of one programme from its 100 ms sub-block energies.
///
/// Feed it with [`LoudnessMeter::push_sub_block`]: the channel-weighted sum of the K-weighted
/// mean squares over each consecutive 100 ms ([`sub_block_len`] samples). All readings are
/// updated on every push.
#[derive(Debug, Clone)]
pub struct LoudnessMeter {
    /// The last 30 sub-block mean squares (a ring); older-than-start entries are silence.
    ring: [f64; SHORT_TERM_SUB_BLOCKS],
    pos: usize,
    /// Sub-blocks pushed since reset (saturates), to know when full windows exist.
    seen: usize,
    momentary: f64,
    short_term: f64,
    momentary_max: f64,
    short_term_max: f64,
    integrated: f64,
    lra: f64,
    /// 400 ms gating blocks (75 % overlap).
    blocks: GateHistogram,
    /// Short-term values every 100 ms, for the loudness range.
    short_terms: GateHistogram,
}

impl Default for LoudnessMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl LoudnessMeter {
    /// Allocates the histograms (about 240 kB); do it in `prepare`.
    pub fn new() -> Self {
        Self {
            ring: [0.0; SHORT_TERM_SUB_BLOCKS],
            pos: 0,
            seen: 0,
            momentary: f64::NEG_INFINITY,
            short_term: f64::NEG_INFINITY,
            momentary_max: f64::NEG_INFINITY,
            short_term_max: f64::NEG_INFINITY,
            integrated: f64::NEG_INFINITY,
            lra: 0.0,
            blocks: GateHistogram::new(),
            short_terms: GateHistogram::new(),
        }
    }

    /// Forget everything (the user's reset, or the host transport starting). No allocation.
    pub fn reset(&mut self) {
        self.ring = [0.0; SHORT_TERM_SUB_BLOCKS];
        self.pos = 0;
        self.seen = 0;
        self.momentary = f64::NEG_INFINITY;
        self.short_term = f64::NEG_INFINITY;
        self.momentary_max = f64::NEG_INFINITY;
        self.short_term_max = f64::NEG_INFINITY;
        self.integrated = f64::NEG_INFINITY;
        self.lra = 0.0;
        self.blocks.clear();
        self.short_terms.clear();
    }

    /// Add one 100 ms sub-block: the channel-weighted sum of K-weighted mean squares.
    pub fn push_sub_block(&mut self, mean_square: f64) {
        let mean_square = if mean_square.is_finite() { mean_square.max(0.0) } else { 0.0 };
        self.ring[self.pos] = mean_square;
        self.pos = (self.pos + 1) % SHORT_TERM_SUB_BLOCKS;
        self.seen = self.seen.saturating_add(1);
        let momentary_ms = self.window_mean(MOMENTARY_SUB_BLOCKS);
        let short_term_ms = self.window_mean(SHORT_TERM_SUB_BLOCKS);
        self.momentary = loudness_of(momentary_ms);
        self.short_term = loudness_of(short_term_ms);
        self.momentary_max = self.momentary_max.max(self.momentary);
        self.short_term_max = self.short_term_max.max(self.short_term);
        if self.seen >= MOMENTARY_SUB_BLOCKS {
            self.blocks.add(momentary_ms);
            self.integrated = self.blocks.gated_loudness(INTEGRATED_RELATIVE_GATE_LU);
        }
        if self.seen >= SHORT_TERM_SUB_BLOCKS {
            self.short_terms.add(short_term_ms);
            self.lra = self.short_terms.range(LRA_RELATIVE_GATE_LU, LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE);
        }
    }

    /// Mean of the last `n` sub-blocks.
    fn window_mean(&self, n: usize) -> f64 {
        let mut sum = 0.0;
        for k in 1..=n {
            sum += self.ring[(self.pos + SHORT_TERM_SUB_BLOCKS - k) % SHORT_TERM_SUB_BLOCKS];
        }
        sum / n as f64
    }

    /// Momentary loudness (400 ms), LUFS.
    pub fn momentary(&self) -> f64 {
        self.momentary
    }
    /// Short-term loudness (3 s), LUFS.
    pub fn short_term(&self) -> f64 {
        self.short_term
    }
    /// Largest momentary reading since reset, LUFS.
    pub fn momentary_max(&self) -> f64 {
        self.momentary_max
    }
    /// Largest short-term reading since reset, LUFS.
    pub fn short_term_max(&self) -> f64 {
        self.short_term_max
    }
    /// Integrated (gated) loudness since reset, LUFS; `-inf` until a block passes the gates.
    pub fn integrated(&self) -> f64 {
        self.integrated
    }
    /// Loudness range since reset, LU.
    pub fn loudness_range(&self) -> f64 {
        self.lra
    }
}
