// gtest main for every xgrad test executable: a fixed thread count keeps results the same
// from one run to the next.
#include <gtest/gtest.h>

#include "autograd/threads.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  xgrad::set_num_threads(2);
  return RUN_ALL_TESTS();
}
