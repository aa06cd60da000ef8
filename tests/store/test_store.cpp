// SPDX-License-Identifier: MIT
// The store: schema round trip (byte-exact), resume marks, the run lock, and refusals that leave an existing
// store untouched.
#include <sys/stat.h>

#include "base/files.hpp"
#include "support.hpp"

namespace srr::store {
namespace {

using test::TempDir;

StoreLayout layout_for(quant::Scheme scheme) {
  StoreLayout l;
  l.quant = {scheme, scheme == quant::Scheme::Mxint ? 3 : 4, 32};
  l.rank = 6;
  // 70 inputs: the last quantizer block is partial.
  l.layers = {{"model.layers.0.self_attn.q_proj", 64, 64},
              {"model.layers.0.mlp.down_proj", 70, 48},
              {"model.layers.0.mlp.up_proj", 48, 70}};
  return l;
}

StoreHeader header() {
  return {"0.1.0", {{"bits", 3}, {"rank", 6}, {"scale", "identity"}},
          R"({"path":"/a/model.bin","files":[{"name":"model.bin","bytes":100}],"header_sha256":"abc"})", "null"};
}

/// Size, mtime and bytes of a file: what "left as it is" means.
struct Snapshot {
  std::string bytes;
  struct timespec mtime {};
  explicit Snapshot(const std::filesystem::path& p) : bytes(test::file_bytes(p)) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    mtime = st.st_mtim;
  }
  bool operator==(const Snapshot& o) const {
    return bytes == o.bytes && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

class StoreSchema : public ::testing::TestWithParam<quant::Scheme> {};

TEST_P(StoreSchema, RoundTripIsByteExact) {
  TempDir dir;
  const auto path = dir / "run.h5";
  const StoreLayout layout = layout_for(GetParam());
  std::vector<LayerRecord> written;
  {
    Store s = Store::open_for_run(path, header(), layout);
    EXPECT_EQ(s.done(), std::vector<bool>({false, false, false}));
    for (std::size_t i : {2u, 0u}) {
      written.push_back(test::random_record(layout, layout.layers[i], 10 + i));
      s.write_layer(i, written.back());
    }
    EXPECT_EQ(s.done(), std::vector<bool>({true, false, true}));
    test::expect_same_record(s.read_layer(2), written[0]);
    s.close();
  }
  EXPECT_EQ(test::temporaries_beside(path), 0u);
  const Store s = Store::open_read_only(path);
  EXPECT_EQ(s.header().config, header().config);
  EXPECT_EQ(s.header().checkpoint, header().checkpoint);
  EXPECT_EQ(s.header().tool_version, "0.1.0");
  EXPECT_EQ(s.layout().layers, layout.layers);
  EXPECT_EQ(s.layout().rank, layout.rank);
  EXPECT_EQ(s.layout().quant.scheme, layout.quant.scheme);
  EXPECT_EQ(s.layout().quant.width, layout.quant.width);
  EXPECT_EQ(s.done(), std::vector<bool>({true, false, true}));
  test::expect_same_record(s.read_layer(2), written[0]);
  test::expect_same_record(s.read_layer(0), written[1]);
  EXPECT_EQ(s.index_of("model.layers.0.mlp.down_proj"), 1u);
  EXPECT_THROW(s.index_of("nope"), InputError);
}

TEST_P(StoreSchema, ResumeKeepsDoneLayersAndRewritesOthers) {
  TempDir dir;
  const auto path = dir / "run.h5";
  const StoreLayout layout = layout_for(GetParam());
  const auto first = test::random_record(layout, layout.layers[1], 1);
  {
    Store s = Store::open_for_run(path, header(), layout);
    s.write_layer(1, first);
  }  // destructor closes and unlocks
  Store s = Store::open_for_run(path, header(), layout);
  EXPECT_EQ(s.done(), std::vector<bool>({false, true, false}));
  test::expect_same_record(s.read_layer(1), first);
  const auto again = test::random_record(layout, layout.layers[1], 2);
  s.write_layer(1, again);  // rewriting is allowed (a layer written but not marked done is redone)
  test::expect_same_record(s.read_layer(1), again);
}

INSTANTIATE_TEST_SUITE_P(Schemes, StoreSchema, ::testing::Values(quant::Scheme::Mxint, quant::Scheme::IntGroup),
                         [](const auto& p) { return quant::to_string(p.param); });

TEST(Store, WrongShapesAreRejectedBeforeAnyWrite) {
  TempDir dir;
  const StoreLayout layout = layout_for(quant::Scheme::Mxint);
  Store s = Store::open_for_run(dir / "run.h5", header(), layout);
  auto r = test::random_record(layout, layout.layers[0], 1);
  r.lora_A.pop_back();
  EXPECT_THROW(s.write_layer(0, r), Error);
  auto wrong_layer = test::random_record(layout, layout.layers[1], 1);
  EXPECT_THROW(s.write_layer(0, wrong_layer), Error);
  EXPECT_EQ(s.done(), std::vector<bool>({false, false, false}));
}

TEST(Store, WeightOnlyHasEmptyFactors) {
  TempDir dir;
  StoreLayout layout = layout_for(quant::Scheme::Mxint);
  layout.rank = 0;
  Store s = Store::open_for_run(dir / "run.h5", header(), layout);
  auto r = test::random_record(layout, layout.layers[0], 1);
  EXPECT_TRUE(r.lora_A.empty());
  s.write_layer(0, r);
  test::expect_same_record(s.read_layer(0), r);
}

class StoreRefusal : public ::testing::Test {
protected:
  void SetUp() override {
    Store s = Store::open_for_run(path, header(), layout);
    s.write_layer(0, test::random_record(layout, layout.layers[0], 1));
    s.close();
    before = std::make_unique<Snapshot>(path);
  }
  /// Expects InputError whose message contains every fragment, and the store left as it was.
  void expect_refused(const StoreHeader& h, const StoreLayout& l, std::vector<std::string> fragments) {
    try {
      Store::open_for_run(path, h, l);
      ADD_FAILURE() << "not refused";
    } catch (const InputError& e) {
      for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
    EXPECT_TRUE(Snapshot(path) == *before) << "the refused store was modified";
    EXPECT_EQ(test::temporaries_beside(path), 0u);
  }
  TempDir dir;
  std::filesystem::path path = dir / "run.h5";
  StoreLayout layout = layout_for(quant::Scheme::Mxint);
  std::unique_ptr<Snapshot> before;
};

TEST_F(StoreRefusal, DifferentConfigurationSaysWhichKeys) {
  StoreHeader h = header();
  h.config["bits"] = 4;
  h.config["seed"] = 7;
  expect_refused(h, layout, {"config.bits: the store has 3, this run has 4", "config.seed", "(absent)", "left as it is"});
}

TEST_F(StoreRefusal, DifferentCheckpoint) {
  StoreHeader h = header();
  h.checkpoint = R"({"path":"/a/model.bin","files":[{"name":"model.bin","bytes":100}],"header_sha256":"abd"})";
  expect_refused(h, layout, {"checkpoint: the store was made from /a/model.bin"});
}

TEST_F(StoreRefusal, SameCheckpointAtAnotherPathIsAccepted) {
  StoreHeader h = header();
  h.checkpoint = R"({"path":"/b/model.bin","files":[{"name":"model.bin","bytes":100}],"header_sha256":"abc"})";
  Store s = Store::open_for_run(path, h, layout);
  EXPECT_EQ(s.done(), std::vector<bool>({true, false, false}));
}

TEST_F(StoreRefusal, DifferentCalibration) {
  StoreHeader h = header();
  h.calibration = R"({"path":"/c/calib.h5","content_sha256":"0123456789abcdef00","checkpoint":null})";
  expect_refused(h, layout, {"calibration: the store was made with no calibration file, this run uses /c/calib.h5"});
}

TEST_F(StoreRefusal, DifferentToolVersion) {
  StoreHeader h = header();
  h.tool_version = "9.9.9";
  expect_refused(h, layout, {"made by srr 0.1.0, this is srr 9.9.9"});
}

TEST_F(StoreRefusal, DifferentLayout) {
  StoreLayout l = layout;
  l.layers[2].in = 50;
  expect_refused(header(), l, {"layout: layer 2"});
}

TEST_F(StoreRefusal, LockHeldByAnotherRun) {
  const auto other = FileLock::try_acquire(run_lock_path(path), LockMode::exclusive);
  ASSERT_TRUE(other);
  expect_refused(header(), layout, {"is in use by another run", "run.h5.lock"});
}

TEST_F(StoreRefusal, LockIsReleasedWithTheStore) {
  { Store s = Store::open_for_run(path, header(), layout); }
  EXPECT_TRUE(FileLock::try_acquire(run_lock_path(path), LockMode::exclusive));
}

TEST(StoreOpen, NotAStoreIsLeftAlone) {
  TempDir dir;
  const auto path = dir / "notes.h5";
  { std::ofstream(path) << "not hdf5"; }
  const Snapshot before(path);
  EXPECT_THROW(Store::open_for_run(path, header(), layout_for(quant::Scheme::Mxint)), InputError);
  EXPECT_TRUE(Snapshot(path) == before);
  EXPECT_THROW(Store::open_read_only(dir / "missing.h5"), InputError);
}

TEST(StoreOpen, UnwritableDirectoryIsAClearError) {
  try {
    Store::open_for_run("/nonexistent-dir/run.h5", header(), layout_for(quant::Scheme::Mxint));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the directory '/nonexistent-dir' does not exist"), std::string::npos)
        << e.what();
  }
}

TEST(StoreOpen, SpaceEstimateBoundsTheFileAndFullDisksAreRefused) {
  TempDir dir;
  for (auto scheme : {quant::Scheme::Mxint, quant::Scheme::IntGroup}) {
    const auto layout = layout_for(scheme);
    const auto path = dir / ("space-" + quant::to_string(scheme) + ".h5");
    Store::open_for_run(path, header(), layout).close();
    EXPECT_GE(estimated_store_bytes(layout), std::filesystem::file_size(path));
  }
  try {
    require_free_space(dir / "x.h5", std::uint64_t{1} << 62, "the store 'x.h5'");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not enough disk space for the store 'x.h5'"), std::string::npos) << e.what();
  }
}

TEST(StoreHeaderDiff, IdenticalHeadersHaveNoDifferences) {
  EXPECT_TRUE(header_differences(header(), header()).empty());
}

TEST(Record, SerializeRoundTripAndTruncation) {
  const StoreLayout layout = layout_for(quant::Scheme::IntGroup);
  auto r = test::random_record(layout, layout.layers[1], 5);
  r.oracle_errors = {0.5, 0.25};
  const auto bytes = serialize(r);
  test::expect_same_record(deserialize(bytes), r);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_THROW(deserialize(std::span<const std::byte>(bytes.data(), cut)), Error) << cut;
  auto longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_THROW(deserialize(longer), Error);
}

namespace {
/// `bytes` with the little-endian value v written over position `at`.
template <class T>
std::vector<std::byte> with(std::vector<std::byte> bytes, std::size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
  return bytes;
}

/// deserialize() must throw srr::Error whose message contains `what`.
void expect_malformed(const std::vector<std::byte>& bytes, const std::string& what) {
  try {
    deserialize(bytes);
    ADD_FAILURE() << "accepted a message that should fail with '" << what << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}
}  // namespace

// The message starts with magic (4 bytes), scheme, width, block (int32 each), in, out (int64 each), then the
// fields of the table, each as a uint64 count and its elements.
TEST(Record, HostileHeadersAreRejectedBeforeTheyBecomeEnumsOrSizes) {
  const StoreLayout layout = layout_for(quant::Scheme::Mxint);
  const auto bytes = serialize(test::random_record(layout, layout.layers[0], 3));
  expect_malformed(with<std::uint32_t>(bytes, 0, 0x12345678), "bad magic");
  expect_malformed(with<std::int32_t>(bytes, 4, 2), "unknown quantizer scheme 2");
  expect_malformed(with<std::int32_t>(bytes, 4, -1), "unknown quantizer scheme -1");
  expect_malformed(with<std::int32_t>(bytes, 8, 0), "malformed");
  expect_malformed(with<std::int32_t>(bytes, 8, 99), "malformed");
  expect_malformed(with<std::int32_t>(bytes, 12, 0), "malformed");
  expect_malformed(with<std::int32_t>(bytes, 12, -8), "malformed");
  expect_malformed(with<std::int64_t>(bytes, 16, 0), "a layer of 0×");
  expect_malformed(with<std::int64_t>(bytes, 16, -5), "a layer of -5×");
  expect_malformed(with<std::int64_t>(bytes, 24, std::int64_t{1} << 40), "a layer of");
  expect_malformed(with<std::int64_t>(bytes, 16, std::int64_t{1} << 62), "a layer of");
  // Counts larger than the message, or than what is left of it.
  expect_malformed(with<std::uint64_t>(bytes, 32, ~std::uint64_t{0}), "truncated");
  expect_malformed(with<std::uint64_t>(bytes, 32, std::uint64_t{1} << 61), "truncated");
  // A consistent in×out that disagrees with the codes that follow.
  expect_malformed(with<std::int64_t>(bytes, 24, layout.layers[0].out + 1), "codes has");
  expect_malformed(with<std::int64_t>(bytes, 16, layout.layers[0].in + 1), "lora_A has");
}

TEST(Record, InconsistentFieldsAreRejected) {
  const StoreLayout layout = layout_for(quant::Scheme::Mxint);
  const auto good = test::random_record(layout, layout.layers[0], 4);
  auto r = good;
  r.k_star += 1;
  expect_malformed(serialize(r), "k_star is");
  r = good;
  r.preserved.back() = -3;
  expect_malformed(serialize(r), "a preserved index is -3");
  r = good;
  r.lora_A.pop_back();
  expect_malformed(serialize(r), "lora_A has");
  r = good;
  r.lora_B.push_back(1.0f);
  expect_malformed(serialize(r), "lora_B has");
  r = good;
  r.codes.scales = {1.0f};  // an INT-g field in an MXINT record
  expect_malformed(serialize(r), "scales has 1 values, expected 0");
  r = good;
  r.objective.resize(static_cast<std::size_t>(layout.rank) + 2);
  expect_malformed(serialize(r), "objective has");
  r = good;
  r.codes.exponents.pop_back();
  expect_malformed(serialize(r), "exponents has");
}

// Every byte of a message replaced by every one of a few values: each result is either rejected with
// srr::Error or a record that fits the shape it states — never a crash, a hang or an unchecked size.
TEST(Record, GarbledMessagesAreRejectedOrConsistent) {
  for (auto scheme : {quant::Scheme::Mxint, quant::Scheme::IntGroup}) {
    const StoreLayout layout = layout_for(scheme);
    const auto bytes = serialize(test::random_record(layout, layout.layers[2], 6));
    std::size_t rejected = 0, accepted = 0;
    for (std::size_t at = 0; at < bytes.size(); ++at)
      for (unsigned v : {0x00u, 0x01u, 0x7fu, 0x80u, 0xffu}) {
        auto garbled = bytes;
        garbled[at] = static_cast<std::byte>(v);
        try {
          const auto r = deserialize(garbled);
          ++accepted;
          const RecordShape shape{r.codes.settings, r.codes.in, r.codes.out,
                                  static_cast<index_t>(r.lora_A.size()) / r.codes.in};
          EXPECT_EQ(shape_mismatches(r, shape), std::vector<std::string>{}) << "byte " << at << " = " << v;
        } catch (const Error&) {
          ++rejected;
        }
      }
    EXPECT_GT(rejected, 0u);
    EXPECT_GT(accepted, 0u);  // a changed value (a metric, a code) is not a malformed message
  }
}

// A store of format version 2 (made before scored_directions and scale_ridge were recorded) is still read:
// those fields read as not recorded (−1 and NaN, null in the JSON), everything else as written; but a run
// cannot continue it.
TEST(StoreFormat, Version2IsReadWithTheNewerFieldsNotRecorded) {
  TempDir dir;
  const auto path = dir / "old.h5";
  std::filesystem::copy_file(std::filesystem::path(SRR_STORE_TEST_DATA) / "format2-store.h5", path);
  const std::string before = test::file_bytes(path);
  {
    const Store s = Store::open_read_only(path);
    EXPECT_EQ(s.format_version(), 2);
    EXPECT_EQ(s.done(), std::vector<bool>({true, false}));
    const LayerRecord r = s.read_layer(0);
    EXPECT_EQ(r.scored_directions, -1);
    EXPECT_TRUE(std::isnan(r.scale_ridge));
    EXPECT_EQ(r.codes.codes, std::vector<std::int8_t>(16 * 8, 1));
    EXPECT_EQ(r.lora_A, std::vector<float>(2 * 16, 0.5f));
    EXPECT_EQ(r.lora_B, std::vector<float>(2 * 8, 0.25f));
    EXPECT_EQ(r.k_star, 0);
    EXPECT_EQ(r.bits, 3);  // a store older than the per-layer settings: the root's
    EXPECT_EQ(r.rank, 2);
    const auto j = to_json(r);
    EXPECT_TRUE(j.at("scored_directions").is_null());
    EXPECT_TRUE(j.at("scale_ridge").is_null());
    EXPECT_EQ(j.at("k_star"), 0);
  }
  StoreLayout layout;
  layout.quant = {quant::Scheme::Mxint, 3, 8};
  layout.rank = 2;
  layout.layers = {{"a", 16, 8}, {"b", 8, 16}};
  try {
    Store::open_for_run(path, StoreHeader{"fuzz", nlohmann::json::object(), "null", "null"}, layout);
    ADD_FAILURE() << "a format-2 store was opened for a run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("format version: the store has 2, this srr writes 4"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(test::file_bytes(path), before);
  EXPECT_FALSE(std::filesystem::exists(run_lock_path(path)));
}

TEST(StoreFormat, NewStoresRecordTheNewerFields) {
  TempDir dir;
  const StoreLayout layout = layout_for(quant::Scheme::Mxint);
  Store s = Store::open_for_run(dir / "run.h5", header(), layout);
  EXPECT_EQ(s.format_version(), kFormatVersion);
  auto r = test::random_record(layout, layout.layers[0], 9);
  r.scored_directions = 0;  // not the adaptive rule: recorded as 0, not as missing
  s.write_layer(0, r);
  const auto back = s.read_layer(0);
  EXPECT_EQ(back.scored_directions, 0);
  EXPECT_EQ(to_json(back).at("scored_directions"), 0);
  EXPECT_EQ(to_json(back).at("scale_ridge"), 1e-9);
}

/// A plan's layout: layer 1 at 2 bits and rank 0, layer 2 at rank 3, the root the largest (3 bits, rank 6).
StoreLayout planned_layout() {
  StoreLayout l = layout_for(quant::Scheme::Mxint);
  l.layers[1].bits = 2;
  l.layers[1].rank = 0;
  l.layers[2].rank = 3;
  return l;
}

TEST(StorePerLayer, EachLayerKeepsItsOwnBitsAndRank) {
  TempDir dir;
  const StoreLayout layout = planned_layout();
  std::vector<LayerRecord> written;
  {
    Store s = Store::open_for_run(dir / "run.h5", header(), layout);
    for (std::size_t i = 0; i < 3; ++i) {
      written.push_back(test::random_record(layout, layout.layers[i], 20 + i));
      s.write_layer(i, written.back());
    }
  }
  const Store s = Store::open_read_only(dir / "run.h5");
  EXPECT_EQ(s.layout().layers, layout.layers);
  EXPECT_TRUE(s.layout().per_layer());
  EXPECT_EQ(s.layout().bits_of(s.layout().layers[1]), 2);
  EXPECT_EQ(s.layout().rank_of(s.layout().layers[2]), 3);
  for (std::size_t i = 0; i < 3; ++i) test::expect_same_record(s.read_layer(i), written[i]);
  const LayerRecord r1 = s.read_layer(1);
  EXPECT_EQ(r1.bits, 2);
  EXPECT_EQ(r1.codes.settings.width, 2);
  EXPECT_TRUE(r1.lora_A.empty());
  EXPECT_EQ(to_json(s.read_layer(2)).at("rank"), 3);
  // A record of the layout's shape is not this layer's: refused before anything is written.
  Store w = Store::open_for_run(dir / "other.h5", header(), layout);
  const StoreLayout uniform = layout_for(quant::Scheme::Mxint);
  EXPECT_THROW(w.write_layer(1, test::random_record(uniform, uniform.layers[1], 1)), Error);
}

TEST(StorePerLayer, AResumeWithOtherSettingsListsEveryLayerThatDiffers) {
  TempDir dir;
  const auto path = dir / "run.h5";
  { Store s = Store::open_for_run(path, header(), planned_layout()); }
  const auto message = [&](const StoreLayout& l) {
    try {
      Store::open_for_run(path, header(), l);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("not refused");
  };
  StoreLayout other = planned_layout();
  other.layers[2].rank = 4;
  other.layers[0].bits = 4;
  other.canonicalize();
  const std::string m = message(other);
  EXPECT_NE(m.find("layer model.layers.0.self_attn.q_proj: the store has 3 bits, rank 6; this run has 4 bits, rank 6"),
            std::string::npos) << m;
  EXPECT_NE(m.find("layer model.layers.0.mlp.up_proj: the store has 3 bits, rank 3; this run has 3 bits, rank 4"),
            std::string::npos) << m;
  EXPECT_EQ(m.find("down_proj"), std::string::npos) << m;  // the same in both
  const std::string uniform = message(layout_for(quant::Scheme::Mxint));
  EXPECT_NE(uniform.find("layer model.layers.0.mlp.down_proj: the store has 2 bits, rank 0; this run has 3 bits, rank 6"),
            std::string::npos) << uniform;
  EXPECT_EQ(uniform.find("q_proj"), std::string::npos) << uniform;
}

TEST(Hdf5, ErrorNamesTheCallAndTheFile) {
  h5_init();
  try {
    SRR_H5_CALL(H5Fopen("/nonexistent-dir/x.h5", H5F_ACC_RDONLY, H5P_DEFAULT), "the-file.h5");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("H5Fopen"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'the-file.h5'"), std::string::npos) << msg;
  }
}

TEST(Hdf5, HandleClosesWhateverItHolds) {
  h5_init();
  hid_t space_id = H5I_INVALID_HID, plist_id = H5I_INVALID_HID;
  {
    Hid space(SRR_H5_CALL(H5Screate(H5S_SCALAR), "-"));
    Hid plist(SRR_H5_CALL(H5Pcreate(H5P_DATASET_CREATE), "-"));
    space_id = space.get();
    plist_id = plist.get();
    EXPECT_GT(H5Iis_valid(space_id), 0);
    Hid moved = std::move(plist);
    EXPECT_FALSE(plist.valid());
    EXPECT_GT(H5Iis_valid(plist_id), 0);
  }
  EXPECT_LE(H5Iis_valid(space_id), 0);
  EXPECT_LE(H5Iis_valid(plist_id), 0);
}

}  // namespace
}  // namespace srr::store
