#pragma once
/// \file
/// How an op puts itself on the active tapes. Used by autograd/ops and custom_gradient
/// only; not part of the installed API.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad::detail {

/// Which inputs of a record need a gradient (those watched by the tape being walked).
using NeededInputs = std::vector<bool>;

/// The backward of an op: given d target / d output, returns d target / d input for each
/// input (an undefined Tensor for "no gradient"). Written with ops, so that an outer tape
/// records it. `needed` lets an op skip expensive gradients nobody asked for.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output,
                                                     const NeededInputs& needed)>;
/// The same without `needed`, for ops whose gradients are all cheap.
using SimpleBackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

/// One op on one tape: `{op name, output id, input ids and shapes, backward}`.
struct Record {
  std::string op;
  std::uint64_t output_id;
  std::vector<std::uint64_t> input_ids;
  std::vector<Shape> input_shapes;
  BackwardFn backward;
};

/// True when at least one tape on this thread is recording. Ops may use it to skip
/// building a backward closure.
bool any_tape_recording();

/// Records `output = op(inputs)` on every recording tape that watches one of `inputs`,
/// which then watches `output` too. When no tape does, `backward` is dropped at once
/// (so whatever it captured is freed). Returns `output`.
Tensor record(const char* op, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward);
Tensor record(const char* op, const Tensor& output, const std::vector<Tensor>& inputs,
              SimpleBackwardFn backward);

/// While alive, no tape on this thread records anything (custom_gradient's forward,
/// optimizer updates).
class PauseAllTapes {
 public:
  PauseAllTapes();
  ~PauseAllTapes();
  PauseAllTapes(const PauseAllTapes&) = delete;
  PauseAllTapes& operator=(const PauseAllTapes&) = delete;
};

/// Called by Variable::value(): watches `value` on every recording tape that watches
/// accessed variables, and notes the read.
void notify_variable_read(const void* variable, const Tensor& value);

}  // namespace xgrad::detail
