//! A stereo delay line used for latency compensation.

/// Samples moved per copy step of [`DelayLine::process`]: the ring's room beyond the delay.
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
///
/// The ring holds a copy step more than the longest delay, so a step of input can go into the
/// ring before the step's delayed output is read out of it (writing the step never covers an
/// older value the step still reads; with a delay shorter than the step, the read takes some
/// of the values just written, as it should): two copies per sample, and the output can be
/// scaled on its way out ([`DelayLine::process_scaled`]).
#[derive(Debug, Default, Clone)]
pub struct DelayLine {
    buf: [Vec<f64>; 2],
    /// Write position in the ring.
    pos: usize,
    /// Current delay in samples (`<= max_delay`).
    delay: usize,
    /// The longest delay `prepare` made room for.
    max_delay: usize,
}

impl DelayLine {
    /// Allocate room for delays up to `max_delay` samples.
    pub fn prepare(&mut self, max_delay: usize) {
        let len = max_delay + 1 + COPY_STEP;
        self.buf = [vec![0.0; len], vec![0.0; len]];
        self.pos = 0;
        self.max_delay = max_delay;
        self.delay = self.delay.min(max_delay);
    }

    pub fn capacity(&self) -> usize {
        self.max_delay
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
        self.run(left, right, |ring, read, x, _| ring_read(ring, read, x));
    }

    /// Delay both channels in place and multiply them by `gain_l` and `gain_r` (one gain per
    /// output sample) on the way out of the ring: [`DelayLine::process`] followed by the
    /// products, in one pass.
    #[inline(always)]
    pub fn process_scaled(&mut self, left: &mut [f64], right: &mut [f64], gain_l: &[f64], gain_r: &[f64]) {
        let n = left.len().min(right.len());
        assert!(gain_l.len() >= n && gain_r.len() >= n);
        if self.delay == 0 {
            for (x, g) in left[..n].iter_mut().zip(gain_l) {
                *x *= g;
            }
            for (x, g) in right[..n].iter_mut().zip(gain_r) {
                *x *= g;
            }
            return;
        }
        let gains = [gain_l, gain_r];
        self.run(left, right, |ring, read, x, at| {
            let gain = &gains[at.0][at.1..at.1 + x.len()];
            let first = x.len().min(ring.len() - read);
            for ((o, &v), &g) in x[..first].iter_mut().zip(&ring[read..]).zip(gain) {
                *o = v * g;
            }
            for ((o, &v), &g) in x[first..].iter_mut().zip(ring.iter()).zip(&gain[first..]) {
                *o = v * g;
            }
        });
    }

    /// Steps of at most [`COPY_STEP`] samples: each step's input goes into the ring, then
    /// `read_out(ring, read position, step, (channel, offset in the block))` writes the
    /// step's delayed samples over it.
    #[inline(always)]
    fn run(
        &mut self,
        left: &mut [f64],
        right: &mut [f64],
        mut read_out: impl FnMut(&[f64], usize, &mut [f64], (usize, usize)),
    ) {
        let n = left.len().min(right.len());
        let len = self.buf[0].len();
        let mut start = 0;
        while start < n {
            let step = (n - start).min(COPY_STEP);
            // The delay is at most `len - 1 - COPY_STEP`: the `step` values written at `pos`
            // and the `delay` values before them are all different places of the ring.
            let read = (self.pos + len - self.delay) % len;
            for (ch, (x, ring)) in [&mut left[start..start + step], &mut right[start..start + step]]
                .into_iter()
                .zip(&mut self.buf)
                .enumerate()
            {
                ring_write(ring, self.pos, x);
                read_out(ring, read, x, (ch, start));
            }
            self.pos = (self.pos + step) % len;
            start += step;
        }
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
        for capacity in [0, 1, 63, 64, 300] {
            for delay in [0, 1, 2, 63, 64, 65, 130, 299, 300] {
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
                    // The same with gains on the way out.
                    let mut scaled = DelayLine::default();
                    scaled.prepare(capacity);
                    scaled.set_delay(delay);
                    let gain: Vec<f64> = (0..x.len()).map(|i| 1.0 - (i % 13) as f64 / 16.0).collect();
                    let (mut sl, mut sr) = (x.clone(), x.iter().map(|v| -v).collect::<Vec<_>>());
                    for (k, (cl, cr)) in sl.chunks_mut(blocks).zip(sr.chunks_mut(blocks)).enumerate() {
                        let g = &gain[k * blocks..];
                        let g_right: Vec<f64> = g[..cl.len()].iter().map(|v| 2.0 * v).collect();
                        scaled.process_scaled(cl, cr, g, &g_right);
                    }
                    for i in 0..x.len() {
                        let expected = if i >= delay { x[i - delay] } else { 0.0 };
                        assert_eq!(l[i], expected, "capacity {capacity} delay {delay} blocks {blocks} at {i}");
                        assert_eq!(r[i], -expected, "right, capacity {capacity} delay {delay} blocks {blocks} at {i}");
                        assert_eq!(sl[i], expected * gain[i], "scaled, delay {delay} blocks {blocks} at {i}");
                        assert_eq!(
                            sr[i],
                            -expected * 2.0 * gain[i],
                            "scaled right, delay {delay} blocks {blocks} at {i}"
                        );
                    }
                }
            }
        }
    }
}
