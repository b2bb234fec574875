// Which kernel table runs, for the whole process: the best the CPU supports, chosen once at load time,
// overridable for tests.
#pragma once

#include <string>
#include <vector>

#include "kernels.h"

namespace fastmlp {

// The table every thread of the process uses now.
const IsaKernels& kernels();

// Names of the instruction sets this CPU supports, best first ("amx", "avx512bf16", "avx512", "avx2", "generic";
// avx512bf16 is avx512 with VDPBF16PS for bf16 products, amx is avx512bf16 with AMX tiles for them).
std::vector<std::string> supported_isas();

// Switches every thread of the process (async work included) to a supported instruction set; returns false
// (and changes nothing) for any other name.
bool set_isa(const std::string& name);

}  // namespace fastmlp
