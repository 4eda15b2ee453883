//! Gain staging, corrective EQ and enhancing EQ throughput: 48 kHz stereo, 512-frame blocks.
//!
//! Criterion reports elements (frames) per second; divide by 48 000 for "× real time".

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lacquer_dsp::stage::Stage;
use lacquer_dsp::stages::corrective_eq::{
    BandType, CorrectiveEq, CorrectiveEqSettings, EqBand, PassFilter, PassShape, Slope,
};
use lacquer_dsp::stages::enhancing_eq::{EnhancingEq, EnhancingEqSettings, MsPlacement, ToneBand};
use lacquer_dsp::stages::gain_staging::{GainStaging, GainStagingSettings};
use lacquer_dsp::stages::Placement;
use std::hint::black_box;
use std::time::Duration;

const SAMPLE_RATE: f64 = 48_000.0;
const BLOCK: usize = 512;
/// Blocks per iteration: about 1 s of audio.
const BLOCKS: usize = 94;

fn input() -> (Vec<f64>, Vec<f64>) {
    let n = BLOCK * BLOCKS;
    let mut seed = 0x1234_5678u32;
    let mut l = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    for i in 0..n {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5;
        let t = i as f64 / SAMPLE_RATE;
        l.push(0.3 * (2.0 * std::f64::consts::PI * 110.0 * t).sin() + 0.2 * noise);
        r.push(0.3 * (2.0 * std::f64::consts::PI * 110.5 * t).sin() - 0.2 * noise);
    }
    (l, r)
}

/// Process the whole input block by block (the input is copied fresh each iteration so the
/// signal stays the same).
fn bench_stage<S: Stage>(c: &mut Criterion, name: &str, mut stage: S, settings: &S::Settings) {
    stage.set(settings);
    stage.prepare(SAMPLE_RATE, BLOCK);
    let (l, r) = input();
    let (mut bl, mut br) = (l.clone(), r.clone());
    let mut group = c.benchmark_group("eq");
    group.throughput(Throughput::Elements((BLOCK * BLOCKS) as u64));
    group.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            bl.copy_from_slice(&l);
            br.copy_from_slice(&r);
            for (cl, cr) in bl.chunks_mut(BLOCK).zip(br.chunks_mut(BLOCK)) {
                stage.set(settings);
                stage.process(cl, cr);
            }
            black_box((&bl, &br));
        })
    });
    group.finish();
}

fn corrective_all_on() -> CorrectiveEqSettings {
    let kinds = [BandType::Bell, BandType::LowShelf, BandType::HighShelf, BandType::Notch];
    let mut s = CorrectiveEqSettings {
        high_pass: PassFilter { enabled: true, freq_hz: 30.0, slope: Slope::Db48, shape: PassShape::Butterworth },
        low_pass: PassFilter { enabled: true, freq_hz: 18_000.0, slope: Slope::Db48, shape: PassShape::LinkwitzRiley },
        ..Default::default()
    };
    for (i, b) in s.bands.iter_mut().enumerate() {
        *b = EqBand {
            enabled: true,
            kind: kinds[i % 4],
            freq_hz: 80.0 * 1.8f64.powi(i as i32),
            gain_db: if i % 2 == 0 { 3.0 } else { -4.0 },
            q: 1.5,
            placement: Placement::Stereo,
            ..EqBand::default()
        };
    }
    s
}

fn corrective_mixed_placement() -> CorrectiveEqSettings {
    let mut s = corrective_all_on();
    let places = [Placement::Stereo, Placement::Mid, Placement::Side, Placement::Left];
    for (i, b) in s.bands.iter_mut().enumerate() {
        b.placement = places[i % 4];
    }
    s
}

fn enhancing_all_on() -> EnhancingEqSettings {
    let band = |f, g| ToneBand { enabled: true, freq_hz: f, gain_db: g, placement: MsPlacement::Stereo };
    EnhancingEqSettings {
        low_shelf: band(100.0, 2.0),
        high_shelf: band(8_000.0, 1.5),
        air: band(16_000.0, 2.0),
        tilt: band(1_000.0, -1.0),
        bell: band(2_000.0, 1.0),
        bell_q: 0.5,
    }
}

fn benches(c: &mut Criterion) {
    let gs = GainStagingSettings { input_db: -3.0, balance: 0.1, invert_right: true, ..Default::default() };
    bench_stage(c, "gain_staging_trim_dc_balance", GainStaging::default(), &gs);
    let auto = GainStagingSettings { auto_enabled: true, ..gs.clone() };
    bench_stage(c, "gain_staging_auto", GainStaging::default(), &auto);
    bench_stage(c, "corrective_8_bands_hp48_lp48", CorrectiveEq::default(), &corrective_all_on());
    bench_stage(c, "corrective_8_bands_mixed_placement", CorrectiveEq::default(), &corrective_mixed_placement());
    bench_stage(c, "enhancing_all_bands", EnhancingEq::default(), &enhancing_all_on());
}

criterion_group!(eq, benches);
criterion_main!(eq);
