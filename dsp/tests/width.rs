//! Stereo width (stage 6): neutral null, mono at 0 %, mono-bass response, per-band width,
//! mono-safety bounds, meters, robustness.

use lacquer_dsp::stages::width::{Width, WidthSettings};
use lacquer_dsp::Stage;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use realfft::RealFftPlanner;

const BLOCK: usize = 512;
const FS: f64 = 48000.0;

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

fn stage(s: &WidthSettings) -> Width {
    let mut w = Width::default();
    w.set(s);
    w.prepare(FS, BLOCK);
    w.set(s);
    w
}

fn run(w: &mut Width, l: &mut [f64], r: &mut [f64]) {
    for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
        w.process(cl, cr);
    }
}

/// Independent mid and side noise (uniform, scaled), as left/right.
fn mid_side_noise(mid: f64, side: f64, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut l = vec![0.0; n];
    let mut r = vec![0.0; n];
    for i in 0..n {
        let m = mid * rng.random_range(-1.0..1.0);
        let s = side * rng.random_range(-1.0..1.0);
        l[i] = m + s;
        r[i] = m - s;
    }
    (l, r)
}

#[test]
fn width_100_percent_nulls_with_the_input() {
    let (l0, r0) = mid_side_noise(0.5, 0.3, 48000, 1);
    let mut w = stage(&WidthSettings::default());
    let (mut l, mut r) = (l0.clone(), r0.clone());
    run(&mut w, &mut l, &mut r);
    let err = l.iter().zip(&l0).chain(r.iter().zip(&r0)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err == 0.0 || db(err) < -120.0, "residual {} dBFS", db(err));
}

#[test]
fn width_0_percent_is_mono() {
    let (mut l, mut r) = mid_side_noise(0.5, 0.3, 48000, 2);
    let mut w = stage(&WidthSettings { width: 0.0, ..Default::default() });
    run(&mut w, &mut l, &mut r);
    assert!(l.iter().zip(&r).all(|(a, b)| a == b), "width 0 must give L == R");
    assert!(w.correlation() > 0.999, "correlation {}", w.correlation());
}

/// Side-channel magnitude response (dB per bin) from a side impulse.
fn side_response(s: &WidthSettings, len: usize) -> Vec<f64> {
    let mut w = stage(s);
    let mut l = vec![0.0; len];
    let mut r = vec![0.0; len];
    l[0] = 1.0;
    r[0] = -1.0;
    run(&mut w, &mut l, &mut r);
    let mut side: Vec<f64> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a - b)).collect();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(len);
    let mut spec = fft.make_output_vec();
    fft.process(&mut side, &mut spec).unwrap();
    spec.iter().map(|c| db(c.norm())).collect()
}

#[test]
fn mono_bass_at_120_hz_removes_low_side_only() {
    // The safety is off so that only the filter is measured.
    let s = WidthSettings { mono_bass: true, mono_bass_hz: 120.0, safety: false, ..Default::default() };
    let len = 1 << 16;
    let df = FS / len as f64;
    let mag = side_response(&s, len);
    for (k, m) in mag.iter().enumerate().skip(1) {
        let f = k as f64 * df;
        if f <= 80.0 {
            assert!(*m < -40.0, "side at {f:.1} Hz only {m:.1} dB down");
        }
        if (300.0..=20000.0).contains(&f) {
            assert!(m.abs() < 0.1, "side at {f:.0} Hz changed by {m:.3} dB");
        }
    }
    // The mid keeps a flat magnitude (allpass) through the mono-bass path.
    let mut w = stage(&s);
    let mut l = vec![0.0; len];
    let mut r = vec![0.0; len];
    l[0] = 1.0;
    r[0] = 1.0;
    run(&mut w, &mut l, &mut r);
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(len);
    let mut spec = fft.make_output_vec();
    fft.process(&mut l, &mut spec).unwrap();
    let worst = spec[1..].iter().map(|c| db(c.norm()).abs()).fold(0.0, f64::max);
    assert!(worst < 0.01, "mid magnitude deviates {worst} dB");
}

#[test]
fn per_band_width_scales_each_band() {
    let s = WidthSettings {
        band_width: [0.0, 1.0, 2.0],
        band_crossovers_hz: [250.0, 4000.0],
        safety: false,
        ..Default::default()
    };
    let len = 1 << 16;
    let df = FS / len as f64;
    let mag = side_response(&s, len);
    let at = |f: f64| mag[(f / df).round() as usize];
    assert!(at(40.0) < -40.0, "low band side at 40 Hz: {} dB", at(40.0));
    assert!(at(1000.0).abs() < 0.3, "mid band side at 1 kHz: {} dB", at(1000.0));
    assert!((at(16000.0) - db(2.0)).abs() < 0.1, "high band side at 16 kHz: {} dB", at(16000.0));
}

#[test]
fn antiphase_safety_holds_the_bounds_at_200_percent() {
    // Mostly side: side 1.8x the mid (mono loss of the input alone ~5 dB).
    let n = 3 * 48000;
    let tail = n - 48000;
    for (floor, max_loss) in [(0.0, 3.0), (0.3, 6.0), (-0.2, 1.5)] {
        let (mut l, mut r) = mid_side_noise(0.2, 0.36, n, 3);
        let s = WidthSettings {
            width: 2.0,
            safety: true,
            min_correlation: floor,
            max_mono_loss_db: max_loss,
            ..Default::default()
        };
        let mut w = stage(&s);
        run(&mut w, &mut l, &mut r);
        let (mut ll, mut rr, mut lr) = (0.0, 0.0, 0.0);
        for i in tail..n {
            ll += l[i] * l[i];
            rr += r[i] * r[i];
            lr += l[i] * r[i];
        }
        let corr = lr / (ll * rr).sqrt();
        let mono = (ll + rr + 2.0 * lr) / 4.0;
        let stereo = (ll + rr) / 2.0;
        let loss = 10.0 * (stereo / mono).log10();
        assert!(corr > floor - 0.05, "floor {floor}: correlation {corr}");
        assert!(loss < max_loss + 0.3, "bound {max_loss} dB: mono loss {loss} dB");
        // The safety must not do more than needed: one of the bounds is (nearly) reached.
        assert!(corr < floor + 0.1 || loss > max_loss - 0.5, "over-narrowed: corr {corr}, loss {loss}");
        assert!((w.correlation() - corr).abs() < 0.05, "meter {} vs measured {corr}", w.correlation());
    }
}

#[test]
fn meters_read_correlation_and_side_to_mid() {
    // Side 6 dB below mid, uncorrelated: correlation (1 - r)/(1 + r) with r = 1/4.
    let (mut l, mut r) = mid_side_noise(0.4, 0.2, 48000, 4);
    let mut w = stage(&WidthSettings::default());
    run(&mut w, &mut l, &mut r);
    assert!((w.side_to_mid_db() - db(0.5)).abs() < 0.3, "side/mid {} dB", w.side_to_mid_db());
    assert!((w.correlation() - 0.6).abs() < 0.03, "correlation {}", w.correlation());
}

#[test]
fn balance_attenuates_the_opposite_side() {
    let (mut l, mut r) = mid_side_noise(0.4, 0.2, 24000, 5);
    let (l0, r0) = (l.clone(), r.clone());
    let mut w = stage(&WidthSettings { balance: 0.5, ..Default::default() });
    run(&mut w, &mut l, &mut r);
    for i in 0..l.len() {
        assert!((l[i] - 0.5 * l0[i]).abs() < 1e-12 && (r[i] - r0[i]).abs() < 1e-12);
    }
}

#[test]
fn automation_and_absurd_values_stay_finite_and_smooth() {
    let n = 48000;
    let (mut l, mut r) = mid_side_noise(0.3, 0.3, n, 6);
    let mut w = stage(&WidthSettings::default());
    let mut prev = 0.0f64;
    let mut worst_jump = 0.0f64;
    for (k, (cl, cr)) in l.chunks_mut(64).zip(r.chunks_mut(64)).enumerate() {
        let s = WidthSettings {
            width: [0.0, 2.0, f64::NAN, 1.0, 9.0][k % 5],
            mono_bass: k % 3 == 0,
            mono_bass_hz: [10.0, f64::INFINITY, 200.0][k % 3],
            band_width: [[1.0; 3], [0.0, 2.0, -4.0], [f64::NAN, 1.0, 1.0]][k % 3],
            band_crossovers_hz: [[4000.0, 250.0], [f64::NAN, 1e9]][k % 2],
            balance: [0.0, 3.0, -0.5][k % 3],
            safety: k % 2 == 0,
            min_correlation: [f64::NAN, 5.0, -5.0][k % 3],
            max_mono_loss_db: [f64::NEG_INFINITY, 100.0, 3.0][k % 3],
        };
        w.set(&s);
        w.process(cl, cr);
        assert!(cl.iter().chain(cr.iter()).all(|v| v.is_finite()));
        for &v in cl.iter() {
            worst_jump = worst_jump.max((v - prev).abs());
            prev = v;
        }
    }
    assert!(w.correlation().is_finite() && w.side_to_mid_db().is_finite());
    // Inputs are within +-0.6 per sample step: no settings change may add a step much larger.
    assert!(worst_jump < 2.5, "largest sample step {worst_jump}");
}
