#!/usr/bin/env bash
# Installs every build, test and run-time dependency of srr from Debian packages.
# Idempotent: when everything is present it only checks (dpkg-query) and returns in well under a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libscalapack-openmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libboost-program-options-dev libboost-log-dev
  libopenblas-dev liblapacke-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  nlohmann-json3-dev
  clang libclang-rt-14-dev
  slurm-wlm munge
  python3-torch
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
