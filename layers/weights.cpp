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

// Checks `entries` against the model's variables: each variable present with its shape and
// a floating dtype; entries under an ignored prefix skipped; anything else unexpected.
// Returns every problem found; fills `index` (entry name → position).
std::vector<std::string> match_problems(const std::vector<Variable>& vars, const NamedTensors& entries,
                                        const NpzDtypes& dtypes, const std::vector<std::string>& ignored_prefixes,
                                        std::map<std::string, std::size_t>& index) {
  for (std::size_t i = 0; i < entries.size(); ++i) index[entries[i].first] = i;
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const Variable& v : vars) {
    auto it = index.find(v.name());
    if (it == index.end()) {
      problems.push_back("missing '" + v.name() + "' " + shape_to_string(v.shape()));
      continue;
    }
    used.insert(v.name());
    const Tensor& t = entries[it->second].second;
    const std::string dtype = it->second < dtypes.size() ? dtypes[it->second] : "float32";
    if (t.shape() != v.shape()) {
      problems.push_back("'" + v.name() + "' has shape " + shape_to_string(t.shape()) + " in the file, " +
                         shape_to_string(v.shape()) + " in the model");
    } else if (dtype != "float32" && dtype != "float64") {
      problems.push_back("'" + v.name() + "' has dtype " + dtype + "; expected float32 or float64");
    }
  }
  for (const auto& [name, t] : entries) {
    if (used.count(name)) continue;
    bool ignored = false;
    for (const std::string& prefix : ignored_prefixes) ignored = ignored || starts_with(name, prefix);
    if (!ignored) problems.push_back("unexpected '" + name + "' " + shape_to_string(t.shape()));
  }
  return problems;
}

void assign_all(const std::vector<Variable>& vars, const NamedTensors& entries,
                const std::map<std::string, std::size_t>& index) {
  for (const Variable& v : vars) {
    Variable target = v;
    target.assign(entries[index.at(v.name())].second);
  }
}

std::string mismatch_message(const std::string& head, const std::vector<std::string>& problems) {
  std::string msg = head;
  for (const std::string& p : problems) msg += "\n  " + p;
  return msg;
}

}  // namespace

NamedTensors weights_of(const Layer& model) {
  NamedTensors arrays;
  for (const Variable& v : checked_variables("weights_of", model)) arrays.emplace_back(v.name(), v.peek());
  return arrays;
}

void set_weights(Layer& model, const NamedTensors& entries, const NpzDtypes& dtypes, const std::string& source,
                 const std::vector<std::string>& ignored_prefixes) {
  const std::vector<Variable> vars = checked_variables("set_weights", model);
  std::map<std::string, std::size_t> index;
  const std::vector<std::string> problems = match_problems(vars, entries, dtypes, ignored_prefixes, index);
  if (!problems.empty()) {
    throw std::runtime_error(mismatch_message(source + ": does not match model '" + model.path() + "':", problems));
  }
  assign_all(vars, entries, index);
}

void save_weights(const std::string& path, const Layer& model, const optim::Optimizer* optimizer) {
  NamedTensors arrays = weights_of(model);
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
  std::vector<std::string> problems = match_problems(vars, file, dtypes, {kOptimizerPrefix}, index);
  NamedTensors optimizer_state;
  if (optimizer) {
    for (const auto& [name, t] : file) {
      if (starts_with(name, kOptimizerPrefix)) {
        optimizer_state.emplace_back(name.substr(std::string(kOptimizerPrefix).size()), t);
      }
    }
    if (optimizer_state.empty()) {
      problems.push_back("no optimizer state (entries '" + std::string(kOptimizerPrefix) +
                         "…'), but an optimizer was given");
    }
  }
  if (!problems.empty()) {
    throw std::runtime_error(
        mismatch_message("load_weights: '" + path + "' does not match model '" + model.path() + "':", problems));
  }
  // The optimizer validates its own entries; it throws before anything is assigned.
  if (optimizer) {
    try {
      optimizer->load_state(optimizer_state, model.trainable_variables());
    } catch (const std::exception& e) {
      throw std::runtime_error("load_weights: '" + path + "': optimizer state: " + e.what());
    }
  }
  assign_all(vars, file, index);
}

}  // namespace xgrad::layers
