//! Bypass and latency through the built bundle in a CLAP host (issue 2), at 44.1, 48, 96 and
//! 192 kHz, with blocks of 1, 64, 512 and 4096 frames and a seeded random sequence of sizes:
//!
//! | property | check |
//! |---|---|
//! | everything bypassed (the seven stage bypasses; the host bypass; both group toggles off with the other stages bypassed) | output = input delayed by the reported latency, bit for bit |
//! | latency | identical for all 512 combinations of stage bypasses and group toggles |
//! | a stage bypass automated mid-block | no sample step larger than the signal's own (x 1.05); nothing changes before the event (the event's input frame leaves the plugin `latency` frames later); the latency and the host's restart flag do not move |
//! | mono layout | bit-exact bypass; a mono render equals the left channel of a stereo render of the same signal on both channels |
//!
//! The test build of the bundle has `assert_process_allocs`: any allocation in `process`
//! panics the audio thread, which fails these tests.

use lacquer_host_tests::instance::{BLOCK_PATTERNS, SAMPLE_RATES};
use lacquer_host_tests::{Automation, Blocks, Instance};
use lacquer_testkit::signals::{sine, white};

const STAGE_BYPASSES: [&str; 7] = [
    "Gain Staging Bypass",
    "Corrective EQ Bypass",
    "Multiband Bypass",
    "Enhancing EQ Bypass",
    "Saturation Bypass",
    "Stereo Width Bypass",
    "Limiter Bypass",
];
/// Length of the bit-exactness renders (plus the latency).
const EXACT_SECONDS: f64 = 0.25;

fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// Stereo noise, independent channels, near full scale.
fn noise(len: usize) -> Vec<Vec<f32>> {
    vec![f32s(&white(len, 0.9, 1)), f32s(&white(len, 0.9, 2))]
}

/// `output` equals `input` delayed by `latency` frames, bit for bit, and is silent before.
fn assert_delayed_copy(label: &str, input: &[Vec<f32>], output: &[Vec<f32>], latency: usize) {
    for (c, (x, y)) in input.iter().zip(output).enumerate() {
        assert!(y[..latency].iter().all(|&v| v == 0.0), "{label}: channel {c} is not silent during the latency");
        if let Some(n) = (latency..y.len()).find(|&n| y[n].to_bits() != x[n - latency].to_bits()) {
            panic!("{label}: channel {c} differs at frame {n}: {} instead of {}", y[n], x[n - latency]);
        }
    }
}

#[test]
fn everything_bypassed_is_the_input_delayed_bit_for_bit() {
    for fs in SAMPLE_RATES {
        for blocks in BLOCK_PATTERNS {
            // The three ways to bypass everything.
            for way in ["stage bypasses", "host bypass", "group toggles"] {
                let mut plugin = Instance::new();
                let mut set: Vec<(u32, f64)> = match way {
                    "stage bypasses" => STAGE_BYPASSES.iter().map(|n| (plugin.id(n), 1.0)).collect(),
                    "host bypass" => vec![(plugin.id("Bypass"), 1.0)],
                    _ => ["Gain Staging Bypass", "Limiter Bypass"].iter().map(|n| (plugin.id(n), 1.0)).collect(),
                };
                if way == "group toggles" {
                    set.push((plugin.id("Corrective Stages"), 0.0));
                    set.push((plugin.id("Enhancing Stages"), 0.0));
                }
                plugin.set(&set);
                let len = (EXACT_SECONDS * fs) as usize;
                let input = noise(len);
                let render = plugin.render(fs, &input, blocks, &[]);
                let label = format!("{way} at {fs} Hz, {blocks}");
                assert!(render.latency > 0, "{label}: the chain reports its latency");
                assert_delayed_copy(&label, &input, &render.output, render.latency as usize);
                assert!(plugin.logged_problems().is_empty(), "{label}: {:?}", plugin.logged_problems());
            }
        }
    }
}

#[test]
fn latency_is_the_same_for_every_bypass_combination() {
    for fs in SAMPLE_RATES {
        let mut plugin = Instance::new();
        let ids: Vec<u32> = STAGE_BYPASSES.iter().map(|n| plugin.id(n)).collect();
        let groups = [plugin.id("Corrective Stages"), plugin.id("Enhancing Stages")];
        let reference = plugin.latency_at(fs, 512);
        assert!(reference > 0);
        for mask in 0..(1u32 << (ids.len() + groups.len())) {
            let mut set: Vec<(u32, f64)> =
                ids.iter().enumerate().map(|(i, &id)| (id, f64::from((mask >> i) & 1))).collect();
            // Group toggles are "on" switches: bit set = group off.
            for (g, &id) in groups.iter().enumerate() {
                set.push((id, f64::from(1 - ((mask >> (ids.len() + g)) & 1))));
            }
            plugin.set(&set);
            let latency = plugin.latency_at(fs, 512);
            assert_eq!(latency, reference, "{fs} Hz, bypass mask {mask:09b}: latency {latency} instead of {reference}");
        }
    }
}

/// Largest sample-to-sample step of `y` over `range`.
fn max_step(y: &[f32], range: std::ops::Range<usize>) -> f64 {
    range.map(|n| (f64::from(y[n]) - f64::from(y[n - 1])).abs()).fold(0.0, f64::max)
}

fn rms(y: &[f32]) -> f64 {
    (y.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / y.len() as f64).sqrt()
}

/// Gain staging at -6 dB input trim; its bypass is automated on at `on` and off at `off`.
/// Toggling it without a crossfade would step by up to a quarter of full scale; the 200 Hz
/// sine's own largest step is about 2 % of full scale at 44.1 kHz.
#[test]
fn automated_bypass_mid_block_crossfades_without_a_step() {
    const FREQ: f64 = 200.0;
    const AMPLITUDE: f64 = 0.5;
    const TRIM: &str = "-6 dB";
    /// How much larger than the signal's own step a step in the crossfade may be.
    const STEP_RATIO: f64 = 1.05;
    for fs in SAMPLE_RATES {
        for blocks in BLOCK_PATTERNS {
            let label = format!("{fs} Hz, {blocks}");
            let mut plugin = Instance::new();
            let trim = plugin.id("Input Trim");
            let trim_value = plugin.parse(trim, TRIM).expect("trim text");
            plugin.set(&[(trim, trim_value)]);
            let bypass = plugin.id("Gain Staging Bypass");
            let len = (0.4 * fs) as usize;
            let x = f32s(&sine(len, FREQ, fs, AMPLITUDE));
            let input = vec![x.clone(), x];
            // Odd offsets so the events fall inside blocks.
            let on = (0.1 * fs) as usize + 37;
            let off = (0.25 * fs) as usize + 11;
            let automation = [
                Automation { frame: on, param: bypass, value: 1.0 },
                Automation { frame: off, param: bypass, value: 0.0 },
            ];
            let reference = plugin.render(fs, &input, blocks, &[]);
            let render = plugin.render(fs, &input, blocks, &automation);
            assert_eq!(render.latency_after, render.latency, "{label}: latency moved");
            assert_eq!(render.latency_changes, 0, "{label}: the plugin announced a latency change");
            assert!(!render.restart_requested, "{label}: the plugin asked for a restart");

            // The event applies to the input frame it is written on, which leaves the plugin
            // `latency` frames later (where a host's delay compensation puts it back).
            let latency = render.latency as usize;
            let (on_out, off_out) = (on + latency, off + latency);
            let fade = (0.03 * fs) as usize;
            let settle = (0.05 * fs) as usize;
            for (c, (y, r)) in render.output.iter().zip(&reference.output).enumerate() {
                // Nothing changes before the event.
                let early = (0..on_out).map(|n| (y[n] - r[n]).abs()).fold(0.0f32, f32::max);
                assert!(early <= 1e-6, "{label}, channel {c}: output changed {early} before the event");
                // It starts at the event: 5 ms into the 10 ms fade the output has moved.
                let mid = on_out + (0.004 * fs) as usize..on_out + (0.006 * fs) as usize;
                let moved = mid.map(|n| (y[n] - r[n]).abs()).fold(0.0f32, f32::max);
                assert!(moved > 0.02, "{label}, channel {c}: the fade had not started 5 ms after the event");
                // The toggles took effect: 6 dB louder while bypassed.
                let trimmed = rms(&y[settle..on_out]);
                let bypassed = rms(&y[on_out + fade..off_out]);
                let gain_db = 20.0 * (bypassed / trimmed).log10();
                assert!(
                    (gain_db - 6.0).abs() < 0.1,
                    "{label}, channel {c}: bypass changed the level by {gain_db:.2} dB"
                );
                // No step larger than the signal's own, around either event.
                let own = max_step(y, settle..on_out).max(max_step(y, on_out + fade..off_out));
                for (name, at) in [("on", on_out), ("off", off_out)] {
                    let step = max_step(y, at..at + fade);
                    assert!(
                        step <= STEP_RATIO * own,
                        "{label}, channel {c}: bypass {name} stepped by {step:.5}, the signal's own largest step is {own:.5}"
                    );
                }
            }
        }
    }
}

#[test]
fn mono_layout_bypasses_bit_exactly_and_processes_like_stereo() {
    for fs in SAMPLE_RATES {
        let len = (EXACT_SECONDS * fs) as usize;
        let x = f32s(&white(len, 0.9, 3));
        for blocks in [Blocks::Fixed(512), Blocks::Random { seed: 11, max: 4096 }] {
            let label = format!("mono at {fs} Hz, {blocks}");
            // Everything bypassed.
            let mut mono = Instance::new();
            mono.select_layout(1);
            let ids: Vec<(u32, f64)> = STAGE_BYPASSES.iter().map(|n| (mono.id(n), 1.0)).collect();
            mono.set(&ids);
            let render = mono.render(fs, std::slice::from_ref(&x), blocks, &[]);
            assert_delayed_copy(&label, std::slice::from_ref(&x), &render.output, render.latency as usize);

            // Factory settings: mono = the left channel of stereo with the signal on both.
            let mut mono = Instance::new();
            mono.select_layout(1);
            let m = mono.render(fs, std::slice::from_ref(&x), blocks, &[]);
            let mut stereo = Instance::new();
            let s = stereo.render(fs, &[x.clone(), x.clone()], blocks, &[]);
            assert_eq!(m.latency, s.latency, "{label}: mono and stereo latency");
            let diff = m.output[0].iter().zip(&s.output[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff <= 1e-6, "{label}: mono differs from stereo's left channel by {diff}");
            assert!(m.output[0].iter().all(|v| v.is_finite()));
        }
    }
}
