//! Fast `log2` / `exp2` for the compressors' control path.
//!
//! Every band converts its detector level to dB and its gain back to linear once per control
//! tick and channel; with the standard library's transcendental functions that alone would
//! cost more than the crossover filters. These approximations are accurate to better than
//! 1e-6 dB over the range the compressors use, far below the 0.2 dB the static curve is held
//! to.

/// Smallest argument [`fast_log2`] distinguishes; anything below reads as this (-400 dBFS).
const LOG_FLOOR: f64 = 1.0e-20;

/// Largest magnitude of an [`fast_exp2`] argument (2^±1000 stays a normal `f64`).
const EXP2_LIMIT: f64 = 1000.0;

/// `log2(x)` for `x > 0`; values below `LOG_FLOOR`, NaN included, read as `LOG_FLOOR`, and
/// infinity as `f64::MAX`.
///
/// Splits off the binary exponent, centres the mantissa `m` on `[1/sqrt2, sqrt2)` and uses
/// the series of `ln m = 2 atanh t`, `t = (m-1)/(m+1)`, `|t| < 0.172`, up to `t^9`.
///
/// The scalar definition; the control path uses [`fast_log2_lanes`], equal to it bit for bit.
#[cfg_attr(not(test), allow(dead_code))]
#[inline(always)]
pub fn fast_log2(x: f64) -> f64 {
    let x = if x >= LOG_FLOOR { x.min(f64::MAX) } else { LOG_FLOOR };
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0)))));
    exponent as f64 + series * (2.0 / std::f64::consts::LN_2)
}

/// `2^y`, with `y` clamped to `±EXP2_LIMIT` (NaN reads as `-EXP2_LIMIT`).
///
/// Rounds `y` to the nearest integer `i` (set straight into the exponent bits) and evaluates
/// `2^f`, `|f| <= 0.5`, by its Taylor series in `f ln 2` up to the 7th power.
#[inline(always)]
pub fn fast_exp2(y: f64) -> f64 {
    let y = if y >= -EXP2_LIMIT { y.min(EXP2_LIMIT) } else { -EXP2_LIMIT };
    // Round to an integer by the 1.5 * 2^52 trick (`round` is a library call on baseline
    // x86-64, which has no rounding instruction); ties may go either way, both keep |f| <= 0.5.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let i = (y + ROUND) - ROUND;
    let z = (y - i) * std::f64::consts::LN_2;
    let p = 1.0
        + z * (1.0
            + z * (1.0 / 2.0
                + z * (1.0 / 6.0 + z * (1.0 / 24.0 + z * (1.0 / 120.0 + z * (1.0 / 720.0 + z * (1.0 / 5040.0)))))));
    p * f64::from_bits(((i as i64 + 1023) as u64) << 52)
}

/// `2^52`: added to a small non-negative integer-valued `f64`, it puts the integer in the low
/// mantissa bits (and the reverse), so integer <-> float conversions stay bit operations that
/// vectorise.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// [`fast_log2`] of `N` values at once (every band's two lanes in one call), written
/// lane-wise with bit operations only (no integer <-> float conversion instructions), so all
/// lanes share one vector chain and one division. Equal to [`fast_log2`] lane by lane, bit for
/// bit.
#[inline(always)]
pub fn fast_log2_lanes<const N: usize>(x: [f64; N]) -> [f64; N] {
    let mut out = [0.0; N];
    let mut m = [0.0; N];
    let mut e = [0.0; N];
    for c in 0..N {
        let v = if x[c] >= LOG_FLOOR { x[c].min(f64::MAX) } else { LOG_FLOOR };
        let bits = v.to_bits();
        // The biased exponent (at most 0x7ff) as a float: `(2^52 + biased) - 2^52`.
        let biased = f64::from_bits((bits >> 52) | TWO_52.to_bits()) - TWO_52;
        let mant = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        let high = mant > std::f64::consts::SQRT_2;
        m[c] = if high { mant * 0.5 } else { mant };
        e[c] = (biased - 1023.0) + if high { 1.0 } else { 0.0 };
    }
    for c in 0..N {
        let t = (m[c] - 1.0) / (m[c] + 1.0);
        let t2 = t * t;
        let series = t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0)))));
        out[c] = e[c] + series * (2.0 / std::f64::consts::LN_2);
    }
    out
}

/// [`fast_exp2`] of `N` values at once, with bit operations in place of integer <-> float
/// conversions (see [`fast_log2_lanes`]). Equal to [`fast_exp2`] lane by lane, bit for bit.
#[inline(always)]
pub fn fast_exp2_lanes<const N: usize>(y: [f64; N]) -> [f64; N] {
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let mut out = [0.0; N];
    for c in 0..N {
        let y = if y[c] >= -EXP2_LIMIT { y[c].min(EXP2_LIMIT) } else { -EXP2_LIMIT };
        let i = (y + ROUND) - ROUND;
        let z = (y - i) * std::f64::consts::LN_2;
        let p = 1.0
            + z * (1.0
                + z * (1.0 / 2.0
                    + z * (1.0 / 6.0 + z * (1.0 / 24.0 + z * (1.0 / 120.0 + z * (1.0 / 720.0 + z * (1.0 / 5040.0)))))));
        // `i + 1023` is in 23..=2023: as the low mantissa bits of `2^52 + i + 1023`, shifted
        // into the exponent field.
        let scale = f64::from_bits(((i + 1023.0) + TWO_52).to_bits() << 52);
        out[c] = p * scale;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_versions_equal_the_scalar_ones() {
        let mut x: f64 = 1.0e-30;
        while x < 1.0e30 {
            let y = [x, 1.0 / x, x * 0.3, x * 7.1, 2.0 * x, x * x, 1.0, x.sqrt()];
            assert_eq!(fast_log2_lanes(y).map(f64::to_bits), y.map(fast_log2).map(f64::to_bits), "{x}");
            x *= 1.173;
        }
        for x in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE, 1.0, std::f64::consts::SQRT_2] {
            assert_eq!(fast_log2_lanes([x; 8])[5].to_bits(), fast_log2(x).to_bits(), "{x}");
        }
        let mut y = -1100.0;
        while y < 1100.0 {
            let v = [y, -y * 0.37, 0.5 * y, y + 0.25, -y, 0.01 * y, 0.0, y - 0.5];
            assert_eq!(fast_exp2_lanes(v).map(f64::to_bits), v.map(fast_exp2).map(f64::to_bits), "{y}");
            y += 0.0917;
        }
        for y in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5, -0.5, 1.5, -1000.0, 1000.0] {
            assert_eq!(fast_exp2_lanes([y; 8])[3].to_bits(), fast_exp2(y).to_bits(), "{y}");
        }
    }

    #[test]
    fn log2_and_exp2_match_std_to_a_micro_decibel() {
        let mut x = 1.0e-12;
        while x < 1.0e12 {
            let db_err = 20.0 * std::f64::consts::LOG10_2 * (fast_log2(x) - x.log2());
            assert!(db_err.abs() < 1.0e-6, "log2({x}): {db_err} dB");
            x *= 1.37;
        }
        let mut y = -60.0;
        while y < 60.0 {
            let rel = fast_exp2(y) / y.exp2() - 1.0;
            assert!(rel.abs() < 1.0e-7, "exp2({y}): {rel}");
            y += 0.0371;
        }
    }
}
