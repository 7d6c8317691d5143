#pragma once
/// \file
/// `SiameseNetwork`: one tower applied to both images of a pair.

#include <memory>
#include <string>
#include <utility>

#include "layers/layer.h"

namespace xgrad::siamese {

/// How two embeddings are compared.
enum class Distance {
  Euclidean,  ///< ‖a - b‖₂ (with a tiny floor inside the root so the gradient stays finite)
  Cosine,     ///< 1 - a·b / (‖a‖‖b‖), in [0, 2]
};

/// Distance between the rows of two embeddings [N, D] → [N], composed of ops (so it is
/// differentiable w.r.t. both embeddings):
///   Euclidean: d = √max(Σ_j (a_j - b_j)², ε)
///   Cosine:    d = 1 - Σ_j a_j b_j / (√max(Σ_j a_j², ε) · √max(Σ_j b_j², ε)), clamped to
///              [0, 2] (rounding can otherwise leave it 1e-7 outside)
/// with ε = 1e-12 (in float and double builds alike). The floor keeps the gradient finite at
/// identical embeddings (Euclidean) and at zero embeddings (Cosine): where a squared norm is
/// below ε the distance uses √ε = 1e-6 instead, and the gradient through that norm is zero.
/// Throws std::invalid_argument naming embedding_distance and both shapes unless a and b
/// are rank 2 with equal shapes.
Tensor embedding_distance(const Tensor& a, const Tensor& b, Distance distance);

/// A siamese model: ONE tower (any layer or model) applied to both inputs, so the gradients
/// of both branches accumulate into the same variables. Calling the network embeds a batch
/// (the tower's output); `distance` compares pairs.
///
/// The tower becomes a sublayer and keeps its own name, so its variables are named
/// `<network name>/<tower name>/…`, e.g. `siamese/tower/conv2d/kernel`. It must not belong
/// to another model already (std::invalid_argument).
class SiameseNetwork : public layers::Layer {
 public:
  /// Throws std::invalid_argument for a null tower.
  SiameseNetwork(std::shared_ptr<layers::Layer> tower, Distance distance = Distance::Euclidean,
                 std::string name = "siamese");
  std::string class_name() const override { return "SiameseNetwork"; }

  /// Embeddings of both images of every pair: first [N, …] and second [N, …] → two [N, D].
  /// With `one_call` (the fast path) both halves go through the tower as one concatenated
  /// batch [2N, …], whose output is sliced back into halves — the same values and gradients
  /// as two calls for towers without batch statistics (BatchNormalization would see a
  /// different batch). Without it, the tower is called on each input in turn.
  /// Throws std::invalid_argument naming the network and both shapes when first and second
  /// differ in shape, and as the tower does for inputs it does not accept.
  std::pair<Tensor, Tensor> embed_pair(const Tensor& first, const Tensor& second, bool training,
                                       bool one_call = true);
  /// Distance [N] between the two images of each pair:
  /// embedding_distance(embed_pair(first, second), distance()). Throws as embed_pair.
  Tensor pair_distance(const Tensor& first, const Tensor& second, bool training,
                       bool one_call = true);

  layers::Layer& tower() { return *tower_; }
  Distance distance() const { return distance_; }

 protected:
  Tensor call(const Tensor& input, bool training) override;

 private:
  std::shared_ptr<layers::Layer> tower_;
  Distance distance_;
};

/// The tower presets of siamese_train's `--model`, for inputs of height × width (any number
/// of channels), as an unbuilt Sequential named "tower". Keras defaults throughout: valid
/// padding, glorot_uniform kernels, zero biases.
/// "seed": the seed article's tower, exactly — Conv2D 64 3×3 relu → Flatten → Dense 128 relu
///   → Dense 64 relu → Dense 32 (the article used 170×170 RGB inputs: 231,223,264
///   parameters, almost all in the first Dense). Needs inputs of at least 3×3.
/// "small": blocks of Conv2D 3×3 relu → MaxPooling2D 2, with 32, 64, 64, 128, 128, 256,
///   256, … filters (doubling every second block), then Flatten → Dense 128 relu → Dense 64.
///   The first block is always there; each further block is added while the smaller side
///   entering it exceeds 12 pixels (the side after a block is ⌊(side - 2) / 2⌋): two blocks
///   for 28×28, three for 64×64 and 105×105, four for 170×170. At 28×28 it is the reference
///   architecture (32 → 64 filters). Needs inputs of at least 4×4.
/// Throws std::invalid_argument for another name (listing the known ones) or an input too
/// small for the preset (printing its size).
std::shared_ptr<layers::Layer> make_tower(const std::string& preset, std::size_t height,
                                          std::size_t width);

}  // namespace xgrad::siamese
