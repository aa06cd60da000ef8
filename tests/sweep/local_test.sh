#!/usr/bin/env bash
# sweep.local: a real sweep on stories260K without Slurm, through `srr sweep` as users run it.
#   plan → run every task → collect (complete); replanning is byte-identical; a done point is skipped;
#   a rerun of a point whose quantize step is still running (its store locked) waits for it; stopped
#   (SIGTERM) while waiting it exits 143 and the point is missing; once the step ends the rerun finishes the
#   point and the table comes out identical;
#   a failing point is recorded as failed, listed by collect, and --strict exits 3.
# Environment (set by ctest): SRR, SRR_DATA_DIR, SRR_SOURCE_DIR.
set -euo pipefail
: "${SRR:?}" "${SRR_DATA_DIR:?}" "${SRR_SOURCE_DIR:?}"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
W=$(mktemp -d "$PWD/local.XXXXXX")
trap 'rm -rf "$W"' EXIT
GRID=$SRR_SOURCE_DIR/tests/sweep/grids/tiny.ini
R=(--results "$W/results")
fail() { echo "sweep.local: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step plan
"$SRR" sweep plan "$GRID" "${R[@]}" | tee "$W/plan.txt"
grep -q "array size 3 " "$W/plan.txt" || fail "expected 3 points"
cp "$W/results/tiny/manifest" "$W/manifest.1"
"$SRR" sweep plan "$GRID" "${R[@]}" >/dev/null
cmp "$W/manifest.1" "$W/results/tiny/manifest" || fail "replanning changed the manifest"

step run every task
for t in 0 1 2; do "$SRR" sweep run "$GRID" --task "$t" "${R[@]}" >"$W/run.$t.txt" || fail "task $t"; done
"$SRR" sweep collect "$GRID" "${R[@]}" --strict | tee "$W/collect.txt"
grep -q "3 done, 0 failed, 0 missing" "$W/collect.txt" || fail "incomplete collection"
cp "$W/results/tiny/summary.csv" "$W/summary.1"
[[ $(grep -c ',done,' "$W/summary.1") == 3 ]] || fail "summary.csv lacks done rows"
for f in summary.md index.h5 plots/ppl_vs_rank.svg plots/k_star_per_layer.svg plots/win_rate_by_scale.svg; do
  [[ -s "$W/results/tiny/$f" ]] || fail "no $f"
done
grep -q "srr" "$W/results/tiny/summary.md" || fail "summary.md has no SRR row"
! grep -q "$W" "$W/results/tiny/summary.md" "$W/results/tiny/summary.csv" || fail "absolute paths in the summary"

step a done point is skipped
"$SRR" sweep run "$GRID" --task 2 "${R[@]}" | grep -q "done already, skipped" || fail "task 2 not skipped"
"$SRR" sweep plan "$GRID" "${R[@]}" | grep -q "3 already done" || fail "plan does not count done points"

step "a rerun waits for a point's step still running; stopped while waiting, the point is missing, not failed"
# A stand-in for a quantize step left running by a driver killed outright: a process holding the store's
# run lock (as `srr quantize` does) until told to let go. Every wait below is a handshake (a FIFO, or a line
# the driver prints), never a guess at how long something takes.
id=$(awk -F'\t' '$1 == 2 {print $2}' "$W/results/tiny/manifest")
store=$W/results/work/stores/$id.h5
rm "$W/results/tiny/points/$id.h5" "$store"
mkfifo "$W/held" "$W/release"
flock "$store.lock" bash -c 'echo held >"$0"; read -r _ <"$1"' "$W/held" "$W/release" &
holder=$!
read -r _ <"$W/held"
wait_for_line() {  # wait_for_line FILE PATTERN PID: until the driver PID prints PATTERN
  until grep -q "$2" "$1"; do kill -0 "$3" 2>/dev/null || { cat "$1"; fail "driver ended before: $2"; }; sleep 0.02; done
}
waiting="still running from an earlier driver"
"$SRR" sweep run "$GRID" --task 2 "${R[@]}" >"$W/stopped.txt" 2>&1 &
pid=$!
wait_for_line "$W/stopped.txt" "$waiting" "$pid"
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
[[ $rc == 143 ]] || fail "sweep run stopped by SIGTERM exited $rc, expected 143"
[[ ! -e "$W/results/tiny/points/$id.h5" ]] || fail "a point stopped before its quantize step has a result file"
"$SRR" sweep collect "$GRID" "${R[@]}" | grep -q "2 done, 0 failed, 1 missing" || fail "stopped point not missing"
grep -q ",missing," "$W/results/tiny/summary.csv" || fail "summary.csv does not list the missing point"
grep -q "| missing |" "$W/results/tiny/summary.md" || fail "summary.md does not list the missing point"
set +e; "$SRR" sweep collect "$GRID" "${R[@]}" --strict >/dev/null; rc=$?; set -e
[[ $rc == 3 ]] || fail "collect --strict exited $rc on an incomplete sweep, expected 3"
# A rerun while the old step still holds the store waits for it, then runs the point to the same table.
"$SRR" sweep run "$GRID" --task 2 "${R[@]}" >"$W/resumed.txt" 2>&1 &
pid=$!
wait_for_line "$W/resumed.txt" "$waiting" "$pid"
echo go >"$W/release"
wait "$holder"
wait "$pid" || { cat "$W/resumed.txt"; fail "the rerun that waited failed"; }
"$SRR" sweep collect "$GRID" "${R[@]}" --strict >/dev/null || fail "incomplete after resuming"
cmp "$W/summary.1" "$W/results/tiny/summary.csv" || { diff "$W/summary.1" "$W/results/tiny/summary.csv"; fail "resumed table differs"; }

step a failing point is recorded and listed
FGRID=$SRR_SOURCE_DIR/tests/sweep/grids/tiny-fail.ini
"$SRR" sweep plan "$FGRID" "${R[@]}" >/dev/null
set +e; "$SRR" sweep run "$FGRID" --all "${R[@]}" >"$W/fail.txt" 2>&1; rc=$?; set -e
[[ $rc == 1 ]] || { cat "$W/fail.txt"; fail "run --all exited $rc with a failing point, expected 1"; }
"$SRR" sweep collect "$FGRID" "${R[@]}" | grep -q "1 done, 1 failed, 0 missing" || fail "failure not collected"
grep -q "| failed | .*rank 100 must be smaller" "$W/results/tiny-fail/summary.md" ||
  { cat "$W/results/tiny-fail/summary.md"; fail "summary.md does not say why the point failed"; }
echo "sweep.local: OK"
