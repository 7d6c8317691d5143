#include "layers/batch_normalization.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace xgrad::layers {

BatchNormalization::BatchNormalization(BatchNormalizationOptions options)
    : Layer(options.name), options_(std::move(options)) {
  if (!(options_.momentum >= 0 && options_.momentum <= 1)) {
    throw std::invalid_argument("BatchNormalization: momentum must be in [0, 1]; got " +
                                std::to_string(options_.momentum));
  }
  if (!(options_.epsilon > 0)) {
    throw std::invalid_argument("BatchNormalization: epsilon must be > 0; got " +
                                std::to_string(options_.epsilon));
  }
}

void BatchNormalization::build(const Shape& input_shape) {
  const Shape channels{input_shape.back()};
  if (options_.scale) gamma_ = add_weight("gamma", channels, *ones());
  if (options_.center) beta_ = add_weight("beta", channels, *zeros());
  moving_mean_ = add_weight("moving_mean", channels, *zeros(), false);
  moving_variance_ = add_weight("moving_variance", channels, *ones(), false);
}

Tensor BatchNormalization::call(const Tensor& input, bool training) {
  std::vector<int> axes(input.rank() - 1);
  for (std::size_t i = 0; i + 1 < input.rank(); ++i) axes[i] = static_cast<int>(i);
  Tensor mean_t, var_t;
  if (training) {
    if (input.size() / input.shape().back() < 2) {
      fail("training needs more than one value per channel; got input.shape=" +
           shape_to_string(input.shape()));
    }
    mean_t = mean(input, axes);
    var_t = mean(square(input - mean_t), axes);
    // Moving statistics: plain buffer updates, never recorded on a tape.
    const real m = options_.momentum;
    auto blend = [m](const Tensor& batch) {
      return [m, batch](real* moving, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) moving[i] = moving[i] * m + batch.data()[i] * (real(1) - m);
      };
    };
    moving_mean_.update_in_place(blend(mean_t));
    moving_variance_.update_in_place(blend(var_t));
  } else {
    mean_t = moving_mean_.value();
    var_t = moving_variance_.value();
  }
  Tensor y = (input - mean_t) / sqrt(var_t + Tensor(options_.epsilon));
  if (options_.scale) y = y * gamma_;
  if (options_.center) y = y + beta_;
  return y;
}

}  // namespace xgrad::layers
