// SiameseNetwork and embedding_distance: weight sharing (the gradient of a pair loss is the
// sum of both branches' gradients), one concatenated tower call = two calls, distances by hand
// and against finite differences, the tower presets' architectures, and the errors.

#include "siamese/siamese_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "layers/layers.h"
#include "siamese/losses.h"
#include "tests/support/expect.h"
#include "tests/support/random.h"

namespace xgrad::siamese {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::invalid_argument_message;
using Layers = std::vector<std::shared_ptr<layers::Layer>>;

constexpr double kTol = sizeof(real) == 8 ? 1e-12 : 1e-6;
// Same computation in a different order (one GEMM over 2N rows vs two over N; per-branch
// sums added in another order): agreement to a few ulps of the largest terms.
constexpr double kReorderRtol = sizeof(real) == 8 ? 1e-10 : 2e-5;
constexpr double kReorderAtol = sizeof(real) == 8 ? 1e-12 : 1e-6;

// Element-wise |a - b| <= atol + rtol·|b|, naming the first offending element.
::testing::AssertionResult all_near(const Tensor& a, const Tensor& b, double rtol = kReorderRtol,
                                    double atol = kReorderAtol) {
  if (!a.defined() || !b.defined()) return ::testing::AssertionFailure() << "undefined tensor";
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes " << shape_to_string(a.shape()) << " vs " << shape_to_string(b.shape());
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a.data()[i], y = b.data()[i];
    if (!(std::abs(x - y) <= atol + rtol * std::abs(y))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << x << " vs " << y;
    }
  }
  return ::testing::AssertionSuccess();
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (real v : t.to_vector()) m = std::max(m, double(std::abs(v)));
  return m;
}

// A tiny conv tower without batch statistics: 6×6×1 → Conv2D 3 (3×3, tanh) → MaxPooling2D
// → Flatten → Dense 4 (tanh) → Dense 3.
std::shared_ptr<layers::Sequential> tiny_tower() {
  layers::set_random_seed(42);
  return std::make_shared<layers::Sequential>(
      Layers{std::make_shared<layers::Conv2D>(3, std::array{3, 3},
                                              layers::Conv2DLayerOptions{.activation = "tanh"}),
             std::make_shared<layers::MaxPooling2D>(), std::make_shared<layers::Flatten>(),
             std::make_shared<layers::Dense>(4, "tanh"), std::make_shared<layers::Dense>(3)},
      "tower");
}

// Pair inputs with distinct values (no pooling ties), different in the two branches.
struct PairBatch {
  Tensor first = xgrad::testing::distinct({4, 6, 6, 1}, 0.013, 1);
  Tensor second = xgrad::testing::distinct({4, 6, 6, 1}, 0.017, 2);
  Tensor same{1, 0, 0, 1};
};

// ---------------------------------------------------------------------------------------------
// embedding_distance.

TEST(SiameseNetworkDistance, EuclideanByHand) {
  const Tensor d = embedding_distance(Tensor{{0, 0}, {1, 1}, {-1, 2}},
                                      Tensor{{3, 4}, {1, 1}, {2, -2}}, Distance::Euclidean);
  ASSERT_EQ(d.shape(), (Shape{3}));
  EXPECT_NEAR(d.flat(0), 5, kTol);
  EXPECT_NEAR(d.flat(1), 1e-6, 1e-9);  // the floor: √1e-12
  EXPECT_NEAR(d.flat(2), 5, kTol);
}

// Orthogonal → 1, parallel (any lengths) → 0, opposite → 2.
TEST(SiameseNetworkDistance, CosineByHand) {
  const Tensor d = embedding_distance(Tensor{{1, 0}, {1, 1}, {1, 2}},
                                      Tensor{{0, 2}, {3, 3}, {-2, -4}}, Distance::Cosine);
  ASSERT_EQ(d.shape(), (Shape{3}));
  EXPECT_NEAR(d.flat(0), 1, kTol);
  EXPECT_NEAR(d.flat(1), 0, 4 * kTol);
  EXPECT_NEAR(d.flat(2), 2, 4 * kTol);
}

// 1 - cos rounds a hair below 0 for many identical pairs (and above 2 for opposite ones) in
// float: the distance is clamped to [0, 2], so it is never negative.
TEST(SiameseNetworkDistance, CosineStaysInsideZeroToTwo) {
  std::vector<real> v(64 * 32);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = real(std::sin(0.37 * double(i)) * 3.1 + 0.01 * double(i % 7));
  const Tensor a = Tensor::from_vector({64, 32}, v);
  const Tensor same = embedding_distance(a, a, Distance::Cosine);
  const Tensor opposite = embedding_distance(a, neg(a), Distance::Cosine);
  for (std::size_t i = 0; i < 64; ++i) {
    EXPECT_GE(same.flat(i), real(0)) << "row " << i;
    EXPECT_LE(same.flat(i), real(1e-6)) << "row " << i;
    EXPECT_LE(opposite.flat(i), real(2)) << "row " << i;
    EXPECT_GE(opposite.flat(i), real(2 - 1e-6)) << "row " << i;
  }
}

// Identical embeddings (Euclidean) and a zero embedding (Cosine) are where √ has an infinite
// derivative: the floor makes the gradient finite — zero through the floored norm.
TEST(SiameseNetworkDistance, GradientIsFiniteAtZeroDistanceAndZeroNorm) {
  const Tensor a{{0.5, -1, 2}, {0, 0, 0}};
  const Tensor b{{0.5, -1, 2}, {1, 2, 3}};
  {
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor d = embedding_distance(a, b, Distance::Euclidean);
    const std::vector<Tensor> g = tape.gradient(sum(d), {a, b});
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(g[0].flat(j), 0) << j;  // identical pair: zero gradient
      EXPECT_TRUE(std::isfinite(g[0].flat(3 + j)));
    }
  }
  {
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor d = embedding_distance(a, b, Distance::Cosine);
    EXPECT_NEAR(d.flat(0), 0, 4 * kTol);
    EXPECT_NEAR(d.flat(1), 1, kTol);  // a zero embedding is "orthogonal" to everything
    for (const Tensor& g : tape.gradient(sum(d), {a, b})) {
      for (real v : g.to_vector()) EXPECT_TRUE(std::isfinite(v));
    }
  }
}

// Random embeddings: no pair near distance 0, no embedding near the origin.
TEST(SiameseNetworkDistance, GradientMatchesNumeric) {
  const Tensor a = xgrad::testing::uniform({3, 5}, -1, 1, 21);
  const Tensor b = xgrad::testing::uniform({3, 5}, -1, 1, 22);
  for (Distance distance : {Distance::Euclidean, Distance::Cosine}) {
    const GradientCheckResult r = check_gradients(
        [&](const std::vector<Tensor>& in) { return embedding_distance(in[0], in[1], distance); },
        {a, b});
    EXPECT_TRUE(r.ok) << (distance == Distance::Euclidean ? "euclidean: " : "cosine: ")
                      << r.message;
  }
}

TEST(SiameseNetworkDistance, ShapeErrorsNameTheFunctionAndBothShapes) {
  std::string msg = invalid_argument_message([] {
    embedding_distance(Tensor::zeros({2, 3}), Tensor::zeros({2, 4}), Distance::Euclidean);
  });
  EXPECT_THAT(msg, HasSubstr("embedding_distance"));
  EXPECT_THAT(msg, HasSubstr("a.shape=[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("b.shape=[2, 4]"));
  msg = invalid_argument_message([] {
    embedding_distance(Tensor{1, 2, 3}, Tensor{1, 2, 3}, Distance::Cosine);
  });
  EXPECT_THAT(msg, HasSubstr("embedding_distance"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

// ---------------------------------------------------------------------------------------------
// SiameseNetwork.

TEST(SiameseNetwork, OwnsTheTowerAndItsVariables) {
  auto tower = tiny_tower();
  SiameseNetwork net(tower, Distance::Cosine);
  EXPECT_EQ(net.class_name(), "SiameseNetwork");
  EXPECT_EQ(net.name(), "siamese");
  EXPECT_EQ(&net.tower(), tower.get());
  EXPECT_EQ(net.distance(), Distance::Cosine);
  const Tensor x = PairBatch{}.first;
  // Calling the network embeds a batch: the tower's output.
  const Tensor e = net(x);
  EXPECT_EQ(e.shape(), (Shape{4, 3}));
  EXPECT_EQ(e.to_vector(), (*tower)(x).to_vector());
  std::vector<std::string> names;
  for (const Variable& v : net.trainable_variables()) names.push_back(v.name());
  EXPECT_THAT(names, ElementsAre("siamese/tower/conv2d/kernel", "siamese/tower/conv2d/bias",
                                 "siamese/tower/dense/kernel", "siamese/tower/dense/bias",
                                 "siamese/tower/dense_1/kernel", "siamese/tower/dense_1/bias"));
  // One set of variables: the network's are the tower's (same state, not copies).
  const std::vector<Variable> mine = net.trainable_variables(), its = tower->trainable_variables();
  ASSERT_EQ(mine.size(), its.size());
  for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(mine[i].handle(), its[i].handle());
}

// THE weight-sharing test. The gradient of a pair loss w.r.t. the shared variables must be the
// sum of the two branches' contributions: branch 1's alone is obtained with branch 2's
// embedding held constant (computed outside any tape), branch 2's alone with branch 1's
// embedding computed while the tape is paused. Checked for the one-call and two-call paths.
TEST(SiameseNetwork, SharedWeightGradientIsTheSumOfBothBranches) {
  for (bool one_call : {true, false}) {
    SCOPED_TRACE(one_call ? "one_call" : "two calls");
    SiameseNetwork net(tiny_tower());
    const PairBatch p;
    net(p.first);  // build
    const std::vector<Variable> vars = net.trainable_variables();
    auto loss_of = [&](const Tensor& e1, const Tensor& e2) {
      return contrastive_loss(embedding_distance(e1, e2, Distance::Euclidean), p.same, 2);
    };

    std::vector<Tensor> both;
    {
      GradientTape tape;
      both = tape.gradient(
          contrastive_loss(net.pair_distance(p.first, p.second, true, one_call), p.same, 2), vars);
    }
    std::vector<Tensor> only_first;
    {
      const Tensor e2 = net(p.second, true);  // no tape alive: a constant
      GradientTape tape;
      only_first = tape.gradient(loss_of(net(p.first, true), e2), vars);
    }
    std::vector<Tensor> only_second;
    {
      GradientTape tape;
      Tensor e1;
      {
        auto pause = tape.stop_recording();
        e1 = net(p.first, true);
      }
      only_second = tape.gradient(loss_of(e1, net(p.second, true)), vars);
    }

    ASSERT_EQ(both.size(), vars.size());
    for (std::size_t i = 0; i < vars.size(); ++i) {
      SCOPED_TRACE(vars[i].name());
      ASSERT_TRUE(both[i].defined() && only_first[i].defined() && only_second[i].defined());
      // Each branch contributes something (else the sum check would be vacuous) …
      EXPECT_GT(max_abs(only_first[i]), 1e-4);
      EXPECT_GT(max_abs(only_second[i]), 1e-4);
      // … and the shared gradient is their sum, not either one alone.
      EXPECT_TRUE(all_near(both[i], only_first[i] + only_second[i]));
      EXPECT_FALSE(all_near(both[i], only_first[i], 1e-3, 1e-6));
    }
  }
}

// Without batch statistics, one concatenated call gives the distances and gradients of two.
TEST(SiameseNetwork, OneCallEqualsTwoCalls) {
  SiameseNetwork net(tiny_tower());
  const PairBatch p;
  std::vector<Tensor> distances, grads[2];
  for (bool one_call : {true, false}) {
    GradientTape tape;
    const Tensor d = net.pair_distance(p.first, p.second, true, one_call);
    distances.push_back(d);
    grads[one_call ? 0 : 1] =
        tape.gradient(contrastive_loss(d, p.same, 2), net.trainable_variables());
  }
  ASSERT_EQ(distances[0].shape(), (Shape{4}));
  EXPECT_TRUE(all_near(distances[0], distances[1]));
  ASSERT_EQ(grads[0].size(), 6u);
  for (std::size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_TRUE(all_near(grads[0][i], grads[1][i])) << net.trainable_variables()[i].name();
  }
  // The embeddings themselves: the halves of the one call are the separate calls' outputs.
  const auto [a, b] = net.embed_pair(p.first, p.second, false, true);
  EXPECT_TRUE(all_near(a, net(p.first)));
  EXPECT_TRUE(all_near(b, net(p.second)));
}

// pair_distance = embedding_distance(embed_pair(...), distance()) for both distances.
TEST(SiameseNetwork, PairDistanceUsesTheConfiguredDistance) {
  for (Distance distance : {Distance::Euclidean, Distance::Cosine}) {
    SiameseNetwork net(tiny_tower(), distance);
    const PairBatch p;
    const Tensor d = net.pair_distance(p.first, p.second, false);
    EXPECT_TRUE(all_near(d, embedding_distance(net(p.first), net(p.second), distance)));
  }
}

TEST(SiameseNetwork, MismatchedPairShapesNameBothShapes) {
  SiameseNetwork net(tiny_tower());
  for (bool one_call : {true, false}) {
    const std::string msg = invalid_argument_message([&] {
      net.embed_pair(Tensor::zeros({2, 6, 6, 1}), Tensor::zeros({3, 6, 6, 1}), false, one_call);
    });
    EXPECT_THAT(msg, HasSubstr("siamese"));
    EXPECT_THAT(msg, HasSubstr("first.shape=[2, 6, 6, 1]"));
    EXPECT_THAT(msg, HasSubstr("second.shape=[3, 6, 6, 1]"));
  }
  // Pairs of equal shapes the tower does not accept: the tower's own error, with the shape.
  net(Tensor::zeros({1, 6, 6, 1}));
  const std::string msg = invalid_argument_message([&] {
    net.pair_distance(Tensor::zeros({2, 7, 7, 1}), Tensor::zeros({2, 7, 7, 1}), false);
  });
  EXPECT_THAT(msg, HasSubstr("[4, 7, 7, 1]"));  // the concatenated batch
}

TEST(SiameseNetwork, NullTowerIsRefused) {
  EXPECT_THAT(invalid_argument_message([] { SiameseNetwork net(nullptr); }), HasSubstr("tower"));
}

// ---------------------------------------------------------------------------------------------
// Tower presets.

std::vector<std::string> class_names(const layers::Layer& model) {
  std::vector<std::string> out;
  for (const auto& l : model.layers()) out.push_back(l->class_name());
  return out;
}

template <class L>
const L& layer_at(const layers::Layer& model, std::size_t i) {
  const auto* l = dynamic_cast<const L*>(model.layers().at(i).get());
  if (!l) throw std::logic_error("layer " + std::to_string(i) + " has the wrong type");
  return *l;
}

// The seed article's active tower, checked on a 20×20×3 input: building it at the article's
// 170×170 allocates and initialises 231M parameters (0.9 GB in float, 1.8 GB in double),
// too slow and big for a unit test. The count follows the same formula:
//   conv 64·(3·3·3) + 64, dense (s-2)²·64·128 + 128, dense 128·64 + 64, dense 64·32 + 32.
TEST(TowerSeed, IsTheArticlesActiveTower) {
  auto tower = make_tower("seed", 20, 20);
  EXPECT_EQ(tower->name(), "tower");
  EXPECT_THAT(class_names(*tower), ElementsAre("Conv2D", "Flatten", "Dense", "Dense", "Dense"));
  EXPECT_EQ((layer_at<layers::Conv2D>(*tower, 0).filters()), 64u);
  EXPECT_EQ((layer_at<layers::Dense>(*tower, 2).units()), 128u);
  EXPECT_EQ((layer_at<layers::Dense>(*tower, 3).units()), 64u);
  EXPECT_EQ((layer_at<layers::Dense>(*tower, 4).units()), 32u);

  layers::set_random_seed(5);
  const Tensor x = xgrad::testing::uniform({2, 20, 20, 3}, 0, 1, 3);
  const Tensor y = (*tower)(x);
  EXPECT_EQ(y.shape(), (Shape{2, 32}));
  EXPECT_EQ(tower->layers()[0]->output_shape(), (Shape{2, 18, 18, 64}));  // valid padding
  EXPECT_EQ(tower->layers()[1]->output_shape(), (Shape{2, 18 * 18 * 64}));
  auto params = [](std::size_t side) {
    return (64 * 27 + 64) + ((side - 2) * (side - 2) * 64 * 128 + 128) + (128 * 64 + 64) +
           (64 * 32 + 32);
  };
  EXPECT_EQ(tower->count_params(), params(20));
  EXPECT_EQ(params(170), 231223264u);  // the article's 170×170 RGB input

  // Activations: relu on the conv and the first two Dense layers, linear on the last.
  Tensor h = x;
  for (std::size_t i = 0; i < 5; ++i) {
    h = (*tower->layers()[i])(h);
    const std::vector<real> v = h.to_vector();
    const real lo = *std::min_element(v.begin(), v.end());
    if (i == 4) {
      EXPECT_LT(lo, 0) << "the last Dense is linear";
    } else if (i != 1) {
      EXPECT_GE(lo, 0) << "layer " << i << " is relu";
    }
  }
  EXPECT_EQ(h.to_vector(), y.to_vector());

  // Keras initial values: zero biases, glorot-uniform kernels within ±√(6 / (fan_in + fan_out)).
  const auto& conv = layer_at<layers::Conv2D>(*tower, 0);
  for (real v : conv.bias().peek().to_vector()) EXPECT_EQ(v, 0);
  const double limit = std::sqrt(6.0 / (27 + 9 * 64));
  EXPECT_LE(max_abs(conv.kernel().peek()), limit);
  EXPECT_GT(max_abs(conv.kernel().peek()), 0.9 * limit);
}

// At 170×170 without building: the same layers (the architecture does not depend on the size).
TEST(TowerSeed, ArticleSizeHasTheSameLayers) {
  auto tower = make_tower("seed", 170, 170);
  EXPECT_THAT(class_names(*tower), ElementsAre("Conv2D", "Flatten", "Dense", "Dense", "Dense"));
  EXPECT_FALSE(tower->built());
}

// 28×28: Conv 32 → Pool → Conv 64 → Pool → Flatten → Dense 128 relu → Dense 64.
// Sides 28 → 26 → 13 → 11 → 5; params 320 + 18,496 + 5·5·64·128 + 128 + 128·64 + 64 = 232,000.
TEST(TowerSmall, At28x28IsTheReferenceArchitecture) {
  auto tower = make_tower("small", 28, 28);
  EXPECT_EQ(tower->name(), "tower");
  EXPECT_THAT(class_names(*tower), ElementsAre("Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
                                               "Flatten", "Dense", "Dense"));
  EXPECT_EQ((layer_at<layers::Conv2D>(*tower, 0).filters()), 32u);
  EXPECT_EQ((layer_at<layers::Conv2D>(*tower, 2).filters()), 64u);
  EXPECT_EQ((layer_at<layers::Dense>(*tower, 5).units()), 128u);
  EXPECT_EQ((layer_at<layers::Dense>(*tower, 6).units()), 64u);
  const Tensor x = xgrad::testing::uniform({3, 28, 28, 1}, 0, 1, 4);
  const Tensor y = (*tower)(x);
  EXPECT_EQ(y.shape(), (Shape{3, 64}));
  EXPECT_EQ(tower->layers()[3]->output_shape(), (Shape{3, 5, 5, 64}));
  EXPECT_EQ(tower->count_params(), 232000u);
  // Dense 128 is relu, Dense 64 linear.
  Tensor h = x;
  for (std::size_t i = 0; i < 6; ++i) h = (*tower->layers()[i])(h);
  for (real v : h.to_vector()) EXPECT_GE(v, 0);
  const std::vector<real> out = y.to_vector();
  EXPECT_LT(*std::min_element(out.begin(), out.end()), 0);
}

// 105 → 51 → 24 → 11: three blocks (32, 64, 64); 170 → 84 → 41 → 19 → 8: four (…, 128);
// 64 → 31 → 14 → 6: three. A non-square input counts its smaller side.
TEST(TowerSmall, BlocksAreAddedWhileTheSideExceeds12) {
  auto filters = [](const layers::Layer& tower) {
    std::vector<std::size_t> out;
    for (const auto& l : tower.layers()) {
      if (auto* c = dynamic_cast<const layers::Conv2D*>(l.get())) out.push_back(c->filters());
    }
    return out;
  };
  auto t105 = make_tower("small", 105, 105);
  EXPECT_THAT(class_names(*t105),
              ElementsAre("Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
                          "MaxPooling2D", "Flatten", "Dense", "Dense"));
  EXPECT_THAT(filters(*t105), ElementsAre(32, 64, 64));
  const Tensor y = (*t105)(Tensor::zeros({1, 105, 105, 1}));
  EXPECT_EQ(y.shape(), (Shape{1, 64}));
  EXPECT_EQ(t105->layers()[5]->output_shape(), (Shape{1, 11, 11, 64}));

  EXPECT_THAT(filters(*make_tower("small", 170, 170)), ElementsAre(32, 64, 64, 128));
  EXPECT_THAT(filters(*make_tower("small", 64, 64)), ElementsAre(32, 64, 64));
  EXPECT_THAT(filters(*make_tower("small", 256, 256)), ElementsAre(32, 64, 64, 128, 128));
  EXPECT_THAT(filters(*make_tower("small", 28, 300)), ElementsAre(32, 64));
  // Small inputs keep one block.
  EXPECT_THAT(filters(*make_tower("small", 12, 12)), ElementsAre(32));
  auto t4 = make_tower("small", 4, 4);
  EXPECT_EQ((*t4)(Tensor::zeros({2, 4, 4, 3})).shape(), (Shape{2, 64}));
}

TEST(TowerPresets, Errors) {
  std::string msg = invalid_argument_message([] { make_tower("resnet", 28, 28); });
  EXPECT_THAT(msg, HasSubstr("\"resnet\""));
  EXPECT_THAT(msg, HasSubstr("small"));
  EXPECT_THAT(msg, HasSubstr("seed"));
  msg = invalid_argument_message([] { make_tower("seed", 2, 5); });
  EXPECT_THAT(msg, HasSubstr("seed"));
  EXPECT_THAT(msg, HasSubstr("2×5"));
  msg = invalid_argument_message([] { make_tower("small", 28, 3); });
  EXPECT_THAT(msg, HasSubstr("small"));
  EXPECT_THAT(msg, HasSubstr("28×3"));
  EXPECT_THAT(invalid_argument_message([] { make_tower("small", 0, 0); }), HasSubstr("0×0"));
  EXPECT_NO_THROW(make_tower("seed", 3, 3));
}

// A preset tower inside a SiameseNetwork: variables named under the network.
TEST(TowerPresets, InsideASiameseNetwork) {
  SiameseNetwork net(make_tower("small", 28, 28));
  const Tensor x = xgrad::testing::uniform({2, 28, 28, 1}, 0, 1, 9);
  EXPECT_EQ(net.pair_distance(x, x, false).shape(), (Shape{2}));
  EXPECT_EQ(net.trainable_variables().front().name(), "siamese/tower/conv2d/kernel");
  EXPECT_EQ(net.trainable_variables().back().name(), "siamese/tower/dense_1/bias");
}

}  // namespace
}  // namespace xgrad::siamese
