//! Stage 3, multiband compression: Linkwitz-Riley split, per-band compressors.

use crate::stage::Stage;

/// The most bands the stage can run.
pub const MAX_BANDS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detector {
    #[default]
    Peak,
    Rms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StereoMode {
    #[default]
    Stereo,
    MidSide,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompBand {
    pub threshold_db: f64,
    pub ratio: f64,
    pub attack_ms: f64,
    pub release_ms: f64,
    pub knee_db: f64,
    pub makeup_db: f64,
    pub solo: bool,
    pub bypass: bool,
}

impl Default for CompBand {
    fn default() -> Self {
        Self {
            threshold_db: -18.0,
            ratio: 2.0,
            attack_ms: 20.0,
            release_ms: 150.0,
            knee_db: 6.0,
            makeup_db: 0.0,
            solo: false,
            bypass: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MultibandSettings {
    /// 2..=MAX_BANDS.
    pub bands: usize,
    /// Crossover frequencies, ascending; the first `bands - 1` are used.
    pub crossovers_hz: [f64; MAX_BANDS - 1],
    pub band: [CompBand; MAX_BANDS],
    pub detector: Detector,
    /// 0 = channels independent, 1 = fully linked.
    pub stereo_link: f64,
    pub mode: StereoMode,
    pub auto_makeup: bool,
}

impl Default for MultibandSettings {
    fn default() -> Self {
        Self {
            bands: 3,
            crossovers_hz: [120.0, 2500.0, 8000.0],
            band: [CompBand::default(); MAX_BANDS],
            detector: Detector::Peak,
            stereo_link: 1.0,
            mode: StereoMode::Stereo,
            auto_makeup: false,
        }
    }
}

/// Stage 3. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct Multiband {
    settings: MultibandSettings,
}

impl Stage for Multiband {
    type Settings = MultibandSettings;
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
