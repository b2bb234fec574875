// The bilinear sampling of an affine augmentation with AVX-512F, 16 output columns at a time. This file alone is
// compiled with -mavx512f and -ffp-contract=off: every product and sum is rounded on its own, in the order of
// sample_affine_row in augment.cc, so both give the same bytes. It runs only where the CPU has AVX-512F.
#include <immintrin.h>

#include "augment.h"

namespace fastmlp {

void sample_affine_row_avx512(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, int64_t y,
                              int64_t x0, int64_t x1, uint8_t* row) {
  const int pitch = static_cast<int>(cols + 2);
  const double py = static_cast<double>(y);
  const __m512d m0 = _mm512_set1_pd(m[0]), m2 = _mm512_set1_pd(m[2]);
  // m[1]·py and m[3]·py, rounded as the scalar code rounds them.
  const __m512d by_x = _mm512_set1_pd(m[1] * py), by_y = _mm512_set1_pd(m[3] * py);
  const __m512d ox = _mm512_set1_pd(m[4]), oy = _mm512_set1_pd(m[5]);
  const __m512d lowest = _mm512_set1_pd(-1.0), past_x = _mm512_set1_pd(static_cast<double>(cols));
  const __m512d past_y = _mm512_set1_pd(static_cast<double>(rows)), one = _mm512_set1_pd(1.0), half = _mm512_set1_pd(0.5);
  const __m512d steps = _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i low_byte = _mm512_set1_epi32(0xFF), vpitch = _mm512_set1_epi32(pitch), max_byte = _mm512_set1_epi32(255);
  const __m512i zero = _mm512_setzero_si512();

  // 8 columns from x: the padded offset of each one's top-left neighbour, the fractions, and the lanes whose
  // neighbours lie within the padded image (the others sample 0, as bilinear() returns for them).
  struct Half {
    __m256i offset;
    __m512d ax, ay;
    __mmask8 inside;
  };
  const auto half_at = [&](int64_t x) {
    const __m512d px = _mm512_add_pd(_mm512_set1_pd(static_cast<double>(x)), steps);
    const __m512d qx = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m0, px), by_x), ox);
    const __m512d qy = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m2, px), by_y), oy);
    const __m512d fx = _mm512_roundscale_pd(qx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512d fy = _mm512_roundscale_pd(qy, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    Half h;
    h.inside = _mm512_cmp_pd_mask(fx, lowest, _CMP_GE_OQ) & _mm512_cmp_pd_mask(fx, past_x, _CMP_LT_OQ) &
               _mm512_cmp_pd_mask(fy, lowest, _CMP_GE_OQ) & _mm512_cmp_pd_mask(fy, past_y, _CMP_LT_OQ);
    // Within the image the floors are small integers; elsewhere they are masked out before they are used.
    const __m512d cx = _mm512_mask_blend_pd(h.inside, lowest, fx), cy = _mm512_mask_blend_pd(h.inside, lowest, fy);
    const __m256i ix = _mm512_cvttpd_epi32(_mm512_add_pd(cx, one)), iy = _mm512_cvttpd_epi32(_mm512_add_pd(cy, one));
    h.offset = _mm256_add_epi32(_mm256_mullo_epi32(iy, _mm512_castsi512_si256(vpitch)), ix);
    h.ax = _mm512_sub_pd(qx, fx);
    h.ay = _mm512_sub_pd(qy, fy);
    return h;
  };
  // The byte of (1 − ay)·((1 − ax)·p00 + ax·p01) + ay·((1 − ax)·p10 + ax·p11), 0 outside.
  const auto value = [&](const Half& h, __m256i top, __m256i bottom) {
    const __m512d p00 = _mm512_cvtepi32_pd(_mm256_and_si256(top, _mm512_castsi512_si256(low_byte)));
    const __m512d p01 = _mm512_cvtepi32_pd(_mm256_and_si256(_mm256_srli_epi32(top, 8), _mm512_castsi512_si256(low_byte)));
    const __m512d p10 = _mm512_cvtepi32_pd(_mm256_and_si256(bottom, _mm512_castsi512_si256(low_byte)));
    const __m512d p11 = _mm512_cvtepi32_pd(_mm256_and_si256(_mm256_srli_epi32(bottom, 8), _mm512_castsi512_si256(low_byte)));
    const __m512d bx = _mm512_sub_pd(one, h.ax), by = _mm512_sub_pd(one, h.ay);
    const __m512d upper = _mm512_add_pd(_mm512_mul_pd(bx, p00), _mm512_mul_pd(h.ax, p01));
    const __m512d lower = _mm512_add_pd(_mm512_mul_pd(bx, p10), _mm512_mul_pd(h.ax, p11));
    const __m512d v = _mm512_maskz_mov_pd(h.inside, _mm512_add_pd(_mm512_mul_pd(by, upper), _mm512_mul_pd(h.ay, lower)));
    // to_byte: ⌊v + 0.5⌋ within [0, 255] (v is never negative: a weighted sum of bytes).
    return _mm512_cvttpd_epi32(_mm512_add_pd(v, half));
  };

  for (int64_t x = x0; x < x1; x += 16) {
    const Half lo = half_at(x), hi = half_at(x + 8);
    const __m512i offset = _mm512_inserti64x4(_mm512_castsi256_si512(lo.offset), hi.offset, 1);
    const __mmask16 inside = static_cast<__mmask16>(lo.inside | (hi.inside << 8));
    // Each lane's pair of neighbours in a row, and the pair below it: 4 bytes from the offset (the slack covers
    // the last), of which the low two are the pixels.
    const __m512i top = _mm512_mask_i32gather_epi32(zero, inside, offset, padded, 1);
    const __m512i bottom = _mm512_mask_i32gather_epi32(zero, inside, _mm512_add_epi32(offset, vpitch), padded, 1);
    const __m256i low = value(lo, _mm512_castsi512_si256(top), _mm512_castsi512_si256(bottom));
    const __m256i high = value(hi, _mm512_extracti64x4_epi64(top, 1), _mm512_extracti64x4_epi64(bottom, 1));
    const __m512i bytes = _mm512_min_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1), max_byte);
    const int64_t n = x1 - x;
    const __mmask16 store = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
    _mm512_mask_cvtepi32_storeu_epi8(row + x, store, bytes);
  }
}

}  // namespace fastmlp
