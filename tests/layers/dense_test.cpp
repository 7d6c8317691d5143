// Dense: output shapes, the Keras kernel layout [in, units], hand-computed forwards, gradient
// checks for the input, kernel and bias, and the build-once contract.

#include "layers/dense.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using testing::check_layer_gradients;
using ::testing::ElementsAre;
using testing::expect_shape_errors;
using ::testing::HasSubstr;
using testing::names;
using testing::tensor_near;

TEST(DenseLayer, OutputShapeAndWeightShapes) {
  Dense dense(4);
  EXPECT_FALSE(dense.built());
  EXPECT_TRUE(dense.variables().empty());
  const Tensor y = dense(Tensor::ones({3, 5}));
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(dense.kernel().shape(), (Shape{5, 4}));  // [in, units], as Keras
  EXPECT_EQ(dense.bias().shape(), (Shape{4}));
  EXPECT_EQ(dense.count_params(), 5u * 4u + 4u);
  EXPECT_THAT(names(dense.variables()), ElementsAre("dense/kernel", "dense/bias"));
}

TEST(DenseLayer, AppliesToTheLastAxisOfHigherRankInputs) {
  Dense dense(2);
  const Tensor y = dense(Tensor::ones({2, 4, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 4, 2}));
  EXPECT_EQ(dense.kernel().shape(), (Shape{3, 2}));
}

// x [2, 3], kernel [3, 2] (not symmetric, so a transposed layout would give other numbers).
//   row 0: [1, 2, 3]·K = [1 + 3, 2 - 3] = [4, -1]; + b = [4.5, -1.5]
//   row 1: [4, 5, 6]·K = [4 + 6, 5 - 6] = [10, -1]; + b = [10.5, -1.5]
TEST(DenseLayer, ForwardByHand) {
  Dense dense(2);
  const Tensor x{{1, 2, 3}, {4, 5, 6}};
  dense(x);
  dense.kernel().assign(Tensor{{1, 0}, {0, 1}, {1, -1}});
  dense.bias().assign(Tensor{0.5, -0.5});
  EXPECT_TRUE(tensor_near(dense(x), {2, 2}, {4.5, -1.5, 10.5, -1.5}));
}

TEST(DenseLayer, ActivationIsApplied) {
  Dense dense(2, "relu");
  const Tensor x{{1, 2, 3}, {4, 5, 6}};
  dense(x);
  dense.kernel().assign(Tensor{{1, 0}, {0, 1}, {1, -1}});
  dense.bias().assign(Tensor{0.5, -0.5});
  EXPECT_TRUE(tensor_near(dense(x), {2, 2}, {4.5, 0, 10.5, 0}));
}

// Kernel from constant(0.5), bias from constant(-1): y = 0.5·Σx - 1 in every unit.
TEST(DenseLayer, InitializersSetTheWeights) {
  Dense dense(3, DenseOptions{.kernel_initializer = constant(real(0.5)),
                              .bias_initializer = constant(real(-1))});
  EXPECT_TRUE(tensor_near(dense(Tensor{{1, 2, 3}, {0, 0, 2}}), {2, 3}, {2, 2, 2, 0, 0, 0}));
}

TEST(DenseLayer, WithoutBias) {
  Dense dense(2, DenseOptions{.use_bias = false, .kernel_initializer = ones()});
  EXPECT_TRUE(tensor_near(dense(Tensor{{1, 2}, {3, -4}}), {2, 2}, {3, 3, -1, -1}));
  EXPECT_THAT(names(dense.variables()), ElementsAre("dense/kernel"));
  EXPECT_FALSE(dense.bias().defined());
  EXPECT_EQ(dense.count_params(), 4u);
}

TEST(DenseLayer, DefaultInitialisationIsGlorotKernelZeroBias) {
  set_random_seed(11);
  Dense dense(8);
  dense(Tensor::ones({1, 12}));
  // As float rounds it: a draw below the bound may round up to it, never past it.
  const double limit = static_cast<double>(static_cast<real>(std::sqrt(6.0 / (12 + 8))));
  bool any_nonzero = false;
  for (real v : dense.kernel().peek().to_vector()) {
    EXPECT_LE(std::abs(v), limit);
    any_nonzero = any_nonzero || v != 0;
  }
  EXPECT_TRUE(any_nonzero);
  for (real v : dense.bias().peek().to_vector()) EXPECT_EQ(v, 0);
}

TEST(DenseLayer, GradientsMatchNumericLinear) {
  set_random_seed(1);
  Dense dense(3, DenseOptions{.bias_initializer = constant(real(0.1))});
  EXPECT_TRUE(check_layer_gradients(dense, xgrad::testing::uniform({4, 5}, -1, 1, 3)));
}

TEST(DenseLayer, GradientsMatchNumericTanhRank3) {
  set_random_seed(2);
  Dense dense(2, DenseOptions{.activation = "tanh", .bias_initializer = constant(real(-0.2))});
  EXPECT_TRUE(check_layer_gradients(dense, xgrad::testing::uniform({2, 3, 4}, -1, 1, 4)));
}

TEST(DenseLayer, GradientsMatchNumericSoftmax) {
  set_random_seed(3);
  Dense dense(4, DenseOptions{.activation = "softmax", .bias_initializer = constant(real(0.3))});
  EXPECT_TRUE(check_layer_gradients(dense, xgrad::testing::uniform({3, 3}, -1, 1, 5)));
}

TEST(DenseLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  Dense dense(3);
  expect_shape_errors(dense, {2, 5}, {2, 4}, {2, 5, 1});
}

TEST(DenseLayer, ChangedInputMessage) {
  Dense dense(3);
  dense(Tensor::ones({2, 5}));
  try {
    dense(Tensor::ones({2, 4}));
    FAIL() << "no throw";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("dense"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 5]"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 4]"));
  }
}

TEST(DenseLayer, RankOneInputThrowsBeforeBuild) {
  Dense dense(3);
  EXPECT_TRUE(
      testing::throws_with<std::invalid_argument>(dense, Tensor{1, 2, 3}, {"dense", "[3]"}));
  EXPECT_FALSE(dense.built());
  EXPECT_NO_THROW(dense(Tensor::ones({1, 3})));
}

TEST(DenseLayer, InvalidHyperParametersThrow) {
  EXPECT_THROW(Dense(0), std::invalid_argument);
  try {
    Dense d(2, "relux");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("relux"));
  }
  EXPECT_THROW(Dense(2, DenseOptions{.kernel_initializer = nullptr}), std::invalid_argument);
}

}  // namespace
}  // namespace xgrad::layers
