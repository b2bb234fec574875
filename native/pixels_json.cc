#include "pixels_json.h"

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace fastmlp {
namespace {

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  void space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool at_end() {
    space();
    return p_ == end_;
  }

  bool eat(uint8_t c) {
    space();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  // A string of printable ASCII without escapes, as [begin, end) of the input.
  bool string(const uint8_t*& begin, const uint8_t*& end) {
    if (!eat('"')) return false;
    begin = p_;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\' || *p_ < 0x20 || *p_ >= 0x80) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    end = p_++;
    return true;
  }

  bool string(std::string& out) {
    const uint8_t *begin, *end;
    if (!string(begin, end)) return false;
    out.assign(begin, end);
    return true;
  }

  // A JSON number (RFC 8259 grammar) as the double JavaScript would read; false if it is not finite.
  bool number(double& value) {
    space();
    const uint8_t* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !is_digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) return false;
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return false;
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    const auto result = std::from_chars(reinterpret_cast<const char*>(start), reinterpret_cast<const char*>(p_), value);
    return result.ec == std::errc() && result.ptr == reinterpret_cast<const char*>(p_) && std::isfinite(value);
  }

  // A non-negative integer of at most three digits at p_ (what images mostly hold), read directly: true and
  // p_ past it, or false with p_ unchanged when what follows is not that (a fraction, an exponent, …).
  bool small_integer(double& value) {
    const uint8_t* q = p_;
    if (end_ - q < 4 || !is_digit(q[0])) return false;
    int length = 1;
    int x = q[0] - '0';
    if (x != 0) {
      for (; length < 3 && is_digit(q[length]); ++length) x = x * 10 + (q[length] - '0');
    }
    const uint8_t next = q[length];
    if (is_digit(next) || next == '.' || next == 'e' || next == 'E') return false;
    value = x;
    p_ = q + length;
    return true;
  }

  // [n numbers], appended to out.pixels as floats.
  bool image(int64_t n, PixelsJson& out) {
    if (!eat('[')) return false;
    const size_t first = out.pixels.size();
    out.pixels.resize(first + static_cast<size_t>(n));
    float* dst = out.pixels.data() + first;
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (i > 0 && !eat(',')) return false;
      space();
      double v;
      if (!small_integer(v) && !number(v)) return false;
      if (i == 0) lo = hi = v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      dst[i] = static_cast<float>(v);
    }
    if (first == 0 || lo < out.min) out.min = lo;
    if (first == 0 || hi > out.max) out.max = hi;
    return eat(']');
  }

  // [[n numbers], …] with 1 to max_images images.
  bool images(int64_t n, int64_t max_images, PixelsJson& out) {
    if (!eat('[')) return false;
    do {
      if (out.images == max_images || !image(n, out)) return false;
      ++out.images;
    } while (eat(','));
    return eat(']');
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

bool read_pixels_json(const uint8_t* data, size_t size, int64_t image_pixels, int64_t max_images, PixelsJson& out) {
  out.pixels.clear();
  out.images = 0;
  out.batch = out.has_scale = out.has_model = false;
  out.min = out.max = 0;
  Reader in(data, size);
  if (!in.eat('{')) return false;
  bool has_pixels = false, has_images = false;
  do {
    const uint8_t *begin, *end;
    if (!in.string(begin, end) || !in.eat(':')) return false;
    const std::string_view key(reinterpret_cast<const char*>(begin), static_cast<size_t>(end - begin));
    if (key == "pixels" && !has_pixels && !has_images) {
      has_pixels = true;
      if (!in.image(image_pixels, out)) return false;
      out.images = 1;
    } else if (key == "images" && !has_pixels && !has_images) {
      has_images = out.batch = true;
      if (!in.images(image_pixels, max_images, out)) return false;
    } else if (key == "scale" && !out.has_scale) {
      out.has_scale = true;
      if (!in.string(out.scale)) return false;
    } else if (key == "model" && !out.has_model) {
      out.has_model = true;
      if (!in.string(out.model)) return false;
    } else {
      return false;
    }
  } while (in.eat(','));
  return in.eat('}') && in.at_end() && (has_pixels || has_images);
}

}  // namespace fastmlp
