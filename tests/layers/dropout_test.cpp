// Dropout: identity at inference; in training, the kept fraction ≈ 1 - rate, kept values
// scaled by 1/(1 - rate), seeded layers reproducible; the gradient is the mask; bad rates.

#include "layers/dropout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/gradient_tape.h"
#include "autograd/ops/reduce.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::HasSubstr;

TEST(DropoutLayer, IsTheIdentityAtInference) {
  Dropout dropout(0.5, 1);
  const Tensor x = xgrad::testing::uniform({4, 6});
  const Tensor y = dropout(x);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_TRUE(dropout.variables().empty());
  EXPECT_EQ(dropout.name(), "dropout");
}

TEST(DropoutLayer, RateZeroIsTheIdentityInTraining) {
  Dropout dropout(0);
  const Tensor x = xgrad::testing::uniform({4, 6});
  EXPECT_EQ(dropout(x, true).to_vector(), x.to_vector());
}

// 100 000 ones at rate 0.3: each element is 0 or 1/0.7, and about 70% are kept (the
// fraction's standard deviation is √(0.21/1e5) ≈ 0.0015, the bound 0.01 is ~7σ). The mean
// stays ≈ 1: inverted dropout preserves the expectation.
TEST(DropoutLayer, TrainingKeepsAboutOneMinusRateScaledUp) {
  const real rate = real(0.3);
  Dropout dropout(rate, 2024);
  const Tensor y = dropout(Tensor::ones({200, 500}), true);
  const double scale = 1.0 / (1.0 - static_cast<double>(rate));
  std::size_t kept = 0;
  double total = 0;
  for (real v : y.to_vector()) {
    if (v != 0) {
      ++kept;
      ASSERT_NEAR(v, scale, 1e-6 * scale);
    }
    total += v;
  }
  const double fraction = static_cast<double>(kept) / static_cast<double>(y.size());
  EXPECT_NEAR(fraction, 0.7, 0.01);
  EXPECT_NEAR(total / static_cast<double>(y.size()), 1.0, 0.015);
}

TEST(DropoutLayer, KeptValuesAreTheInputScaled) {
  Dropout dropout(0.5, 3);
  const Tensor x = xgrad::testing::away_from_zero({8, 8}, 0.5, 1.5, 4);
  const Tensor y = dropout(x, true);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (y.flat(i) != 0) {
      ++kept;
      EXPECT_NEAR(y.flat(i), 2 * x.flat(i), 1e-6);
    }
  }
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, x.size());
}

TEST(DropoutLayer, SeededLayersAreReproducible) {
  const Tensor x = Tensor::ones({16, 16});
  Dropout a(0.5, 42), b(0.5, 42), c(0.5, 43);
  const std::vector<real> ya = a(x, true).to_vector();
  EXPECT_EQ(ya, b(x, true).to_vector());
  EXPECT_NE(ya, c(x, true).to_vector());
  // Successive calls draw new masks.
  EXPECT_NE(ya, a(x, true).to_vector());
}

// Unseeded layers draw from random_engine(), so set_random_seed makes them reproducible; a
// seeded layer does not consume it.
TEST(DropoutLayer, UnseededLayersFollowTheGlobalSeed) {
  const Tensor x = Tensor::ones({16, 16});
  set_random_seed(5);
  const std::vector<real> first = Dropout(0.5)(x, true).to_vector();
  set_random_seed(5);
  Dropout(0.5, 99)(x, true);
  EXPECT_EQ(first, Dropout(0.5)(x, true).to_vector());
}

// d/dx Σ dropout(x) is the mask itself: 1/(1 - rate) where kept, 0 where dropped.
TEST(DropoutLayer, GradientIsTheMask) {
  Dropout dropout(0.25, 8);
  const Tensor x = xgrad::testing::away_from_zero({10, 10}, 0.5, 1.5, 6);
  GradientTape tape;
  tape.watch(x);
  const Tensor y = dropout(x, true);
  const Tensor g = tape.gradient(sum(y), x)[0];
  ASSERT_EQ(g.shape(), x.shape());
  const real scale = real(1) / (real(1) - real(0.25));
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool kept = y.flat(i) != 0;
    dropped += !kept;
    EXPECT_FLOAT_EQ(g.flat(i), kept ? scale : real(0)) << "element " << i;
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(dropped, x.size());
}

TEST(DropoutLayer, GradientAtInferenceIsOne) {
  Dropout dropout(0.5, 1);
  EXPECT_TRUE(testing::check_layer_gradients(dropout, xgrad::testing::uniform({3, 4})));
}

TEST(DropoutLayer, InvalidRateThrows) {
  for (real rate : {real(-0.1), real(1), real(1.5), std::numeric_limits<real>::quiet_NaN()}) {
    try {
      Dropout d(rate);
      ADD_FAILURE() << "no throw for rate " << rate;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("Dropout"));
      EXPECT_THAT(e.what(), HasSubstr("rate"));
    }
  }
  EXPECT_NO_THROW(Dropout almost_all(real(0.999)));
}

TEST(DropoutLayer, BuildOnceErrorsNameTheLayerAndShapes) {
  Dropout dropout(0.5, 1, "drop");
  testing::expect_shape_errors(dropout, {2, 3}, {2, 4}, {6});
}

}  // namespace
}  // namespace xgrad::layers
