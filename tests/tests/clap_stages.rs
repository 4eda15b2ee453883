//! Every stage's parameters drive the real DSP, through the built bundle in a CLAP host
//! (issues 3, 4 and 5: "the plugin's params drive the real stages"). Each test sets a stage's
//! parameters by their text, as a user types them, renders steady tones at 48 kHz and
//! measures what came out against what the setting promises.

use lacquer_host_tests::{Blocks, Instance};
use lacquer_testkit::db;
use lacquer_testkit::signals::{programme, sine};
use lacquer_testkit::true_peak::true_peak_db;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::f64::consts::PI;

const FS: f64 = 48_000.0;
/// Length of each rendered tone, seconds: long enough for every smoother and every
/// compressor to settle before the measured window.
const TONE_S: f64 = 1.5;
/// The measured window: the last half second of the tone (as it comes out, after latency).
const WINDOW_S: f64 = 0.5;

/// A plugin with `settings` (parameter name, value text) applied.
fn plugin_with(settings: &[(&str, &str)]) -> Instance {
    let mut plugin = Instance::new();
    let changes: Vec<(u32, f64)> = settings
        .iter()
        .map(|&(name, text)| {
            let id = plugin.id(name);
            let value = plugin.parse(id, text).unwrap_or_else(|| panic!("{name}: {text:?} does not parse"));
            (id, value)
        })
        .collect();
    plugin.set(&changes);
    plugin
}

/// Amplitude of the component at `freq` in `x` (a single-bin DFT over whole periods: the
/// window holds an integer number of cycles of every tone used here).
fn tone_amplitude(x: &[f64], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &v) in x.iter().enumerate() {
        let phase = 2.0 * PI * freq * n as f64 / FS;
        re += v * phase.cos();
        im -= v * phase.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

/// Render `left`/`right` through `plugin` and return the output's measured window, per channel
/// (aligned with the input's last [`WINDOW_S`] seconds).
fn render_window(plugin: &mut Instance, left: &[f64], right: &[f64]) -> [Vec<f64>; 2] {
    let latency = plugin.latency_at(FS, 512) as usize;
    let input: Vec<Vec<f32>> = [left, right]
        .iter()
        .map(|x| x.iter().map(|&v| v as f32).chain(std::iter::repeat_n(0.0, latency)).collect())
        .collect();
    let render = plugin.render(FS, &input, Blocks::Fixed(512), &[]);
    assert_eq!(render.latency as usize, latency);
    let end = left.len() + latency;
    let start = end - (WINDOW_S * FS) as usize;
    [0, 1].map(|c| render.output[c][start..end].iter().map(|&v| f64::from(v)).collect())
}

/// Gain in dB that `plugin` applies to a tone at `freq` of peak `amplitude`, in both channels
/// (stereo: the same tone on left and right, i.e. pure mid).
fn tone_gain_db(plugin: &mut Instance, freq: f64, amplitude: f64) -> [f64; 2] {
    let x = sine((TONE_S * FS) as usize, freq, FS, amplitude);
    let out = render_window(plugin, &x, &x);
    out.map(|y| db(tone_amplitude(&y, freq) / amplitude))
}

fn assert_near(what: &str, measured: f64, expected: f64, tolerance: f64) {
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured:.3} dB, expected {expected:.3} ± {tolerance} dB"
    );
}

/// -30 dBFS: far below every threshold and the limiter's ceiling, so only the stage under
/// test changes the level.
const QUIET: f64 = 0.031_622_776_6;

#[test]
fn factory_chain_is_transparent_to_a_quiet_tone() {
    let mut plugin = Instance::new();
    for freq in [100.0, 1000.0, 12_000.0] {
        for g in tone_gain_db(&mut plugin, freq, QUIET) {
            assert_near(&format!("factory chain at {freq} Hz"), g, 0.0, 0.01);
        }
    }
}

#[test]
fn input_trim_and_output_trim_move_the_level_by_their_setting() {
    let mut plugin = plugin_with(&[("Input Trim", "6 dB")]);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("input trim +6 dB", g, 6.0, 0.01);
    }
    let mut plugin = plugin_with(&[("Output Trim", "-6 dB")]);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("output trim -6 dB", g, -6.0, 0.01);
    }
}

#[test]
fn corrective_bell_and_high_pass_shape_the_response() {
    let bell = [
        ("Band 1", "On"),
        ("Band 1 Type", "Bell"),
        ("Band 1 Frequency", "1 kHz"),
        ("Band 1 Gain", "6 dB"),
        ("Band 1 Q", "1"),
    ];
    let mut plugin = plugin_with(&bell);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("bell +6 dB at its frequency", g, 6.0, 0.1);
    }
    // A bell placed on the side leaves a mid-only (L = R) tone alone.
    let mut side = bell.to_vec();
    side.push(("Band 1 Placement", "Side"));
    let mut plugin = plugin_with(&side);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("side bell on a mid-only tone", g, 0.0, 0.01);
    }
    // Butterworth 24 dB/oct high-pass at 100 Hz: -3.01 dB at its corner, flat a decade up.
    let mut plugin = plugin_with(&[
        ("High-Pass", "On"),
        ("High-Pass Frequency", "100 Hz"),
        ("High-Pass Slope", "24 dB/oct"),
        ("High-Pass Shape", "Butterworth"),
    ]);
    for g in tone_gain_db(&mut plugin, 100.0, QUIET) {
        assert_near("high-pass at its corner", g, -3.01, 0.1);
    }
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("high-pass a decade above", g, 0.0, 0.05);
    }
}

#[test]
fn enhancing_wide_bell_lifts_its_frequency() {
    let mut plugin = plugin_with(&[("Wide Bell", "On"), ("Wide Bell Frequency", "1 kHz"), ("Wide Bell Gain", "3 dB")]);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("wide bell +3 dB at its frequency", g, 3.0, 0.1);
    }
    // The enhancing group toggle turns it off again.
    let mut plugin = plugin_with(&[
        ("Wide Bell", "On"),
        ("Wide Bell Frequency", "1 kHz"),
        ("Wide Bell Gain", "3 dB"),
        ("Enhancing Stages", "Off"),
    ]);
    for g in tone_gain_db(&mut plugin, 1000.0, QUIET) {
        assert_near("wide bell with the enhancing stages off", g, 0.0, 0.01);
    }
}

#[test]
fn multiband_compresses_by_its_static_curve() {
    // Two bands split at 100 Hz, so a 1 kHz tone lives in the upper band alone; hard knee,
    // no makeup: a tone 24 dB over a -30 dB threshold at 4:1 comes out 18 dB lower.
    let mut settings = vec![("Multiband Bypass", "Not Bypassed"), ("MB Bands", "2"), ("MB Crossover 1", "100 Hz")];
    for band in ["MB Band 1", "MB Band 2"] {
        for (param, text) in [("Threshold", "-30 dB"), ("Ratio", "4:1"), ("Knee", "0 dB"), ("Makeup", "0 dB")] {
            settings.push((Box::leak(format!("{band} {param}").into_boxed_str()), text));
        }
    }
    let mut plugin = plugin_with(&settings);
    for g in tone_gain_db(&mut plugin, 1000.0, 10f64.powf(-6.0 / 20.0)) {
        assert_near("-6 dBFS tone, -30 dB threshold, 4:1", g, -18.0, 0.5);
    }
    // Below the threshold the band is untouched (and the crossover sums flat).
    for g in tone_gain_db(&mut plugin, 1000.0, 10f64.powf(-40.0 / 20.0)) {
        assert_near("-40 dBFS tone under a -30 dB threshold", g, 0.0, 0.05);
    }
}

#[test]
fn saturation_adds_harmonics_only_when_engaged() {
    let freq = 1000.0;
    let amplitude = 0.5;
    let x = sine((TONE_S * FS) as usize, freq, FS, amplitude);
    let third = |plugin: &mut Instance| {
        let [y, _] = render_window(plugin, &x, &x);
        db(tone_amplitude(&y, 3.0 * freq) / tone_amplitude(&y, freq))
    };
    let mut clean = Instance::new();
    let mut driven = plugin_with(&[("Saturation Bypass", "Not Bypassed"), ("Saturation Drive", "12 dB")]);
    let (clean_h3, driven_h3) = (third(&mut clean), third(&mut driven));
    assert!(clean_h3 < -100.0, "third harmonic with saturation bypassed: {clean_h3:.1} dBc");
    assert!(driven_h3 > -40.0, "third harmonic with 12 dB of drive: {driven_h3:.1} dBc");
}

#[test]
fn width_zero_makes_the_output_mono() {
    let mut plugin = plugin_with(&[("Width", "0%")]);
    let len = (TONE_S * FS) as usize;
    let left = sine(len, 1000.0, FS, QUIET);
    let right = sine(len, 1500.0, FS, QUIET);
    let [l, r] = render_window(&mut plugin, &left, &right);
    let worst = l.iter().zip(&r).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-6, "width 0 %: L and R differ by {worst:e}");
}

#[test]
fn mono_bass_removes_the_low_side_and_keeps_the_rest() {
    // Mid: a 400 Hz tone; side (L - R) 6 dB under it: at 50 Hz it must come out 40 dB down at
    // the 120 Hz setting, at 1 kHz within 0.1 dB. (A side-only signal would be narrowed by the
    // mono safety, which is on by default.) The mid passes at 0 dB (the split's allpass).
    let mut plugin = plugin_with(&[("Mono Bass", "On"), ("Mono Bass Frequency", "120 Hz")]);
    let len = (TONE_S * FS) as usize;
    let mid = sine(len, 400.0, FS, QUIET);
    for (freq, floor_db, ceiling_db) in [(50.0, f64::NEG_INFINITY, -40.0), (1000.0, -0.1, 0.1)] {
        let side = sine(len, freq, FS, 0.5 * QUIET);
        let left: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m + s).collect();
        let right: Vec<f64> = mid.iter().zip(&side).map(|(m, s)| m - s).collect();
        let [l, r] = render_window(&mut plugin, &left, &right);
        let side_out: Vec<f64> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a - b)).collect();
        let mid_out: Vec<f64> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a + b)).collect();
        let gain = db(tone_amplitude(&side_out, freq) / (0.5 * QUIET));
        assert!(gain >= floor_db && gain <= ceiling_db, "side at {freq} Hz: {gain:.3} dB");
        assert_near("mid at 400 Hz", db(tone_amplitude(&mid_out, 400.0) / QUIET), 0.0, 0.1);
    }
}

#[test]
fn limiter_ceiling_and_drive_are_the_settings() {
    let mut plugin = plugin_with(&[("Ceiling", "-3 dBTP"), ("Limiter Drive", "12 dB")]);
    let x = programme((2.0 * FS) as usize, FS, &mut SmallRng::seed_from_u64(3));
    let [l, r] = render_window(&mut plugin, &x, &x);
    for (c, y) in [l, r].iter().enumerate() {
        let tp = true_peak_db(y);
        assert!(tp <= -3.0, "channel {c}: {tp:.3} dBTP over a -3 dBTP ceiling");
        assert!(tp > -3.5, "channel {c}: {tp:.3} dBTP: 12 dB of drive should reach the ceiling");
    }
}
