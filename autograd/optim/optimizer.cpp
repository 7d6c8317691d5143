// Optimizer base: argument checks, clipping, slots, state save/restore. The update rules
// themselves live in sgd.cpp, adam.cpp and rmsprop.cpp as fused kernels.
//
// Order of one step (Keras BaseOptimizer.apply):
//   1. skip variables whose gradient is undefined;
//   2. clip: clipnorm (per gradient), or global_clipnorm (all gradients), or clipvalue;
//   3. decoupled weight decay w -= w * weight_decay * lr;
//   4. the optimizer's update with lr = schedule(iterations) or the constant;
//   5. iterations += 1.
// Steps 2–4 are fused into one pass per variable: clipping by norm becomes a per-variable
// scale factor (the norms are computed first, in a read-only pass over the gradients), and
// clipvalue a clamp inside the kernel, so no clipped copy of a gradient is ever made.

#include "autograd/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

#include "autograd/detail/simd.h"
#include "autograd/profile.h"

namespace xgrad::optim {

namespace {

using xgrad::detail::Batch;
using xgrad::detail::kLanes;

std::string format(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

// Σ x² over one block of at most kBlock elements: SIMD in `real`, a few accumulators.
// Blocks are short (1024), so the float rounding error stays at the 1e-7 level; blocks are
// then added in double.
double block_sum_of_squares(const real* x, std::size_t n) {
  Batch acc0(real(0)), acc1(real(0));
  std::size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const Batch a = Batch::load_unaligned(x + i);
    const Batch b = Batch::load_unaligned(x + i + kLanes);
    acc0 += a * a;
    acc1 += b * b;
  }
  for (; i + kLanes <= n; i += kLanes) {
    const Batch a = Batch::load_unaligned(x + i);
    acc0 += a * a;
  }
  double total = static_cast<double>(xsimd::hadd(acc0 + acc1));
  for (; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return total;
}

// Σ x² over [0, n) in double. [0, n) is cut into at most kGroups groups whose size depends
// only on n; each group is summed by one thread, and the group sums are added in order, so
// the result is the same for any thread count. One parallel region per call (each region
// ends in a barrier, which is expensive when the cores are oversubscribed), and no heap
// allocation.
double sum_of_squares(const real* x, std::size_t n) {
  constexpr std::size_t kBlock = 1024;
  constexpr std::size_t kGroups = 256;
  constexpr std::size_t kMinGroup = std::size_t(1) << 15;
  const std::size_t per =
      std::max(kMinGroup, ((n + kGroups - 1) / kGroups + kBlock - 1) / kBlock * kBlock);
  const std::size_t groups = (n + per - 1) / per;  // <= kGroups
  double partial[kGroups];
  auto group_sum = [&](std::size_t group) {
    const std::size_t begin = group * per;
    const std::size_t end = std::min(n, begin + per);
    double s = 0;
    for (std::size_t b = begin; b < end; b += kBlock) {
      s += block_sum_of_squares(x + b, std::min(kBlock, end - b));
    }
    return s;
  };
  const int threads = num_threads();
  if (threads > 1 && groups > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t g = 0; g < static_cast<std::ptrdiff_t>(groups); ++g) {
      partial[g] = group_sum(static_cast<std::size_t>(g));
    }
  } else {
    for (std::size_t g = 0; g < groups; ++g) partial[g] = group_sum(g);
  }
  double total = 0;
  for (std::size_t g = 0; g < groups; ++g) total += partial[g];
  return total;
}

double global_sum_of_squares(const std::vector<Tensor>& tensors) {
  double total = 0;
  for (const Tensor& t : tensors) {
    if (t.defined()) total += sum_of_squares(t.data(), t.size());
  }
  return total;
}

// Keras `_clip_by_norm`: g * c / max(norm, c). As a factor: 1 when norm <= c, c / norm
// above (0 for an infinite norm), NaN for a NaN norm.
real clipnorm_scale(double norm, double c) {
  if (std::isnan(norm)) return std::numeric_limits<real>::quiet_NaN();
  return norm > c ? static_cast<real>(c / norm) : real(1);
}

// TF `clip_by_global_norm`: c / max(norm, c) for a finite norm, NaN otherwise.
real global_clipnorm_scale(double norm, double c) {
  if (!std::isfinite(norm)) return std::numeric_limits<real>::quiet_NaN();
  return norm > c ? static_cast<real>(c / norm) : real(1);
}

// Iterations are stored as {hi, lo}, iterations = hi * 2^20 + lo: both parts are exact
// integers in a float (hi < 2^24 covers 2^44 steps).
constexpr std::int64_t kIterationsLoBase = std::int64_t(1) << 20;
constexpr double kIterationsHiLimit = static_cast<double>(std::int64_t(1) << 43);

void require_positive(const std::string& who, const char* what, real value) {
  if (!(value > 0)) {  // also rejects NaN
    throw std::invalid_argument(who + ": " + what + " must be > 0; got " + format(value));
  }
}

}  // namespace

real global_norm(const std::vector<Tensor>& tensors) {
  return static_cast<real>(std::sqrt(global_sum_of_squares(tensors)));
}

std::pair<std::vector<Tensor>, real> clip_by_global_norm(const std::vector<Tensor>& grads,
                                                         real clip_norm) {
  require_positive("clip_by_global_norm", "clip_norm", clip_norm);
  const double norm = std::sqrt(global_sum_of_squares(grads));
  const real scale = global_clipnorm_scale(norm, clip_norm);
  if (scale == real(1)) return {grads, static_cast<real>(norm)};
  std::vector<Tensor> out;
  out.reserve(grads.size());
  for (const Tensor& g : grads) {
    if (!g.defined()) {
      out.emplace_back();
      continue;
    }
    Array clipped = empty_array(g.shape());
    xgrad::detail::simd_map(g.data(), clipped.data(), g.size(),
                            [scale](auto x) { return x * decltype(x)(scale); });
    out.emplace_back(std::move(clipped));
  }
  return {std::move(out), static_cast<real>(norm)};
}

Optimizer::Optimizer(std::string name, CommonOptions common, std::vector<std::string> slot_names)
    : name_(std::move(name)), common_(std::move(common)), slot_names_(std::move(slot_names)) {
  if (!common_.schedule) require_positive(name_, "learning_rate", common_.learning_rate);
  if (!(common_.weight_decay >= 0)) {
    throw std::invalid_argument(name_ + ": weight_decay must be >= 0; got " +
                                format(common_.weight_decay));
  }
  const int clip_options = int(common_.clipnorm.has_value()) + int(common_.clipvalue.has_value()) +
                           int(common_.global_clipnorm.has_value());
  if (clip_options > 1) {
    auto show = [](const std::optional<real>& v) { return v ? format(*v) : std::string("unset"); };
    throw std::invalid_argument(name_ +
                                ": only one of clipnorm, clipvalue and global_clipnorm can be "
                                "set; got clipnorm=" +
                                show(common_.clipnorm) + ", clipvalue=" + show(common_.clipvalue) +
                                ", global_clipnorm=" + show(common_.global_clipnorm));
  }
  if (common_.clipnorm) require_positive(name_, "clipnorm", *common_.clipnorm);
  if (common_.clipvalue) require_positive(name_, "clipvalue", *common_.clipvalue);
  if (common_.global_clipnorm) require_positive(name_, "global_clipnorm", *common_.global_clipnorm);
}

real Optimizer::current_learning_rate() const {
  return common_.schedule ? (*common_.schedule)(iterations_) : common_.learning_rate;
}

Optimizer::SlotSet& Optimizer::slots_for(const Variable& variable) {
  auto it = slots_.find(variable.handle());
  if (it != slots_.end()) return it->second;
  SlotSet set{variable, {}};
  set.values.reserve(slot_names_.size());
  for (std::size_t k = 0; k < slot_names_.size(); ++k) {
    Array zeros = empty_array(variable.shape());
    std::fill(zeros.data(), zeros.data() + zeros.size(), real(0));
    set.values.push_back(std::move(zeros));
  }
  return slots_.emplace(variable.handle(), std::move(set)).first->second;
}

void Optimizer::apply_gradients(const std::vector<Tensor>& grads,
                                const std::vector<Variable>& variables) {
  const std::string op = name_ + ".apply_gradients";
  const detail::ProfileScope profile_scope(name_.c_str(), detail::ProfilePhase::Update);
  if (grads.size() != variables.size()) {
    throw std::invalid_argument(op + ": got " + std::to_string(grads.size()) + " gradients for " +
                                std::to_string(variables.size()) +
                                " variables; they must pair up one to one");
  }
  if (grads.empty()) return;

  // Validate everything before changing anything.
  std::unordered_set<const void*> seen;
  bool any_gradient = false;
  for (std::size_t i = 0; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (!v.defined()) {
      throw std::invalid_argument(op + ": variables[" + std::to_string(i) +
                                  "] is an empty Variable handle");
    }
    if (!seen.insert(v.handle()).second) {
      throw std::invalid_argument(op + ": variable '" + v.name() +
                                  "' appears more than once in the list");
    }
    if (!grads[i].defined()) continue;
    any_gradient = true;
    if (grads[i].shape() != v.shape()) {
      throw std::invalid_argument(op + ": the gradient for variable '" + v.name() + "' has shape " +
                                  shape_to_string(grads[i].shape()) + "; the variable has shape " +
                                  shape_to_string(v.shape()));
    }
  }
  if (!any_gradient) {
    std::string names;
    for (const Variable& v : variables) names += (names.empty() ? "'" : ", '") + v.name() + "'";
    throw std::invalid_argument(op + ": no gradient provided for any variable (" + names + ")");
  }

  const real lr = current_learning_rate();

  // Clipping by norm becomes one factor per variable.
  std::vector<real> scales(variables.size(), real(1));
  if (common_.clipnorm) {
    for (std::size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      scales[i] = clipnorm_scale(std::sqrt(sum_of_squares(grads[i].data(), grads[i].size())),
                                 *common_.clipnorm);
    }
  } else if (common_.global_clipnorm) {
    const real s =
        global_clipnorm_scale(std::sqrt(global_sum_of_squares(grads)), *common_.global_clipnorm);
    std::fill(scales.begin(), scales.end(), s);
  }

  StepContext context{};
  context.step = iterations_ + 1;
  context.learning_rate = lr;
  context.clip_value = common_.clipvalue.has_value();
  context.clipvalue = common_.clipvalue.value_or(real(0));
  context.decay = common_.weight_decay > 0 ? common_.weight_decay * lr : real(0);

  std::vector<real*> slot_pointers(slot_names_.size());
  for (std::size_t i = 0; i < variables.size(); ++i) {
    if (!grads[i].defined()) continue;
    SlotSet& set = slots_for(variables[i]);
    for (std::size_t k = 0; k < slot_pointers.size(); ++k) slot_pointers[k] = set.values[k].data();
    context.grad_scale = scales[i];
    const real* g = grads[i].data();
    Variable variable = variables[i];  // a handle: update_in_place is not const
    variable.update_in_place(
        [&](real* w, std::size_t n) { update(w, g, n, slot_pointers.data(), context); });
  }
  ++iterations_;
}

Tensor Optimizer::slot(const Variable& variable, const std::string& slot_name) const {
  const auto k = std::find(slot_names_.begin(), slot_names_.end(), slot_name);
  if (k == slot_names_.end()) {
    std::string known;
    for (const std::string& s : slot_names_) known += (known.empty() ? "" : ", ") + s;
    throw std::invalid_argument(name_ + ".slot: no slot named '" + slot_name +
                                "' (this optimizer has: " + (known.empty() ? "none" : known) + ")");
  }
  auto it = slots_.find(variable.handle());
  if (it == slots_.end()) return Tensor::zeros(variable.shape());
  return Tensor(Array(it->second.values[static_cast<std::size_t>(k - slot_names_.begin())]));
}

namespace {
void check_unique_names(const std::string& op, const std::vector<Variable>& variables) {
  std::unordered_set<std::string> names;
  for (std::size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) {
      throw std::invalid_argument(op + ": variables[" + std::to_string(i) +
                                  "] is an empty Variable handle");
    }
    if (!names.insert(variables[i].name()).second) {
      throw std::invalid_argument(op + ": two variables are named '" + variables[i].name() +
                                  "'; state names must be unique");
    }
  }
}
}  // namespace

NamedTensors Optimizer::state(const std::vector<Variable>& variables) const {
  check_unique_names(name_ + ".state", variables);
  NamedTensors out;
  out.reserve(1 + variables.size() * slot_names_.size());
  const std::int64_t hi = iterations_ / kIterationsLoBase;
  const std::int64_t lo = iterations_ % kIterationsLoBase;
  out.emplace_back("iterations",
                   Tensor::from_vector({2}, {static_cast<real>(hi), static_cast<real>(lo)}));
  for (const Variable& v : variables) {
    auto it = slots_.find(v.handle());
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      out.emplace_back(v.name() + "/" + slot_names_[k], it == slots_.end()
                                                            ? Tensor::zeros(v.shape())
                                                            : Tensor(Array(it->second.values[k])));
    }
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& state, const std::vector<Variable>& variables) {
  const std::string op = name_ + ".load_state";
  check_unique_names(op, variables);

  // Expected name -> (variable index, slot index); "iterations" is handled apart.
  struct Expected {
    std::size_t variable;
    std::size_t slot;
  };
  std::unordered_map<std::string, Expected> expected;
  for (std::size_t i = 0; i < variables.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      expected.emplace(variables[i].name() + "/" + slot_names_[k], Expected{i, k});
    }
  }

  std::vector<std::string> unexpected, duplicate, wrong, missing;
  std::unordered_map<std::string, const Tensor*> found;
  const Tensor* iterations_tensor = nullptr;
  for (const auto& [name, tensor] : state) {
    const bool is_iterations = name == "iterations";
    const auto e = expected.find(name);
    if (!is_iterations && e == expected.end()) {
      unexpected.push_back("'" + name + "'");
      continue;
    }
    if (!found.emplace(name, &tensor).second) {
      duplicate.push_back("'" + name + "'");
      continue;
    }
    if (!tensor.defined()) {
      wrong.push_back("'" + name + "' is undefined");
      continue;
    }
    const Shape want = is_iterations ? Shape{2} : variables[e->second.variable].shape();
    if (tensor.shape() != want) {
      wrong.push_back("'" + name + "' has shape " + shape_to_string(tensor.shape()) +
                      "; expected " + shape_to_string(want) +
                      (is_iterations ? std::string(" ({hi, lo})")
                                     : " (the shape of variable '" +
                                           variables[e->second.variable].name() + "')"));
      continue;
    }
    if (is_iterations) iterations_tensor = &tensor;
  }
  if (!found.count("iterations")) missing.push_back("'iterations'");
  // Missing slots, in the variables' order.
  for (const Variable& v : variables) {
    for (const std::string& s : slot_names_) {
      const std::string name = v.name() + "/" + s;
      if (!found.count(name)) missing.push_back("'" + name + "'");
    }
  }

  // Iterations must be {hi, lo}: integers, 0 <= lo < 2^20, 0 <= hi < 2^43.
  std::int64_t iterations = 0;
  if (iterations_tensor != nullptr) {
    const double hi = iterations_tensor->flat(0);
    const double lo = iterations_tensor->flat(1);
    const bool ok = std::isfinite(hi) && std::isfinite(lo) && hi == std::floor(hi) &&
                    lo == std::floor(lo) && hi >= 0 && lo >= 0 &&
                    lo < static_cast<double>(kIterationsLoBase) && hi < kIterationsHiLimit;
    if (!ok) {
      wrong.push_back(
          "'iterations' must hold {hi, lo}, integers with 0 <= lo < 2^20 and "
          "0 <= hi < 2^43 (iterations = hi * 2^20 + lo); got [" +
          format(hi) + ", " + format(lo) + "]");
    } else {
      iterations =
          static_cast<std::int64_t>(hi) * kIterationsLoBase + static_cast<std::int64_t>(lo);
    }
  }

  if (!missing.empty() || !unexpected.empty() || !duplicate.empty() || !wrong.empty()) {
    std::string message =
        op + ": the state does not match this " + name_ + " optimizer and its variables:";
    auto add = [&](const char* what, const std::vector<std::string>& items, const char* sep) {
      if (items.empty()) return;
      message += std::string(" ") + what;
      for (std::size_t i = 0; i < items.size(); ++i) message += (i ? sep : " ") + items[i];
      message += ";";
    };
    add("missing:", missing, ", ");
    add("unexpected:", unexpected, ", ");
    add("duplicate:", duplicate, ", ");
    add("invalid:", wrong, "; ");
    message.pop_back();
    throw std::runtime_error(message);
  }

  // Everything checked: apply.
  for (std::size_t i = 0; i < variables.size(); ++i) {
    SlotSet& set = slots_for(variables[i]);
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      const Tensor& t = *found.at(variables[i].name() + "/" + slot_names_[k]);
      std::copy(t.data(), t.data() + t.size(), set.values[k].data());
    }
  }
  iterations_ = iterations;
}

}  // namespace xgrad::optim
