// Portable kernels in plain C++: what runs on a CPU without AVX2 (or when forced for tests).
#include "augment.h"
#include "elementwise_impl.h"
#include "gemm_impl.h"

namespace fastmlp {
namespace {

constexpr int kMr = 4, kNr = 8, kKc = 256, kNc = 512, kSkinnyNr = 8;

// c (m×n) = alpha·(a_panel · b_panel (kc×8)) + beta·c, m ≤ 4, n ≤ 8; A is (kc×4) k-major, or with kRows
// (4 × kc) with rows kKc apart; B's rows are ldb apart. With kIndexed, step p reads the B row at
// b + offsets[p] instead.
template <bool kRows, bool kIndexed>
inline void tile_4x8(int64_t kc, const int32_t* offsets, const float* a, const float* b, int64_t ldb, float* c,
                     int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  float acc[kMr][kNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = kIndexed ? b + offsets[p] : b;
    for (int r = 0; r < kMr; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] += a[kRows ? r * kKc : r] * bp[j];
    a += kRows ? 1 : kMr;
    if (!kIndexed) b += ldb;
  }
  for (int64_t r = 0; r < m; ++r) {
    float* row = c + r * ldc;
    for (int64_t j = 0; j < n; ++j) row[j] = alpha * acc[r][j] + (beta != 0.0f ? beta * row[j] : 0.0f);
  }
}

template <bool kRows>
void gemm_4x8_generic(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m,
                      int64_t n, float alpha, float beta) {
  tile_4x8<kRows, false>(kc, nullptr, a, b, ldb, c, ldc, m, n, alpha, beta);
}

void gemm_4x8_indexed_generic(int64_t entries, const int32_t* offsets, const float* a, const float* b, float* c,
                              int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  tile_4x8<true, true>(entries, offsets, a, b, 0, c, ldc, m, n, alpha, beta);
}

// c (m×n) = alpha·A·b + beta·c for n ≤ 8, A read in place, one row at a time.
void gemm_skinny_1x8_generic(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                             int64_t cs_a, const float* b, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float acc[kSkinnyNr] = {};
    const float* ai = a + i * rs_a;
    for (int64_t p = 0; p < k; ++p) {
      const float ap = ai[p * cs_a];
      for (int j = 0; j < kSkinnyNr; ++j) acc[j] += ap * b[p * kSkinnyNr + j];
    }
    float* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) row[j] = alpha * acc[j] + (beta != 0.0f ? beta * row[j] : 0.0f);
  }
}

constexpr IsaKernels generic_kernels() {
  IsaKernels k{};
  k.name = "generic";
  k.mr = kMr;
  k.nr = kNr;
  k.kc = kKc;
  k.nc = kNc;
  k.skinny_nr = kSkinnyNr;
  k.gemm_microkernel = gemm_4x8_generic<false>;
  k.gemm_microkernel_rows = gemm_4x8_generic<true>;
  k.indexed_mr = kMr;
  k.indexed_nr = kNr;
  k.gemm_indexed = gemm_4x8_indexed_generic;
  k.gemm_skinny = gemm_skinny_1x8_generic;
  // One row at a time reads any A alike: no kernel of its own for contiguous rows.
  k.gemm_skinny_columns = gemm_skinny_1x8_generic;
  set_gemm_rows(k);
  set_bf16<kMr, kNr, kMr, kNr>(k);
  k.pack_pixels = pack_pixels;
  k.pack_b = pack_b;
  set_elementwise(k);
  k.sample_affine_row = fastmlp::sample_affine_row;
  return k;
}
#if !defined(FASTMLP_SANITIZE)
static_assert(complete(generic_kernels()), "every member of the generic table is set");
#endif

}  // namespace

extern const IsaKernels kGenericKernels = generic_kernels();

}  // namespace fastmlp
