// SPDX-License-Identifier: MIT
#include "sweep/run.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/timer.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"
#include "sweep/files.hpp"
#include "sweep/ini.hpp"
#include "sweep/point.hpp"

namespace srr::sweep {

namespace {

/// The text options `srr calibrate` and `srr eval` share (app/text_options.hpp), as slice keys calib.K/eval.K.
const std::vector<std::string> kSliceOptions = {"text", "max-chars", "ctx", "windows", "skip-windows"};

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

void add_option(std::vector<std::string>& args, const Settings& s, const std::string& key, const std::string& option) {
  if (const auto it = s.find(key); it != s.end()) {
    args.push_back("--" + option);
    args.push_back(expand_env(it->second));
  }
}

void add_model(std::vector<std::string>& args, const Settings& s) {
  require(s.count("model"), "the point has no model");
  add_option(args, s, "model", "model");
}

/// A step that exited non-zero or left no usable output; its message becomes the point's failure message.
class StepFailed : public Error {
public:
  using Error::Error;
};

/// The line that best says why a step failed: the last line of its log that mentions an error, else its
/// last non-empty line.
std::string failure_line(const fs::path& log, std::uintmax_t from) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return "";
  in.seekg(static_cast<std::streamoff>(from));
  std::string line, last, last_error;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos || line.find("Error") != std::string::npos) last_error = line;
  }
  std::string out = last_error.empty() ? last : last_error;
  if (out.size() > 400) out = out.substr(0, 400) + "…";
  return out;
}

/// Appends one line to the point's log and echoes it to `log`.
class Notes {
public:
  Notes(fs::path file, std::ostream& echo) : file_(std::move(file)), echo_(echo) {
    fs::create_directories(file_.parent_path());
  }
  void operator()(const std::string& line) const {
    echo_ << line << std::endl;
    std::ofstream(file_, std::ios::app) << "[sweep] " << line << std::endl;
  }
  const fs::path& file() const { return file_; }

private:
  fs::path file_;
  std::ostream& echo_;
};

/// Runs one step with stderr appended to the log; stdout goes to `out` (or the log too when empty).
/// Returns the wall seconds; throws StepFailed with the step's error line on a non-zero exit.
double run_step(const std::string& step, const std::vector<std::string>& argv, const fs::path& out,
                const Notes& notes) {
  notes(step + ": " + shell_join(argv));
  std::error_code ec;
  const auto size = fs::exists(notes.file()) ? fs::file_size(notes.file(), ec) : 0;
  Stopwatch t;
  const int rc = run_process(argv, out.empty() ? notes.file() : out, notes.file());
  const double s = t.seconds();
  if (rc != 0) {
    const std::string why = failure_line(notes.file(), ec ? 0 : size);
    throw StepFailed(step + " exited with code " + std::to_string(rc) + (why.empty() ? "" : ": " + why));
  }
  notes(step + ": done in " + format_seconds(s));
  return s;
}

/// `text` without this machine's paths (result files are committed): the data directory becomes
/// ${SRR_DATA_DIR}, the working directory is dropped from paths below it, the binary becomes `srr`.
std::string strip_machine_paths(std::string text, const fs::path& exe) {
  const auto replace_all = [&](const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  };
  replace_all(exe.string(), "srr");
  if (const char* data = std::getenv("SRR_DATA_DIR"); data && *data) replace_all(data, "${SRR_DATA_DIR}");
  std::error_code ec;
  const std::string cwd = fs::current_path(ec).string();
  if (!ec && cwd != "/") replace_all(cwd + "/", "");
  return text;
}

/// Per-layer metrics of a finished store, and its bits per weight; StepFailed when a layer is not done (the
/// quantize step exited 0 without finishing, as mpirun does when it refuses to start).
std::vector<LayerMetrics> read_store_metrics(const fs::path& path, double& bits) {
  require(fs::exists(path), "the store '", path.string(), "' was not created");
  const auto st = store::Store::open_read_only(path);
  bits = bits_per_weight(st.layout());
  const auto done = st.done();
  std::vector<LayerMetrics> layers;
  for (std::size_t i = 0; i < st.layout().layers.size(); ++i) {
    const auto& l = st.layout().layers[i];
    if (!done[i]) throw StepFailed("quantize left layer " + l.name + " of '" + path.string() + "' unfinished");
    const auto rec = st.read_layer(i);
    layers.push_back({l.name, l.in, l.out, rec.k_star, rec.rel_error, rec.rel_error_scaled, rec.rel_error_act});
  }
  return layers;
}

}  // namespace

std::vector<std::string> calibrate_args(const Settings& s, const fs::path& out) {
  std::vector<std::string> args = {"calibrate"};
  add_model(args, s);
  add_option(args, s, "tokenizer", "tokenizer");
  for (const auto& k : kSliceOptions) add_option(args, s, "calib." + k, k);
  args.insert(args.end(), {"--out", out.string(), "--json"});
  return args;
}

std::vector<std::string> allocate_args(const Settings& s, const fs::path& calib, const fs::path& plan) {
  std::vector<std::string> args = {"allocate"};
  add_model(args, s);
  add_option(args, s, "tokenizer", "tokenizer");
  args.insert(args.end(), {"--calib", calib.string()});
  // The layers' sensitivities are measured on the calibration slice: never on the evaluation text.
  for (const auto& k : kSliceOptions) add_option(args, s, "calib." + k, k);
  for (const auto& [k, v] : method_settings(s)) add_option(args, s, k, k);
  args.insert(args.end(), {"--out", plan.string(), "--json"});
  return args;
}

std::vector<std::string> quantize_args(const Settings& s, const fs::path& calib, const fs::path& store,
                                       const fs::path& plan) {
  std::vector<std::string> args = {"quantize"};
  add_model(args, s);
  if (!calib.empty()) args.insert(args.end(), {"--calib", calib.string()});
  args.insert(args.end(), {"--out", store.string()});
  if (!plan.empty()) args.insert(args.end(), {"--plan", plan.string()});
  const Settings allocation = allocation_settings(s);
  for (const auto& [k, v] : method_settings(s))
    if (!allocation.count(k)) add_option(args, s, k, k);
  return args;
}

std::vector<std::string> eval_args(const Settings& s, const fs::path& store) {
  std::vector<std::string> args = {"eval"};
  add_model(args, s);
  add_option(args, s, "tokenizer", "tokenizer");
  for (const auto& k : kSliceOptions) add_option(args, s, "eval." + k, k);
  add_option(args, s, "eval.protocol", "protocol");
  if (!store.empty()) args.insert(args.end(), {"--store", store.string(), "--skip-fp32"});
  args.emplace_back("--json");
  return args;
}

void check_data_files(const Point& p) {
  for (const char* key : {"model", "tokenizer", "calib.text", "eval.text"}) {
    const auto it = p.settings.find(key);
    if (it == p.settings.end()) continue;
    const std::string path = expand_env(it->second);
    require(fs::exists(path), "point ", p.id, ": ", key, " = ", it->second, ": '", path, "' does not exist");
  }
}

std::string point_status(const fs::path& point_file) {
  if (!fs::exists(point_file)) return "missing";
  try {
    return read_point_file(point_file).status;
  } catch (const Error&) {
    return "missing";
  }
}

namespace {
/// A step left running by a driver that was killed (a quantize still holding its store, a calibrate its
/// file) is waited for rather than raced: its finished work is then resumed or reused.
void wait_for_running_step(const fs::path& lock_path, const std::string& what, std::ostream& log) {
  if (!fs::exists(fs::symlink_status(lock_path))) return;
  if (FileLock::try_acquire(lock_path, LockMode::exclusive)) return;
  log << what << ": still running from an earlier driver (" << FileLock::holder(lock_path) << "); waiting for it"
      << std::endl;
  FileLock::acquire(lock_path, LockMode::exclusive);
}
/// A point whose step was stopped by SIGTERM/SIGINT (forwarded to the step, which has ended) is not
/// failed: the log says so, and a result file of an earlier failed attempt is removed, so that the point
/// counts as missing (not finished) until a rerun resumes it.
void record_interruption(const Point& p, const fs::path& result_file, const Interrupted& e, const Notes& notes) {
  std::error_code ec;
  if (point_status(result_file) == "failed") fs::remove(result_file, ec);
  notes("point " + p.id + ": interrupted by " + e.signal_name() +
        " (forwarded to the running step, which has ended); not failed: a rerun resumes it");
}
}  // namespace

fs::path ensure_calibration(const Point& p, const SweepPaths& paths, const RunOptions& options, std::ostream& log) {
  require(!p.calib.empty(), "point ", p.id, " needs no calibration");
  const fs::path out = paths.calib_file(p.calib);
  if (fs::exists(out)) return out;
  const FileLock lock =
      FileLock::acquire(with_parents(paths.work / "calib" / (p.calib + ".lock")), LockMode::exclusive);
  wait_for_running_step(store::calibration_lock_path(out), "calibrate " + p.calib, log);
  if (fs::exists(out)) return out;  // another task made it while we waited
  // `srr calibrate` publishes its file atomically (temporary name, fsync, rename), so `out` appears whole.
  const Notes notes(paths.work / "logs" / ("calib-" + p.calib + ".log"), log);
  run_step("calibrate " + p.calib, options.launcher.wrap(options.exe, calibrate_args(p.settings, out)), "", notes);
  if (!fs::exists(out)) throw StepFailed("calibrate exited 0 but wrote no '" + out.string() + "'");
  return out;
}

RunOutcome run_point(const Point& p, const SweepPaths& paths, const RunOptions& options, std::ostream& log) {
  const fs::path result_file = paths.point_file(p.id);
  if (point_status(result_file) == "done") {
    log << "point " << p.id << ": done already, skipped" << std::endl;
    return RunOutcome::skipped;
  }
  const FileLock lock = FileLock::acquire(with_parents(paths.lock_file(p.id)), LockMode::exclusive);
  if (point_status(result_file) == "done") {  // finished by another task while we waited for the lock
    log << "point " << p.id << ": done already, skipped" << std::endl;
    return RunOutcome::skipped;
  }
  const Notes notes(paths.log_file(p.id), log);
  std::string what;
  for (const auto& [k, v] : p.settings) what += " " + k + "=" + v;
  notes("point " + p.id + " (grid " + paths.grid + "):" + what);

  PointResult r;
  r.id = p.id;
  r.settings = p.settings;
  r.tool_version = SRR_VERSION;
  Stopwatch total;
  try {
    fs::path store;
    if (value_or(p.settings, "method") != "fp32") {
      Stopwatch t;
      const fs::path calib = ensure_calibration(p, paths, options, log);
      r.seconds["calibrate"] = t.seconds();
      fs::path plan;
      if (is_allocated(p.settings)) {  // the plan is written atomically by allocate: one that exists is whole
        plan = paths.plan_file(p.id);
        fs::create_directories(plan.parent_path());
        t.restart();
        if (!fs::exists(plan))
          run_step("allocate", options.launcher.wrap(options.exe, allocate_args(p.settings, calib, plan)), "", notes);
        r.seconds["allocate"] = t.seconds();
      }
      store = paths.store_file(p.id);
      fs::create_directories(store.parent_path());
      wait_for_running_step(store::run_lock_path(store), "quantize " + p.id, log);
      r.seconds["quantize"] = run_step(
          "quantize", options.launcher.wrap(options.exe, quantize_args(p.settings, calib, store, plan)), "", notes);
      r.layers = read_store_metrics(store, r.bits_per_weight);
    }
    const fs::path eval_out = paths.work / "logs" / (p.id + ".eval.json");
    r.seconds["eval"] =
        run_step("eval", options.launcher.wrap(options.exe, eval_args(p.settings, store)), eval_out, notes);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(eval_out));
    } catch (const nlohmann::json::exception& e) {
      throw StepFailed("eval printed no JSON result (" + std::string(e.what()) + "); see " + eval_out.string());
    }
    const auto& score = j.at(store.empty() ? "fp32" : "quantized");
    r.protocol = j.at("protocol").get<std::string>();
    r.perplexity = score.at(r.protocol == "wikitext" ? "word_perplexity" : "token_perplexity").get<double>();
    r.tokens = score.at("tokens").get<double>();
  } catch (const StepFailed& e) {
    r.status = "failed";
    r.message = e.what();
  } catch (const InputError& e) {
    r.status = "failed";
    r.message = e.what();
  } catch (const Interrupted& e) {
    record_interruption(p, result_file, e, notes);
    e.die();
  }
  r.seconds["total"] = total.seconds();
  r.message = strip_machine_paths(r.message, options.exe);
  write_point_file(result_file, r);
  if (r.status == "failed") {
    notes("point " + p.id + ": FAILED: " + r.message);
    return RunOutcome::failed;
  }
  notes("point " + p.id + ": done, perplexity " + std::to_string(r.perplexity) + " in " +
        format_seconds(r.seconds["total"]));
  return RunOutcome::done;
}

}  // namespace srr::sweep
