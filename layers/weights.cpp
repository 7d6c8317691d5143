#include "layers/weights.h"

#include <map>
#include <set>
#include <stdexcept>

#include "autograd/npz.h"

namespace xgrad::layers {

namespace {

std::vector<Variable> checked_variables(const char* what, const Layer& model) {
  std::vector<Variable> vars = model.variables();
  if (vars.empty() && !model.built()) {
    throw std::logic_error(std::string(what) + ": model '" + model.path() +
                           "' is not built yet; call it on a batch first so that its variables exist");
  }
  std::set<std::string> names;
  for (const Variable& v : vars) {
    if (!names.insert(v.name()).second) {
      throw std::logic_error(std::string(what) + ": two variables of model '" + model.path() +
                             "' are both named '" + v.name() + "'");
    }
  }
  return vars;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

void save_weights(const std::string& path, const Layer& model, const optim::Optimizer* optimizer) {
  const std::vector<Variable> vars = checked_variables("save_weights", model);
  NamedTensors arrays;
  for (const Variable& v : vars) arrays.emplace_back(v.name(), v.peek());
  if (optimizer) {
    for (auto& [name, t] : optimizer->state(model.trainable_variables())) {
      arrays.emplace_back(kOptimizerPrefix + name, t);
    }
  }
  save_npz(path, arrays);
}

void load_weights(const std::string& path, Layer& model, optim::Optimizer* optimizer) {
  const std::vector<Variable> vars = checked_variables("load_weights", model);
  NpzDtypes dtypes;
  const NamedTensors file = load_npz(path, &dtypes);

  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < file.size(); ++i) index[file[i].first] = i;

  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const Variable& v : vars) {
    auto it = index.find(v.name());
    if (it == index.end()) {
      problems.push_back("missing '" + v.name() + "' " + shape_to_string(v.shape()));
      continue;
    }
    used.insert(v.name());
    const Tensor& t = file[it->second].second;
    const std::string& dtype = dtypes[it->second];
    if (t.shape() != v.shape()) {
      problems.push_back("'" + v.name() + "' has shape " + shape_to_string(t.shape()) + " in the file, " +
                         shape_to_string(v.shape()) + " in the model");
    } else if (dtype != "float32" && dtype != "float64") {
      problems.push_back("'" + v.name() + "' has dtype " + dtype + "; expected float32");
    }
  }
  NamedTensors optimizer_state;
  for (const auto& [name, t] : file) {
    if (used.count(name)) continue;
    if (starts_with(name, kOptimizerPrefix)) {
      if (optimizer) optimizer_state.emplace_back(name.substr(std::string(kOptimizerPrefix).size()), t);
      continue;
    }
    problems.push_back("unexpected '" + name + "' " + shape_to_string(t.shape()));
  }
  if (optimizer && optimizer_state.empty()) {
    problems.push_back("no optimizer state (entries '" + std::string(kOptimizerPrefix) + "…'), but an optimizer was given");
  }
  if (!problems.empty()) {
    std::string msg = "load_weights: '" + path + "' does not match model '" + model.path() + "':";
    for (const std::string& p : problems) msg += "\n  " + p;
    throw std::runtime_error(msg);
  }
  // The optimizer validates its own entries; it throws before anything is assigned.
  if (optimizer) {
    try {
      optimizer->load_state(optimizer_state, model.trainable_variables());
    } catch (const std::exception& e) {
      throw std::runtime_error("load_weights: '" + path + "': optimizer state: " + e.what());
    }
  }
  for (const Variable& v : vars) {
    Variable target = v;
    target.assign(file[index.at(v.name())].second);
  }
}

}  // namespace xgrad::layers
