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
    pub const INSTANT: Release = Release {
        fast: 1.0,
        auto: false,
        slow_attack: 1.0,
        slow_release: 1.0,
    };
}

/// A running mean over a fixed number of samples.
#[derive(Debug, Clone)]
struct RunningMean {
    buf: Vec<f64>,
    /// Samples averaged (`<= buf.len()`).
    len: usize,
    pos: usize,
    sum: f64,
    inv_len: f64,
}

impl RunningMean {
    /// Room for means over up to `capacity` samples; the length is set by `set_len`.
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut m = Self {
            buf: vec![1.0; capacity],
            len: capacity,
            pos: 0,
            sum: 0.0,
            inv_len: 0.0,
        };
        m.set_len(capacity);
        m
    }

    /// Change the length (clamped to the capacity) and reset.
    fn set_len(&mut self, len: usize) {
        self.len = len.clamp(1, self.buf.len());
        self.inv_len = 1.0 / self.len as f64;
        self.reset();
    }

    /// Fill with unity gain.
    fn reset(&mut self) {
        self.buf.fill(1.0);
        self.sum = self.len as f64;
        self.pos = 0;
    }

    #[inline]
    fn push(&mut self, v: f64) -> f64 {
        self.sum += v - self.buf[self.pos];
        self.buf[self.pos] = v;
        self.pos += 1;
        if self.pos == self.len {
            self.pos = 0;
            // Re-add exactly once per cycle so rounding in the running sum cannot accumulate.
            self.sum = self.buf[..self.len].iter().sum();
        }
        self.sum * self.inv_len
    }
}

/// Sliding-window minimum over the last `len` values (monotonic deque in a fixed ring).
#[derive(Debug, Clone)]
struct SlidingMin {
    len: usize,
    values: Vec<f64>,
    times: Vec<u64>,
    head: usize,
    count: usize,
    now: u64,
}

impl SlidingMin {
    /// Room for windows of up to `capacity` samples; the window is set by `set_len`.
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            len: capacity,
            values: vec![0.0; capacity],
            times: vec![0; capacity],
            head: 0,
            count: 0,
            now: 0,
        }
    }

    /// Change the window (clamped to the capacity) and reset.
    fn set_len(&mut self, len: usize) {
        self.len = len.clamp(1, self.values.len());
        self.reset();
    }

    fn reset(&mut self) {
        self.head = 0;
        self.count = 0;
        self.now = 0;
    }

    #[inline]
    fn push(&mut self, v: f64) -> f64 {
        let cap = self.values.len();
        // Ring index `head + offset` without a division (offset < cap).
        let wrap = |i: usize| if i >= cap { i - cap } else { i };
        // Drop every queued value that the new one makes irrelevant (it is no smaller and
        // leaves the window earlier).
        while self.count > 0 {
            let back = wrap(self.head + self.count - 1);
            if self.values[back] >= v {
                self.count -= 1;
            } else {
                break;
            }
        }
        // Drop the front if it has left the window.
        if self.count > 0 && self.times[self.head] + self.len as u64 <= self.now {
            self.head = wrap(self.head + 1);
            self.count -= 1;
        }
        let at = wrap(self.head + self.count);
        self.values[at] = v;
        self.times[at] = self.now;
        self.count += 1;
        self.now += 1;
        self.values[self.head]
    }
}

/// The gain planner described in the module docs.
#[derive(Debug, Clone)]
pub struct LookaheadEnvelope {
    hold: SlidingMin,
    spread: usize,
    release: Release,
    fast: f64,
    slow: f64,
    first: RunningMean,
    second: RunningMean,
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
        self.release = release;
    }

    pub fn reset(&mut self) {
        self.hold.reset();
        self.fast = 1.0;
        self.slow = 1.0;
        self.first.reset();
        self.second.reset();
    }

    /// Take the gain required for the newest sample (0 < r <= 1), return the gain to apply
    /// to the audio delayed by [`LookaheadEnvelope::delay`].
    #[inline]
    pub fn process(&mut self, required: f64) -> f64 {
        let held = self.hold.push(required);
        let rel = self.release;
        if held <= self.fast {
            self.fast = held;
        } else {
            self.fast += (held - self.fast) * rel.fast;
        }
        let gain = if rel.auto {
            let coef = if held < self.slow {
                rel.slow_attack
            } else {
                rel.slow_release
            };
            self.slow += (held - self.slow) * coef;
            self.fast.min(self.slow)
        } else {
            self.fast
        };
        let ramped = self.first.push(gain);
        self.second.push(ramped)
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
        env.set_release(Release {
            fast: 0.01,
            auto: true,
            slow_attack: 0.001,
            slow_release: 0.0005,
        });
        // A pseudo-random requirement sequence with isolated dips.
        let req: Vec<f64> = (0..5000u64)
            .map(|n| {
                if (n * 2654435761) % 97 < 5 {
                    0.2 + ((n * 40503) % 80) as f64 / 100.0
                } else {
                    1.0
                }
            })
            .collect();
        let gains: Vec<f64> = req.iter().map(|&r| env.process(r)).collect();
        for (m, &r) in req.iter().enumerate() {
            for k in m.saturating_sub(spread)..=(m + spread) {
                if let Some(&g) = gains.get(k + delay) {
                    assert!(
                        g <= r + 1e-12,
                        "sample {k}: gain {g} above requirement {r} of {m}"
                    );
                }
            }
        }
    }
}
