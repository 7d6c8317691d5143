#pragma once
/// \file
/// `Conv2D`: 2-D convolution layer, TensorFlow layout (NHWC input, HWIO kernel).

#include <array>
#include <memory>
#include <string>

#include "autograd/ops/conv2d.h"
#include "layers/layer.h"

namespace xgrad::layers {

struct Conv2DLayerOptions {
  std::array<int, 2> strides{1, 1};
  Padding padding = Padding::Valid;
  std::array<int, 2> dilation_rate{1, 1};
  std::string activation = "linear";
  bool use_bias = true;
  std::shared_ptr<const Initializer> kernel_initializer = glorot_uniform();
  std::shared_ptr<const Initializer> bias_initializer = zeros();
  std::string name;
};

/// y = activation(conv2d(x, kernel) + bias): input [N, H, W, C] → [N, OH, OW, filters] with
/// TensorFlow's `valid`/`same` arithmetic. kernel [KH, KW, C, filters], bias [filters].
class Conv2D : public Layer {
 public:
  Conv2D(std::size_t filters, std::array<int, 2> kernel_size, Conv2DLayerOptions options = {});
  std::string class_name() const override { return "Conv2D"; }
  std::size_t filters() const { return filters_; }
  /// The weights (valid once built). Handles to the layer's state, so
  /// `conv.kernel().assign(w)` sets the weight. bias() is empty without use_bias.
  Variable kernel() const { return kernel_; }
  Variable bias() const { return bias_; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& input, bool training) override;
  std::size_t input_rank() const override { return 4; }

 private:
  std::size_t filters_;
  std::array<int, 2> kernel_size_;
  Conv2DLayerOptions options_;
  std::function<Tensor(const Tensor&)> activation_;
  Variable kernel_, bias_;
};

}  // namespace xgrad::layers
