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
///   L = mean( y·½·max(0, d - positive_margin)² + (1 - y)·½·max(0, margin - d)² )
/// with d the distance [N] between the two embeddings of each pair and y ∈ {0, 1} [N]
/// (1 = same). Different-class pairs are pushed apart until they are `margin` away;
/// same-class pairs are pulled together until they are within `positive_margin`. With
/// positive_margin = 0 (the default) this is Hadsell et al.'s loss, which pulls every
/// same-class pair to one point; a positive margin (the "double-margin" contrastive loss of
/// pytorch-metric-learning's ContrastiveLoss(pos_margin, neg_margin)) stops pulling once a
/// pair is close enough, which keeps within-class variation the training classes do not need
/// but unseen classes do (see the README's one-shot figures).
/// dL/dd_i = (y_i·max(0, d_i - positive_margin) - (1 - y_i)·max(0, margin - d_i)) / N,
/// continuous at both margins. Throws std::invalid_argument for shapes other than two equal
/// [N], labels outside [0, 1], a margin that is not finite and > 0, or a positive_margin
/// that is not finite and in [0, margin).
Tensor contrastive_loss(const Tensor& distance, const Tensor& same, real margin = 1,
                        real positive_margin = 0);

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
