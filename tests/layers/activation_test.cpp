// Activation layer and get_activation: values by hand for every Keras name, softmax over the
// last axis, gradient checks, unknown names.

#include "layers/activation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::HasSubstr;
using testing::tensor_near;

const double kLn2 = std::log(2.0);
const double kLn3 = std::log(3.0);

TEST(ActivationLayer, ValuesByHand) {
  const Tensor x = Tensor::from_vector({1, 4}, {-1, 0, real(kLn2), real(kLn3)});
  // relu(x) = max(x, 0)
  EXPECT_TRUE(tensor_near(Activation("relu")(x), {1, 4}, {0, 0, kLn2, kLn3}));
  // sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-1) = 1/(1 + e), sigmoid(ln 2) = 2/3
  EXPECT_TRUE(
      tensor_near(Activation("sigmoid")(x), {1, 4}, {1 / (1 + std::exp(1.0)), 0.5, 2.0 / 3, 0.75}));
  // tanh(ln 2) = (4 - 1)/(4 + 1) = 0.6, tanh(ln 3) = 8/10
  EXPECT_TRUE(tensor_near(Activation("tanh")(x), {1, 4}, {std::tanh(-1.0), 0, 0.6, 0.8}));
  // softplus(x) = ln(1 + e^x): ln 2 at 0, ln 3 at ln 2, ln 4 at ln 3
  EXPECT_TRUE(tensor_near(Activation("softplus")(x), {1, 4},
                          {std::log(1 + std::exp(-1.0)), kLn2, kLn3, std::log(4.0)}));
  EXPECT_TRUE(tensor_near(Activation("linear")(x), {1, 4}, {-1, 0, kLn2, kLn3}));
  EXPECT_TRUE(tensor_near(Activation("")(x), {1, 4}, {-1, 0, kLn2, kLn3}));
}

// Rows [0, ln 3] → [1/4, 3/4] and [ln 2, 0] → [2/3, 1/3]: over the last axis, per row.
TEST(ActivationLayer, SoftmaxIsOverTheLastAxis) {
  const Tensor x = Tensor::from_vector({2, 2}, {0, real(kLn3), real(kLn2), 0});
  EXPECT_TRUE(tensor_near(Activation("softmax")(x), {2, 2}, {0.25, 0.75, 2.0 / 3, 1.0 / 3}));
  const Tensor y = Activation("softmax")(xgrad::testing::uniform({2, 3, 4}));
  for (std::size_t row = 0; row < 6; ++row) {
    double total = 0;
    for (std::size_t j = 0; j < 4; ++j) total += y.flat(row * 4 + j);
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(ActivationLayer, NamesAndNoWeights) {
  Activation act("tanh");
  act(Tensor::zeros({2, 2}));
  EXPECT_EQ(act.name(), "activation");
  EXPECT_EQ(act.activation(), "tanh");
  EXPECT_EQ(act.class_name(), "Activation");
  EXPECT_TRUE(act.variables().empty());
}

TEST(ActivationLayer, GradientsMatchNumeric) {
  // Away from zero: relu's kink stays further than eps from every input.
  const Tensor x = xgrad::testing::away_from_zero({3, 4}, 0.1, 2.0, 9);
  for (const char* name : {"relu", "sigmoid", "tanh", "softplus", "softmax", "linear"}) {
    SCOPED_TRACE(name);
    Activation act(name);
    EXPECT_TRUE(testing::check_layer_gradients(act, x));
  }
}

TEST(ActivationLayer, GetActivationComputesTheSameFunction) {
  const Tensor x = Tensor{-2, 3};
  EXPECT_TRUE(tensor_near(get_activation("relu")(x), {2}, {0, 3}));
  EXPECT_TRUE(tensor_near(get_activation("linear")(x), {2}, {-2, 3}));
}

TEST(ActivationLayer, UnknownNameThrowsListingTheKnownOnes) {
  try {
    Activation act("gelu");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'gelu'"));
    EXPECT_THAT(e.what(), HasSubstr("relu"));
    EXPECT_THAT(e.what(), HasSubstr("softmax"));
  }
  EXPECT_THROW(get_activation("ReLU"), std::invalid_argument);
}

TEST(ActivationLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  Activation act("relu", "act");
  testing::expect_shape_errors(act, {2, 3}, {2, 4}, {2, 3, 1});
}

}  // namespace
}  // namespace xgrad::layers
