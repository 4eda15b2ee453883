//! Multiband compression (stage 3) and stereo width (stage 6) throughput: 48 kHz stereo,
//! 512-frame blocks. Throughput is in frames; "x real time" = frames per second / 48000.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lacquer_dsp::stages::multiband::{CompBand, Multiband, MultibandSettings, MAX_BANDS};
use lacquer_dsp::stages::width::{Width, WidthSettings};
use lacquer_dsp::Stage;
use std::hint::black_box;

const FS: f64 = 48000.0;
const BLOCK: usize = 512;
/// One second of audio per iteration.
const BLOCKS: usize = 94;

/// A deterministic, loud-enough stereo test signal (tones plus cheap noise).
fn signal() -> (Vec<f64>, Vec<f64>) {
    let n = BLOCK * BLOCKS;
    let mut state = 12345u64;
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut l = vec![0.0; n];
    let mut r = vec![0.0; n];
    for i in 0..n {
        let t = i as f64 / FS;
        let tone =
            0.3 * (2.0 * std::f64::consts::PI * 60.0 * t).sin() + 0.1 * (2.0 * std::f64::consts::PI * 3000.0 * t).sin();
        l[i] = tone + 0.2 * noise();
        r[i] = 0.9 * tone + 0.2 * noise();
    }
    (l, r)
}

fn bench_stage<S: Stage>(c: &mut Criterion, name: &str, mut stage: S, settings: S::Settings) {
    let (l0, r0) = signal();
    stage.prepare(FS, BLOCK);
    stage.set(&settings);
    let mut l = l0.clone();
    let mut r = r0.clone();
    let mut group = c.benchmark_group("dynamics");
    group.throughput(Throughput::Elements(l0.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            l.copy_from_slice(&l0);
            r.copy_from_slice(&r0);
            for (cl, cr) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
                stage.set(black_box(&settings));
                stage.process(cl, cr);
            }
            black_box(&l);
        })
    });
    group.finish();
}

fn multiband(c: &mut Criterion) {
    // Three bands, every one compressing (thresholds well below the signal).
    let band = CompBand { threshold_db: -30.0, ratio: 3.0, ..Default::default() };
    let s = MultibandSettings { bands: 3, band: [band; MAX_BANDS], ..Default::default() };
    bench_stage(c, "multiband_3_bands_active", Multiband::default(), s);
    let bypassed = CompBand { bypass: true, ..Default::default() };
    let s = MultibandSettings { bands: 3, band: [bypassed; MAX_BANDS], ..Default::default() };
    bench_stage(c, "multiband_3_bands_bypassed", Multiband::default(), s);
}

fn width(c: &mut Criterion) {
    let s = WidthSettings { width: 1.5, mono_bass: true, ..Default::default() };
    bench_stage(c, "width_mono_bass", Width::default(), s);
    let s = WidthSettings { width: 1.5, ..Default::default() };
    bench_stage(c, "width_plain", Width::default(), s);
}

criterion_group!(benches, multiband, width);
criterion_main!(benches);
