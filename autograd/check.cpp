#include "autograd/check.h"

#include <stdexcept>

namespace xgrad {

namespace {
[[noreturn]] void fail(std::string_view op, const std::string& message) {
  throw std::invalid_argument(std::string(op) + ": " + message);
}
}  // namespace

void check_arg(bool condition, std::string_view op, const std::string& message) {
  if (!condition) fail(op, message);
}

void check_rank(std::string_view op, std::string_view name, const Shape& shape, std::size_t rank,
                std::string_view layout) {
  if (shape.size() == rank) return;
  std::string msg = std::string(name) + " must be rank " + std::to_string(rank);
  if (!layout.empty()) {
    // Appended piece by piece: `" " + std::string(...)` trips GCC 12's -Wrestrict false
    // positive (GCC bug 105651).
    msg += ' ';
    msg += layout;
  }
  fail(op, msg + "; got " + std::string(name) + ".shape=" + shape_to_string(shape));
}

void check_min_rank(std::string_view op, std::string_view name, const Shape& shape,
                    std::size_t min_rank) {
  if (shape.size() >= min_rank) return;
  fail(op, std::string(name) + " must have rank >= " + std::to_string(min_rank) + "; got " +
               std::string(name) + ".shape=" + shape_to_string(shape));
}

void check_same_shape(std::string_view op, std::string_view name_a, const Shape& a,
                      std::string_view name_b, const Shape& b) {
  if (a == b) return;
  fail(op, std::string(name_a) + " and " + std::string(name_b) + " must have the same shape; got " +
               std::string(name_a) + ".shape=" + shape_to_string(a) + ", " + std::string(name_b) +
               ".shape=" + shape_to_string(b));
}

static bool try_broadcast(const Shape& a, const Shape& b, Shape& out) {
  const std::size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

void check_broadcastable(std::string_view op, std::string_view name_a, const Shape& a,
                         std::string_view name_b, const Shape& b) {
  Shape out;
  if (try_broadcast(a, b, out)) return;
  fail(op, "shapes of " + std::string(name_a) + " and " + std::string(name_b) +
               " do not broadcast; got " + std::string(name_a) + ".shape=" + shape_to_string(a) +
               ", " + std::string(name_b) + ".shape=" + shape_to_string(b));
}

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  Shape out;
  if (!try_broadcast(a, b, out)) check_broadcastable(op, "a", a, "b", b);
  return out;
}

std::size_t normalize_axis(std::string_view op, int axis, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  if (axis < -rank || axis >= rank) {
    fail(op, "axis " + std::to_string(axis) + " is out of range for a tensor of shape " +
                 shape_to_string(shape));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
}

std::string pair_to_string(const std::array<int, 2>& v) {
  // Appended piecewise: `"[" + std::to_string(..)` trips a GCC 12 -Wrestrict false positive.
  std::string s = "[";
  s += std::to_string(v[0]);
  s += ", ";
  s += std::to_string(v[1]);
  s += "]";
  return s;
}

}  // namespace xgrad
