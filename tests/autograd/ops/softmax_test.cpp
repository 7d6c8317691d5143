// Softmax family: hand-computed softmax / log_softmax / cross-entropy values (including
// large logits, which must stay finite and exact), gradient values from a GradientTape, and
// the std::invalid_argument messages. Numeric gradient checks live in gradcheck_table_test.cpp.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradient_tape.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/softmax.h"
#include "autograd/tensor.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;
using testing::tensor_near;

::testing::AssertionResult all_finite(const Tensor& t) {
  for (real v : t.to_vector()) {
    if (!std::isfinite(v)) return ::testing::AssertionFailure() << "non-finite value in " << t;
  }
  return ::testing::AssertionSuccess();
}

// softmax([1, 2, 3]) and log Σ e^[1, 2, 3], to double precision.
constexpr double kS1 = 0.09003057317038048;
constexpr double kS2 = 0.2447284710547977;
constexpr double kS3 = 0.665240955774822;
constexpr double kLse123 = 3.40760596444438;
// log(1 + e^-1): log_softmax([1000, 1001]) = [-1 - kL, -kL].
constexpr double kL = 0.31326168751822286;

// ---------------------------------------------------------------------------------------------
// Forward values

TEST(SoftmaxOp, RowsSumToOne) {
  Tensor x{{1, 2, 3}, {1, 1, 1}};
  Tensor s = softmax(x);
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(s, {2, 3}, {kS1, kS2, kS3, third, third, third}));
  EXPECT_TRUE(tensor_near(sum(s, {-1}), {2}, {1, 1}));
  // Softmax is shift-invariant.
  EXPECT_TRUE(tensor_near(softmax(Tensor{{-9, -8, -7}}), {1, 3}, {kS1, kS2, kS3}));
}

TEST(SoftmaxOp, AlongAxisZero) {
  // Columns [1, 3] and [2, 2]: softmax([1, 3]) = [σ(-2), σ(2)].
  Tensor x{{1, 2}, {3, 2}};
  const double lo = 0.11920292202211755, hi = 0.8807970779778823;
  EXPECT_TRUE(tensor_near(softmax(x, 0), {2, 2}, {lo, 0.5, hi, 0.5}));
  EXPECT_TRUE(tensor_near(softmax(x, -2), {2, 2}, {lo, 0.5, hi, 0.5}));
  EXPECT_TRUE(tensor_near(sum(softmax(x, 0), {0}), {2}, {1, 1}));
}

TEST(SoftmaxOp, MiddleAxisOfRank3) {
  // x [1, 3, 2]: softmax over axis 1 of columns [1, 2, 3] and [0, 0, 0].
  Tensor x = Tensor::from_vector({1, 3, 2}, {1, 0, 2, 0, 3, 0});
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(softmax(x, 1), {1, 3, 2}, {kS1, third, kS2, third, kS3, third}));
}

TEST(SoftmaxOp, LargeLogitsStayFinite) {
  Tensor x{{1000, 1001}, {-1000, -1000}, {1000, 0}};
  Tensor s = softmax(x);
  EXPECT_TRUE(all_finite(s));
  EXPECT_TRUE(tensor_near(s, {3, 2},
                          {0.2689414213699951, 0.7310585786300049, 0.5, 0.5, 1, 0}));
}

TEST(SoftmaxOp, LogSoftmaxForward) {
  Tensor x{{1, 2, 3}, {0, 0, 0}};
  const double l3 = std::log(3.0);
  EXPECT_TRUE(tensor_near(log_softmax(x), {2, 3},
                          {1 - kLse123, 2 - kLse123, 3 - kLse123, -l3, -l3, -l3}));
  // Axis 0 of the same tensor: columns [1, 0], [2, 0], [3, 0].
  const double a = -std::log1p(std::exp(-1.0)), b = -1 + a;
  const double c = -std::log1p(std::exp(-2.0)), d = -2 + c;
  const double e = -std::log1p(std::exp(-3.0)), f = -3 + e;
  EXPECT_TRUE(tensor_near(log_softmax(x, 0), {2, 3}, {a, c, e, b, d, f}));
}

TEST(SoftmaxOp, LogSoftmaxOfLargeLogitsIsFiniteAndExact) {
  // The result is O(1), so it must be accurate to O(1) precision, not to the precision of
  // the logits (1e-5 relative to 1.3 is about 100 float ulps).
  Tensor y = log_softmax(Tensor{1000, 1001});
  EXPECT_TRUE(all_finite(y));
  EXPECT_TRUE(tensor_near(y, {2}, {-1 - kL, -kL}));
  // e^-1000 underflows, yet log_softmax stays finite (log(softmax) would give -inf).
  Tensor z = log_softmax(Tensor{-1000, 0});
  EXPECT_TRUE(all_finite(z));
  EXPECT_TRUE(tensor_near(z, {2}, {-1000, 0}));
}

TEST(SoftmaxOp, SoftmaxCrossEntropyHandValues) {
  // Row 0: one-hot on class 1: -(2 - lse) = lse - 2. Row 1: uniform logits, labels split
  // between classes 0 and 2: -(0.5 + 0.5)·(-log 3) = log 3.
  Tensor labels{{0, 1, 0}, {0.5f, 0, 0.5f}};
  Tensor logits{{1, 2, 3}, {0, 0, 0}};
  EXPECT_TRUE(tensor_near(softmax_cross_entropy(labels, logits), {2},
                          {kLse123 - 2, std::log(3.0)}));
  // The class axis need not be last: the transposed problem along axis 0.
  Tensor labels_t{{0, 0.5f}, {1, 0}, {0, 0.5f}};
  Tensor logits_t{{1, 0}, {2, 0}, {3, 0}};
  EXPECT_TRUE(tensor_near(softmax_cross_entropy(labels_t, logits_t, 0), {2},
                          {kLse123 - 2, std::log(3.0)}));
}

TEST(SoftmaxOp, SparseSoftmaxCrossEntropyHandValues) {
  Tensor logits{{1, 2, 3}, {0, 0, 0}, {1, 2, 3}};
  EXPECT_TRUE(tensor_near(sparse_softmax_cross_entropy({1, 0, 2}, logits), {3},
                          {kLse123 - 2, std::log(3.0), kLse123 - 3}));
}

TEST(SoftmaxOp, CrossEntropyOfLargeLogitsIsFiniteAndExact) {
  // Logits [1000, 1001]: -log_softmax = [1 + kL, kL].
  Tensor logits{{1000, 1001}, {1000, 1001}};
  Tensor dense = softmax_cross_entropy(Tensor{{1, 0}, {0, 1}}, logits);
  EXPECT_TRUE(all_finite(dense));
  EXPECT_TRUE(tensor_near(dense, {2}, {1 + kL, kL}));
  Tensor sparse = sparse_softmax_cross_entropy({0, 1}, logits);
  EXPECT_TRUE(all_finite(sparse));
  EXPECT_TRUE(tensor_near(sparse, {2}, {1 + kL, kL}));
}

// ---------------------------------------------------------------------------------------------
// Gradient values

TEST(SoftmaxOp, SoftmaxGradient) {
  Tensor x{{1, 2, 3}, {0, 5, -1}};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor s = softmax(x);
  // Each row sums to 1 whatever x is, so the gradient of the total is 0.
  EXPECT_TRUE(tensor_near(tape.gradient(sum(s), {x})[0], {2, 3}, {0, 0, 0, 0, 0, 0}));
  // d s_0 / dx = s_0 (e_0 - s): for x = [0, 0], [0.25, -0.25].
  Tensor x2{0, 0};
  tape.watch(x2);
  Tensor s2 = softmax(x2);
  EXPECT_TRUE(tensor_near(tape.gradient(s2, {x2}, Tensor{1, 0})[0], {2}, {0.25, -0.25}));
}

TEST(SoftmaxOp, LogSoftmaxGradient) {
  // d/dx Σ log_softmax(x) = 1 - n·softmax(x) per row (n = 3).
  Tensor x{{1, 2, 3}, {0, 0, 0}};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(log_softmax(x));
  EXPECT_TRUE(tensor_near(tape.gradient(y, {x})[0], {2, 3},
                          {1 - 3 * kS1, 1 - 3 * kS2, 1 - 3 * kS3, 0, 0, 0}));
}

TEST(SoftmaxOp, CrossEntropyGradientIsSoftmaxMinusLabels) {
  Tensor labels{{0, 0, 1}, {0, 1, 0}};
  Tensor logits{{1, 2, 3}, {0, 0, 0}};
  GradientTape tape;
  tape.watch(labels);
  tape.watch(logits);
  Tensor y = sum(softmax_cross_entropy(labels, logits));
  std::vector<Tensor> g = tape.gradient(y, {logits, labels});
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(g[0], {2, 3}, {kS1, kS2, kS3 - 1, third, third - 1, third}));
  // d/dlabels = -log_softmax(logits).
  const double l3 = std::log(3.0);
  EXPECT_TRUE(tensor_near(g[1], {2, 3}, {kLse123 - 1, kLse123 - 2, kLse123 - 3, l3, l3, l3}));
}

TEST(SoftmaxOp, SparseCrossEntropyGradientIsSoftmaxMinusOneHot) {
  Tensor logits{{1, 2, 3}, {0, 0, 0}};
  GradientTape tape;
  tape.watch(logits);
  Tensor y = sparse_softmax_cross_entropy({2, 1}, logits);
  // A seed of [1, 2] scales each row's gradient.
  Tensor g = tape.gradient(y, {logits}, Tensor{1, 2})[0];
  const double third = 1.0 / 3;
  EXPECT_TRUE(tensor_near(g, {2, 3},
                          {kS1, kS2, kS3 - 1, 2 * third, 2 * (third - 1), 2 * third}));
}

TEST(SoftmaxOp, GradientsOfLargeLogitsAreFiniteAndExact) {
  Tensor logits{{1000, 1001}, {-1000, 1000}};
  GradientTape tape;
  tape.watch(logits);
  Tensor y = sum(sparse_softmax_cross_entropy({0, 0}, logits));
  Tensor g = tape.gradient(y, {logits})[0];
  EXPECT_TRUE(all_finite(g));
  // softmax - one-hot: [σ(-1) - 1, σ(1)] and [0 - 1, 1].
  EXPECT_TRUE(tensor_near(g, {2, 2},
                          {0.2689414213699951 - 1, 0.7310585786300049, -1, 1}));
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op and printing the shapes

TEST(SoftmaxOp, RejectsBadAxis) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { softmax(x, 2); });
  EXPECT_THAT(msg, HasSubstr("softmax"));
  EXPECT_THAT(msg, HasSubstr("axis 2"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { log_softmax(x, -3); });
  EXPECT_THAT(msg, HasSubstr("log_softmax"));
  EXPECT_THAT(msg, HasSubstr("axis -3"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { softmax_cross_entropy(x, x, 2); });
  EXPECT_THAT(msg, HasSubstr("softmax"));
  EXPECT_THAT(msg, HasSubstr("axis 2"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([] { softmax(Tensor(real(1))); });
  EXPECT_THAT(msg, HasSubstr("softmax"));
  EXPECT_THAT(msg, HasSubstr("[]"));
}

TEST(SoftmaxOp, CrossEntropyRejectsShapeMismatch) {
  std::string msg = invalid_argument_message(
      [] { softmax_cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({2, 4})); });
  EXPECT_THAT(msg, HasSubstr("softmax_cross_entropy"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 4]"));
}

TEST(SoftmaxOp, SparseCrossEntropyRejectsBadLabels) {
  Tensor logits = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { sparse_softmax_cross_entropy({0, 3}, logits); });
  EXPECT_THAT(msg, HasSubstr("sparse_softmax_cross_entropy"));
  EXPECT_THAT(msg, HasSubstr("label 3"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { sparse_softmax_cross_entropy({-1, 0}, logits); });
  EXPECT_THAT(msg, HasSubstr("sparse_softmax_cross_entropy"));
  EXPECT_THAT(msg, HasSubstr("label -1"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  // One label per row.
  msg = invalid_argument_message([&] { sparse_softmax_cross_entropy({0, 1, 2}, logits); });
  EXPECT_THAT(msg, HasSubstr("sparse_softmax_cross_entropy"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  // Logits must be [N, classes].
  msg = invalid_argument_message([] { sparse_softmax_cross_entropy({0}, Tensor::zeros({3})); });
  EXPECT_THAT(msg, HasSubstr("sparse_softmax_cross_entropy"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

}  // namespace
}  // namespace xgrad
