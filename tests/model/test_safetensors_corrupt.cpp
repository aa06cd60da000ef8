// SPDX-License-Identifier: MIT
// A generator of corrupted and truncated safetensors files. Every malformed file must be rejected with
// srr::InputError: never a crash, never another exception type. Mutations that happen to leave a valid
// file (e.g. a flipped letter in a name) may parse, but must then still be self-consistent.
#include <gtest/gtest.h>

#include <functional>
#include <limits>

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

/// Outcome of parsing: "ok", "input" (InputError) or a description of anything else.
std::string outcome(const std::string& bytes) {
  try {
    const auto h = parse_safetensors(as_bytes(bytes), "fuzzed");
    // A file that parses must describe tensors inside the data it came with.
    for (const auto& [name, t] : h.tensors)
      if (h.data_start + t.end > bytes.size() || t.end - t.begin != t.count * dtype_size(t.dtype))
        return "inconsistent accepted header";
    return "ok";
  } catch (const srr::InputError&) {
    return "input";
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  } catch (...) {
    return "unknown exception";
  }
}

/// A small valid file written by the project's writer: three tensors of three dtypes.
std::string valid_file() {
  TempDir dir;
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {0.5f, -1, 2}, c = {7, 8};
  write_safetensors(dir / "v.safetensors",
                    {{"model.a", DType::F32, {2, 3}, a}, {"model.b", DType::BF16, {3}, b}, {"c", DType::F16, {2}, c}},
                    {{"format", "pt"}});
  return read_file(dir / "v.safetensors");
}

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}

}  // namespace

TEST(SafetensorsCorrupt, ValidFileParses) { EXPECT_EQ(outcome(valid_file()), "ok"); }

TEST(SafetensorsCorrupt, EveryTruncationIsRejected) {
  const std::string v = valid_file();
  for (std::size_t len = 0; len < v.size(); ++len) EXPECT_EQ(outcome(v.substr(0, len)), "input") << "length " << len;
  // The same through the file path (mapping, empty file included).
  TempDir dir;
  for (std::size_t len : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{20}, v.size() - 1}) {
    write_file(dir / "t.safetensors", v.substr(0, len));
    EXPECT_THROW(SafetensorsFile(dir / "t.safetensors"), srr::InputError) << len;
  }
}

TEST(SafetensorsCorrupt, FlippedHeaderBytesNeverCrash) {
  const std::string v = valid_file();
  std::uint64_t n = 0;
  std::memcpy(&n, v.data(), 8);
  int rejected = 0;
  for (std::size_t pos = 0; pos < 8 + n; ++pos)
    for (unsigned char x : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}) {
      std::string m = v;
      m[pos] = static_cast<char>(static_cast<unsigned char>(m[pos]) ^ x);
      const std::string r = outcome(m);
      ASSERT_TRUE(r == "ok" || r == "input") << "byte " << pos << " ^ " << int(x) << ": " << r;
      rejected += r == "input";
    }
  EXPECT_GT(rejected, 0);
  // Extra data after the last tensor is allowed (holes are harmless); removing a byte never is.
  EXPECT_EQ(outcome(v + "xyz"), "ok");
}

TEST(SafetensorsCorrupt, HugeOrInconsistentHeaderLengthIsRejected) {
  const std::string v = valid_file();
  const std::string header = v.substr(8);
  for (std::uint64_t len : {std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 63,
                            k_max_safetensors_header + 1, std::uint64_t{header.size() + 1}})
    EXPECT_EQ(outcome(safetensors_bytes(header, "", len)), "input") << len;
  // A length bigger than the limit is refused even when the file is that big (no 100 MB JSON parse).
  EXPECT_EQ(outcome(safetensors_bytes(std::string(k_max_safetensors_header + 1, ' '), "",
                                      k_max_safetensors_header + 1)),
            "input");
}

TEST(SafetensorsCorrupt, MalformedHeadersAreRejected) {
  const std::string d24(24, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not JSON", "this is not json"},
      {"truncated JSON", R"({"a":{"dtype":"F32")"},
      {"trailing garbage", R"({}})"},
      {"top-level array", "[1,2]"},
      {"top-level number", "42"},
      {"empty header", ""},
      {"nul bytes", std::string(16, '\0')},
      {"invalid UTF-8 in a name", "{\"\xff\xfe\":" + entry("\"F32\"", "[1]", "[0,4]") + "}"},
      {"tensor not an object", R"({"a":[1,2,3]})"},
      {"missing dtype", R"({"a":{"shape":[6],"data_offsets":[0,24]}})"},
      {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,24]}})"},
      {"missing offsets", R"({"a":{"dtype":"F32","shape":[6]}})"},
      {"unsupported dtype I64", "{\"a\":" + entry("\"I64\"", "[3]", "[0,24]") + "}"},
      {"unsupported dtype F64", "{\"a\":" + entry("\"F64\"", "[3]", "[0,24]") + "}"},
      {"dtype lower case", "{\"a\":" + entry("\"f32\"", "[6]", "[0,24]") + "}"},
      {"dtype not a string", "{\"a\":" + entry("32", "[6]", "[0,24]") + "}"},
      {"shape not an array", "{\"a\":" + entry("\"F32\"", "6", "[0,24]") + "}"},
      {"negative dimension", "{\"a\":" + entry("\"F32\"", "[-6]", "[0,24]") + "}"},
      {"negative dimension pair", "{\"a\":" + entry("\"F32\"", "[-2,-3]", "[0,24]") + "}"},
      {"fractional dimension", "{\"a\":" + entry("\"F32\"", "[6.0]", "[0,24]") + "}"},
      {"string dimension", "{\"a\":" + entry("\"F32\"", "[\"6\"]", "[0,24]") + "}"},
      {"dimension beyond int64", "{\"a\":" + entry("\"F32\"", "[18446744073709551615]", "[0,24]") + "}"},
      {"shape product overflow",
       "{\"a\":" + entry("\"F32\"", "[4294967296,4294967296,4294967296]", "[0,24]") + "}"},
      {"byte size overflow", "{\"a\":" + entry("\"F32\"", "[4611686018427387904]", "[0,24]") + "}"},
      {"shape/bytes mismatch", "{\"a\":" + entry("\"F32\"", "[5]", "[0,24]") + "}"},
      {"dtype/bytes mismatch", "{\"a\":" + entry("\"BF16\"", "[6]", "[0,24]") + "}"},
      {"begin after end", "{\"a\":" + entry("\"F32\"", "[0]", "[8,4]") + "}"},
      {"offsets past EOF", "{\"a\":" + entry("\"F32\"", "[6]", "[4,28]") + "}"},
      {"offsets far past EOF",
       "{\"a\":" + entry("\"F32\"", "[1]", "[18446744073709551608,18446744073709551612]") + "}"},
      {"negative offset", "{\"a\":" + entry("\"F32\"", "[1]", "[-4,0]") + "}"},
      {"three offsets", "{\"a\":" + entry("\"F32\"", "[1]", "[0,4,8]") + "}"},
      {"one offset", "{\"a\":" + entry("\"F32\"", "[1]", "[0]") + "}"},
      {"offsets not integers", "{\"a\":" + entry("\"F32\"", "[1]", "[0.0,4.0]") + "}"},
      {"overlapping tensors",
       "{\"a\":" + entry("\"F32\"", "[4]", "[0,16]") + ",\"b\":" + entry("\"F32\"", "[4]", "[8,24]") + "}"},
      {"identical ranges",
       "{\"a\":" + entry("\"F32\"", "[2]", "[0,8]") + ",\"b\":" + entry("\"F32\"", "[2]", "[0,8]") + "}"},
      {"nested range",
       "{\"a\":" + entry("\"F32\"", "[6]", "[0,24]") + ",\"b\":" + entry("\"F32\"", "[1]", "[4,8]") + "}"},
      {"duplicated names",
       "{\"a\":" + entry("\"F32\"", "[2]", "[0,8]") + ",\"a\":" + entry("\"F32\"", "[2]", "[8,16]") + "}"},
      {"duplicated field", R"({"a":{"dtype":"F32","dtype":"BF16","shape":[2],"data_offsets":[0,8]}})"},
      {"metadata not an object", R"({"__metadata__":"x"})"},
      {"metadata value not a string", R"({"__metadata__":{"k":1}})"},
      {"deep nesting", std::string(100000, '[') + std::string(100000, ']')},
      {"deep nesting in metadata", R"({"__metadata__":{"k":)" + std::string(5000, '[') + "1" +
                                       std::string(5000, ']') + "}}"},
  };
  for (const auto& [what, header] : cases) EXPECT_EQ(outcome(safetensors_bytes(header, d24)), "input") << what;
}

TEST(SafetensorsCorrupt, ErrorsNameTheFileAndTheTensor) {
  try {
    parse_safetensors(as_bytes(safetensors_bytes("{\"w.q\":" + entry("\"I8\"", "[1]", "[0,1]") + "}", "x")),
                      "model.safetensors");
    FAIL() << "no exception";
  } catch (const srr::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("model.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("w.q"), std::string::npos) << m;
    EXPECT_NE(m.find("I8"), std::string::npos) << m;
  }
}

TEST(SafetensorsCorrupt, RandomMutationsNeverCrash) {
  // Cheap deterministic mutation fuzzing on top of the byte flips: splice, duplicate and delete ranges.
  const std::string v = valid_file();
  std::uint64_t state = 42;
  auto next = [&](std::uint64_t mod) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % mod;
  };
  for (int iter = 0; iter < 5000; ++iter) {
    std::string m = v;
    const int edits = 1 + static_cast<int>(next(4));
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const std::size_t pos = next(m.size()), len = next(16);
      switch (next(4)) {
        case 0: m.erase(pos, len); break;
        case 1: m.insert(pos, m.substr(next(m.size()), len)); break;
        case 2: m[pos] = static_cast<char>(next(256)); break;
        case 3: m[pos] = "{}[],:\"0123456789-e."[next(20)]; break;
      }
    }
    const std::string r = outcome(m);
    ASSERT_TRUE(r == "ok" || r == "input") << "iteration " << iter << ": " << r;
  }
}
