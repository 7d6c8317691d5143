// The shared assertion helpers fail when they should: a checker that always passes would make
// every test that uses it vacuous.

#include "tests/support/expect.h"

#include <limits>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "autograd/tensor.h"

namespace xgrad::testing {
namespace {

TEST(TensorNear, AcceptsValuesWithinTheTolerance) {
  const Tensor t = Tensor::from_vector({2}, {real(1), real(-200)});
  EXPECT_TRUE(tensor_near(t, {2}, {1.0, -200.0}));
  EXPECT_TRUE(tensor_near(t, {2}, {1.0 + 5e-6, -200.0 - 1e-3}));  // 1e-5 · max(1, |200|)
}

TEST(TensorNear, RejectsAWrongValueShapeCountOrAnUndefinedTensor) {
  const Tensor t = Tensor::from_vector({2}, {real(1), real(2)});
  EXPECT_FALSE(tensor_near(t, {2}, {1.0, 2.001}));
  EXPECT_FALSE(tensor_near(t, {2}, {1.0, 2.0001}, 1e-6));
  EXPECT_FALSE(tensor_near(t, {1, 2}, {1.0, 2.0}));
  EXPECT_FALSE(tensor_near(t, {2}, {1.0}));
  EXPECT_FALSE(tensor_near(Tensor(), {2}, {1.0, 2.0}));
  const Tensor nan = Tensor::from_vector({1}, {std::numeric_limits<real>::quiet_NaN()});
  EXPECT_FALSE(tensor_near(nan, {1}, {0.0}));
}

TEST(ErrorMessage, ReturnsTheMessageOfTheExpectedType) {
  EXPECT_EQ(invalid_argument_message([] { throw std::invalid_argument("bad shape"); }),
            "bad shape");
  // A derived type is the expected type too.
  EXPECT_EQ(error_message<std::runtime_error>([] { throw std::range_error("too big"); }),
            "too big");
}

}  // namespace
}  // namespace xgrad::testing
