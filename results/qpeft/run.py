#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The QPEFT evidence grid (docs/qpeft.md, results/qpeft/README.md): every command it runs is here and is
logged to commands.log. Per model × bits × rank × seed: srr quantize (w-only, LoftQ, QERA-exact QER, QERA-exact
SRR), srr export --peft-convention release, examples/qpeft/finetune.py with one training budget for every
row, and srr eval of the adapter before and after training on held-out windows.

Text slices (one token stream: the first MAX_CHARS bytes of tinystories_val_head.txt, windows of CTX tokens):
  calibration windows 0-31, evaluation windows 32-95, training windows 96-end. Disjoint by construction.

  SRR_DATA_DIR=... SRR_EXE=build/src/app/srr python3 results/qpeft/run.py [--ranks 8] [--jobs 2] [--work DIR]
Finished points are kept in WORK/points/*.json, so a rerun only does what is missing."""
import argparse
import concurrent.futures as cf
import csv
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(ROOT, "examples", "qpeft", "finetune.py")

MAX_CHARS, CTX = 200000, 128
CALIB_WINDOWS, EVAL_SKIP, EVAL_WINDOWS, TRAIN_SKIP = 32, 32, 64, 96
TRAIN = dict(steps=100, batch=4, lr=2e-3, warmup=10)
SEEDS = (42, 1234, 4321)
BITS = ((2, 16), (3, 32))  # (bits, MXINT block): 2-bit B16 as the release's 2.50-bit setting, 3-bit B32
# rank 8 everywhere, and "the equivalent of 64": 64 of RoBERTa-base's 768 hidden (the release's 2.50-bit
# GLUE rank) as the same fraction of each model's hidden size.
MODELS = {
    "stories260K": dict(path="stories260K/stories260K.bin", hidden=64),
    "ts656k": dict(path="tinystories-656k", hidden=128),
}
ROWS = [  # (row, store method, client options)
    ("QLoRA (w-only Q, B = 0)", "w-only", []),
    ("LoftQ init", "loftq", ["--grad-scaling", "none"]),
    ("QERA-exact QER init", "qer", ["--grad-scaling", "none"]),
    ("SRR init, no scaling", "srr", ["--grad-scaling", "none"]),
    ("SRR init + hooks (a=0.1)", "srr", ["--grad-scaling", "hooks"]),
    ("SRR init + lr multiplier (a=0.1)", "srr", ["--grad-scaling", "lr"]),
]

LOG_LOCK = threading.Lock()


def run(cmd, log):
    with LOG_LOCK:
        with open(log, "a") as f:
            f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{p.stderr}")
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return json.loads(last) if last.startswith("{") else None  # srr quantize prints no JSON


def ensure(path, make):
    if not os.path.exists(path):
        make()
    return path


def ppl(srr, model_dir, adapter, text, log):
    cmd = [srr, "eval", "--model", model_dir, *text, "--skip-windows", str(EVAL_SKIP), "--windows", str(EVAL_WINDOWS),
           "--json"]
    if adapter:
        return run(cmd + ["--adapter", adapter, "--skip-fp32"], log)["quantized"]["token_perplexity"]
    return run(cmd, log)["fp32"]["token_perplexity"]


def point(a, model, bits, block, rank, seed, row, method, opts):
    """One row of one (model, bits, rank, seed): quantize+export (shared by rows), train, score."""
    w, log, srr = a.work, os.path.join(a.work, "commands.log"), a.srr
    mpath = os.path.join(a.data, MODELS[model]["path"])
    text = ["--text", os.path.join(a.data, "tinystories", "tinystories_val_head.txt"), "--max-chars", str(MAX_CHARS),
            "--ctx", str(CTX)]
    key = f"{model}-b{bits}-r{rank}-s{seed}-{ROWS.index((row, method, opts))}"
    out_json = os.path.join(w, "points", key + ".json")
    if os.path.exists(out_json):
        with open(out_json) as f:
            return json.load(f)
    calib = os.path.join(w, f"{model}.calib.h5")
    tag = f"{model}-b{bits}-{method}" + ("" if method == "w-only" else f"-r{rank}-s{seed}")
    store, export = os.path.join(w, "stores", tag + ".h5"), os.path.join(w, "exports", tag)
    with STORE_LOCKS.setdefault(tag, threading.Lock()):
        if not os.path.exists(export):
            scale = {"w-only": "identity", "loftq": "identity"}.get(method, "qera-exact")
            q = [srr, "quantize", "--model", mpath, "--out", store, "--method", method, "--scale", scale, "--bits",
                 str(bits), "--block", str(block), "--rank", str(rank), "--seed", str(seed)]
            if scale == "qera-exact":
                q += ["--calib", calib]
            if method == "loftq":
                q += ["--iters", "5"]  # the release's LoftQ: 5 alternations
            if not os.path.exists(store):
                run(q, log)
            run([srr, "export", "--store", store, "--model", mpath, "--out", export, "--peft-convention", "release",
                 "--json"], log)
    trained = os.path.join(w, "trained", key)
    if os.path.exists(trained):
        subprocess.run(["rm", "-rf", trained], check=True)
    extra = ["--qlora-rank", str(rank)] if method == "w-only" else []
    rep = run([a.python, CLIENT, "--model", export, *text, "--train-skip-windows", str(TRAIN_SKIP),
               "--steps", str(TRAIN["steps"]), "--batch", str(TRAIN["batch"]), "--lr", str(TRAIN["lr"]),
               "--warmup", str(TRAIN["warmup"]), "--seed", str(seed), "--threads", "1", "--out", trained, "--json",
               *extra, *opts], log)
    before = ppl(srr, export, None if method == "w-only" else export, text, log)
    after = ppl(srr, export, trained, text, log)
    with open(os.path.join(export, "qpeft.json")) as f:
        ks = [v["freeze_rank"] for v in json.load(f)["layers"].values()]
    res = dict(model=model, bits=bits, block=block, rank=rank, seed=seed, row=row, method=method, before=before,
               after=after, loss_first=rep["loss_first"], loss_last=rep["loss_last"], train_seconds=rep["seconds"],
               train_windows=rep["train_windows"], mean_k_star=sum(ks) / len(ks))
    os.makedirs(os.path.dirname(out_json), exist_ok=True)
    with open(out_json + ".tmp", "w") as f:
        json.dump(res, f)
    os.replace(out_json + ".tmp", out_json)
    subprocess.run(["rm", "-rf", trained], check=True)
    print(f"{key}: {row}: ppl {before:.3f} -> {after:.3f} ({rep['seconds']:.1f} s)", flush=True)
    return res


STORE_LOCKS = {}


def ranks_of(model, which):
    eq64 = max(1, round(64 / 768 * MODELS[model]["hidden"]))
    return [r for r in {"8": [8], "eq64": [eq64], "both": sorted({8, eq64})}[which]]


def fp32_reference(a, model):
    """The unquantized checkpoint's perplexity on the evaluation windows (cached in WORK)."""
    path = os.path.join(a.work, f"{model}.fp32.json")
    if not os.path.exists(path):
        text = ["--text", os.path.join(a.data, "tinystories", "tinystories_val_head.txt"), "--max-chars",
                str(MAX_CHARS), "--ctx", str(CTX)]
        value = ppl(a.srr, os.path.join(a.data, MODELS[model]["path"]), None, text,
                    os.path.join(a.work, "commands.log"))
        with open(path, "w") as f:
            json.dump({"token_perplexity": value}, f)
    with open(path) as f:
        return json.load(f)["token_perplexity"]


def tables(points, out_dir, fp32):
    rows = [r for r, _, _ in ROWS]
    groups = {}
    for p in points:
        groups.setdefault((p["model"], p["bits"], p["block"], p["rank"]), {}).setdefault(p["row"], []).append(p)
    fields = ["model", "bits", "block", "rank", "row", "seeds", "ppl_before_mean", "ppl_before_std", "ppl_after_mean",
              "ppl_after_std", "loss_first_mean", "loss_last_mean", "mean_k_star", "train_seconds_mean"]
    lines, csv_rows = [], []
    for (model, bits, block, rank), by_row in sorted(groups.items()):
        if len(by_row) < len(rows) or any(len(v) < len(SEEDS) for v in by_row.values()):
            print(f"incomplete, left out of the tables: {model} {bits}-bit rank {rank}", file=sys.stderr)
            continue
        lines += [f"\n### {model}, MXINT {bits}-bit B{block} ({bits + 8 / block:.2f} bits/weight), rank {rank} "
                  f"(FP32 model: PPL {fp32[model]:.3f})\n",
                  "| init | seeds | PPL before | PPL after | loss first → last | mean k* |", "|---|---|---|---|---|---|"]
        best = min(statistics.mean(p["after"] for p in v) for v in by_row.values())
        for row in rows:
            v = by_row.get(row, [])
            if not v:
                continue
            m = lambda key: statistics.mean(p[key] for p in v)  # noqa: E731
            s = lambda key: statistics.stdev(p[key] for p in v) if len(v) > 1 else 0.0  # noqa: E731
            after = f"{m('after'):.3f} ± {s('after'):.3f}"
            if math.isclose(m("after"), best):
                after = f"**{after}**"
            lines.append(f"| {row} | {len(v)} | {m('before'):.3f} ± {s('before'):.3f} | {after} | "
                         f"{m('loss_first'):.3f} → {m('loss_last'):.3f} | {m('mean_k_star'):.2f} |")
            csv_rows.append(dict(model=model, bits=bits, block=block, rank=rank, row=row, seeds=len(v),
                                 ppl_before_mean=m("before"), ppl_before_std=s("before"), ppl_after_mean=m("after"),
                                 ppl_after_std=s("after"), loss_first_mean=m("loss_first"),
                                 loss_last_mean=m("loss_last"), mean_k_star=m("mean_k_star"),
                                 train_seconds_mean=m("train_seconds")))
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields)
        wr.writeheader()
        wr.writerows(csv_rows)
    with open(os.path.join(out_dir, "points.csv"), "w", newline="") as f:
        keys = ["model", "bits", "block", "rank", "seed", "row", "method", "before", "after", "loss_first",
                "loss_last", "mean_k_star", "train_windows", "train_seconds"]
        wr = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        wr.writeheader()
        wr.writerows(sorted(points, key=lambda p: (p["model"], p["bits"], p["rank"], p["row"], p["seed"])))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("# QPEFT evidence: token perplexity on held-out TinyStories windows, before and after fine-tuning\n")
        f.write(f"\nsrr eval stream protocol, windows {EVAL_SKIP}-{EVAL_SKIP + EVAL_WINDOWS - 1} of {CTX} tokens "
                f"(first {MAX_CHARS} bytes); mean ± std over seeds {', '.join(map(str, SEEDS))}; training "
                f"{TRAIN['steps']} AdamW steps × {TRAIN['batch']} windows, lr {TRAIN['lr']}, cosine, warmup "
                f"{TRAIN['warmup']}, lora_alpha = 2r. Bold: lowest PPL after fine-tuning in its block.\n")
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("SRR_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))
    p.add_argument("--srr", default=os.environ.get("SRR_EXE", os.path.join(ROOT, "build", "src", "app", "srr")))
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--work", default=os.path.join(ROOT, "build", "qpeft-grid"))
    p.add_argument("--ranks", choices=["8", "eq64", "both"], default="8")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--bits", default="2,3", help="which of the bit settings to run (2 = B16, 3 = B32)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--tables-only", action="store_true")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for d in ("stores", "exports", "trained", "points"):
        os.makedirs(os.path.join(a.work, d), exist_ok=True)
    log = os.path.join(a.work, "commands.log")
    todo = []
    for model in a.models.split(","):
        mpath = os.path.join(a.data, MODELS[model]["path"])
        calib = os.path.join(a.work, f"{model}.calib.h5")
        if not a.tables_only:
            ensure(calib, lambda: run([a.srr, "calibrate", "--model", mpath, "--text",
                                       os.path.join(a.data, "tinystories", "tinystories_val_head.txt"),
                                       "--max-chars", str(MAX_CHARS), "--ctx", str(CTX), "--windows",
                                       str(CALIB_WINDOWS), "--out", calib, "--json"], log))
        for bits, block in BITS:
            if str(bits) not in a.bits.split(","):
                continue
            for rank in ranks_of(model, a.ranks):
                for seed in SEEDS:
                    for row, method, opts in ROWS:
                        todo.append((model, bits, block, rank, seed, row, method, opts))
    if not a.tables_only:
        with cf.ThreadPoolExecutor(a.jobs) as ex:
            for fut in [ex.submit(point, a, *t) for t in todo]:
                fut.result()
    points = []  # every finished point, of this run and of earlier ones (e.g. another --ranks)
    for f in sorted(os.listdir(os.path.join(a.work, "points"))):
        if f.endswith(".json"):
            with open(os.path.join(a.work, "points", f)) as fh:
                points.append(json.load(fh))
    tables(points, HERE, {m: fp32_reference(a, m) for m in sorted({p["model"] for p in points})})
    return 0


if __name__ == "__main__":
    sys.exit(main())
