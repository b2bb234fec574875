// Single-precision GEMM, row-major: C = alpha·op(A)·op(B) + beta·C, then an optional fused epilogue.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace fastmlp {

// Rows of bytes standardized on the fly, (byte − mean) · inv_std: a batch of samples kept as pixels.
// Row r of the batch is bytes[rows[r]·row_length …]; mean and inv_std have length 1 or row_length.
struct ByteRows {
  const uint8_t* bytes = nullptr;
  const int32_t* rows = nullptr;
  int64_t row_length = 0;
  const float* mean = nullptr;
  const float* inv_std = nullptr;
  bool per_pixel = false;
};

// The precision of a product's operands. bf16: both rounded to bfloat16 (to nearest even) as they are packed,
// products accumulated in fp32 (kernels.h). Bytes are exact in bf16 and stay so; their standardization stays
// the fp32 rank-one correction. Shapes that the fp32 kernels run faster (a few rows, n ≤ skinny_nr) stay fp32.
enum class Precision : int { kFp32 = 0, kBf16 = 1 };

// A second product of the first one's result, C·B2 + bias (bias optional), into C2 (m × n, row stride ldc):
// the next layer's scores. B2 is (the first product's n) × n, row stride ldb. With a few columns (the classes
// of an output layer) it is taken from each block of C's rows while they are still in cache, where the first
// product's loops allow it; otherwise after it. Either way it has the bits of a product of its own.
struct NextProduct {
  int64_t n = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  const float* bias = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
};

// A is (m×k) or, with trans_a, (k×m), row stride lda; B is (k×n) or, with trans_b, (n×k), row stride ldb;
// C is (m×n), row stride ldc. Arguments are trusted: the binding has checked every size.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& epilogue = Epilogue(),
           Precision precision = Precision::kFp32, const NextProduct* next = nullptr);

// The same with A standardized from bytes while it is packed, so the float batch is never written out:
// A is the batch (m samples × k pixels), or with trans_a its transpose (m pixels × k samples).
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const ByteRows& a,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& epilogue = Epilogue(),
           Precision precision = Precision::kFp32, const NextProduct* next = nullptr);

// The size of a core's L2 the products block for (the system's figure; 1 MiB where it gives none).
int64_t l2_bytes();

}  // namespace fastmlp
