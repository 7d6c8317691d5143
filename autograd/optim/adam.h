#pragma once
/// \file
/// `Adam` and `AdamW`, as `tf.keras.optimizers.Adam` / `AdamW` (Keras 2.11+ / 3).

#include <memory>
#include <optional>
#include <string>

#include "autograd/optim/optimizer.h"

namespace xgrad::optim {

/// Options of Adam, with Keras's names and defaults:
/// `Adam({.learning_rate = 1e-3f, .amsgrad = true})`.
struct AdamOptions {
  real learning_rate = real(1e-3);
  /// When set, overrides learning_rate (see CommonOptions::schedule).
  std::shared_ptr<const LearningRateSchedule> schedule = nullptr;
  /// In [0, 1). beta_1, beta_2 and epsilon are doubles, like Keras's Python floats, and
  /// are rounded to `real` where Keras rounds them (see Adam).
  double beta_1 = 0.9;
  /// In [0, 1).
  double beta_2 = 0.999;
  /// >= 0. Keras's "epsilon hat": added to sqrt(v), not bias-corrected.
  double epsilon = 1e-7;
  bool amsgrad = false;
  /// See CommonOptions (decoupled weight decay, clipping). Keras's Adam has weight_decay
  /// too (default none); AdamW only changes the default.
  real weight_decay = 0;
  std::optional<real> clipnorm = std::nullopt;
  std::optional<real> clipvalue = std::nullopt;
  std::optional<real> global_clipnorm = std::nullopt;
};

/// Options of AdamW: AdamOptions with Keras AdamW's field order and weight_decay = 0.004.
struct AdamWOptions {
  real learning_rate = real(1e-3);
  std::shared_ptr<const LearningRateSchedule> schedule = nullptr;
  real weight_decay = real(0.004);
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;
  std::optional<real> clipnorm = std::nullopt;
  std::optional<real> clipvalue = std::nullopt;
  std::optional<real> global_clipnorm = std::nullopt;
};

/// Adam, Keras update rule. With t = iterations() + 1, lr this step's learning rate and g
/// the gradient after clipping:
///
///     w      = w - w * weight_decay * lr              (only when weight_decay > 0)
///     alpha  = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
///     m      = m + (g - m) * (1 - beta_1)
///     v      = v + (g² - v) * (1 - beta_2)
///     vhat   = max(vhat, v)                            (amsgrad; then v := vhat below)
///     w      = w - (m * alpha) / (sqrt(v) + epsilon)
///
/// Rounding follows Keras's float32 code: beta_1^t and beta_2^t use the betas rounded to
/// `real` (Keras casts them to the variable's dtype), alpha is computed from them in double
/// and rounded to `real`; the factors (1 - beta) are computed in double and rounded (Keras
/// subtracts Python floats); epsilon is rounded to `real`; the rest is `real` arithmetic.
/// Slots: "m", "v", and "vhat" with amsgrad (Keras's names), starting at zero.
/// Throws std::invalid_argument naming the optimizer and the value for learning_rate <= 0,
/// beta_1 or beta_2 outside [0, 1), epsilon < 0, and the CommonOptions errors.
class Adam : public Optimizer {
 public:
  explicit Adam(AdamOptions options = {});
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(AdamOptions options, std::string name);
  void update(real* w, const real* g, std::size_t n, real* const* slots,
              const StepContext& context) const override;

 private:
  AdamOptions options_;
};

/// AdamW: Adam with decoupled weight decay (Keras AdamW), `w -= w * weight_decay * lr`
/// before each Adam step. name() is "AdamW"; options() returns the equivalent AdamOptions.
class AdamW : public Adam {
 public:
  explicit AdamW(AdamWOptions options = {});
};

}  // namespace xgrad::optim
