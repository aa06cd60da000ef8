#!/usr/bin/env bash
# Plans a sweep and submits it as three chained Slurm jobs, printing their ids:
#   1. prepare   every calibration file the grid needs (slurm/sweep.sbatch without --array)
#   2. array     one task per point, [run] throttle at a time (slurm/sweep.sbatch), afterok:prepare
#   3. collect   summary.csv, summary.md, plots, index.h5 (slurm/collect.sbatch), afterok:array
# Usage (from the project root; jobs run in the current directory):
#   slurm/submit-sweep.sh jobs/GRID.ini [--results DIR] [--work DIR]
# Environment: SRR (the binary, default build/src/app/srr), SRR_DATA_DIR (read by the grids),
# SRR_COLLECT_AFTER (afterok, or afterany to collect even when a task failed). Output: one line per job,
# "prepare <id>", "array <id>", "collect <id>". Resubmitting is safe: finished points are skipped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[[ $# -ge 1 ]] || { echo "usage: slurm/submit-sweep.sh GRID [srr sweep options]" >&2; exit 2; }
GRID=$1
shift
SRR=${SRR:-build/src/app/srr}
[[ -x $SRR ]] || { echo "submit-sweep: no srr binary at '$SRR' (build it, or set SRR)" >&2; exit 2; }
SRR=$(cd "$(dirname "$SRR")" && pwd)/$(basename "$SRR")
export SRR OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# array_size, array (0-N%T), np, throttle, time, done, grid, grid_dir, work
eval "$("$SRR" sweep plan "$GRID" --shell "$@")"
LOGS=$work/slurm
mkdir -p "$LOGS"
common=(--parsable --chdir="$PWD" --export=ALL)
limit=()
[[ -n $time ]] && limit=(--time="$time")
prepare=$(sbatch "${common[@]}" --job-name="srr-prepare-$grid" --ntasks="$np" "${limit[@]}" \
  --output="$LOGS/$grid-prepare-%j.out" "$HERE/sweep.sbatch" "$GRID" "$@")
array_job=$(sbatch "${common[@]}" --job-name="srr-sweep-$grid" --array="$array" --ntasks="$np" "${limit[@]}" \
  --dependency="afterok:$prepare" --output="$LOGS/$grid-%A_%a.out" "$HERE/sweep.sbatch" "$GRID" "$@")
collect=$(sbatch "${common[@]}" --job-name="srr-collect-$grid" --dependency="${SRR_COLLECT_AFTER:-afterok}:$array_job" \
  --output="$LOGS/$grid-collect-%j.out" "$HERE/collect.sbatch" "$GRID" "$@")
echo "prepare $prepare"
echo "array $array_job"
echo "collect $collect"
echo "submit-sweep: grid $grid, $array_size points ($done already done), array $array, np $np; logs in $LOGS" >&2
