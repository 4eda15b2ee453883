//! A second-order IIR section in transposed direct form II, in `f64`.
//!
//! `f64` state because mastering EQ lives at low frequencies and small gains, where `f32`
//! coefficient and state rounding is audible as noise and response error.

/// Normalised biquad coefficients (`a0 == 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl Coefs {
    /// The identity filter.
    pub const IDENTITY: Coefs = Coefs { b0: 1.0, b1: 0.0, b2: 0.0, a1: 0.0, a2: 0.0 };

    /// Build from un-normalised `b`, `a` (divides by `a0`).
    pub fn from_ba(b: [f64; 3], a: [f64; 3]) -> Self {
        let inv = 1.0 / a[0];
        Self { b0: b[0] * inv, b1: b[1] * inv, b2: b[2] * inv, a1: a[1] * inv, a2: a[2] * inv }
    }
}

impl Default for Coefs {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// Filter state of one channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Biquad {
    pub coefs: Coefs,
    s1: f64,
    s2: f64,
}

impl Biquad {
    pub fn new(coefs: Coefs) -> Self {
        Self { coefs, s1: 0.0, s2: 0.0 }
    }

    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
    }

    #[inline(always)]
    pub fn tick(&mut self, x: f64) -> f64 {
        let c = &self.coefs;
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }

    pub fn process(&mut self, buf: &mut [f64]) {
        for x in buf {
            *x = self.tick(*x);
        }
    }
}
