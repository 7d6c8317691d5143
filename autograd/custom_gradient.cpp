#include "autograd/custom_gradient.h"

#include <stdexcept>
#include <string>

#include "autograd/detail/record.h"

namespace xgrad {

Tensor custom_gradient(
    const char* name, const std::vector<Tensor>& inputs,
    const std::function<Tensor(const std::vector<Tensor>&)>& forward,
    std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&, const Tensor&)>
        backward) {
  if (!forward || !backward) {
    throw std::invalid_argument(std::string(name) + ": custom_gradient needs a forward and a backward");
  }
  Tensor out;
  {
    detail::PauseAllTapes pause;
    out = forward(inputs);
  }
  if (!out.defined()) {
    throw std::invalid_argument(std::string(name) + ": custom_gradient forward returned an undefined tensor");
  }
  // The output needs an id of its own: a forward that returns an input unchanged would
  // otherwise make the record its own input.
  for (const Tensor& in : inputs) {
    if (in.defined() && in.id() == out.id()) {
      out = Tensor(Array(out.array()));
      break;
    }
  }
  return detail::record(
      name, out, inputs,
      detail::SimpleBackwardFn([inputs, out, backward = std::move(backward),
                                op = std::string(name)](const Tensor& g) {
        std::vector<Tensor> grads = backward(inputs, out, g);
        if (grads.size() != inputs.size()) {
          throw std::invalid_argument(op + ": custom_gradient backward returned " +
                                      std::to_string(grads.size()) + " gradients for " +
                                      std::to_string(inputs.size()) + " inputs");
        }
        return grads;
      }));
}

}  // namespace xgrad
