// CPU features -> one kernel table, chosen once (at first use) and switchable
// for tests.  A target is "supported" when the CPU has the instructions AND
// the OS saves the registers (XGETBV), as NumPy's dispatcher checks.
#include <atomic>
#include <cstring>
#include <string>

#include "core/driver.h"
#include "core/kernel_table.h"
#include "core/thread_pool.h"
#include "softmax_c/softmax_c.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define SC_X86 1
#endif

namespace sc {
namespace {

struct Features {
  bool sse2 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool os_ymm = false, os_zmm = false, neon = false;
};

Features detect() {
  Features f;
#ifdef SC_X86
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    f.sse2 = d & (1u << 26);
    f.fma = c & (1u << 12);
    f.avx = c & (1u << 28);
    f.f16c = c & (1u << 29);
    const bool osxsave = c & (1u << 27);
    if (osxsave) {
      unsigned lo, hi;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      f.os_ymm = (lo & 0x6) == 0x6;                 // XMM and YMM state
      f.os_zmm = f.os_ymm && (lo & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
    }
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
  }
#elif defined(__aarch64__)
  f.neon = true;
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

// table() runs code compiled for that target (it builds the table), so it is
// called only after supported() said yes.
struct Target {
  const char* name;
  bool compiled;
  const KernelTable* (*table)();
  bool (*supported)(const Features&);
};

const KernelTable* no_table() { return nullptr; }

const Target kTargets[] = {  // worst to best
    {"scalar", true, &table_scalar, [](const Features&) { return true; }},
    {"baseline", true, &table_baseline, [](const Features&) { return true; }},
#ifdef SC_HAVE_AVX2
    {"avx2", true, &table_avx2, [](const Features& f) { return f.avx2 && f.fma && f.f16c && f.os_ymm; }},
#else
    {"avx2", false, &no_table, [](const Features&) { return false; }},
#endif
#ifdef SC_HAVE_AVX512
    {"avx512", true, &table_avx512,
     [](const Features& f) { return f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.os_zmm; }},
#else
    {"avx512", false, &no_table, [](const Features&) { return false; }},
#endif
};

const KernelTable* best() {
  const KernelTable* t = nullptr;
  for (const Target& tg : kTargets)
    if (tg.compiled && tg.supported(features())) t = tg.table();
  return t;
}

std::atomic<const KernelTable*> g_active{nullptr};

std::string join(bool want_supported) {
  std::string s;
  for (const Target& tg : kTargets) {
    if (!tg.compiled) continue;
    if (want_supported && !tg.supported(features())) continue;
    if (!s.empty()) s += ",";
    s += tg.name;
  }
  return s;
}

}  // namespace

const KernelTable* active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (!t) {
    t = best();
    g_active.store(t, std::memory_order_release);
  }
  return t;
}

}  // namespace sc

extern "C" {

const char* sc_target_name(void) { return sc::active()->name; }

int sc_set_target(const char* name) {
  return sc::c_abi([&]() -> int {
    if (!name) return sc::invalid("name: must not be NULL");
    for (const sc::Target& tg : sc::kTargets) {
      if (std::strcmp(tg.name, name) != 0) continue;
      if (!tg.compiled || !tg.supported(sc::features())) return SC_EISA;
      sc::g_active.store(tg.table(), std::memory_order_release);
      return SC_OK;
    }
    return SC_EISA;
  });
}

const char* sc_targets_compiled(void) {
  static const std::string s = sc::join(false);
  return s.c_str();
}

const char* sc_targets_supported(void) {
  static const std::string s = sc::join(true);
  return s.c_str();
}

const char* sc_cpu_features(void) {
  static const std::string s = [] {
    const sc::Features& f = sc::features();
    std::string r;
    auto add = [&](bool on, const char* n) {
      if (!on) return;
      if (!r.empty()) r += ",";
      r += n;
    };
    add(f.sse2, "sse2");
    add(f.avx, "avx");
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512dq, "avx512dq");
    add(f.avx512vl, "avx512vl");
    add(f.os_ymm, "os_ymm");
    add(f.os_zmm, "os_zmm");
    add(f.neon, "neon");
    return r;
  }();
  return s.c_str();
}

int sc_num_threads(void) { return sc::num_threads(); }
void sc_set_num_threads(int n) {
  sc::c_abi([&] {
    sc::set_num_threads(n);
    return int(SC_OK);
  });
}

}  // extern "C"
