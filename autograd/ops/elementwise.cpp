// Element-wise ops. Forward values use xtensor expressions (vectorised by xsimd when the
// operands are contiguous and of one shape or a scalar); each backward is written with ops.

#include "autograd/ops/elementwise.h"

#include <cmath>

#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/ops/reduce.h"

namespace xgrad {

namespace {

// Evaluates f(a, b) with NumPy broadcasting. A single-element operand of no higher rank is
// passed as a scalar, which keeps xtensor on its linear (SIMD) assignment path.
template <class F>
Array binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa == sb) return f(a.array(), b.array());
  if (b.size() == 1 && sb.size() <= sa.size()) return f(a.array(), b.data()[0]);
  if (a.size() == 1 && sa.size() <= sb.size()) return f(a.data()[0], b.array());
  check_broadcastable(op, "a", sa, "b", sb);
  return f(a.array(), b.array());
}

template <class F>
Array unary(const Tensor& a, F f) {
  Array out = empty_array(a.shape());
  const real* x = a.data();
  real* y = out.data();
  const std::size_t n = a.size();
  for (std::size_t i = 0; i < n; ++i) y[i] = f(x[i]);
  return out;
}

Tensor constant(Array a) { return Tensor(std::move(a)); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out(binary("add", a, b, [](const auto& x, const auto& y) { return Array(x + y); }));
  return detail::record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to_shape(g, sa), reduce_to_shape(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out(binary("sub", a, b, [](const auto& x, const auto& y) { return Array(x - y); }));
  return detail::record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to_shape(g, sa), reduce_to_shape(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out(binary("mul", a, b, [](const auto& x, const auto& y) { return Array(x * y); }));
  return detail::record("mul", out, {a, b},
                        [a, b](const Tensor& g, const detail::NeededInputs& needed) {
                          return std::vector<Tensor>{
                              needed[0] ? reduce_to_shape(mul(g, b), a.shape()) : Tensor(),
                              needed[1] ? reduce_to_shape(mul(g, a), b.shape()) : Tensor()};
                        });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out(binary("div", a, b, [](const auto& x, const auto& y) { return Array(x / y); }));
  return detail::record(
      "div", out, {a, b}, [a, b](const Tensor& g, const detail::NeededInputs& needed) {
        return std::vector<Tensor>{
            needed[0] ? reduce_to_shape(div(g, b), a.shape()) : Tensor(),
            needed[1] ? reduce_to_shape(neg(div(mul(g, a), square(b))), b.shape()) : Tensor()};
      });
}

Tensor neg(const Tensor& a) {
  Tensor out(Array(-a.array()));
  return detail::record("neg", out, {a},
                        [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out(binary("pow", a, b, [](const auto& x, const auto& y) { return Array(xt::pow(x, y)); }));
  return detail::record(
      "pow", out, {a, b}, [a, b, out](const Tensor& g, const detail::NeededInputs& needed) {
        Tensor da, db;
        if (needed[0]) da = reduce_to_shape(mul(g, mul(b, pow(a, sub(b, Tensor(real(1)))))), a.shape());
        if (needed[1]) db = reduce_to_shape(mul(g, mul(out, log(a))), b.shape());
        return std::vector<Tensor>{da, db};
      });
}

Tensor pow(const Tensor& a, real p) {
  Tensor out(Array(xt::pow(a.array(), p)));
  return detail::record("pow", out, {a}, [a, p](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(Tensor(p), pow(a, p - real(1))))};
  });
}

Tensor square(const Tensor& a) {
  Tensor out(Array(a.array() * a.array()));
  return detail::record("square", out, {a}, [a](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(a, Tensor(real(2))))};
  });
}

Tensor sqrt(const Tensor& a) {
  Tensor out(Array(xt::sqrt(a.array())));
  return detail::record("sqrt", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{div(g, mul(out, Tensor(real(2))))};
  });
}

Tensor exp(const Tensor& a) {
  Tensor out(Array(xt::exp(a.array())));
  return detail::record("exp", out, {a},
                        [out](const Tensor& g) { return std::vector<Tensor>{mul(g, out)}; });
}

Tensor log(const Tensor& a) {
  Tensor out(Array(xt::log(a.array())));
  return detail::record("log", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{div(g, a)}; });
}

Tensor abs(const Tensor& a) {
  Tensor out(Array(xt::abs(a.array())));
  return detail::record("abs", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{mul(g, sign(a))}; });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out(binary("maximum", a, b,
                    [](const auto& x, const auto& y) { return Array(xt::maximum(x, y)); }));
  return detail::record("maximum", out, {a, b}, [a, b](const Tensor& g) {
    Tensor take_a = greater_equal(a, b);
    return std::vector<Tensor>{reduce_to_shape(mul(g, take_a), a.shape()),
                               reduce_to_shape(mul(g, sub(Tensor(real(1)), take_a)), b.shape())};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out(binary("minimum", a, b,
                    [](const auto& x, const auto& y) { return Array(xt::minimum(x, y)); }));
  return detail::record("minimum", out, {a, b}, [a, b](const Tensor& g) {
    Tensor take_a = less_equal(a, b);
    return std::vector<Tensor>{reduce_to_shape(mul(g, take_a), a.shape()),
                               reduce_to_shape(mul(g, sub(Tensor(real(1)), take_a)), b.shape())};
  });
}

Tensor clip(const Tensor& a, real lo, real hi) {
  check_arg(lo <= hi, "clip",
            "lo must be <= hi; got lo=" + std::to_string(lo) + ", hi=" + std::to_string(hi) +
                " for a.shape=" + shape_to_string(a.shape()));
  Tensor out(unary(a, [lo, hi](real x) { return x < lo ? lo : (x > hi ? hi : x); }));
  return detail::record("clip", out, {a}, [a, lo, hi](const Tensor& g) {
    Tensor inside(unary(a, [lo, hi](real x) { return real(x > lo && x < hi); }));
    return std::vector<Tensor>{mul(g, inside)};
  });
}

Tensor relu(const Tensor& a) {
  Tensor out(unary(a, [](real x) { return x > real(0) ? x : real(0); }));
  return detail::record("relu", out, {a}, [a](const Tensor& g) {
    return std::vector<Tensor>{mul(g, Tensor(unary(a, [](real x) { return real(x > 0); })))};
  });
}

Tensor sigmoid(const Tensor& a) {
  // 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: neither form overflows.
  Tensor out(unary(a, [](real x) {
    if (x >= 0) return real(1) / (real(1) + std::exp(-x));
    const real e = std::exp(x);
    return e / (real(1) + e);
  }));
  return detail::record("sigmoid", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(out, sub(Tensor(real(1)), out)))};
  });
}

Tensor tanh(const Tensor& a) {
  Tensor out(Array(xt::tanh(a.array())));
  return detail::record("tanh", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{mul(g, sub(Tensor(real(1)), square(out)))};
  });
}

Tensor softplus(const Tensor& a) {
  // log(1+e^x) = max(x, 0) + log1p(e^-|x|).
  Tensor out(unary(a, [](real x) { return std::max(x, real(0)) + std::log1p(std::exp(-std::abs(x))); }));
  return detail::record("softplus", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{mul(g, sigmoid(a))}; });
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_broadcastable("where", "condition", condition.shape(), "a", a.shape());
  check_broadcastable("where", "condition", condition.shape(), "b", b.shape());
  check_broadcastable("where", "a", a.shape(), "b", b.shape());
  Tensor out(Array(xt::where(xt::not_equal(condition.array(), real(0)), a.array(), b.array())));
  return detail::record("where", out, {condition, a, b}, [condition, a, b](const Tensor& g) {
    Tensor zero(real(0));
    return std::vector<Tensor>{Tensor(), reduce_to_shape(where(condition, g, zero), a.shape()),
                               reduce_to_shape(where(condition, zero, g), b.shape())};
  });
}

// Comparisons: constants (never recorded).
#define XGRAD_COMPARISON(name, expr)                                                       \
  Tensor name(const Tensor& a, const Tensor& b) {                                          \
    return constant(binary(#name, a, b, [](const auto& x, const auto& y) {                 \
      return Array(xt::cast<real>(expr));                                                  \
    }));                                                                                   \
  }
XGRAD_COMPARISON(greater, x > y)
XGRAD_COMPARISON(greater_equal, x >= y)
XGRAD_COMPARISON(less, x < y)
XGRAD_COMPARISON(less_equal, x <= y)
XGRAD_COMPARISON(equal, xt::equal(x, y))
#undef XGRAD_COMPARISON

Tensor sign(const Tensor& a) {
  return constant(unary(a, [](real x) { return real((x > 0) - (x < 0)); }));
}

}  // namespace xgrad
