// siamese_compare: the distance between two images under a trained model, and the verdict
// at the model's saved threshold.
//
//   siamese_compare --weights runs/siamese/model.npz a.png b.jpg

#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "autograd/autograd.h"
#include "siamese/image.h"
#include "siamese/model_file.h"

namespace po = boost::program_options;
using namespace xgrad;
using namespace xgrad::siamese;

namespace {

// An image file as a [1, H, W, C] batch in the model's input format (values in [0, 1]).
Tensor load_input(const std::string& path, const ModelInfo& info) {
  const Image image = decode_image(path, info.channels);
  std::vector<float> pixels = resize_bilinear(image, info.height, info.width);
  std::vector<real> values(pixels.size());
  // The training data is kept as 8-bit after resizing: round the same way.
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    const float v = std::min(255.0f, std::max(0.0f, pixels[i]));
    values[i] = static_cast<real>(std::floor(v + 0.5f)) / real(255);
  }
  return Tensor::from_vector({1, info.height, info.width, info.channels}, std::move(values));
}

}  // namespace

int main(int argc, char** argv) try {
  std::string weights;
  std::vector<std::string> images;
  po::options_description options("siamese_compare: compare two images with a trained siamese model");
  options.add_options()
      ("weights", po::value(&weights), "model file written by siamese_train (OUT/model.npz)")
      ("images", po::value(&images), "the two images (positional)")
      ("help,h", "print this help and exit");
  po::positional_options_description positional;
  positional.add("images", 2);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: siamese_compare --weights MODEL.npz IMAGE_A IMAGE_B\n" << options << "\n";
    return 0;
  }
  po::notify(vm);
  if (weights.empty()) throw po::error("--weights MODEL.npz is required");
  if (images.size() != 2) throw po::error("expected two images; got " + std::to_string(images.size()));

  const LoadedModel model = load_model(weights);
  const Tensor a = load_input(images[0], model.info);
  const Tensor b = load_input(images[1], model.info);
  const double distance = model.network->pair_distance(a, b, false).item();
  const bool same = distance <= model.info.threshold;
  std::cout << std::setprecision(6) << "distance " << distance << "  threshold " << model.info.threshold << "  "
            << (same ? "same" : "different") << "\n";
  return 0;
} catch (const po::error& e) {
  std::cerr << "error: " << e.what() << " (see --help)\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
