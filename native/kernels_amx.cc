// AMX kernels: the avx512bf16 table with tile products (TDPBF16PS) for its bf16 GEMM. This file alone is compiled
// with -mamx-tile -mamx-bf16 and the flags of kernels_avx512bf16.cc; it runs only where the CPU has AMX-BF16 and
// the kernel has granted the process its tile data (dispatch.cc).
//
// A 32 × 32 tile of C is four 16 × 16 fp32 tile registers. Each step of 16 pairs loads two tiles of A (16 rows ×
// 16 pairs, from the row layout) and two of B and issues four TDPBF16PS. Panels hold a multiple of 16 pairs, zero
// past the block's end, so every step is a whole tile; a packed B panel is its steps in order, each two 1 KiB
// tiles (columns 0–15, then 16–31), so the step at pair q starts q·32 words in, where the indexed kernel's
// offsets point. From pixels, a step is left out where all 32 rows of the panel are blank: a digit's border.
// TDPBF16PS sums the products inside an instruction in an order of its own, so its bits are not those of
// VDPBF16PS: the same within the bound of fp32 accumulation, and the same from run to run.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "bf16_avx512.h"
#include "kernels.h"

namespace fastmlp {
namespace {

constexpr int kMr = 32, kNr = 32, kStep = 16, kPitch = kBf16Kc / 2;

int64_t padded(int64_t pairs) { return (pairs + kStep - 1) / kStep * kStep; }

// LDTILECFG's operand (palette 1): every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// The tile configuration is per thread: set on the thread's first product and kept (nothing else here changes it).
inline void configure_tiles() {
  thread_local bool configured = false;
  if (configured) return;
  static const TileConfig config;
  _tile_loadconfig(&config);
  configured = true;
}

// c (m × n, m, n ≤ 32) = alpha·(fixed-up a·b) + beta·c over `pairs` (a multiple of 16) pairs: step i of A at
// a + 16·i, its step of B at b + offsets[16·i] (kIndexed) or b + 16·i·32. Tiles 0–3 are C (rows 0–15 and 16–31
// by columns 0–15 and 16–31), 4–5 A, 6–7 B.
template <bool kIndexed>
inline void tile(int64_t pairs, const int32_t* offsets, const uint32_t* a, const uint32_t* b, const Bf16Fixup* fix,
                 float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  configure_tiles();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  constexpr int64_t kRowBytes = 16 * sizeof(uint32_t);
  for (int64_t q = 0; q < pairs; q += kStep) {
    const uint32_t* bq = b + (kIndexed ? offsets[q] : q * kNr);
    _tile_loadd(4, a + q, kPitch * sizeof(uint32_t));
    _tile_loadd(5, a + 16 * kPitch + q, kPitch * sizeof(uint32_t));
    _tile_loadd(6, bq, kRowBytes);
    _tile_loadd(7, bq + 256, kRowBytes);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t stride = ldc * sizeof(float);
  if (!fix && alpha == 1.0f && beta == 0.0f && m == kMr && n == kNr) {
    // Exactly what the general store would write: 1·acc, no beta term.
    _tile_stored(0, c, stride);
    _tile_stored(1, c + 16, stride);
    _tile_stored(2, c + 16 * ldc, stride);
    _tile_stored(3, c + 16 * ldc + 16, stride);
    return;
  }
  alignas(64) float acc[kMr][kNr];
  _tile_stored(0, &acc[0][0], kNr * sizeof(float));
  _tile_stored(1, &acc[0][16], kNr * sizeof(float));
  _tile_stored(2, &acc[16][0], kNr * sizeof(float));
  _tile_stored(3, &acc[16][16], kNr * sizeof(float));
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 mask[2] = {tail_mask(n), n > 16 ? tail_mask(n - 16) : __mmask16(0)};
  for (int r = 0; r < m; ++r)
    for (int v = 0; v < 2; ++v) store16(_mm512_load_ps(&acc[r][16 * v]), fix, r, 16 * v, mask[v], va, vb, beta, c + r * ldc);
}

// Both Bf16Kernel members: A is always in the row layout here (pack_a).
void gemm_32x32(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int64_t m, int64_t n,
                float alpha, float beta) {
  tile<false>(pairs, nullptr, a, b, nullptr, c, ldc, m, n, alpha, beta);
}

// Pixels: the steps pack_pixel_pairs kept, each 16 entries whose first offset is its B step.
void gemm_32x32_pixels(int64_t entries, const int32_t* offsets, const uint32_t* a, const uint32_t* b,
                       const Bf16Fixup& fix, float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile<true>(entries, offsets, a, b, &fix, c, ldc, m, n, alpha, beta);
}

// Bf16APacker, always into the row layout, each row zero to a multiple of 16 pairs. A stored by columns (rs == 1)
// is read 16 pairs × 16 rows at a time and transposed in registers.
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch, uint32_t* out) {
  const int64_t pairs = (kb + 1) / 2, end = padded(pairs);
  if (cs == 1) {
    kAvx512Bf16Kernels.pack_a_bf16(a, rs, cs, rows, kb, mr, pitch, out);
  } else if (rs == 1 && mr % 16 == 0) {
    for (int64_t r0 = 0; r0 < mr; r0 += 16) {
      const __mmask16 lanes = rows > r0 ? tail_mask(rows - r0) : __mmask16(0);
      for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
        __m512i v[16];
        for (int64_t t = 0; t < 16; ++t) {
          const int64_t p = 2 * (q0 + t);
          const __m512 even = p < kb ? _mm512_maskz_loadu_ps(lanes, a + p * cs + r0) : _mm512_setzero_ps();
          const __m512 odd = p + 1 < kb ? _mm512_maskz_loadu_ps(lanes, a + (p + 1) * cs + r0) : _mm512_setzero_ps();
          v[t] = pairs_of(even, odd);
        }
        transpose16(v);
        for (int64_t i = 0; i < 16; ++i) _mm512_storeu_si512(out + (r0 + i) * pitch + q0, v[i]);
      }
    }
  } else {
    for (int64_t r = 0; r < mr; ++r)
      for (int64_t q = 0; q < pairs; ++q) {
        const int64_t p = 2 * q;
        out[r * pitch + q] =
            r < rows ? bf16_pair(a[r * rs + p * cs], p + 1 < kb ? a[r * rs + (p + 1) * cs] : 0.0f) : 0u;
      }
  }
  for (int64_t r = 0; r < mr; ++r) std::fill(out + r * pitch + pairs, out + r * pitch + end, 0u);
}

// Bf16BPacker into steps of two tiles (16 pairs × 16 columns each, zero past the block's pairs and B's columns),
// each tile from the avx512bf16 packer.
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, const float* k_scale,
            float scale, uint32_t* out) {
  const int64_t steps = padded((kb + 1) / 2) / kStep;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t p0 = 2 * kStep * s, len = std::min<int64_t>(2 * kStep, kb - p0);
    for (int64_t j0 = 0; j0 < nr; j0 += 16) {
      uint32_t* dst = out + s * kStep * nr + j0 * kStep;
      const int64_t width = std::min<int64_t>(16, cols - j0);
      if (width <= 0) {
        std::fill(dst, dst + 16 * kStep, 0u);
        continue;
      }
      kAvx512Bf16Kernels.pack_b_bf16(b + p0 * rs + j0 * cs, rs, cs, len, width, 16, k_scale ? k_scale + p0 : nullptr,
                                     scale, dst);
      std::fill(dst + (len + 1) / 2 * 16, dst + 16 * kStep, 0u);
    }
  }
}

// PixelPairPacker by steps: keeps the steps of 16 pairs (32 pixels) where some row has a non-zero pixel, whole,
// and lists each kept step's pairs; the bytes past kb read as zero.
int64_t pack_pixel_pairs(const uint8_t* const* src, int64_t rows, int64_t kb, int mr, int64_t pitch, uint32_t* out,
                         int32_t* pairs) {
  const int64_t steps = (kb + 2 * kStep - 1) / (2 * kStep);
  int64_t kept_steps[kBf16Kc / (2 * kStep)];
  int64_t kept = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t p = 2 * kStep * s, len = std::min<int64_t>(2 * kStep, kb - p);
    __m256i any = _mm256_setzero_si256();
    for (int64_t r = 0; r < rows; ++r) any = _mm256_or_si256(any, load_bytes(src[r] + p, len));
    if (!_mm256_testz_si256(any, any)) kept_steps[kept++] = s;
  }
  for (int64_t r = 0; r < mr; ++r) {
    uint32_t* dst = out + r * pitch;
    if (r >= rows) {
      std::fill(dst, dst + kept * kStep, 0u);
      continue;
    }
    for (int64_t i = 0; i < kept; ++i) {
      const int64_t p = 2 * kStep * kept_steps[i];
      _mm512_storeu_si512(dst + kStep * i, byte_pairs(load_bytes(src[r] + p, std::min<int64_t>(2 * kStep, kb - p))));
    }
  }
  for (int64_t i = 0; i < kept; ++i)
    for (int64_t t = 0; t < kStep; ++t) pairs[kStep * i + t] = static_cast<int32_t>(kStep * kept_steps[i] + t);
  return kept * kStep;
}

IsaKernels make_amx_kernels() {
  IsaKernels k = with_bf16(kAvx512Bf16Kernels, "amx", gemm_32x32, gemm_32x32, gemm_32x32_pixels, pack_a, pack_b,
                           pack_pixel_pairs);
  k.bf16_mr = k.bf16_indexed_mr = kMr;
  k.bf16_nr = k.bf16_indexed_nr = kNr;
  k.bf16_pair_block = kStep;
  return k;
}

}  // namespace

const IsaKernels& amx_kernels() {
  static const IsaKernels table = make_amx_kernels();
  return table;
}

}  // namespace fastmlp
