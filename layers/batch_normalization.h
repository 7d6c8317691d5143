#pragma once
/// \file
/// `BatchNormalization` over the last (channel) axis, Keras semantics.

#include <string>

#include "layers/layer.h"

namespace xgrad::layers {

struct BatchNormalizationOptions {
  real momentum = real(0.99);
  real epsilon = real(1e-3);
  bool center = true;  ///< learn beta
  bool scale = true;   ///< learn gamma
  std::string name;
};

/// Normalises each channel (last axis): training uses the batch's mean and (biased)
/// variance over every other axis and updates the moving statistics,
///   moving = moving·momentum + batch·(1 - momentum);
/// inference uses the moving statistics. y = gamma·(x - mean)/√(var + epsilon) + beta.
/// Weights: gamma, beta (trainable); moving_mean, moving_variance (non-trainable).
class BatchNormalization : public Layer {
 public:
  explicit BatchNormalization(BatchNormalizationOptions options = {});
  std::string class_name() const override { return "BatchNormalization"; }
  /// The weights (valid once built), as handles: `bn.gamma().assign(g)` sets the weight.
  /// gamma() is empty without `scale`, beta() without `center`.
  Variable gamma() const { return gamma_; }
  Variable beta() const { return beta_; }
  Variable moving_mean() const { return moving_mean_; }
  Variable moving_variance() const { return moving_variance_; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& input, bool training) override;
  std::size_t min_input_rank() const override { return 2; }

 private:
  BatchNormalizationOptions options_;
  Variable gamma_, beta_, moving_mean_, moving_variance_;
};

}  // namespace xgrad::layers
