#include "layers/flatten.h"

#include "autograd/ops/shape.h"

namespace xgrad::layers {

Tensor Flatten::call(const Tensor& input, bool) {
  if (input.rank() == 1) return reshape(input, {static_cast<std::int64_t>(input.size()), 1});
  return flatten(input);
}

}  // namespace xgrad::layers
