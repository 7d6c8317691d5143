#include "siamese/losses.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace xgrad::siamese {

namespace {

[[noreturn]] void fail(const char* loss, const std::string& message) {
  throw std::invalid_argument(std::string(loss) + ": " + message);
}

// Two defined rank-1 tensors of one length N >= 1.
void check_pair_vectors(const char* loss, const char* name_a, const Tensor& a, const char* name_b,
                        const Tensor& b) {
  if (!a.defined() || !b.defined()) {
    fail(loss, std::string(name_a) + " and " + name_b + " must be defined tensors");
  }
  if (a.rank() != 1 || b.rank() != 1 || a.shape() != b.shape() || a.size() == 0) {
    fail(loss, std::string(name_a) + " and " + name_b +
                   " must be non-empty rank-1 tensors [N] of equal length; got " + name_a +
                   ".shape=" + shape_to_string(a.shape()) + ", " + name_b +
                   ".shape=" + shape_to_string(b.shape()));
  }
}

void check_margin(const char* loss, real margin) {
  // !(margin > 0) also rejects NaN.
  if (!(margin > 0) || !std::isfinite(margin)) {
    std::ostringstream os;
    os << "margin must be finite and > 0; got " << margin;
    fail(loss, os.str());
  }
}

// Labels are weights of the "same" term: 1 = same class, 0 = different. Values outside
// [0, 1] (a -1/+1 convention, class ids, NaN) would silently turn a loss term negative.
void check_labels(const char* loss, const Tensor& same) {
  for (std::size_t i = 0; i < same.size(); ++i) {
    const real y = same.data()[i];
    if (!(y >= 0 && y <= 1)) {
      std::ostringstream os;
      os << "same must hold labels in [0, 1] (1 = same class, 0 = different); got same[" << i
         << "]=" << y << " (same.shape=" << shape_to_string(same.shape()) << ")";
      fail(loss, os.str());
    }
  }
}

}  // namespace

Tensor contrastive_loss(const Tensor& distance, const Tensor& same, real margin,
                        real positive_margin) {
  check_pair_vectors("contrastive_loss", "distance", distance, "same", same);
  check_margin("contrastive_loss", margin);
  // Also rejects NaN. A positive margin at or beyond the negative one would ask same-class
  // pairs to be no closer than different-class ones.
  if (!(positive_margin >= 0 && positive_margin < margin)) {
    std::ostringstream os;
    os << "positive_margin must be finite and in [0, margin); got positive_margin="
       << positive_margin << ", margin=" << margin;
    fail("contrastive_loss", os.str());
  }
  check_labels("contrastive_loss", same);
  // relu(m - d)² is max(0, m - d)²: its derivative -2·max(0, m - d) is continuous at d = m,
  // so the kink is only in the second derivative (likewise at d = positive_margin).
  const Tensor pull = positive_margin > 0 ? same * square(relu(distance - positive_margin))
                                          : same * square(distance);
  const Tensor push = (real(1) - same) * square(relu(margin - distance));
  return mean(real(0.5) * (pull + push));
}

Tensor euclidean_loss(const Tensor& distance, const Tensor& same) {
  check_pair_vectors("euclidean_loss", "distance", distance, "same", same);
  check_labels("euclidean_loss", same);
  return mean(same * square(distance));
}

Tensor triplet_loss(const Tensor& positive_distance, const Tensor& negative_distance, real margin) {
  check_pair_vectors("triplet_loss", "positive_distance", positive_distance, "negative_distance",
                     negative_distance);
  check_margin("triplet_loss", margin);
  return mean(relu(square(positive_distance) - square(negative_distance) + margin));
}

}  // namespace xgrad::siamese
