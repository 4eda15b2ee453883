//! The parameter model as a CLAP host sees it through the built bundle (issue 2): every stage
//! bypass, the two group toggles and the host bypass are automatable parameters in their
//! stage's group, and every parameter has sensible text that parses back.

use lacquer_host_tests::Instance;

/// The seven stages in signal order: (bypass parameter name, the group it is shown in).
const STAGE_BYPASSES: [(&str, &str); 7] = [
    ("Gain Staging Bypass", "1 Gain Staging"),
    ("Corrective EQ Bypass", "2 Corrective EQ"),
    ("Multiband Bypass", "3 Multiband Compression"),
    ("Enhancing EQ Bypass", "4 Enhancing EQ"),
    ("Saturation Bypass", "5 Saturation"),
    ("Stereo Width Bypass", "6 Stereo Width"),
    ("Limiter Bypass", "7 Limiter"),
];
const GROUP_TOGGLES: [&str; 2] = ["Corrective Stages", "Enhancing Stages"];
const HOST_BYPASS: &str = "Bypass";

#[test]
fn stage_bypasses_group_toggles_and_host_bypass_are_automatable_switches() {
    let mut plugin = Instance::new();
    for (name, group) in STAGE_BYPASSES {
        let p = plugin.param(name).clone();
        assert!(p.is_automatable(), "{name} is not automatable");
        assert!(p.is_stepped(), "{name} is not a switch");
        assert_eq!((p.min, p.max), (0.0, 1.0), "{name} range");
        assert!(p.module.starts_with(group), "{name} is in group {:?}, expected {group:?}", p.module);
        assert!(!p.is_bypass(), "{name} must not be the host bypass");
        assert_eq!(plugin.text(p.id, 1.0).as_deref(), Some("Bypassed"), "{name} text when on");
        assert_eq!(plugin.text(p.id, 0.0).as_deref(), Some("Not Bypassed"), "{name} text when off");
        assert_eq!(plugin.parse(p.id, "Bypassed"), Some(1.0), "{name} parses its own text");
    }
    for name in GROUP_TOGGLES {
        let p = plugin.param(name).clone();
        assert!(p.is_automatable() && p.is_stepped(), "{name} is not an automatable switch");
        assert_eq!(p.default, 1.0, "{name} is on by default");
        assert_eq!(plugin.text(p.id, 1.0).as_deref(), Some("On"));
        assert_eq!(plugin.text(p.id, 0.0).as_deref(), Some("Off"));
        assert_eq!(plugin.parse(p.id, "off"), Some(0.0));
    }
    let bypass = plugin.param(HOST_BYPASS).clone();
    assert!(bypass.is_bypass(), "{HOST_BYPASS} is not flagged as the host bypass");
    assert!(bypass.is_automatable());
    assert_eq!(bypass.default, 0.0, "the plugin starts processing");
    let host_bypasses = plugin.params.iter().filter(|p| p.is_bypass()).count();
    assert_eq!(host_bypasses, 1, "exactly one parameter may be the host bypass");
}

#[test]
fn every_parameter_is_unique_in_range_and_starts_at_its_default() {
    let mut plugin = Instance::new();
    let params = plugin.params.clone();
    assert!(params.len() > 100, "the whole chain's parameter model is exposed ({} params)", params.len());
    let mut ids: Vec<u32> = params.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), params.len(), "parameter ids are unique");
    // A host shows names in flat automation lists: they must tell parameters apart.
    let mut names: Vec<(&str, &str)> = params.iter().map(|p| (p.module.as_str(), p.name.as_str())).collect();
    names.sort_unstable();
    let dupes: Vec<_> = names.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    assert!(dupes.is_empty(), "duplicate names in a group: {dupes:?}");
    for p in &params {
        assert!(p.min < p.max && p.min.is_finite() && p.max.is_finite(), "{}: range {}..{}", p.name, p.min, p.max);
        assert!((p.min..=p.max).contains(&p.default), "{}: default {} outside {}..{}", p.name, p.default, p.min, p.max);
        let value = plugin.value(p.id);
        assert!(
            (value - p.default).abs() <= 1e-6 * (p.max - p.min),
            "{}: starts at {value}, default {}",
            p.name,
            p.default
        );
        let top = p.module.split('/').next().unwrap_or("");
        let staged = p.name == HOST_BYPASS || GROUP_TOGGLES.contains(&p.name.as_str()) || top.is_empty();
        assert!(
            staged || STAGE_BYPASSES.iter().any(|(_, g)| *g == top),
            "{} is in group {:?}, which is not a stage",
            p.name,
            p.module
        );
    }
}

#[test]
fn every_parameter_has_text_that_parses_back() {
    let mut plugin = Instance::new();
    let params = plugin.params.clone();
    let mut failures = Vec::new();
    for p in &params {
        // Min, default, max and two points between (integers for stepped parameters).
        let mut values = vec![p.min, p.default, p.max, p.min + 0.3 * (p.max - p.min), p.min + 0.71 * (p.max - p.min)];
        if p.is_stepped() {
            values.iter_mut().for_each(|v| *v = v.round());
        }
        for v in values {
            let Some(text) = plugin.text(p.id, v) else {
                failures.push(format!("{}: no text for {v}", p.name));
                continue;
            };
            let lower = text.to_ascii_lowercase();
            if text.trim().is_empty() || lower.contains("nan") || lower.contains("inf") {
                failures.push(format!("{}: text {text:?} for {v}", p.name));
                continue;
            }
            // The text must parse back to a value that shows the same text (display rounding
            // allowed, nothing else).
            match plugin.parse(p.id, &text) {
                None => failures.push(format!("{}: {text:?} does not parse", p.name)),
                Some(back) => {
                    let again = plugin.text(p.id, back).unwrap_or_default();
                    if again != text {
                        failures.push(format!("{}: {v} -> {text:?} -> {back} -> {again:?}", p.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn units_are_shown_where_a_mastering_engineer_expects_them() {
    let mut plugin = Instance::new();
    // (parameter, its CLAP value, the text it must show). nice-plug exposes continuous
    // parameters to CLAP hosts normalised to 0..1; these are linear ranges: Output Trim
    // -24..0 dB, Ceiling -3..-0.1 dBTP, Width 0..200 %; Low-Pass Frequency tops at 22 kHz.
    let cases: [(&str, f64, &str); 4] = [
        ("Output Trim", 0.875, "-3.00 dB"),
        ("Ceiling", 2.0 / 2.9, "-1.00 dBTP"),
        ("Width", 0.75, "150%"),
        ("Low-Pass Frequency", 1.0, "22.00 kHz"),
    ];
    for (name, value, expected) in cases {
        let id = plugin.id(name);
        assert_eq!(plugin.text(id, value).as_deref(), Some(expected), "{name}");
    }
}
