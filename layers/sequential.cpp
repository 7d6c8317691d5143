#include "layers/sequential.h"

#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace xgrad::layers {

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers, std::string name)
    : Layer(std::move(name)) {
  for (auto& l : layers) add(std::move(l));
}

void Sequential::add(std::shared_ptr<Layer> layer) {
  if (built()) {
    throw std::logic_error(path() + " (Sequential): cannot add layers after the model was built");
  }
  add_layer(std::move(layer));
}

// Checked in build, not only in call: Layer::operator() marks a layer built once build returns,
// and a built Sequential refuses add(), so an empty model called by mistake would be stuck.
void Sequential::build(const Shape&) {
  if (layers().empty()) fail("has no layers; add() some before calling the model");
}

Tensor Sequential::call(const Tensor& input, bool training) {
  if (layers().empty()) fail("has no layers");
  Tensor x = input;
  for (const auto& layer : layers()) x = (*layer)(x, training);
  return x;
}

namespace {
std::string keras_shape(const Shape& s) {
  std::string out = "(None";
  for (std::size_t i = 1; i < s.size(); ++i) out += ", " + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::string with_commas(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}
}  // namespace

std::string Sequential::summary() const {
  if (!built()) {
    throw std::logic_error(path() + " (Sequential): summary() needs a built model; call it on a batch first");
  }
  std::ostringstream os;
  const std::string rule(69, '_'), thick(69, '=');
  os << "Model: \"" << name() << "\"\n" << rule << "\n";
  os << std::left << std::setw(32) << " Layer (type)" << std::setw(26) << "Output Shape" << "Param #\n";
  os << thick << "\n";
  for (std::size_t i = 0; i < layers().size(); ++i) {
    const Layer& l = *layers()[i];
    std::string label = " " + l.name() + " (" + l.class_name() + ")";
    if (label.size() >= 32) label += " ";  // long names push the row right rather than touch
    os << std::left << std::setw(32) << label << std::setw(26)
       << keras_shape(l.output_shape()) << with_commas(l.count_params()) << "\n";
    if (i + 1 < layers().size()) os << "\n";
  }
  std::size_t trainable = 0, frozen = 0;
  for (const Variable& v : variables()) (v.trainable() ? trainable : frozen) += v.size();
  os << thick << "\n";
  os << "Total params: " << with_commas(trainable + frozen) << "\n";
  os << "Trainable params: " << with_commas(trainable) << "\n";
  os << "Non-trainable params: " << with_commas(frozen) << "\n" << rule << "\n";
  return os.str();
}

}  // namespace xgrad::layers
