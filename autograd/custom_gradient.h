#pragma once
/// \file
/// `custom_gradient`: define a new differentiable op without touching the engine.

#include <functional>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// Computes forward(inputs) and records it on the active tapes as one op named `name`,
/// whose backward is `backward(inputs, output, grad_output)`, returning one gradient per
/// input (an undefined Tensor for "no gradient"), each of its input's shape.
///
/// `forward` runs with every tape paused, so the ops inside it are not recorded: only
/// `backward` defines the gradient (TensorFlow's tf.custom_gradient). Write `backward`
/// with ops to make the new op twice differentiable.
/// \code
///   // log(1 + e^x) with a stable gradient
///   Tensor log1pexp(const Tensor& x) {
///     return custom_gradient("log1pexp", {x},
///         [](const std::vector<Tensor>& in) { return softplus(in[0]); },
///         [](const std::vector<Tensor>& in, const Tensor&, const Tensor& g) {
///           return std::vector<Tensor>{g * sigmoid(in[0])};
///         });
///   }
/// \endcode
Tensor custom_gradient(
    const char* name, const std::vector<Tensor>& inputs,
    const std::function<Tensor(const std::vector<Tensor>&)>& forward,
    std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const Tensor& output,
                                      const Tensor& grad_output)>
        backward);

}  // namespace xgrad
