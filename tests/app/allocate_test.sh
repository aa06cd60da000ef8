#!/usr/bin/env bash
# srr allocate on stories260K with a real calibration file: the plan names every linear layer once, fits the
# budget, is never worse than the best uniform setting within it, and bad input is refused with exit 2.
#   allocate_test.sh SRR MODEL CALIB
set -euo pipefail
SRR=$1 MODEL=$2 CALIB=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common=(--model "$MODEL" --calib "$CALIB" --scale qera-exact --bits-set 2,3,4 --rank-set 0,4,8)
mpiexec -n 2 "$SRR" allocate "${common[@]}" --budget 3.6 --out "$dir/plan.tsv" --json > "$dir/out.json"
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
print("plan ok:", s)
PY
expect_2() {  # expect_2 PATTERN ARGS...: exit code 2 and PATTERN in the message
  local pattern=$1
  shift
  set +e
  "$SRR" allocate "$@" > "$dir/err.txt" 2>&1
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || { echo "allocate $*: exit $rc, expected 2"; cat "$dir/err.txt"; exit 1; }
  grep -q -- "$pattern" "$dir/err.txt" || { echo "allocate $*: no '$pattern' in:"; cat "$dir/err.txt"; exit 1; }
}
expect_2 "no plan meets it" "${common[@]}" --budget 1.0 --out "$dir/p2.tsv"
expect_2 "outside 2..8" --model "$MODEL" --calib "$CALIB" --bits-set 2,9 --budget 4 --out "$dir/p3.tsv"
expect_2 "exists" "${common[@]}" --budget 3.6 --out "$dir/plan.tsv"
expect_2 "not a whole number" --model "$MODEL" --calib "$CALIB" --rank-set 4,x --budget 4 --out "$dir/p4.tsv"
echo "allocate ok"
