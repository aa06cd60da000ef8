#!/usr/bin/env bash
# Per-layer compute times of a `srr quantize` run, from its log (the master's "[i/N] name shape ... T s"
# lines), as "layer-name seconds" lines for `bench_schedule --layer-times`.
#   scripts/layer-times.sh quantize.log > times.tsv
set -euo pipefail
[[ $# == 1 && -f $1 ]] || { echo "usage: scripts/layer-times.sh QUANTIZE_LOG" >&2; exit 2; }
sed -n 's/.*\] \[[0-9]*\/[0-9]*\] \([^ ]*\) .* \([0-9.]*\) s  eta.*/\1 \2/p; s/.*\] \[[0-9]*\/[0-9]*\] \([^ ]*\) .* \([0-9.]*\) s  (rank.*/\1 \2/p' "$1"
