//! Stage 5 parameters (ids `sat_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::saturation::{Character, Oversampling, SaturationSettings};
use nice_plug::prelude::*;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharacterParam {
    #[id = "tape"]
    Tape,
    #[id = "tube"]
    Tube,
    #[id = "soft"]
    #[name = "Soft Clip"]
    SoftClip,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OversamplingParam {
    #[id = "2x"]
    #[name = "2x"]
    X2,
    #[id = "4x"]
    #[name = "4x"]
    X4,
}

#[derive(Params)]
pub struct SaturationParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "char"]
    pub character: EnumParam<CharacterParam>,
    #[id = "drive"]
    pub drive: FloatParam,
    #[id = "mix"]
    pub mix: FloatParam,
    #[id = "os"]
    pub oversampling: EnumParam<OversamplingParam>,
    #[id = "comp"]
    pub auto_gain: BoolParam,
    #[id = "out"]
    pub output: FloatParam,
}

impl Default for SaturationParams {
    fn default() -> Self {
        let d = SaturationSettings::default();
        Self {
            bypass: stage_bypass("Saturation Bypass", StageId::Saturation),
            character: EnumParam::new("Saturation Character", CharacterParam::Tape),
            drive: db("Saturation Drive", d.drive_db as f32, 0.0, 24.0),
            mix: percent("Saturation Mix", d.mix as f32, 0.0, 1.0),
            oversampling: EnumParam::new("Saturation Oversampling", OversamplingParam::X4).non_automatable(),
            auto_gain: switch("Saturation Auto Gain", d.auto_gain),
            output: db("Saturation Output", d.output_db as f32, -12.0, 12.0),
        }
    }
}

impl SaturationParams {
    pub fn settings(&self) -> SaturationSettings {
        SaturationSettings {
            character: match self.character.value() {
                CharacterParam::Tape => Character::Tape,
                CharacterParam::Tube => Character::Tube,
                CharacterParam::SoftClip => Character::SoftClip,
            },
            drive_db: self.drive.value() as f64,
            mix: self.mix.value() as f64,
            oversampling: match self.oversampling.value() {
                OversamplingParam::X2 => Oversampling::X2,
                OversamplingParam::X4 => Oversampling::X4,
            },
            auto_gain: self.auto_gain.value(),
            output_db: self.output.value() as f64,
        }
    }
}
