//! Whole-chain throughput: 48 kHz stereo, 512-frame blocks.
//!
//! Criterion reports elements (frames) per second; divide by 48 000 for "× real time".

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lacquer_dsp::chain::{Chain, ChainSettings, STAGE_COUNT};
use lacquer_dsp::stages::corrective_eq::CORRECTIVE_BANDS;
use std::hint::black_box;

const SAMPLE_RATE: f64 = 48_000.0;
const BLOCK: usize = 512;
/// Blocks per iteration: about 1 s of audio, so per-iteration overhead is negligible.
const BLOCKS: usize = 94;

/// Deterministic programme-like input (two detuned tones plus a noisy decay).
fn input() -> (Vec<f32>, Vec<f32>) {
    let n = BLOCK * BLOCKS;
    let mut seed = 0x1234_5678u32;
    let mut l = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    for i in 0..n {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        let t = i as f32 / SAMPLE_RATE as f32;
        let env = (-((i % 24_000) as f32) / 4000.0).exp();
        let tone = (2.0 * std::f32::consts::PI * 110.0 * t).sin();
        l.push(0.3 * tone + 0.4 * env * noise);
        r.push(0.3 * (2.0 * std::f32::consts::PI * 110.5 * t).sin() + 0.4 * env * noise);
    }
    (l, r)
}

/// Every stage on and busy: all EQ bands, 3 multiband bands, saturation, width with mono bass,
/// limiter at 4x with drive.
fn busy_settings() -> ChainSettings {
    let mut s = ChainSettings { bypass: [false; STAGE_COUNT], ..Default::default() };
    s.corrective_eq.high_pass.enabled = true;
    s.corrective_eq.low_pass.enabled = true;
    for (i, b) in s.corrective_eq.bands.iter_mut().enumerate().take(CORRECTIVE_BANDS) {
        b.enabled = true;
        b.gain_db = if i % 2 == 0 { 2.0 } else { -2.0 };
    }
    for b in [
        &mut s.enhancing_eq.low_shelf,
        &mut s.enhancing_eq.high_shelf,
        &mut s.enhancing_eq.air,
        &mut s.enhancing_eq.tilt,
        &mut s.enhancing_eq.bell,
    ] {
        b.enabled = true;
        b.gain_db = 1.5;
    }
    s.saturation.drive_db = 6.0;
    s.width.width = 1.2;
    s.width.mono_bass = true;
    s.limiter.drive_db = 6.0;
    s
}

fn bench_chain(c: &mut Criterion) {
    let (l0, r0) = input();
    let mut group = c.benchmark_group("chain");
    group.throughput(Throughput::Elements((BLOCK * BLOCKS) as u64));
    for (name, settings) in [
        ("all stages busy", busy_settings()),
        ("defaults", ChainSettings::default()),
        ("all bypassed", ChainSettings::all_bypassed()),
    ] {
        let mut chain = Chain::new();
        chain.prepare(SAMPLE_RATE, BLOCK, 2);
        chain.set(&settings);
        chain.reset();
        let mut l = l0.clone();
        let mut r = r0.clone();
        group.bench_function(name, |b| {
            b.iter(|| {
                l.copy_from_slice(&l0);
                r.copy_from_slice(&r0);
                for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
                    chain.set(&settings);
                    chain.process(&mut [cl, cr]);
                }
                black_box(&l);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_chain);
criterion_main!(benches);
