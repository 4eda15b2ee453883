//! Stage 6, stereo width: mid/side width, mono bass, per-band width, mono-safety.

use crate::stage::Stage;

#[derive(Debug, Clone, PartialEq)]
pub struct WidthSettings {
    /// Overall width, 0 = mono, 1 = unchanged, 2 = double side level.
    pub width: f64,
    /// Sum the low end to mono below `mono_bass_hz`.
    pub mono_bass: bool,
    pub mono_bass_hz: f64,
    /// Extra per-band width factors (1 = unchanged) for low / mid / high, split at the two
    /// crossover frequencies.
    pub band_width: [f64; 3],
    pub band_crossovers_hz: [f64; 2],
    /// -1 .. +1 output balance.
    pub balance: f64,
    /// Mono-safety: keep the output correlation above `min_correlation` and the mono sum's
    /// loss relative to stereo below `max_mono_loss_db`.
    pub safety: bool,
    pub min_correlation: f64,
    pub max_mono_loss_db: f64,
}

impl Default for WidthSettings {
    fn default() -> Self {
        Self {
            width: 1.0,
            mono_bass: false,
            mono_bass_hz: 120.0,
            band_width: [1.0; 3],
            band_crossovers_hz: [250.0, 4000.0],
            balance: 0.0,
            safety: true,
            min_correlation: 0.0,
            max_mono_loss_db: 3.0,
        }
    }
}

/// Stage 6. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct Width {
    settings: WidthSettings,
}

impl Stage for Width {
    type Settings = WidthSettings;
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
