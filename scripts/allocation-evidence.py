#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Evidence for `srr allocate` on a real checkpoint: perplexity against average bits per weight, allocated
plans (a curve) against every uniform setting (points), over scales and seeds.

    scripts/allocation-evidence.py SRR CHECKPOINT OUTDIR [--work DIR]
        SRR         the srr binary
        CHECKPOINT  stories260k | ts656k (model under $SRR_DATA_DIR, default ../shared/data)
        OUTDIR      e.g. results/stories260k-alloc: points.tsv, summary.md, perplexity-vs-bits.svg, plans/

Protocol (the same as the committed sweeps' text, windows of 256 tokens of the TinyStories validation head):
  * seed s in 0, 1, 2 varies (a) the calibration slice, windows [16s, 16s + 16), which is also the text the
    layer sensitivities are measured on, and (b) SRR's probe seed (42, 1234, 4321);
  * evaluation: windows 48-79, disjoint from every calibration slice;
  * per scale (identity, qera-exact) and seed: every uniform setting bits x rank (SRR, criterion k rule;
    rank 0 is weight-only) and, per budget, the plan of `srr allocate` (loss weighting, the default) and
    for comparison the plan of the unweighted objective (--weighting none);
  * every plan, a uniform setting's too (a plan giving every layer the same bits and rank), is run as users
    run it: `srr quantize --plan` into a store, then `srr eval --store`.
Each plan's predicted objectives are recomputed from its plan file with the sensitivities of the seed's
full allocation, so all plans of one seed are scored by the same model: the correlation of predicted and
measured NLL increase across plans is what docs/allocation.md reports.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHECKPOINTS = {
    # Budgets sit at the memory of uniform settings (a hair above, so that the uniform plan fits): at each
    # budget the allocated plan meets a uniform setting of the same memory. stories260K: 3-bit w-only
    # (3.2571), 2-bit rank 4 (3.8898), 4-bit w-only (4.2571), 3-bit rank 4 (4.8898).
    "stories260k": {"model": "stories260K/stories260K.bin", "budgets": [3.2571, 3.8899, 4.2571, 4.8899],
                    "bits": [2, 3, 4], "ranks": [0, 4, 8]},
    # TinyStories-656K: 2-bit rank 4 (3.0417), 3-bit w-only (3.25), 3-bit rank 4 (4.0417), 4-bit w-only (4.25).
    "ts656k": {"model": "tinystories-656k", "budgets": [3.0418, 3.2501, 4.0418, 4.2501],
               "bits": [2, 3, 4], "ranks": [0, 4, 8, 16]},
}
SCALES = ["identity", "qera-exact"]
SEEDS = [(0, 42), (1, 1234), (2, 4321)]
TEXT = "tinystories/tinystories_val_head.txt"
SLICE = ["--max-chars", "100000", "--ctx", "256"]
EVAL = ["--skip-windows", "48", "--windows", "32"]


def run(cmd, log):
    log.write("$ " + " ".join(str(c) for c in cmd) + "\n")
    log.flush()
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    log.write(out.stderr)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(str(c) for c in cmd)}\n{out.stderr}")
    return out.stdout


def read_plan(path):
    """(comments, rows) of a plan file; rows as dicts keyed by the header."""
    comments, header, rows = [], None, []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif header is None:
            header = line.split("\t")
        else:
            rows.append(dict(zip(header, line.split("\t"))))
    return comments, rows


def mean_std(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(m, s, digits=4):
    return f"{m:.{digits}g} ± {s:.2g}" if math.isfinite(m) else "–"


def pearson(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def spearman(xs, ys):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for pos, i in enumerate(order):
            r[i] = float(pos)
        return r
    return pearson(ranks(xs), ranks(ys))


def svg_plot(title, series, points, path):
    """series: {name: [(x, y, err)]} drawn as lines; points: {name: [(x, y, err)]} drawn as markers only."""
    W, H, L, R, T, B = 760, 460, 70, 250, 40, 50
    allxy = [(x, y) for s in list(series.values()) + list(points.values()) for x, y, _ in s if math.isfinite(y)]
    xs = [x for x, _ in allxy]
    ys = [math.log10(y) for _, y in allxy]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = min(ys) - 0.05, max(ys) + 0.05
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    sy = lambda y: T + (1 - (math.log10(y) - y0) / (y1 - y0)) * (H - T - B)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - R / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">average bits per linear weight (Q, exponents, bf16 factors)</text>',
           f'<text transform="translate(16,{(T + H - B) / 2}) rotate(-90)" text-anchor="middle">perplexity (log scale)</text>']
    tick = math.floor(x0 * 2) / 2
    while tick <= x1:
        if tick >= x0:
            out.append(f'<line x1="{sx(tick):.1f}" y1="{H - B}" x2="{sx(tick):.1f}" y2="{H - B + 5}" stroke="black"/>')
            out.append(f'<text x="{sx(tick):.1f}" y="{H - B + 18}" text-anchor="middle">{tick:g}</text>')
        tick += 0.5
    for e in range(math.floor(y0), math.ceil(y1) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if y0 <= math.log10(v) <= y1:
                out.append(f'<line x1="{L - 5}" y1="{sy(v):.1f}" x2="{W - R}" y2="{sy(v):.1f}" stroke="#ddd"/>')
                out.append(f'<text x="{L - 8}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    legend_y = T
    for i, (name, pts) in enumerate(list(series.items()) + list(points.items())):
        line = name in series
        colour = colours[i % len(colours)]
        pts = [p for p in pts if math.isfinite(p[1])]
        out.append(f'<g class="series" data-name="{name}" data-points="{len(pts)}" data-style="{"line" if line else "points"}">')
        if line and len(pts) > 1:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, err in pts:
            if err and err > 0:
                lo, hi = max(y - err, 10 ** y0), y + err
                out.append(f'<line x1="{sx(x):.1f}" y1="{sy(lo):.1f}" x2="{sx(x):.1f}" y2="{sy(hi):.1f}" stroke="{colour}"/>')
            if line:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{colour}"/>')
            else:
                out.append(f'<rect x="{sx(x) - 4:.1f}" y="{sy(y) - 4:.1f}" width="8" height="8" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        out.append("</g>")
        out.append(f'<line x1="{W - R + 15}" y1="{legend_y + 6}" x2="{W - R + 35}" y2="{legend_y + 6}" stroke="{colour}" stroke-width="{2 if line else 0}"/>')
        if not line:
            out.append(f'<rect x="{W - R + 21}" y="{legend_y + 2}" width="8" height="8" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        out.append(f'<text x="{W - R + 40}" y="{legend_y + 10}">{name}</text>')
        legend_y += 18
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("srr")
    ap.add_argument("checkpoint", choices=sorted(CHECKPOINTS))
    ap.add_argument("outdir")
    ap.add_argument("--work", default=None, help="scratch directory (default: OUTDIR/../work/<checkpoint>-alloc)")
    a = ap.parse_args()
    cfg = CHECKPOINTS[a.checkpoint]
    data = Path(os.environ.get("SRR_DATA_DIR", "../shared/data"))
    model, text = data / cfg["model"], data / TEXT
    out = Path(a.outdir)
    work = Path(a.work) if a.work else out.parent / "work" / f"{a.checkpoint}-alloc"
    (out / "plans").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    log = open(work / "log.txt", "a")
    srr = a.srr
    bits_all = ",".join(map(str, cfg["bits"]))
    ranks_all = ",".join(map(str, cfg["ranks"]))

    def evaluate(plan, calib, scale, seed, fp32=False):
        # The real path: srr quantize --plan into a store (resumed, not redone, when it exists), then srr eval --store.
        store = Path(plan).with_suffix(".h5")
        run([srr, "quantize", "--model", model, "--calib", calib, "--scale", scale, "--seed", seed, "--plan", plan,
             "--out", store, "--log-level", "warning"], log)
        j = json.loads(run([srr, "eval", "--model", model, "--text", text, *SLICE, *EVAL, "--store", store, "--json",
                            "--log-level", "warning"] + ([] if fp32 else ["--skip-fp32"]), log))
        return j["quantized"]["token_perplexity"], (j["fp32"]["token_perplexity"] if fp32 else None)

    def allocate(path, calib, calib_args, scale, seed, budget, bits, ranks, weighting="loss"):
        if not path.exists():
            run([srr, "allocate", "--model", model, "--calib", calib, "--text", text, *calib_args, "--scale", scale,
                 "--seed", seed, "--bits-set", bits, "--rank-set", ranks, "--budget", budget, "--weighting", weighting,
                 "--out", path, "--log-level", "warning"], log)
        return read_plan(path)

    rows = []  # one per evaluated plan
    fp32 = None
    for scale in SCALES:
        for s, seed in SEEDS:
            calib_args = [*SLICE, "--skip-windows", str(16 * s), "--windows", "16"]
            calib = work / f"calib-{s}.h5"
            if not calib.exists():
                run([srr, "calibrate", "--model", model, "--text", text, *calib_args, "--out", calib, "--log-level",
                     "warning"], log)
            tag = f"{scale}-s{s}"
            plans = []  # (kind, budget, bits, rank, path)
            for b in cfg["budgets"]:
                plans.append(("allocated", b, None, None, work / f"{tag}-b{b}.tsv", "loss", bits_all, ranks_all))
                plans.append(("unweighted", b, None, None, work / f"{tag}-b{b}-none.tsv", "none", bits_all, ranks_all))
            for bits in cfg["bits"]:
                for r in cfg["ranks"]:
                    plans.append(("uniform", None, bits, r, work / f"{tag}-u{bits}r{r}.tsv", "none", str(bits), str(r)))
            sensitivity = None
            for kind, b, bits, r, path, weighting, bset, rset in plans:
                comments, layers = allocate(path, calib, calib_args, scale, str(seed), str(b if b else 64), bset, rset,
                                            weighting)
                if kind == "allocated" and sensitivity is None:
                    sensitivity = {l["layer"]: float(l["sensitivity"]) for l in layers}
                ppl, f = evaluate(path, calib, scale, str(seed), fp32 is None)
                fp32 = fp32 or f
                used = next(c for c in comments if c.startswith("# budget")).split()[-1]
                rows.append({"scale": scale, "seed": s, "kind": kind, "budget": b, "bits": bits, "rank": r,
                             "bits_per_weight": float(used), "perplexity": ppl,
                             "objective_none": sum(float(l["act_error"]) for l in layers),
                             "objective_loss": sum(sensitivity[l["layer"]] * float(l["act_error"]) for l in layers),
                             "bits_of_layers": {l["layer"]: (int(l["bits"]), int(l["rank"])) for l in layers}})
                if kind == "allocated" and s == 0:
                    (out / "plans" / f"{scale}-budget{b}.tsv").write_text(Path(path).read_text())
                print(f"{tag} {kind} budget={b} bits={bits} rank={r}: {float(used):.4f} bits/weight, perplexity {ppl:.4f}",
                      flush=True)

    cols = ["scale", "seed", "kind", "budget", "bits", "rank", "bits_per_weight", "perplexity", "objective_none",
            "objective_loss"]
    lines = ["\t".join(cols)] + ["\t".join("-" if r[c] is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]))
                                           for c in cols) for r in rows]
    (out / "points.tsv").write_text("\n".join(lines) + "\n")

    md = [f"# Allocated plans against uniform settings, {a.checkpoint}", "",
          f"FP32 perplexity {fp32:.4f}. Evaluation: windows 48–79 (256 tokens) of the TinyStories validation head; "
          "seed s calibrates on windows 16s…16s+15 and sets SRR's probe seed; mean ± std over 3 seeds. "
          f"SRR (criterion k), MXINT B32, bits {{{bits_all}}}, ranks {{{ranks_all}}} (rank 0 = weight-only). "
          "Every plan (uniform settings too, as one-line-per-layer plans) is quantized with `srr quantize --plan` "
          "and scored with `srr eval --store`. Generated by `scripts/allocation-evidence.py` (see README.md beside "
          "this file).", ""]
    for scale in SCALES:
        md += [f"## Scale {scale}", "", "| budget | allocated: bits/weight | allocated: perplexity | unweighted objective: "
               "perplexity | best uniform ≤ budget | its perplexity | best uniform above the budget (≤ +0.5 bits/weight) | "
               "its perplexity | allocated wins (vs ≤ budget / vs above) |", "|---|---|---|---|---|---|---|---|---|"]
        uni = {}
        for r in rows:
            if r["scale"] == scale and r["kind"] == "uniform":
                uni.setdefault((r["bits"], r["rank"]), []).append(r)
        uni_stats = {k: (mean_std([x["bits_per_weight"] for x in v])[0], *mean_std([x["perplexity"] for x in v]))
                     for k, v in uni.items()}
        for b in cfg["budgets"]:
            al = [r for r in rows if r["scale"] == scale and r["kind"] == "allocated" and r["budget"] == b]
            un = [r for r in rows if r["scale"] == scale and r["kind"] == "unweighted" and r["budget"] == b]
            bpw, _ = mean_std([r["bits_per_weight"] for r in al])
            pm, ps = mean_std([r["perplexity"] for r in al])
            um, us = mean_std([r["perplexity"] for r in un])
            below = [(k, v) for k, v in uni_stats.items() if v[0] <= b + 1e-9]
            above = [(k, v) for k, v in uni_stats.items() if v[0] >= b - 1e-9]
            best_below = min(below, key=lambda kv: kv[1][1]) if below else None
            # "same or larger memory": among uniform settings with at least the budget's memory, the best one
            # within 0.5 bits/weight above it (the next point up the uniform frontier).
            near_above = [kv for kv in above if kv[1][0] <= b + 0.5]
            best_above = min(near_above, key=lambda kv: kv[1][1]) if near_above else None
            name = lambda kv: f"{kv[0][0]}-bit rank {kv[0][1]} ({kv[1][0]:.3f})" if kv else "–"
            wins = []
            if best_below:
                wins.append("yes" if pm < best_below[1][1] else "no")
            if best_above:
                wins.append("yes" if pm < best_above[1][1] else "no")
            md.append(f"| {b} | {bpw:.3f} | {fmt(pm, ps)} | {fmt(um, us)} | {name(best_below)} | "
                      f"{fmt(best_below[1][1], best_below[1][2]) if best_below else '–'} | {name(best_above)} | "
                      f"{fmt(best_above[1][1], best_above[1][2]) if best_above else '–'} | {' / '.join(wins)} |")
        md += ["", "Uniform settings (mean over seeds):", "", "| bits | rank | bits/weight | perplexity |",
               "|---|---|---|---|"]
        for (bits, r), (bpw, pm, ps) in sorted(uni_stats.items(), key=lambda kv: kv[1][0]):
            md.append(f"| {bits} | {r} | {bpw:.3f} | {fmt(pm, ps)} |")
        md += [""]
    # Objective against measured NLL increase across every plan of each (scale, seed).
    md += ["## Does the objective predict perplexity?", "",
           "Across every plan of one scale and seed (uniform settings, allocated and unweighted plans), the "
           "correlation of each objective with the measured increase of the mean token NLL, ln(ppl / ppl_fp32). "
           "Mean over seeds.", "", "| scale | plans | Pearson, loss-weighted (nats) | Spearman, loss-weighted | "
           "Spearman, unweighted Σ tr(ΔᵀR_xxΔ) | mean predicted / measured, loss-weighted |", "|---|---|---|---|---|---|"]
    for scale in SCALES:
        pe, sl, sn, ratio, count = [], [], [], [], 0
        for s, _ in SEEDS:
            sel = [r for r in rows if r["scale"] == scale and r["seed"] == s]
            meas = [math.log(r["perplexity"] / fp32) for r in sel]
            pe.append(pearson([r["objective_loss"] for r in sel], meas))
            sl.append(spearman([r["objective_loss"] for r in sel], meas))
            sn.append(spearman([r["objective_none"] for r in sel], meas))
            ratio.append(statistics.mean(r["objective_loss"] / m for r, m in zip(sel, meas) if m > 0))
            count = len(sel)
        md.append(f"| {scale} | {count} | {fmt(*mean_std(pe), 3)} | {fmt(*mean_std(sl), 3)} | {fmt(*mean_std(sn), 3)} "
                  f"| {fmt(*mean_std(ratio), 3)} |")
    md += ["", "## Where the budget went (seed 0, allocated plans)", "",
           "Bits and rank per projection type, as (bits, rank) counts over the decoder layers; the full plans are "
           "in plans/.", ""]
    for scale in SCALES:
        for b in cfg["budgets"]:
            r = next(x for x in rows if x["scale"] == scale and x["kind"] == "allocated" and x["budget"] == b
                     and x["seed"] == 0)
            by_type = {}
            for layer, (bits, rank) in r["bits_of_layers"].items():
                t = layer.split(".")[-1]
                by_type.setdefault(t, {}).setdefault((bits, rank), 0)
                by_type[t][(bits, rank)] += 1
            cells = "; ".join(f"{t}: " + ", ".join(f"{n}×({bb},{rr})" for (bb, rr), n in sorted(v.items()))
                              for t, v in by_type.items())
            md.append(f"- {scale}, budget {b}: {cells}")
    (out / "summary.md").write_text("\n".join(md) + "\n")

    for scale in SCALES:
        series, points = {}, {}
        for kind, label in (("allocated", "allocated (loss-weighted)"), ("unweighted", "allocated (unweighted)")):
            pts = []
            for b in cfg["budgets"]:
                sel = [r for r in rows if r["scale"] == scale and r["kind"] == kind and r["budget"] == b]
                pts.append((mean_std([r["bits_per_weight"] for r in sel])[0], *mean_std([r["perplexity"] for r in sel])))
            series[label] = pts
        for r in cfg["ranks"]:
            pts = []
            for bits in cfg["bits"]:
                sel = [x for x in rows if x["scale"] == scale and x["kind"] == "uniform" and x["bits"] == bits
                       and x["rank"] == r]
                pts.append((mean_std([x["bits_per_weight"] for x in sel])[0], *mean_std([x["perplexity"] for x in sel])))
            points[f"uniform rank {r}" if r else "uniform w-only"] = pts
        svg_plot(f"{a.checkpoint}, {scale}: perplexity vs memory (FP32 {fp32:.3g})", series, points,
                 out / f"perplexity-vs-bits-{scale}.svg")
    print(f"wrote {out}/summary.md, points.tsv, perplexity-vs-bits-*.svg, plans/")


if __name__ == "__main__":
    main()
