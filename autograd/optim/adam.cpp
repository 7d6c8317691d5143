#include "autograd/optim/adam.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autograd/optim/detail/fused_update.h"

namespace xgrad::optim {

namespace {

CommonOptions common_of(const AdamOptions& o) {
  return CommonOptions{o.learning_rate, o.schedule,  o.weight_decay,
                       o.clipnorm,      o.clipvalue, o.global_clipnorm};
}

void check(bool ok, const std::string& name, const char* what, double value) {
  if (!ok) {
    std::ostringstream os;
    os << name << ": " << what << "; got " << value;
    throw std::invalid_argument(os.str());
  }
}

std::vector<std::string> slots_of(const AdamOptions& o, const std::string& name) {
  check(o.beta_1 >= 0 && o.beta_1 < 1, name, "beta_1 must be in [0, 1)", o.beta_1);
  check(o.beta_2 >= 0 && o.beta_2 < 1, name, "beta_2 must be in [0, 1)", o.beta_2);
  check(o.epsilon >= 0, name, "epsilon must be >= 0", o.epsilon);
  if (o.amsgrad) return {"m", "v", "vhat"};
  return {"m", "v"};
}

AdamOptions adam_options_of(const AdamWOptions& o) {
  AdamOptions a;
  a.learning_rate = o.learning_rate;
  a.schedule = o.schedule;
  a.beta_1 = o.beta_1;
  a.beta_2 = o.beta_2;
  a.epsilon = o.epsilon;
  a.amsgrad = o.amsgrad;
  a.weight_decay = o.weight_decay;
  a.clipnorm = o.clipnorm;
  a.clipvalue = o.clipvalue;
  a.global_clipnorm = o.global_clipnorm;
  return a;
}

}  // namespace

Adam::Adam(AdamOptions options) : Adam(std::move(options), "Adam") {}

Adam::Adam(AdamOptions options, std::string name)
    : Optimizer(name, common_of(options), slots_of(options, name)), options_(std::move(options)) {}

AdamW::AdamW(AdamWOptions options) : Adam(adam_options_of(options), "AdamW") {}

void Adam::update(real* w, const real* g, std::size_t n, real* const* slots,
                  const StepContext& c) const {
  // alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), in double (beta^t underflows to 0
  // gracefully for large t).
  // Keras: beta_power = cast(beta, dtype) ** t, so the powers use the betas rounded to real.
  const double t = static_cast<double>(c.step);
  const double b1 = static_cast<real>(options_.beta_1);
  const double b2 = static_cast<real>(options_.beta_2);
  const real alpha = static_cast<real>(static_cast<double>(c.learning_rate) *
                                       std::sqrt(1.0 - std::pow(b2, t)) / (1.0 - std::pow(b1, t)));
  // Keras: (1 - self.beta_1) in Python floats, then rounded to the tensor's dtype.
  const real c1 = static_cast<real>(1.0 - options_.beta_1);
  const real c2 = static_cast<real>(1.0 - options_.beta_2);
  const real eps = static_cast<real>(options_.epsilon);
  real* m = slots[0];
  real* v = slots[1];
  real* vhat = options_.amsgrad ? slots[2] : nullptr;
  detail::fused_for_each(n, [&](auto lanes, std::size_t i) {
    const auto gi = detail::effective_gradient(lanes, lanes.load(g + i), c.grad_scale, c.clip_value,
                                               c.clipvalue);
    auto wi = lanes.load(w + i);
    if (c.decay > 0) wi = wi - wi * lanes.splat(c.decay);  // decoupled weight decay
    auto mi = lanes.load(m + i);
    auto vi = lanes.load(v + i);
    mi = mi + (gi - mi) * lanes.splat(c1);
    vi = vi + (gi * gi - vi) * lanes.splat(c2);
    lanes.store(m + i, mi);
    lanes.store(v + i, vi);
    if (vhat != nullptr) {
      vi = xgrad::detail::vmax(lanes.load(vhat + i), vi);
      lanes.store(vhat + i, vi);
    }
    wi = wi - (mi * lanes.splat(alpha)) / (xsimd::sqrt(vi) + lanes.splat(eps));
    lanes.store(w + i, wi);
  });
}

}  // namespace xgrad::optim
