// The README's five-minute tour of layers/: define a model, train it with a GradientTape
// loop, save it, load it into a fresh model, predict. Kept identical to the README.
//
//   build/float/examples/layers_tour

#include <iostream>

#include "autograd/autograd.h"
#include "layers/layers.h"
#include "layers/weights.h"

using namespace xgrad;
using namespace xgrad::layers;

// A model is a Sequential of layers, or a subclass of Layer with its own call().
std::shared_ptr<Sequential> make_model() {
  return std::make_shared<Sequential>(
      std::vector<std::shared_ptr<Layer>>{
          std::make_shared<Conv2D>(8, std::array{3, 3}, Conv2DLayerOptions{.padding = Padding::Same, .activation = "relu"}),
          std::make_shared<MaxPooling2D>(),
          std::make_shared<Flatten>(),
          std::make_shared<Dense>(16, "relu"),
          std::make_shared<Dense>(2)},
      "classifier");
}

int main() try {
  set_random_seed(42);  // same seed, same initial weights

  // Toy data: 8×8 gray images; class 1 is brighter in the top half.
  std::vector<real> pixels;
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 64; ++i) {
    labels.push_back(i % 2);
    for (int p = 0; p < 64; ++p) pixels.push_back(real((p < 32 && i % 2) ? 0.9 : 0.1) + real(0.01) * real((i * p) % 7));
  }
  Tensor images = Tensor::from_vector({64, 8, 8, 1}, pixels);

  // Define.
  auto model = make_model();
  optim::Adam optimizer({.learning_rate = 1e-2f});

  // Train: a custom GradientTape loop.
  for (int step = 0; step < 50; ++step) {
    GradientTape tape;
    Tensor logits = (*model)(images, /*training=*/true);
    Tensor loss = mean(sparse_softmax_cross_entropy(labels, logits));
    std::vector<Variable> vars = model->trainable_variables();
    optimizer.apply_gradients(tape.gradient(loss, vars), vars);
    if (step % 10 == 0) std::cout << "step " << step << " loss " << loss.item() << "\n";
  }
  std::cout << model->summary();

  // Save (weights and optimizer state), then load into a fresh model.
  save_weights("layers_tour.npz", *model, &optimizer);
  auto restored = make_model();
  (*restored)(images);  // build it: variables exist after the first call
  load_weights("layers_tour.npz", *restored);

  // Predict.
  Tensor probabilities = softmax((*restored)(images));
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    correct += (probabilities.flat(2 * i + 1) > probabilities.flat(2 * i)) == (labels[i] == 1);
  }
  std::cout << "restored model: " << correct << "/" << labels.size() << " correct\n";
  return correct == labels.size() ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
