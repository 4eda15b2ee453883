//! Stage 1 parameters (ids `gs_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::gain_staging::GainStagingSettings;
use nice_plug::prelude::*;

/// Input trim range: covers a mix printed far too hot or far too quiet.
const TRIM_RANGE_DB: f32 = 24.0;

#[derive(Params)]
pub struct GainStagingParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "in"]
    pub input: FloatParam,
    #[id = "poll"]
    pub invert_left: BoolParam,
    #[id = "polr"]
    pub invert_right: BoolParam,
    #[id = "dc"]
    pub dc_block: BoolParam,
    #[id = "bal"]
    pub balance: FloatParam,
    #[id = "auto"]
    pub auto: BoolParam,
    #[id = "atgt"]
    pub auto_target: FloatParam,
    #[id = "arng"]
    pub auto_range: FloatParam,
}

impl Default for GainStagingParams {
    fn default() -> Self {
        let d = GainStagingSettings::default();
        Self {
            bypass: stage_bypass("Gain Staging Bypass", StageId::GainStaging),
            input: db("Input Trim", d.input_db as f32, -TRIM_RANGE_DB, TRIM_RANGE_DB),
            invert_left: switch("Invert Left Polarity", d.invert_left),
            invert_right: switch("Invert Right Polarity", d.invert_right),
            dc_block: switch("DC Blocker", d.dc_block),
            balance: balance("Input Balance"),
            auto: switch("Auto Gain Staging", d.auto_enabled),
            auto_target: FloatParam::new(
                "Auto Staging Target",
                d.auto_target_lufs as f32,
                FloatRange::Linear { min: -30.0, max: -6.0 },
            )
            .with_unit(" LUFS")
            .with_step_size(0.1),
            auto_range: db("Auto Staging Range", d.auto_range_db as f32, 0.0, TRIM_RANGE_DB),
        }
    }
}

impl GainStagingParams {
    pub fn settings(&self) -> GainStagingSettings {
        GainStagingSettings {
            input_db: self.input.value() as f64,
            invert_left: self.invert_left.value(),
            invert_right: self.invert_right.value(),
            dc_block: self.dc_block.value(),
            balance: self.balance.value() as f64,
            auto_enabled: self.auto.value(),
            auto_target_lufs: self.auto_target.value() as f64,
            auto_range_db: self.auto_range.value() as f64,
        }
    }
}
