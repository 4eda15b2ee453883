//! Corrective and enhancing EQ: responses against the analogue prototypes, exact neutrality,
//! placement, automation robustness, dynamic bands.

use lacquer_dsp::stage::Stage;
use lacquer_dsp::stages::corrective_eq::{
    BandType, CorrectiveEq, CorrectiveEqSettings, EqBand, PassFilter, PassShape, Slope,
};
use lacquer_dsp::stages::enhancing_eq::{EnhancingEq, EnhancingEqSettings, MsPlacement, ToneBand};
use lacquer_dsp::stages::Placement;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use realfft::RealFftPlanner;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

const RATES: [f64; 4] = [44_100.0, 48_000.0, 96_000.0, 192_000.0];
const BLOCK: usize = 512;
/// Response tolerance against the analogue prototype, dB.
const TOL_DB: f64 = 0.1;
/// Highest compared frequency, fraction of Nyquist.
const TOP: f64 = 0.9;

// --- measurement -------------------------------------------------------------------------

/// Impulse response of the left channel (an impulse in both channels) of a prepared stage.
fn impulse_response<S: Stage>(stage: &mut S, len: usize) -> (Vec<f64>, Vec<f64>) {
    let mut l = vec![0.0; len];
    let mut r = vec![0.0; len];
    l[0] = 1.0;
    r[0] = 1.0;
    for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
        stage.process(cl, cr);
    }
    (l, r)
}

/// Magnitude (dB) of an impulse response at every FFT bin.
fn spectrum_db(ir: &[f64]) -> Vec<f64> {
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(ir.len());
    let mut input = ir.to_vec();
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).unwrap();
    out.iter().map(|c| 10.0 * c.norm_sqr().max(1e-300).log10()).collect()
}

/// Worst deviation (dB) of a measured spectrum from `proto_db(f)` over log-spaced bins from
/// 10 Hz to 0.9 × Nyquist, ignoring frequencies where the prototype is below `floor_db`.
fn worst_error(spec: &[f64], fs: f64, floor_db: f64, proto_db: impl Fn(f64) -> f64) -> (f64, f64) {
    let n = (spec.len() - 1) * 2;
    let mut worst = (0.0f64, 0.0);
    let points = 400;
    for i in 0..=points {
        let f = 10.0 * (TOP * 0.5 * fs / 10.0f64).powf(i as f64 / points as f64);
        let bin = (f * n as f64 / fs).round() as usize;
        let fb = bin as f64 * fs / n as f64;
        let want = proto_db(fb);
        if want < floor_db {
            continue;
        }
        let err = (spec[bin] - want).abs();
        if err.is_nan() || err > worst.0 {
            worst = (err, fb);
        }
    }
    worst
}

/// FFT length: long enough for the slowest band's ring to decay.
fn ir_len(fs: f64) -> usize {
    if fs > 100_000.0 {
        1 << 18
    } else {
        1 << 17
    }
}

// --- analogue prototypes (written out here, independently of the design code) -------------

fn db(x2: f64) -> f64 {
    10.0 * x2.log10()
}

/// RBJ bell: (s² + s A/Q + 1) / (s² + s/(A Q) + 1), A = 10^(g/40).
fn bell_db(f: f64, f0: f64, g: f64, q: f64) -> f64 {
    let a = 10f64.powf(g / 40.0);
    let w = f / f0;
    let d = (1.0 - w * w).powi(2);
    db((d + (w * a / q).powi(2)) / (d + (w / (a * q)).powi(2)))
}

/// RBJ low shelf: A (s² + √A/Q s + A) / (A s² + √A/Q s + 1).
fn low_shelf_db(f: f64, f0: f64, g: f64, q: f64) -> f64 {
    let a = 10f64.powf(g / 40.0);
    let w = f / f0;
    let num = (a - w * w).powi(2) + (a.sqrt() / q * w).powi(2);
    let den = (1.0 - a * w * w).powi(2) + (a.sqrt() / q * w).powi(2);
    db(a * a * num / den)
}

/// RBJ high shelf: A (A s² + √A/Q s + 1) / (s² + √A/Q s + A).
fn high_shelf_db(f: f64, f0: f64, g: f64, q: f64) -> f64 {
    let a = 10f64.powf(g / 40.0);
    let w = f / f0;
    let num = (1.0 - a * w * w).powi(2) + (a.sqrt() / q * w).powi(2);
    let den = (a - w * w).powi(2) + (a.sqrt() / q * w).powi(2);
    db(a * a * num / den)
}

/// Notch: (s² + 1) / (s² + s/Q + 1).
fn notch_db(f: f64, f0: f64, q: f64) -> f64 {
    let w = f / f0;
    let d = (1.0 - w * w).powi(2);
    db(d / (d + (w / q).powi(2)))
}

/// Butterworth of order n: |H|² = 1 / (1 + (f/fc)^2n) (low-pass; high-pass with fc/f).
/// Linkwitz-Riley of order n: a Butterworth of order n/2, squared.
fn pass_db(f: f64, fc: f64, order: usize, lr: bool, high: bool) -> f64 {
    let x = if high { fc / f } else { f / fc };
    if lr {
        2.0 * db(1.0 / (1.0 + x.powi(order as i32)))
    } else {
        db(1.0 / (1.0 + x.powi(2 * order as i32)))
    }
}

// --- settings helpers ----------------------------------------------------------------------

fn one_band(kind: BandType, f: f64, g: f64, q: f64, placement: Placement) -> CorrectiveEqSettings {
    let mut s = CorrectiveEqSettings::default();
    s.bands[0] = EqBand { enabled: true, kind, freq_hz: f, gain_db: g, q, placement, ..EqBand::default() };
    s
}

fn corrective_at(s: &CorrectiveEqSettings, fs: f64) -> CorrectiveEq {
    let mut eq = CorrectiveEq::default();
    eq.set(s);
    eq.prepare(fs, BLOCK);
    eq
}

fn enhancing_at(s: &EnhancingEqSettings, fs: f64) -> EnhancingEq {
    let mut eq = EnhancingEq::default();
    eq.set(s);
    eq.prepare(fs, BLOCK);
    eq
}

/// Measure a corrective setting and compare with a prototype; returns the worst error.
fn check_corrective(s: &CorrectiveEqSettings, fs: f64, floor: f64, proto: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut eq = corrective_at(s, fs);
    let (ir, _) = impulse_response(&mut eq, ir_len(fs));
    worst_error(&spectrum_db(&ir), fs, floor, proto)
}

fn check_enhancing(s: &EnhancingEqSettings, fs: f64, proto: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut eq = enhancing_at(s, fs);
    let (ir, _) = impulse_response(&mut eq, ir_len(fs));
    worst_error(&spectrum_db(&ir), fs, -200.0, proto)
}

/// A labelled case: settings and the prototype's magnitude in dB.
type Case = (&'static str, EnhancingEqSettings, Box<dyn Fn(f64) -> f64>);

fn report(failures: &mut Vec<String>, label: String, (err, at): (f64, f64)) {
    println!("{label}: worst {err:.4} dB at {at:.0} Hz");
    if err.is_nan() || err > TOL_DB {
        failures.push(format!("{label}: {err:.3} dB at {at:.0} Hz"));
    }
}

// --- responses -------------------------------------------------------------------------------

/// Parametric band cases: (type, frequency, gain, Q). Chosen to cover low, mid and high
/// placements, boosts and cuts, narrow and moderate widths, including bands high in the
/// spectrum at 44.1 kHz.
const BAND_CASES: [(BandType, f64, f64, f64); 14] = [
    (BandType::Bell, 60.0, 6.0, 1.0),
    (BandType::Bell, 250.0, -9.0, 2.0),
    (BandType::Bell, 1_000.0, 12.0, 0.7),
    (BandType::Bell, 3_000.0, -12.0, 4.0),
    (BandType::Bell, 8_000.0, 4.0, 4.0),
    (BandType::Bell, 15_000.0, -4.0, 8.0),
    (BandType::Bell, 15_000.0, 3.0, 8.0),
    (BandType::LowShelf, 80.0, 6.0, FRAC_1_SQRT_2),
    (BandType::LowShelf, 300.0, -9.0, 0.5),
    (BandType::HighShelf, 6_000.0, 4.0, FRAC_1_SQRT_2),
    (BandType::HighShelf, 12_000.0, -6.0, FRAC_1_SQRT_2),
    (BandType::Notch, 50.0, 0.0, 10.0),
    (BandType::Notch, 3_500.0, 0.0, 8.0),
    (BandType::Notch, 15_000.0, 0.0, 10.0),
];

/// Below this the notch prototype is not compared (the very bottom of the null is a zero).
const NOTCH_FLOOR_DB: f64 = -30.0;

#[test]
fn parametric_bands_match_the_analogue_prototype() {
    let mut failures = Vec::new();
    for fs in RATES {
        for (kind, f0, g, q) in BAND_CASES {
            let s = one_band(kind, f0, g, q, Placement::Stereo);
            let (floor, proto): (f64, Box<dyn Fn(f64) -> f64>) = match kind {
                BandType::Bell => (-200.0, Box::new(move |f| bell_db(f, f0, g, q))),
                BandType::LowShelf => (-200.0, Box::new(move |f| low_shelf_db(f, f0, g, q))),
                BandType::HighShelf => (-200.0, Box::new(move |f| high_shelf_db(f, f0, g, q))),
                BandType::Notch => (NOTCH_FLOOR_DB, Box::new(move |f| notch_db(f, f0, q))),
            };
            let e = check_corrective(&s, fs, floor, proto);
            report(&mut failures, format!("{kind:?} {f0} Hz {g:+} dB Q {q} at {fs}"), e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// High-/low-pass corners: low, middle and high placements (20 kHz: the usual low-pass
/// setting, 0.45 × fs at 44.1 kHz).
const HP_FREQS: [f64; 4] = [30.0, 1_000.0, 8_000.0, 18_000.0];
const LP_FREQS: [f64; 5] = [30.0, 1_000.0, 8_000.0, 18_000.0, 20_000.0];
/// The pass band and the corner, down to this level, must be within `TOL_DB`.
const PASS_FLOOR_DB: f64 = -3.0;
/// The stop band is compared down to this level too: low-passes within `TOL_DB`, high-passes
/// within `HP_STOP_TOL_DB` (their stop band lies below the corner, where only the gain of the
/// matched sections and the correction's fit shape it; see eq_design.rs).
const STOP_FLOOR_DB: f64 = -30.0;
const HP_STOP_TOL_DB: f64 = 0.25;

#[test]
fn pass_filters_match_the_analogue_prototype_every_slope_and_shape() {
    let mut failures = Vec::new();
    for fs in RATES {
        for slope in [Slope::Db12, Slope::Db24, Slope::Db36, Slope::Db48] {
            for shape in [PassShape::Butterworth, PassShape::LinkwitzRiley] {
                let lr = shape == PassShape::LinkwitzRiley;
                for high in [true, false] {
                    let freqs: &[f64] = if high { &HP_FREQS } else { &LP_FREQS };
                    for &fc in freqs {
                        let mut s = CorrectiveEqSettings::default();
                        let p = if high { &mut s.high_pass } else { &mut s.low_pass };
                        p.enabled = true;
                        p.freq_hz = fc;
                        p.slope = slope;
                        p.shape = shape;
                        let order = slope.order();
                        let mut eq = corrective_at(&s, fs);
                        let (ir, _) = impulse_response(&mut eq, ir_len(fs));
                        let spec = spectrum_db(&ir);
                        let proto = |f| pass_db(f, fc, order, lr, high);
                        let kind = if high { "HP" } else { "LP" };
                        let label = format!("{kind} {fc} Hz {slope:?} {shape:?} at {fs}");
                        let pass = worst_error(&spec, fs, PASS_FLOOR_DB, proto);
                        report(&mut failures, format!("{label}, pass band"), pass);
                        let stop = worst_error(&spec, fs, STOP_FLOOR_DB, proto);
                        let bound = if high { HP_STOP_TOL_DB } else { TOL_DB };
                        println!(
                            "{label}, to {STOP_FLOOR_DB} dB: worst {:.4} dB at {:.0} Hz (bound {bound})",
                            stop.0, stop.1
                        );
                        if stop.0.is_nan() || stop.0 > bound {
                            failures
                                .push(format!("{label}, to {STOP_FLOOR_DB} dB: {:.3} dB at {:.0} Hz", stop.0, stop.1));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn enhancing_bands_match_the_analogue_prototype() {
    use lacquer_dsp::stages::enhancing_eq::SHELF_Q as Q;
    let mut failures = Vec::new();
    let off = EnhancingEqSettings::default();
    let band = |f: f64, g: f64| ToneBand { enabled: true, freq_hz: f, gain_db: g, placement: MsPlacement::Stereo };
    for fs in RATES {
        let cases: [Case; 7] = [
            (
                "low shelf 100 Hz +3",
                EnhancingEqSettings { low_shelf: band(100.0, 3.0), ..off.clone() },
                Box::new(|f| low_shelf_db(f, 100.0, 3.0, Q)),
            ),
            (
                "low shelf 250 Hz -2",
                EnhancingEqSettings { low_shelf: band(250.0, -2.0), ..off.clone() },
                Box::new(|f| low_shelf_db(f, 250.0, -2.0, Q)),
            ),
            (
                "high shelf 5 kHz +2",
                EnhancingEqSettings { high_shelf: band(5_000.0, 2.0), ..off.clone() },
                Box::new(|f| high_shelf_db(f, 5_000.0, 2.0, Q)),
            ),
            (
                "air 12 kHz +3",
                EnhancingEqSettings { air: band(12_000.0, 3.0), ..off.clone() },
                Box::new(|f| high_shelf_db(f, 12_000.0, 3.0, Q)),
            ),
            (
                "air 16 kHz +2",
                EnhancingEqSettings { air: band(16_000.0, 2.0), ..off.clone() },
                Box::new(|f| high_shelf_db(f, 16_000.0, 2.0, Q)),
            ),
            // Tilt: a high shelf lowered by half its gain.
            (
                "tilt 1 kHz +3",
                EnhancingEqSettings { tilt: band(1_000.0, 3.0), ..off.clone() },
                Box::new(|f| high_shelf_db(f, 1_000.0, 3.0, Q) - 1.5),
            ),
            (
                "bell 2 kHz +2 Q 0.7",
                EnhancingEqSettings { bell: band(2_000.0, 2.0), bell_q: 0.7, ..off.clone() },
                Box::new(|f| bell_db(f, 2_000.0, 2.0, 0.7)),
            ),
        ];
        for (label, s, proto) in cases {
            let e = check_enhancing(&s, fs, proto);
            report(&mut failures, format!("{label} at {fs}"), e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// --- neutrality and placement -------------------------------------------------------------------

fn noise(seed: u64, n: usize, amp: f64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| amp * (rng.random::<f64>() * 2.0 - 1.0)).collect()
}

/// Run a stage over stereo signals in blocks; returns the outputs.
fn run<S: Stage>(stage: &mut S, l: &[f64], r: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut ol, mut or) = (l.to_vec(), r.to_vec());
    for (cl, cr) in ol.chunks_mut(BLOCK).zip(or.chunks_mut(BLOCK)) {
        stage.process(cl, cr);
    }
    (ol, or)
}

fn max_diff_db(a: &[f64], b: &[f64]) -> f64 {
    let m = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    20.0 * m.max(1e-300).log10()
}

/// Null depth required of a neutral stage, dBFS.
const NULL_DB: f64 = -120.0;

#[test]
fn flat_settings_null_exactly() {
    let n = 48_000;
    let (l, r) = (noise(1, n, 0.5), noise(2, n, 0.5));
    // Every corrective band enabled at 0 dB (bells and shelves), every placement.
    let mut s = CorrectiveEqSettings::default();
    let kinds = [BandType::Bell, BandType::LowShelf, BandType::HighShelf];
    let places = [Placement::Stereo, Placement::Mid, Placement::Side, Placement::Left, Placement::Right];
    for (i, b) in s.bands.iter_mut().enumerate() {
        *b = EqBand {
            enabled: true,
            kind: kinds[i % 3],
            freq_hz: 100.0 * (i + 1) as f64,
            gain_db: 0.0,
            q: 2.0,
            placement: places[i % 5],
            ..EqBand::default()
        };
    }
    for fs in RATES {
        let mut eq = corrective_at(&s, fs);
        let (ol, or) = run(&mut eq, &l, &r);
        assert!(max_diff_db(&ol, &l) < NULL_DB && max_diff_db(&or, &r) < NULL_DB, "corrective at {fs}");
        // Disabled bands with gain are neutral too.
        let mut off = s.clone();
        off.bands.iter_mut().for_each(|b| {
            b.gain_db = 6.0;
            b.enabled = false
        });
        let mut eq = corrective_at(&off, fs);
        let (ol, or) = run(&mut eq, &l, &r);
        assert!(max_diff_db(&ol, &l) < NULL_DB && max_diff_db(&or, &r) < NULL_DB, "disabled at {fs}");
    }
    // Every enhancing band enabled at 0 dB.
    let band = |f| ToneBand { enabled: true, freq_hz: f, gain_db: 0.0, placement: MsPlacement::Mid };
    let e = EnhancingEqSettings {
        low_shelf: band(100.0),
        high_shelf: band(8000.0),
        air: band(16000.0),
        tilt: band(1000.0),
        bell: band(2000.0),
        bell_q: 0.5,
    };
    let mut eq = enhancing_at(&e, 48_000.0);
    let (ol, or) = run(&mut eq, &l, &r);
    assert!(max_diff_db(&ol, &l) < NULL_DB && max_diff_db(&or, &r) < NULL_DB, "enhancing");
}

#[test]
fn gain_returning_to_zero_nulls_again() {
    // A band that was at +6 dB and is set back to 0 dB glides there and then drops out.
    let fs = 48_000.0;
    let n = 24_000;
    let (l, r) = (noise(3, n, 0.5), noise(4, n, 0.5));
    let mut s = one_band(BandType::Bell, 1000.0, 6.0, 1.0, Placement::Stereo);
    let mut eq = corrective_at(&s, fs);
    run(&mut eq, &l, &r);
    s.bands[0].gain_db = 0.0;
    eq.set(&s);
    run(&mut eq, &l, &r); // 0.5 s: the 20 ms glide is long over
    let (ol, or) = run(&mut eq, &l, &r);
    assert!(max_diff_db(&ol, &l) < NULL_DB && max_diff_db(&or, &r) < NULL_DB);
}

fn mid_side(l: &[f64], r: &[f64]) -> (Vec<f64>, Vec<f64>) {
    (l.iter().zip(r).map(|(a, b)| 0.5 * (a + b)).collect(), l.iter().zip(r).map(|(a, b)| 0.5 * (a - b)).collect())
}

/// The part of the signal a band must change has changed by at least this much (RMS, dB).
const MIN_CHANGE_DB: f64 = 1.0;

fn rms_db(x: &[f64]) -> f64 {
    10.0 * (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).log10()
}

#[test]
fn placement_touches_only_its_signal() {
    let fs = 48_000.0;
    let n = 48_000;
    let (l, r) = (noise(5, n, 0.5), noise(6, n, 0.3));
    let (m, sd) = mid_side(&l, &r);
    // (placement, which output must be untouched, which must change)
    for placement in [Placement::Mid, Placement::Side, Placement::Left, Placement::Right] {
        let s = one_band(BandType::Bell, 1000.0, 9.0, 0.7, placement);
        let mut eq = corrective_at(&s, fs);
        let (ol, or) = run(&mut eq, &l, &r);
        let (om, os) = mid_side(&ol, &or);
        let (kept, kept_in, changed, changed_in) = match placement {
            Placement::Mid => (&os, &sd, &om, &m),
            Placement::Side => (&om, &m, &os, &sd),
            Placement::Left => (&or, &r, &ol, &l),
            _ => (&ol, &l, &or, &r),
        };
        let null = max_diff_db(kept, kept_in);
        assert!(null < NULL_DB, "{placement:?}: untouched signal moved ({null:.1} dB)");
        let change = rms_db(changed) - rms_db(changed_in);
        assert!(change > MIN_CHANGE_DB, "{placement:?}: filtered signal changed only {change:.2} dB");
    }
    // Enhancing EQ: a side-only bell leaves the mid alone.
    let e = EnhancingEqSettings {
        bell: ToneBand { enabled: true, freq_hz: 2000.0, gain_db: 4.0, placement: MsPlacement::Side },
        ..EnhancingEqSettings::default()
    };
    let mut eq = enhancing_at(&e, fs);
    let (ol, or) = run(&mut eq, &l, &r);
    let (om, os) = mid_side(&ol, &or);
    assert!(max_diff_db(&om, &m) < NULL_DB);
    assert!(rms_db(&os) - rms_db(&sd) > MIN_CHANGE_DB);
}

// --- automation ----------------------------------------------------------------------------------

/// Largest output allowed while every band sweeps (input peak 0.5). Eight bands of ±15 dB
/// with Q up to 30 can legitimately stack to large gains when their sweeps cross, so the bound
/// is generous; an unstable filter grows without limit and fails it (or goes non-finite).
const SWEEP_BOUND: f64 = 1000.0;
/// The last ten seconds may not peak much above the first ten: no slow build-up.
const SWEEP_GROWTH: f64 = 4.0;

#[test]
fn sweeping_every_parameter_every_sample_stays_bounded() {
    let fs = 48_000.0;
    let seconds = 60;
    let n = seconds * fs as usize;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut s = CorrectiveEqSettings {
        high_pass: PassFilter { enabled: true, freq_hz: 30.0, slope: Slope::Db48, shape: PassShape::Butterworth },
        low_pass: PassFilter { enabled: true, freq_hz: 18_000.0, slope: Slope::Db48, shape: PassShape::LinkwitzRiley },
        ..Default::default()
    };
    let kinds = [BandType::Bell, BandType::LowShelf, BandType::HighShelf, BandType::Notch];
    let places = [Placement::Stereo, Placement::Mid, Placement::Side, Placement::Left];
    for (i, b) in s.bands.iter_mut().enumerate() {
        *b = EqBand { enabled: true, kind: kinds[i % 4], placement: places[i % 4], q: 2.0, ..EqBand::default() };
        b.dynamic = i == 7;
    }
    let mut eq = corrective_at(&s, fs);
    let mut e = EnhancingEqSettings::default();
    for b in [&mut e.low_shelf, &mut e.high_shelf, &mut e.air, &mut e.tilt, &mut e.bell] {
        b.enabled = true;
    }
    let mut enh = enhancing_at(&e, fs);
    let (mut peak, mut early, mut late) = (0.0f64, 0.0f64, 0.0f64);
    let mut finite = true;
    for i in 0..n {
        let t = i as f64 / fs;
        // Fast sweeps (2 to 11 Hz) over the whole range, plus a random jump every 0.1 s.
        for (k, b) in s.bands.iter_mut().enumerate() {
            let lfo = (2.0 * PI * (2.0 + k as f64) * t).sin();
            b.freq_hz = 20.0 * 1000f64.powf(0.5 + 0.5 * lfo);
            b.gain_db = 15.0 * (2.0 * PI * (1.3 + k as f64) * t).cos();
            b.q = 0.3 * 100f64.powf(0.5 + 0.5 * (2.0 * PI * 0.7 * t + k as f64).sin());
            if i % 4800 == 0 {
                b.freq_hz = rng.random_range(10.0..24_000.0);
            }
        }
        s.high_pass.freq_hz = 20.0 + 480.0 * (0.5 + 0.5 * (2.0 * PI * 3.0 * t).sin());
        s.low_pass.freq_hz = 2_000.0 + 20_000.0 * (0.5 + 0.5 * (2.0 * PI * 5.0 * t).sin());
        e.tilt.gain_db = 6.0 * (2.0 * PI * 4.0 * t).sin();
        e.bell.freq_hz = 20.0 * 1000f64.powf(0.5 + 0.5 * (2.0 * PI * 6.0 * t).sin());
        e.bell.gain_db = 12.0 * (2.0 * PI * 3.0 * t).cos();
        e.air.gain_db = 6.0 * (2.0 * PI * 1.0 * t).sin();
        eq.set(&s);
        enh.set(&e);
        let mut l = [rng.random::<f64>() - 0.5];
        let mut r = [rng.random::<f64>() - 0.5];
        eq.process(&mut l, &mut r);
        enh.process(&mut l, &mut r);
        finite &= l[0].is_finite() && r[0].is_finite();
        let p = l[0].abs().max(r[0].abs());
        peak = peak.max(p);
        if t < 10.0 {
            early = early.max(p);
        } else if t >= (seconds - 10) as f64 {
            late = late.max(p);
        }
    }
    println!("sweep peak {peak:.2}, first 10 s {early:.2}, last 10 s {late:.2}");
    assert!(finite, "non-finite output");
    assert!(peak < SWEEP_BOUND, "peak {peak}");
    assert!(late < SWEEP_GROWTH * early, "grew from {early} to {late}");
}

// --- dynamic bands -----------------------------------------------------------------------------

fn sine(f: f64, fs: f64, amp: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| amp * (2.0 * PI * f * i as f64 / fs).sin()).collect()
}

/// Dynamic band accuracy: the band's gain after settling, dB.
const DYN_TOL_DB: f64 = 0.25;

#[test]
fn dynamic_band_acts_only_above_threshold() {
    let fs = 48_000.0;
    let n = fs as usize; // 1 s; the last 0.25 s are measured
    let tail = n * 3 / 4;
    let mut s = one_band(BandType::Bell, 1000.0, 0.0, 2.0, Placement::Stereo);
    s.bands[0].dynamic = true;
    s.bands[0].dyn_threshold_db = -30.0;
    s.bands[0].dyn_range_db = -6.0;
    // (sine peak dBFS, expected band gain): RMS = peak - 3.01 dB.
    let cases = [(-40.0, 0.0), (-30.0 + 3.0103 + 3.0, -3.0), (-10.0, -6.0)];
    for (peak_db, want) in cases {
        let x = sine(1000.0, fs, 10f64.powf(peak_db / 20.0), n);
        let mut eq = corrective_at(&s, fs);
        let (ol, _) = run(&mut eq, &x, &x);
        let gain = rms_db(&ol[tail..]) - rms_db(&x[tail..]);
        assert!((gain - want).abs() < DYN_TOL_DB, "input {peak_db} dBFS: gain {gain:.2} dB, want {want}");
    }
}

/// Largest excursion (dB above the input's peak) a tone in the pass band may show while a pass
/// filter's corner glides: a click or a jump in the response would exceed it.
const GLIDE_EXCURSION_DB: f64 = 0.1;

#[test]
fn pass_filter_corners_glide_without_clicks() {
    // The high-pass glides across fs/32..fs/16, where its correction sections fade in; the
    // low-pass glides down from 20 kHz. The tone sits far inside the pass band throughout.
    let fs = 48_000.0;
    let n = fs as usize;
    let amp = 0.5;
    for (high, tone, from, to) in [(true, 15_000.0, 1_000.0, 3_500.0), (false, 1_000.0, 20_000.0, 6_000.0)] {
        for slope in [Slope::Db12, Slope::Db48] {
            let mut s = CorrectiveEqSettings::default();
            let x = sine(tone, fs, amp, n);
            let set = |s: &mut CorrectiveEqSettings, f: f64| {
                let p = if high { &mut s.high_pass } else { &mut s.low_pass };
                *p = PassFilter { enabled: true, freq_hz: f, slope, shape: PassShape::Butterworth };
            };
            set(&mut s, from);
            let mut eq = corrective_at(&s, fs);
            let (mut l, mut r) = (x.clone(), x.clone());
            let blocks = n / BLOCK;
            for (b, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
                // Exponential sweep over the whole second.
                set(&mut s, from * (to / from).powf(b as f64 / blocks as f64));
                eq.set(&s);
                eq.process(cl, cr);
            }
            // After the filter's own start-up ring.
            let settle = n / 20;
            let peak = l[settle..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let excursion = 20.0 * (peak / amp).log10();
            let kind = if high { "HP" } else { "LP" };
            println!("{kind} {slope:?} glide {from}..{to} Hz: tone peak {excursion:+.4} dB");
            assert!(excursion.abs() < GLIDE_EXCURSION_DB, "{kind} {slope:?}: {excursion:+.3} dB");
        }
    }
}
