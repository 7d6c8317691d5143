#pragma once
/// \file
/// Siamese losses, composed of autograd ops (no hand-written backward).
///
/// Label convention everywhere in xgrad::siamese: **1 = same class (genuine pair),
/// 0 = different classes (impostor pair)**, as a float tensor. Values in between weight the
/// two terms (soft labels); values outside [0, 1] (or NaN) are rejected.
///
/// Every loss takes rank-1 tensors [N] (N >= 1) of one length and returns a scalar (rank 0).
/// Gradients flow to the distances (and to `same`, where it is watched). Errors are
/// std::invalid_argument naming the loss and printing the shapes or the offending value.

#include "autograd/tensor.h"

namespace xgrad::siamese {

/// Contrastive loss (Hadsell, Chopra & LeCun 2006), mean over the batch:
///   L = mean( y·½d² + (1 - y)·½·max(0, margin - d)² )
/// with d the distance [N] between the two embeddings of each pair and y ∈ {0, 1} [N]
/// (1 = same). Same-class pairs are pulled together; different-class pairs are pushed
/// apart until they are `margin` away. dL/dd_i = (y_i·d_i - (1 - y_i)·max(0, margin - d_i)) / N,
/// continuous at d = margin. Throws std::invalid_argument for shapes other than two equal
/// [N], labels outside [0, 1], or a margin that is not finite and > 0.
Tensor contrastive_loss(const Tensor& distance, const Tensor& same, real margin = 1);

/// The seed article's "euclidean loss", done right: mean( y·d² ) — the squared distance of
/// same-class pairs only (the article's code summed it for *different* pairs and was zero
/// for same ones). Alone it has a trivial minimum — every input mapped to one point — so it
/// collapses the embedding; use it with contrastive or triplet terms, or expect
/// verification metrics near chance. Throws std::invalid_argument as contrastive_loss.
Tensor euclidean_loss(const Tensor& distance, const Tensor& same);

/// Triplet loss with margin (Schroff et al. 2015, FaceNet), mean over the batch:
///   L = mean( max(0, d(a, p)² - d(a, n)² + margin) )
/// from the distances [N] anchor–positive and anchor–negative. Throws std::invalid_argument
/// for shapes other than two equal [N], or a margin that is not finite and > 0.
Tensor triplet_loss(const Tensor& positive_distance, const Tensor& negative_distance,
                    real margin = 1);

}  // namespace xgrad::siamese
