// Tests of max_pool2d and avg_pool2d: hand-computed forward and backward values (TF
// semantics for padded windows), a direct-loop reference on larger inputs, errors, and first,
// second and third derivatives.

#include "autograd/ops/pool2d.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;

constexpr double kTol = sizeof(real) == 8 ? 1e-12 : 1e-6;

void expect_values(const Tensor& actual, const Shape& shape, const std::vector<double>& expected,
                   double tol = kTol) {
  ASSERT_EQ(actual.shape(), shape);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual.data()[i], expected[i], tol * std::max(1.0, std::abs(expected[i])))
        << "at flat index " << i;
  }
}

Pool2DOptions pool(std::array<int, 2> window, std::array<int, 2> strides, Padding padding) {
  Pool2DOptions o;
  o.window = window;
  o.strides = strides;
  o.padding = padding;
  return o;
}

Tensor iota(const Shape& shape) {
  std::vector<real> v(shape_size(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<real>(i + 1);
  return Tensor::from_vector(shape, v);
}

Tensor random_tensor(const Shape& shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<real> v(shape_size(shape));
  for (real& x : v) x = static_cast<real>(u(rng));
  return Tensor::from_vector(shape, v);
}

// Distinct values 0.1 apart in random order: no ties, and far apart compared with the
// gradient checker's eps, so no perturbation changes an argmax.
Tensor distinct_tensor(const Shape& shape, unsigned seed) {
  std::vector<int> order(shape_size(shape));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<real> v(order.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<real>(0.1 * order[i]);
  return Tensor::from_vector(shape, v);
}

// ---- Direct-loop reference ---------------------------------------------------------------

struct RefPool {
  std::vector<double> max, avg;            // forward values
  std::vector<double> max_grad, avg_grad;  // d Σ(g ⊙ pool(x)) / dx
};

RefPool ref_pool(const Tensor& x, const Tensor& g, const Pool2DOptions& o) {
  const Shape& s = x.shape();
  const std::size_t n_ = s[0], h = s[1], w = s[2], c = s[3];
  const ConvAxis ay = conv_axis("ref", h, o.window[0], o.strides[0], 1, o.padding);
  const ConvAxis ax = conv_axis("ref", w, o.window[1], o.strides[1], 1, o.padding);
  RefPool r;
  r.max_grad.assign(x.size(), 0.0);
  r.avg_grad.assign(x.size(), 0.0);
  for (std::size_t n = 0; n < n_; ++n)
    for (std::size_t oy = 0; oy < ay.out; ++oy)
      for (std::size_t ox = 0; ox < ax.out; ++ox)
        for (std::size_t ch = 0; ch < c; ++ch) {
          double best = -std::numeric_limits<double>::infinity(), total = 0;
          std::size_t arg = 0, count = 0;
          std::vector<std::size_t> members;
          for (int i = 0; i < o.window[0]; ++i)
            for (int j = 0; j < o.window[1]; ++j) {
              const long y = long(oy) * o.strides[0] + i - long(ay.pad_before);
              const long xx = long(ox) * o.strides[1] + j - long(ax.pad_before);
              if (y < 0 || xx < 0 || y >= long(h) || xx >= long(w)) continue;
              const std::size_t idx = ((n * h + std::size_t(y)) * w + std::size_t(xx)) * c + ch;
              const double v = x.data()[idx];
              if (v > best) best = v, arg = idx;
              total += v;
              ++count;
              members.push_back(idx);
            }
          const std::size_t out = ((n * ay.out + oy) * ax.out + ox) * c + ch;
          r.max.push_back(best);
          r.avg.push_back(total / double(count));
          r.max_grad[arg] += g.data()[out];
          for (std::size_t idx : members) r.avg_grad[idx] += g.data()[out] / double(count);
        }
  return r;
}

struct PoolCase {
  const char* name;
  Shape x;
  Pool2DOptions options;
};

// clang-format off
std::vector<PoolCase> reference_cases() {
  return {
      {"valid_2x2_stride_2", {4, 32, 32, 16}, pool({2, 2}, {2, 2}, Padding::Valid)},
      {"same_3x3_stride_2_overlapping", {2, 33, 31, 16}, pool({3, 3}, {2, 2}, Padding::Same)},
      {"same_nonsquare_2x3_stride_1x2", {3, 17, 20, 8}, pool({2, 3}, {1, 2}, Padding::Same)},
      {"valid_stride_larger_than_window", {2, 20, 20, 5}, pool({2, 3}, {3, 4}, Padding::Valid)},
      {"same_2x2_stride_2_odd_sizes", {3, 27, 25, 7}, pool({2, 2}, {2, 2}, Padding::Same)},
      {"same_stride_larger_than_window", {2, 19, 22, 6}, pool({2, 2}, {3, 3}, Padding::Same)},
      {"same_window_larger_than_input", {2, 3, 2, 3}, pool({5, 4}, {1, 1}, Padding::Same)},
      // Windows of more than 256 elements keep 4-byte argmax offsets instead of 1-byte ones.
      {"same_17x17_stride_3_wide_offsets", {2, 40, 37, 4}, pool({17, 17}, {3, 3}, Padding::Same)},
      {"valid_16x17_tiling_wide_offsets", {2, 48, 34, 3}, pool({16, 17}, {16, 17}, Padding::Valid)},
  };
}
// clang-format on

// ---- Hand-computed forward values -----------------------------------------------------------

// 4×4 channel 0 = [[1,5,2,0],[3,4,8,1],[0,2,6,7],[9,1,3,5]], channel 1 = -channel 0.
Tensor two_channel_4x4() {
  const std::vector<real> ch0 = {1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 6, 7, 9, 1, 3, 5};
  std::vector<real> v;
  for (real a : ch0) {
    v.push_back(a);
    v.push_back(-a);
  }
  return Tensor::from_vector({1, 4, 4, 2}, v);
}

TEST(MaxPool2DOp, ValidHandComputed) {
  // 2×2 windows, stride 2: channel 0 maxima {1,5,3,4}→5, {2,0,8,1}→8, {0,2,9,1}→9,
  // {6,7,3,5}→7; channel 1 = -(window minimum): -1, 0, 0, -3.
  expect_values(max_pool2d(two_channel_4x4()), {1, 2, 2, 2}, {5, -1, 8, 0, 9, 0, 7, -3});
}

TEST(AvgPool2DOp, ValidHandComputed) {
  // Channel 0 sums 13, 11, 12, 21 over 4 elements; channel 1 is the negation.
  expect_values(avg_pool2d(two_channel_4x4()), {1, 2, 2, 2},
                {3.25, -3.25, 2.75, -2.75, 3, -3, 5.25, -5.25});
}

TEST(MaxPool2DOp, SameStride2OddSize) {
  // 5×5 with x[y][x] = 5y + x + 1, 3×3 windows, stride 2, same: 1 padded row/column on each
  // side, windows cover rows/columns {0,1}, {1,2,3}, {3,4}; the max is at the window's
  // bottom-right real element: 5·{1,3,4} + {1,3,4} + 1.
  expect_values(max_pool2d(iota({1, 5, 5, 1}), pool({3, 3}, {2, 2}, Padding::Same)), {1, 3, 3, 1},
                {7, 9, 10, 17, 19, 20, 22, 24, 25});
}

TEST(AvgPool2DOp, SameStride2OddSizeCountsOnlyRealElements) {
  // Window sums as in conv2d's same-padding case, [16, 33, 28; 69, 117, 87; 76, 123, 88],
  // divided by the real element counts [4, 6, 4; 6, 9, 6; 4, 6, 4] (not by 9).
  expect_values(avg_pool2d(iota({1, 5, 5, 1}), pool({3, 3}, {2, 2}, Padding::Same)), {1, 3, 3, 1},
                {4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22});
}

// 3×4 = [[1,9,3,4],[5,6,11,8],[2,10,7,12]].
Tensor three_by_four() {
  return Tensor::from_vector({1, 3, 4, 1}, {1, 9, 3, 4, 5, 6, 11, 8, 2, 10, 7, 12});
}

TEST(MaxPool2DOp, NonSquareWindowHandComputed) {
  // window 3×2, strides (1, 2), valid → 1×2: max{1,9,5,6,2,10} = 10, max{3,4,11,8,7,12} = 12.
  expect_values(max_pool2d(three_by_four(), pool({3, 2}, {1, 2}, Padding::Valid)), {1, 1, 2, 1},
                {10, 12});
  // window 2×3, strides (1, 2), same → 3×2. Height: total padding 1 → 0 above, 1 below; rows
  // {0,1}, {1,2}, {2}. Width: out 2, total padding 2·1 + 3 - 4 = 1 → 0 left, 1 right; columns
  // {0,1,2}, {2,3}. Maxima: [11, 11; 11, 12; 10, 12].
  expect_values(max_pool2d(three_by_four(), pool({2, 3}, {1, 2}, Padding::Same)), {1, 3, 2, 1},
                {11, 11, 11, 12, 10, 12});
}

TEST(AvgPool2DOp, NonSquareWindowHandComputed) {
  // valid 3×2 / (1, 2): 33/6, 45/6.
  expect_values(avg_pool2d(three_by_four(), pool({3, 2}, {1, 2}, Padding::Valid)), {1, 1, 2, 1},
                {5.5, 7.5});
  // same 2×3 / (1, 2), windows as in the max test: sums [35, 26; 41, 38; 19, 19] over counts
  // [6, 4; 6, 4; 3, 2].
  expect_values(avg_pool2d(three_by_four(), pool({2, 3}, {1, 2}, Padding::Same)), {1, 3, 2, 1},
                {35.0 / 6, 6.5, 41.0 / 6, 9.5, 19.0 / 3, 9.5});
}

TEST(MaxPool2DOp, SameValuesWithAndWithoutATape) {
  // Outside a tape the forward skips the argmax bookkeeping; the values must not change.
  const Tensor x = random_tensor({2, 9, 7, 3}, 5);
  const Pool2DOptions o = pool({3, 2}, {2, 2}, Padding::Same);
  const std::vector<real> plain = max_pool2d(x, o).to_vector();
  GradientTape tape;
  tape.watch(x);
  EXPECT_EQ(max_pool2d(x, o).to_vector(), plain);
}

// ---- Hand-computed backward values ------------------------------------------------------------

TEST(MaxPool2DOp, GradientGoesToTheArgmax) {
  // Channel 0 of the 4×4 case: maxima 5 at (0,1), 8 at (1,2), 9 at (3,0), 7 at (2,3).
  const Tensor x =
      Tensor::from_vector({1, 4, 4, 1}, {1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 6, 7, 9, 1, 3, 5});
  GradientTape tape;
  tape.watch(x);
  const Tensor dx = tape.gradient(sum(max_pool2d(x)), x)[0];
  expect_values(dx, {1, 4, 4, 1}, {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0});
}

TEST(MaxPool2DOp, TiesGoToTheFirstAndOverlapsAdd) {
  {
    // All equal: the first element of the window (row-major) takes the gradient.
    const Tensor x = Tensor::ones({1, 2, 2, 1});
    GradientTape tape;
    tape.watch(x);
    expect_values(tape.gradient(sum(max_pool2d(x)), x)[0], {1, 2, 2, 1}, {1, 0, 0, 0});
  }
  {
    // The centre of a 3×3 image is the max of all four overlapping 2×2 windows (stride 1), so
    // it receives the sum of their output gradients 1 + 2 + 3 + 4 = 10.
    const Tensor x = Tensor::from_vector({1, 3, 3, 1}, {1, 2, 3, 4, 9, 5, 6, 7, 8});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = max_pool2d(x, pool({2, 2}, {1, 1}, Padding::Valid));
    const Tensor dx = tape.gradient(y, x, Tensor::from_vector({1, 2, 2, 1}, {1, 2, 3, 4}))[0];
    expect_values(dx, {1, 3, 3, 1}, {0, 0, 0, 0, 10, 0, 0, 0, 0});
  }
}

TEST(AvgPool2DOp, GradientSpreadsOverRealElements) {
  // 5×5, 3×3 windows, stride 2, same: window row sets {0,1}, {1,2,3}, {3,4} with sizes 2, 3,
  // 2 (columns alike), so d Σ avg / dx[y][x] = a(y)·a(x) where a(t) sums 1/size over the
  // windows covering t: a = [1/2, 1/2 + 1/3, 1/3, 1/3 + 1/2, 1/2].
  const double a[5] = {0.5, 5.0 / 6, 1.0 / 3, 5.0 / 6, 0.5};
  std::vector<double> expected;
  for (double ay : a)
    for (double ax : a) expected.push_back(ay * ax);
  const Tensor x = iota({1, 5, 5, 1});
  GradientTape tape;
  tape.watch(x);
  const Tensor dx = tape.gradient(sum(avg_pool2d(x, pool({3, 3}, {2, 2}, Padding::Same))), x)[0];
  expect_values(dx, {1, 5, 5, 1}, expected);
}

// ---- Direct-loop reference on larger inputs (the parallel paths) ---------------------------

TEST(Pool2DOps, MatchDirectLoopReference) {
  unsigned seed = 1;
  for (const PoolCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor x = random_tensor(c.x, seed++);
    const Tensor probe = max_pool2d(x, c.options);
    const Tensor g = random_tensor(probe.shape(), seed++);
    const RefPool ref = ref_pool(x, g, c.options);

    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor ymax = max_pool2d(x, c.options);
    const Tensor yavg = avg_pool2d(x, c.options);
    expect_values(ymax, probe.shape(), ref.max);
    expect_values(yavg, probe.shape(), ref.avg, sizeof(real) == 8 ? 1e-12 : 1e-5);
    expect_values(tape.gradient(ymax, x, g)[0], c.x, ref.max_grad);
    expect_values(tape.gradient(yavg, x, g)[0], c.x, ref.avg_grad,
                  sizeof(real) == 8 ? 1e-12 : 1e-5);
  }
}

// ---- Errors ----------------------------------------------------------------------------------

TEST(Pool2DErrors, WrongRank) {
  std::string m = invalid_argument_message([] { max_pool2d(Tensor::ones({2, 3})); });
  EXPECT_THAT(m,
              HasSubstr("max_pool2d: input must be rank 4 [N, H, W, C]; got input.shape=[2, 3]"));
  m = invalid_argument_message([] { avg_pool2d(Tensor::ones({1, 2, 3, 4, 5})); });
  EXPECT_THAT(m, HasSubstr("avg_pool2d: input must be rank 4"));
  EXPECT_THAT(m, HasSubstr("[1, 2, 3, 4, 5]"));
}

TEST(Pool2DErrors, BadWindowOrStrides) {
  const Tensor x = Tensor::ones({1, 4, 4, 1});
  std::string m = invalid_argument_message([&] {
    max_pool2d(x, pool({0, 2}, {2, 2}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("max_pool2d: window must be >= 1; got window=[0, 2]"));
  EXPECT_THAT(m, HasSubstr("[1, 4, 4, 1]"));
  m = invalid_argument_message([&] { avg_pool2d(x, pool({2, 2}, {2, 0}, Padding::Same)); });
  EXPECT_THAT(m, HasSubstr("avg_pool2d: strides must be >= 1; got strides=[2, 0]"));
  EXPECT_THAT(m, HasSubstr("[1, 4, 4, 1]"));
  m = invalid_argument_message([&] { max_pool2d(x, pool({2, 2}, {-1, 1}, Padding::Valid)); });
  EXPECT_THAT(m, HasSubstr("max_pool2d: strides"));
}

TEST(Pool2DErrors, EmptyOutput) {
  // 2×2 image, 3×3 window, valid.
  std::string m = invalid_argument_message([] {
    max_pool2d(Tensor::ones({1, 2, 2, 1}), pool({3, 3}, {1, 1}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("max_pool2d: output would be empty"));
  EXPECT_THAT(m, HasSubstr("[1, 2, 2, 1]"));
  m = invalid_argument_message([] {
    avg_pool2d(Tensor::ones({1, 5, 2, 1}), pool({2, 3}, {1, 1}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("avg_pool2d: output would be empty"));
  EXPECT_THAT(m, HasSubstr("[1, 5, 2, 1]"));
  // No rows at all, even with same padding.
  m = invalid_argument_message([] {
    avg_pool2d(Tensor::ones({1, 0, 3, 1}), pool({2, 2}, {2, 2}, Padding::Same));
  });
  EXPECT_THAT(m, HasSubstr("avg_pool2d: output would be empty"));
  EXPECT_THAT(m, HasSubstr("[1, 0, 3, 1]"));
}

// ---- Gradient checks ---------------------------------------------------------------------

// clang-format off
std::vector<PoolCase> gradient_cases() {
  return {
      {"valid_2x2_stride_2", {2, 4, 6, 2}, pool({2, 2}, {2, 2}, Padding::Valid)},
      {"same_3x3_stride_2_overlapping", {1, 5, 5, 3}, pool({3, 3}, {2, 2}, Padding::Same)},
      {"same_nonsquare_2x3_stride_1x2", {2, 4, 5, 2}, pool({2, 3}, {1, 2}, Padding::Same)},
      {"valid_3x3_stride_1", {1, 5, 4, 2}, pool({3, 3}, {1, 1}, Padding::Valid)},
      // 289- and 272-element windows: 4-byte argmax offsets, overlapping and tiling.
      {"same_17x17_stride_4x3_wide_offsets", {1, 18, 17, 2}, pool({17, 17}, {4, 3}, Padding::Same)},
      {"valid_16x17_tiling_wide_offsets", {1, 32, 17, 1}, pool({16, 17}, {16, 17}, Padding::Valid)},
  };
}
// clang-format on

TEST(MaxPool2DGradient, MatchesNumeric) {
  unsigned seed = 10;
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const GradientCheckResult r =
        check_gradients([o](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); },
                        {distinct_tensor(c.x, seed++)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(AvgPool2DGradient, MatchesNumeric) {
  unsigned seed = 20;
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const GradientCheckResult r =
        check_gradients([o](const std::vector<Tensor>& in) { return avg_pool2d(in[0], o); },
                        {random_tensor(c.x, seed++)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

// d/dx Σ w ⊙ pool(x), as a function of w: the pooling backward applied to w. Its own
// gradient (checked numerically) is the backward's backward: the gather at the argmax
// positions for max_pool2d, avg_pool2d itself for avg_pool2d.
TEST(MaxPool2DGradient, BackwardIsDifferentiable) {
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const Tensor x = distinct_tensor(c.x, 30);
    const Tensor w0 = random_tensor(max_pool2d(x, o).shape(), 31);
    const GradientCheckResult r = check_gradients(
        [x, o](const std::vector<Tensor>& in) {
          GradientTape tape;
          tape.watch(x);
          return tape.gradient(sum(mul(max_pool2d(x, o), in[0])), x)[0];
        },
        {w0});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(MaxPool2DGradient, BackwardOfBackwardIsDifferentiable) {
  // f(v) = d/dw <v, d/dx Σ w ⊙ max_pool2d(x)> = the gather of v at the argmaxes. The checker
  // differentiates that gather, whose backward is the scatter again.
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const Tensor x = distinct_tensor(c.x, 40);
    const Tensor w = random_tensor(max_pool2d(x, o).shape(), 41);
    const GradientCheckResult r = check_gradients(
        [x, w, o](const std::vector<Tensor>& in) {
          GradientTape outer;
          outer.watch(w);
          Tensor dx;
          {
            GradientTape inner;
            inner.watch(x);
            dx = inner.gradient(sum(mul(max_pool2d(x, o), w)), x)[0];
          }
          return outer.gradient(sum(mul(dx, in[0])), w)[0];
        },
        {random_tensor(c.x, 42)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(AvgPool2DGradient, BackwardIsDifferentiable) {
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const Tensor x = random_tensor(c.x, 50);
    const Tensor w0 = random_tensor(avg_pool2d(x, o).shape(), 51);
    const GradientCheckResult r = check_gradients(
        [x, o](const std::vector<Tensor>& in) {
          GradientTape tape;
          tape.watch(x);
          return tape.gradient(sum(mul(avg_pool2d(x, o), in[0])), x)[0];
        },
        {w0});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(AvgPool2DGradient, BackwardOfBackwardIsDifferentiable) {
  for (const PoolCase& c : gradient_cases()) {
    SCOPED_TRACE(c.name);
    const Pool2DOptions o = c.options;
    const Tensor x = random_tensor(c.x, 60);
    const Tensor w = random_tensor(avg_pool2d(x, o).shape(), 61);
    const GradientCheckResult r = check_gradients(
        [x, w, o](const std::vector<Tensor>& in) {
          GradientTape outer;
          outer.watch(w);
          Tensor dx;
          {
            GradientTape inner;
            inner.watch(x);
            dx = inner.gradient(sum(mul(avg_pool2d(x, o), w)), x)[0];
          }
          return outer.gradient(sum(mul(dx, in[0])), w)[0];
        },
        {random_tensor(c.x, 62)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

}  // namespace
}  // namespace xgrad
