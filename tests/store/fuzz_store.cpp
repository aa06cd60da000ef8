// SPDX-License-Identifier: MIT
// libFuzzer target for the readers of srr's own HDF5 files: the bytes are written to a file and opened as a
// store (every done layer read back, which checks its checksum) and as a calibration file (every input read
// and checked). Rejection must be an srr::InputError (a ChecksumError included); any other exception, crash
// or sanitizer report in srr's code is a bug. Seeds are small real files (srr_store_tool seeds DIR). Built
// with clang++ by tests/store/CMakeLists.txt, like tests/model/fuzz_safetensors.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/error.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("srr-fuzz-" + std::to_string(::getpid()) + ".h5")).string();
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  try {
    const auto store = srr::store::Store::open_read_only(path);
    const auto done = store.done();
    for (std::size_t i = 0; i < done.size(); ++i)
      if (done[i]) store.read_layer(i);
  } catch (const srr::InputError&) {
  }
  try {
    srr::store::verify_calibration(path);
  } catch (const srr::InputError&) {
  }
  return 0;
}
