/* softmax_c: a bounded cache of big output buffers (the NEP 49 allocator).
 *
 * The four allocation functions have exactly the signatures of NumPy's
 * PyDataMemAllocator (numpy/ndarraytypes.h), so the binding puts them in a
 * PyDataMem_Handler named "softmax_c" and installs it only around softmax_c's
 * own big output allocations.  NumPy records the handler in each array and
 * frees through it whenever the array dies: any thread, with or without the
 * GIL, even after the cache is disabled.  Nothing here uses Python.
 *
 * A buffer is an anonymous mmap: one 4 KiB header page (capacity, magic)
 * followed by the data, so data is 4 KiB aligned and free/realloc never need
 * the size NumPy passes.  Freed buffers are kept (total <= budget, oldest
 * evicted first) and handed back by malloc for a request of the same size
 * class; buffers idle longer than SC_OC_IDLE_SECONDS are unmapped at the next
 * cache operation.  Thread-safe (one mutex) and fork-safe (pthread_atfork:
 * the child gets an unlocked mutex and keeps its copy-on-write buffers).
 */
#ifndef SOFTMAX_C_OUTPUT_CACHE_H_
#define SOFTMAX_C_OUTPUT_CACHE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SC_OC_IDLE_SECONDS 5.0

void* sc_oc_malloc(void* ctx, size_t size);
void* sc_oc_calloc(void* ctx, size_t nelem, size_t elsize);
void* sc_oc_realloc(void* ctx, void* ptr, size_t new_size);
void sc_oc_free(void* ctx, void* ptr, size_t size);

/* Budget in bytes of cached (released) buffers; 0 disables and unmaps all. */
void sc_oc_set_budget(int64_t bytes);
int64_t sc_oc_budget(void);
/* Unmap every cached buffer (live arrays are untouched). */
void sc_oc_trim(void);

typedef struct sc_oc_stats {
  int64_t budget, cached_bytes, cached_buffers, live_buffers, hits, misses;
} sc_oc_stats;
void sc_oc_get_stats(sc_oc_stats* s);

#ifdef __cplusplus
}
#endif

#endif /* SOFTMAX_C_OUTPUT_CACHE_H_ */
