//! Deterministic test signals: the EBU Tech 3341 true-peak cases and the limiter torture set
//! (issue 4), all seeded so every run and every host renders the same samples.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// Length of the raised-cosine fades of the EBU cases, seconds.
const EBU_FADE_S: f64 = 0.02;

/// EBU Tech 3341 true-peak cases 15-19 at `fs`: `(case, samples, expected true peak, linear)`,
/// 1 s each with 20 ms raised-cosine fades. The cases are defined by their period in samples,
/// so they keep their meaning at every rate.
pub fn ebu_true_peak_cases(fs: f64) -> Vec<(u32, Vec<f64>, f64)> {
    // (case, amplitude, period in samples, phase in degrees, expected true peak)
    let spec: [(u32, f64, f64, f64, f64); 5] = [
        (15, 0.5, 4.0, 0.0, 0.5),
        (16, 0.5, 4.0, 45.0, 0.5),
        (17, 0.5, 6.0, 60.0, 0.5),
        (18, 0.5, 8.0, 67.5, 0.5),
        (19, 1.41, 4.0, 45.0, 1.41),
    ];
    let len = fs as usize;
    let fade = (EBU_FADE_S * fs) as usize;
    spec.iter()
        .map(|&(case, amp, period, phase_deg, expected)| {
            let x = (0..len)
                .map(|n| {
                    let edge = n.min(len - 1 - n);
                    let g = if edge < fade { 0.5 - 0.5 * (PI * edge as f64 / fade as f64).cos() } else { 1.0 };
                    g * amp * (2.0 * PI * n as f64 / period + phase_deg.to_radians()).sin()
                })
                .collect();
            (case, x, expected)
        })
        .collect()
}

/// Pink-ish noise (Paul Kellet's economy filter on white noise), normalised to a peak of 1.
pub fn pink(len: usize, rng: &mut SmallRng) -> Vec<f64> {
    let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
    let x: Vec<f64> = (0..len)
        .map(|_| {
            let w: f64 = rng.random_range(-1.0..1.0);
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect();
    normalised(x)
}

/// Programme-like: pink noise with a drum-like envelope (a hit every 250 ms decaying over
/// 60 ms on top of a bed), full-scale peak.
pub fn programme(len: usize, fs: f64, rng: &mut SmallRng) -> Vec<f64> {
    let noise = pink(len, rng);
    let beat = (0.25 * fs) as usize;
    let x = noise.iter().enumerate().map(|(n, v)| v * (0.3 + (-((n % beat) as f64) / (0.06 * fs)).exp())).collect();
    normalised(x)
}

fn normalised(mut x: Vec<f64>) -> Vec<f64> {
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if peak > 0.0 {
        x.iter_mut().for_each(|v| *v /= peak);
    }
    x
}

/// One stereo signal of the torture set.
pub struct Torture {
    pub name: &'static str,
    pub left: Vec<f64>,
    pub right: Vec<f64>,
}

/// The limiter torture set at `fs` (issue 4), 1 s each, all full scale: an fs/4 sine at 45°
/// (the largest inter-sample peak of a sine), a full-scale square, white noise, impulse trains
/// with alternating-sign doublets, a 50 Hz sine with transients, programme-like noise, and
/// noise concentrated just below half the sample rate.
pub fn torture_set(fs: f64) -> Vec<Torture> {
    let len = fs as usize;
    let mut rng = SmallRng::seed_from_u64(4);
    let sine4: Vec<f64> = (0..len).map(|n| (2.0 * PI * n as f64 / 4.0 + PI / 4.0).sin()).collect();
    let square: Vec<f64> =
        (0..len).map(|n| if (2.0 * PI * 997.0 * n as f64 / fs).sin() >= 0.0 { 1.0 } else { -1.0 }).collect();
    let noise_l: Vec<f64> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let noise_r: Vec<f64> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    // Single impulses and alternating-sign doublets (the worst inter-sample peak two samples
    // can make) at irregular spacing.
    let mut impulses = vec![0.0; len];
    let (mut n, mut k) = (100, 0);
    while n + 1 < len {
        impulses[n] = 1.0;
        if k % 2 == 1 {
            impulses[n + 1] = -1.0;
        }
        n += 200 + 37 * (k % 7);
        k += 1;
    }
    let transients: Vec<f64> = (0..len)
        .map(|n| {
            let t = n as f64 / fs;
            let hit = (n % (0.25 * fs) as usize) as f64 / fs;
            0.5 * (2.0 * PI * 50.0 * t).sin() + 0.5 * (-hit / 0.003).exp() * (2.0 * PI * 3000.0 * t).sin()
        })
        .collect();
    let prog_l = programme(len, fs, &mut rng);
    let prog_r = programme(len, fs, &mut rng);
    let top_l = near_nyquist(len, &mut rng);
    let top_r = near_nyquist(len, &mut rng);
    let both = |name, x: Vec<f64>| Torture { name, left: x.clone(), right: x };
    vec![
        both("fs/4 sine at 45 deg", sine4),
        both("full-scale square", square),
        Torture { name: "white noise", left: noise_l, right: noise_r },
        both("impulse trains", impulses),
        both("50 Hz sine with transients", transients),
        Torture { name: "programme", left: prog_l, right: prog_r },
        Torture { name: "near-Nyquist noise", left: top_l, right: top_r },
    ]
}

/// Corner of the smoothing that shapes [`near_nyquist`] noise, as a fraction of the rate.
const NEAR_NYQUIST_WIDTH: f64 = 0.02;

/// Noise concentrated in the top few percent below half the sample rate (low-passed noise
/// shifted up by `(-1)^n`), full-scale peak: what aliasing saturators, naive oscillators and
/// bit crushers leave there, and where a true-peak detector's interpolator is least flat.
pub fn near_nyquist(len: usize, rng: &mut SmallRng) -> Vec<f64> {
    let a = (-2.0 * PI * NEAR_NYQUIST_WIDTH).exp();
    let mut state = 0.0;
    let x = (0..len)
        .map(|n| {
            state = a * state + (1.0 - a) * rng.random_range(-1.0..1.0);
            if n % 2 == 0 {
                state
            } else {
                -state
            }
        })
        .collect();
    normalised(x)
}

/// Seeded white noise in [-amplitude, amplitude).
pub fn white(len: usize, amplitude: f64, seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..len).map(|_| amplitude * rng.random_range(-1.0..1.0)).collect()
}

/// A sine of `freq` Hz at `fs`, peak `amplitude`.
pub fn sine(len: usize, freq: f64, fs: f64, amplitude: f64) -> Vec<f64> {
    (0..len).map(|n| amplitude * (2.0 * PI * freq * n as f64 / fs).sin()).collect()
}
