#pragma once
/// \file
/// `Flatten`: [N, d1, d2, …] → [N, d1·d2·…] (keeps the batch axis), as Keras.

#include "layers/layer.h"

namespace xgrad::layers {

class Flatten : public Layer {
 public:
  explicit Flatten(std::string name = "") : Layer(std::move(name)) {}
  std::string class_name() const override { return "Flatten"; }

 protected:
  Tensor call(const Tensor& input, bool training) override;
};

}  // namespace xgrad::layers
