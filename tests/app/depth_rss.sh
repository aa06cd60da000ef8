#!/usr/bin/env bash
# Memory independent of depth (issue 12): the peak RSS of `srr calibrate` and of `srr eval` on 2 and on 8
# decoder layers of one small synthetic shape must differ by less than one decoder layer's float32 weights.
# Whole-model residency (every layer loaded at once) adds six layers' worth on 8 layers and fails this.
#
#   depth_rss.sh SRR TEXT WORKDIR
set -uo pipefail
srr=$1 text=$2 dir=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
hidden=512 intermediate=1536
# One layer: q, k, v, o (hidden²) and gate, up, down (hidden·intermediate) in float32, plus two norms.
layer=$(( 4 * (4 * hidden * hidden + 3 * hidden * intermediate + 2 * hidden) ))
peak() { sed -n 's/.*"peak_rss_per_rank":\[\([0-9]*\).*/\1/p' "$1"; }
for layers in 2 8; do
  "$srr" synthetic --shape llama2-7b --hidden $hidden --heads 8 --kv-heads 8 --intermediate $intermediate \
    --vocab 1000 --layers $layers --out "$dir/m$layers" >/dev/null || fail "srr synthetic ($layers layers)"
  "$srr" calibrate --model "$dir/m$layers" --text "$text" --max-chars 20000 --ctx 256 --windows 8 \
    --out "$dir/c$layers.h5" --json >"$dir/calibrate$layers.json" 2>"$dir/calibrate$layers.log" \
    || { cat "$dir/calibrate$layers.log"; fail "srr calibrate ($layers layers)"; }
  "$srr" eval --model "$dir/m$layers" --text "$text" --max-chars 20000 --ctx 256 --windows 8 --json \
    >"$dir/eval$layers.json" 2>"$dir/eval$layers.log" || { cat "$dir/eval$layers.log"; fail "srr eval ($layers layers)"; }
done
status=0
for cmd in calibrate eval; do
  p2=$(peak "$dir/${cmd}2.json") p8=$(peak "$dir/${cmd}8.json")
  [ -n "$p2" ] && [ -n "$p8" ] || fail "$cmd printed no peak_rss_per_rank"
  diff=$(( p8 > p2 ? p8 - p2 : p2 - p8 ))
  echo "$cmd: peak RSS $p2 bytes on 2 layers, $p8 on 8: differ by $diff, one layer is $layer"
  [ "$diff" -lt "$layer" ] || { echo "FAIL: $cmd's peak grows with depth" >&2; status=1; }
done
[ $status -eq 0 ] && rm -rf "$dir"
exit $status
