#pragma once
/// \file
/// `Optimizer`: the base of SGD, Adam, AdamW and RMSprop, with Keras's (tf.keras 2.11+ /
/// Keras 3) update rules, defaults, gradient clipping, decoupled weight decay and
/// learning-rate schedules; plus `clip_by_global_norm` and `global_norm`.
///
/// \code
///   optim::Adam opt({.learning_rate = 1e-3f, .global_clipnorm = 1.0f});
///   for (...) {
///     std::vector<Tensor> grads;
///     {
///       GradientTape tape;
///       Tensor loss = model_loss(x, y);
///       grads = tape.gradient(loss, weights);
///     }  // release the tape before updating: see apply_gradients
///     opt.apply_gradients(grads, weights);
///   }
/// \endcode

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "autograd/array.h"
#include "autograd/named_tensors.h"
#include "autograd/optim/schedules.h"
#include "autograd/tensor.h"
#include "autograd/variable.h"

namespace xgrad::optim {

/// sqrt(Σ over every defined tensor of Σ x²) — TF `tf.linalg.global_norm`. Undefined
/// tensors are skipped; an empty list gives 0. Sums in double over fixed blocks, so the
/// result does not depend on the thread count. Not recorded on any tape.
real global_norm(const std::vector<Tensor>& tensors);

/// TF `tf.clip_by_global_norm`: scales every gradient by
/// `clip_norm / max(global_norm, clip_norm)` and returns the scaled gradients with the
/// global norm *before* clipping. When the global norm is not finite (inf or NaN) every
/// gradient becomes NaN, as in TF (the returned norm tells why). Undefined gradients pass
/// through undefined. When no clipping is needed (global_norm <= clip_norm) the inputs are
/// returned as they are (same Tensors). Throws std::invalid_argument unless clip_norm > 0.
/// Not recorded on any tape: it is for gradients, not for differentiable code.
std::pair<std::vector<Tensor>, real> clip_by_global_norm(const std::vector<Tensor>& grads,
                                                         real clip_norm);

/// Options every optimizer has; each optimizer's options struct repeats these fields (so
/// that designated initialisers work) and converts to this.
struct CommonOptions {
  /// Used when `schedule` is null; must be > 0.
  real learning_rate = real(1e-3);
  /// When set, the learning rate of step k (k = iterations() before the step) is
  /// `(*schedule)(k)`, and `learning_rate` is ignored.
  std::shared_ptr<const LearningRateSchedule> schedule = nullptr;
  /// Decoupled weight decay (Keras `weight_decay`): before the update,
  /// `w -= w * weight_decay * lr`. 0 = off. Must be >= 0.
  real weight_decay = 0;
  /// Keras `clipnorm`: each gradient g is replaced by g * clipnorm / max(‖g‖, clipnorm).
  std::optional<real> clipnorm = std::nullopt;
  /// Keras `clipvalue`: each gradient element is clamped to [-clipvalue, clipvalue].
  std::optional<real> clipvalue = std::nullopt;
  /// Keras `global_clipnorm`: all gradients are scaled as by clip_by_global_norm.
  std::optional<real> global_clipnorm = std::nullopt;
};

/// Base class of the optimizers. Holds the step count, the learning rate (constant or
/// schedule), the clipping options and, per variable, the optimizer's slots (moment
/// estimates, velocities…), created lazily as zero arrays the first time the variable gets
/// a gradient.
///
/// Slots are keyed by the variable's identity (`Variable::handle()`): pass the same
/// Variable objects (or copies of them) at every step. The optimizer keeps a handle to each
/// variable it has slots for, so that identity cannot be reused by another variable.
///
/// Each step of each variable is one fused, vectorised, multithreaded pass over the weights,
/// the gradient and the slots, in place: no allocation proportional to the parameter count
/// (except the first step's slot creation). Nothing is recorded on any tape.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  /// One optimisation step: applies `grads[i]` to `variables[i]` for every i, then
  /// increments iterations().
  ///
  /// Keras semantics (BaseOptimizer.apply):
  /// - empty lists: nothing happens (iterations() unchanged);
  /// - an undefined gradient skips its variable (Keras warns; this is silent): no update, no
  ///   slot change, no weight decay;
  /// - gradients are clipped (clipnorm / global_clipnorm / clipvalue; the global norm is
  ///   taken over the defined gradients), then weight decay is applied, then the update;
  /// - the learning rate of the whole step is current_learning_rate();
  /// - non-trainable variables are updated like trainable ones (as Keras does).
  ///
  /// Throws std::invalid_argument, before changing anything, when the list sizes differ,
  /// a variable is empty or appears twice, a gradient's shape differs from its variable's
  /// (naming the variable and both shapes), or every gradient is undefined (Keras: "No
  /// gradients provided for any variable").
  ///
  /// Performance: the variable is updated in place. A Tensor that still shares the
  /// variable's buffer (e.g. a value held by a live GradientTape) forces a copy first
  /// (copy-on-write), so let tapes and old values go before calling this.
  void apply_gradients(const std::vector<Tensor>& grads, const std::vector<Variable>& variables);

  /// Number of steps applied so far (Keras `iterations`).
  std::int64_t iterations() const { return iterations_; }
  /// The learning rate the next step uses: the schedule at iterations(), or the constant.
  real current_learning_rate() const;
  /// "SGD", "Adam", "AdamW" or "RMSprop".
  std::string name() const { return name_; }
  /// The per-variable slots of this configuration, in a fixed order (e.g. {"m", "v"} for
  /// Adam, {"m", "v", "vhat"} with amsgrad, {} for SGD without momentum).
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  /// A copy of one slot of a variable; zeros when the slot has not been created yet.
  /// Throws std::invalid_argument for a slot name not in slot_names().
  Tensor slot(const Variable& variable, const std::string& slot_name) const;

  /// The optimizer's state for `variables`, enough to resume training exactly:
  /// - "iterations": shape [2], {hi, lo} with iterations = hi * 2^20 + lo, both exact
  ///   integers in float (exact for up to 2^44 steps in the float build);
  /// - "<variable name>/<slot>" for every variable and every slot in slot_names(), with the
  ///   variable's shape (zeros for slots not created yet, which is what they start as).
  /// Copies the slot data. Throws std::invalid_argument when two variables share a name.
  NamedTensors state(const std::vector<Variable>& variables) const;

  /// Restores what state() saved: sets iterations() and the slots of `variables` (creating
  /// them as needed; other variables' slots are left alone). Validates everything first and
  /// changes nothing on error: std::runtime_error naming every missing name, every
  /// unexpected name, every duplicate, every wrong shape (with both shapes) and a bad
  /// "iterations" value. std::invalid_argument when two variables share a name.
  void load_state(const NamedTensors& state, const std::vector<Variable>& variables);

 protected:
  /// What a fused update kernel needs for one variable at one step.
  struct StepContext {
    /// Keras `local_step`: iterations() + 1.
    std::int64_t step;
    /// The learning rate of this step.
    real learning_rate;
    /// Multiplies the gradient (clipnorm / global_clipnorm); 1 when not clipping.
    real grad_scale;
    /// Whether to clamp the (scaled) gradient to [-clipvalue, clipvalue].
    bool clip_value;
    real clipvalue;
    /// weight_decay * learning_rate; when > 0, w = w - w * decay before the update.
    real decay;
  };

  /// Validates the common options (std::invalid_argument naming `name` and the value).
  Optimizer(std::string name, CommonOptions common, std::vector<std::string> slot_names);
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  /// The fused update of one variable: reads and writes w[0, n), reads g[0, n), reads and
  /// writes slots[k][0, n) for each k in slot_names() order.
  virtual void update(real* w, const real* g, std::size_t n, real* const* slots,
                      const StepContext& context) const = 0;

  const CommonOptions& common_options() const { return common_; }

 private:
  struct SlotSet {
    Variable variable;          // keeps the identity alive
    std::vector<Array> values;  // one per slot name
  };
  SlotSet& slots_for(const Variable& variable);

  std::string name_;
  CommonOptions common_;
  std::vector<std::string> slot_names_;
  std::int64_t iterations_ = 0;
  std::unordered_map<const void*, SlotSet> slots_;
};

}  // namespace xgrad::optim
