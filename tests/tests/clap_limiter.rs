//! The limiter's ceiling through the built bundle in a CLAP host (issue 4): the torture set and
//! the EBU Tech 3341 true-peak cases 15-19, at +12 dB limiter drive and a -1 dBTP ceiling, at
//! 44.1, 48 and 96 kHz, rendered through the whole chain (factory settings, and every stage
//! engaged with hot saturation and multiband compression). Every output's true peak, read by
//! the independent 16x meter of `lacquer-testkit`, is at or below the ceiling, and every
//! sample is finite, also when the input holds NaN, infinities, 1e30 bursts and denormals.

use lacquer_host_tests::{Blocks, Instance};
use lacquer_testkit::signals::{ebu_true_peak_cases, torture_set};
use lacquer_testkit::true_peak::true_peak_db;

const RATES: [f64; 3] = [44_100.0, 48_000.0, 96_000.0];
const DRIVE: &str = "12 dB";
const CEILING_DBTP: f64 = -1.0;
/// Allowed excess over the ceiling, dB, as read by the independent meter: none. Through the
/// plugin the promise is the ceiling itself (the DSP tests allow the 0.05 dB; measured
/// worst case here, 2026-11-23: -1.010 dBTP, near-Nyquist noise through every stage at 44.1 kHz).
const TOLERANCE_DB: f64 = 0.0;

/// The chain set up for the torture: limiter drive and ceiling; with `all_stages`, also
/// multiband compression and hot saturation engaged (they start bypassed).
fn plugin(all_stages: bool) -> Instance {
    let mut plugin = Instance::new();
    let drive = plugin.id("Limiter Drive");
    let ceiling = plugin.id("Ceiling");
    let mut set = vec![
        (drive, plugin.parse(drive, DRIVE).expect("drive text")),
        (ceiling, plugin.parse(ceiling, &format!("{CEILING_DBTP} dBTP")).expect("ceiling text")),
    ];
    if all_stages {
        let sat_drive = plugin.id("Saturation Drive");
        set.push((plugin.id("Multiband Bypass"), 0.0));
        set.push((plugin.id("Saturation Bypass"), 0.0));
        set.push((sat_drive, plugin.parse(sat_drive, "12 dB").expect("saturation drive text")));
    }
    plugin.set(&set);
    plugin
}

/// Silence after each signal beyond the latency, seconds: the multiband crossover's IIR
/// filters ring on after the input stops, and a render cut off while the output is still
/// moving would end in a step that is itself an inter-sample peak.
const TAIL_S: f64 = 0.2;

/// Render `left`/`right` (plus the latency and [`TAIL_S`] in silence, so all of it comes out)
/// and return the output's true peak in dBTP.
fn rendered_true_peak(plugin: &mut Instance, fs: f64, left: &[f64], right: &[f64], blocks: Blocks) -> f64 {
    let tail = plugin.latency_at(fs, blocks.max()) as usize + (TAIL_S * fs) as usize;
    let input: Vec<Vec<f32>> = [left, right]
        .iter()
        .map(|x| x.iter().map(|&v| v as f32).chain(std::iter::repeat_n(0.0, tail)).collect())
        .collect();
    let render = plugin.render(fs, &input, blocks, &[]);
    assert!(render.output.iter().flatten().all(|v| v.is_finite()), "non-finite output");
    render
        .output
        .iter()
        .map(|y| true_peak_db(&y.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
        .fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn torture_set_through_the_plugin_stays_under_the_ceiling() {
    let mut failures = Vec::new();
    for all_stages in [false, true] {
        for fs in RATES {
            let mut plugin = plugin(all_stages);
            for (i, signal) in torture_set(fs).iter().enumerate() {
                // Vary the host's block sizes too: a ceiling must not depend on them.
                let blocks = if i % 2 == 0 { Blocks::Fixed(512) } else { Blocks::Random { seed: i as u64, max: 2048 } };
                let tp = rendered_true_peak(&mut plugin, fs, &signal.left, &signal.right, blocks);
                let chain = if all_stages { "every stage" } else { "factory chain" };
                println!("{chain}, {fs} Hz, {}: {tp:.3} dBTP", signal.name);
                if tp.is_nan() || tp > CEILING_DBTP + TOLERANCE_DB {
                    failures.push(format!("{chain}, {fs} Hz, {}: {tp:.3} dBTP", signal.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "over the ceiling:\n{}", failures.join("\n"));
}

#[test]
fn ebu_true_peak_cases_through_the_plugin_stay_under_the_ceiling() {
    let mut failures = Vec::new();
    for fs in RATES {
        let mut plugin = plugin(false);
        for (case, x, _) in ebu_true_peak_cases(fs) {
            let tp = rendered_true_peak(&mut plugin, fs, &x, &x, Blocks::Fixed(512));
            println!("EBU case {case}, {fs} Hz: {tp:.3} dBTP");
            if tp.is_nan() || tp > CEILING_DBTP + TOLERANCE_DB {
                failures.push(format!("case {case} at {fs} Hz: {tp:.3} dBTP"));
            }
        }
    }
    assert!(failures.is_empty(), "over the ceiling:\n{}", failures.join("\n"));
}

/// Absurd input through every stage: NaN and infinite samples, 1e30 bursts, denormals and
/// full-scale DC. Nothing non-finite comes out, the ceiling still holds, and the chain is
/// back to normal once the input is.
#[test]
fn absurd_input_never_escapes_and_the_ceiling_holds() {
    const FS: f64 = 48_000.0;
    let len = FS as usize;
    let mut x: Vec<f64> = lacquer_testkit::signals::sine(len, 1000.0, FS, 0.5);
    let burst = |x: &mut [f64], at: usize, v: f64| x[at..at + 100].iter_mut().for_each(|s| *s = v);
    burst(&mut x, 4_800, f64::NAN);
    burst(&mut x, 9_600, f64::INFINITY);
    burst(&mut x, 14_400, f64::NEG_INFINITY);
    burst(&mut x, 19_200, 1e30);
    burst(&mut x, 24_000, 1e-310);
    burst(&mut x, 28_800, 1.0);
    let mut plugin = plugin(true);
    let tail = plugin.latency_at(FS, 512) as usize + (TAIL_S * FS) as usize;
    let input: Vec<Vec<f32>> =
        (0..2).map(|_| x.iter().map(|&v| v as f32).chain(std::iter::repeat_n(0.0, tail)).collect()).collect();
    let render = plugin.render(FS, &input, Blocks::Random { seed: 5, max: 1024 }, &[]);
    for (c, y) in render.output.iter().enumerate() {
        assert!(y.iter().all(|v| v.is_finite()), "channel {c}: non-finite output");
        let y: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
        let tp = true_peak_db(&y);
        assert!(tp <= CEILING_DBTP + TOLERANCE_DB, "channel {c}: {tp:.3} dBTP");
        // The last quarter second of the sine (well after the last burst and the limiter's
        // release) comes out at a sane level again: the 0.5 sine through +12 dB drive is
        // limited to the ceiling, so it is neither silent nor stuck.
        let latency = render.latency as usize;
        let end = &y[latency + len - (0.25 * FS) as usize..latency + len];
        let peak = end.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(peak > 0.5, "channel {c}: the chain did not recover (peak {peak:.3})");
    }
}
