// The output cache of softmax_c/output_cache.h: mmap'd buffers with a header
// page, kept after their arrays die and reused for the next output of the
// same size class, so a loop `y = softmax(x)` stops faulting in fresh pages.
//
// Size classes: a request is rounded up to a multiple of 1/8 of the largest
// power of two not above it (and to whole pages), so capacity wastes at most
// 12.5 % and every request of the same shape and dtype lands in one class
// (exact-class reuse: a repeated size always hits, and a 64 MiB buffer is
// never spent on a 2 MiB output).
#include "softmax_c/output_cache.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <vector>

namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kMagic = 0x736f66746d617863ull;  // "softmaxc"

struct Header {
  uint64_t magic;
  size_t capacity;  // data bytes after the header page
};

struct Entry {
  char* data;
  size_t capacity;
  double released;  // monotonic seconds
};

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
std::vector<Entry>* g_cached = nullptr;  // guarded by g_mu; never destroyed (frees may come at exit)
int64_t g_budget = 256 << 20;            // see README "Memory" for the default
int64_t g_cached_bytes = 0, g_live = 0, g_hits = 0, g_misses = 0;

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

size_t size_class(size_t n) {
  if (n < kPage) n = kPage;
  size_t p = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = p / 8 < kPage ? kPage : p / 8;
  return (n + step - 1) / step * step;
}

Header* header_of(void* data) { return reinterpret_cast<Header*>(static_cast<char*>(data) - kPage); }

void unmap(char* data, size_t capacity) { munmap(data - kPage, capacity + kPage); }

char* map(size_t capacity) {  // zeroed pages
  void* p = mmap(nullptr, capacity + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  Header* h = static_cast<Header*>(p);
  h->magic = kMagic;
  h->capacity = capacity;
  return static_cast<char*>(p) + kPage;
}

// Under g_mu: collect (into `drop`) entries idle too long, then the oldest
// until the total fits `budget`.  Unmapping happens after the unlock.
void shed_locked(int64_t budget, std::vector<Entry>& drop) {
  if (!g_cached) return;
  const double cut = now() - SC_OC_IDLE_SECONDS;
  auto& c = *g_cached;  // ordered by release time, oldest first
  size_t k = 0;
  while (k < c.size() && (c[k].released < cut || g_cached_bytes > budget)) {
    g_cached_bytes -= int64_t(c[k].capacity);
    drop.push_back(c[k++]);
  }
  c.erase(c.begin(), c.begin() + long(k));
}

void unmap_all(std::vector<Entry>& drop) {
  for (auto& e : drop) unmap(e.data, e.capacity);
}

void* take(size_t n, bool* zeroed) {
  const size_t cap = size_class(n);
  char* hit = nullptr;
  std::vector<Entry> drop;
  pthread_mutex_lock(&g_mu);
  shed_locked(g_budget, drop);
  if (g_cached) {
    auto& c = *g_cached;
    for (size_t i = c.size(); i-- > 0;) {  // newest first: warmest pages
      if (c[i].capacity == cap) {
        hit = c[i].data;
        g_cached_bytes -= int64_t(cap);
        c.erase(c.begin() + long(i));
        break;
      }
    }
  }
  ++(hit ? g_hits : g_misses);
  ++g_live;
  pthread_mutex_unlock(&g_mu);
  unmap_all(drop);
  *zeroed = false;
  if (hit) return hit;
  char* p = map(cap);
  if (!p) {
    pthread_mutex_lock(&g_mu);
    --g_live;
    pthread_mutex_unlock(&g_mu);
    return nullptr;
  }
  *zeroed = true;
  return p;
}

void give(char* data) {
  const size_t cap = header_of(data)->capacity;
  std::vector<Entry> drop;
  pthread_mutex_lock(&g_mu);
  --g_live;
  if (int64_t(cap) <= g_budget) {
    if (!g_cached) g_cached = new std::vector<Entry>();
    g_cached->push_back({data, cap, now()});
    g_cached_bytes += int64_t(cap);
  } else {
    drop.push_back({data, cap, 0.0});
  }
  shed_locked(g_budget, drop);
  pthread_mutex_unlock(&g_mu);
  unmap_all(drop);
}

// fork: no inherited locked mutex.  The child keeps the cached buffers (its
// private copy-on-write mappings) and the arrays it inherited free into them.
void before_fork() { pthread_mutex_lock(&g_mu); }
void after_fork_parent() { pthread_mutex_unlock(&g_mu); }
void after_fork_child() { pthread_mutex_init(&g_mu, nullptr); }
[[maybe_unused]] const int g_atfork = pthread_atfork(before_fork, after_fork_parent, after_fork_child);

}  // namespace

extern "C" {

void* sc_oc_malloc(void*, size_t size) {
  bool z;
  return take(size ? size : 1, &z);
}

void* sc_oc_calloc(void*, size_t nelem, size_t elsize) {
  if (elsize && nelem > SIZE_MAX / elsize) return nullptr;
  const size_t n = nelem * elsize;
  bool zeroed;
  void* p = take(n ? n : 1, &zeroed);
  if (p && !zeroed) memset(p, 0, n);
  return p;
}

void* sc_oc_realloc(void* ctx, void* ptr, size_t new_size) {
  if (!ptr) return sc_oc_malloc(ctx, new_size);
  const size_t cap = header_of(ptr)->capacity;
  if (new_size <= cap && size_class(new_size ? new_size : 1) * 2 > cap) return ptr;  // fits, not much too big
  void* p = sc_oc_malloc(ctx, new_size);
  if (!p) return nullptr;  // the old buffer stays valid, as realloc's contract says
  memcpy(p, ptr, new_size < cap ? new_size : cap);
  give(static_cast<char*>(ptr));
  return p;
}

void sc_oc_free(void*, void* ptr, size_t) {
  if (ptr) give(static_cast<char*>(ptr));
}

void sc_oc_set_budget(int64_t bytes) {
  std::vector<Entry> drop;
  pthread_mutex_lock(&g_mu);
  g_budget = bytes < 0 ? 0 : bytes;
  shed_locked(g_budget, drop);
  pthread_mutex_unlock(&g_mu);
  unmap_all(drop);
}

int64_t sc_oc_budget(void) {
  pthread_mutex_lock(&g_mu);
  int64_t b = g_budget;
  pthread_mutex_unlock(&g_mu);
  return b;
}

void sc_oc_trim(void) {
  std::vector<Entry> drop;
  pthread_mutex_lock(&g_mu);
  shed_locked(-1, drop);
  pthread_mutex_unlock(&g_mu);
  unmap_all(drop);
}

void sc_oc_get_stats(sc_oc_stats* s) {
  std::vector<Entry> drop;
  pthread_mutex_lock(&g_mu);
  shed_locked(g_budget, drop);
  s->budget = g_budget;
  s->cached_bytes = g_cached_bytes;
  s->cached_buffers = g_cached ? int64_t(g_cached->size()) : 0;
  s->live_buffers = g_live;
  s->hits = g_hits;
  s->misses = g_misses;
  pthread_mutex_unlock(&g_mu);
  unmap_all(drop);
}

}  // extern "C"
