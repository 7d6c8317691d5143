# OpenBLAS through CBLAS. Prefer Debian's OpenMP build of OpenBLAS, so that the BLAS and our
# OpenMP loops share one thread pool (two pools fight over 2 cores). The library sits outside
# the default search path; CMake puts its directory in the RUNPATH, so the loader picks it
# over the pthread build that the alternatives system points libopenblas.so.0 to.
find_library(XGRAD_OPENBLAS_LIBRARY NAMES openblas
             PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_path(XGRAD_OPENBLAS_INCLUDE_DIR NAMES cblas.h
          PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(NOT XGRAD_OPENBLAS_LIBRARY OR NOT XGRAD_OPENBLAS_INCLUDE_DIR)
  message(STATUS "OpenMP build of OpenBLAS not found; using the default libopenblas")
  find_library(XGRAD_OPENBLAS_LIBRARY NAMES openblas REQUIRED)
  find_path(XGRAD_OPENBLAS_INCLUDE_DIR NAMES cblas.h PATH_SUFFIXES openblas REQUIRED)
endif()
message(STATUS "OpenBLAS: ${XGRAD_OPENBLAS_LIBRARY} (cblas.h in ${XGRAD_OPENBLAS_INCLUDE_DIR})")
add_library(xgrad_openblas INTERFACE)
target_link_libraries(xgrad_openblas INTERFACE ${XGRAD_OPENBLAS_LIBRARY})
target_include_directories(xgrad_openblas SYSTEM INTERFACE ${XGRAD_OPENBLAS_INCLUDE_DIR})
