#include "autograd/variable.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/detail/tensor_node.h"

namespace xgrad {

namespace detail {
struct VariableState {
  Tensor value;
  std::string name;
  bool trainable;
};
}  // namespace detail

Variable::Variable(Tensor initial_value, std::string name, bool trainable) {
  if (!initial_value.defined()) {
    throw std::invalid_argument("Variable '" + name + "': initial value is undefined");
  }
  state_ = std::make_shared<detail::VariableState>(
      detail::VariableState{std::move(initial_value), std::move(name), trainable});
}

detail::VariableState& Variable::state() const {
  if (!state_) throw std::logic_error("Variable: use of an empty Variable handle");
  return *state_;
}

Tensor Variable::value() const {
  Tensor v = state().value;
  detail::notify_variable_read(state_.get(), v);
  return v;
}

Tensor Variable::peek() const { return state().value; }

namespace {
// Writes `f(old, delta)` into the variable. When nobody but the variable holds the current
// value, the buffer is updated in place under a new id (no allocation: weights are big);
// otherwise Tensors read earlier keep their value and a new buffer is made.
template <class F>
void update(detail::VariableState& s, const char* what, const Tensor& delta, F f) {
  check_arg(delta.defined(), what, "variable '" + s.name + "': value is undefined");
  if (delta.shape() != s.value.shape()) {
    throw std::invalid_argument(std::string(what) + ": variable '" + s.name + "' has shape " +
                                shape_to_string(s.value.shape()) + "; got a value of shape " +
                                shape_to_string(delta.shape()));
  }
  auto& node = detail::TensorAccess::node(s.value);
  const real* d = delta.data();
  const std::size_t n = delta.size();
  // In place only when nobody else sees the storage (and it is not a reshape view).
  if (node.use_count() == 1 && !node->is_view() &&
      node.get() != detail::TensorAccess::node(delta).get()) {
    auto* mutable_node = const_cast<detail::TensorNode*>(node.get());
    real* p = mutable_node->value.data();
    for (std::size_t i = 0; i < n; ++i) p[i] = f(p[i], d[i]);
    mutable_node->id = detail::next_tensor_id();
  } else {
    Array out = empty_array(delta.shape());
    const real* p = s.value.data();
    real* o = out.data();
    for (std::size_t i = 0; i < n; ++i) o[i] = f(p[i], d[i]);
    s.value = Tensor(std::move(out));
  }
}
}  // namespace

void Variable::assign(const Tensor& value) {
  update(state(), "Variable::assign", value, [](real, real d) { return d; });
}
void Variable::assign_add(const Tensor& delta) {
  update(state(), "Variable::assign_add", delta, [](real p, real d) { return p + d; });
}
void Variable::assign_sub(const Tensor& delta) {
  update(state(), "Variable::assign_sub", delta, [](real p, real d) { return p - d; });
}

void Variable::update_in_place(const std::function<void(real*, std::size_t)>& fn) {
  detail::VariableState& s = state();
  auto& node = detail::TensorAccess::node(s.value);
  if (node.use_count() != 1 || node->is_view()) {  // copy on write
    Array copy = empty_array(s.value.shape());
    std::copy(s.value.data(), s.value.data() + s.value.size(), copy.data());
    s.value = Tensor(std::move(copy));
  }
  auto* mutable_node = const_cast<detail::TensorNode*>(detail::TensorAccess::node(s.value).get());
  fn(mutable_node->value.data(), mutable_node->value.size());
  mutable_node->id = detail::next_tensor_id();
}

const std::string& Variable::name() const { return state().name; }
bool Variable::trainable() const { return state().trainable; }
const Shape& Variable::shape() const { return state().value.shape(); }
std::size_t Variable::size() const { return state().value.size(); }

}  // namespace xgrad
