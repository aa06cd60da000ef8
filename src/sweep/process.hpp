// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Child processes of the sweep driver. A sweep point runs `srr calibrate`, `srr quantize` and `srr eval`
/// as separate processes of the same binary, so the driver needs no MPI of its own and every step is
/// exactly what a user would run by hand (and can be rerun from the command printed in the log).

#include <filesystem>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace srr::sweep {

namespace fs = std::filesystem;

/// The running executable (/proc/self/exe resolved), for launching our own sub-commands.
fs::path self_executable();

/// How the MPI-parallel steps of a point are started.
struct Launcher {
  std::string mode = "direct";  ///< direct | srun | mpirun
  int np = 1;
  /// direct for np = 1; srun --mpi=pmix inside a Slurm allocation (SLURM_JOB_ID set); mpirun otherwise.
  static Launcher choose(const std::string& requested, int np);
  /// The full command line for `exe args…` under this launcher.
  std::vector<std::string> wrap(const fs::path& exe, const std::vector<std::string>& args) const;
};

/// The driver received SIGTERM or SIGINT while a child ran: run_process forwarded the signal to the child
/// and waited for it to end. Not a failure of the step: the caller records the interruption (the point
/// stays unfinished, a rerun resumes it) and then calls die().
class Interrupted : public Error {
public:
  explicit Interrupted(int signal);
  int signal() const { return signal_; }
  /// "SIGTERM" or "SIGINT".
  std::string signal_name() const;
  /// Dies of the signal with its default disposition, as the driver would have without the forwarding
  /// handler (the shell or Slurm then sees 128 + signal).
  [[noreturn]] void die() const;

private:
  int signal_;
};

/// Runs `argv` (argv[0] looked up in PATH when it has no slash) with stdout written to `out` and stderr
/// appended to `err` (either may be empty: inherit; when they are the same file both append), waits for
/// it, and returns its exit code, or 128 + the signal that killed it. While the child runs, SIGTERM and
/// SIGINT sent to the driver are forwarded to it; once it has ended, Interrupted is thrown. Throws
/// srr::Error when the process cannot be started.
int run_process(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err);

/// The command as one shell-quoted line (for logs).
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace srr::sweep
