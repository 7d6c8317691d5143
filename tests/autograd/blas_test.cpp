// detail::gemm and its providers: OpenBLAS, oneDNN and the Auto rule against a naive triple
// loop (in double), for all four transpose combinations, padded leading dimensions, alpha and
// beta, small and skinny (im2col-like) shapes; the k = 0 and beta = 0 conventions; the errors.

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/detail/blas.h"
#include "autograd/threads.h"
#include "tests/support/random.h"

namespace xgrad::detail {
namespace {

using ::testing::HasSubstr;
using testing::random_values;
using testing::small_integers;

struct GemmCase {
  bool ta, tb;
  std::size_t m, n, k;
  std::size_t pad_a, pad_b, pad_c;  // leading dimension = stored row length + pad
  double alpha, beta;
};

std::string describe(const GemmCase& t) {
  return std::string(t.ta ? "T" : "N") + (t.tb ? "T" : "N") + " m=" + std::to_string(t.m) +
         " n=" + std::to_string(t.n) + " k=" + std::to_string(t.k) +
         " pads=" + std::to_string(t.pad_a) + "," + std::to_string(t.pad_b) + "," +
         std::to_string(t.pad_c) + " alpha=" + std::to_string(t.alpha) +
         " beta=" + std::to_string(t.beta);
}

// Runs one case through `provider` and compares every element of C (padding included: it must
// be left alone) with a double-precision triple loop.
void check_case(GemmProvider provider, const GemmCase& t) {
  SCOPED_TRACE(std::string(gemm_provider_name(provider)) + " " + describe(t));
  const std::size_t rows_a = t.ta ? t.k : t.m, cols_a = t.ta ? t.m : t.k;
  const std::size_t rows_b = t.tb ? t.n : t.k, cols_b = t.tb ? t.k : t.n;
  const std::size_t lda = cols_a + t.pad_a, ldb = cols_b + t.pad_b, ldc = t.n + t.pad_c;
  const std::vector<real> a = random_values(rows_a * lda, 1), b = random_values(rows_b * ldb, 2);
  std::vector<real> c = random_values(t.m * ldc, 3);
  const std::vector<real> c0 = c;
  auto at = [&](std::size_t i, std::size_t p) { return t.ta ? a[p * lda + i] : a[i * lda + p]; };
  auto bt = [&](std::size_t p, std::size_t j) { return t.tb ? b[j * ldb + p] : b[p * ldb + j]; };

  gemm_with(provider, t.ta, t.tb, t.m, t.n, t.k, static_cast<real>(t.alpha), a.data(), lda,
            b.data(), ldb, static_cast<real>(t.beta), c.data(), ldc);

  for (std::size_t i = 0; i < t.m; ++i) {
    for (std::size_t j = 0; j < ldc; ++j) {
      const real got = c[i * ldc + j];
      if (j >= t.n) {
        ASSERT_EQ(got, c0[i * ldc + j]) << "padding of C written at (" << i << ", " << j << ")";
        continue;
      }
      double dot = 0, magnitude = 0;
      for (std::size_t p = 0; p < t.k; ++p) {
        dot += static_cast<double>(at(i, p)) * bt(p, j);
        magnitude += std::abs(static_cast<double>(at(i, p)) * bt(p, j));
      }
      const double want = t.alpha * dot + t.beta * c0[i * ldc + j];
      // Float rounding grows with Σ|a·b| and, for blocked/pairwise sums, about √k (bound
      // ≈ 8·eps·√k·Σ|a·b|, eps = 2^-24).
      const double tol = 1e-5 + 1e-6 * std::sqrt(static_cast<double>(t.k) + 1) *
                                    (std::abs(t.alpha) * magnitude + std::abs(t.beta));
      ASSERT_NEAR(got, want, tol) << "at (" << i << ", " << j << ")";
    }
  }
}

const GemmProvider kProviders[] = {GemmProvider::OpenBlas, GemmProvider::Dnnl, GemmProvider::Auto};

TEST(Gemm, AllProvidersMatchNaiveLoopForEveryTransposeCombination) {
  const std::vector<GemmCase> shapes = {
      // tiny, odd, 1-wide
      {false, false, 1, 1, 1, 0, 0, 0, 1, 0},
      {false, false, 3, 5, 7, 0, 0, 0, 1, 0},
      {false, false, 1, 17, 4, 2, 1, 3, 1, 0},
      {false, false, 13, 1, 9, 1, 0, 2, 1, 0},
      {false, false, 33, 31, 65, 3, 5, 7, 1, 0},
      // skinny im2col shapes: K = 9 / 27, N = 32 / 64, and their backprops
      {false, false, 2000, 32, 9, 0, 0, 0, 1, 0},
      {false, false, 1500, 64, 27, 0, 0, 0, 1, 0},
      {false, false, 1500, 27, 64, 0, 0, 0, 1, 0},
      {false, false, 9, 32, 3000, 0, 0, 0, 1, 0},
      {false, false, 27, 64, 2500, 0, 0, 0, 1, 0},
      // Dense-like
      {false, false, 64, 128, 300, 0, 0, 0, 1, 0},
      {false, false, 300, 128, 64, 0, 0, 0, 1, 0},
      // padded leading dimensions with alpha / beta
      {false, false, 50, 40, 30, 7, 3, 11, 0.75, 0.5},
      {false, false, 300, 32, 9, 5, 2, 4, -1.5, 1},
      {false, false, 9, 64, 700, 1, 9, 6, 2, -0.25},
      {false, false, 128, 96, 160, 16, 16, 16, 1, 1},
      // deep (small C, K of two and three 65536-blocks and a remainder): the split-K path
      {false, false, 3, 5, 2 * 65536 + 123, 1, 2, 1, 0.75, 0.5},
      {false, false, 4, 2, 3 * 65536 + 5, 0, 0, 0, 1, 0},
  };
  for (const GemmProvider provider : kProviders) {
    for (GemmCase t : shapes) {
      for (int flags = 0; flags < 4; ++flags) {
        t.ta = (flags & 1) != 0;
        t.tb = (flags & 2) != 0;
        check_case(provider, t);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(Gemm, ProvidersAgreeOnTheSameInputs) {
  // The Auto rule picks different providers by shape; both must give the same numbers to
  // float accuracy, so that a rule change cannot change a model beyond rounding.
  for (int flags = 0; flags < 4; ++flags) {
    const bool ta = (flags & 1) != 0, tb = (flags & 2) != 0;
    const std::size_t m = 700, n = 64, k = 27;
    const std::size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    const auto a = random_values((ta ? k : m) * lda, 4), b = random_values((tb ? n : k) * ldb, 5);
    std::vector<real> c1 = random_values(m * ldc, 6), c2 = c1;
    gemm_with(GemmProvider::OpenBlas, ta, tb, m, n, k, real(0.5), a.data(), lda, b.data(), ldb,
              real(2), c1.data(), ldc);
    gemm_with(GemmProvider::Dnnl, ta, tb, m, n, k, real(0.5), a.data(), lda, b.data(), ldb, real(2),
              c2.data(), ldc);
    for (std::size_t i = 0; i < c1.size(); ++i)
      ASSERT_NEAR(c1[i], c2[i], 1e-5) << "flags " << flags;
  }
}

TEST(Gemm, BetaZeroDoesNotReadC) {
  for (const GemmProvider provider : kProviders) {
    const std::size_t m = 40, n = 32, k = 9;
    const auto a = random_values(m * k, 7), b = random_values(k * n, 8);
    std::vector<real> c(m * n, std::nanf(""));
    gemm_with(provider, false, false, m, n, k, 1, a.data(), k, b.data(), n, 0, c.data(), n);
    for (std::size_t i = 0; i < c.size(); ++i) {
      ASSERT_FALSE(std::isnan(c[i])) << gemm_provider_name(provider) << " at " << i;
    }
  }
}

// Deep products are summed in fixed K blocks. With small integers every product and partial
// sum is exact in float (|sum| <= 4·k < 2^24), so the result must equal the integer dot
// product exactly, whatever the blocking; also the same bits at 1 and 2 threads, every
// transpose, beta = 1 adding C, and C not read when beta = 0.
TEST(Gemm, SplitKIsExactOnIntegersAndDoesNotDependOnTheThreadCount) {
  const std::size_t m = 6, n = 7, k = 2 * 65536 + 999;
  const auto a = small_integers(m * k, 11), b = small_integers(k * n, 12);
  const std::vector<real> c_in = small_integers(m * n, 13);
  const int saved = num_threads();
  for (const GemmProvider provider : kProviders) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = (flags & 1) != 0, tb = (flags & 2) != 0;
      SCOPED_TRACE(std::string(gemm_provider_name(provider)) + (ta ? " T" : " N") + (tb ? "T" : "N"));
      // The same values, stored transposed where asked: op(A)[i, p] = a[i·k + p].
      std::vector<real> sa(a.size()), sb(b.size());
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t p = 0; p < k; ++p) sa[ta ? p * m + i : i * k + p] = a[i * k + p];
      for (std::size_t p = 0; p < k; ++p)
        for (std::size_t j = 0; j < n; ++j) sb[tb ? j * k + p : p * n + j] = b[p * n + j];
      std::vector<std::vector<real>> results;
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        std::vector<real> c(m * n, std::nanf(""));
        gemm_with(provider, ta, tb, m, n, k, 1, sa.data(), ta ? m : k, sb.data(), tb ? k : n, 0,
                  c.data(), n);
        std::vector<real> c1 = c_in;
        gemm_with(provider, ta, tb, m, n, k, 1, sa.data(), ta ? m : k, sb.data(), tb ? k : n, 1,
                  c1.data(), n);
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t j = 0; j < n; ++j) {
            long long dot = 0;
            for (std::size_t p = 0; p < k; ++p) {
              dot += static_cast<long long>(a[i * k + p]) * static_cast<long long>(b[p * n + j]);
            }
            ASSERT_EQ(c[i * n + j], static_cast<real>(dot)) << "threads " << threads << " at (" << i << ", " << j << ")";
            ASSERT_EQ(c1[i * n + j], static_cast<real>(dot) + c_in[i * n + j]) << "beta = 1 at (" << i << ", " << j << ")";
          }
        }
        results.push_back(c);
      }
      EXPECT_EQ(results[0], results[1]);
    }
  }
  set_num_threads(saved);
}

TEST(Gemm, EmptyProductsScaleOrKeepC) {
  for (const GemmProvider provider : kProviders) {
    SCOPED_TRACE(gemm_provider_name(provider));
    std::vector<real> c = {1, 2, 3, 4, 5, 6};
    // k = 0: C = beta · C (the leading dimensions of A and B are not checked against k).
    gemm_with(provider, false, false, 2, 3, 0, 1, nullptr, 0, nullptr, 3, real(0.5), c.data(), 3);
    EXPECT_EQ(c, (std::vector<real>{0.5, 1, 1.5, 2, 2.5, 3}));
    gemm_with(provider, false, false, 2, 3, 0, 1, nullptr, 0, nullptr, 3, 0, c.data(), 3);
    EXPECT_EQ(c, (std::vector<real>(6, 0)));
    // m = 0 or n = 0: nothing to write.
    c = {1, 2, 3};
    gemm_with(provider, false, false, 0, 3, 4, 1, nullptr, 4, nullptr, 3, 0, c.data(), 3);
    gemm_with(provider, false, false, 1, 0, 4, 1, nullptr, 4, nullptr, 1, 0, c.data(), 1);
    EXPECT_EQ(c, (std::vector<real>{1, 2, 3}));
  }
}

TEST(Gemm, AutoRuleOnlyPicksARealProvider) {
  for (std::size_t m : {1, 256, 173056}) {
    for (std::size_t n : {1, 9, 32, 64, 128, 1024}) {
      for (std::size_t k : {1, 9, 27, 64, 288, 1024}) {
        const GemmProvider p = gemm_provider_for(m, n, k);
        EXPECT_NE(p, GemmProvider::Auto);
#if defined(XGRAD_DOUBLE) && XGRAD_DOUBLE
        EXPECT_EQ(p, GemmProvider::OpenBlas);
#endif
      }
    }
  }
#if !(defined(XGRAD_DOUBLE) && XGRAD_DOUBLE)
  // The measured rule (blas.cpp): OpenBLAS below 2^20 multiply-adds, oneDNN from there on.
  EXPECT_EQ(gemm_provider_for(1, 64, 128), GemmProvider::OpenBlas);
  EXPECT_EQ(gemm_provider_for(1, 128, 1600), GemmProvider::OpenBlas);
  EXPECT_EQ(gemm_provider_for(256 * 676, 32, 9), GemmProvider::Dnnl);
  EXPECT_EQ(gemm_provider_for(9, 32, 256 * 676), GemmProvider::Dnnl);
  EXPECT_EQ(gemm_provider_for(256, 128, 64), GemmProvider::Dnnl);
  EXPECT_EQ(gemm_provider_for(1806336, 128, 64), GemmProvider::Dnnl);
#endif
  EXPECT_STREQ(gemm_provider_name(GemmProvider::OpenBlas), "openblas");
  EXPECT_STREQ(gemm_provider_name(GemmProvider::Dnnl), "dnnl");
  EXPECT_STREQ(gemm_provider_name(GemmProvider::Auto), "auto");
}

#if !(defined(XGRAD_DOUBLE) && XGRAD_DOUBLE)
TEST(Gemm, DnnlRejectsBadLeadingDimensionWithShapesInTheMessage) {
  const std::vector<real> a(12), b(12);
  std::vector<real> c(16);
  try {
    // A is 4×3 as stored, so lda must be >= 3.
    gemm_with(GemmProvider::Dnnl, false, false, 4, 4, 3, 1, a.data(), 2, b.data(), 4, 0, c.data(),
              4);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("gemm"));
    EXPECT_THAT(e.what(), HasSubstr("m=4, n=4, k=3, lda=2"));
  }
}
#endif

}  // namespace
}  // namespace xgrad::detail
