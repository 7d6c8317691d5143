// siamese_train: trains a siamese embedding model on an image folder (one subfolder per
// class) or on IDX files (Fashion-MNIST from the Debian package by default), evaluates it
// and writes the model, a checkpoint, a CSV log and metrics.json. `--help` lists every flag.
//
// Label convention: a pair is labelled 1 when both images show the same class, 0 otherwise.

#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "siamese/trainer.h"

namespace po = boost::program_options;
using xgrad::siamese::TrainConfig;

namespace {

// "170x170", "170X120" or "64" (square).
void parse_image_size(const std::string& text, TrainConfig& c) {
  const auto x = text.find_first_of("xX");
  try {
    // Digits only: std::stoul would also take " 12", "+12" and "-12" (as 2^64 - 12).
    if (text.find_first_not_of("0123456789xX") != std::string::npos) throw std::invalid_argument("");
    std::size_t used = 0;
    const unsigned long h = std::stoul(text.substr(0, x), &used);
    if (used != text.substr(0, x).size()) throw std::invalid_argument("");
    unsigned long w = h;
    if (x != std::string::npos) {
      const std::string rest = text.substr(x + 1);
      w = std::stoul(rest, &used);
      if (used != rest.size()) throw std::invalid_argument("");
    }
    if (h == 0 || w == 0) throw std::invalid_argument("");
    c.height = h;
    c.width = w;
  } catch (const std::exception&) {
    throw std::invalid_argument("--image-size: expected HxW (e.g. 170x170) or N; got '" + text + "'");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  TrainConfig c;
  const TrainConfig defaults;
  std::string image_size = "auto";
  int epochs = defaults.epochs;
  po::options_description data("Data");
  data.add_options()
      ("data", po::value(&c.data_dir), "image folder: one subfolder per class (JPEG, PNG, PGM, PPM)")
      ("idx-images", po::value(&c.idx_images)->default_value(defaults.idx_images), "IDX images file (gzipped or not)")
      ("idx-labels", po::value(&c.idx_labels)->default_value(defaults.idx_labels), "IDX labels file")
      ("idx-test-images", po::value(&c.idx_test_images)->default_value(defaults.idx_test_images),
       "IDX test images (default: Fashion-MNIST t10k with the default data; none with other --idx-images)")
      ("idx-test-labels", po::value(&c.idx_test_labels)->default_value(defaults.idx_test_labels), "IDX test labels")
      ("image-size", po::value(&image_size)->default_value("auto"),
       "model input HxW; auto: 28x28 for IDX, 170x170 (seed) or 64x64 (small) for folders")
      ("channels", po::value(&c.channels)->default_value(0), "1 (gray) or 3 (RGB); 0: 1 for IDX, 3 for folders")
      ("strict", po::bool_switch(&c.strict), "stop at the first undecodable image instead of skipping it")
      ("split-by", po::value(&c.split_by)->default_value(defaults.split_by),
       "class: test classes are never seen in training; image: split every class's images")
      ("val-fraction", po::value(&c.val_fraction)->default_value(defaults.val_fraction),
       "fraction of training-class images for validation (threshold choice, best model)")
      ("test-fraction", po::value(&c.test_fraction)->default_value(defaults.test_fraction),
       "--split-by image without a separate test set: fraction of images for test")
      ("test-classes", po::value(&c.test_classes)->default_value(defaults.test_classes),
       "--split-by class: number of held-out classes (the last ones); 0: a quarter");
  po::options_description model("Model and training");
  model.add_options()
      ("model", po::value(&c.model)->default_value(defaults.model),
       "small: conv/pool blocks sized to the input; seed: the article's tower (Conv2D 64 -> Dense 128/64/32)")
      ("distance", po::value(&c.distance)->default_value(defaults.distance), "euclidean or cosine")
      ("loss", po::value(&c.loss)->default_value(defaults.loss),
       "contrastive (label 1 = same class), euclidean (same-class pairs only; collapses alone) or triplet")
      ("margin", po::value(&c.margin)->default_value(defaults.margin), "margin of the contrastive/triplet loss")
      ("positive-margin", po::value(&c.positive_margin)->default_value(defaults.positive_margin),
       "contrastive: same-class pairs closer than this are not pulled further (0: Hadsell et al.); must be < --margin")
      ("optimizer", po::value(&c.optimizer)->default_value(defaults.optimizer), "adam, adamw, sgd (momentum 0.9) or rmsprop")
      ("learning-rate", po::value(&c.learning_rate)->default_value(defaults.learning_rate), "(initial) learning rate")
      ("lr-schedule", po::value(&c.lr_schedule)->default_value(defaults.lr_schedule),
       "constant, or cosine (decay to 0 over the run)")
      ("epochs", po::value(&epochs)->default_value(defaults.epochs), "epochs of --pairs-per-epoch pairs")
      ("steps", po::value(&c.steps)->default_value(defaults.steps), "total training steps instead of --epochs (0: off)")
      ("batch-size", po::value(&c.batch_size)->default_value(defaults.batch_size), "pairs (or triplets) per step")
      ("pairs-per-epoch", po::value(&c.pairs_per_epoch)->default_value(defaults.pairs_per_epoch), "pairs drawn per epoch");
  po::options_description run("Evaluation and run");
  run.add_options()
      ("eval-pairs", po::value(&c.eval_pairs)->default_value(defaults.eval_pairs), "validation and test pairs")
      ("one-shot-ways", po::value(&c.one_shot_ways)->default_value(defaults.one_shot_ways), "N of the N-way one-shot test")
      ("one-shot-episodes", po::value(&c.one_shot_episodes)->default_value(defaults.one_shot_episodes), "one-shot episodes")
      ("seed", po::value(&c.seed)->default_value(defaults.seed), "seed of weights, splits and pairs")
      ("threads", po::value(&c.threads)->default_value(defaults.threads), "threads (0: all cores)")
      ("out", po::value(&c.out)->default_value(defaults.out), "output folder")
      ("resume", po::bool_switch(&c.resume), "continue from OUT/checkpoint.npz exactly where it stopped")
      ("eval-only", po::bool_switch(&c.eval_only), "evaluate --weights on the test split, no training")
      ("weights", po::value(&c.weights), "model file for --eval-only (OUT/model.npz of a run)")
      ("quiet", po::bool_switch(&c.quiet), "no progress output")
      ("help,h", "print this help and exit");
  po::options_description all("siamese_train: train and evaluate a siamese embedding model");
  all.add(data).add(model).add(run);

  po::variables_map vm;
  const po::parsed_options parsed = po::command_line_parser(argc, argv).options(all).run();
  // Boost reads "-1" into an unsigned option as 2^64 - 1: refuse negative counts outright.
  for (const po::option& o : parsed.options) {
    const bool count = o.string_key == "channels" || o.string_key == "test-classes" || o.string_key == "steps" ||
                       o.string_key == "batch-size" || o.string_key == "pairs-per-epoch" ||
                       o.string_key == "eval-pairs" || o.string_key == "one-shot-ways" ||
                       o.string_key == "one-shot-episodes" || o.string_key == "seed";
    if (count && !o.value.empty() && o.value.front().find('-') != std::string::npos) {
      throw std::invalid_argument("--" + o.string_key + ": must be >= 0; got '" + o.value.front() + "'");
    }
  }
  po::store(parsed, vm);
  if (vm.count("help")) {
    std::cout << all << "\n"
              << "With no arguments: trains the small model on Fashion-MNIST (Debian package\n"
              << "dataset-fashion-mnist) and writes runs/siamese/{model.npz, checkpoint.npz, log.csv, metrics.json}.\n";
    return 0;
  }
  po::notify(vm);
  c.epochs = epochs;
  if (image_size != "auto") parse_image_size(image_size, c);
  const bool custom_idx = !vm["idx-images"].defaulted() || !vm["idx-labels"].defaulted();
  if (vm.count("data")) {
    if (custom_idx || !vm["idx-test-images"].defaulted() || !vm["idx-test-labels"].defaulted()) {
      throw std::invalid_argument("--data and --idx-* select different data; give one of them");
    }
    c.idx_images.clear();
    c.idx_labels.clear();
    c.idx_test_images.clear();
    c.idx_test_labels.clear();
  } else if (custom_idx && vm["idx-test-images"].defaulted()) {
    // Other IDX data: do not evaluate on Fashion-MNIST's test file by accident.
    c.idx_test_images.clear();
    c.idx_test_labels.clear();
  }
  if (c.idx_test_images.empty() != c.idx_test_labels.empty()) {
    throw std::invalid_argument("--idx-test-images and --idx-test-labels go together");
  }
  if (!vm.count("weights") && c.eval_only) throw std::invalid_argument("--eval-only needs --weights FILE");
  if (vm.count("weights") && !c.eval_only) {
    throw std::invalid_argument("--weights is only read with --eval-only (training starts from new weights or --resume)");
  }
  xgrad::siamese::run(c);
  return 0;
} catch (const po::error& e) {
  std::cerr << "error: " << e.what() << " (see --help)\n";
  return 2;
} catch (const std::invalid_argument& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
