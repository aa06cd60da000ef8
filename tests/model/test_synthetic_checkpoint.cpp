// SPDX-License-Identifier: MIT
// Shaped synthetic checkpoints (srr synthetic): the named shapes are the public models', sharding changes the
// layout but not one value, the index lists every tensor once, and the tokenizer loads and round-trips.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "base/error.hpp"
#include "model/checkpoint.hpp"
#include "model/safetensors.hpp"
#include "model/synthetic_checkpoint.hpp"
#include "model/tokenizer.hpp"
#include "support.hpp"

using namespace srr::model;
using namespace srr::model::test;
using nlohmann::json;

namespace {

SyntheticCheckpointSettings small(const std::string& shape, int layers, int vocab) {
  SyntheticCheckpointSettings s;
  s.config = named_shape(shape);
  s.config.layers = layers;
  s.config.vocab = vocab;
  return s;
}

}  // namespace

TEST(SyntheticCheckpoint, NamedShapesAreThePublicModels) {
  const LlamaConfig l7 = named_shape("llama2-7b");
  EXPECT_EQ(l7.hidden, 4096);
  EXPECT_EQ(l7.layers, 32);
  EXPECT_EQ(l7.kv_heads, 32);
  EXPECT_EQ(l7.intermediate, 11008);
  EXPECT_EQ(linear_layer_names(l7).size(), 224u);
  const LlamaConfig l70 = named_shape("llama2-70b");
  EXPECT_EQ(l70.hidden, 8192);
  EXPECT_EQ(l70.heads, 64);
  EXPECT_EQ(l70.kv_heads, 8);
  EXPECT_EQ(l70.intermediate, 28672);
  EXPECT_EQ(l70.head_dim, 128);
  EXPECT_EQ(named_shape("llama3-8b").vocab, 128256);
  EXPECT_THROW(named_shape("llama2-8b"), srr::InputError);

  // LLaMA-2-7B has 6,738,415,616 parameters; in bf16 that is the 13.5 GB a rehearsal writes.
  SyntheticCheckpointSettings s;
  s.config = l7;
  EXPECT_EQ(synthetic_tensor_bytes(s), 2ull * 6'738'415'616ull);
}

TEST(SyntheticCheckpoint, ShardingChangesTheLayoutNotTheValues) {
  srr::test::TempDir one, many;
  auto s = small("llama2-7b", 2, 400);
  s.config.hidden = 64;  // keep the test small: 2 layers of a 7B-like block at 1/64 of the width
  s.config.heads = 4;
  s.config.kv_heads = 4;
  s.config.head_dim = 16;
  s.config.intermediate = 172;
  s.tokenizer = true;
  const auto single = write_synthetic_checkpoint(one.path(), s);
  s.max_shard_bytes = 60'000;  // a few tensors a shard
  const auto sharded = write_synthetic_checkpoint(many.path(), s);
  EXPECT_EQ(single.tensor_bytes, sharded.tensor_bytes);
  EXPECT_EQ(single.tensor_bytes, synthetic_tensor_bytes(s));

  const auto index = json::parse(read_file(many / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), sharded.tensor_bytes);
  std::set<std::string> shard_files;
  for (const auto& [name, file] : index["weight_map"].items()) shard_files.insert(file.get<std::string>());
  EXPECT_GE(shard_files.size(), 3u);
  std::uint64_t bytes = 0;
  for (const auto& f : shard_files) {
    const SafetensorsFile shard(many / f);
    std::uint64_t in_shard = 0;
    for (const auto& [name, t] : shard.header().tensors) in_shard += t.end - t.begin;
    // Only a shard holding one tensor may exceed the limit.
    if (shard.header().tensors.size() > 1) {
      EXPECT_LE(in_shard, s.max_shard_bytes) << f;
    }
    bytes += in_shard;
  }
  EXPECT_EQ(bytes, sharded.tensor_bytes);

  const auto a = Checkpoint::open(one.path()), b = Checkpoint::open(many.path());
  EXPECT_EQ(a.config(), b.config());
  EXPECT_EQ(a.config(), s.config);
  ASSERT_EQ(a.tensor_names(), b.tensor_names());
  for (const auto& name : a.tensor_names()) {
    EXPECT_EQ(a.dtype(name), DType::BF16);
    EXPECT_EQ(a.read_f32(name), b.read_f32(name)) << name;
  }
}

TEST(SyntheticCheckpoint, TokenizerLoadsAndRoundTrips) {
  srr::test::TempDir dir;
  auto s = small("tinyllama-1.1b", 1, 512);
  s.config.hidden = 32;
  s.config.heads = 4;
  s.config.kv_heads = 2;
  s.config.head_dim = 8;
  s.config.intermediate = 64;
  s.tokenizer = true;
  write_synthetic_checkpoint(dir.path(), s);
  const auto tok = load_tokenizer(dir / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  const std::string text = "Once upon a time, Lily's cat said \"hi!\" \xc3\xa9t\xc3\xa9";
  const auto ids = tok->encode(text);
  // One token per ASCII character (a space is ▁), two byte tokens per é.
  EXPECT_EQ(ids.size(), text.size() + 1);  // + the prepended ▁
  std::string back;
  int previous = tok->bos();
  for (int id : ids) {
    EXPECT_GE(id, 3);
    EXPECT_LT(id, 354);  // never an <extra_i> filler
    back += tok->piece(id, previous);
    previous = id;
  }
  EXPECT_EQ(back, text);
  EXPECT_THROW(synthetic_tokenizer_json(353), srr::InputError);
}
