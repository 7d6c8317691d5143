#pragma once
/// \file
/// The library-wide thread count, shared by every OpenMP loop of xgrad and by the GEMMs
/// (oneDNN reads the OpenMP setting at each call; OpenBLAS's OpenMP build is told too).

namespace xgrad {

/// Sets the number of threads used by parallel loops, oneDNN and OpenBLAS (n >= 1; throws
/// std::invalid_argument otherwise). Results are deterministic for a given thread count.
void set_num_threads(int n);

/// The current thread count (initially the number of cores, or OMP_NUM_THREADS).
int num_threads();

}  // namespace xgrad
