# oneDNN (Debian's libdnnl-dev, built on GNU OpenMP like our loops and the OpenMP OpenBLAS, so
# all three share one thread pool). Used only for dnnl_sgemm, which beats OpenBLAS on the
# skinny im2col GEMMs of the convolutions (see autograd/detail/blas.cpp). The double build has
# no use for it: there xgrad_dnnl is empty and XGRAD_HAVE_DNNL is 0.
add_library(xgrad_dnnl INTERFACE)
if(XGRAD_DOUBLE)
  target_compile_definitions(xgrad_dnnl INTERFACE XGRAD_HAVE_DNNL=0)
  message(STATUS "oneDNN: not used in the double build")
else()
  find_path(XGRAD_DNNL_INCLUDE_DIR NAMES dnnl.h REQUIRED)
  find_library(XGRAD_DNNL_LIBRARY NAMES dnnl REQUIRED)
  message(STATUS "oneDNN: ${XGRAD_DNNL_LIBRARY} (dnnl.h in ${XGRAD_DNNL_INCLUDE_DIR})")
  target_link_libraries(xgrad_dnnl INTERFACE ${XGRAD_DNNL_LIBRARY})
  target_include_directories(xgrad_dnnl SYSTEM INTERFACE ${XGRAD_DNNL_INCLUDE_DIR})
  target_compile_definitions(xgrad_dnnl INTERFACE XGRAD_HAVE_DNNL=1)
endif()
