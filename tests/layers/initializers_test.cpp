// Initializers: reproducible with set_random_seed, Glorot uniform bounds and variance, He
// normal standard deviation and ±2σ truncation (Keras's), compute_fans for [in, out] and HWIO,
// constants.

#include "layers/initializers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "layers/conv2d.h"
#include "layers/dense.h"
#include "tests/layers/layer_gradcheck.h"

namespace xgrad::layers {
namespace {

// A bound as the scalar type rounds it: values drawn below `limit` in double may round up to
// it (never past it) when stored as float.
double rounded(double limit) { return static_cast<double>(static_cast<real>(limit)); }

struct Moments {
  double mean = 0, std = 0, max_abs = 0;
};

Moments moments(const Tensor& t) {
  Moments m;
  const double n = static_cast<double>(t.size());
  for (real v : t.to_vector()) m.mean += v / n;
  for (real v : t.to_vector()) {
    m.std += (v - m.mean) * (v - m.mean) / n;
    m.max_abs = std::max(m.max_abs, std::abs(static_cast<double>(v)));
  }
  m.std = std::sqrt(m.std);
  return m;
}

TEST(Initializers, ComputeFans) {
  EXPECT_EQ(compute_fans({3, 4}), (std::pair<double, double>{3, 4}));
  // HWIO [kh, kw, in, out]: receptive field kh·kw times in / out.
  EXPECT_EQ(compute_fans({3, 3, 16, 32}), (std::pair<double, double>{144, 288}));
  EXPECT_EQ(compute_fans({5, 1, 2, 7}), (std::pair<double, double>{10, 35}));
  EXPECT_EQ(compute_fans({6}), (std::pair<double, double>{6, 6}));
  EXPECT_EQ(compute_fans({}), (std::pair<double, double>{1, 1}));
}

TEST(Initializers, SameSeedSameWeights) {
  set_random_seed(123);
  const Tensor a = (*glorot_uniform())({4, 5});
  const Tensor b = (*he_normal())({3, 3, 2, 4});
  set_random_seed(123);
  EXPECT_EQ(a.to_vector(), (*glorot_uniform())({4, 5}).to_vector());
  EXPECT_EQ(b.to_vector(), (*he_normal())({3, 3, 2, 4}).to_vector());
  set_random_seed(124);
  EXPECT_NE(a.to_vector(), (*glorot_uniform())({4, 5}).to_vector());
}

TEST(Initializers, SameSeedSameLayers) {
  auto kernels = [](std::uint64_t seed) {
    set_random_seed(seed);
    Dense dense(3);
    Conv2D conv(2, {3, 3});
    dense(Tensor::ones({1, 4}));
    conv(Tensor::ones({1, 5, 5, 2}));
    std::vector<real> v = dense.kernel().peek().to_vector();
    for (real k : conv.kernel().peek().to_vector()) v.push_back(k);
    return v;
  };
  EXPECT_EQ(kernels(99), kernels(99));
  EXPECT_NE(kernels(99), kernels(100));
}

// U(-l, l), l = √(6/(fan_in + fan_out)): variance l²/3 = 2/(fan_in + fan_out). Over 60 000
// samples the sample standard deviation is within ~0.2% (1σ) of that; bounds are 3%.
TEST(Initializers, GlorotUniformBoundsAndVariance) {
  set_random_seed(1);
  const Tensor w = (*glorot_uniform())({200, 300});
  const double limit = std::sqrt(6.0 / 500.0);
  const Moments m = moments(w);
  EXPECT_LE(m.max_abs, rounded(limit));
  EXPECT_GT(m.max_abs, 0.99 * limit);
  EXPECT_NEAR(m.mean, 0.0, 3 * std::sqrt(2.0 / 500 / 60000) + 1e-7);
  EXPECT_NEAR(m.std, std::sqrt(2.0 / 500), 0.03 * std::sqrt(2.0 / 500));
}

TEST(Initializers, GlorotUniformUsesConvolutionFans) {
  set_random_seed(2);
  const Tensor w = (*glorot_uniform())({3, 3, 16, 32});
  const double limit = std::sqrt(6.0 / (144 + 288));
  const Moments m = moments(w);
  EXPECT_LE(m.max_abs, rounded(limit));
  EXPECT_GT(m.max_abs, 0.99 * limit);
}

// Keras HeNormal: a normal with σ = √(2/fan_in)/0.8796 truncated at ±2σ, whose standard
// deviation is then √(2/fan_in). So every |w| ≤ 2·√(2/fan_in)/0.8796, and some exceed
// 2·√(2/fan_in) (they would not if the truncation used the final standard deviation).
TEST(Initializers, HeNormalStdAndTruncation) {
  set_random_seed(3);
  const Tensor w = (*he_normal())({400, 200});
  const double target = std::sqrt(2.0 / 400);
  const double sigma = target / 0.87962566103423978;
  const Moments m = moments(w);
  EXPECT_NEAR(m.std, target, 0.03 * target);
  EXPECT_NEAR(m.mean, 0.0, 3 * target / std::sqrt(80000.0));
  EXPECT_LE(m.max_abs, rounded(2 * sigma));
  EXPECT_GT(m.max_abs, 2 * target);
}

TEST(Initializers, HeNormalUsesConvolutionFanIn) {
  set_random_seed(4);
  const Tensor w = (*he_normal())({3, 3, 64, 32});  // fan_in 576
  const double target = std::sqrt(2.0 / 576);
  EXPECT_NEAR(moments(w).std, target, 0.05 * target);
}

TEST(Initializers, Constants) {
  EXPECT_TRUE(testing::tensor_near((*zeros())({2, 2}), {2, 2}, {0, 0, 0, 0}));
  EXPECT_TRUE(testing::tensor_near((*ones())({3}), {3}, {1, 1, 1}));
  EXPECT_TRUE(testing::tensor_near((*constant(real(-2.5)))({1, 2}), {1, 2}, {-2.5, -2.5}));
  EXPECT_EQ(zeros()->name(), "zeros");
  EXPECT_EQ(ones()->name(), "ones");
  EXPECT_EQ(constant(real(3))->name(), "constant");
  EXPECT_EQ(glorot_uniform()->name(), "glorot_uniform");
  EXPECT_EQ(he_normal()->name(), "he_normal");
}

}  // namespace
}  // namespace xgrad::layers
