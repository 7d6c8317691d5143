#include "autograd/array.h"

#include <sstream>

namespace xgrad {

std::string shape_to_string(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    os << shape[i];
  }
  os << ']';
  return os.str();
}

std::size_t shape_size(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

Shape shape_of(const Array& array) { return Shape(array.shape().begin(), array.shape().end()); }

Array empty_array(const Shape& shape) { return Array::from_shape(shape); }

}  // namespace xgrad
