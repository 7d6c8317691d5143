// Softmax family: forward kernels over raw buffers viewed as [outer, n, inner] around the
// softmax axis; backward functions composed of ops.

#include "autograd/ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/check.h"
#include "autograd/detail/record.h"
#include "autograd/profile.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace xgrad {

namespace {

// Computes softmax (log = false) or log-softmax (log = true) of x along `axis`.
Array softmax_kernel(const Tensor& x, std::size_t axis, bool log) {
  const Shape& s = x.shape();
  std::size_t outer = 1, inner = 1;
  for (std::size_t i = 0; i < axis; ++i) outer *= s[i];
  for (std::size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
  const std::size_t n = s[axis];
  Array out = empty_array(s);
  const real* in = x.data();
  real* o = out.data();
  for (std::size_t a = 0; a < outer; ++a) {
    for (std::size_t b = 0; b < inner; ++b) {
      const real* row = in + a * n * inner + b;
      real* orow = o + a * n * inner + b;
      real m = -std::numeric_limits<real>::infinity();
      for (std::size_t i = 0; i < n; ++i) m = std::max(m, row[i * inner]);
      real total = 0;
      for (std::size_t i = 0; i < n; ++i) total += std::exp(row[i * inner] - m);
      if (log) {
        // (x - m) - log Σ: adding log Σ to m first would round away low bits of large logits.
        const real log_total = std::log(total);
        for (std::size_t i = 0; i < n; ++i) orow[i * inner] = (row[i * inner] - m) - log_total;
      } else {
        for (std::size_t i = 0; i < n; ++i) orow[i * inner] = std::exp(row[i * inner] - m) / total;
      }
    }
  }
  return out;
}

std::size_t softmax_axis(const char* op, const Tensor& x, int axis) {
  check_min_rank(op, "x", x.shape(), 1);
  const std::size_t ax = normalize_axis(op, axis, x.shape());
  check_arg(x.shape()[ax] > 0, op,
            "the softmax axis must not be empty; got x.shape=" + shape_to_string(x.shape()));
  return ax;
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) {
  const detail::ProfileScope profile_scope("softmax");
  const std::size_t ax = softmax_axis("softmax", x, axis);
  Tensor out(softmax_kernel(x, ax, false));
  return detail::record("softmax", out, {x}, [out, axis](const Tensor& g) {
    return std::vector<Tensor>{mul(out, sub(g, sum(mul(g, out), {axis}, true)))};
  });
}

Tensor log_softmax(const Tensor& x, int axis) {
  const detail::ProfileScope profile_scope("log_softmax");
  const std::size_t ax = softmax_axis("log_softmax", x, axis);
  Tensor out(softmax_kernel(x, ax, true));
  return detail::record("log_softmax", out, {x}, [out, axis](const Tensor& g) {
    return std::vector<Tensor>{sub(g, mul(exp(out), sum(g, {axis}, true)))};
  });
}

Tensor softmax_cross_entropy(const Tensor& labels, const Tensor& logits, int axis) {
  const detail::ProfileScope profile_scope("softmax_cross_entropy");
  check_same_shape("softmax_cross_entropy", "labels", labels.shape(), "logits", logits.shape());
  return neg(sum(mul(labels, log_softmax(logits, axis)), {axis}));
}

Tensor sparse_softmax_cross_entropy(const std::vector<std::int64_t>& labels, const Tensor& logits) {
  const detail::ProfileScope profile_scope("sparse_softmax_cross_entropy");
  check_rank("sparse_softmax_cross_entropy", "logits", logits.shape(), 2, "[N, classes]");
  const std::size_t n = logits.shape()[0], c = logits.shape()[1];
  check_arg(labels.size() == n, "sparse_softmax_cross_entropy",
            "needs one label per row; got " + std::to_string(labels.size()) +
                " labels for logits.shape=" + shape_to_string(logits.shape()));
  Array one_hot = empty_array({n, c});
  std::fill(one_hot.data(), one_hot.data() + one_hot.size(), real(0));
  for (std::size_t i = 0; i < n; ++i) {
    check_arg(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < c,
              "sparse_softmax_cross_entropy",
              "label " + std::to_string(labels[i]) + " out of range [0, " + std::to_string(c) +
                  ") for logits.shape=" + shape_to_string(logits.shape()));
    one_hot.data()[i * c + static_cast<std::size_t>(labels[i])] = real(1);
  }
  return softmax_cross_entropy(Tensor(std::move(one_hot)), logits, 1);
}

}  // namespace xgrad
