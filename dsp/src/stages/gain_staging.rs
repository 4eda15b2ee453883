//! Stage 1, gain staging: input trim, polarity, DC blocking, balance, optional auto staging.

use crate::stage::Stage;

/// Settings of the gain staging stage.
#[derive(Debug, Clone, PartialEq)]
pub struct GainStagingSettings {
    /// Input trim in dB (about ±24).
    pub input_db: f64,
    pub invert_left: bool,
    pub invert_right: bool,
    /// Sub-audio high-pass that removes DC offset.
    pub dc_block: bool,
    /// -1 (left only) .. 0 (centre) .. +1 (right only).
    pub balance: f64,
    /// Slowly steer the level toward `auto_target_lufs`.
    pub auto_enabled: bool,
    /// Working level for auto staging, short-term LUFS.
    pub auto_target_lufs: f64,
    /// Largest correction auto staging may apply, dB either way.
    pub auto_range_db: f64,
}

impl Default for GainStagingSettings {
    fn default() -> Self {
        Self {
            input_db: 0.0,
            invert_left: false,
            invert_right: false,
            dc_block: true,
            balance: 0.0,
            auto_enabled: false,
            auto_target_lufs: -18.0,
            auto_range_db: 12.0,
        }
    }
}

/// Stage 1. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct GainStaging {
    settings: GainStagingSettings,
}

impl Stage for GainStaging {
    type Settings = GainStagingSettings;
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
