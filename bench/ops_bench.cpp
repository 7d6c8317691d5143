// Kernel benchmarks of the engine: GEMM, convolution (forward and both backprops) and the
// tape's own overhead per recorded op.
//
// Run with the environment's OpenBLAS overrides unset (they select a slower kernel here):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench/bench/ops_bench
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
// `--threads` is not a Google Benchmark flag: the thread count comes from XGRAD_THREADS
// (default: all cores). The GEMM provider comparison: --benchmark_filter=BM_Gemm/ (add
// --benchmark_enable_random_interleaving=true on a shared machine).

#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <xsimd/xsimd.hpp>

#include "autograd/autograd.h"
#include "autograd/detail/blas.h"
#include "autograd/detail/streaming_gemm.h"
#include "autograd/memory.h"

namespace xgrad {
namespace {

Tensor filled(const Shape& shape, real value) { return Tensor::full(shape, value); }

Tensor random_tensor(const Shape& shape, unsigned seed) {
  std::vector<real> v(shape_size(shape));
  unsigned s = seed;
  for (real& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<real>((s >> 8) & 0xFFFF) / real(65536) - real(0.5);
  }
  return Tensor::from_vector(shape, v);
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * 1e-9 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}

void BM_Matmul(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Tensor a = random_tensor({n, n}, 1), b = random_tensor({n, n}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).data());
  set_flops(state, 2.0 * n * n * n);
}
BENCHMARK(BM_Matmul)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline for BM_Matmul: the BLAS GEMM alone, into a buffer allocated once.
void BM_RawBlasGemm(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Tensor a = random_tensor({n, n}, 1), b = random_tensor({n, n}, 2);
  std::vector<real> c(n * n);
  for (auto _ : state) {
    detail::gemm(false, false, n, n, n, real(1), a.data(), n, b.data(), n, real(0), c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * n * n * n);
}
BENCHMARK(BM_RawBlasGemm)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// The machine's FMA peak on xgrad::num_threads() threads: independent register-resident FMA
// chains (16 per thread, enough to cover the FMA latency on two ports), nothing loaded or
// stored. It is the 100% that "per cent of peak" figures in README.md refer to; measured in the
// same run as the GEMM rows, so a busy neighbour on this shared machine lowers both.
void BM_FmaPeak(benchmark::State& state) {
  using Batch = xsimd::batch<real>;
  constexpr int kChains = 16, kSteps = 1 << 18;
  const int threads = num_threads();
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      real mul = real(0.999999), add = real(1e-7);
      benchmark::DoNotOptimize(mul);
      benchmark::DoNotOptimize(add);
      const Batch m(mul), c(add);
      Batch acc[kChains];
      for (int i = 0; i < kChains; ++i) acc[i] = Batch(real(1) + real(i) * real(1e-3));
      for (int step = 0; step < kSteps; step += 64) {
        for (int u = 0; u < 64; ++u)
          for (int i = 0; i < kChains; ++i) acc[i] = xsimd::fma(acc[i], m, c);
        // Keeps the chains live (and unfoldable) at a cost of one store per 64 FMAs each.
        for (int i = 0; i < kChains; ++i) benchmark::DoNotOptimize(acc[i]);
      }
    }
  }
  set_flops(state, 2.0 * Batch::size * kChains * kSteps * threads);
}
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();

// GEMM providers compared on the shapes the models run (registered in main as
// BM_Gemm/<shape>/<provider>, provider = openblas | dnnl | xsimd | auto; xsimd, xgrad's
// streaming kernels, only on the shapes they cover): the figures behind the
// dispatch rule in autograd/detail/blas.cpp. Each shape is one detail::gemm call exactly as
// ops/conv2d.cpp or ops/matmul.cpp makes it (flags, tight leading dimensions, beta):
//   conv fwd      N,N  [rows, taps] · kernel [taps, cout]        (rows = one im2col chunk)
//   conv bpinput  N,T  grad [rows, cout] · kernel[taps, cout]ᵀ   (then col2im)
//   conv bpfilter T,N  colsᵀ · grad, chunks after the first accumulate (beta = 1)
//   dense fwd     N,N  x · W;   dx: N,T g · Wᵀ;   dW: T,N xᵀ · g
// Chunk rows follow conv2d.cpp's 32 MiB im2col budget. Small siamese model (batch 256
// images): conv1 3×3 1→32 on 28×28 (one chunk, M = 256·26·26), conv2 3×3 32→64 on 13×13
// (chunks of 2647·11 rows), Dense 1600→128 and 128→64. Seed model (batch 64, 170×170×3):
// conv 3×3 3→64 (chunks of 1849·168 rows), Dense 1806336→128 (needs ~2.3 GB of buffers;
// ~4.6 GB with the batch-128 rows).
// "GB/s" counts each operand once (C twice when beta != 0): the bound of the dW shapes.
struct GemmShape {
  const char* name;
  bool trans_a, trans_b;
  std::size_t m, n, k;
  real beta;
};

constexpr GemmShape kGemmShapes[] = {
    {"sq256", false, false, 256, 256, 256, 0},
    {"sq1024", false, false, 1024, 1024, 1024, 0},
    {"siam_conv1_fwd", false, false, 256 * 676, 32, 9, 0},
    {"siam_conv1_bpinput", false, true, 256 * 676, 9, 32, 0},
    {"siam_conv1_bpfilter", true, false, 9, 32, 256 * 676, 0},
    {"siam_conv2_fwd", false, false, 2647 * 11, 64, 288, 0},
    {"siam_conv2_bpinput", false, true, 2647 * 11, 288, 64, 0},
    {"siam_conv2_bpfilter", true, false, 288, 64, 2647 * 11, 0},
    {"siam_dense1_fwd", false, false, 256, 128, 1600, 0},
    {"siam_dense1_dx", false, true, 256, 1600, 128, 0},
    {"siam_dense1_dw", true, false, 1600, 128, 256, 0},
    {"siam_dense2_fwd", false, false, 256, 64, 128, 0},
    {"siam_dense2_dx", false, true, 256, 128, 64, 0},
    {"siam_dense2_dw", true, false, 128, 64, 256, 0},
    {"seed_conv_fwd", false, false, 1849 * 168, 64, 27, 0},
    {"seed_conv_bpinput", false, true, 1849 * 168, 27, 64, 0},
    {"seed_conv_bpfilter", true, false, 27, 64, 1849 * 168, 1},
    {"seed_dense_fwd", false, false, 64, 128, 1806336, 0},
    {"seed_dense_dx", false, true, 64, 1806336, 128, 0},
    {"seed_dense_dw", true, false, 1806336, 128, 64, 0},
    // The same Dense layer at batch 128 pairs (256 rows): four times the reuse of each weight.
    {"seed_dense_fwd_b128", false, false, 256, 128, 1806336, 0},
    {"seed_dense_dx_b128", false, true, 256, 1806336, 128, 0},
    {"seed_dense_dw_b128", true, false, 1806336, 128, 256, 0},
};

// Operand buffers shared by every BM_Gemm run (A, B, C): grown on demand and filled once, so
// repetitions do not pay for gigabyte allocations. From the tensors' allocator, as the
// models' operands are: 64-byte aligned, and huge pages from 2 MiB on (with 4 KiB pages the
// 64 rows of the seed Dense input, 7 MB apart, cost a TLB miss per row and step).
real* gemm_operand(int slot, std::size_t elems) {
  static std::vector<real, detail::CachingAllocator<real>> buffers[3];
  auto& v = buffers[slot];
  if (v.size() < elems) {
    v.assign(elems, real(0));
    unsigned s = 12345u + static_cast<unsigned>(slot);
    for (real& x : v) {
      s = s * 1664525u + 1013904223u;
      x = static_cast<real>((s >> 8) & 0xFFFF) / real(65536) - real(0.5);
    }
  }
  return v.data();
}

void BM_Gemm(benchmark::State& state, GemmShape s, detail::GemmProvider provider) {
  const real* a = gemm_operand(0, s.m * s.k);
  const real* b = gemm_operand(1, s.k * s.n);
  real* c = gemm_operand(2, s.m * s.n);
  const std::size_t lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
  for (auto _ : state) {
    detail::gemm_with(provider, s.trans_a, s.trans_b, s.m, s.n, s.k, real(1), a, lda, b, ldb,
                      s.beta, c, s.n);
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * static_cast<double>(s.m) * s.n * s.k);
  const double elems = static_cast<double>(s.m) * s.k + static_cast<double>(s.k) * s.n +
                       static_cast<double>(s.m) * s.n * (s.beta != 0 ? 2 : 1);
  state.counters["GB/s"] =
      benchmark::Counter(elems * sizeof(real) * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  if (provider == detail::GemmProvider::Auto) {
    const bool own = detail::streaming_kernel_for(s.trans_a, s.trans_b, s.m, s.n, s.k) !=
                     detail::StreamingKernel::None;
    state.SetLabel(own ? "xsimd"
                       : detail::gemm_provider_name(detail::gemm_provider_for(s.m, s.n, s.k)));
  }
}

void register_gemm_benchmarks() {
  using detail::GemmProvider;
  for (const GemmShape& s : kGemmShapes) {
    for (GemmProvider p : {GemmProvider::OpenBlas, GemmProvider::Dnnl, GemmProvider::Xsimd, GemmProvider::Auto}) {
      // xsimd rows only where a streaming kernel applies (elsewhere they would repeat auto).
      if (p == GemmProvider::Xsimd && detail::streaming_kernel_for(s.trans_a, s.trans_b, s.m, s.n,
                                                                   s.k) == detail::StreamingKernel::None) {
        continue;
      }
      const std::string name =
          std::string("BM_Gemm/") + s.name + "/" + detail::gemm_provider_name(p);
      benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, s, p)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

// The seed model's convolution: batch 32, 170×170×3 input, 64 3×3 filters, valid padding.
constexpr std::size_t kBatch = 32, kSize = 170, kIn = 3, kOut = 64, kK = 3, kOutSize = kSize - kK + 1;
constexpr double kConvFlops = 2.0 * kBatch * kOutSize * kOutSize * kOut * kK * kK * kIn;

void BM_Conv2DForward(benchmark::State& state) {
  Tensor x = random_tensor({kBatch, kSize, kSize, kIn}, 3), k = random_tensor({kK, kK, kIn, kOut}, 4);
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, k).data());
  set_flops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DForward)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Conv2DBackpropFilter(benchmark::State& state) {
  Tensor x = random_tensor({kBatch, kSize, kSize, kIn}, 3);
  Tensor g = random_tensor({kBatch, kOutSize, kOutSize, kOut}, 5);
  for (auto _ : state) {
    benchmark::DoNotOptimize(conv2d_backprop_filter(x, g, {kK, kK, kIn, kOut}).data());
  }
  set_flops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DBackpropFilter)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Conv2DBackpropInput(benchmark::State& state) {
  Tensor k = random_tensor({kK, kK, kIn, kOut}, 4);
  Tensor g = random_tensor({kBatch, kOutSize, kOutSize, kOut}, 5);
  for (auto _ : state) {
    benchmark::DoNotOptimize(conv2d_backprop_input(g, k, {kBatch, kSize, kSize, kIn}).data());
  }
  set_flops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DBackpropInput)->Unit(benchmark::kMillisecond)->UseRealTime();

// A training step's worth of convolution: forward, then the gradients of the kernel and the
// input through a tape.
void BM_Conv2DForwardBackward(benchmark::State& state) {
  Tensor x = random_tensor({kBatch, kSize, kSize, kIn}, 3), k = random_tensor({kK, kK, kIn, kOut}, 4);
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(k);
    Tensor y = conv2d(x, k);
    auto g = tape.gradient(y, {x, k}, Tensor::ones(y.shape()));
    benchmark::DoNotOptimize(g[1].data());
  }
  set_flops(state, 3 * kConvFlops);
}
BENCHMARK(BM_Conv2DForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// Element-wise and reduction kernels over 4M elements (16 MiB), the size of a conv
// activation: bandwidth-bound loops over raw buffers.
constexpr std::size_t kElems = 1 << 22;

void BM_AddSameShape(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1), b = random_tensor({kElems}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * 3 * sizeof(real)));
}
BENCHMARK(BM_AddSameShape)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_MulByScalar(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(mul(a, Tensor(real(0.5))).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * 2 * sizeof(real)));
}
BENCHMARK(BM_MulByScalar)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Relu(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(relu(a).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * 2 * sizeof(real)));
}
BENCHMARK(BM_Relu)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Exp(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(exp(a).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * 2 * sizeof(real)));
}
BENCHMARK(BM_Exp)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Sigmoid(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(sigmoid(a).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * 2 * sizeof(real)));
}
BENCHMARK(BM_Sigmoid)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SumAll(benchmark::State& state) {
  Tensor a = random_tensor({kElems}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(sum(a).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * sizeof(real)));
}
BENCHMARK(BM_SumAll)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The bias gradient of a conv layer: [N·H·W, C] summed over rows.
void BM_ReduceToBiasShape(benchmark::State& state) {
  Tensor a = random_tensor({kElems / 64, 64}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(reduce_to_shape(a, {64}).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElems * sizeof(real)));
}
BENCHMARK(BM_ReduceToBiasShape)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Tape overhead: 100 tiny element-wise ops on 1-element tensors, recorded and walked back.
// Divide by 100 for the cost per recorded op (forward + record + backward).
void BM_TapeOverhead100SmallOps(benchmark::State& state) {
  Tensor x = filled({1}, 0.5);
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(x);
    Tensor y = x;
    for (int i = 0; i < 50; ++i) y = mul(add(y, x), x);
    benchmark::DoNotOptimize(tape.gradient(sum(y), x)[0].data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 100);
}
BENCHMARK(BM_TapeOverhead100SmallOps)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same ops with no tape: the forward cost alone, the baseline for the overhead above.
void BM_NoTape100SmallOps(benchmark::State& state) {
  Tensor x = filled({1}, 0.5);
  for (auto _ : state) {
    Tensor y = x;
    for (int i = 0; i < 50; ++i) y = mul(add(y, x), x);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 100);
}
BENCHMARK(BM_NoTape100SmallOps)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace xgrad

int main(int argc, char** argv) {
  if (const char* t = std::getenv("XGRAD_THREADS")) xgrad::set_num_threads(std::atoi(t));
  xgrad::register_gemm_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("xgrad_threads", std::to_string(xgrad::num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
