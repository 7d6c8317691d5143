#pragma once
/// \file
/// Weight initializers (Keras semantics) and the one seeded random engine they draw from.

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "autograd/tensor.h"

namespace xgrad::layers {

/// The random engine every initializer and unseeded Dropout draws from. Seeding it makes
/// model construction reproducible: the same seed builds the same weights.
std::mt19937_64& random_engine();
/// Reseeds random_engine().
void set_random_seed(std::uint64_t seed);

/// Makes the initial value of a weight of a given shape.
class Initializer {
 public:
  virtual ~Initializer() = default;
  virtual Tensor operator()(const Shape& shape) const = 0;
  /// Keras name, e.g. "glorot_uniform".
  virtual std::string name() const = 0;
};

/// Fans of a weight shape, Keras-style: [in, out] → (in, out); HWIO [h, w, in, out] →
/// (h·w·in, h·w·out); rank 1 → (n, n).
std::pair<double, double> compute_fans(const Shape& shape);

/// U(-l, l) with l = √(6 / (fan_in + fan_out)) — Keras's default for kernels.
std::shared_ptr<const Initializer> glorot_uniform();
/// Truncated normal (±2σ) with σ = √(2 / fan_in) (Keras HeNormal).
std::shared_ptr<const Initializer> he_normal();
/// All zeros — Keras's default for biases.
std::shared_ptr<const Initializer> zeros();
/// All ones.
std::shared_ptr<const Initializer> ones();
/// All `value`.
std::shared_ptr<const Initializer> constant(real value);

}  // namespace xgrad::layers
