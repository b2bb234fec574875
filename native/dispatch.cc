#include "dispatch.h"

#include <atomic>
#include <cstdlib>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fastmlp {
namespace {

#if defined(__x86_64__)
// AMX-BF16 in CPUID, the tile state enabled in XCR0, and (Linux) the kernel's leave for this process to use the
// tile data, asked for once: without it the first tile instruction would kill the process.
bool amx_granted() {
  static const bool granted = [] {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
    if (!amx_bf16 || !amx_tile) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if (((xcr0_lo >> 17) & 3) != 3) return false;  // XTILECFG and XTILEDATA
#if defined(__linux__)
    constexpr int kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return granted;
}
#endif

const IsaKernels* table_for(const std::string& name) {
#if defined(__x86_64__)
  if (name == "amx" && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && amx_granted())
    return &amx_kernels();
  if (name == "avx512bf16" && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return &kAvx512Bf16Kernels;
  if (name == "avx512" && __builtin_cpu_supports("avx512f")) return &kAvx512Kernels;
  if (name == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &kAvx2Kernels;
#endif
  if (name == "generic") return &kGenericKernels;
  return nullptr;
}

// Intel's cores issue VDPBF16PS at a quarter of the rate of their 512-bit FMAs (kernels_avx512.cc), AMD's
// Zen 4 and 5 at twice the multiply-adds of fp32: on Intel the avx512 table, with the same fp32 kernels and
// the same bits in bf16, runs bf16 products twice as fast as the avx512bf16 one. (With AMX, that table goes
// first.)
bool dot_bf16_is_slow() {
#if defined(__x86_64__)
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx == 0x756e6547 && edx == 0x49656e69 && ecx == 0x6c65746e;  // "GenuineIntel"
#else
  return false;
#endif
}

const IsaKernels* choose_at_load() {
  // FASTMLP_ISA lowers the choice (tests run every path the CPU has); an unsupported name is ignored.
  if (const char* forced = std::getenv("FASTMLP_ISA")) {
    if (const IsaKernels* table = table_for(forced)) return table;
  }
  for (const std::string& name : supported_isas()) {
    if (name == "avx512bf16" && dot_bf16_is_slow()) continue;
    return table_for(name);
  }
  return &kGenericKernels;
}

std::atomic<const IsaKernels*>& current() {
  static std::atomic<const IsaKernels*> table{choose_at_load()};
  return table;
}

}  // namespace

const IsaKernels& kernels() { return *current().load(std::memory_order_relaxed); }

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const char* name : {"amx", "avx512bf16", "avx512", "avx2", "generic"}) {
    if (table_for(name)) names.emplace_back(name);
  }
  return names;
}

bool set_isa(const std::string& name) {
  const IsaKernels* table = table_for(name);
  if (!table) return false;
  current().store(table);
  return true;
}

}  // namespace fastmlp
