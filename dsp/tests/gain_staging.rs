//! Gain staging: trim, polarity, DC blocker, balance law, auto staging, the applied-gain report.

use lacquer_dsp::stage::Stage;
use lacquer_dsp::stages::gain_staging::{GainStaging, GainStagingSettings};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

const FS: f64 = 48_000.0;
const BLOCK: usize = 512;

fn stage(s: &GainStagingSettings) -> GainStaging {
    let mut g = GainStaging::default();
    g.set(s);
    g.prepare(FS, BLOCK);
    g
}

fn run(g: &mut GainStaging, l: &[f64], r: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut ol, mut or) = (l.to_vec(), r.to_vec());
    for (cl, cr) in ol.chunks_mut(BLOCK).zip(or.chunks_mut(BLOCK)) {
        g.process(cl, cr);
    }
    (ol, or)
}

fn sine(f: f64, amp: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| amp * (2.0 * PI * f * i as f64 / FS).sin()).collect()
}

fn rms_db(x: &[f64]) -> f64 {
    10.0 * (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).log10()
}

/// No DC blocker, nothing else: the plain gain path.
fn plain() -> GainStagingSettings {
    GainStagingSettings { dc_block: false, ..Default::default() }
}

/// Trim accuracy, dB.
const TRIM_TOL_DB: f64 = 0.01;

#[test]
fn trim_is_accurate() {
    let x = sine(1000.0, 0.1, 48_000);
    for trim in [-24.0, -12.5, -3.0, 0.0, 6.0, 17.0, 24.0] {
        let mut g = stage(&GainStagingSettings { input_db: trim, ..plain() });
        let (ol, or) = run(&mut g, &x, &x);
        for o in [&ol, &or] {
            let got = rms_db(o) - rms_db(&x);
            assert!((got - trim).abs() < TRIM_TOL_DB, "trim {trim}: measured {got:.4}");
        }
        assert!((g.applied_gain_db() - trim).abs() < TRIM_TOL_DB);
    }
}

#[test]
fn trim_changes_glide_without_a_step() {
    // From 0 to +12 dB on a DC-free constant-amplitude sine: no sample jumps by the full step.
    let x = sine(100.0, 0.5, 48_000);
    let mut s = plain();
    let mut g = stage(&s);
    let (first, _) = run(&mut g, &x[..24_000], &x[..24_000]);
    s.input_db = 12.0;
    g.set(&s);
    let (second, _) = run(&mut g, &x[24_000..], &x[24_000..]);
    let out: Vec<f64> = first.into_iter().chain(second).collect();
    let max_step = out.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
    // A 100 Hz sine at 0.5 × 4 changes by at most 2 π 100 / 48000 × 2 = 0.026 per sample.
    assert!(max_step < 0.03, "max step {max_step}");
    assert!((g.applied_gain_db() - 12.0).abs() < TRIM_TOL_DB);
}

#[test]
fn polarity_inverts_each_channel_alone() {
    let x = sine(440.0, 0.3, 4_800);
    for (il, ir) in [(true, false), (false, true), (true, true)] {
        let mut g = stage(&GainStagingSettings { invert_left: il, invert_right: ir, ..plain() });
        let (ol, or) = run(&mut g, &x, &x);
        let sign = |inv: bool| if inv { -1.0 } else { 1.0 };
        for (o, inv) in [(&ol, il), (&or, ir)] {
            let err = o.iter().zip(&x).map(|(a, b)| (a - sign(inv) * b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-12, "polarity ({il}, {ir}): error {err}");
        }
    }
}

/// DC residual allowed after the blocker has settled, dB relative to the offset.
const DC_RESIDUAL_DB: f64 = -90.0;
/// 20 Hz must pass within this, dB.
const PASS_20HZ_DB: f64 = 0.1;

#[test]
fn dc_blocker_removes_offset_and_passes_20_hz() {
    let n = 3 * FS as usize;
    let dc = vec![0.5; n];
    let mut g = stage(&GainStagingSettings::default());
    let (ol, _) = run(&mut g, &dc, &dc);
    let last = &ol[n - FS as usize / 2..];
    let residual = last.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let residual_db = 20.0 * (residual / 0.5).log10();
    assert!(residual_db < DC_RESIDUAL_DB, "residual {residual_db:.1} dB");

    let x = sine(20.0, 0.5, n);
    let mut g = stage(&GainStagingSettings::default());
    let (ol, _) = run(&mut g, &x, &x);
    let tail = n - FS as usize; // the last second, a whole number of 20 Hz periods
    let loss = rms_db(&ol[tail..]) - rms_db(&x[tail..]);
    assert!(loss.abs() < PASS_20HZ_DB, "20 Hz changed by {loss:.3} dB");
}

#[test]
fn balance_law_attenuates_only_the_far_side() {
    // gain_left = min(1, 1 - b), gain_right = min(1, 1 + b).
    let x = sine(1000.0, 0.2, 48_000);
    for b in [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.9] {
        let mut g = stage(&GainStagingSettings { balance: b, ..plain() });
        let (ol, or) = run(&mut g, &x, &x);
        for (o, want) in [(&ol, (1.0f64 - b).min(1.0)), (&or, (1.0f64 + b).min(1.0))] {
            let got = o.iter().map(|a| a.abs()).fold(0.0, f64::max) / 0.2;
            assert!((got - want).abs() < 1e-4, "balance {b}: gain {got:.5}, want {want}");
        }
    }
    // ±0.5 is -6.02 dB on the far side.
    let mut g = stage(&GainStagingSettings { balance: 0.5, ..plain() });
    let (ol, _) = run(&mut g, &x, &x);
    assert!((rms_db(&ol) - rms_db(&x) + 6.0206).abs() < TRIM_TOL_DB);
}

// --- auto staging ------------------------------------------------------------------------------

/// Programme-like stereo noise: pink-ish (one-pole tilted) noise with a slow 4 Hz envelope.
fn programme(seed: u64, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut yl, mut yr) = (0.0, 0.0);
    for i in 0..n {
        let env = 0.6 + 0.4 * (2.0 * PI * 4.0 * i as f64 / FS).sin().abs();
        yl = 0.9 * yl + 0.1 * (rng.random::<f64>() - 0.5);
        yr = 0.9 * yr + 0.1 * (rng.random::<f64>() - 0.5);
        l.push(env * yl);
        r.push(env * yr);
    }
    (l, r)
}

fn integrated_lufs(l: &[f64], r: &[f64]) -> f64 {
    let mut m = ebur128::EbuR128::new(2, FS as u32, ebur128::Mode::I).unwrap();
    m.add_frames_planar_f64(&[l, r]).unwrap();
    m.loudness_global().unwrap()
}

fn scaled_to(l: &[f64], r: &[f64], lufs: f64) -> (Vec<f64>, Vec<f64>) {
    let g = 10f64.powf((lufs - integrated_lufs(l, r)) / 20.0);
    (l.iter().map(|v| v * g).collect(), r.iter().map(|v| v * g).collect())
}

/// Seconds of programme; the last `MEASURED_S` are measured after settling.
const AUTO_SECONDS: usize = 24;
const MEASURED_S: usize = 8;
const WORKING_LUFS: f64 = -18.0;
const AUTO_TOL_LU: f64 = 1.0;

#[test]
fn auto_staging_brings_quiet_and_hot_mixes_to_the_working_level() {
    let n = AUTO_SECONDS * FS as usize;
    let (l, r) = programme(11, n);
    let settings = GainStagingSettings { auto_enabled: true, auto_target_lufs: WORKING_LUFS, ..Default::default() };
    for level in [-30.0, -10.0] {
        let (l, r) = scaled_to(&l, &r, level);
        let mut g = stage(&settings);
        let (ol, or) = run(&mut g, &l, &r);
        let tail = n - MEASURED_S * FS as usize;
        let out = integrated_lufs(&ol[tail..], &or[tail..]);
        assert!((out - WORKING_LUFS).abs() < AUTO_TOL_LU, "mix at {level} LUFS ended at {out:.2} LUFS");
        let applied = g.applied_gain_db();
        assert!((applied - (WORKING_LUFS - level)).abs() < AUTO_TOL_LU, "reported {applied:.2} dB");
    }
}

#[test]
fn auto_staging_does_not_pump() {
    // A mix alternating 2 s loud, 2 s 10 dB quieter: the gain may drift but must not follow the
    // 10 dB swings (a slow stager moves it by a fraction of that).
    let n = 20 * FS as usize;
    let (mut l, mut r) = programme(13, n);
    for i in 0..n {
        if (i / (2 * FS as usize)) % 2 == 1 {
            l[i] *= 0.316;
            r[i] *= 0.316;
        }
    }
    let (l, r) = scaled_to(&l, &r, -18.0);
    let settings = GainStagingSettings { auto_enabled: true, auto_target_lufs: WORKING_LUFS, ..Default::default() };
    let mut g = stage(&settings);
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for (i, (cl, cr)) in l.chunks(BLOCK).zip(r.chunks(BLOCK)).enumerate() {
        let (mut a, mut b) = (cl.to_vec(), cr.to_vec());
        g.process(&mut a, &mut b);
        if i * BLOCK > 8 * FS as usize {
            lo = lo.min(g.applied_gain_db());
            hi = hi.max(g.applied_gain_db());
        }
    }
    assert!(hi - lo < 3.0, "gain swung {:.2} dB", hi - lo);
}

/// How far the gain may move when a song stops: the decaying tail in the window's last blocks
/// nudges it by a fraction of a dB, and then it freezes.
const SILENCE_DRIFT_DB: f64 = 0.5;

#[test]
fn silence_does_not_drive_the_gain_up() {
    let n = 10 * FS as usize;
    let settings = GainStagingSettings { auto_enabled: true, auto_target_lufs: WORKING_LUFS, ..Default::default() };
    // Silence from the start: the gain stays at 0 dB.
    let zeros = vec![0.0; n];
    let mut g = stage(&settings);
    run(&mut g, &zeros, &zeros);
    assert!(g.applied_gain_db().abs() < 1e-9, "gain {}", g.applied_gain_db());
    // Programme at -18 (gain near 0 dB), then a long silence: the gain stays where it was.
    let (l, r) = programme(17, n);
    let (l, r) = scaled_to(&l, &r, WORKING_LUFS);
    let mut g = stage(&settings);
    run(&mut g, &l, &r);
    let before = g.applied_gain_db();
    run(&mut g, &zeros, &zeros);
    run(&mut g, &zeros, &zeros);
    let after = g.applied_gain_db();
    assert!(after <= before + SILENCE_DRIFT_DB, "gain rose in silence: {before:.2} -> {after:.2} dB");
}

#[test]
fn huge_input_does_not_wedge_the_detector() {
    let settings = GainStagingSettings { auto_enabled: true, ..Default::default() };
    let mut g = stage(&settings);
    let big = vec![1.0e4; 48_000];
    run(&mut g, &big, &big);
    let (l, r) = programme(19, 8 * FS as usize);
    let (ol, or) = run(&mut g, &l, &r);
    assert!(ol.iter().chain(&or).all(|v| v.is_finite()));
    assert!(g.applied_gain_db().is_finite());
}
