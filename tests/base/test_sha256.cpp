// SPDX-License-Identifier: MIT
// SHA-256 against the FIPS 180-2 / NIST example vectors and the published hash of a shared data file.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "base/sha256.hpp"
#include "../model/support.hpp"  // data_file, read_file

using srr::Sha256;

namespace {

std::string hash(const std::string& s) {
  Sha256 h;
  h.update(s);
  return h.hex_digest();
}

}  // namespace

TEST(Sha256, NistVectors) {
  EXPECT_EQ(hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hash("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(hash(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 7 + 3);
  const std::string whole = hash(text);
  for (std::size_t chunk : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 127u, 999u}) {
    Sha256 h;
    for (std::size_t i = 0; i < text.size(); i += chunk) h.update(std::string_view(text).substr(i, chunk));
    EXPECT_EQ(h.hex_digest(), whole) << "chunk " << chunk;
  }
  // Lengths around the padding boundary (55, 56, 64 bytes) agree between one-shot and byte-wise updates.
  for (std::size_t n = 50; n < 130; ++n) {
    Sha256 h;
    for (std::size_t i = 0; i < n; ++i) h.update(std::string_view(text).substr(i, 1));
    EXPECT_EQ(h.hex_digest(), hash(text.substr(0, n))) << n;
  }
}

TEST(Sha256, MatchesThePublishedHashOfStories260K) {
  const auto bytes = srr::model::test::read_file(srr::model::test::data_file("stories260K/stories260K.bin"));
  EXPECT_EQ(hash(bytes), "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
}

// The SHA-extension path (used where the CPU has it) and the portable one agree on every length around the
// block and padding boundaries and on long inputs, fed whole and in odd chunks.
TEST(Sha256, HardwareAndPortableAgree) {
  if (!Sha256::hardware()) GTEST_SKIP() << "this CPU has no SHA extensions; only the portable path exists";
  std::string text;
  for (int i = 0; i < 300000; ++i) text += static_cast<char>((i * 2654435761u) >> 13);
  const auto both = [&](std::string_view s, std::size_t chunk) {
    std::array<std::string, 2> out;
    for (int portable = 0; portable < 2; ++portable) {
      Sha256::force_portable(portable == 1);
      Sha256 h;
      for (std::size_t i = 0; i < s.size(); i += chunk) h.update(s.substr(i, chunk));
      out[static_cast<std::size_t>(portable)] = h.hex_digest();
    }
    Sha256::force_portable(false);
    return out;
  };
  for (std::size_t n = 0; n < 300; ++n) {
    const auto [hw, sw] = both(std::string_view(text).substr(0, n), 1000);
    ASSERT_EQ(hw, sw) << n;
  }
  for (std::size_t chunk : {1u, 63u, 64u, 65u, 4096u, 300000u}) {
    const auto [hw, sw] = both(text, chunk);
    EXPECT_EQ(hw, sw) << "chunk " << chunk;
  }
  EXPECT_TRUE(Sha256::hardware());
}
