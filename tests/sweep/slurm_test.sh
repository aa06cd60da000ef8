#!/usr/bin/env bash
# sweep.slurm: a real sweep through a real one-node Slurm cluster (toolchain.md §A.8).
#   1. start the cluster (scripts/slurm-local-up.sh; the test FAILS if Slurm cannot start)
#   2. plan and submit a 10-point grid on stories260K with slurm/submit-sweep.sh (prepare → array → collect)
#   3. wait, check that the collect job ran and the table is complete
#   4. drop every point's results, resubmit, scancel one array task in the middle of its quantize step,
#      check that the point is missing, resubmit, and check that the table is complete and identical to 3.
# Cleans up: cancels its jobs, stops the cluster if it started it, removes its files.
# Environment (set by ctest): SRR, SRR_DATA_DIR, SRR_SOURCE_DIR. Needs root, slurm-wlm and munge.
set -euo pipefail
: "${SRR:?}" "${SRR_DATA_DIR:?}" "${SRR_SOURCE_DIR:?}"
export SRR OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
START=$(date +%s)
W=$(mktemp -d "$PWD/slurm.XXXXXX")
GRID=$SRR_SOURCE_DIR/tests/sweep/grids/slurm.ini
R=(--results "$W/results")
JOBS=()
STARTED_CLUSTER=0
fail() { echo "sweep.slurm: FAIL: $*" >&2; exit 1; }
step() { echo "== [$(( $(date +%s) - START )) s] $*"; }
cleanup() {
  local rc=$?
  ((${#JOBS[@]})) && scancel "${JOBS[@]}" 2>/dev/null || true
  if ((STARTED_CLUSTER)); then bash "$SRR_SOURCE_DIR/scripts/slurm-local-down.sh" || true; fi
  if ((rc == 0)); then rm -rf "$W"; else echo "sweep.slurm: files kept in $W" >&2; fi
}
trap cleanup EXIT

# submit → sets PREPARE ARRAY COLLECT
submit() {
  local out
  out=$(cd "$SRR_SOURCE_DIR" && slurm/submit-sweep.sh "$GRID" "${R[@]}") || fail "submit-sweep.sh failed"
  echo "$out"
  PREPARE=$(awk '$1 == "prepare" {print $2}' <<<"$out")
  ARRAY=$(awk '$1 == "array" {print $2}' <<<"$out")
  COLLECT=$(awk '$1 == "collect" {print $2}' <<<"$out")
  [[ -n $PREPARE && -n $ARRAY && -n $COLLECT ]] || fail "submit-sweep.sh printed no job ids"
  JOBS+=("$PREPARE" "$ARRAY" "$COLLECT")
}
# waits until none of the given jobs is queued or running (at most $2 seconds)
wait_jobs() {
  local ids=$1 deadline=$(( $(date +%s) + $2 ))
  while squeue -h -j "$ids" 2>/dev/null | grep -q .; do
    (( $(date +%s) < deadline )) || { squeue -j "$ids" >&2; fail "jobs $ids still queued after $2 s"; }
    sleep 0.2
  done
}
job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2; }
manifest_id() { awk -F'\t' -v t="$1" '$1 == t {print $2}' "$W/results/slurm/manifest"; }

step "start the cluster"
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then STARTED_CLUSTER=1; fi
bash "$SRR_SOURCE_DIR/scripts/slurm-local-up.sh" || fail "Slurm could not be started (scripts/slurm-local-up.sh)"

step "submit the sweep"
submit
wait_jobs "$PREPARE,$ARRAY,$COLLECT" 180
[[ $(job_state "$COLLECT") == COMPLETED ]] || fail "collect job $COLLECT ended $(job_state "$COLLECT")"
size=$(( $(wc -l <"$W/results/slurm/manifest") - 1 ))
((size >= 8)) || fail "the grid has $size points, expected at least 8"
grep -q "$size points, $size done, 0 failed, 0 missing" "$W"/results/work/slurm/slurm-collect-"$COLLECT".out ||
  fail "the collect job did not find every point done"
[[ $(grep -c ',done,' "$W/results/slurm/summary.csv") == "$size" ]] || fail "summary.csv is not complete"
cp "$W/results/slurm/summary.csv" "$W/summary.first.csv"
for f in summary.md index.h5 plots/ppl_vs_rank.svg plots/win_rate_by_scale.svg plots/k_star_per_layer.svg; do
  [[ -s "$W/results/slurm/$f" ]] || fail "collect wrote no $f"
done
# every task ran as its own array task, each with its own output
[[ $(ls "$W"/results/work/slurm/slurm-"$ARRAY"_*.out | wc -l) == "$size" ]] || fail "not one output per array task"

step "drop the results, resubmit, kill one task in the middle of its quantize step"
KILL_TASK=$(( size - 1 ))
KILL_ID=$(manifest_id "$KILL_TASK")
rm -rf "$W/results/slurm/points" "$W/results/work/stores" "$W/results/work/logs"
submit
log=$W/results/work/logs/$KILL_ID.log
deadline=$(( $(date +%s) + 120 ))
until grep -q '^\[sweep\] quantize: ' "$log" 2>/dev/null; do
  (( $(date +%s) < deadline )) || fail "task $KILL_TASK never started its quantize step"
  sleep 0.05
done
scancel "${ARRAY}_${KILL_TASK}"
step "cancelled task ${ARRAY}_${KILL_TASK} (point $KILL_ID) during quantize"
wait_jobs "$ARRAY" 180
[[ ! -e "$W/results/slurm/points/$KILL_ID.h5" ]] || fail "the killed point has a result file"
# the array did not succeed, so collect can never start: its dependency is never satisfied
[[ $(job_state "$COLLECT") == PENDING ]] || fail "collect job $COLLECT is $(job_state "$COLLECT"), expected PENDING"
scancel "$COLLECT"
"$SRR" sweep collect "$GRID" "${R[@]}" | tee "$W/partial.txt"
grep -q "$(( size - 1 )) done, 0 failed, 1 missing" "$W/partial.txt" || fail "the killed point is not listed as missing"
grep -q "^$KILL_TASK,$KILL_ID,missing," "$W/results/slurm/summary.csv" || fail "summary.csv does not list it"
grep -q "| $KILL_TASK | $KILL_ID | missing |" "$W/results/slurm/summary.md" || fail "summary.md does not list it"

step "resubmit: finished points are skipped, the killed one resumes"
submit
wait_jobs "$PREPARE,$ARRAY,$COLLECT" 180
[[ $(job_state "$COLLECT") == COMPLETED ]] || fail "collect job $COLLECT ended $(job_state "$COLLECT")"
skipped=$(grep -l "done already, skipped" "$W"/results/work/slurm/slurm-"$ARRAY"_*.out | wc -l)
[[ $skipped == $(( size - 1 )) ]] || fail "$skipped tasks skipped on resubmission, expected $(( size - 1 ))"
cmp "$W/summary.first.csv" "$W/results/slurm/summary.csv" ||
  { diff "$W/summary.first.csv" "$W/results/slurm/summary.csv" >&2; fail "the table differs from the first run"; }
step "table complete and identical after kill and resubmission ($size points)"
echo "sweep.slurm: OK in $(( $(date +%s) - START )) s"
