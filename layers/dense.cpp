#include "layers/dense.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "layers/activation.h"

namespace xgrad::layers {

Dense::Dense(std::size_t units, DenseOptions options)
    : Layer(options.name), units_(units), options_(std::move(options)) {
  if (units_ == 0) throw std::invalid_argument("Dense: units must be >= 1; got 0");
  if (!options_.kernel_initializer || !options_.bias_initializer) {
    throw std::invalid_argument("Dense: initializers must not be null");
  }
  activation_ = get_activation(options_.activation);
}

Dense::Dense(std::size_t units, const std::string& activation)
    : Dense(units, DenseOptions{.activation = activation}) {}

void Dense::build(const Shape& input_shape) {
  const std::size_t in = input_shape.back();
  if (in == 0) fail("the last axis of the input must not be empty; got input.shape=" + shape_to_string(input_shape));
  kernel_ = add_weight("kernel", {in, units_}, *options_.kernel_initializer);
  if (options_.use_bias) bias_ = add_weight("bias", {units_}, *options_.bias_initializer);
}

Tensor Dense::call(const Tensor& input, bool) {
  Tensor y = matmul(input, kernel_);
  if (options_.use_bias) y = add(y, bias_);
  return activation_(y);
}

}  // namespace xgrad::layers
