// AVX-512 kernels. This file alone is compiled with -mavx512f -mfma; it runs only where the CPU has them.
#include <immintrin.h>

#include <array>
#include <cmath>
#include <utility>

#include "avx512.h"
#include "augment.h"
#include "elementwise_impl.h"
#include "gemm_impl.h"

namespace fastmlp {
namespace {

constexpr int kMr = 12, kNr = 32, kKc = 512, kNc = 384, kSkinnyMr = 12;
// A two-word bf16 panel in the row layout has its rows kBf16Kc floats apart: the fp32 tile's own pitch.
static_assert(kKc == kBf16Kc, "bf16 panels share the fp32 row pitch");

// c (m×n) = alpha·(a_panel · b_panel (kc × 16·kV)) + beta·c, m ≤ kM, n ≤ 16·kV; A is (kc × kM) k-major, or
// with kRows (kM × kc) with rows kKc apart; B's rows are ldb apart. With kIndexed, step p reads the B row at
// b + offsets[p] instead. A bf16 product from pixels has its fixup applied to the sums first.
template <int kM, int kV, bool kRows, bool kIndexed>
inline void tile(int64_t kc, const int32_t* offsets, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                 int64_t m, int64_t n, float alpha, float beta, const Bf16Fixup* fix = nullptr) {
  __m512 acc[kM][kV];
#pragma GCC unroll 12
  for (int r = 0; r < kM; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = kIndexed ? b + offsets[p] : b;
    __m512 bv[kV];
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < kM; ++r) {
      const __m512 ar = _mm512_set1_ps(a[kRows ? r * kKc : r]);
#pragma GCC unroll 4
      for (int v = 0; v < kV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += kRows ? 1 : kM;
    if (!kIndexed) b += ldb;
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
void gemm_12x32_avx512(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                       int64_t n, float alpha, float beta) {
  tile<kMr, kNr / 16, kRows, false>(kc, nullptr, a, b, ldb, c, ldc, m, n, alpha, beta);
}

// Pixel panels of 6 rows: the fewer rows a panel has, the more steps of k are blank in all of them and left
// out (what that saves on MNIST: `npm run bench -- gemm`, the "from pixels" shapes), and 6 × 64 still keeps
// 24 accumulators with 4 loads of B per 24 FMAs.
constexpr int kIndexedMr = 6, kIndexedNr = 64;
void gemm_6x64_indexed_avx512(int64_t entries, const int32_t* offsets, const float* a, const float* b, float* c,
                              int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile<kIndexedMr, kIndexedNr / 16, true, true>(entries, offsets, a, b, 0, c, ldc, m, n, alpha, beta);
}

// c (m×n) = alpha·A·b + beta·c for n ≤ 16, A read in place: 12 rows at a time, one register per row.
void gemm_skinny_12x16_avx512(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                              int64_t cs_a, const float* b, float beta, float* c, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 mask = tail_mask(n);
  for (int64_t i0 = 0; i0 < m; i0 += kSkinnyMr) {
    const int64_t rows = std::min<int64_t>(kSkinnyMr, m - i0);
    const float* a0 = a + i0 * rs_a;
    __m512 acc[kSkinnyMr];
#pragma GCC unroll 12
    for (int r = 0; r < kSkinnyMr; ++r) acc[r] = _mm512_setzero_ps();
    if (rows == kSkinnyMr) {
      for (int64_t p = 0; p < k; ++p) {
        const __m512 bp = _mm512_load_ps(b + p * 16);
        const float* ap = a0 + p * cs_a;
#pragma GCC unroll 12
        for (int r = 0; r < kSkinnyMr; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap[r * rs_a]), bp, acc[r]);
      }
    } else {
      for (int64_t p = 0; p < k; ++p) {
        const __m512 bp = _mm512_load_ps(b + p * 16);
        const float* ap = a0 + p * cs_a;
        for (int r = 0; r < rows; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap[r * rs_a]), bp, acc[r]);
      }
    }
    for (int r = 0; r < rows; ++r) {
      float* row = c + (i0 + r) * ldc;
      __m512 v = _mm512_mul_ps(va, acc[r]);
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, row), v);
      _mm512_mask_storeu_ps(row, mask, v);
    }
  }
}

// The same product with A's rows contiguous (rs_a == 1: the transposed activations of a gradient Aᵀ·dZ):
// 16·kV rows of C across the lanes of kV registers, one set per column of the kN, so that no lane idles
// when n is far below 16. Each element is the sum gemm_skinny_12x16_avx512 computes, product by product in
// the same order and rounded the same: the same bits.
template <int kN, int kV>
void skinny_columns(int64_t m, int64_t k, float alpha, const float* a, int64_t cs_a, const float* b, float beta,
                    float* c, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (int64_t i0 = 0; i0 < m; i0 += 16 * kV) {
    __mmask16 mask[kV];
#pragma GCC unroll 2
    for (int v = 0; v < kV; ++v) mask[v] = m - i0 > 16 * v ? tail_mask(m - i0 - 16 * v) : __mmask16(0);
    __m512 acc[kN][kV];
#pragma GCC unroll 16
    for (int j = 0; j < kN; ++j)
#pragma GCC unroll 2
      for (int v = 0; v < kV; ++v) acc[j][v] = _mm512_setzero_ps();
    const float* ap = a + i0;
    for (int64_t p = 0; p < k; ++p, ap += cs_a) {
      __m512 av[kV];
#pragma GCC unroll 2
      for (int v = 0; v < kV; ++v) av[v] = _mm512_maskz_loadu_ps(mask[v], ap + 16 * v);
      const float* bp = b + p * 16;
#pragma GCC unroll 16
      for (int j = 0; j < kN; ++j) {
        const __m512 bj = _mm512_set1_ps(bp[j]);
#pragma GCC unroll 2
        for (int v = 0; v < kV; ++v) acc[j][v] = _mm512_fmadd_ps(av[v], bj, acc[j][v]);
      }
    }
    // Lane r of column j's register is C(i0 + r, j): through a buffer, a row of C at a time.
    alignas(64) float out[kN][16 * kV];
#pragma GCC unroll 16
    for (int j = 0; j < kN; ++j)
#pragma GCC unroll 2
      for (int v = 0; v < kV; ++v) _mm512_store_ps(&out[j][16 * v], _mm512_mul_ps(va, acc[j][v]));
    const int64_t rows = std::min<int64_t>(16 * kV, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = c + (i0 + r) * ldc;
      for (int j = 0; j < kN; ++j) row[j] = beta != 0.0f ? std::fma(beta, row[j], out[j][r]) : out[j][r];
    }
  }
}

using ColumnsKernel = void (*)(int64_t, int64_t, float, const float*, int64_t, const float*, float, float*, int64_t);

// Two registers of rows while their accumulators and loads fit the 32 registers, one above.
template <int... kN>
constexpr std::array<ColumnsKernel, sizeof...(kN)> columns_kernels(std::integer_sequence<int, kN...>) {
  return {skinny_columns<kN + 1, (kN + 1 <= 14 ? 2 : 1)>...};
}
constexpr auto kColumnsKernels = columns_kernels(std::make_integer_sequence<int, 16>{});

void gemm_skinny_columns_avx512(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t, int64_t cs_a,
                                const float* b, float beta, float* c, int64_t ldc) {
  kColumnsKernels[n - 1](m, k, alpha, a, cs_a, b, beta, c, ldc);
}

// The first n ≤ 16 bytes at src, the rest zero, without reading past src + n.
inline __m128i load_bytes(const uint8_t* src, int64_t n) {
  if (n == 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  alignas(16) uint8_t part[16] = {};
  std::memcpy(part, src, static_cast<size_t>(n));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(part));
}

// 16 pixels of a row from p on (the rest of the row zero), as the panel takes them: with kPairs, the two of
// each step pair swapped (the odd step first, bf16_pair_words 2).
template <bool kPairs>
inline __m128i panel_bytes(const uint8_t* row, int64_t p, int64_t kb) {
  const __m128i bytes = load_bytes(row + p, std::min<int64_t>(16, kb - p));
  if (!kPairs) return bytes;
  return _mm_shuffle_epi8(bytes, _mm_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
}

// PixelPacker: 16 pixels at a time, the kept ones of each row moved together by a compress. With kPairs, the
// pixel packer of two-word bf16 panels: steps in the panel's order, the pixels as they are (no scale).
template <bool kPairs>
int64_t pack_pixels_avx512(const uint8_t* const* src, int64_t rows, int64_t kb, const float* step_scale,
                           const float* row_scale, int mr, int64_t pitch, float* out, int32_t* pixels) {
  __mmask16 masks[512 / 16];
  const int64_t steps = kPairs ? (kb + 1) / 2 * 2 : kb;
  const int64_t chunks = (steps + 15) / 16;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t kept = 0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t p = ch * 16;
    __m128i any = _mm_setzero_si128();
    for (int64_t r = 0; r < rows; ++r) any = _mm_or_si128(any, panel_bytes<kPairs>(src[r], p, kb));
    const auto zero = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(any, _mm_setzero_si128())));
    const __mmask16 keep = static_cast<__mmask16>(~zero) & tail_mask(steps - p);
    masks[ch] = keep;
    const __m512i index = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(p)));
    _mm512_storeu_si512(pixels + kept, _mm512_maskz_compress_epi32(keep, index));
    kept += __builtin_popcount(keep);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + r * pitch;
    const __m512 s0 = _mm512_set1_ps(kPairs ? 1.0f : row_scale[r]);
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const __mmask16 keep = masks[ch];
      if (keep == 0) continue;
      const int64_t p = ch * 16;
      __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(panel_bytes<kPairs>(src[r], p, kb)));
      if (!kPairs) {
        const __mmask16 len = tail_mask(kb - p);
        v = _mm512_mul_ps(v, step_scale ? _mm512_mul_ps(_mm512_maskz_loadu_ps(len, step_scale + p), s0) : s0);
      }
      _mm512_storeu_ps(dst, _mm512_maskz_compress_ps(keep, v));
      dst += __builtin_popcount(keep);
    }
  }
  for (int64_t r = rows; r < mr; ++r) std::fill(out + r * pitch, out + r * pitch + kept, 0.0f);
  return kept;
}

// FloatBPacker: B stored transposed (columns contiguous, as W is for dX = dY·Wᵀ) 16 columns × 16 steps at a
// time, transposed in registers; any other B as the portable packer does.
void pack_b_avx512(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, float* out) {
  if (nr % 16 != 0) return pack_b(b, rs, cs, kb, cols, nr, out);
  if (cs == 1) {
    // A step's row, padded to nr, in masked vectors: no call per step, as a copy of a few dozen floats would be.
    for (int64_t p = 0; p < kb; ++p) {
      for (int64_t j = 0; j < nr; j += 16) {
        const __mmask16 mask = j < cols ? tail_mask(cols - j) : __mmask16(0);
        _mm512_storeu_ps(out + p * nr + j, _mm512_maskz_loadu_ps(mask, b + p * rs + j));
      }
    }
    return;
  }
  if (rs != 1) return pack_b(b, rs, cs, kb, cols, nr, out);
  for (int64_t j0 = 0; j0 < nr; j0 += 16) {
    for (int64_t p0 = 0; p0 < kb; p0 += 16) {
      const __mmask16 mask = tail_mask(kb - p0);
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        r[i] = j0 + i < cols ? _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, b + (j0 + i) * cs + p0)) : _mm512_setzero_si512();
      }
      transpose16(r);
      for (int64_t t = 0; t < 16 && p0 + t < kb; ++t) _mm512_storeu_si512(out + (p0 + t) * nr + j0, r[t]);
    }
  }
}

// bf16 products as fp32 FMAs (bf16_pair_words 2, kernels.h). Intel's cores issue VDPBF16PS at a quarter of
// the rate of 512-bit FMAs (Emerald Rapids, independent accumulators: 1.35 G against 5.5 G instructions a
// second), which is half the multiply-adds of fp32; there the same products, the operands rounded as they are packed and then summed by
// the fp32 tiles, run at the speed of fp32 with the bits of every other table (dispatch.cc chooses this table).

// x rounded to bfloat16 as to_bf16 rounds (kernels.h), widened back to a float.
inline __m512 round_bf16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x), high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  const __m512i exponent = _mm512_and_si512(u, _mm512_set1_epi32(0x7F800000));
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_and_si512(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), high);
  const __mmask16 tiny = _mm512_cmpeq_epi32_mask(exponent, _mm512_setzero_si512());
  const __mmask16 special = _mm512_cmpeq_epi32_mask(exponent, _mm512_set1_epi32(0x7F800000));
  const __mmask16 nan = special & _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x7FFFFF));
  r = _mm512_mask_and_epi32(r, tiny, u, _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  r = _mm512_mask_and_epi32(r, special, u, high);
  r = _mm512_mask_or_epi32(r, nan, r, _mm512_set1_epi32(0x400000));
  return _mm512_castsi512_ps(r);
}
inline float round_bf16(float x) { return from_bf16(to_bf16(x)); }

// The two steps of each pair of 16 swapped: lanes 1, 0, 3, 2, …
inline __m512 swap_pairs(__m512 v) { return _mm512_permute_ps(v, 0xB1); }

// Bf16APacker: panel step 2q is A's step 2q + 1, panel step 2q + 1 A's step 2q; steps past kb are zero.
void pack_a_bf16_fma(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch,
                     uint32_t* words) {
  float* out = reinterpret_cast<float*>(words);
  const int64_t steps = (kb + 1) / 2 * 2;
  if (cs == 1) {
    for (int64_t r = 0; r < mr; ++r) {
      float* dst = out + r * pitch;
      if (r >= rows) {
        std::fill(dst, dst + steps, 0.0f);
        continue;
      }
      for (int64_t p = 0; p < steps; p += 16) {
        const __m512 v = round_bf16(_mm512_maskz_loadu_ps(tail_mask(kb - p), a + r * rs + p));
        _mm512_mask_storeu_ps(dst + p, tail_mask(steps - p), swap_pairs(v));
      }
    }
    return;
  }
  for (int64_t p = 0; p < steps; ++p) {
    float* dst = out + p * mr;
    const int64_t step = p ^ 1;
    if (step >= kb) {
      std::fill(dst, dst + mr, 0.0f);
    } else if (rs == 1) {
      // Aᵀ of a row-major A: the step's rows are contiguous.
      for (int64_t r = 0; r < mr; r += 16) {
        const __mmask16 lanes = r < rows ? tail_mask(rows - r) : __mmask16(0);
        _mm512_mask_storeu_ps(dst + r, tail_mask(mr - r), round_bf16(_mm512_maskz_loadu_ps(lanes, a + step * cs + r)));
      }
    } else {
      for (int64_t r = 0; r < mr; ++r) dst[r] = r < rows ? round_bf16(a[r * rs + step * cs]) : 0.0f;
    }
  }
}

// Bf16BPacker: B packed as fp32 (pack_b_avx512), then each pair of rows scaled, rounded and swapped in place.
void pack_b_bf16_fma(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, const float* k_scale,
                     float scale, uint32_t* words) {
  float* out = reinterpret_cast<float*>(words);
  pack_b_avx512(b, rs, cs, kb, cols, nr, out);
  for (int64_t p = 0; p < kb; p += 2) {
    const bool odd = p + 1 < kb;
    const float s0 = k_scale ? scale * k_scale[p] : scale, s1 = odd ? (k_scale ? scale * k_scale[p + 1] : scale) : 0.0f;
    float* even_row = out + p * nr;
    float* odd_row = even_row + nr;
    for (int64_t j = 0; j < nr; j += 16) {
      const __m512 even = _mm512_mul_ps(_mm512_loadu_ps(even_row + j), _mm512_set1_ps(s0));
      const __m512 next = odd ? _mm512_mul_ps(_mm512_loadu_ps(odd_row + j), _mm512_set1_ps(s1)) : _mm512_setzero_ps();
      _mm512_storeu_ps(even_row + j, round_bf16(next));
      _mm512_storeu_ps(odd_row + j, round_bf16(even));
    }
  }
}

int64_t pack_pixel_pairs_fma(const uint8_t* const* src, int64_t rows, int64_t kb, int mr, int64_t pitch,
                             uint32_t* words, int32_t* steps) {
  return pack_pixels_avx512<true>(src, rows, kb, nullptr, nullptr, mr, pitch, reinterpret_cast<float*>(words), steps);
}

template <bool kRows>
void gemm_bf16_12x32_fma(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int64_t m,
                         int64_t n, float alpha, float beta) {
  tile<kMr, kNr / 16, kRows, false>(2 * pairs, nullptr, reinterpret_cast<const float*>(a),
                                    reinterpret_cast<const float*>(b), kNr, c, ldc, m, n, alpha, beta);
}

void gemm_bf16_6x64_indexed_fma(int64_t entries, const int32_t* offsets, const uint32_t* a, const uint32_t* b,
                                const Bf16Fixup& fix, float* c, int64_t ldc, int64_t m, int64_t n, float alpha,
                                float beta) {
  tile<kIndexedMr, kIndexedNr / 16, true, true>(entries, offsets, reinterpret_cast<const float*>(a),
                                                reinterpret_cast<const float*>(b), 0, c, ldc, m, n, alpha, beta, &fix);
}

constexpr IsaKernels avx512_kernels() {
  IsaKernels k{};
  k.name = "avx512";
  k.mr = kMr;
  k.nr = kNr;
  k.kc = kKc;
  k.nc = kNc;
  k.skinny_nr = 16;
  k.gemm_microkernel = gemm_12x32_avx512<false>;
  k.gemm_microkernel_rows = gemm_12x32_avx512<true>;
  k.indexed_mr = kIndexedMr;
  k.indexed_nr = kIndexedNr;
  k.gemm_indexed = gemm_6x64_indexed_avx512;
  k.gemm_skinny = gemm_skinny_12x16_avx512;
  k.gemm_skinny_columns = gemm_skinny_columns_avx512;
  set_gemm_rows(k);
  set_bf16_tiles<kMr, kNr, kIndexedMr, kIndexedNr>(k, 2);
  k.gemm_bf16 = gemm_bf16_12x32_fma<false>;
  k.gemm_bf16_rows = gemm_bf16_12x32_fma<true>;
  k.gemm_bf16_indexed = gemm_bf16_6x64_indexed_fma;
  k.pack_a_bf16 = pack_a_bf16_fma;
  k.pack_b_bf16 = pack_b_bf16_fma;
  k.pack_pixel_pairs = pack_pixel_pairs_fma;
  k.pack_pixels = pack_pixels_avx512<false>;
  k.pack_b = pack_b_avx512;
  set_elementwise(k);
  k.sample_affine_row = fastmlp::sample_affine_row_avx512;
  return k;
}
#if !defined(FASTMLP_SANITIZE)
static_assert(complete(avx512_kernels()), "every member of the avx512 table is set");
#endif

}  // namespace

extern const IsaKernels kAvx512Kernels = avx512_kernels();

}  // namespace fastmlp
