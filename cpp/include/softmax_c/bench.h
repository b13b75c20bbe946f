/* softmax_c benchmark helpers: not part of the production C ABI (nothing
 * here is used by the operations; benchmarks/ and softmax_c._bench call it).
 */
#ifndef SOFTMAX_C_BENCH_H_
#define SOFTMAX_C_BENCH_H_

#ifdef __cplusplus
extern "C" {
#endif

/* Peak float32 FMA throughput of the active target, GFLOP/s, measured for
 * about `seconds` on `threads` threads of its own (the benchmarks' roofline).
 * Does not use or resize the library's thread pool. */
double sc_bench_fma_peak_gflops(int threads, double seconds);

/* Element rate (elements/s) of the softmax kernels' fastest exp path (the
 * fast-mode sum of exp(x - max), nothing stored) over an L2-resident row of
 * float32 (dtype SC_F32; half precision computes in float32) or float64
 * (SC_F64), best pass of about `seconds`, summed over `threads` threads of
 * its own.  The exp bound of the benchmark limits. */
double sc_bench_exp_rate(int dtype, int threads, double seconds);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_BENCH_H_ */
