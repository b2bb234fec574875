// AVX-512 kernels. This file alone is compiled with -mavx512f -mfma; it runs only where the CPU has them.
#include <immintrin.h>

#include "elementwise_impl.h"

namespace fastmlp {
namespace {

constexpr int kMr = 12, kNr = 32, kKc = 512, kNc = 384, kSkinnyMr = 12;

inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// c (m×n) = alpha·(a_panel · b_panel (kc×32)) + beta·c, m ≤ 12, n ≤ 32; A is (kc×12) k-major, or with
// kRows (12 × kc) with rows kKc apart.
template <bool kRows>
void gemm_12x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                       float alpha, float beta) {
  __m512 acc[kMr][2];
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) {
      const __m512 ar = _mm512_set1_ps(a[kRows ? r * kKc : r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kRows ? 1 : kMr;
    b += kNr;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 k0 = tail_mask(n), k1 = n > 16 ? tail_mask(n - 16) : __mmask16(0);
  for (int r = 0; r < kMr && r < m; ++r) {
    float* row = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
    if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, row), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, k0, v0);
    _mm512_mask_storeu_ps(row + 16, k1, v1);
  }
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

}  // namespace

extern const IsaKernels kAvx512Kernels = {
    "avx512",        kMr,          kNr,  kKc, kNc, 16, gemm_12x32_avx512<false>, gemm_12x32_avx512<true>,
    gemm_skinny_12x16_avx512, gemm_rows, kRowsMax, epilogue,
    sigmoid_forward, sigmoid_backward, relu_forward, relu_backward, bias_add, column_sums, standardize_row, sgd,
    momentum,        adam,
};

}  // namespace fastmlp
