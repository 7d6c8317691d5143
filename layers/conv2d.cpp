#include "layers/conv2d.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "layers/activation.h"

namespace xgrad::layers {

Conv2D::Conv2D(std::size_t filters, std::array<int, 2> kernel_size, Conv2DLayerOptions options)
    : Layer(options.name), filters_(filters), kernel_size_(kernel_size), options_(std::move(options)) {
  auto positive = [](std::array<int, 2> v) { return v[0] >= 1 && v[1] >= 1; };
  if (filters_ == 0) throw std::invalid_argument("Conv2D: filters must be >= 1; got 0");
  if (!positive(kernel_size_) || !positive(options_.strides) || !positive(options_.dilation_rate)) {
    throw std::invalid_argument(
        "Conv2D: kernel_size, strides and dilation_rate must be >= 1; got kernel_size=[" +
        std::to_string(kernel_size_[0]) + ", " + std::to_string(kernel_size_[1]) + "], strides=[" +
        std::to_string(options_.strides[0]) + ", " + std::to_string(options_.strides[1]) +
        "], dilation_rate=[" + std::to_string(options_.dilation_rate[0]) + ", " +
        std::to_string(options_.dilation_rate[1]) + "]");
  }
  if (!options_.kernel_initializer || !options_.bias_initializer) {
    throw std::invalid_argument("Conv2D: initializers must not be null");
  }
  activation_ = get_activation(options_.activation);
}

void Conv2D::build(const Shape& input_shape) {
  const std::size_t channels = input_shape[3];
  if (channels == 0) fail("the input has no channels; got input.shape=" + shape_to_string(input_shape));
  // Checks now that the output is not empty, so the error names the layer at build time.
  try {
    conv_axis("conv2d", input_shape[1], std::size_t(kernel_size_[0]), options_.strides[0],
              options_.dilation_rate[0], options_.padding);
    conv_axis("conv2d", input_shape[2], std::size_t(kernel_size_[1]), options_.strides[1],
              options_.dilation_rate[1], options_.padding);
  } catch (const std::invalid_argument& e) {
    fail(std::string(e.what()) + " (input.shape=" + shape_to_string(input_shape) + ")");
  }
  kernel_ = add_weight("kernel", {std::size_t(kernel_size_[0]), std::size_t(kernel_size_[1]), channels, filters_},
                       *options_.kernel_initializer);
  if (options_.use_bias) bias_ = add_weight("bias", {filters_}, *options_.bias_initializer);
}

Tensor Conv2D::call(const Tensor& input, bool) {
  Conv2DOptions o;
  o.strides = options_.strides;
  o.dilations = options_.dilation_rate;
  o.padding = options_.padding;
  // Bias and relu (or no activation) run inside the convolution's output pass.
  const std::string& a = options_.activation;
  if (a == "relu" || a == "linear" || a.empty()) {
    return fused_conv2d(input, kernel_, options_.use_bias ? bias_.value() : Tensor(), o,
                        a == "relu" ? FusedActivation::Relu : FusedActivation::Linear);
  }
  Tensor y = conv2d(input, kernel_, o);
  if (options_.use_bias) y = add(y, bias_);
  return activation_(y);
}

}  // namespace xgrad::layers
