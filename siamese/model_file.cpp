#include "siamese/model_file.h"

#include <cmath>
#include <stdexcept>

#include "layers/weights.h"

namespace xgrad::siamese {

namespace {

constexpr double kFormatVersion = 1;
const char* const kPresets[] = {"small", "seed"};

double read_scalar(const NamedTensors& entries, const std::string& name, const std::string& path) {
  Tensor t = find_entry(entries, name);
  if (!t.defined()) throw std::runtime_error(path + ": not a siamese model file (no '" + name + "' entry)");
  if (t.size() != 1) {
    throw std::runtime_error(path + ": '" + name + "' must hold one value; got shape " + shape_to_string(t.shape()));
  }
  const double v = static_cast<double>(t.flat(0));
  if (!std::isfinite(v)) throw std::runtime_error(path + ": '" + name + "' is not a finite number");
  return v;
}

std::size_t read_size(const NamedTensors& entries, const std::string& name, const std::string& path,
                      std::size_t lo, std::size_t hi) {
  const double v = read_scalar(entries, name, path);
  if (v != std::floor(v) || v < double(lo) || v > double(hi)) {
    throw std::runtime_error(path + ": '" + name + "' = " + std::to_string(v) + " is out of range [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<std::size_t>(v);
}

}  // namespace

Tensor scalar_entry(double value) { return Tensor::from_vector({1}, {static_cast<real>(value)}); }

Tensor find_entry(const NamedTensors& entries, const std::string& name) {
  for (const auto& [n, t] : entries) {
    if (n == name) return t;
  }
  return Tensor();
}

std::shared_ptr<SiameseNetwork> build_network(const ModelInfo& info) {
  auto network = std::make_shared<SiameseNetwork>(make_tower(info.preset, info.height, info.width), info.distance);
  (*network)(Tensor::zeros({1, info.height, info.width, info.channels}));
  return network;
}

void save_model(const std::string& path, const SiameseNetwork& network, const ModelInfo& info,
                const NamedTensors& extra) {
  NamedTensors entries = layers::weights_of(network);
  double preset = -1;
  for (std::size_t i = 0; i < std::size(kPresets); ++i) {
    if (info.preset == kPresets[i]) preset = double(i);
  }
  if (preset < 0) throw std::invalid_argument("save_model: unknown preset '" + info.preset + "'");
  entries.emplace_back("config/format_version", scalar_entry(kFormatVersion));
  entries.emplace_back("config/preset", scalar_entry(preset));
  entries.emplace_back("config/height", scalar_entry(double(info.height)));
  entries.emplace_back("config/width", scalar_entry(double(info.width)));
  entries.emplace_back("config/channels", scalar_entry(double(info.channels)));
  entries.emplace_back("config/distance", scalar_entry(info.distance == Distance::Cosine ? 1 : 0));
  entries.emplace_back("config/threshold", scalar_entry(info.threshold));
  entries.insert(entries.end(), extra.begin(), extra.end());
  save_npz(path, entries);
}

LoadedModel load_model(const std::string& path) {
  NpzDtypes dtypes;
  LoadedModel out;
  out.entries = load_npz(path, &dtypes);
  const auto& e = out.entries;
  if (read_scalar(e, "config/format_version", path) != kFormatVersion) {
    throw std::runtime_error(path + ": unsupported model file version");
  }
  out.info.preset = kPresets[read_size(e, "config/preset", path, 0, std::size(kPresets) - 1)];
  out.info.height = read_size(e, "config/height", path, 1, 1 << 16);
  out.info.width = read_size(e, "config/width", path, 1, 1 << 16);
  const std::size_t channels = read_size(e, "config/channels", path, 1, 3);
  if (channels == 2) throw std::runtime_error(path + ": 'config/channels' must be 1 or 3");
  out.info.channels = channels;
  out.info.distance = read_size(e, "config/distance", path, 0, 1) == 1 ? Distance::Cosine : Distance::Euclidean;
  out.info.threshold = read_scalar(e, "config/threshold", path);
  try {
    out.network = build_network(out.info);
  } catch (const std::invalid_argument& err) {
    throw std::runtime_error(path + ": its configuration does not describe a buildable model: " + err.what());
  }
  layers::set_weights(*out.network, e, dtypes, path, {"config/", "optimizer/", "trainer/"});
  return out;
}

}  // namespace xgrad::siamese
