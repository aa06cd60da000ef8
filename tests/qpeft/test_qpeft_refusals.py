# SPDX-License-Identifier: MIT
"""Bad input to the client: one line naming the problem, exit code 2, nothing written."""
import json
import os
import shutil
import tempfile
import unittest

import qpeft_support as qs


class Refusals(unittest.TestCase):
    def refused(self, expect, *args):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            rc, stdout, err = qs.client("--text", qs.TEXT, "--max-chars", "120000", "--ctx", "128", "--steps", "1",
                                        "--train-skip-windows", "14", "--out", out, *args)
            self.assertEqual(rc, 2, err + stdout)
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 1, err)
            self.assertIn(expect, lines[0])
            self.assertFalse(os.path.exists(out))

    def test_export_without_metadata_gets_the_re_export_hint(self):
        with tempfile.TemporaryDirectory() as d:
            old = os.path.join(d, "old")
            shutil.copytree(os.path.join(qs.FIXTURE, "release"), old)
            os.remove(os.path.join(old, "qpeft.json"))
            self.refused("re-export the store with `srr export --peft-convention release`", "--model", old)

    def test_adapter_of_another_model(self):
        self.refused("(an adapter of another model?)", "--model", os.path.join(qs.FIXTURE, "release"),
                     "--adapter", os.path.join(qs.FIXTURE, "ts656k"))

    def test_adapter_of_another_rank(self):
        with tempfile.TemporaryDirectory() as d:
            mixed = os.path.join(d, "mixed")
            shutil.copytree(os.path.join(qs.FIXTURE, "release"), mixed)
            shutil.copy(os.path.join(qs.FIXTURE, "rank4", "adapter_model.safetensors"), mixed)
            self.refused("not of rank r = 8 (an adapter of another rank?)", "--model", mixed)
            shutil.copy(os.path.join(qs.FIXTURE, "rank4", "adapter_config.json"), mixed)
            self.refused("has r = 4, lora_alpha = 8 but qpeft.json says r = 8, lora_alpha = 16", "--model", mixed)

    def test_rank_pattern_that_disagrees_with_the_metadata(self):
        with tempfile.TemporaryDirectory() as d:
            mixed = os.path.join(d, "mixed")
            shutil.copytree(os.path.join(qs.FIXTURE, "planned"), mixed)
            cfg_path = os.path.join(mixed, "adapter_config.json")
            with open(cfg_path) as f:
                cfg = json.load(f)
            cfg["rank_pattern"]["layers.0.mlp.gate_proj"] = 8
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            self.refused("gives model.layers.0.mlp.gate_proj the rank 8 but qpeft.json says 4", "--model", mixed)

    def test_weight_only_export_needs_a_rank(self):
        self.refused("give --qlora-rank", "--model", os.path.join(qs.FIXTURE, "wonly"))

    def test_bad_options(self):
        self.refused("--batch must be positive", "--model", os.path.join(qs.FIXTURE, "release"), "--batch", "0")
        self.refused("argument --grad-scaling: invalid choice", "--model", os.path.join(qs.FIXTURE, "release"),
                     "--grad-scaling", "sometimes")
        self.refused("is not an srr export: config.json is missing", "--model", qs.FIXTURE)


if __name__ == "__main__":
    unittest.main()
