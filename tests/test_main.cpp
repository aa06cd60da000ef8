// SPDX-License-Identifier: MIT
// GoogleTest main for the serial unit tests. (MPI tests have their own main in tests/parallel.)
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
