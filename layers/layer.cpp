#include "layers/layer.h"

#include <cctype>
#include <regex>
#include <stdexcept>

#include "autograd/check.h"

namespace xgrad::layers {

std::string to_snake_case(const std::string& camel) {
  // Keras's two substitutions (keras/utils/generic_utils.py):
  //   1. "(.)([A-Z][a-z0-9]+)" → "\1_\2": a capitalised word after any character starts a new
  //      word ("Conv2DTranspose" → "Conv2D_Transpose", "HTTPServer" → "HTTP_Server");
  //   2. "([a-z])([A-Z])" → "\1_\2": any lower-upper boundary left ("ReLU" → "Re_LU"; and
  //      "FooBarBaz", which step 1 leaves as "Foo_BarBaz" since its matches cannot overlap);
  // then lower case. An upper-case letter after a digit with no lower case after it stays in
  // the word: "Conv2D" → "conv2d", "MaxPooling2D" → "max_pooling2d".
  static const std::regex word("(.)([A-Z][a-z0-9]+)");
  static const std::regex boundary("([a-z])([A-Z])");
  std::string out =
      std::regex_replace(std::regex_replace(camel, word, "$1_$2"), boundary, "$1_$2");
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Layer::Layer(std::string name) : name_(std::move(name)) {}
Layer::~Layer() = default;

std::string Layer::default_name() const { return to_snake_case(class_name()); }

// The name is resolved lazily: class_name() is virtual and cannot be called from the
// constructor.
const std::string& Layer::resolved_name() const {
  if (name_.empty()) name_ = default_name();
  return name_;
}

std::string Layer::path() const {
  const std::string& own = resolved_name();
  return parent_ ? parent_->path() + "/" + own : own;
}

void Layer::fail(const std::string& message) const {
  throw std::invalid_argument(path() + " (" + class_name() + "): " + message);
}

void Layer::track(const std::shared_ptr<Layer>& layer) {
  if (!layer) fail("cannot add a null layer");
  if (layer->parent_ && layer->parent_ != this) {
    fail("layer '" + layer->path() + "' already belongs to another model");
  }
  for (const auto& l : layers_) {
    if (l == layer) fail("layer '" + layer->name() + "' was added twice");
  }
  const std::string base = layer->resolved_name();
  std::string name = base;
  for (int k = 1;; ++k) {
    bool taken = false;
    for (const auto& l : layers_) taken = taken || l->resolved_name() == name;
    if (!taken) break;
    name = base + "_" + std::to_string(k);
  }
  layer->name_ = name;
  layer->parent_ = this;
  layers_.push_back(layer);
}

void Layer::build(const Shape&) {}

Tensor Layer::operator()(const Tensor& input, bool training) {
  if (!input.defined()) fail("input is undefined");
  const Shape& shape = input.shape();
  const std::size_t rank = input_rank();
  if (rank != 0 && shape.size() != rank) {
    fail("input must be rank " + std::to_string(rank) + "; got input.shape=" +
         shape_to_string(shape));
  }
  if (rank == 0 && shape.size() < min_input_rank()) {
    fail("input must have rank >= " + std::to_string(min_input_rank()) +
         "; got input.shape=" + shape_to_string(shape));
  }
  if (!built_) {
    build(shape);
    built_ = true;
    build_shape_ = shape;
  } else {
    bool same = shape.size() == build_shape_.size();
    for (std::size_t i = 1; same && i < shape.size(); ++i) same = shape[i] == build_shape_[i];
    if (!same) {
      fail("was built for inputs of shape " + shape_to_string(build_shape_) +
           " (any batch size); got input.shape=" + shape_to_string(shape));
    }
  }
  Tensor out = call(input, training);
  output_shape_ = out.shape();
  return out;
}

Variable Layer::add_weight(const std::string& name, const Shape& shape,
                           const Initializer& initializer, bool trainable) {
  Variable v(initializer(shape), path() + "/" + name, trainable);
  weights_.push_back(v);
  return v;
}

void Layer::collect(std::vector<Variable>& out) const {
  out.insert(out.end(), weights_.begin(), weights_.end());
  for (const auto& l : layers_) l->collect(out);
}

std::vector<Variable> Layer::variables() const {
  std::vector<Variable> out;
  collect(out);
  return out;
}

std::vector<Variable> Layer::trainable_variables() const {
  std::vector<Variable> out;
  for (const Variable& v : variables()) {
    if (v.trainable()) out.push_back(v);
  }
  return out;
}

std::vector<Variable> Layer::non_trainable_variables() const {
  std::vector<Variable> out;
  for (const Variable& v : variables()) {
    if (!v.trainable()) out.push_back(v);
  }
  return out;
}

std::size_t Layer::count_params() const {
  std::size_t n = 0;
  for (const Variable& v : variables()) n += v.size();
  return n;
}

}  // namespace xgrad::layers
