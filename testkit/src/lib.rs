//! Test material and reference measurements shared by the DSP tests (`lacquer-dsp`) and the
//! host tests that load the built plugin (`lacquer-host-tests`).
//!
//! Nothing here uses the code under test: the true-peak meter is an independent, slow, plain
//! 16x windowed-sinc interpolator, so a bug in the limiter's own detector cannot hide itself.

pub mod signals;
pub mod true_peak;

/// Linear amplitude to dB.
pub fn db(x: f64) -> f64 {
    20.0 * x.log10()
}
