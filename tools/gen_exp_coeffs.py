"""Generate the polynomial constants of the vectorised exp (cpp/src/simd/exp.h).

exp(x) = 2^n * e^r,  n = round(x / ln2),  r = x - n*ln2 in [-ln2/2, ln2/2]
(Cody & Waite reduction with ln2 split in a high part whose low bits are zero,
so n*ln2_hi is exact, and a low part).  On that interval we write

    e^r = 1 + r + r^2 * q(r)

and fit q by interpolation at Chebyshev nodes of the first kind, computed in
60-digit arithmetic with mpmath.  Chebyshev interpolation is within a small
factor of the minimax polynomial; the truncation error printed below is far
below half an ULP, so the error budget is spent on rounding of the Horner steps.

Run:  python tools/gen_exp_coeffs.py   (prints hex-float literals for exp.h)
"""
import mpmath as mp

mp.mp.dps = 60


def fit_q(degree):
    h = mp.log(2) / 2
    nodes = [h * mp.cos(mp.pi * (2 * k + 1) / (2 * (degree + 1))) for k in range(degree + 1)]

    def q(r):
        if abs(r) < mp.mpf("1e-20"):
            return mp.mpf(1) / 2
        return (mp.exp(r) - 1 - r) / r**2

    # Solve the Vandermonde system exactly in high precision.
    A = mp.matrix([[n**j for j in range(degree + 1)] for n in nodes])
    b = mp.matrix([q(n) for n in nodes])
    c = mp.lu_solve(A, b)
    err = max(abs(1 + r + r**2 * sum(c[j] * r**j for j in range(degree + 1)) - mp.exp(r)) / mp.exp(r)
              for r in mp.linspace(-h, h, 2001))
    return [c[j] for j in range(degree + 1)], err


def fit_p(degree):
    """e^r ~ 1 + r*p(r): the shorter form of the softmax path (exp_neg)."""
    h = mp.log(2) / 2
    nodes = [h * mp.cos(mp.pi * (2 * k + 1) / (2 * (degree + 1))) for k in range(degree + 1)]

    def p(r):
        return mp.mpf(1) if abs(r) < mp.mpf("1e-20") else (mp.exp(r) - 1) / r

    A = mp.matrix([[n**j for j in range(degree + 1)] for n in nodes])
    c = mp.lu_solve(A, mp.matrix([p(n) for n in nodes]))
    err = max(abs(1 + r * sum(c[j] * r**j for j in range(degree + 1)) - mp.exp(r)) / mp.exp(r)
              for r in mp.linspace(-h, h, 2001))
    return [c[j] for j in range(degree + 1)], err


def main():
    import struct
    for name, degree, fmt in (("f32", 4, "f"), ("f64", 9, "d")):
        coeffs, err = fit_q(degree)
        print(f"// {name}: e^r = 1 + r + r^2*q(r), q of degree {degree}; max rel. truncation error {mp.nstr(err, 3)}")
        for j, c in enumerate(coeffs):
            v = struct.unpack(fmt, struct.pack(fmt, float(c)))[0]
            print(f"  q{j} = {v.hex()}{'f' if fmt == 'f' else ''}  // {float(c)!r}")


    import struct as st
    coeffs, err = fit_p(4)
    print(f"// f32 softmax path: e^r = 1 + r*p(r), p of degree 4; max rel. truncation error {mp.nstr(err, 3)}")
    for j, c in enumerate(coeffs):
        v = st.unpack("f", st.pack("f", float(c)))[0]
        print(f"  p{j} = {v.hex()}f  // {float(c)!r}")
    coeffs, err = fit_p(10)
    print(f"// f64 softmax path: e^r = 1 + r*p(r), p of degree 10; max rel. truncation error {mp.nstr(err, 3)}")
    for j, c in enumerate(coeffs):
        print(f"  p{j} = {float(c).hex()}  // {float(c)!r}")


if __name__ == "__main__":
    main()
