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

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_BENCH_H_ */
