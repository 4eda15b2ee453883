//! A stereo delay line used for latency compensation.

/// A fixed-capacity stereo delay whose length can change at run time without allocating.
#[derive(Debug, Default, Clone)]
pub struct DelayLine {
    buf: [Vec<f64>; 2],
    /// Write position in the ring.
    pos: usize,
    /// Current delay in samples (`<= capacity`).
    delay: usize,
}

impl DelayLine {
    /// Allocate room for delays up to `max_delay` samples.
    pub fn prepare(&mut self, max_delay: usize) {
        let cap = max_delay + 1;
        self.buf = [vec![0.0; cap], vec![0.0; cap]];
        self.pos = 0;
        self.delay = self.delay.min(max_delay);
    }

    pub fn capacity(&self) -> usize {
        self.buf[0].len().saturating_sub(1)
    }

    /// Set the delay (clamped to the capacity) and clear the contents.
    pub fn set_delay(&mut self, delay: usize) {
        let delay = delay.min(self.capacity());
        if delay != self.delay {
            self.delay = delay;
            self.reset();
        }
    }

    pub fn delay(&self) -> usize {
        self.delay
    }

    pub fn reset(&mut self) {
        for b in &mut self.buf {
            b.fill(0.0);
        }
        self.pos = 0;
    }

    /// Delay both channels in place.
    pub fn process(&mut self, left: &mut [f64], right: &mut [f64]) {
        if self.delay == 0 {
            return;
        }
        let len = self.buf[0].len();
        let [bl, br] = &mut self.buf;
        let mut pos = self.pos;
        // The read index trails the write index by `delay`; both wrap with a compare instead
        // of a per-sample `%` (a division: it was 7 % of the limiter's time).
        let mut read = if pos >= self.delay { pos - self.delay } else { pos + len - self.delay };
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            bl[pos] = *l;
            br[pos] = *r;
            *l = bl[read];
            *r = br[read];
            pos += 1;
            if pos == len {
                pos = 0;
            }
            read += 1;
            if read == len {
                read = 0;
            }
        }
        self.pos = pos;
    }

    /// Copy `out_l.len()` past input samples, oldest first, starting `back` samples before
    /// the most recent write (`back <= capacity`). Used to pre-roll a stage that comes out of
    /// bypass with the audio its latency will release next.
    pub fn history_range(&self, back: usize, out_l: &mut [f64], out_r: &mut [f64]) {
        let len = self.buf[0].len();
        let back = back.min(len - 1);
        let n = out_l.len().min(back);
        for i in 0..n {
            let idx = (self.pos + len - back + i) % len;
            out_l[i] = self.buf[0][idx];
            out_r[i] = self.buf[1][idx];
        }
    }
}
