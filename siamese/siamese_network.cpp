#include "siamese/siamese_network.h"


#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "layers/layers.h"

namespace xgrad::siamese {

namespace {

// The floor under every squared norm before its square root. sqrt has an infinite derivative
// at 0, and identical embeddings (a collapsed model, or a pair of one image with itself) are
// common, so without it one such pair would turn every gradient into NaN. maximum() routes
// the gradient to the constant below the floor, so there the gradient is exactly zero (the
// subgradient 0 of ‖·‖ at 0). 1e-12 is far above float's smallest normal (1.2e-38) and
// far below any squared distance that matters (its root is 1e-6).
constexpr real kSquaredNormFloor = real(1e-12);

void check_embeddings(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) {
    throw std::invalid_argument("embedding_distance: the embeddings must be defined tensors");
  }
  if (a.rank() != 2 || b.rank() != 2 || a.shape() != b.shape()) {
    throw std::invalid_argument(
        "embedding_distance: a and b must be rank 2 [N, D] with equal shapes; got a.shape=" +
        shape_to_string(a.shape()) + ", b.shape=" + shape_to_string(b.shape()));
  }
}

// √max(Σ x², floor) over the last axis: [N, D] → [N].
Tensor floored_norm(const Tensor& squared_norm) {
  return sqrt(maximum(squared_norm, Tensor(kSquaredNormFloor)));
}

}  // namespace

Tensor embedding_distance(const Tensor& a, const Tensor& b, Distance distance) {
  check_embeddings(a, b);
  switch (distance) {
    case Distance::Euclidean:
      return floored_norm(sum(square(a - b), {-1}));
    case Distance::Cosine: {
      const Tensor dot = sum(a * b, {-1});
      const Tensor norms = floored_norm(sum(square(a), {-1})) * floored_norm(sum(square(b), {-1}));
      // Rounding can put 1 - cos a hair outside [0, 2] (e.g. -1.2e-7 for identical
      // embeddings); clamped so that a distance is never negative. Inside, the gradient passes.
      return minimum(maximum(real(1) - dot / norms, Tensor(real(0))), Tensor(real(2)));
    }
  }
  throw std::invalid_argument("embedding_distance: unknown Distance value " +
                              std::to_string(static_cast<int>(distance)));
}

SiameseNetwork::SiameseNetwork(std::shared_ptr<layers::Layer> tower, Distance distance,
                               std::string name)
    : Layer(std::move(name)), distance_(distance) {
  if (!tower) throw std::invalid_argument("SiameseNetwork: the tower must not be null");
  // Tracked as a sublayer: its variables become ours, named "<name>/<tower name>/…".
  tower_ = add_layer(std::move(tower));
}

Tensor SiameseNetwork::call(const Tensor& input, bool training) {
  return (*tower_)(input, training);
}

std::pair<Tensor, Tensor> SiameseNetwork::embed_pair(const Tensor& first, const Tensor& second,
                                                     bool training, bool one_call) {
  if (!first.defined() || !second.defined())
    fail("embed_pair: both inputs must be defined tensors");
  if (first.shape() != second.shape()) {
    fail("embed_pair: the two inputs of a pair batch must have equal shapes; got first.shape=" +
         shape_to_string(first.shape()) + ", second.shape=" + shape_to_string(second.shape()));
  }
  if (first.rank() == 0) {
    fail("embed_pair: inputs must have a batch axis; got first.shape=" +
         shape_to_string(first.shape()));
  }
  // Through operator() (not the tower directly) so this model is built and shape-checked as
  // when it is called on one batch.
  if (!one_call) return {(*this)(first, training), (*this)(second, training)};

  // One tower call on [first; second]: one big GEMM per layer instead of two half-size ones.
  // concat's backward slices the gradient back to each half and slice's backward pads it with
  // zeros, so each shared variable receives the sum of both halves' contributions, exactly
  // as with two calls.
  const auto n = static_cast<std::int64_t>(first.shape()[0]);
  const Tensor both = (*this)(concat({first, second}, 0), training);
  std::vector<std::int64_t> begin(both.rank(), 0), size(both.rank(), -1);
  size[0] = n;
  Tensor a = slice(both, begin, size);
  begin[0] = n;
  Tensor b = slice(both, begin, size);
  return {std::move(a), std::move(b)};
}

Tensor SiameseNetwork::pair_distance(const Tensor& first, const Tensor& second, bool training,
                                     bool one_call) {
  auto [a, b] = embed_pair(first, second, training, one_call);
  return embedding_distance(a, b, distance_);
}

namespace {

using layers::Conv2D;
using layers::Conv2DLayerOptions;
using layers::Dense;
using layers::Flatten;
using layers::MaxPooling2D;
using layers::Sequential;

std::string size_text(std::size_t height, std::size_t width) {
  return std::to_string(height) + "×" + std::to_string(width);
}

std::shared_ptr<layers::Layer> seed_tower(std::size_t height, std::size_t width) {
  // A 3×3 valid convolution needs at least 3 pixels each way.
  if (height < 3 || width < 3) {
    throw std::invalid_argument(
        "make_tower: the \"seed\" tower needs inputs of at least 3×3; got " +
        size_text(height, width));
  }
  // The article's active layers: conv3 → flatten → d1 → d2 → d3 (conv1 and conv2 are
  // commented out in its call()). Keras defaults: valid padding, glorot_uniform kernels,
  // zero biases.
  return std::make_shared<Sequential>(
      std::vector<std::shared_ptr<layers::Layer>>{
          std::make_shared<Conv2D>(64, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}),
          std::make_shared<Flatten>(), std::make_shared<Dense>(128, "relu"),
          std::make_shared<Dense>(64, "relu"), std::make_shared<Dense>(32)},
      "tower");
}

// Filters of the k-th (0-based) block of the "small" tower: 32, 64, 64, 128, 128, 256, 256, …
std::size_t small_filters(std::size_t block) {
  if (block == 0) return 32;
  return std::size_t(64) << ((block - 1) / 2);
}

std::shared_ptr<layers::Layer> small_tower(std::size_t height, std::size_t width) {
  // One block needs a 3×3 valid convolution (side - 2 >= 1) and then a 2×2 pool of that
  // (side - 2 >= 2).
  if (height < 4 || width < 4) {
    throw std::invalid_argument(
        "make_tower: the \"small\" tower needs inputs of at least 4×4; got " +
        size_text(height, width));
  }
  auto tower = std::make_shared<Sequential>(std::vector<std::shared_ptr<layers::Layer>>{}, "tower");
  std::size_t side = std::min(height, width);
  // The first block always; more while the side entering the block exceeds 12 pixels.
  for (std::size_t block = 0; block == 0 || side > 12; ++block) {
    tower->add(std::make_shared<Conv2D>(small_filters(block), std::array{3, 3},
                                        Conv2DLayerOptions{.activation = "relu"}));
    tower->add(std::make_shared<MaxPooling2D>());
    side = (side - 2) / 2;
  }
  tower->add(std::make_shared<Flatten>());
  tower->add(std::make_shared<Dense>(128, "relu"));
  tower->add(std::make_shared<Dense>(64));
  return tower;
}

}  // namespace

std::shared_ptr<layers::Layer> make_tower(const std::string& preset, std::size_t height,
                                          std::size_t width) {
  if (preset == "seed") return seed_tower(height, width);
  if (preset == "small") return small_tower(height, width);
  throw std::invalid_argument("make_tower: unknown model preset \"" + preset +
                              "\"; known presets: \"small\", \"seed\"");
}

}  // namespace xgrad::siamese
