#pragma once
// Internal: the loop skeleton of the optimizers' fused update kernels. Include only from
// .cpp files (it pulls in xsimd).
//
// An optimizer writes its per-element update once, as a generic lambda
// `step(lanes, i)`, where `lanes` is VectorLanes or ScalarLane: `lanes.load(p + i)` gives a
// batch (or a scalar), `lanes.store(p + i, x)` writes it back, `lanes.splat(c)` broadcasts
// a coefficient. fused_for_each runs it over whole SIMD batches and then the scalar tail,
// in contiguous per-thread ranges (detail::parallel_ranges). Every element is updated
// independently, so the result does not depend on the thread count.

#include <cstddef>

#include "autograd/detail/simd.h"

namespace xgrad::optim::detail {

using xgrad::detail::Batch;
using xgrad::detail::kLanes;

struct VectorLanes {
  using value_type = Batch;
  static Batch load(const real* p) { return Batch::load_unaligned(p); }
  static void store(real* p, const Batch& x) { x.store_unaligned(p); }
  static Batch splat(real c) { return Batch(c); }
};

struct ScalarLane {
  using value_type = real;
  static real load(const real* p) { return *p; }
  static void store(real* p, real x) { *p = x; }
  static real splat(real c) { return c; }
};

/// Calls step(VectorLanes{}, i) for i = 0, kLanes, 2 kLanes, … and step(ScalarLane{}, i)
/// for the remaining tail, in parallel over contiguous ranges of [0, n).
template <class Step>
void fused_for_each(std::size_t n, Step step) {
  xgrad::detail::parallel_ranges(n, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) step(VectorLanes{}, i);
    for (; i < end; ++i) step(ScalarLane{}, i);
  });
}

/// The gradient the update uses: g * scale, clamped to [-clipvalue, clipvalue] when
/// `clip_value` (Keras applies clipnorm / global_clipnorm / clipvalue, never two of them).
template <class Lanes, class T>
T effective_gradient(Lanes lanes, T g, real scale, bool clip_value, real clipvalue) {
  if (scale != real(1)) g = g * lanes.splat(scale);
  if (clip_value) {
    g = xgrad::detail::vmin(xgrad::detail::vmax(g, lanes.splat(-clipvalue)),
                            lanes.splat(clipvalue));
  }
  return g;
}

}  // namespace xgrad::optim::detail
