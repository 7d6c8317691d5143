#include "layers/activation.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/softmax.h"

namespace xgrad::layers {

std::function<Tensor(const Tensor&)> get_activation(const std::string& name) {
  if (name.empty() || name == "linear") return [](const Tensor& x) { return x; };
  if (name == "relu") return [](const Tensor& x) { return relu(x); };
  if (name == "sigmoid") return [](const Tensor& x) { return sigmoid(x); };
  if (name == "tanh") return [](const Tensor& x) { return tanh(x); };
  if (name == "softplus") return [](const Tensor& x) { return softplus(x); };
  if (name == "softmax") return [](const Tensor& x) { return softmax(x, -1); };
  throw std::invalid_argument("unknown activation '" + name +
                              "'; known: relu, sigmoid, tanh, softmax, softplus, linear");
}

Activation::Activation(const std::string& activation, std::string name)
    : Layer(std::move(name)), activation_(activation), fn_(get_activation(activation)) {}

Tensor Activation::call(const Tensor& input, bool) { return fn_(input); }

}  // namespace xgrad::layers
