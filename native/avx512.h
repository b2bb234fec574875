// AVX-512F helpers of the AVX-512 kernel files (kernels_avx512.cc, and through bf16_avx512.h the bf16 ones),
// which include it and are compiled with -mavx512f and the rest of their flags. Not a general header.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels.h"

namespace {

// The lanes below n of 16.
inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// r[i] lane j becomes r[j] lane i, for 16 × 16 dwords.
inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 16; i += 8)
    for (int k = 0; k < 4; ++k) {
      t[i + k] = _mm512_shuffle_i32x4(r[i + k], r[i + k + 4], 0x88);
      t[i + k + 4] = _mm512_shuffle_i32x4(r[i + k], r[i + k + 4], 0xDD);
    }
  for (int k = 0; k < 8; ++k) {
    r[k] = _mm512_shuffle_i32x4(t[k], t[k + 8], 0x88);
    r[k + 8] = _mm512_shuffle_i32x4(t[k], t[k + 8], 0xDD);
  }
}

// Columns col … col + 15 of row r of a finished tile, acc, into out_row: the fixup (when there is one), alpha,
// then beta, in the order of the plain kernels (gemm_impl.h, bf16::store_tile); mask keeps the columns < n.
inline void store16(__m512 acc, const fastmlp::Bf16Fixup* fix, int r, int col, __mmask16 mask, __m512 va, __m512 vb,
                    float beta, float* out_row) {
  if (fix) {
    acc = _mm512_fmadd_ps(_mm512_set1_ps(fix->corr_a[r]), _mm512_maskz_loadu_ps(mask, fix->corr_b + col),
                          _mm512_mul_ps(acc, _mm512_set1_ps(fix->row_scale[r])));
  }
  acc = _mm512_mul_ps(va, acc);
  if (beta != 0.0f) acc = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, out_row + col), acc);
  _mm512_mask_storeu_ps(out_row + col, mask, acc);
}

}  // namespace
