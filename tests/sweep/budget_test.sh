#!/usr/bin/env bash
# sweep.budget: a sweep with a budget axis on stories260K, through `srr sweep` as users run it: every budget
# point allocates (its plan kept under work/plans), quantizes with --plan (the store records the plan) and
# evaluates; collect puts its bits per weight, within its budget, beside the uniform point's, and draws
# perplexity against bits per weight.
# Environment (set by ctest): SRR, SRR_DATA_DIR, SRR_SOURCE_DIR.
set -euo pipefail
: "${SRR:?}" "${SRR_DATA_DIR:?}" "${SRR_SOURCE_DIR:?}"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
W=$(mktemp -d "$PWD/budget.XXXXXX")
trap 'rm -rf "$W"' EXIT
GRID=$SRR_SOURCE_DIR/tests/sweep/grids/budget.ini
R=(--results "$W/results")
fail() { echo "sweep.budget: FAIL: $*" >&2; exit 1; }

"$SRR" sweep plan "$GRID" "${R[@]}" | tee "$W/plan.txt"
grep -q "array size 3 " "$W/plan.txt" || fail "expected 3 points (2 budgets, 1 uniform)"
for t in 0 1 2; do "$SRR" sweep run "$GRID" --task "$t" "${R[@]}" >"$W/run.$t.txt" 2>&1 || { cat "$W/run.$t.txt"; fail "task $t"; }; done
"$SRR" sweep collect "$GRID" "${R[@]}" --strict | tee "$W/collect.txt"
grep -q "3 done, 0 failed, 0 missing" "$W/collect.txt" || fail "incomplete collection"
[[ -s "$W/results/budget/plots/ppl_vs_bits_per_weight.svg" ]] || fail "no perplexity-vs-bits plot"
[[ $(ls "$W/results/work/plans" | wc -l) == 2 ]] || fail "expected one plan per budget point"
python3 - "$W/results/budget/summary.md" <<'PY'
import sys
# summary.md's table of every setting: | budget | points | perplexity | layer error (act) | mean k* | bits/weight |
lines = open(sys.argv[1]).read().splitlines()
head = lines.index("| budget | points | perplexity | layer error (act) | mean k* | bits/weight |")
rows = [l.strip("|").split("|") for l in lines[head + 2:] if l.startswith("|")]
bpw = {r[0].strip().replace("–", "uniform"): float(r[5]) for r in rows}
assert set(bpw) == {"3.0", "4.0", "uniform"}, bpw
for b in ("3.0", "4.0"):
    assert 2.0 < bpw[b] <= float(b), (b, bpw[b])
assert bpw["3.0"] < bpw["4.0"] < bpw["uniform"], bpw
print("bits per weight:", bpw)
PY
# The stores of the budget points record their plans: a rerun of quantize with uniform options is refused.
for plan in "$W"/results/work/plans/*.tsv; do
  id=$(basename "$plan" .tsv)
  grep -q "^layer	bits	rank" "$plan" || fail "$plan is not a plan file"
  set +e
  "$SRR" quantize --model "$SRR_DATA_DIR/stories260K/stories260K.bin" --out "$W/results/work/stores/$id.h5" \
    --method srr --scale identity --bits 3 --rank 4 > "$W/refused.txt" 2>&1
  rc=$?
  set -e
  [[ $rc == 2 ]] && grep -q "config.plan: the store has the plan with SHA-256" "$W/refused.txt" ||
    { cat "$W/refused.txt"; fail "store $id does not record its plan"; }
done
echo "sweep.budget ok"
