#pragma once
/// \file
/// Element-wise ops. Binary ops broadcast their operands under NumPy rules; their
/// backward sums the gradient over broadcast axes (reduce_to_shape) so each input gets a
/// gradient of its own shape. Every op throws std::invalid_argument naming the op and the
/// shapes when the operands do not broadcast.

#include "autograd/tensor.h"

namespace xgrad {

/// a + b.  d/da = 1, d/db = 1.
Tensor add(const Tensor& a, const Tensor& b);
/// a - b.  d/da = 1, d/db = -1.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b.  d/da = b, d/db = a.
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b.  d/da = 1/b, d/db = -a/b².
Tensor div(const Tensor& a, const Tensor& b);
/// -a.
Tensor neg(const Tensor& a);
/// a^b element-wise.  d/da = b·a^(b-1), d/db = a^b·log(a) (defined for a > 0).
Tensor pow(const Tensor& a, const Tensor& b);
/// a^p for a constant exponent p.  d/da = p·a^(p-1).
Tensor pow(const Tensor& a, real p);
/// a².  d/da = 2a.
Tensor square(const Tensor& a);
/// √a.  d/da = 1/(2√a).
Tensor sqrt(const Tensor& a);
/// eᵃ.  d/da = eᵃ.
Tensor exp(const Tensor& a);
/// ln a.  d/da = 1/a.
Tensor log(const Tensor& a);
/// |a|.  d/da = sign(a) (0 at 0).
Tensor abs(const Tensor& a);
/// max(a, b).  The gradient goes to a where a >= b, else to b.
Tensor maximum(const Tensor& a, const Tensor& b);
/// min(a, b).  The gradient goes to a where a <= b, else to b.
Tensor minimum(const Tensor& a, const Tensor& b);
/// min(max(a, lo), hi).  d/da = 1 where lo < a < hi, else 0. Throws when lo > hi.
Tensor clip(const Tensor& a, real lo, real hi);
/// max(a, 0).  d/da = 1 where a > 0, else 0.
Tensor relu(const Tensor& a);
/// relu's backward from its output, in one pass: `grad` where `output` > 0, else 0
/// (output = relu(a), and output > 0 exactly where a > 0). Shapes must be equal.
/// d/dgrad = relu_grad(·, output); d/doutput = 0 (almost everywhere).
Tensor relu_grad(const Tensor& grad, const Tensor& output);
/// 1/(1+e⁻ᵃ), computed without overflow.  d/da = σ(a)(1-σ(a)).
Tensor sigmoid(const Tensor& a);
/// tanh a.  d/da = 1 - tanh²a.
Tensor tanh(const Tensor& a);
/// ln(1+eᵃ), computed without overflow.  d/da = σ(a).
Tensor softplus(const Tensor& a);
/// condition ? a : b, with condition a 0/1 tensor (any non-zero is true), all three
/// broadcast together. The gradient goes to a where condition holds, else to b; the
/// condition gets none.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

/// Comparisons return 0/1 tensors of the broadcast shape. They are not differentiable and
/// are never recorded on a tape.
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor equal(const Tensor& a, const Tensor& b);
/// -1, 0 or 1 (not differentiable, not recorded).
Tensor sign(const Tensor& a);

/// Operators: `a + b`, `a * 2.0f`, `1 - a`, `-a`, …
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace xgrad
