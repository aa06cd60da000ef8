// SPDX-License-Identifier: MIT
#include "sweep/process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "base/error.hpp"

namespace srr::sweep {

fs::path self_executable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot resolve /proc/self/exe: " + ec.message());
  return p;
}

Launcher Launcher::choose(const std::string& requested, int np) {
  Launcher l;
  l.np = np;
  if (requested != "auto") l.mode = requested;
  else if (np == 1) l.mode = "direct";
  else if (const char* job = std::getenv("SLURM_JOB_ID"); job && *job) l.mode = "srun";
  else l.mode = "mpirun";
  require(l.mode != "direct" || np == 1, "launcher direct runs one process, but np = ", np);
  return l;
}

std::vector<std::string> Launcher::wrap(const fs::path& exe, const std::vector<std::string>& args) const {
  std::vector<std::string> cmd;
  const std::string n = std::to_string(np);
  if (mode == "srun") {
    // One step of the allocation; the array task was submitted with --ntasks=np (slurm/sweep.sbatch).
    cmd = {"srun", "--mpi=pmix", "--ntasks=" + n, "--export=ALL"};
  } else if (mode == "mpirun") {
    cmd = {"mpirun", "-np", n, "--oversubscribe", "-x", "OPENBLAS_NUM_THREADS", "-x", "OMP_NUM_THREADS"};
    // mpirun refuses root and still exits 0 (toolchain.md P8); the driver checks outputs anyway.
    if (::geteuid() == 0) cmd.emplace_back("--allow-run-as-root");
  }
  cmd.push_back(exe.string());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

namespace {
std::string name_of_signal(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal " + std::to_string(sig);
}
}  // namespace

Interrupted::Interrupted(int signal) : Error("interrupted by " + name_of_signal(signal)), signal_(signal) {}

std::string Interrupted::signal_name() const { return name_of_signal(signal_); }

void Interrupted::die() const {
  std::signal(signal_, SIG_DFL);
  ::raise(signal_);
  ::_exit(128 + signal_);  // not reached: the default action of SIGTERM and SIGINT ends the process
}

namespace {

/// Opens `path` onto descriptor `target` in the child; on failure the child exits with 127.
void redirect(const fs::path& path, int target, int flags) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), flags | O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::dup2(fd, target) < 0) ::_exit(127);
  ::close(fd);
}

/// The running child and the first SIGTERM/SIGINT the driver received while waiting for it. The handler
/// forwards the signal, so that stopping `srr sweep run` stops the step it runs instead of orphaning it.
volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_signal = 0;

void forward_signal(int sig) {
  if (g_signal == 0) g_signal = sig;
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
}

/// Installs forward_signal for SIGTERM and SIGINT for the life of the object, then restores the old
/// handlers.
class SignalForwarding {
public:
  explicit SignalForwarding(pid_t child) {
    g_signal = 0;
    g_child = child;
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    // A signal the driver was started ignoring (SIGINT of a background job) stays ignored.
    ::sigaction(SIGTERM, nullptr, &old_term_);
    ::sigaction(SIGINT, nullptr, &old_int_);
    if (old_term_.sa_handler != SIG_IGN) ::sigaction(SIGTERM, &sa, nullptr);
    if (old_int_.sa_handler != SIG_IGN) ::sigaction(SIGINT, &sa, nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;
  ~SignalForwarding() { restore(); }
  /// The child was reaped: nothing more to forward to (its pid may be reused).
  void child_ended() { g_child = 0; }
  /// Restores the old handlers and returns the first signal forwarded (0: none).
  int finish() {
    const int sig = g_signal;
    restore();
    return sig;
  }

private:
  void restore() {
    g_child = 0;
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
  }
  struct sigaction old_term_ {}, old_int_ {};
};

}  // namespace

int run_process(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  require(!argv.empty(), "run_process: empty command");
  for (const auto& p : {out, err})
    if (!p.empty() && p.has_parent_path()) fs::create_directories(p.parent_path());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // SIGTERM and SIGINT are held from before the fork until the forwarding handler knows the child, so one
  // that arrives in between is forwarded to the child rather than ending the driver alone.
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    throw Error(std::string("fork failed: ") + std::strerror(e));
  }
  if (pid == 0) {
    // A driver killed outright (SIGKILL) cannot forward anything: the kernel sends the step SIGTERM then.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(128 + SIGTERM);  // the driver died before prctl
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    redirect(err, STDERR_FILENO, O_APPEND);
    if (!out.empty() && out == err) {
      if (::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) ::_exit(127);
    } else {
      redirect(out, STDOUT_FILENO, O_TRUNC);
    }
    ::execvp(args[0], args.data());
    const std::string msg = "exec " + argv[0] + " failed: " + std::strerror(errno) + "\n";
    [[maybe_unused]] const auto n = ::write(STDERR_FILENO, msg.data(), msg.size());
    ::_exit(127);
  }
  SignalForwarding forwarding(pid);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error(std::string("waitpid failed: ") + std::strerror(errno));
  forwarding.child_ended();
  if (const int sig = forwarding.finish(); sig != 0) throw Interrupted(sig);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) {
    if (!line.empty()) line += ' ';
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789-_./=:,+%@") == std::string::npos;
    if (plain) {
      line += a;
      continue;
    }
    line += '\'';
    for (const char c : a) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

}  // namespace srr::sweep
