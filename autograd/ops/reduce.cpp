// Reductions. One raw-buffer kernel serves sum and max over any set of axes: consecutive
// axes of the same kind (reduced or kept) are merged, then a short recursion walks the
// merged dimensions so that the innermost loop is either a contiguous row reduction or a
// contiguous row accumulation — both vectorised (xsimd / the compiler), and deterministic in
// their order.

#include "autograd/ops/reduce.h"

#include <algorithm>
#include <limits>

#include <xtensor/xbroadcast.hpp>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/profile.h"
#include "autograd/threads.h"
#include "autograd/detail/simd.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/shape.h"

namespace xgrad {

namespace {

enum class Combine { Sum, Max };

// Normalised, de-duplicated axis flags (empty `axes` = all).
std::vector<bool> reduced_axes(const char* op, const Shape& shape, const std::vector<int>& axes) {
  std::vector<bool> flags(shape.size(), axes.empty());
  for (int axis : axes) {
    const std::size_t a = normalize_axis(op, axis, shape);
    check_arg(!flags[a], op,
              "axis " + std::to_string(axis) + " is repeated for a tensor of shape " +
                  shape_to_string(shape));
    flags[a] = true;
  }
  return flags;
}

Shape keepdims_shape(const Shape& shape, const std::vector<bool>& flags) {
  Shape out = shape;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (flags[i]) out[i] = 1;
  }
  return out;
}

Shape squeezed_shape(const Shape& shape, const std::vector<bool>& flags) {
  Shape out;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (!flags[i]) out.push_back(shape[i]);
  }
  return out;
}

struct Dim {
  std::size_t extent, in_stride, out_stride;
  bool reduced;
};

template <Combine C>
void reduce_rec(const std::vector<Dim>& dims, std::size_t level, const real* in, real* out) {
  const Dim& d = dims[level];
  if (level + 1 == dims.size()) {
    if (d.reduced) {
      if constexpr (C == Combine::Sum) *out += detail::simd_sum(in, d.extent);
      else *out = detail::simd_max(in, d.extent, *out);
    } else {
      for (std::size_t i = 0; i < d.extent; ++i) {
        if constexpr (C == Combine::Sum) out[i] += in[i];
        else out[i] = std::max(out[i], in[i]);
      }
    }
    return;
  }
  for (std::size_t i = 0; i < d.extent; ++i) {
    reduce_rec<C>(dims, level + 1, in + i * d.in_stride, out + i * d.out_stride);
  }
}

// out[c] (initialised) combined with in[r, c] over all rows r of a [rows, cols] block, in
// parallel: fixed blocks of rows each make a partial row, and the partials are combined in
// block order — the result is the same for every thread count. (A bias gradient is such a
// column sum over every pixel of a batch: 115 M elements for the seed model's conv.)
template <Combine C>
void column_reduce(const real* in, std::size_t rows, std::size_t cols, real* out) {
  constexpr std::size_t kBlockElements = std::size_t{1} << 16;
  const std::size_t block_rows = std::max<std::size_t>(1, kBlockElements / cols);
  const std::size_t blocks = (rows + block_rows - 1) / block_rows;
  Array partial = empty_array({blocks, cols});
  real* p = partial.data();
  const real init = C == Combine::Sum ? real(0) : -std::numeric_limits<real>::infinity();
#pragma omp parallel for num_threads(num_threads()) schedule(static)
  for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(blocks); ++b) {
    real* acc = p + static_cast<std::size_t>(b) * cols;
    std::fill_n(acc, cols, init);
    const std::size_t r0 = static_cast<std::size_t>(b) * block_rows;
    const std::size_t r1 = std::min(rows, r0 + block_rows);
    for (std::size_t r = r0; r < r1; ++r) {
      const real* __restrict row = in + r * cols;
      for (std::size_t c = 0; c < cols; ++c) {
        if constexpr (C == Combine::Sum) acc[c] += row[c];
        else acc[c] = std::max(acc[c], row[c]);
      }
    }
  }
  for (std::size_t b = 0; b < blocks; ++b) {
    const real* acc = p + b * cols;
    for (std::size_t c = 0; c < cols; ++c) {
      if constexpr (C == Combine::Sum) out[c] += acc[c];
      else out[c] = std::max(out[c], acc[c]);
    }
  }
}

// Reduces `a` over the flagged axes; the result has the keepdims shape.
template <Combine C>
Array reduce_kernel(const Tensor& a, const Shape& shape, const std::vector<bool>& flags) {
  const Shape out_shape = keepdims_shape(shape, flags);
  Array out = empty_array(out_shape);
  const real init = C == Combine::Sum ? real(0) : -std::numeric_limits<real>::infinity();
  std::fill(out.data(), out.data() + out.size(), init);
  if (a.size() == 0) return out;

  // Merge runs of axes of one kind (extent-1 axes join any run).
  std::vector<Dim> dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!dims.empty() && dims.back().reduced == flags[i]) {
      dims.back().extent *= shape[i];
    } else {
      dims.push_back({shape[i], 0, 0, flags[i]});
    }
  }
  if (dims.empty()) {
    out.data()[0] = a.data()[0];
    return out;
  }
  std::size_t in_stride = 1, out_stride = 1;
  for (std::size_t i = dims.size(); i-- > 0;) {
    dims[i].in_stride = in_stride;
    dims[i].out_stride = dims[i].reduced ? 0 : out_stride;
    in_stride *= dims[i].extent;
    if (!dims[i].reduced) out_stride *= dims[i].extent;
  }
  // Large two-run reductions go parallel; the blocked order does not depend on the thread count.
  if (a.size() >= detail::kParallelGrain && dims.size() == 2) {
    if (dims[0].reduced) {
      column_reduce<C>(a.data(), dims[0].extent, dims[1].extent, out.data());
      return out;
    }
    // Rows reduced one by one: each output element has one owner whatever the thread count.
    const auto rows = static_cast<std::ptrdiff_t>(dims[0].extent);
    const std::size_t len = dims[1].extent;
#pragma omp parallel for num_threads(num_threads()) schedule(static)
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
      reduce_rec<C>({dims[1]}, 0, a.data() + static_cast<std::size_t>(r) * len,
                    out.data() + r);
    }
    return out;
  }
  reduce_rec<C>(dims, 0, a.data(), out.data());
  return out;
}

std::vector<std::int64_t> to_i64(const Shape& s) { return {s.begin(), s.end()}; }

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int>& axes, bool keepdims) {
  const detail::ProfileScope profile_scope("sum");
  const std::vector<bool> flags = reduced_axes("sum", a.shape(), axes);
  Array r = reduce_kernel<Combine::Sum>(a, a.shape(), flags);
  if (!keepdims) r.reshape(squeezed_shape(a.shape(), flags));
  Tensor out(std::move(r));
  return detail::record("sum", out, {a}, [shape = a.shape(), flags](const Tensor& g) {
    return std::vector<Tensor>{broadcast_to(reshape(g, to_i64(keepdims_shape(shape, flags))), shape)};
  });
}

Tensor mean(const Tensor& a, const std::vector<int>& axes, bool keepdims) {
  const detail::ProfileScope profile_scope("mean");
  const std::vector<bool> flags = reduced_axes("mean", a.shape(), axes);
  std::size_t count = 1;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    if (flags[i]) count *= a.shape()[i];
  }
  // Over no elements the mean is 0/0 = NaN, as in NumPy and TensorFlow.
  return mul(sum(a, axes, keepdims), Tensor(real(1) / static_cast<real>(count)));
}

Tensor max(const Tensor& a, const std::vector<int>& axes, bool keepdims) {
  const detail::ProfileScope profile_scope("max");
  const std::vector<bool> flags = reduced_axes("max", a.shape(), axes);
  check_arg(a.size() > 0, "max", "cannot reduce an empty tensor; got a.shape=" + shape_to_string(a.shape()));
  Tensor kept(reduce_kernel<Combine::Max>(a, a.shape(), flags));
  Tensor out = kept;
  if (!keepdims) {
    Array r = kept.array();
    r.reshape(squeezed_shape(a.shape(), flags));
    out = Tensor(std::move(r));
  }
  return detail::record("max", out, {a}, [a, kept, flags](const Tensor& g) {
    // Ties share the gradient evenly: mask / (number of maxima in the window).
    const Shape keep_shape = keepdims_shape(a.shape(), flags);
    Tensor mask = equal(a, kept);
    Tensor count(reduce_kernel<Combine::Sum>(mask, a.shape(), flags));
    Tensor spread = broadcast_to(div(reshape(g, to_i64(keep_shape)), count), a.shape());
    return std::vector<Tensor>{mul(spread, mask)};
  });
}

Tensor broadcast_to(const Tensor& a, const Shape& shape) {
  const detail::ProfileScope profile_scope("broadcast_to");
  const Shape b = broadcast_shapes("broadcast_to", a.shape(), shape);
  check_arg(b == shape, "broadcast_to",
            "cannot broadcast a.shape=" + shape_to_string(a.shape()) + " to shape " +
                shape_to_string(shape));
  if (a.shape() == shape) return a;
  Tensor out(Array(xt::broadcast(a.array(), shape)));
  return detail::record("broadcast_to", out, {a}, [sa = a.shape()](const Tensor& g) {
    return std::vector<Tensor>{reduce_to_shape(g, sa)};
  });
}

Tensor reduce_to_shape(const Tensor& a, const Shape& shape) {
  const detail::ProfileScope profile_scope("reduce_to_shape");
  if (a.shape() == shape) return a;
  const Shape& sa = a.shape();
  const Shape b = broadcast_shapes("reduce_to_shape", shape, sa);
  check_arg(b == sa, "reduce_to_shape",
            "a.shape=" + shape_to_string(sa) + " is not a broadcast of shape " +
                shape_to_string(shape));
  std::vector<bool> flags(sa.size(), false);
  const std::size_t lead = sa.size() - shape.size();
  for (std::size_t i = 0; i < sa.size(); ++i) {
    flags[i] = i < lead || (shape[i - lead] == 1 && sa[i] != 1);
  }
  Array r = reduce_kernel<Combine::Sum>(a, sa, flags);
  r.reshape(shape);
  Tensor out(std::move(r));
  return detail::record("reduce_to_shape", out, {a}, [sa](const Tensor& g) {
    return std::vector<Tensor>{broadcast_to(g, sa)};
  });
}

}  // namespace xgrad
