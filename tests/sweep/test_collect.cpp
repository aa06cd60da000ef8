// SPDX-License-Identifier: MIT
// collect on synthetic point files: mean ± std over seeds, win-rates, missing and failed points listed,
// the index's external links, and the plots' series.
#include <gtest/gtest.h>

#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/hdf5.hpp"
#include "sweep/collect.hpp"
#include "sweep/files.hpp"
#include "sweep/point.hpp"
#include "xml_check.hpp"

namespace {

namespace fs = std::filesystem;
using namespace srr::sweep;
using srr::read_file;
using srr::write_file_atomic;

const char* kGrid = R"([data]
model = ${SRR_DATA_DIR}/m.bin
text = t.txt
calib.windows = 2
eval.skip-windows = 2
[fixed]
bits = 3
scale = lqer
[axes.ref]
method = fp32
[axes]
method = qer, srr
rank = 4, 8
seed = 1, 2
[report]
pivot = rank
)";

class Collect : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("srr-sweep-collect-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    std::istringstream in(kGrid);
    grid_ = parse_grid(in, "g", "g.ini");
    points_ = expand(grid_);
    paths_.results = dir_;
    paths_.work = dir_ / "work";
    paths_.grid = "g";
    write_manifest(paths_.manifest(), points_);
    ASSERT_EQ(points_.size(), 9u);  // fp32; qer r4 s1, s2, r8 s1, s2; srr r4 s1, s2, r8 s1, s2
    done(0, 4.0, {});
    done(1, 10.0, {0.3, 0.3, 0.3});
    done(2, 12.0, {0.3, 0.3, 0.3});
    failed(3, "quantize exited with code 2: boom");
    done(4, 8.0, {0.2, 0.2, 0.2});
    done(5, 9.0, {0.1, 0.4, 0.2});  // wins 2 of 3 layers
    done(6, 9.5, {0.1, 0.1, 0.3});  // a tie is not a win: 2 of 3
    /* task 7 missing */
    done(8, 7.0, {0.1, 0.1, 0.1});  // 3 of 3
  }
  void TearDown() override { fs::remove_all(dir_); }

  void done(std::size_t task, double ppl, const std::vector<double>& act) {
    PointResult r;
    r.id = points_[task].id;
    r.settings = points_[task].settings;
    r.protocol = "stream";
    r.perplexity = ppl;
    r.tokens = 100;
    r.tool_version = "test";
    for (std::size_t i = 0; i < act.size(); ++i)
      r.layers.push_back({"model.layers." + std::to_string(i) + ".mlp.down_proj", 8, 4,
                          static_cast<std::int64_t>(task % 3), 0.5, 0.4, act[i]});
    write_point_file(paths_.point_file(r.id), r);
  }
  void failed(std::size_t task, const std::string& message) {
    PointResult r;
    r.id = points_[task].id;
    r.settings = points_[task].settings;
    r.status = "failed";
    r.message = message;
    write_point_file(paths_.point_file(r.id), r);
  }

  fs::path dir_;
  Grid grid_;
  std::vector<Point> points_;
  SweepPaths paths_;
};

TEST_F(Collect, PointFilesRoundTrip) {
  const auto r = read_point_file(paths_.point_file(points_[5].id));
  EXPECT_EQ(r.id, points_[5].id);
  EXPECT_EQ(r.settings, points_[5].settings);
  EXPECT_EQ(r.status, "done");
  EXPECT_DOUBLE_EQ(r.perplexity, 9.0);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[1].name, "model.layers.1.mlp.down_proj");
  EXPECT_DOUBLE_EQ(r.layers[1].rel_error_act, 0.4);
  const auto f = read_point_file(paths_.point_file(points_[3].id));
  EXPECT_EQ(f.status, "failed");
  EXPECT_TRUE(std::isnan(f.perplexity));
  EXPECT_EQ(point_status(paths_.point_file(points_[7].id)), "missing");
  EXPECT_EQ(point_status(paths_.point_file(points_[3].id)), "failed");
  write_file_atomic(dir_ / "not.h5", "not hdf5");
  EXPECT_THROW(read_point_file(dir_ / "not.h5"), srr::InputError);
}

TEST_F(Collect, WinRatesAndGroups) {
  const Collection c = gather("g", grid_.report, points_, paths_);
  EXPECT_EQ(c.varying, (std::vector<std::string>{"method", "rank", "seed"}));
  ASSERT_EQ(c.win_rate.size(), 3u);
  EXPECT_DOUBLE_EQ(c.win_rate.at(points_[5].id), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.win_rate.at(points_[6].id), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.win_rate.at(points_[8].id), 1.0);  // its r8 s2 partner is done
  const auto groups = group_by(c, {"seed"});
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(label(c, groups[0].key), "fp32");
  EXPECT_EQ(label(c, groups[3].key), "srr rank=4");
  const MeanStd ppl = over(c, groups[1].members, perplexity_metric);
  EXPECT_EQ(ppl.n, 2u);
  EXPECT_DOUBLE_EQ(ppl.mean, 11.0);
  EXPECT_NEAR(ppl.std, std::sqrt(2.0), 1e-12);
}

TEST_F(Collect, WritesEveryOutputAndListsMissingAndFailedPoints) {
  const auto n = collect(grid_, points_, paths_);
  EXPECT_EQ(n.done, 7u);
  EXPECT_EQ(n.failed, 1u);
  EXPECT_EQ(n.missing, 1u);
  const fs::path g = paths_.grid_dir();

  const std::string csv = read_file(g / "summary.csv");
  EXPECT_EQ(count(csv, "\n"), 10u);  // header + every planned point
  EXPECT_NE(csv.find("3," + points_[3].id + ",failed,qer,"), std::string::npos);
  EXPECT_NE(csv.find("quantize exited with code 2: boom"), std::string::npos);
  EXPECT_NE(csv.find("7," + points_[7].id + ",missing,srr,"), std::string::npos);
  EXPECT_NE(csv.find("no result file"), std::string::npos);

  const std::string md = read_file(g / "summary.md");
  EXPECT_NE(md.find("Grid `g`: 9 points planned: 7 done, 1 failed, 1 missing"), std::string::npos) << md;
  EXPECT_NE(md.find("| method | rank = 4 | rank = 8 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| fp32 | 4 | 4 |"), std::string::npos) << md;  // a reference fills every column
  EXPECT_NE(md.find("| qer | 11 ± 1.4 | 8 (1/2 done) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| srr | 9.25 ± 0.35 | 7 (1/2 done) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| srr | 66.7 ± 0 % | 100 % (1/2 done) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 3 | " + points_[3].id + " | failed | method=qer rank=8 seed=1 | quantize exited"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| 7 | " + points_[7].id + " | missing | method=srr rank=8 seed=1 | no result file |"),
            std::string::npos) << md;
  EXPECT_EQ(md.find("/tmp"), std::string::npos);  // no machine paths

  // plots: perplexity vs rank has fp32 (reference), qer and srr
  const std::string ppl = read_file(g / "plots/ppl_vs_rank.svg");
  std::string why;
  EXPECT_TRUE(xml_well_formed(ppl, &why)) << why;
  EXPECT_EQ(series_points(ppl), (std::vector<std::pair<std::string, int>>{{"fp32", 2}, {"qer", 2}, {"srr", 2}}));
  const std::string win = read_file(g / "plots/win_rate_by_scale.svg");
  EXPECT_EQ(series_points(win), (std::vector<std::pair<std::string, int>>{{"srr rank=4", 1}, {"srr rank=8", 1}}));
  const std::string kstar = read_file(g / "plots/k_star_per_layer.svg");
  EXPECT_EQ(count(kstar, "<rect class=\"cell\""), 6u);  // 2 SRR settings × 3 layers
  EXPECT_NE(kstar.find(">srr rank=4</text>"), std::string::npos);
  EXPECT_NE(kstar.find(">srr rank=8</text>"), std::string::npos);
  const std::string bits = read_file(g / "plots/error_vs_bits.svg");
  EXPECT_EQ(series_points(bits), (std::vector<std::pair<std::string, int>>{
                                     {"qer rank=4", 1}, {"qer rank=8", 1}, {"srr rank=4", 1}, {"srr rank=8", 1}}));
  for (const auto& f : {ppl, win, kstar, bits}) EXPECT_TRUE(xml_well_formed(f, &why)) << why;

  // index.h5: an external link per point file, resolved through the index; every point listed with its status
  srr::store::h5_init();
  const std::string index = (g / "index.h5").string();
  const srr::store::Hid file(H5Fopen(index.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_TRUE(file.valid());
  const auto listed = nlohmann::json::parse(srr::store::read_string_attribute(file.get(), "points", index));
  ASSERT_EQ(listed.size(), 9u);
  EXPECT_EQ(listed[7]["status"], "missing");
  EXPECT_TRUE(listed[7]["file"].is_null());
  EXPECT_EQ(listed[3]["status"], "failed");
  for (std::size_t t = 0; t < points_.size(); ++t) {
    const std::string link = "points/" + points_[t].id;
    EXPECT_EQ(H5Lexists(file.get(), link.c_str(), H5P_DEFAULT) > 0, t != 7) << t;
    if (t == 7) continue;
    const srr::store::Hid target(H5Oopen(file.get(), link.c_str(), H5P_DEFAULT));
    ASSERT_TRUE(target.valid()) << t;
    EXPECT_EQ(srr::store::read_string_attribute(target.get(), "id", index), points_[t].id);
  }
  EXPECT_EQ(srr::store::read_string_attribute(file.get(), "summary_csv", index), csv);
}

TEST_F(Collect, IsIdempotentAndStalePlotsGo) {
  collect(grid_, points_, paths_);
  const std::string first = read_file(paths_.grid_dir() / "summary.csv");
  const std::string first_md = read_file(paths_.grid_dir() / "summary.md");
  collect(grid_, points_, paths_);
  EXPECT_EQ(read_file(paths_.grid_dir() / "summary.csv"), first);
  EXPECT_EQ(read_file(paths_.grid_dir() / "summary.md"), first_md);
  // without SRR points there is no win-rate or k* plot
  std::vector<Point> qer_only(points_.begin(), points_.begin() + 5);
  collect(grid_, qer_only, paths_);
  EXPECT_FALSE(fs::exists(paths_.grid_dir() / "plots/win_rate_by_scale.svg"));
  EXPECT_FALSE(fs::exists(paths_.grid_dir() / "plots/k_star_per_layer.svg"));
  EXPECT_TRUE(fs::exists(paths_.grid_dir() / "plots/ppl_vs_rank.svg"));
}

}  // namespace

// A uniform point whose result file records no bits per weight (written before srr recorded it) gets the
// figure from its settings and layer shapes, counted as srr allocate counts it; a recorded figure is kept.
TEST(CollectBitsPerWeight, UniformPointsWithoutARecordedFigureGetOneFromTheirSettings) {
  const fs::path dir = fs::temp_directory_path() / ("srr-sweep-bpw-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::istringstream in(
      "[data]\nmodel = m.bin\ntext = t.txt\ncalib.windows = 2\neval.skip-windows = 2\n"
      "[fixed]\nquant = mxint\nbits = 3\nblock = 32\nmethod = qer\n[axes]\nrank = 0, 8\n");
  const Grid grid = parse_grid(in, "b", "b.ini");
  const auto points = expand(grid);
  ASSERT_EQ(points.size(), 2u);
  SweepPaths paths;
  paths.results = dir;
  paths.work = dir / "work";
  paths.grid = "b";
  write_manifest(paths.manifest(), points);
  for (std::size_t t = 0; t < points.size(); ++t) {
    PointResult r;
    r.id = points[t].id;
    r.settings = points[t].settings;
    r.protocol = "stream";
    r.perplexity = 5;
    r.tokens = 100;
    r.tool_version = "test";
    r.layers.push_back({"model.layers.0.mlp.down_proj", 64, 32, 0, 0.5, 0.4, 0.3});
    if (t == 0) r.bits_per_weight = 2.5;  // recorded: kept as is
    write_point_file(paths.point_file(r.id), r);
  }
  collect(grid, points, paths);
  const std::string csv = read_file(paths.grid_dir() / "summary.csv");
  // 3 bits + 8/32 for the shared exponents + bf16 factors 16·8·(64 + 32)/(64·32) = 6
  EXPECT_NE(csv.find(",5,100,2.5,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",5,100,9.25,"), std::string::npos) << csv;
  fs::remove_all(dir);
}
