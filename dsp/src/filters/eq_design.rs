//! Magnitude-matched second-order EQ sections: the analogue prototypes of every EQ band and
//! their digital designs, exact at DC, at the band's own frequency and at one more point.
//!
//! Why not the bilinear transform (the RBJ cookbook): it squeezes the whole analogue frequency
//! axis into `0..fs/2`, so a 15 kHz bell at 44.1 kHz comes out several dB too narrow and a high
//! shelf never reaches its gain ("cramping"). Oversampling only moves the problem up by the
//! oversampling factor and costs latency or CPU.
//!
//! Instead every section is designed after M. Vicanek, "Matched Second Order Digital Filters"
//! (2016), in its general form:
//! - the poles are the analogue poles mapped exactly by `z = exp(s T)` (impulse invariance of
//!   the denominator), so the resonance sits where the prototype's does at any frequency;
//! - the numerator's squared magnitude is a three-term cosine series, and its three terms are
//!   solved in closed form so that the digital magnitude equals the analogue magnitude at DC,
//!   at the band frequency and at one more frequency near the top of the band (see
//!   [`MatchRule`]); it is then factored into a minimum-phase numerator.
//! - cuts are designed as the boost of the same size and inverted (exact for the prototypes),
//!   so the lightly damped zeros of a deep cut are placed as exactly as the poles of a boost;
//!   the high shelf is the scaled reciprocal of the low shelf for the same reason.
//!
//! It costs a handful of `exp`/`cos`/`sqrt` per design (cheap enough to redesign every few
//! samples while a parameter glides) and keeps the section a plain biquad, with no latency and
//! no oversampling. Its limit: a second-order section has only three numerator terms once the
//! poles are fixed, so very wide (Q < 1), strong (> 12 dB) bells and shelves placed above about
//! a quarter of the sample rate deviate by a few tenths of a dB between the match points (still
//! far closer than the bilinear transform, which is off by several dB there).
//!
//! High- and low-pass filters are cascades, and those are designed as a whole
//! ([`pass_cascade`]) rather than section by section, which leaves far more freedom:
//! - low-pass: every section keeps its matched poles, and the numerator of the *whole* cascade
//!   is one polynomial in `φ = sin²(ω/2)` of degree `2 × sections`, interpolating the target at
//!   Chebyshev points from DC to 0.9 × Nyquist; its roots (module `spectral`) are split back
//!   into minimum-phase section numerators. A 12 dB/oct low-pass gets one more, zeros-only
//!   section (three numerator terms are too few near Nyquist);
//! - high-pass: matched sections with the prototype's double zeros at DC (so the stop band
//!   falls exactly like the prototype's), and above a corner of fs/32 two zeros-only sections
//!   fitted the same way to what the matched sections miss (faded in smoothly up to fs/16).
//!
//! Measured over every slope, both shapes, corners from 10 Hz to 0.475 × fs and sample rates
//! from 44.1 to 192 kHz: within 0.072 dB of the prototype down to its -3 dB point and up to
//! 0.9 × Nyquist; in the stop band down to -30 dB within 0.075 dB for low-passes, within
//! 0.17 dB for high-passes with corners up to 0.4 × fs and 0.5 dB above. A design costs a few
//! microseconds (root finding of a polynomial of degree 8 at most, no allocation).
//!
//! Every prototype is written as `H(s) = (n2 s² + n1 s + n0) / (s² + d1 s + d0)` with `s`
//! normalised to the band frequency, so one matching routine serves all band types.

use crate::filters::biquad::Coefs;
use std::f64::consts::PI;

mod spectral;

/// A second-order analogue prototype `(n2 s² + n1 s + n0) / (s² + d1 s + d0)`, `s` normalised
/// to `2π f0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analog {
    pub n2: f64,
    pub n1: f64,
    pub n0: f64,
    pub d1: f64,
    pub d0: f64,
}

impl Analog {
    /// Peaking bell (the RBJ / analogue-console definition): `gain_db` at `f0`, unity far away,
    /// `q` the bandwidth at the half-gain (in dB) points for moderate gains.
    pub fn bell(gain_db: f64, q: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        Self { n2: 1.0, n1: a / q, n0: 1.0, d1: 1.0 / (a * q), d0: 1.0 }
    }

    /// Low shelf: `gain_db` at DC, unity at high frequencies, half the gain (in dB) at `f0`.
    /// `q = 1/√2` is the steepest shape without overshoot; lower values are gentler.
    pub fn low_shelf(gain_db: f64, q: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let sa = a.sqrt();
        // A (s² + √A/Q s + A) / (A s² + √A/Q s + 1), divided through by A.
        Self { n2: 1.0, n1: sa / q, n0: a, d1: 1.0 / (sa * q), d0: 1.0 / a }
    }

    /// High shelf: unity at DC, `gain_db` at high frequencies, half the gain (in dB) at `f0`.
    pub fn high_shelf(gain_db: f64, q: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let sa = a.sqrt();
        // A (A s² + √A/Q s + 1) / (s² + √A/Q s + A).
        Self { n2: a * a, n1: a * sa / q, n0: a, d1: sa / q, d0: a }
    }

    /// Band-reject notch: zero at `f0`, `q` its -3 dB bandwidth ratio.
    pub fn notch(q: f64) -> Self {
        Self { n2: 1.0, n1: 0.0, n0: 1.0, d1: 1.0 / q, d0: 1.0 }
    }

    /// Constant-peak band-pass (unity at `f0`), used by the dynamic-band detector.
    pub fn band_pass(q: f64) -> Self {
        Self { n2: 0.0, n1: 1.0 / q, n0: 0.0, d1: 1.0 / q, d0: 1.0 }
    }

    /// Second-order low-pass section.
    pub fn low_pass(q: f64) -> Self {
        Self { n2: 0.0, n1: 0.0, n0: 1.0, d1: 1.0 / q, d0: 1.0 }
    }

    /// Second-order high-pass section.
    pub fn high_pass(q: f64) -> Self {
        Self { n2: 1.0, n1: 0.0, n0: 0.0, d1: 1.0 / q, d0: 1.0 }
    }

    /// `|H(jΩ)|²` at normalised angular frequency `omega` (`1` = the band frequency).
    pub fn magnitude_sq(&self, omega: f64) -> f64 {
        let w2 = omega * omega;
        let nr = self.n0 - self.n2 * w2;
        let ni = self.n1 * omega;
        let dr = self.d0 - w2;
        let di = self.d1 * omega;
        (nr * nr + ni * ni) / (dr * dr + di * di)
    }
}

/// Which three conditions fix the numerator's squared magnitude `N(φ) = c0 + c1 φ + c2 φ²`
/// (`φ = sin²(ω/2)`). Each prototype family uses the set that tracks it best; all of them are
/// exact at DC and at the band frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatchRule {
    /// Value at DC, at the band frequency and at a "top" frequency given as a fraction of
    /// Nyquist (a point below the band frequency when it is too close to the top). Matching near the
    /// top of the audible range rather than at Nyquist spreads the residual error evenly over
    /// the band the ear hears (Nyquist itself is never audible, so matching exactly there
    /// wastes the condition).
    ValueAndTop(f64),
    /// Value at DC, at the band frequency and at the given fraction of it.
    ValueAndBelow(f64),
    /// A double zero at DC (exactly like the prototype) and the value at the band frequency:
    /// for high-passes.
    DoubleZeroAtDc,
}

/// Where the band-frequency match point may sit at most, as a fraction of Nyquist: above it
/// the conditions become nearly dependent and the solve ill-conditioned.
const MAX_MATCH_FRACTION: f64 = 0.9;

/// How far above the band frequency the top match point must be (ratio) to be used.
const TOP_CLEARANCE: f64 = 1.05;

/// When the band frequency is itself near the top, the third point moves below it, to this
/// fraction of the band frequency, where the audible part of the response is.
const BELOW: f64 = 0.5;

/// Poles of `proto` at band frequency `w0` (rad/sample), mapped by `z = exp(s T)`: `(a1, a2)`.
fn matched_poles(proto: &Analog, w0: f64) -> (f64, f64) {
    let wp = proto.d0.sqrt() * w0;
    let zeta = proto.d1 / (2.0 * proto.d0.sqrt());
    let r = (-zeta * wp).exp();
    let a1 = if zeta <= 1.0 {
        -2.0 * r * ((1.0 - zeta * zeta).sqrt() * wp).cos()
    } else {
        -2.0 * r * ((zeta * zeta - 1.0).sqrt() * wp).cosh()
    };
    (a1, r * r)
}

/// `sin²(ω/2)`.
#[inline]
fn phi(w: f64) -> f64 {
    let s = (0.5 * w).sin();
    s * s
}

/// Design the digital section for `proto` at band frequency `f0` (below Nyquist) and sample
/// rate `fs`, matching by `rule`. Returns the section and, for the caller's inversion, nothing
/// else: the numerator is minimum phase, so `1 / section` is stable as well.
pub fn matched(proto: &Analog, f0: f64, fs: f64, rule: MatchRule) -> Coefs {
    let w0 = 2.0 * PI * f0 / fs;
    let (a1, a2) = matched_poles(proto, w0);
    // |A(e^jω)|² as a quadratic in φ: (1+a1+a2)² - (4 a1 (1+a2) + 16 a2) φ + 16 a2 φ².
    let target = |w: f64| proto.magnitude_sq(w / w0) * den_sq(a1, a2, phi(w));
    let wm = w0.min(MAX_MATCH_FRACTION * PI);
    let pm = phi(wm);
    let tm = target(wm);

    let (c0, c1, c2) = match rule {
        MatchRule::ValueAndTop(top) => {
            let c0 = target(0.0);
            // Exact at DC, at the band frequency and at `wt`.
            let through = |wt: f64| {
                let pt = phi(wt);
                let tt = target(wt);
                // c1 pt + c2 pt² = tt - c0 ; c1 pm + c2 pm² = tm - c0
                let c2 = ((tm - c0) / pm - (tt - c0) / pt) / (pm - pt);
                (c0, (tt - c0) / pt - c2 * pt, c2)
            };
            // The top point must sit clearly above the band frequency to be independent of it,
            // and the fit through it must stay positive up to Nyquist (or it cannot be
            // factored); otherwise a point below the band frequency is matched instead.
            let fit = if top * PI > TOP_CLEARANCE * wm { through(top * PI) } else { through(BELOW * wm) };
            if fit.0 + fit.1 + fit.2 < 0.0 {
                through(BELOW * wm)
            } else {
                fit
            }
        }
        MatchRule::ValueAndBelow(frac) => {
            let c0 = target(0.0);
            let wt = frac * wm;
            let pt = phi(wt);
            let tt = target(wt);
            let c2 = ((tm - c0) / pm - (tt - c0) / pt) / (pm - pt);
            (c0, (tt - c0) / pt - c2 * pt, c2)
        }
        MatchRule::DoubleZeroAtDc => (0.0, 0.0, tm / (pm * pm)),
    };
    factor(c0, c1, c2, a1, a2)
}

/// Factor `N(φ) = c0 + c1 φ + c2 φ²` into `b0 + b1 z⁻¹ + b2 z⁻²` (Vicanek's basis:
/// `B0 = (b0+b1+b2)² = N(0)`, `B1 = (b0-b1+b2)² = N(1)`, `B2 = -4 b0 b2`).
fn factor(c0: f64, c1: f64, c2: f64, a1: f64, a2: f64) -> Coefs {
    let big_b0 = c0.max(0.0);
    let big_b2 = -0.25 * c2;
    let big_b1 = (c0 + c1 + c2).max(0.0);
    let s0 = big_b0.sqrt();
    let s1 = big_b1.sqrt();
    let w = 0.5 * (s0 + s1);
    // Rounding can push an exact double root (a high-pass, a notch) a hair below zero.
    let b0 = 0.5 * (w + (w * w + big_b2).max(0.0).sqrt());
    let b1 = 0.5 * (s0 - s1);
    let b2 = if b0 > 0.0 { -big_b2 / (4.0 * b0) } else { 0.0 };
    Coefs { b0, b1, b2, a1, a2 }
}

/// The reciprocal section `1 / H` (swap numerator and denominator). Exact for a cut bell or
/// shelf, which is the reciprocal of the boost of the same size: designing the boost (its
/// resonant poles matched exactly) and inverting keeps cuts as accurate as boosts.
pub fn reciprocal(c: &Coefs) -> Coefs {
    Coefs::from_ba([1.0, c.a1, c.a2], [c.b0, c.b1, c.b2])
}

/// The section scaled by `gain` (linear).
pub fn scaled(c: &Coefs, gain: f64) -> Coefs {
    Coefs { b0: c.b0 * gain, b1: c.b1 * gain, b2: c.b2 * gain, ..*c }
}

/// Notch at `f0` with quality `q`: the zeros sit exactly on the unit circle at `f0` (a true
/// null), the poles are matched, and the gain is set so DC is exactly unity.
pub fn notch(f0: f64, q: f64, fs: f64) -> Coefs {
    let w0 = 2.0 * PI * f0 / fs;
    let (a1, a2) = matched_poles(&Analog::notch(q), w0);
    let c = -2.0 * w0.cos();
    let g = (1.0 + a1 + a2) / (2.0 + c);
    Coefs { b0: g, b1: g * c, b2: g, a1, a2 }
}

/// Match rule of bells, shelves and the detector's band-pass: exact at DC, at the band
/// frequency and at 0.8 × Nyquist. Of the rules tried (Nyquist, slope at the band frequency,
/// 0.7 to 0.9 × Nyquist) it keeps wide high bells and shelves closest to the prototype up to
/// 0.9 × Nyquist.
const BELL_RULE: MatchRule = MatchRule::ValueAndTop(0.8);

/// Match rule of low-pass sections: exact at DC, at the corner and at 0.9 × Nyquist.
const PASS_RULE: MatchRule = MatchRule::ValueAndTop(0.9);

/// Above this fraction of Nyquist a low-pass corner is matched below instead (see [`PASS_BELOW`]): so close to Nyquist the section's pass band is what must be right.
const PASS_HIGH_CORNER: f64 = 0.5;
/// Where (fraction of the corner) such a high low-pass is matched below its corner.
const PASS_BELOW: f64 = 0.65;

/// Bell: the boost of `|gain_db|`, inverted for cuts.
pub fn bell(f0: f64, gain_db: f64, q: f64, fs: f64) -> Coefs {
    let boost = matched(&Analog::bell(gain_db.abs(), q), f0, fs, BELL_RULE);
    if gain_db < 0.0 {
        reciprocal(&boost)
    } else {
        boost
    }
}

/// Low shelf: the boost, inverted for cuts.
pub fn low_shelf(f0: f64, gain_db: f64, q: f64, fs: f64) -> Coefs {
    let boost = matched(&Analog::low_shelf(gain_db.abs(), q), f0, fs, BELL_RULE);
    if gain_db < 0.0 {
        reciprocal(&boost)
    } else {
        boost
    }
}

/// High shelf, built from the low shelf: `HS(g) = G · LS(-g) = G / LS(g)` holds exactly for
/// the prototypes, and the low shelf is the shape the matched design follows best (its gain
/// change sits below the band frequency, where the digital and analogue axes agree).
pub fn high_shelf(f0: f64, gain_db: f64, q: f64, fs: f64) -> Coefs {
    let boost_ls = matched(&Analog::low_shelf(gain_db.abs(), q), f0, fs, BELL_RULE);
    let g = 10f64.powf(gain_db / 20.0);
    if gain_db >= 0.0 {
        scaled(&reciprocal(&boost_ls), g)
    } else {
        scaled(&boost_ls, g)
    }
}

/// Second-order low-pass section matched on its own (the fallback of [`pass_cascade`]).
fn low_pass(f0: f64, q: f64, fs: f64) -> Coefs {
    let rule = if f0 < PASS_HIGH_CORNER * 0.5 * fs { PASS_RULE } else { MatchRule::ValueAndBelow(PASS_BELOW) };
    matched(&Analog::low_pass(q), f0, fs, rule)
}

/// Second-order high-pass section: the prototype's double zero at DC, matched poles, exact at
/// the corner.
fn high_pass(f0: f64, q: f64, fs: f64) -> Coefs {
    matched(&Analog::high_pass(q), f0, fs, MatchRule::DoubleZeroAtDc)
}

/// Constant-peak band-pass (the dynamic-band detector).
pub fn band_pass(f0: f64, q: f64, fs: f64) -> Coefs {
    matched(&Analog::band_pass(q), f0, fs, BELL_RULE)
}

/// Shape of a high-/low-pass cascade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassFamily {
    /// Maximally flat, -3 dB at the corner.
    Butterworth,
    /// A squared Butterworth: -6 dB at the corner, sums flat with its complement.
    LinkwitzRiley,
}

/// Most second-order sections of a pass filter's prototype (48 dB/oct = 8th order).
pub const MAX_PROTO_SECTIONS: usize = 4;
/// Most sections a pass filter uses: the prototype's and up to two zeros-only sections.
pub const MAX_PASS_SECTIONS: usize = MAX_PROTO_SECTIONS + 2;

/// The section `Q`s of a pass filter of `order` (2, 4, 6 or 8) and `family`, all at the corner
/// frequency; returns the array and how many are used. `Q = 0.5` is a pair of coincident real
/// poles (the squared first-order section of odd-order Linkwitz-Riley halves).
pub fn pass_section_qs(order: usize, family: PassFamily) -> ([f64; MAX_PROTO_SECTIONS], usize) {
    let mut qs = [0.5; MAX_PROTO_SECTIONS];
    let sections = (order / 2).clamp(1, MAX_PROTO_SECTIONS);
    match family {
        PassFamily::Butterworth => {
            let n = 2 * sections;
            for (k, q) in qs.iter_mut().enumerate().take(sections) {
                *q = butterworth_q(n, k);
            }
        }
        PassFamily::LinkwitzRiley => {
            // Two identical Butterworth filters of half the order.
            let half = sections; // order of each Butterworth half
            let pairs = half / 2;
            for k in 0..pairs {
                let q = butterworth_q(half, k);
                qs[2 * k] = q;
                qs[2 * k + 1] = q;
            }
            if half % 2 == 1 {
                // Each odd half has a real pole at the corner: squared, a Q = 0.5 section.
                qs[2 * pairs] = 0.5;
            }
        }
    }
    (qs, sections)
}

/// `Q` of the `k`-th complex pole pair of a Butterworth filter of order `n`. The poles sit on
/// the unit circle at angles `θ` from the negative real axis, `Q = 1 / (2 cos θ)`: even orders
/// at `(2k+1)π/(2n)`, odd orders (which also have a real pole at `θ = 0`) at `(k+1)π/n`.
fn butterworth_q(n: usize, k: usize) -> f64 {
    let theta =
        if n.is_multiple_of(2) { (2 * k + 1) as f64 * PI / (2 * n) as f64 } else { (k + 1) as f64 * PI / n as f64 };
    1.0 / (2.0 * theta.cos())
}

/// Interpolate `(x[j], y[j])` by the polynomial of degree `x.len() - 1`, ascending
/// coefficients into `p` (Newton's divided differences, then expanded).
fn interpolate(x: &[f64], y: &[f64], p: &mut [f64]) {
    let n = x.len();
    let mut c = [0.0; spectral::MAX_DEGREE + 1];
    c[..n].copy_from_slice(y);
    for k in 1..n {
        for j in (k..n).rev() {
            c[j] = (c[j] - c[j - 1]) / (x[j] - x[j - k]);
        }
    }
    // Expand the Newton form from the innermost term: p = p (φ - x[k]) + c[k].
    p[..n].iter_mut().for_each(|v| *v = 0.0);
    p[0] = c[n - 1];
    for k in (0..n - 1).rev() {
        for j in (1..n - k).rev() {
            p[j] = p[j - 1] - x[k] * p[j];
        }
        p[0] = c[k] - x[k] * p[0];
    }
}

/// `|A(e^jω)|²` of a monic denominator `(a1, a2)` as a function of `φ`.
#[inline]
fn den_sq(a1: f64, a2: f64, p: f64) -> f64 {
    let s = 1.0 + a1 + a2;
    s * s - (4.0 * a1 * (1.0 + a2) + 16.0 * a2) * p + 16.0 * a2 * p * p
}

/// `|H(e^jω)|²` of a cascade.
fn cascade_mag_sq(cs: &[Coefs], w: f64) -> f64 {
    let (c1, s1) = (w.cos(), -w.sin());
    let (c2, s2) = ((2.0 * w).cos(), -(2.0 * w).sin());
    cs.iter().fold(1.0, |m, c| {
        let nr = c.b0 + c.b1 * c1 + c.b2 * c2;
        let ni = c.b1 * s1 + c.b2 * s2;
        let dr = 1.0 + c.a1 * c1 + c.a2 * c2;
        let di = c.a1 * s1 + c.a2 * s2;
        m * (nr * nr + ni * ni) / (dr * dr + di * di)
    })
}

/// Top of the joint fits, fraction of Nyquist: the top of the range the response must track.
const FIT_TOP: f64 = 0.9;
/// How far (relative, squared magnitude) the realised cascade may miss its own fit at the top
/// node before the design counts as failed (a root finder that did not converge).
const FIT_CHECK: f64 = 1e-3;

/// Joint numerator design: given the sections' poles (`(a1, a2)`, `(0, 0)` for a zeros-only
/// section) and `target(ω)`, the squared magnitude the numerator of the whole cascade must
/// have, fit that numerator as the polynomial in `φ` (degree `2 × sections`) through the target
/// at Chebyshev points from DC to [`FIT_TOP`], factor it into minimum-phase section numerators
/// and write the sections into `out`. False (and `out` unusable) if the fit cannot be realised.
fn fit_zeros(target: impl Fn(f64) -> f64, poles: &[(f64, f64)], out: &mut [Coefs]) -> bool {
    let k = poles.len();
    let m = 2 * k;
    let wt = FIT_TOP * PI;
    let mut x = [0.0; spectral::MAX_DEGREE + 1];
    let mut y = [0.0; spectral::MAX_DEGREE + 1];
    for j in 0..=m {
        // Chebyshev-Lobatto points in ω over [0, wt]: the interpolation error spreads evenly.
        let w = 0.5 * wt * (1.0 - (j as f64 * PI / m as f64).cos());
        x[j] = phi(w);
        y[j] = target(w);
        if !(y[j] > 0.0 && y[j].is_finite()) {
            return false;
        }
    }
    let mut p = [0.0; spectral::MAX_DEGREE + 1];
    interpolate(&x[..=m], &y[..=m], &mut p);
    // Positive at Nyquist too, or a zero would land on the unit circle.
    if p[..=m].iter().sum::<f64>() <= 0.0 {
        return false;
    }
    let mut r = [spectral::Cx::default(); spectral::MAX_DEGREE];
    let found = spectral::roots(&p[..=m], &mut r);
    let mut zeros = [spectral::Cx::default(); spectral::MAX_DEGREE];
    for j in 0..found {
        zeros[j] = spectral::zero_inside(r[j]);
    }
    let mut quads = [[0.0; 2]; MAX_PASS_SECTIONS];
    spectral::quadratics(&mut zeros[..m], &mut quads[..k]);
    let mut dc = 1.0;
    for ((c, &(a1, a2)), &[c1, c2]) in out.iter_mut().zip(poles).zip(quads.iter()) {
        // Each section unity at DC, then the whole cascade set to the target's DC value.
        let g = (1.0 + a1 + a2) / (1.0 + c1 + c2);
        *c = Coefs { b0: g, b1: g * c1, b2: g * c2, a1, a2 };
        dc *= den_sq(a1, a2, 0.0);
    }
    let s = (p[0] / dc).sqrt();
    out[0] = scaled(&out[0], s);
    let want = y[m] / poles.iter().fold(1.0, |d, &(a1, a2)| d * den_sq(a1, a2, x[m]));
    let got = cascade_mag_sq(&out[..k], wt);
    s.is_finite() && (got / want - 1.0).abs() < FIT_CHECK
}

/// Below this corner (fraction of the sample rate) the matched high-pass sections track the
/// prototype by themselves; above [`CORRECT_FULL`] a correction section applies in full, and
/// in between its target is raised to a power rising smoothly from 0 (exactly the identity)
/// to 1, so a glide across the boundary never jumps.
const CORRECT_FROM: f64 = 1.0 / 32.0;
const CORRECT_FULL: f64 = 1.0 / 16.0;
/// The high-pass correction's "DC" point sits this far below the corner (ratio): the
/// high-pass is zero at DC itself, the ratio to the prototype is not.
const CORRECT_DC: f64 = 1e-3;
/// Zeros-only correction sections of a high-pass.
const HP_CORRECTION_SECTIONS: usize = 2;

/// High- or low-pass of `order` (2, 4, 6 or 8) and `family` at `f0`: the sections into `out`,
/// returns how many are used.
///
/// Low-pass: every section's poles are the prototype's mapped exactly, and the numerator of
/// the whole cascade is fitted jointly ([`fit_zeros`]; a 12 dB/oct low-pass gets one more,
/// zeros-only section, as three numerator terms are too few near Nyquist).
/// High-pass: matched sections with the prototype's double zeros at DC, plus above
/// [`CORRECT_FROM`] a zeros-only section fitted to what they miss of the prototype.
pub fn pass_cascade(
    high: bool,
    f0: f64,
    order: usize,
    family: PassFamily,
    fs: f64,
    out: &mut [Coefs; MAX_PASS_SECTIONS],
) -> usize {
    let (qs, n) = pass_section_qs(order, family);
    let qs = &qs[..n];
    let w0 = 2.0 * PI * f0 / fs;
    let proto = |w: f64| {
        qs.iter().fold(1.0, |m, &q| {
            let a = if high { Analog::high_pass(q) } else { Analog::low_pass(q) };
            m * a.magnitude_sq(w / w0)
        })
    };
    if !high {
        let mut poles = [(0.0, 0.0); MAX_PASS_SECTIONS];
        for (p, &q) in poles.iter_mut().zip(qs) {
            *p = matched_poles(&Analog::low_pass(q), w0);
        }
        let used = if n == 1 { 2 } else { n };
        let target = |w: f64| {
            let ph = phi(w);
            poles[..n].iter().fold(proto(w), |t, &(a1, a2)| t * den_sq(a1, a2, ph))
        };
        if fit_zeros(target, &poles[..used], &mut out[..used]) {
            return used;
        }
        for (c, &q) in out.iter_mut().zip(qs) {
            *c = low_pass(f0, q, fs);
        }
        return n;
    }
    for (c, &q) in out.iter_mut().zip(qs) {
        *c = high_pass(f0, q, fs);
    }
    let x = f0 / fs;
    if x <= CORRECT_FROM {
        return n;
    }
    let t = ((x - CORRECT_FROM) / (CORRECT_FULL - CORRECT_FROM)).min(1.0);
    let alpha = t * t * (3.0 - 2.0 * t);
    let (base, rest) = out.split_at_mut(n);
    let ratio = |w: f64| {
        let w = w.max(CORRECT_DC * w0);
        (proto(w) / cascade_mag_sq(base, w)).powf(alpha)
    };
    let e = HP_CORRECTION_SECTIONS;
    if fit_zeros(ratio, &[(0.0, 0.0); HP_CORRECTION_SECTIONS], &mut rest[..e]) {
        n + e
    } else {
        n
    }
}
