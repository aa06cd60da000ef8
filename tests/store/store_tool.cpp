// SPDX-License-Identifier: MIT
// Test helper for the end-to-end and kill tests of `srr quantize` (not installed):
//   srr_store_tool diff A.h5 B.h5 [--layers-only] every layer done in both and bit-identical (timings and
//                                                 rank aside); --layers-only: the headers may differ (a
//                                                 store made with a plan against a uniform one)
//   srr_store_tool done STORE.h5                  prints "<done> <total>"
//   srr_store_tool calibration MODEL OUT.h5 [SEED [KEY]]
//                                                 synthetic statistics for every input of MODEL (seeded by
//                                                 SEED and the input's key); KEY, if given, is damaged
//                                                 after writing (a NaN in its Σx²)
//   srr_store_tool poke FILE.h5 DATASET            one element of DATASET changed in place, as an editor or
//                                                 a damaged disk would (floats become NaN, integers flip
//                                                 their low bit), no checksum updated
//   srr_store_tool seeds DIR                      a tiny store (two layers, one done) and calibration file,
//                                                 the seed corpus of fuzz_store
//   srr_store_tool hold FILE.h5 SECONDS            keeps FILE open for writing through HDF5 (whose own file
//                                                 lock is then held, as by an open h5py session); prints
//                                                 "open" once it is
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <map>
#include <set>

#include "base/rng.hpp"
#include "model/checkpoint.hpp"
#include "model/linear_inputs.hpp"
#include "qer/synthetic.hpp"
#include "store/calibration.hpp"
#include "store/hdf5.hpp"
#include "store/store.hpp"

namespace srr::store {
namespace {

int diff(const std::string& path_a, const std::string& path_b, bool layers_only) {
  const Store a = Store::open_read_only(path_a), b = Store::open_read_only(path_b);
  int problems = 0;
  const auto report = [&](const std::string& what) {
    if (++problems <= 20) std::cout << what << "\n";
  };
  if (a.layout().layers != b.layout().layers) report("layouts differ");
  if (!layers_only && !header_differences(a.header(), b.header()).empty()) report("headers differ");
  if (problems) return 1;
  const auto done_a = a.done(), done_b = b.done();
  for (std::size_t i = 0; i < a.layout().layers.size(); ++i) {
    const auto& name = a.layout().layers[i].name;
    if (!done_a[i] || !done_b[i]) {
      report(name + ": not done in " + (done_a[i] ? path_b : path_a));
      continue;
    }
    for (const auto& d : differing_fields(a.read_layer(i), b.read_layer(i), false)) report(name + ": " + d + " differs");
  }
  if (problems) {
    std::cout << problems << " differences\n";
    return 1;
  }
  std::cout << "identical: " << a.layout().layers.size() << " layers\n";
  return 0;
}

int done(const std::string& path) {
  const Store s = Store::open_read_only(path);
  const auto marks = s.done();
  std::cout << std::count(marks.begin(), marks.end(), true) << " " << marks.size() << "\n";
  return 0;
}

int calibration(const std::string& model_path, const std::string& out, std::uint64_t seed,
                const std::string& poison) {
  const auto checkpoint = model::Checkpoint::open(model_path);
  std::map<std::string, qer::InputStatistics> stats;
  for (const auto& name : checkpoint.linear_layer_names()) {
    const auto key = model::statistics_key(name);
    if (stats.count(key)) continue;
    const auto in = checkpoint.shape(name + ".weight").at(1);
    stats[key] = qer::synthetic_statistics({.dim = in, .seed = fnv1a(key, seed)});
  }
  write_calibration(out, stats, R"({"source": "synthetic statistics, srr_store_tool"})", checkpoint.identity());
  if (!poison.empty()) {
    Hid file(SRR_H5_CALL(H5Fopen(out.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), out));
    Hid d = open_dataset(file.get(), "inputs/" + poison + "/sum_sq", out);
    auto v = read_dataset<double>(d.get(), -1, out);
    v.at(0) = std::numeric_limits<double>::quiet_NaN();
    write_dataset<double>(d.get(), v, out);
  }
  std::cout << stats.size() << " inputs written to " << out << "\n";
  return 0;
}

int poke(const std::string& path, const std::string& dataset) {
  Hid file(SRR_H5_CALL(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path));
  Hid d = open_dataset(file.get(), dataset, path);
  Hid type(SRR_H5_CALL(H5Dget_type(d.get()), path));
  if (H5Tget_class(type.get()) == H5T_FLOAT) {
    auto v = read_dataset<double>(d.get(), -1, path);
    v.at(0) = std::numeric_limits<double>::quiet_NaN();
    write_dataset<double>(d.get(), v, path);
  } else {
    auto v = read_dataset<std::int64_t>(d.get(), -1, path);
    v.at(0) ^= 1;
    write_dataset<std::int64_t>(d.get(), v, path);
  }
  file.close(path);
  return 0;
}

int seeds(const std::string& dir) {
  StoreLayout layout;
  layout.quant = {quant::Scheme::Mxint, 3, 8};
  layout.rank = 2;
  layout.layers = {{"a", 16, 8}, {"b", 8, 16}};
  const StoreHeader header{"fuzz", nlohmann::json::object(), "null", "null"};
  Store s = Store::open_for_run(dir + "/store.h5", header, layout);
  LayerRecord r;
  r.codes.settings = layout.quant;
  r.codes.in = 16;
  r.codes.out = 8;
  r.codes.codes.assign(16 * 8, 1);
  r.codes.exponents.assign(static_cast<std::size_t>(r.codes.blocks_per_column() * 8), 127);
  r.lora_A.assign(2 * 16, 0.5f);
  r.lora_B.assign(2 * 8, 0.25f);
  r.bits = 3;
  r.rank = 2;
  s.write_layer(0, r);
  s.close();
  std::map<std::string, qer::InputStatistics> stats;
  stats["x"] = qer::synthetic_statistics({.dim = 6, .seed = 1});
  write_calibration(dir + "/calib.h5", stats, "{}");
  return 0;
}

int hold(const std::string& path, int seconds) {
  Hid file(SRR_H5_CALL(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path));
  std::cout << "open" << std::endl;
  ::sleep(static_cast<unsigned>(seconds));
  return 0;
}

}  // namespace
}  // namespace srr::store

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if ((a.size() == 3 || (a.size() == 4 && a[3] == "--layers-only")) && a[0] == "diff")
      return srr::store::diff(a[1], a[2], a.size() == 4);
    if (a.size() == 2 && a[0] == "done") return srr::store::done(a[1]);
    if (a.size() == 3 && a[0] == "poke") return srr::store::poke(a[1], a[2]);
    if (a.size() == 2 && a[0] == "seeds") return srr::store::seeds(a[1]);
    if (a.size() == 3 && a[0] == "hold") return srr::store::hold(a[1], std::stoi(a[2]));
    if (a.size() >= 3 && a.size() <= 5 && a[0] == "calibration")
      return srr::store::calibration(a[1], a[2], a.size() >= 4 ? std::stoull(a[3]) : 0, a.size() == 5 ? a[4] : "");
  } catch (const std::exception& e) {
    std::cerr << "srr_store_tool: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "usage: srr_store_tool diff A B [--layers-only] | done STORE | calibration MODEL OUT [SEED [KEY]]\n";
  return 2;
}
