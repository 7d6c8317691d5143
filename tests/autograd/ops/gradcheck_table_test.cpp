// The gradient-check table: every differentiable op of autograd/ops, each case checked
// against central differences by the public check_gradients (double build: PyTorch
// gradcheck tolerances; float build: float tolerances), and a second table checking second
// derivatives (a gradient computed under an inner tape, differentiated by the outer one).

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "tests/support/random.h"

namespace xgrad {
namespace {

using testing::away_from_zero;
using testing::distinct;
using testing::uniform;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpCase {
  std::string name;
  Fn fn;
  std::vector<Tensor> inputs;
};

std::ostream& operator<<(std::ostream& os, const OpCase& c) { return os << c.name; }

// Values on a 0.05 grid shifted by 0.0125: never within 0.0125 of one another's grid
// (pairs for maximum/minimum), nor of the clip bounds ±0.3.
Tensor off_grid(const Shape& shape, std::uint64_t seed) {
  return add(distinct(shape, 0.05, seed), Tensor(real(0.0125)));
}
Tensor positive(const Shape& shape, std::uint64_t seed = 7) { return uniform(shape, 0.5, 2.0, seed); }

Conv2DOptions conv(int sh, int sw, Padding p, int dh = 1, int dw = 1) {
  Conv2DOptions o;
  o.strides = {sh, sw};
  o.dilations = {dh, dw};
  o.padding = p;
  return o;
}
Pool2DOptions pool(int wh, int ww, int sh, int sw, Padding p) {
  Pool2DOptions o;
  o.window = {wh, ww};
  o.strides = {sh, sw};
  o.padding = p;
  return o;
}

std::vector<OpCase> first_order_cases() {
  const Shape s23{2, 3};
  std::vector<OpCase> c;
  auto unary = [&](const std::string& name, Tensor (*op)(const Tensor&), Tensor x) {
    c.push_back({name, [op](const std::vector<Tensor>& in) { return op(in[0]); }, {x}});
  };
  auto binary = [&](const std::string& name, Tensor (*op)(const Tensor&, const Tensor&), Tensor a,
                    Tensor b) {
    c.push_back({name, [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); }, {a, b}});
  };
  // Element-wise, with broadcasting.
  binary("add", add, uniform(s23, -1, 1, 1), uniform(s23, -1, 1, 2));
  binary("add_broadcast_row", add, uniform({2, 3}, -1, 1, 1), uniform({3}, -1, 1, 2));
  binary("add_broadcast_both", add, uniform({2, 1, 4}, -1, 1, 1), uniform({3, 1}, -1, 1, 2));
  binary("sub_broadcast", sub, uniform({3, 1}, -1, 1, 1), uniform({2, 1, 4}, -1, 1, 2));
  binary("mul", mul, uniform(s23, -1, 1, 1), uniform(s23, -1, 1, 2));
  binary("mul_broadcast", mul, uniform({2, 3, 2}, -1, 1, 1), uniform({3, 1}, -1, 1, 2));
  binary("mul_scalar_tensor", mul, uniform(s23, -1, 1, 1), Tensor(real(1.5)));
  binary("div", div, uniform(s23, -1, 1, 1), away_from_zero(s23, 0.5, 1.5, 2));
  binary("div_broadcast", div, uniform({2, 3}, -1, 1, 1), away_from_zero({2, 1}, 0.5, 1.5, 2));
  unary("neg", neg, uniform(s23));
  binary("pow", pow, positive(s23, 1), uniform(s23, -2, 2, 2));
  c.push_back({"pow_scalar_exponent",
               [](const std::vector<Tensor>& in) { return pow(in[0], real(2.5)); },
               {positive(s23)}});
  unary("square", square, uniform(s23));
  unary("sqrt", sqrt, positive(s23));
  unary("exp", exp, uniform(s23));
  unary("log", log, positive(s23));
  unary("abs", abs, away_from_zero(s23));
  binary("maximum", maximum, off_grid(s23, 1), off_grid(s23, 2));
  // a sits on the grid 0.05k + 0.0125, b half-way between grid points: no ties.
  binary("maximum_broadcast", maximum, off_grid({2, 3}, 1), Tensor{0.0375, -0.1125, 0.0875});
  binary("minimum", minimum, off_grid(s23, 1), off_grid(s23, 2));
  c.push_back({"clip", [](const std::vector<Tensor>& in) { return clip(in[0], real(-0.3), real(0.3)); },
               {off_grid({4, 5}, 3)}});
  unary("relu", relu, away_from_zero(s23));
  binary("relu_grad", relu_grad, uniform(s23, -1, 1, 1), away_from_zero(s23, 0.2, 1.2, 2));
  unary("sigmoid", sigmoid, uniform(s23, -3, 3));
  unary("tanh", tanh, uniform(s23, -2, 2));
  unary("softplus", softplus, uniform(s23, -3, 3));
  c.push_back({"where",
               [](const std::vector<Tensor>& in) {
                 return where(Tensor{{1, 0, 1}, {0, 0, 1}}, in[0], in[1]);
               },
               {uniform(s23, -1, 1, 1), uniform({3}, -1, 1, 2)}});
  c.push_back({"operators",
               [](const std::vector<Tensor>& in) { return (in[0] * 2.0f - in[1]) / (in[1] * in[1] + 1) + -in[0]; },
               {uniform(s23, -1, 1, 1), uniform(s23, -1, 1, 2)}});

  // Reductions.
  auto reduction = [&](const std::string& name, Tensor (*op)(const Tensor&, const std::vector<int>&, bool),
                       std::vector<int> axes, bool keep, Tensor x) {
    c.push_back({name, [op, axes, keep](const std::vector<Tensor>& in) { return op(in[0], axes, keep); }, {x}});
  };
  reduction("sum_all", sum, {}, false, uniform({2, 3, 4}));
  reduction("sum_axis1_keepdims", sum, {1}, true, uniform({2, 3, 4}));
  reduction("sum_axes_0_2", sum, {0, -1}, false, uniform({2, 3, 4}));
  reduction("mean_all", mean, {}, false, uniform({2, 3, 4}));
  reduction("mean_last_keepdims", mean, {-1}, true, uniform({2, 3, 4}));
  reduction("max_all", max, {}, false, distinct({2, 3, 4}));
  reduction("max_axis1", max, {1}, false, distinct({2, 3, 4}));
  reduction("max_axes_0_2_keepdims", max, {0, 2}, true, distinct({2, 3, 4}));
  c.push_back({"broadcast_to", [](const std::vector<Tensor>& in) { return broadcast_to(in[0], {2, 3, 4}); },
               {uniform({3, 1})}});
  c.push_back({"reduce_to_shape", [](const std::vector<Tensor>& in) { return reduce_to_shape(in[0], {3, 1}); },
               {uniform({2, 3, 4})}});

  // Matrix products.
  auto mm = [&](const std::string& name, bool ta, bool tb, Tensor a, Tensor b) {
    c.push_back({name, [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); }, {a, b}});
  };
  mm("matmul", false, false, uniform({3, 4}, -1, 1, 1), uniform({4, 5}, -1, 1, 2));
  mm("matmul_transpose_a", true, false, uniform({4, 3}, -1, 1, 1), uniform({4, 5}, -1, 1, 2));
  mm("matmul_transpose_b", false, true, uniform({3, 4}, -1, 1, 1), uniform({5, 4}, -1, 1, 2));
  mm("matmul_transpose_both", true, true, uniform({4, 3}, -1, 1, 1), uniform({5, 4}, -1, 1, 2));
  mm("matmul_batched", false, false, uniform({2, 3, 4}, -1, 1, 1), uniform({2, 4, 2}, -1, 1, 2));
  mm("matmul_batch_times_matrix", false, false, uniform({2, 3, 4}, -1, 1, 1), uniform({4, 2}, -1, 1, 2));
  mm("matmul_broadcast_batches", false, false, uniform({2, 1, 3, 4}, -1, 1, 1), uniform({3, 4, 2}, -1, 1, 2));
  mm("matmul_batched_transposed", true, true, uniform({2, 4, 3}, -1, 1, 1), uniform({1, 2, 4}, -1, 1, 2));

  // Shape ops.
  c.push_back({"reshape", [](const std::vector<Tensor>& in) { return reshape(in[0], {3, -1}); }, {uniform({2, 3, 2})}});
  c.push_back({"flatten", [](const std::vector<Tensor>& in) { return flatten(in[0]); }, {uniform({2, 3, 2})}});
  c.push_back({"transpose", [](const std::vector<Tensor>& in) { return transpose(in[0], {2, 0, 1}); }, {uniform({2, 3, 4})}});
  c.push_back({"transpose_reverse", [](const std::vector<Tensor>& in) { return transpose(in[0]); }, {uniform({2, 3})}});
  c.push_back({"concat_axis1", [](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); },
               {uniform({2, 3, 2}, -1, 1, 1), uniform({2, 1, 2}, -1, 1, 2)}});
  c.push_back({"stack_last", [](const std::vector<Tensor>& in) { return stack({in[0], in[1], in[0]}, -1); },
               {uniform({2, 3}, -1, 1, 1), uniform({2, 3}, -1, 1, 2)}});
  c.push_back({"slice", [](const std::vector<Tensor>& in) { return slice(in[0], {1, 0, 1}, {2, -1, 2}); },
               {uniform({3, 2, 4})}});
  c.push_back({"gather_repeats", [](const std::vector<Tensor>& in) { return gather(in[0], {2, 0, 2, 1}); },
               {uniform({3, 2})}});
  c.push_back({"scatter_add", [](const std::vector<Tensor>& in) { return scatter_add(in[0], {1, 1, 0}, {3, 2}); },
               {uniform({3, 2})}});

  // Convolutions.
  auto cv = [&](const std::string& name, Conv2DOptions o, Shape xs, Shape ks) {
    c.push_back({name, [o](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], o); },
                 {uniform(xs, -1, 1, 1), uniform(ks, -1, 1, 2)}});
  };
  cv("conv2d_valid", conv(1, 1, Padding::Valid), {2, 5, 5, 2}, {3, 3, 2, 3});
  cv("conv2d_same_stride2_odd", conv(2, 2, Padding::Same), {1, 5, 7, 2}, {3, 3, 2, 2});
  cv("conv2d_dilation2", conv(1, 1, Padding::Valid, 2, 2), {1, 6, 6, 1}, {2, 3, 1, 2});
  cv("conv2d_nonsquare_strides", conv(2, 1, Padding::Same, 1, 2), {2, 6, 5, 3}, {3, 2, 3, 2});
  cv("conv2d_1x1", conv(1, 1, Padding::Valid), {2, 3, 3, 4}, {1, 1, 4, 3});
  // The fused layer op: bias and relu (pre-activations here are at least 0.02 away from the
  // kink, far beyond the checker's step), and bias alone with strides and same padding.
  c.push_back({"fused_conv2d_bias_relu",
               [](const std::vector<Tensor>& in) {
                 return fused_conv2d(in[0], in[1], in[2], conv(1, 1, Padding::Valid), FusedActivation::Relu);
               },
               {uniform({2, 4, 4, 2}, -1, 1, 1), uniform({3, 3, 2, 3}, -1, 1, 2), uniform({3}, -0.5, 0.5, 3)}});
  c.push_back({"fused_conv2d_bias_linear",
               [](const std::vector<Tensor>& in) {
                 return fused_conv2d(in[0], in[1], in[2], conv(2, 2, Padding::Same), FusedActivation::Linear);
               },
               {uniform({1, 5, 6, 2}, -1, 1, 1), uniform({3, 3, 2, 3}, -1, 1, 2), uniform({3}, -1, 1, 3)}});
  {
    const Conv2DOptions o = conv(2, 2, Padding::Same);
    const Shape xs{1, 5, 6, 2}, ks{3, 3, 2, 3};
    c.push_back({"conv2d_backprop_input",
                 [o, xs](const std::vector<Tensor>& in) { return conv2d_backprop_input(in[0], in[1], xs, o); },
                 {uniform({1, 3, 3, 3}, -1, 1, 1), uniform(ks, -1, 1, 2)}});
    c.push_back({"conv2d_backprop_filter",
                 [o, ks](const std::vector<Tensor>& in) { return conv2d_backprop_filter(in[0], in[1], ks, o); },
                 {uniform(xs, -1, 1, 1), uniform({1, 3, 3, 3}, -1, 1, 2)}});
  }

  // Pooling (distinct inputs: no ties within a window).
  auto pl = [&](const std::string& name, Tensor (*op)(const Tensor&, const Pool2DOptions&),
                Pool2DOptions o, Tensor x) {
    c.push_back({name, [op, o](const std::vector<Tensor>& in) { return op(in[0], o); }, {x}});
  };
  pl("max_pool2d_valid", max_pool2d, pool(2, 2, 2, 2, Padding::Valid), distinct({2, 4, 4, 2}));
  pl("max_pool2d_same_stride2_odd", max_pool2d, pool(3, 3, 2, 2, Padding::Same), distinct({1, 5, 5, 2}));
  pl("max_pool2d_overlapping_nonsquare", max_pool2d, pool(2, 3, 1, 2, Padding::Valid), distinct({1, 4, 7, 1}));
  pl("avg_pool2d_valid", avg_pool2d, pool(2, 2, 2, 2, Padding::Valid), uniform({2, 4, 4, 2}));
  pl("avg_pool2d_same_stride2_odd", avg_pool2d, pool(3, 3, 2, 2, Padding::Same), uniform({1, 5, 5, 2}));

  // Softmax family.
  c.push_back({"softmax_last", [](const std::vector<Tensor>& in) { return softmax(in[0]); }, {uniform({2, 4}, -2, 2)}});
  c.push_back({"softmax_axis0", [](const std::vector<Tensor>& in) { return softmax(in[0], 0); }, {uniform({3, 2, 2}, -2, 2)}});
  c.push_back({"log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {uniform({2, 4}, -2, 2)}});
  c.push_back({"log_softmax_axis1", [](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); }, {uniform({2, 3, 2}, -2, 2)}});
  c.push_back({"softmax_cross_entropy",
               [](const std::vector<Tensor>& in) { return softmax_cross_entropy(softmax(in[0]), in[1]); },
               {uniform({3, 4}, -1, 1, 1), uniform({3, 4}, -3, 3, 2)}});
  c.push_back({"sparse_softmax_cross_entropy",
               [](const std::vector<Tensor>& in) { return sparse_softmax_cross_entropy({2, 0, 3}, in[0]); },
               {uniform({3, 4}, -3, 3)}});

  // A user-defined op through custom_gradient.
  c.push_back({"custom_gradient_log1pexp",
               [](const std::vector<Tensor>& in) {
                 return custom_gradient(
                     "log1pexp", {in[0]}, [](const std::vector<Tensor>& x) { return softplus(x[0]); },
                     [](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
                       return std::vector<Tensor>{mul(g, sigmoid(x[0]))};
                     });
               },
               {uniform(s23, -3, 3)}});
  return c;
}

class GradCheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(GradCheck, AnalyticMatchesNumeric) {
  const OpCase& c = GetParam();
  const GradientCheckResult r = check_gradients(c.fn, c.inputs);
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

// Using the same input twice must add both contributions (the siamese case): checked by
// feeding input 0 to both operand slots.
TEST_P(GradCheck, AccumulatesWhenAnInputIsUsedTwice) {
  const OpCase& c = GetParam();
  Fn twice = [&c](const std::vector<Tensor>& in) {
    std::vector<Tensor> args = c.inputs;
    args[0] = in[0];
    Tensor first = c.fn(args);
    return add(first, c.fn(args));
  };
  const GradientCheckResult r = check_gradients(twice, {c.inputs[0]});
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, GradCheck, ::testing::ValuesIn(first_order_cases()), case_name);

// ---- Second derivatives ---------------------------------------------------------------

// The gradient of Σ w ⊙ op(inputs) with respect to every input, computed under an inner tape
// and returned flattened: check_gradients' own tape then differentiates the inner gradient
// computation.
Fn gradient_of(Fn op, std::uint64_t seed = 11) {
  return [op, seed](const std::vector<Tensor>& in) {
    GradientTape tape;
    for (const Tensor& t : in) tape.watch(t);
    Tensor y = op(in);
    Tensor w = uniform(y.shape(), -1, 1, seed);
    std::vector<Tensor> grads = tape.gradient(sum(mul(y, w)), in, Tensor(), Unconnected::Zero);
    std::vector<Tensor> flat;
    for (const Tensor& g : grads) flat.push_back(reshape(g, {-1}));
    return concat(flat, 0);
  };
}

std::vector<OpCase> second_order_cases() {
  std::vector<OpCase> c;
  for (const OpCase& base : first_order_cases()) {
    static const char* kNames[] = {
        "add_broadcast_both", "sub_broadcast", "mul_broadcast", "div", "pow", "pow_scalar_exponent",
        "square", "sqrt", "exp", "log", "abs", "maximum", "relu", "relu_grad", "sigmoid", "tanh", "softplus",
        "where", "operators", "matmul", "matmul_transpose_both", "matmul_broadcast_batches",
        "sum_axis1_keepdims", "mean_all", "max_axis1", "reduce_to_shape", "broadcast_to",
        "conv2d_valid", "conv2d_same_stride2_odd", "conv2d_dilation2", "conv2d_backprop_input",
        "conv2d_backprop_filter", "fused_conv2d_bias_relu", "max_pool2d_same_stride2_odd", "avg_pool2d_same_stride2_odd",
        "softmax_last", "log_softmax", "softmax_cross_entropy", "slice", "gather_repeats",
        "transpose", "concat_axis1"};
    for (const char* n : kNames) {
      if (base.name == n) c.push_back({base.name, gradient_of(base.fn), base.inputs});
    }
  }
  return c;
}

class SecondDerivative : public ::testing::TestWithParam<OpCase> {};

TEST_P(SecondDerivative, NestedTapesMatchNumeric) {
  const OpCase& c = GetParam();
  const GradientCheckResult r = check_gradients(c.fn, c.inputs);
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

INSTANTIATE_TEST_SUITE_P(Ops, SecondDerivative, ::testing::ValuesIn(second_order_cases()),
                         case_name);

TEST(SecondDerivative, TableCoversTheListedOps) { EXPECT_EQ(second_order_cases().size(), 42u); }

}  // namespace
}  // namespace xgrad
