// GEMM kernels written once as plain loops, for the paths that need no intrinsics of their own. Like
// elementwise_impl.h, each kernels_<isa>.cc includes this file and is compiled with its own -m flags, so the
// compiler vectorizes the same code for that ISA. Not a general header: include it only from a kernels_<isa>.cc.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace {

// A few rows at a time against a block of columns kept in stack accumulators (in L1), reading each row of
// B once per group of rows; the inner loop over columns vectorizes for the file's ISA.
constexpr int kRowsMax = 4;
void gemm_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
               int64_t ldb, float beta, float* c, int64_t ldc) {
  constexpr int64_t kCols = 512;
  alignas(64) float acc[kRowsMax][kCols];
  for (int64_t j0 = 0; j0 < n; j0 += kCols) {
    const int64_t nj = std::min(kCols, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += kRowsMax) {
      const int64_t mi = std::min<int64_t>(kRowsMax, m - i0);
      for (int64_t r = 0; r < mi; ++r) std::fill(acc[r], acc[r] + nj, 0.0f);
      for (int64_t p = 0; p < k; ++p) {
        const float* row = b + p * ldb + j0;
        for (int64_t r = 0; r < mi; ++r) {
          const float ap = a[(i0 + r) * rs_a + p * cs_a];
          float* out = acc[r];
          for (int64_t j = 0; j < nj; ++j) out[j] += ap * row[j];
        }
      }
      for (int64_t r = 0; r < mi; ++r) {
        float* dst = c + (i0 + r) * ldc + j0;
        for (int64_t j = 0; j < nj; ++j) dst[j] = alpha * acc[r][j] + (beta != 0.0f ? beta * dst[j] : 0.0f);
      }
    }
  }
}

// Portable PixelPacker: the rows ORed 8 bytes at a time, then each kept pixel read back by index. Unused where
// the instruction set has its own (AVX-512).
[[maybe_unused]] int64_t pack_pixels(const uint8_t* const* src, int64_t rows, int64_t kb, const float* step_scale,
                    const float* row_scale, int mr, int64_t pitch, float* out, int32_t* pixels) {
  alignas(64) uint8_t any[512];
  int64_t p = 0;
  for (; p + 8 <= kb; p += 8) {
    uint64_t word = 0;
    for (int64_t r = 0; r < rows; ++r) {
      uint64_t w;
      std::memcpy(&w, src[r] + p, sizeof w);
      word |= w;
    }
    std::memcpy(any + p, &word, sizeof word);
  }
  for (; p < kb; ++p) {
    uint8_t byte = 0;
    for (int64_t r = 0; r < rows; ++r) byte |= src[r][p];
    any[p] = byte;
  }
  int64_t kept = 0;
  for (p = 0; p < kb; ++p) {
    pixels[kept] = static_cast<int32_t>(p);
    kept += any[p] != 0;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + r * pitch;
    const uint8_t* row = src[r];
    const float s = row_scale[r];
    if (step_scale) {
      for (int64_t q = 0; q < kept; ++q) dst[q] = static_cast<float>(row[pixels[q]]) * step_scale[pixels[q]] * s;
    } else {
      for (int64_t q = 0; q < kept; ++q) dst[q] = static_cast<float>(row[pixels[q]]) * s;
    }
  }
  for (int64_t r = rows; r < mr; ++r) std::fill(out + r * pitch, out + r * pitch + kept, 0.0f);
  return kept;
}

// The rows path of a table: every instruction set takes it from this file.
constexpr void set_gemm_rows(fastmlp::IsaKernels& k) {
  k.gemm_rows = gemm_rows;
  k.rows_max = kRowsMax;
}

}  // namespace
