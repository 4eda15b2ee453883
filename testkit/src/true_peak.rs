//! The reference true-peak meter: 16x oversampling by a Kaiser-windowed sinc of 128 taps per
//! phase, evaluated directly (no polyphase tricks, no SIMD, no shared code with the plugin).

use std::f64::consts::PI;

/// Oversampling factor of the reference meter.
const FACTOR: usize = 16;
/// Half-length of its windowed sinc, in base-rate samples (128 taps per phase).
const HALF: usize = 64;
/// Kaiser beta of its window (about 80 dB sidelobes; flat to about 0.48 fs).
const BETA: f64 = 8.0;

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-18 * sum {
        term *= (x * x / 4.0) / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Per base-rate sample `n`, the largest magnitude of the band-limited signal on `[n, n + 1)`,
/// from 16 points per sample.
pub fn true_peak_per_sample(x: &[f64]) -> Vec<f64> {
    let taps = 2 * HALF;
    // kernel[p][j] weights x[n + j - HALF + 1] for the point n + p / 16.
    let kernels: Vec<Vec<f64>> = (0..FACTOR)
        .map(|p| {
            let frac = p as f64 / FACTOR as f64;
            (0..taps)
                .map(|j| {
                    let t = frac - (j as f64 - HALF as f64 + 1.0);
                    let sinc = if t == 0.0 { 1.0 } else { (PI * t).sin() / (PI * t) };
                    let r = t / (HALF as f64 + 1.0);
                    let w = bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(BETA);
                    sinc * w
                })
                .collect()
        })
        .collect();
    let mut padded = vec![0.0; x.len() + taps];
    padded[HALF - 1..HALF - 1 + x.len()].copy_from_slice(x);
    (0..x.len())
        .map(|n| {
            let window = &padded[n..n + taps];
            let mut peak = x[n].abs();
            for kernel in &kernels[1..] {
                let v: f64 = kernel.iter().zip(window).map(|(k, s)| k * s).sum();
                peak = peak.max(v.abs());
            }
            peak
        })
        .collect()
}

/// True peak of `x` in dBTP.
pub fn true_peak_db(x: &[f64]) -> f64 {
    crate::db(true_peak_per_sample(x).into_iter().fold(0.0, f64::max))
}
