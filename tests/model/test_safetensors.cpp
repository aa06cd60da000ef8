// SPDX-License-Identifier: MIT
// Reading hand-made safetensors files (exact F16/BF16 conversion, metadata, empty tensors) and the writer:
// what it writes reads back exactly, and re-writing what was read is byte-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "model/safetensors.hpp"
#include "safetensors_bytes.hpp"
#include "support.hpp"

using namespace srr::model;
using namespace srr::model::test;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST(Safetensors, ReadsHandMadeFileWithAllDtypes) {
  // F32 [2,2], BF16 [3] and F16 [2,1,2] with values whose bit patterns are chosen by hand, plus an empty
  // tensor and metadata. The data section is not aligned (header of odd length) on purpose.
  const std::vector<float> f32 = {1.5f, -2.25f, 3e-38f, 65536.0f};
  const std::vector<std::uint16_t> bf16 = {0x3f80 /*1*/, 0xc040 /*-3*/, 0x0001 /*smallest subnormal*/};
  const std::vector<std::uint16_t> f16 = {0x3c00 /*1*/, 0x7bff /*65504*/, 0x0001 /*2^-24*/, 0xb800 /*-0.5*/};
  const std::string data = raw_bytes(f32) + raw_bytes(bf16) + raw_bytes(f16);
  const std::string header =
      R"({"__metadata__":{"format":"pt","note":"x"},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
      R"("c":{"dtype":"F16","shape":[2,1,2],"data_offsets":[22,30]},)"
      R"("empty":{"dtype":"F32","shape":[0,5],"data_offsets":[30,30]}})";
  TempDir dir;
  write_file(dir / "m.safetensors", safetensors_bytes(header + " ", data));
  const SafetensorsFile f(dir / "m.safetensors");
  EXPECT_EQ(f.header().tensors.size(), 4u);
  EXPECT_EQ(f.header().metadata.at("note"), "x");
  EXPECT_EQ(f.header().data_start, 8 + header.size() + 1);
  EXPECT_EQ(f.read_f32("a"), f32);
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1.0f, -3.0f, 0x1p-133f}));
  EXPECT_EQ(f.read_f32("c"), (std::vector<float>{1.0f, 65504.0f, 0x1p-24f, -0.5f}));
  EXPECT_TRUE(f.read_f32("empty").empty());
  EXPECT_EQ(f.header().find("c")->shape, (std::vector<std::int64_t>{2, 1, 2}));
  EXPECT_EQ(f.header().find("c")->dtype, DType::F16);
  EXPECT_THROW(f.read_f32("missing"), srr::InputError);
}

TEST(Safetensors, AcceptsEmptyHeaderAndZeroSizedTensorsAtTheEnd) {
  EXPECT_TRUE(parse_safetensors(as_bytes(safetensors_bytes("{}", "")), "t").tensors.empty());
  const auto h = parse_safetensors(
      as_bytes(safetensors_bytes(R"({"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},)"
                                 R"("z":{"dtype":"F16","shape":[0],"data_offsets":[2,2]}})",
                                 std::string(2, '\0'))),
      "t");
  EXPECT_EQ(h.find("a")->count, 1u);  // a scalar has one element
  EXPECT_EQ(h.find("z")->count, 0u);
}

TEST(Safetensors, WriteReadRoundTripIsExactAndByteStable) {
  TempDir dir;
  std::vector<float> a(6), b(35), c(8);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)) * 1e3f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = bf16_to_f32(static_cast<std::uint16_t>(0x3c00 + 37 * i));
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = f16_to_f32(static_cast<std::uint16_t>(0x0100 + 997 * i));
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"origin", "test"}};
  write_safetensors(dir / "one.safetensors",
                    {{"w.a", DType::F32, {2, 3}, a}, {"w.b", DType::BF16, {5, 7}, b}, {"w.c", DType::F16, {8}, c}},
                    meta);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "one.safetensors.tmp"));

  const SafetensorsFile f(dir / "one.safetensors");
  EXPECT_EQ(f.header().data_start % 8, 0u);  // the header is padded so data can be mapped aligned
  EXPECT_EQ(f.header().metadata, meta);
  EXPECT_EQ(f.read_f32("w.a"), a);
  EXPECT_EQ(f.read_f32("w.b"), b);
  EXPECT_EQ(f.read_f32("w.c"), c);
  EXPECT_EQ(f.header().find("w.b")->dtype, DType::BF16);
  EXPECT_EQ(f.header().find("w.b")->shape, (std::vector<std::int64_t>{5, 7}));

  // Raw bytes of the BF16 tensor are the truncated float bits (the values are bf16-exact).
  const auto raw = f.tensor_bytes(*f.header().find("w.b"));
  ASSERT_EQ(raw.size(), 70u);
  for (std::size_t i = 0; i < b.size(); ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, raw.data() + 2 * i, 2);
    EXPECT_EQ(bits, static_cast<std::uint16_t>(0x3c00 + 37 * i));
  }

  // Whatever was read, written again, gives the same bytes.
  std::vector<std::vector<float>> values;
  std::vector<TensorData> again;
  for (const auto& [name, t] : f.header().tensors) values.push_back(f.read_f32(name));
  std::size_t i = 0;
  for (const auto& [name, t] : f.header().tensors) again.push_back({name, t.dtype, t.shape, values[i++]});
  write_safetensors(dir / "two.safetensors", again, f.header().metadata);
  EXPECT_EQ(read_file(dir / "one.safetensors"), read_file(dir / "two.safetensors"));

  // The header is what an independent JSON reader expects.
  const std::string bytes = read_file(dir / "one.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const auto j = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(j["w.a"]["data_offsets"], nlohmann::json::array({0, 24}));
  EXPECT_EQ(j["w.b"]["dtype"], "BF16");
  EXPECT_EQ(bytes.size(), 8 + n + 24 + 70 + 16);
}

TEST(Safetensors, StreamingWriterSplitsAppendsAcrossTensors) {
  TempDir dir;
  std::vector<float> all(3 + 4 + 5);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<float>(i) - 2.5f;
  {
    SafetensorsWriter w(dir / "s.safetensors",
                        {{"x", DType::F32, {3}}, {"nothing", DType::BF16, {0}}, {"y", DType::F32, {2, 2}},
                         {"z", DType::BF16, {5}}});
    w.append(std::span<const float>(all).first(2));
    w.append(std::span<const float>(all).subspan(2, 9));  // finishes x, skips the empty tensor, fills y, starts z
    w.append(std::span<const float>(all).subspan(11));
    w.commit();
  }
  const SafetensorsFile f(dir / "s.safetensors");
  EXPECT_EQ(f.read_f32("x"), (std::vector<float>(all.begin(), all.begin() + 3)));
  EXPECT_EQ(f.read_f32("y"), (std::vector<float>(all.begin() + 3, all.begin() + 7)));
  EXPECT_EQ(f.read_f32("z"), (std::vector<float>(all.begin() + 7, all.end())));
  EXPECT_TRUE(f.read_f32("nothing").empty());
}

TEST(Safetensors, AbandonedWriterLeavesNothingBehind) {
  TempDir dir;
  {
    SafetensorsWriter w(dir / "a.safetensors", {{"x", DType::F32, {3}}});
    std::vector<float> one = {1.0f};
    w.append(one);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Safetensors, WriterRejectsBadRequests) {
  TempDir dir;
  std::vector<float> v(4);
  EXPECT_THROW(write_safetensors(dir / "a.safetensors", {{"x", DType::F32, {2}, v}}), srr::InputError);
  EXPECT_THROW(write_safetensors(dir / "a.safetensors", {{"x", DType::F32, {4}, v}, {"x", DType::F32, {4}, v}}),
               srr::InputError);
  EXPECT_THROW(write_safetensors(dir / "a.safetensors", {{"x", DType::F32, {-4}, v}}), srr::InputError);
  EXPECT_THROW(write_safetensors(dir / "a.safetensors", {{"__metadata__", DType::F32, {4}, v}}), srr::InputError);
  EXPECT_THROW(write_safetensors(dir / "a.safetensors", {{"x", DType::F32, {1 << 30, 1 << 30, 1 << 30}, v}}),
               srr::InputError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}
