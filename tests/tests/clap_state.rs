//! State through the CLAP state extension of the built bundle (issue 2): a state saved with
//! every parameter away from its default, loaded into a fresh instance, restores every
//! parameter (value and text) and the same sound; a corrupt or truncated state is refused and
//! changes nothing.

use lacquer_host_tests::{Blocks, Instance, Param};
use lacquer_testkit::signals::white;

const RATE: f64 = 48_000.0;
/// How far (in CLAP's normalised 0..1 units) each continuous parameter is moved from its
/// default; an odd amount, so no value lands on a round step by chance.
const MOVE: f64 = 0.37;

/// A value of `p` different from its default.
fn moved(p: &Param) -> f64 {
    if p.is_stepped() {
        if p.default < p.max {
            p.default + 1.0
        } else {
            p.min
        }
    } else if p.default + MOVE <= p.max {
        p.default + MOVE
    } else {
        p.default - MOVE
    }
}

const GROUP_TOGGLES: [&str; 2] = ["Corrective Stages", "Enhancing Stages"];

/// Every parameter moved from its default, except that every stage (and band) is switched
/// active and the host bypass is left alone, so the sound comparison covers the whole chain.
fn moved_settings(plugin: &Instance) -> Vec<(u32, f64)> {
    plugin
        .params
        .iter()
        .filter(|p| !p.is_bypass())
        .map(|p| {
            if GROUP_TOGGLES.contains(&p.name.as_str()) {
                (p.id, 1.0)
            } else if p.name.ends_with("Bypass") {
                (p.id, 0.0)
            } else {
                (p.id, moved(p))
            }
        })
        .collect()
}

fn input() -> Vec<Vec<f32>> {
    let len = RATE as usize / 2;
    [white(len, 0.5, 21), white(len, 0.5, 22)].iter().map(|x| x.iter().map(|&v| v as f32).collect()).collect()
}

fn render(plugin: &mut Instance) -> Vec<Vec<f32>> {
    plugin.render(RATE, &input(), Blocks::Fixed(512), &[]).output
}

#[test]
fn saved_state_restores_every_parameter_and_the_sound() {
    let mut original = Instance::new();
    let settings = moved_settings(&original);
    original.set(&settings);
    // The flush took: every parameter is away from its default (snapped to its step size,
    // where it has one).
    for p in original.params.clone() {
        if !p.is_bypass() && !p.name.ends_with("Bypass") && !GROUP_TOGGLES.contains(&p.name.as_str()) {
            let v = original.value(p.id);
            assert!((v - p.default).abs() > 0.1, "{}: set to {} but reads {v}", p.name, moved(&p));
        }
    }
    let state = original.save_state();
    assert!(!state.is_empty());

    let mut restored = Instance::new();
    restored.load_state(&state).expect("loading a state the plugin saved");
    let mut failures = Vec::new();
    for p in original.params.clone() {
        let (a, b) = (original.value(p.id), restored.value(p.id));
        let (ta, tb) = (original.text(p.id, a), restored.text(p.id, b));
        if (a - b).abs() > 1e-6 || ta != tb {
            failures.push(format!("{}: {a} {ta:?} restored as {b} {tb:?}", p.name));
        }
    }
    assert!(failures.is_empty(), "not restored:\n{}", failures.join("\n"));
    assert_eq!(original.latency_at(RATE, 512), restored.latency_at(RATE, 512), "latency after restore");

    // The same settings make the same sound, and the chain is really processing.
    let (a, b) = (render(&mut original), render(&mut restored));
    let latency = original.latency_at(RATE, 512) as usize;
    let x = input();
    let change = (latency..a[0].len()).map(|n| (a[0][n] - x[0][n - latency]).abs()).fold(0.0f32, f32::max);
    assert!(change > 0.01, "the moved settings should change the sound (max change {change})");
    for (c, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x.iter().all(|v| v.is_finite()), "channel {c}: non-finite output");
        let diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert_eq!(diff, 0.0, "channel {c}: restored instance sounds different (max difference {diff})");
    }
}

#[test]
fn a_corrupt_or_truncated_state_is_refused_and_changes_nothing() {
    let mut plugin = Instance::new();
    let settings = moved_settings(&plugin);
    plugin.set(&settings);
    let valid = plugin.save_state();
    let before: Vec<f64> = plugin.params.clone().iter().map(|p| plugin.value(p.id)).collect();

    let garbage = b"this is not a Lacquer state \x00\xff\xfe".to_vec();
    let truncated = valid[..valid.len() / 2].to_vec();
    for (what, bytes) in [("garbage", garbage), ("truncated", truncated), ("empty", Vec::new())] {
        assert!(plugin.load_state(&bytes).is_err(), "a {what} state was accepted");
        let after: Vec<f64> = plugin.params.clone().iter().map(|p| plugin.value(p.id)).collect();
        assert_eq!(before, after, "a refused {what} state changed parameters");
    }
    // Still works.
    let out = render(&mut plugin);
    assert!(out.iter().flatten().all(|v| v.is_finite()));
    assert!(out.iter().flatten().any(|&v| v != 0.0));
}
