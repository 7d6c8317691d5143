// max_pool2d and avg_pool2d over NHWC tensors, with backward functions that are ops
// themselves, so that pooling is differentiable to any order.
//
// Window geometry is conv2d's (TensorFlow arithmetic, dilation 1). Windows are clipped to the
// image: a padded position is never read, so it never wins a max and is not counted in a mean.
// With TF's `same` padding every window holds at least one real element (the padding before
// and after is at most window - 1 in total).
//
// The op pairs (each the other's adjoint):
//   max_pool2d          forward stores, per output element, where in its window the first
//                       maximum is (the offset dy·KW + dx from the window's top-left
//                       corner: one byte for windows of up to 256 elements, else four —
//                       the backward reads 8 times less than with flat 64-bit indices);
//                       backward = max_pool2d_grad.
//   max_pool2d_grad     g [N, OH, OW, C] → zeros of the input shape with g[p] added at
//                       index[p]; backward = max_pool2d_gather.
//   max_pool2d_gather   h [N, H, W, C] → h[index[p]] for each output p; backward =
//                       max_pool2d_grad.
//   avg_pool2d          mean over each window's real elements; backward = avg_pool2d_grad.
//   avg_pool2d_grad     spreads g / count over each window; backward = avg_pool2d.
//
// Threads and determinism. Every kernel is parallel over rows of the array it writes: the
// forwards over output rows (n, oy), the two *_grad ops over input rows (n, y). An input row
// gathers its contributions from the output rows whose windows cover it, in a fixed order
// (oy, then ox), so no two threads write one element and sums do not depend on the thread
// count. The inner loops run along the channel axis, contiguous in NHWC, and vectorise.

#include "autograd/ops/pool2d.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/memory.h"
#include "autograd/profile.h"
#include "autograd/threads.h"

namespace xgrad {

namespace {

using Index = std::ptrdiff_t;
/// Where each window's maximum is, kept for the backward: per output element its offset
/// dy·KW + dx from the window's (unclipped) top-left corner, as uint8 when the window has at
/// most 256 elements, else int32. Uninitialised memory from the tensor cache (the forward
/// writes every element).
class ArgMax {
 public:
  ArgMax(std::size_t count, bool wide)
      : wide_(wide), bytes_(count * (wide ? sizeof(std::int32_t) : sizeof(std::uint8_t))) {}
  bool wide() const { return wide_; }
  template <class Offset>
  Offset* get() const {
    return reinterpret_cast<Offset*>(bytes_.get());
  }

 private:
  bool wide_;
  detail::CachedBuffer<unsigned char> bytes_;
};
using Indices = std::shared_ptr<const ArgMax>;

/// Calls f(Offset{}) with the argmax offset type of `arg`.
template <class F>
void with_offset_type(const ArgMax& arg, F&& f) {
  if (arg.wide()) {
    f(std::int32_t{});
  } else {
    f(std::uint8_t{});
  }
}

/// Loops touching fewer elements than this run on one thread (a parallel region costs µs).
constexpr Index kParallelMinWork = Index{1} << 15;

struct PoolGeometry {
  Index n, h, w, c;  // input [N, H, W, C]
  Index kh, kw, sh, sw;
  Index oh, ow;  // output [N, OH, OW, C]
  Index pad_top, pad_left;

  Shape input_shape() const { return to_shape(h, w); }
  Shape output_shape() const { return to_shape(oh, ow); }
  // Rows [y_begin, y_end) of the image covered by output row oy's windows (clipped).
  Index y_begin(Index oy) const { return std::max<Index>(0, oy * sh - pad_top); }
  Index y_end(Index oy) const { return std::min<Index>(h, oy * sh - pad_top + kh); }
  Index x_begin(Index ox) const { return std::max<Index>(0, ox * sw - pad_left); }
  Index x_end(Index ox) const { return std::min<Index>(w, ox * sw - pad_left + kw); }
  // Output rows [oy_begin, oy_end) whose windows cover input row y.
  Index oy_begin(Index y) const {
    const Index first = y + pad_top - kh + 1;  // oy·sh >= first
    return first <= 0 ? 0 : (first + sh - 1) / sh;
  }
  Index oy_end(Index y) const { return std::min<Index>(oh, (y + pad_top) / sh + 1); }
  // The (unclipped) top-left corner of window (oy, ox); argmax offsets count from there.
  Index y0(Index oy) const { return oy * sh - pad_top; }
  Index x0(Index ox) const { return ox * sw - pad_left; }
  // Offsets fit in one byte for windows of at most 256 elements.
  bool wide_offsets() const { return kh * kw > 256; }

 private:
  Shape to_shape(Index rows, Index cols) const {
    return {static_cast<std::size_t>(n), static_cast<std::size_t>(rows),
            static_cast<std::size_t>(cols), static_cast<std::size_t>(c)};
  }
};

PoolGeometry make_geometry(const char* op, const Shape& in, const Pool2DOptions& opt) {
  check_rank(op, "input", in, 4, "[N, H, W, C]");
  const std::string context = "input.shape=" + shape_to_string(in);
  check_arg(opt.window[0] >= 1 && opt.window[1] >= 1, op,
            "window must be >= 1; got window=" + pair_to_string(opt.window) + ", " + context);
  check_arg(opt.strides[0] >= 1 && opt.strides[1] >= 1, op,
            "strides must be >= 1; got strides=" + pair_to_string(opt.strides) + ", " + context);
  const auto kh = static_cast<std::size_t>(opt.window[0]);
  const auto kw = static_cast<std::size_t>(opt.window[1]);
  const bool valid = opt.padding == Padding::Valid;
  check_arg(valid ? in[1] >= kh && in[2] >= kw : in[1] >= 1 && in[2] >= 1, op,
            "output would be empty (" +
                std::string(valid ? "input smaller than the window with valid padding"
                                  : "input has no rows or columns") +
                "); got window=" + pair_to_string(opt.window) + ", " + context);
  const ConvAxis ay = conv_axis(op, in[1], kh, opt.strides[0], 1, opt.padding);
  const ConvAxis ax = conv_axis(op, in[2], kw, opt.strides[1], 1, opt.padding);
  auto i = [](std::size_t v) { return static_cast<Index>(v); };
  return PoolGeometry{i(in[0]),  i(in[1]),  i(in[2]),         i(in[3]),
                      i(kh),     i(kw),     opt.strides[0],   opt.strides[1],
                      i(ay.out), i(ax.out), i(ay.pad_before), i(ax.pad_before)};
}

bool parallel(Index work) { return work >= kParallelMinWork; }

// ---- Kernels on raw buffers ------------------------------------------------------------

/// out = max over each window; with kArgmax also where the first maximum is (row-major window
/// order: a later element must be strictly greater to win), as an offset dy·KW + dx.
template <bool kArgmax, class Offset = std::uint8_t>
void max_pool_forward(const PoolGeometry& g, const real* in, real* out, Offset* arg) {
  const Index rows = g.n * g.oh, c = g.c;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) \
    schedule(static) if (parallel(rows * g.ow * c * g.kh * g.kw))
  for (Index r = 0; r < rows; ++r) {
    const Index n = r / g.oh, oy = r % g.oh;
    const Index yb = g.y_begin(oy), ye = g.y_end(oy);
    for (Index ox = 0; ox < g.ow; ++ox) {
      const Index xb = g.x_begin(ox), xe = g.x_end(ox);
      const Index o = (r * g.ow + ox) * c;
      real* __restrict best = out + o;
      std::copy_n(in + ((n * g.h + yb) * g.w + xb) * c, c, best);
      if constexpr (kArgmax) {
        const auto first = static_cast<Offset>((yb - g.y0(oy)) * g.kw + (xb - g.x0(ox)));
        std::fill_n(arg + o, c, first);
      }
      for (Index y = yb; y < ye; ++y) {
        for (Index x = (y == yb ? xb + 1 : xb); x < xe; ++x) {
          const real* __restrict v = in + ((n * g.h + y) * g.w + x) * c;
          if constexpr (kArgmax) {
            const auto here = static_cast<Offset>((y - g.y0(oy)) * g.kw + (x - g.x0(ox)));
            Offset* __restrict a = arg + o;
            for (Index k = 0; k < c; ++k) {
              const bool greater = v[k] > best[k];
              best[k] = greater ? v[k] : best[k];
              a[k] = greater ? here : a[k];
            }
          } else {
            for (Index k = 0; k < c; ++k) best[k] = v[k] > best[k] ? v[k] : best[k];
          }
        }
      }
    }
  }
}

/// grad_in = zeros with grad_out[p] added at the argmax of window p. Each input row (n, y)
/// collects the windows' maxima that lie in it from the output rows covering it.
template <class Offset>
void max_pool_scatter(const PoolGeometry& g, const Offset* arg, const real* grad_out,
                      real* grad_in) {
  const Index rows = g.n * g.h, row_len = g.w * g.c, c = g.c;
  const int threads = num_threads();
  if (g.sh >= g.kh && g.sw >= g.kw) {
    // Windows do not overlap (the usual 2×2 stride 2): each input element lies in at most one
    // window, so it is written once, with its window's gradient if it is the argmax, else 0 —
    // one sequential pass instead of zero-fill plus scatter.
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel(rows * row_len))
    for (Index r = 0; r < rows; ++r) {
      const Index n = r / g.h, y = r % g.h;
      real* dst = grad_in + r * row_len;
      const Index oy = (y + g.pad_top) / g.sh;
      if (oy >= g.oh || y - g.y0(oy) >= g.kh) {
        std::fill_n(dst, row_len, real(0));  // between windows
        continue;
      }
      for (Index x = 0; x < g.w; ++x) {
        real* __restrict d = dst + x * c;
        const Index ox = (x + g.pad_left) / g.sw;
        if (ox >= g.ow || x - g.x0(ox) >= g.kw) {
          std::fill_n(d, c, real(0));
          continue;
        }
        const Index o = ((n * g.oh + oy) * g.ow + ox) * c;
        const auto here = static_cast<Offset>((y - g.y0(oy)) * g.kw + (x - g.x0(ox)));
        const Offset* __restrict a = arg + o;
        const real* __restrict go = grad_out + o;
        for (Index k = 0; k < c; ++k) d[k] = a[k] == here ? go[k] : real(0);
      }
    }
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel(rows * row_len))
  for (Index r = 0; r < rows; ++r) {
    const Index n = r / g.h, y = r % g.h;
    real* dst = grad_in + r * row_len;
    std::fill_n(dst, row_len, real(0));
    for (Index oy = g.oy_begin(y), oe = g.oy_end(y); oy < oe; ++oy) {
      const Index dy = y - g.y0(oy);  // this row's place in the windows of output row oy
      for (Index ox = 0; ox < g.ow; ++ox) {
        const Index o = ((n * g.oh + oy) * g.ow + ox) * c;
        for (Index k = 0; k < c; ++k) {
          const Index off = static_cast<Index>(arg[o + k]);
          if (off / g.kw == dy) dst[(g.x0(ox) + off % g.kw) * c + k] += grad_out[o + k];
        }
      }
    }
  }
}

/// out[p] = in[argmax of window p] for every output element p.
template <class Offset>
void max_pool_gather(const PoolGeometry& g, const Offset* arg, const real* in, real* out) {
  const Index rows = g.n * g.oh, c = g.c;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel(rows * g.ow * c))
  for (Index r = 0; r < rows; ++r) {
    const Index n = r / g.oh, oy = r % g.oh;
    for (Index ox = 0; ox < g.ow; ++ox) {
      const Index o = (r * g.ow + ox) * c;
      for (Index k = 0; k < c; ++k) {
        const Index off = static_cast<Index>(arg[o + k]);
        const Index y = g.y0(oy) + off / g.kw, x = g.x0(ox) + off % g.kw;
        out[o + k] = in[((n * g.h + y) * g.w + x) * c + k];
      }
    }
  }
}

void avg_pool_forward(const PoolGeometry& g, const real* in, real* out) {
  const Index rows = g.n * g.oh, c = g.c;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) \
    schedule(static) if (parallel(rows * g.ow * c * g.kh * g.kw))
  for (Index r = 0; r < rows; ++r) {
    const Index n = r / g.oh, oy = r % g.oh;
    const Index yb = g.y_begin(oy), ye = g.y_end(oy);
    for (Index ox = 0; ox < g.ow; ++ox) {
      const Index xb = g.x_begin(ox), xe = g.x_end(ox);
      real* acc = out + (r * g.ow + ox) * c;
      std::fill_n(acc, c, real(0));
      for (Index y = yb; y < ye; ++y) {
        for (Index x = xb; x < xe; ++x) {
          const real* v = in + ((n * g.h + y) * g.w + x) * c;
          for (Index k = 0; k < c; ++k) acc[k] += v[k];
        }
      }
      const real scale = real(1) / static_cast<real>((ye - yb) * (xe - xb));
      for (Index k = 0; k < c; ++k) acc[k] *= scale;
    }
  }
}

/// grad_in[n, y, x, c] = Σ over windows (oy, ox) covering (y, x) of grad_out[n, oy, ox, c] /
/// count(oy, ox).
void avg_pool_spread(const PoolGeometry& g, const real* grad_out, real* grad_in) {
  const Index rows = g.n * g.h, c = g.c, row_len = g.w * g.c;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) \
    schedule(static) if (parallel(rows * row_len * g.kh * g.kw))
  for (Index r = 0; r < rows; ++r) {
    const Index n = r / g.h, y = r % g.h;
    real* dst = grad_in + r * row_len;
    std::fill_n(dst, row_len, real(0));
    for (Index oy = g.oy_begin(y), oe = g.oy_end(y); oy < oe; ++oy) {
      const Index window_rows = g.y_end(oy) - g.y_begin(oy);
      for (Index ox = 0; ox < g.ow; ++ox) {
        const Index xb = g.x_begin(ox), xe = g.x_end(ox);
        const real scale = real(1) / static_cast<real>(window_rows * (xe - xb));
        const real* src = grad_out + ((n * g.oh + oy) * g.ow + ox) * c;
        for (Index x = xb; x < xe; ++x) {
          real* d = dst + x * c;
          for (Index k = 0; k < c; ++k) d[k] += src[k] * scale;
        }
      }
    }
  }
}

// ---- The private ops of the backward passes ----------------------------------------------

Tensor max_pool2d_grad(const Tensor& grad_output, const Indices& arg, const PoolGeometry& g);

/// h [N, H, W, C] → h at the argmax of each window, [N, OH, OW, C].
Tensor max_pool2d_gather(const Tensor& h, const Indices& arg, const PoolGeometry& g) {
  const detail::ProfileScope profile_scope("max_pool2d_gather");
  check_same_shape("max_pool2d_gather", "h", h.shape(), "input", g.input_shape());
  Array out = empty_array(g.output_shape());
  with_offset_type(*arg, [&](auto offset) {
    max_pool_gather(g, arg->get<decltype(offset)>(), h.data(), out.data());
  });
  return detail::record("max_pool2d_gather", Tensor(std::move(out)), {h},
                        detail::SimpleBackwardFn([arg, g](const Tensor& grad) {
                          return std::vector<Tensor>{max_pool2d_grad(grad, arg, g)};
                        }));
}

/// grad_output [N, OH, OW, C] → zeros [N, H, W, C] with each element added at its window's
/// argmax. Linear; its adjoint is max_pool2d_gather.
Tensor max_pool2d_grad(const Tensor& grad_output, const Indices& arg, const PoolGeometry& g) {
  const detail::ProfileScope profile_scope("max_pool2d_grad");
  check_same_shape("max_pool2d_grad", "grad_output", grad_output.shape(), "output",
                   g.output_shape());
  Array out = empty_array(g.input_shape());
  with_offset_type(*arg, [&](auto offset) {
    max_pool_scatter(g, arg->get<decltype(offset)>(), grad_output.data(), out.data());
  });
  return detail::record("max_pool2d_grad", Tensor(std::move(out)), {grad_output},
                        detail::SimpleBackwardFn([arg, g](const Tensor& h) {
                          return std::vector<Tensor>{max_pool2d_gather(h, arg, g)};
                        }));
}

Tensor avg_pool2d_grad(const Tensor& grad_output, const PoolGeometry& g);

/// avg_pool2d after validation.
Tensor avg_pool2d_op(const Tensor& input, const PoolGeometry& g) {
  const detail::ProfileScope profile_scope("avg_pool2d_op");
  Array out = empty_array(g.output_shape());
  avg_pool_forward(g, input.data(), out.data());
  return detail::record("avg_pool2d", Tensor(std::move(out)), {input},
                        detail::SimpleBackwardFn([g](const Tensor& grad) {
                          return std::vector<Tensor>{avg_pool2d_grad(grad, g)};
                        }));
}

/// grad_output [N, OH, OW, C] → [N, H, W, C], each element spread evenly over the real
/// elements of its window. Linear: <h, avg_pool2d_grad(g)> = <avg_pool2d(h), g>.
Tensor avg_pool2d_grad(const Tensor& grad_output, const PoolGeometry& g) {
  const detail::ProfileScope profile_scope("avg_pool2d_grad");
  check_same_shape("avg_pool2d_grad", "grad_output", grad_output.shape(), "output",
                   g.output_shape());
  Array out = empty_array(g.input_shape());
  avg_pool_spread(g, grad_output.data(), out.data());
  return detail::record("avg_pool2d_grad", Tensor(std::move(out)), {grad_output},
                        detail::SimpleBackwardFn([g](const Tensor& h) {
                          return std::vector<Tensor>{avg_pool2d_op(h, g)};
                        }));
}

}  // namespace

Tensor max_pool2d(const Tensor& input, const Pool2DOptions& options) {
  const detail::ProfileScope profile_scope("max_pool2d");
  const PoolGeometry g = make_geometry("max_pool2d", input.shape(), options);
  Array out = empty_array(g.output_shape());
  if (!detail::any_tape_recording()) {
    // Nobody can ask for a gradient: skip the argmax bookkeeping.
    max_pool_forward<false>(g, input.data(), out.data(), static_cast<std::uint8_t*>(nullptr));
    return Tensor(std::move(out));
  }
  auto arg = std::make_shared<ArgMax>(out.size(), g.wide_offsets());
  with_offset_type(*arg, [&](auto offset) {
    max_pool_forward<true>(g, input.data(), out.data(), arg->get<decltype(offset)>());
  });
  // The backward needs only the indices, not the input's values.
  return detail::record(
      "max_pool2d", Tensor(std::move(out)), {input},
      detail::SimpleBackwardFn([arg = Indices(std::move(arg)), g](const Tensor& grad) {
        return std::vector<Tensor>{max_pool2d_grad(grad, arg, g)};
      }));
}

Tensor avg_pool2d(const Tensor& input, const Pool2DOptions& options) {
  const detail::ProfileScope profile_scope("avg_pool2d");
  const PoolGeometry g = make_geometry("avg_pool2d", input.shape(), options);
  return avg_pool2d_op(input, g);
}

}  // namespace xgrad
