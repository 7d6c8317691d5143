#pragma once
// The library's single GEMM entry point, row-major throughout. In the float build each call goes
// to OpenBLAS (cblas_sgemm) or oneDNN (dnnl_sgemm), whichever was measured faster for its shape
// (the rule and its figures are in blas.cpp); the double build always uses cblas_dgemm.
//
// Products with one huge dimension and small others (the Dense layer over a huge flattened
// input) go to xgrad's own streaming kernels (streaming_gemm.h) instead, in the float build
// with AVX-512.
//
// Forcing a provider, for benchmarks and A/B runs of whole programs: the environment variable
// XGRAD_GEMM=openblas|dnnl|xsimd|auto (read once, at the first GEMM; unset or empty means
// auto; openblas or dnnl also turn the streaming kernels off; any other value makes every
// gemm() call throw std::invalid_argument). In code: gemm_with().
//
// Threads: both providers run on xgrad::num_threads() threads. set_num_threads calls
// openblas_set_num_threads and omp_set_num_threads; oneDNN (GNU OpenMP build) reads the
// latter at each call, so it must be called from the thread that runs the GEMMs. Deep
// products (m·n ≤ 2^16, k ≥ 2^17) are split into fixed 2^16-wide K blocks, one
// single-threaded provider call per block in parallel, summed in block order: the result
// does not depend on the thread count.

#include <cstddef>

#include "autograd/array.h"

namespace xgrad::detail {

/// The GEMM implementations gemm() can call.
enum class GemmProvider {
  Auto,      ///< Per call: xgrad's streaming kernels where one applies (streaming_gemm.h),
             ///< else the library gemm_provider_for() picks (the default).
  OpenBlas,  ///< cblas_sgemm / cblas_dgemm.
  Dnnl,      ///< oneDNN dnnl_sgemm (float build only; in the double build: cblas_dgemm).
  Xsimd,     ///< xgrad's streaming kernels; shapes they do not cover go to Auto's library.
};

/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major, with leading dimensions
/// lda, ldb, ldc (elements between rows as stored). op(X) = Xᵀ when trans_x. With beta == 0,
/// C is not read (NaNs in it do not propagate), as in BLAS. Uses the provider the
/// XGRAD_GEMM variable forces, else gemm_provider_for(m, n, k).
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, real alpha,
          const real* a, std::size_t lda, const real* b, std::size_t ldb, real beta, real* c,
          std::size_t ldc);

/// gemm() through the given provider (Auto: gemm_provider_for), ignoring XGRAD_GEMM. oneDNN
/// validates its arguments like BLAS (lda ≥ the stored row length of A, …): a rejected call
/// throws std::invalid_argument, any other oneDNN failure std::runtime_error, both naming the
/// flags, sizes and leading dimensions. (OpenBLAS only prints its xerbla message.)
void gemm_with(GemmProvider provider, bool trans_a, bool trans_b, std::size_t m, std::size_t n,
               std::size_t k, real alpha, const real* a, std::size_t lda, const real* b,
               std::size_t ldb, real beta, real* c, std::size_t ldc);

/// The provider the Auto rule picks for an m×n×k product: Dnnl from m·n·k ≥ 2^20 on, OpenBlas
/// for smaller products (and always OpenBlas in the double build). Measured: the figures and
/// the reasons are in blas.cpp. Neither the transpose flags nor the thread count enter it.
GemmProvider gemm_provider_for(std::size_t m, std::size_t n, std::size_t k);

/// "openblas", "dnnl", "xsimd" or "auto".
const char* gemm_provider_name(GemmProvider provider);

}  // namespace xgrad::detail
