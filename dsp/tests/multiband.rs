//! Multiband compression (stage 3): crossover flatness, static curve, time constants, solo,
//! mid/side operation, robustness.

use lacquer_dsp::stages::multiband::{CompBand, Detector, Multiband, MultibandSettings, StereoMode, MAX_BANDS};
use lacquer_dsp::Stage;
use realfft::RealFftPlanner;
use std::f64::consts::PI;

const BLOCK: usize = 512;

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

fn sine(freq: f64, amp: f64, fs: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| amp * (2.0 * PI * freq * i as f64 / fs).sin()).collect()
}

fn stage(fs: f64, s: &MultibandSettings) -> Multiband {
    let mut m = Multiband::default();
    m.set(s);
    m.prepare(fs, BLOCK);
    m.set(s);
    m
}

/// Run `l`, `r` through the stage in blocks of `block`.
fn run(m: &mut Multiband, l: &mut [f64], r: &mut [f64], block: usize) {
    for (cl, cr) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        m.process(cl, cr);
    }
}

/// All bands at unity: bypassed, or threshold above any signal with no makeup.
fn unity(bands: usize, crossovers: [f64; 3], bypass: bool) -> MultibandSettings {
    let band = if bypass {
        CompBand { bypass: true, ..Default::default() }
    } else {
        CompBand { threshold_db: 24.0, makeup_db: 0.0, ..Default::default() }
    };
    MultibandSettings { bands, crossovers_hz: crossovers, band: [band; MAX_BANDS], ..Default::default() }
}

/// Magnitude response (dB) of the stage's left channel from an impulse, with bin spacing.
fn response_db(fs: f64, s: &MultibandSettings, len: usize) -> (Vec<f64>, f64) {
    let mut m = stage(fs, s);
    let mut l = vec![0.0; len];
    let mut r = vec![0.0; len];
    l[0] = 1.0;
    r[0] = 1.0;
    run(&mut m, &mut l, &mut r, BLOCK);
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(len);
    let mut spec = fft.make_output_vec();
    fft.process(&mut l, &mut spec).unwrap();
    (spec.iter().map(|c| db(c.norm())).collect(), fs / len as f64)
}

#[test]
fn bands_at_unity_sum_flat_within_0_01_db() {
    let crossover_sets = [[120.0, 2500.0, 8000.0], [40.0, 400.0, 15000.0], [250.0, 320.0, 410.0]];
    for fs in [44100.0, 48000.0, 96000.0] {
        for bands in 2..=4 {
            for xo in crossover_sets {
                for bypass in [true, false] {
                    let (mag, df) = response_db(fs, &unity(bands, xo, bypass), 1 << 17);
                    let mut worst: f64 = 0.0;
                    for (k, m) in mag.iter().enumerate() {
                        let f = k as f64 * df;
                        if (20.0..=20000.0).contains(&f) {
                            worst = worst.max(m.abs());
                        }
                    }
                    assert!(worst < 0.01, "fs {fs} bands {bands} xo {xo:?} bypass {bypass}: deviation {worst} dB");
                }
            }
        }
    }
}

#[test]
fn solo_isolates_a_band_and_the_solos_sum_to_the_whole() {
    let fs = 48000.0;
    let xo = [200.0, 2000.0, 8000.0];
    let n = 48000;
    // A three-tone signal: one tone in each band.
    let mut x = vec![0.0; n];
    for (f, a) in [(50.0, 0.3), (600.0, 0.3), (10000.0, 0.3)] {
        for (v, s) in x.iter_mut().zip(sine(f, a, fs, n)) {
            *v += s;
        }
    }
    let mut whole = x.clone();
    let mut whole_r = x.clone();
    run(&mut stage(fs, &unity(3, xo, false)), &mut whole, &mut whole_r, BLOCK);

    let mut sum = vec![0.0; n];
    for b in 0..3 {
        let mut s = unity(3, xo, false);
        s.band[b].solo = true;
        let mut l = x.clone();
        let mut r = x.clone();
        run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
        for (a, v) in sum.iter_mut().zip(&l) {
            *a += v;
        }
    }
    let err = sum.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-12, "solo outputs do not sum to the whole: {err}");

    // Solo the mid band: tones outside it are strongly attenuated, the one inside passes.
    let mut s = unity(3, xo, false);
    s.band[1].solo = true;
    for (f, expect_pass) in [(50.0, false), (600.0, true), (10000.0, false)] {
        let mut l = sine(f, 0.5, fs, n);
        let mut r = l.clone();
        run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
        let gain = db(rms(&l[n / 2..]) / (0.5 / 2f64.sqrt()));
        if expect_pass {
            assert!(gain.abs() < 0.5, "{f} Hz in the soloed band: {gain} dB");
        } else {
            assert!(gain < -40.0, "{f} Hz outside the soloed band: {gain} dB");
        }
    }
}

/// The static curve the stage must follow: reduction in dB for a level `x` (dB).
fn expected_reduction(x: f64, t: f64, ratio: f64, knee: f64) -> f64 {
    if x <= t - knee / 2.0 {
        0.0
    } else if x >= t + knee / 2.0 {
        (x - t) * (1.0 - 1.0 / ratio)
    } else {
        (1.0 - 1.0 / ratio) * (x - t + knee / 2.0).powi(2) / (2.0 * knee)
    }
}

/// Two bands split at 200 Hz; the high band compresses a 2 kHz tone.
fn one_band_comp(band: CompBand, detector: Detector) -> MultibandSettings {
    let mut s = unity(2, [200.0, 2500.0, 8000.0], false);
    s.band[1] = band;
    s.detector = detector;
    s
}

#[test]
fn static_curve_within_0_2_db() {
    let fs = 48000.0;
    let n = 24000;
    let (t, ratio, knee) = (-20.0, 4.0, 8.0);
    let band =
        CompBand { threshold_db: t, ratio, knee_db: knee, attack_ms: 2.0, release_ms: 50.0, ..Default::default() };
    for detector in [Detector::Peak, Detector::Rms] {
        // Peak levels, including five inside the knee (-24 .. -16).
        for peak_db in [-40.0, -25.0, -23.0, -21.0, -20.0, -18.5, -17.0, -12.0, -6.0, 0.0] {
            let amp = 10f64.powf(peak_db / 20.0);
            let mut l = sine(2000.0, amp, fs, n);
            let mut r = l.clone();
            let mut m = stage(fs, &one_band_comp(band, detector));
            run(&mut m, &mut l, &mut r, BLOCK);
            // 0.1 s = 200 whole periods.
            let measured = -db(rms(&l[n - 4800..]) / (amp / 2f64.sqrt()));
            let level = match detector {
                Detector::Peak => peak_db,
                Detector::Rms => peak_db - 10.0 * 2f64.log10(),
            };
            let expected = expected_reduction(level, t, ratio, knee);
            assert!(
                (measured - expected).abs() < 0.2,
                "{detector:?} at {peak_db} dBFS: reduction {measured} dB, curve {expected} dB"
            );
            let meter = m.gain_reduction_db()[1];
            assert!((meter - measured).abs() < 0.2, "meter {meter} vs audio {measured}");
        }
    }
}

/// Measure attack and release time constants: the time the gain reduction (dB, read every
/// 16 samples) takes to cover 1 - 1/e of a step.
fn time_constants(attack_ms: f64, release_ms: f64) -> (f64, f64) {
    let fs = 48000.0;
    let step = 16;
    let band = CompBand { threshold_db: -20.0, ratio: 4.0, knee_db: 0.0, attack_ms, release_ms, ..Default::default() };
    let mut m = stage(fs, &one_band_comp(band, Detector::Peak));
    let quiet = 10f64.powf(-40.0 / 20.0);
    let loud = 10f64.powf(-8.0 / 20.0);
    let seg = |secs: f64| (secs * fs) as usize;
    let (n0, n1, n2) = (seg(0.3), seg(0.3 + 10.0 * attack_ms * 1e-3 + 0.2), seg(10.0 * release_ms * 1e-3 + 0.2));
    let total = n0 + n1 + n2;
    let mut x: Vec<f64> = (0..total)
        .map(|i| {
            let a = if i >= n0 && i < n0 + n1 { loud } else { quiet };
            a * (2.0 * PI * 2000.0 * i as f64 / fs).sin()
        })
        .collect();
    let mut y = x.clone();
    let mut gr = Vec::with_capacity(total / step);
    for (cl, cr) in x.chunks_mut(step).zip(y.chunks_mut(step)) {
        m.process(cl, cr);
        gr.push(m.gain_reduction_db()[1]);
    }
    let final_gr = gr[(n0 + n1) / step - 1];
    assert!((final_gr - 9.0).abs() < 0.1, "settled reduction {final_gr} dB, expected 9");
    let target = (1.0 - (-1f64).exp()) * final_gr;
    let attack_idx = (n0 / step..).find(|&k| gr[k] >= target).unwrap();
    let release_idx = ((n0 + n1) / step..).find(|&k| gr[k] <= final_gr - target).unwrap();
    // The level changes at the start of chunk n0/step; the reading after chunk k is at
    // (k + 1) * step samples.
    let to_ms = |k: usize, start: usize| ((k + 1) * step - start) as f64 / fs * 1e3;
    (to_ms(attack_idx, n0), to_ms(release_idx, n0 + n1))
}

#[test]
fn attack_and_release_time_constants_within_10_percent() {
    for (attack, release) in [(10.0, 150.0), (30.0, 400.0), (5.0, 100.0)] {
        let (a, r) = time_constants(attack, release);
        assert!((a / attack - 1.0).abs() < 0.1, "attack {attack} ms measured {a} ms");
        assert!((r / release - 1.0).abs() < 0.1, "release {release} ms measured {r} ms");
    }
}

#[test]
fn mid_side_mode_compresses_only_the_loud_side() {
    let fs = 48000.0;
    let n = 48000;
    let band = CompBand {
        threshold_db: -30.0,
        ratio: 4.0,
        knee_db: 0.0,
        attack_ms: 5.0,
        release_ms: 50.0,
        ..Default::default()
    };
    let mut s = unity(2, [200.0, 2500.0, 8000.0], false);
    s.band[1] = band;
    s.mode = StereoMode::MidSide;
    s.stereo_link = 0.0;
    let mid = sine(1000.0, 10f64.powf(-50.0 / 20.0), fs, n);
    let side = sine(3000.0, 10f64.powf(-10.0 / 20.0), fs, n);
    let mut l: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m + s).collect();
    let mut r: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m - s).collect();
    run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
    let tail = n / 2..n;
    let out_mid: Vec<f64> = tail.clone().map(|i| 0.5 * (l[i] + r[i])).collect();
    let out_side: Vec<f64> = tail.clone().map(|i| 0.5 * (l[i] - r[i])).collect();
    let mid_gain = db(rms(&out_mid) / rms(&mid[tail.clone()]));
    let side_gain = db(rms(&out_side) / rms(&side[tail]));
    assert!(mid_gain.abs() < 0.05, "quiet mid changed by {mid_gain} dB");
    let expected = -expected_reduction(-10.0, -30.0, 4.0, 0.0);
    assert!((side_gain - expected).abs() < 0.2, "side gain {side_gain} dB, expected {expected}");

    // The same signal in stereo mode, linked: both channels carry the loud tone, so the
    // quiet mid is compressed along with it.
    s.mode = StereoMode::Stereo;
    s.stereo_link = 1.0;
    let mut l: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m + s).collect();
    let mut r: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m - s).collect();
    run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
    let out_mid: Vec<f64> = (n / 2..n).map(|i| 0.5 * (l[i] + r[i])).collect();
    let mid_gain = db(rms(&out_mid) / rms(&mid[n / 2..]));
    assert!(mid_gain < -10.0, "stereo mode should compress the mid too: {mid_gain} dB");
}

#[test]
fn stereo_link_amount() {
    let fs = 48000.0;
    let n = 24000;
    let band = CompBand {
        threshold_db: -30.0,
        ratio: 4.0,
        knee_db: 0.0,
        attack_ms: 2.0,
        release_ms: 50.0,
        ..Default::default()
    };
    // Loud left (-10 dBFS), quiet right (-40): with link 0 the right is untouched, with link 1
    // it takes the left's reduction.
    for (link, expected_right) in [(0.0, 0.0), (1.0, -expected_reduction(-10.0, -30.0, 4.0, 0.0))] {
        let mut s = one_band_comp(band, Detector::Peak);
        s.stereo_link = link;
        let mut l = sine(2000.0, 10f64.powf(-10.0 / 20.0), fs, n);
        let mut r = sine(2000.0, 10f64.powf(-40.0 / 20.0), fs, n);
        run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
        let right_gain = db(rms(&r[n / 2..]) / (10f64.powf(-40.0 / 20.0) / 2f64.sqrt()));
        assert!((right_gain - expected_right).abs() < 0.2, "link {link}: right gain {right_gain} dB");
    }
}

#[test]
fn makeup_and_auto_makeup() {
    let fs = 48000.0;
    let n = 24000;
    let (t, ratio, knee) = (-24.0, 3.0, 6.0);
    let band = CompBand {
        threshold_db: t,
        ratio,
        knee_db: knee,
        makeup_db: 2.0,
        attack_ms: 2.0,
        release_ms: 50.0,
        ..Default::default()
    };
    for auto in [false, true] {
        let mut s = one_band_comp(band, Detector::Peak);
        s.auto_makeup = auto;
        // A tone at the auto-makeup reference level (-12 dBFS peak).
        let amp = 10f64.powf(-12.0 / 20.0);
        let mut l = sine(2000.0, amp, fs, n);
        let mut r = l.clone();
        run(&mut stage(fs, &s), &mut l, &mut r, BLOCK);
        let gain = db(rms(&l[n / 2..]) / (amp / 2f64.sqrt()));
        // Auto makeup restores the reduction at the reference level; the manual 2 dB adds.
        let expected = 2.0 - if auto { 0.0 } else { expected_reduction(-12.0, t, ratio, knee) };
        assert!((gain - expected).abs() < 0.2, "auto {auto}: gain {gain} dB, expected {expected}");
    }
}

#[test]
fn crossover_sweep_keeps_a_tone_at_level() {
    // All bands at unity: sweeping the crossovers across a tone keeps the network an allpass,
    // so the tone's envelope must not jump (no clicks, no dips).
    let fs = 48000.0;
    let mut s = unity(3, [200.0, 2000.0, 8000.0], false);
    let mut m = stage(fs, &s);
    let n = 4 * 48000;
    let mut l = sine(1000.0, 0.5, fs, n);
    let mut r = l.clone();
    for (k, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
        // Every 0.2 s, throw the split points somewhere else across the tone.
        let phase = (k * BLOCK) / 9600 % 3;
        s.crossovers_hz = [[200.0, 2000.0, 8000.0], [900.0, 1100.0, 5000.0], [60.0, 3000.0, 12000.0]][phase];
        m.set(&s);
        m.process(cl, cr);
    }
    // Peak of every 10 ms window after the first 0.1 s. (A moving allpass modulates the
    // tone's phase, hence a little amplitude wobble: well under a click.)
    for w in l[4800..].chunks(480) {
        let peak = w.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let dev = db(peak / 0.5);
        assert!(dev.abs() < 0.5, "envelope deviates {dev} dB while sweeping");
    }
}

#[test]
fn absurd_settings_and_huge_input_stay_finite() {
    let fs = 44100.0;
    let mut s = MultibandSettings::default();
    let mut m = stage(fs, &s);
    let mut rng_state = 1u64;
    let mut noise = || {
        rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng_state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    for k in 0..400 {
        s.bands = [0, 1, 2, 3, 4, 9][k % 6];
        s.crossovers_hz = [[f64::NAN, 1e9, -5.0], [5000.0, 100.0, 100.0], [30.0, 30.0, 30.0]][k % 3];
        s.band[k % MAX_BANDS] = CompBand {
            threshold_db: [f64::NEG_INFINITY, -200.0, 50.0][k % 3],
            ratio: [0.0, f64::INFINITY, 1e9][k % 3],
            attack_ms: [0.0, f64::NAN, 1e12][k % 3],
            release_ms: [-1.0, 0.0, f64::INFINITY][k % 3],
            knee_db: [f64::NAN, -3.0, 1e6][k % 3],
            makeup_db: [1e9, f64::NAN, -1e9][k % 3],
            solo: k % 5 == 0,
            bypass: k % 7 == 0,
        };
        s.stereo_link = [f64::NAN, -3.0, 7.0][k % 3];
        s.detector = if k % 2 == 0 { Detector::Peak } else { Detector::Rms };
        s.mode = if k % 4 < 2 { StereoMode::Stereo } else { StereoMode::MidSide };
        m.set(&s);
        let big = if k % 10 == 0 { 1e300 } else { 1.0 };
        let mut l: Vec<f64> = (0..BLOCK).map(|_| noise() * big).collect();
        let mut r: Vec<f64> = (0..BLOCK).map(|_| noise()).collect();
        if k % 13 == 0 {
            l[3] = f64::NAN;
            r[7] = f64::INFINITY;
        }
        m.process(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()), "non-finite output at block {k}");
        assert!(m.gain_reduction_db().iter().all(|g| g.is_finite() && *g >= 0.0));
        assert!((2..=MAX_BANDS).contains(&m.active_bands()));
    }
    // Back to sane settings and input: the stage recovers to unity behaviour.
    let s = unity(3, [120.0, 2500.0, 8000.0], false);
    m.set(&s);
    // The worst band was left at ~176 dB of reduction with a 150 ms release: give it 3 s.
    let n = 3 * 44100;
    let mut l = sine(1000.0, 0.5, fs, n);
    let mut r = l.clone();
    run(&mut m, &mut l, &mut r, BLOCK);
    let gain = db(rms(&l[n - 22050..]) / (0.5 / 2f64.sqrt()));
    assert!(gain.abs() < 0.01, "after recovery the stage is not unity: {gain} dB");
}

/// The stage runs its control path a host block at a time (all chunks' detectors, then all
/// envelopes, ...). Blocks that are whole numbers of control chunks (16 samples at 48 kHz)
/// must give the same output to the bit as blocks of one chunk, through a band's bypass and
/// its return right after it has gone idle, and through all bands' bypass and return, for
/// both detectors.
#[test]
fn output_does_not_depend_on_how_many_chunks_a_block_holds() {
    let fs = 48000.0;
    let chunk = 16;
    let n = 48 * 1024;
    let mut l = sine(60.0, 0.5, fs, n);
    let mut r = sine(3000.0, 0.3, fs, n);
    let mut state = 7u64;
    for (a, b) in l.iter_mut().zip(&mut r) {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        *a += 0.3 * noise;
        *b -= 0.2 * noise;
    }
    // Band 1 bypassed at `off`, back 512 samples later: its 10 ms fade ends inside that block.
    let (off, on) = (94 * BLOCK, 95 * BLOCK);
    for (detector, all) in [(Detector::Peak, false), (Detector::Rms, false), (Detector::Peak, true)] {
        let band = CompBand { threshold_db: -30.0, ratio: 4.0, attack_ms: 2.0, release_ms: 80.0, ..Default::default() };
        let busy = MultibandSettings { bands: 3, band: [band; MAX_BANDS], detector, ..Default::default() };
        let mut bypassed = busy.clone();
        for b in if all { 0..MAX_BANDS } else { 1..2 } {
            bypassed.band[b].bypass = true;
        }
        // All bands: bypassed for long enough that every band has gone idle.
        let (off, on) = if all { (off, on + 8 * BLOCK) } else { (off, on) };
        let mut outputs = Vec::new();
        for block in [BLOCK, chunk] {
            let mut m = stage(fs, &busy);
            let (mut a, mut b) = (l.clone(), r.clone());
            let mut start = 0;
            for (cl, cr) in a.chunks_mut(block).zip(b.chunks_mut(block)) {
                m.set(if (off..on).contains(&start) { &bypassed } else { &busy });
                m.process(cl, cr);
                start += block;
            }
            outputs.push((a, b));
        }
        let ((a0, b0), (a1, b1)) = (&outputs[0], &outputs[1]);
        for i in 0..n {
            assert!(a0[i] == a1[i] && b0[i] == b1[i], "{detector:?} (all bands: {all}): sample {i} differs");
        }
    }
}
