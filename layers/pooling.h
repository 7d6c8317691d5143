#pragma once
/// \file
/// `MaxPooling2D` and `AveragePooling2D` (NHWC, Keras defaults: pool 2×2, strides = pool
/// size, valid padding).

#include <array>
#include <optional>

#include "autograd/ops/pool2d.h"
#include "layers/layer.h"

namespace xgrad::layers {

struct PoolingOptions {
  std::array<int, 2> pool_size{2, 2};
  /// Defaults to pool_size (Keras).
  std::optional<std::array<int, 2>> strides;
  Padding padding = Padding::Valid;
  std::string name;
};

/// Shared checks and option handling of the two pooling layers.
class Pooling2D : public Layer {
 public:
  explicit Pooling2D(PoolingOptions options);
  const Pool2DOptions& pool_options() const { return pool_; }

 protected:
  std::size_t input_rank() const override { return 4; }
  void build(const Shape& input_shape) override;

 private:
  Pool2DOptions pool_;
};

/// Max over each window, per channel.
class MaxPooling2D : public Pooling2D {
 public:
  explicit MaxPooling2D(PoolingOptions options = {}) : Pooling2D(std::move(options)) {}
  std::string class_name() const override { return "MaxPooling2D"; }

 protected:
  Tensor call(const Tensor& input, bool training) override;
};

/// Mean over each window's real (unpadded) elements, per channel.
class AveragePooling2D : public Pooling2D {
 public:
  explicit AveragePooling2D(PoolingOptions options = {}) : Pooling2D(std::move(options)) {}
  std::string class_name() const override { return "AveragePooling2D"; }

 protected:
  Tensor call(const Tensor& input, bool training) override;
};

}  // namespace xgrad::layers
