#pragma once
/// \file
/// `Dense`: a fully connected layer, Keras layout.

#include <memory>
#include <string>

#include "layers/layer.h"

namespace xgrad::layers {

struct DenseOptions {
  std::string activation = "linear";
  bool use_bias = true;
  std::shared_ptr<const Initializer> kernel_initializer = glorot_uniform();
  std::shared_ptr<const Initializer> bias_initializer = zeros();
  std::string name;
};

/// y = activation(x · kernel + bias) over the last axis: input [..., in] → [..., units].
/// kernel is [in, units] (Keras/TensorFlow layout), bias [units].
class Dense : public Layer {
 public:
  explicit Dense(std::size_t units, DenseOptions options = {});
  Dense(std::size_t units, const std::string& activation);
  std::string class_name() const override { return "Dense"; }
  std::size_t units() const { return units_; }
  /// The weights (valid once built). Handles to the layer's state, so
  /// `dense.kernel().assign(w)` sets the weight. bias() is empty without use_bias.
  Variable kernel() const { return kernel_; }
  Variable bias() const { return bias_; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& input, bool training) override;
  std::size_t min_input_rank() const override { return 2; }

 private:
  std::size_t units_;
  DenseOptions options_;
  std::function<Tensor(const Tensor&)> activation_;
  Variable kernel_, bias_;
};

}  // namespace xgrad::layers
