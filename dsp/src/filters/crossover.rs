//! Linkwitz-Riley 24 dB/oct crossovers with allpass phase compensation.
//!
//! Built from the trapezoidal (TPT) state-variable filter rather than biquads because the
//! crossover frequencies are automatable: the TPT SVF keeps its state meaningful when its
//! coefficients move, so a sweeping split point neither clicks nor blows up.
//!
//! One Butterworth SVF (`k = sqrt 2`) gives low-pass, band-pass and high-pass at once. An LR4
//! low-pass is two Butterworth low-passes in series. The LR4 pair sums to the second-order
//! allpass `(s² - k s + 1) / (s² + k s + 1)`, which the first SVF also yields as
//! `x - 2 k bp`. So the high-pass is computed as `allpass - low-pass`: two SVF ticks per split
//! instead of four, and `low + high == allpass` holds by construction, to rounding error.
//!
//! A network of splits (lowest split point first) makes the lower bands skip the later
//! splits, so each of them passes through an allpass at every later split point instead:
//! every band then carries the same phase and the bands at unity sum to a flat allpass.
//!
//! [`Lr8MidSide`] (file `crossover/lr8.rs`) is the 48 dB/oct variant (Butterworth-4 squared)
//! as mono bass uses it: the side's high band and the mid's allpass.
//!
//! Every filter here works on `N` lanes at once (stereo `[l, r]`, or `[mid, side]`) with
//! shared coefficients.
//!
//! **Block form.** Run sample by sample, every SVF is a serial recursion (about 18 cycles of
//! latency per sample) and the cascade of a split chains several of them within each sample.
//! [`Crossover::process`] and [`Lr8MidSide::process`] therefore advance [`BLOCK`] samples at a
//! time in state-space form ([`Block4`]): the outputs of the block and the state after it are
//! fixed linear maps of the state before it and the block's inputs. The maps are derived by
//! running the sample-by-sample reference ticks on unit states and unit impulses, and the
//! states are the TPT states themselves, so a coefficient change (glide) keeps its meaning and
//! the block and per-sample forms can hand over to each other at any sample (the tail of a
//! run shorter than a block goes sample by sample). The outputs are independent
//! of each other and the state recursion is one step per block, so the work is a few
//! independent vector multiply-adds (four lanes with AVX2 + FMA, chosen at run time).
//!
//! **AVX-512.** With two lanes (stereo, mid/side) on a CPU with AVX-512F, both lanes of a
//! block share one 8-lane register (`[lane 0 t0..t3 | lane 1 t0..t3]`, see `wide`), so one
//! multiply-add does the work of two. The crossover then runs the compensation allpasses
//! of split `s` in split `s`'s pass (independent recursions the CPU overlaps) and each band's
//! last pass writes it in frames. The AVX2 and per-sample kernels stay for other CPUs; tests
//! hold every kernel to the per-sample definition and the AVX-512 one to the AVX2 one
//! (1e-12).

mod lr8;
pub use lr8::{Lr8MidSide, Lr8MidSideCoefs};

/// `k = 1/Q` of a Butterworth second-order section: two of them in series make the LR4.
const BUTTERWORTH_K: f64 = std::f64::consts::SQRT_2;

/// Lowest crossover frequency the filters accept.
pub const MIN_CROSSOVER_HZ: f64 = 10.0;

/// Highest crossover frequency as a fraction of the sample rate: the prewarped `tan` stays
/// well-conditioned and the split keeps a usable high band.
pub const MAX_CROSSOVER_FRACTION: f64 = 0.45;

/// Most split points a [`Crossover`] network holds (so at most `MAX_SPLITS + 1` bands).
pub const MAX_SPLITS: usize = 3;

/// Most bands of a [`Crossover`] network.
pub const MAX_NETWORK_BANDS: usize = MAX_SPLITS + 1;

/// Time constant of the glide of a moving crossover frequency (in log frequency).
const GLIDE_MS: f64 = 30.0;

/// While a frequency glides, its coefficients are recomputed every this many samples: often
/// enough that the steps are inaudible, rarely enough that the `tan` costs nothing.
const GLIDE_CHUNK: usize = 32;

/// A glide closer than this ratio to its target snaps to it (and stops recomputing).
const GLIDE_SNAP_RATIO: f64 = 1.0e-6;

/// Coefficients of a Butterworth TPT state-variable filter (Zavalishin / Simper form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvfCoefs {
    a1: f64,
    a2: f64,
    a3: f64,
    /// Damping `1/Q`; the section's allpass is `x - 2 k bp`.
    k: f64,
}

impl SvfCoefs {
    /// Butterworth section at `freq_hz`, clamped to the usable range for `sample_rate`.
    pub fn butterworth(freq_hz: f64, sample_rate: f64) -> Self {
        Self::with_damping(freq_hz, sample_rate, BUTTERWORTH_K)
    }

    /// Section of damping `k = 1/Q` at `freq_hz` (clamped like [`SvfCoefs::butterworth`]).
    pub fn with_damping(freq_hz: f64, sample_rate: f64, k: f64) -> Self {
        let f = clamp_crossover(freq_hz, sample_rate);
        let g = (std::f64::consts::PI * f / sample_rate).tan();
        let a1 = 1.0 / (1.0 + g * (g + k));
        let a2 = g * a1;
        let a3 = g * a2;
        Self { a1, a2, a3, k }
    }
}

impl Default for SvfCoefs {
    fn default() -> Self {
        Self::butterworth(1000.0, 48000.0)
    }
}

/// Clamp a crossover frequency into `MIN_CROSSOVER_HZ ..= MAX_CROSSOVER_FRACTION * fs`;
/// a non-finite value becomes the lowest frequency.
pub fn clamp_crossover(freq_hz: f64, sample_rate: f64) -> f64 {
    let hi = (MAX_CROSSOVER_FRACTION * sample_rate).max(MIN_CROSSOVER_HZ);
    if freq_hz.is_finite() {
        freq_hz.clamp(MIN_CROSSOVER_HZ, hi)
    } else {
        MIN_CROSSOVER_HZ
    }
}

/// Samples advanced per step by the block state-space form.
pub const BLOCK: usize = 4;

/// `a * b + c`, fused when `F` (only instantiated with `F = true` inside functions compiled
/// with the `fma` target feature, where it is one instruction).
#[inline(always)]
fn fmadd<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// A linear time-invariant filter of one lane with `S` states, one input and `M` outputs in
/// block state-space form: for a block of [`BLOCK`] inputs `x`, output `m` at time `t` is
/// `sum_i so[m][i][t] s[i] + sum_j xo[m][j][t] x[j]` and the new state is
/// `s'[i] = sum_k ss[k][i] s[k] + sum_j xs[j][i] x[j]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block4<const S: usize, const M: usize> {
    so: [[[f64; BLOCK]; S]; M],
    xo: [[[f64; BLOCK]; BLOCK]; M],
    ss: [[f64; S]; S],
    xs: [[f64; S]; BLOCK],
}

impl<const S: usize, const M: usize> Block4<S, M> {
    /// The block form of the per-sample filter `tick(state, x) -> outputs` (linear in state
    /// and input), found by running it on every unit state and every unit impulse.
    pub fn from_tick(mut tick: impl FnMut(&mut [f64; S], f64) -> [f64; M]) -> Self {
        let mut b = Self {
            so: [[[0.0; BLOCK]; S]; M],
            xo: [[[0.0; BLOCK]; BLOCK]; M],
            ss: [[0.0; S]; S],
            xs: [[0.0; S]; BLOCK],
        };
        for k in 0..S {
            let mut s = [0.0; S];
            s[k] = 1.0;
            for t in 0..BLOCK {
                let y = tick(&mut s, 0.0);
                for m in 0..M {
                    b.so[m][k][t] = y[m];
                }
            }
            b.ss[k] = s;
        }
        for j in 0..BLOCK {
            let mut s = [0.0; S];
            for t in 0..BLOCK {
                let y = tick(&mut s, if t == j { 1.0 } else { 0.0 });
                for m in 0..M {
                    b.xo[m][j][t] = y[m];
                }
            }
            b.xs[j] = s;
        }
        b
    }

    /// Advance `s` by one block of inputs `x`; returns the outputs of the block.
    #[inline(always)]
    pub fn step<const F: bool>(&self, s: &mut [f64; S], x: &[f64; BLOCK]) -> [[f64; BLOCK]; M] {
        let mut y = [[0.0; BLOCK]; M];
        for m in 0..M {
            // Input and state parts summed separately: two short chains instead of one long.
            let mut a: [f64; BLOCK] = std::array::from_fn(|t| self.xo[m][0][t] * x[0]);
            for j in 1..BLOCK {
                for t in 0..BLOCK {
                    a[t] = fmadd::<F>(self.xo[m][j][t], x[j], a[t]);
                }
            }
            let mut b: [f64; BLOCK] = std::array::from_fn(|t| self.so[m][0][t] * s[0]);
            for i in 1..S {
                for t in 0..BLOCK {
                    b[t] = fmadd::<F>(self.so[m][i][t], s[i], b[t]);
                }
            }
            for t in 0..BLOCK {
                y[m][t] = a[t] + b[t];
            }
        }
        // The state recursion: the input part does not wait on the state; the state part is
        // split into two chains.
        let mut u: [f64; S] = std::array::from_fn(|i| self.xs[0][i] * x[0]);
        for j in 1..BLOCK {
            for i in 0..S {
                u[i] = fmadd::<F>(self.xs[j][i], x[j], u[i]);
            }
        }
        // The input part starts the even chain (a multiply-add instead of a final add).
        let mut even: [f64; S] = std::array::from_fn(|i| fmadd::<F>(self.ss[0][i], s[0], u[i]));
        let mut odd = [0.0; S];
        if S > 1 {
            odd = std::array::from_fn(|i| self.ss[1][i] * s[1]);
        }
        for k in 2..S {
            if k % 2 == 0 {
                for i in 0..S {
                    even[i] = fmadd::<F>(self.ss[k][i], s[k], even[i]);
                }
            } else {
                for i in 0..S {
                    odd[i] = fmadd::<F>(self.ss[k][i], s[k], odd[i]);
                }
            }
        }
        for i in 0..S {
            s[i] = even[i] + odd[i];
        }
        y
    }
}

/// Which implementation runs the filters (all compute the same filter, up to rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Sample by sample: the definition (also runs the tails of runs shorter than a block),
    /// and the choice without AVX2 + FMA: with two-lane SIMD the block form executes more
    /// instructions than the per-sample recursions and ran about 1.6x slower.
    Reference,
    /// Block form, baseline SIMD (tested against the reference; not chosen, see above).
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
    /// Block form with AVX2 + FMA (only chosen when the CPU has both).
    Avx2Fma,
    /// Block form of two lanes in 8-lane AVX-512 registers (only chosen for two lanes, when
    /// the CPU has AVX-512F, AVX2 and FMA; see [`wide`]).
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs for `lanes` lanes.
    fn best(lanes: usize) -> Self {
        if lanes == 2 && has_avx512() {
            Kernel::Avx512
        } else if has_avx2_fma() {
            Kernel::Avx2Fma
        } else {
            Kernel::Reference
        }
    }
}

/// Whether the AVX2 + FMA kernels can run on this CPU.
#[inline]
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 kernels can run on this CPU (they also use AVX2 and FMA).
#[inline]
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The block form of two lanes at once in 8-lane AVX-512 registers: a block of a lane pair
/// is one register `[lane 0 t0..t3 | lane 1 t0..t3]` (the block-planar layout of two lanes),
/// and the state is `(S + 3) / 4` registers `[lane 0 s(4v..4v+4) | lane 1 s(4v..4v+4)]`
/// (unused state slots zero). A scalar of each lane (an input sample or a state) is
/// broadcast across its half with one in-half permute, so every multiply-add does the work
/// of two of the 4-lane kernel.
///
/// The helpers are `#[inline(always)]` and only called from functions compiled with the
/// `avx512f` target feature (and only run when the CPU has it).
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{Block4, BLOCK};
    use std::arch::x86_64::*;

    /// Most states of a [`Block4`] the wide form supports (two registers).
    const MAX_STATES: usize = 8;

    /// The coefficients of a [`Block4`], each 4-lane time or state vector duplicated into
    /// both halves of a register.
    pub(super) struct Wide<const S: usize, const M: usize> {
        so: [[__m512d; S]; M],
        xo: [[__m512d; BLOCK]; M],
        ss: [[__m512d; 2]; S],
        xs: [[__m512d; 2]; BLOCK],
    }

    /// `[a | b]`.
    #[inline(always)]
    unsafe fn halves(a: [f64; 4], b: [f64; 4]) -> __m512d {
        _mm512_setr_pd(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
    }

    /// Element `4v..4v+4` of `row`, zero past its end.
    #[inline(always)]
    fn part(row: &[f64], v: usize) -> [f64; 4] {
        let mut a = [0.0; 4];
        for q in 0..4 {
            if let Some(&e) = row.get(4 * v + q) {
                a[q] = e;
            }
        }
        a
    }

    /// Element `k % 4` of each half broadcast across that half.
    #[inline(always)]
    pub(super) unsafe fn bcast(v: __m512d, k: usize) -> __m512d {
        match k % 4 {
            0 => _mm512_permutex_pd::<0x00>(v),
            1 => _mm512_permutex_pd::<0x55>(v),
            2 => _mm512_permutex_pd::<0xAA>(v),
            _ => _mm512_permutex_pd::<0xFF>(v),
        }
    }

    /// The inputs of a block of two interleaved lanes (`[l0 r0 l1 r1 …]`, 8 values at `p`),
    /// each time `j` broadcast per lane: `[l_j x4 | r_j x4]`.
    #[inline(always)]
    pub(super) unsafe fn inputs_interleaved(p: *const f64) -> [__m512d; BLOCK] {
        let v = _mm512_loadu_pd(p);
        [
            _mm512_permutexvar_pd(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1), v),
            _mm512_permutexvar_pd(_mm512_setr_epi64(2, 2, 2, 2, 3, 3, 3, 3), v),
            _mm512_permutexvar_pd(_mm512_setr_epi64(4, 4, 4, 4, 5, 5, 5, 5), v),
            _mm512_permutexvar_pd(_mm512_setr_epi64(6, 6, 6, 6, 7, 7, 7, 7), v),
        ]
    }

    /// The same for a block-planar block (`[l0..l3 r0..r3]` at `p`).
    #[inline(always)]
    pub(super) unsafe fn inputs_planar(p: *const f64) -> [__m512d; BLOCK] {
        inputs_of(_mm512_loadu_pd(p))
    }

    /// The same for a block-planar block in a register.
    #[inline(always)]
    pub(super) unsafe fn inputs_of(v: __m512d) -> [__m512d; BLOCK] {
        [bcast(v, 0), bcast(v, 1), bcast(v, 2), bcast(v, 3)]
    }

    /// `[4 values at a | 4 values at b]`.
    #[inline(always)]
    pub(super) unsafe fn load_halves(a: *const f64, b: *const f64) -> __m512d {
        _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_loadu_pd(a)), _mm256_loadu_pd(b))
    }

    /// The low half of `v` to 4 values at `a`, the high half to 4 values at `b`.
    #[inline(always)]
    pub(super) unsafe fn store_halves(a: *mut f64, b: *mut f64, v: __m512d) {
        _mm256_storeu_pd(a, _mm512_castpd512_pd256(v));
        _mm256_storeu_pd(b, _mm512_extractf64x4_pd::<1>(v));
    }

    /// Store 8 values at `p`.
    #[inline(always)]
    pub(super) unsafe fn store(p: *mut f64, v: __m512d) {
        _mm512_storeu_pd(p, v);
    }

    /// `v` put from block-planar order into frames when `frames`, else `v`.
    #[inline(always)]
    pub(super) unsafe fn to_frames_if(frames: bool, v: __m512d) -> __m512d {
        if frames {
            to_frames(v)
        } else {
            v
        }
    }

    /// `v` put from block-planar order into frames.
    #[inline(always)]
    pub(super) unsafe fn to_frames(v: __m512d) -> __m512d {
        _mm512_permutexvar_pd(_mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7), v)
    }

    /// The state registers of two lanes' states `st`.
    #[inline(always)]
    pub(super) unsafe fn load_state<const S: usize>(st: &[[f64; S]; 2]) -> [__m512d; 2] {
        let mut flat = [[0.0; 8]; 2];
        for c in 0..2 {
            for i in 0..S {
                flat[i / 4][c * 4 + i % 4] = st[c][i];
            }
        }
        [_mm512_loadu_pd(flat[0].as_ptr()), _mm512_loadu_pd(flat[1].as_ptr())]
    }

    /// Back from the state registers.
    #[inline(always)]
    pub(super) unsafe fn store_state<const S: usize>(s: &[__m512d; 2], st: &mut [[f64; S]; 2]) {
        let mut flat = [[0.0; 8]; 2];
        for v in 0..2 {
            _mm512_storeu_pd(flat[v].as_mut_ptr(), s[v]);
        }
        for c in 0..2 {
            for i in 0..S {
                st[c][i] = flat[i / 4][c * 4 + i % 4];
            }
        }
    }

    /// One pass of the crossover over whole blocks: a split (input interleaved at `input`
    /// if not null, else block-planar at `rest`; low band to `low`, high band to `rest`)
    /// and `C` compensation allpasses in place on other bands; everything written in frames
    /// when `last`, else block-planar.
    pub(super) struct SplitPass {
        pub(super) input: *const f64,
        pub(super) low: *mut f64,
        pub(super) rest: *mut f64,
        pub(super) blocks: usize,
        pub(super) last: bool,
    }

    impl SplitPass {
        #[inline(always)]
        pub(super) unsafe fn run<const C: usize>(
            &self,
            split: &Wide<4, 2>,
            st: &mut [__m512d; 2],
            comps: [(&Wide<2, 1>, &mut [__m512d; 2]); C],
            bands: [*mut f64; C],
        ) {
            let mut comps = comps;
            let last = self.last;
            for k in 0..self.blocks {
                let o = k * 2 * BLOCK;
                let x = if self.input.is_null() {
                    inputs_planar(self.rest.add(o))
                } else {
                    inputs_interleaved(self.input.add(o))
                };
                let [l, h] = split.step(st, &x);
                store(self.low.add(o), to_frames_if(last, l));
                store(self.rest.add(o), to_frames_if(last, h));
                for b in 0..C {
                    let p = bands[b].add(o);
                    let (sys, s) = &mut comps[b];
                    let [y] = sys.step(s, &inputs_planar(p));
                    store(p, to_frames_if(last, y));
                }
            }
        }
    }

    impl<const S: usize, const M: usize> Wide<S, M> {
        /// The same system `b` on both lanes.
        #[inline(always)]
        pub(super) unsafe fn new(b: &Block4<S, M>) -> Self {
            Self::pair(b, b)
        }

        /// System `a` on lane 0 and `b` on lane 1.
        #[inline(always)]
        pub(super) unsafe fn pair(a: &Block4<S, M>, b: &Block4<S, M>) -> Self {
            assert!(S <= MAX_STATES);
            let z = _mm512_setzero_pd();
            let mut w = Self { so: [[z; S]; M], xo: [[z; BLOCK]; M], ss: [[z; 2]; S], xs: [[z; 2]; BLOCK] };
            for m in 0..M {
                for i in 0..S {
                    w.so[m][i] = halves(a.so[m][i], b.so[m][i]);
                }
                for j in 0..BLOCK {
                    w.xo[m][j] = halves(a.xo[m][j], b.xo[m][j]);
                }
            }
            for v in 0..2 {
                for k in 0..S {
                    w.ss[k][v] = halves(part(&a.ss[k], v), part(&b.ss[k], v));
                }
                for j in 0..BLOCK {
                    w.xs[j][v] = halves(part(&a.xs[j], v), part(&b.xs[j], v));
                }
            }
            w
        }

        /// [`Block4::step`] of both lanes: `x` from [`inputs_interleaved`] or
        /// [`inputs_planar`]; returns each output block-planar.
        #[inline(always)]
        pub(super) unsafe fn step(&self, s: &mut [__m512d; 2], x: &[__m512d; BLOCK]) -> [__m512d; M] {
            let mut sb = [_mm512_setzero_pd(); S];
            for k in 0..S {
                sb[k] = bcast(s[k / 4], k);
            }
            let mut y = [_mm512_setzero_pd(); M];
            for m in 0..M {
                let mut a = _mm512_mul_pd(self.xo[m][0], x[0]);
                for j in 1..BLOCK {
                    a = _mm512_fmadd_pd(self.xo[m][j], x[j], a);
                }
                let mut b = _mm512_mul_pd(self.so[m][0], sb[0]);
                for i in 1..S {
                    b = _mm512_fmadd_pd(self.so[m][i], sb[i], b);
                }
                y[m] = _mm512_add_pd(a, b);
            }
            for v in 0..S.div_ceil(4) {
                let mut u = _mm512_mul_pd(self.xs[0][v], x[0]);
                for j in 1..BLOCK {
                    u = _mm512_fmadd_pd(self.xs[j][v], x[j], u);
                }
                let mut even = _mm512_fmadd_pd(self.ss[0][v], sb[0], u);
                let mut odd = _mm512_setzero_pd();
                if S > 1 {
                    odd = _mm512_mul_pd(self.ss[1][v], sb[1]);
                }
                for k in 2..S {
                    if k % 2 == 0 {
                        even = _mm512_fmadd_pd(self.ss[k][v], sb[k], even);
                    } else {
                        odd = _mm512_fmadd_pd(self.ss[k][v], sb[k], odd);
                    }
                }
                s[v] = _mm512_add_pd(even, odd);
            }
            y
        }
    }
}

/// Block form of one lane of an [`LrSplit`] (states: first section `ic1, ic2`, second
/// section `ic1, ic2`; outputs: low, high).
fn lr4_block(c: &SvfCoefs) -> Block4<4, 2> {
    Block4::from_tick(|s, x| {
        let mut f = LrSplit::<1> { first: Svf { ic1: [s[0]], ic2: [s[1]] }, second: Svf { ic1: [s[2]], ic2: [s[3]] } };
        let (low, high) = f.tick(c, [x]);
        *s = [f.first.ic1[0], f.first.ic2[0], f.second.ic1[0], f.second.ic2[0]];
        [low[0], high[0]]
    })
}

/// Block form of one lane of an [`LrAllpass`] (states `ic1, ic2`; output: the allpass).
fn ap_block(c: &SvfCoefs) -> Block4<2, 1> {
    Block4::from_tick(|s, x| {
        let mut f = LrAllpass::<1> { svf: Svf { ic1: [s[0]], ic2: [s[1]] } };
        let y = f.tick(c, [x]);
        *s = [f.svf.ic1[0], f.svf.ic2[0]];
        [y[0]]
    })
}

/// One LR4 split over whole blocks of `N` lanes: the input is `input` in frames
/// (`INTERLEAVED`) or else `rest` in block-planar layout (`[lane][time]` per block), which is
/// then overwritten with the high band; the low band goes to `low` (block-planar).
#[inline(always)]
fn split_pass<const N: usize, const F: bool, const INTERLEAVED: bool>(
    sys: &Block4<4, 2>,
    st: &mut [[f64; 4]; N],
    input: &[f64],
    low: &mut [f64],
    rest: &mut [f64],
) {
    for (k, (lo, hi)) in low.chunks_exact_mut(N * BLOCK).zip(rest.chunks_exact_mut(N * BLOCK)).enumerate() {
        for c in 0..N {
            let x: [f64; BLOCK] = if INTERLEAVED {
                let frames = &input[k * N * BLOCK..(k + 1) * N * BLOCK];
                std::array::from_fn(|t| frames[t * N + c])
            } else {
                std::array::from_fn(|t| hi[c * BLOCK + t])
            };
            let [l, h] = sys.step::<F>(&mut st[c], &x);
            lo[c * BLOCK..(c + 1) * BLOCK].copy_from_slice(&l);
            hi[c * BLOCK..(c + 1) * BLOCK].copy_from_slice(&h);
        }
    }
}

/// State of an `N`-lane Butterworth SVF.
#[derive(Debug, Clone, Copy)]
pub struct Svf<const N: usize> {
    ic1: [f64; N],
    ic2: [f64; N],
}

impl<const N: usize> Default for Svf<N> {
    fn default() -> Self {
        Self { ic1: [0.0; N], ic2: [0.0; N] }
    }
}

impl<const N: usize> Svf<N> {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// One sample: returns `(low-pass, band-pass)`; the allpass is `x - 2 k bp`.
    #[inline(always)]
    pub fn tick(&mut self, c: &SvfCoefs, x: [f64; N]) -> ([f64; N], [f64; N]) {
        let mut lp = [0.0; N];
        let mut bp = [0.0; N];
        for i in 0..N {
            let v3 = x[i] - self.ic2[i];
            let v1 = c.a1 * self.ic1[i] + c.a2 * v3;
            let v2 = self.ic2[i] + c.a2 * self.ic1[i] + c.a3 * v3;
            self.ic1[i] = 2.0 * v1 - self.ic1[i];
            self.ic2[i] = 2.0 * v2 - self.ic2[i];
            lp[i] = v2;
            bp[i] = v1;
        }
        (lp, bp)
    }
}

/// The second-order allpass `LR4 low + LR4 high` of one split point, used to give the bands
/// that skip a split the phase of the bands that go through it.
#[derive(Debug, Clone, Copy)]
pub struct LrAllpass<const N: usize> {
    svf: Svf<N>,
}

impl<const N: usize> Default for LrAllpass<N> {
    fn default() -> Self {
        Self { svf: Svf::default() }
    }
}

impl<const N: usize> LrAllpass<N> {
    pub fn reset(&mut self) {
        self.svf.reset();
    }

    #[inline(always)]
    pub fn tick(&mut self, c: &SvfCoefs, x: [f64; N]) -> [f64; N] {
        let (_, bp) = self.svf.tick(c, x);
        let mut y = [0.0; N];
        for i in 0..N {
            y[i] = x[i] - 2.0 * c.k * bp[i];
        }
        y
    }
}

/// One Linkwitz-Riley 24 dB/oct split point.
#[derive(Debug, Clone, Copy)]
pub struct LrSplit<const N: usize> {
    first: Svf<N>,
    second: Svf<N>,
}

impl<const N: usize> Default for LrSplit<N> {
    fn default() -> Self {
        Self { first: Svf::default(), second: Svf::default() }
    }
}

impl<const N: usize> LrSplit<N> {
    pub fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
    }

    /// One sample: returns `(low, high)`, with `low + high` the split's allpass.
    #[inline(always)]
    pub fn tick(&mut self, c: &SvfCoefs, x: [f64; N]) -> ([f64; N], [f64; N]) {
        let (lp1, bp1) = self.first.tick(c, x);
        let (low, _) = self.second.tick(c, lp1);
        let mut high = [0.0; N];
        for i in 0..N {
            high[i] = x[i] - 2.0 * c.k * bp1[i] - low[i];
        }
        (low, high)
    }
}

/// A crossover frequency that glides to its target in log frequency, with the coefficients
/// and block forms of its current frequency.
#[derive(Debug, Clone, Copy)]
struct Glide {
    current: f64,
    target: f64,
    coefs: SvfCoefs,
    split: Block4<4, 2>,
    ap: Block4<2, 1>,
}

impl Glide {
    fn new(freq: f64, sample_rate: f64) -> Self {
        let coefs = SvfCoefs::butterworth(freq, sample_rate);
        Self { current: freq, target: freq, coefs, split: lr4_block(&coefs), ap: ap_block(&coefs) }
    }

    fn moving(&self) -> bool {
        self.current != self.target
    }

    /// Advance by one glide chunk with the per-chunk log-domain coefficient `step`.
    fn advance(&mut self, step: f64, sample_rate: f64) {
        let ratio = self.target / self.current;
        if (ratio - 1.0).abs() < GLIDE_SNAP_RATIO {
            self.current = self.target;
        } else {
            self.current *= ratio.powf(step);
        }
        self.coefs = SvfCoefs::butterworth(self.current, sample_rate);
        self.split = lr4_block(&self.coefs);
        self.ap = ap_block(&self.coefs);
    }
}

/// An `N`-lane Linkwitz-Riley crossover network of 2 to [`MAX_NETWORK_BANDS`] bands whose
/// bands sum to an allpass (the product of the split points' allpasses).
///
/// Frequencies given to [`Crossover::set_frequencies`] glide (log-domain one-pole, 30 ms) so
/// automation does not click. A band-count change takes effect at once; the splits it brings
/// into use start from a cleared state (a brief filter transient, never instability).
#[derive(Debug, Clone)]
pub struct Crossover<const N: usize> {
    sample_rate: f64,
    bands: usize,
    glides: [Glide; MAX_SPLITS],
    /// Per-chunk fraction of the remaining log-frequency distance covered while gliding.
    glide_step: f64,
    splits: [LrSplit<N>; MAX_SPLITS],
    /// `comp[b][s]`: the allpass at split `s` that band `b` (`b < s`) passes through.
    comp: [[LrAllpass<N>; MAX_SPLITS]; MAX_SPLITS],
}

impl<const N: usize> Default for Crossover<N> {
    fn default() -> Self {
        let mut x = Self {
            sample_rate: 48000.0,
            bands: 2,
            glides: [Glide::new(1000.0, 48000.0); MAX_SPLITS],
            glide_step: 0.0,
            splits: Default::default(),
            comp: Default::default(),
        };
        x.prepare(48000.0);
        x
    }
}

impl<const N: usize> Crossover<N> {
    /// Set the sample rate; frequencies jump to their targets and the state is cleared.
    pub fn prepare(&mut self, sample_rate: f64) {
        self.sample_rate = sample_rate;
        self.glide_step = 1.0 - (-(GLIDE_CHUNK as f64) / (GLIDE_MS * 0.001 * sample_rate)).exp();
        for g in &mut self.glides {
            *g = Glide::new(clamp_crossover(g.target, sample_rate), sample_rate);
        }
        self.reset();
    }

    pub fn reset(&mut self) {
        for s in &mut self.splits {
            s.reset();
        }
        for row in &mut self.comp {
            for a in row {
                a.reset();
            }
        }
    }

    /// Frequencies jump to their targets (no glide), e.g. at the start of a session.
    pub fn settle(&mut self) {
        for g in &mut self.glides {
            if g.moving() {
                *g = Glide::new(g.target, self.sample_rate);
            }
        }
    }

    pub fn bands(&self) -> usize {
        self.bands
    }

    /// Use `bands` bands (clamped to `2..=MAX_NETWORK_BANDS`). Splits newly brought into use
    /// start cleared.
    pub fn set_bands(&mut self, bands: usize) {
        let bands = bands.clamp(2, MAX_NETWORK_BANDS);
        if bands > self.bands {
            let new = self.bands - 1..bands - 1;
            for s in &mut self.splits[new.clone()] {
                s.reset();
            }
            for row in &mut self.comp {
                for a in &mut row[new.clone()] {
                    a.reset();
                }
            }
        }
        self.bands = bands;
    }

    /// Target split frequencies, ascending (the caller keeps them sorted); the first
    /// `bands - 1` are used. Each is clamped to the usable range.
    pub fn set_frequencies(&mut self, freqs: &[f64]) {
        for (g, &f) in self.glides.iter_mut().zip(freqs) {
            g.target = clamp_crossover(f, self.sample_rate);
        }
    }

    /// Current (possibly gliding) frequency of split `i`.
    pub fn frequency(&self, i: usize) -> f64 {
        self.glides[i].current
    }

    /// Split `input` into `out[0..bands]`, each at least `input.len()` long.
    pub fn process(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>]) {
        self.process_with(input, out, Kernel::best(N));
    }

    fn process_with(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], kernel: Kernel) {
        let splits = self.bands - 1;
        let mut start = 0;
        while start < input.len() {
            let moving = self.glides[..splits].iter().any(Glide::moving);
            let end = if moving { (start + GLIDE_CHUNK).min(input.len()) } else { input.len() };
            if moving {
                for g in &mut self.glides[..splits] {
                    if g.moving() {
                        g.advance(self.glide_step, self.sample_rate);
                    }
                }
            }
            self.process_run(&input[start..end], out, start, kernel);
            start = end;
        }
    }

    /// Process a run of samples with fixed coefficients.
    fn process_run(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], offset: usize, kernel: Kernel) {
        match kernel {
            Kernel::Reference => match self.bands - 1 {
                1 => self.run::<1>(input, out, offset),
                2 => self.run::<2>(input, out, offset),
                _ => self.run::<3>(input, out, offset),
            },
            Kernel::Portable => self.process_run_with::<false>(input, out, offset),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2Fma` is only chosen when the CPU has AVX2 and FMA.
            Kernel::Avx2Fma => unsafe { self.process_run_avx2(input, out, offset) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2Fma => self.process_run_with::<false>(input, out, offset),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx512` is only chosen for two lanes when the CPU has AVX-512F, AVX2
            // and FMA.
            Kernel::Avx512 => unsafe { self.process_run_avx512(input, out, offset) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 => self.process_run_with::<false>(input, out, offset),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn process_run_avx512(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], offset: usize) {
        let blocks = input.len() / BLOCK * BLOCK;
        match self.bands - 1 {
            1 => {
                self.run_blocks_wide::<1>(&input[..blocks], out, offset);
                self.run::<1>(&input[blocks..], out, offset + blocks);
            }
            2 => {
                self.run_blocks_wide::<2>(&input[..blocks], out, offset);
                self.run::<2>(&input[blocks..], out, offset + blocks);
            }
            _ => {
                self.run_blocks_wide::<3>(&input[..blocks], out, offset);
                self.run::<3>(&input[blocks..], out, offset + blocks);
            }
        }
    }

    /// [`Crossover::run_blocks`] with both lanes of a block in one AVX-512 register (`N`
    /// must be 2). The last pass over each band writes it back in frames (one permute per
    /// block).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn run_blocks_wide<const SPLITS: usize>(
        &mut self,
        input: &[[f64; N]],
        out: &mut [Vec<[f64; N]>],
        offset: usize,
    ) {
        assert!(N == 2);
        let n = input.len();
        if n == 0 {
            return;
        }
        let (base, len) = (offset * N, n * N);
        let input = input.as_flattened().as_ptr();
        // Each band's samples of this run (bounds-checked here, then used through pointers:
        // the bands are distinct buffers).
        let mut p = [std::ptr::null_mut(); MAX_NETWORK_BANDS];
        for (b, band) in out[..=SPLITS].iter_mut().enumerate() {
            p[b] = band.as_flattened_mut()[base..base + len].as_mut_ptr();
        }
        let blocks = n / BLOCK;
        for s in 0..SPLITS {
            let sys = wide::Wide::new(&self.glides[s].split);
            let f = &mut self.splits[s];
            let mut st4: [[f64; 4]; 2] =
                std::array::from_fn(|c| [f.first.ic1[c], f.first.ic2[c], f.second.ic1[c], f.second.ic2[c]]);
            let mut st = wide::load_state(&st4);
            // The last split writes its bands in frames, as does the last allpass of each
            // lower band; the others stay block-planar for the passes after them.
            let pass = wide::SplitPass {
                input: if s == 0 { input } else { std::ptr::null() },
                low: p[s],
                rest: p[SPLITS],
                blocks,
                last: s == SPLITS - 1,
            };
            // The allpasses of split `s` on the lower bands (independent of the split's own
            // recursion) run in the same pass, so the CPU overlaps them.
            match s {
                0 => pass.run::<0>(&sys, &mut st, [], []),
                1 => {
                    let sys_ap = wide::Wide::new(&self.glides[1].ap);
                    let mut ap = [self.comp_state(0, 1)];
                    pass.run::<1>(&sys, &mut st, [(&sys_ap, &mut ap[0])], [p[0]]);
                    self.set_comp_state(0, 1, &ap[0]);
                }
                _ => {
                    let sys_ap = wide::Wide::new(&self.glides[2].ap);
                    let mut ap = [self.comp_state(0, 2), self.comp_state(1, 2)];
                    let [a0, a1] = &mut ap;
                    pass.run::<2>(&sys, &mut st, [(&sys_ap, a0), (&sys_ap, a1)], [p[0], p[1]]);
                    self.set_comp_state(0, 2, &ap[0]);
                    self.set_comp_state(1, 2, &ap[1]);
                }
            }
            let f = &mut self.splits[s];
            wide::store_state(&st, &mut st4);
            for c in 0..2 {
                [f.first.ic1[c], f.first.ic2[c], f.second.ic1[c], f.second.ic2[c]] = st4[c];
            }
        }
    }

    /// The state registers of the allpass `comp[b][s]` (two lanes).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn comp_state(&self, b: usize, s: usize) -> [std::arch::x86_64::__m512d; 2] {
        let svf = &self.comp[b][s].svf;
        wide::load_state(&[[svf.ic1[0], svf.ic2[0]], [svf.ic1[1], svf.ic2[1]]])
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn set_comp_state(&mut self, b: usize, s: usize, st: &[std::arch::x86_64::__m512d; 2]) {
        let mut st2 = [[0.0; 2]; 2];
        wide::store_state(st, &mut st2);
        let svf = &mut self.comp[b][s].svf;
        for c in 0..2 {
            [svf.ic1[c], svf.ic2[c]] = st2[c];
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_run_avx2(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], offset: usize) {
        self.process_run_with::<true>(input, out, offset);
    }

    #[inline(always)]
    fn process_run_with<const F: bool>(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], offset: usize) {
        let blocks = input.len() / BLOCK * BLOCK;
        match self.bands - 1 {
            1 => {
                self.run_blocks::<1, F>(&input[..blocks], out, offset);
                self.run::<1>(&input[blocks..], out, offset + blocks);
            }
            2 => {
                self.run_blocks::<2, F>(&input[..blocks], out, offset);
                self.run::<2>(&input[blocks..], out, offset + blocks);
            }
            _ => {
                self.run_blocks::<3, F>(&input[..blocks], out, offset);
                self.run::<3>(&input[blocks..], out, offset + blocks);
            }
        }
    }

    /// The block form of [`Crossover::run`] for a whole number of blocks. It runs filter by
    /// filter over the whole run (each pass carries only its own short state recursion, so
    /// the CPU overlaps many blocks of it), in place in the band buffers: within a block the
    /// lanes are stored one after the other (`[lane][time]`) until the final pass puts each
    /// block back into frames.
    #[inline(always)]
    fn run_blocks<const SPLITS: usize, const F: bool>(
        &mut self,
        input: &[[f64; N]],
        out: &mut [Vec<[f64; N]>],
        offset: usize,
    ) {
        let n = input.len();
        if n == 0 {
            return;
        }
        let (base, len) = (offset * N, n * N);
        let input = input.as_flattened();
        for s in 0..SPLITS {
            let sys = &self.glides[s].split;
            let f = &mut self.splits[s];
            let mut st: [[f64; 4]; N] =
                std::array::from_fn(|c| [f.first.ic1[c], f.first.ic2[c], f.second.ic1[c], f.second.ic2[c]]);
            let (lower, upper) = out.split_at_mut(SPLITS);
            let low = &mut lower[s].as_flattened_mut()[base..base + len];
            let rest = &mut upper[0].as_flattened_mut()[base..base + len];
            if s == 0 {
                split_pass::<N, F, true>(sys, &mut st, input, low, rest);
            } else {
                split_pass::<N, F, false>(sys, &mut st, &[], low, rest);
            }
            for c in 0..N {
                [f.first.ic1[c], f.first.ic2[c], f.second.ic1[c], f.second.ic2[c]] = st[c];
            }
        }
        for b in 0..SPLITS {
            for later in b + 1..SPLITS {
                let sys = &self.glides[later].ap;
                let svf = &mut self.comp[b][later].svf;
                let mut st: [[f64; 2]; N] = std::array::from_fn(|c| [svf.ic1[c], svf.ic2[c]]);
                let band = &mut out[b].as_flattened_mut()[base..base + len];
                for blk in band.chunks_exact_mut(N * BLOCK) {
                    for c in 0..N {
                        let lane: &mut [f64; BLOCK] = (&mut blk[c * BLOCK..(c + 1) * BLOCK]).try_into().unwrap();
                        let [y] = sys.step::<F>(&mut st[c], lane);
                        *lane = y;
                    }
                }
                for c in 0..N {
                    [svf.ic1[c], svf.ic2[c]] = st[c];
                }
            }
        }
        for band in &mut out[..=SPLITS] {
            for blk in band.as_flattened_mut()[base..base + len].chunks_exact_mut(N * BLOCK) {
                let planar: [[f64; BLOCK]; N] = std::array::from_fn(|c| std::array::from_fn(|t| blk[c * BLOCK + t]));
                for t in 0..BLOCK {
                    for c in 0..N {
                        blk[t * N + c] = planar[c][t];
                    }
                }
            }
        }
    }

    /// All splits and compensation allpasses of one sample in one pass: each filter's
    /// recursion is a serial chain, and running them side by side lets the CPU overlap them
    /// (split by split, every loop would wait on its one chain).
    fn run<const SPLITS: usize>(&mut self, input: &[[f64; N]], out: &mut [Vec<[f64; N]>], offset: usize) {
        let coefs: [SvfCoefs; SPLITS] = std::array::from_fn(|s| self.glides[s].coefs);
        let mut splits: [LrSplit<N>; SPLITS] = std::array::from_fn(|s| self.splits[s]);
        let mut comp: [[LrAllpass<N>; MAX_SPLITS]; MAX_SPLITS] = self.comp;
        // Band slices taken once, so the loop does not reload the `Vec` headers.
        let n = input.len();
        let mut bands = out.iter_mut();
        let outs: [&mut [[f64; N]]; MAX_NETWORK_BANDS] =
            std::array::from_fn(|_| bands.next().map_or(&mut [][..], |v| &mut v[offset..offset + n]));
        for (i, &x) in input.iter().enumerate() {
            let mut rest = x;
            for s in 0..SPLITS {
                let (low, high) = splits[s].tick(&coefs[s], rest);
                // Bands below a later split skip it: give them its phase.
                let mut y = low;
                for later in s + 1..SPLITS {
                    y = comp[s][later].tick(&coefs[later], y);
                }
                outs[s][i] = y;
                rest = high;
            }
            outs[SPLITS][i] = rest;
        }
        self.splits[..SPLITS].copy_from_slice(&splits);
        self.comp = comp;
    }
}

/// The block-form kernels this CPU can run, for the tests of this module and its children.
#[cfg(test)]
fn test_kernels() -> Vec<Kernel> {
    let mut k = vec![Kernel::Portable];
    if has_avx2_fma() {
        k.push(Kernel::Avx2Fma);
    }
    if has_avx512() {
        k.push(Kernel::Avx512);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..n).map(|_| [next(), next()]).collect()
    }

    /// The block forms equal the sample-by-sample definition within 1e-12 (unit-scale
    /// input), over odd block lengths, every band count and gliding frequencies.
    #[test]
    fn crossover_block_forms_match_the_reference() {
        for kernel in test_kernels() {
            for fs in [44100.0, 96000.0] {
                for bands in 2..=4 {
                    let mut a = Crossover::<2>::default();
                    a.prepare(fs);
                    a.set_bands(bands);
                    a.set_frequencies(&[40.0, 700.0, 9000.0]);
                    a.settle();
                    let mut b = a.clone();
                    let input = noise(6000, 7 + bands as u64);
                    let mut out_a = vec![vec![[0.0; 2]; 700]; MAX_NETWORK_BANDS];
                    let mut out_b = out_a.clone();
                    let mut pos = 0;
                    for (k, &len) in [513, 1, 2, 3, 700, 64, 5, 511, 4, 700].iter().cycle().enumerate() {
                        if pos + len > input.len() {
                            break;
                        }
                        if k == 3 {
                            a.set_frequencies(&[90.0, 1300.0, 5000.0]);
                            b.set_frequencies(&[90.0, 1300.0, 5000.0]);
                        }
                        let x = &input[pos..pos + len];
                        a.process_with(x, &mut out_a, Kernel::Reference);
                        b.process_with(x, &mut out_b, kernel);
                        for band in 0..bands {
                            for i in 0..len {
                                for c in 0..2 {
                                    let d = (out_a[band][i][c] - out_b[band][i][c]).abs();
                                    assert!(d < 1e-12, "{kernel:?} fs {fs} bands {bands} band {band}: {d}");
                                }
                            }
                        }
                        pos += len;
                    }
                }
            }
        }
    }

    /// The AVX-512 kernel equals the AVX2 one within 1e-12 (crossover of every band count),
    /// where the CPU has both.
    #[test]
    fn avx512_kernel_matches_avx2() {
        if !has_avx512() {
            eprintln!("no AVX-512 on this CPU: skipped");
            return;
        }
        let input = noise(4099, 11);
        for bands in 2..=4 {
            let mut a = Crossover::<2>::default();
            a.prepare(48000.0);
            a.set_bands(bands);
            a.set_frequencies(&[80.0, 1000.0, 6000.0]);
            let mut b = a.clone();
            let mut out_a = vec![vec![[0.0; 2]; input.len()]; MAX_NETWORK_BANDS];
            let mut out_b = out_a.clone();
            a.process_with(&input, &mut out_a, Kernel::Avx2Fma);
            b.process_with(&input, &mut out_b, Kernel::Avx512);
            for band in 0..bands {
                for (ya, yb) in out_a[band].iter().zip(&out_b[band]) {
                    for c in 0..2 {
                        assert!((ya[c] - yb[c]).abs() < 1e-12, "bands {bands} band {band}");
                    }
                }
            }
        }
    }
}
