#!/usr/bin/env bash
# srr allocate on stories260K with a real calibration file: the plan names every linear layer once, fits the
# budget, is never worse than the best uniform setting within it; srr eval --quantize --plan reads it back on
# 1 and 2 ranks to the same perplexity; bad input (to allocate, and a bad plan to eval) is refused with exit 2.
#   allocate_test.sh SRR MODEL CALIB TEXT   (CALIB made from TEXT with --max-chars 60000 --ctx 128 --windows 6)
set -euo pipefail
SRR=$1 MODEL=$2 CALIB=$3 TEXT=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
calib_text=(--text "$TEXT" --max-chars 60000 --ctx 128 --windows 6)
common=(--model "$MODEL" --calib "$CALIB" --scale qera-exact --bits-set 2,3,4 --rank-set 0,4,8)
mpiexec -n 2 "$SRR" allocate "${common[@]}" "${calib_text[@]}" --budget 3.6 --out "$dir/plan.tsv" --json > "$dir/out.json"
python3 - "$dir/plan.tsv" "$dir/out.json" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if not l.startswith("#")]
header, rows = lines[0].split(), [l.rstrip("\n").split("\t") for l in lines[1:]]
assert header[:3] == ["layer", "bits", "rank"], header
names = [r[0] for r in rows]
assert len(names) == 35 and len(set(names)) == 35, len(names)
assert all(r[1] in ("2", "3", "4") and r[2] in ("0", "4", "8") for r in rows)
s = json.load(open(sys.argv[2]))
assert s["used_bits_per_weight"] <= 3.6 + 1e-12, s
assert s["lower_bound"] <= s["objective"] * (1 + 1e-12), s
if s["uniform_objective"] is not None:
    assert s["objective"] <= s["uniform_objective"], s
assert s["weighting"] == "loss", s
print("plan ok:", s)
PY
# The same allocation on one rank: the same plan, byte for byte (the sensitivities and errors do not depend
# on how the layers and windows are spread).
"$SRR" allocate "${common[@]}" "${calib_text[@]}" --budget 3.6 --out "$dir/plan1.tsv" --log-level warning
cmp "$dir/plan.tsv" "$dir/plan1.tsv"
eval_plan() {  # eval_plan NP PLAN: the quantized perplexity of the plan on a slice disjoint from calibration
  mpiexec -n "$1" "$SRR" eval --model "$MODEL" --text "$TEXT" --max-chars 60000 --ctx 128 --skip-windows 6 \
    --windows 8 --quantize --plan "$2" --calib "$CALIB" --scale qera-exact --skip-fp32 --json --log-level warning |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["quantized"]["token_perplexity"])'
}
p1=$(eval_plan 1 "$dir/plan.tsv") p2=$(eval_plan 2 "$dir/plan.tsv")
[[ "$p1" == "$p2" ]] || { echo "eval --plan: perplexity $p1 on 1 rank, $p2 on 2"; exit 1; }
echo "eval --plan: perplexity $p1 on 1 and 2 ranks"
expect_2() {  # expect_2 PATTERN ARGS...: exit code 2 and PATTERN in the message (ARGS start with the command)
  local pattern=$1
  shift
  set +e
  "$SRR" "$@" > "$dir/err.txt" 2>&1
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || { echo "$*: exit $rc, expected 2"; cat "$dir/err.txt"; exit 1; }
  [[ $(grep -c . "$dir/err.txt") -eq 1 ]] || { echo "$*: more than one line:"; cat "$dir/err.txt"; exit 1; }
  grep -q -- "$pattern" "$dir/err.txt" || { echo "$*: no '$pattern' in:"; cat "$dir/err.txt"; exit 1; }
}
expect_2 "the cheapest options of --bits-set and --rank-set need 2.25706 bits per weight" \
  allocate "${common[@]}" "${calib_text[@]}" --budget 1.0 --out "$dir/p2.tsv"
expect_2 "outside 2..8" allocate --model "$MODEL" --calib "$CALIB" --bits-set 2,9 --budget 4 --out "$dir/p3.tsv"
expect_2 "exists" allocate "${common[@]}" --budget 3.6 --out "$dir/plan.tsv"
expect_2 "not a whole number" allocate --model "$MODEL" --calib "$CALIB" --rank-set 4,x --budget 4 --out "$dir/p4.tsv"
expect_2 "give --text" allocate "${common[@]}" --budget 3.6 --out "$dir/p5.tsv"
expect_2 "--weighting must be none or loss" allocate "${common[@]}" --weighting some --budget 3.6 --out "$dir/p6.tsv"
# A bad plan given to eval --plan: named with its file and line (the header is line 8 of an allocate plan with a uniform reference).
bad() {  # bad NAME SED-EXPRESSION: a copy of the plan, edited
  sed "$2" "$dir/plan.tsv" > "$dir/$1.tsv"
  echo "$dir/$1.tsv"
}
eval_bad=(eval --model "$MODEL" --text "$TEXT" --max-chars 60000 --ctx 128 --windows 2 --skip-fp32 --quantize
          --calib "$CALIB" --scale qera-exact --plan)
expect_2 "unknown.tsv:9: layer model.layers.7.self_attn.q_proj is not a linear layer" \
  "${eval_bad[@]}" "$(bad unknown '9s/^model.layers.0/model.layers.7/')"
expect_2 "missing.tsv: layer model.layers.4.mlp.down_proj of the checkpoint is missing" \
  "${eval_bad[@]}" "$(bad missing '$d')"
expect_2 "rank.tsv:10: layer model.layers.0.self_attn.k_proj: rank 32 must be smaller than min(in, out) = 32" \
  "${eval_bad[@]}" "$(bad rank '10s/^\([^\t]*\t[0-9]*\t\)[0-9]*/\132/')"
expect_2 "bits.tsv:11: layer model.layers.0.self_attn.v_proj: bits 9 is outside 2..8" \
  "${eval_bad[@]}" "$(bad bits '11s/^\([^\t]*\t\)[0-9]*/\19/')"
expect_2 "malformed.tsv:12: bits 'three' is not a whole number" \
  "${eval_bad[@]}" "$(bad malformed '12s/^\([^\t]*\t\)[0-9]*/\1three/')"
expect_2 "short.tsv:13: 3 fields, the header has 10" "${eval_bad[@]}" "$(bad short '13s/^\([^\t]*\t[^\t]*\t[^\t]*\).*/\1/')"
echo "allocate ok"
