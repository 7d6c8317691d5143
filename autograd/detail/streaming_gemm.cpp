#include "autograd/detail/streaming_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "autograd/memory.h"
#include "autograd/threads.h"

// The kernels need 16-float vectors (their register tiles are sized for AVX-512's 32
// registers) and AVX-512's non-temporal store, which xsimd 8 does not wrap.
#if defined(__AVX512F__) && !(defined(XGRAD_DOUBLE) && XGRAD_DOUBLE)
#define XGRAD_STREAMING_GEMM 1
#include <immintrin.h>
#else
#define XGRAD_STREAMING_GEMM 0
#endif

namespace xgrad::detail {

namespace {

// From this length on, the long dimension streams: its operand (rows × 128 floats and up)
// no longer fits in the 2 MiB L2 of a core many times over.
constexpr std::size_t kLongDim = std::size_t{1} << 17;

}  // namespace

bool streaming_gemm_available() { return XGRAD_STREAMING_GEMM != 0; }

StreamingKernel streaming_kernel_for(bool trans_a, bool trans_b, std::size_t m, std::size_t n,
                                     std::size_t k) {
#if XGRAD_STREAMING_GEMM
  const bool n_in_vectors = n % 16 == 0 && n >= 16 && n <= 128;
  // DeepK matches the split-K rule of blas.cpp (a small C), which calls it per K block.
  if (!trans_a && !trans_b && n_in_vectors && k >= kLongDim && m * n <= (std::size_t{1} << 16)) {
    return StreamingKernel::DeepK;
  }
  if (trans_a && !trans_b && n_in_vectors && m >= kLongDim && k >= 1 && k <= 256) {
    return StreamingKernel::TallT;
  }
  if (!trans_a && trans_b && (m == 16 || m == 32 || m == 48 || m == 64) && n >= kLongDim &&
      k >= 1 && k <= 256) {
    return StreamingKernel::WideT;
  }
#else
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k;
#endif
  return StreamingKernel::None;
}

#if XGRAD_STREAMING_GEMM

namespace {

using Batch = xsimd::batch<float>;
static_assert(Batch::size == 16, "the streaming kernels assume AVX-512 (16 floats per vector)");

// Prefetch into L2 (locality hint 2 = prefetcht1): the data is used a block later, and
// fetching it into L1 now would evict the operand the current block reuses.
inline void prefetch_l2(const float* p) { __builtin_prefetch(p, 0, 2); }

// Writes R×NV accumulator vectors as alpha · acc + beta · C (C not read when beta is 0), with
// non-temporal stores when asked (the caller checked the alignment).
template <int R, int NV>
inline void store_tile(Batch (&acc)[R][NV], float alpha, float beta, float* c, std::size_t ldc,
                       bool stream) {
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) {
      float* p = c + static_cast<std::size_t>(r) * ldc + 16 * v;
      Batch out = alpha == 1.0f ? acc[r][v] : acc[r][v] * Batch(alpha);
      if (beta != 0.0f) out = xsimd::fma(Batch(beta), Batch::load_unaligned(p), out);
      if (stream) {
        _mm512_stream_ps(p, out);
      } else {
        out.store_unaligned(p);
      }
    }
  }
}

// Non-temporal stores need 64-byte aligned rows, and only pay when C is not read (beta = 0).
bool can_stream(const float* c, std::size_t ldc, float beta) {
  return beta == 0.0f && reinterpret_cast<std::uintptr_t>(c) % 64 == 0 && ldc % 16 == 0;
}

// ---- DeepK: C[m×n] = A[m×k] · B[k×n], one K block on one thread -------------------------
// B is consumed in 64-row slabs (n ≤ 128 floats per row: ≤ 32 KiB, kept in L1 while every
// pair of A rows passes over it); the next slab of B and of each A row is prefetched while
// the current one is used, spread over the row tiles.

constexpr std::size_t kDeepSlab = 64;

// acc[r][v] += Σ_p A(r, p) · B[p, 16v .. 16v + 16) for p < k, where A(r, p) is
// a[r · row_stride + p · k_stride] (DeepK: A's rows; TallT: A's columns) and B's rows are ldb
// apart: the register tile both DeepK and TallT run.
template <int R, int NV>
inline void rank1_tile(Batch (&acc)[R][NV], const float* a, std::size_t row_stride,
                       std::size_t k_stride, const float* b, std::size_t ldb, std::size_t k) {
  for (std::size_t p = 0; p < k; ++p, a += k_stride, b += ldb) {
    Batch bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = Batch::load_unaligned(b + 16 * v);
    for (int r = 0; r < R; ++r) {
      const Batch av(a[r * row_stride]);
      for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
    }
  }
}

template <int MR, int NV>
inline void deep_k_tile(const float* a, std::size_t lda, const float* b, std::size_t ldb,
                        float* c, std::size_t ldc, std::size_t kn, bool first) {
  Batch acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = first ? Batch(0.0f) : Batch::load_unaligned(c + r * ldc + 16 * v);
  rank1_tile<MR, NV>(acc, a, lda, 1, b, ldb, kn);
  store_tile<MR, NV>(acc, 1.0f, 0.0f, c, ldc, false);
}

template <int NV>
void deep_k_block(std::size_t m, std::size_t k, const float* a, std::size_t lda, const float* b,
                  std::size_t ldb, float* c) {
  constexpr std::size_t ldc = 16 * NV;
  const std::size_t tiles = (m + 1) / 2;
  for (std::size_t p0 = 0; p0 < k; p0 += kDeepSlab) {
    const std::size_t kn = std::min(kDeepSlab, k - p0);
    const std::size_t next = p0 + kDeepSlab;
    const std::size_t next_rows = next < k ? std::min(kDeepSlab, k - next) : 0;
    const std::size_t b_lines = next_rows * NV;  // one 64-byte line per vector of a B row
    std::size_t t = 0;
    for (std::size_t i = 0; i < m; i += 2, ++t) {
      if (next_rows != 0) {
        for (std::size_t l = b_lines * t / tiles; l < b_lines * (t + 1) / tiles; ++l) {
          prefetch_l2(b + (next + l / NV) * ldb + (l % NV) * 16);
        }
        for (std::size_t r = i; r < std::min(m, i + 2); ++r) {
          for (std::size_t q = 0; q < next_rows; q += 16) prefetch_l2(a + r * lda + next + q);
        }
      }
      if (i + 2 <= m) {
        deep_k_tile<2, NV>(a + i * lda + p0, lda, b + p0 * ldb, ldb, c + i * ldc, ldc, kn, p0 == 0);
      } else {
        deep_k_tile<1, NV>(a + i * lda + p0, lda, b + p0 * ldb, ldb, c + i * ldc, ldc, kn, p0 == 0);
      }
    }
  }
}

// ---- TallT: C[m×n] = alpha · Aᵀ·B + beta · C, A stored k×m (m huge) ------------------------
// 3-row × n register tiles: for each of the k rows of A, three of its elements broadcast
// against a row of B (k×n ≤ 128 KiB, from L1/L2). Rows of C go in groups of 48 (three cache
// lines of each row of A); the next group's lines are prefetched, a share before each tile
// (all at the group's start, or two groups ahead: 251 instead of 269–290 GFLOP/s). Copying
// each group's block of A into a buffer first, against the L1 set aliasing of A's rows
// (7,225,344 bytes apart in the seed model, a multiple of 4 KiB), measured no faster (287).
// dW is written once and read by the optimizer only later: non-temporal stores.

constexpr std::size_t kTallGroup = 48;

template <int R, int NV>
inline void tall_t_tile(const float* a, std::size_t lda, const float* b, std::size_t ldb,
                        std::size_t k, float alpha, float beta, float* c, std::size_t ldc,
                        bool stream) {
  Batch acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = Batch(0.0f);
  rank1_tile<R, NV>(acc, a, 1, lda, b, ldb, k);
  store_tile<R, NV>(acc, alpha, beta, c, ldc, stream);
}

template <int NV>
void tall_t_rows(std::size_t r0, std::size_t r1, std::size_t k, float alpha, const float* a,
                 std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                 std::size_t ldc, bool stream) {
  constexpr std::size_t kLinesPerRow = kTallGroup / 16;
  for (std::size_t g = r0; g < r1; g += kTallGroup) {
    const std::size_t rows = std::min(kTallGroup, r1 - g);
    // The next group's columns of A (k rows × 3 lines), a share before each tile.
    const std::size_t ahead = g + kTallGroup;
    const std::size_t lines = ahead < r1 ? k * kLinesPerRow : 0;
    const std::size_t tiles = (rows + 2) / 3;
    std::size_t r = 0;
    for (std::size_t t = 0; r < rows; ++t) {
      for (std::size_t l = lines * t / tiles; l < lines * (t + 1) / tiles; ++l) {
        prefetch_l2(a + (l / kLinesPerRow) * lda + ahead + (l % kLinesPerRow) * 16);
      }
      if (r + 3 <= rows) {
        tall_t_tile<3, NV>(a + g + r, lda, b, ldb, k, alpha, beta, c + (g + r) * ldc, ldc, stream);
        r += 3;
      } else {
        tall_t_tile<1, NV>(a + g + r, lda, b, ldb, k, alpha, beta, c + (g + r) * ldc, ldc, stream);
        r += 1;
      }
    }
  }
}

// ---- WideT: C[m×n] = alpha · A·Bᵀ + beta · C, B stored n×k (n huge), m = 16·MV ----------
// Computed as Cᵀ: for each block of 16 columns of C (16 rows of B), 4-row tiles broadcast
// B's elements against Aᵀ (packed once, k×m ≤ 64 KiB), giving a 16×m block of Cᵀ in an L1
// buffer; each of its m columns is then gathered into one 64-byte row segment of C and
// written with a non-temporal store (without them: 179 instead of 230 GFLOP/s). B's rows
// eight blocks ahead are prefetched (2 ahead: 247, 4: 227–238, 8: 245–257 GFLOP/s).

constexpr std::size_t kWideAhead = 8;

template <int R, int MV>
inline void wide_t_tile(const float* b, std::size_t ldb, const float* at, std::size_t k,
                        float* out) {
  constexpr std::size_t m = 16 * MV;
  Batch acc[R][MV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < MV; ++v) acc[r][v] = Batch(0.0f);
  for (std::size_t j = 0; j < k; ++j) {
    Batch av[MV];
    for (int v = 0; v < MV; ++v) av[v] = Batch::load_unaligned(at + j * m + 16 * v);
    for (int r = 0; r < R; ++r) {
      const Batch bv(b[r * ldb + j]);
      for (int v = 0; v < MV; ++v) acc[r][v] = xsimd::fma(bv, av[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < MV; ++v) acc[r][v].store_aligned(out + r * m + 16 * v);
}

template <int MV>
void wide_t_columns(std::size_t c0, std::size_t c1, std::size_t n, std::size_t k, float alpha,
                    const float* at, const float* b, std::size_t ldb, float beta, float* c,
                    std::size_t ldc, bool stream) {
  constexpr std::size_t m = 16 * MV;
  alignas(64) float block[16 * m];
  alignas(64) std::int32_t offsets[16];
  for (int r = 0; r < 16; ++r) offsets[r] = static_cast<std::int32_t>(r * m);
  const auto index = xsimd::batch<std::int32_t>::load_aligned(offsets);
  std::size_t col = c0;
  for (; col + 16 <= c1; col += 16) {
    const std::size_t ahead = col + kWideAhead * 16;
    for (std::size_t r = 0; r < 16; r += 4) {
      if (ahead + 16 <= n) {  // a quarter of the block 8 ahead, before each tile
        for (std::size_t rr = r; rr < r + 4; ++rr)
          for (std::size_t q = 0; q < k; q += 16) prefetch_l2(b + (ahead + rr) * ldb + q);
      }
      wide_t_tile<4, MV>(b + (col + r) * ldb, ldb, at, k, block + r * m);
    }
    for (std::size_t i = 0; i < m; ++i) {
      Batch out[1][1] = {{Batch::gather(block + i, index)}};
      store_tile<1, 1>(out, alpha, beta, c + i * ldc + col, ldc, stream);
    }
  }
  // The last n % 16 columns (only in the thread that owns the end): the same fused
  // multiply-adds in the same order as a vector lane.
  for (; col < c1; ++col) {
    for (std::size_t i = 0; i < m; ++i) {
      float sum = 0.0f;
      for (std::size_t j = 0; j < k; ++j) sum = std::fma(b[col * ldb + j], at[j * m + i], sum);
      float& out = c[i * ldc + col];
      out = alpha * sum + (beta == 0.0f ? 0.0f : beta * out);
    }
  }
}

// Calls f(std::integral_constant<int, N>{}) for the N = count in 1 .. Max (the callers have
// checked the range): the kernels' vector counts are template parameters.
template <int Max, class F>
void with_vector_count(std::size_t count, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((count == static_cast<std::size_t>(I + 1) ? (f(std::integral_constant<int, I + 1>{}), true)
                                               : false) ||
     ...);
  }(std::make_integer_sequence<int, Max>{});
}

// Splits [0, count) into num_threads() contiguous ranges of whole `grain`-sized units and
// runs body(begin, end) for each in parallel.
template <class Body>
void parallel_over(std::size_t count, std::size_t grain, Body body) {
  const int threads = num_threads();
  const std::size_t units = (count + grain - 1) / grain;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int t = 0; t < threads; ++t) {
    const std::size_t begin = std::min(count, units * t / threads * grain);
    const std::size_t end = std::min(count, units * (t + 1) / threads * grain);
    if (begin < end) body(begin, end);
    _mm_sfence();  // make this thread's non-temporal stores visible before the region ends
  }
}

}  // namespace

void streaming_gemm_deep_k_block(std::size_t m, std::size_t n, std::size_t k, const real* a,
                                 std::size_t lda, const real* b, std::size_t ldb, real* c) {
  if (n % 16 != 0 || n == 0 || n > 128) {
    throw std::logic_error("streaming_gemm_deep_k_block: n must be a multiple of 16 up to 128");
  }
  with_vector_count<8>(n / 16, [&](auto nv) {
    deep_k_block<decltype(nv)::value>(m, k, a, lda, b, ldb, c);
  });
}

void streaming_gemm_tall_t(std::size_t m, std::size_t n, std::size_t k, real alpha,
                           const real* a, std::size_t lda, const real* b, std::size_t ldb,
                           real beta, real* c, std::size_t ldc) {
  if (n % 16 != 0 || n == 0 || n > 128 || k == 0 || k > 256) {
    throw std::logic_error("streaming_gemm_tall_t: unsupported shape");
  }
  const bool stream = can_stream(c, ldc, beta);
  parallel_over(m, kTallGroup, [&](std::size_t begin, std::size_t end) {
    with_vector_count<8>(n / 16, [&](auto nv) {
      tall_t_rows<decltype(nv)::value>(begin, end, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
    });
  });
}

void streaming_gemm_wide_t(std::size_t m, std::size_t n, std::size_t k, real alpha,
                           const real* a, std::size_t lda, const real* b, std::size_t ldb,
                           real beta, real* c, std::size_t ldc) {
  if (m % 16 != 0 || m == 0 || m > 64 || k == 0 || k > 256) {
    throw std::logic_error("streaming_gemm_wide_t: unsupported shape");
  }
  // Aᵀ, packed once for all threads: at[j·m + i] = A[i, j].
  CachedBuffer<float> at(k * m);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < k; ++j) at.get()[j * m + i] = a[i * lda + j];
  const bool stream = can_stream(c, ldc, beta);
  parallel_over(n, 16, [&](std::size_t begin, std::size_t end) {
    with_vector_count<4>(m / 16, [&](auto mv) {
      wide_t_columns<decltype(mv)::value>(begin, end, n, k, alpha, at.get(), b, ldb, beta, c, ldc,
                                          stream);
    });
  });
}

#else  // !XGRAD_STREAMING_GEMM: no shape selects these kernels.

void streaming_gemm_deep_k_block(std::size_t, std::size_t, std::size_t, const real*, std::size_t,
                                 const real*, std::size_t, real*) {
  throw std::logic_error("streaming GEMM kernels are not built in this configuration");
}
void streaming_gemm_tall_t(std::size_t, std::size_t, std::size_t, real, const real*, std::size_t,
                           const real*, std::size_t, real, real*, std::size_t) {
  throw std::logic_error("streaming GEMM kernels are not built in this configuration");
}
void streaming_gemm_wide_t(std::size_t, std::size_t, std::size_t, real, const real*, std::size_t,
                           const real*, std::size_t, real, real*, std::size_t) {
  throw std::logic_error("streaming GEMM kernels are not built in this configuration");
}

#endif

}  // namespace xgrad::detail
