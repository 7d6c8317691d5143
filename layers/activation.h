#pragma once
/// \file
/// Activation functions by Keras name, and the `Activation` layer.

#include <functional>
#include <string>

#include "layers/layer.h"

namespace xgrad::layers {

/// An activation function by Keras name: "relu", "sigmoid", "tanh", "softmax" (last axis),
/// "softplus", or "linear" / "" (identity). Throws std::invalid_argument naming the
/// unknown name and listing the known ones.
std::function<Tensor(const Tensor&)> get_activation(const std::string& name);

/// Applies an activation function element-wise (softmax: over the last axis).
class Activation : public Layer {
 public:
  explicit Activation(const std::string& activation, std::string name = "");
  std::string class_name() const override { return "Activation"; }
  const std::string& activation() const { return activation_; }

 protected:
  Tensor call(const Tensor& input, bool training) override;

 private:
  std::string activation_;
  std::function<Tensor(const Tensor&)> fn_;
};

}  // namespace xgrad::layers
