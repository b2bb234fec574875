#include "augment.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "dispatch.h"
#include "kernels.h"
#include "threadpool.h"

namespace fastmlp {
namespace {

constexpr double kPi = 3.14159265358979323846;

// ⌊v⌋ without a call into libm (the baseline x86-64 has no rounding instruction).
inline int64_t floor_int(double v) {
  const int64_t i = static_cast<int64_t>(v);
  return i - (v < static_cast<double>(i) ? 1 : 0);
}

// Bilinear sample at (x, y) (column, row) of a rows×cols image given padded (augment.h): pixels outside are 0.
double bilinear(const uint8_t* padded, int64_t rows, int64_t cols, double x, double y) {
  const int64_t x0 = floor_int(x), y0 = floor_int(y);
  if (x0 < -1 || y0 < -1 || x0 >= cols || y0 >= rows) return 0.0;
  const int64_t pitch = cols + 2;
  const uint8_t* at = padded + (y0 + 1) * pitch + (x0 + 1);
  const double p00 = at[0], p01 = at[1], p10 = at[pitch], p11 = at[pitch + 1];
  // Most of a digit is background: four blank neighbours give exactly the 0 the weighted sum would.
  if (p00 == 0.0 && p01 == 0.0 && p10 == 0.0 && p11 == 0.0) return 0.0;
  const double ax = x - static_cast<double>(x0), ay = y - static_cast<double>(y0);
  // Exact when the point is a pixel: the weights of the other three are 0.
  return (1.0 - ay) * ((1.0 - ax) * p00 + ax * p01) + ay * ((1.0 - ax) * p10 + ax * p11);
}

uint8_t to_byte(double v) { return v <= 0.0 ? 0 : v >= 254.5 ? 255 : static_cast<uint8_t>(static_cast<int64_t>(v + 0.5)); }

// The byte that point p = (px, py) of the output takes from q = M·p + o.
uint8_t sample_at(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, double px, double py) {
  return to_byte(bilinear(padded, rows, cols, m[0] * px + m[1] * py + m[4], m[2] * px + m[3] * py + m[5]));
}

// The rows and columns that hold ink: [row0, row1] × [col0, col1]; row0 > row1 for a blank image.
struct Ink {
  int64_t row0, row1, col0, col1;
};

Ink ink_of(const uint8_t* image, int64_t rows, int64_t cols) {
  // Loops without branches (the compiler vectorizes them): each column's OR over the rows, each row's OR.
  uint8_t column[kMaxImageSide];
  std::fill(column, column + cols, uint8_t{0});
  Ink ink{rows, -1, cols, -1};
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* row = image + y * cols;
    uint8_t any = 0;
    for (int64_t x = 0; x < cols; ++x) column[x] |= row[x], any |= row[x];
    if (any != 0) ink.row0 = std::min(ink.row0, y), ink.row1 = y;
  }
  for (int64_t x = 0; x < cols; ++x) {
    if (column[x] != 0) ink.col0 = std::min(ink.col0, x), ink.col1 = x;
  }
  return ink;
}

// Narrows [lo, hi] to the x where a·x + b may lie within (low, high).
void narrow(double a, double b, double low, double high, double& lo, double& hi) {
  if (a == 0.0) {
    if (!(b > low && b < high)) lo = 1.0, hi = 0.0;
    return;
  }
  double from = (low - b) / a, to = (high - b) / a;
  if (from > to) std::swap(from, to);
  lo = std::max(lo, from), hi = std::min(hi, to);
}

// The columns [x0, x1) of output row y whose affine source point q = M·p + o may have an inked neighbour:
// q within the ink's box widened by two pixels, and the columns widened by one more, so the rounding of q
// never matters. Every other pixel of the row samples four blank neighbours, which is 0.
void inked_columns(const Ink& ink, int64_t cols, const double* m, int64_t y, int64_t& x0, int64_t& x1) {
  double lo = 0.0, hi = static_cast<double>(cols - 1);
  const double py = static_cast<double>(y);
  narrow(m[0], m[1] * py + m[4], static_cast<double>(ink.col0) - 2.0, static_cast<double>(ink.col1) + 2.0, lo, hi);
  narrow(m[2], m[3] * py + m[5], static_cast<double>(ink.row0) - 2.0, static_cast<double>(ink.row1) + 2.0, lo, hi);
  if (!(lo <= hi)) {
    x0 = x1 = 0;
    return;
  }
  x0 = std::max<int64_t>(0, floor_int(lo) - 1);
  x1 = std::min<int64_t>(cols, floor_int(hi) + 2);
}

// The image in the middle of padded, whose border of blank pixels and slack are already 0.
void pad(const uint8_t* image, int64_t rows, int64_t cols, uint8_t* padded) {
  const int64_t pitch = cols + 2;
  for (int64_t y = 0; y < rows; ++y) std::copy(image + y * cols, image + (y + 1) * cols, padded + (y + 1) * pitch + 1);
}

// A zeroed buffer for padded images of rows×cols.
std::vector<uint8_t> padded_buffer(int64_t rows, int64_t cols) { return std::vector<uint8_t>((rows + 2) * (cols + 2) + kPaddedSlack, 0); }

// One image through q = M·(p + d(p)) + o; `padded` is a buffer from padded_buffer.
template <typename D>
void sample(const uint8_t* source, int64_t rows, int64_t cols, const double* m, const D* dx, const D* dy, uint8_t* padded,
            uint8_t* out) {
  pad(source, rows, cols, padded);
  if (dx == nullptr && dy == nullptr) {
    // Affine alone: only the columns that can reach the ink are sampled.
    const Ink ink = ink_of(source, rows, cols);
    const AffineRowSampler sample_row = kernels().sample_affine_row;
    for (int64_t y = 0; y < rows; ++y) {
      uint8_t* row = out + y * cols;
      int64_t x0 = 0, x1 = 0;
      if (ink.row0 <= ink.row1) inked_columns(ink, cols, m, y, x0, x1);
      std::fill(row, row + x0, uint8_t{0});
      std::fill(row + x1, row + cols, uint8_t{0});
      if (x0 < x1) sample_row(padded, rows, cols, m, y, x0, x1, row);
    }
    return;
  }
  for (int64_t y = 0; y < rows; ++y) {
    for (int64_t x = 0; x < cols; ++x) {
      const int64_t i = y * cols + x;
      const double px = static_cast<double>(x) + (dx ? dx[i] : 0.0), py = static_cast<double>(y) + (dy ? dy[i] : 0.0);
      out[i] = sample_at(padded, rows, cols, m, px, py);
    }
  }
}

// Gaussian of σ over |k| ≤ ⌈3σ⌉, summing to 1.
std::vector<float> gaussian(double sigma) {
  const int64_t radius = static_cast<int64_t>(std::ceil(3.0 * sigma));
  std::vector<double> w(2 * radius + 1);
  double sum = 0.0;
  for (int64_t k = -radius; k <= radius; ++k) sum += (w[k + radius] = std::exp(-0.5 * (k * k) / (sigma * sigma)));
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = static_cast<float>(w[i] / sum);
  return out;
}

// A field blurred by a kernel along rows, then along columns, zero beyond the edges. The field sits in a
// zero-padded buffer so every sum has the kernel's full length and runs along a row: loops the compiler
// vectorizes, in a fixed order.
class Blur {
 public:
  Blur(int64_t rows, int64_t cols, std::vector<float> kernel)
      : rows_(rows), cols_(cols), radius_(static_cast<int64_t>(kernel.size() / 2)), w_(std::move(kernel)),
        padded_((rows + 2 * radius_) * (cols + 2 * radius_), 0.0f), across_((rows + 2 * radius_) * cols, 0.0f) {}

  // field (rows×cols) ← blurred field.
  void operator()(float* field) {
    const int64_t r = radius_, pc = cols_ + 2 * r;
    for (int64_t y = 0; y < rows_; ++y) std::copy(field + y * cols_, field + (y + 1) * cols_, padded_.data() + (y + r) * pc + r);
    // Along rows, into the middle rows of `across_` (its top and bottom r rows stay 0).
    for (int64_t y = 0; y < rows_; ++y) {
      float* out = across_.data() + (y + r) * cols_;
      const float* in = padded_.data() + (y + r) * pc;
      std::fill(out, out + cols_, 0.0f);
      for (int64_t k = 0; k <= 2 * r; ++k) {
        const float wk = w_[k];
        for (int64_t x = 0; x < cols_; ++x) out[x] += wk * in[x + k];
      }
    }
    // Along columns, back into the field.
    for (int64_t y = 0; y < rows_; ++y) {
      float* out = field + y * cols_;
      std::fill(out, out + cols_, 0.0f);
      for (int64_t k = 0; k <= 2 * r; ++k) {
        const float wk = w_[k];
        const float* in = across_.data() + (y + k) * cols_;
        for (int64_t x = 0; x < cols_; ++x) out[x] += wk * in[x];
      }
    }
  }

 private:
  int64_t rows_, cols_, radius_;
  std::vector<float> w_, padded_, across_;
};

// Images per task of the pool.
constexpr int64_t kImagesPerTask = 64;

template <typename Fn>
void for_images(int64_t count, Fn&& fn) {
  const int64_t tasks = (count + kImagesPerTask - 1) / kImagesPerTask;
  if (tasks <= 1) {
    if (count > 0) fn(int64_t(0), count);
    return;
  }
  ThreadPool::instance().run(tasks, [&](int64_t task, int) {
    const int64_t begin = task * kImagesPerTask;
    fn(begin, std::min(count, begin + kImagesPerTask));
  });
}

}  // namespace

void sample_affine_row(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, int64_t y, int64_t x0,
                       int64_t x1, uint8_t* row) {
  const double py = static_cast<double>(y);
  for (int64_t x = x0; x < x1; ++x) row[x] = sample_at(padded, rows, cols, m, static_cast<double>(x), py);
}

uint32_t augment_key(uint32_t seed, uint32_t epoch, uint32_t sample) { return mix32(mix32(mix32(seed) ^ epoch) ^ sample); }

double augment_uniform(uint32_t image_key, uint32_t k) { return static_cast<double>(dropout_bits(image_key, k) >> 8) * (1.0 / 16777216.0); }

void transform_rows(const uint8_t* bytes, int64_t rows, int64_t cols, const int32_t* indices, int64_t count,
                    const double* affine, const double* displacement, uint8_t* out) {
  const int64_t pixels = rows * cols;
  for_images(count, [&](int64_t b, int64_t e) {
    std::vector<uint8_t> padded = padded_buffer(rows, cols);
    for (int64_t r = b; r < e; ++r) {
      const double* d = displacement ? displacement + r * 2 * pixels : nullptr;
      sample<double>(bytes + static_cast<int64_t>(indices[r]) * pixels, rows, cols, affine + 6 * r, d, d ? d + pixels : nullptr,
                     padded.data(), out + r * pixels);
    }
  });
}

void augment_rows(const uint8_t* bytes, int64_t rows, int64_t cols, const int32_t* indices, int64_t count,
                  const AugmentSpec& spec, uint32_t seed, uint32_t epoch, uint8_t* out) {
  const int64_t pixels = rows * cols;
  const std::vector<float> kernel = spec.elastic() ? gaussian(spec.elastic_sigma) : std::vector<float>();
  const double cx = 0.5 * static_cast<double>(cols - 1), cy = 0.5 * static_cast<double>(rows - 1);
  for_images(count, [&](int64_t b, int64_t e) {
    std::vector<float> dx, dy;
    std::vector<uint8_t> padded = padded_buffer(rows, cols);
    std::unique_ptr<Blur> blur;
    if (spec.elastic()) dx.resize(pixels), dy.resize(pixels), blur = std::make_unique<Blur>(rows, cols, kernel);
    for (int64_t r = b; r < e; ++r) {
      const uint32_t sample_index = static_cast<uint32_t>(indices[r]);
      const uint32_t key = augment_key(seed, epoch, sample_index);
      // Draws 0–4: the affine map's five parameters, each uniform within ±its limit.
      const auto within = [&](uint32_t k, double limit) { return limit * (2.0 * augment_uniform(key, k) - 1.0); };
      const double theta = within(0, spec.rotate) * kPi / 180.0, phi = within(1, spec.shear) * kPi / 180.0;
      const double s = 1.0 + within(2, spec.scale), tx = within(3, spec.shift), ty = within(4, spec.shift);
      // Forward map F = R(θ)·H(φ)·S(s) about the centre, then the shift; the output samples F⁻¹.
      const double c = std::cos(theta), sn = std::sin(theta), t = std::tan(phi);
      const double f00 = s * c, f01 = s * (c * t - sn), f10 = s * sn, f11 = s * (sn * t + c);
      const double det = f00 * f11 - f01 * f10;
      double m[6] = {f11 / det, -f01 / det, -f10 / det, f00 / det, 0.0, 0.0};
      // q = M·(p − centre − shift) + centre = M·p + o.
      m[4] = cx - (m[0] * (cx + tx) + m[1] * (cy + ty));
      m[5] = cy - (m[2] * (cx + tx) + m[3] * (cy + ty));
      if (spec.elastic()) {
        // Draws 16 + 2i, 17 + 2i: pixel i's raw displacement, uniform in ±1, then smoothed and scaled.
        for (int64_t i = 0; i < pixels; ++i) {
          dx[i] = static_cast<float>(2.0 * augment_uniform(key, static_cast<uint32_t>(16 + 2 * i)) - 1.0);
          dy[i] = static_cast<float>(2.0 * augment_uniform(key, static_cast<uint32_t>(17 + 2 * i)) - 1.0);
        }
        (*blur)(dx.data());
        (*blur)(dy.data());
        const float alpha = static_cast<float>(spec.elastic_alpha);
        for (int64_t i = 0; i < pixels; ++i) dx[i] *= alpha, dy[i] *= alpha;
      }
      sample<float>(bytes + static_cast<int64_t>(sample_index) * pixels, rows, cols, m, spec.elastic() ? dx.data() : nullptr,
                    spec.elastic() ? dy.data() : nullptr, padded.data(), out + r * pixels);
    }
  });
}

}  // namespace fastmlp
