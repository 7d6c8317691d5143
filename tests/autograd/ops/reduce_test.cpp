// Reductions (sum, mean, max) and the broadcast_to / reduce_to_shape pair: hand-computed
// forward values over axes with and without keepdims (negative axes included), gradient
// values from a GradientTape (max splits ties evenly), and the std::invalid_argument messages.
// Numeric gradient checks live in gradcheck_table_test.cpp.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/tensor.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;
using testing::tensor_near;

// 0, 1, …, 23 in shape [2, 3, 4]: element [i, j, k] = 12i + 4j + k.
Tensor iota_2x3x4() {
  std::vector<real> v(24);
  std::iota(v.begin(), v.end(), real(0));
  return Tensor::from_vector({2, 3, 4}, v);
}

// ---------------------------------------------------------------------------------------------
// Forward values

TEST(ReduceOp, SumAllAxes) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(sum(x), {}, {21}));
  EXPECT_TRUE(tensor_near(sum(x, {}, true), {1, 1}, {21}));
  EXPECT_TRUE(tensor_near(sum(x, {0, 1}), {}, {21}));
  EXPECT_TRUE(tensor_near(sum(iota_2x3x4()), {}, {276}));
}

TEST(ReduceOp, SumOverOneAxis) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(sum(x, {0}), {3}, {5, 7, 9}));
  EXPECT_TRUE(tensor_near(sum(x, {0}, true), {1, 3}, {5, 7, 9}));
  EXPECT_TRUE(tensor_near(sum(x, {1}), {2}, {6, 15}));
  EXPECT_TRUE(tensor_near(sum(x, {1}, true), {2, 1}, {6, 15}));
}

TEST(ReduceOp, SumNegativeAxes) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(sum(x, {-1}), {2}, {6, 15}));
  EXPECT_TRUE(tensor_near(sum(x, {-1}, true), {2, 1}, {6, 15}));
  EXPECT_TRUE(tensor_near(sum(x, {-2}), {3}, {5, 7, 9}));
}

TEST(ReduceOp, SumOverSeveralAxesOfRank3) {
  // Σ over i and k of 12i + 4j + k = 60 + 32j.
  Tensor x = iota_2x3x4();
  EXPECT_TRUE(tensor_near(sum(x, {0, 2}), {3}, {60, 92, 124}));
  EXPECT_TRUE(tensor_near(sum(x, {-1, 0}), {3}, {60, 92, 124}));
  EXPECT_TRUE(tensor_near(sum(x, {0, 2}, true), {1, 3, 1}, {60, 92, 124}));
  // The middle axis alone: Σ_j (12i + 4j + k) = 36i + 12 + 3k.
  EXPECT_TRUE(tensor_near(sum(x, {1}), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57}));
  // The two trailing axes: Σ_jk = 144i + 66.
  EXPECT_TRUE(tensor_near(sum(x, {-2, -1}, true), {2, 1, 1}, {66, 210}));
}

TEST(ReduceOp, SumOverExtentOneAxis) {
  Tensor x = Tensor::from_vector({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(tensor_near(sum(x, {1}), {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(sum(x, {0, 1}, true), {1, 1, 3}, {5, 7, 9}));
}

TEST(ReduceOp, MeanForward) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(mean(x), {}, {3.5}));
  EXPECT_TRUE(tensor_near(mean(x, {0}), {3}, {2.5, 3.5, 4.5}));
  EXPECT_TRUE(tensor_near(mean(x, {-1}, true), {2, 1}, {2, 5}));
  EXPECT_TRUE(tensor_near(mean(iota_2x3x4(), {0, 2}), {3}, {7.5, 11.5, 15.5}));
  EXPECT_TRUE(tensor_near(mean(iota_2x3x4(), {0, -1}, true), {1, 3, 1}, {7.5, 11.5, 15.5}));
}

TEST(ReduceOp, MaxForward) {
  Tensor x{{1, 7, 3}, {4, -5, 6}};
  EXPECT_TRUE(tensor_near(max(x), {}, {7}));
  EXPECT_TRUE(tensor_near(max(x, {}, true), {1, 1}, {7}));
  EXPECT_TRUE(tensor_near(max(x, {0}), {3}, {4, 7, 6}));
  EXPECT_TRUE(tensor_near(max(x, {0}, true), {1, 3}, {4, 7, 6}));
  EXPECT_TRUE(tensor_near(max(x, {-1}), {2}, {7, 6}));
  EXPECT_TRUE(tensor_near(max(x, {1}, true), {2, 1}, {7, 6}));
  // All-negative values: the maximum is not clamped at 0.
  EXPECT_TRUE(tensor_near(max(Tensor{{-3, -1}, {-2, -8}}, {1}), {2}, {-1, -2}));
  EXPECT_TRUE(tensor_near(max(iota_2x3x4(), {0, 2}), {3}, {15, 19, 23}));
}

TEST(ReduceOp, BroadcastToForward) {
  EXPECT_TRUE(tensor_near(broadcast_to(Tensor{1, 2, 3}, {2, 3}), {2, 3}, {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(tensor_near(broadcast_to(Tensor::from_vector({2, 1}, {1, 2}), {2, 3}), {2, 3},
                          {1, 1, 1, 2, 2, 2}));
  EXPECT_TRUE(tensor_near(broadcast_to(Tensor(real(4)), {2, 2}), {2, 2}, {4, 4, 4, 4}));
  EXPECT_TRUE(tensor_near(broadcast_to(Tensor{1, 2}, {2}), {2}, {1, 2}));
}

TEST(ReduceOp, ReduceToShapeForward) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(reduce_to_shape(x, {3}), {3}, {5, 7, 9}));
  EXPECT_TRUE(tensor_near(reduce_to_shape(x, {1, 3}), {1, 3}, {5, 7, 9}));
  EXPECT_TRUE(tensor_near(reduce_to_shape(x, {2, 1}), {2, 1}, {6, 15}));
  EXPECT_TRUE(tensor_near(reduce_to_shape(x, {}), {}, {21}));
  EXPECT_TRUE(tensor_near(reduce_to_shape(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6}));
}

// ---------------------------------------------------------------------------------------------
// Gradient values

TEST(ReduceOp, SumGradientBroadcastsTheSeed) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor s0 = sum(x, {0});
  EXPECT_TRUE(tensor_near(tape.gradient(s0, {x}, Tensor{1, 2, 3})[0], {2, 3}, {1, 2, 3, 1, 2, 3}));
  Tensor s1 = sum(x, {-1}, true);
  EXPECT_TRUE(tensor_near(tape.gradient(s1, {x}, Tensor::from_vector({2, 1}, {10, 20}))[0], {2, 3},
                          {10, 10, 10, 20, 20, 20}));
  Tensor all = sum(x);
  EXPECT_TRUE(tensor_near(tape.gradient(all, {x})[0], {2, 3}, {1, 1, 1, 1, 1, 1}));
}

TEST(ReduceOp, SumOfSquaresGradientIsTwoX) {
  Tensor x{{1, -2}, {3, 0.5f}};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(x * x);
  EXPECT_TRUE(tensor_near(tape.gradient(y, {x})[0], {2, 2}, {2, -4, 6, 1}));
}

TEST(ReduceOp, MeanGradientDividesByCount) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor m = mean(x);
  const double sixth = 1.0 / 6;
  EXPECT_TRUE(tensor_near(tape.gradient(m, {x})[0], {2, 3},
                          {sixth, sixth, sixth, sixth, sixth, sixth}));
  Tensor m1 = mean(x, {-1}, true);
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(tape.gradient(m1, {x}, Tensor::from_vector({2, 1}, {3, 6}))[0], {2, 3},
                          {3 * third, 3 * third, 3 * third, 6 * third, 6 * third, 6 * third}));
}

TEST(ReduceOp, MaxGradientSplitsTiesEvenly) {
  // Row 0 has two maxima (3, 3), row 1 three (2, 2, 2).
  Tensor x{{1, 3, 3}, {2, 2, 2}};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor m = max(x, {1});
  EXPECT_TRUE(tensor_near(m, {2}, {3, 2}));
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(tape.gradient(sum(m), {x})[0], {2, 3},
                          {0, 0.5, 0.5, third, third, third}));
  // With a seed: each row's seed is shared among its maxima.
  EXPECT_TRUE(tensor_near(tape.gradient(m, {x}, Tensor{2, 6})[0], {2, 3}, {0, 1, 1, 2, 2, 2}));
}

TEST(ReduceOp, MaxOverAllAxesGradientSplitsTies) {
  Tensor x{{5, 1}, {5, 5}};
  GradientTape tape;
  tape.watch(x);
  Tensor m = max(x);
  EXPECT_TRUE(tensor_near(m, {}, {5}));
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(tape.gradient(m, {x})[0], {2, 2}, {third, 0, third, third}));
}

TEST(ReduceOp, MaxGradientWithoutTiesPicksTheArgmax) {
  // Over axis 0 with keepdims: column maxima at rows 1, 0, 1.
  Tensor x{{1, 7, 3}, {4, -5, 6}};
  GradientTape tape;
  tape.watch(x);
  Tensor m = max(x, {0}, true);
  EXPECT_TRUE(tensor_near(tape.gradient(m, {x}, Tensor{{1, 2, 3}})[0], {2, 3},
                          {0, 2, 0, 1, 0, 3}));
}

TEST(ReduceOp, BroadcastToGradientSumsOverBroadcastAxes) {
  Tensor b{1, 2, 3};
  Tensor c = Tensor::from_vector({2, 1}, {1, 2});
  GradientTape tape;
  tape.watch(b);
  tape.watch(c);
  Tensor y = broadcast_to(b, {2, 3}) * broadcast_to(c, {2, 3});
  // y = c_i * b_j; seed G: d/db_j = Σ_i G_ij c_i, d/dc_i = Σ_j G_ij b_j.
  Tensor seed{{1, 2, 3}, {4, 5, 6}};
  std::vector<Tensor> g = tape.gradient(y, {b, c}, seed);
  EXPECT_TRUE(tensor_near(g[0], {3}, {1 + 8, 2 + 10, 3 + 12}));
  EXPECT_TRUE(tensor_near(g[1], {2, 1}, {1 + 4 + 9, 4 + 10 + 18}));
}

TEST(ReduceOp, ReduceToShapeGradientBroadcastsBack) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  GradientTape tape;
  tape.watch(x);
  Tensor r = reduce_to_shape(x, {3});
  EXPECT_TRUE(tensor_near(tape.gradient(r, {x}, Tensor{1, 2, 3})[0], {2, 3}, {1, 2, 3, 1, 2, 3}));
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op and printing the shapes

TEST(ReduceOp, RejectsAxisOutOfRange) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { sum(x, {2}); });
  EXPECT_THAT(msg, HasSubstr("sum"));
  EXPECT_THAT(msg, HasSubstr("axis 2"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { sum(x, {-3}); });
  EXPECT_THAT(msg, HasSubstr("sum"));
  EXPECT_THAT(msg, HasSubstr("axis -3"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { mean(x, {0, 5}, true); });
  EXPECT_THAT(msg, HasSubstr("mean"));
  EXPECT_THAT(msg, HasSubstr("axis 5"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { max(x, {-3}); });
  EXPECT_THAT(msg, HasSubstr("max"));
  EXPECT_THAT(msg, HasSubstr("axis -3"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  // A rank-0 tensor has no axis 0.
  msg = invalid_argument_message([] { sum(Tensor(real(1)), {0}); });
  EXPECT_THAT(msg, HasSubstr("sum"));
  EXPECT_THAT(msg, HasSubstr("[]"));
}

TEST(ReduceOp, RejectsRepeatedAxis) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { sum(x, {1, 1}); });
  EXPECT_THAT(msg, HasSubstr("sum"));
  EXPECT_THAT(msg, HasSubstr("repeated"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  // -1 and 1 name the same axis of a rank-2 tensor.
  msg = invalid_argument_message([&] { mean(x, {1, -1}); });
  EXPECT_THAT(msg, HasSubstr("mean"));
  EXPECT_THAT(msg, HasSubstr("repeated"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { max(x, {0, -2}, true); });
  EXPECT_THAT(msg, HasSubstr("max"));
  EXPECT_THAT(msg, HasSubstr("repeated"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ReduceOp, BroadcastToRejectsBadTarget) {
  // Not broadcastable at all.
  std::string msg = invalid_argument_message([] { broadcast_to(Tensor::zeros({2, 3}), {4}); });
  EXPECT_THAT(msg, HasSubstr("broadcast_to"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));

  // Broadcastable together, but the target is smaller than the input.
  msg = invalid_argument_message([] { broadcast_to(Tensor::zeros({2, 3}), {1, 3}); });
  EXPECT_THAT(msg, HasSubstr("broadcast_to"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[1, 3]"));

  msg = invalid_argument_message([] { broadcast_to(Tensor::zeros({2, 3}), {3}); });
  EXPECT_THAT(msg, HasSubstr("broadcast_to"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

TEST(ReduceOp, ReduceToShapeRejectsShapeThatDoesNotBroadcastToInput) {
  std::string msg = invalid_argument_message([] { reduce_to_shape(Tensor::zeros({2, 3}), {4}); });
  EXPECT_THAT(msg, HasSubstr("reduce_to_shape"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));

  msg = invalid_argument_message([] { reduce_to_shape(Tensor::zeros({3}), {2, 3}); });
  EXPECT_THAT(msg, HasSubstr("reduce_to_shape"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

}  // namespace
}  // namespace xgrad
