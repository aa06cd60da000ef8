# SPDX-License-Identifier: MIT
"""QPEFT's LoRA layer (method.md §7): y = x Q^T + scaling * (B_f A_f x + B_t A_t drop(x)), Q frozen.

The first freeze_rank components (rows of lora_A, columns of lora_B, in the export's documented order) are
the preserved ones, A_f/B_f; the rest are A_t/B_t. Both parts train. How the preserved part is held stable:
* "hooks", the release's mechanism: gradient hooks multiply the gradient of preserved row/column i by a_i.
  AdamW divides each step by the running RMS of the gradient, so a constant a_i cancels except against
  eps = 1e-8 (method.md Q7): with AdamW this is (almost) the same run as "none".
* "lr": the equivalent learning-rate multiplier: each preserved component i is its own parameter group with
  learning rate a_i * lr, which under AdamW really moves the preserved components a_i times as far.
* "none": no scaling (SRR init without gradient scaling).
Each preserved component is stored as its own parameter pair (A_f[i] a row, B_f[i] a column) so that both
mechanisms act per component; the forward concatenates them, which is the release's single A_f/B_f."""
import math

import torch
import torch.nn.functional as F


def constant_alphas(freeze_rank, alpha=0.1):
    """The final release's AdamW rule: a_i = alpha (0.1) for every i < k*."""
    return [float(alpha)] * freeze_rank


def sigma_alphas(freeze_rank, s_vals, beta=5.0, default=0.1):
    """The sigma-dependent rule (release `_compute_alpha_vec_sgd`): lambda_i = (beta+1) s_i / (beta s_i + s_max),
    a_i = clip(1 - lambda_i, 0, 1), so the largest direction gets 0 and small ones approach 1. s_vals are the
    singular values of the initial product (descending); falls back to `default` when they are all ~0."""
    if freeze_rank <= 0:
        return []
    s_max = max(s_vals) if s_vals else 0.0
    if s_max <= 1e-30 or len(s_vals) < freeze_rank:
        return [float(default)] * freeze_rank
    out = []
    for s in s_vals[:freeze_rank]:
        lam = (beta + 1.0) * s / (beta * s + s_max)
        out.append(min(1.0, max(0.0, 1.0 - lam)))
    return out


class QpeftLinear(torch.nn.Module):
    def __init__(self, weight, lora_A, lora_B, scaling, freeze_rank, dropout=0.0):
        """weight [out][in] (frozen Q), lora_A [r][in], lora_B [out][r] as the adapter stores them."""
        super().__init__()
        r = lora_A.shape[0]
        assert 0 <= freeze_rank <= r and lora_B.shape[1] == r
        self.register_buffer("weight", weight.float())
        self.scaling = float(scaling)
        self.freeze_rank = freeze_rank
        self.A_f = torch.nn.ParameterList([torch.nn.Parameter(lora_A[i:i + 1].float().clone())
                                           for i in range(freeze_rank)])
        self.B_f = torch.nn.ParameterList([torch.nn.Parameter(lora_B[:, i:i + 1].float().clone())
                                           for i in range(freeze_rank)])
        self.A_t = torch.nn.Parameter(lora_A[freeze_rank:].float().clone())
        self.B_t = torch.nn.Parameter(lora_B[:, freeze_rank:].float().clone())
        self.dropout = dropout
        self.hooks = []

    def frozen_factors(self):
        """(A_f [k][in], B_f [out][k]); empty when freeze_rank is 0."""
        if self.freeze_rank == 0:
            return self.A_t.new_zeros(0, self.A_t.shape[1]), self.B_t.new_zeros(self.B_t.shape[0], 0)
        return torch.cat(list(self.A_f), 0), torch.cat(list(self.B_f), 1)

    def lora_factors(self):
        """The whole adapter as PEFT stores it: lora_A = [A_f; A_t], lora_B = [B_f, B_t]."""
        A_f, B_f = self.frozen_factors()
        return torch.cat([A_f, self.A_t], 0), torch.cat([B_f, self.B_t], 1)

    def forward(self, x):
        y = F.linear(x, self.weight)
        xd = F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x
        delta = F.linear(F.linear(xd, self.A_t), self.B_t)
        if self.freeze_rank:
            A_f, B_f = self.frozen_factors()
            delta = delta + F.linear(F.linear(x, A_f), B_f)
        return y + delta * self.scaling

    def add_gradient_hooks(self, alphas):
        """The release's hooks: grad of preserved row/column i times alphas[i]."""
        assert len(alphas) == self.freeze_rank
        for i, a in enumerate(alphas):
            for p in (self.A_f[i], self.B_f[i]):
                self.hooks.append(p.register_hook(lambda g, a=a: g * a))

    def param_groups(self, lr, alphas=None):
        """AdamW groups: the trained part at lr; preserved component i at lr * alphas[i] (or lr)."""
        groups = [{"params": [self.A_t, self.B_t], "lr": lr}]
        for i in range(self.freeze_rank):
            scale = 1.0 if alphas is None else alphas[i]
            groups.append({"params": [self.A_f[i], self.B_f[i]], "lr": lr * scale})
        return groups


def kaiming_uniform_A(rank, fan_in, generator):
    """PEFT's default lora_A init (nn.init.kaiming_uniform_ with a = sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(rank, fan_in, generator=generator, dtype=torch.float32) * 2 - 1) * bound


def cosine_schedule(step, total, warmup):
    """Linear warmup then cosine decay to 0 (transformers' get_cosine_schedule_with_warmup)."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
