// conv2d and its two gradients, conv2d_backprop_input and conv2d_backprop_filter, as GEMMs.
//
// The col matrix. Number the conv2d output pixels m = (n·OH + oy)·OW + ox (row-major NHW of
// the output) and the kernel taps k = (i·KW + j)·C + c (row-major HWI of the kernel). Then
//   col[m, k] = input[n, oy·sh + i·dh - pad_top, ox·sw + j·dw - pad_left, c]  (0 off the image)
// and, with the HWIO kernel read as a [KH·KW·C, O] matrix and the NHWC output as [N·OH·OW, O],
//   output          = col · kernel                       (conv2d)
//   d col           = grad_output · kernelᵀ,  then d input = col2im(d col)  (backprop_input)
//   d kernel        = colᵀ · grad_output                 (backprop_filter)
// col2im is the adjoint of im2col: it adds every col[m, k] back into the input element it was
// read from.
//
// Bounded workspace. The col matrix of a whole batch can be huge (N·OH·OW × KH·KW·C), so it is
// built for a chunk of output rows (pairs (n, oy), i.e. OW col rows each) at a time, sized to
// stay under kColBudgetBytes (2 MiB: the chunk is still in L2 when its GEMM reads it, and the
// bias/relu epilogue runs on the chunk's output right after); each chunk is one GEMM (forward and backprop_input write disjoint
// output rows; backprop_filter accumulates chunk by chunk with beta = 1). A 1×1 kernel with
// stride 1 needs no im2col at all: the NHWC input already is the [N·H·W, C] col matrix.
//
// fused_conv2d's backward. Under a recording tape (a gradient of the gradient will be taken)
// it is composed of differentiable ops: relu_grad, the two gradient ops and a sum for the
// bias. Otherwise (the usual training step) chunked_backward does it in one chunked pass:
// per chunk, the relu mask and bias sums, then both gradient GEMMs on the masked chunk while
// it is in cache. Bias sums are taken over fixed 64-pixel blocks and added in block order.
//
// Threads and determinism. im2col is parallel over col rows (each written by one thread).
// col2im is parallel over input rows (n, y): the thread owning a row gathers every
// contribution to it from the chunk's col rows in a fixed order (tap row i, then ox), so no
// two threads write one element and the sums do not depend on the thread count. Chunks run
// one after another. Each GEMM (oneDNN or OpenBLAS, chosen per shape by detail::gemm) runs on
// the library-wide OpenMP threads (xgrad::set_num_threads).

#include "autograd/ops/conv2d.h"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograd/check.h"
#include "autograd/detail/blas.h"
#include "autograd/detail/record.h"
#include "autograd/memory.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/profile.h"
#include "autograd/threads.h"

namespace xgrad {

namespace {

using Index = std::ptrdiff_t;

/// Upper bound of one im2col chunk (unless a single output row is larger than this).
constexpr std::size_t kColBudgetBytes = std::size_t{2} << 20;
/// Loops touching fewer elements than this run on one thread (a parallel region costs µs).
constexpr Index kParallelMinWork = Index{1} << 15;

/// Everything the kernels need to know about one convolution, as signed extents.
struct Geometry {
  Index n, h, w, c;  // input [N, H, W, C]
  Index kh, kw, o;   // kernel [KH, KW, C, O]
  Index oh, ow;      // output [N, OH, OW, O]
  Index sh, sw, dh, dw;
  Index pad_top, pad_left;

  Index taps() const { return kh * kw * c; }  // columns of the col matrix
  Index rows() const { return n * oh; }       // (image, output row) pairs
  // A 1×1 kernel at stride 1 (never padded): the input is its own col matrix.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1; }
  Shape output_shape() const {
    return {static_cast<std::size_t>(n), static_cast<std::size_t>(oh), static_cast<std::size_t>(ow),
            static_cast<std::size_t>(o)};
  }
};

std::optional<ConvAxis> try_conv_axis(std::size_t in, std::size_t kernel, std::size_t stride,
                                      std::size_t dilation, Padding padding) {
  const std::size_t effective = (kernel - 1) * dilation + 1;
  if (padding == Padding::Valid) {
    if (in < effective) return std::nullopt;
    return ConvAxis{(in - effective) / stride + 1, 0};
  }
  if (in == 0) return std::nullopt;
  const std::size_t out = (in + stride - 1) / stride;
  const std::size_t needed = (out - 1) * stride + effective;
  const std::size_t total = needed > in ? needed - in : 0;
  return ConvAxis{out, total / 2};
}

std::string empty_reason(const char* axis, std::size_t in, std::size_t kernel, int dilation,
                         Padding padding) {
  if (padding == Padding::Same) return std::string("input ") + axis + " is 0";
  return std::string("input ") + axis + " " + std::to_string(in) + " < dilated kernel " + axis +
         " " + std::to_string((kernel - 1) * static_cast<std::size_t>(dilation) + 1) +
         " with valid padding";
}

/// Checks the options and the kernel against the input shape and computes the geometry.
/// Both shapes are rank 4 already; `context` prints the op's shapes for the messages.
Geometry make_geometry(const char* op, const Shape& in, const Shape& ker, const Conv2DOptions& opt,
                       const std::string& context) {
  check_arg(ker[0] >= 1 && ker[1] >= 1 && ker[2] >= 1 && ker[3] >= 1, op,
            "kernel extents must be >= 1; got " + context);
  check_arg(ker[2] == in[3], op,
            "kernel in-channels (axis 2) must equal the input channels (axis 3); got " + context);
  check_arg(opt.strides[0] >= 1 && opt.strides[1] >= 1, op,
            "strides must be >= 1; got strides=" + pair_to_string(opt.strides) + ", " + context);
  check_arg(
      opt.dilations[0] >= 1 && opt.dilations[1] >= 1, op,
      "dilations must be >= 1; got dilations=" + pair_to_string(opt.dilations) + ", " + context);
  const auto sh = static_cast<std::size_t>(opt.strides[0]);
  const auto sw = static_cast<std::size_t>(opt.strides[1]);
  const auto dh = static_cast<std::size_t>(opt.dilations[0]);
  const auto dw = static_cast<std::size_t>(opt.dilations[1]);
  const auto ay = try_conv_axis(in[1], ker[0], sh, dh, opt.padding);
  check_arg(ay.has_value(), op,
            "output would be empty (" +
                empty_reason("height", in[1], ker[0], opt.dilations[0], opt.padding) + "); got " +
                context);
  const auto ax = try_conv_axis(in[2], ker[1], sw, dw, opt.padding);
  check_arg(ax.has_value(), op,
            "output would be empty (" +
                empty_reason("width", in[2], ker[1], opt.dilations[1], opt.padding) + "); got " +
                context);
  auto i = [](std::size_t v) { return static_cast<Index>(v); };
  return Geometry{i(in[0]),  i(in[1]),  i(in[2]),   i(in[3]),          i(ker[0]),
                  i(ker[1]), i(ker[3]), i(ay->out), i(ax->out),        i(sh),
                  i(sw),     i(dh),     i(dw),      i(ay->pad_before), i(ax->pad_before)};
}

/// Output rows (n, oy) per im2col chunk.
Index chunk_rows(const Geometry& g) {
  const Index row_elems = g.ow * g.taps();
  const Index budget = static_cast<Index>(kColBudgetBytes / sizeof(real));
  return std::clamp<Index>(budget / row_elems, 1, g.rows());
}

/// The im2col buffer of one chunk, from the tensor cache.
using Workspace = detail::CachedBuffer<real>;

Workspace workspace(const Geometry& g, Index chunk) {
  return Workspace(static_cast<std::size_t>(chunk * g.ow * g.taps()));
}

/// The kernel taps j in [j_begin, j_end) of a row of the (undilated) window that starts at
/// column x0 land inside the image.
void valid_taps(Index x0, Index kw, Index w, Index& j_begin, Index& j_end) {
  j_begin = std::clamp<Index>(-x0, 0, kw);
  j_end = std::clamp<Index>(w - x0, j_begin, kw);
}

/// Window rows of at most this many elements (KW·C) are copied element by element.
constexpr Index kShortRun = 16;

/// Writes col rows for output rows [row0, row0 + rows) into `col` ([rows·OW, taps]).
void im2col(const Geometry& g, const real* input, Index row0, Index rows, real* col) {
  const Index taps = g.taps(), c = g.c, count = rows * g.ow;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (count * taps >= kParallelMinWork)
  for (Index t = 0; t < count; ++t) {
    const Index r = row0 + t / g.ow, ox = t % g.ow;
    const Index n = r / g.oh, oy = r % g.oh;
    const Index x0 = ox * g.sw - g.pad_left;
    real* dst = col + t * taps;
    for (Index i = 0; i < g.kh; ++i, dst += g.kw * c) {
      const Index y = oy * g.sh + i * g.dh - g.pad_top;
      if (y < 0 || y >= g.h) {
        std::fill_n(dst, g.kw * c, real(0));
        continue;
      }
      const real* src = input + (n * g.h + y) * g.w * c;
      if (g.dw == 1 && g.kw * c <= kShortRun) {
        // A short window row (the first layer's 3 taps × 1 channel): element by element, with
        // the bounds test inline — a library copy per 3 floats costs more than the data.
        const Index first = x0 * c, row_end = g.w * c;
        for (Index e = 0; e < g.kw * c; ++e) {
          const Index x = first + e;
          dst[e] = x >= 0 && x < row_end ? src[x] : real(0);
        }
      } else if (g.dw == 1) {
        // The in-image taps of this window row are one contiguous run of the input row.
        Index jb, je;
        valid_taps(x0, g.kw, g.w, jb, je);
        std::fill_n(dst, jb * c, real(0));
        if (je > jb) std::copy_n(src + (x0 + jb) * c, (je - jb) * c, dst + jb * c);
        std::fill_n(dst + je * c, (g.kw - je) * c, real(0));
      } else {
        for (Index j = 0; j < g.kw; ++j) {
          const Index x = x0 + j * g.dw;
          if (x >= 0 && x < g.w) {
            std::copy_n(src + x * c, c, dst + j * c);
          } else {
            std::fill_n(dst + j * c, c, real(0));
          }
        }
      }
    }
  }
}

inline void add_into(real* __restrict dst, const real* __restrict src, Index count) {
  for (Index e = 0; e < count; ++e) dst[e] += src[e];
}

/// Adds col rows for output rows [row0, row0 + rows) back into `grad_input` (the adjoint of
/// im2col). Parallel over input rows; each row sums its contributions in a fixed order.
void col2im_add(const Geometry& g, const real* col, Index row0, Index rows, real* grad_input) {
  struct Task {
    Index n, y, oy_begin, oy_end;  // input row (n, y), fed by output rows [oy_begin, oy_end)
  };
  std::vector<Task> tasks;
  const Index row_end = row0 + rows;
  for (Index n = row0 / g.oh; n * g.oh < row_end; ++n) {
    const Index oy_begin = std::max(row0, n * g.oh) - n * g.oh;
    const Index oy_end = std::min(row_end, (n + 1) * g.oh) - n * g.oh;
    const Index y_begin = std::max<Index>(0, oy_begin * g.sh - g.pad_top);
    const Index y_end =
        std::min<Index>(g.h, (oy_end - 1) * g.sh + (g.kh - 1) * g.dh - g.pad_top + 1);
    for (Index y = y_begin; y < y_end; ++y) tasks.push_back({n, y, oy_begin, oy_end});
  }
  const Index taps = g.taps(), c = g.c, count = static_cast<Index>(tasks.size());
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) \
    schedule(static) if (rows * g.ow * taps >= kParallelMinWork)
  for (Index t = 0; t < count; ++t) {
    const Task task = tasks[static_cast<std::size_t>(t)];
    real* dst = grad_input + (task.n * g.h + task.y) * g.w * c;
    for (Index i = 0; i < g.kh; ++i) {
      // Output row oy reads input row y through tap row i iff oy·sh + i·dh - pad_top = y.
      const Index num = task.y + g.pad_top - i * g.dh;
      if (num < 0 || num % g.sh != 0) continue;
      const Index oy = num / g.sh;
      if (oy < task.oy_begin || oy >= task.oy_end) continue;
      const real* src = col + ((task.n * g.oh + oy - row0) * g.ow) * taps + i * g.kw * c;
      for (Index ox = 0; ox < g.ow; ++ox, src += taps) {
        const Index x0 = ox * g.sw - g.pad_left;
        if (g.dw == 1) {
          Index jb, je;
          valid_taps(x0, g.kw, g.w, jb, je);
          if (je > jb) add_into(dst + (x0 + jb) * c, src + jb * c, (je - jb) * c);
        } else {
          for (Index j = 0; j < g.kw; ++j) {
            const Index x = x0 + j * g.dw;
            if (x >= 0 && x < g.w) add_into(dst + x * c, src + j * c, c);
          }
        }
      }
    }
  }
}

// ---- The three kernels on raw buffers -------------------------------------------------

/// What conv_forward applies to its output after the GEMM: y = act(y + bias).
struct Epilogue {
  const real* bias = nullptr;  // [O] or none
  bool relu = false;
};

template <bool kBias, bool kRelu>
void apply_epilogue(real* out, Index count, Index o, const real* bias) {
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (count * o >= kParallelMinWork)
  for (Index r = 0; r < count; ++r) {
    real* __restrict y = out + r * o;
    for (Index k = 0; k < o; ++k) {
      real v = y[k];
      if constexpr (kBias) v += bias[k];
      if constexpr (kRelu) v = v > real(0) ? v : real(0);
      y[k] = v;
    }
  }
}

/// The epilogue over `count` output pixels (rows of O values).
void apply_epilogue(const Epilogue& e, real* out, Index count, Index o) {
  if (e.bias && e.relu) {
    apply_epilogue<true, true>(out, count, o, e.bias);
  } else if (e.bias) {
    apply_epilogue<true, false>(out, count, o, e.bias);
  } else if (e.relu) {
    apply_epilogue<false, true>(out, count, o, nullptr);
  }
}

void conv_forward(const Geometry& g, const real* input, const real* kernel, real* out,
                  const Epilogue& epilogue = {}) {
  if (g.rows() == 0) return;
  const auto taps = static_cast<std::size_t>(g.taps()), o = static_cast<std::size_t>(g.o);
  if (g.pointwise()) {
    const Index pixels = g.n * g.h * g.w;
    detail::gemm(false, false, static_cast<std::size_t>(pixels), o, taps, 1, input, taps, kernel, o,
                 0, out, o);
    apply_epilogue(epilogue, out, pixels, g.o);
    return;
  }
  const Index chunk = chunk_rows(g);
  auto col = workspace(g, chunk);
  for (Index row0 = 0; row0 < g.rows(); row0 += chunk) {
    const Index rows = std::min(chunk, g.rows() - row0);
    real* out_chunk = out + row0 * g.ow * g.o;
    im2col(g, input, row0, rows, col.get());
    detail::gemm(false, false, static_cast<std::size_t>(rows * g.ow), o, taps, 1, col.get(), taps,
                 kernel, o, 0, out_chunk, o);
    apply_epilogue(epilogue, out_chunk, rows * g.ow, g.o);  // while the chunk is in cache
  }
}

/// Pixels per block of the fused backward's bias sum: a fixed size, so the sum's order (and
/// result) does not depend on the thread count.
constexpr Index kBiasBlock = 64;

/// For `pixels` rows of O values: with kMask, gz = grad · (y > 0) (relu's backward, as
/// relu_grad); with kSum, the sum of gz over every block of kBiasBlock rows into `partial`
/// ([blocks, O]; without kMask gz is grad itself).
template <bool kMask, bool kSum>
void mask_and_block_sums(const real* grad, const real* y, Index pixels, Index o, real* gz,
                         real* partial) {
  const Index blocks = (pixels + kBiasBlock - 1) / kBiasBlock;
  const int threads = num_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (pixels * o >= kParallelMinWork)
  for (Index b = 0; b < blocks; ++b) {
    real* __restrict sum = kSum ? partial + b * o : nullptr;
    if constexpr (kSum) std::fill_n(sum, o, real(0));
    const Index end = std::min(pixels, (b + 1) * kBiasBlock);
    for (Index p = b * kBiasBlock; p < end; ++p) {
      const real* __restrict gp = grad + p * o;
      const real* __restrict yp = kMask ? y + p * o : nullptr;
      real* __restrict zp = kMask ? gz + p * o : nullptr;
      for (Index k = 0; k < o; ++k) {
        real v = gp[k];
        if constexpr (kMask) {
          v = yp[k] > real(0) ? v : real(0);
          zp[k] = v;
        }
        if constexpr (kSum) sum[k] += v;
      }
    }
  }
}

/// The gradients of a convolution, chunk by chunk: gz = grad masked by relu (y > 0) when `y`
/// is given, then per chunk the bias sum, the filter gradient (im2col + GEMM, accumulated)
/// and the input gradient (GEMM + col2im). Serves conv2d_backprop_input/_filter (one result
/// each) and fused_conv2d's backward when no tape records it, where gz is then never
/// materialised whole and every chunk of it is read while it is still in cache (the
/// composed backward makes three full passes over gz). Any of the three results may be null
/// (not needed). Not for pointwise geometries.
void chunked_backward(const Geometry& g, const real* input, const real* kernel, const real* grad,
                      const real* y, real* grad_input, real* grad_kernel, real* grad_bias) {
  const auto taps = static_cast<std::size_t>(g.taps()), o = static_cast<std::size_t>(g.o);
  if (grad_input) std::fill_n(grad_input, g.n * g.h * g.w * g.c, real(0));
  if (grad_kernel) std::fill_n(grad_kernel, g.taps() * g.o, real(0));
  if (grad_bias) std::fill_n(grad_bias, g.o, real(0));
  if (g.rows() == 0) return;
  // The chunk's col matrix and its gz rows together stay within the budget.
  const Index row_elems = g.ow * (g.taps() + (y ? g.o : 0));
  const Index chunk = std::clamp<Index>(static_cast<Index>(kColBudgetBytes / sizeof(real)) / row_elems, 1,
                                        g.rows());
  const Index chunk_pixels = chunk * g.ow;
  auto col = workspace(g, chunk);
  std::optional<detail::CachedBuffer<real>> gz_buffer, partial;
  if (y) gz_buffer.emplace(static_cast<std::size_t>(chunk_pixels * g.o));
  if (grad_bias) partial.emplace(static_cast<std::size_t>((chunk_pixels + kBiasBlock - 1) / kBiasBlock * g.o));
  for (Index row0 = 0; row0 < g.rows(); row0 += chunk) {
    const Index rows = std::min(chunk, g.rows() - row0), pixels = rows * g.ow;
    const real* grad_chunk = grad + row0 * g.ow * g.o;
    const real* gz = grad_chunk;
    const real* y_chunk = y ? y + row0 * g.ow * g.o : nullptr;
    real* sums = grad_bias ? partial->get() : nullptr;
    if (y && grad_bias) {
      mask_and_block_sums<true, true>(grad_chunk, y_chunk, pixels, g.o, gz_buffer->get(), sums);
    } else if (y) {
      mask_and_block_sums<true, false>(grad_chunk, y_chunk, pixels, g.o, gz_buffer->get(), nullptr);
    } else if (grad_bias) {
      mask_and_block_sums<false, true>(grad_chunk, nullptr, pixels, g.o, nullptr, sums);
    }
    if (y) gz = gz_buffer->get();
    if (grad_bias) {
      // Block sums in block order: the same result for every thread count.
      const Index blocks = (pixels + kBiasBlock - 1) / kBiasBlock;
      for (Index b = 0; b < blocks; ++b) {
        for (Index k = 0; k < g.o; ++k) grad_bias[k] += sums[b * g.o + k];
      }
    }
    if (grad_kernel) {
      im2col(g, input, row0, rows, col.get());
      detail::gemm(true, false, taps, o, static_cast<std::size_t>(pixels), 1, col.get(), taps, gz, o, 1,
                   grad_kernel, o);
    }
    if (grad_input) {
      detail::gemm(false, true, static_cast<std::size_t>(pixels), taps, o, 1, gz, o, kernel, o, 0,
                   col.get(), taps);
      col2im_add(g, col.get(), row0, rows, grad_input);
    }
  }
}

void conv_backprop_input(const Geometry& g, const real* grad_out, const real* kernel,
                         real* grad_in) {
  if (!g.pointwise()) {
    chunked_backward(g, nullptr, kernel, grad_out, nullptr, grad_in, nullptr, nullptr);
    return;
  }
  const auto taps = static_cast<std::size_t>(g.taps()), o = static_cast<std::size_t>(g.o);
  detail::gemm(false, true, static_cast<std::size_t>(g.n * g.h * g.w), taps, o, 1, grad_out, o,
               kernel, o, 0, grad_in, taps);
}

void conv_backprop_filter(const Geometry& g, const real* input, const real* grad_out,
                          real* grad_kernel) {
  if (!g.pointwise() || g.rows() == 0) {
    chunked_backward(g, input, nullptr, grad_out, nullptr, nullptr, grad_kernel, nullptr);
    return;
  }
  const auto taps = static_cast<std::size_t>(g.taps()), o = static_cast<std::size_t>(g.o);
  detail::gemm(true, false, taps, o, static_cast<std::size_t>(g.n * g.h * g.w), 1, input, taps,
               grad_out, o, 0, grad_kernel, o);
}

std::string shapes(const char* name_a, const Shape& a, const char* name_b, const Shape& b) {
  return std::string(name_a) + "=" + shape_to_string(a) + ", " + name_b + "=" + shape_to_string(b);
}

/// The checks and geometry of a forward convolution of `input` by `kernel`.
Geometry forward_geometry(const char* op, const Tensor& input, const Tensor& kernel,
                          const Conv2DOptions& options) {
  check_rank(op, "input", input.shape(), 4, "[N, H, W, C]");
  check_rank(op, "kernel", kernel.shape(), 4, "[KH, KW, C, O]");
  return make_geometry(op, input.shape(), kernel.shape(), options,
                       shapes("input.shape", input.shape(), "kernel.shape", kernel.shape()));
}

}  // namespace

ConvAxis conv_axis(const char* op, std::size_t in, std::size_t kernel, int stride, int dilation,
                   Padding padding) {
  check_arg(kernel >= 1, op, "kernel extent must be >= 1; got " + std::to_string(kernel));
  check_arg(stride >= 1, op, "stride must be >= 1; got " + std::to_string(stride));
  check_arg(dilation >= 1, op, "dilation must be >= 1; got " + std::to_string(dilation));
  const auto axis = try_conv_axis(in, kernel, static_cast<std::size_t>(stride),
                                  static_cast<std::size_t>(dilation), padding);
  check_arg(
      axis.has_value(), op,
      "output would be empty (" + empty_reason("extent", in, kernel, dilation, padding) + ")");
  return *axis;
}

Tensor conv2d(const Tensor& input, const Tensor& kernel, const Conv2DOptions& options) {
  const detail::ProfileScope profile_scope("conv2d");
  constexpr const char* op = "conv2d";
  const Geometry g = forward_geometry(op, input, kernel, options);

  Array out = empty_array(g.output_shape());
  conv_forward(g, input.data(), kernel.data(), out.data());

  return detail::record(
      op, Tensor(std::move(out)), {input, kernel},
      detail::BackwardFn([input, kernel, options](const Tensor& grad,
                                                  const detail::NeededInputs& needed) {
        return std::vector<Tensor>{
            needed[0] ? conv2d_backprop_input(grad, kernel, input.shape(), options) : Tensor(),
            needed[1] ? conv2d_backprop_filter(input, grad, kernel.shape(), options) : Tensor()};
      }));
}

Tensor conv2d_backprop_input(const Tensor& grad_output, const Tensor& kernel,
                             const Shape& input_shape, const Conv2DOptions& options) {
  const detail::ProfileScope profile_scope("conv2d_backprop_input");
  constexpr const char* op = "conv2d_backprop_input";
  check_rank(op, "grad_output", grad_output.shape(), 4, "[N, OH, OW, O]");
  check_rank(op, "kernel", kernel.shape(), 4, "[KH, KW, C, O]");
  const std::string context =
      shapes("grad_output.shape", grad_output.shape(), "kernel.shape", kernel.shape()) +
      ", input_shape=" + shape_to_string(input_shape);
  check_arg(input_shape.size() == 4, op, "input_shape must be rank 4 [N, H, W, C]; got " + context);
  const Geometry g = make_geometry(op, input_shape, kernel.shape(), options, context);
  check_arg(grad_output.shape() == g.output_shape(), op,
            "grad_output must have the conv2d output shape " + shape_to_string(g.output_shape()) +
                "; got " + context);

  Array grad_input = empty_array(input_shape);
  conv_backprop_input(g, grad_output.data(), kernel.data(), grad_input.data());

  // Linear in both arguments: <h, bpi(g, k)> = <conv2d(h, k), g>.
  return detail::record(
      op, Tensor(std::move(grad_input)), {grad_output, kernel},
      detail::BackwardFn([grad_output, kernel, options](const Tensor& h,
                                                        const detail::NeededInputs& needed) {
        return std::vector<Tensor>{
            needed[0] ? conv2d(h, kernel, options) : Tensor(),
            needed[1] ? conv2d_backprop_filter(h, grad_output, kernel.shape(), options) : Tensor()};
      }));
}

Tensor conv2d_backprop_filter(const Tensor& input, const Tensor& grad_output,
                              const Shape& kernel_shape, const Conv2DOptions& options) {
  const detail::ProfileScope profile_scope("conv2d_backprop_filter");
  constexpr const char* op = "conv2d_backprop_filter";
  check_rank(op, "input", input.shape(), 4, "[N, H, W, C]");
  check_rank(op, "grad_output", grad_output.shape(), 4, "[N, OH, OW, O]");
  const std::string context =
      shapes("input.shape", input.shape(), "grad_output.shape", grad_output.shape()) +
      ", kernel_shape=" + shape_to_string(kernel_shape);
  check_arg(kernel_shape.size() == 4, op,
            "kernel_shape must be rank 4 [KH, KW, C, O]; got " + context);
  const Geometry g = make_geometry(op, input.shape(), kernel_shape, options, context);
  check_arg(grad_output.shape() == g.output_shape(), op,
            "grad_output must have the conv2d output shape " + shape_to_string(g.output_shape()) +
                "; got " + context);

  Array grad_kernel = empty_array(kernel_shape);
  conv_backprop_filter(g, input.data(), grad_output.data(), grad_kernel.data());

  // Linear in both arguments: <h, bpf(x, g)> = <conv2d(x, h), g>.
  return detail::record(
      op, Tensor(std::move(grad_kernel)), {input, grad_output},
      detail::BackwardFn([input, grad_output, options](const Tensor& h,
                                                       const detail::NeededInputs& needed) {
        return std::vector<Tensor>{
            needed[0] ? conv2d_backprop_input(grad_output, h, input.shape(), options) : Tensor(),
            needed[1] ? conv2d(input, h, options) : Tensor()};
      }));
}

Tensor fused_conv2d(const Tensor& input, const Tensor& kernel, const Tensor& bias,
                    const Conv2DOptions& options, FusedActivation activation) {
  const detail::ProfileScope profile_scope("fused_conv2d");
  constexpr const char* op = "fused_conv2d";
  const Geometry g = forward_geometry(op, input, kernel, options);
  if (bias.defined()) {
    check_arg(bias.shape() == Shape{kernel.shape()[3]}, op,
              "bias must be [O] = [" + std::to_string(kernel.shape()[3]) + "]; got " +
                  shapes("bias.shape", bias.shape(), "kernel.shape", kernel.shape()));
  }
  const bool relu = activation == FusedActivation::Relu;

  Array out = empty_array(g.output_shape());
  conv_forward(g, input.data(), kernel.data(), out.data(),
               Epilogue{bias.defined() ? bias.data() : nullptr, relu});
  Tensor output(std::move(out));

  std::vector<Tensor> inputs{input, kernel};
  if (bias.defined()) inputs.push_back(bias);
  // Captures the output (for relu's mask), never the pre-activation.
  return detail::record(
      op, output, inputs,
      detail::BackwardFn([input, kernel, options, g, relu, has_bias = bias.defined(),
                          y = relu ? output : Tensor()](const Tensor& grad,
                                                        const detail::NeededInputs& needed) {
        if (!detail::any_tape_recording() && !g.pointwise()) {
          // Nobody records this backward (no gradient of it will be asked for): one fused
          // chunked pass instead of the composed, differentiable ops below.
          Array gi, gk, gb;
          if (needed[0]) gi = empty_array(input.shape());
          if (needed[1]) gk = empty_array(kernel.shape());
          if (has_bias && needed[2]) gb = empty_array({kernel.shape()[3]});
          chunked_backward(g, input.data(), kernel.data(), grad.data(), relu ? y.data() : nullptr,
                              needed[0] ? gi.data() : nullptr, needed[1] ? gk.data() : nullptr,
                              has_bias && needed[2] ? gb.data() : nullptr);
          std::vector<Tensor> grads{needed[0] ? Tensor(std::move(gi)) : Tensor(),
                                    needed[1] ? Tensor(std::move(gk)) : Tensor()};
          if (has_bias) grads.push_back(needed[2] ? Tensor(std::move(gb)) : Tensor());
          return grads;
        }
        const Tensor gz = relu ? relu_grad(grad, y) : grad;
        std::vector<Tensor> grads{
            needed[0] ? conv2d_backprop_input(gz, kernel, input.shape(), options) : Tensor(),
            needed[1] ? conv2d_backprop_filter(input, gz, kernel.shape(), options) : Tensor()};
        if (has_bias) grads.push_back(needed[2] ? sum(gz, {0, 1, 2}) : Tensor());
        return grads;
      }));
}

}  // namespace xgrad
