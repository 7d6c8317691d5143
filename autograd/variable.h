#pragma once
/// \file
/// `Variable`: named, mutable, trainable state (weights), as in TensorFlow.

#include <functional>
#include <memory>
#include <string>

#include "autograd/tensor.h"

namespace xgrad {

namespace detail {
struct VariableState;
}

/// Mutable state with a name. Copies of a Variable are handles to the same state.
///
/// `value()` returns the current value as a Tensor. Reading a Variable while a
/// GradientTape is recording watches it on that tape (TensorFlow's
/// `watch_accessed_variables=True`), so `tape.gradient(loss, {v})` works without `watch`.
/// `assign` and friends replace the value with a new Tensor (a new id); Tensors read
/// before keep their old value, as in TensorFlow.
class Variable {
 public:
  /// An empty handle; every other member throws std::logic_error until assigned from a real
  /// Variable.
  Variable() = default;
  Variable(Tensor initial_value, std::string name, bool trainable = true);

  /// Reads the value, watching it on every recording tape.
  Tensor value() const;
  /// Same as value(): `matmul(x, kernel)` reads a Variable directly.
  operator Tensor() const { return value(); }  // NOLINT(google-explicit-constructor)
  /// The value without notifying any tape (for optimizers, savers and printing).
  Tensor peek() const;

  /// Replaces the value. The new value must have the variable's shape
  /// (std::invalid_argument otherwise, naming the variable and both shapes).
  void assign(const Tensor& value);
  void assign_add(const Tensor& delta);
  void assign_sub(const Tensor& delta);
  /// Applies `fn(data, size)` to the value's buffer in place, for optimizers' fused update
  /// kernels. Copy-on-write: when a Tensor read earlier still shares the buffer, the update
  /// goes to a fresh copy and that Tensor keeps its value. The value gets a new id.
  void update_in_place(const std::function<void(real* data, std::size_t size)>& fn);

  const std::string& name() const;
  bool trainable() const;
  const Shape& shape() const;
  std::size_t size() const;
  bool defined() const { return state_ != nullptr; }

  /// Identity of the shared state (equal for copies of one Variable).
  const void* handle() const { return state_.get(); }

 private:
  detail::VariableState& state() const;
  std::shared_ptr<detail::VariableState> state_;
};

}  // namespace xgrad
