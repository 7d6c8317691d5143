#pragma once
// Thin GEMM wrapper over CBLAS for the build's scalar type. Row-major throughout.

#include <cstddef>

#include "autograd/array.h"

namespace xgrad::detail {

/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major, with leading dimensions
/// lda, ldb, ldc (elements between rows as stored). op(X) = Xᵀ when trans_x.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, real alpha,
          const real* a, std::size_t lda, const real* b, std::size_t ldb, real beta, real* c,
          std::size_t ldc);

}  // namespace xgrad::detail
