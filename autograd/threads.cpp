#include "autograd/threads.h"

#include <omp.h>

#include <cblas.h>
#include <stdexcept>
#include <string>

namespace xgrad {

namespace {
int& thread_count() {
  static int n = [] {
    const int t = omp_get_max_threads();
    openblas_set_num_threads(t);
    return t;
  }();
  return n;
}
}  // namespace

void set_num_threads(int n) {
  if (n < 1) {
    throw std::invalid_argument("set_num_threads: n must be >= 1; got " + std::to_string(n));
  }
  thread_count() = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return thread_count(); }

}  // namespace xgrad
