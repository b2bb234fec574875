// AVX512-BF16 kernels: the avx512 table with VDPBF16PS for its bf16 products. This file alone is compiled
// with -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mfma; it runs only where the CPU has AVX512-BF16.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "bf16_avx512.h"
#include "kernels.h"

namespace fastmlp {
namespace {

// The avx512 table's tiles (kernels_avx512.cc).
constexpr int kMr = 12, kNr = 32, kIndexedMr = 6, kIndexedNr = 64, kPitch = kBf16Kc / 2;

// The plain kernels' tile (gemm_impl.h, bf16::tile), with VDPBF16PS: kM rows × 16·kV columns.
template <int kM, int kV, bool kRows, bool kIndexed>
inline void tile(int64_t pairs, const int32_t* offsets, const uint32_t* a, const uint32_t* b, const Bf16Fixup* fix,
                 float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  __m512 acc[kM][kV];
#pragma GCC unroll 12
  for (int r = 0; r < kM; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t q = 0; q < pairs; ++q) {
    const uint32_t* bq = kIndexed ? b + offsets[q] : b + q * 16 * kV;
    __m512bh bv[kV];
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) bv[v] = as_bh(_mm512_loadu_si512(bq + 16 * v));
#pragma GCC unroll 12
    for (int r = 0; r < kM; ++r) {
      const __m512bh ar = as_bh(_mm512_set1_epi32(static_cast<int>(a[kRows ? r * kPitch : r])));
#pragma GCC unroll 4
      for (int v = 0; v < kV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, bv[v]);
    }
    a += kRows ? 1 : kM;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __mmask16 mask[kV];
  for (int v = 0; v < kV; ++v) mask[v] = n > 16 * v ? tail_mask(n - 16 * v) : __mmask16(0);
  // Unrolled, so every accumulator is named at compile time and none is kept on the stack.
#pragma GCC unroll 12
  for (int r = 0; r < kM; ++r) {
    if (r >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) store16(acc[r][v], fix, r, 16 * v, mask[v], va, vb, beta, c + r * ldc);
  }
}

template <bool kRows>
void gemm_12x32(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int64_t m, int64_t n,
                float alpha, float beta) {
  tile<kMr, kNr / 16, kRows, false>(pairs, nullptr, a, b, nullptr, c, ldc, m, n, alpha, beta);
}

void gemm_6x64_indexed(int64_t entries, const int32_t* offsets, const uint32_t* a, const uint32_t* b,
                       const Bf16Fixup& fix, float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile<kIndexedMr, kIndexedNr / 16, true, true>(entries, offsets, a, b, &fix, c, ldc, m, n, alpha, beta);
}

// Bf16APacker: 32 steps (16 pairs) of a row at a time in the row layout; 16 rows of a pair at a time k-major.
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch, uint32_t* out) {
  const int64_t pairs = (kb + 1) / 2;
  if (cs == 1) {
    for (int64_t r = 0; r < mr; ++r) {
      uint32_t* dst = out + r * pitch;
      if (r >= rows) {
        std::fill(dst, dst + pairs, 0u);
        continue;
      }
      const float* src = a + r * rs;
      for (int64_t p = 0; p < kb; p += 32) {
        const int64_t len = std::min<int64_t>(32, kb - p);
        const __m512 lo = _mm512_maskz_loadu_ps(tail_mask(len), src + p);
        const __m512 hi = _mm512_maskz_loadu_ps(len > 16 ? tail_mask(len - 16) : __mmask16(0), src + p + 16);
        const __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
        _mm512_mask_storeu_epi32(dst + p / 2, tail_mask((len + 1) / 2), both);
      }
    }
    return;
  }
  if (rs != 1 || mr > 16) {
    for (int64_t q = 0; q < pairs; ++q)
      for (int64_t r = 0; r < mr; ++r) {
        const float even = r < rows ? a[r * rs + 2 * q * cs] : 0.0f;
        const float odd = r < rows && 2 * q + 1 < kb ? a[r * rs + (2 * q + 1) * cs] : 0.0f;
        out[q * mr + r] = bf16_pair(even, odd);
      }
    return;
  }
  const __mmask16 lanes = tail_mask(rows), all = tail_mask(mr);
  for (int64_t q = 0; q < pairs; ++q) {
    const __m512 even = _mm512_maskz_loadu_ps(lanes, a + 2 * q * cs);
    const __m512 odd = 2 * q + 1 < kb ? _mm512_maskz_loadu_ps(lanes, a + (2 * q + 1) * cs) : _mm512_setzero_ps();
    _mm512_mask_storeu_epi32(out + q * mr, all, pairs_of(even, odd));
  }
}

// B stored transposed (each column's steps contiguous): 16 columns × 16 pairs at a time, each column's 32
// steps converted at once, then transposed in registers so each pair's 16 columns are stored together.
void pack_b_transposed(const float* b, int64_t cs, int64_t kb, int64_t cols, int nr, float scale, uint32_t* out) {
  const int64_t pairs = (kb + 1) / 2;
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t j0 = 0; j0 < nr; j0 += 16) {
    for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
      const int64_t p0 = 2 * q0, len = std::min<int64_t>(32, kb - p0);
      const __mmask16 lo = tail_mask(len), hi = len > 16 ? tail_mask(len - 16) : __mmask16(0);
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        if (j0 + i >= cols) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const float* src = b + (j0 + i) * cs + p0;
        const __m512 even = _mm512_mul_ps(_mm512_maskz_loadu_ps(lo, src), vs);
        const __m512 odd = _mm512_mul_ps(_mm512_maskz_loadu_ps(hi, src + 16), vs);
        r[i] = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(odd, even));
      }
      transpose16(r);
      for (int64_t t = 0; t < 16 && q0 + t < pairs; ++t) _mm512_storeu_si512(out + (q0 + t) * nr + j0, r[t]);
    }
  }
}

// Bf16BPacker: 16 columns of a pair of rows at a time when B's rows are contiguous, 16 × 16 blocks when its
// columns are.
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, const float* k_scale,
            float scale, uint32_t* out) {
  if (cs != 1 && rs == 1 && !k_scale && nr % 16 == 0) return pack_b_transposed(b, cs, kb, cols, nr, scale, out);
  const int64_t pairs = (kb + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    const int64_t p = 2 * q;
    const bool odd = p + 1 < kb;
    const float s0 = k_scale ? scale * k_scale[p] : scale, s1 = odd ? (k_scale ? scale * k_scale[p + 1] : scale) : 0.0f;
    uint32_t* dst = out + q * nr;
    if (cs != 1) {
      for (int64_t j = 0; j < cols; ++j)
        dst[j] = bf16_pair(b[p * rs + j * cs] * s0, odd ? b[(p + 1) * rs + j * cs] * s1 : 0.0f);
      std::fill(dst + cols, dst + nr, 0u);
      continue;
    }
    const __m512 v0 = _mm512_set1_ps(s0), v1 = _mm512_set1_ps(s1);
    for (int64_t j = 0; j < nr; j += 16) {
      const __mmask16 mask = j < cols ? tail_mask(cols - j) : __mmask16(0);
      const __m512 even = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, b + p * rs + j), v0);
      const __m512 next = odd ? _mm512_maskz_loadu_ps(mask, b + (p + 1) * rs + j) : _mm512_setzero_ps();
      _mm512_storeu_si512(dst + j, pairs_of(even, _mm512_mul_ps(next, v1)));
    }
  }
}

// PixelPairPacker: 32 pixels (16 pairs) at a time, each row's kept pairs moved together by a compress.
int64_t pack_pixel_pairs(const uint8_t* const* src, int64_t rows, int64_t kb, int mr, int64_t pitch, uint32_t* out,
                         int32_t* pairs) {
  __mmask16 masks[512 / 32];
  const int64_t chunks = (kb + 31) / 32;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t kept = 0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t p = ch * 32, len = std::min<int64_t>(32, kb - p);
    __m256i any = _mm256_setzero_si256();
    for (int64_t r = 0; r < rows; ++r) any = _mm256_or_si256(any, load_bytes(src[r] + p, len));
    const __mmask16 keep = _mm256_test_epi16_mask(any, any);
    masks[ch] = keep;
    const __m512i index = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(p / 2)));
    _mm512_storeu_si512(pairs + kept, _mm512_maskz_compress_epi32(keep, index));
    kept += __builtin_popcount(keep);
  }
  for (int64_t r = 0; r < mr; ++r) {
    uint32_t* dst = out + r * pitch;
    if (r >= rows) {
      std::fill(dst, dst + kept, 0u);
      continue;
    }
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const __mmask16 keep = masks[ch];
      if (keep == 0) continue;
      const int64_t p = ch * 32, len = std::min<int64_t>(32, kb - p);
      _mm512_storeu_si512(dst, _mm512_maskz_compress_epi32(keep, byte_pairs(load_bytes(src[r] + p, len))));
      dst += __builtin_popcount(keep);
    }
  }
  return kept;
}

IsaKernels avx512bf16_kernels() {
  return with_bf16(kAvx512Kernels, "avx512bf16", gemm_12x32<false>, gemm_12x32<true>, gemm_6x64_indexed, pack_a, pack_b,
                   pack_pixel_pairs);
}

}  // namespace

// Built from the avx512 table when the library loads: that table is a constant, initialized before any code runs.
extern const IsaKernels kAvx512Bf16Kernels = avx512bf16_kernels();

}  // namespace fastmlp
