"""Generate the polynomial constants of the vectorised log1p (cpp/src/simd/log1p.h).

log1p(e) for e in [0, 1] (what log_expit needs: e = exp(-|x|)).  Reduction:
1 + e = 2^k (1 + f) with k = (e >= 1/2), f = e (k = 0) or (e - 1)/2 (k = 1),
both exact, so f in [-1/4, 1/2).  With s = f / (2 + f), z = s^2:

    log(1 + f) = log((1 + s) / (1 - s)) = 2s + s*R(z),  R(z) = 2z/3 + 2z^2/5 + ...

and R(z) = z*P(z) with P fitted by interpolation at Chebyshev nodes of
z in [0, zmax], zmax = (1/5)^2 (s = 1/5 at f = 1/2), in 60-digit arithmetic.
The kernel evaluates log(1 + f) = f - (f^2/2 - s*(f^2/2 + R)) (the leading
term f exact, the rounding of s damped by the small factor f^2/2 + R).

Run:  python tools/gen_log1p_coeffs.py   (prints hex-float literals for log1p.h)
"""
import struct

import mpmath as mp

mp.mp.dps = 60
ZMAX = mp.mpf(1) / 25


def p_exact(z):
    if z < mp.mpf("1e-30"):
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (mp.log((1 + s) / (1 - s)) - 2 * s) / (s * z)


def fit(degree):
    nodes = [ZMAX / 2 * (1 + mp.cos(mp.pi * (2 * k + 1) / (2 * (degree + 1)))) for k in range(degree + 1)]
    A = mp.matrix([[n**j for j in range(degree + 1)] for n in nodes])
    c = mp.lu_solve(A, mp.matrix([p_exact(n) for n in nodes]))
    # error of log(1 + f) relative to itself, over f in [-1/4, 1/2)
    err = 0
    for f in mp.linspace(mp.mpf(-1) / 4, mp.mpf(1) / 2, 3001):
        if f == 0:
            continue
        s = f / (2 + f)
        z = s * s
        approx = 2 * s + s * z * sum(c[j] * z**j for j in range(degree + 1))
        err = max(err, abs(approx - mp.log(1 + f)) / abs(mp.log(1 + f)))
    return [c[j] for j in range(degree + 1)], err


def main():
    for name, degree, fmt, suffix in (("f32", 2, "f", "f"), ("f64", 7, "d", "")):
        coeffs, err = fit(degree)
        print(f"// {name}: P of degree {degree}; max rel. truncation error {mp.nstr(err, 3)}")
        for j, c in enumerate(coeffs):
            v = struct.unpack(fmt, struct.pack(fmt, float(c)))[0]
            h = float(v).hex()
            if fmt == "f":  # float literal: 6 hex digits of mantissa
                m, e = h.split("p")
                m = (m + "0" * 8)[: m.index(".") + 7]
                h = m + "p" + e
            print(f"  static constexpr {'float' if fmt == 'f' else 'double'} p{j} = {h}{suffix};")


if __name__ == "__main__":
    main()
