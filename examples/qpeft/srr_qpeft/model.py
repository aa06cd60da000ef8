# SPDX-License-Identifier: MIT
"""A Llama forward pass in PyTorch that computes what srr's src/model/forward.cpp computes on an exported
checkpoint: RMSNorm (x / sqrt(mean(x^2) + eps) * w), RoPE in HF's rotate_half layout (the export writes q/k
that way; angles pos * theta^(-2i/d) taken in float64), grouped-query attention with HF's kv-head mapping
(query head h reads kv head h // (heads / kv_heads)), causal softmax attention, SwiGLU (silu(gate) * up) and a
tied or separate lm_head. The seven linear layers of each block are modules that a LoRA can replace."""
import json
import math
import os

import torch
import torch.nn.functional as F

from . import QpeftInputError
from . import safetensors

LINEAR = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


class Config:
    def __init__(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                c = json.load(f)
            self.hidden = int(c["hidden_size"])
            self.intermediate = int(c["intermediate_size"])
            self.layers = int(c["num_hidden_layers"])
            self.heads = int(c["num_attention_heads"])
            self.kv_heads = int(c.get("num_key_value_heads", self.heads))
            self.vocab = int(c["vocab_size"])
            self.max_pos = int(c["max_position_embeddings"])
            self.eps = float(c.get("rms_norm_eps", 1e-6))
            self.theta = float(c.get("rope_theta", 10000.0))
            self.tied = bool(c.get("tie_word_embeddings", False))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise QpeftInputError(f"'{path}': not a Llama config.json ({e})") from None
        self.head_dim = self.hidden // self.heads
        if self.hidden % self.heads or self.heads % self.kv_heads or self.head_dim % 2:
            raise QpeftInputError(f"'{path}': hidden {self.hidden}, heads {self.heads}, kv heads {self.kv_heads} "
                                  "do not form a Llama attention")


class Linear(torch.nn.Module):
    """A frozen weight [out][in]; y = x W^T. QpeftLinear (lora.py) adds the low-rank term."""

    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", weight.float())

    def forward(self, x):
        return F.linear(x, self.weight)


class Llama(torch.nn.Module):
    def __init__(self, config, tensors):
        super().__init__()
        self.config = c = config

        def get(name, shape):
            t = tensors.get(name)
            if t is None:
                raise QpeftInputError(f"the checkpoint has no tensor '{name}'")
            if list(t.shape) != list(shape):
                raise QpeftInputError(f"tensor '{name}' has shape {list(t.shape)}, the config says {list(shape)}")
            return t.float()

        self.register_buffer("embed", get("model.embed_tokens.weight", (c.vocab, c.hidden))
                             if "model.embed_tokens.weight" in tensors else get("lm_head.weight", (c.vocab, c.hidden)))
        self.register_buffer("lm_head", self.embed if c.tied else get("lm_head.weight", (c.vocab, c.hidden)))
        self.register_buffer("final_norm", get("model.norm.weight", (c.hidden,)))
        kv = c.kv_heads * c.head_dim
        shapes = {"self_attn.q_proj": (c.hidden, c.hidden), "self_attn.k_proj": (kv, c.hidden),
                  "self_attn.v_proj": (kv, c.hidden), "self_attn.o_proj": (c.hidden, c.hidden),
                  "mlp.gate_proj": (c.intermediate, c.hidden), "mlp.up_proj": (c.intermediate, c.hidden),
                  "mlp.down_proj": (c.hidden, c.intermediate)}
        self.linears = torch.nn.ModuleDict()
        self.norms = []
        for layer in range(c.layers):
            p = f"model.layers.{layer}."
            for proj in LINEAR:
                self.linears[self.key(p + proj)] = Linear(get(p + proj + ".weight", shapes[proj]))
            self.register_buffer(f"attn_norm_{layer}", get(p + "input_layernorm.weight", (c.hidden,)))
            self.register_buffer(f"mlp_norm_{layer}", get(p + "post_attention_layernorm.weight", (c.hidden,)))
        half = c.head_dim // 2
        inv = torch.tensor([c.theta ** (-2.0 * i / c.head_dim) for i in range(half)], dtype=torch.float64)
        angles = torch.arange(c.max_pos, dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", torch.cat([angles.cos(), angles.cos()], dim=1).float())
        self.register_buffer("sin", torch.cat([angles.sin(), angles.sin()], dim=1).float())

    @staticmethod
    def key(module_name):
        """ModuleDict keys may not contain dots."""
        return module_name.replace(".", "__")

    def module_names(self):
        return [k.replace("__", ".") for k in self.linears.keys()]

    def linear(self, name):
        return self.linears[self.key(name)]

    def set_linear(self, name, module):
        self.linears[self.key(name)] = module

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.config.eps) * w

    def rope(self, x, T):  # x [B, heads, T, d]
        cos, sin = self.cos[:T], self.sin[:T]
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, ids):
        c = self.config
        B, T = ids.shape
        if T > c.max_pos:
            raise QpeftInputError(f"a window of {T} tokens exceeds max_position_embeddings {c.max_pos}")
        x = self.embed[ids]
        mask = torch.full((T, T), float("-inf")).triu(1)
        rep = c.heads // c.kv_heads
        for layer in range(c.layers):
            p = f"model.layers.{layer}."
            h = self.rms(x, getattr(self, f"attn_norm_{layer}"))
            q = self.linear(p + "self_attn.q_proj")(h).view(B, T, c.heads, c.head_dim).transpose(1, 2)
            k = self.linear(p + "self_attn.k_proj")(h).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
            v = self.linear(p + "self_attn.v_proj")(h).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
            q, k = self.rope(q, T), self.rope(k, T)
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            att = (q * (1.0 / math.sqrt(c.head_dim))) @ k.transpose(-1, -2) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, c.hidden)
            x = x + self.linear(p + "self_attn.o_proj")(o)
            h = self.rms(x, getattr(self, f"mlp_norm_{layer}"))
            g = self.linear(p + "mlp.gate_proj")(h)
            u = self.linear(p + "mlp.up_proj")(h)
            x = x + self.linear(p + "mlp.down_proj")(F.silu(g) * u)
        return F.linear(self.rms(x, self.final_norm), self.lm_head)


def load(model_dir):
    """An exported directory (config.json + model.safetensors) as a frozen Llama."""
    model_dir = str(model_dir)
    for f in ("config.json", "model.safetensors"):
        if not os.path.exists(os.path.join(model_dir, f)):
            raise QpeftInputError(f"'{model_dir}' is not an srr export: {f} is missing")
    config = Config(os.path.join(model_dir, "config.json"))
    tensors, _ = safetensors.read(os.path.join(model_dir, "model.safetensors"))
    model = Llama(config, tensors)
    model.requires_grad_(False)
    return model


def window_nll(model, windows):
    """Summed negative log-likelihood (float64) and token count of the stream windows: each window predicts
    its positions 1..end from the ones before, as srr eval's stream protocol."""
    total, count = 0.0, 0
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([w])
            logits = model(ids)[0, :-1].double()
            total += F.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            count += len(w) - 1
    return total, count
