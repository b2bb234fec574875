// AVX-512 kernels. This file alone is compiled with -mavx512f -mfma; it runs only where the CPU has them.
#include <immintrin.h>

#include "avx512.h"
#include "elementwise_impl.h"
#include "gemm_impl.h"

namespace fastmlp {
namespace {

constexpr int kMr = 12, kNr = 32, kKc = 512, kNc = 384, kSkinnyMr = 12;

// c (m×n) = alpha·(a_panel · b_panel (kc × 16·kV)) + beta·c, m ≤ kM, n ≤ 16·kV; A is (kc × kM) k-major, or
// with kRows (kM × kc) with rows kKc apart; B's rows are ldb apart. With kIndexed, step p reads the B row at
// b + offsets[p] instead.
template <int kM, int kV, bool kRows, bool kIndexed>
inline void tile(int64_t kc, const int32_t* offsets, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                 int64_t m, int64_t n, float alpha, float beta) {
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
    float* row = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      __m512 out = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], row + 16 * v), out);
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], out);
    }
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

// The first n ≤ 16 bytes at src, the rest zero, without reading past src + n.
inline __m128i load_bytes(const uint8_t* src, int64_t n) {
  if (n == 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  alignas(16) uint8_t part[16] = {};
  std::memcpy(part, src, static_cast<size_t>(n));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(part));
}

// PixelPacker: 16 pixels at a time, the kept ones of each row moved together by a compress.
int64_t pack_pixels_avx512(const uint8_t* const* src, int64_t rows, int64_t kb, const float* step_scale,
                           const float* row_scale, int mr, int64_t pitch, float* out, int32_t* pixels) {
  __mmask16 masks[512 / 16];
  const int64_t chunks = (kb + 15) / 16;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t kept = 0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t p = ch * 16, len = std::min<int64_t>(16, kb - p);
    __m128i any = _mm_setzero_si128();
    for (int64_t r = 0; r < rows; ++r) any = _mm_or_si128(any, load_bytes(src[r] + p, len));
    const auto zero = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(any, _mm_setzero_si128())));
    const __mmask16 keep = static_cast<__mmask16>(~zero) & tail_mask(len);
    masks[ch] = keep;
    const __m512i index = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(p)));
    _mm512_storeu_si512(pixels + kept, _mm512_maskz_compress_epi32(keep, index));
    kept += __builtin_popcount(keep);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + r * pitch;
    const __m512 s0 = _mm512_set1_ps(row_scale[r]);
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const __mmask16 keep = masks[ch];
      if (keep == 0) continue;
      const int64_t p = ch * 16, len = std::min<int64_t>(16, kb - p);
      const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(load_bytes(src[r] + p, len)));
      const __m512 s = step_scale ? _mm512_mul_ps(_mm512_maskz_loadu_ps(tail_mask(len), step_scale + p), s0) : s0;
      _mm512_storeu_ps(dst, _mm512_maskz_compress_ps(keep, _mm512_mul_ps(v, s)));
      dst += __builtin_popcount(keep);
    }
  }
  for (int64_t r = rows; r < mr; ++r) std::fill(out + r * pitch, out + r * pitch + kept, 0.0f);
  return kept;
}

// FloatBPacker: B stored transposed (columns contiguous, as W is for dX = dY·Wᵀ) 16 columns × 16 steps at a
// time, transposed in registers; any other B as the portable packer does.
void pack_b_avx512(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, float* out) {
  if (cs == 1 || rs != 1 || nr % 16 != 0) return pack_b(b, rs, cs, kb, cols, nr, out);
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
  set_gemm_rows(k);
  set_bf16<kMr, kNr, kIndexedMr, kIndexedNr>(k);
  k.pack_pixels = pack_pixels_avx512;
  k.pack_b = pack_b_avx512;
  set_elementwise(k);
  return k;
}
#if !defined(FASTMLP_SANITIZE)
static_assert(complete(avx512_kernels()), "every member of the avx512 table is set");
#endif

}  // namespace

extern const IsaKernels kAvx512Kernels = avx512_kernels();

}  // namespace fastmlp
