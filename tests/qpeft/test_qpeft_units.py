# SPDX-License-Identifier: MIT
"""The client's pieces against hand-computed cases: the gradient-scaling hooks, the learning-rate multiplier
under AdamW (and the hooks' near-invariance there, method.md Q7), the sigma rule, safetensors round trips."""
import os
import tempfile
import unittest

import qpeft_support  # noqa: F401  (puts the client on sys.path)
import torch

from srr_qpeft import lora, safetensors


def layer(k):
    """in 3, out 2, r 3; Q, A, B with exact small values; k preserved components."""
    Q = torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]])
    A = torch.tensor([[1.0, 2.0, -1.0], [0.5, -0.5, 1.0], [-2.0, 1.0, 0.0]])
    B = torch.tensor([[1.0, -1.0, 0.5], [2.0, 0.25, -1.0]])
    return Q, A, B, lora.QpeftLinear(Q, A, B, scaling=2.0, freeze_rank=k)


class Hooks(unittest.TestCase):
    def test_forward_is_q_plus_scaled_product(self):
        Q, A, B, m = layer(2)
        x = torch.tensor([[1.0, -2.0, 3.0]])
        self.assertTrue(torch.allclose(m(x), x @ (Q + 2.0 * B @ A).T, rtol=0, atol=1e-6))

    def test_hooks_scale_preserved_rows_and_columns_by_a_i(self):
        # L = c . y with y = Q x + s B A x: dL/dA = s B^T c x^T, dL/dB = s c (A x)^T (hand-computed).
        x = torch.tensor([1.0, -2.0, 3.0])
        c = torch.tensor([0.5, -1.0])
        Q, A, B, m = layer(2)
        alphas = [0.1, 0.25]
        m.add_gradient_hooks(alphas)
        (m(x[None])[0] @ c).backward()
        gA = 2.0 * torch.outer(B.T @ c, x)
        gB = 2.0 * torch.outer(c, A @ x)
        for i, a in enumerate(alphas):
            self.assertTrue(torch.allclose(m.A_f[i].grad[0], a * gA[i], atol=1e-6), f"A row {i}")
            self.assertTrue(torch.allclose(m.B_f[i].grad[:, 0], a * gB[:, i], atol=1e-6), f"B column {i}")
        self.assertTrue(torch.allclose(m.A_t.grad[0], gA[2], atol=1e-6))
        self.assertTrue(torch.allclose(m.B_t.grad[:, 0], gB[:, 2], atol=1e-6))

    def test_unscaled_gradient_matches_finite_differences(self):
        x = torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64)
        Q, A, B, m = layer(1)
        m = m.double()
        loss = lambda: (m(x) ** 2).sum()  # noqa: E731
        loss().backward()
        h = 1e-6
        for p in [m.A_f[0], m.B_f[0], m.A_t, m.B_t]:
            g = p.grad.clone()
            for idx in range(p.numel()):
                with torch.no_grad():
                    p.view(-1)[idx] += h
                    up = loss().item()
                    p.view(-1)[idx] -= 2 * h
                    down = loss().item()
                    p.view(-1)[idx] += h
                self.assertAlmostEqual(g.view(-1)[idx].item(), (up - down) / (2 * h), delta=1e-5)


class AdamW(unittest.TestCase):
    def first_step(self, mode):
        """One AdamW step (lr 0.1, no decay): the first step moves every entry by lr*sign(g) (to eps)."""
        x = torch.tensor([[1.0, -2.0, 3.0]])
        _, _, _, m = layer(2)
        before = [p.detach().clone() for p in (m.A_f[0], m.A_f[1], m.A_t)]
        alphas = [0.1, 0.5]
        if mode == "hooks":
            m.add_gradient_hooks(alphas)
        opt = torch.optim.AdamW(m.param_groups(0.1, alphas if mode == "lr" else None), lr=0.1, weight_decay=0.0)
        (m(x) ** 2).sum().backward()
        opt.step()
        return [(p.detach() - b).abs().max().item() for p, b in zip((m.A_f[0], m.A_f[1], m.A_t), before)]

    def test_lr_multiplier_moves_preserved_components_a_i_times_as_far(self):
        f0, f1, t = self.first_step("lr")
        self.assertAlmostEqual(f0, 0.1 * 0.1, places=6)
        self.assertAlmostEqual(f1, 0.1 * 0.5, places=6)
        self.assertAlmostEqual(t, 0.1, places=6)

    def test_hooks_cancel_under_adamw(self):
        # method.md Q7: a constant gradient scale cancels in m/sqrt(v); the step is lr*sign(g) regardless.
        f0, f1, t = self.first_step("hooks")
        self.assertAlmostEqual(f0, 0.1, places=5)
        self.assertAlmostEqual(f1, 0.1, places=5)


class Rules(unittest.TestCase):
    def test_constant(self):
        self.assertEqual(lora.constant_alphas(3), [0.1, 0.1, 0.1])

    def test_sigma_rule_hand_computed(self):
        # s = [4, 2, 1], beta 5: lambda_0 = 6*4/(20+4) = 1 -> a 0; lambda_1 = 6*2/(10+4) = 6/7 -> a 1/7.
        a = lora.sigma_alphas(2, [4.0, 2.0, 1.0], beta=5.0)
        self.assertEqual(len(a), 2)
        self.assertAlmostEqual(a[0], 0.0)
        self.assertAlmostEqual(a[1], 1.0 / 7.0)
        self.assertEqual(lora.sigma_alphas(2, [0.0, 0.0, 0.0]), [0.1, 0.1])


class Safetensors(unittest.TestCase):
    def test_round_trip_f32_bf16(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.safetensors")
            t = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7, "b": torch.tensor([1.5, -2.0]).bfloat16()}
            safetensors.write(p, t, {"format": "pt"})
            back, meta = safetensors.read(p)
            self.assertEqual(meta, {"format": "pt"})
            self.assertTrue(torch.equal(back["a"], t["a"]))
            self.assertEqual(back["b"].dtype, torch.bfloat16)
            self.assertTrue(torch.equal(back["b"], t["b"]))
            with open(p, "r+b") as f:  # a header length beyond the file
                f.write((1 << 40).to_bytes(8, "little"))
            with self.assertRaises(Exception) as e:
                safetensors.read(p)
            self.assertIn("exceeds the file", str(e.exception))


if __name__ == "__main__":
    unittest.main()
