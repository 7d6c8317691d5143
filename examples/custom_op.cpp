// A user-defined op with custom_gradient, checked with check_gradients — the workflow of a
// model author adding an op the library does not have.
//
//   build/float/examples/custom_op

#include <cmath>
#include <iostream>

#include "autograd/autograd.h"

using namespace xgrad;

// Huber loss per element: ½x² for |x| <= δ, δ(|x| - ½δ) beyond. Its gradient, clip(x, -δ, δ),
// is written with ops, so the new op is twice differentiable.
Tensor huber(const Tensor& x, real delta) {
  return custom_gradient(
      "huber", {x},
      [delta](const std::vector<Tensor>& in) {
        const Tensor& v = in[0];
        Tensor small = less_equal(abs(v), Tensor(delta));
        Tensor quadratic = square(v) * real(0.5);
        Tensor linear = (abs(v) - real(0.5) * delta) * delta;
        return where(small, quadratic, linear);
      },
      [delta](const std::vector<Tensor>& in, const Tensor& /*output*/, const Tensor& grad) {
        return std::vector<Tensor>{grad * clip(in[0], -delta, delta)};
      });
}

// The same op with a deliberate bug in its backward (forgets the clip), to show what a
// failing check reports.
Tensor huber_buggy(const Tensor& x, real delta) {
  return custom_gradient(
      "huber_buggy", {x}, [delta](const std::vector<Tensor>& in) { return huber(in[0], delta); },
      [](const std::vector<Tensor>& in, const Tensor&, const Tensor& grad) {
        return std::vector<Tensor>{grad * in[0]};
      });
}

int main() try {
  const Tensor x{{-3.0f, -0.5f, 0.25f}, {0.75f, 1.5f, 4.0f}};

  GradientTape tape;
  tape.watch(x);
  Tensor loss = sum(huber(x, 1.0f));
  std::cout << "huber loss: " << loss.item() << "\n";
  std::cout << "d loss / dx: " << tape.gradient(loss, x)[0] << "\n";

  auto good = check_gradients([](const std::vector<Tensor>& in) { return huber(in[0], 1.0f); }, {x});
  std::cout << "check_gradients(huber):       " << good.message << "\n";
  auto bad = check_gradients([](const std::vector<Tensor>& in) { return huber_buggy(in[0], 1.0f); }, {x});
  std::cout << "check_gradients(huber_buggy): " << bad.message << "\n";
  return good.ok && !bad.ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
