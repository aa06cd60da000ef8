#!/usr/bin/env bash
# The newcomer's main job: builds srr and runs a small real sweep through the sweep driver (`srr sweep`):
# the four scales (identity, LQER, QERA-approx, QERA-exact) × {QER, SRR} at rank 8, 3-bit MXINT, on the
# stories260K checkpoint, with FP32 and weight-only rows (jobs/main-job.ini), then prints the collected
# table. About a minute on two cores.
#   bash scripts/main-job.sh                          # the points run one after the other here
#   SRR_MAIN_JOB_SLURM=1 bash scripts/main-job.sh     # the same as Slurm jobs on a local one-node cluster (root)
# Environment: SRR_DATA_DIR (default ../shared/data; scripts/fetch-data.sh fills it), BUILD_DIR (default build).
# Output goes to $BUILD_DIR/main-job/ (the committed copy is results/main-job/).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export SRR_DATA_DIR=${SRR_DATA_DIR:-$(cd .. && pwd)/shared/data}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
for f in stories260K/stories260K.bin stories260K/tok512.bin tinystories/tinystories_val_head.txt; do
  [[ -f "$SRR_DATA_DIR/$f" ]] || {
    echo "main-job: $SRR_DATA_DIR/$f not found (set SRR_DATA_DIR, or run scripts/fetch-data.sh)" >&2
    exit 2
  }
done
bash scripts/install-deps.sh >/dev/null
LOG="$BUILD_DIR.main-job.log"
echo "main-job: building srr in $BUILD_DIR (log: $LOG)"
{ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSRR_DATA_DIR="$SRR_DATA_DIR" &&
  cmake --build "$BUILD_DIR" -j "$(nproc --all)" --target srr; } >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
SRR=$PWD/$BUILD_DIR/src/app/srr
GRID=jobs/main-job.ini
RESULTS=(--results "$BUILD_DIR/main-job")

"$SRR" sweep plan "$GRID" "${RESULTS[@]}"
if [[ ${SRR_MAIN_JOB_SLURM:-0} == 1 ]]; then
  bash scripts/slurm-local-up.sh >/dev/null
  ids=$(SRR=$SRR slurm/submit-sweep.sh "$GRID" "${RESULTS[@]}" | awk '{print $2}' | paste -sd, -)
  echo "main-job: Slurm jobs $ids submitted; waiting"
  while squeue -h -j "$ids" 2>/dev/null | grep -q .; do sleep 1; done
else
  # one line per point; the full log of each point is in $BUILD_DIR/main-job/work/logs/<id>.log
  "$SRR" sweep run "$GRID" --all "${RESULTS[@]}" | grep -E '^point [0-9a-f]+: (done|FAILED)' || true
fi
"$SRR" sweep collect "$GRID" "${RESULTS[@]}"
echo
cat "$BUILD_DIR/main-job/main-job/summary.md"
