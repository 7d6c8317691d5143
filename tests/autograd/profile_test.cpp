// Tests of the per-op profile: forward and backward rows per op, outermost-only timing (ops
// inside a backward are part of it), optimizer updates, and reset.

#include "autograd/profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "autograd/autograd.h"

namespace xgrad {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

std::string profile_text() {
  std::ostringstream os;
  print_profile(os);
  return os.str();
}

// Restores the profiling switch whatever a test does.
class Profile : public ::testing::Test {
 protected:
  void SetUp() override {
    was_enabled_ = profiling_enabled();
    set_profiling(true);
    reset_profile();
  }
  void TearDown() override {
    reset_profile();
    set_profiling(was_enabled_);
  }

 private:
  bool was_enabled_ = false;
};

TEST_F(Profile, CountsForwardAndBackwardPerOp) {
  const Tensor a = Tensor::ones({4, 3}), b = Tensor::ones({3, 2});
  GradientTape tape;
  tape.watch(a);
  const Tensor y = sum(matmul(a, b));
  tape.gradient(y, {a});
  const std::string text = profile_text();
  EXPECT_THAT(text, ContainsRegex("matmul +forward +1 "));
  EXPECT_THAT(text, ContainsRegex("matmul +backward +1 "));
  EXPECT_THAT(text, ContainsRegex("sum +forward +1 "));
  EXPECT_THAT(text, ContainsRegex("sum +backward +1 "));
  // The matmul inside matmul's backward is part of the backward row, not a forward call.
  EXPECT_THAT(text, Not(ContainsRegex("matmul +forward +2 ")));
  EXPECT_THAT(text, HasSubstr("share"));
}

TEST_F(Profile, OptimizerUpdatesHaveTheirOwnRow) {
  Variable w(Tensor::ones({3}), "w");
  optim::SGD sgd;
  sgd.apply_gradients({Tensor::ones({3})}, {w});
  sgd.apply_gradients({Tensor::ones({3})}, {w});
  EXPECT_THAT(profile_text(), ContainsRegex("SGD +update +2 "));
}

TEST_F(Profile, ResetAndDisableStopCounting) {
  relu(Tensor::ones({2}));
  reset_profile();
  EXPECT_THAT(profile_text(), Not(HasSubstr("relu")));
  set_profiling(false);
  relu(Tensor::ones({2}));
  EXPECT_THAT(profile_text(), Not(HasSubstr("relu")));
}

}  // namespace
}  // namespace xgrad
