// MaxPooling2D / AveragePooling2D: Keras defaults (pool 2×2, strides = pool_size, valid),
// explicit strides, same padding (averages count only real elements), per-channel windows,
// gradient checks, errors naming the layer.

#include "layers/pooling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::HasSubstr;
using testing::tensor_near;

Tensor iota(const Shape& shape) {
  std::vector<real> v(shape_size(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<real>(i + 1);
  return Tensor::from_vector(shape, v);
}

TEST(PoolingLayers, DefaultsArePoolTwoStridesPoolSizeValid) {
  MaxPooling2D max_pool;
  EXPECT_EQ(max_pool.pool_options().window, (std::array<int, 2>{2, 2}));
  EXPECT_EQ(max_pool.pool_options().strides, (std::array<int, 2>{2, 2}));
  EXPECT_EQ(max_pool.pool_options().padding, Padding::Valid);
  EXPECT_EQ(max_pool(Tensor::zeros({2, 26, 26, 32})).shape(), (Shape{2, 13, 13, 32}));
  EXPECT_EQ(max_pool.name(), "max_pooling2d");
  EXPECT_EQ(max_pool.count_params(), 0u);
  EXPECT_EQ(AveragePooling2D()(Tensor::zeros({1, 7, 5, 3})).shape(), (Shape{1, 3, 2, 3}));
  EXPECT_EQ(AveragePooling2D().name(), "average_pooling2d");
}

TEST(PoolingLayers, StridesDefaultToThePoolSize) {
  MaxPooling2D pool({.pool_size = {3, 2}});
  EXPECT_EQ(pool.pool_options().strides, (std::array<int, 2>{3, 2}));
  // 3×2 windows stepping 3 and 2: [1, 6, 6, 1] → [1, 2, 3, 1] (stride 1 would give 4×5).
  EXPECT_EQ(pool(Tensor::zeros({1, 6, 6, 1})).shape(), (Shape{1, 2, 3, 1}));
  AveragePooling2D explicit_strides({.pool_size = {2, 2}, .strides = std::array<int, 2>{1, 1}});
  EXPECT_EQ(explicit_strides(Tensor::zeros({1, 4, 4, 1})).shape(), (Shape{1, 3, 3, 1}));
}

// 4×4 image 1..16, 2×2 windows: maxima 6 8 14 16, means 3.5 5.5 11.5 13.5.
TEST(PoolingLayers, ForwardByHandValid) {
  const Tensor x = iota({1, 4, 4, 1});
  EXPECT_TRUE(tensor_near(MaxPooling2D()(x), {1, 2, 2, 1}, {6, 8, 14, 16}));
  EXPECT_TRUE(tensor_near(AveragePooling2D()(x), {1, 2, 2, 1}, {3.5, 5.5, 11.5, 13.5}));
}

// 3×3 image 1..9, 2×2 windows, stride 2, same padding: out = ceil(3/2) = 2, total padding
// (2-1)·2 + 2 - 3 = 1, all after. Windows {1,2,4,5}, {3,6}, {7,8}, {9}: maxima 5 6 8 9;
// means over real elements only 3, 4.5, 7.5, 9 (counting the padding would give 2.25 …).
TEST(PoolingLayers, ForwardByHandSamePadding) {
  const Tensor x = iota({1, 3, 3, 1});
  const PoolingOptions same{.padding = Padding::Same};
  EXPECT_TRUE(tensor_near(MaxPooling2D(same)(x), {1, 2, 2, 1}, {5, 6, 8, 9}));
  EXPECT_TRUE(tensor_near(AveragePooling2D(same)(x), {1, 2, 2, 1}, {3, 4.5, 7.5, 9}));
  EXPECT_EQ(MaxPooling2D(same)(Tensor::zeros({2, 5, 7, 3})).shape(), (Shape{2, 3, 4, 3}));
}

// Channel 0 = 1..4, channel 1 = -(1..4) over one 2×2 window: the max of each channel is its
// own (4 and -1), not the max over channels.
TEST(PoolingLayers, PoolsEachChannelSeparately) {
  const Tensor x = Tensor::from_vector({1, 2, 2, 2}, {1, -1, 2, -2, 3, -3, 4, -4});
  EXPECT_TRUE(tensor_near(MaxPooling2D()(x), {1, 1, 1, 2}, {4, -1}));
  EXPECT_TRUE(tensor_near(AveragePooling2D()(x), {1, 1, 1, 2}, {2.5, -2.5}));
}

TEST(PoolingLayers, GradientsMatchNumeric) {
  // Distinct values 0.05 apart: no ties within a window, far from a max switch at ±eps.
  const Tensor x = xgrad::testing::distinct({2, 5, 5, 2});
  MaxPooling2D max_valid;
  EXPECT_TRUE(testing::check_layer_gradients(max_valid, x));
  MaxPooling2D max_same(
      {.pool_size = {3, 2}, .strides = std::array<int, 2>{2, 1}, .padding = Padding::Same});
  EXPECT_TRUE(testing::check_layer_gradients(max_same, x));
  AveragePooling2D avg_same({.pool_size = {2, 3}, .padding = Padding::Same});
  EXPECT_TRUE(testing::check_layer_gradients(avg_same, xgrad::testing::uniform({2, 5, 5, 2})));
}

TEST(PoolingLayers, BuildOnceErrorsNameTheLayerAndShapes) {
  MaxPooling2D max_pool;
  testing::expect_shape_errors(max_pool, {1, 4, 4, 2}, {1, 4, 4, 3}, {4, 4, 2});
  AveragePooling2D avg_pool;
  testing::expect_shape_errors(avg_pool, {1, 4, 6, 1}, {1, 6, 4, 1}, {1, 4, 6, 1, 1});
}

TEST(PoolingLayers, TooSmallInputFailsAtBuildNamingTheLayer) {
  MaxPooling2D pool;
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(pool, Tensor::zeros({1, 1, 4, 1}),
                                                          {"max_pooling2d", "[1, 1, 4, 1]"}));
  EXPECT_FALSE(pool.built());
  // Same padding never empties the output.
  EXPECT_EQ(MaxPooling2D({.padding = Padding::Same})(Tensor::zeros({1, 1, 1, 1})).shape(),
            (Shape{1, 1, 1, 1}));
}

TEST(PoolingLayers, InvalidOptionsThrow) {
  EXPECT_THROW(MaxPooling2D({.pool_size = {0, 2}}), std::invalid_argument);
  try {
    AveragePooling2D p({.pool_size = {2, 2}, .strides = std::array<int, 2>{2, -1}});
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("strides=[2, -1]"));
  }
}

}  // namespace
}  // namespace xgrad::layers
