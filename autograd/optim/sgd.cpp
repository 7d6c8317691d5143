#include "autograd/optim/sgd.h"

#include <sstream>
#include <stdexcept>

#include "autograd/optim/detail/fused_update.h"

namespace xgrad::optim {

namespace {

CommonOptions common_of(const SGDOptions& o) {
  return CommonOptions{o.learning_rate, o.schedule,  o.weight_decay,
                       o.clipnorm,      o.clipvalue, o.global_clipnorm};
}

std::vector<std::string> slots_of(const SGDOptions& o) {
  if (!(o.momentum >= 0 && o.momentum <= 1)) {
    std::ostringstream os;
    os << "SGD: momentum must be in [0, 1]; got " << o.momentum;
    throw std::invalid_argument(os.str());
  }
  return o.momentum > 0 ? std::vector<std::string>{"m"} : std::vector<std::string>{};
}

}  // namespace

SGD::SGD(SGDOptions options)
    : Optimizer("SGD", common_of(options), slots_of(options)), options_(std::move(options)) {}

void SGD::update(real* w, const real* g, std::size_t n, real* const* slots,
                 const StepContext& c) const {
  const real lr = c.learning_rate;
  const real mu = static_cast<real>(options_.momentum);  // Keras: cast(momentum, dtype)
  const bool nesterov = options_.nesterov;
  real* m = options_.momentum > 0 ? slots[0] : nullptr;  // same test as the slot list
  detail::fused_for_each(n, [&](auto lanes, std::size_t i) {
    const auto gi = detail::effective_gradient(lanes, lanes.load(g + i), c.grad_scale, c.clip_value,
                                               c.clipvalue);
    auto wi = lanes.load(w + i);
    if (c.decay > 0) wi = wi - wi * lanes.splat(c.decay);  // decoupled weight decay
    if (m != nullptr) {
      // Keras: m = -g * lr + m * momentum; w += m, or w += -g * lr + m * momentum.
      const auto mi = lanes.load(m + i) * lanes.splat(mu) - gi * lanes.splat(lr);
      lanes.store(m + i, mi);
      wi = nesterov ? wi + (mi * lanes.splat(mu) - gi * lanes.splat(lr)) : wi + mi;
    } else {
      wi = wi - gi * lanes.splat(lr);
    }
    lanes.store(w + i, wi);
  });
}

}  // namespace xgrad::optim
