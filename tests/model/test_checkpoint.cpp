// SPDX-License-Identifier: MIT
// Checkpoint readers on the two real checkpoints (values checked against the raw bytes, located by an
// independent computation), on synthetic and sharded checkpoints, and on malformed configs, llama2.c files
// and shard indexes (all InputError).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "model/checkpoint.hpp"
#include "model/synthetic_checkpoint.hpp"
#include "model/config.hpp"
#include "model/safetensors.hpp"
#include "support.hpp"

using namespace srr::model;
using namespace srr::model::test;
using nlohmann::json;

namespace {

float float_at(const std::string& bytes, std::size_t offset) {
  float v;
  std::memcpy(&v, bytes.data() + offset, 4);
  return v;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const srr::InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

LlamaConfig tiny_config(bool tied) {
  LlamaConfig c;
  c.hidden = 16;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 4;
  c.intermediate = 24;
  c.vocab = 40;
  c.max_pos = 32;
  c.rms_eps = 1e-6;
  c.tied_embeddings = tied;
  return c;
}

/// A llama2.c file with the given header, the float count its dims imply, plus `extra` bytes.
std::string llama2c_file(std::vector<std::int32_t> h, long extra = 0) {
  const long dim = h[0], hid = h[1], L = h[2], heads = h[3], kv = h[4], vocab = std::labs(h[5]), seq = h[6];
  const long kv_dim = dim * kv / heads;
  long floats = vocab * dim + L * dim * 2 + L * dim * dim * 2 + L * kv_dim * dim * 2 + L * dim * hid * 3 + dim +
                seq * (dim / heads);
  if (h[5] < 0) floats += vocab * dim;
  std::string s(28 + 4 * static_cast<std::size_t>(floats), '\0');
  std::memcpy(s.data(), h.data(), 28);
  for (long i = 0; i < floats; ++i) {
    const float v = static_cast<float>(std::sin(0.1 * static_cast<double>(i)));
    std::memcpy(s.data() + 28 + 4 * i, &v, 4);
  }
  if (extra > 0) s += std::string(static_cast<std::size_t>(extra), 'x');
  if (extra < 0) s.resize(s.size() - static_cast<std::size_t>(-extra));
  return s;
}

}  // namespace

// ---- stories260K (llama2.c) ----

TEST(Checkpoint, Stories260KConfigAndNames) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  const LlamaConfig& c = ck.config();
  EXPECT_EQ(c.hidden, 64);
  EXPECT_EQ(c.intermediate, 172);
  EXPECT_EQ(c.layers, 5);
  EXPECT_EQ(c.heads, 8);
  EXPECT_EQ(c.kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab, 512);
  EXPECT_EQ(c.max_pos, 512);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_DOUBLE_EQ(c.rms_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e4);

  const auto names = ck.linear_layer_names();
  ASSERT_EQ(names.size(), 35u);
  EXPECT_EQ(names[0], "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(names[3], "model.layers.0.self_attn.o_proj");
  EXPECT_EQ(names[4], "model.layers.0.mlp.gate_proj");
  EXPECT_EQ(names[5], "model.layers.0.mlp.up_proj");
  EXPECT_EQ(names[6], "model.layers.0.mlp.down_proj");
  EXPECT_EQ(names[34], "model.layers.4.mlp.down_proj");
  // 1 embedding + 5 × (2 norms + 7 linears) + final norm, plus lm_head as an alias of the embedding.
  EXPECT_EQ(ck.tensor_names().size(), 1u + 45u + 1u + 1u);
  EXPECT_TRUE(ck.has("lm_head.weight"));
  EXPECT_EQ(ck.read_f32("lm_head.weight"), ck.read_f32("model.embed_tokens.weight"));
  EXPECT_EQ(ck.shape("model.layers.2.self_attn.k_proj.weight"), (std::vector<std::int64_t>{32, 64}));
  EXPECT_EQ(ck.shape("model.layers.2.mlp.down_proj.weight"), (std::vector<std::int64_t>{64, 172}));
}

TEST(Checkpoint, Stories260KValuesMatchRawBytes) {
  const auto path = data_file("stories260K/stories260K.bin");
  const auto ck = Checkpoint::open(path);
  const std::string raw = read_file(path);
  ASSERT_EQ(raw.size(), 1056540u);
  // Float offsets of each array, from the README's layout.
  const std::size_t tok = 0, rms_att = tok + 512 * 64, wq = rms_att + 5 * 64, wk = wq + 5 * 64 * 64,
                    wv = wk + 5 * 32 * 64, wo = wv + 5 * 32 * 64, rms_ffn = wo + 5 * 64 * 64,
                    w1 = rms_ffn + 5 * 64, w2 = w1 + 5 * 172 * 64, w3 = w2 + 5 * 64 * 172,
                    rms_final = w3 + 5 * 172 * 64;
  auto at = [&](std::size_t f) { return float_at(raw, 28 + 4 * f); };

  const auto gate = ck.linear_weight("model.layers.3.mlp.gate_proj");
  ASSERT_EQ(gate.rows(), 64);  // in
  ASSERT_EQ(gate.cols(), 172);  // out
  for (int o : {0, 1, 100, 171})
    for (int i : {0, 5, 63}) EXPECT_EQ(gate(i, o), at(w1 + 3 * 172 * 64 + o * 64 + i)) << o << "," << i;

  const auto down = ck.linear_weight("model.layers.1.mlp.down_proj.weight");  // with the suffix
  ASSERT_EQ(down.rows(), 172);
  ASSERT_EQ(down.cols(), 64);
  EXPECT_EQ(down(171, 63), at(w2 + 1 * 64 * 172 + 63 * 172 + 171));
  EXPECT_EQ(down(7, 2), at(w2 + 1 * 64 * 172 + 2 * 172 + 7));

  const auto up = ck.linear_weight("model.layers.4.mlp.up_proj");
  EXPECT_EQ(up(10, 20), at(w3 + 4 * 172 * 64 + 20 * 64 + 10));
  const auto q = ck.linear_weight("model.layers.0.self_attn.q_proj");
  EXPECT_EQ(q(1, 2), at(wq + 2 * 64 + 1));
  const auto k = ck.linear_weight("model.layers.2.self_attn.k_proj");
  ASSERT_EQ(k.rows(), 64);
  ASSERT_EQ(k.cols(), 32);
  EXPECT_EQ(k(63, 31), at(wk + 2 * 32 * 64 + 31 * 64 + 63));
  EXPECT_EQ(ck.linear_weight("model.layers.4.self_attn.v_proj")(3, 4), at(wv + 4 * 32 * 64 + 4 * 64 + 3));
  EXPECT_EQ(ck.linear_weight("model.layers.1.self_attn.o_proj")(60, 5), at(wo + 1 * 64 * 64 + 5 * 64 + 60));

  EXPECT_EQ(ck.read_f32("model.layers.2.input_layernorm.weight")[9], at(rms_att + 2 * 64 + 9));
  EXPECT_EQ(ck.read_f32("model.layers.4.post_attention_layernorm.weight")[63], at(rms_ffn + 4 * 64 + 63));
  EXPECT_EQ(ck.read_f32("model.norm.weight")[0], at(rms_final));
  EXPECT_EQ(ck.read_f32("model.embed_tokens.weight")[511 * 64 + 3], at(tok + 511 * 64 + 3));
}

TEST(Checkpoint, UnknownLinearNamesListTheValidOnes) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  for (const std::string bad : {"lm_head", "lm_head.weight", "model.embed_tokens", "model.layers.5.mlp.up_proj",
                                "model.layers.0.self_attn.q", "model.layers.00.mlp.up_proj", "q_proj", ""}) {
    const std::string m = error_of([&] { ck.linear_weight(bad); });
    EXPECT_NE(m.find("model.layers.0.self_attn.q_proj"), std::string::npos) << bad << ": " << m;
  }
  EXPECT_THROW(ck.read_f32("nope"), srr::InputError);
  EXPECT_THROW(ck.shape("nope"), srr::InputError);
}

TEST(Checkpoint, IdentityIsStableAndDescribesTheFile) {
  const auto path = data_file("stories260K/stories260K.bin");
  const auto a = Checkpoint::open(path), b = Checkpoint::open(path);
  EXPECT_EQ(a.identity(), b.identity());
  const json j = json::parse(a.identity());
  EXPECT_EQ(j["files"][0]["bytes"], 1056540);
  EXPECT_EQ(j["files"][0]["name"], "stories260K.bin");
  // The file is under 2 MiB, so the hash covers all of it: the README's sha256.
  EXPECT_EQ(j["header_sha256"], "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
  EXPECT_TRUE(std::filesystem::path(j["path"].get<std::string>()).is_absolute());
}

// ---- TinyStories-656K (safetensors) ----

TEST(Checkpoint, TinyStories656KConfigAndTiedEmbeddings) {
  const auto dir = data_file("tinystories-656k");
  for (const auto& p : {dir, dir / "model.safetensors"}) {
    const auto ck = Checkpoint::open(p);
    const LlamaConfig& c = ck.config();
    EXPECT_EQ(c.hidden, 128);
    EXPECT_EQ(c.layers, 2);
    EXPECT_EQ(c.heads, 8);
    EXPECT_EQ(c.kv_heads, 4);
    EXPECT_EQ(c.head_dim, 16);
    EXPECT_EQ(c.intermediate, 384);
    EXPECT_EQ(c.vocab, 2048);
    EXPECT_EQ(c.max_pos, 512);
    EXPECT_DOUBLE_EQ(c.rms_eps, 1e-6);
    EXPECT_DOUBLE_EQ(c.rope_theta, 1e4);
    EXPECT_TRUE(c.tied_embeddings);
    EXPECT_FALSE(c.rope_interleaved);
    EXPECT_TRUE(ck.has("model.embed_tokens.weight"));
    EXPECT_EQ(ck.shape("model.embed_tokens.weight"), (std::vector<std::int64_t>{2048, 128}));
    EXPECT_EQ(ck.read_f32("model.embed_tokens.weight"), ck.read_f32("lm_head.weight"));
    EXPECT_EQ(ck.linear_layer_names().size(), 14u);
    EXPECT_EQ(ck.dtype("model.layers.0.mlp.up_proj.weight"), DType::F32);
  }
}

TEST(Checkpoint, TinyStories656KValuesMatchRawBytes) {
  const auto path = data_file("tinystories-656k/model.safetensors");
  const auto ck = Checkpoint::open(path);
  const std::string raw = read_file(path);
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  const json h = json::parse(raw.substr(8, n));
  auto begin = [&](const std::string& name) { return 8 + n + h[name]["data_offsets"][0].get<std::size_t>(); };

  const auto gate = ck.linear_weight("model.layers.1.mlp.gate_proj");
  ASSERT_EQ(gate.rows(), 128);
  ASSERT_EQ(gate.cols(), 384);
  for (int o : {0, 200, 383})
    for (int i : {0, 77, 127})
      EXPECT_EQ(gate(i, o), float_at(raw, begin("model.layers.1.mlp.gate_proj.weight") + 4 * (o * 128 + i)));
  const auto k = ck.linear_weight("model.layers.0.self_attn.k_proj");
  ASSERT_EQ(k.rows(), 128);
  ASSERT_EQ(k.cols(), 64);
  EXPECT_EQ(k(100, 50), float_at(raw, begin("model.layers.0.self_attn.k_proj.weight") + 4 * (50 * 128 + 100)));
  const auto down = ck.linear_weight("model.layers.0.mlp.down_proj");
  ASSERT_EQ(down.rows(), 384);
  EXPECT_EQ(down(383, 127), float_at(raw, begin("model.layers.0.mlp.down_proj.weight") + 4 * (127 * 384 + 383)));
  EXPECT_EQ(ck.read_f32("model.embed_tokens.weight")[2047 * 128 + 1],
            float_at(raw, begin("lm_head.weight") + 4 * (2047 * 128 + 1)));
  // Every value of this copy is bf16-exact (README).
  for (float v : ck.read_f32("model.layers.1.self_attn.o_proj.weight")) ASSERT_EQ(bf16_to_f32(f32_to_bf16(v)), v);

  const json id = json::parse(ck.identity());
  EXPECT_EQ(id["files"][0]["bytes"], 2626168);
  EXPECT_EQ(id["header_sha256"].get<std::string>().size(), 64u);
}

// ---- HF config.json ----

TEST(Config, ParsesDefaultsAndRejectsOtherArchitectures) {
  json j = {{"model_type", "llama"},       {"hidden_size", 64},   {"num_hidden_layers", 3},
            {"num_attention_heads", 4},    {"intermediate_size", 100}, {"vocab_size", 300}};
  LlamaConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e4);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.rope_interleaved);

  json arch_only = j;
  arch_only.erase("model_type");
  arch_only["architectures"] = {"LlamaForCausalLM"};
  EXPECT_EQ(parse_hf_config(arch_only, "c").hidden, 64);

  json mistral = j;
  mistral["model_type"] = "mistral";
  mistral["architectures"] = {"MistralForCausalLM"};
  const std::string m = error_of([&] { parse_hf_config(mistral, "config.json"); });
  EXPECT_NE(m.find("MistralForCausalLM"), std::string::npos) << m;
  EXPECT_NE(m.find("mistral"), std::string::npos) << m;

  auto bad = [&](const std::string& key, const json& value) {
    json k = j;
    if (value.is_null()) k.erase(key);
    else k[key] = value;
    return error_of([&] { parse_hf_config(k, "config.json"); });
  };
  EXPECT_NE(bad("hidden_size", nullptr).find("hidden_size"), std::string::npos);
  EXPECT_NE(bad("hidden_size", "64").find("hidden_size"), std::string::npos);
  EXPECT_NE(bad("hidden_size", -64).find("hidden_size"), std::string::npos);
  EXPECT_NE(bad("hidden_size", 64.5).find("hidden_size"), std::string::npos);
  EXPECT_NE(bad("num_hidden_layers", 0).find("num_hidden_layers"), std::string::npos);
  EXPECT_NE(bad("vocab_size", 1e12).find("vocab_size"), std::string::npos);
  EXPECT_NE(bad("num_key_value_heads", 3).find("key/value heads"), std::string::npos);
  EXPECT_NE(bad("hidden_size", 66).find("num_attention_heads"), std::string::npos);
  EXPECT_NE(bad("tie_word_embeddings", "yes").find("tie_word_embeddings"), std::string::npos);
  EXPECT_NE(bad("rope_scaling", json{{"type", "linear"}}).find("rope_scaling"), std::string::npos);
  EXPECT_NE(bad("attention_bias", true).find("bias"), std::string::npos);
  EXPECT_THROW(parse_hf_config(json::array(), "c"), srr::InputError);

  // Written configs read back identically.
  c.tied_embeddings = true;
  c.head_dim = 8;  // explicit head_dim (hidden ≠ heads × head_dim is allowed in HF)
  EXPECT_EQ(parse_hf_config(hf_config_json(c), "c"), c);
}

// ---- llama2.c validation ----

TEST(Llama2c, TinyFilesOpenAndSeparateClassifierIsRead) {
  TempDir dir;
  write_file(dir / "shared.bin", llama2c_file({16, 24, 2, 4, 2, 40, 32}));
  const auto a = Checkpoint::open(dir / "shared.bin");
  EXPECT_TRUE(a.config().tied_embeddings);
  EXPECT_EQ(a.config().kv_heads, 2);

  const std::string sep = llama2c_file({16, 24, 2, 4, 2, -40, 32});
  write_file(dir / "separate.bin", sep);
  const auto b = Checkpoint::open(dir / "separate.bin");
  EXPECT_FALSE(b.config().tied_embeddings);
  EXPECT_EQ(b.config().vocab, 40);
  const auto wcls = b.read_f32("lm_head.weight");
  ASSERT_EQ(wcls.size(), 40u * 16u);
  // wcls is the last array of the file.
  EXPECT_EQ(wcls.back(), float_at(sep, sep.size() - 4));
  EXPECT_EQ(wcls.front(), float_at(sep, sep.size() - 4 * 40 * 16));
  EXPECT_NE(b.read_f32("lm_head.weight"), b.read_f32("model.embed_tokens.weight"));
}

TEST(Llama2c, MalformedFilesAreRejected) {
  TempDir dir;
  const std::string good = llama2c_file({16, 24, 2, 4, 2, 40, 32});
  // Every truncation, and any extra byte, breaks the exact size check.
  for (std::size_t len = 0; len < good.size(); len += (len < 64 ? 1 : 97)) {
    write_file(dir / "t.bin", good.substr(0, len));
    EXPECT_THROW(Checkpoint::open(dir / "t.bin"), srr::InputError) << len;
  }
  write_file(dir / "t.bin", good + "x");
  const std::string m = error_of([&] { Checkpoint::open(dir / "t.bin"); });
  EXPECT_NE(m.find(std::to_string(good.size())), std::string::npos) << m;      // expected
  EXPECT_NE(m.find(std::to_string(good.size() + 1)), std::string::npos) << m;  // actual

  const std::vector<std::vector<std::int32_t>> bad_headers = {
      {0, 24, 2, 4, 2, 40, 32},  {16, -24, 2, 4, 2, 40, 32}, {16, 24, 0, 4, 2, 40, 32},
      {16, 24, 2, 0, 2, 40, 32}, {16, 24, 2, 4, 0, 40, 32},  {16, 24, 2, 4, 2, 0, 32},
      {16, 24, 2, 4, 2, 40, -1}, {18, 24, 2, 4, 2, 40, 32},  {16, 24, 2, 4, 3, 40, 32},
      {12, 24, 2, 4, 2, 40, 32} /* head size 3 is odd */, {2, 24, 2, 1, 1, 40, 32},
      {2147483647, 2147483647, 2147483647, 1, 1, 2147483647, 2147483647},
      {65536, 65536, 65536, 1, 1, -2147483647, 65536},
      {16, 24, 2, 4, 2, static_cast<std::int32_t>(0x80000000u), 32},
      {2, 1, 1 << 30, 1, 1, 1, 2} /* fuzzer find: a billion layers must fail the size check, not allocate */};
  for (const auto& h : bad_headers) {
    std::string f = good;
    std::memcpy(f.data(), h.data(), 28);
    write_file(dir / "h.bin", f);
    EXPECT_THROW(Checkpoint::open(dir / "h.bin"), srr::InputError) << h[0] << " " << h[4];
  }
  EXPECT_THROW(Checkpoint::open(dir / "absent.bin"), srr::InputError);
  EXPECT_THROW(Checkpoint::open(dir.path() / "weights.pt"), srr::InputError);
  EXPECT_THROW(Checkpoint::open(dir.path()), srr::InputError);  // a directory without a model
}

// ---- synthetic and sharded safetensors checkpoints ----

TEST(Checkpoint, SyntheticCheckpointRoundTrip) {
  for (bool tied : {false, true})
    for (DType dt : {DType::F32, DType::BF16}) {
      TempDir dir;
      const LlamaConfig c = tiny_config(tied);
      write_synthetic_llama(dir.path(), c, 7, dt);
      const auto ck = Checkpoint::open(dir.path());
      EXPECT_EQ(ck.config(), c);
      EXPECT_EQ(ck.dtype("model.layers.1.mlp.down_proj.weight"), dt);
      EXPECT_EQ(SafetensorsFile(dir / "model.safetensors").header().find("lm_head.weight") != nullptr, !tied);
      const auto w = ck.linear_weight("model.layers.1.mlp.down_proj");
      EXPECT_EQ(w.rows(), 24);
      EXPECT_EQ(w.cols(), 16);
      double ss = 0;
      for (float v : w.values()) ss += double(v) * v;
      EXPECT_NEAR(ss / static_cast<double>(w.size()), 1.0 / 24, 0.5 / 24);  // N(0, 1/in)
      const auto norm = ck.read_f32("model.layers.0.input_layernorm.weight");
      for (float v : norm) EXPECT_NEAR(v, 1.0, 0.05);
      // Same seed, same weights; another seed, other weights.
      TempDir again, other;
      write_synthetic_llama(again.path(), c, 7, dt);
      write_synthetic_llama(other.path(), c, 8, dt);
      EXPECT_EQ(read_file(dir / "model.safetensors"), read_file(again / "model.safetensors"));
      EXPECT_NE(Checkpoint::open(other.path()).read_f32("model.norm.weight"), ck.read_f32("model.norm.weight"));
    }
}

/// This process's resident file-backed pages (RssFile of /proc/self/status), in bytes.
std::int64_t resident_file_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string key; status >> key;) {
    std::int64_t kib = 0;
    if (key == "RssFile:" && status >> kib) return kib * 1024;
    status.ignore(1 << 20, '\n');
  }
  throw std::runtime_error("/proc/self/status has no RssFile");
}

// Reading the model layer by layer keeps one tensor's mapped pages resident, not every page read so far: a
// quantize worker that kept them held 6.5 GB after 112 layers of the 7B shape. 4 layers of float32 weights
// (64 MiB of linear weights, 4 MiB per MLP tensor) must leave less than one such tensor behind; without the
// release they leave all 64 MiB.
TEST(Checkpoint, LinearWeightsDoNotStayMapped) {
  TempDir dir;
  LlamaConfig c = tiny_config(false);
  c.hidden = 512;
  c.heads = 8;
  c.kv_heads = 8;
  c.head_dim = 64;
  c.intermediate = 2048;
  c.layers = 4;
  write_synthetic_llama(dir.path(), c, 5, DType::F32);
  const auto ck = Checkpoint::open(dir.path());
  const std::int64_t before = resident_file_bytes();
  double sum = 0;  // uses the weights, so that nothing is optimised away
  for (const auto& name : ck.linear_layer_names()) sum += ck.linear_weight(name).values()[0];
  const std::int64_t grown = resident_file_bytes() - before;
  EXPECT_TRUE(std::isfinite(sum));
  EXPECT_LT(grown, std::int64_t{4} << 20) << "resident file pages grew by " << grown << " bytes over "
                                          << ck.linear_layer_names().size() << " linear layers";
}

TEST(Checkpoint, ShardedCheckpointMatchesSingleFile) {
  TempDir single, sharded;
  const LlamaConfig c = tiny_config(false);
  write_synthetic_llama(single.path(), c, 3, DType::BF16);
  const auto one = Checkpoint::open(single.path());

  // Split into two shards: layer 0 and embeddings in the first, the rest in the second.
  const SafetensorsFile src(single / "model.safetensors");
  std::vector<std::vector<float>> values;
  std::vector<TensorData> first, second;
  json weight_map = json::object();
  values.reserve(src.header().tensors.size());
  for (const auto& [name, t] : src.header().tensors) {
    values.push_back(src.read_f32(name));
    const bool in_first = name.find("layers.0.") != std::string::npos || name.find("embed") != std::string::npos;
    (in_first ? first : second).push_back({name, t.dtype, t.shape, values.back()});
    weight_map[name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_safetensors(sharded / "model-00001-of-00002.safetensors", first);
  write_safetensors(sharded / "model-00002-of-00002.safetensors", second);
  std::filesystem::copy_file(single / "config.json", sharded / "config.json");
  const json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_file(sharded / "model.safetensors.index.json", index.dump());

  const auto two = Checkpoint::open(sharded.path());
  EXPECT_EQ(two.tensor_names(), one.tensor_names());
  for (const auto& name : one.tensor_names()) EXPECT_EQ(two.read_f32(name), one.read_f32(name)) << name;
  EXPECT_EQ(json::parse(two.identity())["files"].size(), 3u);
  EXPECT_NE(json::parse(two.identity())["header_sha256"], json::parse(one.identity())["header_sha256"]);

  // Broken indexes.
  auto with_index = [&](const json& idx) {
    write_file(sharded / "model.safetensors.index.json", idx.dump());
    return error_of([&] { Checkpoint::open(sharded.path()); });
  };
  json missing = index;
  missing["weight_map"]["model.norm.weight"] = "model-00003-of-00003.safetensors";
  EXPECT_NE(with_index(missing).find("model-00003-of-00003.safetensors"), std::string::npos);
  json traversal = index;
  traversal["weight_map"]["model.norm.weight"] = "../model.safetensors";
  EXPECT_NE(with_index(traversal).find("plain file name"), std::string::npos);
  json wrong = index;
  wrong["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
  EXPECT_NE(with_index(wrong).find("model.norm.weight"), std::string::npos);
  EXPECT_NE(with_index(json{{"weight_map", json::object()}}).find("empty"), std::string::npos);
  EXPECT_NE(with_index(json{{"metadata", 1}}).find("weight_map"), std::string::npos);
  write_file(sharded / "model.safetensors.index.json", "{not json");
  EXPECT_THROW(Checkpoint::open(sharded.path()), srr::InputError);

  // A tensor stored twice.
  write_file(sharded / "model.safetensors.index.json", index.dump());
  first.push_back(second.front());
  write_safetensors(sharded / "model-00001-of-00002.safetensors", first);
  EXPECT_NE(error_of([&] { Checkpoint::open(sharded.path()); }).find("both"), std::string::npos);
}

TEST(Checkpoint, MissingTensorsConfigsAndMismatchesAreRejected) {
  TempDir dir;
  const LlamaConfig c = tiny_config(false);
  write_synthetic_llama(dir.path(), c, 1, DType::F32);
  // config.json that disagrees with the tensors.
  LlamaConfig wider = c;
  wider.intermediate = 32;
  const std::string good_config = read_file(dir / "config.json");
  write_file(dir / "config.json", hf_config_json(wider).dump());
  const std::string m = error_of([&] { Checkpoint::open(dir.path()); });
  EXPECT_NE(m.find("mlp"), std::string::npos) << m;
  EXPECT_NE(m.find("shape"), std::string::npos) << m;
  LlamaConfig deeper = c;
  deeper.layers = 3;
  write_file(dir / "config.json", hf_config_json(deeper).dump());
  EXPECT_NE(error_of([&] { Checkpoint::open(dir.path()); }).find("says 3 layers (num_hidden_layers)"),
            std::string::npos);
  // A config claiming a billion layers is refused from the tensor count, before any per-layer allocation.
  deeper.layers = 1'000'000'000;
  write_file(dir / "config.json", hf_config_json(deeper).dump());
  EXPECT_NE(error_of([&] { Checkpoint::open(dir.path()); }).find("enough for at most 2"), std::string::npos);
  write_file(dir / "config.json", "{\"model_type\": \"gpt2\"}");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir.path()); }).find("gpt2"), std::string::npos);
  std::filesystem::remove(dir / "config.json");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir / "model.safetensors"); }).find("config.json"), std::string::npos);
  write_file(dir / "config.json", good_config);
  EXPECT_NO_THROW(Checkpoint::open(dir / "model.safetensors"));

  // A missing linear layer.
  const SafetensorsFile src(dir / "model.safetensors");
  std::vector<std::vector<float>> values;
  std::vector<TensorData> kept;
  values.reserve(src.header().tensors.size());
  for (const auto& [name, t] : src.header().tensors) {
    if (name == "model.layers.1.self_attn.v_proj.weight") continue;
    values.push_back(src.read_f32(name));
    kept.push_back({name, t.dtype, t.shape, values.back()});
  }
  write_safetensors(dir / "partial.safetensors", kept);
  EXPECT_NE(error_of([&] { Checkpoint::open(dir / "partial.safetensors"); }).find("v_proj"), std::string::npos);
}
