// GradientTape: recording and the reverse walk.
//
// Terminology
//   tape     - a list of records, appended to while the tape is alive and recording.
//   record   - {op name, output id, input ids, input shapes, backward} for one op call.
//   watched  - the set of tensor ids a tape differentiates with respect to: the ids it was
//              asked to watch, the ids of variables read under it, and every output of an op
//              it recorded. An op is recorded on a tape iff one of its inputs is watched there.
//   backward - a closure from d target/d output to d target/d input for each input. It is
//              written with ops, so while an outer tape is recording, the gradient computation
//              of an inner tape is itself recorded on the outer one: gradients of gradients.
//
// Algorithm of gradient(target, sources)
//   Records are appended in execution order, so every record comes after the records that
//   produced its inputs; a walk of the list in reverse therefore visits an op only after
//   every op that consumed its output. The walk keeps a map id -> accumulated gradient,
//   seeded with target -> output_gradient (ones for a scalar). For each record whose output
//   has a gradient, it calls backward once and adds each returned input gradient into the
//   map (the engine, not the ops, sums the contributions of several uses, after checking
//   the shape). No topological sort is needed. A non-persistent tape drops each backward
//   closure right after calling it, so intermediates are freed as the walk proceeds.

#include "autograd/gradient_tape.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/detail/record.h"
#include "autograd/ops/elementwise.h"
#include "autograd/profile.h"

namespace xgrad {

namespace {
// The tapes alive on this thread, oldest first.
thread_local std::vector<GradientTape*> t_tapes;
// Depth of PauseAllTapes guards on this thread.
thread_local int t_pause_all = 0;
}  // namespace

struct TapeAccess {
  static bool wants(const GradientTape& tape, const std::vector<Tensor>& inputs) {
    if (!tape.recording_ || t_pause_all > 0) return false;
    for (const Tensor& t : inputs) {
      if (t.defined() && tape.watched_.count(t.id())) return true;
    }
    return false;
  }
  static void add(GradientTape& tape, detail::Record record) {
    tape.watched_.insert(record.output_id);
    tape.records_.push_back(std::move(record));
  }
  static void variable_read(GradientTape& tape, const void* variable, const Tensor& value) {
    if (!tape.recording_ || t_pause_all > 0 || !tape.options_.watch_accessed_variables) return;
    tape.watched_.insert(value.id());
    auto& ids = tape.variable_reads_[variable];
    if (std::find(ids.begin(), ids.end(), value.id()) == ids.end()) ids.push_back(value.id());
  }
};

namespace detail {

PauseAllTapes::PauseAllTapes() { ++t_pause_all; }
PauseAllTapes::~PauseAllTapes() { --t_pause_all; }

bool any_tape_recording() {
  if (t_pause_all > 0) return false;
  for (const GradientTape* tape : t_tapes) {
    if (tape->recording()) return true;
  }
  return false;
}

Tensor record(const char* op, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  std::vector<GradientTape*> recording;
  for (GradientTape* tape : t_tapes) {
    if (TapeAccess::wants(*tape, inputs)) recording.push_back(tape);
  }
  if (recording.empty()) return output;
  Record record{op, output.id(), {}, {}, nullptr};
  record.input_ids.reserve(inputs.size());
  record.input_shapes.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    record.input_ids.push_back(t.id());
    record.input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  // The closure is shared by every tape that records this op.
  auto shared = std::make_shared<BackwardFn>(std::move(backward));
  record.backward = [shared](const Tensor& g, const NeededInputs& needed) {
    return (*shared)(g, needed);
  };
  for (std::size_t i = 0; i < recording.size(); ++i) {
    TapeAccess::add(*recording[i], record);
  }
  return output;
}

Tensor record(const char* op, const Tensor& output, const std::vector<Tensor>& inputs,
              SimpleBackwardFn backward) {
  if (!any_tape_recording()) return output;
  return record(op, output, inputs,
                BackwardFn([backward = std::move(backward)](const Tensor& g, const NeededInputs&) {
                  return backward(g);
                }));
}

void notify_variable_read(const void* variable, const Tensor& value) {
  for (GradientTape* tape : t_tapes) TapeAccess::variable_read(*tape, variable, value);
}

}  // namespace detail

Sources::Sources(const std::vector<Tensor>& ts) : items_(ts.begin(), ts.end()) {}
Sources::Sources(const std::vector<Variable>& vs) : items_(vs.begin(), vs.end()) {}

GradientTape::GradientTape(TapeOptions options) : options_(options) { t_tapes.push_back(this); }

GradientTape::~GradientTape() {
  auto it = std::find(t_tapes.begin(), t_tapes.end(), this);
  if (it != t_tapes.end()) t_tapes.erase(it);
}

std::size_t GradientTape::num_records() const { return records_.size(); }

void GradientTape::watch(const Tensor& tensor) {
  if (!tensor.defined()) throw std::invalid_argument("GradientTape::watch: tensor is undefined");
  watched_.insert(tensor.id());
}

void GradientTape::watch(const Variable& variable) {
  Tensor v = variable.peek();
  watched_.insert(v.id());
  auto& ids = variable_reads_[variable.handle()];
  if (std::find(ids.begin(), ids.end(), v.id()) == ids.end()) ids.push_back(v.id());
}

GradientTape::Pause::Pause(GradientTape& tape) : tape_(tape), was_recording_(tape.recording_) {
  tape.recording_ = false;
}
GradientTape::Pause::~Pause() { tape_.recording_ = was_recording_; }

std::unordered_map<GradientTape::Id, Tensor> GradientTape::walk(const Tensor& target,
                                                                const std::vector<Id>& wanted,
                                                                const Tensor& output_gradient) {
  std::unordered_map<Id, Tensor> grads;
  grads.emplace(target.id(), output_gradient);
  std::unordered_set<Id> keep(wanted.begin(), wanted.end());

  for (std::size_t r = records_.size(); r-- > 0;) {
    detail::Record& rec = records_[r];
    auto it = grads.find(rec.output_id);
    if (it == grads.end()) continue;
    Tensor g = it->second;
    if (!keep.count(rec.output_id)) grads.erase(it);

    detail::NeededInputs needed(rec.input_ids.size());
    bool any = false;
    for (std::size_t i = 0; i < needed.size(); ++i) {
      needed[i] = watched_.count(rec.input_ids[i]) > 0;
      any = any || needed[i];
    }
    if (!any) continue;
    std::vector<Tensor> input_grads;
    {
      const detail::ProfileScope profile_scope(rec.op.c_str(), detail::ProfilePhase::Backward);
      input_grads = rec.backward(g, needed);
    }
    if (!options_.persistent) rec.backward = nullptr;  // frees what the closure captured
    if (input_grads.size() != rec.input_ids.size()) {
      throw std::logic_error("internal: backward of '" + rec.op + "' returned " +
                             std::to_string(input_grads.size()) + " gradients for " +
                             std::to_string(rec.input_ids.size()) + " inputs");
    }
    for (std::size_t i = 0; i < input_grads.size(); ++i) {
      if (!needed[i] || !input_grads[i].defined()) continue;
      const Tensor& gi = input_grads[i];
      if (gi.shape() != rec.input_shapes[i]) {
        throw std::logic_error("gradient: backward of '" + rec.op + "' returned a gradient of shape " +
                               shape_to_string(gi.shape()) + " for input " + std::to_string(i) +
                               " of shape " + shape_to_string(rec.input_shapes[i]));
      }
      auto [slot, inserted] = grads.try_emplace(rec.input_ids[i], gi);
      if (!inserted) slot->second = add(slot->second, gi);
    }
  }
  return grads;
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const Sources& sources,
                                           const Tensor& output_gradient,
                                           Unconnected unconnected) {
  if (used_ && !options_.persistent) {
    throw std::logic_error(
        "GradientTape::gradient: a non-persistent tape can compute gradients only once; "
        "create it with TapeOptions{.persistent = true} to call gradient() several times");
  }
  if (!target.defined()) throw std::invalid_argument("GradientTape::gradient: target is undefined");
  Tensor seed = output_gradient;
  if (seed.defined()) {
    if (seed.shape() != target.shape()) {
      throw std::invalid_argument("GradientTape::gradient: output_gradient must have the target's shape; got target.shape=" +
                                  shape_to_string(target.shape()) + ", output_gradient.shape=" +
                                  shape_to_string(seed.shape()));
    }
  } else if (target.size() != 1) {
    throw std::logic_error(
        "GradientTape::gradient: the target is not a scalar (shape " +
        shape_to_string(target.shape()) +
        "); pass an output_gradient of that shape, or reduce the target first (e.g. sum)");
  } else {
    seed = Tensor::ones(target.shape());
  }

  // Each source maps to the ids whose gradients it collects.
  std::vector<std::vector<Id>> source_ids;
  std::vector<Id> wanted;
  for (const Source& s : sources.items()) {
    std::vector<Id> ids;
    if (s.variable.defined()) {
      auto it = variable_reads_.find(s.variable.handle());
      if (it != variable_reads_.end()) ids = it->second;
    } else {
      if (!s.tensor.defined()) {
        throw std::invalid_argument("GradientTape::gradient: a source tensor is undefined");
      }
      ids.push_back(s.tensor.id());
    }
    wanted.insert(wanted.end(), ids.begin(), ids.end());
    source_ids.push_back(std::move(ids));
  }

  used_ = true;
  std::unordered_map<Id, Tensor> grads;
  {
    Pause pause(*this);  // this tape does not record its own gradient computation
    grads = walk(target, wanted, seed);
    if (!options_.persistent) {
      records_.clear();
      records_.shrink_to_fit();
    }
  }

  std::vector<Tensor> result;
  const auto& items = sources.items();
  for (std::size_t s = 0; s < items.size(); ++s) {
    Tensor total;
    for (Id id : source_ids[s]) {
      auto it = grads.find(id);
      if (it == grads.end()) continue;
      total = total.defined() ? add(total, it->second) : it->second;
    }
    if (!total.defined() && unconnected == Unconnected::Zero) {
      total = Tensor::zeros(items[s].variable.defined() ? items[s].variable.shape()
                                                        : items[s].tensor.shape());
    }
    result.push_back(total);
  }
  return result;
}

}  // namespace xgrad
