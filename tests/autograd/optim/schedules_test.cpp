// Learning-rate schedules: values at several steps against the TF formulas (the expected
// numbers are worked out in the comments), argument checks, and an optimizer driven by a
// schedule.

#include "autograd/optim/schedules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "autograd/optim/adam.h"
#include "autograd/optim/sgd.h"
#include "autograd/tensor.h"
#include "autograd/variable.h"
#include "tests/support/expect.h"

namespace xgrad::optim {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;

// Relative tolerance: float rounding in the float build, a few ulps in the double build.
constexpr double kRel = std::is_same_v<real, float> ? 1e-6 : 1e-12;

void expect_close(double actual, double expected) {
  EXPECT_NEAR(actual, expected, kRel * std::abs(expected) + 1e-30) << "expected " << expected;
}

TEST(ScheduleConstant, SameValueAtEveryStep) {
  ConstantSchedule s(real(0.25));
  EXPECT_EQ(s(0), real(0.25));
  EXPECT_EQ(s(1000000), real(0.25));
  EXPECT_EQ(s.describe(), "ConstantSchedule(learning_rate=0.25)");
}

TEST(ScheduleExponentialDecay, ContinuousValues) {
  // lr = 0.1 * 0.5^(step / 10)
  ExponentialDecay s(real(0.1), 10, real(0.5));
  expect_close(s(0), 0.1);                    // 0.1 * 0.5^0
  expect_close(s(5), 0.070710678118654766);   // 0.1 * 0.5^0.5 = 0.1 / sqrt(2)
  expect_close(s(10), 0.05);                  // 0.1 * 0.5^1
  expect_close(s(25), 0.017677669529663691);  // 0.1 * 0.5^2.5 = 0.025 / sqrt(2)
}

TEST(ScheduleExponentialDecay, StaircaseFloorsTheExponent) {
  // lr = 0.1 * 0.5^floor(step / 10)
  ExponentialDecay s(real(0.1), 10, real(0.5), /*staircase=*/true);
  expect_close(s(0), 0.1);
  expect_close(s(5), 0.1);     // floor(0.5) = 0
  expect_close(s(10), 0.05);   // floor(1) = 1
  expect_close(s(25), 0.025);  // floor(2.5) = 2
  EXPECT_EQ(s.describe(),
            "ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, "
            "staircase=true)");
}

TEST(ScheduleCosineDecay, DecaysToZeroThenStays) {
  // lr = 0.1 * 0.5 * (1 + cos(pi * min(step, 100) / 100))
  CosineDecay s(real(0.1), 100);
  expect_close(s(0), 0.1);                    // cos 0 = 1
  expect_close(s(25), 0.085355339059327379);  // 0.05 * (1 + cos(pi/4)) = 0.05 * 1.70710678
  expect_close(s(50), 0.05);                  // cos(pi/2) = 0
  EXPECT_NEAR(s(100), 0.0, 1e-12);            // cos(pi) = -1
  EXPECT_NEAR(s(150), 0.0, 1e-12);            // clamped to step 100
}

TEST(ScheduleCosineDecay, AlphaIsTheFloor) {
  // lr = 0.1 * (0.9 * 0.5 * (1 + cos(pi * min(step, 100) / 100)) + 0.1)
  CosineDecay s(real(0.1), 100, real(0.1));
  expect_close(s(0), 0.1);
  expect_close(s(25), 0.086819805153394644);  // 0.1 * (0.9 * 0.85355339 + 0.1)
  expect_close(s(50), 0.055);                 // 0.1 * (0.9 * 0.5 + 0.1)
  expect_close(s(100), 0.01);                 // 0.1 * alpha
  expect_close(s(150), 0.01);
  EXPECT_EQ(s.describe(), "CosineDecay(initial_learning_rate=0.1, decay_steps=100, alpha=0.1)");
}

TEST(ScheduleArguments, InvalidValuesThrowNamingTheSchedule) {
  EXPECT_THAT(invalid_argument_message([] { ConstantSchedule(real(0)); }),
              HasSubstr("ConstantSchedule: learning_rate must be > 0; got 0"));
  EXPECT_THAT(invalid_argument_message([] { ExponentialDecay(real(0.1), 0, real(0.5)); }),
              HasSubstr("ExponentialDecay: decay_steps must be >= 1; got 0"));
  EXPECT_THAT(invalid_argument_message([] { ExponentialDecay(real(0.1), 10, real(-0.5)); }),
              HasSubstr("ExponentialDecay: decay_rate must be > 0; got -0.5"));
  EXPECT_THAT(invalid_argument_message([] { ExponentialDecay(real(-1), 10, real(0.5)); }),
              HasSubstr("ExponentialDecay: initial_learning_rate must be > 0; got -1"));
  EXPECT_THAT(invalid_argument_message([] { CosineDecay(real(0.1), -3); }),
              HasSubstr("CosineDecay: decay_steps must be >= 1; got -3"));
  EXPECT_THAT(invalid_argument_message([] { CosineDecay(real(0.1), 10, real(1.5)); }),
              HasSubstr("CosineDecay: alpha must be in [0, 1]; got 1.5"));
  EXPECT_THAT(invalid_argument_message([] { ExponentialDecay(real(0.1), 10, real(0.5))(-1); }),
              HasSubstr("ExponentialDecay: step must be >= 0; got -1"));
}

TEST(ScheduleInOptimizer, SgdEvaluatesTheScheduleAtIterations) {
  // lr_k = 0.1 * 0.5^k for step k = 0, 1, 2; w starts at 0, g = 1 every step:
  // w = -(0.1 + 0.05 + 0.025) = -0.175, and the next step would use 0.0125.
  SGD opt({.schedule = std::make_shared<ExponentialDecay>(real(0.1), 1, real(0.5))});
  Variable w(Tensor{0.0}, "w");
  EXPECT_EQ(opt.current_learning_rate(), real(0.1));
  for (int k = 0; k < 3; ++k) opt.apply_gradients({Tensor{1.0}}, {w});
  expect_close(w.peek().flat(0), -0.175);
  expect_close(opt.current_learning_rate(), 0.0125);
  EXPECT_EQ(opt.iterations(), 3);
}

TEST(ScheduleInOptimizer, ScheduleOverridesLearningRate) {
  // The constant learning_rate is ignored (and not validated) when a schedule is set.
  Adam opt({.learning_rate = -1, .schedule = std::make_shared<ConstantSchedule>(real(0.5))});
  EXPECT_EQ(opt.current_learning_rate(), real(0.5));
  // Adam with beta_1 = 0.9, beta_2 = 0.999, first step: m = 0.1 g, v = 0.001 g²,
  // alpha = lr sqrt(0.001) / 0.1, so the step is lr * sign(g) up to epsilon: w = -0.5.
  Variable w(Tensor{0.0}, "w");
  opt.apply_gradients({Tensor{2.0}}, {w});
  EXPECT_NEAR(w.peek().flat(0), -0.5, 1e-5);
}

TEST(ScheduleInOptimizer, CosineDecayInAdamW) {
  // AdamW with weight_decay 0.5 and lr from CosineDecay(0.2, 2): step 0 uses lr 0.2,
  // step 1 uses 0.1 (cos(pi/2) = 0), step 2 uses 0. With g = 0 the Adam part does nothing
  // (m = v = 0, 0 / (0 + eps) = 0), so only the decay acts: w *= (1 - 0.5 lr).
  // w = 1 * (1 - 0.1) * (1 - 0.05) * (1 - 0) = 0.855.
  AdamW opt({.schedule = std::make_shared<CosineDecay>(real(0.2), 2), .weight_decay = 0.5});
  Variable w(Tensor{1.0}, "w");
  for (int k = 0; k < 3; ++k) opt.apply_gradients({Tensor{0.0}}, {w});
  expect_close(w.peek().flat(0), 0.855);
}

}  // namespace
}  // namespace xgrad::optim
