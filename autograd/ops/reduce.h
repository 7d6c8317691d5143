#pragma once
/// \file
/// Reductions over axes, and the broadcast/un-broadcast pair every binary op's backward uses.
/// `axes` may hold negative values (-1 = last axis); an empty list reduces over every axis.
/// Duplicate or out-of-range axes throw std::invalid_argument naming the op and the shape.

#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// Σ over `axes`; with keepdims the reduced axes stay with extent 1.
/// d/da = the incoming gradient broadcast back to a's shape.
Tensor sum(const Tensor& a, const std::vector<int>& axes = {}, bool keepdims = false);
/// Mean over `axes`.  d/da = broadcast gradient / (number of reduced elements).
Tensor mean(const Tensor& a, const std::vector<int>& axes = {}, bool keepdims = false);
/// Max over `axes`. The gradient is split evenly between tied maxima (as TensorFlow does).
Tensor max(const Tensor& a, const std::vector<int>& axes = {}, bool keepdims = false);

/// Broadcasts `a` to `shape` under NumPy rules.  d/da = reduce_to_shape(g, a.shape).
Tensor broadcast_to(const Tensor& a, const Shape& shape);
/// Sums `a` over the axes along which `shape` was broadcast to a.shape() (leading axes, and
/// axes where `shape` has extent 1), then reshapes to `shape`. Identity when the shapes are
/// equal. The backward of every broadcasting op. d/da = broadcast_to(g, a.shape).
Tensor reduce_to_shape(const Tensor& a, const Shape& shape);

}  // namespace xgrad
