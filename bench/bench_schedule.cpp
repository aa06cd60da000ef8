// SPDX-License-Identifier: MIT
// Makespans of `srr calibrate` + `srr quantize` for Llama shapes on P ranks, from the job's own scheduler and
// per-layer costs fitted to measured runs (docs/scaling.md, "Cost model").
//
// Quantize. A layer of m inputs and n outputs costs t(m, n) = a·m·n + b·m²·n + c·m³ seconds (the truncated
// SVDs are O(m·n·l), the triangular products S·W and S·(W − Q) O(m²·n), the criterion's square m×m probe
// S·G O(m³)), solved through the layer times of QERA-exact SRR measured at 4096×4096, 4096×11008 and 11008×4096 (srr layer --json,
// stage "total" minus "scale"); the input's whitening (Cholesky root) costs e·m³, fitted to its measured
// times at m = 4096 and 11008, and is paid whenever a worker computes a layer whose input is not in its
// scale cache, plus reading that input's XᵀX from the calibration file (bytes / --read-gbps). pipeline::simulate runs
// pipeline::Scheduler over the plan's work items with LayerQuantizer's cache; a worker group of g ranks is
// speedup2^log2(g) times faster; one rank is the master, so P ranks make (P − 1)/g workers (P = 1: the
// master computes). The master spends --master seconds per layer receiving and writing it (added to the
// layer: the worker waits for it), and the job --startup seconds before the first layer.
//
// Calibration (layer-sequential, token-parallel). Each rank runs every decoder layer on its T/P tokens:
// forward 2·(h(h + 2kv) + h² + 3hf) + 2·ctx·h flops per token (causal attention over ctx/2 on average) at
// --fwd-gflops, XᵀX of the four distinct inputs (h, h, h, f wide) m(m + 1) flops per token at
// --xtx-gflops; then the layer's statistics (packed lower triangles, float64) are reduced to one writer
// (≈ 2 × bytes / --net-gbps, a pipelined reduce) and written (bytes / --write-gbps), and every rank loads the
// layer's weights (bf16 bytes / --load-gbps: read, converted to float32, faulted in).
//
//   bench_schedule [--t4096x4096 S --t4096x11008 S --t11008x4096 S --scale4096 S --scale11008 S]
//                  [--speedup2 X] [--rank R] [--master S] [--startup S]
//                  [--model llama2-7b,llama2-70b] (NAME[:LAYERS]) [--ranks 64,256,1024] [--groups 1,2,4,8]
//                  [--calib-tokens 524288] [--ctx 2048] [--fwd-gflops G] [--xtx-gflops G]
//                  [--net-gbps B] [--write-gbps B] [--read-gbps B] [--load-gbps B] [--no-calibration]
//                  [--layer-times FILE]
//
// --layer-times FILE replaces the fitted model by measured times, one "layer-name seconds" line per linear
// layer (e.g. cut from a quantize log, scale builds included), so a measured run can be replayed through
// the scheduler at other rank counts: scripts/layer-times.sh extracts them from a log.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/options.hpp"
#include "la/lapack.hpp"
#include "model/linear_inputs.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/scheduler.hpp"

using namespace srr;

namespace {

struct Shape {
  std::string name;
  int layers;
  double hidden, kv, ffn;
};

Shape shape_of(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  Shape s;
  if (name == "llama2-7b") s = {name, 32, 4096, 4096, 11008};
  else if (name == "llama2-13b") s = {name, 40, 5120, 5120, 13824};
  else if (name == "llama2-70b") s = {name, 80, 8192, 1024, 28672};
  else {
    std::fprintf(stderr, "bench_schedule: --model %s: unknown shape (llama2-7b, llama2-13b, llama2-70b)\n",
                 name.c_str());
    std::exit(2);
  }
  if (colon != std::string::npos) s.layers = std::atoi(spec.c_str() + colon + 1);
  return s;
}

/// The plan of a Llama-shaped checkpoint: one work item per linear layer, in checkpoint order.
std::vector<pipeline::WorkItem> plan_of(const Shape& md, la::index_t rank) {
  const auto h = static_cast<la::index_t>(md.hidden), kv = static_cast<la::index_t>(md.kv),
             f = static_cast<la::index_t>(md.ffn);
  const std::pair<const char*, std::pair<la::index_t, la::index_t>> linears[] = {
      {"self_attn.q_proj", {h, h}},  {"self_attn.k_proj", {h, kv}}, {"self_attn.v_proj", {h, kv}},
      {"self_attn.o_proj", {h, h}},  {"mlp.gate_proj", {h, f}},     {"mlp.up_proj", {h, f}},
      {"mlp.down_proj", {f, h}}};
  std::vector<pipeline::WorkItem> items;
  for (int l = 0; l < md.layers; ++l)
    for (const auto& [leaf, shape] : linears) {
      const std::string name = "model.layers." + std::to_string(l) + "." + leaf;
      const auto [in, out] = shape;
      items.push_back({items.size(), name, model::statistics_key(name), in, out,
                       pipeline::estimated_cost(in, out, rank)});
    }
  return items;
}

struct Options {
  // Defaults: single-core seconds measured on this machine kind (docs/scaling.md, "Cost model"): QERA-exact
  // SRR layers (r = 64, 3-bit MXINT B32) without the scale (srr layer --json, stage "total"), and srr's own
  // whitening (R_xx from the statistics, Cholesky with its conditioning check and ridge; bench_core's steady
  // state). Pass new measurements to replace them.
  std::map<std::string, double> t = {{"4096x4096", 6.80}, {"4096x11008", 14.21}, {"11008x4096", 43.68}};
  double scale4 = 1.29, scale11 = 21.72;
  double speedup2 = 1.22, master = 0.21, startup = 2.0;
  long rank = 64;
  std::vector<std::string> models = {"llama2-7b", "llama2-70b"};
  std::vector<int> ranks = {64, 256, 1024}, groups = {1, 2, 4, 8};
  bool calibration = true;
  double calib_tokens = 256.0 * 2048, ctx = 2048;
  // Per rank (one core), measured by bench_model on a 2-layer LLaMA-2-7B shape (srr calibrate's own phases):
  // forward 60.6 GFLOP/s without layer loads, statistics (Σ|x|, Σx², XᵀX) 20.3 GFLOP/s of useful XᵀX flops,
  // layer loads 0.173 GB/s of bf16 (page-cache reads, conversion to float32 and first-touch faults). The
  // network, write and read (a worker reading an input's XᵀX) figures are assumptions about a cluster.
  double fwd_gflops = 60.6, xtx_gflops = 20.3, load_gbps = 0.173;
  double net_gbps = 10.0, write_gbps = 2.0, read_gbps = 2.0;
  std::map<std::string, double> layer_times;                  // --layer-times: measured seconds per layer
};

std::map<std::string, double> read_layer_times(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "bench_schedule: --layer-times %s: cannot open\n", path.c_str());
    std::exit(2);
  }
  std::map<std::string, double> times;
  std::string name;
  double seconds = 0;
  while (in >> name >> seconds) times[name] = seconds;
  if (!in.eof() || times.empty()) {
    std::fprintf(stderr, "bench_schedule: --layer-times %s: expected \"layer-name seconds\" lines\n", path.c_str());
    std::exit(2);
  }
  return times;
}

std::vector<int> ints(const std::string& s) {
  std::vector<int> v;
  for (const auto& x : bench::split(s)) v.push_back(std::atoi(x.c_str()));
  return v;
}

constexpr const char* kUsage =
    "bench_schedule [--t4096x4096 S --t4096x11008 S --t11008x4096 S --scale4096 S --scale11008 S]\n"
    "               [--speedup2 X] [--rank R] [--master S] [--startup S]\n"
    "               [--model llama2-7b,llama2-70b] (NAME[:LAYERS]) [--ranks 64,256,1024] [--groups 1,2,4,8]\n"
    "               [--calib-tokens 524288] [--ctx 2048] [--fwd-gflops G] [--xtx-gflops G]\n"
    "               [--net-gbps B] [--write-gbps B] [--read-gbps B] [--load-gbps B] [--no-calibration]\n"
    "               [--layer-times FILE]\n"
    "(bench/bench_schedule.cpp's header says what each figure is)\n";

Options parse(int argc, char** argv) {
  bench::print_usage_if_asked(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--no-calibration") {
      o.calibration = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_schedule: %s needs a value\n", k.c_str());
      std::exit(2);
    }
    const std::string val = argv[++i];
    const double v = std::atof(val.c_str());
    if (k.rfind("--t", 0) == 0 && o.t.count(k.substr(3))) o.t[k.substr(3)] = v;
    else if (k == "--scale4096") o.scale4 = v;
    else if (k == "--scale11008") o.scale11 = v;
    else if (k == "--speedup2") o.speedup2 = v;
    else if (k == "--master") o.master = v;
    else if (k == "--startup") o.startup = v;
    else if (k == "--rank") o.rank = std::atol(val.c_str());
    else if (k == "--model") o.models = bench::split(val);
    else if (k == "--ranks") o.ranks = ints(val);
    else if (k == "--groups") o.groups = ints(val);
    else if (k == "--calib-tokens") o.calib_tokens = v;
    else if (k == "--ctx") o.ctx = v;
    else if (k == "--fwd-gflops") o.fwd_gflops = v;
    else if (k == "--xtx-gflops") o.xtx_gflops = v;
    else if (k == "--net-gbps") o.net_gbps = v;
    else if (k == "--write-gbps") o.write_gbps = v;
    else if (k == "--read-gbps") o.read_gbps = v;
    else if (k == "--load-gbps") o.load_gbps = v;
    else if (k == "--layer-times") o.layer_times = read_layer_times(val);
    else bench::unknown_option("bench_schedule", k);
  }
  return o;
}

/// t(m, n) = a·m·n + b·m²·n + c·m³ through the three measured shapes (three terms, three shapes: solved
/// exactly), and the whitening e·m³ (geometric mean of the two measured sizes).
struct CostModel {
  double a = 0, b = 0, c = 0, e = 0;

  explicit CostModel(const Options& o) {
    const double s[3][2] = {{4096, 4096}, {4096, 11008}, {11008, 4096}};
    // Columns scaled to order one so the 3×3 system is well conditioned; solved by LAPACK (?gesv).
    const double scale[3] = {1e-7, 1e-11, 1e-11};
    la::Matrix<double> A(3, 3), x(3, 1);
    for (la::index_t i = 0; i < 3; ++i) {
      const double m = s[i][0], n = s[i][1];
      const std::string key = std::to_string(static_cast<int>(m)) + "x" + std::to_string(static_cast<int>(n));
      A(i, 0) = m * n * scale[0], A(i, 1) = m * m * n * scale[1], A(i, 2) = m * m * m * scale[2];
      x(i, 0) = o.t.at(key);
    }
    la::gesv(A, x);
    a = x(0, 0) * scale[0], b = x(1, 0) * scale[1], c = x(2, 0) * scale[2];
    e = std::sqrt(o.scale4 / std::pow(4096.0, 3) * o.scale11 / std::pow(11008.0, 3));
  }
  double layer(double m, double n) const { return a * m * n + b * m * m * n + c * m * m * m; }
  double scale(double m) const { return e * m * m * m; }
};

double packed_bytes(double m) { return m * (m + 1) / 2 * 8; }

/// Layer-sequential calibration on `ranks` ranks: compute, reduce, write and weight loads per layer.
struct CalibrationTime {
  double compute = 0, reduce = 0, write = 0, load = 0;
  double total() const { return compute + reduce + write + load; }
};

CalibrationTime calibration_time(const Shape& md, const Options& o, int ranks) {
  const double h = md.hidden, kv = md.kv, f = md.ffn;
  const double fwd = 2 * (h * (h + 2 * kv) + h * h + 3 * h * f) + 2 * o.ctx * h;
  const double xtx = 3 * h * (h + 1) + f * (f + 1);
  const double stats = 3 * packed_bytes(h) + packed_bytes(f);
  const double weights = 2 * (h * (h + 2 * kv) + h * h + 3 * h * f);  // bf16
  const double tokens = o.calib_tokens / ranks;
  CalibrationTime c;
  c.compute = md.layers * tokens * (fwd / (o.fwd_gflops * 1e9) + xtx / (o.xtx_gflops * 1e9));
  c.reduce = ranks > 1 ? md.layers * 2 * stats / (o.net_gbps * 1e9) : 0.0;
  c.write = md.layers * stats / (o.write_gbps * 1e9);
  c.load = md.layers * weights / (o.load_gbps * 1e9);
  return c;
}

/// Quantize makespan on `ranks` ranks with groups of g.
pipeline::Simulation quantize_time(const std::vector<pipeline::WorkItem>& items, const CostModel& cost,
                                   const Options& o, int ranks, int g) {
  const int workers = ranks == 1 ? 1 : (ranks - 1) / g;
  const double speed = std::pow(o.speedup2, std::log2(static_cast<double>(g)));
  const auto time = [&](const pipeline::WorkItem& w, bool cached) {
    if (!o.layer_times.empty()) {
      const auto it = o.layer_times.find(w.name);
      if (it == o.layer_times.end()) {
        std::fprintf(stderr, "bench_schedule: --layer-times has no time for %s\n", w.name.c_str());
        std::exit(2);
      }
      return it->second / speed + o.master;
    }
    const double m = static_cast<double>(w.in), n = static_cast<double>(w.out);
    const double scale = cached ? 0.0 : cost.scale(m) + packed_bytes(m) / (o.read_gbps * 1e9);
    return (cost.layer(m, n) + scale) / speed + o.master;
  };
  auto sim = pipeline::simulate(items, workers, time, pipeline::LayerQuantizer::kCacheSize);
  sim.makespan += o.startup;
  return sim;
}

void print_model(const Shape& md, const CostModel& cost, const Options& o) {
  const auto items = plan_of(md, o.rank);
  const auto one = quantize_time(items, cost, o, 1, 1);
  std::printf("\n%s, %d decoder layers (%zu linear layers): quantize %.0f s on one rank (%lld scales)\n",
              md.name.c_str(), md.layers, items.size(), one.makespan, static_cast<long long>(one.scales_built));
  std::printf("  %6s", "ranks");
  for (int g : o.groups) std::printf("   quant g=%-2d", g);
  if (o.calibration) std::printf("  calibrate (compute+reduce+write+load)   total(best g)");
  std::printf("\n");
  for (int ranks : o.ranks) {
    std::printf("  %6d", ranks);
    double best = 1e300;
    int best_g = 1;
    for (int g : o.groups) {
      if (ranks > 1 && (ranks - 1) / g < 1) {
        std::printf("   %11s", "-");
        continue;
      }
      const double t = quantize_time(items, cost, o, ranks, g).makespan;
      if (t < best) best = t, best_g = g;
      std::printf("   %10.0fs", t);
    }
    if (o.calibration) {
      const auto c = calibration_time(md, o, ranks);
      std::printf("  %7.0fs (%.0f+%.0f+%.0f+%.0f)   %8.0fs (g=%d)", c.total(), c.compute, c.reduce, c.write, c.load,
                  c.total() + best, best_g);
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const CostModel cost(o);
  std::printf("cost model: t(m,n) = %.3e·m·n + %.3e·m²·n + %.3e·m³ s, whitening(m) = %.3e·m³ s; master %.2f s/layer, "
              "startup %.1f s; group speedup g=2 %.2f (speedup2^log2 g); scheduler: pipeline::Scheduler, scale "
              "cache %zu\n",
              cost.a, cost.b, cost.c, cost.e, o.master, o.startup, o.speedup2, pipeline::LayerQuantizer::kCacheSize);
  for (const auto& [shape, t] : o.t) {
    const auto x = shape.find('x');
    const double m = std::atof(shape.substr(0, x).c_str()), n = std::atof(shape.substr(x + 1).c_str());
    std::printf("  fit %-11s measured %7.2f s, model %7.2f s\n", shape.c_str(), t, cost.layer(m, n));
  }
  if (o.calibration)
    std::printf("calibration: %.0f tokens, ctx %.0f, forward %.1f GFLOP/s and XᵀX %.1f GFLOP/s per rank, reduce "
                "%.3g GB/s, write %.3g GB/s, layer loads %.3g GB/s\n",
                o.calib_tokens, o.ctx, o.fwd_gflops, o.xtx_gflops, o.net_gbps, o.write_gbps, o.load_gbps);
  for (const auto& spec : o.models) print_model(shape_of(spec), cost, o);
  return 0;
}
