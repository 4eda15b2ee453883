//! One EQ band at run time: a cascade of up to four matched biquads whose parameters glide,
//! with click-free structural changes and an optional band-level detector (dynamic mode).
//! Shared by the corrective and the enhancing EQ.
//!
//! Topology: transposed direct form II in `f64`, coefficients from [`crate::filters::eq_design`].
//! The TDF2 is only ever time-varying through smoothed parameters: frequency, gain and Q glide
//! with a 20 ms one-pole and the coefficients are redesigned every [`CONTROL_INTERVAL`] samples,
//! so between two redesigns the poles move by a tiny fraction of their distance to the unit
//! circle. Under that slow variation the TDF2 stays bounded (the tests sweep every parameter
//! every sample for a minute of noise). An SVF would tolerate faster modulation, but its
//! trapezoidal poles are the bilinear ones: it cannot carry the matched (uncramped) design.

use super::super::Placement;
use super::cascade::Cascade;
use crate::filters::biquad::Coefs;
use crate::filters::eq_design::{self, PassFamily, MAX_PASS_SECTIONS};
use crate::util::db_to_gain;

/// Samples between two coefficient redesigns while a parameter glides.
pub const CONTROL_INTERVAL: usize = 16;
/// Time constant of the frequency, gain and Q glides.
const PARAM_SMOOTH_MS: f64 = 20.0;
/// Length of the fade through neutral on enable, disable, or a change of shape or placement.
const FADE_MS: f64 = 10.0;
/// Lowest band frequency.
pub const MIN_FREQ_HZ: f64 = 10.0;
/// Highest band frequency as a fraction of the sample rate (the design needs it below Nyquist,
/// and the audible band ends there at 44.1 kHz anyway).
pub const MAX_FREQ_FRACTION: f64 = 0.45;
/// Highest high-/low-pass corner as a fraction of the sample rate: higher than the bands', so a
/// 20 kHz low-pass is available at 44.1 kHz (the joint pass design holds up to here).
pub const MAX_PASS_FREQ_FRACTION: f64 = 0.475;
/// Q range accepted.
const MIN_Q: f64 = 0.1;
const MAX_Q: f64 = 40.0;
/// Gain range accepted, dB.
const MAX_GAIN_DB: f64 = 30.0;
/// A glide closer than this to its target snaps onto it (log-frequency, dB and log-Q units).
const SNAP: f64 = 1e-6;
/// Dynamic detector: averaging time of the band's mean square (its attack) and release time.
const DYN_ATTACK_MS: f64 = 5.0;
const DYN_RELEASE_MS: f64 = 80.0;
/// Power floor of the detector, so its dB value stays finite in silence.
const DYN_POWER_FLOOR: f64 = 1e-20;
/// Largest power the detector integrates (a broken input cannot wedge it for long).
const DYN_POWER_CEIL: f64 = 1e8;

/// The shape of a band (structural: a change fades through neutral).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Bell,
    LowShelf,
    HighShelf,
    Notch,
    /// A high shelf whose whole response is lowered by half its gain: lows down by g/2, highs
    /// up by g/2, pivot at the band frequency.
    Tilt,
    LowPass(PassFamily, usize),
    HighPass(PassFamily, usize),
}

impl Shape {
    /// Whether the shape has a gain (and so is neutral at 0 dB).
    fn has_gain(self) -> bool {
        matches!(self, Shape::Bell | Shape::LowShelf | Shape::HighShelf | Shape::Tilt)
    }
}

/// Which signals a band filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Left and right alike.
    Stereo,
    Left,
    Right,
    /// (L+R)/2 only.
    Mid,
    /// (L-R)/2 only.
    Side,
}

impl Route {
    /// Whether the band works on the mid/side signals.
    pub fn is_ms(self) -> bool {
        matches!(self, Route::Mid | Route::Side)
    }
    /// Channels touched, as (first, second) of the domain pair.
    fn channels(self) -> (bool, bool) {
        match self {
            Route::Stereo => (true, true),
            Route::Left | Route::Mid => (true, false),
            Route::Right | Route::Side => (false, true),
        }
    }
}

impl From<Placement> for Route {
    fn from(p: Placement) -> Self {
        use Placement as P;
        match p {
            P::Stereo => Route::Stereo,
            P::Mid => Route::Mid,
            P::Side => Route::Side,
            P::Left => Route::Left,
            P::Right => Route::Right,
        }
    }
}

/// Dynamic mode of a band: the band sits at 0 dB while its level is below the threshold; each
/// dB above moves the gain one dB toward `range_db`, until the range is used up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dynamics {
    /// Band level threshold, dB RMS (a full-scale sine inside the band reads -3 dB).
    pub threshold_db: f64,
    /// Gain reached at full excess, dB (negative: tame a resonance; positive: expand).
    pub range_db: f64,
}

/// What the settings ask of a band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandTarget {
    pub enabled: bool,
    pub shape: Shape,
    pub route: Route,
    pub freq_hz: f64,
    pub gain_db: f64,
    pub q: f64,
    pub dynamics: Option<Dynamics>,
}

impl Default for BandTarget {
    fn default() -> Self {
        Self {
            enabled: false,
            shape: Shape::Bell,
            route: Route::Stereo,
            freq_hz: 1000.0,
            gain_db: 0.0,
            q: 1.0,
            dynamics: None,
        }
    }
}

/// A one-pole glide toward a target, advanced by whole chunks.
#[derive(Debug, Clone, Copy, Default)]
struct Glide {
    value: f64,
    target: f64,
}

impl Glide {
    fn moving(&self) -> bool {
        self.value != self.target
    }
    /// Advance by a step with one-pole coefficient `k`; snap when close.
    fn advance(&mut self, k: f64) {
        if self.value != self.target {
            self.value += (self.target - self.value) * k;
            if (self.target - self.value).abs() < SNAP {
                self.value = self.target;
            }
        }
    }
}

/// One band: structure, glides, coefficients and the state of both channels.
#[derive(Debug, Clone, Default)]
pub struct Band {
    sample_rate: f64,
    target: BandTarget,
    /// The structure in use (may lag `target` while fading through neutral).
    shape: Option<(Shape, Route)>,
    log_freq: Glide,
    gain_db: Glide,
    log_q: Glide,
    /// Wet amount 0..1 of the band, ramps linearly on enable/disable/structure changes.
    amount: f64,
    amount_target: f64,
    /// Per-sample amount step.
    fade_step: f64,
    /// One-pole coefficient of the glides for a chunk of `CONTROL_INTERVAL`.
    glide_k: f64,
    /// Per-sample glide coefficient (for chunks of other lengths: `1 - (1-k1)^n`).
    glide_k1: f64,
    coefs: [Coefs; MAX_PASS_SECTIONS],
    sections: usize,
    /// TDF2 states: `[section][channel][s1, s2]`.
    state: [[[f64; 2]; 2]; MAX_PASS_SECTIONS],
    /// Coefficients must be redesigned before the next chunk.
    dirty: bool,
    /// Dynamic mode: detector band-pass, its states, the smoothed band power and the gain it
    /// currently asks for.
    det_coefs: Coefs,
    det_state: [[f64; 2]; 2],
    det_power: f64,
    /// Detector mean square before the release follower.
    det_ms: f64,
    dyn_gain_db: f64,
    det_attack: f64,
    det_release: f64,
}

impl Band {
    pub fn prepare(&mut self, sample_rate: f64) {
        self.sample_rate = sample_rate;
        self.fade_step = 1.0 / (FADE_MS * 0.001 * sample_rate).max(1.0);
        self.glide_k1 = 1.0 - (-1.0 / (PARAM_SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.glide_k = 1.0 - (1.0 - self.glide_k1).powi(CONTROL_INTERVAL as i32);
        self.det_attack = 1.0 - (-1.0 / (DYN_ATTACK_MS * 0.001 * sample_rate)).exp();
        self.det_release = 1.0 - (-1.0 / (DYN_RELEASE_MS * 0.001 * sample_rate)).exp();
        // Start in the target state, without fades.
        self.shape = None;
        self.amount = 0.0;
        self.amount_target = 0.0;
        self.apply();
        self.settle();
        self.reset();
    }

    /// Jump every glide and fade to its target (a session starts in its state).
    fn settle(&mut self) {
        self.adopt_structure();
        self.amount = self.amount_target;
        self.log_freq.value = self.log_freq.target;
        self.gain_db.value = self.gain_db.target;
        self.log_q.value = self.log_q.target;
        self.dirty = true;
    }

    pub fn reset(&mut self) {
        self.state = Default::default();
        self.det_state = Default::default();
        self.det_power = DYN_POWER_FLOOR;
        self.det_ms = 0.0;
        self.dyn_gain_db = 0.0;
        self.dirty = true;
        self.redesign();
    }

    /// Take new settings (cheap when unchanged).
    pub fn set(&mut self, t: &BandTarget) {
        if *t == self.target {
            return;
        }
        self.target = *t;
        self.apply();
    }

    /// Turn the target into glide targets and structure changes.
    fn apply(&mut self) {
        if self.sample_rate <= 0.0 {
            return;
        }
        let t = self.target;
        let is_pass = matches!(t.shape, Shape::LowPass(..) | Shape::HighPass(..));
        let fmax = if is_pass { MAX_PASS_FREQ_FRACTION } else { MAX_FREQ_FRACTION } * self.sample_rate;
        let freq = if t.freq_hz.is_finite() { t.freq_hz } else { MIN_FREQ_HZ };
        self.log_freq.target = freq.clamp(MIN_FREQ_HZ, fmax.max(MIN_FREQ_HZ)).ln();
        self.gain_db.target = if t.gain_db.is_finite() { t.gain_db.clamp(-MAX_GAIN_DB, MAX_GAIN_DB) } else { 0.0 };
        self.log_q.target = if t.q.is_finite() { t.q.clamp(MIN_Q, MAX_Q).ln() } else { 0.0 };
        match self.shape {
            Some(s) if s == (t.shape, t.route) => self.amount_target = if t.enabled { 1.0 } else { 0.0 },
            Some(_) => self.amount_target = 0.0,
            None => {
                // Off: adopt the new structure at once and fade in from neutral.
                if t.enabled {
                    self.adopt_structure();
                    self.log_freq.value = self.log_freq.target;
                    self.gain_db.value = self.gain_db.target;
                    self.log_q.value = self.log_q.target;
                }
            }
        }
        self.dirty = true;
    }

    /// Switch to the target structure (only while silent: amount 0) and clear the state.
    fn adopt_structure(&mut self) {
        self.state = Default::default();
        self.det_state = Default::default();
        self.dyn_gain_db = 0.0;
        if self.target.enabled {
            self.shape = Some((self.target.shape, self.target.route));
            self.amount_target = 1.0;
        } else {
            self.shape = None;
            self.amount_target = 0.0;
        }
    }

    /// The route in use, if the band is running.
    pub fn route(&self) -> Option<Route> {
        self.shape.map(|(_, r)| r)
    }

    /// Whether the band needs control-rate chunks (gliding, fading or dynamic).
    pub fn is_moving(&self) -> bool {
        self.dirty
            || self.shape.is_some()
                && (self.log_freq.moving()
                    || self.gain_db.moving()
                    || self.log_q.moving()
                    || self.amount != self.amount_target
                    || self.target.dynamics.is_some())
    }

    /// The gain the band applies now, dB (dynamic mode included).
    fn effective_gain_db(&self) -> f64 {
        if self.target.dynamics.is_some() {
            self.dyn_gain_db
        } else {
            self.gain_db.value
        }
    }

    /// Whether processing the band would change nothing (exactly).
    pub fn is_neutral(&self) -> bool {
        match self.shape {
            None => true,
            Some((shape, _)) => {
                (self.amount == 0.0 && self.amount_target == 0.0)
                    || (shape.has_gain() && self.effective_gain_db() == 0.0)
            }
        }
    }

    /// Advance glides by `len` samples and redesign if anything moved.
    pub fn advance(&mut self, len: usize) {
        if self.shape.is_none() {
            self.dirty = false;
            return;
        }
        let k = if len == CONTROL_INTERVAL { self.glide_k } else { 1.0 - (1.0 - self.glide_k1).powi(len as i32) };
        if self.log_freq.moving() || self.gain_db.moving() || self.log_q.moving() {
            self.log_freq.advance(k);
            self.gain_db.advance(k);
            self.log_q.advance(k);
            self.dirty = true;
        }
        if self.target.dynamics.is_some() {
            self.dirty = true;
        }
        if self.dirty {
            self.redesign();
        }
    }

    fn redesign(&mut self) {
        self.dirty = false;
        let Some((shape, _)) = self.shape else { return };
        let fs = self.sample_rate;
        if fs <= 0.0 {
            return;
        }
        let f = self.log_freq.value.exp();
        let q = self.log_q.value.exp();
        let g = self.effective_gain_db();
        let before = self.sections;
        self.sections = 1;
        self.coefs[0] = match shape {
            Shape::Bell => eq_design::bell(f, g, q, fs),
            Shape::LowShelf => eq_design::low_shelf(f, g, q, fs),
            Shape::HighShelf => eq_design::high_shelf(f, g, q, fs),
            Shape::Notch => eq_design::notch(f, q, fs),
            Shape::Tilt => eq_design::scaled(&eq_design::high_shelf(f, g, q, fs), db_to_gain(-0.5 * g)),
            Shape::LowPass(family, order) | Shape::HighPass(family, order) => {
                let high = matches!(shape, Shape::HighPass(..));
                self.sections = eq_design::pass_cascade(high, f, order, family, fs, &mut self.coefs);
                self.coefs[0]
            }
        };
        // A pass filter gains or drops its correction sections while its corner glides across
        // fs/32 (they are exactly the identity there); sections that come back start silent.
        for st in self.state.iter_mut().take(before.max(self.sections)).skip(before.min(self.sections)) {
            *st = Default::default();
        }
        if self.target.dynamics.is_some() {
            self.det_coefs = eq_design::band_pass(f, q, fs);
        }
    }

    /// Filter one chunk of the domain pair `(a, b)` (L/R or M/S) in place. `dry` holds
    /// scratch space of at least the chunk length per channel.
    pub fn process(&mut self, a: &mut [f64], b: &mut [f64], dry: &mut [Vec<f64>; 2]) {
        let Some((_, route)) = self.shape else { return };
        let n = a.len();
        let (use_a, use_b) = route.channels();
        if let Some(d) = self.target.dynamics {
            self.detect(a, b, use_a, use_b, d);
        }
        if self.is_neutral() {
            // Exactly neutral: skip, and keep the state clean for when it starts again.
            self.state = Default::default();
            self.step_amount(n);
            return;
        }
        let fading = self.amount != 1.0 || self.amount_target != 1.0;
        if fading {
            dry[0][..n].copy_from_slice(a);
            dry[1][..n].copy_from_slice(b);
        }
        for s in 0..self.sections {
            let c = self.coefs[s];
            let [sa, sb] = &mut self.state[s];
            match (use_a, use_b) {
                (true, true) => tdf2_pair(&c, sa, sb, a, b),
                (true, false) => tdf2(&c, sa, a),
                (false, true) => tdf2(&c, sb, b),
                (false, false) => {}
            }
        }
        if fading {
            let mut amt = self.amount;
            for i in 0..n {
                amt = step_toward(amt, self.amount_target, self.fade_step);
                a[i] = dry[0][i] + amt * (a[i] - dry[0][i]);
                b[i] = dry[1][i] + amt * (b[i] - dry[1][i]);
            }
            self.amount = amt;
            self.after_fade();
        }
    }

    /// Whether the band can join a [`Cascade`]: running on both L/R channels, fully faded in,
    /// not dynamic and not neutral (those need their own processing each chunk).
    pub fn can_cascade(&self) -> bool {
        matches!(self.shape, Some((_, Route::Stereo)))
            && self.amount == 1.0
            && self.amount_target == 1.0
            && self.target.dynamics.is_none()
            && !self.is_neutral()
    }

    /// Lend the band's sections (coefficients and states) to a cascade.
    pub fn push_sections(&self, c: &mut Cascade) {
        for s in 0..self.sections {
            let st = &self.state[s];
            c.push(self.coefs[s], [st[0][0], st[1][0]], [st[0][1], st[1][1]]);
        }
    }

    /// Take the section states back after the cascade ran, from position `at`; returns the
    /// position after this band's sections.
    pub fn pull_sections(&mut self, c: &Cascade, at: usize) -> usize {
        for s in 0..self.sections {
            let (s1, s2) = c.state(at + s);
            self.state[s] = [[s1[0], s2[0]], [s1[1], s2[1]]];
        }
        at + self.sections
    }

    /// Advance the amount fade without audio (the band is neutral).
    fn step_amount(&mut self, n: usize) {
        if self.amount != self.amount_target {
            for _ in 0..n {
                self.amount = step_toward(self.amount, self.amount_target, self.fade_step);
            }
            self.after_fade();
        }
    }

    /// When a fade-out completes, take the pending structure (or stop).
    fn after_fade(&mut self) {
        if self.amount == 0.0 && self.amount_target == 0.0 {
            let wanted = if self.target.enabled { Some((self.target.shape, self.target.route)) } else { None };
            if self.shape != wanted {
                self.adopt_structure();
                self.log_freq.value = self.log_freq.target;
                self.gain_db.value = self.gain_db.target;
                self.log_q.value = self.log_q.target;
                self.redesign();
            } else if !self.target.enabled {
                self.shape = None;
            }
        }
    }

    /// Dynamic mode: measure the band's level over the chunk and set the gain it asks for.
    fn detect(&mut self, a: &[f64], b: &[f64], use_a: bool, use_b: bool, d: Dynamics) {
        let c = self.det_coefs;
        let [sa, sb] = &mut self.det_state;
        let (mut ms, mut env) = (self.det_ms, self.det_power);
        for i in 0..a.len() {
            let ya = if use_a { tick(&c, sa, a[i]) } else { 0.0 };
            let yb = if use_b { tick(&c, sb, b[i]) } else { 0.0 };
            let x = (ya * ya).max(yb * yb).min(DYN_POWER_CEIL);
            // Mean square (symmetric, so a tone's ripple averages out), then instant attack
            // and slow release on it.
            ms += (x - ms) * self.det_attack;
            env = if ms > env { ms } else { env + (ms - env) * self.det_release };
        }
        self.det_ms = ms;
        let p = env;
        self.det_power = p.max(DYN_POWER_FLOOR);
        if !sa[0].is_finite() || !sb[0].is_finite() {
            self.det_state = Default::default();
            self.det_power = DYN_POWER_FLOOR;
            self.det_ms = 0.0;
        }
        // Mean power in dB: the level reads as RMS (a tone's power is half its squared peak).
        let level_db = 10.0 * self.det_power.log10();
        let over = (level_db - d.threshold_db).max(0.0);
        let range = if d.range_db.is_finite() { d.range_db.clamp(-MAX_GAIN_DB, MAX_GAIN_DB) } else { 0.0 };
        self.dyn_gain_db = range.signum() * over.min(range.abs());
    }
}

#[inline]
fn step_toward(v: f64, target: f64, step: f64) -> f64 {
    if target > v {
        (v + step).min(target)
    } else {
        (v - step).max(target)
    }
}

#[inline(always)]
fn tick(c: &Coefs, s: &mut [f64; 2], x: f64) -> f64 {
    let y = c.b0 * x + s[0];
    s[0] = c.b1 * x - c.a1 * y + s[1];
    s[1] = c.b2 * x - c.a2 * y;
    y
}

/// One TDF2 section over one channel.
fn tdf2(c: &Coefs, s: &mut [f64; 2], x: &mut [f64]) {
    for v in x {
        *v = tick(c, s, *v);
    }
}

/// One TDF2 section over two channels in the same loop: the two recursions are independent, so
/// the CPU overlaps them.
fn tdf2_pair(c: &Coefs, sa: &mut [f64; 2], sb: &mut [f64; 2], a: &mut [f64], b: &mut [f64]) {
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        *x = tick(c, sa, *x);
        *y = tick(c, sb, *y);
    }
}
