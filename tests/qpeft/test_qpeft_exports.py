# SPDX-License-Identifier: MIT
"""The export's QPEFT files as the client reads them, against srr:
* the release convention's split round-trips: scaling * (B_f A_f + B_t A_t) equals the srr-convention export's
  lora_B lora_A, which is the store's L R bit for bit (app.export checks that), to float32 rounding;
* lora_alpha = 2r, unit-norm lora_B columns (the release's lora_B = U_r) and s_vals = the float64 singular
  values of L R; freeze_rank = k* (some layer has k* > 0 at 2 bits);
* a store made with a plan (per-layer ranks, some 0): each module's rank and scaling as PEFT's rank_pattern and
  alpha_pattern give them, rank-0 layers without factors, and the client's rewrite of it is srr's config again;
* this PyTorch forward computes srr's model: its perplexity of export + adapter equals `srr eval --adapter`'s,
  uniform and planned."""
import json
import os
import unittest

import qpeft_support as qs
import torch

from srr_qpeft import adapter as peft
from srr_qpeft import lora, model as llama


class Exports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.release, cls.plain = os.path.join(qs.FIXTURE, "release"), os.path.join(qs.FIXTURE, "plain")
        cls.model = llama.load(cls.release)

    def factors(self, d):
        meta = peft.read_metadata(d)
        f = peft.read_adapter(d, self.model, meta)
        scalings = {s for _, _, s in f.values()}
        self.assertEqual(len(scalings), 1, d)
        return meta, {n: (A, B) for n, (A, B, _) in f.items()}, scalings.pop()

    def test_split_round_trips_to_the_stores_product(self):
        meta, rel, scaling = self.factors(self.release)
        _, plain, one = self.factors(self.plain)
        self.assertEqual((meta["r"], meta["lora_alpha"], scaling, one), (8, 16, 2.0, 1.0))
        preserved = 0
        for name, (A, B) in rel.items():
            k = meta["layers"][name]["freeze_rank"]
            preserved += k
            m = lora.QpeftLinear(self.model.linear(name).weight, A, B, scaling, k)
            A_f, B_f = m.frozen_factors()
            product = scaling * (B_f.double() @ A_f.double() + m.B_t.double() @ m.A_t.double())
            want = plain[name][1].double() @ plain[name][0].double()
            err = (product - want).norm() / want.norm()
            self.assertLess(err.item(), 1e-6, name)
            # the release's balance: lora_B's columns are unit vectors (U_r), divided by the scaling
            norms = B.double().norm(dim=0) * scaling
            self.assertTrue(torch.allclose(norms, torch.ones_like(norms), atol=1e-5), name)
            s = torch.linalg.svdvals(want)[:8]
            got = torch.tensor(meta["layers"][name]["s_vals"], dtype=torch.float64)
            self.assertTrue(torch.allclose(got, s, rtol=1e-6, atol=1e-9 * s[0].item()), name)
        self.assertGreater(preserved, 0, "at 2 bits SRR preserves directions in some layer")
        with open(os.path.join(self.release, "freeze_rank_dict.json")) as f:
            self.assertEqual(json.load(f), {n: v["freeze_rank"] for n, v in meta["layers"].items()})

    def test_planned_export_has_per_layer_ranks(self):
        planned = os.path.join(qs.FIXTURE, "planned")
        meta = peft.read_metadata(planned)
        factors = peft.read_adapter(planned, self.model, meta)
        ranks = {n: peft.layer_rank(meta, n) for n in meta["layers"]}
        self.assertEqual(sorted(set(ranks.values())), [0, 4, 8], "the fixture's plan gives ranks 0, 4 and 8")
        self.assertEqual(set(factors), {n for n, r in ranks.items() if r > 0})
        for name, (A, B, scaling) in factors.items():
            self.assertEqual((A.shape[0], B.shape[1]), (ranks[name], ranks[name]), name)
            self.assertEqual(scaling, 2.0, name)  # release convention: lora_alpha = 2 * the layer's rank
        with open(os.path.join(planned, "adapter_config.json")) as f:
            srr_config = json.load(f)
        every = all(r > 0 for r in ranks.values())
        mine = peft.peft_config(factors, meta["r"], meta["lora_alpha"], every, srr_config["base_model_name_or_path"])
        self.assertEqual(mine, srr_config)

    def test_torch_forward_matches_srr_eval(self):
        # stories260K (llama2.c tokenizer, q/k permuted to rotate_half by the export) and TinyStories-656K (HF
        # BPE tokenizer, tied embeddings): same tokens, same perplexity to float32 summation order.
        text = ["--text", qs.TEXT, "--max-chars", "120000", "--ctx", "128"]
        for export in (self.release, os.path.join(qs.FIXTURE, "ts656k"), os.path.join(qs.FIXTURE, "planned")):
            rc, out, err = qs.srr("eval", "--model", export, "--adapter", export, *text,
                                  "--skip-windows", "8", "--windows", "6", "--json")
            self.assertEqual(rc, 0, err)
            want = qs.last_json(out)["quantized"]
            rc, out, err = qs.client("--model", export, *text, "--eval-skip-windows", "8", "--eval-windows", "6",
                                     "--perplexity-only", "--json")
            self.assertEqual(rc, 0, err)
            got = qs.last_json(out)["quantized"]
            self.assertEqual(got["tokens"], want["tokens"], export)
            print(f"{os.path.basename(export)}: perplexity srr eval {want['token_perplexity']:.9g}, "
                  f"PyTorch {got['token_perplexity']:.9g}")
            self.assertAlmostEqual(got["token_perplexity"] / want["token_perplexity"], 1.0, delta=1e-5)


if __name__ == "__main__":
    unittest.main()
