//! Metering against EBU Tech 3341 / 3342 (synthesised cases), against the `ebur128` crate as
//! an oracle, and the platform, correlation, stage-meter and no-allocation properties.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use lacquer_dsp::meter::analysis::analyse;
use lacquer_dsp::meter::kweight::{highpass_coefs, shelf_coefs};
use lacquer_dsp::meter::platforms::PLATFORMS;
use lacquer_dsp::meter::spectrum::SpectrumAnalyser;
use lacquer_dsp::meter::{MeterSnapshot, Metering, ProgrammeMeter, ProgrammeValues};
use lacquer_dsp::STAGE_COUNT;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Allocation counter: counts allocations made by this thread while `COUNTING` is set.

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

// ---------------------------------------------------------------------------------------------
// Signal synthesis, streamed in blocks (192 kHz x 100 s does not fit comfortably in memory).

const RATES: [f64; 4] = [44_100.0, 48_000.0, 96_000.0, 192_000.0];
/// Frames per block fed to the meters: not a divisor of any sub-block length, so sub-blocks
/// straddle block boundaries.
const BLOCK: usize = 1000;

fn db(x: f64) -> f64 {
    10f64.powf(x / 20.0)
}

/// A sine by complex rotation (exact to ~1e-12 over minutes, much cheaper than `sin`).
struct Tone {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
}

impl Tone {
    /// `cycles_per_sample` = f / fs; `phase_deg` at sample 0.
    fn new(cycles_per_sample: f64, phase_deg: f64) -> Self {
        let w = 2.0 * std::f64::consts::PI * cycles_per_sample;
        let p = phase_deg.to_radians();
        Self { re: p.cos(), im: p.sin(), step_re: w.cos(), step_im: w.sin() }
    }

    fn next(&mut self) -> f64 {
        let s = self.im;
        let (re, im) =
            (self.re * self.step_re - self.im * self.step_im, self.re * self.step_im + self.im * self.step_re);
        // Renormalise to stop the magnitude drifting.
        let k = 1.5 - 0.5 * (re * re + im * im);
        self.re = re * k;
        self.im = im * k;
        s
    }
}

/// A programme of (peak dBFS, seconds) segments of one tone; calls `feed(block)` per block.
fn stream(fs: f64, cycles_per_sample: f64, segments: &[(f64, f64)], mut feed: impl FnMut(&[f64])) {
    let mut tone = Tone::new(cycles_per_sample, 0.0);
    let mut buf = vec![0.0; BLOCK];
    for &(dbfs, seconds) in segments {
        let gain = db(dbfs);
        let mut left = (seconds * fs).round() as usize;
        while left > 0 {
            let n = left.min(BLOCK);
            buf[..n].iter_mut().for_each(|x| *x = gain * tone.next());
            feed(&buf[..n]);
            left -= n;
        }
    }
}

fn metering(fs: f64) -> Metering {
    let mut m = Metering::new();
    m.prepare(fs, BLOCK);
    m
}

/// Feed the same signal to both channels of the input and the output meters.
fn feed_stereo(m: &mut Metering, x: &[f64]) {
    m.process_input(x, x);
    m.process_output(x, x);
}

/// Stereo 1 kHz programme through a stereo [`ProgrammeMeter`] (the same K-weighting, loudness
/// and true-peak code as the plugin's [`Metering`], which the oracle and per-reading tests
/// drive; the standalone meter keeps these long cases quick at 192 kHz).
fn measure_1k(fs: f64, segments: &[(f64, f64)]) -> ProgrammeValues {
    let mut meter = ProgrammeMeter::<2>::new(fs, [1.0, 1.0]);
    let mut frames = vec![[0.0; 2]; BLOCK];
    stream(fs, 1000.0 / fs, segments, |x| {
        for (f, &s) in frames.iter_mut().zip(x) {
            *f = [s, s];
        }
        meter.process(&frames[..x.len()]);
    });
    meter.values()
}

fn assert_within(what: &str, fs: f64, got: f64, want: f64, below: f64, above: f64) {
    assert!(
        got >= want - below && got <= want + above,
        "{what} at {fs} Hz: {got:.3}, expected {want} (-{below}/+{above})"
    );
}

// ---------------------------------------------------------------------------------------------
// EBU Tech 3341, loudness cases (tolerance +-0.1 LU)

/// | case | signal (1 kHz, both channels, dBFS, seconds) | expected |
const TECH_3341_INTEGRATED: &[(u32, &[(f64, f64)], f64)] = &[
    (1, &[(-23.0, 20.0)], -23.0),
    (2, &[(-33.0, 20.0)], -33.0),
    (3, &[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    (4, &[(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    (5, &[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
];

#[test]
fn tech_3341_cases_1_to_5_integrated() {
    for fs in RATES {
        for &(case, segments, expected) in TECH_3341_INTEGRATED {
            let v = measure_1k(fs, segments);
            assert_within(&format!("case {case} I"), fs, v.integrated, expected, 0.1, 0.1);
            if case <= 2 {
                assert_within(&format!("case {case} M"), fs, v.momentary, expected, 0.1, 0.1);
                assert_within(&format!("case {case} S"), fs, v.short_term, expected, 0.1, 0.1);
            }
        }
    }
}

#[test]
fn tech_3341_case_6_five_channels() {
    // | channel | L | R | C | Ls | Rs |  -> I = -23.0
    // | dBFS    | -28 | -28 | -24 | -30 | -30 |  with G = 1.41 for the surrounds.
    const LEVELS: [f64; 5] = [-28.0, -28.0, -24.0, -30.0, -30.0];
    const WEIGHTS: [f64; 5] = [1.0, 1.0, 1.0, 1.41, 1.41];
    for fs in RATES {
        let mut meter = ProgrammeMeter::<5>::new(fs, WEIGHTS);
        let gains = LEVELS.map(db);
        let mut frames = vec![[0.0; 5]; BLOCK];
        stream(fs, 1000.0 / fs, &[(0.0, 20.0)], |x| {
            for (f, &s) in frames.iter_mut().zip(x) {
                *f = gains.map(|g| g * s);
            }
            meter.process(&frames[..x.len()]);
        });
        assert_within("case 6 I", fs, meter.values().integrated, -23.0, 0.1, 0.1);
    }
}

/// Feed `period` repeated `repeats` times as (dBFS, seconds) pairs and check `reading` after
/// `settle` seconds at every block: Tech 3341 cases 9 (short-term) and 12 (momentary).
fn check_every_reading(case: u32, fs: f64, pattern: &[(f64, f64)], repeats: usize, settle: f64, momentary: bool) {
    let mut m = metering(fs);
    let segments: Vec<(f64, f64)> = pattern.iter().copied().cycle().take(pattern.len() * repeats).collect();
    let (mut fed, mut checked) = (0usize, 0usize);
    stream(fs, 1000.0 / fs, &segments, |x| {
        feed_stereo(&mut m, x);
        fed += x.len();
        if fed as f64 / fs >= settle + 0.1 {
            let v = m.values().input;
            let got = if momentary { v.momentary } else { v.short_term };
            assert_within(&format!("case {case} at {:.2} s", fed as f64 / fs), fs, got, -23.0, 0.1, 0.1);
            checked += 1;
        }
    });
    assert!(checked > 10);
}

#[test]
fn tech_3341_case_9_short_term_every_reading() {
    // 5 x [1.34 s at -20, 1.66 s at -30 dBFS]: S = -23.0 at every reading after 3 s.
    for fs in RATES {
        check_every_reading(9, fs, &[(-20.0, 1.34), (-30.0, 1.66)], 5, 3.0, false);
    }
}

#[test]
fn tech_3341_case_12_momentary_every_reading() {
    // 25 x [0.18 s at -20, 0.22 s at -30 dBFS]: M = -23.0 at every reading after 1 s.
    for fs in RATES {
        check_every_reading(12, fs, &[(-20.0, 0.18), (-30.0, 0.22)], 25, 1.0, true);
    }
}

// ---------------------------------------------------------------------------------------------
// EBU Tech 3341, true-peak cases (tolerance +0.2 / -0.4 dB)

/// 3 s of `amp * sin(2 pi n / period + phase)` with 20 ms raised-cosine fades in and out.
fn tp_signal(fs: f64, amp: f64, period: f64, phase_deg: f64) -> Vec<f64> {
    let n = (3.0 * fs) as usize;
    let fade = (0.02 * fs) as usize;
    (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let g =
                if edge < fade { 0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos() } else { 1.0 };
            g * amp * (2.0 * std::f64::consts::PI * i as f64 / period + phase_deg.to_radians()).sin()
        })
        .collect()
}

#[test]
fn tech_3341_true_peak_cases_15_to_19() {
    // | case | signal | TP dBTP | sample peak |
    const CASES: &[(u32, f64, f64, f64, f64, Option<f64>)] = &[
        (15, 0.5, 4.0, 0.0, -6.0, None),
        (16, 0.5, 4.0, 45.0, -6.0, Some(-9.0)),
        (17, 0.5, 6.0, 60.0, -6.0, None),
        (18, 0.5, 8.0, 67.5, -6.0, None),
        (19, 1.41, 4.0, 45.0, 3.0, Some(0.0)),
    ];
    for fs in RATES {
        for &(case, amp, period, phase, tp, sample_peak) in CASES {
            let x = tp_signal(fs, amp, period, phase);
            let mut m = metering(fs);
            for block in x.chunks(BLOCK) {
                feed_stereo(&mut m, block);
            }
            let v = m.values().input;
            assert_within(&format!("case {case} TP"), fs, v.true_peak_max, tp, 0.4, 0.2);
            if let Some(sp) = sample_peak {
                assert_within(&format!("case {case} sample peak"), fs, v.sample_peak_max, sp, 0.05, 0.05);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EBU Tech 3342, loudness range (tolerance +-1 LU)

#[test]
fn tech_3342_cases_1_to_4_loudness_range() {
    // | case | 1 kHz stereo, dBFS x 20 s each | LRA |
    const CASES: &[(u32, &[f64], f64)] = &[
        (1, &[-20.0, -30.0], 10.0),
        (2, &[-20.0, -15.0], 5.0),
        (3, &[-40.0, -20.0], 20.0),
        (4, &[-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ];
    for fs in RATES {
        for &(case, levels, lra) in CASES {
            let segments: Vec<(f64, f64)> = levels.iter().map(|&l| (l, 20.0)).collect();
            let v = measure_1k(fs, &segments);
            assert_within(&format!("Tech 3342 case {case} LRA"), fs, v.loudness_range, lra, 1.0, 1.0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// K-weighting: the 48 kHz coefficients of BS.1770 from the analogue design

#[test]
fn k_weighting_reproduces_published_48k_coefficients() {
    let shelf = shelf_coefs(48_000.0);
    let hp = highpass_coefs(48_000.0);
    let published = [
        (shelf.b0, 1.53512485958697),
        (shelf.b1, -2.69169618940638),
        (shelf.b2, 1.19839281085285),
        (shelf.a1, -1.69065929318241),
        (shelf.a2, 0.73248077421585),
        (hp.b0, 1.0),
        (hp.b1, -2.0),
        (hp.b2, 1.0),
        (hp.a1, -1.99004745483398),
        (hp.a2, 0.99007225036621),
    ];
    for (got, want) in published {
        assert!((got - want).abs() < 1e-8, "{got} vs published {want}");
    }
}

// ---------------------------------------------------------------------------------------------
// Oracle: the ebur128 crate on noise and programme-like signals

/// One-pole low-pass state for "programme-like" coloured noise.
struct Colour {
    state: [f64; 2],
    coef: f64,
}

/// Stereo programme-like signal: coloured noise (partly common to both channels), a decaying
/// 60 Hz "kick" every 0.5 s, and sections at different levels with a 2 Hz tremolo.
fn programme(fs: f64, seconds: f64, seed: u64, mut feed: impl FnMut(&[f64], &[f64])) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut colour = Colour { state: [0.0; 2], coef: (-2.0 * std::f64::consts::PI * 3000.0 / fs).exp() };
    const SECTIONS_DB: [f64; 4] = [-12.0, -6.0, -18.0, -4.0];
    let total = (seconds * fs) as usize;
    let (mut l, mut r) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
    let mut i = 0;
    while i < total {
        let n = BLOCK.min(total - i);
        for k in 0..n {
            let t = (i + k) as f64 / fs;
            let section = SECTIONS_DB[((t / seconds * 4.0) as usize).min(3)];
            let env = db(section) * (1.0 + 0.5 * (2.0 * std::f64::consts::PI * 2.0 * t).sin());
            let common: f64 = rng.random_range(-1.0..1.0);
            let raw = [common + 0.5 * rng.random_range(-1.0..1.0), common + 0.5 * rng.random_range(-1.0..1.0)];
            for c in 0..2 {
                colour.state[c] = colour.coef * colour.state[c] + (1.0 - colour.coef) * raw[c];
            }
            let beat = t % 0.5;
            let kick = 0.5 * (-beat * 30.0).exp() * (2.0 * std::f64::consts::PI * 60.0 * beat).sin();
            l[k] = env * (2.0 * colour.state[0] + kick);
            r[k] = env * (2.0 * colour.state[1] + kick);
        }
        feed(&l[..n], &r[..n]);
        i += n;
    }
}

/// White noise, independent channels, at -20 dBFS RMS-ish.
fn white(fs: f64, seconds: f64, seed: u64, mut feed: impl FnMut(&[f64], &[f64])) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let total = (seconds * fs) as usize;
    let (mut l, mut r) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
    let mut i = 0;
    while i < total {
        let n = BLOCK.min(total - i);
        for k in 0..n {
            l[k] = 0.17 * rng.random_range(-1.0..1.0);
            r[k] = 0.17 * rng.random_range(-1.0..1.0);
        }
        feed(&l[..n], &r[..n]);
        i += n;
    }
}

#[test]
fn matches_ebur128_oracle_on_noise_and_programme() {
    use ebur128::{EbuR128, Mode};
    type Source = fn(f64, f64, u64, &mut dyn FnMut(&[f64], &[f64]));
    let sources: [(&str, Source, f64); 2] = [
        ("white noise", |fs, s, seed, f| white(fs, s, seed, f), 8.0),
        ("programme", |fs, s, seed, f| programme(fs, s, seed, f), 24.0),
    ];
    for fs in RATES {
        for &(name, source, seconds) in &sources {
            let mut ours = metering(fs);
            let mut oracle = EbuR128::new(2, fs as u32, Mode::all() & !Mode::HISTOGRAM).expect("ebur128");
            let mut interleaved = vec![0.0; 2 * BLOCK];
            source(fs, seconds, 7, &mut |l, r| {
                ours.process_input(l, r);
                ours.process_output(l, r);
                for (k, (a, b)) in l.iter().zip(r).enumerate() {
                    interleaved[2 * k] = *a;
                    interleaved[2 * k + 1] = *b;
                }
                oracle.add_frames_f64(&interleaved[..2 * l.len()]).expect("frames");
            });
            let v = ours.values().input;
            let what = |q: &str| format!("{name} {q} vs ebur128");
            assert_within(&what("I"), fs, v.integrated, oracle.loudness_global().unwrap(), 0.02, 0.02);
            assert_within(&what("M"), fs, v.momentary, oracle.loudness_momentary().unwrap(), 0.02, 0.02);
            assert_within(&what("S"), fs, v.short_term, oracle.loudness_shortterm().unwrap(), 0.02, 0.02);
            // ebur128 hops its short-term blocks by 1 s for LRA, we by 0.1 s as Tech 3342 asks.
            assert_within(&what("LRA"), fs, v.loudness_range, oracle.loudness_range().unwrap(), 0.5, 0.5);
            let oracle_tp = 20.0 * oracle.true_peak(0).unwrap().max(oracle.true_peak(1).unwrap()).log10();
            if name == "white noise" && fs < 176_000.0 {
                // Full-band noise has a fifth of its energy above 0.4 fs, where every meter's
                // interpolator rolls off, so meters with different filters differ: a 16x,
                // 64-tap reference reads this noise about 0.5 dB (48 kHz) to 0.8 dB (96 kHz)
                // above ours; ebur128 reads 0.46 dB below ours at 44.1/48 kHz (ITU filter) and
                // 0.44 dB above at 96 kHz (2x). The standard allows a 4x meter 0.55 dB.
                assert_within(&what("TP (white)"), fs, v.true_peak_max, oracle_tp, 0.6, 0.6);
            } else if fs < 176_000.0 {
                assert_within(&what("TP"), fs, v.true_peak_max, oracle_tp, 0.3, 0.3);
            } else if name == "white noise" {
                // ebur128 does not oversample at 192 kHz (its TP is the sample peak), so on
                // full-band noise it reads several dB low; ours interpolates 2x.
                assert!(v.true_peak_max >= oracle_tp, "{}: {} < sample peak {oracle_tp}", what("TP"), v.true_peak_max);
            } else {
                assert_within(&what("TP (>= sample peak)"), fs, v.true_peak_max, oracle_tp, 0.0, 0.5);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Platform playback on synthetic masters (48 kHz, 1 kHz sine: loudness = per-channel peak dBFS)

/// A 10 s stereo master: a 1 kHz sine at `lufs` with, optionally, one click at `click_dbfs`
/// (which sets the true peak without moving the loudness).
fn master(lufs: f64, click_dbfs: Option<f64>) -> Vec<f32> {
    const FS: f64 = 48_000.0;
    let mut tone = Tone::new(1000.0 / FS, 0.0);
    let n = (10.0 * FS) as usize;
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let mut x = db(lufs) * tone.next();
        if i == n / 2 {
            if let Some(c) = click_dbfs {
                x = db(c);
            }
        }
        out.extend([x as f32, x as f32]);
    }
    out
}

fn gain_on(platform: &str, report: &lacquer_dsp::meter::analysis::Report) -> f64 {
    report.playback.iter().find(|p| p.platform == platform).expect("platform listed").gain_db
}

#[test]
fn platform_playback_gains_follow_the_rules() {
    assert_eq!(PLATFORMS.len(), 10);
    // | master | platform | playback gain dB |
    let cases: &[(f64, Option<f64>, &[(&str, f64)])] = &[
        (
            -8.0,
            None,
            &[
                ("Spotify", -6.0),
                ("Apple Music", -8.0),
                ("YouTube", -6.0),
                ("TIDAL", -6.0),
                ("Amazon Music", -6.0),
                ("Deezer", -7.0),
                ("SoundCloud", 0.0),
                ("EBU R 128", -15.0),
                ("ATSC A/85", -16.0),
                ("Club / DJ", 0.0),
            ],
        ),
        (-14.0, None, &[("Spotify", 0.0), ("YouTube", 0.0), ("TIDAL", 0.0), ("Apple Music", -2.0)]),
        // -20 LUFS, true peak -20 dBTP: plenty of headroom, raised fully where the rule raises.
        (
            -20.0,
            None,
            &[
                ("Spotify", 6.0),
                ("Apple Music", 4.0),
                ("YouTube", 0.0),
                ("TIDAL", 0.0),
                ("EBU R 128", -3.0),
                ("ATSC A/85", -4.0),
            ],
        ),
        // -20 LUFS with a -6 dBTP click: Spotify raises only until the peak reaches -1 dBTP.
        (-20.0, Some(-6.0), &[("Spotify", 5.0), ("Apple Music", 4.0), ("YouTube", 0.0)]),
    ];
    for &(lufs, click, expected) in cases {
        let report = analyse(&master(lufs, click), 2, 48_000.0);
        assert_within("master loudness", 48_000.0, report.values.integrated, lufs, 0.1, 0.1);
        for &(platform, gain) in expected {
            let got = gain_on(platform, &report);
            assert!(
                (got - gain).abs() <= 0.15,
                "{platform} on a {lufs} LUFS master (click {click:?}): {got:.2} dB, expected {gain}"
            );
        }
        let spotify = report.playback.iter().find(|p| p.platform == "Spotify").unwrap();
        assert!(spotify.resulting_true_peak_dbtp <= -1.0 + 0.05 || spotify.gain_db <= 0.0);
    }
    // Louder than -14 LUFS with a -1.5 dBTP peak: within -1 dBTP, but not Spotify's -2 dBTP.
    let loud = analyse(&master(-8.0, Some(-1.5)), 2, 48_000.0);
    let spotify = loud.playback.iter().find(|p| p.platform == "Spotify").unwrap();
    assert!(spotify.warnings.iter().any(|w| w.contains("-2 dBTP")), "{:?}", spotify.warnings);
    let quiet = analyse(&master(-20.0, None), 2, 48_000.0);
    assert!(quiet.playback.iter().all(|p| !p.warnings.iter().any(|w| w.contains("dBTP above"))));
}

// ---------------------------------------------------------------------------------------------
// Correlation, stage meter, snapshot, spectrum feed

#[test]
fn correlation_identical_inverted_independent() {
    const FS: f64 = 48_000.0;
    let mut rng = SmallRng::seed_from_u64(3);
    let a: Vec<f64> = (0..2 * FS as usize).map(|_| rng.random_range(-0.5..0.5)).collect();
    let b: Vec<f64> = (0..2 * FS as usize).map(|_| rng.random_range(-0.5..0.5)).collect();
    let inverted: Vec<f64> = a.iter().map(|x| -x).collect();
    // | left | right | correlation |
    for (right, want, tol) in [(&a, 1.0, 1e-9), (&inverted, -1.0, 1e-9), (&b, 0.0, 0.05)] {
        let mut m = metering(FS);
        for (l, r) in a.chunks(BLOCK).zip(right.chunks(BLOCK)) {
            m.process_input(l, r);
            m.process_output(l, r);
        }
        let c = m.values().output.correlation;
        assert!((c - want).abs() <= tol, "correlation {c}, expected {want} +- {tol}");
    }
}

#[test]
fn stage_meter_reports_a_3_db_stage_as_3_lu() {
    const FS: f64 = 48_000.0;
    let gain = db(3.0);
    let mut m = metering(FS);
    let snapshot = MeterSnapshot::new();
    programme(FS, 5.0, 11, |l, r| {
        let (l3, r3): (Vec<f64>, Vec<f64>) =
            (l.iter().map(|x| x * gain).collect(), r.iter().map(|x| x * gain).collect());
        m.process_input(l, r);
        // Stage 0 applies +3 dB, the others pass through; stage 6 reports 2.5 dB GR, stage 4 bypassed.
        m.process_stage(0, &l3, &r3, 0.0, false);
        for s in 1..STAGE_COUNT {
            m.process_stage(s, &l3, &r3, if s == 6 { 2.5 } else { 0.0 }, s == 4);
        }
        m.process_output(&l3, &r3);
        m.publish(&snapshot);
    });
    let v = snapshot.read();
    assert!((v.stages[0].delta_lu - 3.0).abs() <= 0.1, "stage 1 delta {}", v.stages[0].delta_lu);
    assert!((v.stages[0].out_peak_db - v.stages[0].in_peak_db - 3.0).abs() <= 0.01);
    for s in 1..STAGE_COUNT {
        assert!(v.stages[s].delta_lu.abs() <= 0.01, "stage {} delta {}", s + 1, v.stages[s].delta_lu);
    }
    assert!(v.stages[4].bypassed && !v.stages[3].bypassed);
    assert_eq!(v.stages[6].gain_reduction_db, 2.5);
    assert_eq!(v.limiter_gain_reduction_db, 2.5);
    assert!((v.output.integrated - v.input.integrated - 3.0).abs() <= 0.01);
    assert!(snapshot.generation() > 0);
}

#[test]
fn spectrum_feed_shows_a_tone_at_its_frequency() {
    const FS: f64 = 48_000.0;
    let mut m = metering(FS);
    let ring = m.spectrum_output();
    stream(FS, 3000.0 / FS, &[(-6.0, 0.5)], |x| feed_stereo(&mut m, x));
    let mut analyser = SpectrumAnalyser::new(4096, 0.0);
    let db = analyser.update(&ring).to_vec();
    let peak = (0..db.len()).max_by(|&a, &b| db[a].total_cmp(&db[b])).unwrap();
    let f = analyser.bin_frequency(peak, FS);
    assert!((f - 3000.0).abs() <= FS / 4096.0, "peak at {f} Hz");
    // A full-scale-normalised reading: -6 dBFS sine, mean square 0.125 -> about -9 dB.
    assert!((db[peak] - -9.0).abs() < 2.0, "peak level {}", db[peak]);
}

// ---------------------------------------------------------------------------------------------
// Real-time safety: no allocation during a session of an hour

fn run_counting(f: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed)
}

#[test]
fn an_hour_of_metering_never_allocates() {
    // Session-length state (histograms, rings, counters) advances once per 100 ms sub-block,
    // so an hour at 8 kHz walks the same 36 000 sub-blocks as an hour at 48 kHz at a sixth of
    // the cost; a minute at 48 kHz covers the per-sample paths at a common rate.
    const HOUR_BLOCK: usize = 4096;
    for (fs, seconds) in [(8_000.0, 3600.0), (48_000.0, 60.0)] {
        let mut rng = SmallRng::seed_from_u64(5);
        // A few blocks of noise at different levels, cycled: cheap, and the loudness moves
        // over a wide range so the histograms fill many bins.
        let blocks: Vec<Vec<f64>> = (0..16)
            .map(|k| (0..HOUR_BLOCK).map(|_| db(-5.0 * k as f64) * rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut m = Metering::new();
        m.prepare(fs, HOUR_BLOCK);
        let snapshot = MeterSnapshot::new();
        let total_blocks = (seconds * fs) as usize / HOUR_BLOCK;
        let allocations = run_counting(|| {
            for i in 0..total_blocks {
                let x = &blocks[(i / 7) % blocks.len()];
                m.process_input(x, x);
                for s in 0..STAGE_COUNT {
                    m.process_stage(s, x, x, 0.0, false);
                }
                m.process_output(x, x);
                m.publish(&snapshot);
            }
            m.reset();
        });
        assert_eq!(allocations, 0, "allocations while metering at {fs} Hz");
        assert!(m.values().input.integrated == f64::NEG_INFINITY, "reset clears the readings");
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis report

#[test]
fn analysis_report_renders_text_and_json() {
    let report = analyse(&master(-14.0, Some(-3.0)), 2, 48_000.0);
    let text = report.to_text("master.wav");
    for needle in ["integrated loudness", "true peak", "Spotify", "diagnostics", "headroom"] {
        assert!(text.contains(needle), "text lacks {needle}:\n{text}");
    }
    let json = report.to_json("a \"quoted\" name.wav");
    assert!(json.starts_with("{\"file\":\"a \\\"quoted\\\" name.wav\""));
    assert_eq!(json.matches('{').count(), json.matches('}').count());
    assert_eq!(json.matches('[').count(), json.matches(']').count());
    let key = "\"integrated_lufs\":";
    let at = json.find(key).expect("integrated in JSON") + key.len();
    let value: f64 = json[at..].split(',').next().unwrap().parse().expect("a number");
    assert!((value - report.values.integrated).abs() < 0.001 && (value + 14.0).abs() < 0.1);
    assert!((report.values.true_peak_max - -3.0).abs() < 0.1);
    assert!((report.values.plr - 11.0).abs() < 0.2);
    // A sine with identical channels: the mono sum loses nothing.
    assert!((report.values.integrated - report.mono_lufs).abs() < 0.05);
}

/// A mono file reads as one channel (BS.1770, as ffmpeg's `ebur128` and libebur128 read it,
/// and as the plugin meters a mono bus): a 997 Hz sine at -20 dBFS reads -23.0 LUFS, the same as
/// a stereo file with that sine on the left and silence on the right, and 3.01 LU under the
/// same sine on both channels (dual mono).
#[test]
fn a_mono_file_reads_as_one_channel() {
    const FS: f64 = 48_000.0;
    let amplitude = 0.1;
    let x: Vec<f32> = (0..(10.0 * FS) as usize)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * 997.0 * n as f64 / FS).sin()) as f32)
        .collect();
    let mono = analyse(&x, 1, FS);
    let left_only: Vec<f32> = x.iter().flat_map(|&v| [v, 0.0]).collect();
    let dual: Vec<f32> = x.iter().flat_map(|&v| [v, v]).collect();
    let (left_only, dual) = (analyse(&left_only, 2, FS), analyse(&dual, 2, FS));
    assert!((mono.values.integrated - -23.01).abs() < 0.1, "mono: {:.2} LUFS", mono.values.integrated);
    assert!((mono.values.integrated - left_only.values.integrated).abs() < 0.01);
    let dual_gap = dual.values.integrated - mono.values.integrated;
    assert!((dual_gap - 3.01).abs() < 0.01, "dual mono reads {dual_gap:.3} LU louder");
    // A mono file's mono sum is itself: no mono-compatibility loss.
    assert!((mono.mono_lufs - mono.values.integrated).abs() < 0.01);
    assert!(mono.notes.iter().any(|n| n.contains("dual mono")), "{:?}", mono.notes);
}

#[test]
fn true_peak_does_not_depend_on_block_size() {
    use lacquer_dsp::meter::true_peak::TruePeak;
    let mut rng = SmallRng::seed_from_u64(9);
    let x: Vec<[f64; 4]> = (0..20_000).map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0))).collect();
    for fs in [48_000.0, 192_000.0] {
        let mut whole = TruePeak::<4>::new(fs);
        let mut one_by_one = TruePeak::<4>::new(fs);
        let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
        whole.process(&x, &mut a);
        for chunk in x.chunks(7) {
            for f in chunk.chunks(1) {
                one_by_one.process(f, &mut b);
            }
        }
        assert_eq!(a, b, "block size changed the reading at {fs} Hz");
        let sample_peak = x.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(a.iter().all(|&p| p >= sample_peak * 0.9), "interpolated peaks at least near the sample peak");
    }
}
