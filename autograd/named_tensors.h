#pragma once
/// \file
/// `NamedTensors`: an ordered list of named arrays, the in-memory form of an `.npz` file,
/// of model weights and of optimizer state.

#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// Named tensors in a meaningful order (names such as `tower/conv2d/kernel`).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace xgrad
