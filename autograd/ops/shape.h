#pragma once
/// \file
/// Ops that move elements without arithmetic: reshape, transpose, concatenation, stacking,
/// slicing, gathering. All throw std::invalid_argument naming the op and the shapes.

#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// Same elements in row-major order, new shape. One extent may be -1 (inferred).
/// d/da = reshape(g, a.shape).
Tensor reshape(const Tensor& a, const std::vector<std::int64_t>& shape);
/// [N, d1, d2, …] → [N, d1·d2·…] (Keras Flatten: keeps the batch axis). Rank >= 1.
Tensor flatten(const Tensor& a);
/// Permutes axes: out.shape[i] = a.shape[perm[i]]. An empty perm reverses the axes.
/// d/da = transpose(g, inverse(perm)).
Tensor transpose(const Tensor& a, const std::vector<int>& perm = {});
/// Joins tensors along an existing axis; other extents must agree.
/// d/dtensors[i] = the matching slice of g.
Tensor concat(const std::vector<Tensor>& tensors, int axis);
/// Joins equal-shaped tensors along a new axis (-1 = after the last).
Tensor stack(const std::vector<Tensor>& tensors, int axis = 0);
/// TensorFlow's slice: `size[i]` elements from `begin[i]` on each axis (size -1 = to the
/// end). d/da = g padded with zeros back to a's shape.
Tensor slice(const Tensor& a, const std::vector<std::int64_t>& begin,
             const std::vector<std::int64_t>& size);
/// Rows of `a` along axis 0: out[i, …] = a[indices[i], …]. Indices may repeat; each must be
/// in [0, a.shape[0]). d/da = scatter_add(g, indices, a.shape).
Tensor gather(const Tensor& a, const std::vector<std::int64_t>& indices);
/// The adjoint of gather: zeros of `shape` with row g[i] added to row indices[i].
/// d/dg = gather(h, indices).
Tensor scatter_add(const Tensor& updates, const std::vector<std::int64_t>& indices,
                   const Shape& shape);

}  // namespace xgrad
