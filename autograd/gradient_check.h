#pragma once
/// \file
/// `check_gradients`: compares a function's analytic gradients (from a GradientTape) with
/// central finite differences — the tool to check your own ops and models with.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// Tolerances of a gradient check. The defaults depend on the build's scalar type:
/// double uses PyTorch gradcheck's (eps 1e-6, atol 1e-5, rtol 1e-3); float uses
/// eps 1e-3, atol 1e-3, rtol 1e-2.
struct GradientCheckOptions {
  double eps = sizeof(real) == 8 ? 1e-6 : 1e-3;
  double atol = sizeof(real) == 8 ? 1e-5 : 1e-3;
  double rtol = sizeof(real) == 8 ? 1e-3 : 1e-2;
  /// Seed of the random projection r in f(x) = Σ r ⊙ fn(x).
  std::uint64_t seed = 1234;
};

/// What a gradient check found. `ok` is false when some element has
/// |analytic - numeric| > atol + rtol·|numeric|; the worst such element (by how far it is
/// over the tolerance) is described by input, index, analytic and numeric, and
/// `message` says it in words.
struct GradientCheckResult {
  bool ok = true;
  std::size_t input = 0;   ///< which input holds the worst element
  std::size_t index = 0;   ///< its row-major flat index
  Shape position;          ///< its multi-index
  double analytic = 0;
  double numeric = 0;
  double max_abs_error = 0;  ///< largest |analytic - numeric| over all elements
  std::string message;
};

/// Checks d/dinputs of `fn` at `inputs`. fn may return a tensor of any shape: it is
/// reduced to a scalar with a fixed random projection, so one backward pass suffices.
/// The numeric gradient perturbs each input element by ±eps.
GradientCheckResult check_gradients(
    const std::function<Tensor(const std::vector<Tensor>&)>& fn,
    const std::vector<Tensor>& inputs, const GradientCheckOptions& options = {});

}  // namespace xgrad
