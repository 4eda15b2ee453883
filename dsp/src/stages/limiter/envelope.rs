//! The limiter's gain planner: turns a per-sample "required gain" into a smooth gain curve that
//! is guaranteed to be at or below the requirement when the audio it was computed for arrives.
//!
//! ```text
//! required r[n] ─ sliding minimum (hold H) ─ release follower(s) ─ mean over B1 ─ mean over B2 ─ g[n]
//! ```
//!
//! The two running means (lengths `B1 + B2 - 1 = R`, the ramp) turn every step of the held
//! curve into an S-shaped ramp of `R` samples whose slope is zero at both ends, so the gain
//! lands on its target with no kink. Every value that enters the means is at most the held
//! minimum, so `g[n] <= r[m]` for every `m` in `n - H + 1 ..= n - R + 1`. Delaying the audio by
//! `R - 1 + spread` with `H = R + 2 · spread` therefore puts a requirement on the
//! `spread` samples either side of the sample it was measured on as well, which is what an
//! inter-sample peak (formed by its neighbours) needs.
//!
//! Nothing here allocates after [`LookaheadEnvelope::new`].

/// Shortest ramp: two means of one sample each would be no smoothing at all.
const MIN_RAMP: usize = 2;

#[cfg(target_arch = "x86_64")]
mod segments;

/// How the gain recovers after limiting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    /// One-pole coefficient per sample of the (fast) release, 0..1.
    pub fast: f64,
    /// Program-dependent ("auto") release: a second, slow follower that charges only under
    /// sustained limiting. The output is the lower of the two gains, so a short peak recovers
    /// at the fast rate while a long stretch of limiting recovers at the slow one.
    pub auto: bool,
    /// Slow follower: coefficient towards a lower gain (how long limiting must last to count
    /// as sustained).
    pub slow_attack: f64,
    /// Slow follower: coefficient towards a higher gain.
    pub slow_release: f64,
}

impl Release {
    /// No release smoothing beyond the ramp itself.
    pub const INSTANT: Release = Release { fast: 1.0, auto: false, slow_attack: 1.0, slow_release: 1.0 };
}

/// Samples the planner processes at a time: its running means keep one chunk after their
/// history in a contiguous buffer, so this bounds their size.
const CHUNK: usize = 64;

/// A running mean over a fixed number of samples, a chunk at a time.
#[derive(Debug, Clone, PartialEq)]
struct RunningMean {
    /// Oldest first: the last `len - 1` values of the previous chunks, then the current chunk.
    /// A window is then always a contiguous slice and no index wraps. Current only while
    /// `in_columns` is false.
    values: Vec<f64>,
    /// The last [`CHUNK`] values in the column form of the chunk path (`segments.rs`):
    /// `recent[8t + s]` is value `8s + t` of them. Current only while `in_columns` is true
    /// (then `len <= CHUNK`, so it holds the whole history).
    recent: Vec<f64>,
    in_columns: bool,
    /// Samples averaged (`1 ..= capacity`).
    len: usize,
    inv_len: f64,
}

impl RunningMean {
    /// Room for means over up to `capacity` samples; the length is set by `set_len`.
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut m = Self {
            values: vec![1.0; capacity - 1 + CHUNK],
            recent: vec![1.0; CHUNK],
            in_columns: false,
            len: capacity,
            inv_len: 0.0,
        };
        m.set_len(capacity);
        m
    }

    fn capacity(&self) -> usize {
        self.values.len() + 1 - CHUNK
    }

    /// Change the length (clamped to the capacity) and reset.
    fn set_len(&mut self, len: usize) {
        self.len = len.clamp(1, self.capacity());
        self.inv_len = 1.0 / self.len as f64;
        self.reset();
    }

    /// Fill with unity gain.
    fn reset(&mut self) {
        self.values.fill(1.0);
        self.recent.fill(1.0);
        self.in_columns = false;
    }

    /// Where value `n` of the last [`CHUNK`] is kept in the column form.
    fn column_index(n: usize) -> usize {
        const SEGMENT: usize = 8;
        (n % SEGMENT) * SEGMENT + n / SEGMENT
    }

    /// Make the row form (`values`' history) current, from the column form if that is.
    #[inline(always)]
    fn rows_current(&mut self) {
        if self.in_columns {
            let h = self.len - 1;
            for (i, v) in self.values[..h].iter_mut().enumerate() {
                *v = self.recent[Self::column_index(CHUNK - h + i)];
            }
            self.in_columns = false;
        }
    }

    /// Make the column form current (`len <= CHUNK`), from the row form if that is. Only the
    /// last `len - 1` values are history; the others are never read.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn columns_current(&mut self) {
        if !self.in_columns {
            let h = self.len - 1;
            for (i, &v) in self.values[..h].iter().enumerate() {
                self.recent[Self::column_index(CHUNK - h + i)] = v;
            }
            self.in_columns = true;
        }
    }

    /// Replace each value of `x` (at most [`CHUNK`]) by the mean of the last `len` values up
    /// to it. The sum is taken afresh at the start of every chunk and then updated by one
    /// value in and one out per sample, so rounding cannot accumulate beyond a chunk.
    #[cfg(test)]
    fn process_chunk(&mut self, x: &mut [f64]) {
        self.rows_current();
        let (m, h) = (x.len(), self.len - 1);
        let values = &mut self.values[..h + m];
        values[h..].copy_from_slice(x);
        let mut sum: f64 = values[..=h].iter().sum();
        x[0] = sum * self.inv_len;
        for ((y, &new), &old) in x[1..].iter_mut().zip(&values[h + 1..]).zip(&values[..m]) {
            sum += new - old;
            *y = sum * self.inv_len;
        }
        values.copy_within(m..m + h, 0);
    }
}

/// Sliding-window minimum over the last `len` values (van Herk / Gil-Werman).
///
/// The input is cut into blocks of `len`. When a block is complete its suffix minima are
/// taken once (one comparison per value); the window ending at position `p` of the next block
/// is then the suffix of the completed block from `p + 1` and the prefix of the new one up to
/// `p`, so each value costs three comparisons and no branch that depends on the audio (a
/// monotonic deque is as cheap on average but mispredicts on programme).
#[derive(Debug, Clone, PartialEq)]
struct SlidingMin {
    len: usize,
    /// The current block so far (`..pos`) and the rest of the previous one (`pos..len`).
    values: Vec<f64>,
    /// `suffix[i]` = min of the previous block's values `i..len`; `suffix[len]` = +inf.
    suffix: Vec<f64>,
    /// Minimum of the current block so far.
    prefix: f64,
    pos: usize,
}

impl SlidingMin {
    /// Room for windows of up to `capacity` samples; the window is set by `set_len`.
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut m = Self {
            len: capacity,
            values: vec![f64::INFINITY; capacity],
            suffix: vec![f64::INFINITY; capacity + 1],
            prefix: f64::INFINITY,
            pos: 0,
        };
        m.reset();
        m
    }

    /// Change the window (clamped to the capacity) and reset.
    fn set_len(&mut self, len: usize) {
        self.len = len.clamp(1, self.values.len());
        self.reset();
    }

    /// Forget everything: until `len` values have come in, the window holds only those.
    fn reset(&mut self) {
        self.values.fill(f64::INFINITY);
        self.suffix.fill(f64::INFINITY);
        self.prefix = f64::INFINITY;
        self.pos = 0;
    }

    /// Replace each value of `x` by the minimum of the last `len` values up to it.
    #[inline(always)]
    fn process_chunk(&mut self, x: &mut [f64]) {
        let len = self.len;
        let (mut pos, mut prefix) = (self.pos, self.prefix);
        let values = &mut self.values[..len];
        let suffix = &mut self.suffix[..=len];
        for g in x {
            let v = *g;
            values[pos] = v;
            prefix = lesser(v, prefix);
            *g = lesser(prefix, suffix[pos + 1]);
            pos += 1;
            if pos == len {
                // The block is complete: its suffix minima serve the next block.
                let mut running = f64::INFINITY;
                for (s, &v) in suffix[..len].iter_mut().zip(&*values).rev() {
                    running = lesser(v, running);
                    *s = running;
                }
                prefix = f64::INFINITY;
                pos = 0;
            }
        }
        (self.pos, self.prefix) = (pos, prefix);
    }

    /// [`SlidingMin::process_chunk`] eight values at a time: a vector's running minima in
    /// three shift-and-minimum steps and one with the block's minimum so far, then one with the
    /// previous block's suffix minima; a completed block's suffix minima the same way from the
    /// end. The chains from vector to vector are one minimum each, where the scalar loop's are
    /// eight. A vector across a block's end takes the scalar loop up to it. The same values
    /// (a minimum is exact).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn process_chunk_avx512(&mut self, x: &mut [f64]) {
        let mut done = 0;
        while x.len() - done >= SIMD_LANES {
            let pos = self.pos;
            if pos + SIMD_LANES > self.len {
                // One at a time up to the block's end (the scalar loop's steps).
                let to_end = self.len - pos;
                for (i, g) in x[done..done + to_end].iter_mut().enumerate() {
                    let v = *g;
                    self.values[pos + i] = v;
                    self.prefix = lesser(v, self.prefix);
                    *g = lesser(self.prefix, self.suffix[pos + i + 1]);
                }
                simd::suffix_minima(&self.values[..self.len], &mut self.suffix[..self.len]);
                (self.prefix, self.pos) = (f64::INFINITY, 0);
                done += to_end;
                continue;
            }
            let group: &mut [f64; SIMD_LANES] = (&mut x[done..done + SIMD_LANES]).try_into().unwrap();
            let suffix_after: &[f64; SIMD_LANES] = self.suffix[pos + 1..pos + 1 + SIMD_LANES].try_into().unwrap();
            self.values[pos..pos + SIMD_LANES].copy_from_slice(group);
            self.prefix = simd::running_minima(group, self.prefix, suffix_after);
            self.pos = pos + SIMD_LANES;
            if self.pos == self.len {
                simd::suffix_minima(&self.values[..self.len], &mut self.suffix[..self.len]);
                (self.prefix, self.pos) = (f64::INFINITY, 0);
            }
            done += SIMD_LANES;
        }
        self.process_chunk(&mut x[done..]);
    }
}

/// `f64` lanes of an AVX-512 register.
#[cfg(target_arch = "x86_64")]
const SIMD_LANES: usize = 8;

/// The hold's vector steps.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::SIMD_LANES;

    /// `a` shifted up by `K` lanes (towards the last), +inf shifted in.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn shifted_up<const K: i32>(a: __m512d) -> __m512d {
        let none = _mm512_castpd_si512(_mm512_set1_pd(f64::INFINITY));
        // `alignr` takes lanes `8 - K ..` of (`a` above `none`).
        match K {
            1 => _mm512_castsi512_pd(_mm512_alignr_epi64::<7>(_mm512_castpd_si512(a), none)),
            2 => _mm512_castsi512_pd(_mm512_alignr_epi64::<6>(_mm512_castpd_si512(a), none)),
            _ => _mm512_castsi512_pd(_mm512_alignr_epi64::<4>(_mm512_castpd_si512(a), none)),
        }
    }

    /// `a` shifted down by `K` lanes (towards the first), +inf shifted in.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn shifted_down<const K: i32>(a: __m512d) -> __m512d {
        let none = _mm512_castpd_si512(_mm512_set1_pd(f64::INFINITY));
        _mm512_castsi512_pd(_mm512_alignr_epi64::<K>(none, _mm512_castpd_si512(a)))
    }

    /// Each value becomes the minimum of `before` (the block's minimum before these), the
    /// values up to it, and `after[i]` (the previous block's minimum from that point on).
    /// Returns the block's new minimum so far.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn running_minima(x: &mut [f64; SIMD_LANES], before: f64, after: &[f64; SIMD_LANES]) -> f64 {
        // SAFETY: eight values each.
        let (v, after) = unsafe { (_mm512_loadu_pd(x.as_ptr()), _mm512_loadu_pd(after.as_ptr())) };
        let mut p = _mm512_min_pd(v, shifted_up::<1>(v));
        p = _mm512_min_pd(p, shifted_up::<2>(p));
        p = _mm512_min_pd(_mm512_min_pd(p, shifted_up::<4>(p)), _mm512_set1_pd(before));
        // SAFETY: as above.
        unsafe { _mm512_storeu_pd(x.as_mut_ptr(), _mm512_min_pd(p, after)) };
        _mm512_cvtsd_f64(_mm512_permutexvar_pd(_mm512_set1_epi64(7), p))
    }

    /// `suffix[i]` = the minimum of `values[i..]`, eight at a time from the end.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn suffix_minima(values: &[f64], suffix: &mut [f64]) {
        let n = values.len().min(suffix.len());
        let mut after = _mm512_set1_pd(f64::INFINITY);
        let mut end = n;
        while end >= SIMD_LANES {
            let start = end - SIMD_LANES;
            // SAFETY: `start + 8 <= n`, within both slices.
            let v = unsafe { _mm512_loadu_pd(values.as_ptr().add(start)) };
            let mut m = _mm512_min_pd(v, shifted_down::<1>(v));
            m = _mm512_min_pd(m, shifted_down::<2>(m));
            m = _mm512_min_pd(_mm512_min_pd(m, shifted_down::<4>(m)), after);
            // SAFETY: as above.
            unsafe { _mm512_storeu_pd(suffix.as_mut_ptr().add(start), m) };
            after = _mm512_broadcastsd_pd(_mm512_castpd512_pd128(m));
            end = start;
        }
        let mut running = _mm512_cvtsd_f64(after);
        for (s, &v) in suffix[..end].iter_mut().zip(&values[..end]).rev() {
            running = super::lesser(v, running);
            *s = running;
        }
    }
}

/// The smaller of two gains: `a` if it is smaller, else `b` (so a NaN `a` is ignored). Unlike
/// `f64::min` a single instruction; the planner's values are never NaN (a required gain is
/// 1 for a NaN peak), the choice only matters for robustness.
#[inline(always)]
fn lesser(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// The larger of two gains, [`lesser`]'s counterpart.
#[inline(always)]
fn greater(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// The gain planner described in the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct LookaheadEnvelope {
    hold: SlidingMin,
    spread: usize,
    release: Release,
    fast: f64,
    slow: f64,
    first: RunningMean,
    second: RunningMean,
    /// Without a follower ([`Release::INSTANT`]): how many requirements of 1 in a row came in
    /// last (saturating), and the output of a chunk of 1s computed in full from the steady
    /// state. After [`LookaheadEnvelope::settle_len`] of them every window holds only the
    /// steady state of an input of 1, so a chunk of 1s gives one output on every sample and
    /// leaves the state as it was, but for the hold's position (see
    /// [`LookaheadEnvelope::settled_chunk`]). The guard's planner sees a requirement under 1
    /// on a few samples in ten thousand.
    ones_run: usize,
    settled_output: Option<f64>,
}

impl LookaheadEnvelope {
    /// A planner for ramps of up to `max_ramp` samples whose requirements also cover
    /// `spread` samples either side, configured for `max_ramp`. The audio must be delayed by
    /// [`LookaheadEnvelope::delay`].
    pub fn new(max_ramp: usize, spread: usize) -> Self {
        let max_ramp = max_ramp.max(MIN_RAMP);
        let mut env = Self {
            hold: SlidingMin::new(max_ramp + 2 * spread),
            spread,
            release: Release::INSTANT,
            fast: 1.0,
            slow: 1.0,
            first: RunningMean::new(max_ramp),
            second: RunningMean::new(max_ramp),
            ones_run: 0,
            settled_output: None,
        };
        env.set_ramp(max_ramp);
        env
    }

    /// Change the ramp (at most the `max_ramp` given to `new`) and reset.
    pub fn set_ramp(&mut self, ramp: usize) {
        let ramp = ramp.max(MIN_RAMP);
        let first_len = ramp.div_ceil(2);
        self.hold.set_len(ramp + 2 * self.spread);
        self.first.set_len(first_len);
        self.second.set_len(ramp + 1 - first_len);
        self.reset();
    }

    /// Delay the audio needs so that a requirement measured on a sample is met on it and on
    /// its `spread` neighbours either side.
    pub fn delay(ramp: usize, spread: usize) -> usize {
        ramp.max(MIN_RAMP) - 1 + spread
    }

    pub fn set_release(&mut self, release: Release) {
        if release != self.release {
            // The steady-state count is kept only without a follower: start it again.
            (self.ones_run, self.settled_output) = (0, None);
        }
        self.release = release;
    }

    /// Requirements of 1 in a row after which the state is the steady state of an input of 1:
    /// two holds (the values of a whole hold block, and the block before them, whose suffix
    /// minima the hold reads), then each mean's window and the rest of the chunk it filled in:
    /// a running sum that saw its window settle part-way through a chunk may be a rounding off
    /// the fresh sum until the next chunk takes it afresh from its history.
    fn settle_len(&self) -> usize {
        2 * self.hold.len + self.first.len + self.second.len + 2 * CHUNK
    }

    pub fn reset(&mut self) {
        (self.ones_run, self.settled_output) = (0, None);
        self.hold.reset();
        self.fast = 1.0;
        self.slow = 1.0;
        self.first.reset();
        self.second.reset();
    }

    /// Make this planner's state a copy of `other`'s without allocating (both were made by
    /// `new` with the same arguments).
    pub fn copy_from(&mut self, other: &Self) {
        let Self { hold, spread, release, fast, slow, first, second, ones_run, settled_output } = self;
        (*ones_run, *settled_output) = (other.ones_run, other.settled_output);
        hold.values.copy_from_slice(&other.hold.values);
        hold.suffix.copy_from_slice(&other.hold.suffix);
        (hold.len, hold.prefix, hold.pos) = (other.hold.len, other.hold.prefix, other.hold.pos);
        for (mean, from) in [(first, &other.first), (second, &other.second)] {
            mean.values.copy_from_slice(&from.values);
            mean.recent.copy_from_slice(&from.recent);
            (mean.in_columns, mean.len, mean.inv_len) = (from.in_columns, from.len, from.inv_len);
        }
        (*spread, *release, *fast, *slow) = (other.spread, other.release, other.fast, other.slow);
    }

    /// Required gains in, gains out, in place: see [`LookaheadEnvelope::process`]. Each step
    /// runs over a chunk in its own loop, which keeps its state in registers.
    #[inline(always)]
    pub fn process_block(&mut self, gains: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        let kernel = if !std::arch::is_x86_feature_detected!("fma") {
            Kernel::Plain
        } else if std::arch::is_x86_feature_detected!("avx512f") {
            Kernel::Segments
        } else {
            Kernel::Fma
        };
        #[cfg(not(target_arch = "x86_64"))]
        let kernel = Kernel::Plain;
        self.process_block_with(gains, kernel);
    }

    /// [`LookaheadEnvelope::process_block`] with the given kernel for the followers and
    /// means (only one the CPU has).
    #[inline(always)]
    fn process_block_with(&mut self, gains: &mut [f64], kernel: Kernel) {
        let fma = kernel != Kernel::Plain;
        let rel = self.release;
        let mode = if rel.auto && rel.slow_attack >= rel.slow_release {
            AUTO
        } else if rel.auto {
            AUTO_SLOWER_ATTACK
        } else if rel.fast == 1.0 {
            INSTANT
        } else {
            FAST_ONLY
        };
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Segments
            && mode != INSTANT
            && segments::fits(&Follower::new(self.release), &self.first, &self.second)
        {
            // SAFETY: `Kernel::Segments` is chosen only where the CPU has AVX-512F and FMA.
            unsafe { self.process_block_segments(gains, mode) };
            return;
        }
        for chunk in gains.chunks_mut(CHUNK) {
            let mut record = false;
            if self.release.fast == 1.0 {
                match self.settled_chunk(chunk) {
                    Settled::Done => continue,
                    Settled::Record => record = true,
                    Settled::Compute => {}
                }
            }
            self.hold.process_chunk(chunk);
            #[cfg(target_arch = "x86_64")]
            if fma && mode != INSTANT {
                // SAFETY: the caller checked that the CPU has FMA.
                unsafe { self.release_and_means_fma(chunk, mode) };
                continue;
            }
            let _ = fma;
            match mode {
                AUTO => self.release_and_means::<AUTO, false>(chunk),
                AUTO_SLOWER_ATTACK => self.release_and_means::<AUTO_SLOWER_ATTACK, false>(chunk),
                INSTANT => {
                    self.release_and_means::<INSTANT, false>(chunk);
                    if record {
                        self.settled_output = Some(chunk[chunk.len() - 1]);
                    }
                }
                _ => self.release_and_means::<FAST_ONLY, false>(chunk),
            }
        }
    }

    /// Without a follower: count the chunk's requirements of 1. A chunk of 1s that starts in
    /// the steady state (see [`LookaheadEnvelope::ones_run`]) is computed in full once
    /// ([`Settled::Record`]: its outputs are all one value, which is kept); after that such a
    /// chunk gets that value on every sample and the hold moves on as its own loop would
    /// ([`Settled::Done`]). The same result to the bit: in the steady state the hold's values
    /// and suffix minima are all 1 and so is every output of the hold, and both means' windows
    /// hold constants, so their sums, taken afresh from their histories at the start of the
    /// chunk, do not move. (Only a chunk that starts settled is recorded: one that settles
    /// part-way carries running sums that may differ from the fresh ones by a rounding.)
    #[inline(always)]
    fn settled_chunk(&mut self, chunk: &mut [f64]) -> Settled {
        let m = chunk.len();
        // All 1s (the usual case) in one pass that runs in vector lanes; the trailing count
        // only where it is not.
        let all_ones = chunk.iter().fold(true, |all, &g| all & (g == 1.0));
        let trailing = if all_ones { m } else { chunk.iter().rev().take_while(|&&g| g == 1.0).count() };
        let settled = self.ones_run >= self.settle_len();
        self.ones_run = if trailing == m { self.ones_run.saturating_add(m) } else { trailing };
        if !(settled && trailing == m) {
            self.settled_output = None;
            return Settled::Compute;
        }
        let Some(output) = self.settled_output else {
            return Settled::Record;
        };
        chunk.fill(output);
        // The hold's loop: its position moves on; at a block boundary it recomputes the
        // suffix minima (still 1) and restarts its running prefix, which is then 1 again
        // after the next value (or +inf if the chunk ended on the boundary).
        let hold = &mut self.hold;
        hold.pos = (hold.pos + m) % hold.len;
        hold.prefix = if hold.pos == 0 { f64::INFINITY } else { 1.0 };
        // The follower's state without a follower: the last held value.
        self.fast = 1.0;
        Settled::Done
    }

    /// [`LookaheadEnvelope::process_block_with`] with a follower, whole chunks with their
    /// segments in vector lanes (`segments.rs`, within a few roundings of the serial loop),
    /// two at a time where there are two; a partial chunk at the end runs the serial loop.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    fn process_block_segments(&mut self, gains: &mut [f64], mode: u8) {
        /// Chunks the segment kernel takes at a time where it can: two overlap better than
        /// one (their chains of latency are independent but for the followers' states).
        const TOGETHER: usize = 2;
        let follower = Follower::new(self.release);
        let (whole, partial) = gains.as_chunks_mut::<CHUNK>();
        let (groups, single) = whole.as_chunks_mut::<TOGETHER>();
        self.first.columns_current();
        self.second.columns_current();
        // The hold, then the followers and means, on `N` whole chunks.
        macro_rules! chunks {
            ($chunks:expr) => {{
                let chunks = $chunks;
                self.hold.process_chunk_avx512(chunks.as_flattened_mut());
                segments::release_and_means(
                    chunks,
                    &follower,
                    mode,
                    &mut self.fast,
                    &mut self.slow,
                    &mut self.first,
                    &mut self.second,
                );
            }};
        }
        for group in groups {
            chunks!(group);
        }
        for chunk in single {
            chunks!(std::array::from_mut(chunk));
        }
        if !partial.is_empty() {
            self.hold.process_chunk_avx512(partial);
            // SAFETY: this function runs only where the CPU has FMA.
            unsafe { self.release_and_means_fma(partial, mode) };
        }
    }

    /// [`LookaheadEnvelope::release_and_means`] compiled for FMA: each follower's step is one
    /// fused multiply-add and a minimum, its shortest chain of latency.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    unsafe fn release_and_means_fma(&mut self, x: &mut [f64], mode: u8) {
        match mode {
            AUTO => self.release_and_means::<AUTO, true>(x),
            AUTO_SLOWER_ATTACK => self.release_and_means::<AUTO_SLOWER_ATTACK, true>(x),
            _ => self.release_and_means::<FAST_ONLY, true>(x),
        }
    }

    /// [`LookaheadEnvelope::release_chunk`], then `first` and `second`'s
    /// [`RunningMean::process_chunk`], in one loop with the same operations in the same order
    /// (so the same result to the bit): the three recursions are independent chains of
    /// latency, which overlap in one loop and add up in three.
    #[inline(always)]
    fn release_and_means<const MODE: u8, const FMA: bool>(&mut self, x: &mut [f64]) {
        self.first.rows_current();
        self.second.rows_current();
        let follower = Follower::new(self.release);
        let (mut fast, mut slow) = (self.fast, self.slow);
        let m = x.len();
        let (h1, h2) = (self.first.len - 1, self.second.len - 1);
        let (inv1, inv2) = (self.first.inv_len, self.second.inv_len);
        let v1 = &mut self.first.values[..h1 + m];
        let v2 = &mut self.second.values[..h2 + m];
        // The history's part of each chunk's fresh sum (a left fold, as `process_chunk`'s).
        let history1: f64 = v1[..h1].iter().sum();
        let history2: f64 = v2[..h2].iter().sum();
        let (mut sum1, mut sum2) = (0.0, 0.0);
        for k in 0..m {
            let g = follower.step::<MODE, FMA>(x[k], &mut fast, &mut slow);
            v1[h1 + k] = g;
            sum1 = if k == 0 { history1 + g } else { sum1 + (g - v1[k - 1]) };
            let y1 = sum1 * inv1;
            v2[h2 + k] = y1;
            sum2 = if k == 0 { history2 + y1 } else { sum2 + (y1 - v2[k - 1]) };
            x[k] = sum2 * inv2;
        }
        v1.copy_within(m..m + h1, 0);
        v2.copy_within(m..m + h2, 0);
        (self.fast, self.slow) = (fast, slow);
    }

    /// Take the gain required for the newest sample (0 < r <= 1), return the gain to apply
    /// to the audio delayed by [`LookaheadEnvelope::delay`]. The same as a block of one.
    #[cfg(test)]
    fn process(&mut self, required: f64) -> f64 {
        let mut g = [required];
        self.process_block(&mut g);
        g[0]
    }

    /// The three steps after the hold one after the other (the reference for
    /// [`LookaheadEnvelope::release_and_means`]).
    #[cfg(test)]
    fn process_block_unfused(&mut self, gains: &mut [f64]) {
        for chunk in gains.chunks_mut(CHUNK) {
            self.hold.process_chunk(chunk);
            self.release_chunk(chunk);
            self.first.process_chunk(chunk);
            self.second.process_chunk(chunk);
        }
    }

    /// The release follower(s), in place on held gains.
    #[cfg(test)]
    fn release_chunk(&mut self, x: &mut [f64]) {
        let follower = Follower::new(self.release);
        let (mut fast, mut slow) = (self.fast, self.slow);
        let rel = self.release;
        for g in x {
            *g = if rel.auto && rel.slow_attack >= rel.slow_release {
                follower.step::<AUTO, false>(*g, &mut fast, &mut slow)
            } else if rel.auto {
                follower.step::<AUTO_SLOWER_ATTACK, false>(*g, &mut fast, &mut slow)
            } else {
                follower.step::<FAST_ONLY, false>(*g, &mut fast, &mut slow)
            };
        }
        (self.fast, self.slow) = (fast, slow);
    }
}

/// How [`LookaheadEnvelope::process_block_with`] runs the followers and means.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    /// One sample at a time, plain multiplies and adds.
    Plain,
    /// One sample at a time, fused multiply-adds (`release_and_means_fma`).
    Fma,
    /// Whole chunks with their segments in AVX-512 lanes (`segments.rs`); partial chunks
    /// and the rest as `Fma`.
    Segments,
}

/// What [`LookaheadEnvelope::settled_chunk`] did with a chunk.
enum Settled {
    /// Not settled: compute it.
    Compute,
    /// Settled, and its value not yet known: compute it and keep its output.
    Record,
    /// Written.
    Done,
}

/// Modes of [`Follower::step`]: no release smoothing ([`Release::INSTANT`]), the fast follower
/// only, or auto release (both; the slow follower's attack coefficient at least its release
/// one, as the limiter sets it, or less).
const INSTANT: u8 = 0;
const FAST_ONLY: u8 = 1;
const AUTO: u8 = 2;
const AUTO_SLOWER_ATTACK: u8 = 3;

/// The release follower(s) with their coefficients as weights of the old state and of the
/// new value: `state · keep + held · coef`. The same one-pole as `state + (held - state) ·
/// coef` up to rounding, but the chain of latency from one sample's state to the next is a
/// multiply and an add instead of a subtraction, a multiply and an add, and the choices are
/// minima instead of comparisons and selects (the followers' recursions are the planner's
/// longest chains); `held · coef` does not depend on the state.
///
/// The minima: the fast follower attacks at once (`held` when `held <= fast`) and otherwise
/// releases to a point between `fast` and `held`, so it takes the smaller of `held` and the
/// released value (which lies between `held` and `fast` either way). The slow follower
/// moves towards `held` with the attack coefficient when `held` is below it and the release
/// coefficient otherwise: with an attack coefficient at least the release one, that is the
/// smaller of the two moves in both cases (the larger if less). Exactly the conditional
/// follower in exact arithmetic; in floating point the two differ by a rounding at most where
/// the state meets `held`, and never upwards for the fast follower.
#[derive(Debug, Clone, Copy)]
struct Follower {
    fast: f64,
    keep_fast: f64,
    slow_attack: f64,
    keep_slow_attack: f64,
    slow_release: f64,
    keep_slow_release: f64,
}

impl Follower {
    fn new(rel: Release) -> Self {
        Self {
            fast: rel.fast,
            keep_fast: 1.0 - rel.fast,
            slow_attack: rel.slow_attack,
            keep_slow_attack: 1.0 - rel.slow_attack,
            slow_release: rel.slow_release,
            keep_slow_release: 1.0 - rel.slow_release,
        }
    }

    /// Take a held gain, return the released one. Attack at once, release with the follower
    /// (selects, not branches: which one applies changes with the audio). [`INSTANT`] (a fast
    /// coefficient of 1) returns `held`, which is what the follower computes then (its `keep`
    /// is 0).
    /// With `FMA` (only where the caller is compiled for it) `state · keep + held · coef` is
    /// one fused multiply-add on the state.
    #[inline(always)]
    fn step<const MODE: u8, const FMA: bool>(&self, held: f64, fast: &mut f64, slow: &mut f64) -> f64 {
        let blend = |state: f64, keep: f64, coef: f64| {
            if FMA {
                state.mul_add(keep, held * coef)
            } else {
                state * keep + held * coef
            }
        };
        if MODE == INSTANT {
            *fast = held;
            return held;
        }
        #[cfg(target_arch = "x86_64")]
        if FMA {
            // SAFETY: `FMA` is set only inside functions compiled for it, which run only
            // where the CPU has it (see `process_block_with`).
            return unsafe { self.step_fma::<MODE>(held, fast, slow) };
        }
        let released = blend(*fast, self.keep_fast, self.fast);
        *fast = lesser(released, held);
        if MODE == FAST_ONLY {
            return *fast;
        }
        let attacked = blend(*slow, self.keep_slow_attack, self.slow_attack);
        let recovered = blend(*slow, self.keep_slow_release, self.slow_release);
        *slow = if MODE == AUTO { lesser(attacked, recovered) } else { greater(attacked, recovered) };
        lesser(*fast, *slow)
    }

    /// [`Follower::step`] with fused multiply-adds, written with scalar intrinsics so that
    /// each state's chain stays one `vfmadd` and one `vminsd` (`vmaxsd`): left to itself the
    /// compiler packs the two followers into one register and puts shuffles on both chains
    /// (eight cycles per sample instead of six). The same operations, so the same result to
    /// the bit as the generic fused path. `minsd` is [`lesser`] exactly (`a` if `a < b`,
    /// else `b`), `maxsd` [`greater`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    #[inline]
    fn step_fma<const MODE: u8>(&self, held: f64, fast: &mut f64, slow: &mut f64) -> f64 {
        use std::arch::x86_64::*;
        let h = _mm_set_sd(held);
        let keep_fast = _mm_set_sd(self.keep_fast);
        let f = _mm_min_sd(_mm_fmadd_sd(_mm_set_sd(*fast), keep_fast, _mm_set_sd(held * self.fast)), h);
        *fast = _mm_cvtsd_f64(f);
        if MODE == FAST_ONLY {
            return *fast;
        }
        let s = _mm_set_sd(*slow);
        let attacked = _mm_fmadd_sd(s, _mm_set_sd(self.keep_slow_attack), _mm_set_sd(held * self.slow_attack));
        let recovered = _mm_fmadd_sd(s, _mm_set_sd(self.keep_slow_release), _mm_set_sd(held * self.slow_release));
        let s = if MODE == AUTO { _mm_min_sd(attacked, recovered) } else { _mm_max_sd(attacked, recovered) };
        *slow = _mm_cvtsd_f64(s);
        _mm_cvtsd_f64(_mm_min_sd(f, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_meets_every_requirement_in_its_window() {
        let (ramp, spread) = (20, 3);
        let delay = LookaheadEnvelope::delay(ramp, spread);
        let mut env = LookaheadEnvelope::new(ramp, spread);
        env.set_release(Release { fast: 0.01, auto: true, slow_attack: 0.001, slow_release: 0.0005 });
        // A pseudo-random requirement sequence with isolated dips.
        let req: Vec<f64> = (0..5000u64)
            .map(|n| if (n * 2654435761) % 97 < 5 { 0.2 + ((n * 40503) % 80) as f64 / 100.0 } else { 1.0 })
            .collect();
        // One sample at a time (the serial loop), and in blocks of 512 (whole chunks: the
        // segment path where the CPU has it).
        let one_by_one: Vec<f64> = req.iter().map(|&r| env.process(r)).collect();
        env.reset();
        let mut in_blocks = req.clone();
        in_blocks.chunks_mut(512).for_each(|block| env.process_block(block));
        for gains in [one_by_one, in_blocks] {
            for (m, &r) in req.iter().enumerate() {
                for k in m.saturating_sub(spread)..=(m + spread) {
                    if let Some(&g) = gains.get(k + delay) {
                        assert!(g <= r + 1e-12, "sample {k}: gain {g} above requirement {r} of {m}");
                    }
                }
            }
        }
    }

    /// The fused loop gives the three separate ones to the bit, with either release and
    /// ramps of odd and even lengths, in blocks that cut chunks anywhere.
    #[test]
    fn fused_release_and_means_equal_the_separate_steps() {
        let req: Vec<f64> =
            (0..6000u64).map(|n| 0.3 + 0.7 * (((n * 2654435761) % 1013) as f64 / 1013.0).powi(8)).collect();
        for (auto, fast, slow_attack) in
            [(false, 1.0, 0.001), (false, 0.01, 0.001), (true, 0.01, 0.001), (true, 0.01, 0.0002)]
        {
            for ramp in [2, 3, 20, 72, 241] {
                let release = Release { fast, auto, slow_attack, slow_release: 0.0005 };
                let mut fused = LookaheadEnvelope::new(ramp, 2);
                let mut reference = LookaheadEnvelope::new(ramp, 2);
                let mut with_fma = LookaheadEnvelope::new(ramp, 2);
                fused.set_release(release);
                reference.set_release(release);
                with_fma.set_release(release);
                let (mut a, mut b) = (req.clone(), req.clone());
                let mut start = 0;
                for size in [1usize, 7, 64, 100, 513].iter().cycle() {
                    let end = (start + size).min(req.len());
                    fused.process_block_with(&mut a[start..end], Kernel::Plain);
                    reference.process_block_unfused(&mut b[start..end]);
                    // With FMA where the machine has it: within rounding.
                    let mut c = req[start..end].to_vec();
                    with_fma.process_block(&mut c);
                    for (x, y) in c.iter().zip(&b[start..end]) {
                        assert!((x - y).abs() < 1e-12, "auto {auto} ramp {ramp}: {x} vs {y}");
                    }
                    start = end;
                    if start == req.len() {
                        break;
                    }
                }
                for (n, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(x.to_bits(), y.to_bits(), "auto {auto} ramp {ramp} n {n}");
                }
                assert!(fused == reference);
            }
        }
    }

    /// Whole chunks with their segments in vector lanes give the serial loop's gains within
    /// rounding: with either follower and both kinds of auto release, ramps that fit a chunk
    /// and ramps that do not (those run the serial loop), blocks that cut chunks anywhere (a
    /// partial chunk runs the serial loop, whose history then comes from the column form and
    /// goes back), and held values both clear of the slow follower and hovering across it
    /// (its per-sample steps).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn segment_chunks_equal_the_serial_loop() {
        if !(std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")) {
            return;
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Programme-like dips of all depths, then a stretch hovering within ±0.001 of 0.5,
        // where the slow follower settles and the held values cross it.
        let mut req: Vec<f64> = (0..12_000).map(|_| 0.3 + 0.7 * uniform().powi(6)).collect();
        // (Long enough for the slower of the two slow followers, attack 0.0002, to come within
        // the band's reach of the hovering values: its fallback runs then too.)
        req.extend((0..36_000).map(|_| 0.5 + 0.002 * (uniform() - 0.5)));
        let releases = [
            Release { fast: 0.01, ..Release::INSTANT },
            Release { fast: 0.01, auto: true, slow_attack: 0.001, slow_release: 0.0005 },
            Release { fast: 0.02, auto: true, slow_attack: 0.0002, slow_release: 0.0005 },
        ];
        for release in releases {
            for ramp in [2, 3, 20, 72, 127, 128, 241] {
                for sizes in [&[64usize][..], &[1, 7, 64, 100, 513, 128]] {
                    let mut segments = LookaheadEnvelope::new(241, 2);
                    let mut serial = LookaheadEnvelope::new(241, 2);
                    for env in [&mut segments, &mut serial] {
                        env.set_ramp(ramp);
                        env.set_release(release);
                    }
                    let (mut a, mut b) = (req.clone(), req.clone());
                    let mut start = 0;
                    for size in sizes.iter().cycle() {
                        let end = (start + size).min(req.len());
                        segments.process_block_with(&mut a[start..end], Kernel::Segments);
                        serial.process_block_with(&mut b[start..end], Kernel::Fma);
                        // The followers' states too (the slow one's shows only where it is
                        // below the fast one's in the gains).
                        assert!(
                            (segments.fast - serial.fast).abs() < 1e-12 && (segments.slow - serial.slow).abs() < 1e-12,
                            "{release:?} ramp {ramp} sizes {sizes:?} at {end}: follower states"
                        );
                        start = end;
                        if start == req.len() {
                            break;
                        }
                    }
                    for (n, (x, y)) in a.iter().zip(&b).enumerate() {
                        assert!((x - y).abs() < 1e-12, "{release:?} ramp {ramp} sizes {sizes:?} n {n}: {x} vs {y}");
                    }
                    assert!((segments.fast - serial.fast).abs() < 1e-12 && (segments.slow - serial.slow).abs() < 1e-12);
                }
            }
        }
    }

    /// Without a follower, long runs of requirements of 1 (the guard's usual input) take the
    /// settled shortcut, and the output is still the three separate steps' to the bit, with
    /// dips now and then, ramps of odd and even lengths and blocks cut anywhere.
    #[test]
    fn settled_chunks_give_the_computed_output() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let req: Vec<f64> = (0..40_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // A dip now and then (a few in a thousand), of any value (all 53 bits).
                if state % 300 < 2 {
                    0.5 + 0.5 * (state >> 11) as f64 / (1u64 << 53) as f64
                } else {
                    1.0
                }
            })
            .collect();
        for (ramp, spread) in [(12, 8), (13, 2), (2, 0), (72, 2)] {
            let mut fast = LookaheadEnvelope::new(ramp, spread);
            let mut reference = LookaheadEnvelope::new(ramp, spread);
            fast.set_release(Release::INSTANT);
            reference.set_release(Release::INSTANT);
            let (mut a, mut b) = (req.clone(), req.clone());
            let (mut start, mut shortcuts) = (0, 0);
            for size in [1usize, 7, 64, 100, 513, 2000].iter().cycle() {
                let end = (start + size).min(req.len());
                fast.process_block(&mut a[start..end]);
                reference.process_block_unfused(&mut b[start..end]);
                shortcuts += fast.settled_output.is_some() as usize;
                start = end;
                if start == req.len() {
                    break;
                }
            }
            for (n, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(x.to_bits(), y.to_bits(), "ramp {ramp} spread {spread} n {n}");
            }
            assert!(shortcuts > 10, "ramp {ramp}: the shortcut was taken after only {shortcuts} blocks");
            // Settled, then a while with a follower (no shortcut there) and lower requirements,
            // then without one again: the count starts afresh, so no stale steady value comes
            // back. (Within rounding: with a follower, whole chunks may take the segment path,
            // whose sums are taken in another order.)
            let with_follower = Release { fast: 0.01, ..Release::INSTANT };
            for (release, value) in [(Release::INSTANT, 1.0), (with_follower, 0.7), (Release::INSTANT, 1.0)] {
                fast.set_release(release);
                reference.set_release(release);
                for _ in 0..20 {
                    let (mut a, mut b) = (vec![value; 100], vec![value; 100]);
                    fast.process_block(&mut a);
                    reference.process_block_unfused(&mut b);
                    for (x, y) in a.iter().zip(&b) {
                        assert!((x - y).abs() < 1e-12, "ramp {ramp} after a release change: {x} vs {y}");
                    }
                }
            }
        }
    }

    /// The follower's weights and minima give the conditional one-poles within rounding,
    /// and its fast follower never above them by more than a rounding.
    #[test]
    fn follower_equals_the_conditional_one() {
        let held: Vec<f64> =
            (0..20000u64).map(|n| 0.2 + 0.8 * (((n * 2654435761) % 1013) as f64 / 1013.0).powi(4)).collect();
        for (auto, slow_attack) in [(false, 0.001), (true, 0.001), (true, 0.0002)] {
            let rel = Release { fast: 0.01, auto, slow_attack, slow_release: 0.0005 };
            let follower = Follower::new(rel);
            let (mut fast, mut slow) = (1.0, 1.0);
            let (mut f_ref, mut s_ref) = (1.0f64, 1.0f64);
            for &h in &held {
                let g = match (auto, slow_attack >= rel.slow_release) {
                    (false, _) => follower.step::<FAST_ONLY, false>(h, &mut fast, &mut slow),
                    (true, true) => follower.step::<AUTO, false>(h, &mut fast, &mut slow),
                    (true, false) => follower.step::<AUTO_SLOWER_ATTACK, false>(h, &mut fast, &mut slow),
                };
                f_ref = if h <= f_ref { h } else { f_ref + (h - f_ref) * rel.fast };
                let coef = if h < s_ref { rel.slow_attack } else { rel.slow_release };
                s_ref += (h - s_ref) * coef;
                let g_ref = if auto { f_ref.min(s_ref) } else { f_ref };
                assert!((g - g_ref).abs() < 1e-12, "auto {auto}: {g} vs {g_ref}");
                assert!(fast <= f_ref + 1e-15, "{fast} above {f_ref}");
            }
        }
    }

    #[test]
    fn sliding_min_is_the_minimum_of_its_window() {
        for len in [1, 2, 5, 8, 9, 16, 28, 63, 64, 65, 76, 100] {
            let mut hold = SlidingMin::new(100);
            hold.set_len(len);
            let x: Vec<f64> = (0..1000u64).map(|n| ((n * 2654435761) % 1009) as f64).collect();
            // Chunks of varied lengths.
            let mut out = x.clone();
            let mut start = 0;
            for size in [1, 7, 64, 3, 50].iter().cycle() {
                let end = (start + size).min(x.len());
                hold.process_chunk(&mut out[start..end]);
                start = end;
                if start == x.len() {
                    break;
                }
            }
            // Eight at a time where the CPU can.
            #[cfg(target_arch = "x86_64")]
            let vector = std::arch::is_x86_feature_detected!("avx512f").then(|| {
                let mut hold = SlidingMin::new(100);
                hold.set_len(len);
                let mut out = x.clone();
                let mut start = 0;
                for size in [1, 70, 64, 3, 50, 128, 9].iter().cycle() {
                    let end = (start + size).min(x.len());
                    // SAFETY: the CPU has AVX-512F (checked above).
                    unsafe { hold.process_chunk_avx512(&mut out[start..end]) };
                    start = end;
                    if start == x.len() {
                        break;
                    }
                }
                out
            });
            #[cfg(not(target_arch = "x86_64"))]
            let vector: Option<Vec<f64>> = None;
            for (n, &held) in out.iter().enumerate() {
                let expected = x[(n + 1).saturating_sub(len)..=n].iter().fold(f64::INFINITY, |a, &b| a.min(b));
                assert_eq!(held, expected, "len {len}, sample {n}");
                if let Some(vector) = &vector {
                    assert_eq!(vector[n], expected, "eight at a time: len {len}, sample {n}");
                }
            }
        }
    }
}
