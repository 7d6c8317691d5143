// The public gradient checker itself: it must pass correct gradients and catch wrong ones,
// reporting the worst element.

#include "autograd/gradient_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/autograd.h"

namespace xgrad {
namespace {

using ::testing::HasSubstr;

TEST(CheckGradients, PassesACorrectOp) {
  auto r = check_gradients([](const std::vector<Tensor>& in) { return in[0] * in[0] * in[1]; },
                           {Tensor{{0.5, -1}, {2, 0.25}}, Tensor{1, 3}});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_LT(r.max_abs_error, 1e-2);
}

TEST(CheckGradients, CatchesAWrongBackwardAndNamesTheWorstElement) {
  // A custom op whose backward is wrong for element 2 only.
  auto wrong = [](const std::vector<Tensor>& in) {
    return custom_gradient(
        "wrong", {in[0]}, [](const std::vector<Tensor>& x) { return square(x[0]); },
        [](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
          Tensor bad = Tensor{1, 1, 3, 1};  // scales the third element's gradient
          return std::vector<Tensor>{g * x[0] * real(2) * bad};
        });
  };
  auto r = check_gradients(wrong, {Tensor{1, 2, 3, 4}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.input, 0u);
  EXPECT_EQ(r.index, 2u);
  EXPECT_EQ(r.position, (Shape{2}));
  EXPECT_NEAR(r.analytic, 3 * r.numeric, 1e-2 * std::abs(r.numeric));
  EXPECT_THAT(r.message, HasSubstr("mismatch"));
  EXPECT_THAT(r.message, HasSubstr("[2]"));
}

TEST(CheckGradients, ReportsWhichInput) {
  auto wrong = [](const std::vector<Tensor>& in) {
    return custom_gradient(
        "wrong2", {in[0], in[1]},
        [](const std::vector<Tensor>& x) { return x[0] * x[1]; },
        [](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
          return std::vector<Tensor>{g * x[1], g * x[1]};  // second should be g * x[0]
        });
  };
  auto r = check_gradients(wrong, {Tensor{{1, 2}}, Tensor{{5, -7}}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.input, 1u);
}

TEST(CheckGradients, RejectsEmptyInputs) {
  EXPECT_THROW(check_gradients([](const std::vector<Tensor>& in) { return in[0]; }, {}),
               std::invalid_argument);
}

}  // namespace
}  // namespace xgrad
