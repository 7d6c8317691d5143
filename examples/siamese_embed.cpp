// siamese_embed: embeddings of every image of a folder (recursively one level of class
// subfolders, or flat) under a trained model, written as a float32 .npy [N, D] plus a CSV of
// the file paths (row i of the CSV is row i of the array).
//
//   siamese_embed --weights runs/siamese/model.npz --images DIR --out embeddings.npy

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "autograd/autograd.h"
#include "siamese/image.h"
#include "siamese/model_file.h"
#include "siamese/report.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace xgrad;
using namespace xgrad::siamese;

namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".pgm" || ext == ".ppm";
}

bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }

// Image files directly in `root` and in its non-hidden subfolders, sorted.
std::vector<std::string> list_images(const std::string& root) {
  if (!fs::is_directory(root)) throw std::runtime_error(root + ": no such folder");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (hidden(entry.path())) continue;
    if (entry.is_directory()) {
      for (const auto& inner : fs::directory_iterator(entry.path())) {
        if (!hidden(inner.path()) && inner.is_regular_file() && is_image_name(inner.path())) files.push_back(inner.path().string());
      }
    } else if (entry.is_regular_file() && is_image_name(entry.path())) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) try {
  std::string weights, images_dir, out;
  std::size_t batch = 256;
  po::options_description options("siamese_embed: embed every image of a folder with a trained siamese model");
  options.add_options()
      ("weights", po::value(&weights), "model file written by siamese_train (OUT/model.npz)")
      ("images", po::value(&images_dir), "folder of images (files directly in it and in its subfolders)")
      ("out", po::value(&out)->default_value("embeddings.npy"), "the .npy to write; the CSV of paths goes beside it (.csv)")
      ("batch-size", po::value(&batch)->default_value(256), "images per forward pass")
      ("help,h", "print this help and exit");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, options), vm);
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  po::notify(vm);
  if (weights.empty()) throw po::error("--weights MODEL.npz is required");
  if (images_dir.empty()) throw po::error("--images DIR is required");
  if (batch == 0) throw po::error("--batch-size must be >= 1");
  // The CSV goes beside the .npy with the extension .csv: it must not be the .npy itself.
  if (fs::path(out).extension() == ".csv") throw po::error("--out must not end in .csv (the paths go to OUT with .csv)");

  const LoadedModel model = load_model(weights);
  const ModelInfo& info = model.info;
  const std::vector<std::string> files = list_images(images_dir);
  if (files.empty()) throw std::runtime_error(images_dir + ": no image files (.jpg .jpeg .png .pgm .ppm)");

  std::vector<std::string> kept;
  std::vector<real> rows;
  std::size_t dim = 0, skipped = 0;
  const std::size_t pixels = info.height * info.width * info.channels;
  std::vector<real> pending;
  auto flush = [&]() {
    if (pending.empty()) return;
    const std::size_t n = pending.size() / pixels;
    const Tensor e = (*model.network)(Tensor::from_vector({n, info.height, info.width, info.channels}, pending), false);
    dim = e.shape()[1];
    rows.insert(rows.end(), e.data(), e.data() + e.size());
    pending.clear();
  };
  for (const std::string& f : files) {
    try {
      const std::vector<float> px = resize_bilinear(decode_image(f, info.channels), info.height, info.width);
      for (float v : px) pending.push_back(static_cast<real>(std::floor(std::min(255.0f, std::max(0.0f, v)) + 0.5f)) / real(255));
      kept.push_back(f);
    } catch (const std::runtime_error& e) {
      std::cerr << "skipped " << e.what() << "\n";
      ++skipped;
      continue;
    }
    if (pending.size() / pixels == batch) flush();
  }
  flush();
  if (kept.empty()) throw std::runtime_error(images_dir + ": none of the " + std::to_string(files.size()) + " image files could be decoded");

  std::ostringstream csv;
  csv << "index,path\n";
  for (std::size_t i = 0; i < kept.size(); ++i) csv << i << "," << csv_field(kept[i]) << "\n";
  const std::string csv_path = fs::path(out).replace_extension(".csv").string();
  save_npy(out, Tensor::from_vector({kept.size(), dim}, std::move(rows)));
  write_text_atomic(csv_path, csv.str());
  std::cout << "wrote " << kept.size() << " embeddings of size " << dim << " to " << out << " and their paths to "
            << csv_path << (skipped ? " (" + std::to_string(skipped) + " files skipped)" : "") << "\n";
  return 0;
} catch (const po::error& e) {
  std::cerr << "error: " << e.what() << " (see --help)\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
