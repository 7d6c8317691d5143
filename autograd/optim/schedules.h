#pragma once
/// \file
/// Learning-rate schedules: the learning rate as a function of the optimizer's step count,
/// with the formulas of `tf.keras.optimizers.schedules`.
///
/// An optimizer built with a schedule evaluates it at its `iterations()` count before each
/// step, so the first step uses `schedule(0)`.

#include <cstdint>
#include <string>

#include "autograd/array.h"

namespace xgrad::optim {

/// The learning rate as a function of the step (0, 1, 2, …). Implementations are
/// immutable, so one schedule may be shared by several optimizers.
class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  /// The learning rate at `step` (>= 0; std::invalid_argument for a negative step).
  virtual real operator()(std::int64_t step) const = 0;
  /// A one-line description with the parameters, e.g.
  /// `ExponentialDecay(initial_learning_rate=0.1, decay_steps=1000, decay_rate=0.96,
  /// staircase=false)`.
  virtual std::string describe() const;
};

/// The same learning rate at every step.
class ConstantSchedule : public LearningRateSchedule {
 public:
  /// Throws std::invalid_argument unless learning_rate > 0 (and finite).
  explicit ConstantSchedule(real learning_rate);
  real operator()(std::int64_t step) const override;
  std::string describe() const override;

 private:
  real learning_rate_;
};

/// `initial_learning_rate * decay_rate ^ (step / decay_steps)`, where the exponent is
/// floored to an integer when `staircase` is true (TF `ExponentialDecay`). Computed in
/// double and rounded to `real`.
class ExponentialDecay : public LearningRateSchedule {
 public:
  /// Throws std::invalid_argument unless initial_learning_rate > 0, decay_steps >= 1 and
  /// decay_rate > 0 (all finite).
  ExponentialDecay(real initial_learning_rate, std::int64_t decay_steps, real decay_rate,
                   bool staircase = false);
  real operator()(std::int64_t step) const override;
  std::string describe() const override;

 private:
  real initial_learning_rate_;
  std::int64_t decay_steps_;
  real decay_rate_;
  bool staircase_;
};

/// Cosine decay from `initial_learning_rate` to `alpha * initial_learning_rate` over
/// `decay_steps` steps, then constant (TF `CosineDecay` without warm-up):
///   s = min(step, decay_steps);
///   lr = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha).
/// Computed in double and rounded to `real`.
class CosineDecay : public LearningRateSchedule {
 public:
  /// Throws std::invalid_argument unless initial_learning_rate > 0, decay_steps >= 1 and
  /// 0 <= alpha <= 1.
  CosineDecay(real initial_learning_rate, std::int64_t decay_steps, real alpha = 0);
  real operator()(std::int64_t step) const override;
  std::string describe() const override;

 private:
  real initial_learning_rate_;
  std::int64_t decay_steps_;
  real alpha_;
};

}  // namespace xgrad::optim
