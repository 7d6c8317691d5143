// Element-wise ops: hand-computed forward values (broadcasting, where, clip, numerically
// stable sigmoid/softplus), hand-checkable gradient values from a GradientTape, and the
// std::invalid_argument messages. Numeric gradient checks live in gradcheck_table_test.cpp.

#include <algorithm>
#include <cmath>
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

// ---------------------------------------------------------------------------------------------
// Forward values

TEST(ElementwiseOp, AddBroadcastForward) {
  // [2, 1, 3] + [4, 1] -> [2, 4, 3]: out[i, j, k] = a[i, 0, k] + b[j, 0].
  Tensor a = Tensor::from_vector({2, 1, 3}, {1, 2, 3, 10, 20, 30});
  Tensor b = Tensor::from_vector({4, 1}, {100, 200, 300, 400});
  EXPECT_TRUE(tensor_near(add(a, b), {2, 4, 3},
                          {101, 102, 103, 201, 202, 203, 301, 302, 303, 401, 402, 403,  //
                           110, 120, 130, 210, 220, 230, 310, 320, 330, 410, 420, 430}));
  // Broadcasting is symmetric.
  EXPECT_TRUE(tensor_near(b + a, {2, 4, 3},
                          {101, 102, 103, 201, 202, 203, 301, 302, 303, 401, 402, 403,  //
                           110, 120, 130, 210, 220, 230, 310, 320, 330, 410, 420, 430}));
}

TEST(ElementwiseOp, MulBroadcastForward) {
  Tensor a = Tensor::from_vector({2, 1, 3}, {1, 2, 3, -1, -2, -3});
  Tensor b = Tensor::from_vector({4, 1}, {1, 2, 3, 4});
  EXPECT_TRUE(tensor_near(mul(a, b), {2, 4, 3},
                          {1, 2, 3, 2, 4, 6, 3, 6, 9, 4, 8, 12,  //
                           -1, -2, -3, -2, -4, -6, -3, -6, -9, -4, -8, -12}));
}

TEST(ElementwiseOp, SubDivNegAndScalarOperands) {
  Tensor a{{1, 2}, {3, 4}};
  EXPECT_TRUE(tensor_near(a - Tensor(real(1)), {2, 2}, {0, 1, 2, 3}));
  EXPECT_TRUE(tensor_near(Tensor(real(1)) - a, {2, 2}, {0, -1, -2, -3}));
  EXPECT_TRUE(tensor_near(a / Tensor{2, 4}, {2, 2}, {0.5, 0.5, 1.5, 1.0}));
  EXPECT_TRUE(tensor_near(a * real(3), {2, 2}, {3, 6, 9, 12}));
  EXPECT_TRUE(tensor_near(-a, {2, 2}, {-1, -2, -3, -4}));
  // A size-1 operand of higher rank still broadcasts to the larger rank.
  EXPECT_TRUE(tensor_near(add(Tensor{1, 2, 3}, Tensor::from_vector({1, 1}, {10})), {1, 3},
                          {11, 12, 13}));
  // Two rank-0 operands give a rank-0 result.
  EXPECT_TRUE(tensor_near(add(Tensor(real(2)), Tensor(real(3))), {}, {5}));
}

TEST(ElementwiseOp, UnaryForward) {
  Tensor x{0.25f, 1, 4};
  EXPECT_TRUE(tensor_near(square(x), {3}, {0.0625, 1, 16}));
  EXPECT_TRUE(tensor_near(sqrt(x), {3}, {0.5, 1, 2}));
  EXPECT_TRUE(tensor_near(pow(x, real(1.5)), {3}, {0.125, 1, 8}));
  EXPECT_TRUE(tensor_near(pow(x, Tensor{2, 0, -0.5f}), {3}, {0.0625, 1, 0.5}));
  EXPECT_TRUE(tensor_near(log(x), {3}, {std::log(0.25), 0, std::log(4.0)}));
  EXPECT_TRUE(tensor_near(exp(Tensor{0, 1, -1}), {3}, {1, std::exp(1.0), std::exp(-1.0)}));
  EXPECT_TRUE(tensor_near(abs(Tensor{-2, 0, 3}), {3}, {2, 0, 3}));
  EXPECT_TRUE(tensor_near(relu(Tensor{-2, 0, 3}), {3}, {0, 0, 3}));
  EXPECT_TRUE(tensor_near(tanh(Tensor{-1000, -1, 0, 1, 1000}), {5},
                          {-1, -0.7615941559557649, 0, 0.7615941559557649, 1}));
  EXPECT_TRUE(tensor_near(sign(Tensor{-2, 0, 3}), {3}, {-1, 0, 1}));
}

TEST(ElementwiseOp, MaximumMinimumBroadcastForward) {
  Tensor a{{1, 5}, {-3, 2}};
  Tensor b{0, 3};
  EXPECT_TRUE(tensor_near(maximum(a, b), {2, 2}, {1, 5, 0, 3}));
  EXPECT_TRUE(tensor_near(minimum(a, b), {2, 2}, {0, 3, -3, 2}));
}

TEST(ElementwiseOp, ComparisonsReturnZeroOneAndAreNotRecorded) {
  Tensor a{1, 2, 3};
  Tensor b{2, 2, 2};
  GradientTape tape;
  tape.watch(a);
  EXPECT_TRUE(tensor_near(greater(a, b), {3}, {0, 0, 1}));
  EXPECT_TRUE(tensor_near(greater_equal(a, b), {3}, {0, 1, 1}));
  EXPECT_TRUE(tensor_near(less(a, b), {3}, {1, 0, 0}));
  EXPECT_TRUE(tensor_near(less_equal(a, b), {3}, {1, 1, 0}));
  EXPECT_TRUE(tensor_near(equal(a, b), {3}, {0, 1, 0}));
  EXPECT_TRUE(tensor_near(equal(Tensor{{1, 2}, {2, 1}}, Tensor(real(2))), {2, 2}, {0, 1, 1, 0}));
  EXPECT_EQ(tape.num_records(), 0u);
}

TEST(ElementwiseOp, WhereForward) {
  // Any non-zero condition value counts as true.
  Tensor condition{{1, 0, 1}, {0, 0, 2}};
  Tensor a{{1, 2, 3}, {4, 5, 6}};
  Tensor b{{-1, -2, -3}, {-4, -5, -6}};
  EXPECT_TRUE(tensor_near(where(condition, a, b), {2, 3}, {1, -2, 3, -4, -5, 6}));
}

TEST(ElementwiseOp, WhereBroadcastsAllThreeOperands) {
  // condition [3], a [2, 3], b [2, 1] -> [2, 3].
  Tensor condition{1, 0, 1};
  Tensor a{{1, 2, 3}, {4, 5, 6}};
  Tensor b = Tensor::from_vector({2, 1}, {10, 20});
  EXPECT_TRUE(tensor_near(where(condition, a, b), {2, 3}, {1, 10, 3, 4, 20, 6}));
  // A scalar b.
  EXPECT_TRUE(tensor_near(where(condition, a, Tensor(real(0))), {2, 3}, {1, 0, 3, 4, 0, 6}));
}

TEST(ElementwiseOp, ClipForward) {
  Tensor x{-2, -1, -0.5f, 0, 0.5f, 1, 2};
  EXPECT_TRUE(tensor_near(clip(x, -1, 1), {7}, {-1, -1, -0.5, 0, 0.5, 1, 1}));
  // lo == hi is allowed and pins every element.
  EXPECT_TRUE(tensor_near(clip(x, 0.5f, 0.5f), {7}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}));
}

TEST(ElementwiseOp, SigmoidIsStableAtLargeMagnitude) {
  Tensor x{-1000, -100, -50, -2, 0, 2, 50, 100, 1000};
  Tensor y = sigmoid(x);
  ASSERT_EQ(y.shape(), Shape{9});
  for (real v : y.to_vector()) {
    EXPECT_TRUE(std::isfinite(v)) << y;
    EXPECT_GE(v, real(0));
    EXPECT_LE(v, real(1));
  }
  const std::vector<real> v = y.to_vector();
  EXPECT_NEAR(v[0], 0.0, 1e-30);                     // e^-1000 underflows to 0
  EXPECT_NEAR(v[1], 0.0, 1e-30);                     // e^-100 ≈ 3.7e-44
  EXPECT_NEAR(v[2], 1.9287498479639178e-22, 1e-5 * 1.9287498479639178e-22);  // relative
  EXPECT_NEAR(v[3], 0.11920292202211755, 1e-5);
  EXPECT_NEAR(v[4], 0.5, 1e-7);
  EXPECT_NEAR(v[5], 0.8807970779778823, 1e-5);
  EXPECT_NEAR(v[6], 1.0, 1e-7);
  EXPECT_NEAR(v[7], 1.0, 1e-7);
  EXPECT_NEAR(v[8], 1.0, 1e-7);
}

TEST(ElementwiseOp, SoftplusIsStableAtLargeMagnitude) {
  Tensor x{-1000, -100, -50, -2, 0, 2, 50, 100, 1000};
  Tensor y = softplus(x);
  ASSERT_EQ(y.shape(), Shape{9});
  for (real v : y.to_vector()) {
    EXPECT_TRUE(std::isfinite(v)) << y;
    EXPECT_GE(v, real(0));
  }
  const std::vector<real> v = y.to_vector();
  EXPECT_NEAR(v[0], 0.0, 1e-30);
  EXPECT_NEAR(v[1], 0.0, 1e-30);
  EXPECT_NEAR(v[2], 1.9287498479639178e-22, 1e-5 * 1.9287498479639178e-22);  // relative
  EXPECT_NEAR(v[3], 0.1269280110429725, 1e-5);
  EXPECT_NEAR(v[4], 0.6931471805599453, 1e-5);
  EXPECT_NEAR(v[5], 2.1269280110429727, 1e-5);
  EXPECT_NEAR(v[6], 50.0, 1e-5 * 50);
  EXPECT_NEAR(v[7], 100.0, 1e-5 * 100);
  EXPECT_NEAR(v[8], 1000.0, 1e-5 * 1000);
}

// ---------------------------------------------------------------------------------------------
// Gradient values

TEST(ElementwiseOp, MulSelfGradientIsTwoX) {
  // d/dx sum(x * x) = 2x: both uses of x accumulate.
  Tensor x{{1, -2}, {3, 0.5f}};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(x * x);
  std::vector<Tensor> g = tape.gradient(y, {x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_TRUE(tensor_near(g[0], {2, 2}, {2, -4, 6, 1}));
}

TEST(ElementwiseOp, AddBroadcastGradientIsColumnSums) {
  // b [3] is broadcast over the rows of a [2, 3]: d/db = column sums of the output gradient.
  Tensor a{{1, 2, 3}, {4, 5, 6}};
  Tensor b{10, 20, 30};
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = a + b;
  Tensor seed{{1, 2, 3}, {4, 5, 6}};
  std::vector<Tensor> g = tape.gradient(y, {a, b}, seed);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_TRUE(tensor_near(g[0], {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(g[1], {3}, {5, 7, 9}));
}

TEST(ElementwiseOp, AddBothSidesBroadcastGradient) {
  // [2, 1, 3] + [4, 1] -> [2, 4, 3]; with a seed of ones each element of a is used 4 times
  // and each element of b 2 * 3 = 6 times.
  Tensor a = Tensor::from_vector({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({4, 1}, {1, 2, 3, 4});
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(a + b);
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  EXPECT_TRUE(tensor_near(g[0], {2, 1, 3}, {4, 4, 4, 4, 4, 4}));
  EXPECT_TRUE(tensor_near(g[1], {4, 1}, {6, 6, 6, 6}));
}

TEST(ElementwiseOp, MulBroadcastGradient) {
  // y = sum(a * b), b [3] broadcast over rows: d/da = b in every row, d/db = column sums of a.
  Tensor a{{1, 2, 3}, {4, 5, 6}};
  Tensor b{-1, 0.5f, 2};
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(a * b);
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  EXPECT_TRUE(tensor_near(g[0], {2, 3}, {-1, 0.5, 2, -1, 0.5, 2}));
  EXPECT_TRUE(tensor_near(g[1], {3}, {5, 7, 9}));
}

TEST(ElementwiseOp, SubDivGradient) {
  // d/da (a/b) = 1/b, d/db (a/b) = -a/b²; d/da (a-b) = 1, d/db = -1.
  Tensor a{6, 1};
  Tensor b{2, 4};
  GradientTape tape({.persistent = true});
  tape.watch(a);
  tape.watch(b);
  Tensor q = sum(a / b);
  std::vector<Tensor> gq = tape.gradient(q, {a, b});
  EXPECT_TRUE(tensor_near(gq[0], {2}, {0.5, 0.25}));
  EXPECT_TRUE(tensor_near(gq[1], {2}, {-1.5, -0.0625}));
  Tensor d = sum(a - b);
  std::vector<Tensor> gd = tape.gradient(d, {a, b});
  EXPECT_TRUE(tensor_near(gd[0], {2}, {1, 1}));
  EXPECT_TRUE(tensor_near(gd[1], {2}, {-1, -1}));
}

TEST(ElementwiseOp, WhereGradientGoesToTheChosenBranch) {
  Tensor condition{{1, 0, 1}, {0, 0, 1}};
  Tensor a{{1, 2, 3}, {4, 5, 6}};
  Tensor b(real(7));  // broadcast scalar: collects the seed wherever the condition is false
  GradientTape tape;
  tape.watch(condition);
  tape.watch(a);
  tape.watch(b);
  Tensor y = where(condition, a, b);
  Tensor seed{{1, 2, 3}, {4, 5, 6}};
  std::vector<Tensor> g = tape.gradient(y, {a, b, condition}, seed);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_TRUE(tensor_near(g[0], {2, 3}, {1, 0, 3, 0, 0, 6}));
  EXPECT_TRUE(tensor_near(g[1], {}, {2 + 4 + 5}));
  EXPECT_FALSE(g[2].defined()) << "the condition gets no gradient";
}

TEST(ElementwiseOp, ClipGradientIsOneStrictlyInside) {
  Tensor x{-2, -1, -0.5f, 0.5f, 1, 2};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(clip(x, -1, 1));
  std::vector<Tensor> g = tape.gradient(y, {x});
  EXPECT_TRUE(tensor_near(g[0], {6}, {0, 0, 1, 1, 0, 0}));
}

TEST(ElementwiseOp, MaximumGradientGoesToAOnTies) {
  Tensor a{1, 2, 3};
  Tensor b{2, 2, 2};
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(maximum(a, b));
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  EXPECT_TRUE(tensor_near(g[0], {3}, {0, 1, 1}));
  EXPECT_TRUE(tensor_near(g[1], {3}, {1, 0, 0}));
}

TEST(ElementwiseOp, SigmoidSoftplusGradientsAtLargeMagnitude) {
  // d sigmoid = σ(1-σ) and d softplus = σ: finite, and the right limits far from 0.
  Tensor x{-1000, -100, 0, 100, 1000};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor s = sum(sigmoid(x));
  Tensor p = sum(softplus(x));
  Tensor gs = tape.gradient(s, {x})[0];
  Tensor gp = tape.gradient(p, {x})[0];
  for (real v : gs.to_vector()) EXPECT_TRUE(std::isfinite(v)) << gs;
  for (real v : gp.to_vector()) EXPECT_TRUE(std::isfinite(v)) << gp;
  EXPECT_TRUE(tensor_near(gs, {5}, {0, 0, 0.25, 0, 0}));
  EXPECT_TRUE(tensor_near(gp, {5}, {0, 0, 0.5, 1, 1}));
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op and printing the shapes

TEST(ElementwiseOp, BinaryOpsRejectNonBroadcastableShapes) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4});
  std::string msg = invalid_argument_message([&] { add(a, b); });
  EXPECT_THAT(msg, HasSubstr("add"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));

  msg = invalid_argument_message([&] { mul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); });
  EXPECT_THAT(msg, HasSubstr("mul"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));

  msg = invalid_argument_message([&] { sub(a, b); });
  EXPECT_THAT(msg, HasSubstr("sub"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { div(b, a); });
  EXPECT_THAT(msg, HasSubstr("div"));
  EXPECT_THAT(msg, HasSubstr("[4]"));

  msg = invalid_argument_message([&] { maximum(a, b); });
  EXPECT_THAT(msg, HasSubstr("maximum"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ElementwiseOp, WhereRejectsNonBroadcastableShapes) {
  std::string msg = invalid_argument_message(
      [] { where(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}), Tensor::zeros({4})); });
  EXPECT_THAT(msg, HasSubstr("where"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));

  // The condition broadcasts with each branch, but the branches do not with each other.
  msg = invalid_argument_message(
      [] { where(Tensor::zeros({1}), Tensor::zeros({2}), Tensor::zeros({3})); });
  EXPECT_THAT(msg, HasSubstr("where"));
  EXPECT_THAT(msg, HasSubstr("[2]"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

TEST(ElementwiseOp, ClipRejectsLoAboveHi) {
  std::string msg = invalid_argument_message([] { clip(Tensor::zeros({3}), 2, 1); });
  EXPECT_THAT(msg, HasSubstr("clip"));
  EXPECT_THAT(msg, HasSubstr("lo"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

TEST(ElementwiseOp, ReluGradIsTheGradientWhereTheOutputIsPositive) {
  const Tensor y = relu(Tensor{-2, 0, 3, 0.5});
  EXPECT_TRUE(tensor_near(relu_grad(Tensor{10, 20, 30, 40}, y), {4}, {0, 0, 30, 40}));
}

TEST(ElementwiseOp, ReluGradRejectsShapesThatDiffer) {
  std::string msg = invalid_argument_message([] { relu_grad(Tensor::zeros({2, 3}), Tensor::zeros({3})); });
  EXPECT_THAT(msg, HasSubstr("relu_grad"));
  EXPECT_THAT(msg, HasSubstr("grad.shape=[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("output.shape=[3]"));
}

}  // namespace
}  // namespace xgrad
