// Shape ops: pure data movement over raw row-major buffers.

#include "autograd/ops/shape.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/profile.h"
#include "autograd/detail/tensor_node.h"

namespace xgrad {

namespace {

std::string ints_to_string(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<std::int64_t> to_i64(const Shape& s) { return {s.begin(), s.end()}; }

// Copies a block: `outer` rows of `inner` elements from src (row stride src_stride) to dst
// (row stride dst_stride).
void copy_rows(const real* src, std::size_t src_stride, real* dst, std::size_t dst_stride,
               std::size_t outer, std::size_t inner) {
  for (std::size_t o = 0; o < outer; ++o) {
    std::memcpy(dst + o * dst_stride, src + o * src_stride, inner * sizeof(real));
  }
}

}  // namespace

Tensor reshape(const Tensor& a, const std::vector<std::int64_t>& shape) {
  const detail::ProfileScope profile_scope("reshape");
  Shape out_shape(shape.size());
  int infer = -1;
  std::size_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check_arg(infer < 0, "reshape",
                "only one extent may be -1; got shape " + ints_to_string(shape) +
                    " for a.shape=" + shape_to_string(a.shape()));
      infer = static_cast<int>(i);
    } else {
      check_arg(shape[i] >= 0, "reshape",
                "extents must be >= 0 or -1; got shape " + ints_to_string(shape) +
                    " for a.shape=" + shape_to_string(a.shape()));
      out_shape[i] = static_cast<std::size_t>(shape[i]);
      known *= out_shape[i];
    }
  }
  if (infer >= 0) {
    check_arg(known > 0 && a.size() % known == 0, "reshape",
              "cannot infer the -1 extent of shape " + ints_to_string(shape) + " for a.shape=" +
                  shape_to_string(a.shape()));
    out_shape[infer] = a.size() / known;
  }
  check_arg(shape_size(out_shape) == a.size(), "reshape",
            "cannot reshape a.shape=" + shape_to_string(a.shape()) + " (" +
                std::to_string(a.size()) + " elements) to " + ints_to_string(shape));
  if (out_shape == a.shape()) return a;
  // A view: the same elements under the new shape, no copy (Tensor storage is immutable).
  Tensor out = detail::TensorAccess::from_node(
      detail::make_view(detail::TensorAccess::node(a), out_shape));
  return detail::record("reshape", out, {a}, [sa = a.shape()](const Tensor& g) {
    return std::vector<Tensor>{reshape(g, to_i64(sa))};
  });
}

Tensor flatten(const Tensor& a) {
  const detail::ProfileScope profile_scope("flatten");
  check_min_rank("flatten", "a", a.shape(), 1);
  const std::int64_t n = static_cast<std::int64_t>(a.shape()[0]);
  return reshape(a, {n, static_cast<std::int64_t>(n == 0 ? 0 : a.size() / n)});
}

Tensor transpose(const Tensor& a, const std::vector<int>& perm_in) {
  const detail::ProfileScope profile_scope("transpose");
  const Shape& sa = a.shape();
  const std::size_t rank = sa.size();
  std::vector<int> perm = perm_in;
  if (perm.empty()) {
    perm.resize(rank);
    for (std::size_t i = 0; i < rank; ++i) perm[i] = static_cast<int>(rank - 1 - i);
  }
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (int p : perm) {
    if (!valid) break;
    valid = p >= 0 && static_cast<std::size_t>(p) < rank && !seen[p];
    if (valid) seen[p] = true;
  }
  if (!valid) {
    std::vector<std::int64_t> pv(perm.begin(), perm.end());
    check_arg(false, "transpose",
              "perm " + ints_to_string(pv) + " is not a permutation of the axes of a.shape=" +
                  shape_to_string(sa));
  }
  Shape out_shape(rank);
  for (std::size_t i = 0; i < rank; ++i) out_shape[i] = sa[perm[i]];
  Array out_arr = empty_array(out_shape);
  // Strides of the input, read in output order.
  std::vector<std::size_t> in_strides(rank);
  std::size_t st = 1;
  for (std::size_t i = rank; i-- > 0;) {
    in_strides[i] = st;
    st *= sa[i];
  }
  std::vector<std::size_t> strides(rank);
  for (std::size_t i = 0; i < rank; ++i) strides[i] = in_strides[perm[i]];
  const real* src = a.data();
  real* dst = out_arr.data();
  const std::size_t n = a.size();
  if (rank == 0 || n == 0) {
    if (n) dst[0] = src[0];
  } else {
    // Odometer over the output; the innermost axis is a strided gather.
    std::vector<std::size_t> idx(rank, 0);
    const std::size_t inner = out_shape[rank - 1], inner_stride = strides[rank - 1];
    for (std::size_t o = 0; o < n; o += inner) {
      std::size_t off = 0;
      for (std::size_t i = 0; i + 1 < rank; ++i) off += idx[i] * strides[i];
      for (std::size_t j = 0; j < inner; ++j) dst[o + j] = src[off + j * inner_stride];
      for (std::size_t i = rank - 1; i-- > 0;) {
        if (++idx[i] < out_shape[i]) break;
        idx[i] = 0;
      }
    }
  }
  Tensor out(std::move(out_arr));
  std::vector<int> inverse(rank);
  for (std::size_t i = 0; i < rank; ++i) inverse[perm[i]] = static_cast<int>(i);
  return detail::record("transpose", out, {a}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{transpose(g, inverse)};
  });
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  const detail::ProfileScope profile_scope("concat");
  check_arg(!tensors.empty(), "concat", "needs at least one tensor");
  const Shape& s0 = tensors[0].shape();
  check_min_rank("concat", "tensors[0]", s0, 1);
  const std::size_t ax = normalize_axis("concat", axis, s0);
  Shape out_shape = s0;
  out_shape[ax] = 0;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const Shape& s = tensors[t].shape();
    bool ok = s.size() == s0.size();
    for (std::size_t i = 0; ok && i < s.size(); ++i) ok = i == ax || s[i] == s0[i];
    check_arg(ok, "concat",
              "tensors must agree in rank and in every extent but axis " + std::to_string(axis) +
                  "; got tensors[0].shape=" + shape_to_string(s0) + ", tensors[" +
                  std::to_string(t) + "].shape=" + shape_to_string(s));
    out_shape[ax] += s[ax];
  }
  Array out_arr = empty_array(out_shape);
  std::size_t outer = 1, inner = 1;
  for (std::size_t i = 0; i < ax; ++i) outer *= s0[i];
  for (std::size_t i = ax + 1; i < s0.size(); ++i) inner *= s0[i];
  const std::size_t out_row = out_shape[ax] * inner;
  std::size_t offset = 0;
  std::vector<std::int64_t> extents;
  for (const Tensor& t : tensors) {
    const std::size_t row = t.shape()[ax] * inner;
    copy_rows(t.data(), row, out_arr.data() + offset, out_row, outer, row);
    offset += row;
    extents.push_back(static_cast<std::int64_t>(t.shape()[ax]));
  }
  Tensor out(std::move(out_arr));
  return detail::record("concat", out, tensors, [extents, ax, out_shape](const Tensor& g) {
    std::vector<Tensor> grads;
    std::vector<std::int64_t> begin(out_shape.size(), 0), size = to_i64(out_shape);
    for (std::int64_t e : extents) {
      size[ax] = e;
      grads.push_back(slice(g, begin, size));
      begin[ax] += e;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int axis) {
  const detail::ProfileScope profile_scope("stack");
  check_arg(!tensors.empty(), "stack", "needs at least one tensor");
  const Shape& s0 = tensors[0].shape();
  for (std::size_t t = 1; t < tensors.size(); ++t) {
    check_same_shape("stack", "tensors[0]", s0, "tensors[" + std::to_string(t) + "]",
                     tensors[t].shape());
  }
  const int r = static_cast<int>(s0.size());
  check_arg(axis >= -(r + 1) && axis <= r, "stack",
            "axis " + std::to_string(axis) + " is out of range for stacking tensors of shape " +
                shape_to_string(s0));
  const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + r + 1 : axis);
  Shape unit = s0;
  unit.insert(unit.begin() + static_cast<std::ptrdiff_t>(ax), 1);
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(reshape(t, to_i64(unit)));
  return concat(expanded, static_cast<int>(ax));
}

Tensor slice(const Tensor& a, const std::vector<std::int64_t>& begin,
             const std::vector<std::int64_t>& size_in) {
  const detail::ProfileScope profile_scope("slice");
  const Shape& sa = a.shape();
  const std::string args = "begin=" + ints_to_string(begin) + ", size=" + ints_to_string(size_in) +
                           " for a.shape=" + shape_to_string(sa);
  check_arg(begin.size() == sa.size() && size_in.size() == sa.size(), "slice",
            "begin and size need one entry per axis; got " + args);
  Shape out_shape(sa.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    const std::int64_t extent = static_cast<std::int64_t>(sa[i]);
    const std::int64_t s = size_in[i] == -1 ? extent - begin[i] : size_in[i];
    check_arg(begin[i] >= 0 && s >= 0 && begin[i] + s <= extent, "slice",
              "slice out of bounds on axis " + std::to_string(i) + "; got " + args);
    out_shape[i] = static_cast<std::size_t>(s);
  }
  Array out_arr = empty_array(out_shape);
  const std::size_t rank = sa.size();
  if (out_arr.size() > 0) {
    std::vector<std::size_t> strides(rank);
    std::size_t st = 1;
    for (std::size_t i = rank; i-- > 0;) {
      strides[i] = st;
      st *= sa[i];
    }
    if (rank == 0) {
      out_arr.data()[0] = a.data()[0];
    } else {
      std::size_t base = 0;
      for (std::size_t i = 0; i < rank; ++i) base += static_cast<std::size_t>(begin[i]) * strides[i];
      std::vector<std::size_t> idx(rank, 0);
      const std::size_t inner = out_shape[rank - 1];
      for (std::size_t o = 0; o < out_arr.size(); o += inner) {
        std::size_t off = base;
        for (std::size_t i = 0; i + 1 < rank; ++i) off += idx[i] * strides[i];
        std::memcpy(out_arr.data() + o, a.data() + off, inner * sizeof(real));
        for (std::size_t i = rank - 1; i-- > 0;) {
          if (++idx[i] < out_shape[i]) break;
          idx[i] = 0;
        }
      }
    }
  }
  Tensor out(std::move(out_arr));
  return detail::record("slice", out, {a}, [sa, begin, out_shape](const Tensor& g) {
    // Pad g back with zeros: a concat of zero blocks and g along each sliced axis.
    Tensor padded = g;
    Shape cur = out_shape;
    for (std::size_t ax = 0; ax < sa.size(); ++ax) {
      const std::size_t before = static_cast<std::size_t>(begin[ax]);
      const std::size_t after = sa[ax] - before - cur[ax];
      if (before == 0 && after == 0) continue;
      std::vector<Tensor> parts;
      Shape block = cur;
      if (before) {
        block[ax] = before;
        parts.push_back(Tensor::zeros(block));
      }
      parts.push_back(padded);
      if (after) {
        block[ax] = after;
        parts.push_back(Tensor::zeros(block));
      }
      padded = concat(parts, static_cast<int>(ax));
      cur[ax] = sa[ax];
    }
    return std::vector<Tensor>{padded};
  });
}

Tensor gather(const Tensor& a, const std::vector<std::int64_t>& indices) {
  const detail::ProfileScope profile_scope("gather");
  check_min_rank("gather", "a", a.shape(), 1);
  const Shape& sa = a.shape();
  for (std::int64_t i : indices) {
    check_arg(i >= 0 && static_cast<std::size_t>(i) < sa[0], "gather",
              "index " + std::to_string(i) + " out of range [0, " + std::to_string(sa[0]) +
                  ") for a.shape=" + shape_to_string(sa));
  }
  Shape out_shape = sa;
  out_shape[0] = indices.size();
  const std::size_t row = sa[0] ? a.size() / sa[0] : 0;
  Array out_arr = empty_array(out_shape);
  for (std::size_t r = 0; r < indices.size(); ++r) {
    std::memcpy(out_arr.data() + r * row, a.data() + static_cast<std::size_t>(indices[r]) * row,
                row * sizeof(real));
  }
  Tensor out(std::move(out_arr));
  return detail::record("gather", out, {a}, [indices, sa](const Tensor& g) {
    return std::vector<Tensor>{scatter_add(g, indices, sa)};
  });
}

Tensor scatter_add(const Tensor& updates, const std::vector<std::int64_t>& indices,
                   const Shape& shape) {
  const detail::ProfileScope profile_scope("scatter_add");
  check_min_rank("scatter_add", "updates", updates.shape(), 1);
  check_arg(!shape.empty(), "scatter_add", "shape must have rank >= 1; got " + shape_to_string(shape));
  Shape expect = shape;
  expect[0] = indices.size();
  check_same_shape("scatter_add", "updates", updates.shape(), "[len(indices), shape[1:]]", expect);
  for (std::int64_t i : indices) {
    check_arg(i >= 0 && static_cast<std::size_t>(i) < shape[0], "scatter_add",
              "index " + std::to_string(i) + " out of range [0, " + std::to_string(shape[0]) +
                  ") for shape " + shape_to_string(shape));
  }
  const std::size_t row = shape[0] ? shape_size(shape) / shape[0] : 0;
  Array out_arr = empty_array(shape);
  std::fill(out_arr.data(), out_arr.data() + out_arr.size(), real(0));
  for (std::size_t r = 0; r < indices.size(); ++r) {
    real* dst = out_arr.data() + static_cast<std::size_t>(indices[r]) * row;
    const real* src = updates.data() + r * row;
    for (std::size_t j = 0; j < row; ++j) dst[j] += src[j];
  }
  Tensor out(std::move(out_arr));
  return detail::record("scatter_add", out, {updates}, [indices](const Tensor& g) {
    return std::vector<Tensor>{gather(g, indices)};
  });
}

}  // namespace xgrad
