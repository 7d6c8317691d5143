#include "layers/pooling.h"

#include <stdexcept>

namespace xgrad::layers {

Pooling2D::Pooling2D(PoolingOptions options) : Layer(options.name) {
  pool_.window = options.pool_size;
  pool_.strides = options.strides.value_or(options.pool_size);
  pool_.padding = options.padding;
  for (int v : {pool_.window[0], pool_.window[1], pool_.strides[0], pool_.strides[1]}) {
    if (v < 1) {
      throw std::invalid_argument("pooling: pool_size and strides must be >= 1; got pool_size=[" +
                                  std::to_string(pool_.window[0]) + ", " + std::to_string(pool_.window[1]) +
                                  "], strides=[" + std::to_string(pool_.strides[0]) + ", " +
                                  std::to_string(pool_.strides[1]) + "]");
    }
  }
}

void Pooling2D::build(const Shape& input_shape) {
  try {
    conv_axis("pool2d", input_shape[1], std::size_t(pool_.window[0]), pool_.strides[0], 1, pool_.padding);
    conv_axis("pool2d", input_shape[2], std::size_t(pool_.window[1]), pool_.strides[1], 1, pool_.padding);
  } catch (const std::invalid_argument& e) {
    fail(std::string(e.what()) + " (input.shape=" + shape_to_string(input_shape) + ")");
  }
}

Tensor MaxPooling2D::call(const Tensor& input, bool) { return max_pool2d(input, pool_options()); }
Tensor AveragePooling2D::call(const Tensor& input, bool) { return avg_pool2d(input, pool_options()); }

}  // namespace xgrad::layers
