// Optimizers: the first steps of SGD, Adam, AdamW and RMSprop against values worked out by
// hand from Keras's update rules (the arithmetic is in the comments), convergence on a
// convex quadratic, gradient clipping, state save/restore (bit-identical resume), and
// argument errors.
//
// Hand-checked cases use hyper-parameters that are exact in binary (0.5, 0.75, 0.9375…)
// where the float build would otherwise round them noticeably (1 - 0.999f is off by 1.3e-5
// relative), so the same literal expectations hold in the float and the double build.

#include "autograd/optim/optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/optim/adam.h"
#include "autograd/optim/rmsprop.h"
#include "autograd/optim/sgd.h"
#include "autograd/tensor.h"
#include "autograd/threads.h"
#include "autograd/variable.h"
#include "tests/support/expect.h"
#include "tests/support/random.h"

namespace xgrad::optim {
namespace {

using ::testing::ElementsAre;
using testing::error_message;
using ::testing::HasSubstr;

// Relative tolerance: float rounding in the float build, a few ulps in the double build.
constexpr double kRel = std::is_same_v<real, float> ? 1e-6 : 1e-12;

// |actual - expected| <= kRel * max(|expected|, scale): `scale` is the size of the terms
// when the expected value comes from a cancellation.
void expect_close(double actual, double expected, double scale = 0) {
  EXPECT_NEAR(actual, expected, kRel * std::max(std::abs(expected), scale) + 1e-30)
      << "expected " << expected;
}

Tensor vec(std::vector<real> values) {
  const std::size_t n = values.size();
  return Tensor::from_vector({n}, std::move(values));
}

real value(const Variable& v, std::size_t i = 0) { return v.peek().flat(i); }

// One step on one scalar variable.
void step(Optimizer& opt, const Variable& w, double g) {
  opt.apply_gradients({vec({static_cast<real>(g)})}, {w});
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(real)) == 0;
}

// ---------------------------------------------------------------------------------------
// SGD

TEST(SgdStep, PlainGradientDescent) {
  // w = w - lr g with lr = 0.5: [1, -2] - 0.5 [0.5, 1] = [0.75, -2.5], then [0.5, -3].
  SGD opt({.learning_rate = 0.5});
  Variable w(vec({1, -2}), "w");
  opt.apply_gradients({vec({0.5, 1})}, {w});
  EXPECT_THAT(w.peek().to_vector(), ElementsAre(0.75, -2.5));
  opt.apply_gradients({vec({0.5, 1})}, {w});
  EXPECT_THAT(w.peek().to_vector(), ElementsAre(0.5, -3));
  EXPECT_TRUE(opt.slot_names().empty());
  EXPECT_EQ(opt.iterations(), 2);
}

TEST(SgdStep, Defaults) {
  SGD opt;
  EXPECT_EQ(opt.name(), "SGD");
  EXPECT_EQ(opt.current_learning_rate(), real(0.01));
  EXPECT_EQ(opt.options().momentum, 0.0);
  EXPECT_FALSE(opt.options().nesterov);
}

TEST(SgdStep, Momentum) {
  // lr = 0.1, momentum = 0.9, w = 1, g = 1 at every step; m = 0.9 m - 0.1 g; w = w + m.
  // 1: m = -0.1,                  w = 0.9
  // 2: m = 0.9 (-0.1) - 0.1 = -0.19,   w = 0.71
  // 3: m = 0.9 (-0.19) - 0.1 = -0.271, w = 0.439
  SGD opt({.learning_rate = 0.1, .momentum = 0.9});
  Variable w(vec({1}), "w");
  const double expected_w[] = {0.9, 0.71, 0.439};
  const double expected_m[] = {-0.1, -0.19, -0.271};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, 1);
    expect_close(value(w), expected_w[k]);
    expect_close(opt.slot(w, "m").flat(0), expected_m[k]);
  }
  EXPECT_THAT(opt.slot_names(), ElementsAre("m"));
}

TEST(SgdStep, NesterovMomentum) {
  // Same, with w = w + 0.9 m - 0.1 g using the new m:
  // 1: m = -0.1,  w = 1 + (-0.09 - 0.1) = 0.81
  // 2: m = -0.19, w = 0.81 + (-0.171 - 0.1) = 0.539
  // 3: m = -0.271, w = 0.539 + (-0.2439 - 0.1) = 0.1951
  SGD opt({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
  Variable w(vec({1}), "w");
  const double expected[] = {0.81, 0.539, 0.1951};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, 1);
    expect_close(value(w), expected[k], 1.0);
  }
}

TEST(SgdStep, WeightDecay) {
  // Keras's weight_decay on SGD: w = w - w wd lr, then w = w - lr g.
  // lr = 0.5, wd = 0.25, w = 2, g = 1: w = 2 - 2 * 0.125 = 1.75; 1.75 - 0.5 = 1.25.
  SGD opt({.learning_rate = 0.5, .weight_decay = 0.25});
  Variable w(vec({2}), "w");
  step(opt, w, 1);
  expect_close(value(w), 1.25);
}

// ---------------------------------------------------------------------------------------
// Adam

TEST(AdamStep, Defaults) {
  Adam opt;
  EXPECT_EQ(opt.name(), "Adam");
  EXPECT_EQ(opt.current_learning_rate(), real(1e-3));
  EXPECT_EQ(opt.options().beta_1, 0.9);
  EXPECT_EQ(opt.options().beta_2, 0.999);
  EXPECT_EQ(opt.options().epsilon, 1e-7);
  EXPECT_FALSE(opt.options().amsgrad);
  EXPECT_EQ(opt.options().weight_decay, real(0));
  EXPECT_THAT(opt.slot_names(), ElementsAre("m", "v"));
  // First step with the defaults: m = 0.1 g, v = 0.001 g², alpha = 1e-3 sqrt(0.001) / 0.1,
  // so the step is 1e-3 * |g| / (|g| + 1e-7 / sqrt(0.001)) ~= 1e-3 (1 - 3.16e-6 / |g|).
  Variable w(vec({1}), "w");
  step(opt, w, 0.5);
  EXPECT_NEAR(1.0 - value(w), 1e-3 * (1 - 1e-7 / std::sqrt(0.001) / 0.5), 1e-8);
}

TEST(AdamStep, FirstThreeSteps) {
  // lr = 0.1, beta_1 = 0.75, beta_2 = 0.9375, eps = 1e-7, w = 1, g = 0.5, -0.2, 0.3.
  // t = 1: m = 0.5 * 0.25 = 0.125; v = 0.25 * 0.0625 = 0.015625;
  //        alpha = 0.1 sqrt(1 - 0.9375) / (1 - 0.75) = 0.1 * 0.25 / 0.25 = 0.1;
  //        w = 1 - 0.1 * 0.125 / (0.125 + 1e-7) = 0.90000007999993603.
  // t = 2: m = 0.125 + (-0.2 - 0.125) 0.25 = 0.04375;
  //        v = 0.015625 + (0.04 - 0.015625) 0.0625 = 0.0171484375;
  //        alpha = 0.1 sqrt(1 - 0.87890625) / (1 - 0.5625) = 0.079539490897571744;
  //        w = w - alpha 0.04375 / (sqrt(v) + 1e-7) = 0.87342661083988959.
  // t = 3: m = 0.04375 + (0.3 - 0.04375) 0.25 = 0.1078125;
  //        v = 0.0171484375 + (0.09 - 0.0171484375) 0.0625 = 0.02170166015625;
  //        alpha = 0.1 sqrt(1 - 0.823974609375) / (1 - 0.421875) = 0.072571468011338111;
  //        w = 0.8203151494869596.
  Adam opt({.learning_rate = 0.1, .beta_1 = 0.75, .beta_2 = 0.9375});
  Variable w(vec({1}), "w");
  const double grads[] = {0.5, -0.2, 0.3};
  const double expected_w[] = {0.90000007999993603, 0.87342661083988959, 0.8203151494869596};
  const double expected_m[] = {0.125, 0.04375, 0.1078125};
  const double expected_v[] = {0.015625, 0.0171484375, 0.02170166015625};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected_w[k]);
    expect_close(opt.slot(w, "m").flat(0), expected_m[k]);
    expect_close(opt.slot(w, "v").flat(0), expected_v[k]);
  }
}

TEST(AdamStep, EpsilonIsAddedToTheUncorrectedSqrtV) {
  // Keras's form: w -= alpha m / (sqrt(v) + eps), eps not bias-corrected. With a large
  // epsilon the alternatives differ clearly. lr = 0.1, beta_1 = 0.75, beta_2 = 0.9375,
  // eps = 0.125, g = 0.5: m = 0.125, v = 0.015625, sqrt(v) = 0.125, alpha = 0.1;
  //   Keras:                   w = 1 - 0.1 * 0.125 / (0.125 + 0.125)  = 0.95
  //   (eps inside the sqrt:    w = 1 - 0.0125 / sqrt(0.140625)         = 0.9666...)
  //   (PyTorch, m̂ / (sqrt(v̂) + eps) = 0.5 / (0.5 + 0.125): w = 1 - 0.08 = 0.92)
  Adam opt({.learning_rate = 0.1, .beta_1 = 0.75, .beta_2 = 0.9375, .epsilon = 0.125});
  Variable w(vec({1}), "w");
  step(opt, w, 0.5);
  expect_close(value(w), 0.95);
}

TEST(AdamStep, AmsgradUsesTheRunningMaxOfV) {
  // lr = 0.1, beta_1 = 0.75, beta_2 = 0.75, g = 1, 0.1, 0.1: v shrinks after step 1
  // (0.25, then 0.25 + (0.01 - 0.25) 0.25 = 0.19, then 0.145), so amsgrad divides by
  // sqrt(vhat) = sqrt(0.25) = 0.5 where Adam divides by sqrt(v).
  // t = 1 (both): m = 0.25, v = 0.25, alpha = 0.1 * 0.5 / 0.25 = 0.2;
  //               w = 1 - 0.2 * 0.25 / (0.5 + 1e-7) = 0.90000001999999601.
  // t = 2: m = 0.25 + (0.1 - 0.25) 0.25 = 0.2125, alpha = 0.1 sqrt(0.4375) / 0.4375;
  //   Adam:    w = 0.9 - alpha 0.2125 / (sqrt(0.19) + 1e-7) = 0.82629568949937893
  //   AMSGrad: w = 0.9 - alpha 0.2125 / (0.5 + 1e-7)        = 0.83574607243921684
  // t = 3: m = 0.184375, v = 0.145, alpha = 0.1 sqrt(0.578125) / 0.578125;
  //   Adam: 0.76261510468570881, AMSGrad: 0.78724838088367477.
  const double grads[] = {1.0, 0.1, 0.1};
  const double expected_adam[] = {0.90000001999999601, 0.82629568949937893, 0.76261510468570881};
  const double expected_ams[] = {0.90000001999999601, 0.83574607243921684, 0.78724838088367477};
  Adam adam({.learning_rate = 0.1, .beta_1 = 0.75, .beta_2 = 0.75});
  Adam ams({.learning_rate = 0.1, .beta_1 = 0.75, .beta_2 = 0.75, .amsgrad = true});
  EXPECT_THAT(ams.slot_names(), ElementsAre("m", "v", "vhat"));
  Variable w1(vec({1}), "w1"), w2(vec({1}), "w2");
  for (int k = 0; k < 3; ++k) {
    step(adam, w1, grads[k]);
    step(ams, w2, grads[k]);
    expect_close(value(w1), expected_adam[k]);
    expect_close(value(w2), expected_ams[k]);
  }
  expect_close(ams.slot(w2, "v").flat(0), 0.145);
  expect_close(ams.slot(w2, "vhat").flat(0), 0.25);
}

TEST(AdamWStep, DecoupledWeightDecayBeforeTheAdamStep) {
  // AdamW(lr = 0.1, weight_decay = 0.5, beta_1 = 0.75, beta_2 = 0.9375), w = 2, g as in
  // AdamStep.FirstThreeSteps (the Adam terms are the same: alpha m / (sqrt(v) + eps) =
  // 0.09999992000006397, 0.026573469160043..., 0.053111461351...):
  // t = 1: w = 2 - 2 * 0.5 * 0.1 = 1.9;  w = 1.9 - 0.09999992000006397 = 1.8000000799999358
  // t = 2: w = 1.80000008 * 0.95 = 1.710000076; w -= 0.02657346916 -> 1.6834266068398924
  // t = 3: w = 1.6834266068 * 0.95 - 0.05311146135 = 1.5461438151449678
  AdamW opt({.learning_rate = 0.1, .weight_decay = 0.5, .beta_1 = 0.75, .beta_2 = 0.9375});
  EXPECT_EQ(opt.name(), "AdamW");
  Variable w(vec({2}), "w");
  const double grads[] = {0.5, -0.2, 0.3};
  const double expected[] = {1.8000000799999358, 1.6834266068398924, 1.5461438151449678};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected[k]);
  }
}

TEST(AdamWStep, Defaults) {
  AdamW opt;
  EXPECT_EQ(opt.options().weight_decay, real(0.004));
  EXPECT_EQ(opt.options().beta_1, 0.9);
  EXPECT_EQ(opt.options().beta_2, 0.999);
  EXPECT_EQ(opt.options().epsilon, 1e-7);
  EXPECT_EQ(opt.current_learning_rate(), real(1e-3));
}

TEST(AdamConvergence, ConvexQuadraticReachesItsMinimum) {
  // f(w) = sum_i a_i (w_i - c_i)^2, gradients from a GradientTape; Adam(lr = 0.05) from 0.
  const Tensor a = vec({1, 2, 0.5, 4});
  const Tensor c = vec({1, -2, 3, 0.25});
  Variable w(Tensor::zeros({4}), "w");
  Adam opt({.learning_rate = 0.05});
  for (int k = 0; k < 500; ++k) {
    std::vector<Tensor> grads;
    {
      GradientTape tape;
      const Tensor loss = sum(a * square(w - c));
      grads = tape.gradient(loss, w);
    }
    opt.apply_gradients(grads, {w});
  }
  const std::vector<real> got = w.peek().to_vector();
  const std::vector<real> want = c.to_vector();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << "i = " << i;
  EXPECT_EQ(opt.iterations(), 500);
}

TEST(AdamLargeVariable, VectorAndTailMatchAScalarReference) {
  // 100003 elements: several threads, whole SIMD batches and a scalar tail. Three steps of
  // default Adam against a double-precision reference of the same formula (with the betas
  // rounded to real for the powers, as Keras and Adam do).
  const std::size_t n = 100003;
  const Tensor w0 = testing::uniform({n}, -1, 1, 11);
  std::vector<Tensor> grads;
  for (int k = 0; k < 3; ++k) grads.push_back(testing::uniform({n}, -2, 2, 20 + k));
  Variable w(w0, "w");
  Adam opt({.learning_rate = 0.01, .amsgrad = true});
  for (const Tensor& g : grads) opt.apply_gradients({g}, {w});

  const double b1 = static_cast<real>(0.9), b2 = static_cast<real>(0.999);
  const std::vector<real> got = w.peek().to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double wi = w0.flat(i), m = 0, v = 0, vhat = 0;
    for (int t = 1; t <= 3; ++t) {
      const double g = grads[static_cast<std::size_t>(t - 1)].flat(i);
      const double alpha = 0.01 * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      m += (g - m) * 0.1;
      v += (g * g - v) * 0.001;
      vhat = std::max(vhat, v);
      wi -= alpha * m / (std::sqrt(vhat) + 1e-7);
    }
    worst = std::max(worst, std::abs(got[i] - wi) / std::max(1.0, std::abs(wi)));
  }
  EXPECT_LT(worst, kRel);
}

TEST(AdamLargeVariable, SameBitsForAnyThreadCount) {
  const std::size_t n = 70001;
  const Tensor w0 = testing::uniform({n}, -1, 1, 3);
  const Tensor g = testing::uniform({n}, -1, 1, 4);
  auto run = [&](int threads) {
    set_num_threads(threads);
    Variable w(w0, "w");
    AdamW opt({.learning_rate = 0.01, .global_clipnorm = 10});
    for (int k = 0; k < 3; ++k) opt.apply_gradients({g}, {w});
    return w.peek();
  };
  const Tensor one = run(1);
  const Tensor two = run(2);
  set_num_threads(2);  // the test main's setting
  EXPECT_TRUE(same_bits(one, two));
}

// ---------------------------------------------------------------------------------------
// RMSprop

TEST(RMSpropStep, PlainFirstSteps) {
  // lr = 0.01, rho = 0.75, no momentum: vel = 0.75 vel + 0.25 g²; w -= 0.01 g / sqrt(vel + eps).
  // g = 0.5, -0.3, 0.2, w = 1:
  // 1: vel = 0.0625,    w = 1 - 0.005 / sqrt(0.0625001)            = 0.98000001599998077
  // 2: vel = 0.0468750 + 0.0225 = 0.069375,
  //                     w += 0.003 / sqrt(0.0693751) = 0.0113898877 -> 0.99138990374008562
  // 3: vel = 0.05203125 + 0.01 = 0.06203125,
  //                     w -= 0.002 / sqrt(0.0620313500) = 0.0080301633 -> 0.98335974040110286
  RMSprop opt({.learning_rate = 0.01, .rho = 0.75});
  Variable w(vec({1}), "w");
  EXPECT_THAT(opt.slot_names(), ElementsAre("velocity"));
  const double grads[] = {0.5, -0.3, 0.2};
  const double expected_w[] = {0.98000001599998077, 0.99138990374008562, 0.98335974040110286};
  const double expected_vel[] = {0.0625, 0.069375, 0.06203125};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected_w[k]);
    expect_close(opt.slot(w, "velocity").flat(0), expected_vel[k]);
  }
}

TEST(RMSpropStep, EpsilonIsInsideTheSquareRoot) {
  // lr = 0.5, rho = 0.75, eps = 0.1875, g = 0.5, w = 1: vel = 0.0625;
  // inc = 0.5 * 0.5 / sqrt(0.0625 + 0.1875) = 0.25 / 0.5 = 0.5, w = 0.5.
  // (Outside the root it would be 0.25 / (0.25 + 0.1875): w = 0.428...)
  RMSprop opt({.learning_rate = 0.5, .rho = 0.75, .epsilon = 0.1875});
  Variable w(vec({1}), "w");
  step(opt, w, 0.5);
  expect_close(value(w), 0.5);
}

TEST(RMSpropStep, Defaults) {
  RMSprop opt;
  EXPECT_EQ(opt.name(), "RMSprop");
  EXPECT_EQ(opt.current_learning_rate(), real(1e-3));
  EXPECT_EQ(opt.options().rho, 0.9);
  EXPECT_EQ(opt.options().momentum, 0.0);
  EXPECT_EQ(opt.options().epsilon, 1e-7);
  EXPECT_FALSE(opt.options().centered);
}

TEST(RMSpropStep, MomentumFirstSteps) {
  // lr = 0.01, rho = 0.75, momentum = 0.5: mom = 0.5 mom + 0.01 g / sqrt(vel + eps); w -= mom.
  // 1: vel = 0.0625,   inc = 0.005 / 0.2500002 = 0.019999984,  mom = 0.019999984000019198,
  //    w = 0.98000001599998077
  // 2: vel = 0.75 * 0.0625 + 0.25 * 0.09 = 0.069375, inc = -0.003 / sqrt(0.0693751)
  //    = -0.011389887..., mom = 0.009999992 - 0.011389887 = -0.0013898957400952459,
  //    w = 0.98138991174007606
  // 3: vel = 0.062031249999999996, inc = 0.002 / sqrt(0.06203135) = 0.0080301633...,
  //    mom = -0.00069494787 + 0.0080301633 = 0.0073352154689351754, w = 0.97405469627114083
  RMSprop opt({.learning_rate = 0.01, .rho = 0.75, .momentum = 0.5});
  EXPECT_THAT(opt.slot_names(), ElementsAre("velocity", "momentum"));
  Variable w(vec({1}), "w");
  const double grads[] = {0.5, -0.3, 0.2};
  const double expected_w[] = {0.98000001599998077, 0.98138991174007606, 0.97405469627114083};
  const double expected_mom[] = {0.019999984000019198, -0.0013898957400952459,
                                 0.0073352154689351754};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected_w[k]);
    expect_close(opt.slot(w, "momentum").flat(0), expected_mom[k], 0.02);
  }
}

TEST(RMSpropStep, CenteredWithMomentum) {
  // lr = 0.01, rho = 0.75, momentum = 0.5, centered:
  //   avg = 0.75 avg + 0.25 g; denominator = vel - avg² + eps.
  // 1: vel = 0.0625, avg = 0.125, den = 0.0625 - 0.015625 + 1e-7 = 0.0468751,
  //    inc = 0.005 / sqrt(0.0468751) = 0.023093986134012957 = mom, w = 0.97690601386598708
  // 2: vel = 0.069375, avg = 0.09375 - 0.075 = 0.01875, den = 0.069375 - 0.0003515625 + 1e-7,
  //    inc = -0.003 / sqrt(0.0690235375) = -0.011418857..., mom = 0.011546993 - 0.011418857
  //    = 0.00012813570505275894, w = 0.97677787816093431
  // 3: vel = 0.06203125, avg = 0.0140625 + 0.05 = 0.0640625,
  //    den = 0.06203125 - 0.00410400390625 + 1e-7, inc = 0.002 / sqrt(0.05792734609375)
  //    = 0.0083097543..., mom = 0.0000640678525 + 0.0083097543 = 0.0083738220904168957,
  //    w = 0.96840405607051738
  RMSprop opt({.learning_rate = 0.01, .rho = 0.75, .momentum = 0.5, .centered = true});
  EXPECT_THAT(opt.slot_names(), ElementsAre("velocity", "momentum", "average_gradient"));
  Variable w(vec({1}), "w");
  const double grads[] = {0.5, -0.3, 0.2};
  const double expected_w[] = {0.97690601386598708, 0.97677787816093431, 0.96840405607051738};
  const double expected_mom[] = {0.023093986134012957, 0.00012813570505275894,
                                 0.0083738220904168957};
  const double expected_avg[] = {0.125, 0.01875, 0.0640625};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected_w[k]);
    expect_close(opt.slot(w, "momentum").flat(0), expected_mom[k], 0.02);
    expect_close(opt.slot(w, "average_gradient").flat(0), expected_avg[k]);
  }
}

TEST(RMSpropStep, CenteredWithoutMomentum) {
  // Same as above without momentum: w -= inc.
  // 1: w = 1 - 0.023093986134012957 = 0.97690601386598708
  // 2: w = 0.97690601386598708 + 0.011418857... = 0.98832487122794077
  // 3: w = 0.98832487122794077 - 0.0083097543... = 0.98001511699005028
  RMSprop opt({.learning_rate = 0.01, .rho = 0.75, .centered = true});
  EXPECT_THAT(opt.slot_names(), ElementsAre("velocity", "average_gradient"));
  Variable w(vec({1}), "w");
  const double grads[] = {0.5, -0.3, 0.2};
  const double expected[] = {0.97690601386598708, 0.98832487122794077, 0.98001511699005028};
  for (int k = 0; k < 3; ++k) {
    step(opt, w, grads[k]);
    expect_close(value(w), expected[k]);
  }
}

// ---------------------------------------------------------------------------------------
// Clipping

TEST(ClipByGlobalNorm, ScalesEveryGradientAndReturnsTheNorm) {
  // Global norm of [3, 4] and [12]: sqrt(9 + 16 + 144) = 13; clip_norm 6.5 halves them.
  const std::vector<Tensor> grads{vec({3, 4}), Tensor(), vec({12})};
  const auto [clipped, norm] = clip_by_global_norm(grads, real(6.5));
  EXPECT_EQ(norm, real(13));
  ASSERT_EQ(clipped.size(), 3u);
  EXPECT_THAT(clipped[0].to_vector(), ElementsAre(1.5, 2));
  EXPECT_FALSE(clipped[1].defined());
  EXPECT_THAT(clipped[2].to_vector(), ElementsAre(6));
  EXPECT_EQ(global_norm(grads), real(13));
  EXPECT_EQ(global_norm({}), real(0));
}

TEST(ClipByGlobalNorm, BelowTheLimitReturnsTheInputs) {
  const std::vector<Tensor> grads{vec({3, 4}), vec({12})};
  const auto [clipped, norm] = clip_by_global_norm(grads, real(20));
  EXPECT_EQ(norm, real(13));
  EXPECT_EQ(clipped[0].id(), grads[0].id());
  EXPECT_EQ(clipped[1].id(), grads[1].id());
}

TEST(ClipByGlobalNorm, LargeTensorsSumInDouble) {
  // 1e6 elements of 1e-3 plus one of 1: norm = sqrt(1e6 * 1e-6 + 1) = sqrt(2).
  std::vector<real> big(1000000, real(1e-3));
  big[123456] = 1;
  const Tensor g = Tensor::from_vector({big.size()}, big);
  expect_close(global_norm({g}), std::sqrt(1 + 999999 * double(real(1e-3)) * double(real(1e-3))));
}

TEST(ClipByGlobalNorm, NonFiniteNormMakesEverythingNaN) {
  // TF: scale = clip_norm * min(1 / norm, 1 / clip_norm) + (norm - norm) = NaN.
  const auto [clipped, norm] =
      clip_by_global_norm({vec({std::numeric_limits<real>::infinity(), 1}), vec({2})}, real(1));
  EXPECT_TRUE(std::isinf(norm));
  EXPECT_TRUE(std::isnan(clipped[0].flat(1)));
  EXPECT_TRUE(std::isnan(clipped[1].flat(0)));
}

TEST(ClipByGlobalNorm, ClipNormMustBePositive) {
  EXPECT_THAT(error_message<std::invalid_argument>([] { clip_by_global_norm({vec({1})}, 0); }),
              HasSubstr("clip_by_global_norm: clip_norm must be > 0; got 0"));
}

TEST(ClipOption, ClipnormClipsEachGradientOnItsOwn) {
  // SGD lr = 1: a's gradient [3, 4] (norm 5) becomes [0.6, 0.8] with clipnorm 1;
  // b's gradient [0.5] (norm 0.5) is unchanged.
  SGD opt({.learning_rate = 1, .clipnorm = 1});
  Variable a(vec({0, 0}), "a"), b(vec({0}), "b");
  opt.apply_gradients({vec({3, 4}), vec({0.5})}, {a, b});
  expect_close(value(a, 0), -0.6);
  expect_close(value(a, 1), -0.8);
  EXPECT_EQ(value(b), real(-0.5));
}

TEST(ClipOption, GlobalClipnormClipsAllGradientsTogether) {
  // Global norm 13 with clip 6.5: every gradient is halved.
  SGD opt({.learning_rate = 1, .global_clipnorm = 6.5});
  Variable a(vec({0, 0}), "a"), b(vec({0}), "b"), skipped(vec({7}), "skipped");
  opt.apply_gradients({vec({3, 4}), vec({12}), Tensor()}, {a, b, skipped});
  EXPECT_THAT(a.peek().to_vector(), ElementsAre(-1.5, -2));
  EXPECT_THAT(b.peek().to_vector(), ElementsAre(-6));
  EXPECT_EQ(value(skipped), real(7));
}

TEST(ClipOption, ClipvalueClampsEachElement) {
  SGD opt({.learning_rate = 1, .clipvalue = 1});
  Variable w(vec({0, 0, 0}), "w");
  opt.apply_gradients({vec({-3, 0.25, 5})}, {w});
  EXPECT_THAT(w.peek().to_vector(), ElementsAre(1, -0.25, -1));
}

TEST(ClipOption, AppliesBeforeTheMomentsInAdam) {
  // Adam(lr = 0.1, beta_1 = 0.75, beta_2 = 0.9375, clipnorm = 0.5): the gradient 2 is
  // clipped to 0.5, so the first step is AdamStep.FirstThreeSteps's first step.
  Adam opt({.learning_rate = 0.1, .beta_1 = 0.75, .beta_2 = 0.9375, .clipnorm = 0.5});
  Variable w(vec({1}), "w");
  step(opt, w, 2);
  expect_close(value(w), 0.90000007999993603);
  expect_close(opt.slot(w, "m").flat(0), 0.125);
}

// ---------------------------------------------------------------------------------------
// Optimizer base: apply_gradients rules and errors

TEST(OptimizerApply, UndefinedGradientSkipsTheVariable) {
  Adam opt;
  Variable a(vec({1}), "a"), b(vec({2}), "b");
  opt.apply_gradients({vec({1}), Tensor()}, {a, b});
  EXPECT_EQ(opt.iterations(), 1);
  EXPECT_NE(value(a), real(1));
  EXPECT_EQ(value(b), real(2));
  EXPECT_EQ(opt.slot(b, "m").flat(0), real(0));
}

TEST(OptimizerApply, EmptyListsDoNothing) {
  SGD opt;
  opt.apply_gradients({}, {});
  EXPECT_EQ(opt.iterations(), 0);
}

TEST(OptimizerApply, NonTrainableVariablesAreUpdatedLikeKeras) {
  SGD opt({.learning_rate = 0.5});
  Variable w(vec({1}), "frozen", /*trainable=*/false);
  step(opt, w, 1);
  EXPECT_EQ(value(w), real(0.5));
}

TEST(OptimizerApply, NothingIsRecordedOnAnActiveTape) {
  GradientTape tape;
  Variable w(vec({1, 2}), "w");
  tape.watch(w);
  Adam opt;
  opt.apply_gradients({vec({1, 1})}, {w});
  EXPECT_EQ(tape.num_records(), 0u);
}

TEST(OptimizerApply, OldValuesKeepTheirData) {
  // update_in_place is copy-on-write: a Tensor read before the step keeps its value.
  SGD opt({.learning_rate = 1});
  Variable w(vec({1, 2}), "w");
  const Tensor before = w.peek();
  opt.apply_gradients({vec({1, 1})}, {w});
  EXPECT_THAT(before.to_vector(), ElementsAre(1, 2));
  EXPECT_THAT(w.peek().to_vector(), ElementsAre(0, 1));
}

TEST(OptimizerErrors, MismatchedCounts) {
  SGD opt;
  Variable w(vec({1}), "w");
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                opt.apply_gradients({vec({1}), vec({1})}, {w});
              }),
              HasSubstr("SGD.apply_gradients: got 2 gradients for 1 variables"));
}

TEST(OptimizerErrors, WrongGradientShapeNamesTheVariableAndShapes) {
  Adam opt;
  Variable ok(vec({1}), "dense/bias");
  Variable kernel(Tensor::zeros({2, 3}), "dense/kernel");
  const std::string message = error_message<std::invalid_argument>([&] {
    opt.apply_gradients({vec({1}), Tensor::zeros({3, 2})}, {ok, kernel});
  });
  EXPECT_THAT(message, HasSubstr("Adam.apply_gradients"));
  EXPECT_THAT(message, HasSubstr("'dense/kernel'"));
  EXPECT_THAT(message, HasSubstr("[3, 2]"));
  EXPECT_THAT(message, HasSubstr("[2, 3]"));
  // Checked before anything changed.
  EXPECT_EQ(value(ok), real(1));
  EXPECT_EQ(opt.iterations(), 0);
}

TEST(OptimizerErrors, EveryGradientUndefined) {
  SGD opt;
  Variable a(vec({1}), "a");
  EXPECT_THAT(error_message<std::invalid_argument>([&] { opt.apply_gradients({Tensor()}, {a}); }),
              HasSubstr("no gradient provided for any variable ('a')"));
}

TEST(OptimizerErrors, VariableListedTwice) {
  SGD opt;
  Variable a(vec({1}), "a");
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                opt.apply_gradients({vec({1}), vec({1})}, {a, a});
              }),
              HasSubstr("variable 'a' appears more than once"));
}

TEST(OptimizerErrors, UnknownSlotName) {
  Adam opt;
  Variable a(vec({1}), "a");
  EXPECT_THAT(error_message<std::invalid_argument>([&] { opt.slot(a, "velocity"); }),
              HasSubstr("Adam.slot: no slot named 'velocity' (this optimizer has: m, v)"));
}

TEST(OptimizerErrors, InvalidHyperParametersNameTheOptimizerAndValue) {
  using E = std::invalid_argument;
  EXPECT_THAT(error_message<E>([] { SGD({.learning_rate = -1}); }),
              HasSubstr("SGD: learning_rate must be > 0; got -1"));
  EXPECT_THAT(error_message<E>([] { SGD({.momentum = 1.5}); }),
              HasSubstr("SGD: momentum must be in [0, 1]; got 1.5"));
  EXPECT_THAT(error_message<E>([] { Adam({.learning_rate = 0}); }),
              HasSubstr("Adam: learning_rate must be > 0; got 0"));
  EXPECT_THAT(error_message<E>([] { Adam({.beta_1 = 1}); }),
              HasSubstr("Adam: beta_1 must be in [0, 1); got 1"));
  EXPECT_THAT(error_message<E>([] { Adam({.beta_2 = -0.5}); }),
              HasSubstr("Adam: beta_2 must be in [0, 1); got -0.5"));
  EXPECT_THAT(error_message<E>([] { Adam({.epsilon = -1e-3}); }),
              HasSubstr("Adam: epsilon must be >= 0; got -0.001"));
  EXPECT_THAT(error_message<E>([] { AdamW({.weight_decay = -0.5}); }),
              HasSubstr("AdamW: weight_decay must be >= 0; got -0.5"));
  EXPECT_THAT(error_message<E>([] { AdamW({.beta_1 = 2}); }),
              HasSubstr("AdamW: beta_1 must be in [0, 1); got 2"));
  EXPECT_THAT(error_message<E>([] { RMSprop({.rho = 1}); }),
              HasSubstr("RMSprop: rho must be in [0, 1); got 1"));
  EXPECT_THAT(error_message<E>([] { RMSprop({.momentum = -0.5}); }),
              HasSubstr("RMSprop: momentum must be in [0, 1]; got -0.5"));
  EXPECT_THAT(error_message<E>([] { RMSprop({.epsilon = -1}); }),
              HasSubstr("RMSprop: epsilon must be >= 0; got -1"));
  EXPECT_THAT(error_message<E>([] { SGD({.clipnorm = 0}); }),
              HasSubstr("SGD: clipnorm must be > 0; got 0"));
  EXPECT_THAT(error_message<E>([] { Adam({.clipvalue = -1}); }),
              HasSubstr("Adam: clipvalue must be > 0; got -1"));
  EXPECT_THAT(error_message<E>([] { RMSprop({.global_clipnorm = 0}); }),
              HasSubstr("RMSprop: global_clipnorm must be > 0; got 0"));
  EXPECT_THAT(error_message<E>([] { Adam({.clipnorm = 1, .global_clipnorm = 2}); }),
              HasSubstr("Adam: only one of clipnorm, clipvalue and global_clipnorm can be set; "
                        "got clipnorm=1, clipvalue=unset, global_clipnorm=2"));
}

// ---------------------------------------------------------------------------------------
// State save / restore

TEST(OptimizerState, NamesShapesAndIterations) {
  Adam opt({.amsgrad = true});
  Variable k(Tensor::zeros({2, 3}), "dense/kernel"), b(vec({0, 0, 0}), "dense/bias");
  for (int i = 0; i < 3; ++i) opt.apply_gradients({Tensor::ones({2, 3}), Tensor()}, {k, b});
  const NamedTensors state = opt.state({k, b});
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  EXPECT_THAT(names,
              ElementsAre("iterations", "dense/kernel/m", "dense/kernel/v", "dense/kernel/vhat",
                          "dense/bias/m", "dense/bias/v", "dense/bias/vhat"));
  EXPECT_THAT(state[0].second.to_vector(), ElementsAre(0, 3));  // {hi, lo}: 0 * 2^20 + 3
  EXPECT_EQ(state[1].second.shape(), (Shape{2, 3}));
  EXPECT_EQ(state[4].second.shape(), (Shape{3}));
  // The bias never got a gradient: its slots are reported as zeros (their initial value).
  EXPECT_THAT(state[4].second.to_vector(), ElementsAre(0, 0, 0));
  // The state is a copy: later steps do not change it.
  const real m_before = state[1].second.flat(0);
  opt.apply_gradients({Tensor::ones({2, 3}), Tensor()}, {k, b});
  EXPECT_EQ(state[1].second.flat(0), m_before);
}

TEST(OptimizerState, IterationsBeyondFloatPrecisionRoundTrip) {
  // 8192 * 2^20 + 5 = 8589934597 (> 2^33, not representable in a float).
  SGD opt;
  opt.load_state({{"iterations", Tensor::from_vector({2}, {8192, 5})}}, {});
  EXPECT_EQ(opt.iterations(), std::int64_t(8589934597));
  Variable w(vec({1}), "w");
  step(opt, w, 1);
  EXPECT_EQ(opt.iterations(), std::int64_t(8589934598));
  EXPECT_THAT(opt.state({w})[0].second.to_vector(), ElementsAre(8192, 6));
}

using Factory = std::function<std::unique_ptr<Optimizer>()>;

// Gradients that depend on the weights and the step: 2 (w - target) (1 + 0.1 k).
std::vector<Tensor> gradients(const std::vector<Variable>& vars, const std::vector<Tensor>& targets,
                              int k) {
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    grads.push_back((vars[i].peek() - targets[i]) * Tensor(real(2 * (1 + 0.1 * k))));
  }
  return grads;
}

TEST(OptimizerState, ResumeIsBitIdentical) {
  const std::vector<std::pair<const char*, Factory>> cases{
      {"SGD nesterov",
       [] {
         return std::make_unique<SGD>(
             SGDOptions{.learning_rate = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"AdamW amsgrad + schedule + global_clipnorm",
       [] {
         return std::make_unique<AdamW>(
             AdamWOptions{.schedule = std::make_shared<ExponentialDecay>(real(0.01), 3, real(0.9)),
                          .amsgrad = true,
                          .global_clipnorm = 50});
       }},
      {"RMSprop centered + momentum + clipvalue",
       [] {
         return std::make_unique<RMSprop>(RMSpropOptions{
             .learning_rate = 0.01, .momentum = 0.5, .centered = true, .clipvalue = 0.5});
       }},
  };
  const Shape big{40009}, small{3, 5};
  const std::vector<Tensor> init{testing::uniform(big, -1, 1, 5),
                                 testing::uniform(small, -1, 1, 6)};
  const std::vector<Tensor> targets{testing::uniform(big, -1, 1, 7),
                                    testing::uniform(small, -1, 1, 8)};
  auto fresh = [&](const std::vector<Tensor>& values) {
    return std::vector<Variable>{Variable(Tensor(Array(values[0].array())), "tower/kernel"),
                                 Variable(Tensor(Array(values[1].array())), "tower/bias")};
  };
  for (const auto& [label, make] : cases) {
    SCOPED_TRACE(label);
    // Uninterrupted: 10 steps.
    std::vector<Variable> vars = fresh(init);
    auto opt = make();
    for (int k = 0; k < 10; ++k) opt->apply_gradients(gradients(vars, targets, k), vars);

    // Interrupted after 4 steps: save state and values, rebuild everything, load, continue.
    std::vector<Variable> first = fresh(init);
    auto opt1 = make();
    for (int k = 0; k < 4; ++k) opt1->apply_gradients(gradients(first, targets, k), first);
    const NamedTensors saved = opt1->state(first);
    const std::vector<Tensor> saved_values{first[0].peek(), first[1].peek()};
    opt1.reset();
    first.clear();

    std::vector<Variable> second = fresh(saved_values);
    auto opt2 = make();
    opt2->load_state(saved, second);
    EXPECT_EQ(opt2->iterations(), 4);
    for (int k = 4; k < 10; ++k) opt2->apply_gradients(gradients(second, targets, k), second);

    EXPECT_EQ(opt2->iterations(), opt->iterations());
    for (std::size_t i = 0; i < vars.size(); ++i) {
      EXPECT_TRUE(same_bits(second[i].peek(), vars[i].peek())) << vars[i].name();
    }
    const NamedTensors s1 = opt->state(vars), s2 = opt2->state(second);
    ASSERT_EQ(s1.size(), s2.size());
    for (std::size_t i = 0; i < s1.size(); ++i) {
      EXPECT_EQ(s1[i].first, s2[i].first);
      EXPECT_TRUE(same_bits(s1[i].second, s2[i].second)) << s1[i].first;
    }
  }
}

class OptimizerLoadState : public ::testing::Test {
 protected:
  OptimizerLoadState() {
    opt_.apply_gradients({vec({1, 2}), vec({1, 1, 1})}, {a_, b_});
    state_ = opt_.state({a_, b_});
  }
  std::string load_error(const NamedTensors& state) {
    Adam target;
    const std::string message = error_message<std::runtime_error>([&] {
      target.load_state(state, {a_, b_});
    });
    EXPECT_EQ(target.iterations(), 0) << "a failed load must change nothing";
    return message;
  }
  NamedTensors without(const std::string& name) const {
    NamedTensors out;
    for (const auto& entry : state_) {
      if (entry.first != name) out.push_back(entry);
    }
    return out;
  }
  Adam opt_;
  Variable a_{vec({0, 0}), "a"};
  Variable b_{vec({0, 0, 0}), "b"};
  NamedTensors state_;
};

TEST_F(OptimizerLoadState, RoundTripRestoresSlotsAndIterations) {
  Adam other;
  other.load_state(state_, {a_, b_});
  EXPECT_EQ(other.iterations(), 1);
  EXPECT_TRUE(same_bits(other.slot(a_, "m"), opt_.slot(a_, "m")));
  EXPECT_TRUE(same_bits(other.slot(b_, "v"), opt_.slot(b_, "v")));
}

TEST_F(OptimizerLoadState, MissingSlot) {
  const std::string message = load_error(without("b/v"));
  EXPECT_THAT(message, HasSubstr("Adam.load_state"));
  EXPECT_THAT(message, HasSubstr("missing: 'b/v'"));
}

TEST_F(OptimizerLoadState, MissingIterations) {
  EXPECT_THAT(load_error(without("iterations")), HasSubstr("missing: 'iterations'"));
}

TEST_F(OptimizerLoadState, ExtraName) {
  NamedTensors state = state_;
  state.emplace_back("c/m", vec({0}));
  EXPECT_THAT(load_error(state), HasSubstr("unexpected: 'c/m'"));
}

TEST_F(OptimizerLoadState, DuplicateName) {
  NamedTensors state = state_;
  state.push_back(state_[1]);
  EXPECT_THAT(load_error(state), HasSubstr("duplicate: '" + state_[1].first + "'"));
}

TEST_F(OptimizerLoadState, WrongShape) {
  NamedTensors state = state_;
  for (auto& [name, t] : state) {
    if (name == "a/m") t = vec({0, 0, 0});
  }
  EXPECT_THAT(load_error(state),
              HasSubstr("'a/m' has shape [3]; expected [2] (the shape of variable 'a')"));
}

TEST_F(OptimizerLoadState, BadIterations) {
  NamedTensors state = state_;
  state[0].second = Tensor::from_vector({2}, {0, 1.5});
  EXPECT_THAT(load_error(state), HasSubstr("'iterations' must hold {hi, lo}"));
  state[0].second = vec({3});
  EXPECT_THAT(load_error(state), HasSubstr("'iterations' has shape [1]; expected [2]"));
}

TEST_F(OptimizerLoadState, ReportsEveryProblemAtOnce) {
  NamedTensors state = without("a/v");
  state.emplace_back("zzz", vec({0}));
  const std::string message = load_error(state);
  EXPECT_THAT(message, HasSubstr("missing: 'a/v'"));
  EXPECT_THAT(message, HasSubstr("unexpected: 'zzz'"));
}

TEST_F(OptimizerLoadState, DuplicateVariableNamesAreRejected) {
  Variable other_a(vec({5}), "a");
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                opt_.state({a_, other_a});
              }),
              HasSubstr("Adam.state: two variables are named 'a'"));
}

}  // namespace
}  // namespace xgrad::optim
