//! Builders shared by every stage's parameters, so units, ranges and text are consistent.

use lacquer_dsp::chain::{ChainSettings, StageId};
use nice_plug::prelude::*;
use std::sync::Arc;

/// Formats dB values with two decimals: mastering moves are often tenths of a dB.
const DB_DIGITS: usize = 2;
/// Frequencies below 1 kHz with no decimals, above in kHz with two.
const FREQ_DIGITS: usize = 2;

/// A plain dB parameter on a linear dB scale (what mastering engineers read and type).
pub fn db(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit(" dB")
        .with_step_size(0.01)
        .with_value_to_string(formatters::v2s_f32_rounded(DB_DIGITS))
}

/// A frequency parameter on a logarithmic-feeling skew. No `with_unit`: the formatter writes
/// "Hz" or "kHz" itself (a unit would be appended to its text: "5.00 kHz Hz").
pub fn freq(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min, max, factor: FloatRange::skew_factor(-2.0) })
        .with_value_to_string(formatters::v2s_f32_hz_then_khz(FREQ_DIGITS))
        .with_string_to_value(formatters::s2v_f32_hz_then_khz())
}

/// A percentage stored as 0..=max/100 (e.g. width 0..2 shown as 0..200 %).
pub fn percent(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit("%")
        .with_value_to_string(formatters::v2s_f32_percentage(0))
        .with_string_to_value(formatters::s2v_f32_percentage())
}

/// A time in milliseconds on a skewed range.
pub fn ms(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min, max, factor: FloatRange::skew_factor(-1.0) })
        .with_unit(" ms")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

/// A filter Q on a skewed range.
pub fn q(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min, max, factor: FloatRange::skew_factor(-1.0) })
        .with_value_to_string(formatters::v2s_f32_rounded(2))
}

/// A bypass: "Bypassed" / "Not Bypassed" in the host.
pub fn bypass(name: &str) -> BoolParam {
    bypass_default(name, false)
}

/// A stage's bypass, defaulting to that stage's state in a fresh chain
/// ([`ChainSettings::default`], the one place the factory state is decided).
pub fn stage_bypass(name: &str, stage: StageId) -> BoolParam {
    bypass_default(name, ChainSettings::default().bypass[stage as usize])
}

fn bypass_default(name: &str, default: bool) -> BoolParam {
    BoolParam::new(name, default)
        .with_value_to_string(formatters::v2s_bool_bypass())
        .with_string_to_value(formatters::s2v_bool_bypass())
}

/// An on/off switch: "On" / "Off".
pub fn switch(name: &str, default: bool) -> BoolParam {
    BoolParam::new(name, default)
        .with_value_to_string(Arc::new(|v| if v { "On".into() } else { "Off".into() }))
        .with_string_to_value(Arc::new(|s| match s.trim().to_ascii_lowercase().as_str() {
            "on" | "1" | "true" | "yes" => Some(true),
            "off" | "0" | "false" | "no" => Some(false),
            _ => None,
        }))
}

/// Balance -1..+1, shown as "50L" / "C" / "50R".
pub fn balance(name: &str) -> FloatParam {
    FloatParam::new(name, 0.0, FloatRange::Linear { min: -1.0, max: 1.0 })
        .with_value_to_string(formatters::v2s_f32_panning())
        .with_string_to_value(formatters::s2v_f32_panning())
}

/// Where a band acts.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementParam {
    #[id = "st"]
    Stereo,
    #[id = "mid"]
    Mid,
    #[id = "side"]
    Side,
    #[id = "left"]
    Left,
    #[id = "right"]
    Right,
}

impl From<PlacementParam> for lacquer_dsp::stages::Placement {
    fn from(p: PlacementParam) -> Self {
        use lacquer_dsp::stages::Placement as P;
        match p {
            PlacementParam::Stereo => P::Stereo,
            PlacementParam::Mid => P::Mid,
            PlacementParam::Side => P::Side,
            PlacementParam::Left => P::Left,
            PlacementParam::Right => P::Right,
        }
    }
}

/// Where a broad enhancing band acts (no left/right).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsPlacementParam {
    #[id = "st"]
    Stereo,
    #[id = "mid"]
    Mid,
    #[id = "side"]
    Side,
}

impl From<MsPlacementParam> for lacquer_dsp::stages::enhancing_eq::MsPlacement {
    fn from(p: MsPlacementParam) -> Self {
        use lacquer_dsp::stages::enhancing_eq::MsPlacement as P;
        match p {
            MsPlacementParam::Stereo => P::Stereo,
            MsPlacementParam::Mid => P::Mid,
            MsPlacementParam::Side => P::Side,
        }
    }
}
