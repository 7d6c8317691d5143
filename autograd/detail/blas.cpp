#include "autograd/detail/blas.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <cblas.h>
#if XGRAD_HAVE_DNNL
#include <dnnl.h>
#endif

#include "autograd/detail/streaming_gemm.h"
#include "autograd/memory.h"
#include "autograd/threads.h"

namespace xgrad::detail {

namespace {

GemmProvider forced_provider() {
  static const GemmProvider forced = [] {
    const char* env = std::getenv("XGRAD_GEMM");
    const std::string v = env ? env : "";
    if (v.empty() || v == "auto") return GemmProvider::Auto;
    if (v == "openblas") return GemmProvider::OpenBlas;
    if (v == "dnnl") return GemmProvider::Dnnl;
    if (v == "xsimd") return GemmProvider::Xsimd;
    throw std::invalid_argument("gemm: XGRAD_GEMM must be openblas, dnnl, xsimd or auto; got \"" +
                                v + "\"");
  }();
  return forced;
}

void openblas_gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                   real alpha, const real* a, std::size_t lda, const real* b, std::size_t ldb,
                   real beta, real* c, std::size_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
#if defined(XGRAD_DOUBLE) && XGRAD_DOUBLE
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
#else
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
#endif
}

#if XGRAD_HAVE_DNNL
std::string describe(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                     std::size_t lda, std::size_t ldb, std::size_t ldc) {
  return std::string("trans_a=") + (trans_a ? "T" : "N") + ", trans_b=" + (trans_b ? "T" : "N") +
         ", m=" + std::to_string(m) + ", n=" + std::to_string(n) + ", k=" + std::to_string(k) +
         ", lda=" + std::to_string(lda) + ", ldb=" + std::to_string(ldb) +
         ", ldc=" + std::to_string(ldc);
}

// oneDNN's GEMM: row-major like ours, same argument meaning as cblas_sgemm. Built on GNU
// OpenMP, it reads omp_get_max_threads() at each call, so xgrad::set_num_threads (which calls
// omp_set_num_threads) governs it too.
void dnnl_gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
               const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
               float* c, std::size_t ldc) {
  const dnnl_status_t status =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', static_cast<dnnl_dim_t>(m),
                 static_cast<dnnl_dim_t>(n), static_cast<dnnl_dim_t>(k), alpha, a,
                 static_cast<dnnl_dim_t>(lda), b, static_cast<dnnl_dim_t>(ldb), beta, c,
                 static_cast<dnnl_dim_t>(ldc));
  if (status == dnnl_success) return;
  const std::string msg = "gemm: dnnl_sgemm failed with status " + std::to_string(status) +
                          "; got " + describe(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (status == dnnl_invalid_arguments) throw std::invalid_argument(msg);
  throw std::runtime_error(msg);
}
#endif

}  // namespace

// The Auto rule, from bench/ops_bench BM_Gemm/* (medians of 5, GFLOP/s, openblas → dnnl, quiet
// machine, 2 threads | 1 thread; 2 cores with AVX-512, OpenBLAS 0.3.21 OpenMP, oneDNN 2.6):
//   conv im2col, K or N = 9..64:  siamese conv1 fwd 173056×32×9   32 → 163 |  51 →  97
//                                 seed conv fwd     310632×64×27  71 → 223 |  62 →  81
//                                 seed conv bpfilter 27×64×310632 58 → 117 |  52 →  70
//   conv2 (K = 288) and Dense:    siamese conv2 fwd 29117×64×288 202 → 302 |  97 → 107
//                                 Dense 256×128×1600            227 → 244 | 151 → 172
//                                 seed Dense dW 1806336×128×64  112 → 240 |  90 → 120
//   square:                       1024³                         348 → 369 | 170 → 185
// so oneDNN wins on the shapes the models run, at both thread counts, by up to 5×; the closest
// calls are ties at one thread (siamese conv2 bpfilter 288×64×29117: 113 → 111, Dense dW
// 1600×128×256: 149 → 155) and 256×64×128 below. It loses only on tiny products: oneDNN
// starts its threads for any size, while OpenBLAS runs small ones on one thread. With sleeping
// threads (OMP_WAIT_POLICY=PASSIVE, 2 threads) 1×128×1600 runs at 38 → 4 GFLOP/s and 1×64×128
// at 88 → 0.3 (≈ 50–100 µs of wake-up per call); on one thread 1×64×128 runs at 82 → 48. With
// the default (spinning) policy oneDNN is ahead again from about m·n·k = 2^17 (1×128×1600:
// 38 → 64). Below 2^20 multiply-adds OpenBLAS is therefore never more than a few µs slower and
// sometimes ~100 µs faster; from there on oneDNN. (Under PASSIVE, OpenBLAS keeps a 1.2–1.4×
// edge up to m·n·k ≈ 4M, e.g. the siamese Dense 256×64×128: 71 → 49; with spinning threads
// oneDNN is 2× faster there, 135 → 247, and spinning is the default in training runs.)
// The transpose flags change none of these orders (fwd, bpinput N·T and bpfilter T·N agree),
// and oneDNN follows the thread count: 1024³ 185 → 369 GFLOP/s from 1 to 2 threads.
GemmProvider gemm_provider_for(std::size_t m, std::size_t n, std::size_t k) {
#if XGRAD_HAVE_DNNL
  constexpr double kDnnlMinMnk = 1 << 20;
  if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= kDnnlMinMnk) {
    return GemmProvider::Dnnl;
  }
#endif
  return GemmProvider::OpenBlas;
}

const char* gemm_provider_name(GemmProvider provider) {
  switch (provider) {
    case GemmProvider::OpenBlas:
      return "openblas";
    case GemmProvider::Dnnl:
      return "dnnl";
    case GemmProvider::Xsimd:
      return "xsimd";
    case GemmProvider::Auto:
      break;
  }
  return "auto";
}

namespace {

// Deep products — a small C and a long K, like the seed model's Dense forward x · W
// (64×128×1,806,336) — are split into fixed K blocks, one single-threaded GEMM per block into
// its own partial C, run in parallel, then summed in block order. Both providers parallelise
// such a shape poorly (oneDNN, 2 threads: 192 GFLOP/s as one call, 251 split, measured with
// bench/ops_bench BM_Gemm/seed_dense_fwd). The block size is fixed, so the result does not
// depend on the thread count.
constexpr std::size_t kSplitKBlock = std::size_t{1} << 16;
constexpr std::size_t kSplitKMaxOutput = std::size_t{1} << 16;  // m·n: partial Cs stay small

void split_k_gemm(GemmProvider provider, bool trans_a, bool trans_b, std::size_t m, std::size_t n,
                  std::size_t k, real alpha, const real* a, std::size_t lda, const real* b,
                  std::size_t ldb, real beta, real* c, std::size_t ldc) {
  const std::size_t blocks = (k + kSplitKBlock - 1) / kSplitKBlock, mn = m * n;
  CachedBuffer<real> partial(blocks * mn);
  const bool own_kernel = (provider == GemmProvider::Auto || provider == GemmProvider::Xsimd) &&
                          streaming_kernel_for(trans_a, trans_b, m, n, k) == StreamingKernel::DeepK;
  const auto count = static_cast<std::ptrdiff_t>(blocks);
  const int threads = num_threads();
  // Inside the parallel region each GEMM runs on one thread (nested regions are inactive).
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (std::ptrdiff_t blk = 0; blk < count; ++blk) {
    const std::size_t k0 = static_cast<std::size_t>(blk) * kSplitKBlock;
    const std::size_t kb = std::min(kSplitKBlock, k - k0);
    // Block blk of op(A) is columns [k0, k0 + kb); of op(B), rows [k0, k0 + kb).
    const real* a_blk = trans_a ? a + k0 * lda : a + k0;
    const real* b_blk = trans_b ? b + k0 : b + k0 * ldb;
    if (own_kernel) {
      streaming_gemm_deep_k_block(m, n, kb, a_blk, lda, b_blk, ldb,
                                  partial.get() + static_cast<std::size_t>(blk) * mn);
      continue;
    }
    gemm_with(provider, trans_a, trans_b, m, n, kb, real(1), a_blk, lda, b_blk, ldb, real(0),
              partial.get() + static_cast<std::size_t>(blk) * mn, n);
  }
  for (std::size_t i = 0; i < m; ++i) {
    real* row = c + i * ldc;
    for (std::size_t j = 0; j < n; ++j) {
      real sum = 0;
      for (std::size_t blk = 0; blk < blocks; ++blk) sum += partial.get()[blk * mn + i * n + j];
      row[j] = alpha * sum + (beta == real(0) ? real(0) : beta * row[j]);
    }
  }
}

}  // namespace

void gemm_with(GemmProvider provider, bool trans_a, bool trans_b, std::size_t m, std::size_t n,
               std::size_t k, real alpha, const real* a, std::size_t lda, const real* b,
               std::size_t ldb, real beta, real* c, std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // C = beta · C, done here so that both providers agree (and none checks lda against k = 0).
    for (std::size_t i = 0; i < m; ++i) {
      real* row = c + i * ldc;
      for (std::size_t j = 0; j < n; ++j) row[j] = beta == real(0) ? real(0) : beta * row[j];
    }
    return;
  }
  if (k >= 2 * kSplitKBlock && m * n <= kSplitKMaxOutput) {
    split_k_gemm(provider, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (provider == GemmProvider::Auto || provider == GemmProvider::Xsimd) {
    switch (streaming_kernel_for(trans_a, trans_b, m, n, k)) {
      case StreamingKernel::TallT:
        streaming_gemm_tall_t(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
      case StreamingKernel::WideT:
        streaming_gemm_wide_t(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
      case StreamingKernel::DeepK:  // only reached through split_k_gemm
      case StreamingKernel::None:
        break;
    }
    provider = gemm_provider_for(m, n, k);
  }
#if XGRAD_HAVE_DNNL
  if (provider == GemmProvider::Dnnl) {
    dnnl_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  openblas_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, real alpha,
          const real* a, std::size_t lda, const real* b, std::size_t ldb, real beta, real* c,
          std::size_t ldc) {
  gemm_with(forced_provider(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace xgrad::detail
