// SPDX-License-Identifier: MIT
// Grid files: parsing, expansion, canonical settings, stable ids, shared calibrations, the manifest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "base/error.hpp"
#include "sweep/files.hpp"
#include "sweep/grid.hpp"
#include "sweep/ini.hpp"

namespace {

namespace fs = std::filesystem;
using namespace srr::sweep;
using srr::read_file;
using srr::write_file_atomic;

const char* kGrid = R"(# a grid
[data]
model = ${SRR_DATA_DIR}/m.bin
text = ${SRR_DATA_DIR}/t.txt    ; both slices
ctx = 128
calib.windows = 4
eval.skip-windows = 4
eval.windows = 4

[fixed]
bits = 3
k-rule = criterion

[axes.refs]
method = fp32, w-only

[axes]
scale = identity, lqer
method = qer, srr
rank = 4, 8
seed = 42, 1234

[run]
np = 2
throttle = 3
time = 00:10:00

[report]
title = A grid
pivot = rank
)";

Grid parse(const std::string& text, const std::string& name = "g") {
  std::istringstream in(text);
  return parse_grid(in, name, name + ".ini");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const srr::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Ini, SectionsEntriesCommentsAndErrors) {
  std::istringstream in("; top\n[a]\nx = 1 # c\ny=a#b\n\n[b]\n z = , q ,\n");
  const auto s = parse_ini(in, "f.ini");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].entries[0].value, "1");
  EXPECT_EQ(s[0].entries[1].value, "a#b");  // a '#' inside a value survives
  EXPECT_EQ(s[1].entries[0].line, 7);
  EXPECT_EQ(split_list(s[1].entries[0].value), (std::vector<std::string>{"", "q", ""}));
  const auto err = [](const char* text) {
    std::istringstream i(text);
    try {
      parse_ini(i, "f.ini");
    } catch (const srr::InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(err("x = 1\n").find("f.ini:1: 'x = 1' comes before the first [section]"), std::string::npos);
  EXPECT_NE(err("[a]\nx=1\nx=2\n").find("f.ini:3: key 'x' appears twice in [a]"), std::string::npos);
  EXPECT_NE(err("[a]\n[a]\n").find("f.ini:2: section [a] appears twice"), std::string::npos);
  EXPECT_NE(err("[a]\njunk\n").find("f.ini:2: expected 'key = value'"), std::string::npos);
}

TEST(Grid, Parses) {
  const Grid g = parse(kGrid);
  EXPECT_EQ(g.name, "g");
  EXPECT_EQ(g.data.at("ctx"), "128");
  EXPECT_EQ(g.fixed.at("bits"), "3");
  ASSERT_EQ(g.subgrids.size(), 2u);
  EXPECT_EQ(g.subgrids[0].name, "refs");
  ASSERT_EQ(g.subgrids[1].axes.size(), 4u);
  EXPECT_EQ(g.subgrids[1].axes[2].key, "rank");
  EXPECT_EQ(g.subgrids[1].axes[2].values, (std::vector<std::string>{"4", "8"}));
  EXPECT_EQ(g.run.np, 2);
  EXPECT_EQ(g.run.throttle, 3);
  EXPECT_EQ(g.run.time, "00:10:00");
  EXPECT_EQ(g.report.pivot, "rank");
}

TEST(Grid, ErrorsNameFileAndLine) {
  EXPECT_NE(error_of("[bogus]\n").find("g.ini:1: unknown section [bogus]"), std::string::npos);
  EXPECT_NE(error_of("[fixed]\nmodel = m\n").find("g.ini:2: 'model' is a data key"), std::string::npos);
  EXPECT_NE(error_of("[data]\nrank = 4\n").find("g.ini:2: 'rank' is not a data key"), std::string::npos);
  EXPECT_NE(error_of("[fixed]\nrank = 4, 8\n").find("has several values: put it in [axes]"), std::string::npos);
  EXPECT_NE(error_of("[axes]\nrank = 4, 4\n").find("axis 'rank' lists '4' twice"), std::string::npos);
  EXPECT_NE(error_of("[axes]\nrank = 4,,8\n").find("axis 'rank' has an empty value"), std::string::npos);
  EXPECT_NE(error_of("[run]\nnp = 0\n").find("np must be in 1..4096"), std::string::npos);
  EXPECT_NE(error_of("[run]\nthrottle = x\n").find("expected an integer"), std::string::npos);
  EXPECT_NE(error_of("[run]\nnodes = 2\n").find("unknown key 'nodes' in [run]"), std::string::npos);
  EXPECT_NE(error_of("[fixed]\nrank =\n").find("'rank' has no value"), std::string::npos);
}

TEST(Grid, ExpandsProductsInOrderAndDropsIgnoredSettings) {
  const auto points = expand(parse(kGrid));
  // refs: fp32 + w-only; main: 2 scales × 2 methods × 2 ranks × 2 seeds
  ASSERT_EQ(points.size(), 2u + 16u);
  EXPECT_EQ(points[0].settings.at("method"), "fp32");
  EXPECT_EQ(points[0].calib, "");                           // FP32 needs no calibration
  EXPECT_EQ(points[0].settings.count("calib.ctx"), 0u);     // nor calibration settings
  EXPECT_EQ(points[0].settings.count("bits"), 0u);          // nor method settings
  EXPECT_EQ(points[0].settings.at("eval.skip-windows"), "4");
  EXPECT_EQ(points[1].settings.at("method"), "w-only");
  EXPECT_EQ(points[1].settings.count("rank"), 0u);
  EXPECT_EQ(points[1].settings.count("k-rule"), 0u);
  // the first axis varies slowest, the last fastest
  EXPECT_EQ(points[2].settings.at("scale"), "identity");
  EXPECT_EQ(points[2].settings.at("seed"), "42");
  EXPECT_EQ(points[3].settings.at("seed"), "1234");
  EXPECT_EQ(points[4].settings.at("rank"), "8");
  EXPECT_EQ(points[10].settings.at("scale"), "lqer");
  // QER has no k rule; SRR keeps it
  EXPECT_EQ(points[2].settings.count("k-rule"), 0u);
  EXPECT_EQ(points[6].settings.at("method"), "srr");
  EXPECT_EQ(points[6].settings.at("k-rule"), "criterion");
  // bare slice keys became calib.K and eval.K
  EXPECT_EQ(points[2].settings.at("calib.ctx"), "128");
  EXPECT_EQ(points[2].settings.at("eval.ctx"), "128");
  EXPECT_EQ(points[2].settings.count("ctx"), 0u);
}

TEST(Grid, PointsThatComputeTheSameThingRunOnce) {
  const auto points = expand(parse(R"([data]
model = m
text = t
calib.windows = 2
eval.skip-windows = 2
[axes]
method = qer, srr
k-rule = naive, adaptive, criterion
)"));
  // QER ignores the k rule: one QER point, three SRR points
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(std::count_if(points.begin(), points.end(), [](const Point& p) { return p.settings.at("method") == "qer"; }),
            1);
}

TEST(Grid, SrrDefaultRuleIsExplicit) {
  const char* implicit = "[data]\nmodel = m\ntext = t\ncalib.windows = 2\neval.skip-windows = 2\n[fixed]\nmethod = srr\n";
  const auto a = expand(parse(implicit));
  const auto b = expand(parse(std::string(implicit) + "k-rule = criterion\n"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].settings.at("k-rule"), "criterion");
  EXPECT_EQ(a[0].id, b[0].id);
}

TEST(Grid, IdsAreStableContentHashes) {
  const auto a = expand(parse(kGrid));
  const auto b = expand(parse(kGrid));
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, b[i].id);
  // a golden value: changing how ids are computed would orphan every existing result file
  EXPECT_EQ(settings_id({{"method", "qer"}, {"rank", "8"}}), settings_id({{"rank", "8"}, {"method", "qer"}}));
  EXPECT_EQ(settings_id({{"method", "qer"}, {"rank", "8"}}), "b406b0174f6c");
  EXPECT_NE(settings_id({{"method", "qer"}, {"rank", "8"}}), settings_id({{"method", "qer"}, {"rank", "16"}}));
  // keys and values cannot blur into each other
  EXPECT_NE(settings_id({{"a", "b=c"}}), settings_id({{"a=b", "c"}}));
  // ids are unique within a grid, 12 hex digits
  std::set<std::string> ids;
  for (const auto& p : a) {
    EXPECT_EQ(p.id.size(), 12u);
    EXPECT_EQ(p.id.find_first_not_of("0123456789abcdef"), std::string::npos);
    ids.insert(p.id);
  }
  EXPECT_EQ(ids.size(), a.size());
}

TEST(Grid, ReplanningAnEditedGridKeepsTheIdsOfUnchangedPoints) {
  std::string edited = kGrid;
  edited.replace(edited.find("rank = 4, 8"), 11, "rank = 8, 4, 16");   // reordered and extended
  edited.replace(edited.find("seed = 42, 1234"), 15, "seed = 1234, 42");
  const auto before = expand(parse(kGrid));
  const auto after = expand(parse(edited));
  EXPECT_EQ(after.size(), 2u + 24u);
  std::set<std::string> after_ids;
  for (const auto& p : after) after_ids.insert(p.id);
  for (const auto& p : before) EXPECT_TRUE(after_ids.count(p.id)) << p.id;
}

TEST(Grid, CalibrationDependsOnlyOnDataSettings) {
  const auto points = expand(parse(kGrid));
  std::set<std::string> calibs;
  for (const auto& p : points)
    if (!p.calib.empty()) calibs.insert(p.calib);
  EXPECT_EQ(calibs.size(), 1u);  // every quantized point shares one calibration file
  std::string other = kGrid;
  other.replace(other.find("calib.windows = 4"), 17, "calib.windows = 3");
  const auto q = expand(parse(other));
  EXPECT_NE(q[2].calib, points[2].calib);
  EXPECT_NE(q[2].id, points[2].id);
  EXPECT_EQ(q[0].id, points[0].id);  // FP32 does not depend on the calibration slice
  EXPECT_EQ(calibration_settings(points[2].settings),
            (Settings{{"calib.ctx", "128"}, {"calib.text", "${SRR_DATA_DIR}/t.txt"}, {"calib.windows", "4"},
                      {"model", "${SRR_DATA_DIR}/m.bin"}}));
}

TEST(Grid, CalibrationAndEvaluationMustBeDisjoint) {
  const auto err = [](const char* data) {
    try {
      expand(parse(std::string("[data]\nmodel = m\ntext = t\n") + data + "[fixed]\nmethod = qer\n"));
    } catch (const srr::InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(err("").find("calibration windows [0, end) and evaluation windows [0, end) overlap"), std::string::npos);
  EXPECT_NE(err("calib.windows = 4\neval.skip-windows = 3\n").find("overlap"), std::string::npos);
  EXPECT_EQ(err("calib.windows = 4\neval.skip-windows = 4\n"), "(no error)");
  EXPECT_EQ(err("eval.windows = 4\ncalib.skip-windows = 4\n"), "(no error)");
  EXPECT_EQ(err("calib.text = u\n"), "(no error)");  // different texts
  EXPECT_NE(err("").find("set calib.windows and eval.skip-windows"), std::string::npos);
}

TEST(Grid, PointsNeedModelTextAndMethod) {
  EXPECT_THROW(expand(parse("[data]\ntext = t\n[fixed]\nmethod = fp32\n")), srr::InputError);
  EXPECT_THROW(expand(parse("[data]\nmodel = m\n[fixed]\nmethod = fp32\n")), srr::InputError);
  EXPECT_THROW(expand(parse("[data]\nmodel = m\ntext = t\n")), srr::InputError);
}

TEST(Grid, QerPartner) {
  const auto points = expand(parse(kGrid));
  const auto srr = std::find_if(points.begin(), points.end(), [](const Point& p) { return p.settings.at("method") == "srr"; });
  ASSERT_NE(srr, points.end());
  const auto partner = qer_partner_id(srr->settings);
  ASSERT_TRUE(partner.has_value());
  const auto qer = std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.id == *partner; });
  ASSERT_NE(qer, points.end());
  EXPECT_EQ(qer->settings.at("method"), "qer");
  for (const char* k : {"scale", "rank", "seed", "bits"}) EXPECT_EQ(qer->settings.at(k), srr->settings.at(k));
  EXPECT_FALSE(qer_partner_id(qer->settings).has_value());
}

TEST(Grid, ExpandEnv) {
  ::setenv("SRR_SWEEP_TEST_VAR", "/data", 1);
  ::unsetenv("SRR_SWEEP_TEST_UNSET");
  EXPECT_EQ(expand_env("${SRR_SWEEP_TEST_VAR}/m.bin"), "/data/m.bin");
  EXPECT_EQ(expand_env("${SRR_SWEEP_TEST_UNSET:-../d}/m"), "../d/m");
  EXPECT_EQ(expand_env("plain"), "plain");
  try {
    expand_env("${SRR_SWEEP_TEST_UNSET}/m");
    FAIL();
  } catch (const srr::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("SRR_SWEEP_TEST_UNSET, which is not set"), std::string::npos);
  }
  EXPECT_THROW(expand_env("${oops"), srr::InputError);
}

TEST(Manifest, RoundTripsAndIsByteStableOnReplanning) {
  const fs::path dir = fs::temp_directory_path() / ("srr-sweep-manifest-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto points = expand(parse(kGrid));
  write_manifest(dir / "manifest", points);
  const std::string first = read_file(dir / "manifest");
  write_manifest(dir / "manifest", expand(parse(kGrid)));
  EXPECT_EQ(read_file(dir / "manifest"), first);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), static_cast<long>(points.size()) + 1);
  EXPECT_EQ(first.rfind("task\tid\tcalib\tmethod\t", 0), 0u);
  const auto back = read_manifest(dir / "manifest");
  ASSERT_EQ(back.size(), points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(back[i].id, points[i].id);
    EXPECT_EQ(back[i].calib, points[i].calib);
    EXPECT_EQ(back[i].settings, points[i].settings);
  }
  write_file_atomic(dir / "bad", "task\tid\tcalib\tmethod\n0\tabc\n");
  EXPECT_THROW(read_manifest(dir / "bad"), srr::InputError);
  EXPECT_THROW(read_manifest(dir / "none"), srr::InputError);
  fs::remove_all(dir);
}

}  // namespace

TEST(Grid, BudgetPointsTakeTheirBitsAndRankFromThePlan) {
  const auto points = expand(parse(R"([data]
model = m
text = t
calib.windows = 2
eval.skip-windows = 2
[fixed]
method = srr
bits-set = 2,3,4
rank-set = 0,4,8
[axes.uniform]
bits = 3, 4
rank = 4
[axes.allocated]
budget = 3.25, 4.25
bits = 3
rank = 4
)"));
  ASSERT_EQ(points.size(), 4u);
  // uniform points: no allocation keys (they would change the id without changing the result)
  EXPECT_EQ(points[0].settings.at("bits"), "3");
  EXPECT_EQ(points[0].settings.count("bits-set"), 0u);
  EXPECT_FALSE(is_allocated(points[0].settings));
  // budget points: the sets as one value each, no bits or rank of their own
  EXPECT_TRUE(is_allocated(points[2].settings));
  EXPECT_EQ(points[2].settings.at("budget"), "3.25");
  EXPECT_EQ(points[2].settings.at("bits-set"), "2,3,4");
  EXPECT_EQ(points[2].settings.count("bits"), 0u);
  EXPECT_EQ(points[2].settings.count("rank"), 0u);
  EXPECT_EQ(allocation_settings(points[3].settings),
            (Settings{{"budget", "4.25"}, {"bits-set", "2,3,4"}, {"rank-set", "0,4,8"}}));
  EXPECT_NE(error_of("[data]\nmodel = m\n[axes]\nbits-set = 2,3\n").find("g.ini:4: 'bits-set' is one set"),
            std::string::npos);
}
