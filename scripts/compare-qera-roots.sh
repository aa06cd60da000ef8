#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The QERA-exact roots side by side on the real checkpoints: the QERA-exact configurations of the
# committed grids (jobs/*.ini: ranks 4, 8, 16; QER and SRR; iterations 1, 5, 10; k rules naive, adaptive,
# criterion, oracle; 2, 3 and 4 bits; seeds as below) are quantized once with --qera-exact-impl eigh and once
# with chol (the default), on the grids' calibration slices, and the two stores are compared layer by layer
# with srr_group_compare: equal k*, equal Q codes, lora_B·lora_A equal in the activation norm
# ‖P‖_R = sqrt(Σ_o p_oᵀ·R_xx·p_o) to TOL, and equal activation-aware errors to TOL.
#
#   scripts/compare-qera-roots.sh BUILD_DIR WORK_DIR [TOL [PRECISION]]   (SRR_DATA_DIR: the data, default
#                                                                          ../shared/data)
#
# PRECISION is float64 by default, as store.group.agrees_with_g1 compares: in float32 the two roots round
# differently in the last bits of S·W, and where SRR's preserved part moves a weight across a rounding
# boundary of the quantizer a code flips (then L·R refits to the other Q); the counts are in the summary.
# SRR_COMPARE_MODELS (default "stories260k ts656k") restricts the checkpoints.
# Prints one line per configuration and a summary; exit status 1 if any configuration differs.
set -euo pipefail
build=${1:?usage: compare-qera-roots.sh BUILD_DIR WORK_DIR [TOL]}
work=${2:?usage: compare-qera-roots.sh BUILD_DIR WORK_DIR [TOL]}
tol=${3:-1e-9}
precision=${4:-float64}
data=${SRR_DATA_DIR:-../shared/data}
srr=$build/src/app/srr
compare=$build/tests/store/srr_group_compare
text=$data/tinystories/tinystories_val_head.txt
mkdir -p "$work"

declare -A models=([stories260k]=$data/stories260K/stories260K.bin [ts656k]=$data/tinystories-656k)

# The grids' calibration slices: windows 0–15 of the first 100,000 bytes (tables, bits); windows 0–7 of
# the first 60,000 (main-job, ts656k-short-slices).
calibrate() {  # model-key windows max-chars
  local out=$work/$1.w$2.h5
  [[ -f $out ]] || "$srr" calibrate --model "${models[$1]}" --text "$text" --max-chars "$3" --ctx 256 --windows "$2" \
    --out "$out" --log-level warning
  echo "$out"
}

# Seed 42 for every configuration; the other two seeds of the grids for SRR with the criterion (the seed
# moves its random probe, and so k*). QER's seed only enters its randomized SVD.
configs=()
for rank in 4 8 16; do  # 3-bit MXINT B32 (srr's defaults) unless --bits says otherwise
  for iters in 1 5 10; do
    configs+=("--method qer --rank $rank --seed 42 --iters $iters" "--method srr --rank $rank --seed 42 --iters $iters")
  done
  for seed in 1234 4321; do configs+=("--method srr --rank $rank --seed $seed"); done
  for rule in naive adaptive oracle; do configs+=("--method srr --k-rule $rule --rank $rank --seed 42"); done
done
for bits in 2 4; do configs+=("--method qer --bits $bits --rank 8 --seed 42" "--method srr --bits $bits --rank 8 --seed 42"); done

fail=0 total=0 kdiff=0 qdiff=0 layers=0
worst_p=0 worst_a=0
for model in ${SRR_COMPARE_MODELS:-stories260k ts656k}; do
  for slice in "16 100000" "8 60000"; do
    read -r windows chars <<<"$slice"
    calib=$(calibrate "$model" "$windows" "$chars")
    list=("${configs[@]}")
    [[ $windows == 8 ]] && list=("--method qer --rank 4 --seed 42" "--method srr --rank 4 --seed 42"
                                  "--method qer --rank 8 --seed 42" "--method srr --rank 8 --seed 42")
    for c in "${list[@]}"; do
      tag=$(echo "$model w$windows $c" | tr -s ' -' '_')
      for impl in eigh chol; do
        "$srr" quantize --model "${models[$model]}" --calib "$calib" --scale qera-exact $c \
          --precision "$precision" --qera-exact-impl $impl --out "$work/$tag.$impl.h5" --log-level warning
      done
      total=$((total + 1))
      if out=$("$compare" "$work/$tag.eigh.h5" "$work/$tag.chol.h5" "$calib" "$tol"); then :; else fail=$((fail + 1)); fi
      line=$(tail -1 <<<"$out")
      kdiff=$((kdiff + $(grep -c ': k\* ' <<<"$out" || true)))
      qdiff=$((qdiff + $(grep -c 'Q codes differ' <<<"$out" || true)))
      layers=$((layers + $(sed -n 's/^[a-z]*: \([0-9]*\) layers.*/\1/p' <<<"$line")))
      echo "$model calib-w$windows $c: $line"
      [[ $line == agree* ]] || head -n -1 <<<"$out" | sed 's/^/    /'
      p=$(sed -n 's/.*in the R_xx norm \([^,]*\),.*/\1/p' <<<"$line")
      a=$(sed -n 's/.*activation-aware error \(.*\)$/\1/p' <<<"$line")
      worst_p=$(awk -v x="$p" -v y="$worst_p" 'BEGIN { print (x + 0 > y + 0) ? x : y }')
      worst_a=$(awk -v x="$a" -v y="$worst_a" 'BEGIN { print (x + 0 > y + 0) ? x : y }')
      rm -f "$work/$tag.eigh.h5" "$work/$tag.chol.h5"
    done
  done
done
echo "summary ($precision): $total configurations, $layers layers; $fail configurations with differences beyond $tol;" \
     "layers with a different k*: $kdiff, with different Q codes: $qdiff; largest lora_B·lora_A difference in the" \
     "R_xx norm $worst_p, largest activation-aware error difference $worst_a"
[[ $fail == 0 ]]
