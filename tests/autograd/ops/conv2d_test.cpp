// Tests of conv2d, conv2d_backprop_input and conv2d_backprop_filter: hand-computed forward
// values, TensorFlow's padding arithmetic, a direct-loop reference on assorted geometries,
// chunked im2col against unchunked, errors, and first and second derivatives.

#include "autograd/ops/conv2d.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "tests/support/expect.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;

// Relative tolerance of value comparisons against exact or double-precision references.
constexpr double kTol = sizeof(real) == 8 ? 1e-10 : 1e-5;

void expect_values(const Tensor& actual, const Shape& shape, const std::vector<double>& expected,
                   double tol = kTol) {
  ASSERT_EQ(actual.shape(), shape);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual.data()[i], expected[i], tol * std::max(1.0, std::abs(expected[i])))
        << "at flat index " << i;
  }
}

std::vector<double> as_double(const Tensor& t) {
  return std::vector<double>(t.data(), t.data() + t.size());
}

Tensor iota(const Shape& shape, real start = 1) {
  std::vector<real> v(shape_size(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<real>(i);
  return Tensor::from_vector(shape, v);
}

Tensor random_tensor(const Shape& shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<real> v(shape_size(shape));
  for (real& x : v) x = static_cast<real>(u(rng));
  return Tensor::from_vector(shape, v);
}

Conv2DOptions opts(std::array<int, 2> strides, std::array<int, 2> dilations, Padding padding) {
  Conv2DOptions o;
  o.strides = strides;
  o.dilations = dilations;
  o.padding = padding;
  return o;
}

// ---- Direct-loop reference (double accumulation), independent of im2col and GEMM ----------

struct RefGeometry {
  std::size_t n, h, w, c, kh, kw, o, oh, ow;
  long sh, sw, dh, dw, pt, pl;
};

RefGeometry ref_geometry(const Shape& x, const Shape& k, const Conv2DOptions& opt) {
  const ConvAxis ay = conv_axis("ref", x[1], k[0], opt.strides[0], opt.dilations[0], opt.padding);
  const ConvAxis ax = conv_axis("ref", x[2], k[1], opt.strides[1], opt.dilations[1], opt.padding);
  RefGeometry g;
  g.n = x[0], g.h = x[1], g.w = x[2], g.c = x[3];
  g.kh = k[0], g.kw = k[1], g.o = k[3];
  g.oh = ay.out, g.ow = ax.out;
  g.sh = opt.strides[0], g.sw = opt.strides[1], g.dh = opt.dilations[0], g.dw = opt.dilations[1];
  g.pt = static_cast<long>(ay.pad_before), g.pl = static_cast<long>(ax.pad_before);
  return g;
}

// Calls f(x_index, k_index, out_index) for every in-image (input, kernel, output) triple.
template <class F>
void for_each_tap(const RefGeometry& g, F f) {
  for (std::size_t n = 0; n < g.n; ++n)
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox)
        for (std::size_t i = 0; i < g.kh; ++i)
          for (std::size_t j = 0; j < g.kw; ++j) {
            const long y = static_cast<long>(oy) * g.sh + static_cast<long>(i) * g.dh - g.pt;
            const long x = static_cast<long>(ox) * g.sw + static_cast<long>(j) * g.dw - g.pl;
            if (y < 0 || x < 0 || y >= static_cast<long>(g.h) || x >= static_cast<long>(g.w)) {
              continue;
            }
            const std::size_t pixel =
                (n * g.h + static_cast<std::size_t>(y)) * g.w + static_cast<std::size_t>(x);
            for (std::size_t c = 0; c < g.c; ++c)
              for (std::size_t o = 0; o < g.o; ++o)
                f(pixel * g.c + c, ((i * g.kw + j) * g.c + c) * g.o + o,
                  ((n * g.oh + oy) * g.ow + ox) * g.o + o);
          }
}

std::vector<double> ref_conv2d(const Tensor& x, const Tensor& k, const Conv2DOptions& opt) {
  const RefGeometry g = ref_geometry(x.shape(), k.shape(), opt);
  std::vector<double> out(g.n * g.oh * g.ow * g.o, 0.0);
  for_each_tap(g, [&](std::size_t xi, std::size_t ki, std::size_t oi) {
    out[oi] += double(x.data()[xi]) * double(k.data()[ki]);
  });
  return out;
}

std::vector<double> ref_backprop_input(const Tensor& gy, const Tensor& k, const Shape& xs,
                                       const Conv2DOptions& opt) {
  const RefGeometry g = ref_geometry(xs, k.shape(), opt);
  std::vector<double> dx(shape_size(xs), 0.0);
  for_each_tap(g, [&](std::size_t xi, std::size_t ki, std::size_t oi) {
    dx[xi] += double(gy.data()[oi]) * double(k.data()[ki]);
  });
  return dx;
}

std::vector<double> ref_backprop_filter(const Tensor& x, const Tensor& gy, const Shape& ks,
                                        const Conv2DOptions& opt) {
  const RefGeometry g = ref_geometry(x.shape(), ks, opt);
  std::vector<double> dk(shape_size(ks), 0.0);
  for_each_tap(g, [&](std::size_t xi, std::size_t ki, std::size_t oi) {
    dk[ki] += double(x.data()[xi]) * double(gy.data()[oi]);
  });
  return dk;
}

struct ConvCase {
  const char* name;
  Shape x, k;
  Conv2DOptions options;
};

// clang-format off
std::vector<ConvCase> reference_cases() {
  return {
      {"same_stride_2x1", {2, 7, 6, 3}, {3, 2, 3, 4}, opts({2, 1}, {1, 1}, Padding::Same)},
      {"valid_s2x3_d2x1", {1, 8, 9, 2}, {3, 3, 2, 3}, opts({2, 3}, {2, 1}, Padding::Valid)},
      {"same_dilation_2", {2, 6, 5, 2}, {2, 3, 2, 2}, opts({1, 1}, {2, 2}, Padding::Same)},
      {"pointwise", {3, 4, 4, 5}, {1, 1, 5, 3}, opts({1, 1}, {1, 1}, Padding::Valid)},
      {"pointwise_same", {1, 3, 5, 2}, {1, 1, 2, 2}, opts({1, 1}, {3, 3}, Padding::Same)},
      {"1x1_stride_2_same", {2, 5, 5, 3}, {1, 1, 3, 2}, opts({2, 2}, {1, 1}, Padding::Same)},
      {"kernel_over_input", {1, 3, 3, 2}, {5, 5, 2, 2}, opts({1, 1}, {1, 1}, Padding::Same)},
      {"same_s3x2_d1x2", {1, 6, 7, 1}, {3, 3, 1, 1}, opts({3, 2}, {1, 2}, Padding::Same)},
      {"stride_over_kernel", {2, 7, 8, 2}, {2, 2, 2, 3}, opts({3, 4}, {1, 1}, Padding::Valid)},
      // Window rows longer than im2col's element-by-element limit (KW·C > 16): run copies.
      {"same_long_rows", {2, 9, 8, 8}, {3, 3, 8, 4}, opts({1, 1}, {1, 1}, Padding::Same)},
      {"valid_s2_long_rows", {1, 11, 10, 6}, {3, 4, 6, 5}, opts({2, 2}, {1, 1}, Padding::Valid)},
  };
}
// clang-format on

// ---- conv_axis: TensorFlow's arithmetic ------------------------------------------------

TEST(Conv2DAxis, FollowsTensorFlowArithmetic) {
  // same: out = ceil(in / s); total = max((out-1)·s + (k-1)·d + 1 - in, 0); before = total/2.
  auto same = [](std::size_t in, std::size_t k, int s, int d) {
    return conv_axis("t", in, k, s, d, Padding::Same);
  };
  auto valid = [](std::size_t in, std::size_t k, int s, int d) {
    return conv_axis("t", in, k, s, d, Padding::Valid);
  };
  // 5, k3, s2: out 3, total (2·2 + 3 - 5) = 2 → 1 before, 1 after.
  EXPECT_EQ(same(5, 3, 2, 1).out, 3u);
  EXPECT_EQ(same(5, 3, 2, 1).pad_before, 1u);
  // 4, k3, s2: out 2, total (1·2 + 3 - 4) = 1 → 0 before, 1 after.
  EXPECT_EQ(same(4, 3, 2, 1).out, 2u);
  EXPECT_EQ(same(4, 3, 2, 1).pad_before, 0u);
  // 6, k1, s4: out 2, total max(4 + 1 - 6, 0) = 0.
  EXPECT_EQ(same(6, 1, 4, 1).out, 2u);
  EXPECT_EQ(same(6, 1, 4, 1).pad_before, 0u);
  // 5, k3, d2 (effective 5), s1: out 5, total 4 → 2 before.
  EXPECT_EQ(same(5, 3, 1, 2).out, 5u);
  EXPECT_EQ(same(5, 3, 1, 2).pad_before, 2u);
  // valid: out = ceil((in - (k-1)·d) / s).
  EXPECT_EQ(valid(5, 3, 1, 2).out, 1u);  // ceil(1/1)
  EXPECT_EQ(valid(7, 3, 2, 1).out, 3u);  // ceil(5/2)
  EXPECT_EQ(valid(8, 3, 2, 1).out, 3u);  // ceil(6/2)
  EXPECT_EQ(valid(7, 3, 2, 1).pad_before, 0u);
  EXPECT_THAT(invalid_argument_message([&] { valid(4, 3, 1, 2); }), HasSubstr("empty"));
  EXPECT_THAT(invalid_argument_message([&] { same(4, 3, 0, 1); }), HasSubstr("stride"));
}

// ---- Hand-computed forward values ------------------------------------------------------

TEST(Conv2DOp, ValidForwardHandComputed) {
  // input 3×3 = [[1,2,3],[4,5,6],[7,8,9]], kernel 2×2 = [[1,2],[3,4]]:
  //   out[0,0] = 1·1 + 2·2 + 4·3 + 5·4 = 37   out[0,1] = 2 + 6 + 15 + 24 = 47
  //   out[1,0] = 4 + 10 + 21 + 32 = 67       out[1,1] = 5 + 12 + 24 + 36 = 77
  const Tensor x = iota({1, 3, 3, 1});
  const Tensor k = Tensor::from_vector({2, 2, 1, 1}, {1, 2, 3, 4});
  expect_values(conv2d(x, k), {1, 2, 2, 1}, {37, 47, 67, 77});
}

TEST(Conv2DOp, SameStride2OddSizePadsOneEachSide) {
  // input 5×5 with x[y][x] = 5y + x + 1, kernel 3×3 of ones, stride 2, same: out 3×3 and
  // 1 padded row/column before and after, so windows cover rows (and columns) {0,1},
  // {1,2,3}, {3,4}. Each output is the sum of the real elements in its window:
  //   [ 1+2+6+7,          2+3+4+7+8+9,          4+5+9+10         ]   [ 16,  33,  28]
  //   [ 6+7+11+12+16+17,  7+8+9+12+…+19,        9+10+14+15+19+20 ] = [ 69, 117,  87]
  //   [ 16+17+21+22,      17+18+19+22+23+24,    19+20+24+25      ]   [ 76, 123,  88]
  const Tensor x = iota({1, 5, 5, 1});
  const Tensor k = Tensor::ones({3, 3, 1, 1});
  expect_values(conv2d(x, k, opts({2, 2}, {1, 1}, Padding::Same)), {1, 3, 3, 1},
                {16, 33, 28, 69, 117, 87, 76, 123, 88});
}

TEST(Conv2DOp, SameStride2EvenSizePadsOnlyAfter) {
  // input 4×4 = 1..16, kernel 3×3, stride 2, same: out 2×2, total padding 1 → 0 before,
  // 1 after. Output channel 0 has only the top-left tap set, so it reads x[2oy, 2ox]
  // = 1, 3, 9, 11 (with 1 padded row before it would read 0 at [0,0]). Channel 1 has only
  // the bottom-right tap, x[2oy+2, 2ox+2]: x[2,2] = 11, then the padded row/column → 0.
  const Tensor x = iota({1, 4, 4, 1});
  std::vector<real> kv(18, 0);
  kv[0] = 1;                    // k[0, 0, 0, 0]
  kv[(2 * 3 + 2) * 2 + 1] = 1;  // k[2, 2, 0, 1]
  const Tensor k = Tensor::from_vector({3, 3, 1, 2}, kv);
  expect_values(conv2d(x, k, opts({2, 2}, {1, 1}, Padding::Same)), {1, 2, 2, 2},
                {1, 11, 3, 0, 9, 0, 11, 0});
}

TEST(Conv2DOp, Dilation2HandComputed) {
  // input 5×5 with v = x[y][x] = 5y + x + 1, kernel [[1,2],[3,4]] dilated by 2 (effective
  // 3×3), valid: out[y][x] = v + 2(v+2) + 3(v+10) + 4(v+12) = 10v + 82.
  const Tensor x = iota({1, 5, 5, 1});
  const Tensor k = Tensor::from_vector({2, 2, 1, 1}, {1, 2, 3, 4});
  expect_values(conv2d(x, k, opts({1, 1}, {2, 2}, Padding::Valid)), {1, 3, 3, 1},
                {92, 102, 112, 142, 152, 162, 192, 202, 212});
}

TEST(Conv2DOp, NonSquareMultiChannelBatchHandComputed) {
  // input [2, 2, 3, 2] (batch 2, 2×3 images, 2 channels), kernel [1, 2, 2, 3] (1×2 window,
  // 2 in, 3 out channels) with
  //   out0 = x[y, x, 0]
  //   out1 = x[y, x+1, 0] + x[y, x+1, 1]
  //   out2 = x[y, x, 0] - x[y, x+1, 0] + 2·x[y, x, 1]
  // image 0: ch0 [[1,2,3],[4,5,6]], ch1 [[1,0,1],[0,1,0]]
  // image 1: ch0 [[0,1,0],[1,0,1]], ch1 [[2,2,2],[3,3,3]]
  const Tensor x = Tensor::from_vector({2, 2, 3, 2}, {1, 1, 2, 0, 3, 1, 4, 0, 5, 1, 6, 0,  //
                                                      0, 2, 1, 2, 0, 2, 1, 3, 0, 3, 1, 3});
  // HWIO, flat index (j·2 + c)·3 + o.
  const Tensor k = Tensor::from_vector({1, 2, 2, 3}, {1, 0, 1, 0, 0, 2, 0, 1, -1, 0, 1, 0});
  expect_values(conv2d(x, k), {2, 2, 2, 3}, {1, 2, 1, 2, 4, -1, 4, 6, -1, 5, 6, 1,  //
                                             0, 3, 3, 1, 2, 5,  1, 3, 7,  0, 4, 5});
}

TEST(Conv2DOp, PointwiseHandComputed) {
  // 1×1 kernel at stride 1 skips im2col: out[o] = Σ_c x[c]·k[c, o] with k = [[1,2],[3,4]].
  // Pixels (1,2) (0,1) (-1,0) (2,2) → (7,10) (3,4) (-1,-2) (8,12).
  const Tensor x = Tensor::from_vector({1, 2, 2, 2}, {1, 2, 0, 1, -1, 0, 2, 2});
  const Tensor k = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_values(conv2d(x, k), {1, 2, 2, 2}, {7, 10, 3, 4, -1, -2, 8, 12});
}

TEST(Conv2DOp, MatchesDirectLoopReference) {
  unsigned seed = 1;
  for (const ConvCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor x = random_tensor(c.x, seed++);
    const Tensor k = random_tensor(c.k, seed++);
    const Tensor y = conv2d(x, k, c.options);
    const RefGeometry g = ref_geometry(c.x, c.k, c.options);
    expect_values(y, {g.n, g.oh, g.ow, g.o}, ref_conv2d(x, k, c.options));
  }
}

TEST(FusedConv2D, EqualsConv2DPlusBiasThenRelu) {
  unsigned seed = 100;
  for (const ConvCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor x = random_tensor(c.x, seed++);
    const Tensor k = random_tensor(c.k, seed++);
    const Tensor b = random_tensor({c.k[3]}, seed++);
    const Tensor z = add(conv2d(x, k, c.options), b);
    const Tensor relu_fused = fused_conv2d(x, k, b, c.options, FusedActivation::Relu);
    const Tensor linear_fused = fused_conv2d(x, k, b, c.options, FusedActivation::Linear);
    const Tensor no_bias = fused_conv2d(x, k, Tensor(), c.options, FusedActivation::Relu);
    const std::vector<real> zr = relu(z).to_vector(), zl = z.to_vector(),
                            nb = relu(conv2d(x, k, c.options)).to_vector();
    ASSERT_EQ(relu_fused.shape(), z.shape());
    for (std::size_t i = 0; i < zl.size(); ++i) {
      EXPECT_NEAR(relu_fused.data()[i], zr[i], kTol * std::max<double>(1, std::abs(zr[i])));
      EXPECT_NEAR(linear_fused.data()[i], zl[i], kTol * std::max<double>(1, std::abs(zl[i])));
      EXPECT_NEAR(no_bias.data()[i], nb[i], kTol * std::max<double>(1, std::abs(nb[i])));
    }
  }
}

TEST(FusedConv2D, GradientsEqualTheComposedOps) {
  const Tensor x = random_tensor({2, 7, 6, 3}, 1), k = random_tensor({3, 3, 3, 4}, 2),
               b = random_tensor({4}, 3), w = random_tensor({2, 5, 4, 4}, 4);
  std::vector<Tensor> fused, composed;
  {
    GradientTape tape;
    for (const Tensor& t : {x, k, b}) tape.watch(t);
    fused = tape.gradient(sum(mul(fused_conv2d(x, k, b, {}, FusedActivation::Relu), w)), {x, k, b});
  }
  {
    GradientTape tape;
    for (const Tensor& t : {x, k, b}) tape.watch(t);
    composed = tape.gradient(sum(mul(relu(add(conv2d(x, k), b)), w)), {x, k, b});
  }
  for (std::size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(fused[i].shape(), composed[i].shape());
    for (std::size_t e = 0; e < fused[i].size(); ++e) {
      EXPECT_NEAR(fused[i].data()[e], composed[i].data()[e],
                  kTol * std::max<double>(1, std::abs(composed[i].data()[e])));
    }
  }
}

// With no tape recording the backward, fused_conv2d runs one chunked pass (relu mask, bias
// sum and both GEMM gradients per chunk) instead of the composed ops: it must give the
// composed ops' gradients for every geometry, activation, bias or none, and any subset of
// needed gradients — including inputs split into several chunks ("many_chunks": 4 images of
// 64×64×8, a 3×3×8×16 kernel: col and gz rows of 62·(72 + 16) floats, 96 rows per 2 MiB chunk
// against 248 rows).
TEST(FusedConv2D, UnrecordedBackwardEqualsTheComposedOps) {
  std::vector<ConvCase> cases = reference_cases();
  cases.push_back({"many_chunks", {4, 64, 64, 8}, {3, 3, 8, 16}, opts({1, 1}, {1, 1}, Padding::Valid)});
  unsigned seed = 200;
  for (const ConvCase& c : cases) {
    const Tensor x = random_tensor(c.x, seed++), k = random_tensor(c.k, seed++),
                 b = random_tensor({c.k[3]}, seed++);
    const Tensor w = random_tensor(conv2d(x, k, c.options).shape(), seed++);
    for (const FusedActivation act : {FusedActivation::Relu, FusedActivation::Linear}) {
      for (const bool with_bias : {true, false}) {
        for (const bool watch_x : {true, false}) {
          SCOPED_TRACE(std::string(c.name) + (act == FusedActivation::Relu ? " relu" : " linear") +
                       (with_bias ? " bias" : "") + (watch_x ? " dx" : ""));
          std::vector<Tensor> sources{k};
          if (with_bias) sources.push_back(b);
          if (watch_x) sources.push_back(x);
          std::vector<Tensor> fused, composed;
          {
            GradientTape tape;
            for (const Tensor& t : sources) tape.watch(t);
            const Tensor y = fused_conv2d(x, k, with_bias ? b : Tensor(), c.options, act);
            fused = tape.gradient(sum(mul(y, w)), sources);
          }
          {
            GradientTape tape;
            for (const Tensor& t : sources) tape.watch(t);
            Tensor z = conv2d(x, k, c.options);
            if (with_bias) z = add(z, b);
            if (act == FusedActivation::Relu) z = relu(z);
            composed = tape.gradient(sum(mul(z, w)), sources);
          }
          ASSERT_EQ(fused.size(), composed.size());
          for (std::size_t i = 0; i < fused.size(); ++i) {
            SCOPED_TRACE(i);
            ASSERT_EQ(fused[i].shape(), composed[i].shape());
            double scale = 1;  // sums over many terms: compare relative to the largest
            for (std::size_t e = 0; e < composed[i].size(); ++e) {
              scale = std::max<double>(scale, std::abs(composed[i].data()[e]));
            }
            for (std::size_t e = 0; e < fused[i].size(); ++e) {
              ASSERT_NEAR(fused[i].data()[e], composed[i].data()[e], kTol * scale) << "element " << e;
            }
          }
        }
      }
    }
  }
}

TEST(FusedConv2D, BiasOfTheWrongShapeNamesBothShapes) {
  const Tensor x = Tensor::zeros({1, 4, 4, 2}), k = Tensor::zeros({3, 3, 2, 5});
  try {
    fused_conv2d(x, k, Tensor::zeros({4}));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("fused_conv2d"));
    EXPECT_THAT(e.what(), HasSubstr("bias.shape=[4]"));
    EXPECT_THAT(e.what(), HasSubstr("kernel.shape=[3, 3, 2, 5]"));
  }
}

// ---- The backprop ops ------------------------------------------------------------------

TEST(Conv2DBackpropOps, HandComputed) {
  // input 3×3 = [[1,2,3],[4,5,6],[7,8,9]], kernel [[1,2],[3,4]], valid, grad_output = ones.
  // d kernel[i, j] = Σ over the 4 windows of x[oy+i, ox+j]:
  //   [1+2+4+5, 2+3+5+6; 4+5+7+8, 5+6+8+9] = [12, 16; 24, 28]
  // d input[y, x] = Σ over windows covering (y, x) of k[y-oy, x-ox]:
  //   [1, 1+2, 2; 1+3, 1+2+3+4, 2+4; 3, 3+4, 4] = [1, 3, 2; 4, 10, 6; 3, 7, 4]
  const Tensor x = iota({1, 3, 3, 1});
  const Tensor k = Tensor::from_vector({2, 2, 1, 1}, {1, 2, 3, 4});
  const Tensor g = Tensor::ones({1, 2, 2, 1});
  expect_values(conv2d_backprop_filter(x, g, {2, 2, 1, 1}), {2, 2, 1, 1}, {12, 16, 24, 28});
  expect_values(conv2d_backprop_input(g, k, {1, 3, 3, 1}), {1, 3, 3, 1},
                {1, 3, 2, 4, 10, 6, 3, 7, 4});
}

TEST(Conv2DBackpropOps, MatchDirectLoopReference) {
  unsigned seed = 100;
  for (const ConvCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const RefGeometry g = ref_geometry(c.x, c.k, c.options);
    const Shape ys{g.n, g.oh, g.ow, g.o};
    const Tensor x = random_tensor(c.x, seed++);
    const Tensor k = random_tensor(c.k, seed++);
    const Tensor gy = random_tensor(ys, seed++);
    expect_values(conv2d_backprop_input(gy, k, c.x, c.options), c.x,
                  ref_backprop_input(gy, k, c.x, c.options));
    expect_values(conv2d_backprop_filter(x, gy, c.k, c.options), c.k,
                  ref_backprop_filter(x, gy, c.k, c.options));
  }
}

TEST(Conv2DBackpropOps, EqualTapeGradientsOfConv2D) {
  for (const ConvCase& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor x = random_tensor(c.x, 7);
    const Tensor k = random_tensor(c.k, 8);
    GradientTape tape;
    tape.watch(x);
    tape.watch(k);
    const Tensor y = conv2d(x, k, c.options);
    const Tensor r = random_tensor(y.shape(), 9);
    const std::vector<Tensor> grads = tape.gradient(sum(mul(y, r)), {x, k});
    expect_values(grads[0], c.x, as_double(conv2d_backprop_input(r, k, c.x, c.options)));
    expect_values(grads[1], c.k, as_double(conv2d_backprop_filter(x, r, c.k, c.options)));
  }
}

TEST(Conv2DBackpropOps, KernelGradientAloneWhenInputIsNotWatched) {
  // A first layer: only the kernel is watched, so conv2d's backward skips the input
  // gradient and the tape returns none for the input.
  const Tensor x = random_tensor({2, 5, 5, 2}, 1);
  const Tensor k = random_tensor({3, 3, 2, 3}, 2);
  GradientTape tape;
  tape.watch(k);
  const Tensor y = conv2d(x, k, opts({1, 1}, {1, 1}, Padding::Same));
  const Tensor r = random_tensor(y.shape(), 3);
  const std::vector<Tensor> grads = tape.gradient(sum(mul(y, r)), {k, x});
  expect_values(
      grads[0], k.shape(),
      as_double(conv2d_backprop_filter(x, r, k.shape(), opts({1, 1}, {1, 1}, Padding::Same))));
  EXPECT_FALSE(grads[1].defined());
}

TEST(Conv2DBackpropOps, ChunkedIm2colMatchesPerImage) {
  // Big enough that the col matrix (8 · 64·64 rows × 3·3·32 taps) exceeds the 32 MB
  // workspace: the batch is processed in several chunks whose boundaries fall inside an
  // image. Each single image fits in one chunk, so per-image results are the reference.
  const Shape xs{8, 64, 64, 32}, ks{3, 3, 32, 16};
  const Conv2DOptions o = opts({1, 1}, {1, 1}, Padding::Same);
  const Tensor x = random_tensor(xs, 11);
  const Tensor k = random_tensor(ks, 12);
  const Tensor y = conv2d(x, k, o);
  const Tensor gy = random_tensor(y.shape(), 13);
  const Tensor dx = conv2d_backprop_input(gy, k, xs, o);
  const Tensor dk = conv2d_backprop_filter(x, gy, ks, o);

  const Shape xs1{1, 64, 64, 32}, ys1{1, 64, 64, 16};
  std::vector<double> dk_sum(shape_size(ks), 0.0);
  const double tol = sizeof(real) == 8 ? 1e-9 : 2e-4;
  for (std::size_t n = 0; n < xs[0]; ++n) {
    SCOPED_TRACE("image " + std::to_string(n));
    const std::int64_t b = static_cast<std::int64_t>(n);
    const Tensor xn = slice(x, {b, 0, 0, 0}, {1, -1, -1, -1});
    const Tensor gn = slice(gy, {b, 0, 0, 0}, {1, -1, -1, -1});
    const std::vector<real> yn = conv2d(xn, k, o).to_vector();
    const std::vector<real> dxn = conv2d_backprop_input(gn, k, xs1, o).to_vector();
    const std::vector<real> dkn = conv2d_backprop_filter(xn, gn, ks, o).to_vector();
    for (std::size_t i = 0; i < dkn.size(); ++i) dk_sum[i] += dkn[i];
    const std::vector<real> y_part = slice(y, {b, 0, 0, 0}, {1, -1, -1, -1}).to_vector();
    const std::vector<real> dx_part = slice(dx, {b, 0, 0, 0}, {1, -1, -1, -1}).to_vector();
    ASSERT_EQ(y_part.size(), yn.size());
    for (std::size_t i = 0; i < yn.size(); ++i) ASSERT_NEAR(y_part[i], yn[i], tol) << i;
    for (std::size_t i = 0; i < dxn.size(); ++i) ASSERT_NEAR(dx_part[i], dxn[i], tol) << i;
  }
  // Sums over 8·4096 products of magnitude < 1: compare relative to their size.
  expect_values(dk, ks, dk_sum, sizeof(real) == 8 ? 1e-9 : 1e-3);
}

TEST(Conv2DBackpropOps, DeterministicForAThreadCount) {
  const Shape xs{2, 9, 9, 4}, ks{3, 3, 4, 5};
  const Conv2DOptions o = opts({2, 1}, {1, 2}, Padding::Same);
  const Tensor k = random_tensor(ks, 1);
  const Tensor x = random_tensor(xs, 2);
  const Tensor gy = random_tensor(conv2d(x, k, o).shape(), 3);
  const std::vector<real> a = conv2d_backprop_input(gy, k, xs, o).to_vector();
  const std::vector<real> b = conv2d_backprop_input(gy, k, xs, o).to_vector();
  EXPECT_EQ(a, b);
}

// ---- Errors ------------------------------------------------------------------------------

TEST(Conv2DErrors, WrongRanks) {
  const Tensor k = Tensor::ones({3, 3, 1, 1});
  std::string m = invalid_argument_message([&] { conv2d(Tensor::ones({2, 3}), k); });
  EXPECT_THAT(m, HasSubstr("conv2d"));
  EXPECT_THAT(m, HasSubstr("input must be rank 4 [N, H, W, C]; got input.shape=[2, 3]"));
  m = invalid_argument_message([&] {
    conv2d(Tensor::ones({1, 5, 5, 1}), Tensor::ones({3, 3, 1}));
  });
  EXPECT_THAT(m, HasSubstr("conv2d: kernel must be rank 4"));
  EXPECT_THAT(m, HasSubstr("[3, 3, 1]"));

  m = invalid_argument_message([&] {
    conv2d_backprop_input(Tensor::ones({2, 3}), k, {1, 3, 3, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input"));
  EXPECT_THAT(m, HasSubstr("[2, 3]"));
  m = invalid_argument_message([&] {
    conv2d_backprop_input(Tensor::ones({1, 1, 1, 1}), k, {3, 3, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input: input_shape must be rank 4"));
  EXPECT_THAT(m, HasSubstr("input_shape=[3, 3, 1]"));

  m = invalid_argument_message([&] {
    conv2d_backprop_filter(Tensor::ones({5, 5}), Tensor::ones({1, 3, 3, 1}), {3, 3, 1, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_filter"));
  EXPECT_THAT(m, HasSubstr("[5, 5]"));
  m = invalid_argument_message([&] {
    conv2d_backprop_filter(Tensor::ones({1, 5, 5, 1}), Tensor::ones({1, 3, 3, 1}), {3, 3});
  });
  EXPECT_THAT(m, HasSubstr("kernel_shape must be rank 4"));
  EXPECT_THAT(m, HasSubstr("kernel_shape=[3, 3]"));
}

TEST(Conv2DErrors, ChannelMismatchNamesBothShapes) {
  std::string m = invalid_argument_message([] {
    conv2d(Tensor::ones({1, 5, 5, 3}), Tensor::ones({3, 3, 2, 4}));
  });
  EXPECT_THAT(m, HasSubstr("conv2d"));
  EXPECT_THAT(m, HasSubstr("channels"));
  EXPECT_THAT(m, HasSubstr("input.shape=[1, 5, 5, 3]"));
  EXPECT_THAT(m, HasSubstr("kernel.shape=[3, 3, 2, 4]"));

  m = invalid_argument_message([] {
    conv2d_backprop_input(Tensor::ones({1, 3, 3, 4}), Tensor::ones({3, 3, 2, 4}), {1, 5, 5, 3});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input"));
  EXPECT_THAT(m, HasSubstr("[3, 3, 2, 4]"));
  EXPECT_THAT(m, HasSubstr("[1, 5, 5, 3]"));

  m = invalid_argument_message([] {
    conv2d_backprop_filter(Tensor::ones({1, 5, 5, 3}), Tensor::ones({1, 3, 3, 4}), {3, 3, 2, 4});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_filter"));
  EXPECT_THAT(m, HasSubstr("[1, 5, 5, 3]"));
  EXPECT_THAT(m, HasSubstr("[3, 3, 2, 4]"));
}

TEST(Conv2DErrors, GradOutputOfTheWrongShape) {
  // input 5×5, kernel 3×3, valid → grad_output must be [1, 3, 3, 2].
  std::string m = invalid_argument_message([] {
    conv2d_backprop_input(Tensor::ones({1, 4, 3, 2}), Tensor::ones({3, 3, 1, 2}), {1, 5, 5, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input"));
  EXPECT_THAT(m, HasSubstr("[1, 3, 3, 2]"));
  EXPECT_THAT(m, HasSubstr("grad_output.shape=[1, 4, 3, 2]"));
  m = invalid_argument_message([] {
    conv2d_backprop_filter(Tensor::ones({1, 5, 5, 1}), Tensor::ones({1, 3, 3, 5}), {3, 3, 1, 2});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_filter"));
  EXPECT_THAT(m, HasSubstr("grad_output.shape=[1, 3, 3, 5]"));
}

TEST(Conv2DErrors, BadStridesAndDilations) {
  const Tensor x = Tensor::ones({1, 5, 5, 1});
  const Tensor k = Tensor::ones({3, 3, 1, 1});
  std::string m = invalid_argument_message([&] {
    conv2d(x, k, opts({0, 1}, {1, 1}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("conv2d: strides must be >= 1; got strides=[0, 1]"));
  EXPECT_THAT(m, HasSubstr("input.shape=[1, 5, 5, 1]"));
  m = invalid_argument_message([&] { conv2d(x, k, opts({1, 1}, {1, -2}, Padding::Same)); });
  EXPECT_THAT(m, HasSubstr("conv2d: dilations must be >= 1; got dilations=[1, -2]"));
  m = invalid_argument_message([&] {
    conv2d_backprop_input(Tensor::ones({1, 3, 3, 1}), k, {1, 5, 5, 1},
                          opts({1, 0}, {1, 1}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input: strides"));
  m = invalid_argument_message([&] {
    conv2d_backprop_filter(x, Tensor::ones({1, 3, 3, 1}), {3, 3, 1, 1},
                           opts({1, 1}, {0, 0}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_filter: dilations"));
}

TEST(Conv2DErrors, EmptyOutput) {
  // 2×2 input, 3×3 kernel, valid: nothing fits.
  std::string m = invalid_argument_message([] {
    conv2d(Tensor::ones({1, 2, 2, 1}), Tensor::ones({3, 3, 1, 1}));
  });
  EXPECT_THAT(m, HasSubstr("conv2d: output would be empty"));
  EXPECT_THAT(m, HasSubstr("[1, 2, 2, 1]"));
  EXPECT_THAT(m, HasSubstr("[3, 3, 1, 1]"));
  // 5 wide, 3 wide kernel dilated by 3 (effective 7).
  m = invalid_argument_message([] {
    conv2d(Tensor::ones({1, 9, 5, 1}), Tensor::ones({3, 3, 1, 1}),
           opts({1, 1}, {1, 3}, Padding::Valid));
  });
  EXPECT_THAT(m, HasSubstr("empty"));
  EXPECT_THAT(m, HasSubstr("width 5 < dilated kernel width 7"));
  // A zero-width image is empty even with same padding.
  m = invalid_argument_message([] {
    conv2d(Tensor::ones({1, 3, 0, 1}), Tensor::ones({1, 1, 1, 1}),
           opts({1, 1}, {1, 1}, Padding::Same));
  });
  EXPECT_THAT(m, HasSubstr("empty"));
  EXPECT_THAT(m, HasSubstr("[1, 3, 0, 1]"));
  m = invalid_argument_message([] {
    conv2d_backprop_input(Tensor::ones({1, 1, 1, 1}), Tensor::ones({3, 3, 1, 1}), {1, 2, 2, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_input: output would be empty"));
  m = invalid_argument_message([] {
    conv2d_backprop_filter(Tensor::ones({1, 2, 2, 1}), Tensor::ones({1, 1, 1, 1}), {3, 3, 1, 1});
  });
  EXPECT_THAT(m, HasSubstr("conv2d_backprop_filter: output would be empty"));
  // A kernel with a zero extent.
  m = invalid_argument_message([] {
    conv2d(Tensor::ones({1, 3, 3, 1}), Tensor::ones({0, 3, 1, 1}));
  });
  EXPECT_THAT(m, HasSubstr("kernel extents must be >= 1"));
  EXPECT_THAT(m, HasSubstr("[0, 3, 1, 1]"));
}

// ---- Gradient checks ---------------------------------------------------------------------

TEST(Conv2DGradient, InputAndKernelMatchNumeric) {
  // clang-format off
  const std::vector<ConvCase> cases = {
      {"valid", {2, 5, 4, 2}, {3, 2, 2, 3}, opts({1, 1}, {1, 1}, Padding::Valid)},
      {"same_s2x1_nonsq", {1, 5, 6, 3}, {3, 2, 3, 2}, opts({2, 1}, {1, 1}, Padding::Same)},
      {"valid_s1x2_d2x1", {2, 6, 5, 2}, {2, 3, 2, 2}, opts({1, 2}, {2, 1}, Padding::Valid)},
      {"same_s2_d2", {1, 6, 6, 2}, {3, 3, 2, 2}, opts({2, 2}, {2, 2}, Padding::Same)},
      {"pointwise", {2, 3, 3, 3}, {1, 1, 3, 2}, opts({1, 1}, {1, 1}, Padding::Same)},
  };
  // clang-format on
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Conv2DOptions o = c.options;
    const GradientCheckResult r =
        check_gradients([o](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], o); },
                        {random_tensor(c.x, 21), random_tensor(c.k, 22)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(Conv2DGradient, BackpropInputMatchesNumeric) {
  const Shape xs{2, 5, 6, 2}, ks{3, 2, 2, 3};
  const Conv2DOptions o = opts({2, 2}, {1, 2}, Padding::Same);
  const Tensor y = conv2d(Tensor::zeros(xs), Tensor::zeros(ks), o);
  const GradientCheckResult r = check_gradients(
      [&](const std::vector<Tensor>& in) { return conv2d_backprop_input(in[0], in[1], xs, o); },
      {random_tensor(y.shape(), 31), random_tensor(ks, 32)});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Conv2DGradient, BackpropFilterMatchesNumeric) {
  const Shape xs{2, 6, 5, 2}, ks{2, 3, 2, 2};
  const Conv2DOptions o = opts({1, 2}, {2, 1}, Padding::Same);
  const Tensor y = conv2d(Tensor::zeros(xs), Tensor::zeros(ks), o);
  const GradientCheckResult r = check_gradients(
      [&](const std::vector<Tensor>& in) { return conv2d_backprop_filter(in[0], in[1], ks, o); },
      {random_tensor(xs, 41), random_tensor(y.shape(), 42)});
  EXPECT_TRUE(r.ok) << r.message;
}

// Second derivatives: the function under check runs its own tape and returns a gradient;
// the checker's outer tape records that inner gradient computation (conv2d's backward,
// made of conv2d_backprop_input/_filter) and differentiates it.
TEST(Conv2DGradient, SecondDerivativesByNestedTapes) {
  // clang-format off
  const std::vector<ConvCase> cases = {
      {"same_stride_2x1", {1, 5, 4, 2}, {3, 2, 2, 2}, opts({2, 1}, {1, 1}, Padding::Same)},
      {"valid_dilation_2", {2, 5, 5, 1}, {2, 2, 1, 2}, opts({1, 1}, {2, 2}, Padding::Valid)},
  };
  // clang-format on
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Conv2DOptions o = c.options;
    for (int which = 0; which < 2; ++which) {
      SCOPED_TRACE(which == 0 ? "d/dinput" : "d/dkernel");
      // f(x, k) = Σ conv2d(x, k)²; return ∂f/∂x or ∂f/∂k, both of which depend on x and k.
      auto grad_of_f = [o, which](const std::vector<Tensor>& in) {
        GradientTape tape;
        tape.watch(in[0]);
        tape.watch(in[1]);
        const Tensor f = sum(square(conv2d(in[0], in[1], o)));
        return tape.gradient(f, {in[0], in[1]})[static_cast<std::size_t>(which)];
      };
      const GradientCheckResult r =
          check_gradients(grad_of_f, {random_tensor(c.x, 51), random_tensor(c.k, 52)});
      EXPECT_TRUE(r.ok) << r.message;
    }
  }
}

}  // namespace
}  // namespace xgrad
