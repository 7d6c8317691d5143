#pragma once
// Vectorised, parallel loops over raw contiguous buffers (xsimd batches + OpenMP).
//
// Kernels pass generic lambdas that are valid both for xsimd::batch<real> and for a plain
// `real` (xsimd's math functions have scalar overloads), so one expression serves the
// vector body and the scalar tail. Work is split into fixed, contiguous chunks by a static
// schedule, so a result never depends on timing — only on the thread count, and for the
// element-wise maps not even on that.
//
// Include only from .cpp files: xsimd is not a light header.

#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "autograd/array.h"
#include "autograd/threads.h"

namespace xgrad::detail {

using Batch = xsimd::batch<real>;
inline constexpr std::size_t kLanes = Batch::size;
/// Overloads for the scalar tail of a generic kernel lambda (xsimd 8 has no scalar
/// select/max/min).
inline real vselect(bool c, real a, real b) { return c ? a : b; }
inline Batch vselect(const xsimd::batch_bool<real>& c, const Batch& a, const Batch& b) {
  return xsimd::select(c, a, b);
}
inline real vmax(real a, real b) { return a > b ? a : b; }
inline Batch vmax(const Batch& a, const Batch& b) { return xsimd::max(a, b); }
inline real vmin(real a, real b) { return a < b ? a : b; }
inline Batch vmin(const Batch& a, const Batch& b) { return xsimd::min(a, b); }

/// Below this many elements a loop stays on one thread (spawning costs more than it saves).
inline constexpr std::size_t kParallelGrain = std::size_t(1) << 15;

/// Calls body(begin, end) over contiguous ranges covering [0, n): one range per thread when n
/// is large, else a single range.
template <class Body>
void parallel_ranges(std::size_t n, Body body) {
  const int threads = num_threads();
  if (threads <= 1 || n < kParallelGrain) {
    body(std::size_t(0), n);
    return;
  }
  // Chunk boundaries on whole SIMD batches.
  const std::size_t per = ((n / static_cast<std::size_t>(threads)) + kLanes - 1) / kLanes * kLanes;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const std::size_t begin = std::min(n, static_cast<std::size_t>(t) * per);
    const std::size_t end = t + 1 == threads ? n : std::min(n, begin + per);
    if (begin < end) body(begin, end);
  }
}

/// y[i] = f(x[i]).
template <class F>
void simd_map(const real* x, real* y, std::size_t n, F f) {
  parallel_ranges(n, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) f(Batch::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < end; ++i) y[i] = f(x[i]);
  });
}

/// y[i] = f(a[i], b[i]).
template <class F>
void simd_map2(const real* a, const real* b, real* y, std::size_t n, F f) {
  parallel_ranges(n, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      f(Batch::load_unaligned(a + i), Batch::load_unaligned(b + i)).store_unaligned(y + i);
    }
    for (; i < end; ++i) y[i] = f(a[i], b[i]);
  });
}

/// Σ x[i] over [0, n), single-threaded, in a fixed order (several accumulators).
inline real simd_sum(const real* x, std::size_t n) {
  Batch acc0(real(0)), acc1(real(0));
  std::size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 += Batch::load_unaligned(x + i);
    acc1 += Batch::load_unaligned(x + i + kLanes);
  }
  for (; i + kLanes <= n; i += kLanes) acc0 += Batch::load_unaligned(x + i);
  real total = xsimd::hadd(acc0 + acc1);
  for (; i < n; ++i) total += x[i];
  return total;
}

/// max over [0, n) (n >= 1), single-threaded.
inline real simd_max(const real* x, std::size_t n, real init) {
  Batch acc(init);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc = xsimd::max(acc, Batch::load_unaligned(x + i));
  alignas(64) real lanes[kLanes];
  acc.store_aligned(lanes);
  real m = lanes[0];
  for (std::size_t l = 1; l < kLanes; ++l) m = std::max(m, lanes[l]);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

}  // namespace xgrad::detail
