//! Stage 3 parameters (ids `mb_*`; bands `mb_b1_*` .. `mb_b4_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::multiband::{CompBand, Detector, MultibandSettings, StereoMode, MAX_BANDS};
use nice_plug::prelude::*;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorParam {
    #[id = "peak"]
    Peak,
    #[id = "rms"]
    #[name = "RMS"]
    Rms,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StereoModeParam {
    #[id = "st"]
    Stereo,
    #[id = "ms"]
    #[name = "Mid/Side"]
    MidSide,
}

#[derive(Params)]
pub struct CompBandParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "solo"]
    pub solo: BoolParam,
    #[id = "thr"]
    pub threshold: FloatParam,
    #[id = "ratio"]
    pub ratio: FloatParam,
    #[id = "att"]
    pub attack: FloatParam,
    #[id = "rel"]
    pub release: FloatParam,
    #[id = "knee"]
    pub knee: FloatParam,
    #[id = "mkup"]
    pub makeup: FloatParam,
}

impl CompBandParams {
    fn new(index: usize) -> Self {
        let d = CompBand::default();
        let n = index + 1;
        Self {
            bypass: bypass(&format!("MB Band {n} Bypass")),
            solo: switch(&format!("MB Band {n} Solo"), d.solo),
            threshold: db(&format!("MB Band {n} Threshold"), d.threshold_db as f32, -60.0, 0.0),
            ratio: FloatParam::new(
                format!("MB Band {n} Ratio"),
                d.ratio as f32,
                FloatRange::Skewed { min: 1.0, max: 20.0, factor: FloatRange::skew_factor(-2.0) },
            )
            .with_value_to_string(formatters::v2s_compression_ratio(2))
            .with_string_to_value(formatters::s2v_compression_ratio()),
            attack: ms(&format!("MB Band {n} Attack"), d.attack_ms as f32, 0.1, 500.0),
            release: ms(&format!("MB Band {n} Release"), d.release_ms as f32, 5.0, 5000.0),
            knee: db(&format!("MB Band {n} Knee"), d.knee_db as f32, 0.0, 24.0),
            makeup: db(&format!("MB Band {n} Makeup"), d.makeup_db as f32, -12.0, 24.0),
        }
    }

    fn settings(&self) -> CompBand {
        CompBand {
            threshold_db: self.threshold.value() as f64,
            ratio: self.ratio.value() as f64,
            attack_ms: self.attack.value() as f64,
            release_ms: self.release.value() as f64,
            knee_db: self.knee.value() as f64,
            makeup_db: self.makeup.value() as f64,
            solo: self.solo.value(),
            bypass: self.bypass.value(),
        }
    }
}

#[derive(Params)]
pub struct MultibandParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "bands"]
    pub bands: IntParam,
    #[id = "x1"]
    pub crossover1: FloatParam,
    #[id = "x2"]
    pub crossover2: FloatParam,
    #[id = "x3"]
    pub crossover3: FloatParam,
    #[id = "det"]
    pub detector: EnumParam<DetectorParam>,
    #[id = "link"]
    pub link: FloatParam,
    #[id = "mode"]
    pub mode: EnumParam<StereoModeParam>,
    #[id = "amk"]
    pub auto_makeup: BoolParam,
    #[nested(id_prefix = "b1", group = "Band 1")]
    pub b1: CompBandParams,
    #[nested(id_prefix = "b2", group = "Band 2")]
    pub b2: CompBandParams,
    #[nested(id_prefix = "b3", group = "Band 3")]
    pub b3: CompBandParams,
    #[nested(id_prefix = "b4", group = "Band 4")]
    pub b4: CompBandParams,
}

impl Default for MultibandParams {
    fn default() -> Self {
        let d = MultibandSettings::default();
        Self {
            bypass: stage_bypass("Multiband Bypass", StageId::Multiband),
            bands: IntParam::new("MB Bands", d.bands as i32, IntRange::Linear { min: 2, max: MAX_BANDS as i32 }),
            crossover1: freq("MB Crossover 1", d.crossovers_hz[0] as f32, 20.0, 20000.0),
            crossover2: freq("MB Crossover 2", d.crossovers_hz[1] as f32, 20.0, 20000.0),
            crossover3: freq("MB Crossover 3", d.crossovers_hz[2] as f32, 20.0, 20000.0),
            detector: EnumParam::new("MB Detector", DetectorParam::Peak),
            link: percent("MB Stereo Link", d.stereo_link as f32, 0.0, 1.0),
            mode: EnumParam::new("MB Stereo Mode", StereoModeParam::Stereo),
            auto_makeup: switch("MB Auto Makeup", d.auto_makeup),
            b1: CompBandParams::new(0),
            b2: CompBandParams::new(1),
            b3: CompBandParams::new(2),
            b4: CompBandParams::new(3),
        }
    }
}

impl MultibandParams {
    pub fn settings(&self) -> MultibandSettings {
        MultibandSettings {
            bands: self.bands.value().clamp(2, MAX_BANDS as i32) as usize,
            crossovers_hz: [
                self.crossover1.value() as f64,
                self.crossover2.value() as f64,
                self.crossover3.value() as f64,
            ],
            band: [&self.b1, &self.b2, &self.b3, &self.b4].map(CompBandParams::settings),
            detector: match self.detector.value() {
                DetectorParam::Peak => Detector::Peak,
                DetectorParam::Rms => Detector::Rms,
            },
            stereo_link: self.link.value() as f64,
            mode: match self.mode.value() {
                StereoModeParam::Stereo => StereoMode::Stereo,
                StereoModeParam::MidSide => StereoMode::MidSide,
            },
            auto_makeup: self.auto_makeup.value(),
        }
    }
}
