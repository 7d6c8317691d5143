// A tour of the engine: a two-layer classifier written directly on Tensors, Variables and
// GradientTape, trained with a hand-written SGD loop on a synthetic two-spiral data set,
// then a Hessian-vector product by nesting tapes.
//
//   build/float/examples/autograd_tour [--threads N]

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <random>
#include <string>

#include "autograd/autograd.h"

using namespace xgrad;

namespace {

// Two interleaved spirals, `n` points each, labels 0 and 1.
void make_spirals(std::size_t n, Tensor& x, std::vector<std::int64_t>& labels) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.08f);
  std::vector<real> pts;
  for (std::size_t c = 0; c < 2; ++c) {
    for (std::size_t i = 0; i < n; ++i) {
      const float t = 0.25f + 3.0f * static_cast<float>(i) / static_cast<float>(n);
      const float angle = t * 2.0f + static_cast<float>(c) * 3.14159265f;
      pts.push_back(t * std::cos(angle) / 3.0f + noise(rng));
      pts.push_back(t * std::sin(angle) / 3.0f + noise(rng));
      labels.push_back(static_cast<std::int64_t>(c));
    }
  }
  x = Tensor::from_vector({2 * n, 2}, pts);
}

Tensor glorot(std::size_t in, std::size_t out, std::mt19937& rng) {
  const float limit = std::sqrt(6.0f / static_cast<float>(in + out));
  std::uniform_real_distribution<float> u(-limit, limit);
  std::vector<real> v(in * out);
  for (real& w : v) w = u(rng);
  return Tensor::from_vector({in, out}, v);
}

struct Model {
  Variable w1, b1, w2, b2;
  Tensor operator()(const Tensor& x) const {
    Tensor h = tanh(matmul(x, w1) + b1);
    return matmul(h, w2) + b2;  // logits [N, 2]
  }
  std::vector<Variable> variables() const { return {w1, b1, w2, b2}; }
};

}  // namespace

int main(int argc, char** argv) try {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      set_num_threads(std::stoi(argv[++i]));
    } else {
      std::cerr << "error: unknown argument '" << argv[i] << "' (usage: autograd_tour [--threads N])\n";
      return 2;
    }
  }
  Tensor x;
  std::vector<std::int64_t> labels;
  make_spirals(200, x, labels);

  std::mt19937 rng(7);
  Model model{Variable(glorot(2, 64, rng), "dense/kernel"), Variable(Tensor::zeros({64}), "dense/bias"),
              Variable(glorot(64, 2, rng), "dense_1/kernel"), Variable(Tensor::zeros({2}), "dense_1/bias")};

  const real learning_rate = 1.0f;
  for (int step = 0; step <= 3000; ++step) {
    GradientTape tape;  // variables read under the tape are watched automatically
    Tensor loss = mean(sparse_softmax_cross_entropy(labels, model(x)));
    std::vector<Tensor> grads = tape.gradient(loss, model.variables());
    for (std::size_t i = 0; i < grads.size(); ++i) {
      model.variables()[i].assign_sub(grads[i] * learning_rate);
    }
    if (step % 500 == 0) {
      std::cout << "step " << std::setw(4) << step << "  loss " << std::fixed << std::setprecision(4)
                << loss.item() << "\n";
    }
  }

  Tensor logits = model(x);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const int predicted = logits.flat(2 * i + 1) > logits.flat(2 * i) ? 1 : 0;
    correct += predicted == labels[i];
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(labels.size());
  std::cout << "training accuracy: " << std::setprecision(3) << 100 * accuracy << "%\n";

  // Curvature along a direction v: H·v = d/dw (∇loss · v), by nesting two tapes.
  std::normal_distribution<float> normal;
  std::vector<real> direction(model.w2.size());
  for (real& d : direction) d = normal(rng);
  Tensor v = Tensor::from_vector(model.w2.shape(), direction);
  GradientTape outer;
  Tensor directional;
  {
    GradientTape inner;
    Tensor loss = mean(sparse_softmax_cross_entropy(labels, model(x)));
    directional = sum(inner.gradient(loss, model.w2)[0] * v);
  }
  Tensor hv = outer.gradient(directional, model.w2)[0];
  std::cout << "Hessian-vector product w.r.t. dense_1/kernel, shape " << shape_to_string(hv.shape())
            << ", vᵀHv = " << sum(hv * v).item() << "\n";
  return accuracy > 0.9 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
