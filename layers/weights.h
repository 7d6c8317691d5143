#pragma once
/// \file
/// Model weight files: every variable of a model (and optionally an optimizer's state) in
/// one NumPy `.npz`, one float32 array per variable named by its path
/// (`tower/conv2d_1/kernel`), readable with `numpy.load(path, allow_pickle=False)`.

#include <string>
#include <vector>

#include "autograd/npz.h"
#include "autograd/optim/optimizer.h"
#include "layers/layer.h"

namespace xgrad::layers {

/// Prefix of optimizer-state entries in a weights file ("optimizer/iterations", …).
inline constexpr const char* kOptimizerPrefix = "optimizer/";

/// Writes every variable of `model` (trainable and not) and, when given, the optimizer's
/// state for the model's trainable variables, atomically (temporary file + rename).
/// Throws std::logic_error for a model that is not built yet or whose variable names
/// collide, std::runtime_error naming `path` when the file cannot be written (the previous
/// file, if any, is left intact).
void save_weights(const std::string& path, const Layer& model,
                  const optim::Optimizer* optimizer = nullptr);

/// The model's variables as named tensors (name = variable path), in variables() order.
/// std::logic_error for a model that is not built yet or whose variable names collide.
NamedTensors weights_of(const Layer& model);

/// Assigns named tensors to the model's variables, all or nothing: every variable must have
/// an entry of its shape and a floating dtype (`dtypes[i]` is entry i's numpy dtype name, as
/// load_npz reports it; an empty list means float32), and every entry must be a variable
/// unless its name starts with one of `ignored_prefixes`. Otherwise throws
/// std::runtime_error "<source>: does not match model …" listing every problem, and changes
/// nothing.
void set_weights(Layer& model, const NamedTensors& entries, const NpzDtypes& dtypes,
                 const std::string& source, const std::vector<std::string>& ignored_prefixes = {});

/// Loads a file written by save_weights (or numpy.savez with the same names) into a built
/// model, and the optimizer state when an optimizer is given. Every variable must be in
/// the file with its shape and a floating-point dtype; entries the model does not have are
/// an error (optimizer entries are ignored when no optimizer is given). All problems are
/// listed in one std::runtime_error naming the file — missing, unexpected and mismatched
/// names with their shapes — and then nothing is changed: a load is all or nothing.
/// std::logic_error for a model that is not built yet.
void load_weights(const std::string& path, Layer& model, optim::Optimizer* optimizer = nullptr);

}  // namespace xgrad::layers
