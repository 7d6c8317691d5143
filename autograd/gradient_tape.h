#pragma once
/// \file
/// `GradientTape`: records ops while alive and computes gradients by a reverse walk.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "autograd/tensor.h"
#include "autograd/variable.h"

namespace xgrad {

namespace detail {
struct Record;
}

/// What `gradient` returns for a source the target does not depend on
/// (TensorFlow's `unconnected_gradients`).
enum class Unconnected { None, Zero };

/// One source of a gradient: a Tensor or a Variable.
struct Source {
  Source(const Tensor& t) : tensor(t) {}      // NOLINT(google-explicit-constructor)
  Source(const Variable& v) : variable(v) {}  // NOLINT(google-explicit-constructor)
  Tensor tensor;
  Variable variable;
};

/// The sources of one `gradient` call: `{x, w}`, a single Tensor or Variable, or a vector.
class Sources {
 public:
  Sources(std::initializer_list<Source> items) : items_(items) {}
  Sources(const Tensor& t) : items_{Source(t)} {}    // NOLINT(google-explicit-constructor)
  Sources(const Variable& v) : items_{Source(v)} {}  // NOLINT(google-explicit-constructor)
  Sources(const std::vector<Tensor>& ts);            // NOLINT(google-explicit-constructor)
  Sources(const std::vector<Variable>& vs);          // NOLINT(google-explicit-constructor)
  const std::vector<Source>& items() const { return items_; }

 private:
  std::vector<Source> items_;
};

/// Options of a tape.
struct TapeOptions {
  /// A persistent tape allows several `gradient` calls; others allow one.
  bool persistent = false;
  /// Whether reading a Variable under this tape watches it.
  bool watch_accessed_variables = true;
};

/// Records the ops run while it is alive, for reverse-mode differentiation.
///
/// Usage, as in TensorFlow eager mode:
/// \code
///   Variable w(Tensor{{1, 2}, {3, 4}}, "w");
///   GradientTape tape;
///   Tensor loss = sum(square(matmul(x, w)));
///   Tensor dw = tape.gradient(loss, w)[0];
/// \endcode
///
/// Several tapes may be alive at once (nested or side by side on one thread); each keeps
/// its own records of the ops whose inputs it watches. Because backward functions are
/// written with ops, an outer tape records the inner tape's gradient computation, which
/// gives gradients of gradients. A tape is bound to the thread that created it, is
/// neither copyable nor movable, and must be destroyed in reverse order of creation
/// (automatic with scopes).
class GradientTape {
 public:
  explicit GradientTape(TapeOptions options = {});
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  /// Marks a tensor as a source: ops reading it (or anything computed from it) are recorded.
  void watch(const Tensor& tensor);
  /// Watches a variable's current value.
  void watch(const Variable& variable);

  /// Pauses this tape's recording until the returned guard is destroyed.
  class Pause {
   public:
    explicit Pause(GradientTape& tape);
    ~Pause();
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    GradientTape& tape_;
    bool was_recording_;
  };
  /// `{ auto pause = tape.stop_recording(); ... }` runs ops without recording them here.
  [[nodiscard]] Pause stop_recording() { return Pause(*this); }

  /// d target / d source for each source, in order (one Tensor per source).
  ///
  /// Sources may be Tensors (watched, or computed under this tape) and Variables (the
  /// gradient is summed over every read of the variable under this tape), mixed:
  /// `tape.gradient(loss, {x, w, b})`, or a `std::vector` of either.
  /// `output_gradient` seeds the walk (the vector in a vector-Jacobian product); it is
  /// required when `target` is not a single element, and must have the target's shape.
  /// Sources the target does not depend on get an undefined Tensor, or zeros with
  /// Unconnected::Zero. Throws std::logic_error on a second call to a non-persistent tape,
  /// or for a non-scalar target without `output_gradient`; std::invalid_argument when
  /// `output_gradient` has the wrong shape.
  std::vector<Tensor> gradient(const Tensor& target, const Sources& sources,
                               const Tensor& output_gradient = Tensor(),
                               Unconnected unconnected = Unconnected::None);

  bool persistent() const { return options_.persistent; }
  bool recording() const { return recording_; }
  /// Number of ops recorded so far.
  std::size_t num_records() const;

 private:
  friend struct TapeAccess;
  using Id = std::uint64_t;
  std::unordered_map<Id, Tensor> walk(const Tensor& target, const std::vector<Id>& wanted,
                                      const Tensor& output_gradient);

  TapeOptions options_;
  bool recording_ = true;
  bool used_ = false;
  std::unordered_set<Id> watched_;
  std::vector<detail::Record> records_;
  // Every Tensor id read from a variable under this tape, per variable.
  std::unordered_map<const void*, std::vector<Id>> variable_reads_;
};

}  // namespace xgrad
