#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "dispatch.h"
#include "threadpool.h"

namespace fastmlp {
namespace {

// Elements per task: large enough to amortize a task, small enough to balance two busy cores.
constexpr int64_t kChunk = 1 << 15;
// Rows of a softmax per task.
constexpr int64_t kSoftmaxRows = 64;

// Calls fn(begin, end) over [0, n) in fixed chunks, in parallel when there is more than one. Nothing for an
// empty range, whose chunk may be empty too (the columns of a matrix with none).
template <typename Fn>
void for_chunks(int64_t n, int64_t chunk, Fn&& fn) {
  if (n <= 0) return;
  const int64_t tasks = (n + chunk - 1) / chunk;
  if (tasks == 1) {
    fn(int64_t(0), n);
    return;
  }
  ThreadPool::instance().run(tasks, [&](int64_t task, int) {
    const int64_t begin = task * chunk;
    fn(begin, std::min(n, begin + chunk));
  });
}

}  // namespace

void sigmoid_forward(const float* x, float* y, int64_t n) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) { k.sigmoid_forward(x + b, y + b, e - b); });
}

void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) { k.sigmoid_backward(y + b, dy + b, dx + b, e - b); });
}

void relu_forward(const float* x, float* y, int64_t n) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) { k.relu_forward(x + b, y + b, e - b); });
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) { k.relu_backward(y + b, dy + b, dx + b, e - b); });
}

void bias_add(const float* x, const float* bias, float* y, int64_t m, int64_t n) {
  const IsaKernels& k = kernels();
  const int64_t rows = std::max<int64_t>(1, kChunk / std::max<int64_t>(n, 1));
  for_chunks(m, rows, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) k.bias_add(x + i * n, bias, y + i * n, n);
  });
}

void column_sums(const float* x, int64_t m, int64_t n, float* out, float alpha, float beta) {
  const IsaKernels& k = kernels();
  // Parallel over column blocks only: every column is summed by one task, rows in order.
  constexpr int64_t kColumns = 64;
  for_chunks(n, m * kColumns >= 2 * kChunk ? kColumns : n, [&](int64_t b, int64_t e) {
    std::vector<double> sums(e - b, 0.0);
    k.column_sums(x + b, m, e - b, n, sums.data());
    for (int64_t j = b; j < e; ++j) {
      const double s = alpha * sums[j - b];
      out[j] = static_cast<float>(beta == 0.0f ? s : s + static_cast<double>(beta) * out[j]);
    }
  });
}

void standardize(const uint8_t* pixels, int64_t row_length, const int32_t* indices, int64_t count, const float* mean,
                 const float* inv_std, bool per_pixel, float* out) {
  const IsaKernels& k = kernels();
  const int64_t rows = std::max<int64_t>(1, kChunk / std::max<int64_t>(row_length, 1));
  for_chunks(count, rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      k.standardize_row(pixels + static_cast<int64_t>(indices[r]) * row_length, mean, inv_std, per_pixel,
                        out + r * row_length, row_length);
  });
}

void gather_rows(const uint8_t* bytes, int64_t row_length, const int32_t* indices, int64_t count, uint8_t* out,
                 uint32_t drop_threshold, uint32_t drop_key) {
  const int64_t rows = std::max<int64_t>(1, 4 * kChunk / std::max<int64_t>(row_length, 1));
  for_chunks(count, rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      uint8_t* dst = out + r * row_length;
      std::memcpy(dst, bytes + static_cast<int64_t>(indices[r]) * row_length, row_length);
      if (drop_threshold == 0) continue;
      const uint32_t first = static_cast<uint32_t>(r * row_length);
      for (int64_t p = 0; p < row_length; ++p) {
        if (dropout_bits(drop_key, first + static_cast<uint32_t>(p)) < drop_threshold) dst[p] = 0;
      }
    }
  });
}

SoftmaxResult softmax_cross_entropy(const float* logits, const int32_t* labels, const float* distributions,
                                    int64_t m, int64_t n, float* probabilities, float* gradient, double smoothing) {
  const bool smoothed = labels && smoothing > 0.0;
  const double spread = smoothed ? smoothing / static_cast<double>(n) : 0.0, kept = 1.0 - smoothing;
  const float inv_m = 1.0f / static_cast<float>(m);
  // Rows are independent: blocks of them in parallel, each row's loss kept, then summed in double in row
  // order, so neither the blocks nor the threads change a bit of it. A row's exp and log in double cost far
  // more than an elementwise step, hence small blocks.
  const IsaKernels& k = kernels();
  std::vector<double> losses(static_cast<size_t>(m));
  std::vector<int64_t> hits((m + kSoftmaxRows - 1) / kSoftmaxRows, 0);
  for_chunks(m, kSoftmaxRows, [&](int64_t b, int64_t e) {
    // softmax(z) = e^(z − max) / Σ e^(z − max); log-sum-exp keeps the loss finite for large scores. The
    // block's exponentials in one vectorized pass, then row by row.
    std::vector<double> exps((e - b) * n);
    std::vector<int64_t> argmax(e - b);
    for (int64_t i = b; i < e; ++i) {
      const float* z = logits + i * n;
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j)
        if (z[j] > z[best]) best = j;
      argmax[i - b] = best;
      for (int64_t j = 0; j < n; ++j) exps[(i - b) * n + j] = static_cast<double>(z[j]) - z[best];
    }
    k.exp_nonpositive(exps.data(), exps.data(), (e - b) * n);
    int64_t correct = 0;
    for (int64_t i = b; i < e; ++i) {
      const float* z = logits + i * n;
      const int64_t best = argmax[i - b];
      const double* p = exps.data() + (i - b) * n;
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) sum += p[j];
      const double log_sum = std::log(sum);
      int64_t target;
      double loss = 0.0;
      if (smoothed) {
        target = labels[i];
        // −Σ_j t_j·log p_j with t = (1 − ε)·onehot + ε/n
        double all = 0.0;
        for (int64_t j = 0; j < n; ++j) all += log_sum - (static_cast<double>(z[j]) - z[best]);
        loss = kept * (log_sum - (static_cast<double>(z[target]) - z[best])) + spread * all;
      } else if (labels) {
        target = labels[i];
        loss = log_sum - (static_cast<double>(z[target]) - z[best]);
      } else {
        const float* t = distributions + i * n;
        target = 0;
        for (int64_t j = 0; j < n; ++j) {
          if (t[j] > t[target]) target = j;
          if (t[j] != 0.0f) loss += t[j] * (log_sum - (static_cast<double>(z[j]) - z[best]));
        }
      }
      losses[i] = loss;
      if (best == target) ++correct;
      // d(mean loss)/dz_j = (softmax_j − t_j) / m
      for (int64_t j = 0; j < n; ++j) {
        const double s = p[j] / sum;
        if (probabilities) probabilities[i * n + j] = static_cast<float>(s);
        if (gradient) {
          const double t = smoothed ? (j == target ? kept : 0.0) + spread : labels ? (j == target ? 1.0 : 0.0) : distributions[i * n + j];
          gradient[i * n + j] = static_cast<float>(s - t) * inv_m;
        }
      }
    }
    hits[b / kSoftmaxRows] = correct;
  });
  double loss = 0.0;
  for (const double l : losses) loss += l;
  int64_t correct = 0;
  for (const int64_t h : hits) correct += h;
  return {m > 0 ? loss / static_cast<double>(m) : 0.0, correct};
}

void argmax_rows(const float* x, int64_t m, int64_t n, int32_t* out) {
  for (int64_t i = 0; i < m; ++i) {
    const float* row = x + i * n;
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j)
      if (row[j] > row[best]) best = j;
    out[i] = static_cast<int32_t>(best);
  }
}

int64_t count_correct(const float* x, int64_t m, int64_t n, const int32_t* labels) {
  int64_t correct = 0;
  for (int64_t i = 0; i < m; ++i) {
    const float* row = x + i * n;
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j)
      if (row[j] > row[best]) best = j;
    if (best == labels[i]) ++correct;
  }
  return correct;
}

void max_norm(float* w, int64_t rows, int64_t cols, float limit) {
  // Columns in fixed blocks; each column's norm is summed in double over the rows in order, so neither the
  // blocks nor the threads change a bit of it.
  for_chunks(cols, 256, [&](int64_t b, int64_t e) {
    std::vector<double> sums(e - b, 0.0);
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = w + i * cols;
      for (int64_t j = b; j < e; ++j) sums[j - b] += static_cast<double>(row[j]) * row[j];
    }
    std::vector<float> scale(e - b, 1.0f);
    bool any = false;
    for (int64_t j = b; j < e; ++j) {
      const double norm = std::sqrt(sums[j - b]);
      if (norm > limit) scale[j - b] = static_cast<float>(limit / norm), any = true;
    }
    if (!any) return;
    for (int64_t i = 0; i < rows; ++i) {
      float* row = w + i * cols;
      for (int64_t j = b; j < e; ++j) row[j] *= scale[j - b];
    }
  });
}

void sgd_update(float* w, const float* g, int64_t n, float lr, float weight_decay) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) { k.sgd(w + b, g + b, e - b, lr, weight_decay); });
}

void momentum_update(float* w, const float* g, float* v, int64_t n, float lr, float momentum, float weight_decay,
                     bool nesterov) {
  const IsaKernels& k = kernels();
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) {
    k.momentum(w + b, g + b, v + b, e - b, lr, momentum, weight_decay, nesterov);
  });
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                 float epsilon, int64_t step, float weight_decay) {
  const IsaKernels& k = kernels();
  const float bias1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
  const float bias2 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
  for_chunks(n, kChunk, [&](int64_t b, int64_t e) {
    k.adam(w + b, g + b, m + b, v + b, e - b, lr, beta1, beta2, epsilon, bias1, bias2, weight_decay);
  });
}

}  // namespace fastmlp
