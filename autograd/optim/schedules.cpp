#include "autograd/optim/schedules.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace xgrad::optim {

namespace {

std::string format(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

void require(bool condition, const char* schedule, const std::string& what, double value) {
  if (!condition) {
    throw std::invalid_argument(std::string(schedule) + ": " + what + "; got " + format(value));
  }
}

void check_step(const char* schedule, std::int64_t step) {
  if (step < 0) {
    throw std::invalid_argument(std::string(schedule) + ": step must be >= 0; got " +
                                std::to_string(step));
  }
}

}  // namespace

std::string LearningRateSchedule::describe() const { return "LearningRateSchedule"; }

ConstantSchedule::ConstantSchedule(real learning_rate) : learning_rate_(learning_rate) {
  require(std::isfinite(learning_rate) && learning_rate > 0, "ConstantSchedule",
          "learning_rate must be > 0", learning_rate);
}

real ConstantSchedule::operator()(std::int64_t step) const {
  check_step("ConstantSchedule", step);
  return learning_rate_;
}

std::string ConstantSchedule::describe() const {
  return "ConstantSchedule(learning_rate=" + format(learning_rate_) + ")";
}

ExponentialDecay::ExponentialDecay(real initial_learning_rate, std::int64_t decay_steps,
                                   real decay_rate, bool staircase)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      staircase_(staircase) {
  require(std::isfinite(initial_learning_rate) && initial_learning_rate > 0, "ExponentialDecay",
          "initial_learning_rate must be > 0", initial_learning_rate);
  require(decay_steps >= 1, "ExponentialDecay", "decay_steps must be >= 1",
          static_cast<double>(decay_steps));
  require(std::isfinite(decay_rate) && decay_rate > 0, "ExponentialDecay", "decay_rate must be > 0",
          decay_rate);
}

real ExponentialDecay::operator()(std::int64_t step) const {
  check_step("ExponentialDecay", step);
  // TF: p = step / decay_steps; if staircase: p = floor(p); lr = initial * rate^p.
  double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
  if (staircase_) p = std::floor(p);
  return static_cast<real>(static_cast<double>(initial_learning_rate_) *
                           std::pow(static_cast<double>(decay_rate_), p));
}

std::string ExponentialDecay::describe() const {
  return "ExponentialDecay(initial_learning_rate=" + format(initial_learning_rate_) +
         ", decay_steps=" + std::to_string(decay_steps_) + ", decay_rate=" + format(decay_rate_) +
         ", staircase=" + (staircase_ ? "true" : "false") + ")";
}

CosineDecay::CosineDecay(real initial_learning_rate, std::int64_t decay_steps, real alpha)
    : initial_learning_rate_(initial_learning_rate), decay_steps_(decay_steps), alpha_(alpha) {
  require(std::isfinite(initial_learning_rate) && initial_learning_rate > 0, "CosineDecay",
          "initial_learning_rate must be > 0", initial_learning_rate);
  require(decay_steps >= 1, "CosineDecay", "decay_steps must be >= 1",
          static_cast<double>(decay_steps));
  require(alpha >= 0 && alpha <= 1, "CosineDecay", "alpha must be in [0, 1]", alpha);
}

real CosineDecay::operator()(std::int64_t step) const {
  check_step("CosineDecay", step);
  // TF: s = min(step, decay_steps); c = 0.5 (1 + cos(pi s / decay_steps));
  // lr = initial ((1 - alpha) c + alpha).
  const double s = static_cast<double>(std::min(step, decay_steps_));
  const double cosine =
      0.5 * (1.0 + std::cos(std::numbers::pi * s / static_cast<double>(decay_steps_)));
  const double alpha = alpha_;
  return static_cast<real>(static_cast<double>(initial_learning_rate_) *
                           ((1.0 - alpha) * cosine + alpha));
}

std::string CosineDecay::describe() const {
  return "CosineDecay(initial_learning_rate=" + format(initial_learning_rate_) +
         ", decay_steps=" + std::to_string(decay_steps_) + ", alpha=" + format(alpha_) + ")";
}

}  // namespace xgrad::optim
