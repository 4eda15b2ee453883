//! The planner's release follower(s) and running means over a whole chunk at once, with the
//! chunk's eight segments of eight samples in the eight lanes of AVX-512 registers.
//!
//! Each of those steps is a serial recursion with a chain of latency per sample (a fused
//! multiply-add and a minimum for a follower, an add for a running sum), which bounds the
//! one-sample-at-a-time loop
//! ([`LookaheadEnvelope::release_and_means`](super::LookaheadEnvelope::release_and_means)).
//! Here every lane runs the same recursion over its own segment *from an unknown start*, in a
//! form that composes:
//!
//! - **Fast follower**: a step `f ↦ min(k f + c h, h)` composed with a map
//!   `f ↦ min(P f + B, A)` is again such a map (`k P`, `k B + c h`, `min(k A + c h, h)`,
//!   using `k >= 0`), so each lane keeps the map from its segment's start to every sample.
//! - **Slow follower**: its step `s ↦ s + c (h - s)` takes the attack coefficient where
//!   `h < s`, which is not a composable form in general. But it moves by at most
//!   `max(c) · span` per sample (`span`: the spread of the held values and the start state),
//!   so over the chunks of one call it stays within their length times that of its value at
//!   their start. Where every held value lies outside that band (the usual case: the held
//!   gain jumps, the slow follower creeps), every branch is known in advance and each step is
//!   linear, `s ↦ k s + c h`: the segment's steps compose into pairs `(K, B)`. Chunks with a
//!   held value inside the band run the slow follower sample by sample (the same operations
//!   as the serial loop) and only the rest here.
//! - **Running means**: a segment's sums of changes (value in less value out) from zero; the
//!   value out comes from this chunk or the last one, one two-source permute per step.
//!
//! A short serial pass over the eight segment ends then composes, for each segment, the map
//! from its chunk's start to its own (which does not depend on the state); the state passes
//! from chunk to chunk through one map each, and one vertical step gives every sample. Exact in exact arithmetic; in floating point the
//! sums are taken in another order, so the result is within a few roundings of the serial
//! loop's (the tests hold it to 1e-12), and the fast follower's output is still at most its
//! held value (every `A` is a minimum with it). Two 8×8 transposes per chunk (in and out)
//! put samples into segments and back: about 50 shuffles per 64 samples, where scans across
//! lanes within a vector (tried before) took about twenty per eight.
//!
//! The means keep their last chunk in this column form ([`RunningMean::recent`]); the serial
//! loop's row form is rebuilt from it when a partial chunk (or another mode) needs it.

use std::arch::x86_64::*;

use super::{Follower, RunningMean, AUTO, AUTO_SLOWER_ATTACK, CHUNK, FAST_ONLY};

/// Segments per chunk, and samples per segment: one `f64` lane each.
const LANES: usize = 8;
const _: () = assert!(LANES * LANES == CHUNK, "the chunk must be eight segments of eight");

/// The slow follower's band is widened by this relative margin and this absolute floor, so
/// that the roundings of the serial loop (a few ulps of a gain) cannot move it across.
const BAND_RELATIVE_MARGIN: f64 = 1e-6;
const BAND_ABSOLUTE_MARGIN: f64 = 1e-12;

/// Eight rows of eight in, eight columns out: `out[t]`'s lane `s` is `rows[s]`'s lane `t`.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(r: [__m512d; LANES]) -> [__m512d; LANES] {
    // Pairs of rows interleaved, then pairs of 128-bit lanes, then pairs of 256-bit halves.
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

#[inline]
#[target_feature(enable = "avx512f")]
fn to_array(v: __m512d) -> [f64; LANES] {
    let mut a = [0.0; LANES];
    // SAFETY: `a` has room for eight values.
    unsafe { _mm512_storeu_pd(a.as_mut_ptr(), v) };
    a
}

#[inline]
#[target_feature(enable = "avx512f")]
fn from_array(a: &[f64; LANES]) -> __m512d {
    // SAFETY: `a` holds eight values.
    unsafe { _mm512_loadu_pd(a.as_ptr()) }
}

/// A chunk of 64 (rows: samples in order) as columns: `out[t]`'s lane `s` is sample `8s + t`.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_columns(x: &[f64; CHUNK]) -> [__m512d; LANES] {
    // SAFETY: row `s` is `x[8s .. 8s + 8]`, inside the chunk.
    transpose(std::array::from_fn(|s| unsafe { _mm512_loadu_pd(x.as_ptr().add(LANES * s)) }))
}

/// [`load_columns`]' inverse.
#[inline]
#[target_feature(enable = "avx512f")]
fn store_columns(columns: [__m512d; LANES], x: &mut [f64; CHUNK]) {
    for (s, row) in transpose(columns).into_iter().enumerate() {
        // SAFETY: row `s` is `x[8s .. 8s + 8]`, inside the chunk.
        unsafe { _mm512_storeu_pd(x.as_mut_ptr().add(LANES * s), row) };
    }
}

/// Whether the chunk path applies: both means fit in one chunk of history, and the
/// followers' coefficients are weights (in `0..=1`), which the band and the composed maps
/// assume.
pub(super) fn fits(follower: &Follower, first: &RunningMean, second: &RunningMean) -> bool {
    let weight = |c: f64| (0.0..=1.0).contains(&c);
    first.len <= CHUNK
        && second.len <= CHUNK
        && weight(follower.fast)
        && weight(follower.slow_attack)
        && weight(follower.slow_release)
}

/// A chunk's values as columns (see [`load_columns`]).
type Columns = [__m512d; LANES];

/// The followers (`mode`: [`FAST_ONLY`], [`AUTO`] or [`AUTO_SLOWER_ATTACK`]) and
/// both means on `N` consecutive chunks of held gains, in place. Each step runs over all `N`
/// chunks before the next starts, so the chunks' independent chains of latency overlap; what
/// one chunk passes to the next (the followers' states, the means' last values) is the short
/// part. The means must be in column form ([`RunningMean::columns_current`]) and [`fits`] must
/// hold.
#[target_feature(enable = "avx512f,fma")]
pub(super) fn release_and_means<const N: usize>(
    x: &mut [[f64; CHUNK]; N],
    follower: &Follower,
    mode: u8,
    fast: &mut f64,
    slow: &mut f64,
    first: &mut RunningMean,
    second: &mut RunningMean,
) {
    let held: [Columns; N] = std::array::from_fn(|j| load_columns(&x[j]));
    let mut gains = fast_follower(&held, follower, fast);
    if mode != FAST_ONLY {
        let slow = slow_follower(x, &held, follower, mode == AUTO_SLOWER_ATTACK, slow);
        for (g, s) in gains.as_flattened_mut().iter_mut().zip(slow.as_flattened()) {
            *g = _mm512_min_pd(*g, *s);
        }
    }
    let once = running_mean(&gains, first);
    let twice = running_mean(&once, second);
    for (columns, x) in twice.into_iter().zip(x) {
        store_columns(columns, x);
    }
}

/// The fast follower on chunks of held gains (columns), its state moved to the last one's end.
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn fast_follower<const N: usize>(held: &[Columns; N], follower: &Follower, state: &mut f64) -> [Columns; N] {
    let (keep, coef) = (_mm512_set1_pd(follower.keep_fast), _mm512_set1_pd(follower.fast));
    // Each lane's map from its segment's start to step `t`: `f ↦ min(k^(t+1) f + b[t], a[t])`,
    // from the identity (`a` = the largest finite value, so `k · a` stays finite).
    let mut bs = [[_mm512_setzero_pd(); LANES]; N];
    let mut as_ = [[_mm512_set1_pd(f64::MAX); LANES]; N];
    for t in 0..LANES {
        for j in 0..N {
            let (b, a) =
                if t == 0 { (_mm512_setzero_pd(), _mm512_set1_pd(f64::MAX)) } else { (bs[j][t - 1], as_[j][t - 1]) };
            let pulled = _mm512_mul_pd(coef, held[j][t]);
            bs[j][t] = _mm512_fmadd_pd(keep, b, pulled);
            as_[j][t] = _mm512_min_pd(_mm512_fmadd_pd(keep, a, pulled), held[j][t]);
        }
    }
    let mut powers = [1.0; LANES + 1];
    for t in 1..=LANES {
        powers[t] = powers[t - 1] * follower.keep_fast;
    }
    // A whole segment's map multiplies by `k^8`; the first `s` segments' by `k^(8s)`.
    let segment = powers[LANES];
    let mut segments = [1.0; LANES + 1];
    for s in 1..=LANES {
        segments[s] = segments[s - 1] * segment;
    }
    // The maps from each chunk's start to each segment's start (the first `s` segments'
    // maps composed), which do not depend on the state: `f ↦ min(k^(8s) f + pb[s], pa[s])`.
    let mut pb = [[0.0; LANES]; N];
    let mut pa = [[f64::MAX; LANES]; N];
    let mut ends = [(0.0, 0.0); N];
    for j in 0..N {
        let (b_end, a_end) = (to_array(bs[j][LANES - 1]), to_array(as_[j][LANES - 1]));
        let (mut b, mut a) = (0.0, f64::MAX);
        for s in 0..LANES {
            (pb[j][s], pa[j][s]) = (b, a);
            (b, a) = (segment.mul_add(b, b_end[s]), super::lesser(segment.mul_add(a, b_end[s]), a_end[s]));
        }
        ends[j] = (b, a);
    }
    // The state passes from chunk to chunk through one map each.
    let powers_of_segments = from_array(&std::array::from_fn(|s| segments[s]));
    std::array::from_fn(|j| {
        let f = _mm512_set1_pd(*state);
        let starts = _mm512_min_pd(_mm512_fmadd_pd(powers_of_segments, f, from_array(&pb[j])), from_array(&pa[j]));
        *state = super::lesser(segments[LANES].mul_add(*state, ends[j].0), ends[j].1);
        std::array::from_fn(|t| {
            _mm512_min_pd(_mm512_fmadd_pd(_mm512_set1_pd(powers[t + 1]), starts, bs[j][t]), as_[j][t])
        })
    })
}

/// The slow follower on chunks of held gains (`rows` in order, `held` the same as columns),
/// its state moved to the last one's end.
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn slow_follower<const N: usize>(
    rows: &[[f64; CHUNK]; N],
    held: &[Columns; N],
    follower: &Follower,
    slower_attack: bool,
    state: &mut f64,
) -> [Columns; N] {
    let start = *state;
    if !branches_known(held.as_flattened(), start, follower) {
        return std::array::from_fn(|j| slow_follower_serial(&rows[j], follower, slower_attack, state));
    }
    // Every branch known: attack where the held value is below the start.
    let split = _mm512_set1_pd(start);
    let (keep_attack, keep_release) =
        (_mm512_set1_pd(follower.keep_slow_attack), _mm512_set1_pd(follower.keep_slow_release));
    let (attack, release) = (_mm512_set1_pd(follower.slow_attack), _mm512_set1_pd(follower.slow_release));
    // Each lane's map from its segment's start to step `t`: `s ↦ k[t] s + b[t]`.
    let mut ks = [[_mm512_set1_pd(1.0); LANES]; N];
    let mut bs = [[_mm512_setzero_pd(); LANES]; N];
    for t in 0..LANES {
        for j in 0..N {
            let (k, b) = if t == 0 { (_mm512_set1_pd(1.0), _mm512_setzero_pd()) } else { (ks[j][t - 1], bs[j][t - 1]) };
            let attacking = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(held[j][t], split);
            let keep = _mm512_mask_blend_pd(attacking, keep_release, keep_attack);
            let pulled = _mm512_mul_pd(_mm512_mask_blend_pd(attacking, release, attack), held[j][t]);
            ks[j][t] = _mm512_mul_pd(keep, k);
            bs[j][t] = _mm512_fmadd_pd(keep, b, pulled);
        }
    }
    // The maps from each chunk's start to each segment's start, independent of the state.
    let mut pk = [[1.0; LANES]; N];
    let mut pb = [[0.0; LANES]; N];
    let mut ends = [(1.0, 0.0); N];
    for j in 0..N {
        let (k_end, b_end) = (to_array(ks[j][LANES - 1]), to_array(bs[j][LANES - 1]));
        let (mut k, mut b) = (1.0, 0.0);
        for s in 0..LANES {
            (pk[j][s], pb[j][s]) = (k, b);
            (k, b) = (k_end[s] * k, k_end[s].mul_add(b, b_end[s]));
        }
        ends[j] = (k, b);
    }
    std::array::from_fn(|j| {
        let starts = _mm512_fmadd_pd(from_array(&pk[j]), _mm512_set1_pd(*state), from_array(&pb[j]));
        *state = ends[j].0.mul_add(*state, ends[j].1);
        std::array::from_fn(|t| _mm512_fmadd_pd(ks[j][t], starts, bs[j][t]))
    })
}

/// Whether every held value of the chunks is clear of the band the slow follower, starting
/// from `start`, can reach within them: then each of its steps attacks exactly where the
/// held value is below `start`.
#[inline]
#[target_feature(enable = "avx512f")]
fn branches_known(held: &[__m512d], start: f64, follower: &Follower) -> bool {
    let (mut lowest, mut highest) = (_mm512_set1_pd(start), _mm512_set1_pd(start));
    for h in held {
        (lowest, highest) = (_mm512_min_pd(lowest, *h), _mm512_max_pd(highest, *h));
    }
    // The state stays between the lowest and highest of its start and the held values (each
    // step a weighted mean of the two), so it moves by at most `coef · span` per sample.
    let span = _mm512_reduce_max_pd(highest) - _mm512_reduce_min_pd(lowest);
    let coef = follower.slow_attack.max(follower.slow_release);
    let samples = (held.len() * LANES) as f64;
    let band = (samples * coef * span) * (1.0 + BAND_RELATIVE_MARGIN) + BAND_ABSOLUTE_MARGIN;
    let (below, above) = (_mm512_set1_pd(start - band), _mm512_set1_pd(start + band));
    let mut inside: __mmask8 = 0;
    for h in held {
        // Not below the band and not above it (a NaN counts as inside: the serial steps then).
        inside |= _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(*h, below) & _mm512_cmp_pd_mask::<_CMP_NGT_UQ>(*h, above);
    }
    inside == 0
}

/// The slow follower one sample at a time, through the serial loop's own step
/// ([`Follower::step_fma`]; its fast follower runs on a scratch state and is not used), so
/// the same values to the bit; returned as columns.
#[inline(never)]
#[target_feature(enable = "avx512f,fma")]
fn slow_follower_serial(rows: &[f64; CHUNK], follower: &Follower, slower_attack: bool, state: &mut f64) -> Columns {
    let mut out = [0.0; CHUNK];
    let mut scratch = 1.0;
    for (o, &held) in out.iter_mut().zip(rows) {
        if slower_attack {
            follower.step_fma::<AUTO_SLOWER_ATTACK>(held, &mut scratch, state);
        } else {
            follower.step_fma::<AUTO>(held, &mut scratch, state);
        }
        *o = *state;
    }
    load_columns(&out)
}

/// A running mean over `mean.len` values on chunks of columns; `mean.recent` (the chunk
/// before them, columns) supplies the first one's values leaving the window and then takes
/// the last chunk.
#[inline]
#[target_feature(enable = "avx512f")]
fn running_mean<const N: usize>(input: &[Columns; N], mean: &mut RunningMean) -> [Columns; N] {
    let len = mean.len;
    debug_assert!(mean.in_columns && (1..=CHUNK).contains(&len));
    // SAFETY: `recent` holds one chunk, column `t` at `8t .. 8t + 8`.
    let recent: Columns = std::array::from_fn(|t| unsafe { _mm512_loadu_pd(mean.recent.as_ptr().add(LANES * t)) });
    let first_kept = _mm512_set1_epi64((CHUNK + 1 - len) as i64);
    let segment_starts = _mm512_set_epi64(56, 48, 40, 32, 24, 16, 8, 0);
    let rows = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let mut sums = [[_mm512_setzero_pd(); LANES]; N];
    let mut history = [0.0; N];
    for j in 0..N {
        let previous = if j == 0 { &recent } else { &input[j - 1] };
        // The window before the chunk's first sample, summed afresh every chunk (as the serial
        // loop does, so rounding cannot accumulate): the last `len - 1` samples before it.
        let mut kept_sum = _mm512_setzero_pd();
        for (t, column) in previous.iter().enumerate() {
            let position = _mm512_add_epi64(segment_starts, _mm512_set1_epi64(t as i64));
            let kept = _mm512_cmpge_epi64_mask(position, first_kept);
            kept_sum = _mm512_mask_add_pd(kept_sum, kept, kept_sum, *column);
        }
        history[j] = _mm512_reduce_add_pd(kept_sum);
        // Sums of changes along each segment. The value leaving at sample `8s + t` is sample
        // `8s + t - len`: position `p = 8s + t + 64 - len` of the previous chunk and this one
        // end to end, in column `p % 8` of either, row `p / 8` (0..8 the previous chunk's,
        // 8..16 this one's). The first sample's change is the value alone: the history sum
        // holds the rest.
        let mut change_sum = _mm512_setzero_pd();
        for t in 0..LANES {
            let p = t + CHUNK - len;
            let (column, row) = (p % LANES, (p / LANES) as i64);
            let index = _mm512_add_epi64(rows, _mm512_set1_epi64(row));
            let mask = if t == 0 { 0xFE } else { 0xFF };
            let leaving = _mm512_maskz_permutex2var_pd(mask, previous[column], index, input[j][column]);
            change_sum = _mm512_add_pd(change_sum, _mm512_sub_pd(input[j][t], leaving));
            sums[j][t] = change_sum;
        }
    }
    for (t, column) in input[N - 1].iter().enumerate() {
        // SAFETY: as above.
        unsafe { _mm512_storeu_pd(mean.recent.as_mut_ptr().add(LANES * t), *column) };
    }
    let inv_len = _mm512_set1_pd(mean.inv_len);
    std::array::from_fn(|j| {
        // Each segment's start: the history, then the earlier segments' changes.
        let change_end = to_array(sums[j][LANES - 1]);
        let mut before = [0.0; LANES];
        for s in 1..LANES {
            before[s] = before[s - 1] + change_end[s - 1];
        }
        let starts = _mm512_add_pd(_mm512_set1_pd(history[j]), from_array(&before));
        std::array::from_fn(|t| _mm512_mul_pd(_mm512_add_pd(starts, sums[j][t]), inv_len))
    })
}

#[cfg(test)]
mod tests {
    use super::super::Release;
    use super::*;

    #[test]
    fn columns_are_segments() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let x: [f64; CHUNK] = std::array::from_fn(|n| n as f64);
        // SAFETY: the CPU has AVX-512F (checked above).
        let columns = unsafe { load_columns(&x) };
        for (t, column) in columns.iter().enumerate() {
            // SAFETY: as above.
            let lanes = unsafe { to_array(*column) };
            for (s, &v) in lanes.iter().enumerate() {
                assert_eq!(v, (LANES * s + t) as f64);
            }
        }
        let mut back = [0.0; CHUNK];
        // SAFETY: as above.
        unsafe { store_columns(columns, &mut back) };
        assert_eq!(back, x);
    }

    /// The slow follower's branches count as known only when no held value is within its
    /// reach of the start, a chunk's worth of its largest coefficient times the span.
    #[test]
    fn branches_are_known_only_clear_of_the_band() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let follower = Follower::new(Release { fast: 0.01, auto: true, slow_attack: 0.001, slow_release: 0.0005 });
        let known = |held: &[f64; CHUNK], start: f64| {
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe { branches_known(&load_columns(held), start, &follower) }
        };
        // Held values from 0.5 to 0.9 and a start of 0.7: the band is 64 · 0.001 · 0.4.
        let band = CHUNK as f64 * 0.001 * 0.4;
        let mut held: [f64; CHUNK] = std::array::from_fn(|n| if n % 2 == 0 { 0.5 } else { 0.9 });
        assert!(known(&held, 0.7));
        for lane in [0, 9, 63] {
            let saved = held[lane];
            held[lane] = 0.7 + 0.99 * band;
            assert!(!known(&held, 0.7), "a value inside the band at {lane}");
            held[lane] = 0.7 - 0.99 * band;
            assert!(!known(&held, 0.7), "a value inside the band at {lane}");
            held[lane] = 0.7 - 1.01 * band;
            assert!(known(&held, 0.7), "a value just outside the band at {lane}");
            held[lane] = f64::NAN;
            assert!(!known(&held, 0.7), "a NaN at {lane}");
            held[lane] = saved;
        }
    }
}
