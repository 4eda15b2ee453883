//! Stage 4, enhancing EQ: broad musical shelves, air, tilt and a wide bell.

use super::corrective_eq::band::{Band, BandTarget, Route, Shape};
use super::corrective_eq::cascade::Cascade;
use super::corrective_eq::{chunked, run_bands};
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
    /// Air band: a gentle high shelf (Q 0.5), its frequency kept at 10 kHz or above.
    pub air: ToneBand,
    /// Tilt around `freq_hz`: +gain tilts toward the highs (highs up, lows down).
    pub tilt: ToneBand,
    pub bell: ToneBand,
    /// Q of the wide bell (low values: broad), 0.2 to 2.
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

/// Q of the shelves, the air band and the tilt: below `1/√2`, a gentle slope with no overshoot
/// (the broad, Baxandall-like curve of a tone control rather than a corrective shelf).
pub const SHELF_Q: f64 = 0.5;
/// Lowest air-band frequency: the air band lives above 10 kHz.
pub const AIR_MIN_HZ: f64 = 10_000.0;
/// Widest and narrowest bell Q accepted: this is a broad tonal bell, not a surgical one.
pub const BELL_Q_MIN: f64 = 0.2;
pub const BELL_Q_MAX: f64 = 2.0;

impl From<MsPlacement> for Route {
    fn from(p: MsPlacement) -> Self {
        match p {
            MsPlacement::Stereo => Route::Stereo,
            MsPlacement::Mid => Route::Mid,
            MsPlacement::Side => Route::Side,
        }
    }
}

impl ToneBand {
    fn target(&self, shape: Shape, q: f64) -> BandTarget {
        BandTarget {
            enabled: self.enabled,
            shape,
            route: self.placement.into(),
            freq_hz: self.freq_hz,
            gain_db: self.gain_db,
            q,
            dynamics: None,
        }
    }
}

/// Order of the bands in [`EnhancingEq::bands`].
const LOW_SHELF: usize = 0;
const HIGH_SHELF: usize = 1;
const AIR: usize = 2;
const TILT: usize = 3;
const BELL: usize = 4;
const BANDS: usize = 5;

/// Stage 4: low shelf, high shelf, air shelf (>= 10 kHz), tilt and a wide bell, each on stereo,
/// mid or side. The same run-time bands as the corrective EQ (magnitude-matched biquads,
/// gliding parameters, exact bypass at 0 dB), with gentle fixed shapes: shelves, air and tilt
/// use Q = 0.5; the tilt is a high shelf lowered by half its gain, so it pivots at its
/// frequency (lows -g/2, highs +g/2).
#[derive(Debug, Default)]
pub struct EnhancingEq {
    settings: EnhancingEqSettings,
    bands: [Band; BANDS],
    dry: [Vec<f64>; 2],
    cascade: Cascade,
    phase: usize,
    moving: bool,
}

impl EnhancingEq {
    fn push_targets(&mut self) {
        let s = &self.settings;
        self.bands[LOW_SHELF].set(&s.low_shelf.target(Shape::LowShelf, SHELF_Q));
        self.bands[HIGH_SHELF].set(&s.high_shelf.target(Shape::HighShelf, SHELF_Q));
        let mut air = s.air.target(Shape::HighShelf, SHELF_Q);
        air.freq_hz = air.freq_hz.max(AIR_MIN_HZ);
        self.bands[AIR].set(&air);
        self.bands[TILT].set(&s.tilt.target(Shape::Tilt, SHELF_Q));
        let q = if s.bell_q.is_finite() { s.bell_q.clamp(BELL_Q_MIN, BELL_Q_MAX) } else { 1.0 };
        self.bands[BELL].set(&s.bell.target(Shape::Bell, q));
    }
}

impl Stage for EnhancingEq {
    type Settings = EnhancingEqSettings;
    fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.push_targets();
        for b in self.bands.iter_mut() {
            b.prepare(sample_rate);
        }
        self.dry = [vec![0.0; max_block], vec![0.0; max_block]];
        self.reset();
    }
    fn reset(&mut self) {
        for b in self.bands.iter_mut() {
            b.reset();
        }
        self.phase = 0;
        self.moving = false;
    }
    fn latency(&self) -> usize {
        0
    }
    fn set(&mut self, settings: &Self::Settings) {
        if *settings != self.settings {
            self.settings = settings.clone();
            self.push_targets();
        }
    }
    fn process(&mut self, left: &mut [f64], right: &mut [f64]) {
        let (dry, cascade) = (&mut self.dry, &mut self.cascade);
        chunked(&mut self.bands, &mut self.phase, &mut self.moving, left, right, |bands, l, r| {
            run_bands(bands, cascade, dry, l, r)
        });
    }
}
