// check_gradients: analytic gradients of f(x) = Σ r ⊙ fn(x) (one backward pass) against
// central differences (f(x + eps·eᵢ) - f(x - eps·eᵢ)) / 2eps, element by element. The
// projection and the differences are accumulated in double, so a float build's error is
// the op's own, not the check's.

#include "autograd/gradient_check.h"

#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include "autograd/gradient_tape.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace xgrad {

namespace {

double project(const Tensor& y, const std::vector<double>& r) {
  if (y.size() != r.size()) {
    throw std::invalid_argument("check_gradients: fn returned shape " + shape_to_string(y.shape()) +
                                " on a perturbed input, unlike on the original input");
  }
  double total = 0;
  for (std::size_t i = 0; i < r.size(); ++i) total += r[i] * static_cast<double>(y.data()[i]);
  return total;
}

Shape unravel(std::size_t flat, const Shape& shape) {
  Shape pos(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    pos[i] = flat % shape[i];
    flat /= shape[i];
  }
  return pos;
}

}  // namespace

GradientCheckResult check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                    const std::vector<Tensor>& inputs,
                                    const GradientCheckOptions& options) {
  if (inputs.empty()) throw std::invalid_argument("check_gradients: needs at least one input");
  for (const Tensor& t : inputs) {
    if (!t.defined()) throw std::invalid_argument("check_gradients: an input is undefined");
  }

  // The fixed random projection, drawn once the output shape is known.
  const Tensor y0 = fn(inputs);
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> r(y0.size());
  for (double& v : r) v = uniform(rng);
  std::vector<real> r_real(r.begin(), r.end());
  const Tensor r_tensor = Tensor::from_vector(y0.shape(), r_real);

  std::vector<Tensor> analytic;
  {
    GradientTape tape;
    for (const Tensor& t : inputs) tape.watch(t);
    const Tensor y = fn(inputs);
    if (y.shape() != y0.shape()) {
      throw std::invalid_argument("check_gradients: fn returned different shapes on two calls");
    }
    const Tensor loss = sum(mul(y, r_tensor));
    analytic = tape.gradient(loss, std::vector<Tensor>(inputs), Tensor(), Unconnected::Zero);
  }

  GradientCheckResult result;
  double worst_excess = -1;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    for (std::size_t j = 0; j < x.size(); ++j) {
      auto evaluate = [&](double delta) {
        Array perturbed = x.array();
        perturbed.data()[j] = static_cast<real>(static_cast<double>(perturbed.data()[j]) + delta);
        std::vector<Tensor> args = inputs;
        args[i] = Tensor(std::move(perturbed));
        return project(fn(args), r);
      };
      // Divide by the step actually taken after rounding to `real`.
      const double xj = static_cast<double>(x.data()[j]);
      const double hi = static_cast<double>(static_cast<real>(xj + options.eps));
      const double lo = static_cast<double>(static_cast<real>(xj - options.eps));
      const double numeric = (evaluate(hi - xj) - evaluate(lo - xj)) / (hi - lo);
      const double a = static_cast<double>(analytic[i].data()[j]);
      const double err = std::abs(a - numeric);
      const double tol = options.atol + options.rtol * std::abs(numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      const double excess = std::isfinite(a) ? err - tol : INFINITY;
      if (excess > worst_excess) {
        worst_excess = excess;
        result.input = i;
        result.index = j;
        result.position = unravel(j, x.shape());
        result.analytic = a;
        result.numeric = numeric;
      }
    }
  }
  result.ok = worst_excess <= 0;
  std::ostringstream msg;
  msg << (result.ok ? "gradients match" : "gradient mismatch") << ": worst element is input "
      << result.input << " (shape " << shape_to_string(inputs[result.input].shape()) << ") at "
      << shape_to_string(result.position) << ": analytic " << result.analytic << ", numeric "
      << result.numeric << " (|diff| " << std::abs(result.analytic - result.numeric)
      << ", tolerance atol " << options.atol << " + rtol " << options.rtol << "·|numeric|)";
  result.message = msg.str();
  return result;
}

}  // namespace xgrad
