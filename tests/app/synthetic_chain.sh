#!/usr/bin/env bash
# srr synthetic → calibrate → quantize → eval → export, as a user rehearses a cluster job: a 70B-layout
# checkpoint (GQA 8:1 heads, untied head) at a narrow width, sharded with an index and its own tokenizer.
#   synthetic_chain.sh SRR TEXT
set -euo pipefail
SRR=$1 TEXT=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$SRR" synthetic --shape llama2-70b --layers 2 --hidden 256 --heads 16 --kv-heads 2 --intermediate 640 \
  --vocab 400 --max-shard-size 1MB --out ckpt --json > synth.json
grep -q '"model.safetensors.index.json"' synth.json
nshards=$(ls ckpt/model-*-of-*.safetensors | wc -l)
[[ $nshards -ge 3 ]] || { echo "expected >= 3 shards, got $nshards"; exit 1; }
mpiexec -n 2 "$SRR" calibrate --model ckpt --text "$TEXT" --max-chars 20000 --ctx 64 --windows 4 --out cal.h5
mpiexec -n 2 "$SRR" quantize --model ckpt --calib cal.h5 --out store.h5 --rank 8 --scale qera-exact
"$SRR" eval --model ckpt --text "$TEXT" --max-chars 20000 --ctx 64 --skip-windows 4 --windows 2 --store store.h5 \
  --json > eval.json
grep -q '"quantized"' eval.json
"$SRR" export --store store.h5 --model ckpt --out exported
"$SRR" eval --model exported --adapter exported --text "$TEXT" --max-chars 20000 --ctx 64 --skip-windows 4 \
  --windows 2 --json > eval_adapter.json
# The exported model with its adapter scores what the store scores.
python3 - eval.json eval_adapter.json <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["quantized"]["token_perplexity"]
b = json.load(open(sys.argv[2]))["quantized"]["token_perplexity"]
assert abs(a - b) <= 1e-4 * a, (a, b)
print("store", a, "export+adapter", b)
PY
# base_model_name_or_path names the export, never a path of this machine; --adapter-only names the source
# model (its directory), and --base-model-name wins over both.
"$SRR" export --store store.h5 --model ckpt --out adapter --adapter-only
"$SRR" export --store store.h5 --model ckpt --out named --adapter-only --base-model-name org/llama-narrow
python3 - <<'PY'
import json
base = lambda d: json.load(open(d + "/adapter_config.json"))["base_model_name_or_path"]
assert base("exported") == "exported", base("exported")
assert base("adapter") == "ckpt", base("adapter")
assert base("named") == "org/llama-narrow", base("named")
print("base_model_name_or_path:", base("exported"), base("adapter"), base("named"))
PY
# Refusals: an existing output, an unknown shape, a bad size.
for args in "--shape llama2-7b --out ckpt" "--shape llama2-8b --out x" "--shape llama2-7b --max-shard-size 5XB --out x"; do
  set +e
  "$SRR" synthetic $args 2> err.txt
  rc=$?
  set -e
  [[ $rc -eq 2 ]] || { echo "srr synthetic $args: exit $rc, expected 2"; cat err.txt; exit 1; }
done
echo "synthetic chain ok"
