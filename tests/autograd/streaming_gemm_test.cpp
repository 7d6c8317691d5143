// xgrad's streaming GEMM kernels (autograd/detail/streaming_gemm.h), through gemm_with: which
// shapes select them, and exact results. With small integers every product and partial sum
// is exact in float, so each kernel must reproduce the integer dot product bit for bit —
// including remainders of every tile, block and group, padded leading dimensions, alpha and
// beta, C not read when beta is 0 (with and without non-temporal stores), and the same bits
// on 1 and 2 threads.

#include "autograd/detail/streaming_gemm.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/detail/blas.h"
#include "autograd/memory.h"
#include "autograd/threads.h"
#include "tests/support/random.h"

namespace xgrad::detail {
namespace {

using testing::random_values;
using testing::small_integers;

struct StreamCase {
  bool ta, tb;
  std::size_t m, n, k;
  std::size_t pad_a, pad_b, pad_c;
  real alpha, beta;
  StreamingKernel kernel;  // the one gemm() must pick for this shape
};

std::string describe(const StreamCase& t) {
  return std::string(t.ta ? "T" : "N") + (t.tb ? "T" : "N") + " m=" + std::to_string(t.m) +
         " n=" + std::to_string(t.n) + " k=" + std::to_string(t.k) + " pads=" +
         std::to_string(t.pad_a) + "," + std::to_string(t.pad_b) + "," +
         std::to_string(t.pad_c) + " alpha=" + std::to_string(t.alpha) +
         " beta=" + std::to_string(t.beta);
}

// The rows (or columns) of C compared with the integer reference: all of them up to 256,
// else every 61st plus the first and last 100 (the remainders of the thread ranges, blocks,
// groups and tiles are at the ends; 61 is prime to all the tile sizes).
std::vector<std::size_t> checked_indices(std::size_t count) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < count; ++i) {
    if (count <= 256 || i % 61 == 0 || i < 100 || i + 100 >= count) out.push_back(i);
  }
  return out;
}

void check_streaming_case(const StreamCase& t) {
  SCOPED_TRACE(describe(t));
  ASSERT_EQ(streaming_kernel_for(t.ta, t.tb, t.m, t.n, t.k), t.kernel);
  const std::size_t rows_a = t.ta ? t.k : t.m, cols_a = t.ta ? t.m : t.k;
  const std::size_t rows_b = t.tb ? t.n : t.k, cols_b = t.tb ? t.k : t.n;
  const std::size_t lda = cols_a + t.pad_a, ldb = cols_b + t.pad_b, ldc = t.n + t.pad_c;
  const std::vector<real> a = small_integers(rows_a * lda, 1), b = small_integers(rows_b * ldb, 2);
  const std::vector<real> c_in = small_integers(t.m * ldc, 3);
  auto at = [&](std::size_t i, std::size_t p) { return t.ta ? a[p * lda + i] : a[i * lda + p]; };
  auto bt = [&](std::size_t p, std::size_t j) { return t.tb ? b[j * ldb + p] : b[p * ldb + j]; };

  const int saved = num_threads();
  std::vector<std::vector<real>> results;
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    // 64-byte aligned storage (the cache's blocks are), so that beta = 0 with ldc a multiple
    // of 16 takes the non-temporal store path; NaN where beta = 0 must not read.
    CachedBuffer<real> c(t.m * ldc);
    for (std::size_t e = 0; e < t.m * ldc; ++e) c.get()[e] = t.beta == 0 ? std::nanf("") : c_in[e];
    gemm_with(GemmProvider::Xsimd, t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(),
              ldb, t.beta, c.get(), ldc);
    results.emplace_back(c.get(), c.get() + t.m * ldc);
  }
  set_num_threads(saved);
  // Bit for bit (the NaN padding included, which == would never call equal).
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(real)), 0)
      << "1 and 2 threads differ";

  const std::vector<real>& c = results[0];
  std::vector<std::size_t> columns = checked_indices(t.n);
  for (std::size_t j = t.n; j < ldc; ++j) columns.push_back(j);
  for (const std::size_t i : checked_indices(t.m)) {
    for (const std::size_t j : columns) {
      const real got = c[i * ldc + j];
      if (j >= t.n) {  // padding: left alone
        if (t.beta == 0) {
          ASSERT_TRUE(std::isnan(got)) << "padding written at (" << i << ", " << j << ")";
        } else {
          ASSERT_EQ(got, c_in[i * ldc + j]) << "padding written at (" << i << ", " << j << ")";
        }
        continue;
      }
      long long dot = 0;
      for (std::size_t p = 0; p < t.k; ++p) {
        dot += static_cast<long long>(at(i, p)) * static_cast<long long>(bt(p, j));
      }
      const real expected = t.alpha * static_cast<real>(dot) + t.beta * (t.beta == 0 ? 0 : c_in[i * ldc + j]);
      ASSERT_EQ(got, expected) << "at (" << i << ", " << j << ")";
    }
  }
}

constexpr std::size_t kLong = std::size_t{1} << 17;

TEST(StreamingGemm, ExactOnIntegersForEveryKernelAndRemainder) {
  if (!streaming_gemm_available()) GTEST_SKIP() << "not built here (double build or no AVX-512)";
  using K = StreamingKernel;
  const std::vector<StreamCase> cases = {
      // DeepK (x · W of a Dense layer; split into 2^16 K blocks by gemm): the seed layer's
      // 128 outputs, odd row counts (a 1-row tile), fewer outputs, a partial 64-deep slab and
      // partial last K block, padded rows, alpha / beta. (64 rows: the random-value test.)
      {false, false, 5, 128, kLong + 37, 0, 0, 0, 1, 0, K::DeepK},
      {false, false, 6, 128, kLong + 64 * 3 + 1, 0, 0, 0, 1, 0, K::DeepK},
      {false, false, 3, 48, kLong + 1000, 3, 16, 5, 2, 1, K::DeepK},
      {false, false, 1, 16, kLong, 1, 0, 0, -1, 0, K::DeepK},
      // TallT (xᵀ · g: the weight gradient): the seed shape's 128 columns and 64 batch rows,
      // m not a multiple of 48 (or 3), other widths and depths, padded and unaligned C,
      // alpha / beta.
      {true, false, kLong + 7, 128, 64, 0, 0, 0, 1, 0, K::TallT},
      {true, false, kLong + 50, 48, 7, 0, 0, 0, 2, 1, K::TallT},
      {true, false, kLong + 1, 16, 256, 5, 3, 16, 1, 0, K::TallT},
      {true, false, kLong + 2, 80, 1, 1, 0, 3, -1, 0, K::TallT},
      // WideT (g · Wᵀ: the input gradient): 64 rows and 128-deep like the seed model, each
      // row count, n not a multiple of 16 (scalar tail), padded and unaligned C, alpha / beta.
      {false, true, 64, kLong + 5, 128, 0, 0, 0, 1, 0, K::WideT},
      {false, true, 16, kLong + 16, 33, 2, 1, 0, 1, 1, K::WideT},
      {false, true, 32, kLong + 3, 1, 0, 0, 7, 2, 0, K::WideT},
      {false, true, 48, kLong, 256, 1, 9, 16, -1, 1, K::WideT},
  };
  for (const StreamCase& t : cases) {
    check_streaming_case(t);
    if (HasFatalFailure()) return;
  }
}

TEST(StreamingGemm, AutoPicksTheKernelsOnlyForTheirShapes) {
  // The seed model's Dense layer (64 rows, 1,806,336 inputs, 128 outputs).
  const StreamingKernel want_fwd = streaming_gemm_available() ? StreamingKernel::DeepK : StreamingKernel::None;
  const StreamingKernel want_dw = streaming_gemm_available() ? StreamingKernel::TallT : StreamingKernel::None;
  const StreamingKernel want_dx = streaming_gemm_available() ? StreamingKernel::WideT : StreamingKernel::None;
  EXPECT_EQ(streaming_kernel_for(false, false, 64, 128, 1806336), want_fwd);
  EXPECT_EQ(streaming_kernel_for(true, false, 1806336, 128, 64), want_dw);
  EXPECT_EQ(streaming_kernel_for(false, true, 64, 1806336, 128), want_dx);
  // Not theirs: short long dimension, too many columns / rows / depth, widths not in whole
  // vectors, other transposes, a large C (no split-K).
  EXPECT_EQ(streaming_kernel_for(false, false, 64, 128, kLong - 1), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, false, 64, 144, kLong), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, false, 64, 100, kLong), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, false, 1024, 128, kLong), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(true, true, 64, 128, kLong), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(true, false, kLong - 1, 128, 64), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(true, false, kLong, 128, 257), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(true, false, kLong, 8, 64), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, true, 65, kLong, 128), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, true, 8, kLong, 128), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, true, 64, kLong, 300), StreamingKernel::None);
  EXPECT_EQ(streaming_kernel_for(false, true, 64, kLong - 1, 128), StreamingKernel::None);
  EXPECT_STREQ(gemm_provider_name(GemmProvider::Xsimd), "xsimd");
}

TEST(StreamingGemm, AgreesWithTheLibrariesOnRandomValues) {
  // The seed layer's three shapes at reduced length, against OpenBLAS: the same sums in
  // other orders, so equal to float accuracy.
  if (!streaming_gemm_available()) GTEST_SKIP() << "not built here (double build or no AVX-512)";
  struct Shape3 {
    bool ta, tb;
    std::size_t m, n, k;
  };
  for (const Shape3 s : {Shape3{false, false, 64, 128, kLong + 100}, Shape3{true, false, kLong + 100, 128, 64},
                         Shape3{false, true, 64, kLong + 100, 128}}) {
    SCOPED_TRACE(std::string(s.ta ? "T" : "N") + (s.tb ? "T" : "N"));
    const std::size_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const std::vector<real> a = random_values(s.m * s.k, 5), b = random_values(s.k * s.n, 6);
    std::vector<real> ours(s.m * s.n), library(s.m * s.n);
    gemm_with(GemmProvider::Xsimd, s.ta, s.tb, s.m, s.n, s.k, 1, a.data(), lda, b.data(), ldb, 0,
              ours.data(), s.n);
    gemm_with(GemmProvider::OpenBlas, s.ta, s.tb, s.m, s.n, s.k, 1, a.data(), lda, b.data(), ldb,
              0, library.data(), s.n);
    // The exact-integer test above is the strict one. Here two summation orders of k float
    // terms, with partial sums up to ~30 in the NN case (k = 131,172), differ by up to about
    // √k · ε · 30 ≈ 6.5e-4 (measured: 1.6e-4); a wrong element or index is off by O(1).
    const double tol = 1e-3;
    for (std::size_t e = 0; e < ours.size(); ++e) ASSERT_NEAR(ours[e], library[e], tol) << "at " << e;
  }
}

}  // namespace
}  // namespace xgrad::detail
