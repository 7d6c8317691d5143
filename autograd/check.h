#pragma once
/// \file
/// Argument checks in Stan's `check_*` style. Every public op calls them first, before
/// xtensor sees the data, so that errors name the op and print the shapes even in Release
/// builds. All of them throw std::invalid_argument.

#include <array>
#include <string>
#include <string_view>

#include "autograd/array.h"

namespace xgrad {

/// Throws `op: message` when `condition` is false.
void check_arg(bool condition, std::string_view op, const std::string& message);

/// Requires `shape` to have exactly `rank` axes; `layout` describes them, e.g. "[N, H, W, C]".
void check_rank(std::string_view op, std::string_view name, const Shape& shape, std::size_t rank,
                std::string_view layout = "");

/// Requires a rank of at least `min_rank`.
void check_min_rank(std::string_view op, std::string_view name, const Shape& shape,
                    std::size_t min_rank);

/// Requires two equal shapes.
void check_same_shape(std::string_view op, std::string_view name_a, const Shape& a,
                      std::string_view name_b, const Shape& b);

/// Requires two shapes that broadcast together under NumPy rules.
void check_broadcastable(std::string_view op, std::string_view name_a, const Shape& a,
                         std::string_view name_b, const Shape& b);

/// The NumPy broadcast of two shapes; throws like check_broadcastable.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

/// Normalises a possibly negative axis against `rank` (axis -1 = last). Throws when out of
/// range, naming the op and the shape.
std::size_t normalize_axis(std::string_view op, int axis, const Shape& shape);

/// "[2, 3]": how messages print a (height, width) pair of options (strides, window, …).
std::string pair_to_string(const std::array<int, 2>& v);

}  // namespace xgrad
