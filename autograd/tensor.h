#pragma once
/// \file
/// `Tensor`: an immutable n-dimensional value with an identity, the unit the tape records.

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <vector>

#include "autograd/array.h"

namespace xgrad {

namespace detail {
struct TensorNode;
struct TensorAccess;
}

/// An immutable value: a shared handle to a row-major array plus a unique id.
///
/// Copying a Tensor copies the handle, never the data, so copies alias the same storage
/// and have the same id. Ops never modify their inputs; they return new Tensors. The id
/// is what a GradientTape uses to connect records, so two Tensors with equal values but
/// different ids are different nodes of the graph.
///
/// A default-constructed Tensor is *undefined* (`defined() == false`): it stands for "no
/// gradient" where TensorFlow returns None.
class Tensor {
 public:
  /// An undefined tensor (no value).
  Tensor() = default;
  /// A rank-0 tensor holding `value`.
  Tensor(real value);  // NOLINT(google-explicit-constructor): `x * 2.0f` should just work.
  /// Takes ownership of `value`.
  explicit Tensor(Array value);
  /// A rank-1 tensor: `Tensor{1, 2, 3}`.
  Tensor(std::initializer_list<real> values);
  /// A rank-2 tensor from rows: `Tensor{{1, 2}, {3, 4}}`. Rows must have equal lengths.
  Tensor(std::initializer_list<std::initializer_list<real>> rows);

  /// A tensor of the given shape filled with `value`.
  static Tensor full(const Shape& shape, real value);
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  /// A tensor of the given shape from row-major `values` (sizes must agree).
  static Tensor from_vector(const Shape& shape, std::vector<real> values);

  /// True unless default-constructed.
  bool defined() const { return node_ != nullptr; }
  /// The value; throws std::logic_error when undefined.
  const Array& array() const;
  const Shape& shape() const;
  std::size_t rank() const { return shape().size(); }
  std::size_t size() const;
  /// Pointer to the first of `size()` contiguous row-major elements.
  const real* data() const;
  /// The single element of a tensor of size 1 (any rank); throws otherwise.
  real item() const;
  /// Element at a row-major flat index (bounds-checked).
  real flat(std::size_t index) const;
  /// The values as a flat row-major vector.
  std::vector<real> to_vector() const;
  /// The unique id of this value (0 when undefined).
  std::uint64_t id() const;

 private:
  std::shared_ptr<const detail::TensorNode> node_;
  friend struct detail::TensorAccess;
};

/// Prints `Tensor(shape=[2, 3], [[...]])`.
std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

}  // namespace xgrad
