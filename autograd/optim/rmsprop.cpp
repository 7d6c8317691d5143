#include "autograd/optim/rmsprop.h"

#include <sstream>
#include <stdexcept>

#include "autograd/optim/detail/fused_update.h"

namespace xgrad::optim {

namespace {

CommonOptions common_of(const RMSpropOptions& o) {
  return CommonOptions{o.learning_rate, o.schedule,  o.weight_decay,
                       o.clipnorm,      o.clipvalue, o.global_clipnorm};
}

void check(bool ok, const char* what, double value) {
  if (!ok) {
    std::ostringstream os;
    os << "RMSprop: " << what << "; got " << value;
    throw std::invalid_argument(os.str());
  }
}

std::vector<std::string> slots_of(const RMSpropOptions& o) {
  check(o.rho >= 0 && o.rho < 1, "rho must be in [0, 1)", o.rho);
  check(o.momentum >= 0 && o.momentum <= 1, "momentum must be in [0, 1]", o.momentum);
  check(o.epsilon >= 0, "epsilon must be >= 0", o.epsilon);
  std::vector<std::string> slots{"velocity"};
  if (o.momentum > 0) slots.push_back("momentum");
  if (o.centered) slots.push_back("average_gradient");
  return slots;
}

}  // namespace

RMSprop::RMSprop(RMSpropOptions options)
    : Optimizer("RMSprop", common_of(options), slots_of(options)), options_(std::move(options)) {}

void RMSprop::update(real* w, const real* g, std::size_t n, real* const* slots,
                     const StepContext& c) const {
  const real lr = c.learning_rate;
  // Keras multiplies tensors by Python floats: each factor is rounded to real on its own.
  const real rho = static_cast<real>(options_.rho);
  const real one_minus_rho = static_cast<real>(1.0 - options_.rho);
  const real mu = static_cast<real>(options_.momentum);
  const real eps = static_cast<real>(options_.epsilon);
  std::size_t k = 0;
  real* velocity = slots[k++];
  real* momentum = options_.momentum > 0 ? slots[k++] : nullptr;  // as in slots_of
  real* average = options_.centered ? slots[k++] : nullptr;
  detail::fused_for_each(n, [&](auto lanes, std::size_t i) {
    const auto gi = detail::effective_gradient(lanes, lanes.load(g + i), c.grad_scale, c.clip_value,
                                               c.clipvalue);
    auto wi = lanes.load(w + i);
    if (c.decay > 0) wi = wi - wi * lanes.splat(c.decay);  // decoupled weight decay
    const auto vi =
        lanes.splat(rho) * lanes.load(velocity + i) + lanes.splat(one_minus_rho) * (gi * gi);
    lanes.store(velocity + i, vi);
    auto denominator = vi + lanes.splat(eps);
    if (average != nullptr) {
      const auto ai = lanes.splat(rho) * lanes.load(average + i) + lanes.splat(one_minus_rho) * gi;
      lanes.store(average + i, ai);
      denominator = vi - ai * ai + lanes.splat(eps);
    }
    const auto increment = lanes.splat(lr) * gi / xsimd::sqrt(denominator);
    if (momentum != nullptr) {
      const auto pi = lanes.splat(mu) * lanes.load(momentum + i) + increment;
      lanes.store(momentum + i, pi);
      wi = wi - pi;
    } else {
      wi = wi - increment;
    }
    lanes.store(w + i, wi);
  });
}

}  // namespace xgrad::optim
