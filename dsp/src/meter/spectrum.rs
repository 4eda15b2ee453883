//! Spectrum analyser feed and analysers.
//!
//! Real time: the audio thread only writes the mid signal into a preallocated lock-free ring
//! ([`SpectrumRing::push`], one relaxed atomic store per sample). The GUI thread copies the newest
//! samples out and runs the FFT itself ([`SpectrumAnalyser::update`]), so no FFT ever runs on
//! the audio thread. A reader racing the writer may copy a few samples from the next lap of the
//! ring; it detects that from the write counter and keeps its previous frame.
//!
//! Offline: [`SpectrumAverager`] accumulates the mean power spectrum of a whole signal
//! (Welch's method: Hann window, 50 % overlap) for the diagnostics.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use realfft::{num_complex::Complex, RealFftPlanner, RealToComplex};

/// Ring length in samples (a power of two): room for the largest FFT plus a block in flight.
pub const RING_LEN: usize = 1 << 15;
/// Largest FFT length an analyser may use.
pub const MAX_FFT_LEN: usize = RING_LEN / 2;

/// The audio-to-GUI sample ring (mid signal, `f32` bits in atomics).
#[derive(Debug)]
pub struct SpectrumRing {
    samples: Box<[AtomicU32]>,
    /// Total samples ever written (the next write index, modulo the ring).
    written: AtomicUsize,
}

impl Default for SpectrumRing {
    fn default() -> Self {
        Self::new()
    }
}

impl SpectrumRing {
    /// Allocates the ring (do it outside the audio thread).
    pub fn new() -> Self {
        Self { samples: (0..RING_LEN).map(|_| AtomicU32::new(0)).collect(), written: AtomicUsize::new(0) }
    }

    /// Audio thread: append the mid signal `(l + r) / 2`. Wait-free, no allocation.
    pub fn push(&self, left: &[f64], right: &[f64]) {
        let start = self.written.load(Ordering::Relaxed);
        for (k, (l, r)) in left.iter().zip(right).enumerate() {
            let mid = (0.5 * (l + r)) as f32;
            self.samples[(start + k) % RING_LEN].store(mid.to_bits(), Ordering::Relaxed);
        }
        self.written.store(start.wrapping_add(left.len()), Ordering::Release);
    }

    /// Any thread: copy the newest `out.len()` samples (oldest first). Returns `false` when
    /// fewer have been written or the writer overtook the copy (then `out` is unusable).
    pub fn latest(&self, out: &mut [f32]) -> bool {
        let n = out.len();
        if n > MAX_FFT_LEN {
            return false;
        }
        let end = self.written.load(Ordering::Acquire);
        if end < n {
            return false;
        }
        for (k, o) in out.iter_mut().enumerate() {
            *o = f32::from_bits(self.samples[(end - n + k) % RING_LEN].load(Ordering::Relaxed));
        }
        // The copied span was overwritten if the writer advanced by more than the slack.
        self.written.load(Ordering::Acquire).wrapping_sub(end) <= RING_LEN - n
    }

    /// Total samples written so far.
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Acquire)
    }
}

/// Periodic Hann window of `len` points.
fn hann(len: usize) -> Vec<f64> {
    (0..len).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / len as f64).cos()).collect()
}

/// A windowed real FFT producing a power spectrum (bins `0..=len/2`), with preallocated buffers.
struct PowerFft {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    input: Vec<f64>,
    output: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    /// Scale so a full-scale sine's bin reads its mean square (0.5) summed over the main lobe.
    norm: f64,
}

impl PowerFft {
    fn new(len: usize) -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(len);
        let window = hann(len);
        let window_power: f64 = window.iter().map(|w| w * w).sum();
        Self {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            norm: 2.0 / (len as f64 * window_power),
        }
    }

    /// Power per bin of `samples` (length = FFT length) added (times `weight`) into `power`.
    fn add_power(&mut self, samples: impl Iterator<Item = f64>, power: &mut [f64]) {
        for ((x, w), s) in self.input.iter_mut().zip(&self.window).zip(samples) {
            *x = s * w;
        }
        self.fft.process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch).expect("fft sizes match");
        for (p, c) in power.iter_mut().zip(&self.output) {
            *p += c.norm_sqr() * self.norm;
        }
    }
}

/// GUI-side analyser: FFT of the newest ring samples, in dB, smoothed over time.
pub struct SpectrumAnalyser {
    fft: PowerFft,
    samples: Vec<f32>,
    power: Vec<f64>,
    smoothed_db: Vec<f64>,
    /// Per-update smoothing factor (0 = none, towards 1 = slow).
    smoothing: f64,
}

/// Floor of the analyser display, dB.
pub const ANALYSER_FLOOR_DB: f64 = -140.0;

impl SpectrumAnalyser {
    /// `fft_len` is clamped to [`MAX_FFT_LEN`] and rounded to a power of two.
    pub fn new(fft_len: usize, smoothing: f64) -> Self {
        let len = fft_len.clamp(64, MAX_FFT_LEN).next_power_of_two();
        Self {
            fft: PowerFft::new(len),
            samples: vec![0.0; len],
            power: vec![0.0; len / 2 + 1],
            smoothed_db: vec![ANALYSER_FLOOR_DB; len / 2 + 1],
            smoothing: smoothing.clamp(0.0, 0.999),
        }
    }

    /// Read the ring and update the smoothed spectrum (dB per bin, `0..=len/2`). Keeps the last
    /// frame if the ring has not got enough data or the copy raced the writer.
    pub fn update(&mut self, ring: &SpectrumRing) -> &[f64] {
        if ring.latest(&mut self.samples) {
            self.power.fill(0.0);
            self.fft.add_power(self.samples.iter().map(|&s| s as f64), &mut self.power);
            for (s, &p) in self.smoothed_db.iter_mut().zip(&self.power) {
                let db = (10.0 * p.log10()).max(ANALYSER_FLOOR_DB);
                *s = self.smoothing * *s + (1.0 - self.smoothing) * db;
            }
        }
        &self.smoothed_db
    }

    /// Centre frequency of bin `i` at `sample_rate`.
    pub fn bin_frequency(&self, i: usize, sample_rate: f64) -> f64 {
        i as f64 * sample_rate / self.fft.window.len() as f64
    }
}

/// Mean power spectrum of a whole signal (offline; allocates only in `new`).
pub struct SpectrumAverager {
    fft: PowerFft,
    /// The last `len` samples; a frame is analysed every `len / 2` new samples.
    frame: Vec<f64>,
    filled: usize,
    power: Vec<f64>,
    frames: usize,
}

impl SpectrumAverager {
    pub fn new(fft_len: usize) -> Self {
        let len = fft_len.next_power_of_two().max(64);
        Self { fft: PowerFft::new(len), frame: vec![0.0; len], filled: 0, power: vec![0.0; len / 2 + 1], frames: 0 }
    }

    pub fn fft_len(&self) -> usize {
        self.frame.len()
    }

    pub fn push(&mut self, x: f64) {
        self.frame[self.filled] = x;
        self.filled += 1;
        if self.filled == self.frame.len() {
            self.fft.add_power(self.frame.iter().copied(), &mut self.power);
            self.frames += 1;
            let half = self.frame.len() / 2;
            self.frame.copy_within(half.., 0);
            self.filled = half;
        }
    }

    /// Mean power per bin (`0..=len/2`), empty before the first full frame.
    pub fn mean_power(&self) -> Vec<f64> {
        if self.frames == 0 {
            return Vec::new();
        }
        self.power.iter().map(|p| p / self.frames as f64).collect()
    }
}
