// AVX-512 helpers of the bf16 kernel files (kernels_avx512bf16.cc, kernels_amx.cc), which include it and are
// compiled with -mavx512bf16 and the rest of its flags. Not a general header.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "avx512.h"
#include "kernels.h"

namespace {

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// 16 pairs from two vectors of 16 floats: lane j = bf16(even[j]) | bf16(odd[j]) << 16.
inline __m512i pairs_of(__m512 even, __m512 odd) {
  const __m512i lo = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(even)));
  const __m512i hi = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(odd)));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

// The first n ≤ 32 bytes at src, the rest zero, without reading past src + n.
inline __m256i load_bytes(const uint8_t* src, int64_t n) {
  if (n == 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
  return _mm256_maskz_loadu_epi8(n >= 32 ? ~0u : (1u << n) - 1u, src);
}

// 32 bytes as 16 pairs of bfloat16 (byte 2j in the low half of lane j): exact, bytes being small integers.
inline __m512i byte_pairs(__m256i bytes) {
  const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(bytes)));
  const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(bytes, 1)));
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// `base` with the bf16 members of a bf16 kernel file.
inline fastmlp::IsaKernels with_bf16(fastmlp::IsaKernels k, const char* name, fastmlp::Bf16Kernel gemm,
                                     fastmlp::Bf16Kernel gemm_rows, fastmlp::Bf16IndexedKernel gemm_indexed,
                                     fastmlp::Bf16APacker pack_a, fastmlp::Bf16BPacker pack_b,
                                     fastmlp::PixelPairPacker pack_pixel_pairs) {
  k.name = name;
  k.bf16_pair_words = 1;
  k.gemm_bf16 = gemm;
  k.gemm_bf16_rows = gemm_rows;
  k.gemm_bf16_indexed = gemm_indexed;
  k.pack_a_bf16 = pack_a;
  k.pack_b_bf16 = pack_b;
  k.pack_pixel_pairs = pack_pixel_pairs;
  return k;
}

}  // namespace
