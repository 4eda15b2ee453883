//! Click-free bypass: a crossfade between a stage's output and its latency-aligned input.
//!
//! A bypassed stage is not processed at all (it costs a delay line, nothing more) but still
//! delays its audio by its latency, so the chain's total latency is the same whatever is
//! bypassed. Leaving bypass resets the stage, pre-rolls it with the audio still held in the
//! compensation delay, and fades it in; entering bypass fades it out.

use crate::delay::DelayLine;
use crate::stage::Stage;

/// Length of every bypass crossfade. Long enough that switching a stage with a large gain
/// change does not click, short enough to feel instant when A/B-ing.
pub const BYPASS_FADE_MS: f64 = 10.0;

/// A raised-cosine crossfade position between "processed" (0) and "bypassed" (1).
#[derive(Debug, Clone)]
pub struct Fade {
    /// Linear position in `0..=1`; the mix uses the raised-cosine of it.
    pos: f64,
    /// Per-sample increment, `1 / fade length`.
    step: f64,
    target: f64,
}

impl Default for Fade {
    fn default() -> Self {
        Self { pos: 0.0, step: 1.0 / 480.0, target: 0.0 }
    }
}

impl Fade {
    pub fn prepare(&mut self, sample_rate: f64) {
        self.step = 1.0 / (BYPASS_FADE_MS * 0.001 * sample_rate).max(1.0);
    }

    /// Jump to the target without fading (used on reset, so a session starts in its state).
    pub fn settle(&mut self) {
        self.pos = self.target;
    }

    pub fn set_bypassed(&mut self, bypassed: bool) {
        self.target = if bypassed { 1.0 } else { 0.0 };
    }

    /// Fully bypassed and staying so.
    #[inline]
    pub fn is_fully_bypassed(&self) -> bool {
        self.pos == 1.0 && self.target == 1.0
    }

    /// Fully processed and staying so.
    #[inline]
    pub fn is_fully_active(&self) -> bool {
        self.pos == 0.0 && self.target == 0.0
    }

    /// Mix `dry` into `wet` in place following the fade, advancing it by `wet.len()` samples.
    pub fn mix(&mut self, wet_l: &mut [f64], wet_r: &mut [f64], dry_l: &[f64], dry_r: &[f64]) {
        // Settled: the same result as the loop below (gain 0 leaves the wet signal, gain 1
        // takes the dry one), without a cosine per sample.
        if self.is_fully_active() {
            return;
        }
        if self.is_fully_bypassed() {
            let n = wet_l.len();
            wet_l.copy_from_slice(&dry_l[..n]);
            wet_r.copy_from_slice(&dry_r[..n]);
            return;
        }
        for i in 0..wet_l.len() {
            if self.pos != self.target {
                if self.target > self.pos {
                    self.pos = (self.pos + self.step).min(1.0);
                } else {
                    self.pos = (self.pos - self.step).max(0.0);
                }
            }
            // Equal-gain raised cosine: dry and wet of a stage are strongly correlated, so
            // their gains must sum to one (an equal-power fade would bump the level).
            let g = 0.5 - 0.5 * (std::f64::consts::PI * self.pos).cos();
            if g == 1.0 {
                wet_l[i] = dry_l[i];
                wet_r[i] = dry_r[i];
            } else if g != 0.0 {
                wet_l[i] += (dry_l[i] - wet_l[i]) * g;
                wet_r[i] += (dry_r[i] - wet_r[i]) * g;
            }
        }
    }
}

/// A stage together with its bypass crossfade and latency-compensated dry path.
#[derive(Debug, Default)]
pub struct Slot<S: Stage> {
    pub stage: S,
    fade: Fade,
    /// The stage's input delayed by its latency: the bypassed signal.
    dry: DelayLine,
    dry_buf: [Vec<f64>; 2],
    /// Whether the stage has been processing (false while fully bypassed).
    running: bool,
}

impl<S: Stage> Slot<S> {
    pub fn new(stage: S) -> Self {
        Self { stage, fade: Fade::default(), dry: DelayLine::default(), dry_buf: Default::default(), running: false }
    }

    pub fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.stage.prepare(sample_rate, max_block);
        self.fade.prepare(sample_rate);
        self.dry.prepare(self.stage.max_latency());
        self.dry.set_delay(self.stage.latency());
        self.dry_buf = [vec![0.0; max_block], vec![0.0; max_block]];
        self.reset();
    }

    pub fn reset(&mut self) {
        self.stage.reset();
        self.dry.reset();
        self.fade.settle();
        self.running = !self.fade.is_fully_bypassed();
    }

    pub fn latency(&self) -> usize {
        self.stage.latency()
    }

    /// Update settings and the bypass target. Must be called before every `process`.
    pub fn set(&mut self, settings: &S::Settings, bypassed: bool) {
        self.fade.set_bypassed(bypassed);
        self.stage.set(settings);
        if self.dry.delay() != self.stage.latency() {
            self.dry.set_delay(self.stage.latency());
        }
    }

    /// Whether the stage is currently fully bypassed (for meters and the GUI).
    pub fn is_bypassed(&self) -> bool {
        self.fade.is_fully_bypassed()
    }

    /// Process one block (`len <= max_block`) in place.
    pub fn process(&mut self, left: &mut [f64], right: &mut [f64]) {
        if self.fade.is_fully_bypassed() {
            self.running = false;
            self.dry.process(left, right);
            return;
        }
        if !self.running {
            self.wake();
        }
        if self.fade.is_fully_active() {
            // The dry path is not heard, but keep it current so that a later bypass fades
            // to the right signal.
            if self.dry.delay() > 0 {
                let n = left.len();
                let [dl, dr] = &mut self.dry_buf;
                dl[..n].copy_from_slice(left);
                dr[..n].copy_from_slice(right);
                self.dry.process(&mut dl[..n], &mut dr[..n]);
            }
            self.stage.process(left, right);
            return;
        }
        let n = left.len();
        let [dl, dr] = &mut self.dry_buf;
        dl[..n].copy_from_slice(left);
        dr[..n].copy_from_slice(right);
        self.dry.process(&mut dl[..n], &mut dr[..n]);
        self.stage.process(left, right);
        self.fade.mix(left, right, &dl[..n], &dr[..n]);
    }

    /// Bring a stage back from full bypass: clear it and feed it the audio its latency will
    /// release next, so its first outputs are real signal rather than the zeros of a reset.
    fn wake(&mut self) {
        self.stage.reset();
        let lat = self.stage.latency();
        let chunk = self.dry_buf[0].len().max(1);
        let mut done = 0;
        while done < lat {
            let n = chunk.min(lat - done);
            let [dl, dr] = &mut self.dry_buf;
            // The history is read oldest first, `lat - done` samples back.
            self.dry.history_range(lat - done, &mut dl[..n], &mut dr[..n]);
            self.stage.process(&mut dl[..n], &mut dr[..n]);
            done += n;
        }
        self.running = true;
    }
}
