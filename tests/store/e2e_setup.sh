#!/usr/bin/env bash
# Fresh working directory for the end-to-end tests, with synthetic statistics for every input of MODEL.
#   e2e_setup.sh STORE_TOOL MODEL DIR
set -euo pipefail
tool=$1 model=$2 dir=$3
[ -f "$model" ] || { echo "missing checkpoint $model (is SRR_DATA_DIR right?)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
"$tool" calibration "$model" "$dir/calib.h5"
