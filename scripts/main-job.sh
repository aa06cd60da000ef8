#!/usr/bin/env bash
# The newcomer's main job: builds srr and quantizes one real layer of the stories260K checkpoint with QER
# and SRR under the four scales, printing one line per method (k*, errors).
#   bash scripts/main-job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DATA_DIR=${SRR_DATA_DIR:-$(cd .. && pwd)/shared/data}
MODEL="$DATA_DIR/stories260K/stories260K.bin"
[[ -f "$MODEL" ]] || { echo "main-job: $MODEL not found (set SRR_DATA_DIR)" >&2; exit 2; }
bash scripts/install-deps.sh >/dev/null
LOG="$BUILD_DIR.main-job.log"
{ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSRR_DATA_DIR="$DATA_DIR" &&
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target srr; } >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
SRR="$BUILD_DIR/src/app/srr"
LAYER=model.layers.2.mlp.down_proj
printf '%-12s %-6s %4s %12s %12s %12s\n' scale method k* err_W err_S err_act
for scale in identity lqer qera-approx qera-exact; do
  for method in qer srr; do
    "$SRR" layer --model "$MODEL" --layer "$LAYER" --method "$method" --scale "$scale" --rank 8 --bits 3 \
      --block 32 --log-level warning --json |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; s=sys.argv[1:]; print("%-12s %-6s %4d %12.5f %12.5f %12.6f" % (s[0], s[1], r["k_star"], r["rel_error"], r["rel_error_scaled"], r["rel_error_act"]))' "$scale" "$method"
  done
done
