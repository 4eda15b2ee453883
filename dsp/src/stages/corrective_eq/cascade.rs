//! Static stereo biquad sections of several bands, run as one skewed pipeline.
//!
//! Band by band, each section's recursion is latency bound (every sample waits for the
//! previous one). Skewing the cascade removes that bound: in step `i`, section `j` filters
//! sample `i - j`, taking its input from what section `j - 1` produced in the previous step,
//! so all sections of a step are independent and run side by side in SIMD lanes.
//!
//! Three kernels, chosen once at run time:
//! - AVX-512F + FMA: one 512-bit register holds four sections × left/right, up to sixteen
//!   sections per pipeline; moving every value one section down is one lane shift across two
//!   registers (`valignq`). The same operations per lane as the AVX2 kernel: the same result
//!   to the bit. Each step waits on the one before whatever the width, so it serves only
//!   cascades of more than eight sections, which it runs as half as many pipelines (the
//!   corrective EQ with both pass filters: 1.44 times as fast);
//! - AVX2 + FMA (most x86-64 CPUs since 2013): one 256-bit register holds two sections ×
//!   left/right, up to eight sections per pipeline; moving every value one section down the
//!   pipeline is one lane permute per register;
//! - SSE2 (the x86-64 baseline; plain scalar code elsewhere): one register per section's
//!   left/right pair, four sections per pipeline.
//!
//! Both compute the transposed direct form II of [`crate::filters::biquad`]. The SSE2 kernel
//! performs the very operations of `Biquad::tick` in the same order: bit for bit the plain
//! recursion. The AVX2 kernel fuses its multiply-adds, which rounds differently: it differs
//! from the plain recursion by rounding only, which sections with poles close to z = 1 (low,
//! steep high-passes) amplify to about 2e-12 of the signal's peak (unit-tested below against
//! 1e-11). Without fusing (the same operations as the plain recursion, bit-exact) it ran at
//! half the speed.

use crate::filters::biquad::Coefs;
use crate::filters::eq_design::MAX_PASS_SECTIONS;

/// Most sections one cascade holds: ten slots of up to [`MAX_PASS_SECTIONS`] (in practice two
/// pass filters and eight one-section bands).
pub const MAX_CASCADE: usize = 10 * MAX_PASS_SECTIONS;
/// Sections per pipeline of the SSE2 kernel (enough independent recursions to hide the latency
/// of one, few enough to stay in registers).
const SSE2_GROUP: usize = 4;
/// Sections per pipeline of the AVX2 kernel: four registers of two sections.
#[cfg(target_arch = "x86_64")]
const AVX2_GROUP: usize = 8;
/// Sections per pipeline of the AVX-512 kernel: four registers of four sections.
#[cfg(target_arch = "x86_64")]
const AVX512_GROUP: usize = 16;

/// Which kernel runs the pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Four sections × left/right per 512-bit register, fused multiply-adds.
    Avx512Fma,
    /// Two sections × left/right per 256-bit register, fused multiply-adds.
    Avx2Fma,
    /// One section's left/right pair per 128-bit register (scalar code off x86-64).
    Sse2,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        [Kernel::Avx512Fma, Kernel::Avx2Fma].into_iter().find(|k| k.is_supported()).unwrap_or(Kernel::Sse2)
    }

    /// Whether this CPU runs the kernel.
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            match self {
                Kernel::Avx512Fma => {
                    fma && std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2")
                }
                Kernel::Avx2Fma => fma && std::arch::is_x86_feature_detected!("avx2"),
                Kernel::Sse2 => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Kernel::Sse2
        }
    }
}

/// The sections of a chunk, with their states; bands lend theirs and take them back.
#[derive(Debug, Clone)]
pub struct Cascade {
    coefs: [Coefs; MAX_CASCADE],
    /// TDF2 states, `[left, right]` pairs.
    s1: [[f64; 2]; MAX_CASCADE],
    s2: [[f64; 2]; MAX_CASCADE],
    len: usize,
    kernel: Kernel,
}

impl Default for Cascade {
    fn default() -> Self {
        Self::with_kernel(Kernel::detect())
    }
}

impl Cascade {
    /// An empty cascade running `kernel`, or the SSE2 one where the CPU does not run it.
    pub fn with_kernel(kernel: Kernel) -> Self {
        Self {
            coefs: [Coefs::IDENTITY; MAX_CASCADE],
            s1: [[0.0; 2]; MAX_CASCADE],
            s2: [[0.0; 2]; MAX_CASCADE],
            len: 0,
            kernel: if kernel.is_supported() { kernel } else { Kernel::Sse2 },
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a section with its `[left, right]` states.
    pub fn push(&mut self, c: Coefs, s1: [f64; 2], s2: [f64; 2]) {
        self.coefs[self.len] = c;
        self.s1[self.len] = s1;
        self.s2[self.len] = s2;
        self.len += 1;
    }

    /// The `[left, right]` states `(s1, s2)` of section `k` after the last run.
    pub fn state(&self, k: usize) -> ([f64; 2], [f64; 2]) {
        (self.s1[k], self.s2[k])
    }

    /// Run every section over the chunk `(a, b)` (left, right), in place.
    pub fn run(&mut self, a: &mut [f64], b: &mut [f64]) {
        let n = a.len().min(b.len());
        let (a, b) = (&mut a[..n], &mut b[..n]);
        // Each step of a pipeline waits on the step before (about two multiply-adds), whatever
        // its width: the wider kernel gains only where it needs fewer pipelines. Up to eight
        // sections the AVX2 kernel measured faster (the enhancing EQ's five bands: 0.78 times
        // its speed on AVX-512).
        #[cfg(target_arch = "x86_64")]
        let kernel =
            if self.kernel == Kernel::Avx512Fma && self.len <= AVX2_GROUP { Kernel::Avx2Fma } else { self.kernel };
        #[cfg(not(target_arch = "x86_64"))]
        let kernel = self.kernel;
        // The sections in pipelines of up to `$group`, `$per` to a register, through the
        // `run_group` of `$kernel`.
        #[cfg(target_arch = "x86_64")]
        macro_rules! pipelines {
            ($kernel:ident, $group:expr, $per:expr) => {
                for k in (0..self.len).step_by($group) {
                    let m = (self.len - k).min($group);
                    let (c, s1, s2) = (&self.coefs[k..k + m], &mut self.s1[k..k + m], &mut self.s2[k..k + m]);
                    // SAFETY: the kernel is `Avx512Fma` only when the CPU reports AVX-512F, AVX2
                    // and FMA, `Avx2Fma` only when it reports AVX2 and FMA (`with_kernel`
                    // checks).
                    unsafe {
                        match m.div_ceil($per) {
                            4 => $kernel::run_group::<4>(c, s1, s2, a, b),
                            3 => $kernel::run_group::<3>(c, s1, s2, a, b),
                            2 => $kernel::run_group::<2>(c, s1, s2, a, b),
                            _ => $kernel::run_group::<1>(c, s1, s2, a, b),
                        }
                    }
                }
            };
        }
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Fma => pipelines!(avx512, AVX512_GROUP, 4),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => pipelines!(avx2, AVX2_GROUP, 2),
            _ => {
                for k in (0..self.len).step_by(SSE2_GROUP) {
                    let m = (self.len - k).min(SSE2_GROUP);
                    match m {
                        4 => self.run_group_sse2::<4>(k, a, b),
                        3 => self.run_group_sse2::<3>(k, a, b),
                        2 => self.run_group_sse2::<2>(k, a, b),
                        _ => self.run_group_sse2::<1>(k, a, b),
                    }
                }
            }
        }
    }

    /// Sections `k..k+G` as a skewed pipeline, one section's left/right pair per register.
    /// States and coefficients stay in registers.
    fn run_group_sse2<const G: usize>(&mut self, k: usize, a: &mut [f64], b: &mut [f64]) {
        let n = a.len();
        let c: [Coefs; G] = std::array::from_fn(|j| self.coefs[k + j]);
        let mut s1: [[f64; 2]; G] = std::array::from_fn(|j| self.s1[k + j]);
        let mut s2: [[f64; 2]; G] = std::array::from_fn(|j| self.s2[k + j]);
        // pipe[j]: the output of section j in the previous step, the input of section j+1.
        let mut pipe = [[0.0f64; 2]; G];
        for i in 0..n + G - 1 {
            // Last section first, so each reads its input before the step overwrites it.
            for j in (0..G).rev() {
                if i < j || i - j >= n {
                    continue;
                }
                let x = if j == 0 { [a[i], b[i]] } else { pipe[j - 1] };
                let y = tick_pair(&c[j], &mut s1[j], &mut s2[j], x);
                if j == G - 1 {
                    a[i - j] = y[0];
                    b[i - j] = y[1];
                } else {
                    pipe[j] = y;
                }
            }
        }
        self.s1[k..k + G].copy_from_slice(&s1);
        self.s2[k..k + G].copy_from_slice(&s2);
    }
}

/// One TDF2 step of a left/right pair sharing coefficients. On x86-64 the pair is one SSE2
/// register (baseline for the target, so no feature detection is needed); elsewhere plain
/// scalar code.
#[inline(always)]
fn tick_pair(c: &Coefs, s1: &mut [f64; 2], s2: &mut [f64; 2], x: [f64; 2]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; loads and stores go through arrays of
        // exactly two f64 (unaligned intrinsics).
        unsafe {
            let xv = _mm_loadu_pd(x.as_ptr());
            let s1v = _mm_loadu_pd(s1.as_ptr());
            let s2v = _mm_loadu_pd(s2.as_ptr());
            let y = _mm_add_pd(_mm_mul_pd(_mm_set1_pd(c.b0), xv), s1v);
            // (b1 x - a1 y) + s2, the order of `Biquad::tick`: bit for bit the plain recursion.
            let n1 = _mm_add_pd(_mm_sub_pd(_mm_mul_pd(_mm_set1_pd(c.b1), xv), _mm_mul_pd(_mm_set1_pd(c.a1), y)), s2v);
            let n2 = _mm_sub_pd(_mm_mul_pd(_mm_set1_pd(c.b2), xv), _mm_mul_pd(_mm_set1_pd(c.a2), y));
            _mm_storeu_pd(s1.as_mut_ptr(), n1);
            _mm_storeu_pd(s2.as_mut_ptr(), n2);
            let mut out = [0.0; 2];
            _mm_storeu_pd(out.as_mut_ptr(), y);
            out
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let y = [c.b0 * x[0] + s1[0], c.b0 * x[1] + s1[1]];
        *s1 = [c.b1 * x[0] - c.a1 * y[0] + s2[0], c.b1 * x[1] - c.a1 * y[1] + s2[1]];
        *s2 = [c.b2 * x[0] - c.a2 * y[0], c.b2 * x[1] - c.a2 * y[1]];
        y
    }
}

/// Feed the chunk `(a, b)` through a skewed pipeline `depth` steps deep: `step(input pair,
/// masked, i)` advances every section one step (`masked`: during the filling and draining
/// steps, where some sections have no sample) and returns the last section's output pair,
/// which is sample `i - depth`. Filling (nothing out yet), the steady part, then draining:
/// steps `0..n + depth`.
///
/// # Safety
/// `a` and `b` have equal lengths.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn drive(
    a: &mut [f64],
    b: &mut [f64],
    depth: usize,
    mut step: impl FnMut(std::arch::x86_64::__m128d, bool, usize) -> std::arch::x86_64::__m128d,
) {
    use std::arch::x86_64::*;
    let n = a.len();
    debug_assert_eq!(b.len(), n);
    // SAFETY (here and below): `i < n` for the inputs, `i - depth < n` for the outputs.
    let pair = |a: &[f64], b: &[f64], i: usize| unsafe { _mm_setr_pd(*a.get_unchecked(i), *b.get_unchecked(i)) };
    let fill = depth.min(n);
    for i in 0..fill {
        step(pair(a, b, i), true, i);
    }
    for i in fill..n {
        let y = step(pair(a, b, i), false, i);
        unsafe {
            _mm_storel_pd(a.get_unchecked_mut(i - depth), y);
            _mm_storeh_pd(b.get_unchecked_mut(i - depth), y);
        }
    }
    for i in n.max(fill)..n + depth {
        let y = step(_mm_setzero_pd(), true, i);
        if i >= depth {
            unsafe {
                _mm_storel_pd(a.get_unchecked_mut(i - depth), y);
                _mm_storeh_pd(b.get_unchecked_mut(i - depth), y);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::filters::biquad::Coefs;
    use std::arch::x86_64::*;

    /// Up to `2 V` sections (`c`, states `s1`, `s2`) as one skewed pipeline over the chunk.
    ///
    /// Register `v` holds sections `2v` and `2v+1`, lanes `[2v L, 2v R, 2v+1 L, 2v+1 R]`
    /// (missing sections of the last register are identities with zero state). Step `i` feeds
    /// section `j` the output section `j-1` made in step `i-1`: the upper half of register
    /// `v-1` and the lower half of register `v`, one `vperm2f128`; section 0 takes sample `i`.
    /// The last lane pair outputs sample `i - (2V-1)`. During the first and last `2V-1` steps
    /// (filling and draining the pipeline) lanes with no sample to work on keep their state.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `c`, `s1`, `s2` have equal lengths `<= 2V` and `a`,
    /// `b` equal lengths.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn run_group<const V: usize>(
        c: &[Coefs],
        s1: &mut [[f64; 2]],
        s2: &mut [[f64; 2]],
        a: &mut [f64],
        b: &mut [f64],
    ) {
        let m = c.len();
        let n = a.len();
        let depth = 2 * V - 1;
        let lane = |v: usize, f: fn(&Coefs) -> f64| {
            let c0 = c.get(2 * v).map_or(identity(f), f);
            let c1 = c.get(2 * v + 1).map_or(identity(f), f);
            _mm256_setr_pd(c0, c0, c1, c1)
        };
        let b0: [__m256d; V] = std::array::from_fn(|v| lane(v, |c| c.b0));
        let b1: [__m256d; V] = std::array::from_fn(|v| lane(v, |c| c.b1));
        let b2: [__m256d; V] = std::array::from_fn(|v| lane(v, |c| c.b2));
        let a1: [__m256d; V] = std::array::from_fn(|v| lane(v, |c| c.a1));
        let a2: [__m256d; V] = std::array::from_fn(|v| lane(v, |c| c.a2));
        let load = |s: &[[f64; 2]], v: usize| {
            let pair = |j: usize| s.get(j).copied().unwrap_or([0.0; 2]);
            let (p, q) = (pair(2 * v), pair(2 * v + 1));
            _mm256_setr_pd(p[0], p[1], q[0], q[1])
        };
        let mut st1: [__m256d; V] = std::array::from_fn(|v| load(s1, v));
        let mut st2: [__m256d; V] = std::array::from_fn(|v| load(s2, v));
        // Section index of every lane, for the fill/drain masks.
        let index: [__m256d; V] = std::array::from_fn(|v| {
            _mm256_setr_pd((2 * v) as f64, (2 * v) as f64, (2 * v + 1) as f64, (2 * v + 1) as f64)
        });
        let len = _mm256_set1_pd(n as f64);
        let mut out = [_mm256_setzero_pd(); V];
        // One step of the pipeline on `input` (sample `i`, or silence while draining).
        let step = |input: __m128d, masked: bool, i: usize| {
            // Every section's input from the previous step's outputs (before they change);
            // the lower half of the first the new sample (the cast's undefined upper half is
            // not used).
            let mut x = [_mm256_setzero_pd(); V];
            x[0] = _mm256_permute2f128_pd::<0x20>(_mm256_castpd128_pd256(input), out[0]);
            for v in 1..V {
                x[v] = _mm256_permute2f128_pd::<0x21>(out[v - 1], out[v]);
            }
            for v in 0..V {
                let y = _mm256_fmadd_pd(b0[v], x[v], st1[v]);
                let n1 = _mm256_fnmadd_pd(a1[v], y, _mm256_fmadd_pd(b1[v], x[v], st2[v]));
                let n2 = _mm256_fnmadd_pd(a2[v], y, _mm256_mul_pd(b2[v], x[v]));
                if masked {
                    // Lane active iff its section has a sample in this step: 0 <= i - j < n.
                    let k = _mm256_sub_pd(_mm256_set1_pd(i as f64), index[v]);
                    let live = _mm256_and_pd(
                        _mm256_cmp_pd::<_CMP_GE_OQ>(k, _mm256_setzero_pd()),
                        _mm256_cmp_pd::<_CMP_LT_OQ>(k, len),
                    );
                    st1[v] = _mm256_blendv_pd(st1[v], n1, live);
                    st2[v] = _mm256_blendv_pd(st2[v], n2, live);
                } else {
                    st1[v] = n1;
                    st2[v] = n2;
                }
                out[v] = y;
            }
            _mm256_extractf128_pd::<1>(out[V - 1])
        };
        super::drive(a, b, depth, step);
        let store = |s: &mut [[f64; 2]], st: &[__m256d; V]| {
            for (j, pair) in s.iter_mut().enumerate().take(m) {
                let mut lanes = [0.0f64; 4];
                _mm256_storeu_pd(lanes.as_mut_ptr(), st[j / 2]);
                let h = 2 * (j % 2);
                *pair = [lanes[h], lanes[h + 1]];
            }
        };
        store(s1, &st1);
        store(s2, &st2);
    }

    /// The identity section's value of coefficient `f` (padding lanes).
    fn identity(f: fn(&Coefs) -> f64) -> f64 {
        f(&Coefs::IDENTITY)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::filters::biquad::Coefs;
    use std::arch::x86_64::*;

    /// Sections per register.
    const PER: usize = 4;

    /// Up to `4 V` sections as one skewed pipeline over the chunk: [`super::avx2::run_group`]
    /// with register `v` holding sections `4v .. 4v + 4`, lanes `[4v L, 4v R, 4v+1 L, ...]`.
    /// Step `i` feeds section `j` what section `j - 1` made in step `i - 1`: the top lane pair
    /// of register `v - 1` and the lower three pairs of register `v`, one `valignq`; section 0
    /// takes sample `i`. The last lane pair outputs sample `i - (4V - 1)`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA; `c`, `s1`, `s2` have equal lengths `<= 4V` and
    /// `a`, `b` equal lengths.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn run_group<const V: usize>(
        c: &[Coefs],
        s1: &mut [[f64; 2]],
        s2: &mut [[f64; 2]],
        a: &mut [f64],
        b: &mut [f64],
    ) {
        let m = c.len();
        let n = a.len();
        let depth = PER * V - 1;
        // Section `j`'s value (or the identity's, padding) in both lanes of its pair.
        let spread = |v: usize, f: &dyn Fn(usize) -> f64| {
            let lanes: [f64; 8] = std::array::from_fn(|l| f(PER * v + l / 2));
            // SAFETY: eight values.
            unsafe { _mm512_loadu_pd(lanes.as_ptr()) }
        };
        let coef = |f: fn(&Coefs) -> f64| -> [__m512d; V] {
            std::array::from_fn(|v| spread(v, &|j| c.get(j).map_or(f(&Coefs::IDENTITY), f)))
        };
        let (b0, b1, b2, a1, a2) = (coef(|c| c.b0), coef(|c| c.b1), coef(|c| c.b2), coef(|c| c.a1), coef(|c| c.a2));
        let state = |s: &[[f64; 2]]| -> [__m512d; V] {
            std::array::from_fn(|v| {
                let lanes: [f64; 8] = std::array::from_fn(|l| s.get(PER * v + l / 2).map_or(0.0, |p| p[l % 2]));
                // SAFETY: eight values.
                unsafe { _mm512_loadu_pd(lanes.as_ptr()) }
            })
        };
        let (mut st1, mut st2) = (state(s1), state(s2));
        // Section index of every lane, for the fill/drain masks.
        let index: [__m512d; V] = std::array::from_fn(|v| spread(v, &|j| j as f64));
        let len = _mm512_set1_pd(n as f64);
        let mut out = [_mm512_setzero_pd(); V];
        let step = |input: __m128d, masked: bool, i: usize| {
            // Every section's input from the previous step's outputs (before they change);
            // the first pair of the first register the new sample.
            let mut x = [_mm512_setzero_pd(); V];
            let shifted = _mm512_castsi512_pd(_mm512_alignr_epi64::<6>(
                _mm512_castpd_si512(out[0]),
                _mm512_castpd_si512(_mm512_setzero_pd()),
            ));
            x[0] = _mm512_mask_mov_pd(shifted, 0b11, _mm512_castpd128_pd512(input));
            for v in 1..V {
                x[v] = _mm512_castsi512_pd(_mm512_alignr_epi64::<6>(
                    _mm512_castpd_si512(out[v]),
                    _mm512_castpd_si512(out[v - 1]),
                ));
            }
            for v in 0..V {
                let y = _mm512_fmadd_pd(b0[v], x[v], st1[v]);
                let n1 = _mm512_fnmadd_pd(a1[v], y, _mm512_fmadd_pd(b1[v], x[v], st2[v]));
                let n2 = _mm512_fnmadd_pd(a2[v], y, _mm512_mul_pd(b2[v], x[v]));
                if masked {
                    // Lane active iff its section has a sample in this step: 0 <= i - j < n.
                    let k = _mm512_sub_pd(_mm512_set1_pd(i as f64), index[v]);
                    let live = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(k, _mm512_setzero_pd())
                        & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(k, len);
                    st1[v] = _mm512_mask_blend_pd(live, st1[v], n1);
                    st2[v] = _mm512_mask_blend_pd(live, st2[v], n2);
                } else {
                    st1[v] = n1;
                    st2[v] = n2;
                }
                out[v] = y;
            }
            _mm_castps_pd(_mm512_extractf32x4_ps::<3>(_mm512_castpd_ps(out[V - 1])))
        };
        super::drive(a, b, depth, step);
        let store = |s: &mut [[f64; 2]], st: &[__m512d; V]| {
            for (j, pair) in s.iter_mut().enumerate().take(m) {
                let mut lanes = [0.0f64; 8];
                _mm512_storeu_pd(lanes.as_mut_ptr(), st[j / PER]);
                let h = 2 * (j % PER);
                *pair = [lanes[h], lanes[h + 1]];
            }
        };
        store(s1, &st1);
        store(s2, &st2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::biquad::Biquad;
    use crate::filters::eq_design::{self, PassFamily};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Largest difference of the AVX2 kernel from the plain recursion, relative to the signal's
    /// peak: rounding only (fused multiply-adds), which sections with poles close to z = 1
    /// amplify; measured up to 2e-12 over random section sets. The SSE2 kernel must be exact.
    const FMA_REL_TOL: f64 = 1e-11;
    const FS: f64 = 48_000.0;

    /// A realistic mix of sections: pass filters (low corners: poles close to z = 1, the
    /// hardest case for rounding), bells, shelves, notches.
    fn sections(rng: &mut SmallRng, count: usize) -> Vec<Coefs> {
        let mut out = Vec::new();
        while out.len() < count {
            let f = 20.0 * 1000f64.powf(rng.random::<f64>());
            let g = rng.random_range(-15.0..15.0);
            let q = rng.random_range(0.3..8.0);
            match rng.random_range(0..5) {
                0 => out.push(eq_design::bell(f, g, q, FS)),
                1 => out.push(eq_design::low_shelf(f, g, q, FS)),
                2 => out.push(eq_design::notch(f, q, FS)),
                k => {
                    let mut c = [Coefs::IDENTITY; MAX_PASS_SECTIONS];
                    let n = eq_design::pass_cascade(k == 3, f, 8, PassFamily::Butterworth, FS, &mut c);
                    out.extend_from_slice(&c[..n]);
                }
            }
        }
        out.truncate(count);
        out
    }

    /// Run `cascade` (already holding `coefs`, zero states) over `(l, r)` in chunks of the
    /// given lengths, carrying the states across chunks like the bands do.
    fn run_chunks(kernel: Kernel, coefs: &[Coefs], l: &mut [f64], r: &mut [f64], chunks: &[usize]) {
        let mut s1 = vec![[0.0; 2]; coefs.len()];
        let mut s2 = vec![[0.0; 2]; coefs.len()];
        let mut c = Cascade::with_kernel(kernel);
        let mut pos = 0;
        for &len in chunks.iter().cycle() {
            if pos >= l.len() {
                break;
            }
            let end = (pos + len).min(l.len());
            c.clear();
            for (k, &co) in coefs.iter().enumerate() {
                c.push(co, s1[k], s2[k]);
            }
            c.run(&mut l[pos..end], &mut r[pos..end]);
            for k in 0..coefs.len() {
                (s1[k], s2[k]) = c.state(k);
            }
            pos = end;
        }
    }

    fn reference(coefs: &[Coefs], x: &mut [f64]) {
        for &c in coefs {
            Biquad::new(c).process(x);
        }
    }

    #[test]
    fn every_kernel_equals_the_plain_recursion() {
        let mut rng = SmallRng::seed_from_u64(11);
        let kernels: Vec<Kernel> =
            [Kernel::Sse2, Kernel::Avx2Fma, Kernel::Avx512Fma].into_iter().filter(|k| k.is_supported()).collect();
        println!("kernels tested: {kernels:?}");
        for count in [1, 2, 3, 5, 8, 9, 16, 21] {
            let coefs = sections(&mut rng, count);
            let n = 3000;
            let l: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
            let r: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
            let (mut rl, mut rr) = (l.clone(), r.clone());
            reference(&coefs, &mut rl);
            reference(&coefs, &mut rr);
            let peak = l.iter().chain(&r).chain(&rl).chain(&rr).fold(0.0f64, |m, v| m.max(v.abs()));
            // Whole blocks, the control-rate chunks of a glide, and odd lengths (shorter and
            // longer than the pipeline).
            for chunks in [&[512][..], &[16], &[1, 7, 3, 100, 5]] {
                let mut fused: Option<Vec<f64>> = None;
                for &kernel in &kernels {
                    let (mut ol, mut or) = (l.clone(), r.clone());
                    run_chunks(kernel, &coefs, &mut ol, &mut or, chunks);
                    // The AVX2 and AVX-512 kernels: the same operations per lane, so the same
                    // result to the bit.
                    if kernel != Kernel::Sse2 {
                        let both: Vec<f64> = ol.iter().chain(&or).copied().collect();
                        if let Some(first) = &fused {
                            assert!(
                                first.iter().zip(&both).all(|(x, y)| x.to_bits() == y.to_bits()),
                                "{kernel:?}, {count} sections, chunks {chunks:?}: not the AVX2 kernel's result"
                            );
                        }
                        fused.get_or_insert(both);
                    }
                    let err =
                        ol.iter().zip(&rl).chain(or.iter().zip(&rr)).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                    println!("{kernel:?}, {count} sections, chunks {chunks:?}: error {:.2e} of the peak", err / peak);
                    let tol = if kernel == Kernel::Sse2 { 0.0 } else { FMA_REL_TOL * peak };
                    assert!(
                        err <= tol,
                        "{kernel:?}, {count} sections, chunks {chunks:?}: error {:.2e} of the peak",
                        err / peak
                    );
                }
            }
        }
    }
}
