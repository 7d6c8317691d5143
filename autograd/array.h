#pragma once
/// \file
/// The scalar and array types of the whole library. One scalar type per build: `float`
/// by default, `double` when configured with -DXGRAD_DOUBLE=ON.

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "autograd/memory.h"

namespace xgrad {

#if defined(XGRAD_DOUBLE) && XGRAD_DOUBLE
using real = double;
#else
using real = float;
#endif

/// Dense row-major n-dimensional array of `real`, 64-byte aligned, its storage from the
/// caching allocator of autograd/memory.h.
using Array = xt::xarray<real, xt::layout_type::row_major, detail::CachingAllocator<real>>;

/// A tensor shape: one extent per axis, outermost first.
using Shape = std::vector<std::size_t>;

/// "[2, 3]" — the form every error message prints shapes in.
std::string shape_to_string(const Shape& shape);

/// Number of elements of a shape (1 for a scalar, rank 0).
std::size_t shape_size(const Shape& shape);

/// The shape of an xtensor array as a `Shape`.
Shape shape_of(const Array& array);

/// An uninitialised array of the given shape (for kernels that write every element).
Array empty_array(const Shape& shape);

}  // namespace xgrad
