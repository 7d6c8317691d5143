// Shape ops (reshape, flatten, transpose, concat, stack, slice, gather, scatter_add):
// hand-computed forward values, gradient values from a GradientTape, and the
// std::invalid_argument messages. Numeric gradient checks live in gradcheck_table_test.cpp.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradient_tape.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "autograd/tensor.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;
using testing::tensor_near;

// 0, 1, …, n-1 in `shape`.
Tensor iota(const Shape& shape) {
  std::vector<real> v(shape_size(shape));
  std::iota(v.begin(), v.end(), real(0));
  return Tensor::from_vector(shape, v);
}

// 0, 1, …, n-1 as doubles (expected values of an order-preserving op).
std::vector<double> iota_values(std::size_t n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}

// ---------------------------------------------------------------------------------------------
// reshape / flatten

TEST(ShapeOp, ReshapeForward) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(reshape(x, {3, 2}), {3, 2}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(reshape(x, {-1}), {6}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(reshape(x, {3, -1}), {3, 2}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(reshape(x, {-1, 1, 2}), {3, 1, 2}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(reshape(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(reshape(Tensor{7}, {}), {}, {7}));
}

TEST(ShapeOp, ReshapeGradientRestoresTheInputShape) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  GradientTape tape;
  tape.watch(x);
  Tensor y = reshape(x, {3, -1});
  EXPECT_TRUE(tensor_near(tape.gradient(y, {x}, Tensor{{1, 2}, {3, 4}, {5, 6}})[0], {2, 3},
                          {1, 2, 3, 4, 5, 6}));
}

TEST(ShapeOp, ReshapeIsAViewOfTheSameElements) {
  const Tensor x = Tensor::from_vector({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const Tensor y = reshape(x, {3, -1});
  const Tensor z = flatten(reshape(y, {2, 6, 1}));
  EXPECT_EQ(y.data(), x.data());  // no copy
  EXPECT_EQ(z.data(), x.data());  // a view of a view reads the same storage
  EXPECT_NE(y.id(), x.id());      // but is another node of the graph
  EXPECT_EQ(y.size(), 12u);
  // An Array of the view's own shape, when asked for (xtensor expressions need one).
  ASSERT_EQ(shape_of(y.array()), (Shape{3, 4}));
  EXPECT_EQ(y.array()(2, 3), real(11));
  EXPECT_EQ(z.to_vector(), x.to_vector());
}

TEST(ShapeOp, ViewsWorkEverywhereATensorDoes) {
  const Tensor x = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  const Tensor v = reshape(x, {4});
  EXPECT_EQ(sum(v).item(), real(10));
  EXPECT_EQ(max(reshape(x, {1, 4}), {1}).to_vector(), std::vector<real>{4});
  std::ostringstream os;
  os << v;
  EXPECT_THAT(os.str(), ::testing::HasSubstr("shape=[4]"));
}

TEST(ShapeOp, FlattenKeepsBatchAxis) {
  EXPECT_TRUE(tensor_near(flatten(iota({2, 2, 3})), {2, 6}, iota_values(12)));
  EXPECT_TRUE(tensor_near(flatten(iota({2, 1, 2, 2})), {2, 4}, iota_values(8)));
  EXPECT_TRUE(tensor_near(flatten(iota({3, 4})), {3, 4}, iota_values(12)));
  EXPECT_TRUE(tensor_near(flatten(Tensor{5, 6, 7}), {3, 1}, {5, 6, 7}));
}

TEST(ShapeOp, FlattenGradientRestoresTheInputShape) {
  Tensor x = iota({2, 2, 3});
  GradientTape tape;
  tape.watch(x);
  Tensor y = flatten(x);
  std::vector<real> seed(12);
  std::iota(seed.begin(), seed.end(), real(10));
  Tensor g = tape.gradient(y, {x}, Tensor::from_vector({2, 6}, seed))[0];
  EXPECT_TRUE(tensor_near(g, {2, 2, 3}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}));
}

// ---------------------------------------------------------------------------------------------
// transpose

TEST(ShapeOp, TransposeMatrix) {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  EXPECT_TRUE(tensor_near(transpose(x), {3, 2}, {1, 4, 2, 5, 3, 6}));
  EXPECT_TRUE(tensor_near(transpose(x, {1, 0}), {3, 2}, {1, 4, 2, 5, 3, 6}));
  EXPECT_TRUE(tensor_near(transpose(x, {0, 1}), {2, 3}, {1, 2, 3, 4, 5, 6}));
}

TEST(ShapeOp, TransposeRank3Permutations) {
  // x[i, j, k] = 12i + 4j + k, shape [2, 3, 4].
  Tensor x = iota({2, 3, 4});
  // perm {1, 0, 2}: out[j, i, k].
  EXPECT_TRUE(tensor_near(transpose(x, {1, 0, 2}), {3, 2, 4},
                          {0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7,  //
                           16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23}));
  // perm {2, 0, 1}: out[k, i, j].
  EXPECT_TRUE(tensor_near(transpose(x, {2, 0, 1}), {4, 2, 3},
                          {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21,  //
                           2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23}));
  // Empty perm reverses the axes: out[k, j, i].
  EXPECT_TRUE(tensor_near(transpose(x), {4, 3, 2},
                          {0, 12, 4, 16, 8, 20, 1, 13, 5, 17, 9, 21,  //
                           2, 14, 6, 18, 10, 22, 3, 15, 7, 19, 11, 23}));
}

TEST(ShapeOp, TransposeGradientAppliesTheInversePermutation) {
  Tensor x = iota({2, 3, 4});
  GradientTape tape;
  tape.watch(x);
  Tensor y = transpose(x, {2, 0, 1});  // [4, 2, 3]
  // Seed G[k, i, j] = 6k + 3i + j; d/dx[i, j, k] = G[k, i, j].
  Tensor g = tape.gradient(y, {x}, iota({4, 2, 3}))[0];
  EXPECT_TRUE(tensor_near(g, {2, 3, 4},
                          {0, 6, 12, 18, 1, 7, 13, 19, 2, 8, 14, 20,  //
                           3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23}));
}

// ---------------------------------------------------------------------------------------------
// concat / stack

TEST(ShapeOp, ConcatForward) {
  Tensor a{{1, 2, 3}};
  Tensor b{{4, 5, 6}, {7, 8, 9}};
  EXPECT_TRUE(tensor_near(concat({a, b}, 0), {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Tensor c = Tensor::from_vector({2, 1}, {1, 2});
  Tensor d{{3, 4}, {5, 6}};
  Tensor e = Tensor::from_vector({2, 1}, {7, 8});
  EXPECT_TRUE(tensor_near(concat({c, d}, 1), {2, 3}, {1, 3, 4, 2, 5, 6}));
  EXPECT_TRUE(tensor_near(concat({c, d}, -1), {2, 3}, {1, 3, 4, 2, 5, 6}));
  EXPECT_TRUE(tensor_near(concat({c, d, e}, 1), {2, 4}, {1, 3, 4, 7, 2, 5, 6, 8}));
  // The middle axis of rank-3 tensors.
  Tensor f = Tensor::from_vector({2, 1, 2}, {1, 2, 3, 4});
  Tensor h = Tensor::from_vector({2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_TRUE(tensor_near(concat({f, h}, 1), {2, 3, 2}, {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}));
}

TEST(ShapeOp, ConcatGradientSlicesTheSeed) {
  Tensor c = Tensor::from_vector({2, 1}, {1, 2});
  Tensor d{{3, 4}, {5, 6}};
  GradientTape tape;
  tape.watch(c);
  tape.watch(d);
  Tensor y = concat({c, d}, 1);
  std::vector<Tensor> g = tape.gradient(y, {c, d}, Tensor{{1, 2, 3}, {4, 5, 6}});
  EXPECT_TRUE(tensor_near(g[0], {2, 1}, {1, 4}));
  EXPECT_TRUE(tensor_near(g[1], {2, 2}, {2, 3, 5, 6}));
}

TEST(ShapeOp, StackForward) {
  Tensor a{1, 2, 3};
  Tensor b{4, 5, 6};
  EXPECT_TRUE(tensor_near(stack({a, b}), {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(tensor_near(stack({a, b}, 1), {3, 2}, {1, 4, 2, 5, 3, 6}));
  EXPECT_TRUE(tensor_near(stack({a, b}, -1), {3, 2}, {1, 4, 2, 5, 3, 6}));
  Tensor m{{1, 2}, {3, 4}};
  Tensor n{{5, 6}, {7, 8}};
  EXPECT_TRUE(tensor_near(stack({m, n}, 1), {2, 2, 2}, {1, 2, 5, 6, 3, 4, 7, 8}));
  EXPECT_TRUE(tensor_near(stack({m, n}, -1), {2, 2, 2}, {1, 5, 2, 6, 3, 7, 4, 8}));
}

TEST(ShapeOp, StackGradientSplitsTheSeed) {
  Tensor a{1, 2, 3};
  Tensor b{4, 5, 6};
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor y = stack({a, b}, 1);  // [3, 2]
  std::vector<Tensor> g = tape.gradient(y, {a, b}, Tensor{{10, 40}, {20, 50}, {30, 60}});
  EXPECT_TRUE(tensor_near(g[0], {3}, {10, 20, 30}));
  EXPECT_TRUE(tensor_near(g[1], {3}, {40, 50, 60}));
}

// ---------------------------------------------------------------------------------------------
// slice

TEST(ShapeOp, SliceForward) {
  Tensor x = iota({3, 4});  // x[i, j] = 4i + j
  EXPECT_TRUE(tensor_near(slice(x, {1, 1}, {2, -1}), {2, 3}, {5, 6, 7, 9, 10, 11}));
  EXPECT_TRUE(tensor_near(slice(x, {0, 2}, {-1, 2}), {3, 2}, {2, 3, 6, 7, 10, 11}));
  EXPECT_TRUE(tensor_near(slice(x, {0, 0}, {-1, -1}), {3, 4}, iota_values(12)));
  EXPECT_TRUE(tensor_near(slice(x, {2, 3}, {1, 1}), {1, 1}, {11}));
  EXPECT_TRUE(tensor_near(slice(x, {1, 0}, {0, -1}), {0, 4}, {}));
}

TEST(ShapeOp, SliceGradientPadsWithZeros) {
  Tensor x = iota({3, 4});
  GradientTape tape;
  tape.watch(x);
  Tensor y = slice(x, {1, 1}, {2, -1});
  Tensor g = tape.gradient(y, {x}, Tensor{{1, 2, 3}, {4, 5, 6}})[0];
  EXPECT_TRUE(tensor_near(g, {3, 4}, {0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6}));
}

// ---------------------------------------------------------------------------------------------
// gather / scatter_add

TEST(ShapeOp, GatherWithRepeatedIndices) {
  Tensor a{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_TRUE(tensor_near(gather(a, {2, 0, 2}), {3, 2}, {5, 6, 1, 2, 5, 6}));
  EXPECT_TRUE(tensor_near(gather(Tensor{10, 20, 30}, {1, 1, 0}), {3}, {20, 20, 10}));
  EXPECT_TRUE(tensor_near(gather(a, {}), {0, 2}, {}));
}

TEST(ShapeOp, GatherGradientAccumulatesRepeatedRows) {
  Tensor a{{1, 2}, {3, 4}, {5, 6}};
  GradientTape tape;
  tape.watch(a);
  Tensor y = gather(a, {2, 0, 2, 2});
  Tensor g = tape.gradient(y, {a}, Tensor{{1, 1}, {2, 2}, {3, 3}, {4, 4}})[0];
  // Row 2 collects seeds 1 + 3 + 4, row 0 seed 2, row 1 nothing.
  EXPECT_TRUE(tensor_near(g, {3, 2}, {2, 2, 0, 0, 8, 8}));
}

TEST(ShapeOp, ScatterAddForward) {
  Tensor updates{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_TRUE(tensor_near(scatter_add(updates, {1, 1, 0}, {3, 2}), {3, 2}, {5, 6, 4, 6, 0, 0}));
  EXPECT_TRUE(tensor_near(scatter_add(Tensor{1, 2, 3}, {0, 0, 3}, {4}), {4}, {3, 0, 0, 3}));
}

TEST(ShapeOp, ScatterAddGradientGathersTheSeed) {
  Tensor updates{{1, 2}, {3, 4}, {5, 6}};
  GradientTape tape;
  tape.watch(updates);
  Tensor y = scatter_add(updates, {1, 1, 0}, {3, 2});
  Tensor g = tape.gradient(y, {updates}, Tensor{{10, 20}, {30, 40}, {50, 60}})[0];
  EXPECT_TRUE(tensor_near(g, {3, 2}, {30, 40, 30, 40, 10, 20}));
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op and printing the shapes

TEST(ShapeOp, ReshapeRejectsBadSize) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { reshape(x, {4, 2}); });
  EXPECT_THAT(msg, HasSubstr("reshape"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4, 2]"));

  // -1 cannot be inferred: 6 is not a multiple of 4.
  msg = invalid_argument_message([&] { reshape(x, {4, -1}); });
  EXPECT_THAT(msg, HasSubstr("reshape"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4, -1]"));

  msg = invalid_argument_message([&] { reshape(x, {-2, 3}); });
  EXPECT_THAT(msg, HasSubstr("reshape"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ShapeOp, ReshapeRejectsTwoInferredExtents) {
  std::string msg = invalid_argument_message([] { reshape(Tensor::zeros({2, 3}), {-1, -1}); });
  EXPECT_THAT(msg, HasSubstr("reshape"));
  EXPECT_THAT(msg, HasSubstr("-1"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ShapeOp, FlattenRejectsRank0) {
  std::string msg = invalid_argument_message([] { flatten(Tensor(real(1))); });
  EXPECT_THAT(msg, HasSubstr("flatten"));
  EXPECT_THAT(msg, HasSubstr("[]"));
}

TEST(ShapeOp, TransposeRejectsBadPerm) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { transpose(x, {0, 0}); });
  EXPECT_THAT(msg, HasSubstr("transpose"));
  EXPECT_THAT(msg, HasSubstr("[0, 0]"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { transpose(x, {0, 1, 2}); });
  EXPECT_THAT(msg, HasSubstr("transpose"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { transpose(x, {0, 2}); });
  EXPECT_THAT(msg, HasSubstr("transpose"));
  EXPECT_THAT(msg, HasSubstr("[0, 2]"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { transpose(x, {-1, 0}); });
  EXPECT_THAT(msg, HasSubstr("transpose"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ShapeOp, ConcatRejectsMismatchedShapes) {
  // Axis 1 differs while concatenating along axis 0.
  std::string msg =
      invalid_argument_message([] { concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 2})}, 0); });
  EXPECT_THAT(msg, HasSubstr("concat"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));

  // Different ranks.
  msg = invalid_argument_message(
      [] { concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 3, 1})}, 0); });
  EXPECT_THAT(msg, HasSubstr("concat"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 3, 1]"));

  msg = invalid_argument_message([] { concat({}, 0); });
  EXPECT_THAT(msg, HasSubstr("concat"));
}

TEST(ShapeOp, ConcatRejectsBadAxis) {
  std::string msg =
      invalid_argument_message([] { concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 3})}, 2); });
  EXPECT_THAT(msg, HasSubstr("concat"));
  EXPECT_THAT(msg, HasSubstr("axis 2"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message(
      [] { concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 3})}, -3); });
  EXPECT_THAT(msg, HasSubstr("concat"));
  EXPECT_THAT(msg, HasSubstr("axis -3"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ShapeOp, StackRejectsUnequalShapes) {
  std::string msg = invalid_argument_message([] { stack({Tensor{1, 2, 3}, Tensor{4, 5}}); });
  EXPECT_THAT(msg, HasSubstr("stack"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
  EXPECT_THAT(msg, HasSubstr("[2]"));

  msg = invalid_argument_message([] { stack({}); });
  EXPECT_THAT(msg, HasSubstr("stack"));
}

TEST(ShapeOp, StackRejectsBadAxisNamingTheInputShape) {
  // Two [3] tensors stack along axis 0 or 1 (or -1, -2); axis 2 is out of range. The
  // message must print the shape the caller passed, [3].
  std::string msg = invalid_argument_message([] { stack({Tensor{1, 2, 3}, Tensor{4, 5, 6}}, 2); });
  EXPECT_THAT(msg, HasSubstr("stack"));
  EXPECT_THAT(msg, HasSubstr("axis 2"));
  EXPECT_THAT(msg, HasSubstr("[3]"));
}

TEST(ShapeOp, SliceRejectsOutOfBounds) {
  Tensor x = Tensor::zeros({2, 3});
  std::string msg = invalid_argument_message([&] { slice(x, {0, 2}, {2, 2}); });
  EXPECT_THAT(msg, HasSubstr("slice"));
  EXPECT_THAT(msg, HasSubstr("axis 1"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { slice(x, {3, 0}, {-1, -1}); });
  EXPECT_THAT(msg, HasSubstr("slice"));
  EXPECT_THAT(msg, HasSubstr("axis 0"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  msg = invalid_argument_message([&] { slice(x, {-1, 0}, {1, 1}); });
  EXPECT_THAT(msg, HasSubstr("slice"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));

  // One begin/size entry per axis.
  msg = invalid_argument_message([&] { slice(x, {0}, {1}); });
  EXPECT_THAT(msg, HasSubstr("slice"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(ShapeOp, GatherRejectsIndexOutOfRange) {
  Tensor a = Tensor::zeros({3, 2});
  std::string msg = invalid_argument_message([&] { gather(a, {0, 3}); });
  EXPECT_THAT(msg, HasSubstr("gather"));
  EXPECT_THAT(msg, HasSubstr("index 3"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));

  msg = invalid_argument_message([&] { gather(a, {-1}); });
  EXPECT_THAT(msg, HasSubstr("gather"));
  EXPECT_THAT(msg, HasSubstr("index -1"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));

  msg = invalid_argument_message([] { gather(Tensor(real(1)), {0}); });
  EXPECT_THAT(msg, HasSubstr("gather"));
  EXPECT_THAT(msg, HasSubstr("[]"));
}

TEST(ShapeOp, ScatterAddRejectsBadShape) {
  // updates must be [len(indices), shape[1:]] = [2, 2].
  std::string msg =
      invalid_argument_message([] { scatter_add(Tensor::zeros({2, 3}), {0, 1}, {4, 2}); });
  EXPECT_THAT(msg, HasSubstr("scatter_add"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));

  // One index per row of updates.
  msg = invalid_argument_message([] { scatter_add(Tensor::zeros({3, 2}), {0, 1}, {4, 2}); });
  EXPECT_THAT(msg, HasSubstr("scatter_add"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));

  msg = invalid_argument_message([] { scatter_add(Tensor::zeros({2, 2}), {0, 4}, {4, 2}); });
  EXPECT_THAT(msg, HasSubstr("scatter_add"));
  EXPECT_THAT(msg, HasSubstr("index 4"));
  EXPECT_THAT(msg, HasSubstr("[4, 2]"));
}

}  // namespace
}  // namespace xgrad
