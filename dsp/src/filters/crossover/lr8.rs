//! A Linkwitz-Riley 48 dB/oct split applied to a mid/side pair the way mono bass needs it:
//! the side keeps only its high band, the mid takes the split's allpass, so that above the
//! split mid and side keep their relative phase.
//!
//! With `B(s)` the Butterworth-4 denominator, LR8 low = `1/B²` and high = `s⁸/B²`, which sum
//! to the allpass `B(-s)/B(s)` (since `B(s) B(-s) = 1 + s⁸`). Here the high band is computed
//! directly as the Butterworth-4 high-pass squared (four SVF high-pass sections) and the
//! allpass as two SVF allpass sections (`x - 2 k bp`): twelve states, the fewest these
//! responses need (an `allpass - low` form would take fourteen).
//!
//! **Block form.** The work is two passes of four states per lane: the first runs the mid's
//! allpass and the side's first Butterworth-4 high-pass, the second the side's second one
//! (the mid goes through unchanged). With AVX-512 each pass is one [`Block4`] pair in 8-lane
//! registers (mid in one half, side in the other), and both passes run in one loop, so their
//! two state recursions (the latency bound of a block form) overlap.

use super::{Block4, Kernel, Svf, SvfCoefs, BLOCK};

/// Dampings of the two sections of a 4th-order Butterworth: `2 cos(pi/8)`, `2 cos(3 pi/8)`.
pub const BUTTERWORTH4_K: [f64; 2] = [1.847_759_065_022_573_5, 0.765_366_864_730_179_8];

/// Coefficients of an [`Lr8MidSide`] at one split frequency: the Butterworth-4 sections and
/// the block forms of the two passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lr8MidSideCoefs {
    pub sections: [SvfCoefs; 2],
    /// First pass: mid the allpass, side the first Butterworth-4 high-pass (states: the two
    /// sections' `ic1, ic2`).
    first: [Block4<4, 1>; 2],
    /// Second pass: mid unchanged (no states), side the second Butterworth-4 high-pass.
    second: [Block4<4, 1>; 2],
}

impl Default for Lr8MidSideCoefs {
    fn default() -> Self {
        Self::new(1000.0, 48000.0)
    }
}

/// The Butterworth-4 allpass `B(-s)/B(s)` of one sample through its two SVF sections.
#[inline(always)]
fn allpass4(f: &mut [Svf<1>; 2], c: &[SvfCoefs; 2], x: f64) -> f64 {
    let mut y = x;
    for (svf, c) in f.iter_mut().zip(c) {
        let (_, bp) = svf.tick(c, [y]);
        y -= 2.0 * c.k * bp[0];
    }
    y
}

/// The Butterworth-4 high-pass `s⁴/B(s)` of one sample through its two SVF sections.
#[inline(always)]
fn highpass4(f: &mut [Svf<1>; 2], c: &[SvfCoefs; 2], x: f64) -> f64 {
    let mut y = x;
    for (svf, c) in f.iter_mut().zip(c) {
        let (lp, bp) = svf.tick(c, [y]);
        y = y - c.k * bp[0] - lp[0];
    }
    y
}

/// The four states of a pair of sections.
fn states(f: &[Svf<1>; 2]) -> [f64; 4] {
    [f[0].ic1[0], f[0].ic2[0], f[1].ic1[0], f[1].ic2[0]]
}

fn from_states(s: &[f64; 4]) -> [Svf<1>; 2] {
    [Svf { ic1: [s[0]], ic2: [s[1]] }, Svf { ic1: [s[2]], ic2: [s[3]] }]
}

impl Lr8MidSideCoefs {
    pub fn new(freq_hz: f64, sample_rate: f64) -> Self {
        let sections = BUTTERWORTH4_K.map(|k| SvfCoefs::with_damping(freq_hz, sample_rate, k));
        let block = |f: fn(&mut [Svf<1>; 2], &[SvfCoefs; 2], f64) -> f64| {
            Block4::from_tick(|s, x| {
                let mut svf = from_states(s);
                let y = f(&mut svf, &sections, x);
                *s = states(&svf);
                [y]
            })
        };
        let (allpass, highpass) = (block(allpass4), block(highpass4));
        let through = Block4::from_tick(|s, x| {
            *s = [0.0; 4];
            [x]
        });
        Self { sections, first: [allpass, highpass], second: [through, highpass] }
    }
}

/// Mono-bass filtering of `[mid, side]` frames: mid → the LR8 split's allpass, side → its
/// high band. Six SVF ticks per frame sample by sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lr8MidSide {
    /// The mid's allpass sections.
    allpass: [Svf<1>; 2],
    /// The side's two Butterworth-4 high-passes (two sections each).
    highpass: [[Svf<1>; 2]; 2],
}

impl Lr8MidSide {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// One frame: the definition.
    #[inline(always)]
    pub fn tick(&mut self, c: &Lr8MidSideCoefs, [mid, side]: [f64; 2]) -> [f64; 2] {
        let mid = allpass4(&mut self.allpass, &c.sections, mid);
        let side = highpass4(&mut self.highpass[0], &c.sections, side);
        [mid, highpass4(&mut self.highpass[1], &c.sections, side)]
    }

    /// Filter `mid` and `side` (the same length) in place: the same as
    /// [`Lr8MidSide::tick`] frame by frame, up to rounding, in block form where the CPU has
    /// AVX2 + FMA.
    pub fn process(&mut self, c: &Lr8MidSideCoefs, mid: &mut [f64], side: &mut [f64]) {
        self.process_with(c, mid, side, Kernel::best(2));
    }

    fn process_with(&mut self, c: &Lr8MidSideCoefs, mid: &mut [f64], side: &mut [f64], kernel: Kernel) {
        let n = mid.len().min(side.len());
        let blocks = if kernel == Kernel::Reference { 0 } else { n / BLOCK * BLOCK };
        let (m, s) = (&mut mid[..blocks], &mut side[..blocks]);
        match kernel {
            Kernel::Reference | Kernel::Portable => self.blocks::<false>(c, m, s),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2Fma` is only chosen when the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { self.blocks_avx2(c, m, s) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx512` is only chosen when the CPU has AVX-512F, AVX2 and FMA.
            Kernel::Avx512 => unsafe { self.blocks_avx512(c, m, s) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2Fma | Kernel::Avx512 => self.blocks::<false>(c, m, s),
        }
        for (m, s) in mid[blocks..n].iter_mut().zip(&mut side[blocks..n]) {
            [*m, *s] = self.tick(c, [*m, *s]);
        }
    }

    /// Whole blocks, one lane at a time in 4-lane block form.
    #[inline(always)]
    fn blocks<const F: bool>(&mut self, c: &Lr8MidSideCoefs, mid: &mut [f64], side: &mut [f64]) {
        let mut ap = states(&self.allpass);
        let mut hp = self.highpass.each_ref().map(states);
        for (m, s) in mid.chunks_exact_mut(BLOCK).zip(side.chunks_exact_mut(BLOCK)) {
            let [y] = c.first[0].step::<F>(&mut ap, (&*m).try_into().unwrap());
            m.copy_from_slice(&y);
            let [y] = c.first[1].step::<F>(&mut hp[0], (&*s).try_into().unwrap());
            let [y] = c.second[1].step::<F>(&mut hp[1], &y);
            s.copy_from_slice(&y);
        }
        self.allpass = from_states(&ap);
        self.highpass = hp.each_ref().map(from_states);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn blocks_avx2(&mut self, c: &Lr8MidSideCoefs, mid: &mut [f64], side: &mut [f64]) {
        self.blocks::<true>(c, mid, side);
    }

    /// Whole blocks with both lanes of each pass in AVX-512 registers (`[mid t0..t3 | side
    /// t0..t3]`), both passes in one loop.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn blocks_avx512(&mut self, c: &Lr8MidSideCoefs, mid: &mut [f64], side: &mut [f64]) {
        use super::wide;
        let first = wide::Wide::pair(&c.first[0], &c.first[1]);
        let second = wide::Wide::pair(&c.second[0], &c.second[1]);
        let mut st1 = wide::load_state(&[states(&self.allpass), states(&self.highpass[0])]);
        let mut st2 = wide::load_state(&[[0.0; 4], states(&self.highpass[1])]);
        for (m, s) in mid.chunks_exact_mut(BLOCK).zip(side.chunks_exact_mut(BLOCK)) {
            let (pm, ps) = (m.as_mut_ptr(), s.as_mut_ptr());
            let [y] = first.step(&mut st1, &wide::inputs_of(wide::load_halves(pm, ps)));
            let [y] = second.step(&mut st2, &wide::inputs_of(y));
            wide::store_halves(pm, ps, y);
        }
        let mut s1 = [[0.0; 4]; 2];
        let mut s2 = [[0.0; 4]; 2];
        wide::store_state(&st1, &mut s1);
        wide::store_state(&st2, &mut s2);
        self.allpass = from_states(&s1[0]);
        self.highpass = [from_states(&s1[1]), from_states(&s2[1])];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_noise::TestNoise;

    fn noise(n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut g = TestNoise::new(seed);
        (0..n).map(|_| [0.5 * g.uniform(), 0.5 * g.uniform()]).collect()
    }

    /// Every kernel equals the frame-by-frame definition within 1e-12 (unit-scale input) over
    /// odd block lengths and a moving frequency, at 44.1 and 192 kHz.
    #[test]
    fn block_forms_match_the_definition() {
        for kernel in super::super::test_kernels() {
            for fs in [44100.0, 192000.0] {
                let mut a = Lr8MidSide::default();
                let mut b = a;
                let input = noise(6000, 3);
                let mut pos = 0;
                for (k, &len) in [513, 1, 2, 3, 700, 64, 5, 511, 4, 700].iter().cycle().enumerate() {
                    if pos + len > input.len() {
                        break;
                    }
                    let c = Lr8MidSideCoefs::new(52.0 * (1.0 + k as f64 * 0.1), fs);
                    let mut m: Vec<f64> = input[pos..pos + len].iter().map(|v| v[0]).collect();
                    let mut s: Vec<f64> = input[pos..pos + len].iter().map(|v| v[1]).collect();
                    b.process_with(&c, &mut m, &mut s, kernel);
                    for i in 0..len {
                        let want = a.tick(&c, input[pos + i]);
                        for (ch, y) in [m[i], s[i]].into_iter().enumerate() {
                            let d = (want[ch] - y).abs();
                            assert!(d < 1e-12, "{kernel:?} fs {fs}: {d}");
                        }
                    }
                    pos += len;
                }
            }
        }
    }

    /// Magnitude response of one lane at `f` (steady-state sine, measured by correlation).
    fn response_db(fs: f64, split: f64, f: f64, lane: usize) -> f64 {
        let c = Lr8MidSideCoefs::new(split, fs);
        let mut filt = Lr8MidSide::default();
        let settle = (20.0 * fs / f.min(split)) as usize;
        let len = (fs / f * 200.0).round() as usize;
        let w = 2.0 * std::f64::consts::PI * f / fs;
        let mut lanes = [vec![0.0; settle + len], vec![0.0; settle + len]];
        for (i, x) in lanes[lane].iter_mut().enumerate() {
            *x = (w * i as f64).sin();
        }
        let [mid, side] = &mut lanes;
        filt.process(&c, mid, side);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, v) in lanes[lane][settle..].iter().enumerate() {
            let t = w * (settle + i) as f64;
            re += v * t.sin();
            im += v * t.cos();
        }
        20.0 * ((re * re + im * im).sqrt() * 2.0 / len as f64).log10()
    }

    /// The side's response is the LR8 high band `|s⁸/B²|` (-6.02 dB at the split, 48 dB/oct
    /// below it) and the mid's is flat: within 0.01 dB of the analogue prototype, where the
    /// bilinear warp is negligible.
    #[test]
    fn responses_are_the_lr8_high_band_and_its_allpass() {
        for fs in [48000.0, 96000.0] {
            let split: f64 = 156.0;
            for f in [40.0f64, 80.0, 117.0, 156.0, 300.0, 1000.0, 5000.0] {
                let r = f / split;
                let want = 20.0 * (r.powi(8) / (1.0 + r.powi(8))).log10();
                let side = response_db(fs, split, f, 1);
                assert!((side - want).abs() < 0.01, "fs {fs} f {f}: side {side:.4} want {want:.4}");
                let mid = response_db(fs, split, f, 0);
                assert!(mid.abs() < 0.01, "fs {fs} f {f}: mid {mid:.4}");
            }
        }
    }
}
