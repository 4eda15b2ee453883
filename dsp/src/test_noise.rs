//! Seeded noise for unit tests (xorshift64): the same samples on every run and machine.

/// An xorshift64 generator.
pub struct TestNoise(u64);

impl TestNoise {
    /// `seed` must not be zero.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_bits(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next sample, uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_bits() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
