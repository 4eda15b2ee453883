//! The whole parameter model of Lacquer.
//!
//! Ids are short and stable: a stage's parameters carry its prefix (`gs`, `ceq`, `mb`, `eeq`,
//! `sat`, `wid`, `lim`), bands carry a band prefix (`ceq_b3_f`), so adding a band or a stage
//! later only adds ids. Never rename an id: saved sessions and automation refer to them.
//!
//! The plugin reads plain values once per (sub-)block into a [`ChainSettings`]; the DSP core
//! smooths every change itself.

mod common;
pub mod corrective_eq;
pub mod enhancing_eq;
pub mod gain_staging;
pub mod limiter;
pub mod multiband;
pub mod saturation;
pub mod width;

use common::{bypass, db, switch};
use lacquer_dsp::chain::{ChainSettings, StageId};
use nice_plug::prelude::*;

use corrective_eq::CorrectiveEqParams;
use enhancing_eq::EnhancingEqParams;
use gain_staging::GainStagingParams;
use limiter::LimiterParams;
use multiband::MultibandParams;
use saturation::SaturationParams;
use width::WidthParams;

/// Output trim is attenuation only: after the limiter, a boost would break the ceiling.
const OUTPUT_TRIM_MIN_DB: f32 = -24.0;

#[derive(Params)]
pub struct LacquerParams {
    /// The host's bypass: crossfades the whole chain against the latency-aligned input.
    #[id = "byp"]
    pub bypass: BoolParam,
    /// Group toggle for the corrective stages (corrective EQ, multiband compression).
    #[id = "g_corr"]
    pub corrective_on: BoolParam,
    /// Group toggle for the enhancing stages (enhancing EQ, saturation, stereo width).
    #[id = "g_enh"]
    pub enhancing_on: BoolParam,
    #[id = "out"]
    pub output_trim: FloatParam,
    /// Reset the loudness meters when the host transport starts from a stop.
    #[id = "mtr_auto"]
    pub meter_auto_reset: BoolParam,
    /// The GUI's meter reset button: every change of value resets the meters once (a toggle,
    /// because GUI -> DSP goes through parameters and the audio thread cannot write one back).
    #[id = "mtr_rst"]
    pub meter_reset: BoolParam,

    #[nested(id_prefix = "gs", group = "1 Gain Staging")]
    pub gain_staging: GainStagingParams,
    #[nested(id_prefix = "ceq", group = "2 Corrective EQ")]
    pub corrective_eq: CorrectiveEqParams,
    #[nested(id_prefix = "mb", group = "3 Multiband Compression")]
    pub multiband: MultibandParams,
    #[nested(id_prefix = "eeq", group = "4 Enhancing EQ")]
    pub enhancing_eq: EnhancingEqParams,
    #[nested(id_prefix = "sat", group = "5 Saturation")]
    pub saturation: SaturationParams,
    #[nested(id_prefix = "wid", group = "6 Stereo Width")]
    pub width: WidthParams,
    #[nested(id_prefix = "lim", group = "7 Limiter")]
    pub limiter: LimiterParams,
}

impl Default for LacquerParams {
    fn default() -> Self {
        Self {
            bypass: bypass("Bypass").make_bypass(),
            corrective_on: switch("Corrective Stages", true),
            enhancing_on: switch("Enhancing Stages", true),
            output_trim: db("Output Trim", 0.0, OUTPUT_TRIM_MIN_DB, 0.0),
            meter_auto_reset: switch("Reset Meters on Play", true).non_automatable(),
            meter_reset: BoolParam::new("Meter Reset", false).non_automatable().hide(),
            gain_staging: Default::default(),
            corrective_eq: Default::default(),
            multiband: Default::default(),
            enhancing_eq: Default::default(),
            saturation: Default::default(),
            width: Default::default(),
            limiter: Default::default(),
        }
    }
}

impl LacquerParams {
    /// Each stage's own bypass parameter, in signal order.
    pub fn stage_bypass(&self, stage: StageId) -> &BoolParam {
        match stage {
            StageId::GainStaging => &self.gain_staging.bypass,
            StageId::CorrectiveEq => &self.corrective_eq.bypass,
            StageId::Multiband => &self.multiband.bypass,
            StageId::EnhancingEq => &self.enhancing_eq.bypass,
            StageId::Saturation => &self.saturation.bypass,
            StageId::Width => &self.width.bypass,
            StageId::Limiter => &self.limiter.bypass,
        }
    }

    /// Fill `settings` with the current plain values. Does not allocate.
    pub fn fill(&self, settings: &mut ChainSettings) {
        settings.gain_staging = self.gain_staging.settings();
        settings.corrective_eq = self.corrective_eq.settings();
        settings.multiband = self.multiband.settings();
        settings.enhancing_eq = self.enhancing_eq.settings();
        settings.saturation = self.saturation.settings();
        settings.width = self.width.settings();
        settings.limiter = self.limiter.settings();
        for stage in StageId::ALL {
            settings.bypass[stage as usize] = self.stage_bypass(stage).value();
        }
        settings.corrective_on = self.corrective_on.value();
        settings.enhancing_on = self.enhancing_on.value();
        settings.global_bypass = self.bypass.value();
        settings.output_trim_db = self.output_trim.value() as f64;
    }
}
