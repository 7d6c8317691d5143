#pragma once
/// \file
/// `SGD`: gradient descent with optional (Nesterov) momentum, as `tf.keras.optimizers.SGD`.

#include <memory>
#include <optional>

#include "autograd/optim/optimizer.h"

namespace xgrad::optim {

/// Options of SGD, with Keras's names and defaults: `SGD({.learning_rate = 0.1f,
/// .momentum = 0.9f})`.
struct SGDOptions {
  real learning_rate = real(0.01);
  /// When set, overrides learning_rate (see CommonOptions::schedule).
  std::shared_ptr<const LearningRateSchedule> schedule = nullptr;
  /// In [0, 1] (Keras's range). 0 = plain gradient descent and no slot. A double, like
  /// Keras's Python float; the update uses it rounded to `real`, as Keras does.
  double momentum = 0;
  bool nesterov = false;
  /// See CommonOptions (weight decay, clipping).
  real weight_decay = 0;
  std::optional<real> clipnorm = std::nullopt;
  std::optional<real> clipvalue = std::nullopt;
  std::optional<real> global_clipnorm = std::nullopt;
};

/// Stochastic gradient descent, Keras update rule (g after clipping, lr of this step):
///
///     momentum == 0:   w = w - lr * g
///     momentum > 0:    m = momentum * m - lr * g
///                      w = w + m                          (nesterov = false)
///                      w = w + momentum * m - lr * g      (nesterov = true, with the new m)
///
/// Slot (only when momentum > 0): "m" (Keras's name), starting at zero.
/// Throws std::invalid_argument naming "SGD" and the value for a learning_rate <= 0, a
/// momentum outside [0, 1], and the CommonOptions errors.
class SGD : public Optimizer {
 public:
  explicit SGD(SGDOptions options = {});
  const SGDOptions& options() const { return options_; }

 protected:
  void update(real* w, const real* g, std::size_t n, real* const* slots,
              const StepContext& context) const override;

 private:
  SGDOptions options_;
};

}  // namespace xgrad::optim
