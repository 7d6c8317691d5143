#pragma once
/// \file
/// Model files: a trained siamese model in one NumPy `.npz` — its weights (named by layer
/// path) plus its configuration as small arrays under "config/" (tower preset, input size,
/// channels, distance, decision threshold), so that one file is all siamese_compare and
/// siamese_embed need. Checkpoints are model files with "optimizer/" and "trainer/" entries.

#include <memory>
#include <string>

#include "autograd/named_tensors.h"
#include "autograd/npz.h"
#include "siamese/siamese_network.h"

namespace xgrad::siamese {

/// What a model file records besides the weights.
struct ModelInfo {
  std::string preset = "small";  ///< make_tower preset: "small" or "seed"
  std::size_t height = 28, width = 28, channels = 1;
  Distance distance = Distance::Euclidean;
  /// Pairs at a distance <= threshold are "same" (chosen on validation pairs).
  double threshold = 0;
};

/// Builds the network a ModelInfo describes (tower from the preset, built on a dummy batch).
std::shared_ptr<SiameseNetwork> build_network(const ModelInfo& info);

/// Writes the network's weights, `info` and `extra` entries (e.g. optimizer state) to
/// `path` atomically. Throws std::runtime_error naming the path on failure.
void save_model(const std::string& path, const SiameseNetwork& network, const ModelInfo& info,
                const NamedTensors& extra = {});

/// A model read back from a file, with every entry of the file.
struct LoadedModel {
  std::shared_ptr<SiameseNetwork> network;
  ModelInfo info;
  NamedTensors entries;  ///< all entries (weights, config/, optimizer/, trainer/)
};

/// Reads a model file: its configuration, then a network built from it with the file's
/// weights. Throws std::runtime_error naming the file when it is missing, unreadable, not a
/// model file (no or bad "config/" entries), or its weights do not match the configured
/// model (every missing, unexpected or mismatched name is listed).
LoadedModel load_model(const std::string& path);

/// The entry named `name`, or an undefined Tensor.
Tensor find_entry(const NamedTensors& entries, const std::string& name);

/// A one-value entry (shape [1]) of a model or checkpoint file: configuration numbers and the
/// trainer's run state.
Tensor scalar_entry(double value);

}  // namespace xgrad::siamese
