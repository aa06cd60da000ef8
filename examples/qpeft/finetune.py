#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QPEFT fine-tuning from an srr export (docs/qpeft.md): Q frozen, the LoRA factors trained with the SRR
release's gradient scaling of the k* preserved components, causal-LM loss on stream windows of a text.
Writes a PEFT adapter that `srr eval --adapter` scores, so training and scoring are independent.

  finetune.py --model EXPORT --text FILE --max-chars N --ctx 256 --train-skip-windows 48 --steps 200 \\
              --grad-scaling hooks --out TRAINED
  finetune.py --model EXPORT --text FILE --max-chars N --ctx 256 --eval-skip-windows 16 --eval-windows 32 \\
              --perplexity-only          # this forward's perplexity of EXPORT + its adapter, as srr eval computes it

Bad input (a missing or foreign file, an adapter of another model or rank, an export without QPEFT
metadata, a bad option) is one line on stderr and exit code 2."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from srr_qpeft import QpeftInputError  # noqa: E402
from srr_qpeft import adapter as peft  # noqa: E402
from srr_qpeft import lora, model as llama, tokenizer  # noqa: E402


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise QpeftInputError(message)


def parse(argv):
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an srr export directory (model.safetensors, config.json, qpeft.json)")
    p.add_argument("--adapter", help="the PEFT adapter + qpeft.json to start from (default: --model)")
    p.add_argument("--text", required=True)
    p.add_argument("--max-chars", type=int, default=400000, help="the first N bytes as one token stream, as srr")
    p.add_argument("--ctx", type=int, default=256, help="window length in tokens, BOS included")
    p.add_argument("--train-skip-windows", type=int, default=48)
    p.add_argument("--train-windows", type=int, default=-1, help="-1: every full window after the skipped ones")
    p.add_argument("--eval-skip-windows", type=int, default=16)
    p.add_argument("--eval-windows", type=int, default=0, help="windows for this forward's own perplexity (0: none)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--lora-dropout", type=float, default=0.0, help="dropout on the input of the trained part only")
    p.add_argument("--grad-scaling", choices=["none", "hooks", "lr"], default="hooks",
                   help="hooks: the release's gradient hooks; lr: per-component learning-rate multiplier; none")
    p.add_argument("--alpha-rule", choices=["constant", "sigma"], default="constant",
                   help="a_i = --freeze-alpha for i < k* (the release's AdamW rule), or the sigma rule with --beta")
    p.add_argument("--freeze-alpha", type=float, default=0.1)
    p.add_argument("--beta", type=float, default=5.0)
    p.add_argument("--qlora-rank", type=int, default=0,
                   help="for a weight-only export (r = 0): QLoRA-style LoRA of this rank, A random, B = 0, alpha 2r")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="directory to create for the trained adapter")
    p.add_argument("--perplexity-only", action="store_true")
    p.add_argument("--json", action="store_true", help="one-line JSON summary on stdout")
    a = p.parse_args(argv)
    for name in ("max_chars", "ctx", "batch"):
        if getattr(a, name) <= 0:
            raise QpeftInputError(f"--{name.replace('_', '-')} must be positive")
    if a.steps < 0 or a.lr <= 0 or not 0 <= a.lora_dropout < 1 or not 0 <= a.freeze_alpha <= 1:
        raise QpeftInputError("--steps must be >= 0, --lr > 0, --lora-dropout in [0, 1), --freeze-alpha in [0, 1]")
    if not a.perplexity_only and not a.out:
        raise QpeftInputError("--out is required (the directory for the trained adapter)")
    return a


def build(args):
    """The model with QpeftLinear layers from the export's adapter (or a fresh QLoRA one), and the metadata."""
    model = llama.load(args.model)
    adapter_dir = args.adapter or args.model
    meta = peft.read_metadata(adapter_dir)
    if meta["r"] == 0:
        if args.qlora_rank <= 0 and not args.perplexity_only:
            raise QpeftInputError(f"'{adapter_dir}' is a weight-only export (r = 0): give --qlora-rank for a "
                                  "QLoRA-style LoRA (A random, B = 0)")
        r = args.qlora_rank
        gen = torch.Generator().manual_seed(args.seed)
        factors = {}
        for name in model.module_names():
            W = model.linear(name).weight
            factors[name] = (lora.kaiming_uniform_A(r, W.shape[1], gen), torch.zeros(W.shape[0], r), 2.0)
        alpha = 2 * r
        meta = dict(meta, r=r, lora_alpha=alpha, init="qlora",
                    layers={n: {"freeze_rank": 0, "s_vals": []} for n in model.module_names()})
    else:
        if args.qlora_rank:
            raise QpeftInputError(f"--qlora-rank is for weight-only exports; '{adapter_dir}' has an adapter of "
                                  f"rank {meta['r']}")
        factors = peft.read_adapter(adapter_dir, model, meta)
        r, alpha = meta["r"], meta["lora_alpha"]
    # a layer without factors (rank 0 in a plan) stays Q, frozen
    for name, (A, B, scaling) in factors.items():
        W = model.linear(name).weight
        k = meta["layers"][name]["freeze_rank"]
        model.set_linear(name, lora.QpeftLinear(W, A, B, scaling, k, args.lora_dropout))
    return model, meta, r, alpha


def alphas_of(layer_meta, args):
    k = layer_meta["freeze_rank"]
    if args.alpha_rule == "sigma":
        return lora.sigma_alphas(k, layer_meta["s_vals"], args.beta, args.freeze_alpha)
    return lora.constant_alphas(k, args.freeze_alpha)


def windows_of(args, skip, count):
    tok = tokenizer.load(args.model, llama.Config(os.path.join(args.model, "config.json")).vocab)
    stream = tok.encode(tokenizer.read_text(args.text, args.max_chars))
    return tokenizer.stream_windows(stream, args.ctx, tok.bos, skip, count)


def perplexity(model, windows):
    model.eval()
    nll, n = llama.window_nll(model, windows)
    return {"nll_sum": nll, "tokens": n, "token_perplexity": float(torch.tensor(nll / n).exp())}


def adapted(model):
    """{name: QpeftLinear} of the layers that carry a LoRA (all, unless a plan gave some rank 0)."""
    return {n: model.linear(n) for n in model.module_names() if isinstance(model.linear(n), lora.QpeftLinear)}


def train(model, meta, args):
    modules = adapted(model)
    groups = []
    for name, m in modules.items():
        a = alphas_of(meta["layers"][name], args)
        if args.grad_scaling == "hooks":
            m.add_gradient_hooks(a)
        groups += m.param_groups(args.lr, a if args.grad_scaling == "lr" else None)
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lora.cosine_schedule(s, args.steps, args.warmup))
    windows = [w for w in windows_of(args, args.train_skip_windows, args.train_windows) if len(w) == args.ctx]
    if len(windows) < args.batch:
        raise QpeftInputError(f"only {len(windows)} full training windows; give more --max-chars or fewer --batch")
    data = torch.tensor(windows)
    gen = torch.Generator().manual_seed(args.seed + 1)
    order, cursor, losses = torch.randperm(len(data), generator=gen), 0, []
    model.train()
    for step in range(args.steps):
        if cursor + args.batch > len(order):
            order, cursor = torch.randperm(len(data), generator=gen), 0
        batch = data[order[cursor:cursor + args.batch]]
        cursor += args.batch
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, len(windows)


def main(argv):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.time()
    model, meta, r, alpha = build(args)
    report = {"command": "finetune", "model": args.model, "adapter": args.adapter or args.model, "r": r,
              "lora_alpha": alpha, "init": meta.get("init", meta.get("method"))}
    eval_windows = windows_of(args, args.eval_skip_windows, args.eval_windows) if args.eval_windows else None
    if args.perplexity_only:
        report["quantized"] = perplexity(model, eval_windows or windows_of(args, args.eval_skip_windows, -1))
        print(json.dumps(report) if args.json else json.dumps(report, indent=2))
        return 0
    if eval_windows:
        report["before"] = perplexity(model, eval_windows)
    losses, n_windows = train(model, meta, args)
    if eval_windows:
        report["after"] = perplexity(model, eval_windows)
    settings = {k: getattr(args, k) for k in ("text", "max_chars", "ctx", "train_skip_windows", "train_windows",
                                              "steps", "batch", "lr", "warmup", "weight_decay", "lora_dropout",
                                              "grad_scaling", "alpha_rule", "freeze_alpha", "beta", "seed")}
    training = dict(settings, model=os.path.abspath(args.model), optimizer="AdamW", schedule="cosine with warmup",
                    train_windows_used=n_windows, loss_first=losses[0] if losses else None,
                    loss_last=losses[-1] if losses else None)
    layers = {}
    for name, m in adapted(model).items():
        A, B = m.lora_factors()
        layers[name] = (A.detach(), B.detach(), m.scaling)
    peft.write_adapter(args.out, layers, r, alpha, meta, training)
    k = max(1, len(losses) // 10)
    report.update(out=args.out, steps=len(losses), train_windows=n_windows, seconds=time.time() - start,
                  loss_first=sum(losses[:k]) / k if losses else None, loss_last=sum(losses[-k:]) / k if losses else None,
                  loss_curve=losses[::max(1, len(losses) // 20)])
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except QpeftInputError as e:
        print(f"finetune.py: error: {e}", file=sys.stderr)
        sys.exit(2)
