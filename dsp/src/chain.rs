//! The whole mastering chain and its signal flow, in one place.
//!
//! ```text
//! in (f32) ─ sanitize ─┬─ 1 gain staging ─ 2 corrective EQ ─ 3 multiband ─ 4 enhancing EQ
//!                      │   ─ 5 saturation ─ 6 stereo width ─ 7 limiter ─ output trim ─┐
//!                      └─ delay(total latency) ───────────── global bypass crossfade ─┴─ out
//! ```
//!
//! Metering taps the signal at the input, after every stage and at the output (see
//! [`crate::meter`]); it is part of the chain so that the plugin, the offline tools and the
//! benches measure exactly what they process.
//!
//! Each stage sits in a [`Slot`] with its own bypass crossfade and latency compensation, so
//! the total latency is the sum of all stage latencies whatever is bypassed. Stage 2 and 3
//! form the "corrective" group, 4 to 6 the "enhancing" group; a group toggle bypasses its
//! stages like their own bypass does.

use crate::bypass::{Fade, Slot};
use crate::delay::DelayLine;
use crate::meter::{MeterSnapshot, Metering};
use crate::stage::Stage;
use crate::stages::corrective_eq::{CorrectiveEq, CorrectiveEqSettings};
use crate::stages::enhancing_eq::{EnhancingEq, EnhancingEqSettings};
use crate::stages::gain_staging::{GainStaging, GainStagingSettings};
use crate::stages::limiter::{Limiter, LimiterSettings};
use crate::stages::multiband::{Multiband, MultibandSettings, MAX_BANDS as MULTIBAND_BANDS};
use crate::stages::saturation::{Saturation, SaturationSettings};
use crate::stages::width::{Width, WidthSettings};
use crate::util::{db_to_gain, sanitize};

/// Number of stages in the chain.
pub const STAGE_COUNT: usize = 7;

/// The stages in signal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageId {
    GainStaging = 0,
    CorrectiveEq = 1,
    Multiband = 2,
    EnhancingEq = 3,
    Saturation = 4,
    Width = 5,
    Limiter = 6,
}

/// Which toggle group a stage belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Foundational,
    Corrective,
    Enhancing,
    Final,
}

impl StageId {
    pub const ALL: [StageId; STAGE_COUNT] = [
        StageId::GainStaging,
        StageId::CorrectiveEq,
        StageId::Multiband,
        StageId::EnhancingEq,
        StageId::Saturation,
        StageId::Width,
        StageId::Limiter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageId::GainStaging => "Gain Staging",
            StageId::CorrectiveEq => "Corrective EQ",
            StageId::Multiband => "Multiband Compression",
            StageId::EnhancingEq => "Enhancing EQ",
            StageId::Saturation => "Saturation",
            StageId::Width => "Stereo Width",
            StageId::Limiter => "Limiter",
        }
    }

    pub fn family(self) -> Family {
        match self {
            StageId::GainStaging => Family::Foundational,
            StageId::CorrectiveEq | StageId::Multiband => Family::Corrective,
            StageId::EnhancingEq | StageId::Saturation | StageId::Width => Family::Enhancing,
            StageId::Limiter => Family::Final,
        }
    }
}

/// Everything the chain reads, as plain data. The plugin fills it from its parameters once
/// per (sub-)block; tests and offline tools build it directly.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSettings {
    pub gain_staging: GainStagingSettings,
    pub corrective_eq: CorrectiveEqSettings,
    pub multiband: MultibandSettings,
    pub enhancing_eq: EnhancingEqSettings,
    pub saturation: SaturationSettings,
    pub width: WidthSettings,
    pub limiter: LimiterSettings,
    /// Per-stage bypass, indexed by [`StageId`].
    pub bypass: [bool; STAGE_COUNT],
    /// Group toggle: corrective stages (2, 3) on.
    pub corrective_on: bool,
    /// Group toggle: enhancing stages (4, 5, 6) on.
    pub enhancing_on: bool,
    /// Whole-plugin bypass (the host's bypass).
    pub global_bypass: bool,
    /// Output trim after the limiter, dB. Never positive, so the ceiling still holds.
    pub output_trim_db: f64,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            gain_staging: Default::default(),
            corrective_eq: Default::default(),
            multiband: Default::default(),
            enhancing_eq: Default::default(),
            saturation: Default::default(),
            width: Default::default(),
            limiter: Default::default(),
            bypass: FACTORY_BYPASS,
            corrective_on: true,
            enhancing_on: true,
            global_bypass: false,
            output_trim_db: 0.0,
        }
    }
}

impl ChainSettings {
    /// Every stage and the plugin itself bypassed.
    pub fn all_bypassed() -> Self {
        Self { bypass: [true; STAGE_COUNT], global_bypass: true, ..Default::default() }
    }

    /// Whether `stage` is bypassed, by its own switch or its group's.
    pub fn stage_bypassed(&self, stage: StageId) -> bool {
        self.bypass[stage as usize]
            || match stage.family() {
                Family::Corrective => !self.corrective_on,
                Family::Enhancing => !self.enhancing_on,
                _ => false,
            }
    }
}

/// Which stages a fresh instance starts with bypassed: the two that colour the sound even at
/// neutral-looking settings (multiband compression splits the signal through crossovers with
/// their phase shift; saturation is a choice, not a default). Everything else starts active and
/// neutral, with the limiter holding -1 dBTP, which is what an engineer expects on insert.
pub const FACTORY_BYPASS: [bool; STAGE_COUNT] = [false, false, true, false, true, false, false];

/// Time constant of the output trim smoother.
const TRIM_SMOOTH_MS: f64 = 20.0;

/// The mastering chain. Create with [`Chain::default`], then [`Chain::prepare`].
pub struct Chain {
    sample_rate: f64,
    max_block: usize,
    gain_staging: Slot<GainStaging>,
    corrective_eq: Slot<CorrectiveEq>,
    multiband: Slot<Multiband>,
    enhancing_eq: Slot<EnhancingEq>,
    saturation: Slot<Saturation>,
    width: Slot<Width>,
    limiter: Slot<Limiter>,
    /// Global bypass: the sanitized input delayed by the total latency.
    global_fade: Fade,
    global_dry: DelayLine,
    /// Working buffers: wet signal and dry signal, `max_block` each.
    wet: [Vec<f64>; 2],
    dry: [Vec<f64>; 2],
    /// Output trim: current smoothed gain, target gain, one-pole coefficient.
    trim_gain: f64,
    trim_target: f64,
    trim_coef: f64,
    metering: Metering,
    /// Off for offline work that needs no readings (and for benches of the DSP alone).
    metering_enabled: bool,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            sample_rate: 0.0,
            max_block: 0,
            gain_staging: Default::default(),
            corrective_eq: Default::default(),
            multiband: Default::default(),
            enhancing_eq: Default::default(),
            saturation: Default::default(),
            width: Default::default(),
            limiter: Default::default(),
            global_fade: Default::default(),
            global_dry: Default::default(),
            wet: Default::default(),
            dry: Default::default(),
            trim_gain: 1.0,
            trim_target: 1.0,
            trim_coef: 1.0,
            metering: Metering::new(),
            metering_enabled: true,
        }
    }
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Switch the meters on or off (on by default). Off, the chain measures nothing and costs
    /// nothing for it.
    pub fn set_metering(&mut self, enabled: bool) {
        if enabled && !self.metering_enabled {
            self.metering.reset();
        }
        self.metering_enabled = enabled;
    }

    /// The meters, for offline readers (the plugin publishes a [`MeterSnapshot`] instead).
    pub fn metering(&self) -> &Metering {
        &self.metering
    }

    /// Forget every reading (the user's reset, or the host transport starting). No allocation.
    pub fn reset_meters(&mut self) {
        self.metering.reset();
    }

    /// Copy every reading into `snapshot` for the GUI: wait-free atomic stores.
    pub fn publish_meters(&self, snapshot: &MeterSnapshot) {
        self.metering.publish(snapshot);
    }

    /// Allocate for `sample_rate`, blocks of up to `max_block` frames and `channels` (1 or 2)
    /// channels. Longer blocks are accepted by [`Chain::process`] and split. A mono programme
    /// runs through the stereo stages as two identical channels and is metered as one.
    pub fn prepare(&mut self, sample_rate: f64, max_block: usize, channels: usize) {
        let max_block = max_block.max(1);
        self.sample_rate = sample_rate;
        self.max_block = max_block;
        self.gain_staging.prepare(sample_rate, max_block);
        self.corrective_eq.prepare(sample_rate, max_block);
        self.multiband.prepare(sample_rate, max_block);
        self.enhancing_eq.prepare(sample_rate, max_block);
        self.saturation.prepare(sample_rate, max_block);
        self.width.prepare(sample_rate, max_block);
        self.limiter.prepare(sample_rate, max_block);
        self.global_fade.prepare(sample_rate);
        let max_latency = self.gain_staging.stage.max_latency()
            + self.corrective_eq.stage.max_latency()
            + self.multiband.stage.max_latency()
            + self.enhancing_eq.stage.max_latency()
            + self.saturation.stage.max_latency()
            + self.width.stage.max_latency()
            + self.limiter.stage.max_latency();
        self.global_dry.prepare(max_latency);
        self.global_dry.set_delay(self.latency());
        self.wet = [vec![0.0; max_block], vec![0.0; max_block]];
        self.dry = [vec![0.0; max_block], vec![0.0; max_block]];
        self.trim_coef = 1.0 - (-1.0 / (TRIM_SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.metering.prepare(sample_rate, max_block);
        self.metering.set_channels(channels);
        self.reset();
    }

    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Clear all signal state. Bypass states jump to their targets.
    pub fn reset(&mut self) {
        self.gain_staging.reset();
        self.corrective_eq.reset();
        self.multiband.reset();
        self.enhancing_eq.reset();
        self.saturation.reset();
        self.width.reset();
        self.limiter.reset();
        self.global_fade.settle();
        self.global_dry.reset();
        self.trim_gain = self.trim_target;
    }

    /// Total latency in samples: the sum of the stage latencies, bypassed or not.
    pub fn latency(&self) -> usize {
        self.gain_staging.latency()
            + self.corrective_eq.latency()
            + self.multiband.latency()
            + self.enhancing_eq.latency()
            + self.saturation.latency()
            + self.width.latency()
            + self.limiter.latency()
    }

    /// Whether a stage is fully bypassed right now.
    pub fn stage_bypassed(&self, stage: StageId) -> bool {
        match stage {
            StageId::GainStaging => self.gain_staging.is_bypassed(),
            StageId::CorrectiveEq => self.corrective_eq.is_bypassed(),
            StageId::Multiband => self.multiband.is_bypassed(),
            StageId::EnhancingEq => self.enhancing_eq.is_bypassed(),
            StageId::Saturation => self.saturation.is_bypassed(),
            StageId::Width => self.width.is_bypassed(),
            StageId::Limiter => self.limiter.is_bypassed(),
        }
    }

    /// Apply settings. Call before [`Chain::process`] whenever they may have changed (the
    /// plugin calls it every block). Does not allocate.
    pub fn set(&mut self, s: &ChainSettings) {
        let by = |id| s.stage_bypassed(id);
        self.gain_staging.set(&s.gain_staging, by(StageId::GainStaging));
        self.corrective_eq.set(&s.corrective_eq, by(StageId::CorrectiveEq));
        self.multiband.set(&s.multiband, by(StageId::Multiband));
        self.enhancing_eq.set(&s.enhancing_eq, by(StageId::EnhancingEq));
        self.saturation.set(&s.saturation, by(StageId::Saturation));
        self.width.set(&s.width, by(StageId::Width));
        self.limiter.set(&s.limiter, by(StageId::Limiter));
        self.global_fade.set_bypassed(s.global_bypass);
        let latency = self.latency();
        if self.global_dry.delay() != latency {
            self.global_dry.set_delay(latency);
        }
        self.trim_target = db_to_gain(s.output_trim_db.min(0.0));
    }

    /// Process `channels` (one or two equally long `f32` slices) in place.
    ///
    /// Mono is processed as identical left and right and written back as their mean.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let frames = channels.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(self.max_block);
            self.process_chunk(channels, start, n);
            start += n;
        }
    }

    crate::stage::process_with_simd!(
        /// One chunk of at most `max_block` frames. Its own loops (conversions, sanitising, the
        /// meters' copies, trim) are compiled once per instruction set and picked at run time
        /// (the build targets baseline x86-64); the stages pick their own kernels.
        fn process_chunk(channels: &mut [&mut [f32]], start: usize, n: usize) for Chain => process_chunk_impl
    );

    #[inline(always)]
    fn process_chunk_impl(&mut self, channels: &mut [&mut [f32]], start: usize, n: usize) {
        let stereo = channels.len() >= 2;
        {
            let [wl, wr] = &mut self.wet;
            let in_l = &channels[0][start..start + n];
            let in_r = if stereo { &channels[1][start..start + n] } else { in_l };
            for (((l, r), &x), &y) in wl[..n].iter_mut().zip(&mut wr[..n]).zip(in_l).zip(in_r) {
                *l = sanitize(f64::from(x));
                *r = sanitize(f64::from(y));
            }
            let [dl, dr] = &mut self.dry;
            dl[..n].copy_from_slice(&wl[..n]);
            dr[..n].copy_from_slice(&wr[..n]);
        }
        let [wl, wr] = &mut self.wet;
        let (wl, wr) = (&mut wl[..n], &mut wr[..n]);
        let meters = self.metering_enabled;
        if meters {
            self.metering.process_input(wl, wr);
        }
        // The stages in signal order; after each, its output tap (and what it reduces).
        macro_rules! stage {
            ($slot:ident, $id:expr, $gr:expr) => {
                self.$slot.process(wl, wr);
                if meters {
                    let bypassed = self.$slot.is_bypassed();
                    let gr = if bypassed { 0.0 } else { $gr };
                    self.metering.process_stage($id as usize, wl, wr, gr, bypassed);
                }
            };
        }
        stage!(gain_staging, StageId::GainStaging, 0.0);
        stage!(corrective_eq, StageId::CorrectiveEq, 0.0);
        // The multiband stage reports its largest band's reduction as the stage's, and every
        // band's for the per-band meters (evaluated after the stage processed the block).
        stage!(
            multiband,
            StageId::Multiband,
            self.multiband.stage.gain_reduction_db().iter().fold(0.0_f64, |a, &b| a.max(b))
        );
        if meters {
            let band_gr = if self.multiband.is_bypassed() {
                [0.0; MULTIBAND_BANDS]
            } else {
                self.multiband.stage.gain_reduction_db()
            };
            self.metering.set_multiband_gain_reduction(band_gr);
        }
        stage!(enhancing_eq, StageId::EnhancingEq, 0.0);
        stage!(saturation, StageId::Saturation, 0.0);
        stage!(width, StageId::Width, 0.0);
        stage!(limiter, StageId::Limiter, self.limiter.stage.gain_reduction_db());

        // Output trim (attenuation only), smoothed.
        if self.trim_gain != self.trim_target || self.trim_target != 1.0 {
            for (l, r) in wl.iter_mut().zip(wr.iter_mut()) {
                self.trim_gain += (self.trim_target - self.trim_gain) * self.trim_coef;
                if (self.trim_gain - self.trim_target).abs() < 1e-9 {
                    self.trim_gain = self.trim_target;
                }
                *l *= self.trim_gain;
                *r *= self.trim_gain;
            }
        }

        let [dl, dr] = &mut self.dry;
        let (dl, dr) = (&mut dl[..n], &mut dr[..n]);
        self.global_dry.process(dl, dr);
        self.global_fade.mix(wl, wr, dl, dr);
        if meters {
            self.metering.process_output(wl, wr);
        }

        // The last line of defence: whatever a stage did, no non-finite sample leaves.
        if let [out_l, out_r, ..] = channels {
            let (out_l, out_r) = (&mut out_l[start..start + n], &mut out_r[start..start + n]);
            for (((o_l, o_r), &l), &r) in out_l.iter_mut().zip(out_r.iter_mut()).zip(&*wl).zip(&*wr) {
                *o_l = sanitize(l) as f32;
                *o_r = sanitize(r) as f32;
            }
        } else {
            for ((o, &l), &r) in channels[0][start..start + n].iter_mut().zip(&*wl).zip(&*wr) {
                *o = (0.5 * (sanitize(l) + sanitize(r))) as f32;
            }
        }
    }
}
