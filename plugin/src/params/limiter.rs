//! Stage 7 parameters (ids `lim_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::limiter::{LimiterSettings, PeakOversampling};
use nice_plug::prelude::*;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeakOversamplingParam {
    #[id = "4x"]
    #[name = "4x"]
    X4,
    #[id = "8x"]
    #[name = "8x"]
    X8,
    #[id = "16x"]
    #[name = "16x"]
    X16,
}

#[derive(Params)]
pub struct LimiterParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "ceil"]
    pub ceiling: FloatParam,
    #[id = "drive"]
    pub drive: FloatParam,
    #[id = "la"]
    pub lookahead: FloatParam,
    #[id = "rel"]
    pub release: FloatParam,
    #[id = "arel"]
    pub auto_release: BoolParam,
    #[id = "os"]
    pub oversampling: EnumParam<PeakOversamplingParam>,
    #[id = "link"]
    pub link: FloatParam,
}

impl Default for LimiterParams {
    fn default() -> Self {
        let d = LimiterSettings::default();
        Self {
            bypass: stage_bypass("Limiter Bypass", StageId::Limiter),
            ceiling: db("Ceiling", d.ceiling_dbtp as f32, -3.0, -0.1).with_unit(" dBTP"),
            drive: db("Limiter Drive", d.drive_db as f32, 0.0, 24.0),
            // Lookahead and oversampling set the latency: not automatable, so the latency a
            // host compensates for does not move under it.
            lookahead: ms("Lookahead", d.lookahead_ms as f32, 0.5, 5.0).non_automatable(),
            release: ms("Limiter Release", d.release_ms as f32, 10.0, 1000.0),
            auto_release: switch("Auto Release", d.auto_release),
            oversampling: EnumParam::new("True-Peak Oversampling", PeakOversamplingParam::X4).non_automatable(),
            link: percent("Limiter Stereo Link", d.stereo_link as f32, 0.0, 1.0),
        }
    }
}

impl LimiterParams {
    pub fn settings(&self) -> LimiterSettings {
        LimiterSettings {
            ceiling_dbtp: self.ceiling.value() as f64,
            drive_db: self.drive.value() as f64,
            lookahead_ms: self.lookahead.value() as f64,
            release_ms: self.release.value() as f64,
            auto_release: self.auto_release.value(),
            oversampling: match self.oversampling.value() {
                PeakOversamplingParam::X4 => PeakOversampling::X4,
                PeakOversamplingParam::X8 => PeakOversampling::X8,
                PeakOversamplingParam::X16 => PeakOversampling::X16,
            },
            stereo_link: self.link.value() as f64,
        }
    }
}
