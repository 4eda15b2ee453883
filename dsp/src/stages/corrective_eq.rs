//! Stage 2, corrective EQ: high/low-pass and parametric bands, stereo or mid/side.

use super::Placement;
use crate::stage::Stage;

/// Number of parametric bands.
pub const CORRECTIVE_BANDS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassShape {
    #[default]
    Butterworth,
    LinkwitzRiley,
}

/// Slope of the pass filters in dB/octave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slope {
    Db12,
    #[default]
    Db24,
    Db36,
    Db48,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassFilter {
    pub enabled: bool,
    pub freq_hz: f64,
    pub slope: Slope,
    pub shape: PassShape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandType {
    #[default]
    Bell,
    LowShelf,
    HighShelf,
    Notch,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EqBand {
    pub enabled: bool,
    pub kind: BandType,
    pub freq_hz: f64,
    pub gain_db: f64,
    pub q: f64,
    pub placement: Placement,
    /// Dynamic mode: the band's gain applies only as far as the band's level exceeds the
    /// threshold, up to `dyn_range_db`.
    pub dynamic: bool,
    pub dyn_threshold_db: f64,
    pub dyn_range_db: f64,
}

impl Default for EqBand {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: BandType::Bell,
            freq_hz: 1000.0,
            gain_db: 0.0,
            q: 1.0,
            placement: Placement::Stereo,
            dynamic: false,
            dyn_threshold_db: -20.0,
            dyn_range_db: -6.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CorrectiveEqSettings {
    pub high_pass: PassFilter,
    pub low_pass: PassFilter,
    pub bands: [EqBand; CORRECTIVE_BANDS],
}

impl Default for CorrectiveEqSettings {
    fn default() -> Self {
        Self {
            high_pass: PassFilter { enabled: false, freq_hz: 30.0, slope: Slope::Db24, shape: PassShape::Butterworth },
            low_pass: PassFilter { enabled: false, freq_hz: 20000.0, slope: Slope::Db24, shape: PassShape::Butterworth },
            bands: [EqBand::default(); CORRECTIVE_BANDS],
        }
    }
}

/// Stage 2. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct CorrectiveEq {
    settings: CorrectiveEqSettings,
}

impl Stage for CorrectiveEq {
    type Settings = CorrectiveEqSettings;
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
