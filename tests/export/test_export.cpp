// SPDX-License-Identifier: MIT
// `srr export` end to end, through the command line as users run it, on both real checkpoints:
// calibrate → quantize → export (fp32, bf16, adapter only) → eval of the store and of base + adapter.
//
// stories260K is a llama2.c checkpoint (interleaved RoPE), so its export permutes q/k rows into HF's
// rotate_half layout; TinyStories-656K is a HF directory (tied embeddings stored as lm_head, GQA) and is
// exported as is. What is checked:
// * perplexity of base + adapter = perplexity of the store. For the HF source the model computes on the same
//   float32 values with the same code, so the NLL sums are equal exactly. For llama2.c the permutation
//   reorders the head dimension, i.e. the summation order of every q·k dot product, so they agree to
//   rounding (1e-6 relative; measured about 2e-7).
// * bf16 = fp32 exactly: MXINT values are bf16-exact (method.md §3), the adapter is always fp32 and the other
//   tensors keep the source's dtype, so both exports hold the same numbers.
// * every exported linear weight is the store's decoded Q bit for bit (rows permuted for llama2.c q/k), every
//   adapter factor is lora_A/lora_B bit for bit, every other tensor is the source's bit for bit.
// * refusals (exit 2, nothing written): an incomplete store, another checkpoint, an existing --out, bf16 of
//   INT-g values; and a killed export leaves no directory under the final name.
// SRR_DATA_DIR must be set and hold the data: a missing checkpoint fails the test, it never skips.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "../model/support.hpp"  // data_file
#include "../store/support.hpp"
#include "la/lapack.hpp"
#include "model/checkpoint.hpp"
#include "model/safetensors.hpp"
#include "quant/quantizer.hpp"
#include "export/export.hpp"
#include "store/hdf5.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace srr;
using srr::store::test::TempDir;

namespace {

std::string srr_exe() {
  const char* e = std::getenv("SRR_EXE");
  if (!e) throw std::runtime_error("SRR_EXE is not set (the srr executable under test)");
  return e;
}

struct CommandResult {
  int rc = -1;
  std::string out, err;
  json last_json() const {  // commands print their JSON result as the last line of stdout
    const auto end = out.find_last_not_of('\n');
    const auto begin = out.rfind('\n', end);
    const auto first = begin == std::string::npos ? 0 : begin + 1;
    return json::parse(out.substr(first, end + 1 - first));
  }
};

/// Runs `srr <args>` and captures its exit code, stdout and stderr.
CommandResult srr(const std::string& args, const TempDir& dir) {
  const fs::path err = dir / "stderr.txt";
  const std::string cmd = "'" + srr_exe() + "' " + args + " 2>'" + err.string() + "'";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = store::test::file_bytes(err);
  return r;
}

/// A path quoted for the shell. (Built with append: GCC 12 warns falsely, -Wrestrict, on "'" + s + "'".)
std::string q(const fs::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).push_back('\'');
  return s;
}

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

/// The source row of each HF row of a q/k projection, written out independently of the exporter:
/// llama2.c rotates rows (2i, 2i+1) of a head, HF rotates (i, i + d/2), so HF row h·d + p·d/2 + i is
/// llama2.c row h·d + 2i + p.
std::size_t source_row(std::size_t row, std::size_t head_dim) {
  const std::size_t h = row / head_dim, within = row % head_dim, half = head_dim / 2;
  return h * head_dim + 2 * (within % half) + within / half;
}

struct Source {
  const char* name;
  const char* model;  ///< relative to SRR_DATA_DIR
};

void PrintTo(const Source& s, std::ostream* os) { *os << s.name; }

class ExportRoundTrip : public ::testing::TestWithParam<Source> {};

/// Every quantized weight and adapter factor of an export against the store; the other tensors against the source.
void check_tensors(const fs::path& dir, const store::Store& st, const model::Checkpoint& src, model::DType dtype) {
  const model::SafetensorsFile base(dir / store::kExportModelFile);
  const model::SafetensorsFile adapter(dir / store::kAdapterModelFile);
  const auto& cfg = src.config();
  std::set<std::string> quantized;
  for (std::size_t i = 0; i < st.layout().layers.size(); ++i) {
    const auto& l = st.layout().layers[i];
    quantized.insert(l.name + ".weight");
    const auto record = st.read_layer(i);
    const auto Q = quant::decode(record.codes);  // in×out: column o is output row o
    const auto* t = base.header().find(l.name + ".weight");
    ASSERT_NE(t, nullptr) << l.name;
    EXPECT_EQ(t->dtype, dtype) << l.name;
    EXPECT_EQ(t->shape, (std::vector<std::int64_t>{l.out, l.in}));
    const auto got = base.read_f32(l.name + ".weight");
    const auto A = adapter.read_f32(std::string(store::kPeftPrefix) + l.name + ".lora_A.weight");
    const auto B = adapter.read_f32(std::string(store::kPeftPrefix) + l.name + ".lora_B.weight");
    const auto r = static_cast<std::size_t>(st.layout().rank);
    ASSERT_EQ(A.size(), record.lora_A.size()) << l.name;
    ASSERT_TRUE(same_bits(A.data(), record.lora_A.data(), A.size())) << l.name << ": lora_A differs from the store";
    const bool permuted = cfg.rope_interleaved && store::is_rope_projection(l.name);
    for (std::size_t o = 0; o < static_cast<std::size_t>(l.out); ++o) {
      const std::size_t s = permuted ? source_row(o, static_cast<std::size_t>(cfg.head_dim)) : o;
      ASSERT_TRUE(same_bits(&got[o * l.in], Q.col(static_cast<la::index_t>(s)), static_cast<std::size_t>(l.in)))
          << l.name << " row " << o << " is not the decoded Q row " << s;
      ASSERT_TRUE(same_bits(&B[o * r], &record.lora_B[s * r], r)) << l.name << " lora_B row " << o;
    }
  }
  // Everything else: the source's tensor, same dtype, same values; a tied lm_head is left to the embedding.
  for (const auto& name : src.tensor_names()) {
    if (quantized.count(name)) continue;
    const auto* t = base.header().find(name);
    if (cfg.tied_embeddings && name == "lm_head.weight") {
      EXPECT_EQ(t, nullptr) << "a tied lm_head is written once, as the embedding";
      continue;
    }
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, src.dtype(name)) << name;
    const auto a = base.read_f32(name), b = src.read_f32(name);
    ASSERT_EQ(a.size(), b.size()) << name;
    EXPECT_TRUE(same_bits(a.data(), b.data(), a.size())) << name;
  }
  EXPECT_EQ(base.header().tensors.size() + (cfg.tied_embeddings ? 1 : 0), src.tensor_names().size());
}

TEST_P(ExportRoundTrip, PerplexityAndBits) {
  const Source s = GetParam();
  TempDir dir;
  const fs::path model = srr::model::test::data_file(s.model), store_path = dir / "store.h5", calib = dir / "calib.h5";
  const auto ckpt = model::Checkpoint::open(model);  // throws, failing the test, when the data is missing
  const std::string text = "--text " + q(srr::model::test::data_file("tinystories/tinystories_val_head.txt")) +
                           " --max-chars 60000 --ctx 128";

  // calibrate on windows 0..5, quantize (QERA-approx scale, 3-bit MXINT B32, rank 8), evaluate on 6..13.
  CommandResult r =
      srr("calibrate --model " + q(model) + " " + text + " --windows 6 --out " + q(calib) + " --json", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = srr("quantize --model " + q(model) + " --calib " + q(calib) + " --out " + q(store_path) +
              " --scale qera-approx --rank 8 --bits 3 --block 32",
          dir);
  ASSERT_EQ(r.rc, 0) << r.err;

  for (const char* dtype : {"fp32", "bf16"}) {
    r = srr(std::string("export --store ") + q(store_path) + " --model " + q(model) + " --out " + q(dir / dtype) +
                " --dtype " + dtype + " --json",
            dir);
    ASSERT_EQ(r.rc, 0) << r.err;
    const json rep = r.last_json();
    EXPECT_EQ(rep["rank"], 8);
    EXPECT_EQ(rep["layers"], ckpt.linear_layer_names().size());
    EXPECT_TRUE(rep["files"].contains("model.safetensors")) << rep.dump();
  }
  r = srr("export --store " + q(store_path) + " --model " + q(model) + " --out " + q(dir / "adapter") +
              " --adapter-only --json",
          dir);
  ASSERT_EQ(r.rc, 0) << r.err;

  // Perplexity: the store vs base + adapter, fp32 and bf16 exports.
  const std::string eval = "eval " + text + " --skip-windows 6 --windows 8 --skip-fp32 --json";
  const auto quantized = [&](const std::string& args) {
    const CommandResult e = srr(eval + " " + args, dir);
    EXPECT_EQ(e.rc, 0) << e.err;
    return e.rc == 0 ? e.last_json()["quantized"] : json();
  };
  const json from_store = quantized("--model " + q(model) + " --store " + q(store_path));
  const json from_fp32 = quantized("--model " + q(dir / "fp32") + " --adapter " + q(dir / "fp32"));
  const json from_bf16 = quantized("--model " + q(dir / "bf16") + " --adapter " + q(dir / "bf16"));
  ASSERT_FALSE(from_store.is_null() || from_fp32.is_null() || from_bf16.is_null());
  const double ppl_store = from_store["token_perplexity"], ppl_fp32 = from_fp32["token_perplexity"],
               ppl_bf16 = from_bf16["token_perplexity"];
  std::printf("%s: perplexity store %.12g, fp32 export + adapter %.12g (rel %.3g), bf16 export + adapter %.12g\n",
              s.name, ppl_store, ppl_fp32, std::abs(ppl_fp32 / ppl_store - 1), ppl_bf16);
  EXPECT_EQ(from_store["tokens"], from_fp32["tokens"]);
  EXPECT_NEAR(ppl_fp32 / ppl_store, 1.0, 1e-6);
  EXPECT_EQ(from_bf16["nll_sum"], from_fp32["nll_sum"]) << "bf16 and fp32 exports must hold the same numbers";
  if (!ckpt.config().rope_interleaved) {
    EXPECT_EQ(from_fp32["nll_sum"], from_store["nll_sum"]);
  }

  // Bits, and the exported directory as our reader sees it.
  const auto st = store::Store::open_read_only(store_path);
  check_tensors(dir / "fp32", st, ckpt, model::DType::F32);
  check_tensors(dir / "bf16", st, ckpt, model::DType::BF16);
  for (const char* d : {"fp32", "bf16"}) {
    auto want = ckpt.config();
    want.rope_interleaved = false;
    EXPECT_EQ(model::Checkpoint::open(dir / d).config(), want) << d;
  }
  const json peft = json::parse(store::test::file_bytes(dir / "fp32" / store::kAdapterConfigFile));
  EXPECT_EQ(peft["peft_type"], "LORA");
  EXPECT_EQ(peft["task_type"], "CAUSAL_LM");
  EXPECT_EQ(peft["bias"], "none");
  EXPECT_EQ(peft["r"], 8);
  EXPECT_EQ(peft["lora_alpha"], 8);
  EXPECT_EQ(peft["target_modules"],
            json::array({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  EXPECT_TRUE(fs::exists(dir / "fp32" / (ckpt.config().rope_interleaved ? "tok512.bin" : "tokenizer.json")));

  // --adapter-only: the adapter (and its QPEFT metadata) alone, byte-identical to the full export's.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "adapter")) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{store::kAdapterConfigFile, store::kAdapterModelFile, store::kQpeftFile,
                                          store::kFreezeRankFile}));
  EXPECT_EQ(store::test::file_bytes(dir / "adapter" / store::kQpeftFile),
            store::test::file_bytes(dir / "fp32" / store::kQpeftFile));
  EXPECT_EQ(store::test::file_bytes(dir / "adapter" / store::kAdapterModelFile),
            store::test::file_bytes(dir / "fp32" / store::kAdapterModelFile));
  for (const auto& e : fs::directory_iterator(dir / "."))
    EXPECT_EQ(e.path().filename().string().find(".partial."), std::string::npos) << "leftover " << e.path();
}

INSTANTIATE_TEST_SUITE_P(RealCheckpoints, ExportRoundTrip,
                         ::testing::Values(Source{"stories260K", "stories260K/stories260K.bin"},
                                           Source{"tinystories656k", "tinystories-656k"}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

/// Sets one layer's done mark back to 0, as a run killed before finishing that layer leaves it.
void unmark(const fs::path& path, const std::string& layer) {
  store::h5_init();
  const std::string f = path.string();
  store::Hid file(SRR_H5_CALL(H5Fopen(f.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), f));
  store::Hid done(SRR_H5_CALL(H5Dopen2(file.get(), ("/layers/" + layer + "/done").c_str(), H5P_DEFAULT), f));
  const std::uint8_t zero = 0;
  SRR_H5_CALL(H5Dwrite(done.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, &zero), f);
  done.close(f);
  file.close(f);
}

bool has_partial(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".partial.") != std::string::npos) return true;
  return false;
}

TEST(ExportRefusals, IncompleteStoreWrongCheckpointExistingOutIntBf16) {
  TempDir dir;
  const fs::path model = srr::model::test::data_file("stories260K/stories260K.bin"), store_path = dir / "store.h5";
  const std::string text = "--text " + q(srr::model::test::data_file("tinystories/tinystories_val_head.txt")) +
                           " --max-chars 30000 --ctx 128 --windows 4 --skip-fp32 --json";
  // Identity scale: no calibration file needed.
  CommandResult r = srr("quantize --model " + q(model) + " --out " + q(store_path) + " --scale identity --rank 4", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto export_cmd = [&](const fs::path& st, const fs::path& m, const fs::path& out) {
    return "export --store " + q(st) + " --model " + q(m) + " --out " + q(out);
  };

  // Incomplete: two layers not done; the first in plan order is named.
  const fs::path partial = dir / "partial.h5";
  fs::copy_file(store_path, partial);
  const auto layers = store::Store::open_read_only(store_path).layout().layers;
  unmark(partial, layers[20].name);
  unmark(partial, layers[7].name);
  r = srr(export_cmd(partial, model, dir / "out1"), dir);
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("is not complete: layer " + layers[7].name + " is not finished (2 of 35 layers are not done)"),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out1"));

  // Another checkpoint.
  r = srr(export_cmd(store_path, srr::model::test::data_file("tinystories-656k"), dir / "out2"), dir);
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("was made from a different checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stories260K.bin"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out2"));

  // An existing, non-empty --out is never touched; an empty one is replaced.
  fs::create_directories(dir / "taken");
  std::ofstream(dir / "taken" / "keep.txt") << "mine";
  r = srr(export_cmd(store_path, model, dir / "taken"), dir);
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("already exists and is not an empty directory"), std::string::npos) << r.err;
  EXPECT_EQ(store::test::file_bytes(dir / "taken" / "keep.txt"), "mine");
  fs::create_directories(dir / "empty");
  r = srr(export_cmd(store_path, model, dir / "empty"), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "empty" / store::kExportModelFile));

  // INT-g: (q − zero)·scale is not exact in bf16, so --dtype bf16 is refused; fp32 round-trips.
  const fs::path int_store = dir / "int.h5";
  r = srr("quantize --model " + q(model) + " --out " + q(int_store) + " --scale identity --rank 4 --quant int "
          "--bits 4 --block 32", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = srr(export_cmd(int_store, model, dir / "int_bf16") + " --dtype bf16", dir);
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("not exact in bf16; use --dtype fp32"), std::string::npos) << r.err;
  r = srr(export_cmd(int_store, model, dir / "int") + " --json", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const CommandResult a = srr("eval --model " + q(model) + " " + text + " --store " + q(int_store), dir);
  const CommandResult b = srr("eval --model " + q(dir / "int") + " " + text + " --adapter " + q(dir / "int"), dir);
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  const double pa = a.last_json()["quantized"]["token_perplexity"], pb = b.last_json()["quantized"]["token_perplexity"];
  EXPECT_NEAR(pb / pa, 1.0, 1e-6) << pa << " vs " << pb;

  // eval --adapter: a directory without an adapter, and --adapter with --store.
  r = srr("eval --model " + q(model) + " " + text + " --adapter " + q(dir / "."), dir);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no PEFT adapter in"), std::string::npos) << r.err;
  r = srr("eval --model " + q(model) + " " + text + " --adapter " + q(dir / "int") + " --store " + q(int_store), dir);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("give one of --store, --quantize and --adapter"), std::string::npos) << r.err;
  EXPECT_FALSE(has_partial(dir / "."));
}

/// What our reader does with adapters it did not write: lora_alpha ≠ r scales R, alpha_pattern a module's R,
/// DoRA is refused.
TEST(PeftAdapter, ScalingAndRefusedVariants) {
  TempDir dir;
  const fs::path model = srr::model::test::data_file("tinystories-656k"), store_path = dir / "store.h5";
  CommandResult r = srr("quantize --model " + q(model) + " --out " + q(store_path) + " --scale identity --rank 4", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = srr("export --store " + q(store_path) + " --model " + q(model) + " --out " + q(dir / "e"), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto base = model::Checkpoint::open(dir / "e");
  const auto plain = store::adapter_overrides(store::read_peft_adapter(dir / "e"), base);
  ASSERT_EQ(plain.size(), base.linear_layer_names().size());

  json cfg = json::parse(store::test::file_bytes(dir / "e" / store::kAdapterConfigFile));
  cfg["lora_alpha"] = 8;  // r = 4: PEFT scales B·A by alpha/r = 2
  std::ofstream(dir / "e" / store::kAdapterConfigFile) << cfg.dump();
  const auto doubled = store::adapter_overrides(store::read_peft_adapter(dir / "e"), base);
  for (const auto& [name, o] : plain) {
    const auto& d = doubled.at(name);
    ASSERT_EQ(d.R.size(), o.R.size());
    for (la::index_t i = 0; i < o.R.size(); ++i) ASSERT_EQ(d.R.data()[i], 2 * o.R.data()[i]) << name;
    EXPECT_TRUE(same_bits(d.L.data(), o.L.data(), static_cast<std::size_t>(o.L.size())));
    EXPECT_TRUE(same_bits(d.Q.data(), o.Q.data(), static_cast<std::size_t>(o.Q.size())));
  }
  // alpha_pattern for one module (its name without the first component, as srr export writes it): only that
  // module's R is scaled; a key that names no module is refused.
  const std::string one = base.linear_layer_names().front();
  cfg["lora_alpha"] = 4;
  cfg["alpha_pattern"] = {{store::peft_pattern_key(one), 12}};
  std::ofstream(dir / "e" / store::kAdapterConfigFile) << cfg.dump();
  const auto patterned = store::adapter_overrides(store::read_peft_adapter(dir / "e"), base);
  for (const auto& [name, o] : plain) {
    const auto& d = patterned.at(name);
    for (la::index_t i = 0; i < o.R.size(); ++i) ASSERT_EQ(d.R.data()[i], (name == one ? 3 : 1) * o.R.data()[i]) << name;
  }
  cfg["alpha_pattern"] = {{"layers.99.mlp.up_proj", 12}};
  std::ofstream(dir / "e" / store::kAdapterConfigFile) << cfg.dump();
  try {
    store::read_peft_adapter(dir / "e");
    ADD_FAILURE() << "an alpha_pattern key naming no module was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("alpha_pattern key \"layers.99.mlp.up_proj\" names no module"),
              std::string::npos) << e.what();
  }
  cfg["alpha_pattern"] = json::object();
  cfg["use_dora"] = true;
  std::ofstream(dir / "e" / store::kAdapterConfigFile) << cfg.dump();
  EXPECT_THROW(
      {
        try {
          store::read_peft_adapter(dir / "e");
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("DoRA adapters are not supported"), std::string::npos) << e.what();
          throw;
        }
      },
      InputError);
}

/// --peft-convention release and the QPEFT metadata (docs/qpeft.md), against the store itself: every layer's
/// scaling·lora_B·lora_A equals L·R to float32 rounding with lora_alpha = 2r, lora_B's columns are unit vectors
/// over the scaling (the release's lora_B = U_r) for QER/SRR and √Σ-balanced for LoftQ, qpeft.json's freeze_rank is
/// the store's k* and its s_vals are the singular values of the formed product (float64 gesdd); base + adapter
/// scores the store's perplexity.
TEST(QpeftExport, ReleaseConventionAndMetadata) {
  TempDir dir;
  const fs::path model = srr::model::test::data_file("tinystories-656k");
  for (const char* method : {"srr", "loftq"}) {
    const fs::path store_path = dir / (std::string(method) + ".h5"), out = dir / method;
    CommandResult r = srr("quantize --model " + q(model) + " --out " + q(store_path) + " --method " + method +
                              " --scale identity --bits 2 --block 16 --rank 8",
                          dir);
    ASSERT_EQ(r.rc, 0) << r.err;
    r = srr("export --store " + q(store_path) + " --model " + q(model) + " --out " + q(out) +
                " --peft-convention release --json",
            dir);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.last_json()["peft_convention"], "release");
    const json cfg = json::parse(store::test::file_bytes(out / store::kAdapterConfigFile));
    EXPECT_EQ(cfg["r"], 8);
    EXPECT_EQ(cfg["lora_alpha"], 16);
    const json meta = json::parse(store::test::file_bytes(out / store::kQpeftFile));
    EXPECT_EQ(meta["format"], "srr-qpeft");
    EXPECT_EQ(meta["scaling"], 2.0);
    EXPECT_EQ(meta["method"], method);
    const json freeze = json::parse(store::test::file_bytes(out / store::kFreezeRankFile));

    const auto st = store::Store::open_read_only(store_path);
    const model::SafetensorsFile adapter(out / store::kAdapterModelFile);
    std::int64_t preserved = 0;
    for (std::size_t i = 0; i < st.layout().layers.size(); ++i) {
      const auto& l = st.layout().layers[i];
      const auto rec = st.read_layer(i);
      const la::index_t rank = 8;
      la::Matrix<double> L(l.in, rank), R(rank, l.out);  // the store's factors, column-major = lora_A/lora_B rows
      std::copy(rec.lora_A.begin(), rec.lora_A.end(), L.data());
      std::copy(rec.lora_B.begin(), rec.lora_B.end(), R.data());
      const auto A = adapter.read_f32(std::string(store::kPeftPrefix) + l.name + ".lora_A.weight");
      const auto B = adapter.read_f32(std::string(store::kPeftPrefix) + l.name + ".lora_B.weight");
      la::Matrix<double> A2(l.in, rank), B2(rank, l.out);
      std::copy(A.begin(), A.end(), A2.data());
      std::copy(B.begin(), B.end(), B2.data());
      const auto want = la::matmul(L, R), got = la::matmul(A2, B2);
      double diff = 0, norm = 0;
      for (la::index_t k = 0; k < want.size(); ++k) {
        diff += std::pow(2.0 * got.data()[k] - want.data()[k], 2);
        norm += std::pow(want.data()[k], 2);
      }
      EXPECT_LT(std::sqrt(diff / norm), 1e-6) << method << " " << l.name;
      for (la::index_t c = 0; c < rank; ++c) {
        double b2 = 0, r2 = 0;
        for (la::index_t j = 0; j < l.out; ++j) b2 += B2(c, j) * B2(c, j), r2 += R(c, j) * R(c, j);
        // QER/SRR: unit columns over the scaling; LoftQ: the store's √Σ balance over the scaling.
        const double expect = std::string(method) == "loftq" ? std::sqrt(r2) / 2 : 0.5;
        EXPECT_NEAR(std::sqrt(b2), expect, 1e-6 * (1 + expect)) << method << " " << l.name << " component " << c;
      }
      const json& entry = meta["layers"][l.name];
      EXPECT_EQ(entry["freeze_rank"], rec.k_star) << l.name;
      EXPECT_EQ(freeze[l.name], rec.k_star) << l.name;
      preserved += rec.k_star;
      const auto s = la::gesdd(want, false).s;
      ASSERT_EQ(entry["s_vals"].size(), static_cast<std::size_t>(rank));
      for (la::index_t c = 0; c < rank; ++c)
        EXPECT_NEAR(entry["s_vals"][static_cast<std::size_t>(c)].get<double>(), s[static_cast<std::size_t>(c)],
                    1e-10 * s[0]) << l.name << " s_vals[" << c << "]";
    }
    if (std::string(method) == "srr") {
      EXPECT_GT(preserved, 0) << "2-bit SRR preserves directions somewhere";
    } else {
      EXPECT_EQ(preserved, 0) << "LoftQ preserves nothing";
    }

    const std::string eval = "eval --text " + q(srr::model::test::data_file("tinystories/tinystories_val_head.txt")) +
                             " --max-chars 30000 --ctx 128 --windows 4 --skip-fp32 --json ";
    const CommandResult a = srr(eval + "--model " + q(model) + " --store " + q(store_path), dir);
    const CommandResult b = srr(eval + "--model " + q(out) + " --adapter " + q(out), dir);
    ASSERT_EQ(a.rc, 0) << a.err;
    ASSERT_EQ(b.rc, 0) << b.err;
    const double pa = a.last_json()["quantized"]["token_perplexity"], pb = b.last_json()["quantized"]["token_perplexity"];
    EXPECT_NEAR(pb / pa, 1.0, 1e-6) << method << ": " << pa << " vs " << pb;
  }
  const CommandResult bad = srr("export --store " + q(dir / "srr.h5") + " --model " + q(model) + " --out " +
                                    q(dir / "bad") + " --peft-convention peft",
                                dir);
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("--peft-convention must be srr or release, got 'peft'"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

/// A killed export never leaves a directory under the final name: only `<out>.partial.<random>`.
TEST(StagingDirectory, KilledBeforeCommitLeavesNothingUnderTheFinalName) {
  TempDir dir;
  const fs::path out = dir / "model";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    store::StagingDirectory staging(out);
    staging.write_file("config.json", "{}\n");
    model::SafetensorsWriter w(staging.path() / "model.safetensors", {{"x", model::DType::F32, {4}}});
    const float half[2] = {1, 2};
    w.append(half);
    ::kill(::getpid(), SIGKILL);  // mid-write, like a killed export
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(fs::exists(out));
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("model.partial.", 0) == 0) left.push_back(e.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(fs::exists(left[0] / "config.json")) << "the staging directory is where the partial files are";
  fs::remove_all(left[0]);

  {  // destroyed before commit (an exception during the export): the staging directory goes away
    store::StagingDirectory staging(out);
    staging.write_file("config.json", "{}\n");
  }
  EXPECT_FALSE(fs::exists(out));
  {
    store::StagingDirectory staging(out);
    staging.write_file("config.json", "{}\n");
    staging.commit();
  }
  EXPECT_EQ(store::test::file_bytes(out / "config.json"), "{}\n");
  EXPECT_FALSE(has_partial(dir.path()));
}

}  // namespace

TEST(PortableModelName, NeverAPathOfThisMachine) {
  const auto root = std::filesystem::temp_directory_path() / ("srr-portable-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "hf-model");
  const auto config = [&](const std::string& text) { std::ofstream(root / "hf-model" / "config.json") << text; };
  config("{\"hidden_size\": 8}");
  EXPECT_EQ(store::portable_model_name(root / "hf-model"), "hf-model");
  EXPECT_EQ(store::portable_model_name(root / "hf-model/"), "hf-model");
  EXPECT_EQ(store::portable_model_name(root / "hf-model" / "model.safetensors"), "hf-model");
  config("{\"_name_or_path\": \"org/tiny-llama\"}");
  EXPECT_EQ(store::portable_model_name(root / "hf-model"), "org/tiny-llama");
  config("{\"_name_or_path\": \"" + (root / "elsewhere").string() + "\"}");  // absolute: not used
  EXPECT_EQ(store::portable_model_name(root / "hf-model"), "hf-model");
  EXPECT_EQ(store::portable_model_name(root / "stories260K.bin"), "stories260K.bin");
  std::filesystem::remove_all(root);
}
