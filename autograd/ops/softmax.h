#pragma once
/// \file
/// Softmax, log-softmax and the softmax cross-entropy, computed stably (the maximum is
/// subtracted before exponentiating).

#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad {

/// softmax(x)ᵢ = e^(xᵢ - m) / Σⱼ e^(xⱼ - m) along `axis`, m = max(x).
/// d/dx = s ⊙ (g - Σ(g ⊙ s)) with s = softmax(x).
Tensor softmax(const Tensor& x, int axis = -1);
/// log_softmax(x) = x - m - log Σ e^(x - m) along `axis`.
/// d/dx = g - softmax(x) ⊙ Σ g.
Tensor log_softmax(const Tensor& x, int axis = -1);
/// Per-example cross-entropy -Σ labels ⊙ log_softmax(logits) along `axis` (that axis is
/// removed from the result). labels must have the logits' shape (a probability
/// distribution per example, e.g. one-hot). Differentiable in both arguments.
Tensor softmax_cross_entropy(const Tensor& labels, const Tensor& logits, int axis = -1);
/// The same with integer class labels: logits [N, C], labels N values in [0, C) → [N].
Tensor sparse_softmax_cross_entropy(const std::vector<std::int64_t>& labels,
                                    const Tensor& logits);

}  // namespace xgrad
