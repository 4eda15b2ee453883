//! Metering throughput: 48 kHz stereo, 512-frame blocks. "x real time" = elements per second
//! (frames) / 48 000.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lacquer_dsp::meter::{MeterSnapshot, Metering, ProgrammeMeter};
use lacquer_dsp::STAGE_COUNT;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const FS: f64 = 48_000.0;
const BLOCK: usize = 512;
/// Blocks per iteration: one second of audio.
const BLOCKS: usize = 94;

fn noise(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
}

fn bench(c: &mut Criterion) {
    let left = noise(1, BLOCK * BLOCKS);
    let right = noise(2, BLOCK * BLOCKS);
    let mut group = c.benchmark_group("metering");
    group.throughput(Throughput::Elements((BLOCK * BLOCKS) as u64));

    // The whole real-time path: input + 7 stage taps + output, true peak, spectrum, publish.
    let snapshot = MeterSnapshot::new();
    group.bench_function("full path (in/out M/S/I/LRA/TP, 7 stages, spectrum)", |b| {
        let mut m = Metering::new();
        m.prepare(FS, BLOCK);
        b.iter_batched_ref(
            || (),
            |_| {
                for (l, r) in left.chunks(BLOCK).zip(right.chunks(BLOCK)) {
                    m.process_input(l, r);
                    for s in 0..STAGE_COUNT {
                        m.process_stage(s, l, r, 0.0, false);
                    }
                    m.process_output(l, r);
                    m.publish(&snapshot);
                }
            },
            BatchSize::SmallInput,
        )
    });

    // One standalone stereo programme meter (what `lacquer analyze` runs).
    group.bench_function("programme meter (stereo, M/S/I/LRA/TP)", |b| {
        let mut meter = ProgrammeMeter::<2>::new(FS, [1.0, 1.0]);
        let frames: Vec<[f64; 2]> = left.iter().zip(&right).map(|(&l, &r)| [l, r]).collect();
        b.iter(|| {
            for block in frames.chunks(BLOCK) {
                meter.process(block);
            }
        })
    });

    // The oracle, for scale.
    group.bench_function("ebur128 crate (stereo, all modes incl. true peak)", |b| {
        use ebur128::{EbuR128, Mode};
        let mut e = EbuR128::new(2, FS as u32, Mode::all()).expect("ebur128");
        let interleaved: Vec<f64> = left.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
        b.iter(|| {
            for block in interleaved.chunks(2 * BLOCK) {
                e.add_frames_f64(block).expect("frames");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
