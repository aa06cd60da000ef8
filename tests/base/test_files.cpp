// SPDX-License-Identifier: MIT
// The file-system primitives of base/: the one file lock (shared/exclusive, blocking/try, released by the
// kernel when its holder dies, never following or writing a planted file) and the one atomic write
// (unpredictable O_EXCL|O_NOFOLLOW temporary names, replace or never-replace publication, nothing left on
// failure). Processes synchronise through pipes, never through sleeps.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "base/error.hpp"
#include "base/file_lock.hpp"
#include "base/files.hpp"
#include "../common/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using srr::FileLock;
using srr::InputError;
using srr::LockMode;
using srr::test::TempDir;
using srr::test::temporaries_beside;

std::string bytes_of(const fs::path& p) { return srr::read_file(p); }

/// A child process that takes a lock, reports on a pipe that it holds it, and keeps it until told to exit
/// (or until killed). Just before releasing it writes `<lock>.released`, so that a waiter can prove it
/// was woken only by the release.
class Holder {
public:
  Holder(const fs::path& lock, LockMode mode) : lock_(lock) {
    ::signal(SIGPIPE, SIG_IGN);  // release() after the child exited must not kill the test
    int up[2], down[2];
    EXPECT_EQ(::pipe(up), 0);
    EXPECT_EQ(::pipe(down), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      {
        const FileLock held = FileLock::acquire(lock, mode);
        const char c = 'L';
        [[maybe_unused]] auto w = ::write(up[1], &c, 1);
        char go;
        [[maybe_unused]] auto r = ::read(down[0], &go, 1);
        std::ofstream(lock.string() + ".released") << "1";
      }
      ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    release_fd_ = down[1];
    char c = 0;
    EXPECT_EQ(::read(up[0], &c, 1), 1);  // the child holds the lock from here on
    ::close(up[0]);
  }
  /// Lets the child release the lock and exit.
  void release() {
    if (release_fd_ < 0) return;
    const char c = 'G';
    [[maybe_unused]] auto w = ::write(release_fd_, &c, 1);
    ::close(release_fd_);
    release_fd_ = -1;
  }
  int kill_and_wait() {
    ::kill(pid_, SIGKILL);
    return wait();
  }
  int wait() {
    int status = 0;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  ~Holder() {
    release();
    wait();
  }

private:
  fs::path lock_;
  pid_t pid_ = -1;
  int release_fd_ = -1;
};

TEST(FileLock, ExclusiveExcludesEveryOtherLockUntilReleased) {
  TempDir dir;
  const fs::path lock = dir / "x.lock";
  Holder holder(lock, LockMode::exclusive);
  EXPECT_FALSE(FileLock::try_acquire(lock, LockMode::exclusive));
  EXPECT_FALSE(FileLock::try_acquire(lock, LockMode::shared));
  // A blocking acquire returns only after the holder released it: the marker written just before the
  // release must already exist when it returns.
  const pid_t releaser = ::fork();
  if (releaser == 0) {
    ::usleep(50'000);  // not needed for correctness: gives the parent time to block first
    holder.release();
    ::_exit(0);
  }
  const FileLock mine = FileLock::acquire(lock, LockMode::exclusive);
  EXPECT_TRUE(fs::exists(lock.string() + ".released"));
  ::waitpid(releaser, nullptr, 0);
}

TEST(FileLock, SharedLocksCoexistAndExcludeAnExclusiveOne) {
  TempDir dir;
  const fs::path lock = dir / "x.lock";
  Holder reader(lock, LockMode::shared);
  const auto second = FileLock::try_acquire(lock, LockMode::shared);
  EXPECT_TRUE(second);
  EXPECT_FALSE(FileLock::try_acquire(lock, LockMode::exclusive));
}

TEST(FileLock, AKilledHolderLeavesNoStaleLock) {
  TempDir dir;
  const fs::path lock = dir / "x.lock";
  Holder holder(lock, LockMode::exclusive);
  EXPECT_FALSE(FileLock::try_acquire(lock, LockMode::exclusive));
  const int status = holder.kill_and_wait();
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(FileLock::try_acquire(lock, LockMode::exclusive));
}

TEST(FileLock, RecordsItsHolderForMessages) {
  TempDir dir;
  const fs::path lock = dir / "x.lock";
  {
    const FileLock mine = FileLock::acquire(lock, LockMode::exclusive);
    mine.record_holder();
    EXPECT_EQ(FileLock::holder(lock).rfind("pid " + std::to_string(::getpid()) + " on ", 0), 0u);
  }
  EXPECT_EQ(FileLock::holder(dir / "none.lock"), "");
}

/// Planted objects at the lock path are refused with a message naming it, and never written.
TEST(FileLock, NeverFollowsOrWritesAPlantedFile) {
  TempDir dir;
  const fs::path victim = dir / "victim";
  std::ofstream(victim) << "precious\n";
  const auto expect_refused = [&](const fs::path& lock, const std::string& why) {
    for (LockMode mode : {LockMode::exclusive, LockMode::shared}) {
      try {
        const FileLock l = FileLock::acquire(lock, mode);
        l.record_holder();
        ADD_FAILURE() << "a planted " << why << " was accepted";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(lock.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(bytes_of(victim), "precious\n");
  };
  fs::create_symlink(victim, dir / "s.lock");
  expect_refused(dir / "s.lock", "symbolic link");
  fs::create_symlink(dir / "missing", dir / "dangling.lock");
  expect_refused(dir / "dangling.lock", "symbolic link");
  EXPECT_FALSE(fs::exists(dir / "missing"));
  fs::create_hard_link(victim, dir / "h.lock");
  expect_refused(dir / "h.lock", "not a plain file");
  ASSERT_EQ(::mkfifo((dir / "f.lock").c_str(), 0644), 0);
  expect_refused(dir / "f.lock", "not a plain file");  // and does not hang opening the FIFO
}

TEST(FileLock, AMissingDirectoryIsNamed) {
  TempDir dir;
  try {
    FileLock::acquire(dir / "no" / "x.lock", LockMode::exclusive);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "no"));
}

TEST(AtomicWrite, ReplacesWholeAndLeavesNothingBeside) {
  TempDir dir;
  const fs::path f = dir / "f.txt";
  srr::write_file_atomic(f, "one");
  srr::write_file_atomic(f, "two");
  EXPECT_EQ(bytes_of(f), "two");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
  // The umask decides the mode, as for any file the user creates.
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
}

TEST(AtomicWrite, NeverReplaceLeavesAnExistingTargetAlone) {
  TempDir dir;
  const fs::path f = dir / "f.txt";
  std::ofstream(f) << "mine";
  EXPECT_THROW(srr::write_file_atomic(f, "new", srr::Replace::never), InputError);
  EXPECT_EQ(bytes_of(f), "mine");
  fs::create_symlink(dir / "nowhere", dir / "link");  // even a dangling symbolic link counts as existing
  EXPECT_THROW(srr::write_file_atomic(dir / "link", "new", srr::Replace::never), InputError);
  EXPECT_FALSE(fs::exists(dir / "nowhere"));
  EXPECT_EQ(temporaries_beside(f) + temporaries_beside(dir / "link"), 0u);
  srr::write_file_atomic(dir / "fresh", "new", srr::Replace::never);
  EXPECT_EQ(bytes_of(dir / "fresh"), "new");
}

/// Replacing a symbolic link replaces the link itself: the file it pointed to is untouched.
TEST(AtomicWrite, ReplacingASymlinkNeverWritesThroughIt) {
  TempDir dir;
  std::ofstream(dir / "victim") << "precious\n";
  fs::create_symlink(dir / "victim", dir / "out");
  srr::write_file_atomic(dir / "out", "new");
  EXPECT_EQ(bytes_of(dir / "victim"), "precious\n");
  EXPECT_FALSE(fs::is_symlink(dir / "out"));
  EXPECT_EQ(bytes_of(dir / "out"), "new");
}

TEST(TempFile, NamesAreUnpredictableAndFailuresLeaveNothing) {
  TempDir dir;
  const fs::path target = dir / "cal.h5";
  std::set<std::string> names;
  const std::regex pattern(R"(cal\.h5\.tmp\.[A-Za-z0-9]{12})");
  for (int i = 0; i < 50; ++i) {
    srr::TempFile t(target);
    const std::string name = t.path().filename().string();
    EXPECT_TRUE(std::regex_match(name, pattern)) << name;
    EXPECT_EQ(t.path().parent_path(), target.parent_path());
    names.insert(name);
    t.write("x");
  }  // destroyed unpublished: removed
  EXPECT_EQ(names.size(), 50u);
  EXPECT_EQ(temporaries_beside(target), 0u);
  EXPECT_FALSE(fs::exists(target));
}

TEST(TempFile, AMissingDirectoryIsNamedAndNotCreated) {
  TempDir dir;
  try {
    srr::write_file_atomic(dir / "no" / "f.txt", "x");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "no"));
}

TEST(TempFile, StaleTemporariesAreRemovedAndNothingElse) {
  TempDir dir;
  const fs::path target = dir / "s.h5";
  std::ofstream(dir / "s.h5.tmp.AbCdEf012345") << "stale";
  std::ofstream(dir / "s.h5.tmp.short") << "not ours";
  std::ofstream(dir / "x.h5.tmp.AbCdEf012345") << "another target's";
  std::ofstream(dir / "victim") << "precious";
  fs::create_symlink(dir / "victim", dir / "s.h5.tmp.ZZZZZZZZZZZZ");
  srr::remove_stale_temporaries(target);
  EXPECT_FALSE(fs::exists(dir / "s.h5.tmp.AbCdEf012345"));
  EXPECT_TRUE(fs::exists(dir / "s.h5.tmp.short"));
  EXPECT_TRUE(fs::exists(dir / "x.h5.tmp.AbCdEf012345"));
  EXPECT_TRUE(fs::is_symlink(dir / "s.h5.tmp.ZZZZZZZZZZZZ"));  // not a regular file: not ours
  EXPECT_EQ(bytes_of(dir / "victim"), "precious");
}

TEST(UnpredictableDirectory, IsNewEachTime) {
  TempDir dir;
  const fs::path a = srr::make_unpredictable_directory(dir / "out", "partial");
  const fs::path b = srr::make_unpredictable_directory(dir / "out", "partial");
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::is_directory(a));
  EXPECT_TRUE(fs::is_empty(b));
  EXPECT_EQ(a.filename().string().rfind("out.partial.", 0), 0u);
}

}  // namespace
