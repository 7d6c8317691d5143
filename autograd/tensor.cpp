#include "autograd/tensor.h"

#include <atomic>
#include <ostream>
#include <stdexcept>

#include <xtensor/xio.hpp>

#include "autograd/detail/tensor_node.h"

namespace xgrad {

namespace detail {
std::uint64_t next_tensor_id() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}
std::shared_ptr<const TensorNode> make_view(const std::shared_ptr<const TensorNode>& base,
                                            Shape shape) {
  auto node = std::make_shared<TensorNode>();
  node->shape = std::move(shape);
  node->id = next_tensor_id();
  node->base = base->is_view() ? base->base : base;
  return node;
}

}  // namespace detail

namespace {
std::shared_ptr<const detail::TensorNode> make_node(Array value) {
  auto node = std::make_shared<detail::TensorNode>();
  node->shape = shape_of(value);
  node->value = std::move(value);
  node->id = detail::next_tensor_id();
  return node;
}
}  // namespace

Tensor::Tensor(real value) : node_(make_node(Array(value))) {}

Tensor::Tensor(Array value) : node_(make_node(std::move(value))) {}

Tensor::Tensor(std::initializer_list<real> values) {
  Array a = empty_array({values.size()});
  std::copy(values.begin(), values.end(), a.data());
  node_ = make_node(std::move(a));
}

Tensor::Tensor(std::initializer_list<std::initializer_list<real>> rows) {
  const std::size_t cols = rows.size() ? rows.begin()->size() : 0;
  Array a = empty_array({rows.size(), cols});
  real* p = a.data();
  for (const auto& row : rows) {
    if (row.size() != cols) {
      throw std::invalid_argument("Tensor: rows of an initializer list must have equal lengths; got " +
                                  std::to_string(row.size()) + " and " + std::to_string(cols));
    }
    p = std::copy(row.begin(), row.end(), p);
  }
  node_ = make_node(std::move(a));
}

Tensor Tensor::full(const Shape& shape, real value) {
  Array a = empty_array(shape);
  std::fill(a.data(), a.data() + a.size(), value);
  return Tensor(std::move(a));
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, real(0)); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, real(1)); }

Tensor Tensor::from_vector(const Shape& shape, std::vector<real> values) {
  if (shape_size(shape) != values.size()) {
    throw std::invalid_argument("Tensor::from_vector: shape " + shape_to_string(shape) + " holds " +
                                std::to_string(shape_size(shape)) + " elements; got " +
                                std::to_string(values.size()) + " values");
  }
  Array a = empty_array(shape);
  std::copy(values.begin(), values.end(), a.data());
  return Tensor(std::move(a));
}

const Array& Tensor::array() const {
  if (!node_) throw std::logic_error("Tensor: use of an undefined tensor (no value)");
  if (node_->is_view()) {
    // An Array of the view's shape is wanted: copy the elements once (kernels use data()).
    std::call_once(node_->materialize_once, [node = node_.get()] {
      Array a = empty_array(node->shape);
      std::copy(node->base->value.data(), node->base->value.data() + a.size(), a.data());
      const_cast<detail::TensorNode*>(node)->value = std::move(a);
    });
  }
  return node_->value;
}

const Shape& Tensor::shape() const {
  if (!node_) throw std::logic_error("Tensor: use of an undefined tensor (no value)");
  return node_->shape;
}

std::size_t Tensor::size() const { return shape_size(shape()); }

const real* Tensor::data() const {
  if (!node_) throw std::logic_error("Tensor: use of an undefined tensor (no value)");
  return node_->data();
}

real Tensor::item() const {
  if (size() != 1) {
    throw std::invalid_argument("Tensor::item: tensor must hold one element; got shape " +
                                shape_to_string(shape()));
  }
  return data()[0];
}

real Tensor::flat(std::size_t index) const {
  if (index >= size()) {
    throw std::out_of_range("Tensor::flat: index " + std::to_string(index) +
                            " out of range for shape " + shape_to_string(shape()));
  }
  return data()[index];
}

std::vector<real> Tensor::to_vector() const { return std::vector<real>(data(), data() + size()); }

std::uint64_t Tensor::id() const { return node_ ? node_->id : 0; }

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) {
  if (!tensor.defined()) return os << "Tensor(undefined)";
  return os << "Tensor(shape=" << shape_to_string(tensor.shape()) << ", " << tensor.array() << ")";
}

}  // namespace xgrad
