//! Stage 5, saturation: oversampled waveshaping with tape, tube and soft-clip characters.

use crate::stage::Stage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Character {
    #[default]
    Tape,
    Tube,
    SoftClip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Oversampling {
    X2,
    #[default]
    X4,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SaturationSettings {
    pub character: Character,
    /// Drive into the shaper, dB.
    pub drive_db: f64,
    /// Parallel mix, 0 = dry .. 1 = wet.
    pub mix: f64,
    pub oversampling: Oversampling,
    /// Compensate the loudness the shaper adds, so engaging it does not just make it louder.
    pub auto_gain: bool,
    /// Output trim after compensation, dB.
    pub output_db: f64,
}

impl Default for SaturationSettings {
    fn default() -> Self {
        Self {
            character: Character::Tape,
            drive_db: 0.0,
            mix: 1.0,
            oversampling: Oversampling::X4,
            auto_gain: true,
            output_db: 0.0,
        }
    }
}

/// Stage 5. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct Saturation {
    settings: SaturationSettings,
}

impl Stage for Saturation {
    type Settings = SaturationSettings;
    fn prepare(&mut self, _sample_rate: f64, _max_block: usize) {}
    fn reset(&mut self) {}
    fn latency(&self) -> usize {
        0
    }
    fn set(&mut self, settings: &Self::Settings) {
        self.settings = settings.clone();
    }
    fn process(&mut self, _left: &mut [f64], _right: &mut [f64]) {}
}
