// Elementwise kernels written once as plain loops. Each kernels_<isa>.cc includes this file inside its own
// namespace and is compiled with its own -m flags, so the compiler vectorizes the same code for that ISA.
// Not a general header: include it only from a kernels_<isa>.cc.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace {

using fastmlp::Activation;
using fastmlp::Epilogue;

// e^x for x in float range, to about 2 ulp, branch-free so loops over it vectorize.
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // x = n·ln 2 + r with |r| ≤ ln 2 / 2; n rounded by the 1.5·2^23 trick (no rounding instruction on SSE2).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // ln 2 split in two (Cody–Waite): n·0.693359375 is exact, so r keeps full precision for large |x|.
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  // e^r: Taylor series to degree 6, relative error < 2e-7 on |r| ≤ 0.347.
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

void sigmoid_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
}

// y = σ(x) ⇒ dσ/dx = y·(1 − y)
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void relu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f);
}

// y = max(0, x) ⇒ dy/dx = [y > 0]
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void bias_add(const float* x, const float* bias, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + bias[i];
}

// y ← y·scale where element `first + j` of the mask is kept, else 0.
void dropout_forward(float* y, int64_t n, uint32_t first, uint32_t key, uint32_t threshold, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    const bool keep = fastmlp::dropout_bits(key, first + static_cast<uint32_t>(j)) >= threshold;
    y[j] = keep ? y[j] * scale : 0.0f;
  }
}

// The cached y is a = f(x)·scale where kept, 0 where dropped: dx = g·scale·f'(a / scale) where kept, else 0.
void dropout_backward(const float* y, float* g, int64_t n, uint32_t first, uint32_t key, uint32_t threshold,
                      float scale, bool sigmoid) {
  const float inv = 1.0f / scale;
  for (int64_t j = 0; j < n; ++j) {
    const bool keep = fastmlp::dropout_bits(key, first + static_cast<uint32_t>(j)) >= threshold;
    const float a = y[j] * inv;
    const float slope = sigmoid ? a * (1.0f - a) : (a > 0.0f ? 1.0f : 0.0f);
    g[j] = keep ? g[j] * scale * slope : 0.0f;
  }
}

void epilogue(float* c, int64_t ldc, int64_t m, int64_t n, int64_t row0, int64_t col0, const Epilogue& ep) {
  const float* bias = ep.bias ? ep.bias + col0 : nullptr;
  const bool dropout = ep.dropout_threshold != 0;
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    const uint32_t first = static_cast<uint32_t>((row0 + i) * ep.dropout_width + col0);
    if (bias) bias_add(row, bias, row, n);
    if (ep.activation == Activation::kSigmoid) sigmoid_forward(row, row, n);
    if (ep.activation == Activation::kRelu) relu_forward(row, row, n);
    if (dropout && ep.activation != Activation::kNone) dropout_forward(row, n, first, ep.dropout_key, ep.dropout_threshold, ep.dropout_scale);
    if (ep.derivative != Activation::kNone) {
      const float* y = ep.derivative_of + (row0 + i) * ep.ld_derivative_of + col0;
      if (dropout) {
        dropout_backward(y, row, n, first, ep.dropout_key, ep.dropout_threshold, ep.dropout_scale, ep.derivative == Activation::kSigmoid);
      } else {
        if (ep.derivative == Activation::kSigmoid) sigmoid_backward(y, row, row, n);
        if (ep.derivative == Activation::kRelu) relu_backward(y, row, row, n);
      }
    }
  }
}

void column_sums(const float* x, int64_t m, int64_t n, int64_t ld, double* out) {
  for (int64_t i = 0; i < m; ++i) {
    const float* row = x + i * ld;
    for (int64_t j = 0; j < n; ++j) out[j] += row[j];
  }
}

// Never fused into multiply-adds (kernels.h): a table with FMA gives the bits of one without.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
// Columns kW at a time, their sums kept in registers while the rows stream past.
template <int64_t kW>
inline void weighted_block(const float* x, int64_t rs, int64_t rows, const float* w, float* out) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  float acc[kW] = {};
  for (int64_t p = 0; p < rows; ++p) {
    const float wp = w[p];
    const float* row = x + p * rs;
#pragma GCC unroll 64
    for (int64_t j = 0; j < kW; ++j) acc[j] += wp * row[j];
  }
  std::copy(acc, acc + kW, out);
}

void weighted_column_sums(const float* x, int64_t rs, int64_t cs, int64_t rows, int64_t cols, const float* w,
                          float* out) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  int64_t j0 = 0;
  if (cs == 1) {
    for (; j0 + 64 <= cols; j0 += 64) weighted_block<64>(x + j0, rs, rows, w, out + j0);
    for (; j0 + 16 <= cols; j0 += 16) weighted_block<16>(x + j0, rs, rows, w, out + j0);
  }
  for (; j0 < cols; ++j0) {
    float acc = 0.0f;
    for (int64_t p = 0; p < rows; ++p) acc += w[p] * x[p * rs + j0 * cs];
    out[j0] = acc;
  }
}

// e^x in double for softmax's x = z − max ≤ 0, within about an ulp; 0 below −708, where e^x leaves the
// normal range and adds nothing to a sum of at least 1; NaN for NaN. Branch-free, so its loop vectorizes, and
// never fused, so every table gives the same bits.
inline double exp_nonpositive(double x) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  const double clamped = x < -708.0 ? -708.0 : (x > 0.0 ? 0.0 : x);
  // x = n·ln 2 + r with |r| ≤ ln 2 / 2: n rounded by adding 1.5·2^52, which leaves it in the low bits.
  constexpr double kShift = 6755399441055744.0;
  constexpr int64_t kShiftBits = 0x4338000000000000;
  const double t = clamped * 1.4426950408889634 + kShift;
  const double n = t - kShift;
  // ln 2 in two parts (Cody–Waite): n·0.6931471803691238 is exact for |n| < 2^11.
  const double r = (clamped - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  // e^r − 1 = r + r²·(1/2! + r/3! + … + r^11/13!): the Taylor terms past r^13 are below 2^-60 on |r| ≤ 0.347.
  double q = 1.0 / 6227020800.0;
  q = q * r + 1.0 / 479001600.0;
  q = q * r + 1.0 / 39916800.0;
  q = q * r + 1.0 / 3628800.0;
  q = q * r + 1.0 / 362880.0;
  q = q * r + 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  const double p = 1.0 + (r + r * r * q);
  int64_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  const uint64_t scale_bits = static_cast<uint64_t>(bits - kShiftBits + 1023) << 52;
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  return x < -708.0 ? 0.0 : p * scale;
}

void exp_nonpositive(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_nonpositive(x[i]);
}
#pragma GCC pop_options

void standardize_row(const uint8_t* pixels, const float* mean, const float* inv_std, bool per_pixel, float* out,
                     int64_t n) {
  if (per_pixel) {
    for (int64_t i = 0; i < n; ++i) out[i] = (static_cast<float>(pixels[i]) - mean[i]) * inv_std[i];
  } else {
    const float mu = mean[0], s = inv_std[0];
    for (int64_t i = 0; i < n; ++i) out[i] = (static_cast<float>(pixels[i]) - mu) * s;
  }
}

// w ← w − lr·(g + λw)
void sgd(float* w, const float* g, int64_t n, float lr, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + weight_decay * w[i]);
}

// The optimizers read each element of every buffer once and keep what they store in registers: reading back
// a just-stored m[i] or v[i] costs a store-to-load forwarding per vector, which made Adam three times slower.

// v ← μv + (g + λw); w ← w − lr·v, or w − lr·(g + λw + μv) with Nesterov
void momentum(float* w, const float* g, float* v, int64_t n, float lr, float mu, float weight_decay,
              bool nesterov) {
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      const float wi = w[i];
      const float grad = g[i] + weight_decay * wi;
      const float vi = mu * v[i] + grad;
      v[i] = vi;
      w[i] = wi - lr * (grad + mu * vi);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float wi = w[i];
      const float vi = mu * v[i] + g[i] + weight_decay * wi;
      v[i] = vi;
      w[i] = wi - lr * vi;
    }
  }
}

// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; w ← w − lr·(m/bias1)/(√(v/bias2) + ε) − lr·λ·w (AdamW)
void adam(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
          float epsilon, float bias1, float bias2, float weight_decay) {
  const float inv_bias1 = 1.0f / bias1, inv_bias2 = 1.0f / bias2;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i], wi = w[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float update = (mi * inv_bias1) / (std::sqrt(vi * inv_bias2) + epsilon);
    w[i] = wi - lr * (update + weight_decay * wi);
  }
}

// The members of a table that every instruction set takes from this file, compiled for the including file's.
constexpr void set_elementwise(fastmlp::IsaKernels& k) {
  k.epilogue = epilogue;
  k.sigmoid_forward = sigmoid_forward;
  k.sigmoid_backward = sigmoid_backward;
  k.relu_forward = relu_forward;
  k.relu_backward = relu_backward;
  k.bias_add = bias_add;
  k.column_sums = column_sums;
  k.weighted_column_sums = weighted_column_sums;
  k.exp_nonpositive = exp_nonpositive;
  k.standardize_row = standardize_row;
  k.sgd = sgd;
  k.momentum = momentum;
  k.adam = adam;
}

}  // namespace
