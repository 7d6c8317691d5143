#pragma once
// The storage behind a Tensor handle.

#include <cstdint>

#include <memory>

#include "autograd/array.h"
#include "autograd/tensor.h"

namespace xgrad::detail {

struct TensorNode {
  Array value;
  Shape shape;
  std::uint64_t id;
};

/// Access to a Tensor's storage, for the engine's own in-place updates.
struct TensorAccess {
  static std::shared_ptr<const TensorNode>& node(Tensor& t) { return t.node_; }
  static const std::shared_ptr<const TensorNode>& node(const Tensor& t) { return t.node_; }
};

/// A fresh id, unique in the process.
std::uint64_t next_tensor_id();

}  // namespace xgrad::detail
