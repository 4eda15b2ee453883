//! Stage 4, enhancing EQ: broad musical shelves, air, tilt and a wide bell.

use crate::stage::Stage;

/// Placement of an enhancing band (no left/right: these are broad tonal moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MsPlacement {
    #[default]
    Stereo,
    Mid,
    Side,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneBand {
    pub enabled: bool,
    pub freq_hz: f64,
    pub gain_db: f64,
    pub placement: MsPlacement,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnhancingEqSettings {
    pub low_shelf: ToneBand,
    pub high_shelf: ToneBand,
    /// Air band, a gentle shelf or wide bell above 10 kHz.
    pub air: ToneBand,
    /// Tilt around `freq_hz`: +gain tilts toward the highs (highs up, lows down).
    pub tilt: ToneBand,
    pub bell: ToneBand,
    /// Q of the wide bell (low values: broad).
    pub bell_q: f64,
}

impl Default for EnhancingEqSettings {
    fn default() -> Self {
        let band = |f| ToneBand { enabled: false, freq_hz: f, gain_db: 0.0, placement: MsPlacement::Stereo };
        Self {
            low_shelf: band(100.0),
            high_shelf: band(8000.0),
            air: band(16000.0),
            tilt: band(1000.0),
            bell: band(2000.0),
            bell_q: 0.5,
        }
    }
}

/// Stage 4. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct EnhancingEq {
    settings: EnhancingEqSettings,
}

impl Stage for EnhancingEq {
    type Settings = EnhancingEqSettings;
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
