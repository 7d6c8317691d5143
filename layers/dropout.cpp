#include "layers/dropout.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"

namespace xgrad::layers {

Dropout::Dropout(real rate, std::optional<std::uint64_t> seed, std::string name)
    : Layer(std::move(name)), rate_(rate) {
  if (!(rate >= 0 && rate < 1)) {
    throw std::invalid_argument("Dropout: rate must be in [0, 1); got " + std::to_string(rate));
  }
  if (seed) engine_.emplace(*seed);
}

Tensor Dropout::call(const Tensor& input, bool training) {
  if (!training || rate_ == 0) return input;
  std::mt19937_64& engine = engine_ ? *engine_ : random_engine();
  std::bernoulli_distribution keep(1.0 - static_cast<double>(rate_));
  const real scale = real(1) / (real(1) - rate_);
  std::vector<real> mask(input.size());
  for (real& m : mask) m = keep(engine) ? scale : real(0);
  // The mask is a constant: the gradient is g ⊙ mask through mul's backward.
  return mul(input, Tensor::from_vector(input.shape(), std::move(mask)));
}

}  // namespace xgrad::layers
