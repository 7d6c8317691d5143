#pragma once
/// \file
/// `RMSprop`, as `tf.keras.optimizers.RMSprop` (Keras 2.11+ / 3).

#include <memory>
#include <optional>

#include "autograd/optim/optimizer.h"

namespace xgrad::optim {

/// Options of RMSprop, with Keras's names and defaults:
/// `RMSprop({.learning_rate = 1e-3f, .momentum = 0.9f, .centered = true})`.
struct RMSpropOptions {
  real learning_rate = real(1e-3);
  /// When set, overrides learning_rate (see CommonOptions::schedule).
  std::shared_ptr<const LearningRateSchedule> schedule = nullptr;
  /// Discount of the moving averages, in [0, 1). rho, momentum and epsilon are doubles, like
  /// Keras's Python floats; the update uses rho, momentum, epsilon and (1 - rho) rounded to
  /// `real`, as Keras does.
  double rho = 0.9;
  /// In [0, 1]. 0 = no momentum and no "momentum" slot.
  double momentum = 0;
  /// >= 0. Added to the mean square inside the square root.
  double epsilon = 1e-7;
  bool centered = false;
  /// See CommonOptions (weight decay, clipping).
  real weight_decay = 0;
  std::optional<real> clipnorm = std::nullopt;
  std::optional<real> clipvalue = std::nullopt;
  std::optional<real> global_clipnorm = std::nullopt;
};

/// RMSprop, Keras update rule (g after clipping, lr this step's learning rate):
///
///     velocity = rho * velocity + (1 - rho) * g²
///     centered:  average_gradient = rho * average_gradient + (1 - rho) * g
///                denominator = velocity - average_gradient² + epsilon
///     otherwise: denominator = velocity + epsilon
///     increment = lr * g / sqrt(denominator)
///     momentum > 0: momentum_slot = momentum * momentum_slot + increment; w -= momentum_slot
///     otherwise:    w -= increment
///
/// (tf.keras 2.11 writes `lr * g * rsqrt(denominator)`; Keras 3 divides by the square root,
/// as here.) Slots: "velocity", then "momentum" when momentum > 0, then "average_gradient"
/// when centered (Keras's names), starting at zero. Throws std::invalid_argument naming
/// "RMSprop" and the value for learning_rate <= 0, rho outside [0, 1), momentum outside
/// [0, 1], epsilon < 0, and the CommonOptions errors.
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(RMSpropOptions options = {});
  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(real* w, const real* g, std::size_t n, real* const* slots,
              const StepContext& context) const override;

 private:
  RMSpropOptions options_;
};

}  // namespace xgrad::optim
