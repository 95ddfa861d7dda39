#pragma once
// Branch-free log, exp and the standard normal quantile for `#pragma omp simd` loops: pure
// arithmetic and ternary selects, so GCC vectorizes them without -ffast-math (given the project's
// -fno-math-errno, which makes std::sqrt one instruction, and -fno-trapping-math, which lets it
// turn selects around divisions and conversions into blends).
#include <bit>
#include <cmath>
#include <cstdint>

namespace flashmc {

namespace fast_math_detail {
inline constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
inline constexpr double ln2_lo = 1.90821492927058770002e-10;  // 0x3dea39ef35793c76

// Horner evaluation of c[0] + c[1] x + ... + c[7] x^7.
inline double poly7(const double (&c)[8], double x) {
    return ((((((c[7] * x + c[6]) * x + c[5]) * x + c[4]) * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0];
}

}  // namespace fast_math_detail

// ln x = k ln2 + ln m, x = m 2^k, m in [sqrt(1/2), sqrt(2)); ln m = f - hfsq + s (hfsq + R(s^2)),
// f = m - 1, s = f/(2+f), hfsq = f^2/2 (fdlibm/musl log.c, Lg1..Lg7; error < 1 ulp).
// Domain: finite x > 0 (subnormals are scaled by 2^54 first); no checks for 0, inf, NaN, x < 0.
inline double log_fast(double x) {
    using namespace fast_math_detail;
    constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                     Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                     Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                     Lg7 = 1.479819860511658591e-01;
    const bool subnormal = x < 0x1p-1022;
    x = subnormal ? x * 0x1p54 : x;
    // Shift the exponent so that m lands in [sqrt(1/2), sqrt(2)) (0x3fe6a09e667f3bcd = sqrt(1/2)).
    const std::uint64_t ix = std::bit_cast<std::uint64_t>(x) + (0x3ff0000000000000ULL - 0x3fe6a09e667f3bcdULL);
    const std::int64_t k = static_cast<std::int64_t>(ix >> 52) - 1023 - (subnormal ? 54 : 0);
    const double m = std::bit_cast<double>((ix & 0x000fffffffffffffULL) + 0x3fe6a09e667f3bcdULL);
    const double f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    const double R = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7))) + w * (Lg2 + w * (Lg4 + w * Lg6));
    const double dk = static_cast<double>(k);
    return s * (hfsq + R) + dk * ln2_lo - hfsq + f + dk * ln2_hi;
}

// ln(1 + x) for x > −1, accurate also for tiny x: with u = 1 + x rounded, ln(1 + x) =
// ln u · x/(u − 1), the rounding of u cancelling (Goldberg, ACM Comput. Surv. 23:5, 1991, Thm 4).
inline double log1p_fast(double x) {
    const double u = 1.0 + x, d = u - 1.0;
    return d == 0.0 ? x : log_fast(u) * (x / d);
}

// e^x = 2^k e^r, k = round(x/ln2), r = x - k ln2 (ln2 split hi/lo); e^r = 1 - ((lo - r c/(2-c)) - hi),
// c = r - r^2 (P1 + r^2 (P2 + ... P5 r^2)) (fdlibm/musl exp.c, Remez; error < 1 ulp).
// x is clamped to [-708, 709], so k in [-1021, 1023] and 2^k is one normal double.
inline double exp_fast(double x) {
    using namespace fast_math_detail;
    constexpr double invln2 = 1.44269504088896338700e+00, shift = 0x1.8p52;
    constexpr double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                     P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                     P5 = 4.13813679705723846039e-08;
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    const double t = x * invln2 + shift;  // round to nearest integer: k sits in t's low mantissa bits
    const double kd = t - shift;
    const double hi = x - kd * ln2_hi, lo = kd * ln2_lo, r = hi - lo, rr = r * r;
    const double c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // bits(t) = 0x4338000000000000 + k, so (bits(t) + 1023) << 52 = (k + 1023) << 52 = bits(2^k).
    const double scale = std::bit_cast<double>((std::bit_cast<std::uint64_t>(t) + 1023) << 52);
    return y * scale;
}

// Phi^-1(p) by Wichura's AS241 PPND16 (Appl. Statist. 37:477, 1988; relative error ~1e-16):
// |q| <= 0.425 (q = p - 1/2): q A(r)/B(r), r = 0.180625 - q^2; else r = sqrt(-ln min(p, 1-p)),
// C(r-1.6)/D(r-1.6) for r <= 5, E(r-5)/F(r-5) beyond, with the sign of q. Coefficients as in
// R's qnorm.c. All three branches are evaluated and selected. Domain: 0 < p < 1.
inline double normal_quantile(double p) {
    using fast_math_detail::poly7;
    constexpr double a[8] = {3.3871328727963666080e+0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
                             1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
                             3.3430575583588128105e+4, 2.5090809287301226727e+3};
    constexpr double b[8] = {1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2,
                             5.3941960214247511077e+3, 2.1213794301586595867e+4, 3.9307895800092710610e+4,
                             2.8729085735721942674e+4, 5.2264952788528545610e+3};
    constexpr double c[8] = {1.42343711074968357734e+0, 4.63033784615654529590e+0, 5.76949722146069140550e+0,
                             3.64784832476320460504e+0, 1.27045825245236838258e+0, 2.41780725177450611770e-1,
                             2.27238449892691845833e-2, 7.74545014278341407640e-4};
    constexpr double d[8] = {1.0, 2.05319162663775882187e+0, 1.67638483018380384940e+0,
                             6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2,
                             5.47593808499534494600e-4, 1.05075007164441684324e-9};
    constexpr double e[8] = {6.65790464350110377720e+0, 5.46378491116411436990e+0, 1.78482653991729133580e+0,
                             2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                             2.71155556874348757815e-5, 2.01033439929228813265e-7};
    constexpr double f[8] = {1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1,
                             1.48753612908506148525e-2, 7.86869131145613259100e-4, 1.84631831751005468180e-5,
                             1.42151175831644588870e-7, 2.04426310338993978564e-15};
    const double q = p - 0.5;
    const double rc = 0.180625 - q * q;
    const double central = q * poly7(a, rc) / poly7(b, rc);
    const double tail_p = q < 0.0 ? p : 1.0 - p;  // min(p, 1-p), exact for p >= 1/2
    const double r = std::sqrt(-log_fast(tail_p));
    const double rn = r - 1.6, rf = r - 5.0;
    const double tail = (r <= 5.0 ? poly7(c, rn) : poly7(e, rf)) / (r <= 5.0 ? poly7(d, rn) : poly7(f, rf));
    const double abs_q = q < 0.0 ? -q : q;
    return abs_q <= 0.425 ? central : (q < 0.0 ? -tail : tail);
}

// cos(2πu) for |u| < 2^51: u is reduced to w = |u − round(u)| ∈ [0, ½], folded to [0, ¼] (with
// the sign of cos(2π(½ − w)) = −cos(2πw)), and evaluated as the cos kernel of 2πw on [0, π/4] or
// the sin kernel of 2π(¼ − w) beyond (fdlibm/musl __cos and __sin with a zero tail; < 1 ulp each).
inline double cos_2pi(double u) {
    constexpr double two_pi = 6.28318530717958647692, shift = 0x1.8p52;
    constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                     C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                     C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                     S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                     S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double v = u - ((u + shift) - shift);  // u − round(u) ∈ [−½, ½]
    const double a = v < 0.0 ? -v : v;
    const bool flip = a > 0.25;
    const double w = flip ? 0.5 - a : a;  // [0, ¼]
    const bool use_sin = w > 0.125;
    const double x = two_pi * (use_sin ? 0.25 - w : w), z = x * x, zz = z * z;
    const double rc = z * (C1 + z * (C2 + z * C3)) + zz * zz * (C4 + z * (C5 + z * C6));
    const double hz = 0.5 * z, wc = 1.0 - hz;
    const double cosk = wc + (((1.0 - wc) - hz) + z * rc);
    const double rs = S2 + z * (S3 + z * S4) + z * zz * (S5 + z * S6);
    const double sink = x + z * x * (S1 + z * rs);
    const double r = use_sin ? sink : cosk;
    return flip ? -r : r;
}

}  // namespace flashmc
