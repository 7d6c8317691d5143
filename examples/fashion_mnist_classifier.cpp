// A model author's template: a small CNN classifier for Fashion-MNIST written as a
// subclassed model, trained with a custom GradientTape loop and Adam, evaluated, saved to
// an .npz and loaded back into a fresh model.
//
//   build/float/examples/fashion_mnist_classifier [--epochs 3] [--batch-size 64] ...
//   build/float/examples/fashion_mnist_classifier --help

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>

#include <boost/program_options.hpp>

#include "autograd/autograd.h"
#include "autograd/optim/adam.h"
#include "layers/layers.h"
#include "layers/weights.h"
#include "siamese/idx.h"

using namespace xgrad;
using namespace xgrad::layers;
namespace po = boost::program_options;

namespace {

// The model: two conv/pool blocks and a two-layer head, as a subclassed Layer.
class Classifier : public Layer {
 public:
  explicit Classifier(std::uint64_t dropout_seed) : Layer("classifier") {
    conv1_ = add_layer(std::make_shared<Conv2D>(32, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}));
    pool1_ = add_layer(std::make_shared<MaxPooling2D>());
    conv2_ = add_layer(std::make_shared<Conv2D>(64, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}));
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

// Images [N, 28, 28, 1] scaled to [0, 1], rows picked by `order[begin, end)`.
Tensor batch_images(const siamese::IdxImages& set, const std::vector<std::size_t>& order,
                    std::size_t begin, std::size_t end) {
  const std::size_t pixels = set.height * set.width;
  std::vector<real> values((end - begin) * pixels);
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint8_t* src = set.pixels.data() + order[i] * pixels;
    real* dst = values.data() + (i - begin) * pixels;
    for (std::size_t p = 0; p < pixels; ++p) dst[p] = static_cast<real>(src[p]) / real(255);
  }
  return Tensor::from_vector({end - begin, set.height, set.width, 1}, std::move(values));
}

std::vector<std::int64_t> batch_labels(const siamese::IdxImages& set, const std::vector<std::size_t>& order,
                                       std::size_t begin, std::size_t end) {
  std::vector<std::int64_t> labels;
  for (std::size_t i = begin; i < end; ++i) labels.push_back(set.labels[order[i]]);
  return labels;
}

std::size_t count_correct(const Tensor& logits, const std::vector<std::int64_t>& labels) {
  const std::size_t classes = logits.shape()[1];
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const real* row = logits.data() + i * classes;
    const auto best = std::max_element(row, row + classes) - row;
    correct += best == labels[i];
  }
  return correct;
}

double accuracy(Classifier& model, const siamese::IdxImages& set, std::size_t batch) {
  std::vector<std::size_t> order(set.count);
  std::iota(order.begin(), order.end(), 0);
  std::size_t correct = 0;
  for (std::size_t b = 0; b < set.count; b += batch) {
    const std::size_t e = std::min(set.count, b + batch);
    correct += count_correct(model(batch_images(set, order, b, e)), batch_labels(set, order, b, e));
  }
  return static_cast<double>(correct) / static_cast<double>(set.count);
}

std::string format_seconds(double s) {
  std::ostringstream os;
  const int total = static_cast<int>(s + 0.5);
  if (total >= 60) os << total / 60 << "m" << std::setw(2) << std::setfill('0') << total % 60 << "s";
  else os << total << "s";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data_dir, out;
  int epochs = 3, threads = 0;
  std::size_t batch_size = 64;
  real learning_rate = real(1e-3);
  std::uint64_t seed = 1;
  po::options_description options("fashion_mnist_classifier: a CNN on Fashion-MNIST with the xgrad API");
  options.add_options()
      ("help,h", "print this help and exit")
      ("data", po::value(&data_dir)->default_value("/usr/share/datasets/fashion-mnist"),
       "directory with the four Fashion-MNIST IDX files (gzipped or not)")
      ("epochs", po::value(&epochs)->default_value(3), "passes over the 60,000 training images")
      ("batch-size", po::value(&batch_size)->default_value(64), "images per training step")
      ("learning-rate", po::value(&learning_rate)->default_value(real(1e-3)), "Adam learning rate")
      ("seed", po::value(&seed)->default_value(1), "seed of weights, shuffling and dropout")
      ("threads", po::value(&threads)->default_value(0), "threads (0: all cores)")
      ("out", po::value(&out)->default_value("fashion_mnist_classifier.npz"), "where to save the weights");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, options), vm);
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  po::notify(vm);
  if (epochs < 1) throw std::invalid_argument("--epochs must be >= 1");
  if (batch_size < 1) throw std::invalid_argument("--batch-size must be >= 1");
  if (!(learning_rate > 0)) throw std::invalid_argument("--learning-rate must be > 0");
  if (threads < 0) throw std::invalid_argument("--threads must be >= 0");
  if (threads > 0) set_num_threads(threads);

  auto file = [&](const char* name) {
    std::string base = data_dir + "/" + name;
    return access(base.c_str(), R_OK) == 0 ? base : base + ".gz";
  };
  const siamese::IdxImages train = siamese::read_idx_images(file("train-images-idx3-ubyte"), file("train-labels-idx1-ubyte"));
  const siamese::IdxImages test = siamese::read_idx_images(file("t10k-images-idx3-ubyte"), file("t10k-labels-idx1-ubyte"));
  std::cout << "data: " << train.count << " training and " << test.count << " test images of "
            << train.height << "x" << train.width << "; " << num_threads() << " threads\n";

  set_random_seed(seed);
  Classifier model(seed);
  optim::Adam optimizer(optim::AdamOptions{.learning_rate = learning_rate});
  std::mt19937_64 shuffle_rng(seed);

  const bool tty = isatty(fileno(stdout));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::size_t> order(train.count);
  std::iota(order.begin(), order.end(), 0);
  const std::size_t steps = (train.count + batch_size - 1) / batch_size;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::size_t seen = 0, correct = 0;
    for (std::size_t step = 0; step < steps; ++step) {
      const std::size_t b = step * batch_size, e = std::min(train.count, b + batch_size);
      const Tensor x = batch_images(train, order, b, e);
      const std::vector<std::int64_t> y = batch_labels(train, order, b, e);

      GradientTape tape;
      const Tensor logits = model(x, /*training=*/true);
      const Tensor loss = mean(sparse_softmax_cross_entropy(y, logits));
      const std::vector<Variable> vars = model.trainable_variables();
      optimizer.apply_gradients(tape.gradient(loss, vars), vars);

      loss_sum += static_cast<double>(loss.item()) * static_cast<double>(e - b);
      correct += count_correct(logits, y);
      seen += e - b;
      const bool last = step + 1 == steps;
      if (tty || last || step % 100 == 0) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        const double rate = static_cast<double>(seen) / std::max(elapsed, 1e-9);
        std::ostringstream line;
        line << "epoch " << epoch << "/" << epochs << "  " << std::setw(3) << (step + 1) * 100 / steps << "%  loss "
             << std::fixed << std::setprecision(4) << loss_sum / static_cast<double>(seen) << "  accuracy "
             << std::setprecision(4) << static_cast<double>(correct) / static_cast<double>(seen) << "  "
             << std::setprecision(0) << rate << " images/s  "
             << (last ? "took " + format_seconds(elapsed)
                      : "ETA " + format_seconds(static_cast<double>(train.count - seen) / rate));
        if (tty) std::cout << "\r" << line.str() << "\033[K" << (last ? "\n" : "") << std::flush;
        else std::cout << line.str() << "\n";
      }
    }
  }
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double test_accuracy = accuracy(model, test, 500);
  std::cout << "test accuracy: " << std::fixed << std::setprecision(2) << 100 * test_accuracy << "%  (training took "
            << format_seconds(train_seconds) << ")\n";

  save_weights(out, model, &optimizer);
  Classifier restored(seed + 1);
  restored(batch_images(test, std::vector<std::size_t>{0}, 0, 1));  // build before loading
  load_weights(out, restored);
  const double restored_accuracy = accuracy(restored, test, 500);
  std::cout << "saved the weights to " << out << "; a fresh model loaded from it scores "
            << 100 * restored_accuracy << "%\n";
  std::cout << model.layers().size() << " layers, " << model.count_params() << " parameters\n";
  return restored_accuracy == test_accuracy ? 0 : 1;
} catch (const po::error& e) {
  std::cerr << "error: " << e.what() << " (see --help)\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
