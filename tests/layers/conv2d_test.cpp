// Conv2D: output shapes for valid/same padding, strides, dilation and non-square kernels; the
// TensorFlow layouts (NHWC input, HWIO kernel) on hand-computed forwards; bias per channel;
// activation; gradient checks for the input, kernel and bias; the build-once contract.

#include "layers/conv2d.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using testing::check_layer_gradients;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::names;
using testing::tensor_near;

// 1, 2, …, n as a tensor of `shape`.
Tensor iota(const Shape& shape) {
  std::vector<real> v(shape_size(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<real>(i + 1);
  return Tensor::from_vector(shape, v);
}

Shape out_shape(std::size_t filters, std::array<int, 2> k, Conv2DLayerOptions o, const Shape& in) {
  Conv2D conv(filters, k, std::move(o));
  return conv(Tensor::zeros(in)).shape();
}

TEST(Conv2DLayer, OutputShapes) {
  const Shape mnist{2, 28, 28, 1};
  EXPECT_EQ(out_shape(32, {3, 3}, {}, mnist), (Shape{2, 26, 26, 32}));
  EXPECT_EQ(out_shape(32, {3, 3}, {.padding = Padding::Same}, mnist), (Shape{2, 28, 28, 32}));
  EXPECT_EQ(out_shape(8, {3, 3}, {.strides = {2, 2}}, mnist), (Shape{2, 13, 13, 8}));
  EXPECT_EQ(out_shape(8, {3, 3}, {.strides = {2, 2}, .padding = Padding::Same}, mnist),
            (Shape{2, 14, 14, 8}));
  // Dilation 2 makes a 3×3 kernel span 5×5.
  EXPECT_EQ(out_shape(4, {3, 3}, {.dilation_rate = {2, 2}}, mnist), (Shape{2, 24, 24, 4}));
  EXPECT_EQ(out_shape(4, {3, 3}, {.padding = Padding::Same, .dilation_rate = {2, 2}}, mnist),
            (Shape{2, 28, 28, 4}));
  // Non-square kernels, strides and images: height and width are not swapped.
  EXPECT_EQ(out_shape(5, {3, 5}, {}, {1, 10, 12, 2}), (Shape{1, 8, 8, 5}));
  EXPECT_EQ(out_shape(5, {1, 2}, {.strides = {1, 3}}, {1, 4, 11, 2}), (Shape{1, 4, 4, 5}));
  EXPECT_EQ(out_shape(5, {2, 2}, {.strides = {3, 1}, .padding = Padding::Same}, {1, 7, 5, 2}),
            (Shape{1, 3, 5, 5}));
}

TEST(Conv2DLayer, WeightsUseTheHwioLayout) {
  Conv2D conv(6, {3, 5});
  conv(Tensor::zeros({1, 8, 9, 4}));
  EXPECT_EQ(conv.kernel().shape(), (Shape{3, 5, 4, 6}));
  EXPECT_EQ(conv.bias().shape(), (Shape{6}));
  EXPECT_EQ(conv.count_params(), 3u * 5 * 4 * 6 + 6);
  EXPECT_THAT(names(conv.variables()), ElementsAre("conv2d/kernel", "conv2d/bias"));
}

// input 3×3 = 1..9, kernel 2×2 [[1, 2], [3, 4]], bias 1, valid:
//   out[0,0] = 1·1 + 2·2 + 4·3 + 5·4 = 37 (+1),  out[0,1] = 2 + 6 + 15 + 24 = 47 (+1),
//   out[1,0] = 4 + 10 + 21 + 32 = 67 (+1),       out[1,1] = 5 + 12 + 24 + 36 = 77 (+1).
TEST(Conv2DLayer, ForwardByHandValid) {
  Conv2D conv(1, {2, 2}, {.bias_initializer = ones()});
  const Tensor x = iota({1, 3, 3, 1});
  conv(x);
  conv.kernel().assign(Tensor::from_vector({2, 2, 1, 1}, {1, 2, 3, 4}));
  EXPECT_TRUE(tensor_near(conv(x), {1, 2, 2, 1}, {38, 48, 68, 78}));
}

TEST(Conv2DLayer, ActivationIsApplied) {
  Conv2D conv(1, {2, 2}, {.activation = "relu", .bias_initializer = constant(real(-50))});
  const Tensor x = iota({1, 3, 3, 1});
  conv(x);
  conv.kernel().assign(Tensor::from_vector({2, 2, 1, 1}, {1, 2, 3, 4}));
  EXPECT_TRUE(tensor_near(conv(x), {1, 2, 2, 1}, {0, 0, 17, 27}));
}

// A 1×1 kernel over 2 channels and 2 filters: out[p, o] = Σ_c x[p, c]·K[0, 0, c, o] + b[o].
// K[0,0,0,:] = [1, 10], K[0,0,1,:] = [100, 1000]; pixels (1, 2) and (3, 4); bias [0.5, -0.5]:
//   pixel 0: [1 + 200, 10 + 2000] + b = [201.5, 2009.5]
//   pixel 1: [3 + 400, 30 + 4000] + b = [403.5, 4029.5]
// A kernel read as OIHW or with in/out swapped would give [1 + 20, 100 + 2000, …].
TEST(Conv2DLayer, KernelIsInChannelsThenFiltersAndBiasIsPerChannel) {
  Conv2D conv(2, {1, 1});
  const Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  conv(x);
  conv.kernel().assign(Tensor::from_vector({1, 1, 2, 2}, {1, 10, 100, 1000}));
  conv.bias().assign(Tensor{0.5, -0.5});
  EXPECT_TRUE(tensor_near(conv(x), {1, 1, 2, 2}, {201.5, 2009.5, 403.5, 4029.5}));
}

// A 2×1 kernel (height 2, width 1) [1; 10] over the 3×2 image [[1, 2], [3, 4], [5, 6]]:
// out[y, x] = in[y, x] + 10·in[y+1, x] → [[31, 42], [53, 64]], shape [1, 2, 2, 1].
TEST(Conv2DLayer, NonSquareKernelRunsDownTheHeightAxis) {
  Conv2D conv(1, {2, 1});
  const Tensor x = iota({1, 3, 2, 1});
  conv(x);
  EXPECT_EQ(conv.kernel().shape(), (Shape{2, 1, 1, 1}));
  conv.kernel().assign(Tensor::from_vector({2, 1, 1, 1}, {1, 10}));
  EXPECT_TRUE(tensor_near(conv(x), {1, 2, 2, 1}, {31, 42, 53, 64}));
}

// 3×3 ones kernel, same padding, over 1..9: each output is the sum of its 3×3 neighbourhood.
TEST(Conv2DLayer, ForwardByHandSame) {
  Conv2D conv(1, {3, 3}, {.padding = Padding::Same, .kernel_initializer = ones()});
  EXPECT_TRUE(
      tensor_near(conv(iota({1, 3, 3, 1})), {1, 3, 3, 1}, {12, 21, 16, 27, 45, 33, 24, 39, 28}));
}

// 1×1 kernel of weight 1, stride 2 over the 4×4 image 1..16: picks (0,0) (0,2) (2,0) (2,2).
TEST(Conv2DLayer, ForwardByHandStrides) {
  Conv2D conv(1, {1, 1}, {.strides = {2, 2}, .kernel_initializer = ones()});
  EXPECT_TRUE(tensor_near(conv(iota({1, 4, 4, 1})), {1, 2, 2, 1}, {1, 3, 9, 11}));
}

// Stride 2 and same padding over a 4×4 image with a 2×2 ones kernel: out = ceil(4/2) = 2,
// total padding max((2-1)·2 + 2 - 4, 0) = 0, so windows at (0,0) (0,2) (2,0) (2,2).
//   1+2+5+6 = 14, 3+4+7+8 = 22, 9+10+13+14 = 46, 11+12+15+16 = 54.
TEST(Conv2DLayer, ForwardByHandStridedSame) {
  Conv2D conv(1, {2, 2},
              {.strides = {2, 2}, .padding = Padding::Same, .kernel_initializer = ones()});
  EXPECT_TRUE(tensor_near(conv(iota({1, 4, 4, 1})), {1, 2, 2, 1}, {14, 22, 46, 54}));
}

// A 1×2 kernel [1, 1] with dilation 2 along the width over the row 1..5: in[x] + in[x+2].
TEST(Conv2DLayer, ForwardByHandDilation) {
  Conv2D conv(1, {1, 2}, {.dilation_rate = {1, 2}, .kernel_initializer = ones()});
  EXPECT_TRUE(tensor_near(conv(iota({1, 1, 5, 1})), {1, 1, 3, 1}, {4, 6, 8}));
}

TEST(Conv2DLayer, GradientsMatchNumericValid) {
  set_random_seed(21);
  Conv2D conv(3, {2, 3}, {.bias_initializer = constant(real(0.1))});
  EXPECT_TRUE(check_layer_gradients(conv, xgrad::testing::uniform({2, 4, 5, 2}, -1, 1, 1)));
}

TEST(Conv2DLayer, GradientsMatchNumericSameStrided) {
  set_random_seed(22);
  Conv2D conv(2, {3, 3},
              {.strides = {2, 2},
               .padding = Padding::Same,
               .activation = "tanh",
               .bias_initializer = constant(real(-0.1))});
  EXPECT_TRUE(check_layer_gradients(conv, xgrad::testing::uniform({2, 5, 5, 2}, -1, 1, 2)));
}

TEST(Conv2DLayer, GradientsMatchNumericDilated) {
  set_random_seed(23);
  Conv2D conv(2, {2, 2},
              {.strides = {1, 2},
               .padding = Padding::Same,
               .dilation_rate = {2, 1},
               .bias_initializer = constant(real(0.2))});
  EXPECT_TRUE(check_layer_gradients(conv, xgrad::testing::uniform({1, 5, 6, 3}, -1, 1, 3)));
}

TEST(Conv2DLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  Conv2D conv(2, {3, 3});
  testing::expect_shape_errors(conv, {1, 5, 5, 2}, {1, 5, 5, 3}, {5, 5, 2});
  // Spatial extents are fixed too (Keras builds for them).
  EXPECT_TRUE(testing::throws_with<std::logic_error>(conv, Tensor::zeros({1, 6, 5, 2}),
                                                     {"conv2d", "[1, 5, 5, 2]", "[1, 6, 5, 2]"}));
}

TEST(Conv2DLayer, TooSmallInputFailsAtBuildNamingTheLayer) {
  Conv2D conv(2, {3, 3}, {.name = "stem"});
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(conv, Tensor::zeros({1, 2, 5, 1}),
                                                          {"stem", "[1, 2, 5, 1]"}));
  EXPECT_FALSE(conv.built());
  EXPECT_TRUE(conv.variables().empty());
  EXPECT_EQ(conv(Tensor::zeros({1, 3, 5, 1})).shape(), (Shape{1, 1, 3, 2}));
}

TEST(Conv2DLayer, InvalidHyperParametersThrow) {
  EXPECT_THROW(Conv2D(0, {3, 3}), std::invalid_argument);
  EXPECT_THROW(Conv2D(1, {0, 3}), std::invalid_argument);
  EXPECT_THROW(Conv2D(1, {3, 3}, {.strides = {1, 0}}), std::invalid_argument);
  try {
    Conv2D c(1, {3, 3}, {.dilation_rate = {-1, 1}});
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("dilation_rate=[-1, 1]"));
  }
  EXPECT_THROW(Conv2D(1, {3, 3}, {.activation = "nope"}), std::invalid_argument);
}

}  // namespace
}  // namespace xgrad::layers
