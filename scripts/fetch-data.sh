#!/usr/bin/env bash
# Downloads the public files srr's examples, tests and sweeps read into SRR_DATA_DIR and checks their
# sha256 against the values listed in shared/data/README.md. A file that is present with the right hash is
# kept; a download whose hash differs is not installed and the script fails, naming the file.
#   bash scripts/fetch-data.sh              # stories260K + tok512.bin, TinyStories text, TinyStories-656K
#   bash scripts/fetch-data.sh --main-job   # only what scripts/main-job.sh needs (the first three files)
# Environment: SRR_DATA_DIR (default ../shared/data). Needs curl or wget, and sha256sum.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SRR_DATA_DIR:-../shared/data}
ONLY_MAIN=0
[[ ${1:-} == --main-job ]] && ONLY_MAIN=1
die() { echo "fetch-data: ERROR: $*" >&2; exit 1; }
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
if command -v curl >/dev/null; then
  get() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null; then
  get() { wget -q -O "$2" "$1"; }
else
  die "neither curl nor wget is installed"
fi

# Where the files come from: the llama2.c project's checkpoint on Hugging Face (karpathy/tinyllamas), and
# the same public GitHub snapshots shared/data/README.md names; each line is tried in turn.
TINYLLAMAS=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K
ESP32=https://raw.githubusercontent.com/DaveBben/esp32-llm/6baf21a8fec9/data
MOE=https://raw.githubusercontent.com/yuninxia/moe-routing-bench/6877be50c1c389c73047d7f27104bee6a995efd6/data
LMRS=https://raw.githubusercontent.com/LearningInfiniTensor/learning-lm-rs/b0f284a05d61ecde930428a528fb5ae4eb0943f5/models/story

# file | sha256 | source URLs (space separated, tried in order)
FILES=(
  "stories260K/stories260K.bin|b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696|$TINYLLAMAS/stories260K.bin $ESP32/stories260K.bin"
  "stories260K/tok512.bin|037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312|$TINYLLAMAS/tok512.bin $ESP32/tok512.bin"
  "tinystories/tinystories_val_head.txt|5fc1fb0113df62b567fb271806cd645ce8d75f59c58ca0b764c03d3b6ff34ca6|$MOE/tinystories_val.txt"
)
if ((!ONLY_MAIN)); then
  FILES+=(
    "tinystories-656k/model.safetensors|187d0d5e8360d9625e40e0b35ec57d1ef0eea1a60ddcf09412246bed3484852f|$LMRS/model.safetensors"
    "tinystories-656k/tokenizer.json|9a7917d490ac034a4e69eb081096226971887e9e66b0969355421613f62b12e7|$LMRS/tokenizer.json"
    "tinystories-656k/config.json|5d34a34a12acbd8b0d4d8b400cb4ad72e6cdd49673d4b27b5b4c4e93030bc7ee|$LMRS/config.json"
    "tinystories-656k/tokenizer_config.json|b41898ab69aa46f6bd13416e9662542e056d0727d565bac0e6552efc08438809|$LMRS/tokenizer_config.json"
    "tinystories-656k/special_tokens_map.json|e530a890d28bf0c1e0dfc61b480231d59501cbd3d177ec82bf74547110239175|$LMRS/special_tokens_map.json"
    "tinystories-656k/generation_config.json|e7837bdba54a36255e4328e034076648ed8a8ca617d7a979a29158191cce6318|$LMRS/generation_config.json"
  )
fi

sha() { sha256sum "$1" | cut -d' ' -f1; }
failed=0
for entry in "${FILES[@]}"; do
  IFS='|' read -r file want urls <<<"$entry"
  dest=$DATA/$file
  if [[ -f $dest ]]; then
    have=$(sha "$dest")
    if [[ $have == "$want" ]]; then echo "fetch-data: $file present, sha256 ok"; continue; fi
    echo "fetch-data: ERROR: $dest exists but its sha256 is $have, expected $want; not touching it" >&2
    failed=1
    continue
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$dest.download.$$
  got=""
  for url in $urls; do
    echo "fetch-data: $file <- $url"
    if ! get "$url" "$tmp"; then echo "fetch-data:   download failed" >&2; continue; fi
    have=$(sha "$tmp")
    if [[ $have == "$want" ]]; then got=$url; break; fi
    echo "fetch-data:   sha256 mismatch: got $have, expected $want" >&2
  done
  if [[ -z $got ]]; then
    rm -f "$tmp"
    echo "fetch-data: ERROR: no source gave $file with sha256 $want; not installed" >&2
    failed=1
    continue
  fi
  mv "$tmp" "$dest"
  echo "fetch-data: $file ok ($(stat -c %s "$dest") bytes)"
done
((failed == 0)) || die "some files are missing or wrong (see above)"
echo "fetch-data: all files in $DATA match their sha256"
