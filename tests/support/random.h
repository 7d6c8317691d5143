#pragma once
// Seeded random tensors for tests.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>

#include "autograd/tensor.h"

namespace xgrad::testing {

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
