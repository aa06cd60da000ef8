// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The project's one error policy: every failure is an exception derived from srr::Error.
/// InputError is for things a user can fix (a bad option, a bad file, a missing tensor); the command line
/// prints its message and exits with code 2. Everything else is an internal or foreign-library failure.

#include <sstream>
#include <stdexcept>
#include <string>

namespace srr {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Bad input from the user: names the file, tensor or option and says what was expected.
class InputError : public Error {
public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

/// Throws InputError(message) when cond is false. The message pieces are streamed together.
template <class... Args>
void require(bool cond, Args&&... message) {
  if (!cond) throw InputError(detail::concat(std::forward<Args>(message)...));
}

}  // namespace srr

/// Internal invariant: throws srr::Error naming the file and line. Used for bugs, not for user input.
#define SRR_ASSERT(cond)                                                                                   \
  do {                                                                                                     \
    if (!(cond))                                                                                           \
      throw ::srr::Error(::srr::detail::concat(__FILE__, ":", __LINE__, ": assertion failed: ", #cond));  \
  } while (0)
