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

// Portable FloatBPacker. Rows of B contiguous (cs 1): a copy per step. Otherwise 16 steps at a time, so the
// writes of a column stay within 16 rows of the panel while its reads run along one cache line.
[[maybe_unused]] void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, float* out) {
  if (cs == 1) {
    for (int64_t p = 0; p < kb; ++p) {
      const float* src = b + p * rs;
      float* dst = out + p * nr;
      std::copy(src, src + cols, dst);
      std::fill(dst + cols, dst + nr, 0.0f);
    }
    return;
  }
  constexpr int64_t kSteps = 16;
  for (int64_t p0 = 0; p0 < kb; p0 += kSteps) {
    const int64_t p1 = std::min(kb, p0 + kSteps);
    for (int64_t j = 0; j < cols; ++j) {
      const float* src = b + j * cs;
      for (int64_t p = p0; p < p1; ++p) out[p * nr + j] = src[p * rs];
    }
  }
  for (int64_t p = 0; p < kb; ++p) std::fill(out + p * nr + cols, out + (p + 1) * nr, 0.0f);
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

// bf16 (kernels.h): the plain-arithmetic kernels, for the tables of CPUs without VDPBF16PS. Each pair adds its
// odd step's exact product, then its even step's, rounding each sum: VDPBF16PS's bits.
namespace bf16 {

using fastmlp::Bf16Fixup;
using fastmlp::bf16_pair;
using fastmlp::from_bf16;

// c (m×n) = alpha·(fixed-up tile) + beta·c: the one store every bf16 kernel ends with, fma by fma.
template <int kM, int kN>
inline void store_tile(const float (&acc)[kM][kN], const Bf16Fixup* fix, float* c, int64_t ldc, int64_t m, int64_t n,
                       float alpha, float beta) {
  for (int64_t r = 0; r < m; ++r) {
    float* row = c + r * ldc;
    for (int64_t j = 0; j < n; ++j) {
      float v = acc[r][j];
      if (fix) v = __builtin_fmaf(fix->corr_a[r], fix->corr_b[j], v * fix->row_scale[r]);
      v = alpha * v;
      row[j] = beta != 0.0f ? __builtin_fmaf(beta, row[j], v) : v;
    }
  }
}

// A is k-major (pairs × kM), or with kRows row r's pairs at a + r·kPitch; with kIndexed pair q of B starts at
// b + offsets[q], else at b + q·kN.
template <int kM, int kN, int kPitch, bool kRows, bool kIndexed>
inline void tile(int64_t pairs, const int32_t* offsets, const uint32_t* a, const uint32_t* b, const Bf16Fixup* fix,
                 float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  alignas(64) float acc[kM][kN] = {};
  for (int64_t q = 0; q < pairs; ++q) {
    const uint32_t* bq = kIndexed ? b + offsets[q] : b + q * kN;
    float odd[kN], even[kN];
    for (int j = 0; j < kN; ++j) {
      odd[j] = from_bf16(bq[j] >> 16);
      even[j] = from_bf16(bq[j]);
    }
    for (int r = 0; r < kM; ++r) {
      const uint32_t ar = kRows ? a[r * kPitch + q] : a[q * kM + r];
      const float a_odd = from_bf16(ar >> 16), a_even = from_bf16(ar);
      for (int j = 0; j < kN; ++j) {
        acc[r][j] += a_odd * odd[j];
        acc[r][j] += a_even * even[j];
      }
    }
  }
  store_tile<kM, kN>(acc, fix, c, ldc, m, n, alpha, beta);
}

template <int kM, int kN, int kPitch, bool kRows>
void gemm(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int64_t m, int64_t n, float alpha,
          float beta) {
  tile<kM, kN, kPitch, kRows, false>(pairs, nullptr, a, b, nullptr, c, ldc, m, n, alpha, beta);
}

template <int kM, int kN, int kPitch>
void gemm_indexed(int64_t entries, const int32_t* offsets, const uint32_t* a, const uint32_t* b, const Bf16Fixup& fix,
                  float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile<kM, kN, kPitch, true, true>(entries, offsets, a, b, &fix, c, ldc, m, n, alpha, beta);
}

[[maybe_unused]] void pack_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch,
                             uint32_t* out) {
  const int64_t pairs = (kb + 1) / 2;
  const auto at = [&](int64_t r, int64_t p) { return p < kb ? a[r * rs + p * cs] : 0.0f; };
  if (cs == 1) {
    for (int64_t r = 0; r < mr; ++r)
      for (int64_t q = 0; q < pairs; ++q) out[r * pitch + q] = r < rows ? bf16_pair(at(r, 2 * q), at(r, 2 * q + 1)) : 0;
    return;
  }
  for (int64_t q = 0; q < pairs; ++q)
    for (int64_t r = 0; r < mr; ++r) out[q * mr + r] = r < rows ? bf16_pair(at(r, 2 * q), at(r, 2 * q + 1)) : 0;
}

[[maybe_unused]] void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr,
                             const float* k_scale, float scale, uint32_t* out) {
  const int64_t pairs = (kb + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    const int64_t p = 2 * q;
    const bool odd = p + 1 < kb;
    const float s0 = k_scale ? scale * k_scale[p] : scale, s1 = odd ? (k_scale ? scale * k_scale[p + 1] : scale) : 0.0f;
    for (int64_t j = 0; j < cols; ++j)
      out[q * nr + j] = bf16_pair(b[p * rs + j * cs] * s0, odd ? b[(p + 1) * rs + j * cs] * s1 : 0.0f);
    for (int64_t j = cols; j < nr; ++j) out[q * nr + j] = 0;
  }
}

// A byte as bfloat16: its float's upper half, exactly.
inline uint32_t byte_bf16(uint8_t v) { return static_cast<uint32_t>(fastmlp::to_bf16(static_cast<float>(v))); }

[[maybe_unused]] int64_t pack_pixel_pairs(const uint8_t* const* src, int64_t rows, int64_t kb, int mr, int64_t pitch,
                                          uint32_t* out, int32_t* pairs) {
  const int64_t n_pairs = (kb + 1) / 2;
  int64_t kept = 0;
  for (int64_t q = 0; q < n_pairs; ++q) {
    uint8_t any = 0;
    for (int64_t r = 0; r < rows; ++r) any |= src[r][2 * q] | (2 * q + 1 < kb ? src[r][2 * q + 1] : 0);
    pairs[kept] = static_cast<int32_t>(q);
    kept += any != 0;
  }
  for (int64_t r = 0; r < mr; ++r) {
    uint32_t* dst = out + r * pitch;
    for (int64_t i = 0; i < kept; ++i) {
      const int64_t p = 2 * static_cast<int64_t>(pairs[i]);
      dst[i] = r < rows ? byte_bf16(src[r][p]) | (p + 1 < kb ? byte_bf16(src[r][p + 1]) << 16 : 0) : 0;
    }
  }
  return kept;
}

}  // namespace bf16

// The bf16 tiles of a table that runs them on its fp32 tiles: one pair a block, pair_words words a pair.
template <int kMr, int kNr, int kIndexedMr, int kIndexedNr>
constexpr void set_bf16_tiles(fastmlp::IsaKernels& k, int pair_words) {
  k.bf16_mr = kMr;
  k.bf16_nr = kNr;
  k.bf16_indexed_mr = kIndexedMr;
  k.bf16_indexed_nr = kIndexedNr;
  k.bf16_pair_block = 1;
  k.bf16_pair_words = pair_words;
}

// The bf16 members of a table without VDPBF16PS, on the table's own tiles.
template <int kMr, int kNr, int kIndexedMr, int kIndexedNr>
constexpr void set_bf16(fastmlp::IsaKernels& k) {
  constexpr int kPitch = fastmlp::kBf16Kc / 2;
  set_bf16_tiles<kMr, kNr, kIndexedMr, kIndexedNr>(k, 1);
  k.gemm_bf16 = bf16::gemm<kMr, kNr, kPitch, false>;
  k.gemm_bf16_rows = bf16::gemm<kMr, kNr, kPitch, true>;
  k.gemm_bf16_indexed = bf16::gemm_indexed<kIndexedMr, kIndexedNr, kPitch>;
  k.pack_a_bf16 = bf16::pack_a;
  k.pack_b_bf16 = bf16::pack_b;
  k.pack_pixel_pairs = bf16::pack_pixel_pairs;
}

}  // namespace
