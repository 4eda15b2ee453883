//! Stage 5, saturation: oversampled waveshaping with tape, tube and soft-clip characters.
//!
//! ```text
//! x ─┬─ up L× ─ d = s(u) - u ─ down L× ─ DC block ─ × amount ─┐
//!    └─ delay (round trip) ───────────────────────────────── + ─ tape HF loss ─ × auto gain ─ mix ─ × output
//!                                 (dry, also the mix's dry) ─┘
//! ```
//!
//! **Only the distortion is filtered.** The shaper `s(u) = F(g·u) / g` has unity small-signal
//! gain (`g` is the drive), so `s(u) - u` is exactly what the curve adds: harmonics and the
//! level it takes off the peaks. That difference is computed at `L` times the rate and brought
//! back by the anti-alias decimator; the clean signal goes round through a plain delay of the
//! same length. So the filters never touch the programme itself (no passband ripple, no
//! top-octave droop from the oversampling), the dry path for the mix is latency-aligned by
//! construction, and at zero drive the stage is an exact delay.
//!
//! **Anti-alias filters** (`filters::oversampling` designs, linear phase): up: a 2x half-band
//! of [`OVERSAMPLING_TAPS`] taps per phase, flat to 0.45 fs with 75 dB image rejection, then
//! short half-bands; down: the mirror image (the same designs as the library's cascades, run
//! by `saturation::interpolator` and `saturation::decimator`). The whole distortion path (up,
//! shaper, down) runs in `f32` (see `distort`). The shaper's harmonics that fall above half the
//! base rate are removed by at least 75 dB before they can fold back. The curves are analytic
//! (smooth to every order), so their harmonics fall off fast enough that those above the
//! oversampled Nyquist, which alias inside the oversampled domain, stay far below audibility at
//! any sane drive (asserted at +12 dB drive on a -6 dBFS 9 kHz sine: every alias > 70 dB
//! down).
//!
//! **Characters.**
//! - Tape: `tanh`, symmetric (odd harmonics), level-dependent by nature, plus a gentle
//!   first-order HF loss ([`TAPE_HF_LOSS`] above [`TAPE_HF_HZ`]) that fades in with the drive.
//! - Tube: `tanh` of a biased input ([`TUBE_BIAS`]), asymmetric: even harmonics. The DC the
//!   asymmetry creates is removed by a [`DC_BLOCK_HZ`] high-pass on the distortion path.
//! - Soft clip: `x / sqrt(1 + x²)`: symmetric and softer-kneed than `tanh`, density without an
//!   audible edge.
//!
//! **Drive** `0 ..= 24 dB`; the first [`DRIVE_ENGAGE_DB`] dB also fade the distortion in, so
//! drive 0 is exactly clean and the control has no step. **Auto gain** matches the wet level to
//! the dry one (mean squares over [`AUTO_GAIN_MS`], linked across channels, within
//! ±[`AUTO_GAIN_RANGE_DB`] dB) so that engaging the stage does not just change the level; the
//! correction itself is worked out every 16 frames and ramped linearly in between.
//! **Mix** blends the latency-aligned dry signal in parallel; **output** trims the result.
//! Character changes cross-fade over [`SMOOTH_MS`]; drive, mix and output are smoothed too.

mod decimator;
mod interpolator;

use crate::stage::Stage;
use crate::util::db_to_gain;
use decimator::Decimator;
use interpolator::Interpolator;
use std::f64::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Character {
    #[default]
    Tape,
    Tube,
    SoftClip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Oversampling {
    X2,
    #[default]
    X4,
}

impl Oversampling {
    const ALL: [Oversampling; 2] = [Oversampling::X2, Oversampling::X4];

    pub fn factor(self) -> usize {
        match self {
            Oversampling::X2 => 2,
            Oversampling::X4 => 4,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SaturationSettings {
    pub character: Character,
    /// Drive into the shaper, dB (0 .. 24; 0 = clean).
    pub drive_db: f64,
    /// Parallel mix, 0 = dry .. 1 = wet.
    pub mix: f64,
    /// Structural: sets the latency.
    pub oversampling: Oversampling,
    /// Compensate the loudness the shaper adds, so engaging it does not just make it louder.
    pub auto_gain: bool,
    /// Output trim after compensation, dB.
    pub output_db: f64,
}

impl Default for SaturationSettings {
    fn default() -> Self {
        Self {
            character: Character::Tape,
            drive_db: 0.0,
            mix: 1.0,
            oversampling: Oversampling::X4,
            auto_gain: true,
            output_db: 0.0,
        }
    }
}

/// Taps per phase of the sharp 2x half-band at each end of the oversampling (75 dB, flat to
/// 0.45 fs; see `filters::oversampling`).
pub const OVERSAMPLING_TAPS: usize = 48;
/// Passband edge of the anti-alias filters, fraction of the base rate.
const OVERSAMPLING_PASSBAND: f64 = 0.45;
/// Drive range, dB.
pub const DRIVE_MAX_DB: f64 = 24.0;
/// Drive over which the distortion fades in from nothing.
pub const DRIVE_ENGAGE_DB: f64 = 6.0;
/// Output trim range, dB.
pub const OUTPUT_RANGE_DB: f64 = 24.0;
/// Tube bias: the offset on the `tanh` that makes it asymmetric (second harmonic about
/// 20 dB under the fundamental at full scale).
pub const TUBE_BIAS: f64 = 0.35;
/// Tape HF loss: fraction of the signal above the corner that is lost at full engagement
/// (a first-order shelf of -2.5 dB).
pub const TAPE_HF_LOSS: f64 = 0.25;
pub const TAPE_HF_HZ: f64 = 12000.0;
/// Corner of the DC blocker on the distortion path.
pub const DC_BLOCK_HZ: f64 = 5.0;
/// Auto gain: time constant of the wet and dry mean-square followers.
pub const AUTO_GAIN_MS: f64 = 300.0;
/// Auto gain: largest correction either way.
pub const AUTO_GAIN_RANGE_DB: f64 = 12.0;
/// Below this mean square the followers hold (silence says nothing about level).
const AUTO_GAIN_FLOOR: f64 = 1e-10;
/// Smoothing of drive, mix and output, and length of a character cross-fade.
pub const SMOOTH_MS: f64 = 20.0;
/// A smoothed value within this of its target snaps to it (so the steady state is exact).
const SNAP: f64 = 1e-12;

/// Beyond this magnitude `tanh` is exactly ±1 in `f32` (`1 - tanh(9.1) < 2^-25`), so clamping
/// there changes nothing (and keeps the exponential finite).
const TANH_SATURATED: f32 = 10.0;

/// Adding and subtracting `1.5 · 2^23` rounds an `f32` below `2^22` to the nearest integer
/// (SSE2 has no rounding instruction, so `round` would be a library call and stop
/// vectorisation); the integer is then also the low bits of the sum.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// `e^y - 1` for `0 <= y <= 2 · TANH_SATURATED`, to a few units in the last place *relative*
/// (no cancellation near 0): `y = k ln 2 + r` with `|r| <= ln 2 / 2`, `e^r - 1` by its Taylor
/// series to degree 7 (truncation below `|r|^8 / 8! < 6e-9 |r|`, under half an `f32` ulp), `2^k`
/// built in the exponent bits, and `e^y - 1 = 2^k (e^r - 1) + (2^k - 1)`. Branch-free and
/// without calls, so loops over it vectorise. `FMA`: evaluate with fused multiply-adds (only
/// where the caller is compiled for FMA; elsewhere `mul_add` is a slow library call).
#[inline(always)]
fn expm1_bounded<const FMA: bool>(y: f32) -> f32 {
    #[inline(always)]
    fn mad<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
        if FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
    const INV_FACT: [f32; 7] = [1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];
    let shifted = mad::<FMA>(y, std::f32::consts::LOG2_E, ROUNDING_MAGIC);
    let k = shifted - ROUNDING_MAGIC;
    // Two-part ln 2 (Cody-Waite): `k · LN2_HI` is exact for the k that occur (k <= 29).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let r = mad::<FMA>(-k, LN2_LO, mad::<FMA>(-k, LN2_HI, y));
    let mut p = INV_FACT[6];
    for &c in INV_FACT[..6].iter().rev() {
        p = mad::<FMA>(p, r, c);
    }
    let two_k = f32::from_bits((shifted.to_bits() - ROUNDING_MAGIC.to_bits() + 127) << 23);
    mad::<FMA>(two_k, p * r, two_k - 1.0)
}

/// `tanh` in `f32` without library calls: `sign(x) · m / (m + 2)` with `m = e^{2|x|} - 1`, so
/// it is accurate relative to `tanh(x)` itself down to the smallest arguments (a few units in
/// the last place; the unit test below checks it against `f64::tanh`), and exactly odd.
#[inline(always)]
fn fast_tanh<const FMA: bool>(x: f32) -> f32 {
    let m = expm1_bounded::<FMA>(2.0 * x.abs().min(TANH_SATURATED));
    (m / (m + 2.0)).copysign(x)
}

/// The shaping curve `F` (unity slope at 0, `F(0) = 0`).
#[inline(always)]
fn curve<const FMA: bool>(character: Character, x: f32, tube_offset: f32, tube_norm: f32) -> f32 {
    match character {
        Character::Tape => fast_tanh::<FMA>(x),
        Character::Tube => (fast_tanh::<FMA>(x + TUBE_BIAS as f32) - tube_offset) * tube_norm,
        Character::SoftClip => x / (1.0 + x * x).sqrt(),
    }
}

/// Frames processed together: the per-frame controls and the oversampled signal of one chunk
/// live in scratch buffers (a few kB), so `process` never allocates whatever the block size.
const CHUNK: usize = 64;
/// The largest oversampling factor.
const MAX_FACTOR: usize = 4;
/// Frames between two updates of the auto-gain correction: the correction is worked out (a
/// division and a square root) and advanced by its smoother once per this many frames, and
/// ramped linearly in between, so it has no steps. Its followers still run every frame.
const CONTROL: usize = 16;
/// Frames left in a control-rate ramp after each of its frames.
const RAMP: [f64; CONTROL] = {
    let mut r = [0.0; CONTROL];
    let mut i = 0;
    while i < CONTROL {
        r[i] = (CONTROL - 1 - i) as f64;
        i += 1;
    }
    r
};

/// The drive of the oversampled samples of a chunk: one value for all (the common case, no
/// smoothing under way), or one per oversampled sample with its inverse.
#[derive(Clone, Copy)]
enum Drive<'a> {
    Constant { drive: f32, inv: f32 },
    PerSample { drive: &'a [f32], inv: &'a [f32] },
}

/// Replace each oversampled sample `u` by the distortion `s(u) - u` the shaper adds, where
/// `s(u) = F(drive · u) / drive` (a flat loop vectorises whatever the factor; one with a drive
/// per frame would not at 2x).
///
/// The distortion path runs in `f32`: it carries only what the curve adds, and its rounding
/// (about 1e-7 of the signal, some 140 dB down) is far below anything the stage is asked to
/// resolve; the programme itself goes round in `f64` through the dry delay. On CPUs with
/// AVX2 + FMA (detected at run time; the build targets baseline x86-64) the loop runs eight
/// lanes wide with fused multiply-adds, with AVX-512 sixteen.
fn distort(character: Character, hi: &mut [f32], drive: Drive, tube: (f32, f32)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { distort_avx512(character, hi, drive, tube) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { distort_avx2_fma(character, hi, drive, tube) };
        return;
    }
    distort_with::<false>(character, hi, drive, tube);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn distort_avx512(character: Character, hi: &mut [f32], drive: Drive, tube: (f32, f32)) {
    distort_with::<true>(character, hi, drive, tube);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn distort_avx2_fma(character: Character, hi: &mut [f32], drive: Drive, tube: (f32, f32)) {
    distort_with::<true>(character, hi, drive, tube);
}

/// The body of [`distort`]; each character and drive kind gets its own branch-free loop, which
/// vectorises.
#[inline(always)]
fn distort_with<const FMA: bool>(character: Character, hi: &mut [f32], drive: Drive, tube: (f32, f32)) {
    #[inline(always)]
    fn each<const FMA: bool>(character: Character, hi: &mut [f32], drive: Drive, tube: (f32, f32)) {
        match drive {
            Drive::Constant { drive: g, inv } => {
                for u in hi.iter_mut() {
                    *u = curve::<FMA>(character, g * *u, tube.0, tube.1) * inv - *u;
                }
            }
            Drive::PerSample { drive, inv } => {
                for ((u, &g), &inv) in hi.iter_mut().zip(drive).zip(inv) {
                    *u = curve::<FMA>(character, g * *u, tube.0, tube.1) * inv - *u;
                }
            }
        }
    }
    match character {
        Character::Tape => each::<FMA>(Character::Tape, hi, drive, tube),
        Character::Tube => each::<FMA>(Character::Tube, hi, drive, tube),
        Character::SoftClip => each::<FMA>(Character::SoftClip, hi, drive, tube),
    }
}

/// Dry over wet power, clamped to the auto-gain range (1 while either is silent).
#[inline]
fn compensation_power(dry_ms: f64, wet_ms: f64) -> f64 {
    let limit = db_to_gain(2.0 * AUTO_GAIN_RANGE_DB);
    if wet_ms > AUTO_GAIN_FLOOR && dry_ms > AUTO_GAIN_FLOOR {
        (dry_ms / wet_ms).clamp(1.0 / limit, limit)
    } else {
        1.0
    }
}

/// A one-pole smoother that lands exactly on its target.
#[derive(Debug, Clone, Copy, Default)]
struct Smoothed {
    value: f64,
    target: f64,
}

impl Smoothed {
    #[inline]
    fn next(&mut self, coef: f64) -> f64 {
        if self.value != self.target {
            self.value += (self.target - self.value) * coef;
            if (self.value - self.target).abs() < SNAP {
                self.value = self.target;
            }
        }
        self.value
    }

    fn settle(&mut self) {
        self.value = self.target;
    }
}

/// Per-chunk working memory, allocated in `prepare` so that `process` neither allocates nor
/// clears arrays on the stack. Per frame of the chunk unless noted.
#[derive(Debug, Clone)]
struct Scratch {
    /// The drive and its inverse per oversampled sample pair (only while the drive moves).
    drive: [f32; MAX_FACTOR / 2 * CHUNK],
    inv_drive: [f32; MAX_FACTOR / 2 * CHUNK],
    /// During a cross-fade: the oversampled signal's two planes (see the chunk loop) for the
    /// previous character's curve.
    old: [[f32; MAX_FACTOR / 2 * CHUNK]; 2],
    engage: [f64; CHUNK],
    /// Tape HF loss amount.
    loss: [f64; CHUNK],
    mix: [f64; CHUNK],
    output: [f64; CHUNK],
    fade: [f64; CHUNK],
    compensation: [f64; CHUNK],
    /// Per channel: the distortion at the base rate, then the wet signal.
    distortion: [[f32; CHUNK]; 2],
    wet: [[f64; CHUNK]; 2],
    /// Per frame, both channels side by side: the distortion and the dry signal.
    distortion_pairs: [[f64; 2]; CHUNK],
    dry_pairs: [[f64; 2]; CHUNK],
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            drive: [0.0; MAX_FACTOR / 2 * CHUNK],
            inv_drive: [0.0; MAX_FACTOR / 2 * CHUNK],
            old: [[0.0; MAX_FACTOR / 2 * CHUNK]; 2],
            engage: [0.0; CHUNK],
            loss: [0.0; CHUNK],
            mix: [0.0; CHUNK],
            output: [0.0; CHUNK],
            fade: [1.0; CHUNK],
            compensation: [1.0; CHUNK],
            distortion: [[0.0; CHUNK]; 2],
            wet: [[0.0; CHUNK]; 2],
            distortion_pairs: [[0.0; 2]; CHUNK],
            dry_pairs: [[0.0; 2]; CHUNK],
        }
    }
}

/// The dry path's stereo delay, a block at a time: the output is the last `delay` inputs, then
/// the block itself, so a block costs a few copies instead of a ring-buffer step per sample.
#[derive(Debug, Default, Clone)]
struct BlockDelay {
    /// Per channel the last `delay` inputs, oldest first (room for the largest delay).
    history: [Vec<f64>; 2],
    delay: usize,
}

impl BlockDelay {
    /// Allocate room for delays up to `max_delay` samples.
    fn prepare(&mut self, max_delay: usize) {
        self.history = [vec![0.0; max_delay], vec![0.0; max_delay]];
        self.delay = self.delay.min(max_delay);
    }

    /// Set the delay (clamped to the capacity) and clear the contents.
    fn set_delay(&mut self, delay: usize) {
        self.delay = delay.min(self.history[0].len());
        self.reset();
    }

    fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| h.fill(0.0));
    }

    /// Write `input` delayed into `out` (same length), per channel.
    fn process(&mut self, input: [&[f64]; 2], out: [&mut [f64]; 2]) {
        let d = self.delay;
        for ((history, input), out) in self.history.iter_mut().zip(input).zip(out) {
            let n = input.len();
            let history = &mut history[..d];
            if n >= d {
                out[..d].copy_from_slice(history);
                out[d..].copy_from_slice(&input[..n - d]);
                history.copy_from_slice(&input[n - d..]);
            } else {
                out.copy_from_slice(&history[..n]);
                history.copy_within(n.., 0);
                history[d - n..].copy_from_slice(input);
            }
        }
    }
}

/// One channel's oversampled distortion path.
#[derive(Debug, Clone)]
struct Path {
    up: Interpolator,
    down: Decimator,
    /// DC blocker state (previous input and output).
    dc_in: f64,
    dc_out: f64,
    /// Tape HF loss low-pass state.
    tape_lp: f64,
}

impl Path {
    fn new(oversampling: Oversampling) -> Self {
        let factor = oversampling.factor();
        Self {
            up: Interpolator::new(factor, OVERSAMPLING_TAPS, OVERSAMPLING_PASSBAND),
            down: Decimator::new(factor, OVERSAMPLING_TAPS, OVERSAMPLING_PASSBAND),
            dc_in: 0.0,
            dc_out: 0.0,
            tape_lp: 0.0,
        }
    }

    fn latency(&self) -> usize {
        self.up.latency() + self.down.latency()
    }

    fn reset(&mut self) {
        self.up.reset();
        self.down.reset();
        self.dc_in = 0.0;
        self.dc_out = 0.0;
        self.tape_lp = 0.0;
    }
}

/// Stage 5.
#[derive(Debug, Default)]
pub struct Saturation {
    sample_rate: f64,
    settings: SaturationSettings,
    /// `[option][channel]`, all allocated in `prepare`.
    paths: Vec<[Path; 2]>,
    active: Oversampling,
    dry_delay: BlockDelay,
    dry: [Vec<f64>; 2],
    /// Current and previous character, and the cross-fade position towards the current one
    /// (1 = done).
    character: Character,
    previous: Character,
    fade: f64,
    fade_step: f64,
    drive: Smoothed,
    /// Distortion amount from the drive's first dB (0 .. 1).
    engage: Smoothed,
    mix: Smoothed,
    output: Smoothed,
    /// Auto-gain correction (linear) in force, smoothed so switching auto gain does not click:
    /// every [`CONTROL`] frames the smoother advances by [`CONTROL`] frames at once from
    /// `comp_to`, and the correction ramps linearly from `comp_from` to it; `comp_pos` frames
    /// of the current ramp are done.
    compensation: f64,
    comp_from: f64,
    comp_to: f64,
    comp_pos: usize,
    /// The smoother's decay over [`CONTROL`] frames.
    comp_decay: f64,
    smooth_coef: f64,
    /// Auto gain: mean squares of dry and wet per channel (their sums are the linked
    /// followers), and whether it is on.
    dry_ms: [f64; 2],
    wet_ms: [f64; 2],
    auto_gain: bool,
    auto_coef: f64,
    dc_coef: f64,
    tape_coef: f64,
    prepared: bool,
    scratch: Box<Scratch>,
}

impl Saturation {
    /// The auto-gain correction in force, dB (0 when auto gain is off).
    pub fn auto_gain_db(&self) -> f64 {
        crate::util::gain_to_db(self.compensation)
    }

    fn apply(&mut self, s: &SaturationSettings) {
        let drive_db = s.drive_db.clamp(0.0, DRIVE_MAX_DB);
        self.drive.target = db_to_gain(drive_db);
        self.engage.target = (drive_db / DRIVE_ENGAGE_DB).min(1.0);
        self.mix.target = s.mix.clamp(0.0, 1.0);
        self.output.target = db_to_gain(s.output_db.clamp(-OUTPUT_RANGE_DB, OUTPUT_RANGE_DB));
        self.auto_gain = s.auto_gain;
        if s.character != self.character {
            self.previous = self.character;
            self.character = s.character;
            self.fade = 0.0;
        }
    }

    fn restructure(&mut self) {
        self.active = self.settings.oversampling;
        let latency = self.latency();
        self.dry_delay.set_delay(latency);
        self.reset();
    }
}

impl Stage for Saturation {
    type Settings = SaturationSettings;

    fn prepare(&mut self, sample_rate: f64, max_block: usize) {
        self.sample_rate = sample_rate;
        self.paths = Oversampling::ALL.iter().map(|&o| [Path::new(o), Path::new(o)]).collect();
        self.prepared = true;
        let max_latency = self.max_latency();
        self.dry_delay.prepare(max_latency);
        let max_block = max_block.max(1);
        self.dry = [vec![0.0; max_block], vec![0.0; max_block]];
        self.smooth_coef = 1.0 - (-1.0 / (SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.comp_decay = (-(CONTROL as f64) / (SMOOTH_MS * 0.001 * sample_rate)).exp();
        self.fade_step = 1.0 / (SMOOTH_MS * 0.001 * sample_rate).max(1.0);
        self.auto_coef = 1.0 - (-1.0 / (AUTO_GAIN_MS * 0.001 * sample_rate)).exp();
        self.dc_coef = 1.0 - 2.0 * PI * DC_BLOCK_HZ / sample_rate;
        self.tape_coef = 1.0 - (-2.0 * PI * TAPE_HF_HZ / sample_rate).exp();
        let settings = self.settings.clone();
        self.character = settings.character;
        self.apply(&settings);
        self.restructure();
    }

    fn reset(&mut self) {
        for p in self.paths.iter_mut().flatten() {
            p.reset();
        }
        self.dry_delay.reset();
        self.drive.settle();
        self.engage.settle();
        self.mix.settle();
        self.output.settle();
        self.compensation = 1.0;
        self.comp_from = 1.0;
        self.comp_to = 1.0;
        self.comp_pos = 0;
        self.fade = 1.0;
        self.dry_ms = [0.0; 2];
        self.wet_ms = [0.0; 2];
    }

    fn latency(&self) -> usize {
        match self.paths.get(self.active.index()) {
            Some(p) => p[0].latency(),
            None => 0,
        }
    }

    fn max_latency(&self) -> usize {
        self.paths.iter().map(|p| p[0].latency()).max().unwrap_or(0)
    }

    fn set(&mut self, settings: &Self::Settings) {
        if *settings == self.settings {
            return;
        }
        let structural = settings.oversampling != self.settings.oversampling;
        self.settings = settings.clone();
        if !self.prepared {
            return;
        }
        self.apply(settings);
        if structural {
            self.restructure();
        }
    }

    fn process(&mut self, left: &mut [f64], right: &mut [f64]) {
        // The whole chunk loop (conversions, controls, recursions, mix) with AVX2 where the
        // CPU has it (detected at run time; the build targets baseline x86-64).
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for (checked
            // above).
            unsafe { self.process_avx2(left, right) };
            return;
        }
        self.process_with(left, right);
    }
}

impl Saturation {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2(&mut self, left: &mut [f64], right: &mut [f64]) {
        self.process_with(left, right);
    }

    /// The body of [`Stage::process`], compiled once per instruction set.
    #[inline(always)]
    fn process_with(&mut self, left: &mut [f64], right: &mut [f64]) {
        if !self.prepared {
            return;
        }
        let n = left.len().min(right.len());
        let [dry_l, dry_r] = &mut self.dry;
        self.dry_delay.process([&left[..n], &right[..n]], [&mut dry_l[..n], &mut dry_r[..n]]);

        let factor = self.active.factor();
        // Oversampled samples per frame in each plane.
        let half = factor / 2;
        let tube_offset = TUBE_BIAS.tanh();
        let tube = (tube_offset as f32, (1.0 / (1.0 - tube_offset * tube_offset)) as f32);
        let is_tape = |c: Character| if c == Character::Tape { 1.0 } else { 0.0 };
        let paths = &mut self.paths[self.active.index()];
        let sc = &mut *self.scratch;
        let (coef, dc_coef, tape_coef, auto_coef) = (self.smooth_coef, self.dc_coef, self.tape_coef, self.auto_coef);
        for start in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - start);
            // Controls of every frame of the chunk (none depends on the audio).
            let fading = self.fade < 1.0;
            let settled =
                !fading && [&self.drive, &self.engage, &self.mix, &self.output].iter().all(|s| s.value == s.target);
            let drive = if settled {
                // The common case: nothing moves.
                let engage = self.engage.value;
                sc.engage[..m].fill(engage);
                sc.loss[..m].fill(TAPE_HF_LOSS * engage * is_tape(self.character));
                sc.mix[..m].fill(self.mix.value);
                sc.output[..m].fill(self.output.value);
                let g = self.drive.value;
                Drive::Constant { drive: g as f32, inv: (1.0 / g) as f32 }
            } else {
                for k in 0..m {
                    let g = self.drive.next(coef);
                    sc.drive[k * half..(k + 1) * half].fill(g as f32);
                    sc.inv_drive[k * half..(k + 1) * half].fill((1.0 / g) as f32);
                    let engage = self.engage.next(coef);
                    sc.engage[k] = engage;
                    sc.mix[k] = self.mix.next(coef);
                    sc.output[k] = self.output.next(coef);
                    let now = is_tape(self.character);
                    let tape = if fading {
                        let old = is_tape(self.previous);
                        old + self.fade * (now - old)
                    } else {
                        now
                    };
                    sc.loss[k] = TAPE_HF_LOSS * engage * tape;
                    sc.fade[k] = self.fade;
                    self.fade = (self.fade + self.fade_step).min(1.0);
                }
                Drive::PerSample { drive: &sc.drive[..half * m], inv: &sc.inv_drive[..half * m] }
            };
            // The distortion of both channels, at the base rate. The shaper is pointwise, so
            // the oversampled signal stays split in two planes (the first and the second
            // samples of consecutive pairs) from the interpolator's last stage, through the
            // shaper, into the decimator's first stage, which wants them so: no interleaving.
            let inputs = [&left[start..start + m], &right[start..start + m]];
            for ((path, x), d) in paths.iter_mut().zip(inputs).zip(&mut sc.distortion) {
                let (even, odd) = path.down.planes(m);
                path.up.process_block_planar(x, even, odd);
                if fading {
                    // Rare (a character change): both curves, cross-faded.
                    let [old_even, old_odd] = &mut sc.old;
                    for (plane, old) in [(even, old_even), (odd, old_odd)] {
                        let old = &mut old[..half * m];
                        old.copy_from_slice(plane);
                        distort(self.character, plane, drive, tube);
                        distort(self.previous, old, drive, tube);
                        for ((frame, old), &f) in
                            plane.chunks_exact_mut(half).zip(old.chunks_exact(half)).zip(&sc.fade[..m])
                        {
                            for (new, &old) in frame.iter_mut().zip(old) {
                                *new = old + f as f32 * (*new - old);
                            }
                        }
                    }
                } else {
                    distort(self.character, even, drive, tube);
                    distort(self.character, odd, drive, tube);
                }
                path.down.process_planes(&mut d[..m]);
            }
            // The recursions, both channels in step (side by side, so the two lanes of one
            // SSE2 register): DC blocker, tape loss, the auto gain's followers.
            let (dry_l, dry_r) = (&dry_l[start..start + m], &dry_r[start..start + m]);
            for (((dp, pp), (&dl, &dr)), (&pl, &pr)) in sc.dry_pairs[..m]
                .iter_mut()
                .zip(&mut sc.distortion_pairs[..m])
                .zip(dry_l.iter().zip(dry_r))
                .zip(sc.distortion[0][..m].iter().zip(&sc.distortion[1][..m]))
            {
                *dp = [dl, dr];
                *pp = [pl as f64, pr as f64];
            }
            let [p0, p1] = &mut *paths;
            let mut dc_in = [p0.dc_in, p1.dc_in];
            let mut dc_out = [p0.dc_out, p1.dc_out];
            let mut lp = [p0.tape_lp, p1.tape_lp];
            let (mut dry_ms, mut wet_ms) = (self.dry_ms, self.wet_ms);
            let [wet_l, wet_r] = &mut sc.wet;
            let mut k = 0;
            while k < m {
                if self.comp_pos == 0 {
                    // The correction, at control rate: ramps towards the value worked out from
                    // the followers at the end of the previous ramp. The followers always run,
                    // so switching auto gain on starts from the right value.
                    let target = if self.auto_gain {
                        compensation_power(dry_ms[0] + dry_ms[1], wet_ms[0] + wet_ms[1]).sqrt()
                    } else {
                        1.0
                    };
                    self.comp_from = self.comp_to;
                    let mut next = target + (self.comp_to - target) * self.comp_decay;
                    if (next - target).abs() < SNAP {
                        next = target;
                    }
                    self.comp_to = next;
                }
                let len = (CONTROL - self.comp_pos).min(m - k);
                let to = self.comp_to;
                let step = (to - self.comp_from) / CONTROL as f64;
                // Reaches `to` exactly at the ramp's last frame.
                for (c, &left_in_ramp) in sc.compensation[k..k + len].iter_mut().zip(&RAMP[self.comp_pos..]) {
                    *c = to - step * left_in_ramp;
                }
                for j in k..k + len {
                    let (d, dry) = (sc.distortion_pairs[j], sc.dry_pairs[j]);
                    let (engage, loss) = (sc.engage[j], sc.loss[j]);
                    let mut wet = [0.0f64; 2];
                    for ch in 0..2 {
                        // DC blocker: y[n] = x[n] - x[n-1] + R y[n-1].
                        let blocked = d[ch] - dc_in[ch] + dc_coef * dc_out[ch];
                        dc_in[ch] = d[ch];
                        dc_out[ch] = blocked;
                        let w = dry[ch] + engage * blocked;
                        lp[ch] += (w - lp[ch]) * tape_coef;
                        wet[ch] = w + loss * (lp[ch] - w);
                        dry_ms[ch] += (dry[ch] * dry[ch] - dry_ms[ch]) * auto_coef;
                        wet_ms[ch] += (wet[ch] * wet[ch] - wet_ms[ch]) * auto_coef;
                    }
                    wet_l[j] = wet[0];
                    wet_r[j] = wet[1];
                }
                self.comp_pos = (self.comp_pos + len) % CONTROL;
                k += len;
            }
            (p0.dc_in, p1.dc_in) = (dc_in[0], dc_in[1]);
            (p0.dc_out, p1.dc_out) = (dc_out[0], dc_out[1]);
            (p0.tape_lp, p1.tape_lp) = (lp[0], lp[1]);
            (self.dry_ms, self.wet_ms) = (dry_ms, wet_ms);
            self.compensation = sc.compensation[m - 1];
            // Gain and mix, a flat loop.
            let (out_l, out_r) = (&mut left[start..start + m], &mut right[start..start + m]);
            for k in 0..m {
                let c = sc.compensation[k];
                let (dl, dr) = (dry_l[k], dry_r[k]);
                out_l[k] = sc.output[k] * (dl + sc.mix[k] * (sc.wet[0][k] * c - dl));
                out_r[k] = sc.output[k] * (dr + sc.mix[k] * (sc.wet[1][k] * c - dr));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worst error of [`fast_tanh`] relative to `tanh` (exact in `f64` for this purpose).
    fn worst_tanh_error<const FMA: bool>() -> f64 {
        let grid = (-300_000..=300_000).map(|i| i as f32 * 1e-4);
        let edges = [1e-30, -1e-12, 1e-6, 9.99, 10.0, 25.0, -700.0, 1e30, f32::MAX];
        grid.chain(edges)
            .map(|x| {
                let exact = (x as f64).tanh();
                (fast_tanh::<FMA>(x) as f64 - exact).abs() / exact.abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_tanh_is_within_4_ulp_of_tanh() {
        for worst in [worst_tanh_error::<false>(), worst_tanh_error::<true>()] {
            assert!(worst < 4.0 * f32::EPSILON as f64, "worst relative error {worst:e}");
        }
    }
}
