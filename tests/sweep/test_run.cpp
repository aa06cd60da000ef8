// SPDX-License-Identifier: MIT
// Running points: the steps' command lines, launchers, child processes, the inter-process lock, a
// calibration made once by concurrent tasks, and failures recorded as failed result files. A fake `srr`
// (a shell script) stands in for the real binary; tests/sweep/local_test.sh runs the real one.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.hpp"
#include "sweep/files.hpp"
#include "sweep/point.hpp"
#include "sweep/run.hpp"

namespace {

namespace fs = std::filesystem;
using namespace srr::sweep;
using srr::read_file;
using srr::write_file_atomic;

const Settings kSrr = {{"model", "${SRR_SWEEP_TEST_DATA}/m.bin"}, {"tokenizer", "tok.bin"},
                       {"calib.text", "c.txt"}, {"calib.windows", "4"}, {"calib.ctx", "128"},
                       {"eval.text", "e.txt"}, {"eval.skip-windows", "4"}, {"eval.ctx", "128"},
                       {"eval.protocol", "stream"}, {"method", "srr"}, {"rank", "8"}, {"scale", "lqer"}};

class Run : public ::testing::Test {
protected:
  void SetUp() override {
    ::setenv("SRR_SWEEP_TEST_DATA", "/data", 1);
    dir_ = fs::temp_directory_path() / ("srr-sweep-run-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    paths_.results = dir_ / "results";
    paths_.work = dir_ / "work";
    paths_.grid = "g";
    // A fake srr: calibrate counts its calls, takes a while and writes --out; quantize fails (with
    // SRR_FAKE_QUANTIZE=block it runs until SIGTERM, see ATermIsForwarded...); eval prints a JSON result.
    fake_ = dir_ / "fake-srr";
    std::ofstream(fake_) << R"(#!/bin/sh
cmd=$1; shift
out=
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
case $cmd in
  calibrate) echo x >> ")" << (dir_ / "calls").string() << R"("; sleep 0.3; echo calib > "$out" ;;
  quantize)
    if [ "$SRR_FAKE_QUANTIZE" = block ]; then
      # Runs until stopped: records the TERM it gets, then says "started" through the FIFO (the handshake).
      trap 'echo TERM >> ")" << (dir_ / "trapped").string() << R"("; kill $sleeper; exit 143' TERM
      sleep 600 & sleeper=$!
      echo started > ")" << (dir_ / "started").string() << R"("
      wait $sleeper
      exit 0
    fi
    echo "srr quantize: error: --rank 80 must be smaller than min(in, out) = 64 in $0" >&2; exit 2 ;;
  eval) echo '{"protocol":"stream","fp32":{"token_perplexity":4.5,"tokens":100.0}}' ;;
esac
)";
    fs::permissions(fake_, fs::perms::owner_all);
    options_.launcher = Launcher::choose("direct", 1);
    options_.exe = fake_;
  }
  void TearDown() override { if (!HasFailure()) fs::remove_all(dir_); }

  fs::path dir_, fake_;
  SweepPaths paths_;
  RunOptions options_;
};

TEST(Args, StepsGetTheirSlicesAndOptions) {
  ::setenv("SRR_SWEEP_TEST_DATA", "/data", 1);
  EXPECT_EQ(calibrate_args(kSrr, "c.h5"),
            (std::vector<std::string>{"calibrate", "--model", "/data/m.bin", "--tokenizer", "tok.bin", "--text", "c.txt",
                                      "--ctx", "128", "--windows", "4", "--out", "c.h5", "--json"}));
  EXPECT_EQ(quantize_args(kSrr, "c.h5", "s.h5"),
            (std::vector<std::string>{"quantize", "--model", "/data/m.bin", "--calib", "c.h5", "--out", "s.h5",
                                      "--method", "srr", "--rank", "8", "--scale", "lqer"}));
  EXPECT_EQ(eval_args(kSrr, "s.h5"),
            (std::vector<std::string>{"eval", "--model", "/data/m.bin", "--tokenizer", "tok.bin", "--text", "e.txt",
                                      "--ctx", "128", "--skip-windows", "4", "--protocol", "stream", "--store", "s.h5",
                                      "--skip-fp32", "--json"}));
  // A budget point: allocate measures sensitivities on the calibration slice; quantize gets the plan and
  // none of the allocation keys.
  Settings budget = kSrr;
  budget.erase("rank");
  budget.insert({{"budget", "3.5"}, {"bits-set", "2,3,4"}, {"rank-set", "0,8"}});
  EXPECT_EQ(allocate_args(budget, "c.h5", "p.tsv"),
            (std::vector<std::string>{"allocate", "--model", "/data/m.bin", "--tokenizer", "tok.bin", "--calib", "c.h5",
                                      "--text", "c.txt", "--ctx", "128", "--windows", "4", "--bits-set", "2,3,4",
                                      "--budget", "3.5", "--method", "srr", "--rank-set", "0,8", "--scale", "lqer",
                                      "--out", "p.tsv", "--json"}));
  EXPECT_EQ(quantize_args(budget, "c.h5", "s.h5", "p.tsv"),
            (std::vector<std::string>{"quantize", "--model", "/data/m.bin", "--calib", "c.h5", "--out", "s.h5",
                                      "--plan", "p.tsv", "--method", "srr", "--scale", "lqer"}));
  const auto fp32 = eval_args(kSrr, "");
  EXPECT_EQ(fp32.back(), "--json");
  EXPECT_EQ(std::count(fp32.begin(), fp32.end(), "--store"), 0);
}

TEST(Launch, ChoosesAndWraps) {
  ::unsetenv("SLURM_JOB_ID");
  EXPECT_EQ(Launcher::choose("auto", 1).mode, "direct");
  EXPECT_EQ(Launcher::choose("auto", 2).mode, "mpirun");
  ::setenv("SLURM_JOB_ID", "7", 1);
  EXPECT_EQ(Launcher::choose("auto", 2).mode, "srun");
  ::unsetenv("SLURM_JOB_ID");
  EXPECT_THROW(Launcher::choose("direct", 2), srr::InputError);
  const auto srun = Launcher::choose("srun", 4).wrap("/bin/srr", {"eval", "--json"});
  EXPECT_EQ(srun, (std::vector<std::string>{"srun", "--mpi=pmix", "--ntasks=4", "--export=ALL", "/bin/srr", "eval",
                                            "--json"}));
  const auto mpirun = Launcher::choose("mpirun", 3).wrap("/bin/srr", {"eval"});
  EXPECT_EQ(mpirun[0], "mpirun");
  EXPECT_EQ(mpirun[2], "3");
  EXPECT_NE(std::find(mpirun.begin(), mpirun.end(), "OPENBLAS_NUM_THREADS"), mpirun.end());
  EXPECT_EQ(Launcher::choose("direct", 1).wrap("/bin/srr", {"eval"}), (std::vector<std::string>{"/bin/srr", "eval"}));
}

TEST(Process, ExitCodesSignalsAndRedirection) {
  const fs::path dir = fs::temp_directory_path() / ("srr-sweep-proc-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_EQ(run_process({"sh", "-c", "exit 3"}, "", ""), 3);
  EXPECT_EQ(run_process({"sh", "-c", "kill -9 $$"}, "", ""), 128 + 9);
  EXPECT_EQ(run_process({"no-such-program-srr"}, "", dir / "err"), 127);
  EXPECT_NE(read_file(dir / "err").find("exec no-such-program-srr failed"), std::string::npos);
  EXPECT_EQ(run_process({"sh", "-c", "echo out; echo err >&2"}, dir / "o", dir / "e"), 0);
  EXPECT_EQ(run_process({"sh", "-c", "echo err2 >&2"}, "", dir / "e"), 0);
  EXPECT_EQ(read_file(dir / "o"), "out\n");
  EXPECT_EQ(read_file(dir / "e"), "err\nerr2\n");  // stderr appends
  EXPECT_EQ(run_process({"sh", "-c", "echo both; echo err3 >&2"}, dir / "e", dir / "e"), 0);
  EXPECT_EQ(read_file(dir / "e"), "err\nerr2\nboth\nerr3\n");  // one file: both append
  EXPECT_EQ(shell_join({"a", "b c", "it's"}), "a 'b c' 'it'\\''s'");
  EXPECT_EQ(self_executable().filename(), "sweep.test_run");
  fs::remove_all(dir);
}

TEST_F(Run, ConcurrentTasksMakeACalibrationOnce) {
  const Point p{"p1", "c1", kSrr};
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::ostringstream sink;
      try {
        ensure_calibration(p, paths_, options_, sink);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(read_file(dir_ / "calls"), "x\n");
  EXPECT_EQ(read_file(paths_.calib_file("c1")), "calib\n");
}

TEST_F(Run, AFailingStepIsRecordedAndRetried) {
  const Point p{"p2", "c1", kSrr};
  std::ostringstream log;
  EXPECT_EQ(run_point(p, paths_, options_, log), RunOutcome::failed);
  const auto r = read_point_file(paths_.point_file("p2"));
  EXPECT_EQ(r.status, "failed");
  EXPECT_NE(r.message.find("quantize exited with code 2: srr quantize: error: --rank 80 must be smaller"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find(dir_.string()), std::string::npos);  // no machine paths in a committed file
  // the log says what ran, with the command line
  EXPECT_NE(read_file(paths_.log_file("p2")).find("quantize: " + fake_.string() + " quantize --model /data/m.bin"),
            std::string::npos);
  // a failed point is tried again (and fails again), not skipped
  EXPECT_EQ(run_point(p, paths_, options_, log), RunOutcome::failed);
}

// `srr sweep run` stopped by SIGTERM while a step runs: the signal reaches the step, the driver waits for the
// step to end and then dies of the same signal, and the point is interrupted (missing, to be resumed), not
// failed — an earlier failed attempt's result file is dropped. The driver is a forked process running
// run_point; the FIFO handshake guarantees the step is running (its TERM trap set) when the signal is sent.
TEST_F(Run, ATermIsForwardedToTheStepAndThePointIsInterruptedNotFailed) {
  const Point p{"p5", "c1", kSrr};
  std::ostringstream log;
  ASSERT_EQ(run_point(p, paths_, options_, log), RunOutcome::failed);  // an earlier failed attempt
  ASSERT_EQ(point_status(paths_.point_file("p5")), "failed");
  const fs::path started = dir_ / "started";
  ASSERT_EQ(::mkfifo(started.c_str(), 0600), 0);
  ::setenv("SRR_FAKE_QUANTIZE", "block", 1);
  const pid_t driver = ::fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) {
    std::ostringstream sink;
    try {
      run_point(p, paths_, options_, sink);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);  // not reached when the forwarding works: the driver dies of the signal
  }
  ::unsetenv("SRR_FAKE_QUANTIZE");
  std::string line;
  std::getline(std::ifstream(started), line);  // blocks until the step is running
  ASSERT_EQ(line, "started");
  ASSERT_EQ(::kill(driver, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
  // The step got the signal and ended before the driver did (the driver waited for it).
  EXPECT_EQ(read_file(dir_ / "trapped"), "TERM\n");
  EXPECT_EQ(point_status(paths_.point_file("p5")), "missing");
  EXPECT_NE(read_file(paths_.log_file("p5")).find("point p5: interrupted by SIGTERM"), std::string::npos);
}

TEST_F(Run, Fp32PointRunsEvalOnlyAndIsSkippedOnceDone) {
  const Point p{"p3", "", {{"model", "m.bin"}, {"eval.text", "e.txt"}, {"method", "fp32"}}};
  std::ostringstream log;
  EXPECT_EQ(run_point(p, paths_, options_, log), RunOutcome::done);
  const auto r = read_point_file(paths_.point_file("p3"));
  EXPECT_EQ(r.status, "done");
  EXPECT_DOUBLE_EQ(r.perplexity, 4.5);
  EXPECT_EQ(r.protocol, "stream");
  EXPECT_TRUE(r.layers.empty());
  EXPECT_FALSE(fs::exists(dir_ / "calls"));  // no calibration for FP32
  EXPECT_EQ(run_point(p, paths_, options_, log), RunOutcome::skipped);
  EXPECT_NE(log.str().find("done already, skipped"), std::string::npos);
}

TEST_F(Run, MissingDataFilesAreReportedAtPlanTime) {
  const Point p{"p4", "c", {{"model", "${SRR_SWEEP_TEST_DATA}/m.bin"}}};
  try {
    check_data_files(p);
    FAIL();
  } catch (const srr::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model = ${SRR_SWEEP_TEST_DATA}/m.bin: '/data/m.bin' does not exist"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
