// SPDX-License-Identifier: MIT
// The calibration file: round trip of synthetic statistics, metadata-only description, identity, and
// errors that name the file and the key.
#include <nlohmann/json.hpp>

#include "qer/synthetic.hpp"
#include "store/calibration.hpp"
#include "store/hdf5.hpp"
#include "support.hpp"

namespace srr::store {
namespace {

using test::TempDir;

std::map<std::string, qer::InputStatistics> sample() {
  std::map<std::string, qer::InputStatistics> m;
  m["model.layers.0.self_attn.qkv_input"] = qer::synthetic_statistics({.dim = 48, .seed = 3});
  m["model.layers.0.mlp.down_proj_input"] = qer::synthetic_statistics({.dim = 70, .with_xtx = false, .seed = 4});
  m["model.layers.1.mlp.gate_up_input"] = qer::synthetic_statistics({.dim = 32, .dead = 2, .seed = 5});
  return m;
}

TEST(Calibration, RoundTripIsExact) {
  TempDir dir;
  const auto path = dir / "calib.h5";
  const auto stats = sample();
  write_calibration(path, stats, R"({"tokens": 4096, "text": "x"})");
  for (const auto& [key, s] : stats) {
    const auto r = read_statistics(path, key);
    EXPECT_EQ(r.dim, s.dim) << key;
    EXPECT_EQ(r.tokens, s.tokens) << key;
    EXPECT_TRUE(test::same_bits(r.mean_abs_max, s.mean_abs_max)) << key;
    EXPECT_TRUE(test::same_bits(r.sum_sq, s.sum_sq)) << key;
    ASSERT_EQ(r.has_xtx(), s.has_xtx()) << key;
    const auto as_vector = [](const la::Matrix<double>& M) { return std::vector<double>(M.data(), M.data() + M.size()); };
    if (s.has_xtx()) {
      EXPECT_TRUE(test::same_bits(as_vector(r.xtx), as_vector(s.xtx))) << key;
    }
  }
  // No temporary file is left beside it.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "")) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(Calibration, DescribeReadsMetadataOnly) {
  TempDir dir;
  const auto path = dir / "calib.h5";
  write_calibration(path, sample(), R"({"tokens": 4096})", R"({"path": "/m", "header_sha256": "ab"})");
  const auto info = describe_calibration(path);
  ASSERT_EQ(info.inputs.size(), 3u);
  const auto& down = info.inputs.at("model.layers.0.mlp.down_proj_input");
  EXPECT_EQ(down.dim, 70);
  EXPECT_FALSE(down.has_xtx);
  EXPECT_TRUE(info.inputs.at("model.layers.1.mlp.gate_up_input").has_xtx);
  EXPECT_EQ(nlohmann::json::parse(info.settings)["tokens"], 4096);
  EXPECT_EQ(nlohmann::json::parse(info.identity)["checkpoint"]["header_sha256"], "ab");
}

TEST(Calibration, IdentityFollowsContentNotPath) {
  TempDir dir;
  write_calibration(dir / "a.h5", sample(), "{}");
  write_calibration(dir / "b.h5", sample(), "{}");
  auto other = sample();
  other.begin()->second.sum_sq[0] += 1;
  write_calibration(dir / "c.h5", other, "{}");
  const auto hash = [](const std::filesystem::path& p) {
    return nlohmann::json::parse(calibration_identity(p))["content_sha256"].get<std::string>();
  };
  EXPECT_EQ(hash(dir / "a.h5"), hash(dir / "b.h5"));
  EXPECT_NE(hash(dir / "a.h5"), hash(dir / "c.h5"));
  EXPECT_EQ(hash(dir / "a.h5").size(), 64u);
}

TEST(Calibration, MissingKeyNamesFileAndKey) {
  TempDir dir;
  const auto path = dir / "calib.h5";
  write_calibration(path, sample(), "{}");
  try {
    read_statistics(path, "model.layers.9.mlp.gate_up_input");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.9.mlp.gate_up_input"), std::string::npos) << msg;
  }
  EXPECT_THROW(read_statistics(dir / "absent.h5", "k"), InputError);
}

TEST(Calibration, InvalidStatisticsAreRefusedOnWriteAndOnRead) {
  TempDir dir;
  auto bad = sample();
  bad.begin()->second.sum_sq[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(write_calibration(dir / "bad.h5", bad, "{}"), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.h5"));
  EXPECT_THROW(write_calibration(dir / "x.h5", sample(), "not json"), InputError);

  // A file damaged after writing: read_statistics validates what it reads.
  const auto path = dir / "calib.h5";
  write_calibration(path, sample(), "{}");
  {
    const std::string name = path.string();
    Hid file(SRR_H5_CALL(H5Fopen(name.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), name));
    Hid d = open_dataset(file.get(), "inputs/model.layers.0.mlp.down_proj_input/sum_sq", name);
    std::vector<double> v(70, -1.0);
    write_dataset<double>(d.get(), v, name);
  }
  try {
    read_statistics(path, "model.layers.0.mlp.down_proj_input");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("down_proj_input"), std::string::npos) << e.what();
  }
}

TEST(Calibration, NotACalibrationFile) {
  TempDir dir;
  const auto path = dir / "x.h5";
  { std::ofstream(path) << "plain text"; }
  EXPECT_THROW(read_statistics(path, "k"), InputError);
  EXPECT_THROW(describe_calibration(path), InputError);
}

TEST(Calibration, XtxIsStoredAsThePackedLowerTriangle) {
  TempDir dir;
  const auto path = dir / "calib.h5";
  write_calibration(path, sample(), "{}");
  const std::string name = path.string();
  Hid file(SRR_H5_CALL(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), name));
  Hid d = open_dataset(file.get(), "inputs/model.layers.0.self_attn.qkv_input/xtx_packed", name);
  EXPECT_EQ(dataset_dims(d.get(), name), std::vector<hsize_t>{48 * 49 / 2});
  // Column 0 first (rows 0..47), then column 1 from row 1: the layout the writer's panels follow.
  const auto packed = read_dataset<double>(d.get(), 48 * 49 / 2, name);
  const auto stats = sample();
  const auto& xtx = stats.at("model.layers.0.self_attn.qkv_input").xtx;
  EXPECT_EQ(packed[0], xtx(0, 0));
  EXPECT_EQ(packed[47], xtx(47, 0));
  EXPECT_EQ(packed[48], xtx(1, 1));
  EXPECT_EQ(packed.back(), xtx(47, 47));
  EXPECT_FALSE(exists(file.get(), "inputs/model.layers.0.mlp.down_proj_input/xtx_packed", name));
}

TEST(Calibration, UnfinishedInputsAreKeptApartAndResumed) {
  TempDir dir;
  const auto path = dir / "calib.h5";
  const auto stats = sample();
  std::vector<CalibrationInput> layout;
  for (const auto& [key, s] : stats) layout.push_back({key, s.dim, s.has_xtx()});
  const std::string settings = R"({"text": "a", "windows": 4})";
  create_calibration(path, layout, settings, R"({"header_sha256": "ab"})");
  const std::string first = "model.layers.0.self_attn.qkv_input";  // one with XᵀX, written in two panels
  {
    CalibrationWriter w(path);
    EXPECT_FALSE(w.done(first));
    const auto& s = stats.at(first);
    w.begin(first, s);
    // Two panels: columns [0, 5) and [5, m).
    std::vector<double> a, b;
    for (la::index_t j = 0; j < s.dim; ++j)
      for (la::index_t i = j; i < s.dim; ++i) (j < 5 ? a : b).push_back(s.xtx(i, j));
    w.write_xtx_columns(0, 5, a);
    w.write_xtx_columns(5, s.dim, b);
    w.end();
    w.commit();
    w.close();
  }
  // A run killed here: one input done, the others not.
  const auto info = describe_calibration(path);
  EXPECT_EQ(info.missing(), stats.size() - 1);
  EXPECT_TRUE(info.inputs.at(first).done);
  const auto r = read_statistics(path, first);
  EXPECT_TRUE(test::same_bits(std::vector<double>(r.xtx.data(), r.xtx.data() + r.xtx.size()),
                              std::vector<double>(stats.at(first).xtx.data(),
                                                  stats.at(first).xtx.data() + stats.at(first).xtx.size())));
  const std::string unfinished = "model.layers.1.mlp.gate_up_input";
  try {
    read_statistics(path, unfinished);
    ADD_FAILURE() << "an unfinished input was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not finished"), std::string::npos) << e.what();
  }
  EXPECT_THROW(calibration_identity(path), InputError);  // no content identity for an incomplete file
  // The same command resumes; another text is refused, naming the difference.
  EXPECT_EQ(check_calibration_target(path, settings, R"({"header_sha256": "ab"})", false), CalibrationTarget::resume);
  try {
    check_calibration_target(path, R"({"text": "b", "windows": 4})", R"({"header_sha256": "ab"})", false);
    ADD_FAILURE() << "a file of another text was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text: the file has \"a\", this run has \"b\""), std::string::npos) << e.what();
  }
  {
    CalibrationWriter w(path);
    EXPECT_TRUE(w.done(first));
    for (const auto& [key, s] : stats) {
      if (w.done(key)) continue;
      w.begin(key, s);
      if (s.has_xtx()) {
        std::vector<double> all;
        for (la::index_t j = 0; j < s.dim; ++j)
          for (la::index_t i = j; i < s.dim; ++i) all.push_back(s.xtx(i, j));
        w.write_xtx_columns(0, s.dim, all);
      }
      w.end();
    }
    w.commit();
    w.close();
  }
  EXPECT_EQ(check_calibration_target(path, settings, R"({"header_sha256": "ab"})", false), CalibrationTarget::reuse);
  // The resumed file is the file written at once.
  write_calibration(dir / "once.h5", stats, settings, R"({"header_sha256": "ab"})");
  const auto content = [](const std::filesystem::path& p) {
    return nlohmann::json::parse(calibration_identity(p))["content_sha256"].get<std::string>();
  };
  EXPECT_EQ(content(path), content(dir / "once.h5"));
}

TEST(Calibration, FullDiskIsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  try {
    create_calibration(dir / "huge.h5", {{"model.layers.0.mlp.down_proj_input", 1'000'000'000, true}}, "{}");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("not enough disk space for the calibration file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4000000"), std::string::npos) << msg;  // the bytes it needs
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir / ""));
}

TEST(Calibration, OlderFormatIsRefusedByVersion) {
  TempDir dir;
  const auto path = dir / "v2.h5";
  {
    const std::string name = path.string();
    h5_init();
    Hid file(SRR_H5_CALL(H5Fcreate(name.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), name));
    write_string_attribute(file.get(), "format", "srr-calibration", name);
    write_int_attribute(file.get(), "format_version", 2, name);
  }
  try {
    read_statistics(path, "k");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2, this srr reads version 3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace srr::store
