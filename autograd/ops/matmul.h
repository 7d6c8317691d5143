#pragma once
/// \file
/// Matrix products through BLAS GEMM.

#include "autograd/tensor.h"

namespace xgrad {

/// op(a) · op(b), where op(x) = xᵀ (of the last two axes) when the flag is set.
///
/// Both operands have rank >= 2: a [..., M, K] (or [..., K, M] transposed), b [..., K, N]
/// (or [..., N, K]). Leading (batch) axes broadcast under NumPy rules, so a [B, M, K]
/// times b [K, N] applies one matrix to a whole batch. Result [..., M, N].
/// d/da = g · op(b)ᵀ and d/db = op(a)ᵀ · g (transposed back where a flag was set, and
/// summed over broadcast batch axes). Throws std::invalid_argument naming "matmul" and
/// both shapes for ranks < 2, different inner extents, or batch axes that do not broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false,
              bool transpose_b = false);

}  // namespace xgrad
