//! Stage 4 parameters (ids `eeq_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::enhancing_eq::{EnhancingEqSettings, ToneBand};
use nice_plug::prelude::*;

/// Enhancing moves are broad and gentle: ±12 dB is already extreme.
const TONE_GAIN_DB: f32 = 12.0;
/// Tilt is gain at the spectrum's extremes relative to the pivot.
const TILT_GAIN_DB: f32 = 6.0;

#[derive(Params)]
pub struct ToneBandParams {
    #[id = "on"]
    pub enabled: BoolParam,
    #[id = "f"]
    pub freq: FloatParam,
    #[id = "g"]
    pub gain: FloatParam,
    #[id = "pl"]
    pub placement: EnumParam<MsPlacementParam>,
}

impl ToneBandParams {
    fn new(label: &str, d: ToneBand, min_hz: f32, max_hz: f32, max_db: f32) -> Self {
        Self {
            enabled: switch(label, d.enabled),
            freq: freq(&format!("{label} Frequency"), d.freq_hz as f32, min_hz, max_hz),
            gain: db(&format!("{label} Gain"), d.gain_db as f32, -max_db, max_db),
            placement: EnumParam::new(format!("{label} Placement"), MsPlacementParam::Stereo),
        }
    }

    fn settings(&self) -> ToneBand {
        ToneBand {
            enabled: self.enabled.value(),
            freq_hz: self.freq.value() as f64,
            gain_db: self.gain.value() as f64,
            placement: self.placement.value().into(),
        }
    }
}

#[derive(Params)]
pub struct EnhancingEqParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[nested(id_prefix = "ls", group = "Low Shelf")]
    pub low_shelf: ToneBandParams,
    #[nested(id_prefix = "hs", group = "High Shelf")]
    pub high_shelf: ToneBandParams,
    #[nested(id_prefix = "air", group = "Air")]
    pub air: ToneBandParams,
    #[nested(id_prefix = "tilt", group = "Tilt")]
    pub tilt: ToneBandParams,
    #[nested(id_prefix = "bell", group = "Wide Bell")]
    pub bell: ToneBandParams,
    #[id = "bell_q"]
    pub bell_q: FloatParam,
}

impl Default for EnhancingEqParams {
    fn default() -> Self {
        let d = EnhancingEqSettings::default();
        Self {
            bypass: stage_bypass("Enhancing EQ Bypass", StageId::EnhancingEq),
            low_shelf: ToneBandParams::new("Low Shelf", d.low_shelf, 20.0, 500.0, TONE_GAIN_DB),
            high_shelf: ToneBandParams::new("High Shelf", d.high_shelf, 1000.0, 16000.0, TONE_GAIN_DB),
            air: ToneBandParams::new("Air", d.air, 10000.0, 22000.0, TONE_GAIN_DB),
            tilt: ToneBandParams::new("Tilt", d.tilt, 200.0, 5000.0, TILT_GAIN_DB),
            bell: ToneBandParams::new("Wide Bell", d.bell, 40.0, 16000.0, TONE_GAIN_DB),
            bell_q: q("Wide Bell Q", d.bell_q as f32, 0.2, 2.0),
        }
    }
}

impl EnhancingEqParams {
    pub fn settings(&self) -> EnhancingEqSettings {
        EnhancingEqSettings {
            low_shelf: self.low_shelf.settings(),
            high_shelf: self.high_shelf.settings(),
            air: self.air.settings(),
            tilt: self.tilt.settings(),
            bell: self.bell.settings(),
            bell_q: self.bell_q.value() as f64,
        }
    }
}
