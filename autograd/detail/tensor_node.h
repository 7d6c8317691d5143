#pragma once
// The storage behind a Tensor handle.

#include <cstdint>
#include <memory>
#include <mutex>

#include "autograd/array.h"
#include "autograd/tensor.h"

namespace xgrad::detail {

/// A tensor's value. Either it owns `value`, or it is a *view*: the same elements as `base`
/// under another shape (what reshape returns, without copying a byte). A view's `value` is
/// empty until something asks for an Array of the view's shape (Tensor::array()), which is
/// then materialised once; the kernels read data() and never need it.
struct TensorNode {
  Array value;
  Shape shape;
  std::uint64_t id;
  std::shared_ptr<const TensorNode> base;  // set for a view (always an owning node)
  mutable std::once_flag materialize_once;

  bool is_view() const { return base != nullptr; }
  const real* data() const { return base ? base->value.data() : value.data(); }
};

/// A view of `base`'s elements (any node, view or not) under `shape` (same size), with a
/// new id.
std::shared_ptr<const TensorNode> make_view(const std::shared_ptr<const TensorNode>& base,
                                            Shape shape);

/// Access to a Tensor's storage, for the engine's own in-place updates.
struct TensorAccess {
  static std::shared_ptr<const TensorNode>& node(Tensor& t) { return t.node_; }
  static const std::shared_ptr<const TensorNode>& node(const Tensor& t) { return t.node_; }
  static Tensor from_node(std::shared_ptr<const TensorNode> node) {
    Tensor t;
    t.node_ = std::move(node);
    return t;
  }
};

/// A fresh id, unique in the process.
std::uint64_t next_tensor_id();

}  // namespace xgrad::detail
