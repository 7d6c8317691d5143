#pragma once
/// \file
/// 2-D convolution in TensorFlow's layout: input NHWC, kernel HWIO (height, width, in
/// channels, out channels), output NHWC. Padding and output sizes follow TensorFlow:
///   valid: out = ceil((in - (k-1)·d) / s)         no padding
///   same:  out = ceil(in / s), total padding = max((out-1)·s + (k-1)·d + 1 - in, 0),
///          of which floor(total/2) goes before (top/left) and the rest after.
/// All three ops run as GEMMs (im2col in bounded chunks; oneDNN or OpenBLAS sgemm, dgemm in
/// the double build); a 1×1 kernel at stride 1 skips im2col. Results are deterministic for a
/// given thread count.

#include <array>

#include "autograd/tensor.h"

namespace xgrad {

/// How a window op pads its input (TensorFlow semantics, see above).
enum class Padding { Valid, Same };

/// Strides, dilations and padding of a convolution.
struct Conv2DOptions {
  std::array<int, 2> strides{1, 1};    ///< {height, width}, >= 1
  std::array<int, 2> dilations{1, 1};  ///< {height, width}, >= 1
  Padding padding = Padding::Valid;
};

/// out[n, y, x, o] = Σ_{i,j,c} input[n, y·sh + i·dh - pad_top, x·sw + j·dw - pad_left, c]
///                              · kernel[i, j, c, o]   (out-of-range input reads are 0).
/// input [N, H, W, C], kernel [KH, KW, C, O] → [N, OH, OW, O].
/// d/dinput = conv2d_backprop_input(g, kernel), d/dkernel = conv2d_backprop_filter(input, g).
/// Throws std::invalid_argument (naming "conv2d" and the shapes) for wrong ranks, channel
/// mismatch, strides/dilations < 1, or an empty output.
Tensor conv2d(const Tensor& input, const Tensor& kernel, const Conv2DOptions& options = {});

/// The gradient of conv2d with respect to its input: the transpose of conv2d applied to
/// `grad_output` [N, OH, OW, O] with `kernel` [KH, KW, C, O]; returns [N, H, W, C] for
/// `input_shape` = {N, H, W, C}. Linear in both arguments and differentiable:
/// d/dgrad_output = conv2d(h, kernel), d/dkernel = conv2d_backprop_filter(h, grad_output).
/// Throws like conv2d, and when grad_output is not conv2d's output shape for input_shape.
Tensor conv2d_backprop_input(const Tensor& grad_output, const Tensor& kernel,
                             const Shape& input_shape, const Conv2DOptions& options = {});

/// The gradient of conv2d with respect to its kernel: returns [KH, KW, C, O] for
/// `kernel_shape`, from `input` [N, H, W, C] and `grad_output` [N, OH, OW, O]. Linear in
/// both arguments and differentiable: d/dinput = conv2d_backprop_input(grad_output, h),
/// d/dgrad_output = conv2d(input, h).
/// Throws like conv2d, and when grad_output is not conv2d's output shape for kernel_shape.
Tensor conv2d_backprop_filter(const Tensor& input, const Tensor& grad_output,
                              const Shape& kernel_shape, const Conv2DOptions& options = {});

/// The activation fused_conv2d applies after the bias.
enum class FusedActivation { Linear, Relu };

/// activation(conv2d(input, kernel) + bias) as one op, as Keras's Conv2D layer computes it:
/// the bias and the activation are applied to each chunk of the GEMM output while it is
/// still in cache, instead of in two more passes over the whole output, and the
/// pre-activation is never stored. `bias` is [O], or an undefined Tensor for none.
/// Backward (with ops, so differentiable again): gz = relu_grad(g, output) (or g when
/// Linear), d/dinput = conv2d_backprop_input(gz, kernel), d/dkernel =
/// conv2d_backprop_filter(input, gz), d/dbias = gz summed over N, OH, OW.
/// Throws like conv2d, and when bias is not [O] (naming "fused_conv2d" and the shapes).
Tensor fused_conv2d(const Tensor& input, const Tensor& kernel, const Tensor& bias,
                    const Conv2DOptions& options = {},
                    FusedActivation activation = FusedActivation::Linear);

/// Output extent of one spatial axis (TensorFlow arithmetic) and the padding before it.
struct ConvAxis {
  std::size_t out;
  std::size_t pad_before;
};
/// Throws std::invalid_argument naming `op` when the output would be empty, or when the
/// kernel extent, stride or dilation is < 1.
ConvAxis conv_axis(const char* op, std::size_t in, std::size_t kernel, int stride, int dilation,
                   Padding padding);

}  // namespace xgrad
