#!/usr/bin/env bash
# srr quantize --plan on stories260K with a real calibration file:
#  * a plan giving every layer the same setting makes the same layers, bit for bit, as the uniform options;
#  * a plan varying bits, rank (0 included) and k rule: every layer has its own bits and rank in the store,
#    eval --store scores it as eval --quantize --plan does, on 1 and 2 ranks;
#  * export writes PEFT rank_pattern/alpha_pattern, and eval --adapter of the export scores it as the store;
#  * a resume with another plan, or with uniform options, is refused (exit 2) listing the differing layers;
#    a resume with the same plan finds every layer done;
#  * a bad plan is refused by quantize before any store exists.
#   quantize_plan_test.sh SRR STORE_TOOL MODEL CALIB TEXT   (CALIB made from TEXT with --max-chars 60000 --ctx 128 --windows 6)
set -euo pipefail
SRR=$1 TOOL=$2 MODEL=$3 CALIB=$4 TEXT=$5
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
settings=(--model "$MODEL" --calib "$CALIB" --method srr --scale qera-exact --block 16)
method=("${settings[@]}" --log-level warning)

# Plans by hand: stories260K has 5 decoder layers; k_proj and v_proj are 64→32, so ranks stay below 32.
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
names = [f"model.layers.{l}.{p}" for l in range(5) for p in
         ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
def write(name, rows, k_rule=False):
    with open(f"{d}/{name}.tsv", "w") as f:
        f.write("# written by quantize_plan_test.sh\n")
        f.write("layer\tbits\trank" + ("\tk_rule" if k_rule else "") + "\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
write("same", [(n, 3, 8) for n in names])
write("varied", [(n, 2 + i % 3, (0, 4, 8, 16)[i % 4]) for i, n in enumerate(names)])
write("other", [(n, 2 + i % 3, (0, 4, 8, 16)[i % 4] if i != 9 else 12, "criterion" if i != 20 else "oracle")
                for i, n in enumerate(names)], k_rule=True)
PY

# 1. Every layer the same: identical layers to the uniform run (the header differs: it records the plan).
"$SRR" quantize "${method[@]}" --bits 3 --rank 8 --out "$dir/uniform.h5"
mpiexec -n 2 "$SRR" quantize "${method[@]}" --plan "$dir/same.tsv" --out "$dir/same.h5"
"$TOOL" diff "$dir/uniform.h5" "$dir/same.h5" --layers-only

# 2. A varied plan on 3 ranks (two workers), evaluated from the store and on the spot.
mpiexec -n 3 "$SRR" quantize "${method[@]}" --plan "$dir/varied.tsv" --out "$dir/varied.h5"
ppl() { python3 -c 'import json, sys; print(json.load(sys.stdin)["quantized"]["token_perplexity"])'; }
text=(--text "$TEXT" --max-chars 60000 --ctx 128 --skip-windows 6 --windows 8 --skip-fp32 --json)
p_store=$(mpiexec -n 2 "$SRR" eval --model "$MODEL" "${text[@]}" --log-level warning --store "$dir/varied.h5" | ppl)
p_quant=$("$SRR" eval "${text[@]}" "${method[@]}" --quantize --plan "$dir/varied.tsv" | ppl)
[[ "$p_store" == "$p_quant" ]] || { echo "eval --store $p_store, eval --quantize --plan $p_quant"; exit 1; }
echo "varied plan: perplexity $p_store (store, 2 ranks) = $p_quant (quantize --plan, 1 rank)"

# 3. Export: rank_pattern and alpha_pattern; the adapter scores as the store (srr convention: bit for bit).
"$SRR" export --store "$dir/varied.h5" --model "$MODEL" --out "$dir/export" --json > /dev/null
"$SRR" export --store "$dir/varied.h5" --model "$MODEL" --out "$dir/release" --peft-convention release \
  --adapter-only --json > /dev/null
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
names = [f"model.layers.{l}.{p}" for l in range(5) for p in
         ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
ranks = {n: (0, 4, 8, 16)[i % 4] for i, n in enumerate(names)}
for sub, factor in (("export", 1), ("release", 2)):
    cfg = json.load(open(f"{d}/{sub}/adapter_config.json"))
    assert cfg["r"] == 16 and cfg["lora_alpha"] == 16 * factor, cfg
    want = {n.split(".", 1)[1]: r for n, r in ranks.items() if r not in (0, 16)}
    assert cfg["rank_pattern"] == want, cfg["rank_pattern"]
    assert cfg["alpha_pattern"] == {k: r * factor for k, r in want.items()}, cfg["alpha_pattern"]
    assert cfg["target_modules"] == [n for n in names if ranks[n] > 0], cfg["target_modules"]
    meta = json.load(open(f"{d}/{sub}/qpeft.json"))
    for n in names:
        if ranks[n] > 0:
            assert meta["layers"][n]["r"] == ranks[n] and len(meta["layers"][n]["s_vals"]) == ranks[n], (n, meta["layers"][n])
print("export: rank_pattern, alpha_pattern and target_modules as planned")
PY
# The exported model (Q, in HF's RoPE layout) with either adapter scores what the store scores.
for adapter in export release; do
  p_adapter=$("$SRR" eval --model "$dir/export" "${text[@]}" --log-level warning --adapter "$dir/$adapter" | ppl)
  python3 -c "import sys; a, b = $p_adapter, $p_store; sys.exit(0 if abs(a - b) <= 1e-4 * b else 1)" ||
    { echo "eval --adapter ($adapter) $p_adapter, eval --store $p_store"; exit 1; }
  echo "export ($adapter): eval --adapter $p_adapter, eval --store $p_store"
done

# 4. Resumes: the same plan finds everything done; another plan or uniform options are refused, listing layers.
mpiexec -n 2 "$SRR" quantize "${settings[@]}" --plan "$dir/varied.tsv" --out "$dir/varied.h5" --log-level info 2>&1 |
  grep -q "plan: 35 layers, 35 already done" || { echo "a resume with the same plan did not find every layer done"; exit 1; }
refused() {  # refused WHAT ARGS...: exit 2, and every line in $dir/want.txt in the message
  local what=$1
  shift
  set +e
  "$SRR" quantize "$@" > "$dir/err.txt" 2>&1
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || { echo "$what: exit $rc, expected 2"; cat "$dir/err.txt"; exit 1; }
  while IFS= read -r line; do
    grep -qF -- "$line" "$dir/err.txt" || { echo "$what: no '$line' in:"; cat "$dir/err.txt"; exit 1; }
  done < "$dir/want.txt"
}
cat > "$dir/want.txt" <<'EOF'
config.plan: the store has the plan with SHA-256
layer model.layers.1.self_attn.v_proj: the store has 2 bits, rank 4; this run has 2 bits, rank 12
EOF
refused "another plan" "${method[@]}" --plan "$dir/other.tsv" --out "$dir/varied.h5"
[[ $(grep -c "^  layer " "$dir/err.txt") -eq 1 ]] || { echo "another plan: not exactly one layer listed"; cat "$dir/err.txt"; exit 1; }
cat > "$dir/want.txt" <<'EOF'
this run has "(absent)"
layer model.layers.0.self_attn.q_proj: the store has 2 bits, rank 0; this run has 3 bits, rank 8
EOF
refused "uniform options" "${method[@]}" --bits 3 --rank 8 --out "$dir/varied.h5"
# model.layers.4.mlp.down_proj has 3 bits, rank 8 in both: it must not be listed.
! grep -q "layer model.layers.4.mlp.down_proj:" "$dir/err.txt" || { echo "uniform options: an equal layer listed"; exit 1; }
cat > "$dir/want.txt" <<'EOF'
layer model.layers.0.self_attn.q_proj: the store has 3 bits, rank 8; this run has 2 bits, rank 0
EOF
refused "a plan on a uniform store" "${method[@]}" --plan "$dir/varied.tsv" --out "$dir/uniform.h5"
"$TOOL" done "$dir/varied.h5" | grep -qx "35 35"

# 5. A bad plan: refused by quantize before a store exists, naming file, line and layer.
sed '5s/\t8$/\t32/' "$dir/varied.tsv" > "$dir/bad.tsv"
printf '%s\n' "bad.tsv:5: layer model.layers.0.self_attn.v_proj: rank 32" > "$dir/want.txt"
grep -q "v_proj	4	32" "$dir/bad.tsv" || { echo "test bug: bad.tsv line 5 is not v_proj with rank 32"; exit 1; }
refused "a bad plan" "${method[@]}" --plan "$dir/bad.tsv" --out "$dir/bad.h5"
[[ ! -e "$dir/bad.h5" ]] || { echo "a bad plan left a store"; exit 1; }
echo "quantize --plan ok"
