#pragma once
/// \file
/// `Layer`: the base of every layer and model, with Keras semantics — built lazily on the
/// first call from the input's shape, named, owning variables and sublayers.

#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "autograd/variable.h"
#include "layers/initializers.h"

namespace xgrad::layers {

/// A layer or model. Subclass it and override `call` (and `build` when it has weights) to
/// write a custom layer or model:
/// \code
///   class Block : public Layer {
///    public:
///     Block() : Layer("block") {
///       conv_ = add_layer(std::make_shared<Conv2D>(32, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}));
///       pool_ = add_layer(std::make_shared<MaxPooling2D>());
///     }
///     std::string class_name() const override { return "Block"; }
///    protected:
///     Tensor call(const Tensor& x, bool training) override { return (*pool_)((*conv_)(x, training)); }
///    private:
///     std::shared_ptr<Conv2D> conv_;
///     std::shared_ptr<MaxPooling2D> pool_;
///   };
/// \endcode
///
/// Calling a layer builds it on the first call (creating its variables for that input
/// shape), then checks every later input against the built shape: the batch axis (axis 0)
/// may change, no other axis may. Variables are named by the layer's path at build time,
/// e.g. `tower/conv2d_1/kernel`. Layers are held by shared_ptr and are not copyable.
class Layer {
 public:
  explicit Layer(std::string name = "");
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  /// Builds the layer on the first call, checks the input shape, runs `call`.
  /// `training` selects training behaviour (Dropout, BatchNormalization).
  /// Throws std::invalid_argument naming the layer and the shapes for an input of the wrong
  /// rank, or whose shape (but for the batch axis) differs from the built one.
  Tensor operator()(const Tensor& input, bool training = false);

  /// The Keras class name: "Dense", "Conv2D", …
  virtual std::string class_name() const = 0;
  /// The layer's own name, unique among its siblings ("conv2d_1"): the constructor's name,
  /// else default_name() (resolved on first use, as class_name() is virtual).
  const std::string& name() const { return resolved_name(); }
  /// Names from the outermost parent down: "tower/conv2d_1".
  std::string path() const;
  bool built() const { return built_; }
  /// The input shape the layer was built for (batch axis as in the first call).
  const Shape& build_input_shape() const { return build_shape_; }
  /// The output shape of the most recent call (for summaries).
  const Shape& output_shape() const { return output_shape_; }

  /// Every variable of this layer and its sublayers, in creation order.
  std::vector<Variable> variables() const;
  /// The trainable ones (what an optimizer updates).
  std::vector<Variable> trainable_variables() const;
  /// The non-trainable ones (e.g. BatchNormalization's moving statistics).
  std::vector<Variable> non_trainable_variables() const;
  /// Number of scalars in variables().
  std::size_t count_params() const;
  /// Direct sublayers, in the order they were added.
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }

 protected:
  /// Creates the layer's weights for an input shape. Called once, before the first call.
  virtual void build(const Shape& input_shape);
  /// The computation, composed of ops and sublayers.
  virtual Tensor call(const Tensor& input, bool training) = 0;
  /// The input rank this layer requires (0: any rank >= 1). Checked before build and call.
  virtual std::size_t input_rank() const { return 0; }
  /// The minimum input rank when input_rank() is 0.
  virtual std::size_t min_input_rank() const { return 1; }

  /// Creates a variable named `<path>/<name>` with `initializer(shape)` as its value.
  Variable add_weight(const std::string& name, const Shape& shape,
                      const Initializer& initializer, bool trainable = true);
  /// Tracks a sublayer (its variables become this layer's) and makes its name unique among
  /// this layer's sublayers by appending _1, _2, … Returns the layer.
  template <class L>
  std::shared_ptr<L> add_layer(std::shared_ptr<L> layer) {
    track(layer);
    return layer;
  }
  /// The default name: snake_case of class_name() ("MaxPooling2D" → "max_pooling2d").
  std::string default_name() const;
  /// Throws std::invalid_argument "<path>: message".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void track(const std::shared_ptr<Layer>& layer);
  void collect(std::vector<Variable>& out) const;
  const std::string& resolved_name() const;

  mutable std::string name_;
  Layer* parent_ = nullptr;
  bool built_ = false;
  Shape build_shape_;
  Shape output_shape_;
  std::vector<Variable> weights_;
  std::vector<std::shared_ptr<Layer>> layers_;
};

/// snake_case of a CamelCase class name, Keras-style ("Conv2D" → "conv2d").
std::string to_snake_case(const std::string& camel);

}  // namespace xgrad::layers
