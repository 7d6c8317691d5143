#pragma once
// Assertion helpers shared by the op, optimizer and layer tests: the message of an expected
// std::invalid_argument, and element-wise comparison of a tensor with literal values.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad::testing {

/// The what() of the exception of type E (or derived from it) that `f` throws; fails the test
/// (and returns "") when nothing, or an exception of another type, is thrown.
template <class E, class F>
std::string error_message(F&& f) {
  static_assert(!std::is_same_v<E, std::exception>, "name the exception type the test expects");
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected another exception type, got: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << "expected an exception derived from std::exception, got another type";
    return "";
  }
  ADD_FAILURE() << "expected an exception, but nothing was thrown";
  return "";
}

/// error_message for the library's argument checks.
template <class F>
std::string invalid_argument_message(F&& f) {
  return error_message<std::invalid_argument>(std::forward<F>(f));
}

/// `actual` is defined, has `shape`, and each value is within rtol · max(1, |expected|) of
/// `expected` (row-major). The default 1e-5 is a few dozen float ulps, so one test passes in
/// the float and the double build.
inline ::testing::AssertionResult tensor_near(const Tensor& actual, const Shape& shape,
                                              const std::vector<double>& expected,
                                              double rtol = 1e-5) {
  if (!actual.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  if (actual.shape() != shape) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape())
                                         << ", expected " << shape_to_string(shape);
  }
  const std::vector<real> v = actual.to_vector();
  if (v.size() != expected.size()) {
    return ::testing::AssertionFailure() << "test bug: " << expected.size()
                                         << " expected values for shape " << shape_to_string(shape);
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double tol = rtol * std::max(1.0, std::abs(expected[i]));
    if (!(std::abs(static_cast<double>(v[i]) - expected[i]) <= tol)) {
      return ::testing::AssertionFailure() << "flat index " << i << ": got " << v[i]
                                           << ", expected " << expected[i] << " (tol " << tol
                                           << ") in " << actual;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace xgrad::testing
