#pragma once
// Seeded random tensors and raw value buffers for tests.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>

#include "autograd/tensor.h"

namespace xgrad::testing {

/// `count` values in [-0.5, 0.5) from a fixed linear congruential sequence: raw operand
/// buffers (GEMM tests), the same on every platform.
inline std::vector<real> random_values(std::size_t count, unsigned seed) {
  std::vector<real> v(count);
  unsigned s = seed;
  for (real& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<real>((s >> 8) & 0xFFFF) / real(65536) - real(0.5);
  }
  return v;
}

/// random_values rounded to the integers -2 .. 2: products and sums of up to 2^21 of them are
/// exact in float, so a GEMM over them has exactly one right answer.
inline std::vector<real> small_integers(std::size_t count, unsigned seed) {
  std::vector<real> v = random_values(count, seed);
  for (real& x : v) x = std::round(x * 4);
  return v;
}

/// Uniform values in [lo, hi).
inline Tensor uniform(const Shape& shape, double lo = -1, double hi = 1, std::uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<real> v(shape_size(shape));
  for (real& x : v) x = static_cast<real>(dist(rng));
  return Tensor::from_vector(shape, v);
}

/// Uniform magnitudes in [lo, hi) with random signs: values kept away from 0 (for abs,
/// relu and other ops with a kink there).
inline Tensor away_from_zero(const Shape& shape, double lo = 0.2, double hi = 1.2,
                             std::uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::bernoulli_distribution coin(0.5);
  std::vector<real> v(shape_size(shape));
  for (real& x : v) x = static_cast<real>(coin(rng) ? dist(rng) : -dist(rng));
  return Tensor::from_vector(shape, v);
}

/// Distinct values spaced `step` apart in random order: no ties for max/pooling, and
/// neighbours far apart compared with a finite-difference step.
inline Tensor distinct(const Shape& shape, double step = 0.05, std::uint64_t seed = 7) {
  std::vector<std::size_t> order(shape_size(shape));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<real> v(order.size());
  const double mid = static_cast<double>(order.size()) / 2;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<real>((static_cast<double>(order[i]) - mid) * step);
  }
  return Tensor::from_vector(shape, v);
}

}  // namespace xgrad::testing
