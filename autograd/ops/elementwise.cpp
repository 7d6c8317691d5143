// Element-wise ops. Forward values are computed by xsimd kernels over raw buffers (parallel
// for large tensors); each backward is written with ops.

#include "autograd/ops/elementwise.h"

#include <cmath>

#include <xtensor/xbroadcast.hpp>
#include <xtensor/xoperation.hpp>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/profile.h"
#include "autograd/detail/simd.h"
#include "autograd/ops/reduce.h"

namespace xgrad {

namespace {

using detail::Batch;
using detail::kLanes;
using detail::vmax;
using detail::vmin;
using detail::vselect;

// y[i] = f(x[i], s) (or f(s, x[i]) when `scalar_left`) for a scalar operand s.
template <class F>
void map_with_scalar(const real* x, real s, bool scalar_left, real* y, std::size_t n, F f) {
  detail::parallel_ranges(n, [&](std::size_t begin, std::size_t end) {
    const Batch sb(s);
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      const Batch v = Batch::load_unaligned(x + i);
      (scalar_left ? f(sb, v) : f(v, sb)).store_unaligned(y + i);
    }
    for (; i < end; ++i) y[i] = scalar_left ? f(s, x[i]) : f(x[i], s);
  });
}

// True when `small` (leading 1s stripped) equals the trailing axes of `big`: `small`
// repeats once per leading index of `big` (a bias added to every row).
bool is_trailing_block(const Shape& small, const Shape& big) {
  std::size_t lead = 0;
  while (lead < small.size() && small[lead] == 1) ++lead;
  const std::size_t n = small.size() - lead;
  if (n > big.size()) return false;
  return std::equal(small.begin() + static_cast<std::ptrdiff_t>(lead), small.end(),
                    big.end() - static_cast<std::ptrdiff_t>(n)) &&
         small.size() <= big.size();
}

// Evaluates f(a, b) element-wise with NumPy broadcasting. f is a generic callable valid for
// xsimd batches and for scalars. Fast paths: equal shapes, a single-element operand, and an
// operand repeated along leading axes (the bias case); anything else is materialised by
// xtensor's broadcast first.
template <class F>
Array binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa == sb) {
    Array out = empty_array(sa);
    detail::simd_map2(a.data(), b.data(), out.data(), a.size(), f);
    return out;
  }
  const Shape shape = broadcast_shapes(op, sa, sb);
  Array out = empty_array(shape);
  if (b.size() == 1 && sa == shape) {
    map_with_scalar(a.data(), b.data()[0], false, out.data(), out.size(), f);
  } else if (a.size() == 1 && sb == shape) {
    map_with_scalar(b.data(), a.data()[0], true, out.data(), out.size(), f);
  } else if ((sa == shape && is_trailing_block(sb, sa)) || (sb == shape && is_trailing_block(sa, sb))) {
    const bool b_small = sa == shape;
    const Tensor& big = b_small ? a : b;
    const Tensor& small = b_small ? b : a;
    const std::size_t row = small.size(), rows = row ? big.size() / row : 0;
    const real* pb = big.data();
    const real* ps = small.data();
    real* po = out.data();
    const int threads = big.size() >= detail::kParallelGrain ? num_threads() : 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      const real* x = pb + r * row;
      real* y = po + r * row;
      std::size_t i = 0;
      for (; i + kLanes <= row; i += kLanes) {
        const Batch u = Batch::load_unaligned(x + i), v = Batch::load_unaligned(ps + i);
        (b_small ? f(u, v) : f(v, u)).store_unaligned(y + i);
      }
      for (; i < row; ++i) y[i] = b_small ? f(x[i], ps[i]) : f(ps[i], x[i]);
    }
  } else {
    const Array ea = xt::broadcast(a.array(), shape);
    const Array eb = xt::broadcast(b.array(), shape);
    detail::simd_map2(ea.data(), eb.data(), out.data(), out.size(), f);
  }
  return out;
}

template <class F>
Array unary(const Tensor& a, F f) {
  Array out = empty_array(a.shape());
  detail::simd_map(a.data(), out.data(), a.size(), f);
  return out;
}

Tensor constant(Array a) { return Tensor(std::move(a)); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("add");
  Tensor out(binary("add", a, b, [](auto x, auto y) { return x + y; }));
  return detail::record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to_shape(g, sa), reduce_to_shape(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("sub");
  Tensor out(binary("sub", a, b, [](auto x, auto y) { return x - y; }));
  return detail::record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to_shape(g, sa), reduce_to_shape(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("mul");
  Tensor out(binary("mul", a, b, [](auto x, auto y) { return x * y; }));
  return detail::record("mul", out, {a, b},
                        [a, b](const Tensor& g, const detail::NeededInputs& needed) {
                          return std::vector<Tensor>{
                              needed[0] ? reduce_to_shape(mul(g, b), a.shape()) : Tensor(),
                              needed[1] ? reduce_to_shape(mul(g, a), b.shape()) : Tensor()};
                        });
}

Tensor div(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("div");
  Tensor out(binary("div", a, b, [](auto x, auto y) { return x / y; }));
  return detail::record(
      "div", out, {a, b}, [a, b](const Tensor& g, const detail::NeededInputs& needed) {
        return std::vector<Tensor>{
            needed[0] ? reduce_to_shape(div(g, b), a.shape()) : Tensor(),
            needed[1] ? reduce_to_shape(neg(div(mul(g, a), square(b))), b.shape()) : Tensor()};
      });
}

Tensor neg(const Tensor& a) {
  const detail::ProfileScope profile_scope("neg");
  Tensor out(unary(a, [](auto x) { return -x; }));
  return detail::record("neg", out, {a},
                        [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("pow");
  Tensor out(binary("pow", a, b, [](auto x, auto y) { return xsimd::pow(x, y); }));
  return detail::record(
      "pow", out, {a, b}, [a, b, out](const Tensor& g, const detail::NeededInputs& needed) {
        Tensor da, db;
        if (needed[0]) da = reduce_to_shape(mul(g, mul(b, pow(a, sub(b, Tensor(real(1)))))), a.shape());
        if (needed[1]) db = reduce_to_shape(mul(g, mul(out, log(a))), b.shape());
        return std::vector<Tensor>{da, db};
      });
}

Tensor pow(const Tensor& a, real p) {
  const detail::ProfileScope profile_scope("pow");
  Tensor out(unary(a, [p](auto x) { return xsimd::pow(x, decltype(x)(p)); }));
  return detail::record("pow", out, {a}, [a, p](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(Tensor(p), pow(a, p - real(1))))};
  });
}

Tensor square(const Tensor& a) {
  const detail::ProfileScope profile_scope("square");
  Tensor out(unary(a, [](auto x) { return x * x; }));
  return detail::record("square", out, {a}, [a](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(a, Tensor(real(2))))};
  });
}

Tensor sqrt(const Tensor& a) {
  const detail::ProfileScope profile_scope("sqrt");
  Tensor out(unary(a, [](auto x) { return xsimd::sqrt(x); }));
  return detail::record("sqrt", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{div(g, mul(out, Tensor(real(2))))};
  });
}

Tensor exp(const Tensor& a) {
  const detail::ProfileScope profile_scope("exp");
  Tensor out(unary(a, [](auto x) { return xsimd::exp(x); }));
  return detail::record("exp", out, {a},
                        [out](const Tensor& g) { return std::vector<Tensor>{mul(g, out)}; });
}

Tensor log(const Tensor& a) {
  const detail::ProfileScope profile_scope("log");
  Tensor out(unary(a, [](auto x) { return xsimd::log(x); }));
  return detail::record("log", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{div(g, a)}; });
}

Tensor abs(const Tensor& a) {
  const detail::ProfileScope profile_scope("abs");
  Tensor out(unary(a, [](auto x) { return xsimd::abs(x); }));
  return detail::record("abs", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{mul(g, sign(a))}; });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("maximum");
  Tensor out(binary("maximum", a, b,
                    [](auto x, auto y) { return vmax(x, y); }));
  return detail::record("maximum", out, {a, b}, [a, b](const Tensor& g) {
    Tensor take_a = greater_equal(a, b);
    return std::vector<Tensor>{reduce_to_shape(mul(g, take_a), a.shape()),
                               reduce_to_shape(mul(g, sub(Tensor(real(1)), take_a)), b.shape())};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("minimum");
  Tensor out(binary("minimum", a, b,
                    [](auto x, auto y) { return vmin(x, y); }));
  return detail::record("minimum", out, {a, b}, [a, b](const Tensor& g) {
    Tensor take_a = less_equal(a, b);
    return std::vector<Tensor>{reduce_to_shape(mul(g, take_a), a.shape()),
                               reduce_to_shape(mul(g, sub(Tensor(real(1)), take_a)), b.shape())};
  });
}

Tensor clip(const Tensor& a, real lo, real hi) {
  const detail::ProfileScope profile_scope("clip");
  check_arg(lo <= hi, "clip",
            "lo must be <= hi; got lo=" + std::to_string(lo) + ", hi=" + std::to_string(hi) +
                " for a.shape=" + shape_to_string(a.shape()));
  Tensor out(unary(a, [lo, hi](auto x) { return vmin(vmax(x, decltype(x)(lo)), decltype(x)(hi)); }));
  return detail::record("clip", out, {a}, [a, lo, hi](const Tensor& g) {
    Tensor inside(unary(a, [lo, hi](auto x) {
      using T = decltype(x);
      return vselect((x > T(lo)) && (x < T(hi)), T(1), T(0));
    }));
    return std::vector<Tensor>{mul(g, inside)};
  });
}

// relu's backward in one pass: g where y > 0, else 0 (y = relu(a): y > 0 iff a > 0).
// Linear in g, so its gradient w.r.t. g is itself; w.r.t. y it is zero almost everywhere.
Tensor relu_grad(const Tensor& g, const Tensor& y) {
  const detail::ProfileScope profile_scope("relu_grad");
  check_arg(g.shape() == y.shape(), "relu_grad",
            "grad and output must have equal shapes; got grad.shape=" + shape_to_string(g.shape()) +
                ", output.shape=" + shape_to_string(y.shape()));
  Array out = empty_array(g.shape());
  detail::simd_map2(g.data(), y.data(), out.data(), g.size(), [](auto gv, auto yv) {
    using T = decltype(gv);
    return vselect(yv > T(0), gv, T(0));
  });
  return detail::record("relu_grad", Tensor(std::move(out)), {g, y},
                        detail::BackwardFn([y](const Tensor& gg, const detail::NeededInputs& needed) {
                          return std::vector<Tensor>{needed[0] ? relu_grad(gg, y) : Tensor(), Tensor()};
                        }));
}

Tensor relu(const Tensor& a) {
  const detail::ProfileScope profile_scope("relu");
  Tensor out(unary(a, [](auto x) { return vmax(x, decltype(x)(0)); }));
  // The backward keeps the output, not the input, alive: a layer's pre-activation (often the
  // largest tensor of the step) can then be freed as soon as the forward is done.
  return detail::record("relu", out, {a}, [y = out](const Tensor& g) {
    return std::vector<Tensor>{relu_grad(g, y)};
  });
}

Tensor sigmoid(const Tensor& a) {
  const detail::ProfileScope profile_scope("sigmoid");
  // 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: neither form overflows.
  Tensor out(unary(a, [](auto x) {
    using T = decltype(x);
    const T e = xsimd::exp(-xsimd::abs(x));  // in (0, 1]: never overflows
    const T s = T(1) / (T(1) + e);
    return vselect(x >= T(0), s, e * s);
  }));
  return detail::record("sigmoid", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(out, sub(Tensor(real(1)), out)))};
  });
}

Tensor tanh(const Tensor& a) {
  const detail::ProfileScope profile_scope("tanh");
  Tensor out(unary(a, [](auto x) { return xsimd::tanh(x); }));
  return detail::record("tanh", out, {a}, [out](const Tensor& g) {
    return std::vector<Tensor>{mul(g, sub(Tensor(real(1)), square(out)))};
  });
}

Tensor softplus(const Tensor& a) {
  const detail::ProfileScope profile_scope("softplus");
  // log(1+e^x) = max(x, 0) + log1p(e^-|x|).
  Tensor out(unary(a, [](auto x) {
    using T = decltype(x);
    return vmax(x, T(0)) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
  }));
  return detail::record("softplus", out, {a},
                        [a](const Tensor& g) { return std::vector<Tensor>{mul(g, sigmoid(a))}; });
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  const detail::ProfileScope profile_scope("where");
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
    return constant(binary(#name, a, b, [](auto x, auto y) {                               \
      using T = decltype(x);                                                               \
      return vselect(expr, T(1), T(0));                                                    \
    }));                                                                                   \
  }
XGRAD_COMPARISON(greater, x > y)
XGRAD_COMPARISON(greater_equal, x >= y)
XGRAD_COMPARISON(less, x < y)
XGRAD_COMPARISON(less_equal, x <= y)
XGRAD_COMPARISON(equal, x == y)
#undef XGRAD_COMPARISON

Tensor sign(const Tensor& a) {
  const detail::ProfileScope profile_scope("sign");
  return constant(unary(a, [](auto x) {
    using T = decltype(x);
    return vselect(x > T(0), T(1), T(0)) - vselect(x < T(0), T(1), T(0));
  }));
}

}  // namespace xgrad
