//! Saturation (stage 5) and limiter (stage 7) throughput: 48 kHz stereo, 512-frame blocks.
//!
//! Throughput is in frames; x real time = frames per second / 48 000.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lacquer_dsp::stages::limiter::{Limiter, LimiterSettings, PeakOversampling};
use lacquer_dsp::stages::saturation::{Character, Oversampling, Saturation, SaturationSettings};
use lacquer_dsp::Stage;
use std::hint::black_box;
use std::time::Duration;

const FS: f64 = 48000.0;
const BLOCK: usize = 512;
/// One second of test signal, cycled.
const BLOCKS: usize = 94;

/// Programme-like stereo test signal: pseudo-random noise, low-passed, with a beat envelope,
/// peaks near 0 dBFS.
fn programme() -> [Vec<f64>; 2] {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut lp = [0.0f64; 2];
    let len = BLOCKS * BLOCK;
    let mut out = [vec![0.0; len], vec![0.0; len]];
    for n in 0..len {
        let env = 0.3 + (-((n % 12000) as f64) / 3000.0).exp();
        for (ch, buf) in out.iter_mut().enumerate() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let white = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            lp[ch] += 0.3 * (white - lp[ch]);
            buf[n] = 1.6 * lp[ch] * env;
        }
    }
    out
}

/// Time `stage` over the signal, one 512-frame block per iteration.
fn bench_stage<S: Stage>(c: &mut Criterion, group: &str, name: &str, stage: &mut S) {
    let signal = programme();
    let mut l = vec![0.0; BLOCK];
    let mut r = vec![0.0; BLOCK];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BLOCK as u64));
    g.measurement_time(Duration::from_secs(4));
    g.sample_size(30);
    let mut block = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            let start = block * BLOCK;
            l.copy_from_slice(&signal[0][start..start + BLOCK]);
            r.copy_from_slice(&signal[1][start..start + BLOCK]);
            stage.process(black_box(&mut l), black_box(&mut r));
            block = (block + 1) % BLOCKS;
        })
    });
    g.finish();
}

fn limiter(c: &mut Criterion) {
    for (name, oversampling) in
        [("4x", PeakOversampling::X4), ("8x", PeakOversampling::X8), ("16x", PeakOversampling::X16)]
    {
        let mut lim = Limiter::default();
        lim.set(&LimiterSettings { drive_db: 6.0, oversampling, ..Default::default() });
        lim.prepare(FS, BLOCK);
        bench_stage(c, "limiter", name, &mut lim);
    }
}

fn saturation(c: &mut Criterion) {
    for (name, oversampling) in [("tape 4x", Oversampling::X4), ("tape 2x", Oversampling::X2)] {
        let mut sat = Saturation::default();
        sat.set(&SaturationSettings { character: Character::Tape, drive_db: 9.0, oversampling, ..Default::default() });
        sat.prepare(FS, BLOCK);
        bench_stage(c, "saturation", name, &mut sat);
    }
}

criterion_group!(benches, limiter, saturation);
criterion_main!(benches);
