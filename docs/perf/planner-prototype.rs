// Prototype of the segment-parallel planner (docs/perf/limiter.md, round 3). Not part of any
// crate: a standalone program (cargo new, paste, cargo run --release) on an x86-64 CPU with
// AVX-512F. It compares the product's serial fast follower and two running means with the
// lanes-as-segments version: 1.15 against 2.03 ns per sample on the machine of BENCHMARKS.md.

//! Prototype (not in the repository): the limiter's main planner's fast follower and two running
//! means, serial (as the product) vs lanes-as-segments with 8x8 transposes.
use std::arch::x86_64::*;

const CHUNK: usize = 64;

struct Serial { fast: f64, v1: Vec<f64>, v2: Vec<f64>, h1: usize, h2: usize, inv1: f64, inv2: f64, k: f64, c: f64 }

impl Serial {
    fn new(b1: usize, b2: usize, c: f64) -> Self {
        Self { fast: 1.0, v1: vec![1.0; b1 - 1 + CHUNK], v2: vec![1.0; b2 - 1 + CHUNK], h1: b1 - 1, h2: b2 - 1, inv1: 1.0 / b1 as f64, inv2: 1.0 / b2 as f64, k: 1.0 - c, c }
    }
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn chunk(&mut self, x: &mut [f64]) {
        let m = x.len();
        let (h1, h2) = (self.h1, self.h2);
        let v1 = &mut self.v1[..h1 + m];
        let v2 = &mut self.v2[..h2 + m];
        let history1: f64 = v1[..h1].iter().sum();
        let history2: f64 = v2[..h2].iter().sum();
        let (mut sum1, mut sum2) = (0.0, 0.0);
        let mut fast = self.fast;
        for k in 0..m {
            let held = x[k];
            let f = _mm_min_sd(_mm_fmadd_sd(_mm_set_sd(fast), _mm_set_sd(self.k), _mm_set_sd(held * self.c)), _mm_set_sd(held));
            fast = _mm_cvtsd_f64(f);
            let g = fast;
            v1[h1 + k] = g;
            sum1 = if k == 0 { history1 + g } else { sum1 + (g - v1[k - 1]) };
            let y1 = sum1 * self.inv1;
            v2[h2 + k] = y1;
            sum2 = if k == 0 { history2 + y1 } else { sum2 + (y1 - v2[k - 1]) };
            x[k] = sum2 * self.inv2;
        }
        v1.copy_within(m..m + h1, 0);
        v2.copy_within(m..m + h2, 0);
        self.fast = fast;
    }
}

#[inline(always)]
unsafe fn transpose(r: [__m512d; 8]) -> [__m512d; 8] {
    let a0 = _mm512_unpacklo_pd(r[0], r[1]);
    let a1 = _mm512_unpackhi_pd(r[0], r[1]);
    let a2 = _mm512_unpacklo_pd(r[2], r[3]);
    let a3 = _mm512_unpackhi_pd(r[2], r[3]);
    let a4 = _mm512_unpacklo_pd(r[4], r[5]);
    let a5 = _mm512_unpackhi_pd(r[4], r[5]);
    let a6 = _mm512_unpacklo_pd(r[6], r[7]);
    let a7 = _mm512_unpackhi_pd(r[6], r[7]);
    let b0 = _mm512_shuffle_f64x2::<0b10_00_10_00>(a0, a2);
    let b1 = _mm512_shuffle_f64x2::<0b11_01_11_01>(a0, a2);
    let b2 = _mm512_shuffle_f64x2::<0b10_00_10_00>(a1, a3);
    let b3 = _mm512_shuffle_f64x2::<0b11_01_11_01>(a1, a3);
    let b4 = _mm512_shuffle_f64x2::<0b10_00_10_00>(a4, a6);
    let b5 = _mm512_shuffle_f64x2::<0b11_01_11_01>(a4, a6);
    let b6 = _mm512_shuffle_f64x2::<0b10_00_10_00>(a5, a7);
    let b7 = _mm512_shuffle_f64x2::<0b11_01_11_01>(a5, a7);
    [
        _mm512_shuffle_f64x2::<0b10_00_10_00>(b0, b4),
        _mm512_shuffle_f64x2::<0b10_00_10_00>(b2, b6),
        _mm512_shuffle_f64x2::<0b10_00_10_00>(b1, b5),
        _mm512_shuffle_f64x2::<0b10_00_10_00>(b3, b7),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(b0, b4),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(b2, b6),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(b1, b5),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(b3, b7),
    ]
}

/// Lanes are segments of eight samples of a chunk of 64. Means of length b <= 64.
struct Seg { fast: f64, sum1: f64, sum2: f64, prev_g: [__m512d; 8], prev_y: [__m512d; 8], idx1: [(usize, __m512i); 8], idx2: [(usize, __m512i); 8], inv1: f64, inv2: f64, k: f64, c: f64, kpow: [f64; 9] }

unsafe fn leaving_index(b: usize) -> [(usize, __m512i); 8] {
    // Leaving value for lane s, step t: sample 8s + t - b of (previous chunk ++ this chunk).
    std::array::from_fn(|t| {
        let q0 = t as isize - b as isize + 64; // index into the 128 samples prev++cur for lane 0
        let col = (q0.rem_euclid(8)) as usize;
        let idx: [i64; 8] = std::array::from_fn(|s| ((q0 + 8 * s as isize) / 8) as i64); // 0..15: segment in prev (0-7) or cur (8-15)
        (col, _mm512_loadu_si512(idx.as_ptr() as *const _))
    })
}

impl Seg {
    unsafe fn new(b1: usize, b2: usize, c: f64) -> Self {
        let k = 1.0 - c;
        let mut kpow = [1.0; 9];
        for i in 1..9 { kpow[i] = kpow[i - 1] * k; }
        Self { fast: 1.0, sum1: b1 as f64, sum2: b2 as f64 * 1.0, prev_g: [_mm512_set1_pd(1.0); 8], prev_y: [_mm512_set1_pd(1.0); 8], idx1: leaving_index(b1), idx2: leaving_index(b2), inv1: 1.0 / b1 as f64, inv2: 1.0 / b2 as f64, k, c, kpow }
    }
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn chunk(&mut self, x: &mut [f64; 64]) {
        let rows: [__m512d; 8] = std::array::from_fn(|s| _mm512_loadu_pd(x.as_ptr().add(8 * s)));
        let h = transpose(rows);
        let (kv, cv) = (_mm512_set1_pd(self.k), _mm512_set1_pd(self.c));
        let mut b = _mm512_setzero_pd();
        let mut a = _mm512_set1_pd(f64::INFINITY);
        let mut bs = [b; 8];
        let mut as_ = [a; 8];
        for t in 0..8 {
            let ch = _mm512_mul_pd(cv, h[t]);
            b = _mm512_fmadd_pd(kv, b, ch);
            a = _mm512_min_pd(_mm512_fmadd_pd(kv, a, ch), h[t]);
            bs[t] = b;
            as_[t] = a;
        }
        // Segment starts.
        let mut b7 = [0.0; 8];
        let mut a7 = [0.0; 8];
        _mm512_storeu_pd(b7.as_mut_ptr(), bs[7]);
        _mm512_storeu_pd(a7.as_mut_ptr(), as_[7]);
        let mut starts = [0.0; 8];
        let mut f = self.fast;
        for s in 0..8 {
            starts[s] = f;
            f = (self.kpow[8] * f + b7[s]).min(a7[s]);
        }
        self.fast = f;
        let fv = _mm512_loadu_pd(starts.as_ptr());
        let g: [__m512d; 8] = std::array::from_fn(|t| _mm512_min_pd(_mm512_fmadd_pd(_mm512_set1_pd(self.kpow[t + 1]), fv, bs[t]), as_[t]));
        // Means.
        let mean = |cols: &[__m512d; 8], prev: &[__m512d; 8], idx: &[(usize, __m512i); 8], sum: &mut f64, inv: f64| -> [__m512d; 8] {
            let mut q = _mm512_setzero_pd();
            let mut qs = [q; 8];
            for t in 0..8 {
                let (col, ix) = idx[t];
                let leaving = _mm512_permutex2var_pd(prev[col], ix, cols[col]);
                q = _mm512_add_pd(q, _mm512_sub_pd(cols[t], leaving));
                qs[t] = q;
            }
            let mut q7 = [0.0; 8];
            _mm512_storeu_pd(q7.as_mut_ptr(), qs[7]);
            let mut st = [0.0; 8];
            let mut s = *sum;
            for l in 0..8 { st[l] = s; s += q7[l]; }
            *sum = s;
            let sv = _mm512_loadu_pd(st.as_ptr());
            std::array::from_fn(|t| _mm512_mul_pd(_mm512_add_pd(sv, qs[t]), _mm512_set1_pd(inv)))
        };
        let prev_g = self.prev_g;
        let y1 = mean(&g, &prev_g, &self.idx1, &mut self.sum1, self.inv1);
        self.prev_g = g;
        let prev_y = self.prev_y;
        let out = mean(&y1, &prev_y, &self.idx2, &mut self.sum2, self.inv2);
        self.prev_y = y1;
        let rows = transpose(out);
        for s in 0..8 { _mm512_storeu_pd(x.as_mut_ptr().add(8 * s), rows[s]); }
    }
}

fn main() {
    let n = 48000 * 4;
    let mut st = 0x2545_f491_4f6c_dd1du64;
    let req: Vec<f64> = (0..n).map(|_| { st ^= st << 13; st ^= st >> 7; st ^= st << 17; 0.4 + 0.6 * ((st >> 11) as f64 / (1u64 << 53) as f64).powi(6) }).collect();
    let (b1, b2, c) = (36, 37, 0.0007);
    unsafe {
        let mut ser = Serial::new(b1, b2, c);
        let mut seg = Seg::new(b1, b2, c);
        let mut a = req.clone(); let mut b = req.clone();
        for ch in a.chunks_mut(64) { ser.chunk(ch); }
        for ch in b.chunks_exact_mut(64) { seg.chunk(ch.try_into().unwrap()); }
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        println!("worst difference {worst:e}");
        for _ in 0..3 {
            let mut best = (f64::INFINITY, f64::INFINITY);
            for _ in 0..20 {
                let mut a = req.clone();
                let t = std::time::Instant::now();
                for ch in a.chunks_mut(64) { ser.chunk(ch); }
                best.0 = best.0.min(t.elapsed().as_secs_f64());
                std::hint::black_box(&a);
                let mut b = req.clone();
                let t = std::time::Instant::now();
                for ch in b.chunks_exact_mut(64) { seg.chunk(ch.try_into().unwrap()); }
                best.1 = best.1.min(t.elapsed().as_secs_f64());
                std::hint::black_box(&b);
            }
            println!("serial {:.2} ns/sample, segments {:.2} ns/sample", best.0 / n as f64 * 1e9, best.1 / n as f64 * 1e9);
        }
    }
}
