//! Stage 5, saturation (issue 5): no aliasing, exact nulls, loudness-matched, the characters'
//! harmonic signatures, DC removal.

use ebur128::{EbuR128, Mode};
use lacquer_dsp::stages::saturation::{Character, Oversampling, Saturation, SaturationSettings};
use lacquer_dsp::Stage;
use lacquer_testkit::signals;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use realfft::RealFftPlanner;
use std::f64::consts::PI;

const FS: f64 = 48000.0;
const BLOCK: usize = 512;
const CHARACTERS: [Character; 3] = [Character::Tape, Character::Tube, Character::SoftClip];

fn stage(settings: &SaturationSettings) -> Saturation {
    let mut s = Saturation::default();
    s.set(settings);
    s.prepare(FS, BLOCK);
    s
}

/// Process a mono signal as identical left and right; return the left output.
fn run(s: &mut Saturation, x: &[f64]) -> Vec<f64> {
    let mut l = x.to_vec();
    let mut r = x.to_vec();
    for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
        s.process(cl, cr);
    }
    l
}

fn sine(freq: f64, amplitude_db: f64, len: usize) -> Vec<f64> {
    let a = 10f64.powf(amplitude_db / 20.0);
    (0..len).map(|n| a * (2.0 * PI * freq * n as f64 / FS).sin()).collect()
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Magnitude spectrum (linear) of `x` with a 4-term Blackman-Harris window (sidelobes
/// -92 dB).
fn spectrum(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut windowed: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = 2.0 * PI * i as f64 / n as f64;
            v * (0.35875 - 0.48829 * t.cos() + 0.14128 * (2.0 * t).cos() - 0.01168 * (3.0 * t).cos())
        })
        .collect();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut out = fft.make_output_vec();
    fft.process(&mut windowed, &mut out).unwrap();
    out.iter().map(|c| c.norm()).collect()
}

/// Half-width of the Blackman-Harris main lobe, in bins.
const MAIN_LOBE: usize = 4;
/// Analysis length: 9 kHz and its harmonics fall exactly on bins at 48 kHz.
const FFT_LEN: usize = 1 << 15;

#[test]
fn hard_driven_9k_sine_has_no_alias_within_70_db() {
    for character in CHARACTERS {
        let settings = SaturationSettings {
            character,
            drive_db: 12.0,
            oversampling: Oversampling::X4,
            auto_gain: false,
            ..Default::default()
        };
        let mut s = stage(&settings);
        let x = sine(9000.0, -6.0, FFT_LEN + 8192);
        let y = run(&mut s, &x);
        let mag = spectrum(&y[8192..]);
        let bin = |f: f64| (f * FFT_LEN as f64 / FS).round() as usize;
        let fundamental = mag[bin(9000.0)];
        // Harmonics below Nyquist: 9 and 18 kHz; DC (the tube's blocker settling) likewise
        // excluded with its main lobe.
        let harmonic_bins = [0, bin(9000.0), bin(18000.0)];
        let mut worst = f64::NEG_INFINITY;
        let mut worst_bin = 0;
        for (k, &m) in mag.iter().enumerate() {
            if harmonic_bins.iter().any(|&h| k.abs_diff(h) <= MAIN_LOBE) {
                continue;
            }
            let rel = db(m / fundamental);
            if rel > worst {
                worst = rel;
                worst_bin = k;
            }
        }
        let freq = worst_bin as f64 * FS / FFT_LEN as f64;
        println!("{character:?}: worst non-harmonic {worst:.1} dB at {freq:.0} Hz");
        assert!(worst < -70.0, "{character:?}: component at {freq:.0} Hz is {worst:.1} dB");
    }
}

/// Peak level of the test signals (about -1 dBFS).
const TEST_PEAK: f64 = 0.9;

/// Programme-like test signal (testkit's: pink-ish noise with a drum-like envelope), peaks at
/// [`TEST_PEAK`].
fn programme(len: usize, seed: u64) -> Vec<f64> {
    let x = signals::programme(len, FS, &mut SmallRng::seed_from_u64(seed));
    x.into_iter().map(|v| v * TEST_PEAK).collect()
}

/// Pink-ish noise without envelope (testkit's), peaks at [`TEST_PEAK`].
fn pink(len: usize, seed: u64) -> Vec<f64> {
    let x = signals::pink(len, &mut SmallRng::seed_from_u64(seed));
    x.into_iter().map(|v| v * TEST_PEAK).collect()
}

#[test]
fn zero_drive_and_zero_mix_null_against_the_delayed_input() {
    let x = programme(FS as usize, 3);
    for oversampling in [Oversampling::X2, Oversampling::X4] {
        for character in CHARACTERS {
            for (drive_db, mix) in [(0.0, 1.0), (18.0, 0.0)] {
                let settings = SaturationSettings { character, drive_db, mix, oversampling, ..Default::default() };
                let mut s = stage(&settings);
                let latency = s.latency();
                assert!(latency <= s.max_latency());
                let y = run(&mut s, &x);
                let worst = (latency..x.len()).map(|n| (y[n] - x[n - latency]).abs()).fold(0.0f64, f64::max);
                assert!(
                    worst == 0.0 || db(worst) < -100.0,
                    "{oversampling:?} {character:?} drive {drive_db} mix {mix}: residual {:.1} dBFS",
                    db(worst)
                );
            }
        }
    }
}

#[test]
fn latency_is_constant_per_oversampling_factor() {
    let mut s = stage(&SaturationSettings::default());
    let x4 = s.latency();
    s.set(&SaturationSettings { drive_db: 12.0, mix: 0.5, character: Character::Tube, ..Default::default() });
    assert_eq!(s.latency(), x4);
    s.set(&SaturationSettings { oversampling: Oversampling::X2, ..Default::default() });
    let x2 = s.latency();
    assert!(x2 > 0 && x2 <= x4 && x4 <= s.max_latency(), "x2 {x2}, x4 {x4}");
}

fn integrated_lufs(x: &[f64]) -> f64 {
    let mut meter = EbuR128::new(2, FS as u32, Mode::I).unwrap();
    let frames: Vec<f64> = x.iter().flat_map(|&v| [v, v]).collect();
    meter.add_frames_f64(&frames).unwrap();
    meter.loudness_global().unwrap()
}

#[test]
fn auto_gain_keeps_loudness_within_1_lu_at_moderate_drive() {
    let len = 10 * FS as usize;
    for (name, x) in [("pink noise", pink(len, 7)), ("programme", programme(len, 8))] {
        let dry = integrated_lufs(&x);
        for character in CHARACTERS {
            let settings = SaturationSettings { character, drive_db: 9.0, ..Default::default() };
            let mut s = stage(&settings);
            let y = run(&mut s, &x);
            let wet = integrated_lufs(&y);
            println!("{name}, {character:?}: {wet:.2} LUFS, dry {dry:.2}");
            assert!((wet - dry).abs() < 1.0, "{name}, {character:?}: {wet:.2} LUFS against {dry:.2} dry");
        }
    }
}

/// Level of harmonic `k` of 1 kHz relative to the fundamental, dB.
fn harmonics(character: Character) -> Vec<f64> {
    let settings = SaturationSettings { character, drive_db: 12.0, auto_gain: false, ..Default::default() };
    let mut s = stage(&settings);
    // 1 kHz = bin 1024 / 1.5 is not whole at 2^15; use 750 Hz (bin 512).
    let f = 750.0;
    let y = run(&mut s, &sine(f, -6.0, FFT_LEN + 8192));
    let mag = spectrum(&y[8192..]);
    let bin = (f * FFT_LEN as f64 / FS).round() as usize;
    let h: Vec<f64> = (1..=5).map(|k| db(mag[k * bin] / mag[bin])).collect();
    println!("{character:?}: harmonics {h:.1?} dB");
    h
}

#[test]
fn each_character_has_its_harmonic_signature() {
    // Tube: asymmetric, a strong second harmonic.
    let tube = harmonics(Character::Tube);
    assert!(tube[1] > -30.0, "tube H2 {:.1} dB", tube[1]);
    // Tape and soft clip: symmetric, odd harmonics dominate, no even ones.
    for character in [Character::Tape, Character::SoftClip] {
        let h = harmonics(character);
        assert!(h[2] > -40.0, "{character:?} H3 {:.1} dB", h[2]);
        assert!(h[1] < -100.0 && h[3] < -100.0, "{character:?} H2 {:.1}, H4 {:.1} dB", h[1], h[3]);
    }
}

#[test]
fn tube_output_has_no_dc() {
    let settings =
        SaturationSettings { character: Character::Tube, drive_db: 18.0, auto_gain: false, ..Default::default() };
    let mut s = stage(&settings);
    let len = 3 * FS as usize;
    let y = run(&mut s, &sine(1000.0, -3.0, len));
    // Mean over the last second (a whole number of cycles).
    let tail = &y[len - FS as usize..];
    let dc = tail.iter().sum::<f64>() / tail.len() as f64;
    println!("tube DC {:.1} dB", db(dc.abs()));
    assert!(db(dc.abs()) < -80.0, "DC {:.1} dB", db(dc.abs()));
}

#[test]
fn settings_changes_are_smooth_and_finite() {
    // Character, drive and mix automated every block: no sample jumps more than a steady
    // 200 Hz sine can (no click), nothing non-finite.
    let x = sine(200.0, -6.0, FS as usize);
    let mut s = stage(&SaturationSettings { drive_db: 6.0, ..Default::default() });
    let mut l = x.clone();
    let mut r = x.clone();
    for (b, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
        s.set(&SaturationSettings {
            character: CHARACTERS[(b / 7) % 3],
            drive_db: 6.0 + 6.0 * ((b % 11) as f64 / 10.0),
            mix: 0.5 + 0.5 * ((b % 5) as f64 / 4.0),
            ..Default::default()
        });
        s.process(cl, cr);
    }
    assert!(l.iter().all(|v| v.is_finite()));
    let max_step = 2.0 * PI * 200.0 / FS * 10f64.powf(-6.0 / 20.0) * 4.0;
    let worst = l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f64, f64::max);
    println!("largest step {worst:.4}, allowed {max_step:.4}");
    assert!(worst < max_step, "largest step {worst:.4} (allowed {max_step:.4})");
}

#[test]
fn output_does_not_depend_on_the_block_sizes() {
    // Same signal, same settings, cut into blocks of 512 and into irregular blocks: the
    // control-rate auto gain, the dry delay and the chunking must not care (only the FIR's
    // summation order may differ in the last bits for partial runs).
    let x = programme(FS as usize, 11);
    let sizes = [1, 7, 64, 100, 333, 16, 512, 15, 17, 63, 65, 250];
    for oversampling in [Oversampling::X2, Oversampling::X4] {
        for character in CHARACTERS {
            let settings = SaturationSettings { character, drive_db: 15.0, oversampling, ..Default::default() };
            let reference = run(&mut stage(&settings), &x);
            let mut s = stage(&settings);
            let mut l = x.clone();
            let mut r = x.clone();
            let mut start = 0;
            for &size in sizes.iter().cycle() {
                if start == x.len() {
                    break;
                }
                let end = (start + size).min(x.len());
                s.process(&mut l[start..end], &mut r[start..end]);
                start = end;
            }
            let worst = reference.iter().zip(&l).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
            println!("{oversampling:?} {character:?}: worst {:.1} dBFS", db(worst));
            assert!(
                worst == 0.0 || db(worst) < -120.0,
                "{oversampling:?} {character:?}: blocks change the output by {:.1} dBFS",
                db(worst)
            );
        }
    }
}
