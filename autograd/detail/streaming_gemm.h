#pragma once
// xgrad's own GEMM kernels for products in which one operand streams from memory: one
// dimension in the hundreds of thousands or more, the others at most a few hundred — the
// Dense layer over a huge flattened input (the seed model's 231 M-weight layer: x·W,
// g·Wᵀ and xᵀ·g with 64 batch rows). oneDNN and OpenBLAS reach 94% of the FMA peak on these
// shapes while the operands are in cache but 40–57% once they stream; these kernels keep
// the reused operand in L1, prefetch the streamed one in software (spread over the compute)
// and write huge outputs with non-temporal stores. Measured in bench/ops_bench
// BM_Gemm/seed_dense_*/xsimd against the libraries: x·W and g·Wᵀ 8–20% faster, xᵀ·g a tie;
// all still 55–66% of the peak.
//
// Built for the float build with AVX-512 (16 floats per vector); elsewhere no shape applies
// and gemm() uses the libraries. Every kernel computes each output element in one fixed
// order, so results do not depend on the thread count.

#include <cstddef>

#include "autograd/array.h"

namespace xgrad::detail {

/// Which streaming kernel computes an m×n×k product with these transposes (row-major, as in
/// gemm()), if any:
///   DeepK — op(A), op(B) not transposed, n a multiple of 16 up to 128, k ≥ 2^17 (split into
///           K blocks by gemm(); this kernel computes one block on one thread);
///   TallT — C = Aᵀ·B with m ≥ 2^17, n a multiple of 16 up to 128, k ≤ 256 (xᵀ·g);
///   WideT — C = A·Bᵀ with n ≥ 2^17, m one of 16, 32, 48, 64, k ≤ 256 (g·Wᵀ).
enum class StreamingKernel { None, DeepK, TallT, WideT };

/// Whether this build has the kernels (float build, compiled for AVX-512). Without them
/// streaming_kernel_for() is always None.
bool streaming_gemm_available();

StreamingKernel streaming_kernel_for(bool trans_a, bool trans_b, std::size_t m, std::size_t n,
                                     std::size_t k);

/// One K block of a DeepK product on the calling thread: C[m×n] = A[m×k] · B[k×n], C
/// overwritten (tight: ldc = n).
void streaming_gemm_deep_k_block(std::size_t m, std::size_t n, std::size_t k, const real* a,
                                 std::size_t lda, const real* b, std::size_t ldb, real* c);

/// C = alpha · Aᵀ·B + beta · C (TallT; A stored k×m), in parallel over the rows of C.
void streaming_gemm_tall_t(std::size_t m, std::size_t n, std::size_t k, real alpha,
                           const real* a, std::size_t lda, const real* b, std::size_t ldb,
                           real beta, real* c, std::size_t ldc);

/// C = alpha · A·Bᵀ + beta · C (WideT; B stored n×k), in parallel over the columns of C.
void streaming_gemm_wide_t(std::size_t m, std::size_t n, std::size_t k, real alpha,
                           const real* a, std::size_t lda, const real* b, std::size_t ldb,
                           real beta, real* c, std::size_t ldc);

}  // namespace xgrad::detail
