#pragma once
/// \file
/// `Sequential`: a stack of layers, itself a layer.

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace xgrad::layers {

/// Calls its layers in order, each on the previous one's output. Being a Layer, it nests
/// (a Sequential tower inside a siamese model) and is built lazily on its first call.
/// \code
///   auto model = std::make_shared<Sequential>(std::vector<std::shared_ptr<Layer>>{
///       std::make_shared<Conv2D>(32, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}),
///       std::make_shared<MaxPooling2D>(),
///       std::make_shared<Flatten>(),
///       std::make_shared<Dense>(10)}, "classifier");
///   Tensor logits = (*model)(images, /*training=*/true);
///   std::cout << model->summary();
/// \endcode
class Sequential : public Layer {
 public:
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers = {}, std::string name = "");
  std::string class_name() const override { return "Sequential"; }

  /// Appends a layer (before the first call only: std::logic_error after).
  void add(std::shared_ptr<Layer> layer);

  /// A Keras-like table: one row per layer with its output shape (batch axis as "None")
  /// and parameter count, then the totals. Throws std::logic_error before the model is
  /// built (call it on a batch first).
  std::string summary() const;

 protected:
  /// Throws std::invalid_argument when the model has no layers, before it is marked built
  /// (so layers can still be added after that error).
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& input, bool training) override;
};

}  // namespace xgrad::layers
