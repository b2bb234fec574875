// The per-instruction-set kernel table. Each kernels_<isa>.cc fills one member by member, by name, compiled
// with its own flags; dispatch.cc asks the CPU once which one to use.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fastmlp {

enum class Activation : int { kNone = 0, kSigmoid = 1, kRelu = 2 };

// What the GEMM does to each finished tile of C while it is still in cache.
struct Epilogue {
  const float* bias = nullptr;           // (n), indexed by absolute column
  Activation activation = Activation::kNone;
  Activation derivative = Activation::kNone;  // multiply by f'(y) given the cached output y
  const float* derivative_of = nullptr;  // y is (m×n) with row stride ld_derivative_of
  int64_t ld_derivative_of = 0;
  // Inverted dropout of the activation's output. Element (r, c) of the whole m×n matrix is kept when
  // dropout_bits(dropout_key, r·n + c) >= dropout_threshold, and then scaled by dropout_scale; otherwise it
  // is 0. With `activation` the mask follows it; with `derivative` the cached y is taken as that masked,
  // scaled output and the same mask and scale go into f'. The mask depends on the element's place alone,
  // never on tiles or threads. threshold 0: no dropout.
  uint32_t dropout_threshold = 0;
  uint32_t dropout_key = 0;
  float dropout_scale = 1.0f;
  int64_t dropout_width = 0;  // n of the whole matrix

  bool empty() const {
    return bias == nullptr && activation == Activation::kNone && derivative == Activation::kNone;
  }
};

// fp32 → bfloat16 as VCVTNEPS2BF16 rounds: to nearest even, zero and denormals to a zero of their sign,
// NaN kept quiet.
inline uint16_t to_bf16(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  const uint32_t exponent = (u >> 23) & 0xFF;
  if (exponent == 0) return static_cast<uint16_t>((u >> 16) & 0x8000);
  if (exponent == 0xFF) return static_cast<uint16_t>((u >> 16) | ((u & 0x7FFFFF) != 0 ? 0x40 : 0));
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
inline float from_bf16(uint32_t h) {
  const uint32_t u = (h & 0xFFFF) << 16;
  float x;
  __builtin_memcpy(&x, &u, sizeof x);
  return x;
}
inline uint32_t bf16_pair(float even, float odd) {
  return static_cast<uint32_t>(to_bf16(even)) | (static_cast<uint32_t>(to_bf16(odd)) << 16);
}

// A 32-bit integer hash (two multiply–xorshift rounds, full avalanche) that vectorizes on every ISA.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// The uniform 32 bits that decide whether element `index` of a dropout mask is kept.
inline uint32_t dropout_bits(uint32_t key, uint32_t index) { return mix32(mix32(index) ^ key); }

// c is (m×n) with row stride ldc: c = alpha·(a_panel·b_panel) + beta·c, with beta == 0 never reading c.
// a_panel is (kc × mr) k-major, or in the row layout (mr × kc) with rows a_pitch apart; b_panel is (kc × nr)
// with rows ldb floats apart: a packed panel (ldb = nr), zero-padded to the full tile, or a full panel of B
// read in place (ldb its row stride).
using MicroKernel = void (*)(int64_t kc, const float* a_panel, const float* b_panel, int64_t ldb, float* c, int64_t ldc,
                             int64_t m, int64_t n, float alpha, float beta);

// The same over a panel that lists only some rows of the B panel: entry q of the A panel (row layout, rows kc
// apart) multiplies the B row that starts offsets[q] floats into b_panel. A panel packed from pixels leaves
// out the steps where all of its rows are zero, which need no arithmetic.
using IndexedKernel = void (*)(int64_t entries, const int32_t* offsets, const float* a_panel, const float* b_panel,
                               float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta);

// Skinny GEMM for n <= skinny_nr: c (m×n) = alpha·A·b_packed + beta·c, reading A(i, p) at
// a[i·rs_a + p·cs_a] without packing it. b_packed is (k × skinny_nr), zero-padded.
using SkinnyKernel = void (*)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                              int64_t cs_a, const float* b_packed, float beta, float* c, int64_t ldc);

// c (m×n) = alpha·A·B + beta·c for a few rows of A (read in place), with B row-major (row stride ldb)
// streamed once without packing: for a single sample, packing B would cost more than the product.
using RowsKernel = void (*)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                            int64_t cs_a, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Packs rows of pixels (row r's kb bytes at src[r]) into an A panel in the row layout for the indexed
// microkernel: keeps the steps p where some row's pixel is non-zero, writes them to pixels[0, kept) and
// out[r·pitch + q] = src[r][pixels[q]] · step_scale[pixels[q]] · row_scale[r] (no step_scale: 1), zero for
// rows ≥ `rows` up to mr. Returns kept. kb ≤ 512; pixels and each row of out may be written up to 16
// entries past kept.
using PixelPacker = int64_t (*)(const uint8_t* const* src, int64_t rows, int64_t kb, const float* step_scale,
                                const float* row_scale, int mr, int64_t pitch, float* out, int32_t* pixels);

// Packs kb × cols of op(B), element (p, j) at b[p·rs + j·cs], into a k-major panel of nr columns:
// out[p·nr + j], the columns from cols to nr zero.
using FloatBPacker = void (*)(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, float* out);

// bfloat16 products (the bf16 precision). A bf16 operand is packed as pairs: each uint32 holds two bfloat16
// values of consecutive steps of k, the even step in its low half, which is how VDPBF16PS reads them. Step
// pair q adds a(2q+1)·b(2q+1), then a(2q)·b(2q), to the fp32 accumulator, each product exact and each sum
// rounded to nearest even. Every path (VDPBF16PS, or plain fp32 arithmetic where the CPU lacks it) does
// exactly that, and every table blocks k the same (kBf16Kc steps), so bf16 products have the same bits on
// every instruction set.
//
// Where the CPU's VDPBF16PS is slower than its fp32 FMAs, a table packs each pair as two words instead
// (bf16_pair_words 2): the two bfloat16 values widened to floats, the odd step first, so that a plain fp32
// tile over 2·pairs steps does the same sums in the same order. Its panels are those below with each pair
// word made two, and its pixel panels list single steps (a zero pixel adds nothing: the same bits again).
constexpr int kBf16Kc = 512;
//
// c (m×n) = alpha·(a_panel · b_panel) + beta·c over `pairs` step pairs. a_panel is k-major ((pairs × mr)
// uint32), or in the row layout (row r's pairs at a_panel + r·pitch, pitch kBf16Kc/2 words a pair takes);
// b_panel is (pairs × nr) uint32, B's two steps of column j side by side, zero-padded to the full tile.
using Bf16Kernel = void (*)(int64_t pairs, const uint32_t* a_panel, const uint32_t* b_panel, float* c, int64_t ldc,
                            int64_t m, int64_t n, float alpha, float beta);

// What a bf16 panel from pixels leaves to fp32: the tile's sums are scaled per row, then get the rank-one
// standardization correction, acc·row_scale[r] + fma(corr_a[r], corr_b[j]) (each length mr or nr).
struct Bf16Fixup {
  const float* row_scale;
  const float* corr_a;
  const float* corr_b;
};

// The indexed kernel over pairs: entry q of the A panel (row layout, rows kBf16Kc/2 pairs apart) multiplies the
// pair row of the B panel that starts offsets[q] words into b_panel; then the fixup, then alpha and beta.
using Bf16IndexedKernel = void (*)(int64_t entries, const int32_t* offsets, const uint32_t* a_panel,
                                   const uint32_t* b_panel, const Bf16Fixup& fixup, float* c, int64_t ldc, int64_t m,
                                   int64_t n, float alpha, float beta);

// Element (i, p) of op(A) is a[i·rs + p·cs]: packs rows × kb of it, rounded to bfloat16, into a panel of mr
// rows (zero-padded, kb padded to even): the row layout (rows pitch apart) when cs == 1, else k-major (AMX's
// always the row layout, the only one its kernels read).
using Bf16APacker = void (*)(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch,
                             uint32_t* out);
// Element (p, j) of op(B) is b[p·rs + j·cs]: packs kb × cols of it, times scale (and k_scale[p] when given),
// rounded to bfloat16, into a (pairs × nr) panel, zero-padded (AMX's: the same words in tiles, kernels_amx.cc).
using Bf16BPacker = void (*)(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr,
                             const float* k_scale, float scale, uint32_t* out);
// The PixelPacker of bf16 panels: keeps the step pairs where some row has a non-zero pixel, writes their
// indices to pairs[0, kept) and out[r·pitch + q] = the two pixels of pair pairs[q] of row r as bfloat16
// (exact: bytes are small integers); zero for rows ≥ `rows` up to mr. Returns kept. kb ≤ 512 (odd kb: its
// last pair is padded with a zero pixel); pairs and each row of out may be written up to 16 entries past kept.
// A table's pixel packer, B packer and indexed kernel go together: AMX's keep whole steps of 16 pairs, in a
// B panel of its own layout, and its kernel reads each step's B from the step's first offset.
using PixelPairPacker = int64_t (*)(const uint8_t* const* src, int64_t rows, int64_t kb, int mr, int64_t pitch,
                                    uint32_t* out, int32_t* pairs);

// One output row of an affine augmentation (augment.h, sample_affine_row).
using AffineRowSampler = void (*)(const uint8_t* padded, int64_t rows, int64_t cols, const double* m, int64_t y,
                                  int64_t x0, int64_t x1, uint8_t* row);

struct IsaKernels {
  const char* name;
  int mr, nr;      // register tile of the microkernel
  int kc, nc;      // cache blocks: a (kc × nc) block of packed B is kept in L2
  int skinny_nr;   // widest n the skinny kernel takes
  MicroKernel gemm_microkernel;
  // The same over an A panel in the row layout (row r at a_panel + r·kc): a row-major A packs into it with
  // contiguous copies instead of a transposing scatter.
  MicroKernel gemm_microkernel_rows;
  // The indexed microkernel has its own tile: fewer rows share more of their zeros.
  int indexed_mr, indexed_nr;
  IndexedKernel gemm_indexed;
  SkinnyKernel gemm_skinny;
  // The same for an A whose rows are contiguous (rs_a == 1), with the same bits: on AVX-512 its rows across the
  // lanes, elsewhere the row kernel itself.
  SkinnyKernel gemm_skinny_columns;
  RowsKernel gemm_rows;
  int rows_max;    // most rows of A that gemm_rows is used for
  PixelPacker pack_pixels;
  FloatBPacker pack_b;

  // bf16, with k in blocks of kBf16Kc, on tiles of their own (those of fp32 but on AMX) and the nc of fp32.
  // Packed panels hold a multiple of bf16_pair_block pairs, the pairs past the block's end zero in both A and
  // B: a kernel that takes its pairs 16 at a time (an AMX tile) reads no tail.
  int bf16_mr, bf16_nr, bf16_indexed_mr, bf16_indexed_nr;
  int bf16_pair_block;
  // Words a step pair takes in a packed panel: 1, the pair as VDPBF16PS reads it; 2, the two rounded values
  // as floats, the odd step first, for kernels that sum them with fp32 FMAs (kernels_avx512.cc).
  int bf16_pair_words;
  Bf16Kernel gemm_bf16;
  Bf16Kernel gemm_bf16_rows;
  Bf16IndexedKernel gemm_bf16_indexed;
  Bf16APacker pack_a_bf16;
  Bf16BPacker pack_b_bf16;
  PixelPairPacker pack_pixel_pairs;

  // Epilogue over one tile of C (m×n, stride ldc) whose first column is col0 and first row row0.
  void (*epilogue)(float* c, int64_t ldc, int64_t m, int64_t n, int64_t row0, int64_t col0, const Epilogue& ep);

  // Elementwise, over n contiguous floats.
  void (*sigmoid_forward)(const float* x, float* y, int64_t n);
  void (*sigmoid_backward)(const float* y, const float* dy, float* dx, int64_t n);
  void (*relu_forward)(const float* x, float* y, int64_t n);
  void (*relu_backward)(const float* y, const float* dy, float* dx, int64_t n);
  void (*bias_add)(const float* x, const float* bias, float* y, int64_t n);
  // out[j] += Σ over rows of x (m×n), per column, in double.
  void (*column_sums)(const float* x, int64_t m, int64_t n, int64_t ld, double* out);
  // out[j] = Σ_p w[p]·x(p, j) over the rows p of x, element (p, j) at x[p·rs + j·cs], for j < cols: in fp32,
  // each product and each sum rounded in order of p, never fused, so that every table gives the same bits.
  // The correction row of a product from pixels (gemm.cc, BytesA).
  void (*weighted_column_sums)(const float* x, int64_t rs, int64_t cs, int64_t rows, int64_t cols, const float* w,
                               float* out);
  // y[i] = e^x[i] for x[i] ≤ 0 (elementwise_impl.h): never fused, the same bits on every table.
  void (*exp_nonpositive)(const double* x, double* y, int64_t n);
  void (*standardize_row)(const uint8_t* pixels, const float* mean, const float* inv_std, bool per_pixel,
                          float* out, int64_t n);
  void (*sgd)(float* w, const float* g, int64_t n, float lr, float weight_decay);
  void (*momentum)(float* w, const float* g, float* v, int64_t n, float lr, float momentum, float weight_decay,
                   bool nesterov);
  void (*adam)(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
               float epsilon, float bias1, float bias2, float weight_decay);

  // Augmentation: the bilinear sampling of an affine map, one output row at a time.
  AffineRowSampler sample_affine_row;
};

// True when every member of k is set (no null pointer, no zero size). The structured binding names every
// member in order, so a member added to IsaKernels does not compile here until it is checked too; each
// kernels_<isa>.cc static_asserts this of its table. Not in the sanitizer build (FASTMLP_SANITIZE), of the
// same sources: there GCC's -fsanitize=null lets a function sit at address 0, so no function pointer
// compares as a constant.
template <typename... Members>
constexpr bool all_set(const Members&... members) {
  return ((members != Members{}) && ...);
}
constexpr bool complete(const IsaKernels& k) {
  const auto& [name, mr, nr, kc, nc, skinny_nr, gemm_microkernel, gemm_microkernel_rows, indexed_mr, indexed_nr,
               gemm_indexed, gemm_skinny, gemm_skinny_columns, gemm_rows, rows_max, pack_pixels, pack_b, bf16_mr, bf16_nr, bf16_indexed_mr,
               bf16_indexed_nr, bf16_pair_block, bf16_pair_words, gemm_bf16, gemm_bf16_rows, gemm_bf16_indexed, pack_a_bf16,
               pack_b_bf16, pack_pixel_pairs, epilogue, sigmoid_forward, sigmoid_backward, relu_forward,
               relu_backward, bias_add, column_sums, weighted_column_sums, exp_nonpositive, standardize_row, sgd, momentum, adam,
               sample_affine_row] = k;
  return all_set(name, mr, nr, kc, nc, skinny_nr, gemm_microkernel, gemm_microkernel_rows, indexed_mr, indexed_nr,
                 gemm_indexed, gemm_skinny, gemm_skinny_columns, gemm_rows, rows_max, pack_pixels, pack_b, bf16_mr, bf16_nr, bf16_indexed_mr,
                 bf16_indexed_nr, bf16_pair_block, bf16_pair_words, gemm_bf16, gemm_bf16_rows, gemm_bf16_indexed, pack_a_bf16,
                 pack_b_bf16, pack_pixel_pairs, epilogue, sigmoid_forward, sigmoid_backward, relu_forward,
                 relu_backward, bias_add, column_sums, weighted_column_sums, exp_nonpositive, standardize_row, sgd, momentum, adam,
                 sample_affine_row);
}

extern const IsaKernels kGenericKernels;
#if defined(__x86_64__)
extern const IsaKernels kAvx2Kernels;
extern const IsaKernels kAvx512Kernels;
// The avx512 table with VDPBF16PS for its bf16 kernels (AVX512-BF16).
extern const IsaKernels kAvx512Bf16Kernels;
// The avx512bf16 table with AMX tiles (TDPBF16PS) for its bf16 products; built on first use, after the tables it
// starts from. Tiles are configured per thread on a thread's first product.
const IsaKernels& amx_kernels();
#endif

}  // namespace fastmlp
