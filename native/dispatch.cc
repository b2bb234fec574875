#include "dispatch.h"

#include <atomic>
#include <cstdlib>

namespace fastmlp {
namespace {

const IsaKernels* table_for(const std::string& name) {
#if defined(__x86_64__)
  if (name == "avx512bf16" && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return &kAvx512Bf16Kernels;
  if (name == "avx512" && __builtin_cpu_supports("avx512f")) return &kAvx512Kernels;
  if (name == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &kAvx2Kernels;
#endif
  if (name == "generic") return &kGenericKernels;
  return nullptr;
}

const IsaKernels* choose_at_load() {
  // FASTMLP_ISA lowers the choice (tests run every path the CPU has); an unsupported name is ignored.
  if (const char* forced = std::getenv("FASTMLP_ISA")) {
    if (const IsaKernels* table = table_for(forced)) return table;
  }
  for (const std::string& name : supported_isas()) return table_for(name);
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
  for (const char* name : {"avx512bf16", "avx512", "avx2", "generic"}) {
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
