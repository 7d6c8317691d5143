// Times one full siamese training step — both images of every pair through the shared tower
// (one call on the concatenated batch), euclidean distance, contrastive loss (margin 1), the
// backward walk, and an Adam update — or, with --inference, one embedding pass. Prints one
// JSON object on stdout; bench/compare_pytorch.py runs the same model in PyTorch and prints
// the ratio.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE
//       build/bench/siamese_step --model small --threads 2   (one line)
//
// Presets: --model small (28×28×1, batch 128 pairs; inference batch 256) and --model seed
// (the article's tower on 170×170×3, batch 32 pairs). Inputs are uniform in [0, 1), labels
// alternate same/different, weights come from --seed (Keras initializers). --save-weights
// writes the initial weights as .npz (names tower/<layer>/kernel|bias) so that another
// framework can start from exactly the same model. XGRAD_PROFILE=1 prints the per-op
// profile of the timed steps to stderr at exit.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "autograd/autograd.h"
#include "layers/layers.h"
#include "layers/weights.h"
#include "siamese/losses.h"
#include "siamese/siamese_network.h"

namespace po = boost::program_options;

namespace {

using xgrad::real;
using xgrad::Shape;
using xgrad::Tensor;

struct Options {
  std::string model = "small";
  int threads = 0;
  std::size_t batch = 0;
  bool inference = false;
  int warmup = 0;
  int steps = 0;
  unsigned seed = 1;
  std::string save_weights;
};

Tensor uniform(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<real> dist(0, 1);
  std::vector<real> v(xgrad::shape_size(shape));
  for (real& x : v) x = dist(rng);
  return Tensor::from_vector(shape, std::move(v));
}

// This process's peak resident set: VmHWM from /proc/self/status. (getrusage's ru_maxrss is
// carried across fork and exec by Linux, so a benchmark started by a large parent process —
// compare_pytorch.py holding the seed model's weights — would report the parent's peak.)
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // in kB
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Forward FLOPs of one tower pass over one image (multiply-adds count 2): conv and dense
// layers only, from the built layers' kernel shapes.
double tower_flops_per_image(xgrad::layers::Layer& tower, const Shape& image_shape) {
  double flops = 0;
  Tensor x = Tensor::zeros([&] {
    Shape s{1};
    s.insert(s.end(), image_shape.begin(), image_shape.end());
    return s;
  }());
  for (const auto& layer : tower.layers()) {
    const Tensor y = (*layer)(x, false);
    if (layer->class_name() == "Conv2D" || layer->class_name() == "Dense") {
      const Shape& k = layer->trainable_variables().front().shape();
      const double kernel_in = static_cast<double>(xgrad::shape_size(k) / k.back());
      flops += 2.0 * kernel_in * static_cast<double>(y.size());
    }
    x = y;
  }
  return flops;
}

int run(const Options& o) {
  using namespace xgrad;
  if (o.model != "small" && o.model != "seed") {
    throw std::invalid_argument("--model must be small or seed; got '" + o.model + "'");
  }
  if (o.threads < 0) throw std::invalid_argument("--threads must be >= 1");
  if (o.threads > 0) set_num_threads(o.threads);
  const bool seed_model = o.model == "seed";
  const std::size_t side = seed_model ? 170 : 28, channels = seed_model ? 3 : 1;
  const std::size_t batch = o.batch ? o.batch : (o.inference ? 256 : (seed_model ? 32 : 128));
  const int warmup = o.warmup ? o.warmup : 2;
  const int steps = o.steps ? o.steps : (seed_model ? 5 : 30);

  layers::set_random_seed(o.seed);
  auto tower = siamese::make_tower(o.model, side, side);
  siamese::SiameseNetwork net(tower, siamese::Distance::Euclidean);
  const Shape image{side, side, channels};

  std::mt19937 rng(o.seed);
  std::vector<double> ms;
  double flops = 0;
  if (o.inference) {
    const Tensor x = uniform({batch, side, side, channels}, rng);
    (*tower)(x, false);  // build
    flops = tower_flops_per_image(*tower, image) * static_cast<double>(batch);
    if (!o.save_weights.empty()) layers::save_weights(o.save_weights, *tower);
    for (int i = 0; i < warmup + steps; ++i) {
      if (i == warmup) {
        reset_profile();  // XGRAD_PROFILE=1: only the timed steps
        reset_peak_memory_stats();
      }
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor e = net(x, false);
      const auto t1 = std::chrono::steady_clock::now();
      if (e.shape()[0] != batch) throw std::logic_error("siamese_step: wrong embedding batch");
      if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  } else {
    const Tensor first = uniform({batch, side, side, channels}, rng);
    const Tensor second = uniform({batch, side, side, channels}, rng);
    std::vector<real> same(batch);
    for (std::size_t i = 0; i < batch; ++i) same[i] = real(i % 2 == 0);
    const Tensor y = Tensor::from_vector({batch}, same);
    (*tower)(Tensor::zeros({1, side, side, channels}), false);  // build
    // forward (2 images per pair) + backward (two GEMMs per layer, except the first layer's
    // input gradient, which nobody needs but which is small next to the rest)
    flops = 3.0 * tower_flops_per_image(*tower, image) * 2.0 * static_cast<double>(batch);
    if (!o.save_weights.empty()) layers::save_weights(o.save_weights, *tower);
    std::vector<Variable> vars = net.trainable_variables();
    optim::Adam adam({.learning_rate = real(1e-3)});
    for (int i = 0; i < warmup + steps; ++i) {
      if (i == warmup) {
        reset_profile();  // XGRAD_PROFILE=1: only the timed steps
        reset_peak_memory_stats();
      }
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<Tensor> grads;
      Tensor loss;
      {
        GradientTape tape;
        const Tensor d = net.pair_distance(first, second, true);
        loss = siamese::contrastive_loss(d, y, real(1));
        grads = tape.gradient(loss, vars);
      }
      adam.apply_gradients(grads, vars);
      const auto t1 = std::chrono::steady_clock::now();
      if (!std::isfinite(static_cast<double>(loss.item()))) {
        throw std::runtime_error("siamese_step: the loss is not finite at step " + std::to_string(i));
      }
      if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  const double med = median(ms);
  const double per_second = static_cast<double>(batch) * 1000.0 / med;
  std::printf(
      "{\"model\": \"%s\", \"mode\": \"%s\", \"threads\": %d, \"batch\": %zu, \"steps\": %d, "
      "\"median_step_ms\": %.3f, \"min_step_ms\": %.3f, \"max_step_ms\": %.3f, "
      "\"%s\": %.2f, \"gflop_per_step\": %.3f, \"gflops\": %.1f, \"parameters\": %zu, "
      "\"peak_rss_mib\": %.1f, \"tensor_peak_mib\": %.1f, \"cache_misses_per_step\": %.1f}\n",
      o.model.c_str(), o.inference ? "inference" : "train", num_threads(), batch, steps, med,
      *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
      o.inference ? "embeddings_per_second" : "pairs_per_second", per_second, flops * 1e-9,
      flops * 1e-6 / med, tower->count_params(), peak_rss_mib(),
      static_cast<double>(memory_stats().peak_in_use_bytes) / (1 << 20),
      static_cast<double>(memory_stats().cache_misses) / steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description desc("siamese_step: time one siamese training (or inference) step");
  desc.add_options()("help,h", "this help")(
      "model", po::value(&o.model)->default_value(o.model), "small (28x28x1) or seed (170x170x3)")(
      "threads", po::value(&o.threads)->default_value(0), "threads (0: all cores)")(
      "batch", po::value(&o.batch)->default_value(0),
      "pairs per step (0: 128 small, 32 seed; inference: 256 images)")(
      "inference", po::bool_switch(&o.inference), "time the tower's forward pass alone")(
      "warmup", po::value(&o.warmup)->default_value(0), "untimed steps first (0: 2)")(
      "steps", po::value(&o.steps)->default_value(0), "timed steps (0: 30 small, 5 seed)")(
      "seed", po::value(&o.seed)->default_value(o.seed), "seed of weights and inputs")(
      "save-weights", po::value(&o.save_weights), "write the initial tower weights to this .npz");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
    return run(o);
  } catch (const po::error& e) {
    std::cerr << "error: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
