// Single-precision GEMM, row-major: C = alpha·op(A)·op(B) + beta·C, then an optional fused epilogue.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace fastmlp {

// A is (m×k) or, with trans_a, (k×m), row stride lda; B is (k×n) or, with trans_b, (n×k), row stride ldb;
// C is (m×n), row stride ldc. Arguments are trusted: the binding has checked every size.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& epilogue = Epilogue());

}  // namespace fastmlp
