// Sequential: forward = composition, summary() text (names, types, Keras shapes, parameter
// counts with thousands separators), build/add misuse, empty models, nesting, training flag,
// and a gradient check through a small CNN.

#include "layers/sequential.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <stdexcept>

#include "layers/layers.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::names;
using testing::tensor_near;
using Layers = std::vector<std::shared_ptr<Layer>>;

// The line of `text` containing `needle` (empty when none).
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return "";
}

// x = [1, 2, 3]; Dense(2) with ones kernel → [6, 6]; Dense(1) with kernel 0.5, bias 1 → 7.
TEST(SequentialModel, ForwardIsTheCompositionByHand) {
  Sequential model(
      {std::make_shared<Dense>(2, DenseOptions{.kernel_initializer = ones()}),
       std::make_shared<Dense>(1, DenseOptions{.kernel_initializer = constant(real(0.5)),
                                               .bias_initializer = ones()})});
  EXPECT_TRUE(tensor_near(model(Tensor{{1, 2, 3}, {0, 0, -1}}), {2, 1}, {7, 0}));
}

TEST(SequentialModel, ForwardEqualsCallingTheLayersInOrder) {
  set_random_seed(3);
  auto conv =
      std::make_shared<Conv2D>(4, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"});
  auto pool = std::make_shared<MaxPooling2D>();
  auto flatten = std::make_shared<Flatten>();
  auto dense = std::make_shared<Dense>(3);
  Sequential model({conv, pool, flatten, dense});
  const Tensor x = xgrad::testing::uniform({2, 6, 6, 1});
  const Tensor y = model(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector(), (*dense)((*flatten)((*pool)((*conv)(x)))).to_vector());
}

TEST(SequentialModel, AddBuildsTheStackBeforeTheFirstCall) {
  Sequential model;
  model.add(std::make_shared<Dense>(4));
  model.add(std::make_shared<Activation>("relu"));
  model.add(std::make_shared<Dense>(2));
  EXPECT_EQ(model(Tensor::ones({3, 5})).shape(), (Shape{3, 2}));
  EXPECT_THAT(names(model.variables()),
              ElementsAre("sequential/dense/kernel", "sequential/dense/bias",
                          "sequential/dense_1/kernel", "sequential/dense_1/bias"));
}

// Conv2D(32, 3×3) on 15×15×1: (None, 13, 13, 32), 3·3·1·32 + 32 = 320 params;
// MaxPooling2D: (None, 6, 6, 32); Flatten: (None, 1152); Dense(10): 1152·10 + 10 = 11,530;
// BatchNormalization: (None, 10), 4·10 = 40 of which 20 non-trainable.
// Total 11,890 = 11,870 trainable + 20 non-trainable.
TEST(SequentialModel, SummaryListsLayersShapesAndParams) {
  Sequential model(
      {std::make_shared<Conv2D>(32, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}),
       std::make_shared<MaxPooling2D>(), std::make_shared<Flatten>(), std::make_shared<Dense>(10),
       std::make_shared<BatchNormalization>()},
      "classifier");
  model(Tensor::zeros({2, 15, 15, 1}));
  const std::string s = model.summary();
  EXPECT_THAT(s, HasSubstr("Model: \"classifier\""));
  EXPECT_THAT(s, HasSubstr("Output Shape"));
  EXPECT_THAT(s, HasSubstr("Param #"));
  const std::string conv = line_with(s, "conv2d (Conv2D)");
  EXPECT_THAT(conv, HasSubstr("(None, 13, 13, 32)"));
  EXPECT_THAT(conv, HasSubstr("320"));
  EXPECT_THAT(line_with(s, "max_pooling2d (MaxPooling2D)"), HasSubstr("(None, 6, 6, 32)"));
  EXPECT_THAT(line_with(s, "flatten (Flatten)"), HasSubstr("(None, 1152)"));
  const std::string dense = line_with(s, "dense (Dense)");
  EXPECT_THAT(dense, HasSubstr("(None, 10)"));
  EXPECT_THAT(dense, HasSubstr("11,530"));
  EXPECT_THAT(line_with(s, "batch_normalization (BatchNormalization)"), HasSubstr("40"));
  EXPECT_THAT(s, HasSubstr("Total params: 11,890\n"));
  EXPECT_THAT(s, HasSubstr("Trainable params: 11,870\n"));
  EXPECT_THAT(s, HasSubstr("Non-trainable params: 20\n"));
  // Rows in layer order.
  EXPECT_LT(s.find("conv2d (Conv2D)"), s.find("max_pooling2d (MaxPooling2D)"));
  EXPECT_LT(s.find("max_pooling2d (MaxPooling2D)"), s.find("flatten (Flatten)"));
  EXPECT_LT(s.find("flatten (Flatten)"), s.find("dense (Dense)"));
}

TEST(SequentialModel, SummaryCommasInLargeCounts) {
  // Dense(1000) on 1000 inputs: 1,001,000 params.
  Sequential model({std::make_shared<Dense>(1000, DenseOptions{.kernel_initializer = zeros()})});
  model(Tensor::zeros({1, 1000}));
  EXPECT_THAT(model.summary(), HasSubstr("Total params: 1,001,000\n"));
}

TEST(SequentialModel, SummaryBeforeBuildThrowsLogicError) {
  Sequential model({std::make_shared<Dense>(2)}, "net");
  try {
    model.summary();
    FAIL() << "no throw";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("net"));
  }
}

TEST(SequentialModel, AddAfterBuildThrowsLogicError) {
  Sequential model({std::make_shared<Dense>(2)});
  model(Tensor::ones({1, 3}));
  EXPECT_THROW(model.add(std::make_shared<Dense>(1)), std::logic_error);
  EXPECT_EQ(model.layers().size(), 1u);
}

// Calling an empty model fails, naming it, and leaves it unbuilt so layers can still be added.
TEST(SequentialModel, EmptyModelThrowsAndStaysUsable) {
  Sequential model({}, "empty");
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(model, Tensor::ones({1, 3}),
                                                          {"empty", "no layers"}));
  EXPECT_FALSE(model.built());
  EXPECT_THROW(model.summary(), std::logic_error);
  model.add(std::make_shared<Dense>(2));
  EXPECT_EQ(model(Tensor::ones({1, 4})).shape(), (Shape{1, 2}));
}

TEST(SequentialModel, NestedSequentialNamesNest) {
  auto tower = std::make_shared<Sequential>(
      Layers{std::make_shared<Dense>(4), std::make_shared<Dense>(2)}, "tower");
  Sequential outer({tower, std::make_shared<Dense>(1)}, "siamese");
  const Tensor y = outer(Tensor::ones({3, 5}));
  EXPECT_EQ(y.shape(), (Shape{3, 1}));
  EXPECT_THAT(names(outer.variables()),
              ElementsAre("siamese/tower/dense/kernel", "siamese/tower/dense/bias",
                          "siamese/tower/dense_1/kernel", "siamese/tower/dense_1/bias",
                          "siamese/dense/kernel", "siamese/dense/bias"));
  EXPECT_EQ(tower->path(), "siamese/tower");
  // 5·4 + 4 + 4·2 + 2 = 34 in the tower, 2 + 1 = 3 in the head.
  EXPECT_EQ(tower->count_params(), 34u);
  EXPECT_EQ(outer.count_params(), 37u);
  const std::string s = outer.summary();
  EXPECT_THAT(line_with(s, "tower (Sequential)"), HasSubstr("(None, 2)"));
  EXPECT_THAT(line_with(s, "tower (Sequential)"), HasSubstr("34"));
  EXPECT_THAT(s, HasSubstr("Total params: 37\n"));
  EXPECT_THAT(tower->summary(), HasSubstr("Total params: 34\n"));
}

TEST(SequentialModel, TwoUnnamedNestedModels) {
  auto inner = std::make_shared<Sequential>(Layers{std::make_shared<Dense>(2)});
  Sequential outer({inner});
  outer(Tensor::ones({1, 2}));
  EXPECT_EQ(outer.variables()[0].name(), "sequential/sequential/dense/kernel");
}

TEST(SequentialModel, TrainingFlagReachesEveryLayer) {
  auto bn = std::make_shared<BatchNormalization>();
  Sequential model({std::make_shared<Dropout>(0.5, 1), bn});
  const Tensor x = xgrad::testing::uniform({8, 3}, 1, 2, 5);
  const Tensor inference = model(x);
  // At inference: dropout is the identity and BN uses mean 0, variance 1.
  std::vector<double> expected;
  for (real v : x.to_vector()) expected.push_back(v / std::sqrt(1 + 1e-3));
  EXPECT_TRUE(tensor_near(inference, {8, 3}, expected));
  EXPECT_TRUE(tensor_near(bn->moving_mean().peek(), {3}, {0, 0, 0}));
  model(x, /*training=*/true);
  // Training: the moving mean moved toward the (dropped-out) batch mean, which is positive.
  for (real m : bn->moving_mean().peek().to_vector()) EXPECT_GT(m, 0);
}

TEST(SequentialModel, GradientsMatchNumericThroughASmallCnn) {
  set_random_seed(17);
  Sequential model(
      {std::make_shared<Conv2D>(2, std::array{3, 3},
                                Conv2DLayerOptions{.padding = Padding::Same,
                                                   .activation = "tanh",
                                                   .bias_initializer = constant(real(0.1))}),
       std::make_shared<AveragePooling2D>(), std::make_shared<Flatten>(),
       std::make_shared<Dense>(3, DenseOptions{.bias_initializer = constant(real(-0.1))})});
  EXPECT_TRUE(
      testing::check_layer_gradients(model, xgrad::testing::uniform({2, 4, 4, 1}, -1, 1, 6)));
  EXPECT_EQ(model.trainable_variables().size(), 4u);
}

TEST(SequentialModel, BuildOnceErrorsNameTheModelAndShapes) {
  Sequential model({std::make_shared<Dense>(2)}, "mlp");
  testing::expect_shape_errors(model, {2, 5}, {2, 4}, {2, 5, 1});
}

// An error inside a sublayer names the sublayer's full path.
TEST(SequentialModel, SublayerErrorsNameTheirPath) {
  Sequential model({std::make_shared<Flatten>(), std::make_shared<Conv2D>(1, std::array{3, 3})},
                   "net");
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(model, Tensor::ones({2, 4, 4, 1}),
                                                          {"net/conv2d", "[2, 16]"}));
}

}  // namespace
}  // namespace xgrad::layers
