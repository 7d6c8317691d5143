// Higher-order gradients: a Hessian-vector product of a 2-layer MLP against finite
// differences of its gradient, and an exact Hessian of a small polynomial.

#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "tests/support/random.h"

namespace xgrad {
namespace {

using testing::uniform;

// loss(w1, w2) = mean((tanh(x·w1 + b1)·w2 - y)²) with fixed data.
struct Mlp {
  Tensor x = uniform({5, 3}, -1, 1, 21);
  Tensor y = uniform({5, 2}, -1, 1, 22);
  Tensor b1 = uniform({4}, -0.5, 0.5, 23);
  Tensor loss(const Tensor& w1, const Tensor& w2) const {
    Tensor h = tanh(matmul(x, w1) + b1);
    return mean(square(matmul(h, w2) - y));
  }
  // Gradient with respect to (w1, w2), flattened into one vector.
  Tensor grad(const Tensor& w1, const Tensor& w2) const {
    GradientTape tape;
    tape.watch(w1);
    tape.watch(w2);
    auto g = tape.gradient(loss(w1, w2), {w1, w2});
    return concat({reshape(g[0], {-1}), reshape(g[1], {-1})}, 0);
  }
};

TEST(HigherOrder, HessianVectorProductOfMlpMatchesFiniteDifferences) {
  const Mlp mlp;
  const Tensor w1 = uniform({3, 4}, -1, 1, 31);
  const Tensor w2 = uniform({4, 2}, -1, 1, 32);
  const Tensor v1 = uniform({3, 4}, -1, 1, 33);
  const Tensor v2 = uniform({4, 2}, -1, 1, 34);
  const Tensor v = concat({reshape(v1, {-1}), reshape(v2, {-1})}, 0);

  // H·v = d/dw (∇loss · v), by nesting tapes.
  GradientTape outer;
  outer.watch(w1);
  outer.watch(w2);
  Tensor gv = sum(mlp.grad(w1, w2) * v);
  auto hv = outer.gradient(gv, {w1, w2});
  Tensor hv_flat = concat({reshape(hv[0], {-1}), reshape(hv[1], {-1})}, 0);

  // (∇loss(w + εv) - ∇loss(w - εv)) / 2ε.
  const real eps = sizeof(real) == 8 ? real(1e-5) : real(1e-2);
  Tensor plus = mlp.grad(w1 + v1 * eps, w2 + v2 * eps);
  Tensor minus = mlp.grad(w1 - v1 * eps, w2 - v2 * eps);
  Tensor fd = (plus - minus) / (real(2) * eps);

  const double tol = sizeof(real) == 8 ? 1e-6 : 2e-3;
  ASSERT_EQ(hv_flat.size(), fd.size());
  double norm = 0;
  for (std::size_t i = 0; i < fd.size(); ++i) norm = std::max(norm, std::abs(double(fd.flat(i))));
  ASSERT_GT(norm, 1e-3);  // the product is not trivially zero
  for (std::size_t i = 0; i < fd.size(); ++i) {
    EXPECT_NEAR(hv_flat.flat(i), fd.flat(i), tol * (1 + norm)) << "element " << i;
  }
}

TEST(HigherOrder, ExactHessianOfPolynomial) {
  // f(x, y) = x²y + y³: H = [[2y, 2x], [2x, 6y]].
  Tensor x(real(1.5)), y(real(-2));
  GradientTape outer({.persistent = true});
  outer.watch(x);
  outer.watch(y);
  std::vector<Tensor> g;
  {
    GradientTape inner;
    inner.watch(x);
    inner.watch(y);
    Tensor f = x * x * y + y * y * y;
    g = inner.gradient(f, {x, y});
  }
  auto hx = outer.gradient(g[0], {x, y});
  auto hy = outer.gradient(g[1], {x, y});
  EXPECT_NEAR(hx[0].item(), -4, 1e-5);
  EXPECT_NEAR(hx[1].item(), 3, 1e-5);
  EXPECT_NEAR(hy[0].item(), 3, 1e-5);
  EXPECT_NEAR(hy[1].item(), -12, 1e-5);
}

TEST(HigherOrder, ThirdDerivativeThroughThreeTapes) {
  Tensor x(real(2));
  GradientTape t3;
  t3.watch(x);
  Tensor d2;
  {
    GradientTape t2;
    t2.watch(x);
    Tensor d1;
    {
      GradientTape t1;
      t1.watch(x);
      d1 = t1.gradient(exp(x * real(2)), x)[0];  // 2e^{2x}
    }
    d2 = t2.gradient(d1, x)[0];  // 4e^{2x}
  }
  Tensor d3 = t3.gradient(d2, x)[0];  // 8e^{2x}
  EXPECT_NEAR(d3.item(), 8 * std::exp(4.0), 1e-3 * 8 * std::exp(4.0));
}

}  // namespace
}  // namespace xgrad
