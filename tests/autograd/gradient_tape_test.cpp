// Tape semantics: what is recorded, accumulation, persistence, nesting, pausing,
// unconnected sources, variables, and misuse errors.

#include "autograd/gradient_tape.h"

#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/autograd.h"

namespace xgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(GradientTape, GradientOfProduct) {
  Tensor x{1, 2, 3};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(x * x);
  EXPECT_THAT(tape.gradient(y, x)[0].to_vector(), ElementsAre(2, 4, 6));
}

TEST(GradientTape, UnwatchedTensorsAreNotRecorded) {
  Tensor x{1, 2};
  GradientTape tape;
  Tensor y = sum(x * x);
  EXPECT_EQ(tape.num_records(), 0u);
  EXPECT_FALSE(tape.gradient(y, x)[0].defined());
}

TEST(GradientTape, WatchOfConstantMakesItASource) {
  Tensor c(real(3));
  GradientTape tape;
  tape.watch(c);
  Tensor y = c * c * c;
  EXPECT_NEAR(tape.gradient(y, c)[0].item(), 27, 1e-5);
}

TEST(GradientTape, OneTensorFeedingSeveralOpsAccumulates) {
  // The siamese case: one weight used by two branches gets the sum of both gradients.
  Tensor w{{1, 2}, {3, 4}};
  Tensor a{{1, 0}};
  Tensor b{{0, 1}};
  GradientTape tape;
  tape.watch(w);
  Tensor ya = matmul(a, w);
  Tensor yb = matmul(b, w);
  Tensor loss = sum(ya) + sum(yb * real(2));
  // d/dw = aᵀ·1 + bᵀ·2
  EXPECT_THAT(tape.gradient(loss, w)[0].to_vector(), ElementsAre(1, 1, 2, 2));
}

TEST(GradientTape, SameTensorInBothSlotsOfOneOp) {
  Tensor x{3};
  GradientTape tape;
  tape.watch(x);
  EXPECT_THAT(tape.gradient(sum(mul(x, x)), x)[0].to_vector(), ElementsAre(6));
}

TEST(GradientTape, NonPersistentRefusesSecondCall) {
  Tensor x{1};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(x * x);
  tape.gradient(y, x);
  try {
    tape.gradient(y, x);
    FAIL() << "expected logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("non-persistent"));
  }
}

TEST(GradientTape, PersistentAllowsSeveralCalls) {
  Tensor x{2};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor y = x * x;
  Tensor z = y * y;
  EXPECT_NEAR(tape.gradient(sum(z), x)[0].item(), 32, 1e-5);  // 4x³
  EXPECT_NEAR(tape.gradient(sum(y), x)[0].item(), 4, 1e-5);   // 2x
}

TEST(GradientTape, NonScalarTargetNeedsOutputGradient) {
  Tensor x{1, 2};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor y = x * x;
  try {
    tape.gradient(y, x);
    FAIL() << "expected logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2]"));
  }
  EXPECT_THAT(tape.gradient(y, x, Tensor{1, 10})[0].to_vector(), ElementsAre(2, 40));
  EXPECT_THROW(tape.gradient(y, x, Tensor{1, 2, 3}), std::invalid_argument);
}

TEST(GradientTape, UnconnectedSourcesNoneOrZero) {
  Tensor x{1, 2};
  Tensor z{5, 6, 7};
  GradientTape tape({.persistent = true});
  tape.watch(x);
  tape.watch(z);
  Tensor y = sum(x);
  auto g = tape.gradient(y, {x, z});
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
  g = tape.gradient(y, {x, z}, Tensor(), Unconnected::Zero);
  EXPECT_THAT(g[1].to_vector(), ElementsAre(0, 0, 0));
}

TEST(GradientTape, StopRecordingPausesThisTape) {
  Tensor x{2};
  GradientTape tape;
  tape.watch(x);
  Tensor y = x * x;
  Tensor z;
  {
    auto pause = tape.stop_recording();
    EXPECT_FALSE(tape.recording());
    z = y * x;  // not recorded: treated as a constant path
  }
  EXPECT_TRUE(tape.recording());
  Tensor w = y + z;
  // Only y = x² was recorded into w: dw/dx = 2x (z's dependence on x is invisible).
  EXPECT_NEAR(tape.gradient(sum(w), x)[0].item(), 4, 1e-5);
}

TEST(GradientTape, VariablesReadUnderTapeAreWatched) {
  Variable v(Tensor{1, 2}, "v");
  GradientTape tape;
  Tensor y = sum(v.value() * Tensor{3, 4});
  EXPECT_THAT(tape.gradient(y, v)[0].to_vector(), ElementsAre(3, 4));
}

TEST(GradientTape, VariableReadTwiceSumsBothReads) {
  Variable v(Tensor{1}, "v");
  GradientTape tape;
  Tensor a = v.value() * real(2);
  Tensor b = v.value() * real(5);
  EXPECT_THAT(tape.gradient(sum(a + b), std::vector<Variable>{v})[0].to_vector(), ElementsAre(7));
}

TEST(GradientTape, WatchAccessedVariablesCanBeTurnedOff) {
  Variable v(Tensor{1}, "v");
  GradientTape tape({.watch_accessed_variables = false});
  Tensor y = sum(v.value() * v.value());
  EXPECT_FALSE(tape.gradient(y, v)[0].defined());
}

TEST(GradientTape, MixedTensorAndVariableSources) {
  Variable w(Tensor{2}, "w");
  Tensor x{3};
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(x * w);
  auto g = tape.gradient(y, {x, w});
  EXPECT_NEAR(g[0].item(), 2, 1e-6);
  EXPECT_NEAR(g[1].item(), 3, 1e-6);
}

TEST(GradientTape, NestedTapesGiveSecondDerivative) {
  Tensor x(real(3));
  GradientTape outer;
  outer.watch(x);
  Tensor dy;
  {
    GradientTape inner;
    inner.watch(x);
    Tensor y = x * x * x;
    dy = inner.gradient(y, x)[0];  // 3x² = 27
  }
  EXPECT_NEAR(dy.item(), 27, 1e-4);
  EXPECT_NEAR(outer.gradient(dy, x)[0].item(), 18, 1e-4);  // 6x
}

TEST(GradientTape, SimultaneousTapesRecordIndependently) {
  Tensor a{1};
  Tensor b{2};
  GradientTape ta;
  GradientTape tb;
  ta.watch(a);
  tb.watch(b);
  Tensor y = sum(a * b);
  EXPECT_NEAR(ta.gradient(y, a)[0].item(), 2, 1e-6);
  EXPECT_NEAR(tb.gradient(y, b)[0].item(), 1, 1e-6);
}

TEST(GradientTape, TargetIsItsOwnSource) {
  Tensor x{4};
  GradientTape tape;
  tape.watch(x);
  EXPECT_THAT(tape.gradient(x, x)[0].to_vector(), ElementsAre(1));
}

TEST(GradientTape, WrongShapedCustomGradientNamesOpAndShapes) {
  Tensor x{1, 2};
  GradientTape tape;
  tape.watch(x);
  Tensor y = custom_gradient(
      "bad_op", {x}, [](const std::vector<Tensor>& in) { return in[0] * real(2); },
      [](const std::vector<Tensor>&, const Tensor&, const Tensor&) {
        return std::vector<Tensor>{Tensor{1, 2, 3}};
      });
  try {
    tape.gradient(sum(y), x);
    FAIL() << "expected logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad_op"));
    EXPECT_THAT(e.what(), HasSubstr("[3]"));
    EXPECT_THAT(e.what(), HasSubstr("[2]"));
  }
}

TEST(CustomGradient, ForwardIsNotRecordedAndBackwardIsUsed) {
  Tensor x{1, 2};
  GradientTape tape;
  tape.watch(x);
  // Forward x*2 but a deliberately different gradient (g*10) proves the user's backward
  // is the one applied.
  Tensor y = custom_gradient(
      "scaled", {x}, [](const std::vector<Tensor>& in) { return in[0] * real(2); },
      [](const std::vector<Tensor>&, const Tensor&, const Tensor& g) {
        return std::vector<Tensor>{g * real(10)};
      });
  EXPECT_THAT(y.to_vector(), ElementsAre(2, 4));
  EXPECT_THAT(tape.gradient(sum(y), x)[0].to_vector(), ElementsAre(10, 10));
}

TEST(CustomGradient, IdentityForwardGetsItsOwnId) {
  Tensor x{1, 2};
  GradientTape tape;
  tape.watch(x);
  Tensor y = custom_gradient(
      "identity", {x}, [](const std::vector<Tensor>& in) { return in[0]; },
      [](const std::vector<Tensor>&, const Tensor&, const Tensor& g) {
        return std::vector<Tensor>{g * real(3)};
      });
  EXPECT_NE(y.id(), x.id());
  EXPECT_THAT(tape.gradient(sum(y), x)[0].to_vector(), ElementsAre(3, 3));
}

}  // namespace
}  // namespace xgrad
