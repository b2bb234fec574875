// The only file that knows N-API. Every argument is checked here — types, integer dimensions, array lengths
// against those dimensions, overlapping outputs — before any kernel touches memory. Type problems throw
// TypeError, size and value problems RangeError, each naming the argument.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "augment.h"
#include "dispatch.h"
#include "elementwise.h"
#include "gemm.h"
#include "pixels_json.h"
#include "threadpool.h"

namespace fastmlp {
namespace {

// Dimensions above this are certainly mistakes, and products of two stay far from int64 overflow.
constexpr int64_t kMaxDim = (int64_t(1) << 31) - 1;

std::string describe(const Napi::Value& v) {
  std::ostringstream out;
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: out << (v.As<Napi::Boolean>().Value() ? "true" : "false") << " of type boolean"; break;
    case napi_number: out << v.As<Napi::Number>().DoubleValue() << " of type number"; break;
    case napi_string: out << "'" << v.As<Napi::String>().Utf8Value() << "' of type string"; break;
    case napi_object:
      if (v.IsArray()) return "an Array";
      if (v.IsTypedArray()) {
        switch (v.As<Napi::TypedArray>().TypedArrayType()) {
          case napi_float32_array: return "a Float32Array";
          case napi_float64_array: return "a Float64Array";
          case napi_int32_array: return "an Int32Array";
          case napi_uint8_array: return "a Uint8Array";
          default: return "a TypedArray of another element type";
        }
      }
      return "an object";
    default: return "a value of another type";
  }
  return out.str();
}

[[noreturn]] void type_error(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

[[noreturn]] void range_error(const Napi::Env& env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

template <typename T>
struct View {
  T* data = nullptr;
  int64_t length = 0;
};

template <typename T, napi_typedarray_type kType>
View<T> typed_array(const Napi::Env& env, const Napi::Value& v, const std::string& name, const char* what) {
  // One query for the type, length and data (the wrapper classes would make three).
  bool is_typed = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != kType)
    type_error(env, "Expected " + std::string(what) + " for " + name + " but received " + describe(v));
  return {static_cast<T*>(data), static_cast<int64_t>(length)};
}

View<float> f32(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  return typed_array<float, napi_float32_array>(env, v, name, "a Float32Array");
}
View<int32_t> i32(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  return typed_array<int32_t, napi_int32_array>(env, v, name, "an Int32Array");
}
View<uint8_t> u8(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  return typed_array<uint8_t, napi_uint8_array>(env, v, name, "a Uint8Array");
}
View<double> f64(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  return typed_array<double, napi_float64_array>(env, v, name, "a Float64Array");
}

double number(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) type_error(env, "Expected a number for " + name + " but received " + describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) range_error(env, "Expected a finite number for " + name + " but received " + describe(v));
  return x;
}

int64_t integer(const Napi::Env& env, const Napi::Value& v, const std::string& name, int64_t min, int64_t max) {
  if (!v.IsNumber()) type_error(env, "Expected an integer for " + name + " but received " + describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!(x == std::floor(x)) || x < static_cast<double>(min) || x > static_cast<double>(max)) {
    std::ostringstream out;
    out << "Expected an integer from " << min << " to " << max << " for " << name << " but received "
        << describe(v);
    range_error(env, out.str());
  }
  return static_cast<int64_t>(x);
}

int64_t dim(const Napi::Env& env, const Napi::Value& v, const std::string& name) {
  return integer(env, v, name, 0, kMaxDim);
}

bool boolean(const Napi::Env& env, const Napi::Value& v, const std::string& name, bool fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) type_error(env, "Expected a boolean for " + name + " but received " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

// Elements a (rows × cols) matrix with row stride ld spans.
int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

// The shape description is built only for the error message: describe() returns it.
template <typename Describe>
void require_length(const Napi::Env& env, const char* name, int64_t length, int64_t needed, Describe describe) {
  if (length < needed) {
    std::ostringstream out;
    out << "Expected " << name << " to hold at least " << needed << " elements (" << describe() << ") but it has "
        << length;
    range_error(env, out.str());
  }
}

void require_same_length(const Napi::Env& env, const std::string& name, int64_t length, const std::string& other,
                         int64_t expected) {
  if (length != expected) {
    std::ostringstream out;
    out << "Expected " << name << " to have the length of " << other << " (" << expected << ") but it has "
        << length;
    range_error(env, out.str());
  }
}

std::string shape(int64_t rows, int64_t cols, const std::string& ld_name = "", int64_t ld = 0) {
  std::ostringstream out;
  out << rows << "×" << cols;
  if (!ld_name.empty()) out << " with " << ld_name << " " << ld;
  return out.str();
}

// Outputs must not overlap inputs unless they are the very same array (which the kernels allow).
template <typename A, typename B>
void require_disjoint(const Napi::Env& env, const std::string& out_name, const View<A>& out, int64_t out_len,
                      const std::string& in_name, const View<B>& in, int64_t in_len, bool allow_same) {
  const auto* o0 = reinterpret_cast<const char*>(out.data);
  const auto* o1 = o0 + out_len * sizeof(A);
  const auto* i0 = reinterpret_cast<const char*>(in.data);
  const auto* i1 = i0 + in_len * sizeof(B);
  if (out_len == 0 || in_len == 0 || o1 <= i0 || i1 <= o0) return;
  if (allow_same && o0 == i0) return;
  range_error(env, "Expected " + out_name + " not to overlap " + in_name);
}

// An options object read once: each of its enumerable keys is checked against the known names (a misspelled
// option is an error, not ignored; names are compared in a stack buffer) and its value kept. Reading an
// option then costs a few string compares, not a V8 lookup by a name made anew on every call, and an absent
// one costs nothing: the checks were most of the cost of a product of a single sample.
class Options {
 public:
  static constexpr size_t kMaxKnown = 24;

  Options(const Napi::Env& env, const Napi::Object& object, const char* function, std::initializer_list<const char*> known)
      : env_(env), known_count_(known.size()) {
    if (known.size() > kMaxKnown) throw Napi::Error::New(env, std::string("too many options for ") + function);
    std::copy(known.begin(), known.end(), known_);
    const Napi::Array keys = object.GetPropertyNames();
    const uint32_t count = keys.Length();
    for (uint32_t i = 0; i < count; ++i) {
      const Napi::Value key = keys.Get(i);
      char name[64];
      size_t length = 0;
      const bool fits = key.IsString() && napi_get_value_string_utf8(env, key, name, sizeof name, &length) == napi_ok &&
                        length + 1 < sizeof name;
      const int slot = fits ? index(name) : -1;
      if (slot < 0) type_error(env, "Unknown option '" + key.ToString().Utf8Value() + "' for " + function);
      values_[slot] = object.Get(key);
    }
  }

  // The option's value; undefined when it is not given.
  Napi::Value Get(const char* name) const {
    const int slot = index(name);
    return slot < 0 || values_[slot] == nullptr ? env_.Undefined() : Napi::Value(env_, values_[slot]);
  }

 private:
  int index(const char* name) const {
    // Callers name options by the literals they listed, which the compiler merges: the address usually matches.
    for (size_t i = 0; i < known_count_; ++i)
      if (known_[i] == name) return static_cast<int>(i);
    for (size_t i = 0; i < known_count_; ++i)
      if (known_[i][0] == name[0] && std::strcmp(known_[i], name) == 0) return static_cast<int>(i);
    return -1;
  }

  Napi::Env env_;
  const char* known_[kMaxKnown] = {};
  napi_value values_[kMaxKnown] = {};
  size_t known_count_;
};

Napi::Object options_object(const Napi::CallbackInfo& info, const std::string& function) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray())
    type_error(info.Env(), "Expected an options object for " + function + " but received " +
                               (info.Length() < 1 ? std::string("nothing") : describe(info[0])));
  return info[0].As<Napi::Object>();
}

Activation activation(const Napi::Env& env, const Napi::Value& v, const std::string& name, bool allow_none) {
  if (v.IsUndefined() && allow_none) return Activation::kNone;
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "sigmoid") return Activation::kSigmoid;
    if (s == "relu") return Activation::kRelu;
    if (s == "none" && allow_none) return Activation::kNone;
  }
  type_error(env, std::string("Expected ") + (allow_none ? "'none', " : "") + "'sigmoid' or 'relu' for " + name +
                      " but received " + describe(v));
}

struct DropoutArgs {
  uint32_t threshold, key;
  float scale;
};

// { rate, key } for a mask over `elements` elements (kernels.h, dropout_bits).
DropoutArgs parse_dropout(const Napi::Env& env, const Napi::Value& dropout, int64_t elements) {
  if (!dropout.IsObject() || dropout.IsArray() || dropout.IsTypedArray()) type_error(env, "Expected dropout to be an object { rate, key }");
  const Options d(env, dropout.As<Napi::Object>(), "dropout", {"rate", "key"});
  const double rate = number(env, d.Get("rate"), "dropout.rate");
  if (!(rate >= 0.0 && rate < 1.0)) {
    std::ostringstream out;
    out << "Expected dropout.rate to be from 0 to below 1 but received " << rate;
    range_error(env, out.str());
  }
  const double key = number(env, d.Get("key"), "dropout.key");
  if (!(key >= 0.0 && key <= 4294967295.0 && key == std::floor(key))) type_error(env, "Expected dropout.key to be an integer from 0 to 2^32 − 1");
  if (elements > 4294967296LL) range_error(env, "dropout masks number at most 2^32 elements per call");
  // Kept when 32 uniform bits ≥ rate·2^32: a share 1 − rate, to within 2^-32.
  return {static_cast<uint32_t>(std::min(rate * 4294967296.0, 4294967295.0)), static_cast<uint32_t>(key),
          static_cast<float>(1.0 / (1.0 - rate))};
}

// A GEMM call with every argument checked, holding the arrays alive while asynchronous work runs.
struct GemmCall {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  bool a_from_bytes = false;
  ByteRows a_bytes;
  const float* b = nullptr;
  float* c = nullptr;
  Epilogue epilogue;
  Precision precision = Precision::kFp32;
  bool has_next = false;
  NextProduct next;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;

  void run() const {
    const NextProduct* then = has_next ? &next : nullptr;
    if (a_from_bytes) {
      sgemm(trans_a, trans_b, m, n, k, alpha, a_bytes, b, ldb, beta, c, ldc, epilogue, precision, then);
    } else {
      sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue, precision, then);
    }
  }
};

// A given as { bytes, rowLength, rows, mean, invStd }: the batch of samples rows[i], standardized while packed.
// Without transA the batch is A (m samples × k pixels); with it, Aᵀ is (m pixels × k samples).
void parse_byte_rows(const Napi::Env& env, const Napi::Object& object, GemmCall& call, bool keep) {
  const Options o(env, object, "a", {"bytes", "rowLength", "rows", "mean", "invStd"});
  const auto bytes = u8(env, o.Get("bytes"), "a.bytes");
  const int64_t row_length = integer(env, o.Get("rowLength"), "a.rowLength", 1, kMaxDim);
  const auto rows = i32(env, o.Get("rows"), "a.rows");
  const auto mean = f32(env, o.Get("mean"), "a.mean");
  const auto inv_std = f32(env, o.Get("invStd"), "a.invStd");
  if (mean.length != 1 && mean.length != row_length) {
    std::ostringstream out;
    out << "Expected a.mean to have length 1 or a.rowLength (" << row_length << ") but it has " << mean.length;
    range_error(env, out.str());
  }
  require_same_length(env, "a.invStd", inv_std.length, "a.mean", mean.length);
  const int64_t samples = call.trans_a ? call.k : call.m, pixels = call.trans_a ? call.m : call.k;
  require_length(env, "a.rows", rows.length, samples, [&] {
    return std::string(call.trans_a ? "k samples" : "m samples");
  });
  if (pixels > row_length) {
    std::ostringstream out;
    out << "Expected " << (call.trans_a ? "m" : "k") << " (the pixels used) to be at most a.rowLength (" << row_length
        << ") but received " << pixels;
    range_error(env, out.str());
  }
  const int64_t available = bytes.length / row_length;
  for (int64_t r = 0; r < samples; ++r) {
    if (rows.data[r] < 0 || rows.data[r] >= available) {
      std::ostringstream out;
      out << "Expected a.rows[" << r << "] to be a sample from 0 to " << available - 1 << " but received " << rows.data[r];
      range_error(env, out.str());
    }
  }
  call.a_from_bytes = true;
  call.a_bytes = ByteRows{bytes.data, rows.data, row_length, mean.data, inv_std.data, mean.length > 1};
  if (keep)
    for (const char* name : {"bytes", "rows", "mean", "invStd"}) call.keep_alive.push_back(Napi::Persistent(o.Get(name)));
}

// A row stride: at least the row length (cols, or 1 for an empty row), the row length when not given.
int64_t row_stride(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t cols) {
  const int64_t width = std::max<int64_t>(cols, 1);
  if (v.IsUndefined()) return width;
  const int64_t ld = dim(env, v, name);
  if (ld < width) {
    std::ostringstream out;
    out << "Expected " << name << " to be at least " << width << " (the row length) but received " << ld;
    range_error(env, out.str());
  }
  return ld;
}

// next: { n, b, c, bias?, ldb?, ldc? }, the product C·b + bias (C the first product's m × n result) into c.
// Its c is written while the first product still reads its operands and writes its C, so it may overlap none
// of them; the first product's C may not overlap the b and bias it is multiplied by.
void parse_next(const Napi::Env& env, const Napi::Value& value, GemmCall& call, const View<float>& a, int64_t a_span,
                const View<float>& b, int64_t b_span, const View<float>& c, int64_t c_span, bool keep) {
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray())
    type_error(env, "Expected next to be an object { n, b, c, bias, ldb, ldc } but received " + describe(value));
  const Options o(env, value.As<Napi::Object>(), "next", {"n", "b", "c", "bias", "ldb", "ldc"});
  NextProduct& next = call.next;
  next.n = dim(env, o.Get("n"), "next.n");
  next.ldb = row_stride(env, o.Get("ldb"), "next.ldb", next.n);
  next.ldc = row_stride(env, o.Get("ldc"), "next.ldc", next.n);
  const auto nb = f32(env, o.Get("b"), "next.b");
  const auto nc = f32(env, o.Get("c"), "next.c");
  const int64_t nb_span = call.m > 0 && next.n > 0 ? span(call.n, next.n, next.ldb) : 0;
  const int64_t nc_span = span(call.m, next.n, next.ldc);
  require_length(env, "next.b", nb.length, nb_span, [&] { return "n×next.n = " + shape(call.n, next.n, "next.ldb", next.ldb); });
  require_length(env, "next.c", nc.length, nc_span, [&] { return "m×next.n = " + shape(call.m, next.n, "next.ldc", next.ldc); });
  require_disjoint(env, "next.c", nc, nc_span, "c", c, c_span, false);
  require_disjoint(env, "next.c", nc, nc_span, "a", a, a_span, false);
  require_disjoint(env, "next.c", nc, nc_span, "b", b, b_span, false);
  require_disjoint(env, "next.c", nc, nc_span, "next.b", nb, nb_span, false);
  require_disjoint(env, "c", c, c_span, "next.b", nb, nb_span, false);
  const Napi::Value bias = o.Get("bias");
  if (!bias.IsUndefined()) {
    const auto bv = f32(env, bias, "next.bias");
    require_length(env, "next.bias", bv.length, next.n, [&] { return std::string("next.n"); });
    require_disjoint(env, "next.c", nc, nc_span, "next.bias", bv, next.n, false);
    require_disjoint(env, "c", c, c_span, "next.bias", bv, next.n, false);
    next.bias = bv.data;
    if (keep) call.keep_alive.push_back(Napi::Persistent(bias));
  }
  if (call.epilogue.bias) {
    const View<const float> main_bias{call.epilogue.bias, call.n};
    require_disjoint(env, "next.c", nc, nc_span, "bias", main_bias, call.n, false);
  }
  if (call.epilogue.derivative_of) {
    const View<const float> of{call.epilogue.derivative_of, c_span};
    require_disjoint(env, "next.c", nc, nc_span, "derivativeOf", of, c_span, false);
  }
  next.b = nb.data;
  next.c = nc.data;
  call.has_next = true;
  if (keep)
    for (const char* name : {"b", "c"}) call.keep_alive.push_back(Napi::Persistent(o.Get(name)));
}

// keep: hold references to the arrays (for asynchronous work).
GemmCall parse_gemm(const Napi::CallbackInfo& info, const char* function, bool keep) {
  const Napi::Env env = info.Env();
  const Options o(env, options_object(info, function), function,
                  {"transA", "transB", "m", "n", "k", "alpha", "a", "lda", "b", "ldb", "beta", "c", "ldc", "bias",
                   "activation", "derivative", "derivativeOf", "dropout", "precision", "next"});
  GemmCall call;
  call.trans_a = boolean(env, o.Get("transA"), "transA", false);
  call.trans_b = boolean(env, o.Get("transB"), "transB", false);
  call.m = dim(env, o.Get("m"), "m");
  call.n = dim(env, o.Get("n"), "n");
  call.k = dim(env, o.Get("k"), "k");
  if (!o.Get("alpha").IsUndefined()) call.alpha = static_cast<float>(number(env, o.Get("alpha"), "alpha"));
  if (!o.Get("beta").IsUndefined()) call.beta = static_cast<float>(number(env, o.Get("beta"), "beta"));
  const Napi::Value a_value = o.Get("a");
  const bool a_from_bytes = a_value.IsObject() && !a_value.IsTypedArray() && !a_value.IsArray();
  const auto a = a_from_bytes ? View<float>{} : f32(env, a_value, "a");
  const auto b = f32(env, o.Get("b"), "b");
  const auto c = f32(env, o.Get("c"), "c");

  // A is stored (m×k), or (k×m) when transposed; B (k×n), or (n×k).
  const int64_t a_rows = call.trans_a ? call.k : call.m, a_cols = call.trans_a ? call.m : call.k;
  const int64_t b_rows = call.trans_b ? call.n : call.k, b_cols = call.trans_b ? call.k : call.n;
  const auto stride = [&](const char* name, int64_t cols) { return row_stride(env, o.Get(name), name, cols); };
  if (a_from_bytes && !o.Get("lda").IsUndefined()) type_error(env, "lda is not used when a is given as bytes");
  call.lda = stride("lda", a_cols);
  call.ldb = stride("ldb", b_cols);
  call.ldc = stride("ldc", call.n);
  // A and B are read only when the product contributes.
  const bool reads_ab = call.m > 0 && call.n > 0;
  const int64_t a_span = reads_ab && !a_from_bytes ? span(a_rows, a_cols, call.lda) : 0;
  const int64_t b_span = reads_ab ? span(b_rows, b_cols, call.ldb) : 0;
  const int64_t c_span = span(call.m, call.n, call.ldc);
  if (a_from_bytes) {
    parse_byte_rows(env, a_value.As<Napi::Object>(), call, keep);
  } else {
    require_length(env, "a", a.length, a_span, [&] {
      return std::string(call.trans_a ? "k×m = " : "m×k = ") + shape(a_rows, a_cols, "lda", call.lda);
    });
  }
  require_length(env, "b", b.length, b_span, [&] {
    return std::string(call.trans_b ? "n×k = " : "k×n = ") + shape(b_rows, b_cols, "ldb", call.ldb);
  });
  require_length(env, "c", c.length, c_span, [&] {
    return std::string("m×n = " + shape(call.m, call.n, "ldc", call.ldc));
  });
  require_disjoint(env, "c", c, c_span, "a", a, a_span, false);
  require_disjoint(env, "c", c, c_span, "b", b, b_span, false);
  call.a = a.data;
  call.b = b.data;
  call.c = c.data;

  const Napi::Value bias = o.Get("bias");
  if (!bias.IsUndefined()) {
    const auto bv = f32(env, bias, "bias");
    require_length(env, "bias", bv.length, call.n, [&] { return std::string("n"); });
    require_disjoint(env, "c", c, c_span, "bias", bv, call.n, false);
    call.epilogue.bias = bv.data;
    if (keep) call.keep_alive.push_back(Napi::Persistent(bias));
  }
  call.epilogue.activation = activation(env, o.Get("activation"), "activation", true);
  const Napi::Value derivative = o.Get("derivative");
  if (!derivative.IsUndefined()) {
    call.epilogue.derivative = activation(env, derivative, "derivative", false);
    const Napi::Value of = o.Get("derivativeOf");
    const auto y = f32(env, of, "derivativeOf");
    require_length(env, "derivativeOf", y.length, c_span, [&] {
      return std::string("m×n = " + shape(call.m, call.n, "ldc", call.ldc));
    });
    require_disjoint(env, "c", c, c_span, "derivativeOf", y, c_span, false);
    call.epilogue.derivative_of = y.data;
    call.epilogue.ld_derivative_of = call.ldc;
    if (keep) call.keep_alive.push_back(Napi::Persistent(of));
  } else if (!o.Get("derivativeOf").IsUndefined()) {
    type_error(env, "derivativeOf is given without derivative");
  }
  const Napi::Value dropout = o.Get("dropout");
  if (!dropout.IsUndefined()) {
    if (call.epilogue.activation == Activation::kNone && call.epilogue.derivative == Activation::kNone) {
      type_error(env, "dropout needs an activation or a derivative to follow");
    }
    const DropoutArgs d = parse_dropout(env, dropout, call.m * call.n);
    call.epilogue.dropout_threshold = d.threshold;
    call.epilogue.dropout_key = d.key;
    call.epilogue.dropout_scale = d.scale;
    call.epilogue.dropout_width = call.n;
  }
  const Napi::Value precision = o.Get("precision");
  if (!precision.IsUndefined()) {
    const std::string p = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
    if (p == "bf16") {
      call.precision = Precision::kBf16;
    } else if (p != "fp32") {
      type_error(env, "Expected 'fp32' or 'bf16' for precision but received " + describe(precision));
    }
  }
  const Napi::Value next = o.Get("next");
  if (!next.IsUndefined()) parse_next(env, next, call, a, a_span, b, b_span, c, c_span, keep);
  if (keep)
    for (const char* name : {"a", "b", "c"}) call.keep_alive.push_back(Napi::Persistent(o.Get(name)));
  return call;
}

class GemmWorker : public Napi::AsyncWorker {
 public:
  GemmWorker(const Napi::Env& env, GemmCall call)
      : Napi::AsyncWorker(env, "fastmlp.gemm"), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override { call_.run(); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  GemmCall call_;
  Napi::Promise::Deferred deferred_;
};

void require_args(const Napi::CallbackInfo& info, size_t count, const std::string& function) {
  if (info.Length() < count) {
    std::ostringstream out;
    out << function << " expects " << count << " arguments but received " << info.Length();
    type_error(info.Env(), out.str());
  }
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("gemm", &Addon::Gemm),
                             InstanceMethod("gemmAsync", &Addon::GemmAsync),
                             InstanceMethod("biasAdd", &Addon::BiasAdd),
                             InstanceMethod("sigmoidForward", &Addon::SigmoidForward),
                             InstanceMethod("sigmoidBackward", &Addon::SigmoidBackward),
                             InstanceMethod("reluForward", &Addon::ReluForward),
                             InstanceMethod("reluBackward", &Addon::ReluBackward),
                             InstanceMethod("softmaxCrossEntropy", &Addon::SoftmaxCrossEntropy),
                             InstanceMethod("argmax", &Addon::Argmax),
                             InstanceMethod("countCorrect", &Addon::CountCorrect),
                             InstanceMethod("columnSums", &Addon::ColumnSums),
                             InstanceMethod("standardize", &Addon::Standardize),
                             InstanceMethod("gatherRows", &Addon::GatherRows),
                             InstanceMethod("augmentRows", &Addon::AugmentRows),
                             InstanceMethod("transformRows", &Addon::TransformRows),
                             InstanceMethod("sgdUpdate", &Addon::SgdUpdate),
                             InstanceMethod("momentumUpdate", &Addon::MomentumUpdate),
                             InstanceMethod("adamUpdate", &Addon::AdamUpdate),
                             InstanceMethod("maxNorm", &Addon::MaxNorm),
                             InstanceMethod("getThreads", &Addon::GetThreads),
                             InstanceMethod("setThreads", &Addon::SetThreads),
                             InstanceMethod("getCallerThreads", &Addon::GetCallerThreads),
                             InstanceMethod("setCallerThreads", &Addon::SetCallerThreads),
                             InstanceMethod("readPixelsJson", &Addon::ReadPixelsJson),
                             InstanceMethod("lowerPriority", &Addon::LowerPriority),
                             InstanceMethod("poolInfo", &Addon::PoolInfo),
                             InstanceMethod("getIsa", &Addon::GetIsa),
                             InstanceMethod("setIsa", &Addon::SetIsa),
                             InstanceMethod("supportedIsas", &Addon::SupportedIsas),
                             InstanceMethod("gemmConfig", &Addon::GemmConfig),
                         });
  }

 private:
  Napi::Value Gemm(const Napi::CallbackInfo& info) {
    parse_gemm(info, "gemm", false).run();
    return info.Env().Undefined();
  }

  Napi::Value GemmAsync(const Napi::CallbackInfo& info) {
    auto* worker = new GemmWorker(info.Env(), parse_gemm(info, "gemmAsync", true));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // biasAdd(x, bias, m, n, y)
  Napi::Value BiasAdd(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 5, "biasAdd");
    const auto x = f32(env, info[0], "x");
    const auto bias = f32(env, info[1], "bias");
    const int64_t m = dim(env, info[2], "m"), n = dim(env, info[3], "n");
    const auto y = f32(env, info[4], "y");
    require_length(env, "x", x.length, m * n, [&] { return std::string("m×n = " + shape(m, n)); });
    require_length(env, "bias", bias.length, n, [&] { return std::string("n"); });
    require_length(env, "y", y.length, m * n, [&] { return std::string("m×n = " + shape(m, n)); });
    require_disjoint(env, "y", y, m * n, "x", x, m * n, true);
    require_disjoint(env, "y", y, m * n, "bias", bias, n, false);
    bias_add(x.data, bias.data, y.data, m, n);
    return env.Undefined();
  }

  // f(x, y) over x.length elements, y the same length (may be x)
  template <void (*kFn)(const float*, float*, int64_t)>
  Napi::Value Unary(const Napi::CallbackInfo& info, const char* function) {
    const Napi::Env env = info.Env();
    require_args(info, 2, function);
    const auto x = f32(env, info[0], "x");
    const auto y = f32(env, info[1], "y");
    require_same_length(env, "y", y.length, "x", x.length);
    require_disjoint(env, "y", y, y.length, "x", x, x.length, true);
    kFn(x.data, y.data, x.length);
    return env.Undefined();
  }

  // f(y, dy, dx): dx = dy · f'(y), all the same length; dx may be dy
  template <void (*kFn)(const float*, const float*, float*, int64_t)>
  Napi::Value Backward(const Napi::CallbackInfo& info, const char* function) {
    const Napi::Env env = info.Env();
    require_args(info, 3, function);
    const auto y = f32(env, info[0], "y");
    const auto dy = f32(env, info[1], "dy");
    const auto dx = f32(env, info[2], "dx");
    require_same_length(env, "dy", dy.length, "y", y.length);
    require_same_length(env, "dx", dx.length, "y", y.length);
    require_disjoint(env, "dx", dx, dx.length, "dy", dy, dy.length, true);
    require_disjoint(env, "dx", dx, dx.length, "y", y, y.length, false);
    kFn(y.data, dy.data, dx.data, y.length);
    return env.Undefined();
  }

  Napi::Value SigmoidForward(const Napi::CallbackInfo& info) { return Unary<sigmoid_forward>(info, "sigmoidForward"); }
  Napi::Value ReluForward(const Napi::CallbackInfo& info) { return Unary<relu_forward>(info, "reluForward"); }
  Napi::Value SigmoidBackward(const Napi::CallbackInfo& info) {
    return Backward<sigmoid_backward>(info, "sigmoidBackward");
  }
  Napi::Value ReluBackward(const Napi::CallbackInfo& info) { return Backward<relu_backward>(info, "reluBackward"); }

  Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const Options o(env, options_object(info, "softmaxCrossEntropy"), "softmaxCrossEntropy", {"logits", "targets", "m", "n", "probabilities", "gradient", "smoothing"});
    double smoothing = 0.0;
    if (!o.Get("smoothing").IsUndefined()) {
      smoothing = number(env, o.Get("smoothing"), "smoothing");
      if (!(smoothing >= 0.0 && smoothing < 1.0)) {
        std::ostringstream out;
        out << "Expected smoothing to be from 0 to below 1 but received " << smoothing;
        range_error(env, out.str());
      }
    }
    const int64_t m = dim(env, o.Get("m"), "m");
    const int64_t n = integer(env, o.Get("n"), "n", 1, kMaxDim);
    const int64_t size = m * n;
    const std::string mn = "m×n = " + shape(m, n);
    const auto logits = f32(env, o.Get("logits"), "logits");
    require_length(env, "logits", logits.length, size, [&] { return std::string(mn); });

    const Napi::Value targets = o.Get("targets");
    const int32_t* labels = nullptr;
    const float* distributions = nullptr;
    if (targets.IsTypedArray() && targets.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      const auto t = i32(env, targets, "targets");
      require_length(env, "targets", t.length, m, [&] { return std::string("m class indices"); });
      for (int64_t i = 0; i < m; ++i) {
        if (t.data[i] < 0 || t.data[i] >= n) {
          std::ostringstream out;
          out << "Expected targets[" << i << "] to be a class from 0 to " << n - 1 << " but received " << t.data[i];
          range_error(env, out.str());
        }
      }
      labels = t.data;
    } else if (targets.IsTypedArray() && targets.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
      const auto t = f32(env, targets, "targets");
      require_length(env, "targets", t.length, size, [&] { return std::string(mn); });
      distributions = t.data;
    } else {
      type_error(env, "Expected an Int32Array of classes or a Float32Array of distributions for targets but received " +
                          describe(targets));
    }

    float* outputs[2] = {nullptr, nullptr};
    const char* names[2] = {"probabilities", "gradient"};
    for (int i = 0; i < 2; ++i) {
      const Napi::Value v = o.Get(names[i]);
      if (v.IsUndefined()) continue;
      const auto out = f32(env, v, names[i]);
      require_length(env, names[i], out.length, size, [&] { return std::string(mn); });
      require_disjoint(env, names[i], out, size, "logits", logits, size, true);
      if (distributions) require_disjoint(env, names[i], out, size, "targets", View<const float>{distributions, size},
                                          size, i == 1);
      outputs[i] = out.data;
    }
    if (outputs[0] && outputs[1] && outputs[0] == outputs[1])
      range_error(env, "Expected probabilities and gradient to be different arrays");
    if (outputs[0] && outputs[1])
      require_disjoint(env, "gradient", View<float>{outputs[1], size}, size, "probabilities",
                       View<float>{outputs[0], size}, size, false);

    if (smoothing > 0.0 && !labels) type_error(env, "smoothing applies to class-index targets; smooth a distribution before passing it");
    const SoftmaxResult r = softmax_cross_entropy(logits.data, labels, distributions, m, n, outputs[0], outputs[1], smoothing);
    Napi::Object result = Napi::Object::New(env);
    result.Set("loss", r.loss);
    result.Set("correct", static_cast<double>(r.correct));
    return result;
  }

  // argmax(x, m, n, out)
  Napi::Value Argmax(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 4, "argmax");
    const auto x = f32(env, info[0], "x");
    const int64_t m = dim(env, info[1], "m"), n = integer(env, info[2], "n", 1, kMaxDim);
    const auto out = i32(env, info[3], "out");
    require_length(env, "x", x.length, m * n, [&] { return std::string("m×n = " + shape(m, n)); });
    require_length(env, "out", out.length, m, [&] { return std::string("m"); });
    argmax_rows(x.data, m, n, out.data);
    return env.Undefined();
  }

  // countCorrect(x, m, n, labels)
  Napi::Value CountCorrect(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 4, "countCorrect");
    const auto x = f32(env, info[0], "x");
    const int64_t m = dim(env, info[1], "m"), n = integer(env, info[2], "n", 1, kMaxDim);
    const auto labels = i32(env, info[3], "labels");
    require_length(env, "x", x.length, m * n, [&] { return std::string("m×n = " + shape(m, n)); });
    require_length(env, "labels", labels.length, m, [&] { return std::string("m"); });
    return Napi::Number::New(env, static_cast<double>(count_correct(x.data, m, n, labels.data)));
  }

  // columnSums(x, m, n, out, alpha = 1, beta = 0)
  Napi::Value ColumnSums(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 4, "columnSums");
    const auto x = f32(env, info[0], "x");
    const int64_t m = dim(env, info[1], "m"), n = dim(env, info[2], "n");
    const auto out = f32(env, info[3], "out");
    const float alpha = info.Length() > 4 && !info[4].IsUndefined() ? static_cast<float>(number(env, info[4], "alpha")) : 1.0f;
    const float beta = info.Length() > 5 && !info[5].IsUndefined() ? static_cast<float>(number(env, info[5], "beta")) : 0.0f;
    require_length(env, "x", x.length, m * n, [&] { return std::string("m×n = " + shape(m, n)); });
    require_length(env, "out", out.length, n, [&] { return std::string("n"); });
    require_disjoint(env, "out", out, n, "x", x, m * n, false);
    column_sums(x.data, m, n, out.data, alpha, beta);
    return env.Undefined();
  }

  Napi::Value Standardize(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const Options o(env, options_object(info, "standardize"), "standardize", {"pixels", "rowLength", "indices", "mean", "invStd", "out"});
    const auto pixels = u8(env, o.Get("pixels"), "pixels");
    const int64_t row_length = integer(env, o.Get("rowLength"), "rowLength", 1, kMaxDim);
    const auto indices = i32(env, o.Get("indices"), "indices");
    const auto mean = f32(env, o.Get("mean"), "mean");
    const auto inv_std = f32(env, o.Get("invStd"), "invStd");
    const auto out = f32(env, o.Get("out"), "out");
    if (mean.length != 1 && mean.length != row_length) {
      std::ostringstream msg;
      msg << "Expected mean to have length 1 or rowLength (" << row_length << ") but it has " << mean.length;
      range_error(env, msg.str());
    }
    require_same_length(env, "invStd", inv_std.length, "mean", mean.length);
    const int64_t rows = pixels.length / row_length;
    for (int64_t r = 0; r < indices.length; ++r) {
      if (indices.data[r] < 0 || indices.data[r] >= rows) {
        std::ostringstream msg;
        msg << "Expected indices[" << r << "] to be a row from 0 to " << rows - 1 << " but received "
            << indices.data[r];
        range_error(env, msg.str());
      }
    }
    require_length(env, "out", out.length, indices.length * row_length, [&] {
      return std::string("indices.length×rowLength = " + shape(indices.length, row_length));
    });
    standardize(pixels.data, row_length, indices.data, indices.length, mean.data, inv_std.data, mean.length > 1,
                out.data);
    return env.Undefined();
  }

  // The images of an augmentation call: bytes (images of rows×cols), their indices, and out (one image each).
  struct ImageRows {
    View<uint8_t> bytes, out;
    View<int32_t> indices;
    int64_t rows = 0, cols = 0;
  };

  static ImageRows image_rows(const Napi::Env& env, const Options& o) {
    ImageRows r;
    r.bytes = u8(env, o.Get("bytes"), "bytes");
    r.rows = integer(env, o.Get("rows"), "rows", 1, kMaxImageSide);
    r.cols = integer(env, o.Get("cols"), "cols", 1, kMaxImageSide);
    r.indices = i32(env, o.Get("indices"), "indices");
    r.out = u8(env, o.Get("out"), "out");
    const int64_t pixels = r.rows * r.cols, images = r.bytes.length / pixels;
    for (int64_t i = 0; i < r.indices.length; ++i) {
      if (r.indices.data[i] < 0 || r.indices.data[i] >= images) {
        std::ostringstream msg;
        msg << "Expected indices[" << i << "] to be an image from 0 to " << images - 1 << " but received " << r.indices.data[i];
        range_error(env, msg.str());
      }
    }
    require_length(env, "out", r.out.length, r.indices.length * pixels, [&] { return "indices.length×rows×cols = " + shape(r.indices.length, pixels); });
    require_disjoint(env, "out", r.out, r.indices.length * pixels, "bytes", r.bytes, r.bytes.length, false);
    return r;
  }

  // augmentRows({ bytes, rows, cols, indices, out, spec: { shift, rotate, scale, shear, elasticAlpha, elasticSigma }, seed, epoch })
  Napi::Value AugmentRows(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const Options o(env, options_object(info, "augmentRows"), "augmentRows", {"bytes", "rows", "cols", "indices", "out", "spec", "seed", "epoch"});
    const ImageRows r = image_rows(env, o);
    const Napi::Value spec_value = o.Get("spec");
    if (!spec_value.IsObject() || spec_value.IsArray() || spec_value.IsTypedArray()) type_error(env, "Expected spec to be an object");
    const Options s(env, spec_value.As<Napi::Object>(), "spec", {"shift", "rotate", "scale", "shear", "elasticAlpha", "elasticSigma"});
    const auto limit = [&](const char* name, double max) {
      const Napi::Value v = s.Get(name);
      if (v.IsUndefined()) return 0.0;
      const double x = number(env, v, std::string("spec.") + name);
      if (!(x >= 0.0 && x <= max)) {
        std::ostringstream msg;
        msg << "Expected spec." << name << " to be from 0 to " << max << " but received " << x;
        range_error(env, msg.str());
      }
      return x;
    };
    AugmentSpec spec;
    spec.shift = limit("shift", 64.0);
    spec.rotate = limit("rotate", 180.0);
    spec.scale = limit("scale", 0.9);
    spec.shear = limit("shear", 60.0);
    spec.elastic_alpha = limit("elasticAlpha", 1000.0);
    spec.elastic_sigma = limit("elasticSigma", 64.0);
    const auto seed = static_cast<uint32_t>(integer(env, o.Get("seed"), "seed", 0, 4294967295LL));
    const auto epoch = static_cast<uint32_t>(integer(env, o.Get("epoch"), "epoch", 0, 4294967295LL));
    augment_rows(r.bytes.data, r.rows, r.cols, r.indices.data, r.indices.length, spec, seed, epoch, r.out.data);
    return env.Undefined();
  }

  // transformRows({ bytes, rows, cols, indices, out, affine, displacement? }): given maps (augment.h).
  Napi::Value TransformRows(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const Options o(env, options_object(info, "transformRows"), "transformRows", {"bytes", "rows", "cols", "indices", "out", "affine", "displacement"});
    const ImageRows r = image_rows(env, o);
    const auto affine = f64(env, o.Get("affine"), "affine");
    require_length(env, "affine", affine.length, 6 * r.indices.length, [&] { return std::string("6×indices.length"); });
    const double* displacement = nullptr;
    if (!o.Get("displacement").IsUndefined()) {
      const auto d = f64(env, o.Get("displacement"), "displacement");
      require_length(env, "displacement", d.length, 2 * r.rows * r.cols * r.indices.length, [&] { return std::string("2×rows×cols×indices.length"); });
      displacement = d.data;
    }
    for (int64_t i = 0; i < affine.length; ++i)
      if (!std::isfinite(affine.data[i])) range_error(env, "Expected affine to hold finite numbers");
    transform_rows(r.bytes.data, r.rows, r.cols, r.indices.data, r.indices.length, affine.data, displacement, r.out.data);
    return env.Undefined();
  }

  // gatherRows({ bytes, rowLength, indices, out })
  Napi::Value GatherRows(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const Options o(env, options_object(info, "gatherRows"), "gatherRows", {"bytes", "rowLength", "indices", "out", "dropout"});
    const auto bytes = u8(env, o.Get("bytes"), "bytes");
    const int64_t row_length = integer(env, o.Get("rowLength"), "rowLength", 1, kMaxDim);
    const auto indices = i32(env, o.Get("indices"), "indices");
    const auto out = u8(env, o.Get("out"), "out");
    const int64_t rows = bytes.length / row_length;
    for (int64_t r = 0; r < indices.length; ++r) {
      if (indices.data[r] < 0 || indices.data[r] >= rows) {
        std::ostringstream msg;
        msg << "Expected indices[" << r << "] to be a row from 0 to " << rows - 1 << " but received " << indices.data[r];
        range_error(env, msg.str());
      }
    }
    require_length(env, "out", out.length, indices.length * row_length, [&] {
      return "indices.length×rowLength = " + shape(indices.length, row_length);
    });
    require_disjoint(env, "out", out, indices.length * row_length, "bytes", bytes, bytes.length, false);
    const Napi::Value dropout = o.Get("dropout");
    const DropoutArgs d = dropout.IsUndefined() ? DropoutArgs{0, 0, 1.0f} : parse_dropout(env, dropout, indices.length * row_length);
    gather_rows(bytes.data, row_length, indices.data, indices.length, out.data, d.threshold, d.key);
    return env.Undefined();
  }

  // readPixelsJson(body, imagePixels, maxImages, into?): the body's images as floats, or undefined (see
  // pixels_json.h). The values go into a new Float32Array, or into the start of `into` when it is given and
  // they fit (the result's pixels are then a view of it).
  Napi::Value ReadPixelsJson(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 3, "readPixelsJson");
    const auto body = u8(env, info[0], "body");
    const int64_t image_pixels = integer(env, info[1], "imagePixels", 1, kMaxDim);
    const int64_t max_images = integer(env, info[2], "maxImages", 1, kMaxDim);
    const bool has_into = info.Length() > 3 && !info[3].IsUndefined();
    const View<float> into = has_into ? f32(env, info[3], "into") : View<float>{};
    thread_local PixelsJson read;
    if (!read_pixels_json(body.data, static_cast<size_t>(body.length), image_pixels, max_images, read)) {
      return env.Undefined();
    }
    const size_t count = read.pixels.size();
    Napi::Float32Array pixels;
    if (has_into && static_cast<size_t>(into.length) >= count) {
      const auto array = info[3].As<Napi::Float32Array>();
      pixels = Napi::Float32Array::New(env, count, array.ArrayBuffer(), array.ByteOffset());
    } else {
      pixels = Napi::Float32Array::New(env, count);
    }
    std::memcpy(pixels.Data(), read.pixels.data(), count * sizeof(float));
    Napi::Object result = Napi::Object::New(env);
    result.Set("pixels", pixels);
    result.Set("images", Napi::Number::New(env, static_cast<double>(read.images)));
    result.Set("batch", Napi::Boolean::New(env, read.batch));
    if (read.has_scale) result.Set("scale", read.scale);
    if (read.has_model) result.Set("model", read.model);
    result.Set("min", read.min);
    result.Set("max", read.max);
    return result;
  }

  // sgdUpdate(w, g, lr, weightDecay)
  Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 4, "sgdUpdate");
    const auto w = f32(env, info[0], "w");
    const auto g = f32(env, info[1], "g");
    require_same_length(env, "g", g.length, "w", w.length);
    require_disjoint(env, "w", w, w.length, "g", g, g.length, false);
    sgd_update(w.data, g.data, w.length, static_cast<float>(number(env, info[2], "lr")),
               static_cast<float>(number(env, info[3], "weightDecay")));
    return env.Undefined();
  }

  // maxNorm(w, rows, cols, limit)
  Napi::Value MaxNorm(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 4, "maxNorm");
    const auto w = f32(env, info[0], "w");
    const int64_t rows = dim(env, info[1], "rows");
    const int64_t cols = dim(env, info[2], "cols");
    require_length(env, "w", w.length, rows * cols, [&] { return "rows×cols = " + shape(rows, cols); });
    const double limit = number(env, info[3], "limit");
    if (!(limit > 0.0 && std::isfinite(limit))) range_error(env, "Expected limit to be a positive number but received " + describe(info[3]));
    max_norm(w.data, rows, cols, static_cast<float>(limit));
    return env.Undefined();
  }

  // momentumUpdate(w, g, velocity, lr, momentum, weightDecay, nesterov)
  Napi::Value MomentumUpdate(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 7, "momentumUpdate");
    const auto w = f32(env, info[0], "w");
    const auto g = f32(env, info[1], "g");
    const auto v = f32(env, info[2], "velocity");
    require_same_length(env, "g", g.length, "w", w.length);
    require_same_length(env, "velocity", v.length, "w", w.length);
    require_disjoint(env, "w", w, w.length, "g", g, g.length, false);
    require_disjoint(env, "velocity", v, v.length, "w", w, w.length, false);
    require_disjoint(env, "velocity", v, v.length, "g", g, g.length, false);
    const float lr = static_cast<float>(number(env, info[3], "lr"));
    const float momentum = static_cast<float>(number(env, info[4], "momentum"));
    const float weight_decay = static_cast<float>(number(env, info[5], "weightDecay"));
    const bool nesterov = boolean(env, info[6], "nesterov", false);
    momentum_update(w.data, g.data, v.data, w.length, lr, momentum, weight_decay, nesterov);
    return env.Undefined();
  }

  // adamUpdate(w, g, m, v, { lr, beta1, beta2, epsilon, step, weightDecay })
  Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 5, "adamUpdate");
    const auto w = f32(env, info[0], "w");
    const auto g = f32(env, info[1], "g");
    const auto m = f32(env, info[2], "m");
    const auto v = f32(env, info[3], "v");
    for (const auto& [name, view] : {std::pair<const char*, View<float>>{"g", g}, {"m", m}, {"v", v}})
      require_same_length(env, name, view.length, "w", w.length);
    require_disjoint(env, "w", w, w.length, "g", g, g.length, false);
    require_disjoint(env, "m", m, m.length, "w", w, w.length, false);
    require_disjoint(env, "m", m, m.length, "g", g, g.length, false);
    require_disjoint(env, "v", v, v.length, "w", w, w.length, false);
    require_disjoint(env, "v", v, v.length, "g", g, g.length, false);
    require_disjoint(env, "v", v, v.length, "m", m, m.length, false);
    if (!info[4].IsObject()) type_error(env, "Expected an options object for adamUpdate's fifth argument but received " + describe(info[4]));
    const Options o(env, info[4].As<Napi::Object>(), "adamUpdate", {"lr", "beta1", "beta2", "epsilon", "step", "weightDecay"});
    const auto fraction = [&](const char* name) {
      const double x = number(env, o.Get(name), name);
      if (x < 0.0 || x >= 1.0) range_error(env, std::string("Expected ") + name + " in [0, 1) but received " + describe(o.Get(name)));
      return static_cast<float>(x);
    };
    adam_update(w.data, g.data, m.data, v.data, w.length, static_cast<float>(number(env, o.Get("lr"), "lr")),
                fraction("beta1"), fraction("beta2"), static_cast<float>(number(env, o.Get("epsilon"), "epsilon")),
                integer(env, o.Get("step"), "step", 1, int64_t(1) << 52),
                static_cast<float>(number(env, o.Get("weightDecay"), "weightDecay")));
    return env.Undefined();
  }

  Napi::Value GetThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ThreadPool::instance().threads());
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    require_args(info, 1, "setThreads");
    ThreadPool::instance().set_threads(static_cast<int>(integer(info.Env(), info[0], "threads", 1, 256)));
    return info.Env().Undefined();
  }

  Napi::Value GetCallerThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ThreadPool::caller_limit());
  }

  Napi::Value SetCallerThreads(const Napi::CallbackInfo& info) {
    require_args(info, 1, "setCallerThreads");
    ThreadPool::set_caller_limit(static_cast<int>(integer(info.Env(), info[0], "threads", 0, 256)));
    return info.Env().Undefined();
  }

  // lowerPriority(nice, idle = false)
  Napi::Value LowerPriority(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 1, "lowerPriority");
    const int nice = static_cast<int>(integer(env, info[0], "nice", 0, 19));
    const bool idle = boolean(env, info[1], "idle", false);
    return Napi::Boolean::New(env, ThreadPool::lower_priority(nice, idle));
  }

  // poolInfo(): the pool the calling thread's regions run on (shared with every thread that uses it), each
  // worker's priority as the worker itself recorded it.
  Napi::Value PoolInfo(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    if (info.Length() > 0) type_error(env, "poolInfo takes no arguments but received " + describe(info[0]));
    const ThreadPool::Info pool = ThreadPool::instance().info();
    Napi::Array workers = Napi::Array::New(env, pool.workers.size());
    for (size_t i = 0; i < pool.workers.size(); ++i) {
      Napi::Object worker = Napi::Object::New(env);
      worker.Set("tid", static_cast<double>(pool.workers[i].tid));
      worker.Set("nice", pool.workers[i].nice);
      worker.Set("idle", pool.workers[i].idle);
      workers.Set(static_cast<uint32_t>(i), worker);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("threads", pool.threads);
    result.Set("background", pool.background);
    result.Set("nice", pool.nice);
    result.Set("idle", pool.idle);
    result.Set("workers", workers);
    return result;
  }

  Napi::Value GetIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), kernels().name); }

  Napi::Value SetIsa(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    require_args(info, 1, "setIsa");
    if (!info[0].IsString()) type_error(env, "Expected a string for isa but received " + describe(info[0]));
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    if (!set_isa(name)) {
      std::string supported;
      for (const auto& s : supported_isas()) supported += (supported.empty() ? "" : ", ") + s;
      range_error(env, "Expected isa to be one this CPU supports (" + supported + ") but received '" + name + "'");
    }
    return env.Undefined();
  }

  Napi::Value SupportedIsas(const Napi::CallbackInfo& info) {
    const auto names = supported_isas();
    Napi::Array result = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) result.Set(static_cast<uint32_t>(i), names[i]);
    return result;
  }

  Napi::Value GemmConfig(const Napi::CallbackInfo& info) {
    const IsaKernels& k = kernels();
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("isa", k.name);
    result.Set("mr", k.mr);
    result.Set("nr", k.nr);
    result.Set("kc", k.kc);
    result.Set("nc", k.nc);
    result.Set("skinnyNr", k.skinny_nr);
    result.Set("bf16Mr", k.bf16_mr);
    result.Set("bf16Nr", k.bf16_nr);
    result.Set("l2Bytes", static_cast<double>(l2_bytes()));
    return result;
  }
};

}  // namespace
}  // namespace fastmlp

using FastmlpAddon = fastmlp::Addon;
NODE_API_ADDON(FastmlpAddon)
