//! Small numeric helpers shared by the stages.

/// Decibels to linear gain.
#[inline]
pub fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Linear gain to decibels; `-inf` for zero.
#[inline]
pub fn gain_to_db(gain: f64) -> f64 {
    20.0 * gain.abs().log10()
}

/// The largest magnitude a sample may have inside the chain. Anything beyond it is not audio
/// but a broken upstream plugin; clamping keeps filters from blowing up on it.
pub const SAMPLE_LIMIT: f64 = 1.0e4;

/// Replace NaN and infinities by silence and clamp absurd magnitudes, so that non-finite
/// input never reaches a filter state or the output.
#[inline]
pub fn sanitize(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
    } else {
        0.0
    }
}

/// Number of samples in `ms` milliseconds at `sample_rate`, rounded, at least one.
#[inline]
pub fn ms_to_samples(ms: f64, sample_rate: f64) -> usize {
    ((ms * 0.001 * sample_rate).round() as usize).max(1)
}
