#include "layers/initializers.h"

#include <cmath>
#include <stdexcept>

namespace xgrad::layers {

std::mt19937_64& random_engine() {
  static std::mt19937_64 engine(0x5eed);
  return engine;
}

void set_random_seed(std::uint64_t seed) { random_engine().seed(seed); }

std::pair<double, double> compute_fans(const Shape& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {double(shape[0]), double(shape[0])};
  double receptive = 1;
  for (std::size_t i = 0; i + 2 < shape.size(); ++i) receptive *= double(shape[i]);
  return {receptive * double(shape[shape.size() - 2]), receptive * double(shape.back())};
}

namespace {

template <class Draw>
Tensor fill(const Shape& shape, Draw draw) {
  std::vector<real> values(shape_size(shape));
  for (real& v : values) v = static_cast<real>(draw());
  return Tensor::from_vector(shape, std::move(values));
}

class GlorotUniform final : public Initializer {
 public:
  Tensor operator()(const Shape& shape) const override {
    const auto [fan_in, fan_out] = compute_fans(shape);
    const double limit = std::sqrt(6.0 / std::max(1.0, fan_in + fan_out));
    std::uniform_real_distribution<double> u(-limit, limit);
    return fill(shape, [&] { return u(random_engine()); });
  }
  std::string name() const override { return "glorot_uniform"; }
};

class HeNormal final : public Initializer {
 public:
  Tensor operator()(const Shape& shape) const override {
    const double fan_in = std::max(1.0, compute_fans(shape).first);
    // Keras divides by the standard deviation of a unit normal truncated at ±2 so that the
    // truncated distribution keeps variance 2/fan_in.
    const double sigma = std::sqrt(2.0 / fan_in) / 0.87962566103423978;
    std::normal_distribution<double> n(0.0, sigma);
    return fill(shape, [&] {
      double v;
      do v = n(random_engine());
      while (std::abs(v) > 2 * sigma);
      return v;
    });
  }
  std::string name() const override { return "he_normal"; }
};

class Constant final : public Initializer {
 public:
  explicit Constant(real value, std::string name) : value_(value), name_(std::move(name)) {}
  Tensor operator()(const Shape& shape) const override { return Tensor::full(shape, value_); }
  std::string name() const override { return name_; }

 private:
  real value_;
  std::string name_;
};

}  // namespace

std::shared_ptr<const Initializer> glorot_uniform() { return std::make_shared<GlorotUniform>(); }
std::shared_ptr<const Initializer> he_normal() { return std::make_shared<HeNormal>(); }
std::shared_ptr<const Initializer> zeros() { return std::make_shared<Constant>(real(0), "zeros"); }
std::shared_ptr<const Initializer> ones() { return std::make_shared<Constant>(real(1), "ones"); }
std::shared_ptr<const Initializer> constant(real value) {
  return std::make_shared<Constant>(value, "constant");
}

}  // namespace xgrad::layers
