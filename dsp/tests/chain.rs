//! The chain's machinery: bypass crossfades, latency compensation, sanitising, mono, and the
//! real-time rule that processing never allocates.

use lacquer_dsp::bypass::{Slot, BYPASS_FADE_MS};
use lacquer_dsp::chain::{Chain, ChainSettings, StageId, STAGE_COUNT};
use lacquer_dsp::stage::Stage;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// --- an allocation counter for the real-time tests -------------------------------------

struct CountingAlloc;
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Run `f` and return how many allocations it made on this thread.
fn count_allocs(f: impl FnOnce()) -> usize {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(|a| a.get())
}

// --- a test stage: a pure delay with a gain, so wet and dry differ and latency is real -----

#[derive(Default)]
struct DelayGain {
    buf: Vec<[f64; 2]>,
    pos: usize,
    latency: usize,
    gain: f64,
}

impl Stage for DelayGain {
    type Settings = f64;
    fn prepare(&mut self, _sr: f64, _max_block: usize) {
        self.buf = vec![[0.0; 2]; self.latency.max(1)];
    }
    fn reset(&mut self) {
        self.buf.fill([0.0; 2]);
        self.pos = 0;
    }
    fn latency(&self) -> usize {
        self.latency
    }
    fn set(&mut self, gain: &f64) {
        self.gain = *gain;
    }
    fn process(&mut self, l: &mut [f64], r: &mut [f64]) {
        for (a, b) in l.iter_mut().zip(r.iter_mut()) {
            if self.latency == 0 {
                *a *= self.gain;
                *b *= self.gain;
                continue;
            }
            let old = self.buf[self.pos];
            self.buf[self.pos] = [*a, *b];
            self.pos = (self.pos + 1) % self.latency;
            *a = old[0] * self.gain;
            *b = old[1] * self.gain;
        }
    }
}

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-0.9f32..0.9)).collect()
}

const RATES: [f64; 4] = [44100.0, 48000.0, 96000.0, 192000.0];

/// A slot that is bypassed delays by exactly its latency, bit for bit, and a slot that is
/// processing is aligned with that delay (so a crossfade mixes time-aligned signals).
#[test]
fn slot_bypass_is_a_pure_latency_delay() {
    for latency in [0usize, 1, 37, 300] {
        let mut slot = Slot::new(DelayGain { latency, ..Default::default() });
        slot.prepare(48000.0, 64);
        slot.set(&0.5, true);
        slot.reset();
        let input = noise(4096, 1);
        let mut l: Vec<f64> = input.iter().map(|&x| x as f64).collect();
        let mut r = l.clone();
        for (cl, cr) in l.chunks_mut(64).zip(r.chunks_mut(64)) {
            slot.process(cl, cr);
        }
        for i in 0..input.len() {
            let expected = if i >= latency { input[i - latency] as f64 } else { 0.0 };
            assert_eq!(l[i].to_bits(), expected.to_bits(), "latency {latency}, sample {i}");
            assert_eq!(r[i].to_bits(), expected.to_bits());
        }
    }
}

/// Switching bypass crossfades: the output moves from wet (gain 0.5) to dry over the fade
/// time with a bounded step, and the switch happens on the block it is asked for.
#[test]
fn slot_crossfade_is_smooth_and_timed() {
    let sr = 48000.0;
    let latency = 24;
    let mut slot = Slot::new(DelayGain { latency, ..Default::default() });
    slot.prepare(sr, 32);
    slot.set(&0.5, false);
    slot.reset();
    // A constant input: wet is 0.5, dry is 1.0; the crossfade is the only change.
    let n = 4800;
    let mut out = Vec::new();
    let switch_at = 1024;
    let mut pos = 0;
    while pos < n {
        let len = 32.min(n - pos);
        slot.set(&0.5, pos >= switch_at);
        let mut l = vec![1.0; len];
        let mut r = vec![1.0; len];
        slot.process(&mut l, &mut r);
        out.extend_from_slice(&l);
        pos += len;
    }
    let fade_len = (BYPASS_FADE_MS * 0.001 * sr) as usize;
    assert!((out[switch_at - 1] - 0.5).abs() < 1e-12, "wet before the switch");
    assert!((out[switch_at + fade_len + 1] - 1.0).abs() < 1e-12, "dry after the fade");
    // Raised cosine of a 0.5 step over `fade_len` samples: the largest step is
    // 0.5 * pi / (2 * fade_len); allow 1 % for the discrete fade.
    // (Skip the stage's own start-up: its delay line releases zeros for `latency` samples.)
    let max_step = out[latency..].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
    let bound = 0.5 * std::f64::consts::PI / (2.0 * fade_len as f64) * 1.01;
    assert!(max_step <= bound, "max step {max_step} > {bound}");
    assert!(out[switch_at + fade_len / 2] > 0.7 && out[switch_at + fade_len / 2] < 0.8, "half-way");
}

/// Coming out of bypass, the stage is pre-rolled with the audio its latency still holds, so
/// the fade-in starts from real signal: on a constant input the wet path never dips to zero.
#[test]
fn slot_wakes_with_preroll() {
    let latency = 100;
    let mut slot = Slot::new(DelayGain { latency, ..Default::default() });
    slot.prepare(48000.0, 64);
    slot.set(&1.0, true);
    slot.reset();
    let mut min_after = f64::MAX;
    for block in 0..100 {
        slot.set(&1.0, block < 20);
        let mut l = vec![1.0; 64];
        let mut r = vec![1.0; 64];
        slot.process(&mut l, &mut r);
        if block >= 20 {
            min_after = l.iter().copied().fold(min_after, f64::min);
        }
    }
    assert!((min_after - 1.0).abs() < 1e-12, "dip to {min_after} when waking");
}

/// Everything bypassed: the chain's output is its input delayed by the reported latency, bit
/// for bit, at every rate and for odd block sizes, in stereo and mono.
#[test]
fn chain_all_bypassed_is_bit_exact() {
    for &sr in &RATES {
        for block in [1usize, 64, 511, 4096] {
            for channels in [1usize, 2] {
                let mut chain = Chain::new();
                chain.prepare(sr, 512, 2);
                let settings = ChainSettings::all_bypassed();
                chain.set(&settings);
                chain.reset();
                let latency = chain.latency();
                let frames = 8192;
                let input: Vec<Vec<f32>> = (0..channels).map(|c| noise(frames, 10 + c as u64)).collect();
                let mut io = input.clone();
                let mut start = 0;
                while start < frames {
                    let n = block.min(frames - start);
                    let mut slices: Vec<&mut [f32]> = io.iter_mut().map(|c| &mut c[start..start + n]).collect();
                    chain.set(&settings);
                    chain.process(&mut slices);
                    start += n;
                }
                for c in 0..channels {
                    for i in 0..frames {
                        let expected = if i >= latency { input[c][i - latency] } else { 0.0 };
                        assert_eq!(io[c][i].to_bits(), expected.to_bits(), "sr {sr} block {block} ch {c} i {i}");
                    }
                }
            }
        }
    }
}

/// The reported latency is the same for every combination of stage and group bypasses.
#[test]
fn chain_latency_is_independent_of_bypass() {
    for &sr in &RATES {
        let mut chain = Chain::new();
        chain.prepare(sr, 512, 2);
        let mut settings = ChainSettings::default();
        chain.set(&settings);
        let reference = chain.latency();
        for mask in 0u32..(1 << (STAGE_COUNT + 3)) {
            for (i, b) in settings.bypass.iter_mut().enumerate() {
                *b = mask & (1 << i) != 0;
            }
            settings.corrective_on = mask & (1 << STAGE_COUNT) == 0;
            settings.enhancing_on = mask & (1 << (STAGE_COUNT + 1)) == 0;
            settings.global_bypass = mask & (1 << (STAGE_COUNT + 2)) != 0;
            chain.set(&settings);
            assert_eq!(chain.latency(), reference, "sr {sr} mask {mask:b}");
        }
    }
}

/// Group toggles bypass exactly their family.
#[test]
fn group_toggles_cover_their_families() {
    let mut s = ChainSettings { corrective_on: false, bypass: [false; STAGE_COUNT], ..Default::default() };
    let bypassed: Vec<StageId> = StageId::ALL.into_iter().filter(|&id| s.stage_bypassed(id)).collect();
    assert_eq!(bypassed, vec![StageId::CorrectiveEq, StageId::Multiband]);
    s.corrective_on = true;
    s.enhancing_on = false;
    let bypassed: Vec<StageId> = StageId::ALL.into_iter().filter(|&id| s.stage_bypassed(id)).collect();
    assert_eq!(bypassed, vec![StageId::EnhancingEq, StageId::Saturation, StageId::Width]);
}

/// NaN and infinities never reach the output, whatever is bypassed, and the chain recovers.
#[test]
fn non_finite_input_never_reaches_the_output() {
    for global_bypass in [false, true] {
        let mut chain = Chain::new();
        chain.prepare(48000.0, 256, 2);
        let settings = ChainSettings { global_bypass, ..Default::default() };
        chain.set(&settings);
        chain.reset();
        let mut l = noise(256 * 40, 3);
        let mut r = noise(256 * 40, 4);
        for i in (0..l.len()).step_by(97) {
            l[i] = f32::NAN;
            r[i] = if i % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
        }
        l[500] = 1.0e30;
        for (cl, cr) in l.chunks_mut(256).zip(r.chunks_mut(256)) {
            chain.set(&settings);
            chain.process(&mut [cl, cr]);
        }
        assert!(l.iter().chain(r.iter()).all(|x| x.is_finite()), "non-finite output (global bypass {global_bypass})");
    }
}

/// Processing, settings changes and bypass switching never allocate.
#[test]
fn chain_processing_does_not_allocate() {
    let mut chain = Chain::new();
    chain.prepare(48000.0, 512, 2);
    let mut settings = ChainSettings::default();
    chain.set(&settings);
    chain.reset();
    let mut l = noise(512, 5);
    let mut r = noise(512, 6);
    let mut rng = SmallRng::seed_from_u64(7);
    let allocs = count_allocs(|| {
        for block in 0..2000 {
            if block % 10 == 0 {
                let stage = rng.random_range(0..STAGE_COUNT);
                settings.bypass[stage] = !settings.bypass[stage];
                settings.global_bypass = rng.random_bool(0.2);
                settings.output_trim_db = -rng.random_range(0.0..6.0);
            }
            let n = rng.random_range(1..=512);
            chain.set(&settings);
            chain.process(&mut [&mut l[..n], &mut r[..n]]);
        }
    });
    assert_eq!(allocs, 0, "the chain allocated on the audio path");
}

/// The chain publishes every reading through a lock-free snapshot that another thread reads
/// while audio runs; the readings are right: a 1 kHz sine at -20 dBFS in both channels reads
/// -20 LUFS in and out (the factory chain is neutral below the ceiling), and a stage set to
/// +3 dB reports +3.0 LU.
#[test]
fn meters_are_published_while_audio_runs() {
    use lacquer_dsp::meter::MeterSnapshot;
    use std::sync::atomic::{AtomicBool, Ordering};

    const SR: f64 = 48000.0;
    const BLOCK: usize = 480;
    const SECONDS: usize = 12;
    let amplitude = 10f64.powf(-20.0 / 20.0);
    let snapshot = MeterSnapshot::new();
    let done = AtomicBool::new(false);
    let first_generation = snapshot.generation();
    let mut settings = ChainSettings::default();
    settings.gain_staging.input_db = 3.0;

    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut chain = Chain::new();
            chain.prepare(SR, BLOCK, 2);
            chain.set(&settings);
            chain.reset();
            let mut phase = 0usize;
            let mut l = vec![0.0f32; BLOCK];
            let mut r = vec![0.0f32; BLOCK];
            for _ in 0..(SECONDS * SR as usize / BLOCK) {
                for i in 0..BLOCK {
                    let x = amplitude * (2.0 * std::f64::consts::PI * 1000.0 * (phase + i) as f64 / SR).sin();
                    l[i] = x as f32;
                    r[i] = x as f32;
                }
                phase += BLOCK;
                chain.set(&settings);
                chain.process(&mut [&mut l, &mut r]);
                chain.publish_meters(&snapshot);
            }
            done.store(true, Ordering::Release);
        });
        // The GUI side: read while the audio thread writes; never blocks it.
        let mut reads = 0u64;
        let mut last_generation = 0;
        while !done.load(Ordering::Acquire) {
            let v = snapshot.read();
            assert!(!v.input.momentary.is_nan() && !v.output.short_term.is_nan());
            let g = snapshot.generation();
            assert!(g >= last_generation, "generation went backwards");
            last_generation = g;
            reads += 1;
            std::thread::yield_now();
        }
        assert!(reads > 10, "the reader never ran concurrently");
    });

    let v = snapshot.read();
    assert_eq!(snapshot.generation() - first_generation, (SECONDS * SR as usize / BLOCK) as u64);
    assert!((v.input.integrated - -20.0).abs() < 0.1, "input integrated {}", v.input.integrated);
    assert!((v.output.integrated - -17.0).abs() < 0.1, "output integrated {}", v.output.integrated);
    let gain = v.stages[StageId::GainStaging as usize];
    assert!((gain.delta_lu - 3.0).abs() < 0.1, "gain staging delta {}", gain.delta_lu);
    for id in [StageId::CorrectiveEq, StageId::EnhancingEq, StageId::Width, StageId::Limiter] {
        let s = v.stages[id as usize];
        assert!(s.delta_lu.abs() < 0.1, "{:?} delta {}", id, s.delta_lu);
        assert!(!s.bypassed, "{id:?} shows bypassed");
    }
    assert!(v.stages[StageId::Multiband as usize].bypassed, "factory-bypassed multiband shows active");
    assert!(
        v.limiter_gain_reduction_db.abs() < 0.01,
        "limiter reduces {} dB below its ceiling",
        v.limiter_gain_reduction_db
    );
}

/// BS.1770 measures a mono programme as one channel: a 997 Hz sine at -20 dBFS reads
/// -23.0 LUFS through a mono chain (one channel of a 0 dBFS sine reads -3.01 LUFS), and
/// -20.0 LUFS as dual mono through a stereo chain, within 0.1 LU, in and out.
#[test]
fn mono_is_metered_as_one_channel() {
    const SR: f64 = 48000.0;
    const BLOCK: usize = 512;
    const SECONDS: usize = 5;
    let amplitude = 10f64.powf(-20.0 / 20.0);
    for (channels, expected) in [(1, -23.01), (2, -20.0)] {
        let mut chain = Chain::new();
        chain.prepare(SR, BLOCK, channels);
        let settings = ChainSettings::default();
        chain.set(&settings);
        chain.reset();
        let mut buffers = vec![vec![0.0f32; BLOCK]; channels];
        for b in 0..SECONDS * SR as usize / BLOCK {
            for buffer in buffers.iter_mut() {
                for (i, x) in buffer.iter_mut().enumerate() {
                    let n = (b * BLOCK + i) as f64;
                    *x = (amplitude * (2.0 * std::f64::consts::PI * 997.0 * n / SR).sin()) as f32;
                }
            }
            let mut slices: Vec<&mut [f32]> = buffers.iter_mut().map(|b| b.as_mut_slice()).collect();
            chain.set(&settings);
            chain.process(&mut slices);
        }
        let v = chain.metering().values();
        for (which, lufs) in [("input", v.input.integrated), ("output", v.output.integrated)] {
            assert!(
                (lufs - expected).abs() < 0.1,
                "{channels} channel(s), {which}: {lufs:.2} LUFS, expected {expected}"
            );
        }
    }
}
