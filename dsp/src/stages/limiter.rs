//! Stage 7, the true-peak limiter, always last: its ceiling is a promise.

use crate::stage::Stage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakOversampling {
    #[default]
    X4,
    X8,
    X16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimiterSettings {
    /// Output ceiling, dBTP (-3 .. -0.1).
    pub ceiling_dbtp: f64,
    /// Gain into the limiter, dB.
    pub drive_db: f64,
    /// Lookahead, ms.
    pub lookahead_ms: f64,
    /// Base release time, ms.
    pub release_ms: f64,
    /// Program-dependent release: faster on transients, slower on sustained limiting.
    pub auto_release: bool,
    pub oversampling: PeakOversampling,
    /// 0 = channels independent, 1 = fully linked.
    pub stereo_link: f64,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            ceiling_dbtp: -1.0,
            drive_db: 0.0,
            lookahead_ms: 1.5,
            release_ms: 100.0,
            auto_release: true,
            oversampling: PeakOversampling::X4,
            stereo_link: 1.0,
        }
    }
}

/// Stage 7. (Pass-through until its DSP lands.)
#[derive(Debug, Default)]
pub struct Limiter {
    settings: LimiterSettings,
}

impl Stage for Limiter {
    type Settings = LimiterSettings;
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
