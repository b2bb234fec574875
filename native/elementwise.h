// Elementwise, reduction and optimizer kernels over whole arrays: split into fixed chunks on the thread pool
// (chunking never depends on the thread count, so results do not either), each chunk run by the ISA's kernel.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace fastmlp {

void sigmoid_forward(const float* x, float* y, int64_t n);
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n);
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);

// y[i][j] = x[i][j] + bias[j]; x and y are (m×n) and may be the same array.
void bias_add(const float* x, const float* bias, float* y, int64_t m, int64_t n);

// out[j] = alpha·Σ_i x[i][j] + beta·out[j]; summed in double, rows in order.
void column_sums(const float* x, int64_t m, int64_t n, float* out, float alpha, float beta);

// out row r = (pixels[indices[r]·row_length …] − mean) · inv_std; mean and inv_std have length 1 or row_length.
void standardize(const uint8_t* pixels, int64_t row_length, const int32_t* indices, int64_t count, const float* mean,
                 const float* inv_std, bool per_pixel, float* out);

// out row r = bytes row indices[r] (row_length bytes each): a batch gathered into contiguous memory. With
// drop_threshold > 0, byte (r, p) of out is 0 where dropout_bits(drop_key, r·row_length + p) < drop_threshold
// (kernels.h): input dropout, the pixel made background.
void gather_rows(const uint8_t* bytes, int64_t row_length, const int32_t* indices, int64_t count, uint8_t* out,
                 uint32_t drop_threshold = 0, uint32_t drop_key = 0);

struct SoftmaxResult {
  double loss;      // mean cross-entropy
  int64_t correct;  // rows whose argmax is the target class
};

// logits (m×n); targets are class indices (labels, length m) or distributions (m×n). probabilities and
// gradient (m×n, either may be null or alias logits) receive softmax and (softmax − target)/m. With labels
// and smoothing ε > 0 the target of a row is (1 − ε)·onehot(label) + ε/n (label smoothing).
SoftmaxResult softmax_cross_entropy(const float* logits, const int32_t* labels, const float* distributions,
                                    int64_t m, int64_t n, float* probabilities, float* gradient, double smoothing = 0.0);

void argmax_rows(const float* x, int64_t m, int64_t n, int32_t* out);
int64_t count_correct(const float* x, int64_t m, int64_t n, const int32_t* labels);

// Max-norm constraint: every column of w (rows×cols, row-major; a unit's incoming weights) whose Euclidean
// norm exceeds limit is scaled down to it.
void max_norm(float* w, int64_t rows, int64_t cols, float limit);

void sgd_update(float* w, const float* g, int64_t n, float lr, float weight_decay);
void momentum_update(float* w, const float* g, float* v, int64_t n, float lr, float momentum, float weight_decay,
                     bool nesterov);
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                 float epsilon, int64_t step, float weight_decay);

}  // namespace fastmlp
