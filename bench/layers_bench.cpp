// Layer-level benchmarks: a large Dense layer's forward + backward (alone and with an Adam
// update), and one full training step of the Fashion-MNIST classifier of
// examples/fashion_mnist_classifier.cpp.
//
// Run with the environment's OpenBLAS overrides unset (they select a slower kernel here):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE XGRAD_THREADS=2 build/bench/layers_bench
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
// `--threads` is not a Google Benchmark flag: the thread count comes from XGRAD_THREADS
// (default: all cores).

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "layers/layers.h"

namespace xgrad {
namespace {

using layers::Conv2D;
using layers::Conv2DLayerOptions;
using layers::Dense;
using layers::Dropout;
using layers::Flatten;
using layers::Layer;
using layers::MaxPooling2D;

// Uniform values in [lo, hi) from a fixed seed.
Tensor random_tensor(const Shape& shape, unsigned seed, real lo = real(-0.5), real hi = real(0.5)) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<real> dist(lo, hi);
  std::vector<real> v(shape_size(shape));
  for (real& x : v) x = dist(rng);
  return Tensor::from_vector(shape, std::move(v));
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// Dense 1024 → 1024 (bias, linear) at batch 256: the forward GEMM x·kernel and the two
// backward GEMMs g·kernelᵀ (input) and xᵀ·g (kernel), each 2·256·1024·1024 flops; the bias
// add and its column-sum gradient are O(256·1024).
constexpr std::size_t kBatch = 256, kUnits = 1024;
constexpr double kDenseFlops = 3 * 2.0 * kBatch * kUnits * kUnits;

struct DenseFixture {
  DenseFixture() : dense(kUnits) {
    layers::set_random_seed(1);
    dense(x);  // build
  }
  Tensor x = random_tensor({kBatch, kUnits}, 1);
  Tensor grad_out = random_tensor({kBatch, kUnits}, 2);  // dL/dy, seeds the backward pass
  Dense dense;
};

// Forward, then the gradients with respect to the kernel, the bias and the input.
std::vector<Tensor> dense_forward_backward(DenseFixture& f) {
  GradientTape tape;
  tape.watch(f.x);
  const Tensor y = f.dense(f.x);
  return tape.gradient(y, {f.x, f.dense.kernel(), f.dense.bias()}, f.grad_out);
}

void BM_DenseForwardBackward(benchmark::State& state) {
  DenseFixture f;
  for (auto _ : state) {
    const std::vector<Tensor> g = dense_forward_backward(f);
    benchmark::DoNotOptimize(g[1].data());
  }
  set_flops(state, kDenseFlops);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_DenseForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same plus an Adam update of kernel and bias (the tape is gone by then, so the update is
// in place, without a copy-on-write of the 4 MiB kernel).
void BM_DenseAdamStep(benchmark::State& state) {
  DenseFixture f;
  optim::Adam adam;
  const std::vector<Variable> vars{f.dense.kernel(), f.dense.bias()};
  for (auto _ : state) {
    const std::vector<Tensor> g = dense_forward_backward(f);
    adam.apply_gradients({g[1], g[2]}, vars);
    benchmark::DoNotOptimize(f.dense.kernel().peek().data());
  }
  set_flops(state, kDenseFlops);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_DenseAdamStep)->Unit(benchmark::kMillisecond)->UseRealTime();

// The model of examples/fashion_mnist_classifier.cpp, layer for layer: Conv2D 32 3×3 relu →
// MaxPooling2D → Conv2D 64 3×3 relu → MaxPooling2D → Flatten → Dense 128 relu → Dropout 0.3 →
// Dense 10.
class Classifier : public Layer {
 public:
  explicit Classifier(std::uint64_t dropout_seed) : Layer("classifier") {
    conv1_ = add_layer(
        std::make_shared<Conv2D>(32, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}));
    pool1_ = add_layer(std::make_shared<MaxPooling2D>());
    conv2_ = add_layer(
        std::make_shared<Conv2D>(64, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}));
    pool2_ = add_layer(std::make_shared<MaxPooling2D>());
    flatten_ = add_layer(std::make_shared<Flatten>());
    hidden_ = add_layer(std::make_shared<Dense>(128, "relu"));
    dropout_ = add_layer(std::make_shared<Dropout>(real(0.3), dropout_seed));
    logits_ = add_layer(std::make_shared<Dense>(10));
  }
  std::string class_name() const override { return "Classifier"; }

 protected:
  Tensor call(const Tensor& x, bool training) override {
    Tensor h = (*pool1_)((*conv1_)(x));
    h = (*pool2_)((*conv2_)(h));
    h = (*hidden_)((*flatten_)(h));
    return (*logits_)((*dropout_)(h, training));
  }

 private:
  std::shared_ptr<Conv2D> conv1_, conv2_;
  std::shared_ptr<MaxPooling2D> pool1_, pool2_;
  std::shared_ptr<Flatten> flatten_;
  std::shared_ptr<Dense> hidden_, logits_;
  std::shared_ptr<Dropout> dropout_;
};

// One training step on a random batch of 64 images 28×28×1 in [0, 1): forward in training
// mode, mean sparse softmax cross-entropy, tape gradient of every trainable variable, Adam
// update (after releasing the tape, as optim::Optimizer::apply_gradients advises).
void BM_FashionMnistClassifierStep(benchmark::State& state) {
  constexpr std::size_t kImages = 64;
  layers::set_random_seed(1);
  Classifier model(1);
  optim::Adam adam;
  const Tensor x = random_tensor({kImages, 28, 28, 1}, 3, real(0), real(1));
  std::vector<std::int64_t> labels(kImages);
  std::mt19937 rng(4);
  for (auto& y : labels) y = static_cast<std::int64_t>(rng() % 10);
  model(x);  // build
  const std::vector<Variable> vars = model.trainable_variables();
  for (auto _ : state) {
    std::vector<Tensor> grads;
    {
      GradientTape tape;
      const Tensor loss = mean(sparse_softmax_cross_entropy(labels, model(x, /*training=*/true)));
      grads = tape.gradient(loss, vars);
    }
    adam.apply_gradients(grads, vars);
    benchmark::DoNotOptimize(vars[0].peek().data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kImages));
}
BENCHMARK(BM_FashionMnistClassifierStep)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace xgrad

int main(int argc, char** argv) {
  if (const char* t = std::getenv("XGRAD_THREADS")) xgrad::set_num_threads(std::atoi(t));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("xgrad_threads", std::to_string(xgrad::num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
