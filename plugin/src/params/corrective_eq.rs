//! Stage 2 parameters (ids `ceq_*`; bands `ceq_b1_*` .. `ceq_b8_*`, so adding a band later adds
//! ids without renaming any).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::corrective_eq::{BandType, CorrectiveEqSettings, EqBand, PassFilter, PassShape, Slope};
use nice_plug::prelude::*;

/// Band gain range: corrective cuts can be deep, boosts are rarely more than a few dB.
const BAND_GAIN_DB: f32 = 18.0;
const MIN_Q: f32 = 0.1;
const MAX_Q: f32 = 40.0;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlopeParam {
    #[id = "12"]
    #[name = "12 dB/oct"]
    Db12,
    #[id = "24"]
    #[name = "24 dB/oct"]
    Db24,
    #[id = "36"]
    #[name = "36 dB/oct"]
    Db36,
    #[id = "48"]
    #[name = "48 dB/oct"]
    Db48,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeParam {
    #[id = "bw"]
    #[name = "Butterworth"]
    Butterworth,
    #[id = "lr"]
    #[name = "Linkwitz-Riley"]
    LinkwitzRiley,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandTypeParam {
    #[id = "bell"]
    Bell,
    #[id = "ls"]
    #[name = "Low Shelf"]
    LowShelf,
    #[id = "hs"]
    #[name = "High Shelf"]
    HighShelf,
    #[id = "notch"]
    Notch,
}

#[derive(Params)]
pub struct PassParams {
    #[id = "on"]
    pub enabled: BoolParam,
    #[id = "f"]
    pub freq: FloatParam,
    #[id = "slope"]
    pub slope: EnumParam<SlopeParam>,
    #[id = "shape"]
    pub shape: EnumParam<ShapeParam>,
}

impl PassParams {
    fn new(label: &str, d: PassFilter, min_hz: f32, max_hz: f32) -> Self {
        Self {
            enabled: switch(&format!("{label}"), d.enabled),
            freq: freq(&format!("{label} Frequency"), d.freq_hz as f32, min_hz, max_hz),
            slope: EnumParam::new(format!("{label} Slope"), SlopeParam::Db24),
            shape: EnumParam::new(format!("{label} Shape"), ShapeParam::Butterworth),
        }
    }

    fn settings(&self) -> PassFilter {
        PassFilter {
            enabled: self.enabled.value(),
            freq_hz: self.freq.value() as f64,
            slope: match self.slope.value() {
                SlopeParam::Db12 => Slope::Db12,
                SlopeParam::Db24 => Slope::Db24,
                SlopeParam::Db36 => Slope::Db36,
                SlopeParam::Db48 => Slope::Db48,
            },
            shape: match self.shape.value() {
                ShapeParam::Butterworth => PassShape::Butterworth,
                ShapeParam::LinkwitzRiley => PassShape::LinkwitzRiley,
            },
        }
    }
}

#[derive(Params)]
pub struct BandParams {
    #[id = "on"]
    pub enabled: BoolParam,
    #[id = "type"]
    pub kind: EnumParam<BandTypeParam>,
    #[id = "f"]
    pub freq: FloatParam,
    #[id = "g"]
    pub gain: FloatParam,
    #[id = "q"]
    pub q: FloatParam,
    #[id = "pl"]
    pub placement: EnumParam<PlacementParam>,
    #[id = "dyn"]
    pub dynamic: BoolParam,
    #[id = "thr"]
    pub threshold: FloatParam,
    #[id = "rng"]
    pub range: FloatParam,
}

/// Default band frequencies spread over the spectrum so a fresh instance shows a usable layout.
const DEFAULT_BAND_HZ: [f32; 8] = [40.0, 100.0, 250.0, 600.0, 1500.0, 3500.0, 8000.0, 14000.0];

impl BandParams {
    fn new(index: usize) -> Self {
        let d = EqBand::default();
        let n = index + 1;
        Self {
            enabled: switch(&format!("Band {n}"), d.enabled),
            kind: EnumParam::new(format!("Band {n} Type"), BandTypeParam::Bell),
            freq: freq(&format!("Band {n} Frequency"), DEFAULT_BAND_HZ[index], 10.0, 22000.0),
            gain: db(&format!("Band {n} Gain"), d.gain_db as f32, -BAND_GAIN_DB, BAND_GAIN_DB),
            q: q(&format!("Band {n} Q"), d.q as f32, MIN_Q, MAX_Q),
            placement: EnumParam::new(format!("Band {n} Placement"), PlacementParam::Stereo),
            dynamic: switch(&format!("Band {n} Dynamic"), d.dynamic),
            threshold: db(&format!("Band {n} Dyn Threshold"), d.dyn_threshold_db as f32, -60.0, 0.0),
            range: db(&format!("Band {n} Dyn Range"), d.dyn_range_db as f32, -BAND_GAIN_DB, BAND_GAIN_DB),
        }
    }

    fn settings(&self) -> EqBand {
        EqBand {
            enabled: self.enabled.value(),
            kind: match self.kind.value() {
                BandTypeParam::Bell => BandType::Bell,
                BandTypeParam::LowShelf => BandType::LowShelf,
                BandTypeParam::HighShelf => BandType::HighShelf,
                BandTypeParam::Notch => BandType::Notch,
            },
            freq_hz: self.freq.value() as f64,
            gain_db: self.gain.value() as f64,
            q: self.q.value() as f64,
            placement: self.placement.value().into(),
            dynamic: self.dynamic.value(),
            dyn_threshold_db: self.threshold.value() as f64,
            dyn_range_db: self.range.value() as f64,
        }
    }
}

#[derive(Params)]
pub struct CorrectiveEqParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[nested(id_prefix = "hp", group = "High-Pass")]
    pub high_pass: PassParams,
    #[nested(id_prefix = "lp", group = "Low-Pass")]
    pub low_pass: PassParams,
    #[nested(id_prefix = "b1", group = "Band 1")]
    pub b1: BandParams,
    #[nested(id_prefix = "b2", group = "Band 2")]
    pub b2: BandParams,
    #[nested(id_prefix = "b3", group = "Band 3")]
    pub b3: BandParams,
    #[nested(id_prefix = "b4", group = "Band 4")]
    pub b4: BandParams,
    #[nested(id_prefix = "b5", group = "Band 5")]
    pub b5: BandParams,
    #[nested(id_prefix = "b6", group = "Band 6")]
    pub b6: BandParams,
    #[nested(id_prefix = "b7", group = "Band 7")]
    pub b7: BandParams,
    #[nested(id_prefix = "b8", group = "Band 8")]
    pub b8: BandParams,
}

impl Default for CorrectiveEqParams {
    fn default() -> Self {
        let d = CorrectiveEqSettings::default();
        Self {
            bypass: stage_bypass("Corrective EQ Bypass", StageId::CorrectiveEq),
            high_pass: PassParams::new("High-Pass", d.high_pass, 10.0, 1000.0),
            low_pass: PassParams::new("Low-Pass", d.low_pass, 1000.0, 22000.0),
            b1: BandParams::new(0),
            b2: BandParams::new(1),
            b3: BandParams::new(2),
            b4: BandParams::new(3),
            b5: BandParams::new(4),
            b6: BandParams::new(5),
            b7: BandParams::new(6),
            b8: BandParams::new(7),
        }
    }
}

impl CorrectiveEqParams {
    pub fn bands(&self) -> [&BandParams; 8] {
        [&self.b1, &self.b2, &self.b3, &self.b4, &self.b5, &self.b6, &self.b7, &self.b8]
    }

    pub fn settings(&self) -> CorrectiveEqSettings {
        CorrectiveEqSettings {
            high_pass: self.high_pass.settings(),
            low_pass: self.low_pass.settings(),
            bands: self.bands().map(BandParams::settings),
        }
    }
}
