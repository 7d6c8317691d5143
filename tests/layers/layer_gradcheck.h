#pragma once
// Shared checks of the layer tests:
//  - check_layer_gradients: a layer's gradients with respect to its input AND every trainable
//    variable, from one tape, against central differences;
//  - expect_shape_errors: the build-once contract (batch axis free, other axes fixed, rank
//    checked, errors naming the layer path and the shapes);
//  - tensor_near: element-wise comparison with literal expected values.
//
// Why not xgrad::check_gradients for the weights: a layer reads its weights from Variables
// inside call(), so a function fn(x, w) that did `v.assign(w)` would hand the tape a copy, not
// the watched tensor `w`. Instead the analytic gradients come from
//   tape.gradient(Σ r ⊙ layer(x), {x, v₁, v₂, …})
// (Variables read under a tape are watched), and the numeric ones from perturbing each element
// of x, or of a variable through assign(), by ±eps. As in check_gradients, the projection and
// the differences are accumulated in double and the tolerances are GradientCheckOptions's
// (float: eps 1e-3, atol 1e-3, rtol 1e-2; double: eps 1e-6, atol 1e-5, rtol 1e-3).

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "layers/layer.h"
#include "tests/support/expect.h"

namespace xgrad::layers::testing {

/// Options of check_layer_gradients.
struct LayerGradCheckOptions {
  /// Passed to the layer: training-mode behaviour (BatchNormalization's batch statistics).
  bool training = false;
  /// eps / atol / rtol / projection seed; the defaults follow the build's scalar type.
  GradientCheckOptions tolerances = {};
};

namespace detail {

inline double project(const Tensor& y, const std::vector<double>& r) {
  if (y.size() != r.size()) {
    throw std::logic_error("check_layer_gradients: the layer returned shape " +
                           shape_to_string(y.shape()) + " on a perturbed input");
  }
  double total = 0;
  for (std::size_t i = 0; i < r.size(); ++i) total += r[i] * static_cast<double>(y.data()[i]);
  return total;
}

inline Shape unravel(std::size_t flat, const Shape& shape) {
  Shape pos(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    pos[i] = flat % shape[i];
    flat /= shape[i];
  }
  return pos;
}

inline Tensor with_element(const Tensor& t, std::size_t j, double value) {
  std::vector<real> v = t.to_vector();
  v[j] = static_cast<real>(value);
  return Tensor::from_vector(t.shape(), std::move(v));
}

}  // namespace detail

/// Checks d/dx and d/dv of f = Σ r ⊙ layer(x) for the input and every trainable variable of
/// `layer` (building it on `x` first if needed), with r a fixed random projection. Fails
/// naming the worst element (source, position, analytic, numeric) when some element has
/// |analytic - numeric| > atol + rtol·|numeric|, when an analytic gradient is missing or has
/// the wrong shape, or when a source's numeric gradient is identically zero (a vacuous check).
/// Variables are restored to their original values afterwards.
inline ::testing::AssertionResult check_layer_gradients(Layer& layer, const Tensor& x,
                                                        const LayerGradCheckOptions& options = {}) {
  const GradientCheckOptions& tol = options.tolerances;
  const Tensor y0 = layer(x, options.training);  // builds the layer
  std::mt19937_64 rng(tol.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> r(y0.size());
  for (double& v : r) v = uniform(rng);
  const Tensor r_tensor = Tensor::from_vector(y0.shape(), std::vector<real>(r.begin(), r.end()));

  const std::vector<Variable> variables = layer.trainable_variables();
  std::vector<std::string> names{"input"};
  std::vector<Tensor> values{x};
  for (const Variable& v : variables) {
    names.push_back("variable '" + v.name() + "'");
    values.push_back(v.peek());
  }

  // Analytic: one tape, one projection, gradients for the input and then the variables.
  std::vector<Tensor> analytic;
  {
    GradientTape tape(TapeOptions{.persistent = true});
    tape.watch(x);
    const Tensor y = layer(x, options.training);
    if (y.shape() != y0.shape()) {
      return ::testing::AssertionFailure()
             << layer.path() << " returned " << shape_to_string(y0.shape()) << " then "
             << shape_to_string(y.shape()) << " for the same input";
    }
    const Tensor loss = sum(mul(y, r_tensor));
    analytic.push_back(tape.gradient(loss, x, Tensor(), Unconnected::Zero)[0]);
    if (!variables.empty()) {
      for (const Tensor& g : tape.gradient(loss, variables, Tensor(), Unconnected::Zero)) {
        analytic.push_back(g);
      }
    }
  }

  struct Worst {
    double excess = -INFINITY;
    std::size_t source = 0, index = 0;
    double analytic = 0, numeric = 0;
  } worst;
  std::size_t failures = 0;
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Tensor& value = values[k];
    if (!analytic[k].defined() || analytic[k].shape() != value.shape()) {
      return ::testing::AssertionFailure()
             << layer.path() << ": the gradient of " << names[k] << " (shape "
             << shape_to_string(value.shape()) << ") is "
             << (analytic[k].defined() ? "of shape " + shape_to_string(analytic[k].shape())
                                       : std::string("undefined"));
    }
    // f at the source's element j moved to `v` (for a variable: assigned, then restored).
    auto evaluate = [&](std::size_t j, double v) {
      const Tensor moved = detail::with_element(value, j, v);
      if (k == 0) return detail::project(layer(moved, options.training), r);
      Variable var = variables[k - 1];
      var.assign(moved);
      const double f = detail::project(layer(x, options.training), r);
      var.assign(value);
      return f;
    };
    bool all_zero = true;
    for (std::size_t j = 0; j < value.size(); ++j) {
      const double xj = static_cast<double>(value.data()[j]);
      // Divide by the step actually taken after rounding to `real`.
      const double hi = static_cast<double>(static_cast<real>(xj + tol.eps));
      const double lo = static_cast<double>(static_cast<real>(xj - tol.eps));
      const double numeric = (evaluate(j, hi) - evaluate(j, lo)) / (hi - lo);
      const double a = static_cast<double>(analytic[k].data()[j]);
      all_zero = all_zero && std::abs(numeric) <= tol.atol;
      const double excess = std::isfinite(a)
                                ? std::abs(a - numeric) - (tol.atol + tol.rtol * std::abs(numeric))
                                : INFINITY;
      if (excess > 0) ++failures;
      if (excess > worst.excess) worst = {excess, k, j, a, numeric};
    }
    if (all_zero && value.size() > 0) {
      return ::testing::AssertionFailure()
             << layer.path() << ": the numeric gradient of " << names[k]
             << " is zero everywhere: the check would be vacuous";
    }
  }

  std::ostringstream msg;
  msg << layer.path() << (options.training ? " (training)" : " (inference)") << ": "
      << (failures ? std::to_string(failures) + " gradient element(s) mismatch"
                   : std::string("gradients match"))
      << "; worst is " << names[worst.source] << " (shape "
      << shape_to_string(values[worst.source].shape()) << ") at "
      << shape_to_string(detail::unravel(worst.index, values[worst.source].shape()))
      << ": analytic " << worst.analytic << ", numeric " << worst.numeric << " (|diff| "
      << std::abs(worst.analytic - worst.numeric) << ", tolerance atol " << tol.atol << " + rtol "
      << tol.rtol << "·|numeric|)";
  if (failures) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess() << msg.str();
}

/// Calls `layer(x)` expecting `Exception` whose message contains every one of `parts`.
template <class Exception>
::testing::AssertionResult throws_with(Layer& layer, const Tensor& x,
                                       const std::vector<std::string>& parts,
                                       bool training = false) {
  try {
    layer(x, training);
  } catch (const Exception& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) {
      if (what.find(p) == std::string::npos) {
        return ::testing::AssertionFailure() << "message \"" << what << "\" lacks \"" << p << "\"";
      }
    }
    return ::testing::AssertionSuccess() << what;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw the wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure()
         << "did not throw for input.shape=" << shape_to_string(x.shape());
}

/// The build-once contract: after a call on `built` (which builds the layer if needed), a
/// different batch size is accepted; `changed` (same rank, another non-batch extent) and
/// `wrong_rank` throw, naming the layer path and both shapes.
inline void expect_shape_errors(Layer& layer, const Shape& built, const Shape& changed,
                                const Shape& wrong_rank) {
  SCOPED_TRACE("layer " + layer.path());
  layer(Tensor::ones(built));
  ASSERT_TRUE(layer.built());
  EXPECT_EQ(layer.build_input_shape(), built);
  Shape other_batch = built;
  other_batch[0] = built[0] + 3;
  const Tensor y = layer(Tensor::ones(other_batch));
  EXPECT_EQ(y.shape()[0], other_batch[0]) << "the batch axis must be free";
  EXPECT_TRUE(throws_with<std::logic_error>(
      layer, Tensor::ones(changed),
      {layer.path(), shape_to_string(built), shape_to_string(changed)}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(layer, Tensor::ones(wrong_rank),
                                                 {layer.path(), shape_to_string(wrong_rank)}));
  // Still usable after the errors.
  EXPECT_NO_THROW(layer(Tensor::ones(built)));
}

/// Tolerance of value comparisons: round-off of a few float (or double) operations.
inline constexpr double kValueTol = sizeof(real) == 8 ? 1e-12 : 1e-5;

/// `actual` has `shape` and values within tol·max(1, |expected|) of `expected` (row-major):
/// the shared check, with this build's round-off as the default tolerance.
inline ::testing::AssertionResult tensor_near(const Tensor& actual, const Shape& shape,
                                              const std::vector<double>& expected,
                                              double tol = kValueTol) {
  return xgrad::testing::tensor_near(actual, shape, expected, tol);
}

/// Variable names, for EXPECT_THAT(names(layer.variables()), ElementsAre(...)).
inline std::vector<std::string> names(const std::vector<Variable>& variables) {
  std::vector<std::string> out;
  for (const Variable& v : variables) out.push_back(v.name());
  return out;
}

}  // namespace xgrad::layers::testing
