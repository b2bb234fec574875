// The five loops around the microkernel (BLIS): jc over n in blocks of nc, pc over k in blocks of kc (B block
// packed once, shared by all threads), then units of rows in parallel, each packing one micro-panel of A at a
// time and sweeping it across the B block. Packed panels are zero-padded, so one microkernel serves every tail.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "dispatch.h"
#include "threadpool.h"

namespace fastmlp {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

// 64-byte aligned scratch (aligned loads of packed panels), allocated once per call.
Buffer make_buffer(int64_t floats) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float) + 63) & ~size_t(63);
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits `total` into equal blocks of at most `block` (a multiple of `unit`), so the last block is not a sliver.
int64_t balanced_block(int64_t total, int64_t block, int64_t unit) {
  const int64_t blocks = ceil_div(total, block);
  return ceil_div(ceil_div(total, blocks), unit) * unit;
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
    for (int64_t p = 0; p < kb; ++p)
      for (int64_t r = 0; r < rows; r += kLine) __builtin_prefetch(a + p * cs + r * rs, 0, 2);
  }
}

// op(A) as a float matrix: element (i, p) at a[i·rs + p·cs].
struct FloatA {
  const float* a;
  int64_t rs, cs;

  bool row_layout() const { return cs == 1; }
  void pack(int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch, float* out) const {
    pack_a(a + i0 * rs + p0 * cs, rs, cs, rows, kb, mr, pitch, out);
  }
  void prefetch(int64_t i0, int64_t rows, int64_t p0, int64_t kb) const {
    prefetch_a(a + i0 * rs + p0 * cs, rs, cs, rows, kb);
  }
};

// op(A) standardized from bytes: the batch (samples × pixels), or transposed (pixels × samples).
struct BytesA {
  const ByteRows& x;
  bool trans;
  const IsaKernels& kern;

  // The batch itself has its samples' pixels contiguous: the row layout. Its transpose: k-major.
  bool row_layout() const { return !trans; }

  void pack(int64_t i0, int64_t rows, int64_t p0, int64_t kb, int mr, int64_t pitch, float* out) const {
    if (!trans) {
      // A(i, p) = pixel p of sample i: each row a contiguous run of pixels, converted by the ISA's kernel.
      const int64_t offset = x.per_pixel ? p0 : 0;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* src = x.bytes + static_cast<int64_t>(x.rows[i0 + r]) * x.row_length + p0;
        kern.standardize_row(src, x.mean + offset, x.inv_std + offset, x.per_pixel, out + r * pitch, kb);
      }
      for (int64_t r = rows; r < mr; ++r) std::fill(out + r * pitch, out + r * pitch + kb, 0.0f);
      return;
    }
    // A(i, p) = pixel i of sample p: for each sample, its run of `rows` pixels from i0 on.
    const int64_t offset = x.per_pixel ? i0 : 0;
    for (int64_t p = 0; p < kb; ++p) {
      const uint8_t* src = x.bytes + static_cast<int64_t>(x.rows[p0 + p]) * x.row_length + i0;
      kern.standardize_row(src, x.mean + offset, x.inv_std + offset, x.per_pixel, out + p * mr, rows);
      for (int64_t r = rows; r < mr; ++r) out[p * mr + r] = 0.0f;
    }
  }

  void prefetch(int64_t i0, int64_t rows, int64_t p0, int64_t kb) const {
    if (!trans) {
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* src = x.bytes + static_cast<int64_t>(x.rows[i0 + r]) * x.row_length + p0;
        for (int64_t p = 0; p < kb; p += 64) __builtin_prefetch(src + p, 0, 2);
      }
    } else {
      for (int64_t p = 0; p < kb; ++p)
        __builtin_prefetch(x.bytes + static_cast<int64_t>(x.rows[p0 + p]) * x.row_length + i0, 0, 2);
    }
  }
};

// Element (p, j) of op(B) is b[p·rs + j·cs]; packs kb × cols of it into a (kb × nr) k-major panel.
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kb, int64_t cols, int nr, float* out) {
  if (cs == 1) {
    for (int64_t p = 0; p < kb; ++p) {
      const float* src = b + p * rs;
      float* dst = out + p * nr;
      std::copy(src, src + cols, dst);
      std::fill(dst + cols, dst + nr, 0.0f);
    }
  } else {
    for (int64_t j = 0; j < cols; ++j) {
      const float* src = b + j * cs;
      for (int64_t p = 0; p < kb; ++p) out[p * nr + j] = src[p * rs];
    }
    for (int64_t p = 0; p < kb; ++p) std::fill(out + p * nr + cols, out + (p + 1) * nr, 0.0f);
  }
}

// The largest mr × kc of any kernel table.
constexpr int64_t kMaxPanel = 16 * 512;

// Below this many flops a parallel region costs more than it saves.
constexpr double kParallelFlops = 1 << 20;

// How many units of work to split `items` into: a few per thread, so a busy core does not hold up the rest.
int64_t work_units(int64_t items, double flops) {
  const int threads = ThreadPool::instance().threads();
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

void gemm_skinny(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rs_a,
                 int64_t cs_a, const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t ldc,
                 const Epilogue& ep) {
  const int snr = kern.skinny_nr;
  Buffer packed = make_buffer(k * snr);
  pack_b(b, rs_b, cs_b, k, n, snr, packed.get());
  const int64_t units = work_units(m, 2.0 * m * n * k);
  ThreadPool::instance().run(units, [&](int64_t unit, int) {
    const int64_t r0 = m * unit / units, r1 = m * (unit + 1) / units;
    if (r1 == r0) return;
    float* c0 = c + r0 * ldc;
    kern.gemm_skinny(r1 - r0, n, k, alpha, a + r0 * rs_a, rs_a, cs_a, packed.get(), beta, c0, ldc);
    if (!ep.empty()) kern.epilogue(c0, ldc, r1 - r0, n, r0, 0, ep);
  });
}

template <typename ASource>
void gemm_blocked(const IsaKernels& kern, int64_t m, int64_t n, int64_t k, float alpha, const ASource& a,
                  const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t ldc, const Epilogue& ep) {
  ThreadPool& pool = ThreadPool::instance();
  const int mr = kern.mr, nr = kern.nr;
  const int64_t kb_max = balanced_block(k, kern.kc, 1);
  const int64_t nb_max = balanced_block(n, kern.nc, nr);
  const int64_t m_panels = ceil_div(m, mr);
  const int64_t units = work_units(m_panels, 2.0 * m * n * k);
  // With few rows, split the columns instead, so a small batch still uses every thread.
  const bool split_columns = units > 1 && m_panels < 2 * pool.threads();

  Buffer b_block = make_buffer(kb_max * nb_max);
  const MicroKernel microkernel = a.row_layout() ? kern.gemm_microkernel_rows : kern.gemm_microkernel;

  for (int64_t jc = 0; jc < n; jc += nb_max) {
    const int64_t nb = std::min(nb_max, n - jc);
    const int64_t n_panels = ceil_div(nb, nr);
    for (int64_t pc = 0; pc < k; pc += kb_max) {
      const int64_t kb = std::min(kb_max, k - pc);
      const bool last = pc + kb == k;
      const float beta_block = pc == 0 ? beta : 1.0f;

      // Packing a small B block costs less than waking the pool.
      const bool parallel_pack = units > 1 && kb * nb >= (int64_t(1) << 16);
      pool.run(parallel_pack ? n_panels : 1, [&](int64_t task, int) {
        const int64_t first = parallel_pack ? task : 0, end = parallel_pack ? task + 1 : n_panels;
        for (int64_t jp = first; jp < end; ++jp) {
          const int64_t j0 = jp * nr;
          pack_b(b + pc * rs_b + (jc + j0) * cs_b, rs_b, cs_b, kb, std::min<int64_t>(nr, nb - j0), nr,
                 b_block.get() + jp * kb * nr);
        }
      });

      const int64_t tasks = split_columns ? std::min<int64_t>(units, n_panels) : units;
      pool.run(tasks, [&](int64_t task, int) {
        int64_t ip0 = 0, ip1 = m_panels, jp0 = 0, jp1 = n_panels;
        if (split_columns) {
          jp0 = n_panels * task / tasks, jp1 = n_panels * (task + 1) / tasks;
        } else {
          ip0 = m_panels * task / tasks, ip1 = m_panels * (task + 1) / tasks;
        }
        // One micro-panel of A (kb × mr) stays in L1 while it sweeps the B block.
        alignas(64) float a_panel[kMaxPanel];
        for (int64_t ip = ip0; ip < ip1; ++ip) {
          const int64_t i0 = ip * mr, rows = std::min<int64_t>(mr, m - i0);
          a.pack(i0, rows, pc, kb, mr, kern.kc, a_panel);
          if (ip + 1 < ip1) {
            const int64_t next = i0 + mr;
            a.prefetch(next, std::min<int64_t>(mr, m - next), pc, kb);
          }
          for (int64_t jp = jp0; jp < jp1; ++jp) {
            const int64_t j0 = jp * nr, cols = std::min<int64_t>(nr, nb - j0);
            float* tile = c + i0 * ldc + jc + j0;
            microkernel(kb, a_panel, b_block.get() + jp * kb * nr, tile, ldc, rows, cols, alpha, beta_block);
            if (last && !ep.empty()) kern.epilogue(tile, ldc, rows, cols, i0, jc + j0, ep);
          }
        }
      });
    }
  }
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

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep) {
  const IsaKernels& kern = kernels();
  if (without_product(kern, m, n, k, alpha, beta, c, ldc, ep)) return;
  // op(A)(i, p) = a[i·rs_a + p·cs_a], op(B)(p, j) = b[p·rs_b + j·cs_b]
  const int64_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  const int64_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  if (m <= kern.rows_max && cs_b == 1 && n > kern.skinny_nr) {
    // A single sample (or a few): stream B once instead of packing it.
    kern.gemm_rows(m, n, k, alpha, a, rs_a, cs_a, b, rs_b, beta, c, ldc);
    if (!ep.empty()) kern.epilogue(c, ldc, m, n, 0, 0, ep);
  } else if (n <= kern.skinny_nr) {
    gemm_skinny(kern, m, n, k, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, ldc, ep);
  } else {
    gemm_blocked(kern, m, n, k, alpha, FloatA{a, rs_a, cs_a}, b, rs_b, cs_b, beta, c, ldc, ep);
  }
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const ByteRows& a,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep) {
  const IsaKernels& kern = kernels();
  if (without_product(kern, m, n, k, alpha, beta, c, ldc, ep)) return;
  const int64_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  gemm_blocked(kern, m, n, k, alpha, BytesA{a, trans_a, kern}, b, rs_b, cs_b, beta, c, ldc, ep);
}

}  // namespace fastmlp
