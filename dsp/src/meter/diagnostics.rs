//! The diagnostic pass: headroom, mono compatibility, stereo width per band and spectral
//! balance in the engineers' named ranges, each as a number and a short verdict.
//!
//! Spectral balance compares each range's share of the programme's energy with the share the
//! *target curve* gives it. The target is a smoothed average of commercial masters:
//! per-octave power flat from 20 Hz up to [`TARGET_KNEE_HZ`] (150 Hz), then falling by
//! [`TARGET_SLOPE_DB_PER_OCTAVE`] (-2.5 dB) per octave (in per-hertz terms: pink noise tilted by
//! a further -2.5 dB/octave above 150 Hz). It is a reference to read deviations against, not a
//! rule: genres differ by several dB, which is why a range reads "close to target" within
//! +-[`BALANCE_TOLERANCE_DB`] dB.

use crate::util::gain_to_db;

/// Target curve: flat per octave below this frequency, Hz.
pub const TARGET_KNEE_HZ: f64 = 150.0;
/// Target curve: per-octave power slope above the knee, dB per octave.
pub const TARGET_SLOPE_DB_PER_OCTAVE: f64 = -2.5;
/// A range within this many dB of its target share reads as "close to target".
pub const BALANCE_TOLERANCE_DB: f64 = 2.0;
/// Lowest and highest frequency of the balance comparison, Hz.
const BALANCE_LOW_HZ: f64 = 20.0;
const BALANCE_HIGH_HZ: f64 = 20_000.0;
/// Below this the low end should be close to mono (vinyl, clubs, mono playback).
const LOW_END_MONO_HZ: f64 = 150.0;
/// Side more than this many dB below mid reads as "narrow"; above the second, "wide".
const NARROW_SIDE_DB: f64 = -20.0;
const WIDE_SIDE_DB: f64 = -4.0;
/// Low-end side/mid above this is a warning.
const LOW_END_SIDE_WARN_DB: f64 = -12.0;
/// A range holding less than this share of the programme's energy (dB) has no content worth a
/// width verdict: its side/mid ratio would be the ratio of two leakage floors.
const NO_CONTENT_DB: f64 = -40.0;
/// A mono sum losing more than this many LU is a mono-compatibility problem.
const MONO_LOSS_WARN_LU: f64 = 3.0;

/// The named ranges: (name, low Hz, high Hz).
pub const RANGES: [(&str, f64, f64); 6] = [
    ("low end", 20.0, 100.0),
    ("muddy", 100.0, 300.0),
    ("boxy", 300.0, 800.0),
    ("nasal", 1_000.0, 3_000.0),
    ("harsh", 4_000.0, 8_000.0),
    ("air", 10_000.0, 20_000.0),
];

/// What the diagnostics read (all measured over the whole programme).
#[derive(Debug, Clone)]
pub struct DiagnosticInput {
    pub true_peak_dbtp: f64,
    pub sample_peak_dbfs: f64,
    /// Stereo phase correlation over the whole programme.
    pub correlation: f64,
    /// Integrated loudness of the stereo programme and of its mono sum, LUFS.
    pub stereo_lufs: f64,
    pub mono_lufs: f64,
    /// Mean power spectra of mid `(L+R)/2` and side `(L-R)/2`, bins `0..=n/2`.
    pub mid_power: Vec<f64>,
    pub side_power: Vec<f64>,
    /// Bin spacing, Hz.
    pub bin_hz: f64,
}

/// One diagnostic: a topic, its number and a short sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub topic: String,
    /// The measured number the sentence is about (dB, LU or correlation).
    pub value: f64,
    pub text: String,
}

/// Target per-hertz power density at `f` (arbitrary scale).
fn target_density(f: f64) -> f64 {
    let octaves_above_knee = (f / TARGET_KNEE_HZ).log2().max(0.0);
    10f64.powf(TARGET_SLOPE_DB_PER_OCTAVE * octaves_above_knee / 10.0) / f
}

/// Sum of `power` over bins whose centre lies in `[low, high)` Hz.
fn band_sum(power: &[f64], bin_hz: f64, low: f64, high: f64) -> f64 {
    power.iter().enumerate().filter(|(i, _)| (low..high).contains(&(*i as f64 * bin_hz))).map(|(_, p)| p).sum()
}

/// All verdicts, in checklist order: headroom, mono compatibility, width, balance.
pub fn diagnose(d: &DiagnosticInput) -> Vec<Verdict> {
    let mut out = Vec::new();
    out.push(headroom(d));
    out.push(mono(d));
    out.extend(width(d));
    out.extend(balance(d));
    out
}

fn headroom(d: &DiagnosticInput) -> Verdict {
    let tp = d.true_peak_dbtp;
    let text = if !tp.is_finite() {
        "silent: no peak".to_string()
    } else if tp > 0.0 {
        format!("true peak {tp:+.1} dBTP: inter-sample peaks clip on playback and encoding")
    } else if tp > -1.0 {
        format!("true peak {tp:.1} dBTP: less than 1 dB headroom, lossy encoding may clip")
    } else {
        format!("headroom {:.1} dB below 0 dBTP (sample peak {:.1} dBFS)", -tp, d.sample_peak_dbfs)
    };
    Verdict { topic: "headroom".into(), value: -tp, text }
}

fn mono(d: &DiagnosticInput) -> Verdict {
    let loss = if d.stereo_lufs.is_finite() && d.mono_lufs.is_finite() {
        d.stereo_lufs - d.mono_lufs
    } else if d.stereo_lufs.is_finite() {
        f64::INFINITY
    } else {
        0.0
    };
    let text = if d.correlation < 0.0 {
        format!("correlation {:+.2}: out of phase, the mono sum loses {loss:.1} LU", d.correlation)
    } else if loss > MONO_LOSS_WARN_LU {
        format!("mono sum loses {loss:.1} LU (correlation {:+.2}): check wide or phasey parts", d.correlation)
    } else {
        format!("mono compatible: the mono sum loses {loss:.1} LU (correlation {:+.2})", d.correlation)
    };
    Verdict { topic: "mono compatibility".into(), value: loss, text }
}

fn width(d: &DiagnosticInput) -> Vec<Verdict> {
    let energy = |low: f64, high: f64| {
        band_sum(&d.mid_power, d.bin_hz, low, high) + band_sum(&d.side_power, d.bin_hz, low, high)
    };
    let floor = energy(BALANCE_LOW_HZ, BALANCE_HIGH_HZ) * 10f64.powf(NO_CONTENT_DB / 10.0);
    // Side/mid in dB; NaN where the range has no content.
    let side_mid = |low: f64, high: f64| {
        let m = band_sum(&d.mid_power, d.bin_hz, low, high);
        let s = band_sum(&d.side_power, d.bin_hz, low, high);
        if m + s <= floor || m + s == 0.0 {
            f64::NAN
        } else if m > 0.0 {
            10.0 * (s / m).log10()
        } else {
            f64::INFINITY
        }
    };
    let overall = side_mid(BALANCE_LOW_HZ, BALANCE_HIGH_HZ);
    let text = if overall.is_nan() {
        "silent: no width to read".to_string()
    } else if overall == f64::NEG_INFINITY {
        "mono: no side signal".to_string()
    } else if overall == f64::INFINITY {
        "side only: the channels cancel in mono".to_string()
    } else if overall < NARROW_SIDE_DB {
        format!("narrow: side {overall:.1} dB below mid (near mono)")
    } else if overall > WIDE_SIDE_DB {
        format!("very wide: side only {:.1} dB below mid", -overall)
    } else {
        format!("normal width: side {:.1} dB below mid", -overall)
    };
    let low = side_mid(BALANCE_LOW_HZ, LOW_END_MONO_HZ);
    let low_text = if low.is_nan() {
        "no low end below 150 Hz to judge".to_string()
    } else if low == f64::NEG_INFINITY {
        "low end mono: no side signal below 150 Hz".to_string()
    } else if low == f64::INFINITY {
        "low end out of phase: it cancels in mono".to_string()
    } else if low > LOW_END_SIDE_WARN_DB {
        format!("low end wide: side below 150 Hz only {:.1} dB under mid (mono it for vinyl and clubs)", -low)
    } else {
        format!("low end centred: side below 150 Hz {:.1} dB under mid", -low)
    };
    let mut out = vec![
        Verdict { topic: "stereo width".into(), value: overall, text },
        Verdict { topic: "low-end width".into(), value: low, text: low_text },
    ];
    for (name, lo, hi) in RANGES {
        let v = side_mid(lo, hi);
        let text = if v.is_nan() {
            format!("{name} ({}): no content", range_label(lo, hi))
        } else if v.is_finite() {
            format!("{name} ({}): side/mid {v:.1} dB", range_label(lo, hi))
        } else if v > 0.0 {
            format!("{name} ({}): side only (out of phase)", range_label(lo, hi))
        } else {
            format!("{name} ({}): mono", range_label(lo, hi))
        };
        out.push(Verdict { topic: format!("width {name}"), value: v, text });
    }
    out
}

fn balance(d: &DiagnosticInput) -> Vec<Verdict> {
    let nyquist_bins = d.mid_power.len().min(d.side_power.len());
    let total: Vec<f64> = (0..nyquist_bins).map(|i| d.mid_power[i] + d.side_power[i]).collect();
    let high = BALANCE_HIGH_HZ.min((nyquist_bins.saturating_sub(1)) as f64 * d.bin_hz);
    let target: Vec<f64> =
        (0..nyquist_bins).map(|i| if i == 0 { 0.0 } else { target_density(i as f64 * d.bin_hz) }).collect();
    let total_sum = band_sum(&total, d.bin_hz, BALANCE_LOW_HZ, high);
    let target_sum = band_sum(&target, d.bin_hz, BALANCE_LOW_HZ, high);
    let mut out = Vec::new();
    for (name, lo, hi) in RANGES {
        if lo >= high || total_sum <= 0.0 {
            continue;
        }
        let share = band_sum(&total, d.bin_hz, lo, hi.min(high)) / total_sum;
        let target_share = band_sum(&target, d.bin_hz, lo, hi.min(high)) / target_sum;
        let dev = gain_to_db(share.sqrt() / target_share.sqrt());
        let label = format!("{name} ({})", range_label(lo, hi));
        let text = if !dev.is_finite() {
            format!("{label}: no energy")
        } else if dev.abs() <= BALANCE_TOLERANCE_DB {
            format!("{label} close to target ({dev:+.1} dB)")
        } else if dev > 0.0 {
            format!("{label} {dev:.1} dB heavier than target")
        } else {
            format!("{label} {:.1} dB lighter than target", -dev)
        };
        out.push(Verdict { topic: format!("balance {name}"), value: dev, text });
    }
    out
}

fn range_label(lo: f64, hi: f64) -> String {
    let f = |x: f64| if x >= 1000.0 { format!("{}k", x / 1000.0) } else { format!("{x}") };
    format!("{}-{} Hz", f(lo), f(hi))
}
