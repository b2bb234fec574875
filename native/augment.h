// Data augmentation of byte images: random affine maps (shift, rotation, scale, shear) and elastic
// distortions (Simard et al. 2003: a random displacement field smoothed by a Gaussian of σ, scaled by α),
// sampled bilinearly, written as bytes. Each image's transform follows from (seed, epoch, sample) alone, so a
// batch's images are the same at any thread count, in any batch order, and after a resume.
#pragma once

#include <cstdint>

namespace fastmlp {

// The longest side of an image these functions take (binding.cc refuses longer ones).
constexpr int64_t kMaxImageSide = 4096;

struct AugmentSpec {
  double shift = 0.0;          // largest translation, pixels, along each axis
  double rotate = 0.0;         // largest rotation, degrees, either way
  double scale = 0.0;          // largest relative change of size, either way (0.1: 0.9–1.1)
  double shear = 0.0;          // largest shear angle, degrees, either way
  double elastic_alpha = 0.0;  // scale of the smoothed displacement field, pixels; 0: no elastic distortion
  double elastic_sigma = 0.0;  // σ of its Gaussian, pixels

  bool elastic() const { return elastic_alpha > 0.0 && elastic_sigma > 0.0; }
};

// out row r = bytes row indices[r] (rows × cols bytes) transformed by its own random draw.
void augment_rows(const uint8_t* bytes, int64_t rows, int64_t cols, const int32_t* indices, int64_t count,
                  const AugmentSpec& spec, uint32_t seed, uint32_t epoch, uint8_t* out);

// The same with given maps, for tests: output pixel (x, y) (column, row) samples the source at
// q = M·((x, y) + d(x, y)) + o, with affine[6r..6r+5] = M00 M01 M10 M11 o_x o_y and d read from
// displacement (per image rows·cols x-displacements, then as many y-displacements) or 0 when null.
void transform_rows(const uint8_t* bytes, int64_t rows, int64_t cols, const int32_t* indices, int64_t count,
                    const double* affine, const double* displacement, uint8_t* out);

// Output row y of an affine map alone, its columns [x0, x1): row[x] = the byte of the bilinear sample at
// q = M·(x, y) + o (m = M00 M01 M10 M11 o_x o_y) of an image given `padded`: with a blank pixel on every side,
// (rows + 2) × (cols + 2) bytes, and kPaddedSlack bytes more past the end. Every instruction set's sampler
// computes the same doubles in the same order, without fused multiply-adds, so all give the same bytes.
constexpr int64_t kPaddedSlack = 4;
void sample_affine_row(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, int64_t y, int64_t x0,
                       int64_t x1, uint8_t* row);
#if defined(__x86_64__)
// The same, 16 columns at a time with AVX-512F (augment_avx512.cc).
void sample_affine_row_avx512(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, int64_t y,
                              int64_t x0, int64_t x1, uint8_t* row);
#endif

// The uniform number in [0, 1) that the draws of one image take as their k-th: 24 bits of a counter hash.
double augment_uniform(uint32_t image_key, uint32_t k);

// The key of sample `sample`'s draws in an epoch.
uint32_t augment_key(uint32_t seed, uint32_t epoch, uint32_t sample);

}  // namespace fastmlp
