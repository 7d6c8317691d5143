// Flatten: keeps the batch axis, row-major order, gradient, no weights, build-once contract.

#include "layers/flatten.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using testing::tensor_near;

TEST(FlattenLayer, OutputShapes) {
  EXPECT_EQ(Flatten()(Tensor::zeros({2, 3, 4})).shape(), (Shape{2, 12}));
  EXPECT_EQ(Flatten()(Tensor::zeros({5, 13, 13, 32})).shape(), (Shape{5, 5408}));
  EXPECT_EQ(Flatten()(Tensor::zeros({3, 7})).shape(), (Shape{3, 7}));
  // Keras: a rank-1 input [N] becomes [N, 1].
  EXPECT_EQ(Flatten()(Tensor::zeros({4})).shape(), (Shape{4, 1}));
}

// Row-major: sample n's elements stay together and in order.
TEST(FlattenLayer, KeepsRowMajorOrderPerSample) {
  Flatten flatten;
  const Tensor x = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_TRUE(tensor_near(flatten(x), {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(tensor_near(Flatten()(Tensor{1, 2, 3}), {3, 1}, {1, 2, 3}));
}

TEST(FlattenLayer, HasNoWeights) {
  Flatten flatten;
  flatten(Tensor::zeros({2, 3, 4}));
  EXPECT_TRUE(flatten.variables().empty());
  EXPECT_EQ(flatten.count_params(), 0u);
  EXPECT_EQ(flatten.name(), "flatten");
}

TEST(FlattenLayer, GradientMatchesNumeric) {
  Flatten flatten;
  EXPECT_TRUE(testing::check_layer_gradients(flatten, xgrad::testing::uniform({2, 3, 2, 2})));
}

TEST(FlattenLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  Flatten flatten("to_vector");
  testing::expect_shape_errors(flatten, {2, 3, 4}, {2, 4, 3}, {2, 12});
  EXPECT_EQ(flatten.output_shape(), (Shape{2, 12}));
}

}  // namespace
}  // namespace xgrad::layers
