#pragma once
/// \file
/// `Dropout`: zeroes a random fraction of the inputs during training (inverted dropout).

#include <cstdint>
#include <optional>
#include <random>

#include "layers/layer.h"

namespace xgrad::layers {

/// In training, each element is kept with probability 1 - rate and scaled by 1/(1 - rate),
/// else set to 0; at inference the layer is the identity. With a seed the layer draws its
/// masks from its own engine (reproducible regardless of other layers), otherwise from
/// random_engine(). rate must be in [0, 1).
class Dropout : public Layer {
 public:
  explicit Dropout(real rate, std::optional<std::uint64_t> seed = std::nullopt, std::string name = "");
  std::string class_name() const override { return "Dropout"; }
  real rate() const { return rate_; }

 protected:
  Tensor call(const Tensor& input, bool training) override;

 private:
  real rate_;
  std::optional<std::mt19937_64> engine_;
};

}  // namespace xgrad::layers
