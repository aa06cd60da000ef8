#!/usr/bin/env bash
# A cluster rehearsal on a shaped synthetic checkpoint (docs/scaling.md): writes a random checkpoint with a
# real model's shapes, then runs calibrate, quantize, eval and export on it exactly as on the real model,
# each under /usr/bin/time, and prints one line per step: wall time, peak RSS of the largest process (a rank
# or mpirun), and the size of what it wrote. Nothing is kept in the repository: everything goes to --dir.
#
#   scripts/rehearse.sh --shape llama2-7b --layers 32 --dir /scratch/rehearsal
#       [--steps synthetic,calibrate,quantize,eval,export] [--np-calibrate 2] [--np-quantize 3] [--np-eval 2]
#       [--windows 2] [--ctx 512] [--eval-windows 2] [--rank 64] [--bits 3] [--scale identity] [--method srr]
#
# Environment: SRR (default build/src/app/srr), SRR_DATA_DIR (default ../shared/data; the text is
# tinystories/tinystories_val_head.txt), MPIRUN (default mpirun, with --allow-run-as-root when root).
# A step whose output exists is skipped (rerun after a failure resumes); delete --dir when measured.
set -euo pipefail
cd "$(dirname "$0")/.."
shape=llama2-7b layers="" dir="" steps=synthetic,calibrate,quantize,eval,export
np_cal=2 np_q=3 np_eval=2 windows=2 ctx=512 eval_windows=2 rank=64 bits=3 scale=identity method=srr
while (($#)); do
  case $1 in
    --shape) shape=$2 ;; --layers) layers=$2 ;; --dir) dir=$2 ;; --steps) steps=$2 ;;
    --np-calibrate) np_cal=$2 ;; --np-quantize) np_q=$2 ;; --np-eval) np_eval=$2 ;;
    --windows) windows=$2 ;; --ctx) ctx=$2 ;; --eval-windows) eval_windows=$2 ;;
    --rank) rank=$2 ;; --bits) bits=$2 ;; --scale) scale=$2 ;; --method) method=$2 ;;
    *) echo "rehearse: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n $dir ]] || { echo "rehearse: --dir is required (outside the repository, with room for the checkpoint)" >&2; exit 2; }
SRR=${SRR:-$PWD/build/src/app/srr}
SRR_DATA_DIR=${SRR_DATA_DIR:-$(cd .. && pwd)/shared/data}
TEXT=$SRR_DATA_DIR/tinystories/tinystories_val_head.txt
[[ -x $SRR ]] || { echo "rehearse: $SRR not found (build srr first, or set SRR)" >&2; exit 2; }
[[ -f $TEXT ]] || { echo "rehearse: $TEXT not found (set SRR_DATA_DIR)" >&2; exit 2; }
MPIRUN=${MPIRUN:-mpirun}
mpi=("$MPIRUN" --oversubscribe)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$dir"
model=$dir/model calib=$dir/calib.h5 store=$dir/store.h5 hf=$dir/export
layer_args=()
[[ -n $layers ]] && layer_args=(--layers "$layers")

# run STEP OUTPUT CMD...: times CMD unless OUTPUT exists, and prints the step's line.
run() {
  local step=$1 out=$2
  shift 2
  [[ ,$steps, == *,$step,* ]] || return 0
  if [[ -e $out ]]; then
    echo "rehearse: $step: $out exists, skipped"
    return 0
  fi
  local log=$dir/$step.log
  echo "rehearse: $step: $*" >"$log"
  if ! /usr/bin/time -v "$@" >>"$log" 2>&1; then
    echo "rehearse: $step failed (log: $log)" >&2
    tail -5 "$log" >&2
    exit 1
  fi
  local wall rss size
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  size=$(du -sb "$out" | cut -f1)
  printf '%-10s wall %-9s peak RSS %6.0f MiB  output %8.2f GiB  (load %s)\n' "$step" "$wall" "$((rss / 1024))" \
    "$(echo "$size / 1073741824" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$dir/summary.txt"
}

run synthetic "$model" "$SRR" synthetic --shape "$shape" "${layer_args[@]}" --dtype bf16 --out "$model"
run calibrate "$calib" "${mpi[@]}" -np "$np_cal" "$SRR" calibrate --model "$model" --text "$TEXT" --ctx "$ctx" \
  --windows "$windows" --out "$calib"
quant_args=(--model "$model" --scale "$scale" --method "$method" --rank "$rank" --bits "$bits" --out "$store")
[[ $scale == identity ]] || quant_args+=(--calib "$calib")
run quantize "$store" "${mpi[@]}" -np "$np_q" "$SRR" quantize "${quant_args[@]}"
# evaluation text disjoint from calibration: the windows after the calibration ones
run eval "$dir/eval.json" sh -c "$(printf '%q ' "${mpi[@]}" -np "$np_eval" "$SRR" eval --model "$model" \
  --store "$store" --text "$TEXT" --ctx "$ctx" --skip-windows "$windows" --windows "$eval_windows" --json) \
  > $(printf '%q' "$dir/eval.json.tmp") && mv $(printf '%q' "$dir/eval.json.tmp") $(printf '%q' "$dir/eval.json")"
run export "$hf" "$SRR" export --model "$model" --store "$store" --dtype bf16 --out "$hf"
cat "$dir/summary.txt"
