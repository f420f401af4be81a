//! The two pieces of floating-point math sampling needs, without the C math library.
//!
//! Drawing the next sample distance takes a natural logarithm, and pprof's
//! unsampling takes 1 − e^(−x). `f64::ln` and `f64::exp` are calls into `libm.so`,
//! which would make every program that links spanprof load libm, run its IFUNC
//! resolvers at start-up (Rust binaries bind symbols eagerly) and keep about 350 KB
//! of it resident: more than the whole heap of a small program. Go's runtime avoids
//! libm the same way (`fastlog2` in runtime/fastlog2.go for `fastexprand`). These are
//! short series, accurate to about 1e-12 relative error: far finer than sampling
//! noise.

/// ln 2, to f64 precision.
const LN2: f64 = core::f64::consts::LN_2;

/// The natural logarithm of `u`, for `u` in (0, 1] (the uniform draw of the
/// exponential distribution); 0.0 for anything else.
pub fn ln_unit(u: f64) -> f64 {
    if !(u > 0.0 && u <= 1.0) {
        return 0.0;
    }
    // u = m · 2^e with m in [1, 2) (subnormals do not occur: u ≥ 2^-53).
    let bits = u.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    // Centre m on 1 so the series below converges fast: m in [√½, √2).
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| < 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 16.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * LN2 + 2.0 * sum
}

/// 1 − e^(−x) for `x` ≥ 0 (the probability that a sampler with mean distance
/// `rate` bytes samples an allocation of `x · rate` bytes); 0.0 for x ≤ 0 or NaN.
/// Exact to the last few bits even for tiny `x`, where computing `1 − exp(−x)`
/// directly would cancel.
pub fn one_minus_exp_neg(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if x < 0.5 {
        // x − x²/2! + x³/3! − …: alternating, terms below 2^-60 of the sum by k = 18.
        let (mut sum, mut term, mut k) = (0.0, x, 1.0);
        while k < 20.0 {
            sum += term;
            k += 1.0;
            term *= -x / k;
        }
        return sum;
    }
    if x > 40.0 {
        return 1.0; // e^-40 < 2^-57: below the last bit of 1.0.
    }
    // e^(−x) = 2^(−n) · e^(−r), x = n ln 2 + r, |r| ≤ ln2 / 2 (n ≤ 58).
    let n = (x / LN2 + 0.5) as i64;
    let r = x - n as f64 * LN2;
    let (mut e_r, mut term, mut k) = (1.0, 1.0, 1.0);
    while k < 16.0 {
        term *= -r / k;
        e_r += term;
        k += 1.0;
    }
    let two_neg_n = f64::from_bits(((1023 - n) as u64) << 52);
    1.0 - e_r * two_neg_n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn ln_matches_std_over_the_unit_interval() {
        let mut u = 1.0f64;
        while u > 1e-16 {
            for v in [u, u * 0.7072, u * 0.5001, u * 0.9999] {
                assert!(
                    close(ln_unit(v), v.ln(), 1e-12),
                    "ln({v}) = {} vs {}",
                    ln_unit(v),
                    v.ln()
                );
            }
            u *= 0.83;
        }
        assert_eq!(ln_unit(1.0), 0.0);
        let smallest = 1.0 / (1u64 << 53) as f64;
        assert!(close(ln_unit(smallest), smallest.ln(), 1e-12));
        assert_eq!(ln_unit(0.0), 0.0);
        assert_eq!(ln_unit(f64::NAN), 0.0);
        assert_eq!(ln_unit(2.0), 0.0);
    }

    #[test]
    fn one_minus_exp_neg_matches_std() {
        let mut x = 1e-12f64;
        while x < 60.0 {
            for v in [x, x * 1.37, x * 3.1] {
                let want = -(-v).exp_m1();
                let got = one_minus_exp_neg(v);
                assert!(close(got, want, 1e-13), "1-e^-{v} = {got} vs {want}");
            }
            x *= 1.9;
        }
        assert_eq!(one_minus_exp_neg(0.0), 0.0);
        assert_eq!(one_minus_exp_neg(-1.0), 0.0);
        assert_eq!(one_minus_exp_neg(f64::NAN), 0.0);
        assert_eq!(one_minus_exp_neg(1e9), 1.0);
    }
}
