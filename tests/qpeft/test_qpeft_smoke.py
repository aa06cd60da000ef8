# SPDX-License-Identifier: MIT
"""A short fine-tuning run on stories260K from the SRR export (hooks), the weight-only QLoRA start, and the
export of a plan (per-layer ranks, some 0; learning-rate multipliers): the training loss must fall, `srr eval
--adapter` must score the adapter the client writes, and that adapter keeps the export's per-layer ranks."""
import json
import os
import tempfile
import unittest

import qpeft_support as qs


class Smoke(unittest.TestCase):
    def run_client(self, export, out, *extra):
        rc, stdout, err = qs.client("--model", export, "--text", qs.TEXT, "--max-chars", "120000", "--ctx", "128",
                                    "--train-skip-windows", "14", "--steps", "30", "--batch", "4", "--lr", "3e-3",
                                    "--warmup", "3", "--out", out, "--json", *extra)
        self.assertEqual(rc, 0, err)
        return qs.last_json(stdout)

    def test_loss_falls_and_srr_scores_the_adapter(self):
        with tempfile.TemporaryDirectory() as d:
            for name, export, extra in (("srr", "release", ["--grad-scaling", "hooks"]),
                                        ("qlora", "wonly", ["--qlora-rank", "8"]),
                                        ("planned", "planned", ["--grad-scaling", "lr"])):
                out = os.path.join(d, name)
                rep = self.run_client(os.path.join(qs.FIXTURE, export), out, *extra)
                print(f"{name}: loss {rep['loss_first']:.4f} -> {rep['loss_last']:.4f}")
                self.assertLess(rep["loss_last"], rep["loss_first"] - 0.02, name)
                rc, stdout, err = qs.srr("eval", "--model", os.path.join(qs.FIXTURE, export), "--adapter", out,
                                         "--text", qs.TEXT, "--max-chars", "120000", "--ctx", "128",
                                         "--skip-windows", "8", "--windows", "4", "--json")
                self.assertEqual(rc, 0, err)
                self.assertGreater(qs.last_json(stdout)["quantized"]["token_perplexity"], 1.0)
                if name == "qlora":
                    continue
                # the trained adapter keeps the export's ranks: same rank_pattern, alpha_pattern and targets
                with open(os.path.join(qs.FIXTURE, export, "adapter_config.json")) as f:
                    before = json.load(f)
                with open(os.path.join(out, "adapter_config.json")) as f:
                    after = json.load(f)
                for key in ("r", "lora_alpha", "rank_pattern", "alpha_pattern", "target_modules"):
                    self.assertEqual(after[key], before[key], f"{name}: {key}")


if __name__ == "__main__":
    unittest.main()
