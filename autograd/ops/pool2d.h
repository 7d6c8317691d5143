#pragma once
/// \file
/// 2-D pooling over NHWC tensors, TensorFlow semantics: windows and strides per spatial
/// axis, `valid`/`same` padding with conv2d's arithmetic (dilation 1). Padded positions never
/// win a max and are not counted in an average (TensorFlow's avg_pool divides by the number
/// of real input elements in each window).
///
/// Both ops throw std::invalid_argument (naming the op and printing the input shape) for an
/// input of rank other than 4, a window or stride < 1, or an empty output.

#include <array>

#include "autograd/ops/conv2d.h"

namespace xgrad {

/// Window, strides and padding of a pooling op.
struct Pool2DOptions {
  std::array<int, 2> window{2, 2};   ///< {height, width}, >= 1
  std::array<int, 2> strides{2, 2};  ///< {height, width}, >= 1
  Padding padding = Padding::Valid;
};

/// Max over each window, per channel. input [N, H, W, C] → [N, OH, OW, C].
/// The gradient goes to the (first, in row-major window order) maximum of each window.
/// Its backward is itself differentiable (the second derivative w.r.t. the incoming
/// gradient gathers at the same positions).
Tensor max_pool2d(const Tensor& input, const Pool2DOptions& options = {});

/// Mean over each window's real (unpadded) elements. input [N, H, W, C] → [N, OH, OW, C].
/// Linear; its backward spreads each output gradient evenly over its window, and is
/// differentiable too.
Tensor avg_pool2d(const Tensor& input, const Pool2DOptions& options = {});

}  // namespace xgrad
