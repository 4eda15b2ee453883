//! Stage 2, corrective EQ: high/low-pass and parametric bands, stereo or mid/side.

/// The run-time band shared with the enhancing EQ.
pub(crate) mod band;
/// The static stereo sections of all bands in one SIMD pipeline.
pub(crate) mod cascade;

use super::Placement;
use crate::filters::eq_design::PassFamily;
use crate::stage::Stage;
use band::{Band, BandTarget, Dynamics, Route, Shape, CONTROL_INTERVAL};
use cascade::Cascade;

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
            low_pass: PassFilter {
                enabled: false,
                freq_hz: 20000.0,
                slope: Slope::Db24,
                shape: PassShape::Butterworth,
            },
            bands: [EqBand::default(); CORRECTIVE_BANDS],
        }
    }
}

/// Where the high-/low-pass and the parametric bands sit in [`CorrectiveEq::bands`].
const HIGH_PASS: usize = 0;
const LOW_PASS: usize = 1;
const FIRST_BAND: usize = 2;
const BAND_SLOTS: usize = CORRECTIVE_BANDS + FIRST_BAND;

impl Slope {
    /// Filter order (6 dB/oct per order).
    pub fn order(self) -> usize {
        match self {
            Slope::Db12 => 2,
            Slope::Db24 => 4,
            Slope::Db36 => 6,
            Slope::Db48 => 8,
        }
    }
}

impl From<PassShape> for PassFamily {
    fn from(s: PassShape) -> Self {
        match s {
            PassShape::Butterworth => PassFamily::Butterworth,
            PassShape::LinkwitzRiley => PassFamily::LinkwitzRiley,
        }
    }
}

impl PassFilter {
    fn target(&self, high: bool) -> BandTarget {
        let (family, order) = (self.shape.into(), self.slope.order());
        BandTarget {
            enabled: self.enabled,
            shape: if high { Shape::HighPass(family, order) } else { Shape::LowPass(family, order) },
            route: Route::Stereo,
            freq_hz: self.freq_hz,
            ..BandTarget::default()
        }
    }
}

impl EqBand {
    fn target(&self) -> BandTarget {
        let shape = match self.kind {
            BandType::Bell => Shape::Bell,
            BandType::LowShelf => Shape::LowShelf,
            BandType::HighShelf => Shape::HighShelf,
            BandType::Notch => Shape::Notch,
        };
        BandTarget {
            enabled: self.enabled,
            shape,
            route: self.placement.into(),
            freq_hz: self.freq_hz,
            gain_db: self.gain_db,
            q: self.q,
            // A notch has no gain to move.
            dynamics: (self.dynamic && self.kind != BandType::Notch)
                .then_some(Dynamics { threshold_db: self.dyn_threshold_db, range_db: self.dyn_range_db }),
        }
    }
}

/// Stage 2: high-pass, low-pass and eight parametric bands, each on stereo, mid, side, left or
/// right.
///
/// Processing order, fixed: high-pass, low-pass, then the bands on left/right signals, then
/// the bands on mid/side signals. (Filters acting on the same pair of signals commute, so only
/// the grouping matters.) Every section is a magnitude-matched biquad
/// ([`crate::filters::eq_design`]): no cramping near Nyquist, no latency.
///
/// Static bands run band by band over the whole block. While a parameter glides (or a band is
/// dynamic) the block is cut into chunks of [`CONTROL_INTERVAL`] samples with a redesign
/// between them. Disabled bands and bell/shelf bands at exactly 0 dB are skipped, so a flat EQ
/// is an exact null. In dynamic mode a band sits at 0 dB while its own band level (a band-pass
/// at its frequency and Q on the signal it filters, RMS with 5 ms attack and 80 ms release) is
/// below `dyn_threshold_db`; each dB above moves its gain one dB toward `dyn_range_db` (its
/// `gain_db` is not used then). Changing a band's type or placement fades it out and back in
/// (10 ms each way) rather than switching its filter state between signals.
#[derive(Debug, Default)]
pub struct CorrectiveEq {
    settings: CorrectiveEqSettings,
    bands: [Band; BAND_SLOTS],
    /// Scratch for the dry signal of a fading band.
    dry: [Vec<f64>; 2],
    /// Scratch for the static stereo sections run together.
    cascade: Cascade,
    /// Position inside the current control interval.
    phase: usize,
    /// Whether the current control interval has gliding bands.
    moving: bool,
}

impl CorrectiveEq {
    fn push_targets(&mut self) {
        let s = &self.settings;
        self.bands[HIGH_PASS].set(&s.high_pass.target(true));
        self.bands[LOW_PASS].set(&s.low_pass.target(false));
        for (band, b) in self.bands[FIRST_BAND..].iter_mut().zip(s.bands.iter()) {
            band.set(&b.target());
        }
    }
}

/// Run every band over one chunk: left/right bands first (the static stereo ones together in
/// one [`Cascade`]), then mid/side bands (encoding only when one is running).
pub(crate) fn run_bands(
    bands: &mut [Band],
    cascade: &mut Cascade,
    dry: &mut [Vec<f64>; 2],
    l: &mut [f64],
    r: &mut [f64],
) {
    cascade.clear();
    for band in bands.iter_mut().filter(|b| b.route().is_some_and(|r| !r.is_ms())) {
        if band.can_cascade() {
            band.push_sections(cascade);
        } else {
            band.process(l, r, dry);
        }
    }
    if !cascade.is_empty() {
        // L/R bands commute with each other, so the cascade may run after the others.
        cascade.run(l, r);
        let mut at = 0;
        for band in bands.iter_mut().filter(|b| b.route().is_some_and(|r| !r.is_ms()) && b.can_cascade()) {
            at = band.pull_sections(cascade, at);
        }
    }
    if bands.iter().any(|b| b.route().is_some_and(Route::is_ms)) {
        ms_encode(l, r);
        for band in bands.iter_mut().filter(|b| b.route().is_some_and(Route::is_ms)) {
            band.process(l, r, dry);
        }
        ms_decode(l, r);
    }
}

/// L/R to M/S in place: mid = (L+R)/2, side = (L-R)/2.
pub(crate) fn ms_encode(a: &mut [f64], b: &mut [f64]) {
    for (l, r) in a.iter_mut().zip(b.iter_mut()) {
        let m = 0.5 * (*l + *r);
        let s = 0.5 * (*l - *r);
        *l = m;
        *r = s;
    }
}

/// M/S back to L/R in place.
pub(crate) fn ms_decode(a: &mut [f64], b: &mut [f64]) {
    for (m, s) in a.iter_mut().zip(b.iter_mut()) {
        let l = *m + *s;
        let r = *m - *s;
        *m = l;
        *s = r;
    }
}

/// Drive a set of bands over a block in control-rate chunks (shared with the enhancing EQ).
pub(crate) fn chunked(
    bands: &mut [Band],
    phase: &mut usize,
    moving: &mut bool,
    left: &mut [f64],
    right: &mut [f64],
    mut run: impl FnMut(&mut [Band], &mut [f64], &mut [f64]),
) {
    let n = left.len();
    let mut pos = 0;
    while pos < n {
        if *phase == 0 {
            *moving = bands.iter().any(Band::is_moving);
            if *moving {
                for b in bands.iter_mut() {
                    b.advance(CONTROL_INTERVAL);
                }
            }
        }
        let len = if *moving { (CONTROL_INTERVAL - *phase).min(n - pos) } else { n - pos };
        run(bands, &mut left[pos..pos + len], &mut right[pos..pos + len]);
        *phase = if *moving { (*phase + len) % CONTROL_INTERVAL } else { 0 };
        pos += len;
    }
}

impl Stage for CorrectiveEq {
    type Settings = CorrectiveEqSettings;
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
