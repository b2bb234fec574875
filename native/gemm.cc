// The five loops around the microkernel (BLIS): jc over n in blocks of nc, pc over k in blocks of kc (B block
// packed once, shared by all threads), then units of rows in parallel, each packing one micro-panel of A at a
// time and sweeping it across the B block. Packed panels are zero-padded, so one microkernel serves every tail.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dispatch.h"
#include "threadpool.h"

namespace fastmlp {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

// 64-byte aligned memory (aligned loads of packed panels).
Buffer make_buffer(int64_t floats) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float) + 63) & ~size_t(63);
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// Scratch of the calling thread that grows to the largest size asked for and is then reused: a product
// of a few rows (a prediction) would otherwise spend as long allocating its packed B as using it. One per
// purpose (Tag), since a call holds several at once; calls on one thread never overlap.
template <typename Tag>
float* scratch(int64_t floats) {
  thread_local Buffer buffer;
  thread_local int64_t capacity = 0;
  if (floats > capacity) {
    buffer = make_buffer(floats);
    capacity = floats;
  }
  return buffer.get();
}
struct PackedBTag {};
struct SkinnyBTag {};
struct TransposedTag {};
struct WeightsTag {};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits `total` into equal blocks of at most `block` (a multiple of `unit`), so the last block is not a sliver.
int64_t balanced_block(int64_t total, int64_t block, int64_t unit) {
  const int64_t blocks = ceil_div(total, block);
  return ceil_div(ceil_div(total, blocks), unit) * unit;
}

// kMr contiguous floats of each of kb steps cs apart, into a k-major panel.
template <int kMr>
void copy_steps(const float* a, int64_t cs, int64_t kb, float* out) {
  for (int64_t p = 0; p < kb; ++p) std::memcpy(out + p * kMr, a + p * cs, sizeof(float) * kMr);
}

// Element (i, p) of op(A) is a[i·rs + p·cs]; packs rows × kb of it into a micro-panel of mr rows, zero-padded.
// With cs == 1 (rows contiguous in k) the panel takes the row layout, row r at out + r·pitch: contiguous copies;
// otherwise the k-major layout, (kb × mr), where each k is contiguous in the source.
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb, int mr, int64_t pitch, float* out) {
  if (cs == 1) {
    for (int64_t r = 0; r < rows; ++r) std::copy(a + r * rs, a + r * rs + kb, out + r * pitch);
    for (int64_t r = rows; r < mr; ++r) std::fill(out + r * pitch, out + r * pitch + kb, 0.0f);
    return;
  }
  if (rs == 1 && rows == mr) {
    // Aᵀ of a row-major A (the gradient Xᵀ·dZ): each step's mr rows are contiguous, one short copy a step,
    // of a size known at compile time so that it is a few moves, not a call.
    switch (mr) {
      case 4: return copy_steps<4>(a, cs, kb, out);
      case 6: return copy_steps<6>(a, cs, kb, out);
      case 12: return copy_steps<12>(a, cs, kb, out);
      case 16: return copy_steps<16>(a, cs, kb, out);
      default:
        for (int64_t p = 0; p < kb; ++p) std::memcpy(out + p * mr, a + p * cs, sizeof(float) * mr);
        return;
    }
  }
  for (int64_t p = 0; p < kb; ++p) {
    const float* src = a + p * cs;
    for (int64_t r = 0; r < rows; ++r) out[p * mr + r] = src[r * rs];
    for (int64_t r = rows; r < mr; ++r) out[p * mr + r] = 0.0f;
  }
}

// Asks for the rows × kb region of op(A) that the next micro-panel packs, so its cache misses overlap the
// microkernels of the current one instead of stalling the packing (A streams from memory, B stays in L2).
void prefetch_a(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kb) {
  constexpr int64_t kLine = 64 / sizeof(float);
  if (cs == 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t p = 0; p < kb; p += kLine) __builtin_prefetch(a + r * rs + p, 0, 2);
  } else {
    // A step's rows may straddle one more line than rows / kLine: its last row is asked for too.
    for (int64_t p = 0; p < kb; ++p) {
      for (int64_t r = 0; r < rows; r += kLine) __builtin_prefetch(a + p * cs + r * rs, 0, 2);
      __builtin_prefetch(a + p * cs + (rows - 1) * rs, 0, 2);
    }
  }
}

// The largest mr, kc and mr × kc of any kernel table (fp32), and the largest bf16_mr.
// A panel packed from pixels may be written up to 16 floats past its last row: mr < kMaxMr leaves room.
constexpr int64_t kMaxMr = 16, kMaxKc = 512, kMaxPanel = kMaxMr * kMaxKc, kMaxBf16Mr = 32;

// op(A) as a float matrix: element (i, p) at a[i·rs + p·cs].
struct FloatA {
  static constexpr bool kSkipsZeros = false;
  const float* a;
  int64_t rs, cs;

  bool row_layout() const { return cs == 1; }
  void pack(int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch, float* out) const {
    pack_a(a + i0 * rs + p0 * cs, rs, cs, rows, kb, mr, pitch, out);
  }
  void prefetch(int64_t i0, int64_t rows, int64_t p0, int64_t kb) const {
    prefetch_a(a + i0 * rs + p0 * cs, rs, cs, rows, kb);
  }

  // bf16: the same panels as step pairs, rounded (pitch in the table's words); B as it is.
  void pack_bf16(const IsaKernels& kern, int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch,
                 uint32_t* out) const {
    kern.pack_a_bf16(a + i0 * rs + p0 * cs, rs, cs, rows, kb, mr, pitch, out);
  }
  void pack_b_bf16(const IsaKernels& kern, const float* b, int64_t rs_b, int64_t cs_b, int64_t, int64_t kb,
                   int64_t cols, int nr, uint32_t* panel, float*) const {
    kern.pack_b_bf16(b, rs_b, cs_b, kb, cols, nr, nullptr, 1.0f, panel);
  }
};

// op(A) standardized from bytes: the batch (samples × pixels), or transposed (pixels × samples). Its product is
// taken in the form that lets zero pixels cost nothing. With A = (P − 1·μᵀ)·diag(s) for pixels P:
//   batch:      A·B  = (P·diag(s))·B − 1·((μ∘s)ᵀ·B)
//   transpose:  Aᵀ·B = (diag(s)·Pᵀ)·B − (μ∘s)·(1ᵀ·B)
// Both corrections are one more step of k: B's packed block gets an extra row (B's rows weighted by μ∘s, or
// summed), which the A panel multiplies by −1, or by −μ_i·s_i for its pixel i. A panel then lists only the
// steps of k where one of its rows has a non-zero pixel, so the pixels all of its images leave blank (a
// digit's background) cost nothing; `npm run bench -- gemm` measures it on MNIST. The transpose is read
// from a copy of the batch transposed once per product, so both pack contiguous rows.
struct BytesA {
  static constexpr bool kSkipsZeros = true;
  const ByteRows& x;
  bool trans;
  const IsaKernels& kern;
  const uint8_t* transposed;  // with trans: pixel i of sample p at transposed[i·k + p]
  int64_t k;
  // The weights of B's rows in the extra row, by absolute k: the batch's shift(p), the transpose's 1s.
  const float* weights;

  bool row_layout() const { return true; }
  float scale(int64_t pixel) const { return x.inv_std[x.per_pixel ? pixel : 0]; }
  float shift(int64_t pixel) const { return x.mean[x.per_pixel ? pixel : 0] * scale(pixel); }
  // Weights of B's rows p0 … in the extra row of its packed block.
  const float* correction_weights(int64_t p0) const { return weights + p0; }

  const uint8_t* row(int64_t i, int64_t p0) const {
    return trans ? transposed + i * k + p0 : x.bytes + static_cast<int64_t>(x.rows[i]) * x.row_length + p0;
  }

  // Packs the rows × kb block at (i0, p0) into a panel of mr rows for the indexed microkernel, the correction
  // step last; offsets[q] is the packed B row (kb × nr, then the extra row) that entry q multiplies. Returns
  // the number of entries; offsets may be written up to 16 entries past it.
  int64_t pack(int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch, int64_t nr, float* out,
               int32_t* offsets) const {
    const uint8_t* src[kMaxMr];
    float row_scale[kMaxMr];
    for (int64_t r = 0; r < rows; ++r) {
      src[r] = row(i0 + r, p0);
      row_scale[r] = trans ? scale(i0 + r) : x.per_pixel ? 1.0f : x.inv_std[0];
    }
    const float* step_scale = !trans && x.per_pixel ? x.inv_std + p0 : nullptr;
    const int64_t kept = kern.pack_pixels(src, rows, kb, step_scale, row_scale, mr, pitch, out, offsets);
    for (int64_t r = 0; r < mr; ++r) out[r * pitch + kept] = r >= rows ? 0.0f : trans ? -shift(i0 + r) : -1.0f;
    for (int64_t q = 0; q < kept; ++q) offsets[q] *= static_cast<int32_t>(nr);
    offsets[kept] = static_cast<int32_t>(kb * nr);
    return kept + 1;
  }

  // bf16: the pixels themselves, exact, as step pairs. Their scale and the correction stay fp32: the batch's
  // per-pixel scale goes into B before B is rounded (P·(diag(s)·B)); the transpose's scales the rows of the
  // tile's sums, and the correction is added to them (kernels.h, Bf16Fixup).
  int64_t pack_bf16(const IsaKernels& kern, int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch,
                    int64_t nr, uint32_t* out, int32_t* offsets, float* row_scale, float* corr_a) const {
    const uint8_t* src[kMaxBf16Mr];
    for (int64_t r = 0; r < rows; ++r) src[r] = row(i0 + r, p0);
    for (int64_t r = 0; r < mr; ++r) {
      row_scale[r] = trans && r < rows ? scale(i0 + r) : 1.0f;
      corr_a[r] = r >= rows ? 0.0f : trans ? -shift(i0 + r) : -1.0f;
    }
    const int64_t kept = kern.pack_pixel_pairs(src, rows, kb, mr, pitch, out, offsets);
    for (int64_t q = 0; q < kept; ++q) offsets[q] *= static_cast<int32_t>(nr);
    return kept;
  }
  // B's panel, scaled per pixel for the batch, and its correction row in fp32 (from B as it is).
  void pack_b_bf16(const IsaKernels& kern, const float* b, int64_t rs_b, int64_t cs_b, int64_t p0, int64_t kb,
                   int64_t cols, int nr, uint32_t* panel, float* correction) const {
    const float* k_scale = !trans && x.per_pixel ? x.inv_std + p0 : nullptr;
    kern.pack_b_bf16(b, rs_b, cs_b, kb, cols, nr, k_scale, trans || x.per_pixel ? 1.0f : x.inv_std[0], panel);
    kern.weighted_column_sums(b, rs_b, cs_b, kb, cols, correction_weights(p0), correction);
    std::fill(correction + cols, correction + nr, 0.0f);
  }

  void prefetch(int64_t i0, int64_t rows, int64_t p0, int64_t kb) const {
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = row(i0 + r, p0);
      for (int64_t p = 0; p < kb; p += 64) __builtin_prefetch(src + p, 0, 2);
    }
  }
};

// out[i·samples + p] = pixel i of sample p, for the m pixels and the samples of the batch; 16 × 16 blocks.
void transpose_pixels(const ByteRows& x, int64_t m, int64_t samples, uint8_t* out) {
  const int64_t blocks = ceil_div(samples, 16);
  // A small batch costs less to transpose than to wake the pool for.
  const int64_t tasks = m * samples >= (int64_t(1) << 16) ? std::min<int64_t>(blocks, 4 * ThreadPool::instance().threads_for_caller()) : 1;
  ThreadPool::instance().run(tasks, [&](int64_t task, int) {
    for (int64_t blk = blocks * task / tasks; blk < blocks * (task + 1) / tasks; ++blk) {
      const int64_t p0 = blk * 16, np = std::min<int64_t>(16, samples - p0);
      const uint8_t* src[16];
      for (int64_t p = 0; p < np; ++p) src[p] = x.bytes + static_cast<int64_t>(x.rows[p0 + p]) * x.row_length;
      int64_t i0 = 0;
#if defined(__SSE2__)
      if (np == 16) {
        for (; i0 + 16 <= m; i0 += 16) {
          __m128i r[16], t[16];
          for (int j = 0; j < 16; ++j) r[j] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[j] + i0));
          // Four rounds of interleaving, each doubling the run of one pixel's samples: 2, 4, 8, 16 bytes.
          for (int j = 0; j < 8; ++j) {
            t[j] = _mm_unpacklo_epi8(r[2 * j], r[2 * j + 1]);
            t[j + 8] = _mm_unpackhi_epi8(r[2 * j], r[2 * j + 1]);
          }
          for (int h = 0; h < 16; h += 8) {
            for (int j = 0; j < 4; ++j) {
              r[h + j] = _mm_unpacklo_epi16(t[h + 2 * j], t[h + 2 * j + 1]);
              r[h + j + 4] = _mm_unpackhi_epi16(t[h + 2 * j], t[h + 2 * j + 1]);
            }
          }
          // r[q + j] for q = 0, 4, 8, 12: pixels q … q + 3 of samples 4j … 4j + 3.
          for (int q = 0; q < 16; q += 4) {
            t[q] = _mm_unpacklo_epi32(r[q], r[q + 1]);
            t[q + 1] = _mm_unpackhi_epi32(r[q], r[q + 1]);
            t[q + 2] = _mm_unpacklo_epi32(r[q + 2], r[q + 3]);
            t[q + 3] = _mm_unpackhi_epi32(r[q + 2], r[q + 3]);
          }
          for (int q = 0; q < 16; q += 4) {
            const __m128i col[4] = {_mm_unpacklo_epi64(t[q], t[q + 2]), _mm_unpackhi_epi64(t[q], t[q + 2]),
                                    _mm_unpacklo_epi64(t[q + 1], t[q + 3]), _mm_unpackhi_epi64(t[q + 1], t[q + 3])};
            for (int c = 0; c < 4; ++c)
              _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (i0 + q + c) * samples + p0), col[c]);
          }
        }
      }
#endif
      for (int64_t i = i0; i < m; ++i)
        for (int64_t p = 0; p < np; ++p) out[i * samples + p0 + p] = src[p][i];
    }
  });
}

// Products with at most this many panels of A's rows read full panels of a row-major B in place.
constexpr int64_t kInPlaceBPanels = 4;

// Below this many flops a parallel region costs more than it saves.
constexpr double kParallelFlops = 1 << 20;

// How many units of work to split `items` into: a few per thread, so a busy core does not hold up the rest.
int64_t work_units(int64_t items, double flops) {
  const int threads = ThreadPool::instance().threads_for_caller();
  if (threads == 1 || flops < kParallelFlops) return 1;
  return std::min<int64_t>(items, 16 * threads);
}

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// Rows of C a task of the column kernels takes at a time: two AVX-512 registers of them.
constexpr int64_t kColumnsBlock = 32;

// A product with n ≤ skinny_nr, B packed once, taken rows r0 … r1 − 1 at a time by its kernel and epilogue:
// a row's result never depends on the rows taken with it.
struct SkinnyRows {
  const IsaKernels& kern;
  int64_t n, k;
  float alpha;
  const float* a;
  int64_t rs_a, cs_a;
  float beta;
  float* c;
  int64_t ldc;
  const Epilogue& ep;
  const float* packed = nullptr;
  SkinnyKernel kernel = nullptr;

  void pack(const float* b, int64_t rs_b, int64_t cs_b) {
    float* out = scratch<SkinnyBTag>(k * kern.skinny_nr);
    kern.pack_b(b, rs_b, cs_b, k, n, kern.skinny_nr, out);
    packed = out;
    // Contiguous rows of A go across the vector lanes, tasks of whole registers of them: a gradient Aᵀ·dZ.
    kernel = rs_a == 1 ? kern.gemm_skinny_columns : kern.gemm_skinny;
  }
  void rows(int64_t r0, int64_t r1) const {
    if (r1 <= r0) return;
    float* c0 = c + r0 * ldc;
    kernel(r1 - r0, n, k, alpha, a + r0 * rs_a, rs_a, cs_a, packed, beta, c0, ldc);
    if (!ep.empty()) kern.epilogue(c0, ldc, r1 - r0, n, r0, 0, ep);
  }
};

void gemm_skinny(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                 int64_t cs_a, const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t ldc,
                 const Epilogue& ep) {
  SkinnyRows skinny{kern, n, k, alpha, a, rs_a, cs_a, beta, c, ldc, ep};
  skinny.pack(b, rs_b, cs_b);
  const int64_t block = rs_a == 1 ? kColumnsBlock : 1, blocks = ceil_div(m, block);
  const int64_t units = work_units(blocks, 2.0 * m * n * k);
  ThreadPool::instance().run(units, [&](int64_t unit, int) {
    skinny.rows(std::min(m, blocks * unit / units * block), std::min(m, blocks * (unit + 1) / units * block));
  });
}

// The loops around the microkernels that fp32 and bf16 products share: jc over n in blocks of nb_max, pc over
// k in blocks of kb_max; per block, pack_panel(jp) packs each panel of B (on the pool when the block is large),
// then sweep(ip0, ip1, jp0, jp1) runs row panels ip0 … ip1 − 1 of A across B panels jp0 … jp1 − 1, the tasks
// split by rows, or with few rows by columns. Every element of C is computed by one task in one order, so
// the result never depends on the threads.
//
// When C and a block of packed B are more than a core's L2 holds (a large batch), but the packed B of every
// block of k fits in it (a layer's weights in bf16, say), all of B is packed first and each task takes a few
// row panels through every block of k before the next: C's tiles then stay in cache from one block of k to
// the next instead of going out to memory and back once per block. Each element still sums the same blocks
// in the same order: the same bits either way.
struct Block {
  int64_t jc, nb, n_panels, pc, kb;
  bool last;         // the block ends k: the epilogue runs on its tiles
  float beta;        // beta for the first block of k, 1 after it
  int64_t slot;      // which of the held packed blocks of B is this block's (0 when one is held)
};

// Row panels a task takes through all the blocks of k at a time: their C tiles stay in L2.
constexpr int64_t kHeldRowPanels = 8;

struct Blocking {
  int64_t m_panels, units;
  bool split_columns;  // few rows: the tasks split B's panels instead
  int64_t held;        // blocks of k whose packed B is held at once: all of them, or 1
};

// block_bytes: one block of k's packed B, nb_max columns wide.
Blocking plan_blocks(int64_t m, int64_t n, int64_t k, int mr, int64_t kb_max, int64_t nb_max, int64_t block_bytes) {
  Blocking plan{};
  plan.m_panels = ceil_div(m, mr);
  plan.units = work_units(plan.m_panels, 2.0 * m * n * k);
  plan.split_columns = plan.units > 1 && plan.m_panels < 2 * ThreadPool::instance().threads_for_caller();
  const int64_t k_blocks = ceil_div(k, kb_max);
  const int64_t l2 = l2_bytes(), c_bytes = m * std::min(n, nb_max) * int64_t(sizeof(float));
  plan.held = !plan.split_columns && k_blocks > 1 && c_bytes + block_bytes > l2 && k_blocks * block_bytes <= l2 ? k_blocks : 1;
  return plan;
}

// With B held, rows_done(ip0, ip1) runs after row panels ip0 … ip1 − 1 are done in every column (a single
// block of n), on the task that did them.
template <typename PackPanel, typename Sweep, typename RowsDone>
void for_each_block(const Blocking& plan, int64_t n, int64_t k, int nr, int64_t kb_max, int64_t nb_max, float beta,
                    PackPanel&& pack_panel, Sweep&& sweep, RowsDone&& rows_done) {
  ThreadPool& pool = ThreadPool::instance();
  const int64_t m_panels = plan.m_panels, units = plan.units, k_blocks = ceil_div(k, kb_max);
  const auto block_at = [&](int64_t jc, int64_t nb, int64_t pc) {
    const int64_t kb = std::min(kb_max, k - pc);
    return Block{jc, nb, ceil_div(nb, nr), pc, kb, pc + kb == k, pc == 0 ? beta : 1.0f, plan.held > 1 ? pc / kb_max : 0};
  };
  for (int64_t jc = 0; jc < n; jc += nb_max) {
    const int64_t nb = std::min(nb_max, n - jc), n_panels = ceil_div(nb, nr);
    if (plan.held > 1) {
      pool.run(k_blocks * n_panels, [&](int64_t task, int) {
        pack_panel(block_at(jc, nb, task / n_panels * kb_max), task % n_panels);
      });
      // Chunks of at most kHeldRowPanels, and at least as many as the units of work, so that a few rows
      // still keep every thread busy.
      const int64_t chunk = std::min(kHeldRowPanels, ceil_div(m_panels, units));
      const int64_t chunks = ceil_div(m_panels, chunk), tasks = std::min(units, chunks);
      pool.run(tasks, [&](int64_t task, int) {
        for (int64_t ch = chunks * task / tasks; ch < chunks * (task + 1) / tasks; ++ch) {
          const int64_t ip0 = ch * chunk, ip1 = std::min(m_panels, ip0 + chunk);
          for (int64_t pc = 0; pc < k; pc += kb_max) sweep(block_at(jc, nb, pc), ip0, ip1, 0, n_panels);
          if (nb == n) rows_done(ip0, ip1);
        }
      });
      continue;
    }
    for (int64_t pc = 0; pc < k; pc += kb_max) {
      const Block block = block_at(jc, nb, pc);
      const int64_t kb = block.kb;
      // Packing a small B block costs less than waking the pool.
      const bool parallel_pack = units > 1 && kb * nb >= (int64_t(1) << 16);
      pool.run(parallel_pack ? block.n_panels : 1, [&](int64_t task, int) {
        const int64_t first = parallel_pack ? task : 0, end = parallel_pack ? task + 1 : block.n_panels;
        for (int64_t jp = first; jp < end; ++jp) pack_panel(block, jp);
      });
      const int64_t tasks = plan.split_columns ? std::min<int64_t>(units, block.n_panels) : units;
      pool.run(tasks, [&](int64_t task, int) {
        if (plan.split_columns) {
          sweep(block, 0, m_panels, block.n_panels * task / tasks, block.n_panels * (task + 1) / tasks);
        } else {
          sweep(block, m_panels * task / tasks, m_panels * (task + 1) / tasks, 0, block.n_panels);
        }
      });
    }
  }
}

// Whether a first product of n columns, in blocks of nb_max under `plan`, can take its next product block of
// rows by block of rows (NextProduct). If so, `rows` is that product, its B packed: the skinny product a call
// of its own would run, on the same rows, so the same bits.
bool next_by_rows(const IsaKernels& kern, const Blocking& plan, int64_t n, int64_t nb_max, const NextProduct* next,
                  SkinnyRows& rows) {
  if (!next || plan.held <= 1 || n > nb_max || next->n > kern.skinny_nr) return false;
  rows.pack(next->b, next->ldb, 1);
  return true;
}

// for_each_block, with the next product taken by blocks of rows where it can be; returns whether it was.
template <typename PackPanel, typename Sweep>
bool run_blocks(const IsaKernels& kern, const Blocking& plan, int64_t m, int64_t n, int64_t k, int mr, int nr,
                int64_t kb_max, int64_t nb_max, float beta, const float* c, int64_t ldc, const NextProduct* next,
                PackPanel&& pack_panel, Sweep&& sweep) {
  Epilogue bias;
  if (next) bias.bias = next->bias;
  SkinnyRows then{kern, next ? next->n : 0, n, 1.0f, c, ldc, 1, 0.0f, next ? next->c : nullptr, next ? next->ldc : 0, bias};
  const bool fused = next_by_rows(kern, plan, n, nb_max, next, then);
  for_each_block(plan, n, k, nr, kb_max, nb_max, beta, pack_panel, sweep, [&](int64_t ip0, int64_t ip1) {
    if (fused) then.rows(ip0 * mr, std::min(m, ip1 * mr));
  });
  return fused;
}

// Returns whether it took the next product too (next_by_rows).
template <typename ASource>
bool gemm_blocked(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, const ASource& a,
                  const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t ldc, const Epilogue& ep,
                  const NextProduct* next) {
  constexpr bool kSkips = ASource::kSkipsZeros;
  const int mr = kSkips ? kern.indexed_mr : kern.mr, nr = kSkips ? kern.indexed_nr : kern.nr;
  // An A panel that skips zeros has one more step (the correction), which must still fit its rows kc apart.
  const int64_t kb_max = balanced_block(k, kern.kc - (kSkips ? 1 : 0), 1);
  const int64_t nb_max = balanced_block(n, kern.nc, nr);

  // Packed B panels (kb × nr each), followed by their correction row when A skips zeros; plan.held blocks.
  const int64_t block_floats = (kb_max + (kSkips ? 1 : 0)) * nb_max;
  const Blocking plan = plan_blocks(m, n, k, mr, kb_max, nb_max, block_floats * int64_t(sizeof(float)));
  float* const b_block = scratch<PackedBTag>(block_floats * plan.held);
  const MicroKernel microkernel = a.row_layout() ? kern.gemm_microkernel_rows : kern.gemm_microkernel;
  // With few row panels, full panels of a row-major B are read where they lie: packing would copy all of B
  // to read it only a few times (a prediction's weights, say). The last, partial panel is still packed.
  const bool b_in_place = !kSkips && cs_b == 1 && ceil_div(m, mr) <= kInPlaceBPanels;
  const auto panel_of = [&](const Block& blk, int64_t jp) {
    return b_block + blk.slot * block_floats + jp * (blk.kb + (kSkips ? 1 : 0)) * nr;
  };

  const auto pack_panel = [&](const Block& blk, int64_t jp) {
    const int64_t j0 = jp * nr, kb = blk.kb;
    if (b_in_place && j0 + nr <= blk.nb) return;
    float* panel = panel_of(blk, jp);
    kern.pack_b(b + blk.pc * rs_b + (blk.jc + j0) * cs_b, rs_b, cs_b, kb, std::min<int64_t>(nr, blk.nb - j0), nr, panel);
    if constexpr (kSkips) kern.weighted_column_sums(panel, nr, 1, kb, nr, a.correction_weights(blk.pc), panel + kb * nr);
  };

  const auto sweep = [&](const Block& blk, int64_t ip0, int64_t ip1, int64_t jp0, int64_t jp1) {
    const int64_t pc = blk.pc, kb = blk.kb;
    // One micro-panel of A (kb × mr) stays in L1 while it sweeps the B block.
    alignas(64) float a_panel[kMaxPanel];
    alignas(64) int32_t offsets[kMaxKc + 16];
    for (int64_t ip = ip0; ip < ip1; ++ip) {
      const int64_t i0 = ip * mr, rows = std::min<int64_t>(mr, m - i0);
      int64_t entries = kb;
      if constexpr (kSkips) {
        entries = a.pack(i0, rows, pc, kb, mr, kern.kc, nr, a_panel, offsets);
      } else {
        a.pack(i0, rows, pc, kb, mr, kern.kc, a_panel);
      }
      if (ip + 1 < ip1) a.prefetch(i0 + mr, std::min<int64_t>(mr, m - i0 - mr), pc, kb);
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const int64_t j0 = jp * nr, cols = std::min<int64_t>(nr, blk.nb - j0);
        float* tile = c + i0 * ldc + blk.jc + j0;
        const float* panel = panel_of(blk, jp);
        if constexpr (kSkips) {
          kern.gemm_indexed(entries, offsets, a_panel, panel, tile, ldc, rows, cols, alpha, blk.beta);
        } else if (b_in_place && cols == nr) {
          microkernel(kb, a_panel, b + pc * rs_b + blk.jc + j0, rs_b, tile, ldc, rows, cols, alpha, blk.beta);
        } else {
          microkernel(kb, a_panel, panel, nr, tile, ldc, rows, cols, alpha, blk.beta);
        }
        if (blk.last && !ep.empty()) kern.epilogue(tile, ldc, rows, cols, i0, blk.jc + j0, ep);
      }
    }
  };
  return run_blocks(kern, plan, m, n, k, mr, nr, kb_max, nb_max, beta, c, ldc, next, pack_panel, sweep);
}

// bf16 products: the same loops over panels of step pairs (kernels.h), both operands rounded to bfloat16 as
// they are packed. Blocks of k are even, so no pair straddles two, and the same on every table: the same bits
// with VDPBF16PS or without, on any tile.
template <typename ASource>
bool gemm_blocked_bf16(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, const ASource& a,
                       const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t ldc,
                       const Epilogue& ep, const NextProduct* next) {
  constexpr bool kSkips = ASource::kSkipsZeros;
  const int mr = kSkips ? kern.bf16_indexed_mr : kern.bf16_mr, nr = kSkips ? kern.bf16_indexed_nr : kern.bf16_nr;
  const int64_t kb_max = balanced_block(k, kBf16Kc, 2), pitch = kBf16Kc / 2 * kern.bf16_pair_words;
  const int64_t nb_max = balanced_block(n, kern.nc, nr);

  // Each packed B panel: (pairs × nr) pairs of the table's words, pairs padded to the table's pair block,
  // then, from pixels, its fp32 correction row of nr.
  const int64_t pair_block = kern.bf16_pair_block, pair_words = kern.bf16_pair_words;
  const auto pairs_of = [&](const Block& blk) { return ceil_div((blk.kb + 1) / 2, pair_block) * pair_block; };
  const int64_t panel_words = ceil_div(kb_max / 2, pair_block) * pair_block * nr * pair_words + (kSkips ? nr : 0);
  const int64_t block_words = panel_words * ceil_div(nb_max, nr);
  const Blocking plan = plan_blocks(m, n, k, mr, kb_max, nb_max, block_words * int64_t(sizeof(uint32_t)));
  uint32_t* const b_block = reinterpret_cast<uint32_t*>(scratch<PackedBTag>(block_words * plan.held));
  const Bf16Kernel microkernel = a.row_layout() ? kern.gemm_bf16_rows : kern.gemm_bf16;
  const auto correction_of = [&](const Block& blk, uint32_t* panel) {
    return reinterpret_cast<float*>(panel + pairs_of(blk) * nr * pair_words);
  };

  const auto pack_panel = [&](const Block& blk, int64_t jp) {
    const int64_t j0 = jp * nr;
    uint32_t* panel = b_block + blk.slot * block_words + jp * panel_words;
    a.pack_b_bf16(kern, b + blk.pc * rs_b + (blk.jc + j0) * cs_b, rs_b, cs_b, blk.pc, blk.kb,
                  std::min<int64_t>(nr, blk.nb - j0), nr, panel, correction_of(blk, panel));
  };

  const auto sweep = [&](const Block& blk, int64_t ip0, int64_t ip1, int64_t jp0, int64_t jp1) {
    const int64_t pc = blk.pc, kb = blk.kb, pairs = pairs_of(blk);
    // Room for either kind of panel: kMaxBf16Mr rows of pairs, or (kernels.h, bf16_pair_words) fewer rows of
    // two words a pair, whose pixel panels list single steps.
    alignas(64) uint32_t a_panel[kMaxBf16Mr * kBf16Kc / 2];
    alignas(64) int32_t offsets[kBf16Kc + 16];
    float row_scale[kMaxBf16Mr], corr_a[kMaxBf16Mr];
    for (int64_t ip = ip0; ip < ip1; ++ip) {
      const int64_t i0 = ip * mr, rows = std::min<int64_t>(mr, m - i0);
      int64_t entries = pairs;
      if constexpr (kSkips) {
        entries = a.pack_bf16(kern, i0, rows, pc, kb, mr, pitch, nr, a_panel, offsets, row_scale, corr_a);
      } else {
        a.pack_bf16(kern, i0, rows, pc, kb, mr, pitch, a_panel);
      }
      // Rows are asked for two panels ahead: a sweep of AMX tiles is too short to hide the next panel's misses.
      for (int64_t ahead = ip == ip0 ? 1 : 2; ahead <= 2 && ip + ahead < ip1; ++ahead)
        a.prefetch(i0 + ahead * mr, std::min<int64_t>(mr, m - i0 - ahead * mr), pc, kb);
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const int64_t j0 = jp * nr, cols = std::min<int64_t>(nr, blk.nb - j0);
        float* tile = c + i0 * ldc + blk.jc + j0;
        uint32_t* panel = b_block + blk.slot * block_words + jp * panel_words;
        if constexpr (kSkips) {
          const Bf16Fixup fixup{row_scale, corr_a, correction_of(blk, panel)};
          kern.gemm_bf16_indexed(entries, offsets, a_panel, panel, fixup, tile, ldc, rows, cols, alpha, blk.beta);
        } else {
          microkernel(pairs, a_panel, panel, tile, ldc, rows, cols, alpha, blk.beta);
        }
        if (blk.last && !ep.empty()) kern.epilogue(tile, ldc, rows, cols, i0, blk.jc + j0, ep);
      }
    }
  };
  return run_blocks(kern, plan, m, n, k, mr, nr, kb_max, nb_max, beta, c, ldc, next, pack_panel, sweep);
}

// The cases with no product to compute: an empty C, or C = beta·C then the epilogue. True if handled.
bool without_product(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, float beta, float* c,
                     int64_t ldc, const Epilogue& ep) {
  if (m == 0 || n == 0) return true;
  if (k != 0 && alpha != 0.0f) return false;
  scale_c(m, n, beta, c, ldc);
  if (!ep.empty()) kern.epilogue(c, ldc, m, n, 0, 0, ep);
  return true;
}

}  // namespace

int64_t l2_bytes() {
  static const int64_t bytes = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0) return static_cast<int64_t>(l2);
#endif
    return int64_t(1) << 20;
  }();
  return bytes;
}

namespace {

// The first product of sgemm; returns whether it took the next one too.
bool first_product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep,
                   Precision precision, const NextProduct* next) {
  const IsaKernels& kern = kernels();
  if (without_product(kern, m, n, k, alpha, beta, c, ldc, ep)) return false;
  // op(A)(i, p) = a[i·rs_a + p·cs_a], op(B)(p, j) = b[p·rs_b + j·cs_b]
  const int64_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  const int64_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  if (m <= kern.rows_max && cs_b == 1 && n > kern.skinny_nr) {
    // A single sample (or a few): stream B once instead of packing it.
    kern.gemm_rows(m, n, k, alpha, a, rs_a, cs_a, b, rs_b, beta, c, ldc);
    if (!ep.empty()) kern.epilogue(c, ldc, m, n, 0, 0, ep);
    return false;
  }
  if (n <= kern.skinny_nr) {
    gemm_skinny(kern, m, n, k, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, ldc, ep);
    return false;
  }
  if (precision == Precision::kBf16)
    return gemm_blocked_bf16(kern, m, n, k, alpha, FloatA{a, rs_a, cs_a}, b, rs_b, cs_b, beta, c, ldc, ep, next);
  return gemm_blocked(kern, m, n, k, alpha, FloatA{a, rs_a, cs_a}, b, rs_b, cs_b, beta, c, ldc, ep, next);
}

bool first_product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const ByteRows& a,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep,
                   Precision precision, const NextProduct* next) {
  const IsaKernels& kern = kernels();
  if (without_product(kern, m, n, k, alpha, beta, c, ldc, ep)) return false;
  const int64_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  uint8_t* transposed = nullptr;
  if (trans_a) {
    transposed = reinterpret_cast<uint8_t*>(scratch<TransposedTag>(ceil_div(m * k, sizeof(float))));
    transpose_pixels(a, m, k, transposed);
  }
  float* weights = scratch<WeightsTag>(k);
  const BytesA bytes{a, trans_a, kern, transposed, k, weights};
  for (int64_t p = 0; p < k; ++p) weights[p] = trans_a ? 1.0f : bytes.shift(p);
  if (precision == Precision::kBf16)
    return gemm_blocked_bf16(kern, m, n, k, alpha, bytes, b, rs_b, cs_b, beta, c, ldc, ep, next);
  return gemm_blocked(kern, m, n, k, alpha, bytes, b, rs_b, cs_b, beta, c, ldc, ep, next);
}

// The next product where the first one could not take it: a product of its own.
void next_product(int64_t m, int64_t k, const float* c, int64_t ldc, Precision precision, const NextProduct& next) {
  Epilogue ep;
  ep.bias = next.bias;
  sgemm(false, false, m, next.n, k, 1.0f, c, ldc, next.b, next.ldb, 0.0f, next.c, next.ldc, ep, precision);
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep, Precision precision,
           const NextProduct* next) {
  if (!first_product(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, precision, next) && next)
    next_product(m, n, c, ldc, precision, *next);
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const ByteRows& a,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep, Precision precision,
           const NextProduct* next) {
  if (!first_product(trans_a, trans_b, m, n, k, alpha, a, b, ldb, beta, c, ldc, ep, precision, next) && next)
    next_product(m, n, c, ldc, precision, *next);
}

}  // namespace fastmlp
