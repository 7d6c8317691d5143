// Siamese losses: values by hand, gradient checks (away from the hinge/margin kinks), the
// collapse of the euclidean loss, and the argument errors.

#include "siamese/losses.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "layers/dense.h"
#include "layers/initializers.h"
#include "siamese/siamese_network.h"
#include "tests/support/expect.h"
#include "tests/support/random.h"

namespace xgrad::siamese {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;

// Float builds compute in float: hand values agree to a few ulps of the inputs.
constexpr double kTol = sizeof(real) == 8 ? 1e-12 : 1e-6;

// ---------------------------------------------------------------------------------------------
// Values by hand.

// d = [0.5, 2.0, 0.3], y = [1, 0, 0], margin 1:
//   ½·0.5² = 0.125;  ½·max(0, 1 - 2)² = 0;  ½·(1 - 0.3)² = 0.245  → mean 0.37 / 3.
TEST(LossesContrastive, ValueByHand) {
  const Tensor loss = contrastive_loss(Tensor{0.5, 2.0, 0.3}, Tensor{1, 0, 0}, 1);
  EXPECT_EQ(loss.rank(), 0u);
  EXPECT_NEAR(loss.item(), (0.125 + 0 + 0.245) / 3, kTol);
}

// A larger margin reaches the far impostor: margin 2.5 → ½·0.5² for d = 2, ½·2.2² for d = 0.3.
TEST(LossesContrastive, MarginPushesImpostorsUntilTheyAreThatFar) {
  const Tensor loss = contrastive_loss(Tensor{0.5, 2.0, 0.3}, Tensor{1, 0, 0}, real(2.5));
  EXPECT_NEAR(loss.item(), (0.125 + 0.125 + 0.5 * 2.2 * 2.2) / 3, 4 * kTol);
  // Genuine pairs at distance 0 and impostors beyond the margin cost nothing.
  EXPECT_EQ(contrastive_loss(Tensor{0, 3, 1}, Tensor{1, 0, 0}, 1).item(), 0);
}

// The gradient by hand: dL/dd_i = (y_i·d_i - (1 - y_i)·max(0, m - d_i)) / N.
TEST(LossesContrastive, GradientByHand) {
  const Tensor d{0.5, 2.0, 0.3};
  GradientTape tape;
  tape.watch(d);
  const Tensor g = tape.gradient(contrastive_loss(d, Tensor{1, 0, 0}, 1), d)[0];
  const std::vector<real> v = g.to_vector();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_NEAR(v[0], 0.5 / 3, kTol);
  EXPECT_NEAR(v[1], 0.0, kTol);
  EXPECT_NEAR(v[2], -0.7 / 3, kTol);
}

// A positive margin 0.2 stops pulling genuine pairs once they are within 0.2:
// d = [0.5, 0.1, 2.0, 0.3], y = [1, 1, 0, 0], margin 1: ½·(0.5 - 0.2)² = 0.045, 0 (inside the
// positive margin), 0, ½·0.7² = 0.245 → mean 0.29 / 4; the gradient (y·max(0, d - 0.2) -
// (1 - y)·max(0, 1 - d)) / 4 = [0.3, 0, 0, -0.7] / 4.
TEST(LossesContrastive, PositiveMarginStopsPullingCloseGenuinePairs) {
  const Tensor d{0.5, 0.1, 2.0, 0.3};
  GradientTape tape;
  tape.watch(d);
  const Tensor loss = contrastive_loss(d, Tensor{1, 1, 0, 0}, 1, real(0.2));
  EXPECT_NEAR(loss.item(), 0.29 / 4, kTol);
  const std::vector<real> g = tape.gradient(loss, d)[0].to_vector();
  ASSERT_EQ(g.size(), 4u);
  EXPECT_NEAR(g[0], 0.3 / 4, kTol);
  EXPECT_EQ(g[1], 0);
  EXPECT_EQ(g[2], 0);
  EXPECT_NEAR(g[3], -0.7 / 4, kTol);
  // positive_margin 0 is Hadsell et al.'s loss exactly.
  EXPECT_EQ(contrastive_loss(d, Tensor{1, 1, 0, 0}, 1, 0).item(),
            contrastive_loss(d, Tensor{1, 1, 0, 0}, 1).item());
}

// mean(y·d²) with y = [1, 0, 1]: (0.25 + 0.09) / 3; impostor pairs do not count at all.
TEST(LossesEuclidean, ValueByHand) {
  const Tensor loss = euclidean_loss(Tensor{0.5, 2.0, 0.3}, Tensor{1, 0, 1});
  EXPECT_EQ(loss.rank(), 0u);
  EXPECT_NEAR(loss.item(), (0.25 + 0.09) / 3, kTol);
  EXPECT_EQ(euclidean_loss(Tensor{0.5, 2.0, 0.3}, Tensor{0, 0, 0}).item(), 0);
}

// dp = [0.5, 1, 2], dn = [1, 0.5, 1], margin 1: 0.25 - 1 + 1, 1 - 0.25 + 1, 4 - 1 + 1 → mean 2;
// a negative far enough away costs nothing.
TEST(LossesTriplet, ValueByHand) {
  const Tensor loss = triplet_loss(Tensor{0.5, 1.0, 2.0}, Tensor{1.0, 0.5, 1.0}, 1);
  EXPECT_EQ(loss.rank(), 0u);
  EXPECT_NEAR(loss.item(), (0.25 + 1.75 + 4.0) / 3, 4 * kTol);
  EXPECT_EQ(triplet_loss(Tensor{0.5}, Tensor{2.0}, 1).item(), 0);
  // margin 0.5: 0.25 - 1 + 0.5 < 0 → 0; 1 - 0.25 + 0.5 = 1.25; 4 - 1 + 0.5 = 3.5.
  EXPECT_NEAR(triplet_loss(Tensor{0.5, 1.0, 2.0}, Tensor{1.0, 0.5, 1.0}, real(0.5)).item(),
              (0 + 1.25 + 3.5) / 3, 4 * kTol);
}

// ---------------------------------------------------------------------------------------------
// Gradient checks at the build's default tolerances.

// Distances at least 0.2 from the margin 1, so no finite difference crosses the kink of
// max(0, m - d) (whose square is C¹ anyway, but not C²).
TEST(LossesContrastive, GradientMatchesNumeric) {
  const Tensor same{1, 0, 0, 1, 0, 1};
  for (real margin : {real(1), real(2.5)}) {
    const GradientCheckResult r = check_gradients(
        [&](const std::vector<Tensor>& in) { return contrastive_loss(in[0], same, margin); },
        {Tensor{0.3, 1.7, 0.5, 2.2, 0.8, 1.4}});
    EXPECT_TRUE(r.ok) << "margin " << margin << ": " << r.message;
  }
  // Positive margin 0.25: genuine distances at least 0.05 from it, on both sides.
  const GradientCheckResult r = check_gradients(
      [&](const std::vector<Tensor>& in) { return contrastive_loss(in[0], same, 1, real(0.25)); },
      {Tensor{0.4, 1.7, 0.5, 0.1, 0.8, 1.4}});
  EXPECT_TRUE(r.ok) << "positive margin 0.25: " << r.message;
}

TEST(LossesEuclidean, GradientMatchesNumeric) {
  const Tensor same{1, 0, 1, 1, 0};
  const GradientCheckResult r =
      check_gradients([&](const std::vector<Tensor>& in) { return euclidean_loss(in[0], same); },
                      {Tensor{0.3, 1.7, 0.5, 2.2, 0.8}});
  EXPECT_TRUE(r.ok) << r.message;
}

// dp² - dn² + 1 = 0.25, 1.8, -1.16, 2.89: every triplet is at least 0.25 from the hinge.
TEST(LossesTriplet, GradientMatchesNumeric) {
  const GradientCheckResult r =
      check_gradients([](const std::vector<Tensor>& in) { return triplet_loss(in[0], in[1], 1); },
                      {Tensor{0.5, 1.2, 0.3, 1.5}, Tensor{1.0, 0.8, 1.5, 0.6}});
  EXPECT_TRUE(r.ok) << r.message;
}

// ---------------------------------------------------------------------------------------------
// The euclidean loss alone collapses: a tower mapping every input to one point (a Dense layer
// with a zero kernel: the output is its bias) has loss 0 (up to the distance floor
// √1e-12 = 1e-6) whatever the labels, while the contrastive loss charges every impostor pair
// ½·margin² for it.
TEST(LossesEuclidean, ConstantEmbeddingIsAMinimumCollapse) {
  auto tower = std::make_shared<layers::Dense>(
      4, layers::DenseOptions{.kernel_initializer = layers::zeros(),
                              .bias_initializer = layers::constant(real(0.7))});
  SiameseNetwork net(tower);
  const Tensor first = xgrad::testing::uniform({6, 5}, -1, 1, 11);
  const Tensor second = xgrad::testing::uniform({6, 5}, -1, 1, 12);
  const Tensor same{1, 0, 1, 0, 0, 1};
  GradientTape tape;
  const Tensor d = net.pair_distance(first, second, /*training=*/true);
  const Tensor loss = euclidean_loss(d, same);
  EXPECT_NEAR(loss.item(), 0, 1e-10);
  // A minimum: the gradient w.r.t. every weight is (finite and) zero.
  const std::vector<Tensor> grads =
      tape.gradient(loss, net.trainable_variables(), Tensor(), Unconnected::Zero);
  for (const Tensor& g : grads) {
    for (real v : g.to_vector()) EXPECT_EQ(v, 0);
  }
  // Three impostor pairs of six at distance ~0: contrastive = 3·½·1² / 6.
  EXPECT_NEAR(contrastive_loss(d, same, 1).item(), 0.25, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Errors name the loss and print the shapes or the value.

TEST(LossesContrastive, ShapeErrorsNameTheLossAndShapes) {
  std::string msg = invalid_argument_message([] {
    contrastive_loss(Tensor{1, 2, 3}, Tensor{1, 0});
  });
  EXPECT_THAT(msg, HasSubstr("contrastive_loss"));
  EXPECT_THAT(msg, HasSubstr("distance.shape=[3]"));
  EXPECT_THAT(msg, HasSubstr("same.shape=[2]"));
  msg = invalid_argument_message([] { contrastive_loss(Tensor{{1, 2}, {3, 4}}, Tensor{1, 0}); });
  EXPECT_THAT(msg, HasSubstr("[2, 2]"));
  msg = invalid_argument_message([] { contrastive_loss(Tensor::zeros({0}), Tensor::zeros({0})); });
  EXPECT_THAT(msg, HasSubstr("[0]"));
  msg = invalid_argument_message([] { contrastive_loss(Tensor(), Tensor{1}); });
  EXPECT_THAT(msg, HasSubstr("contrastive_loss"));
}

TEST(LossesContrastive, MarginMustBePositive) {
  for (real m : {real(0), real(-1), std::numeric_limits<real>::quiet_NaN(),
                 std::numeric_limits<real>::infinity()}) {
    const std::string msg = invalid_argument_message([&] {
      contrastive_loss(Tensor{1, 2}, Tensor{1, 0}, m);
    });
    EXPECT_THAT(msg, HasSubstr("contrastive_loss: margin"));
  }
  EXPECT_THAT(invalid_argument_message([] { triplet_loss(Tensor{1}, Tensor{2}, 0); }),
              HasSubstr("triplet_loss: margin"));
}

TEST(LossesContrastive, PositiveMarginMustBeBelowTheMargin) {
  for (real pm : {real(-0.1), real(0.5), real(0.7), std::numeric_limits<real>::quiet_NaN(),
                  std::numeric_limits<real>::infinity()}) {
    const std::string msg = invalid_argument_message([&] {
      contrastive_loss(Tensor{1, 2}, Tensor{1, 0}, real(0.5), pm);
    });
    EXPECT_THAT(msg, HasSubstr("contrastive_loss: positive_margin must be finite and in [0, margin)"));
    EXPECT_THAT(msg, HasSubstr("margin=0.5"));
  }
}

// Labels are 1 = same, 0 = different: a ±1 convention or class ids are refused.
TEST(LossesContrastive, LabelsOutsideZeroOneAreRefused) {
  std::string msg = invalid_argument_message([] { contrastive_loss(Tensor{1, 2}, Tensor{1, -1}); });
  EXPECT_THAT(msg, HasSubstr("contrastive_loss"));
  EXPECT_THAT(msg, HasSubstr("same[1]=-1"));
  msg = invalid_argument_message([] { euclidean_loss(Tensor{1, 2}, Tensor{2, 0}); });
  EXPECT_THAT(msg, HasSubstr("euclidean_loss"));
  EXPECT_THAT(msg, HasSubstr("same[0]=2"));
  msg = invalid_argument_message(
      [] { euclidean_loss(Tensor{1}, Tensor{std::numeric_limits<real>::quiet_NaN()}); });
  EXPECT_THAT(msg, HasSubstr("same[0]"));
}

TEST(LossesEuclidean, ShapeErrorsNameTheLossAndShapes) {
  const std::string msg = invalid_argument_message([] {
    euclidean_loss(Tensor{1, 2}, Tensor{{1, 0}});
  });
  EXPECT_THAT(msg, HasSubstr("euclidean_loss"));
  EXPECT_THAT(msg, HasSubstr("distance.shape=[2]"));
  EXPECT_THAT(msg, HasSubstr("same.shape=[1, 2]"));
}

TEST(LossesTriplet, ShapeErrorsNameTheLossAndShapes) {
  const std::string msg = invalid_argument_message([] {
    triplet_loss(Tensor{1, 2, 3}, Tensor{1, 2});
  });
  EXPECT_THAT(msg, HasSubstr("triplet_loss"));
  EXPECT_THAT(msg, HasSubstr("positive_distance.shape=[3]"));
  EXPECT_THAT(msg, HasSubstr("negative_distance.shape=[2]"));
}

}  // namespace
}  // namespace xgrad::siamese
