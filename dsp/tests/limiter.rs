//! Stage 7, the true-peak limiter: the ceiling is a promise (issue 4).
//!
//! Every output is measured by the independent true-peak meter of `lacquer-testkit` (16x, a
//! Kaiser-windowed sinc of 128 taps per phase, no code shared with the limiter) and must be at
//! most the ceiling + 0.05 dB. The torture set and the EBU cases are testkit's too, so the
//! host tests render the very same signals through the built plugin.

use lacquer_dsp::stages::limiter::{Limiter, LimiterSettings, PeakOversampling};
use lacquer_dsp::Stage;
use lacquer_testkit::db;
use lacquer_testkit::signals::{ebu_true_peak_cases, programme, torture_set, Torture};
use lacquer_testkit::true_peak::{true_peak_db, true_peak_per_sample};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::f64::consts::PI;

/// Allowed excess over the ceiling, dB, as read by the independent meter.
const TOLERANCE_DB: f64 = 0.05;
const BLOCK: usize = 512;

#[test]
fn reference_meter_reads_the_ebu_true_peak_cases() {
    // EBU Tech 3341 cases 15-19 (48 kHz, with fades), within 0.02 dB.
    for (case, signal, expected) in ebu_true_peak_cases(48000.0) {
        let tp = true_peak_db(&signal);
        assert!((tp - db(expected)).abs() < 0.02, "case {case}: {tp:.3} dBTP");
    }
}

// ---------------------------------------------------------------------------------------------
// Running the limiter.

fn limiter(fs: f64, settings: &LimiterSettings) -> Limiter {
    let mut lim = Limiter::default();
    lim.set(settings);
    lim.prepare(fs, BLOCK);
    lim
}

/// Run `left`/`right` through the limiter, followed by `latency()` samples of silence so the
/// whole signal comes out. `settings_at(block_index)` may change settings per block.
fn run(
    lim: &mut Limiter,
    left: &[f64],
    right: &[f64],
    mut settings_at: impl FnMut(usize) -> Option<LimiterSettings>,
) -> (Vec<f64>, Vec<f64>) {
    let total = left.len() + lim.max_latency();
    let mut l = left.to_vec();
    let mut r = right.to_vec();
    l.resize(total, 0.0);
    r.resize(total, 0.0);
    for (b, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
        if let Some(s) = settings_at(b) {
            lim.set(&s);
        }
        lim.process(cl, cr);
    }
    (l, r)
}

fn torture_settings(drive_db: f64) -> LimiterSettings {
    LimiterSettings { drive_db, ceiling_dbtp: -1.0, ..Default::default() }
}

/// Output true peak of both channels, dBTP, after checking every sample is finite.
fn checked_peak(name: &str, l: &[f64], r: &[f64]) -> f64 {
    assert!(l.iter().chain(r).all(|v| v.is_finite()), "{name}: non-finite output");
    true_peak_db(l).max(true_peak_db(r))
}

#[test]
fn torture_set_stays_under_the_ceiling_at_every_rate() {
    for fs in [44100.0, 48000.0, 96000.0] {
        for Torture { name, left, right } in torture_set(fs) {
            let settings = torture_settings(12.0);
            let mut lim = limiter(fs, &settings);
            let (l, r) = run(&mut lim, &left, &right, |_| None);
            let tp = checked_peak(name, &l, &r);
            println!("{fs} Hz {name}: {tp:.3} dBTP");
            assert!(tp <= -1.0 + TOLERANCE_DB, "{fs} Hz, {name}: {tp:.3} dBTP over -1 dBTP");
        }
    }
}

#[test]
fn every_oversampling_and_lookahead_holds_the_ceiling() {
    let fs = 48000.0;
    let set = torture_set(fs);
    for oversampling in [PeakOversampling::X4, PeakOversampling::X8, PeakOversampling::X16] {
        for lookahead_ms in [0.5, 3.0, 5.0] {
            for Torture { name, left, right } in set.iter().filter(|t| t.name != "50 Hz sine with transients") {
                let settings = LimiterSettings { oversampling, lookahead_ms, ..torture_settings(12.0) };
                let mut lim = limiter(fs, &settings);
                let (l, r) = run(&mut lim, &left[..24000], &right[..24000], |_| None);
                let tp = checked_peak(name, &l, &r);
                assert!(tp <= -1.0 + TOLERANCE_DB, "{oversampling:?}, {lookahead_ms} ms, {name}: {tp:.3} dBTP");
            }
        }
    }
}

#[test]
fn ceiling_automation_is_met_sample_by_sample() {
    // Ceiling and release automated every block; the output must meet, at every sample, the
    // ceiling that was in force when that sample entered the limiter.
    let fs = 48000.0;
    let mut rng = SmallRng::seed_from_u64(11);
    let len = 2 * fs as usize;
    let left = programme(len, fs, &mut rng);
    let right = programme(len, fs, &mut rng);
    let ceilings = [-0.1, -3.0, -1.0, -2.0, -0.5, -1.5];
    let ceiling_of_block = |b: usize| ceilings[(b / 5) % ceilings.len()];
    let mut lim = limiter(fs, &torture_settings(9.0));
    let latency = lim.latency();
    let (l, r) = run(&mut lim, &left, &right, |b| {
        Some(LimiterSettings {
            ceiling_dbtp: ceiling_of_block(b),
            release_ms: 30.0 + 20.0 * (b % 4) as f64,
            ..torture_settings(9.0)
        })
    });
    let peaks_l = true_peak_per_sample(&l);
    let peaks_r = true_peak_per_sample(&r);
    // The inter-sample peak on [n, n+1) is shaped by a few samples either side: allow the
    // highest ceiling among them at a change.
    const NEIGHBOURS: usize = 4;
    for n in latency + NEIGHBOURS..len {
        let input = n - latency;
        let allowed = (input - NEIGHBOURS..=input + NEIGHBOURS)
            .map(|i| ceiling_of_block(i.min(len - 1) / BLOCK))
            .fold(f64::NEG_INFINITY, f64::max);
        let tp = db(peaks_l[n].max(peaks_r[n]));
        assert!(tp <= allowed + TOLERANCE_DB, "sample {n}: {tp:.3} dBTP over {allowed}");
    }
}

#[test]
fn ebu_true_peak_cases_are_limited() {
    let fs = 48000.0;
    for drive_db in [0.0, 6.0] {
        for (case, signal, _) in ebu_true_peak_cases(fs) {
            let mut lim = limiter(fs, &torture_settings(drive_db));
            let (l, r) = run(&mut lim, &signal, &signal, |_| None);
            let tp = checked_peak("EBU", &l, &r);
            assert!(tp <= -1.0 + TOLERANCE_DB, "case {case}, drive {drive_db}: {tp:.3} dBTP");
            // What was under the ceiling stays at its level (within the limiter's margin).
            let expected = if case == 19 || drive_db > 0.0 { -1.0 } else { -6.0 };
            assert!(tp > expected - 0.1, "case {case}, drive {drive_db}: {tp:.3} dBTP, too low");
        }
    }
}

#[test]
fn below_the_ceiling_it_is_a_pure_delay() {
    let fs = 48000.0;
    let mut rng = SmallRng::seed_from_u64(5);
    let len = fs as usize;
    let mut left = programme(len, fs, &mut rng);
    let mut right = programme(len, fs, &mut rng);
    // 6 dB under the -1 dBTP ceiling, by true peak.
    let tp = true_peak_db(&left).max(true_peak_db(&right));
    let g = 10f64.powf((-7.0 - tp) / 20.0);
    left.iter_mut().chain(right.iter_mut()).for_each(|v| *v *= g);
    let mut lim = limiter(fs, &torture_settings(0.0));
    let latency = lim.latency();
    let (l, r) = run(&mut lim, &left, &right, |_| None);
    let mut worst: f64 = 0.0;
    for n in 0..len {
        worst = worst.max((l[n + latency] - left[n]).abs()).max((r[n + latency] - right[n]).abs());
    }
    assert!(db(worst) < -100.0, "null residual {:.1} dBFS", db(worst));
    assert!(lim.gain_reduction_db().abs() < 1e-9);
}

#[test]
fn latency_is_constant_and_bounded() {
    let fs = 48000.0;
    let mut lim = limiter(fs, &LimiterSettings::default());
    let base = lim.latency();
    // 1.5 ms lookahead plus both detectors' filter delay (about 1.4 ms for the main one's
    // 128 taps, 2 ms for the guard's 192) and the guard's 0.25 ms ramp: under 6 ms.
    assert!(base >= 72 && base < (0.006 * fs) as usize, "latency {base}");
    // Ordinary settings do not move it.
    lim.set(&LimiterSettings {
        ceiling_dbtp: -2.0,
        drive_db: 6.0,
        release_ms: 10.0,
        stereo_link: 0.3,
        ..Default::default()
    });
    assert_eq!(lim.latency(), base);
    for oversampling in [PeakOversampling::X4, PeakOversampling::X8, PeakOversampling::X16] {
        lim.set(&LimiterSettings { lookahead_ms: 5.0, oversampling, ..Default::default() });
        assert!(lim.latency() <= lim.max_latency());
    }
}

#[test]
fn gain_reduction_reads_the_excess_on_a_steady_sine() {
    let fs = 48000.0;
    for (drive_db, amplitude_db) in [(0.0, 0.0), (6.0, -3.0), (12.0, -1.0)] {
        let a = 10f64.powf(amplitude_db / 20.0);
        let x: Vec<f64> = (0..24000).map(|n| a * (2.0 * PI * 1000.0 * n as f64 / fs).sin()).collect();
        let mut lim = limiter(fs, &torture_settings(drive_db));
        let mut l = x.clone();
        let mut r = x.clone();
        for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
            lim.process(cl, cr);
        }
        // Driven peak minus ceiling, within 0.1 dB.
        let expected = amplitude_db + drive_db + 1.0;
        let gr = lim.gain_reduction_db();
        assert!((gr - expected).abs() < 0.1, "drive {drive_db}: reads {gr:.3} dB, expected {expected}");
    }
}

#[test]
fn stereo_link_follows_the_louder_channel() {
    let fs = 48000.0;
    let len = 24000;
    let loud: Vec<f64> = (0..len).map(|n| (2.0 * PI * 500.0 * n as f64 / fs).sin()).collect();
    let quiet: Vec<f64> = loud.iter().map(|v| 0.25 * v).collect();
    let level = |x: &[f64]| db(x[len - 2000..len].iter().fold(0.0f64, |m, v| m.max(v.abs())));
    // Linked: the quiet channel gets the loud one's 1 dB (+ margin) of reduction.
    let mut lim = limiter(fs, &torture_settings(0.0));
    let (_, r) = run(&mut lim, &loud, &quiet, |_| None);
    assert!((level(&r) - (db(0.25) - 1.0)).abs() < 0.1, "linked: {:.2}", level(&r));
    // Unlinked: the quiet channel is untouched.
    let mut lim = limiter(fs, &LimiterSettings { stereo_link: 0.0, ..torture_settings(0.0) });
    let (_, r) = run(&mut lim, &loud, &quiet, |_| None);
    assert!((level(&r) - db(0.25)).abs() < 0.01, "unlinked: {:.2}", level(&r));
}

#[test]
fn recovers_from_absurd_input() {
    let fs = 48000.0;
    let mut lim = limiter(fs, &torture_settings(0.0));
    let mut l: Vec<f64> = (0..4096).map(|n| if n % 3 == 0 { 1.0e4 } else { -1.0e4 }).collect();
    let mut r = l.clone();
    lim.process(&mut l[..BLOCK], &mut r[..BLOCK]);
    let quiet: Vec<f64> = (0..48000).map(|n| 0.1 * (2.0 * PI * 440.0 * n as f64 / fs).sin()).collect();
    let (l, r) = run(&mut lim, &quiet, &quiet, |_| None);
    assert!(l.iter().chain(&r).all(|v| v.is_finite()));
    // A few hundred ms later the quiet sine is back at its level.
    let tail = db(l[40000..48000].iter().fold(0.0f64, |m, v| m.max(v.abs())));
    assert!((tail - db(0.1)).abs() < 0.05, "recovered to {tail:.2} dB");
}

/// Blocks until the reported gain reduction falls under 0.5 dB after `loud` samples at 0 dBFS
/// over a -20 dBFS sine, at 0 dB drive.
fn recovery_blocks(loud: usize, auto_release: bool) -> usize {
    let fs = 48000.0;
    let settings = LimiterSettings { auto_release, ..torture_settings(0.0) };
    let mut lim = limiter(fs, &settings);
    let start = 24000;
    let len = start + loud + 4 * fs as usize;
    let x: Vec<f64> = (0..len)
        .map(|n| {
            let a = if (start..start + loud).contains(&n) { 1.0 } else { 0.1 };
            a * (2.0 * PI * 1000.0 * n as f64 / fs).sin()
        })
        .collect();
    let mut l = x.clone();
    let mut r = x;
    let end_block = (start + loud + lim.latency()) / BLOCK + 1;
    for (b, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
        lim.process(cl, cr);
        if b > end_block && lim.gain_reduction_db() < 0.5 {
            return b - end_block;
        }
    }
    usize::MAX
}

#[test]
fn auto_release_recovers_fast_after_a_peak_and_slowly_after_sustained_limiting() {
    let short = recovery_blocks(240, true); // 5 ms
    let sustained = recovery_blocks(96000, true); // 2 s
    let fixed_short = recovery_blocks(240, false);
    let fixed_sustained = recovery_blocks(96000, false);
    println!("recovery blocks: auto {short} / {sustained}, fixed {fixed_short} / {fixed_sustained}");
    // Auto: an isolated peak recovers at least twice as fast as two seconds of limiting.
    assert!(sustained >= 2 * short.max(1), "auto: short {short}, sustained {sustained} blocks");
    // Fixed release: the same recovery either way (within a block).
    assert!(fixed_short.abs_diff(fixed_sustained) <= 1, "fixed: {fixed_short} vs {fixed_sustained}");
}

#[test]
fn steady_limiting_adds_no_distortion() {
    // A steady 1 kHz sine 6 dB over the ceiling: the gain settles to a constant, so the output
    // is a clean sine (no clipping in the normal path): harmonics below -90 dB.
    let fs = 48000.0;
    let len = 3 * fs as usize;
    let x: Vec<f64> = (0..len).map(|n| (2.0 * PI * 750.0 * n as f64 / fs).sin()).collect();
    let mut lim = limiter(fs, &torture_settings(6.0));
    let (l, _) = run(&mut lim, &x, &x, |_| None);
    // 2^15 samples from the settled part; 750 Hz is bin 512.
    let n = 1 << 15;
    let seg = &l[len - n - 4096..len - 4096];
    let mut buf: Vec<f64> = seg
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = 2.0 * PI * i as f64 / n as f64;
            v * (0.35875 - 0.48829 * t.cos() + 0.14128 * (2.0 * t).cos() - 0.01168 * (3.0 * t).cos())
        })
        .collect();
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut spec = fft.make_output_vec();
    fft.process(&mut buf, &mut spec).unwrap();
    let fundamental = spec[512].norm();
    for k in 2..=10 {
        let h = db(spec[512 * k].norm() / fundamental);
        println!("H{k} {h:.1} dB");
        assert!(h < -90.0, "harmonic {k}: {h:.1} dB");
    }
}
