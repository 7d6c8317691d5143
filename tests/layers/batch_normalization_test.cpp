// BatchNormalization: per-channel normalisation in training, the Keras moving-average update
// (hand-checked), inference from the moving statistics, trainable vs non-trainable weights,
// gradient checks through the batch statistics, errors.

#include "layers/batch_normalization.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "autograd/gradient_tape.h"
#include "autograd/ops/reduce.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::names;
using testing::tensor_near;

// Channel 0 = 1, 2, 3, 4 (mean 2.5, biased variance 1.25);
// channel 1 = 2, 2, 4, 4 (mean 3, biased variance 1).
Tensor two_channels() { return Tensor{{1, 2}, {2, 2}, {3, 4}, {4, 4}}; }

TEST(BatchNormalizationLayer, WeightsAndShapes) {
  BatchNormalization bn;
  const Tensor y = bn(Tensor::ones({2, 5, 5, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 5, 5, 3}));
  EXPECT_THAT(
      names(bn.variables()),
      ElementsAre("batch_normalization/gamma", "batch_normalization/beta",
                  "batch_normalization/moving_mean", "batch_normalization/moving_variance"));
  EXPECT_THAT(names(bn.trainable_variables()),
              ElementsAre("batch_normalization/gamma", "batch_normalization/beta"));
  EXPECT_THAT(
      names(bn.non_trainable_variables()),
      ElementsAre("batch_normalization/moving_mean", "batch_normalization/moving_variance"));
  EXPECT_EQ(bn.count_params(), 4u * 3u);
  // Keras initial values: gamma 1, beta 0, moving mean 0, moving variance 1.
  EXPECT_TRUE(tensor_near(bn.gamma().peek(), {3}, {1, 1, 1}));
  EXPECT_TRUE(tensor_near(bn.beta().peek(), {3}, {0, 0, 0}));
  EXPECT_TRUE(tensor_near(bn.moving_mean().peek(), {3}, {0, 0, 0}));
  EXPECT_TRUE(tensor_near(bn.moving_variance().peek(), {3}, {1, 1, 1}));
}

TEST(BatchNormalizationLayer, WithoutCenterAndScaleOnlyMovingStatistics) {
  BatchNormalization bn({.center = false, .scale = false});
  bn(Tensor::ones({2, 4}));
  EXPECT_THAT(names(bn.variables()), ElementsAre("batch_normalization/moving_mean",
                                                 "batch_normalization/moving_variance"));
  EXPECT_TRUE(bn.trainable_variables().empty());
  // (x - 0)/√(1 + eps) at inference.
  BatchNormalizationOptions o{.epsilon = real(0.25), .center = false, .scale = false};
  BatchNormalization plain(o);
  EXPECT_TRUE(
      tensor_near(plain(Tensor{{1, -2}}), {1, 2}, {1 / std::sqrt(1.25), -2 / std::sqrt(1.25)}));
}

// y = (x - mean)/√(var + eps), eps = 1e-3, with the batch's statistics.
TEST(BatchNormalizationLayer, TrainingForwardByHand) {
  BatchNormalization bn;
  const double s0 = std::sqrt(1.25 + 1e-3), s1 = std::sqrt(1.0 + 1e-3);
  EXPECT_TRUE(
      tensor_near(bn(two_channels(), true), {4, 2},
                  {-1.5 / s0, -1 / s1, -0.5 / s0, -1 / s1, 0.5 / s0, 1 / s1, 1.5 / s0, 1 / s1}));
}

TEST(BatchNormalizationLayer, TrainingAppliesGammaAndBeta) {
  BatchNormalization bn;
  bn(two_channels());
  bn.gamma().assign(Tensor{2, 0.5});
  bn.beta().assign(Tensor{1, -1});
  const double s0 = std::sqrt(1.25 + 1e-3), s1 = std::sqrt(1.0 + 1e-3);
  EXPECT_TRUE(tensor_near(bn(two_channels(), true), {4, 2},
                          {1 - 3 / s0, -1 - 0.5 / s1, 1 - 1 / s0, -1 - 0.5 / s1,  //
                           1 + 1 / s0, -1 + 0.5 / s1, 1 + 3 / s0, -1 + 0.5 / s1}));
}

// Keras: moving = moving·momentum + batch·(1 - momentum), batch variance biased.
// momentum 0.99, from mean 0 / variance 1:
//   mean     = 0·0.99 + [2.5, 3]·0.01    = [0.025, 0.03]
//   variance = 1·0.99 + [1.25, 1]·0.01   = [1.0025, 1.0]
TEST(BatchNormalizationLayer, MovingStatisticsFollowTheKerasFormula) {
  BatchNormalization bn;
  bn(two_channels());  // builds; inference does not touch the moving statistics
  const Tensor mean_before = bn.moving_mean().peek();
  bn(two_channels(), true);
  EXPECT_TRUE(tensor_near(bn.moving_mean().peek(), {2}, {0.025, 0.03}));
  EXPECT_TRUE(tensor_near(bn.moving_variance().peek(), {2}, {1.0025, 1.0}));
  // A value read before the update keeps its value.
  EXPECT_TRUE(tensor_near(mean_before, {2}, {0, 0}));
}

// momentum 0.5, two steps (the second batch is 2x: means [5, 6], variances [5, 4]):
//   step 1: mean [1.25, 1.5],   variance [1.125, 1.0]
//   step 2: mean [3.125, 3.75], variance [3.0625, 2.5]
TEST(BatchNormalizationLayer, MovingStatisticsTwoSteps) {
  BatchNormalization bn({.momentum = real(0.5)});
  bn(two_channels(), true);
  EXPECT_TRUE(tensor_near(bn.moving_mean().peek(), {2}, {1.25, 1.5}));
  EXPECT_TRUE(tensor_near(bn.moving_variance().peek(), {2}, {1.125, 1.0}));
  bn(two_channels() * Tensor(real(2)), true);
  EXPECT_TRUE(tensor_near(bn.moving_mean().peek(), {2}, {3.125, 3.75}));
  EXPECT_TRUE(tensor_near(bn.moving_variance().peek(), {2}, {3.0625, 2.5}));
}

// Moving mean [1, -1], moving variance [4, 1] - eps (so √(var + eps) = [2, 1]),
// gamma [2, 3], beta [0.5, -0.5]; x = [[5, 1], [1, -1]]:
//   [5, 1]  → [(5 - 1)/2·2 + 0.5, (1 + 1)/1·3 - 0.5] = [4.5, 5.5]
//   [1, -1] → [0·2 + 0.5, 0·3 - 0.5]                  = [0.5, -0.5]
TEST(BatchNormalizationLayer, InferenceUsesTheMovingStatistics) {
  BatchNormalization bn;
  const Tensor x{{5, 1}, {1, -1}};
  bn(x);
  bn.moving_mean().assign(Tensor{1, -1});
  bn.moving_variance().assign(Tensor{real(4 - 1e-3), real(1 - 1e-3)});
  bn.gamma().assign(Tensor{2, 3});
  bn.beta().assign(Tensor{0.5, -0.5});
  EXPECT_TRUE(tensor_near(bn(x), {2, 2}, {4.5, 5.5, 0.5, -0.5}));
  // Inference leaves the moving statistics alone.
  EXPECT_TRUE(tensor_near(bn.moving_mean().peek(), {2}, {1, -1}));
  EXPECT_TRUE(tensor_near(bn.moving_variance().peek(), {2}, {4 - 1e-3, 1 - 1e-3}, 1e-6));
}

// Rank 4, channels with very different scales and offsets: after training-mode BN each channel
// has mean 0 and variance var/(var + eps) ≈ 1 over N, H, W.
TEST(BatchNormalizationLayer, TrainingNormalisesEachChannel) {
  const Shape shape{4, 3, 3, 2};
  const Tensor u = xgrad::testing::uniform(shape, -1, 1, 12);
  std::vector<real> v(u.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = i % 2 == 0 ? u.flat(i) * real(3) + real(5) : u.flat(i) * real(0.5) - real(2);
  }
  const Tensor x = Tensor::from_vector(shape, v);
  BatchNormalization bn;
  const Tensor y = bn(x, true);
  for (std::size_t c = 0; c < 2; ++c) {
    double mx = 0, my = 0;
    const double n = static_cast<double>(x.size() / 2);
    for (std::size_t i = c; i < x.size(); i += 2) mx += x.flat(i) / n, my += y.flat(i) / n;
    double vx = 0, vy = 0;
    for (std::size_t i = c; i < x.size(); i += 2) {
      vx += (x.flat(i) - mx) * (x.flat(i) - mx) / n;
      vy += (y.flat(i) - my) * (y.flat(i) - my) / n;
    }
    SCOPED_TRACE("channel " + std::to_string(c));
    EXPECT_NEAR(my, 0.0, 1e-5);
    EXPECT_NEAR(vy, vx / (vx + 1e-3), 1e-4);
    EXPECT_NEAR(vy, 1.0, 0.02);
  }
}

TEST(BatchNormalizationLayer, GradientsMatchNumericInTraining) {
  // Through the batch mean and variance: input, gamma and beta.
  BatchNormalization bn;
  const Tensor x = xgrad::testing::uniform({6, 3}, -2, 2, 31);
  bn(x);
  bn.gamma().assign(xgrad::testing::uniform({3}, 0.5, 2, 32));
  bn.beta().assign(xgrad::testing::uniform({3}, -1, 1, 33));
  EXPECT_TRUE(testing::check_layer_gradients(bn, x, {.training = true}));
}

TEST(BatchNormalizationLayer, GradientsMatchNumericInTrainingRank4) {
  BatchNormalization bn({.momentum = real(0.9)});
  const Tensor x = xgrad::testing::uniform({3, 2, 2, 2}, -1, 3, 34);
  bn(x);
  bn.gamma().assign(xgrad::testing::uniform({2}, 0.5, 2, 35));
  bn.beta().assign(xgrad::testing::uniform({2}, -1, 1, 36));
  EXPECT_TRUE(testing::check_layer_gradients(bn, x, {.training = true}));
}

// The input's gradient in training sums to zero over the batch per channel (the mean is
// subtracted), unlike at inference: a check that the statistics are on the tape.
TEST(BatchNormalizationLayer, TrainingGradientFlowsThroughTheStatistics) {
  BatchNormalization bn;
  const Tensor x = xgrad::testing::uniform({5, 2}, -1, 1, 37);
  GradientTape tape;
  tape.watch(x);
  const Tensor y = bn(x, true);
  const Tensor g = tape.gradient(sum(y * Tensor{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}}), x)[0];
  for (std::size_t c = 0; c < 2; ++c) {
    double total = 0, magnitude = 0;
    for (std::size_t i = c; i < g.size(); i += 2)
      total += g.flat(i), magnitude += std::abs(g.flat(i));
    EXPECT_NEAR(total, 0.0, 1e-4);
    EXPECT_GT(magnitude, 0.1);
  }
}

TEST(BatchNormalizationLayer, GradientsMatchNumericAtInference) {
  BatchNormalization bn;
  const Tensor x = xgrad::testing::uniform({4, 3}, -1, 1, 38);
  bn(x);
  bn.moving_mean().assign(Tensor{0.5, -0.5, 0.1});
  bn.moving_variance().assign(Tensor{2, 0.5, 1.5});
  bn.gamma().assign(Tensor{1.5, 0.5, -1});
  EXPECT_TRUE(testing::check_layer_gradients(bn, x));
}

TEST(BatchNormalizationLayer, TrainingOnOneValuePerChannelThrows) {
  BatchNormalization bn;
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(bn, Tensor::ones({1, 3}),
                                                          {"batch_normalization", "[1, 3]"},
                                                          /*training=*/true));
  // Inference on one sample is fine; so is training over several pixels of one image.
  EXPECT_NO_THROW(bn(Tensor::ones({1, 3})));
  BatchNormalization images;
  EXPECT_NO_THROW(images(Tensor::ones({1, 2, 2, 3}), true));
}

TEST(BatchNormalizationLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  BatchNormalization bn;
  testing::expect_shape_errors(bn, {4, 3}, {4, 2}, {4, 3, 1});
  BatchNormalization rank1;
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(rank1, Tensor{1, 2},
                                                          {"batch_normalization", "[2]"}));
}

TEST(BatchNormalizationLayer, InvalidOptionsThrow) {
  EXPECT_THROW(BatchNormalization({.momentum = real(1.5)}), std::invalid_argument);
  EXPECT_THROW(BatchNormalization({.momentum = real(-0.1)}), std::invalid_argument);
  try {
    BatchNormalization bn({.epsilon = 0});
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("epsilon"));
  }
}

}  // namespace
}  // namespace xgrad::layers
