#!/usr/bin/env bash
# Installs the dependencies (Debian packages), builds srr in Release and runs the whole test suite.
#   bash scripts/test.sh            # from the project root
# Environment: SRR_DATA_DIR (default ../shared/data), BUILD_DIR (default build), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
DATA_DIR=${SRR_DATA_DIR:-$(cd .. && pwd)/shared/data}
bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSRR_DATA_DIR="$DATA_DIR" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" < /dev/null
