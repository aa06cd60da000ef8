// SPDX-License-Identifier: MIT
// End-to-end check of the llama2.c path: greedy decoding of stories260K from BOS reproduces, token for
// token, the sample published in llama2.c doc/stories260K.md (`./run stories260K.bin -z tok512.bin -t 0.0`).
// run.c's default 256 steps print one token per step, the first one predicted from BOS, so the sample is
// 256 generated tokens (with 255 the final "." is missing).
#include <gtest/gtest.h>

#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "model/tokenizer_llama2c.hpp"
#include "support.hpp"

using namespace srr::model;
using namespace srr::model::test;

namespace {

// The published output (a test oracle quoted from the llama2.c documentation).
const char* const k_published_sample =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I "
    "want to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she said, \"I'm sorry, mom. I didn't know what to do.\" Her mom said, "
    "\"Don't worry, Lily. We can help you.";

}  // namespace

TEST(StorySample, Stories260KGreedyReproducesTheLlama2cSample) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  const auto tok = Llama2cTokenizer::load(data_file("stories260K/tok512.bin"), ck.config().vocab);
  const Llama model(ck);
  const std::vector<int> ids = model.generate_greedy(tok.bos(), 256);
  ASSERT_EQ(ids.size(), 256u);
  // run.c prints piece(next, token) for each step and stops early only on BOS.
  std::string text;
  int previous = tok.bos();
  for (int id : ids) {
    ASSERT_NE(id, tok.bos()) << "run.c would have stopped here";
    text += tok.piece(id, previous);
    previous = id;
  }
  const std::string first_sentences =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
  EXPECT_EQ(text.substr(0, first_sentences.size()), first_sentences);
  EXPECT_EQ(text, k_published_sample);
}
