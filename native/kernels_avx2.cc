// AVX2 + FMA kernels. This file alone is compiled with -mavx2 -mfma; it runs only where the CPU has them.
#include <immintrin.h>

#include "augment.h"
#include "elementwise_impl.h"
#include "gemm_impl.h"

namespace fastmlp {
namespace {

constexpr int kMr = 6, kNr = 16, kKc = 256, kNc = 512, kSkinnyMr = 8;

// Lanes [0, n) set, for maskload/maskstore of a row's tail.
inline __m256i tail_mask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(n, 8))), lanes);
}

// row[0, n) = alpha·(v0, v1) + beta·row for the lanes set in k0, k1 (n ≤ 16); row is read only with beta.
inline void store_row(float* row, __m256 v0, __m256 v1, __m256 va, __m256 vb, bool with_beta, __m256i k0, __m256i k1) {
  v0 = _mm256_mul_ps(va, v0);
  v1 = _mm256_mul_ps(va, v1);
  if (with_beta) {
    v0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(row, k0), v0);
    v1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(row + 8, k1), v1);
  }
  _mm256_maskstore_ps(row, k0, v0);
  _mm256_maskstore_ps(row + 8, k1, v1);
}

// c (m×n) = alpha·(a_panel · b_panel (kc×16)) + beta·c, m ≤ 6, n ≤ 16; A is (kc×6) k-major, or with
// kRows (6 × kc) with rows kKc apart; B's rows are ldb apart. With kIndexed (row layout only), step p reads
// the B row at b + offsets[p] instead.
template <bool kRows, bool kIndexed>
inline void tile_6x16(int64_t kc, const int32_t* offsets, const float* a, const float* b, int64_t ldb, float* c,
                      int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = kIndexed ? b + offsets[p] : b;
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + (kRows ? r * kKc : r));
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kRows ? 1 : kMr;
    if (!kIndexed) b += ldb;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256i k0 = tail_mask(n), k1 = tail_mask(n > 8 ? n - 8 : 0);
  // Unrolled, so every accumulator is named at compile time and none is kept on the stack.
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    if (r >= m) break;
    store_row(c + r * ldc, acc[r][0], acc[r][1], va, vb, beta != 0.0f, k0, k1);
  }
}

template <bool kRows>
void gemm_6x16_avx2(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                    int64_t n, float alpha, float beta) {
  tile_6x16<kRows, false>(kc, nullptr, a, b, ldb, c, ldc, m, n, alpha, beta);
}

void gemm_6x16_indexed_avx2(int64_t entries, const int32_t* offsets, const float* a, const float* b, float* c,
                            int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile_6x16<true, true>(entries, offsets, a, b, 0, c, ldc, m, n, alpha, beta);
}

// c (m×n) = alpha·A·b + beta·c for n ≤ 16, A read in place: 8 rows at a time, two registers per row.
void gemm_skinny_8x16_avx2(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                           int64_t cs_a, const float* b, float beta, float* c, int64_t ldc) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256i k0 = tail_mask(n), k1 = tail_mask(n > 8 ? n - 8 : 0);
  for (int64_t i0 = 0; i0 < m; i0 += kSkinnyMr) {
    const int64_t rows = std::min<int64_t>(kSkinnyMr, m - i0);
    const float* a0 = a + i0 * rs_a;
    __m256 acc[kSkinnyMr][2];
#pragma GCC unroll 8
    for (int r = 0; r < kSkinnyMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; ++p) {
      const __m256 b0 = _mm256_load_ps(b + p * 16), b1 = _mm256_load_ps(b + p * 16 + 8);
      const float* ap = a0 + p * cs_a;
      if (rows == kSkinnyMr) {
#pragma GCC unroll 8
        for (int r = 0; r < kSkinnyMr; ++r) {
          const __m256 ar = _mm256_broadcast_ss(ap + r * rs_a);
          acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
        }
      } else {
        for (int r = 0; r < rows; ++r) {
          const __m256 ar = _mm256_broadcast_ss(ap + r * rs_a);
          acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
        }
      }
    }
    for (int r = 0; r < rows; ++r) store_row(c + (i0 + r) * ldc, acc[r][0], acc[r][1], va, vb, beta != 0.0f, k0, k1);
  }
}

constexpr IsaKernels avx2_kernels() {
  IsaKernels k{};
  k.name = "avx2";
  k.mr = kMr;
  k.nr = kNr;
  k.kc = kKc;
  k.nc = kNc;
  k.skinny_nr = 16;
  k.gemm_microkernel = gemm_6x16_avx2<false>;
  k.gemm_microkernel_rows = gemm_6x16_avx2<true>;
  k.indexed_mr = kMr;
  k.indexed_nr = kNr;
  k.gemm_indexed = gemm_6x16_indexed_avx2;
  k.gemm_skinny = gemm_skinny_8x16_avx2;
  // No column kernel of its own: the row kernel serves contiguous rows too.
  k.gemm_skinny_columns = gemm_skinny_8x16_avx2;
  set_gemm_rows(k);
  set_bf16<kMr, kNr, kMr, kNr>(k);
  k.pack_pixels = pack_pixels;
  k.pack_b = pack_b;
  set_elementwise(k);
  k.sample_affine_row = fastmlp::sample_affine_row;
  return k;
}
#if !defined(FASTMLP_SANITIZE)
static_assert(complete(avx2_kernels()), "every member of the avx2 table is set");
#endif

}  // namespace

extern const IsaKernels kAvx2Kernels = avx2_kernels();

}  // namespace fastmlp
