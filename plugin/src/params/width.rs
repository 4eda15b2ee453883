//! Stage 6 parameters (ids `wid_*`).

use super::common::*;
use lacquer_dsp::chain::StageId;
use lacquer_dsp::stages::width::WidthSettings;
use nice_plug::prelude::*;

/// Width is 0 % (mono) to 200 % (double side).
const MAX_WIDTH: f32 = 2.0;

#[derive(Params)]
pub struct WidthParams {
    #[id = "byp"]
    pub bypass: BoolParam,
    #[id = "w"]
    pub width: FloatParam,
    #[id = "mb"]
    pub mono_bass: BoolParam,
    #[id = "mbf"]
    pub mono_bass_freq: FloatParam,
    #[id = "wlo"]
    pub width_low: FloatParam,
    #[id = "wmid"]
    pub width_mid: FloatParam,
    #[id = "whi"]
    pub width_high: FloatParam,
    #[id = "x1"]
    pub crossover1: FloatParam,
    #[id = "x2"]
    pub crossover2: FloatParam,
    #[id = "bal"]
    pub balance: FloatParam,
    #[id = "safe"]
    pub safety: BoolParam,
    #[id = "corr"]
    pub min_correlation: FloatParam,
    #[id = "mloss"]
    pub max_mono_loss: FloatParam,
}

impl Default for WidthParams {
    fn default() -> Self {
        let d = WidthSettings::default();
        Self {
            bypass: stage_bypass("Stereo Width Bypass", StageId::Width),
            width: percent("Width", d.width as f32, 0.0, MAX_WIDTH),
            mono_bass: switch("Mono Bass", d.mono_bass),
            mono_bass_freq: freq("Mono Bass Frequency", d.mono_bass_hz as f32, 40.0, 300.0),
            width_low: percent("Low Width", d.band_width[0] as f32, 0.0, MAX_WIDTH),
            width_mid: percent("Mid Width", d.band_width[1] as f32, 0.0, MAX_WIDTH),
            width_high: percent("High Width", d.band_width[2] as f32, 0.0, MAX_WIDTH),
            crossover1: freq("Width Low/Mid Crossover", d.band_crossovers_hz[0] as f32, 40.0, 2000.0),
            crossover2: freq("Width Mid/High Crossover", d.band_crossovers_hz[1] as f32, 1000.0, 16000.0),
            balance: balance("Output Balance"),
            safety: switch("Mono Safety", d.safety),
            min_correlation: FloatParam::new(
                "Correlation Floor",
                d.min_correlation as f32,
                FloatRange::Linear { min: -1.0, max: 1.0 },
            )
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            max_mono_loss: db("Max Mono Loss", d.max_mono_loss_db as f32, 0.5, 12.0),
        }
    }
}

impl WidthParams {
    pub fn settings(&self) -> WidthSettings {
        WidthSettings {
            width: self.width.value() as f64,
            mono_bass: self.mono_bass.value(),
            mono_bass_hz: self.mono_bass_freq.value() as f64,
            band_width: [self.width_low.value() as f64, self.width_mid.value() as f64, self.width_high.value() as f64],
            band_crossovers_hz: [self.crossover1.value() as f64, self.crossover2.value() as f64],
            balance: self.balance.value() as f64,
            safety: self.safety.value(),
            min_correlation: self.min_correlation.value() as f64,
            max_mono_loss_db: self.max_mono_loss.value() as f64,
        }
    }
}
