//! Spectral factorisation of a squared magnitude given as a polynomial in `φ = sin²(ω/2)`:
//! its roots, and from them the minimum-phase second-order numerators that produce it.
//!
//! A joint design fits the squared magnitude of a whole cascade as one polynomial (more
//! freedom than section by section), so it must be split back into biquads. Each root `r` of
//! the polynomial in `φ` is one reciprocal pair of zeros in `z`
//! (`φ - r ∝ z² - 2 (1 - 2r) z + 1`); keeping the one inside the unit circle makes the result
//! minimum phase. Fixed-size arrays and a bounded number of iterations: no allocation, cheap
//! enough to run while a parameter glides.

/// Highest polynomial degree handled (eight: a 48 dB/oct cascade of four sections).
pub const MAX_DEGREE: usize = 8;
/// Laguerre iterations allowed per root (it converges cubically; a handful is typical).
const MAX_ITER: usize = 60;
/// Relative step at which a root counts as found (the polishing steps then reach full
/// precision).
const CONVERGED: f64 = 1e-12;
/// Newton steps polishing each root on the undeflated polynomial.
const POLISH: usize = 2;
/// Relative size below which a leading coefficient counts as zero (the fit asked for a lower
/// degree: the missing roots are at infinity, i.e. zeros at `z = 0`).
const NEGLIGIBLE: f64 = 1e-14;
/// Imaginary part (relative) below which a root counts as real.
const REAL_TOL: f64 = 1e-9;

/// A complex number (just what the root finder needs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cx {
    pub re: f64,
    pub im: f64,
}

impl Cx {
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }
    fn add(self, o: Cx) -> Cx {
        Cx::new(self.re + o.re, self.im + o.im)
    }
    fn sub(self, o: Cx) -> Cx {
        Cx::new(self.re - o.re, self.im - o.im)
    }
    fn mul(self, o: Cx) -> Cx {
        Cx::new(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)
    }
    fn scale(self, k: f64) -> Cx {
        Cx::new(self.re * k, self.im * k)
    }
    fn norm_sq(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn div(self, o: Cx) -> Cx {
        let d = 1.0 / o.norm_sq();
        Cx::new((self.re * o.re + self.im * o.im) * d, (self.im * o.re - self.re * o.im) * d)
    }
    /// Principal square root.
    fn sqrt(self) -> Cx {
        let m = self.abs();
        let re = (0.5 * (m + self.re)).max(0.0).sqrt();
        let im = (0.5 * (m - self.re)).max(0.0).sqrt();
        Cx::new(re, if self.im < 0.0 { -im } else { im })
    }
}

/// Value, first and second derivative of the complex polynomial `p` (ascending) at `x`.
fn eval3(p: &[Cx], x: Cx) -> (Cx, Cx, Cx) {
    let n = p.len() - 1;
    let (mut v, mut d1, mut d2) = (p[n], Cx::default(), Cx::default());
    for j in (0..n).rev() {
        d2 = d2.mul(x).add(d1);
        d1 = d1.mul(x).add(v);
        v = v.mul(x).add(p[j]);
    }
    (v, d1, d2.scale(2.0))
}

/// One root of `p` (degree >= 1) by Laguerre's method from `x`.
fn laguerre(p: &[Cx], mut x: Cx) -> Cx {
    let n = (p.len() - 1) as f64;
    for it in 0..MAX_ITER {
        let (v, d1, d2) = eval3(p, x);
        if v.norm_sq() == 0.0 {
            break;
        }
        let g = d1.div(v);
        let g2 = g.mul(g);
        let h = g2.sub(d2.div(v));
        let sq = h.scale(n).sub(g2).scale(n - 1.0).sqrt();
        let (ga, gb) = (g.add(sq), g.sub(sq));
        let den = if ga.norm_sq() >= gb.norm_sq() { ga } else { gb };
        let step = if den.norm_sq() > 0.0 {
            Cx::new(n, 0.0).div(den)
        } else {
            // Stationary point: any nudge away from it.
            Cx::new(1.0 + x.abs(), 1.0).scale(0.1 * (it + 1) as f64)
        };
        let next = x.sub(step);
        if step.abs() <= CONVERGED * next.abs() {
            return next;
        }
        x = next;
    }
    x
}

/// Roots of the real polynomial `p` (ascending coefficients, `p.len() - 1 <= MAX_DEGREE`) into
/// `roots`; returns how many (the degree after dropping negligible leading coefficients).
pub fn roots(p: &[f64], roots: &mut [Cx; MAX_DEGREE]) -> usize {
    let scale = p.iter().fold(0.0f64, |m, c| m.max(c.abs()));
    let mut n = p.len() - 1;
    while n > 0 && p[n].abs() <= NEGLIGIBLE * scale {
        n -= 1;
    }
    let mut work = [Cx::default(); MAX_DEGREE + 1];
    for j in 0..=n {
        work[j] = Cx::new(p[j], 0.0);
    }
    let full = work;
    for k in (1..=n).rev() {
        // Deflated polynomial of degree k in work[..=k].
        let mut x = laguerre(&work[..=k], Cx::default());
        for _ in 0..POLISH {
            let (v, d1, _) = eval3(&full[..=n], x);
            if d1.norm_sq() > 0.0 {
                x = x.sub(v.div(d1));
            }
        }
        if x.im.abs() <= REAL_TOL * x.abs() {
            x.im = 0.0;
        }
        roots[n - k] = x;
        // Synthetic division by (φ - x).
        let mut carry = work[k];
        for j in (0..k).rev() {
            let c = work[j];
            work[j] = carry;
            carry = c.add(carry.mul(x));
        }
    }
    n
}

/// The zero inside the unit circle (of the reciprocal pair) that root `r` in `φ` stands for.
pub fn zero_inside(r: Cx) -> Cx {
    let q = Cx::new(1.0 - 2.0 * r.re, -2.0 * r.im);
    let s = q.mul(q).sub(Cx::new(1.0, 0.0)).sqrt();
    let (z1, z2) = (q.add(s), q.sub(s));
    if z1.norm_sq() <= z2.norm_sq() {
        z1
    } else {
        z2
    }
}

/// Split `m` zeros (closed under conjugation, `m` even) into monic real quadratics
/// `[c1, c2]` (`1 + c1 z⁻¹ + c2 z⁻²`): conjugate pairs together, real zeros in sorted pairs.
pub fn quadratics(zeros: &mut [Cx], out: &mut [[f64; 2]]) {
    let m = zeros.len();
    // Most complex first; each complex zero with its conjugate (the nearest to it).
    zeros.sort_by(|a, b| b.im.abs().total_cmp(&a.im.abs()));
    let mut k = 0;
    let mut i = 0;
    while i + 1 < m && zeros[i].im.abs() > REAL_TOL * zeros[i].abs().max(1e-300) {
        let conj = Cx::new(zeros[i].re, -zeros[i].im);
        let j = (i + 1..m)
            .min_by(|&a, &b| zeros[a].sub(conj).norm_sq().total_cmp(&zeros[b].sub(conj).norm_sq()))
            .unwrap_or(i + 1);
        zeros.swap(i + 1, j);
        let (a, b) = (zeros[i], zeros[i + 1]);
        let re = 0.5 * (a.re + b.re);
        out[k] = [-2.0 * re, re * re + 0.25 * (a.im - b.im).powi(2)];
        k += 1;
        i += 2;
    }
    zeros[i..].sort_by(|a, b| a.re.total_cmp(&b.re));
    while i + 1 < m {
        let (a, b) = (zeros[i].re, zeros[i + 1].re);
        out[k] = [-(a + b), a * b];
        k += 1;
        i += 2;
    }
}
