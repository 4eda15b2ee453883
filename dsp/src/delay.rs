//! A stereo delay line used for latency compensation.

/// Samples moved per copy step of [`DelayLine::process`] (a stack buffer's worth).
const COPY_STEP: usize = 64;

/// Copy `out.len()` samples out of `ring` from `start` on, wrapping at its end.
fn ring_read(ring: &[f64], start: usize, out: &mut [f64]) {
    let first = out.len().min(ring.len() - start);
    out[..first].copy_from_slice(&ring[start..start + first]);
    let rest = out.len() - first;
    out[first..].copy_from_slice(&ring[..rest]);
}

/// Copy `input` into `ring` from `start` on, wrapping at its end.
fn ring_write(ring: &mut [f64], start: usize, input: &[f64]) {
    let first = input.len().min(ring.len() - start);
    ring[start..start + first].copy_from_slice(&input[..first]);
    let rest = input.len() - first;
    ring[..rest].copy_from_slice(&input[first..]);
}

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
        let n = left.len().min(right.len());
        if self.delay < COPY_STEP {
            self.process_per_sample(&mut left[..n], &mut right[..n]);
            return;
        }
        // Steps of at most `COPY_STEP <= delay` samples: everything a step reads from the ring
        // was written before the step, so each step is three copies per channel (input aside,
        // delayed output out of the ring, input into the ring) instead of a ring step per
        // sample.
        let len = self.buf[0].len();
        let mut start = 0;
        while start < n {
            let step = (n - start).min(COPY_STEP);
            let read = (self.pos + len - self.delay) % len;
            for (x, ring) in
                [&mut left[start..start + step], &mut right[start..start + step]].into_iter().zip(&mut self.buf)
            {
                let mut input = [0.0; COPY_STEP];
                input[..step].copy_from_slice(x);
                ring_read(ring, read, x);
                ring_write(ring, self.pos, &input[..step]);
            }
            self.pos = (self.pos + step) % len;
            start += step;
        }
    }

    /// [`DelayLine::process`] one sample at a time, for delays shorter than a copy step.
    fn process_per_sample(&mut self, left: &mut [f64], right: &mut [f64]) {
        let len = self.buf[0].len();
        let [bl, br] = &mut self.buf;
        let mut pos = self.pos;
        // The read index trails the write index by `delay`; both wrap with a compare instead
        // of a per-sample `%` (a division).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every delay (shorter and longer than a copy step, up to the capacity) and every block
    /// pattern gives the input shifted by the delay, exactly.
    #[test]
    fn output_is_the_input_delayed_for_every_delay_and_block_pattern() {
        let x: Vec<f64> = (0..5000).map(|i| (i as f64 * 0.37).sin() + i as f64 * 1e-3).collect();
        for capacity in [1, 63, 64, 300] {
            for delay in [1, 2, 63, 64, 65, 130, 299, 300] {
                if delay > capacity {
                    continue;
                }
                for blocks in [1usize, 7, 64, 65, 512, 5000] {
                    let mut line = DelayLine::default();
                    line.prepare(capacity);
                    line.set_delay(delay);
                    let (mut l, mut r) = (x.clone(), x.iter().map(|v| -v).collect::<Vec<_>>());
                    for (cl, cr) in l.chunks_mut(blocks).zip(r.chunks_mut(blocks)) {
                        line.process(cl, cr);
                    }
                    for i in 0..x.len() {
                        let expected = if i >= delay { x[i - delay] } else { 0.0 };
                        assert_eq!(l[i], expected, "capacity {capacity} delay {delay} blocks {blocks} at {i}");
                        assert_eq!(r[i], -expected, "right, capacity {capacity} delay {delay} blocks {blocks} at {i}");
                    }
                }
            }
        }
    }
}
