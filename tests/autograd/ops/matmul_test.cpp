// matmul: hand-computed products (plain, batched with broadcast leading axes, all four
// transpose flag combinations), gradient values from a GradientTape, and the
// std::invalid_argument messages. Numeric gradient checks live in gradcheck_table_test.cpp.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradient_tape.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/tensor.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;
using testing::tensor_near;

// a [2, 3] and b [3, 2], with a·b = [[58, 64], [139, 154]], and their transposes.
Tensor mat_a() { return Tensor{{1, 2, 3}, {4, 5, 6}}; }
Tensor mat_b() { return Tensor{{7, 8}, {9, 10}, {11, 12}}; }
Tensor mat_a_t() { return Tensor{{1, 4}, {2, 5}, {3, 6}}; }
Tensor mat_b_t() { return Tensor{{7, 9, 11}, {8, 10, 12}}; }
const std::vector<double> kAB = {58, 64, 139, 154};

// A batch of two [2, 3] matrices: mat_a() and [[-1, 0, 1], [2, 0, 0]]; and its transpose
// [2, 3, 2] (each matrix transposed).
Tensor batch_a() {
  return Tensor::from_vector({2, 2, 3}, {1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 0, 0});
}
Tensor batch_a_t() {
  return Tensor::from_vector({2, 3, 2}, {1, 4, 2, 5, 3, 6, -1, 2, 0, 0, 1, 0});
}
// A batch of two [3, 2] matrices: mat_b() and [[1, 0], [0, 1], [1, 1]]; and its transpose.
Tensor batch_b() {
  return Tensor::from_vector({2, 3, 2}, {7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 1, 1});
}
Tensor batch_b_t() {
  return Tensor::from_vector({2, 2, 3}, {7, 9, 11, 8, 10, 12, 1, 0, 1, 0, 1, 1});
}

// ---------------------------------------------------------------------------------------------
// Forward values

TEST(MatmulOp, Forward2x3Times3x2) {
  EXPECT_TRUE(tensor_near(matmul(mat_a(), mat_b()), {2, 2}, kAB));
  // [3, 2] · [2, 3] -> [3, 3].
  EXPECT_TRUE(tensor_near(matmul(mat_b(), mat_a()), {3, 3},
                          {39, 54, 69, 49, 68, 87, 59, 82, 105}));
}

TEST(MatmulOp, AllFourTransposeFlagCombinations) {
  EXPECT_TRUE(tensor_near(matmul(mat_a(), mat_b(), false, false), {2, 2}, kAB));
  EXPECT_TRUE(tensor_near(matmul(mat_a_t(), mat_b(), true, false), {2, 2}, kAB));
  EXPECT_TRUE(tensor_near(matmul(mat_a(), mat_b_t(), false, true), {2, 2}, kAB));
  EXPECT_TRUE(tensor_near(matmul(mat_a_t(), mat_b_t(), true, true), {2, 2}, kAB));
}

TEST(MatmulOp, BatchedBroadcastForward) {
  // [2, 2, 3] · [3, 2]: one matrix for the whole batch.
  EXPECT_TRUE(tensor_near(matmul(batch_a(), mat_b()), {2, 2, 2},
                          {58, 64, 139, 154, 4, 4, 14, 16}));
  // [1, 2, 2] · [3, 2, 2]: the extent-1 batch axis of a broadcasts to 3.
  Tensor a = Tensor::from_vector({1, 2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({3, 2, 2}, {1, 0, 0, 1, 0, 1, 1, 0, 2, 0, 0, 3});
  EXPECT_TRUE(tensor_near(matmul(a, b), {3, 2, 2}, {1, 2, 3, 4, 2, 1, 4, 3, 2, 6, 6, 12}));
  // [2, 3] · [2, 3, 2]: a matrix times a batch.
  EXPECT_TRUE(tensor_near(matmul(mat_a(), batch_b()), {2, 2, 2},
                          {58, 64, 139, 154, 4, 5, 10, 11}));
}

TEST(MatmulOp, BatchedBroadcastOnBothSides) {
  // a [2, 1, 1, 2] holds row vectors [1, 2] and [3, 4]; b [3, 2, 1] column vectors
  // [1, 0], [0, 1], [1, 1]. Batch axes [2, 1] and [3] broadcast to [2, 3]: all dot products.
  Tensor a = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({3, 2, 1}, {1, 0, 0, 1, 1, 1});
  EXPECT_TRUE(tensor_near(matmul(a, b), {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7}));
}

TEST(MatmulOp, BatchedTransposeFlags) {
  // Batch [2] on both sides: a·b per batch = [[58, 64], [139, 154]] and [[0, 1], [2, 0]].
  const std::vector<double> expected = {58, 64, 139, 154, 0, 1, 2, 0};
  EXPECT_TRUE(tensor_near(matmul(batch_a(), batch_b(), false, false), {2, 2, 2}, expected));
  EXPECT_TRUE(tensor_near(matmul(batch_a_t(), batch_b(), true, false), {2, 2, 2}, expected));
  EXPECT_TRUE(tensor_near(matmul(batch_a(), batch_b_t(), false, true), {2, 2, 2}, expected));
  EXPECT_TRUE(tensor_near(matmul(batch_a_t(), batch_b_t(), true, true), {2, 2, 2}, expected));
  // A transposed batch times one (transposed) matrix.
  const std::vector<double> with_b = {58, 64, 139, 154, 4, 4, 14, 16};
  EXPECT_TRUE(tensor_near(matmul(batch_a_t(), mat_b(), true, false), {2, 2, 2}, with_b));
  EXPECT_TRUE(tensor_near(matmul(batch_a(), mat_b_t(), false, true), {2, 2, 2}, with_b));
  EXPECT_TRUE(tensor_near(matmul(batch_a_t(), mat_b_t(), true, true), {2, 2, 2}, with_b));
}

// ---------------------------------------------------------------------------------------------
// Gradient values

TEST(MatmulOp, GradientOfSum) {
  // y = sum(a·b): d/da[i, k] = Σ_j b[k, j] (row sums of b), d/db[k, j] = Σ_i a[i, k].
  Tensor a = mat_a();
  Tensor b = mat_b();
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(matmul(a, b));
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  EXPECT_TRUE(tensor_near(g[0], {2, 3}, {15, 19, 23, 15, 19, 23}));
  EXPECT_TRUE(tensor_near(g[1], {3, 2}, {5, 5, 7, 7, 9, 9}));
}

TEST(MatmulOp, GradientWithEveryTransposeFlagCombination) {
  // Seed G = [[1, 2], [3, 4]]: d/da = G·bᵀ = [[23, 29, 35], [53, 67, 81]] and
  // d/db = aᵀ·G = [[13, 18], [17, 24], [21, 30]]; a transposed operand gets the transpose.
  const Tensor seed{{1, 2}, {3, 4}};
  const std::vector<double> da = {23, 29, 35, 53, 67, 81};
  const std::vector<double> da_t = {23, 53, 29, 67, 35, 81};
  const std::vector<double> db = {13, 18, 17, 24, 21, 30};
  const std::vector<double> db_t = {13, 17, 21, 18, 24, 30};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "transpose_a=" << ta << " transpose_b=" << tb);
      Tensor a = ta ? mat_a_t() : mat_a();
      Tensor b = tb ? mat_b_t() : mat_b();
      GradientTape tape;
      tape.watch(a);
      tape.watch(b);
      Tensor y = matmul(a, b, ta, tb);
      std::vector<Tensor> g = tape.gradient(y, {a, b}, seed);
      EXPECT_TRUE(tensor_near(g[0], ta ? Shape{3, 2} : Shape{2, 3}, ta ? da_t : da));
      EXPECT_TRUE(tensor_near(g[1], tb ? Shape{2, 3} : Shape{3, 2}, tb ? db_t : db));
    }
  }
}

TEST(MatmulOp, BatchedGradientWithEveryTransposeFlagCombination) {
  // y = sum(a·b) per batch: d/da[n, i, k] = Σ_j b[n, k, j] (row sums (15, 19, 23) and
  // (1, 1, 2)), d/db[n, k, j] = Σ_i a[n, i, k] (column sums (5, 7, 9) and (1, 0, 1)).
  const std::vector<double> da = {15, 19, 23, 15, 19, 23, 1, 1, 2, 1, 1, 2};
  const std::vector<double> da_t = {15, 15, 19, 19, 23, 23, 1, 1, 1, 1, 2, 2};
  const std::vector<double> db = {5, 5, 7, 7, 9, 9, 1, 1, 0, 0, 1, 1};
  const std::vector<double> db_t = {5, 7, 9, 5, 7, 9, 1, 0, 1, 1, 0, 1};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "transpose_a=" << ta << " transpose_b=" << tb);
      Tensor a = ta ? batch_a_t() : batch_a();
      Tensor b = tb ? batch_b_t() : batch_b();
      GradientTape tape;
      tape.watch(a);
      tape.watch(b);
      Tensor y = sum(matmul(a, b, ta, tb));
      std::vector<Tensor> g = tape.gradient(y, {a, b});
      EXPECT_TRUE(tensor_near(g[0], ta ? Shape{2, 3, 2} : Shape{2, 2, 3}, ta ? da_t : da));
      EXPECT_TRUE(tensor_near(g[1], tb ? Shape{2, 2, 3} : Shape{2, 3, 2}, tb ? db_t : db));
    }
  }
}

TEST(MatmulOp, BatchedGradientSumsOverBroadcastBatch) {
  // [2, 2, 3] · [3, 2]: b's gradient sums over the batch: Σ over all four rows of a.
  Tensor a = batch_a();
  Tensor b = mat_b();
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(matmul(a, b));
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  EXPECT_TRUE(tensor_near(g[0], {2, 2, 3}, {15, 19, 23, 15, 19, 23, 15, 19, 23, 15, 19, 23}));
  EXPECT_TRUE(tensor_near(g[1], {3, 2}, {6, 6, 7, 7, 10, 10}));
}

TEST(MatmulOp, BatchedGradientSumsOverExtentOneBatchAxis) {
  // [1, 2, 2] · [3, 2, 2]: a's gradient is summed over the 3 broadcast batch entries.
  Tensor a = Tensor::from_vector({1, 2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({3, 2, 2}, {1, 0, 0, 1, 0, 1, 1, 0, 2, 0, 0, 3});
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = sum(matmul(a, b));
  std::vector<Tensor> g = tape.gradient(y, {a, b});
  // d/da[i, k] = Σ_batch Σ_j b[batch, k, j] = (1 + 1 + 2, 1 + 1 + 3).
  EXPECT_TRUE(tensor_near(g[0], {1, 2, 2}, {4, 5, 4, 5}));
  // d/db[batch, k, j] = Σ_i a[0, i, k] = (4, 6).
  EXPECT_TRUE(tensor_near(g[1], {3, 2, 2}, {4, 4, 6, 6, 4, 4, 6, 6, 4, 4, 6, 6}));
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op and printing the shapes

TEST(MatmulOp, RejectsInnerDimensionMismatch) {
  std::string msg =
      invalid_argument_message([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 2})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));

  // [2, 3] · [2, 3] only works with a transpose flag.
  msg = invalid_argument_message([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_EQ(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}), false, true).shape(),
            (Shape{2, 2}));

  // Transposing a [3, 2] gives K = 3, which does not match b [2, 2].
  msg = invalid_argument_message(
      [] { matmul(Tensor::zeros({3, 2}), Tensor::zeros({2, 2}), true, false); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));
}

TEST(MatmulOp, RejectsRank1Operand) {
  std::string msg =
      invalid_argument_message([] { matmul(Tensor::zeros({3}), Tensor::zeros({3, 2})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));

  msg = invalid_argument_message([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({3})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

TEST(MatmulOp, RejectsNonBroadcastableBatchAxes) {
  std::string msg =
      invalid_argument_message([] { matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 2})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[2, 2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[3, 3, 2]"));

  msg = invalid_argument_message(
      [] { matmul(Tensor::zeros({4, 2, 2, 3}), Tensor::zeros({3, 3, 2})); });
  EXPECT_THAT(msg, HasSubstr("matmul"));
  EXPECT_THAT(msg, HasSubstr("[4, 2, 2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[3, 3, 2]"));
}

}  // namespace
}  // namespace xgrad
