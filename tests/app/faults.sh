#!/usr/bin/env bash
# The fault suite of issue 10, one class of faults per ctest test:
#   faults.sh CLASS SRR STORE_TOOL DATA_DIR WORK_DIR
# CLASS: output_paths | concurrent_inputs | symlinks | locks | sizes | exit_codes | checksums.
# Every case runs srr as a user would and checks the exit code (2 for bad input, never 1 or a signal), that
# one line names what is wrong, and that no file srr did not create for the run was changed.
set -uo pipefail
class=$1 srr=$2 tool=$3 data=$4 work=$5/$1
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
model=$data/stories260K/stories260K.bin
text=$data/tinystories/tinystories_val_head.txt
failures=0 checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
fingerprint() { echo "$(stat -c '%s %Y' "$1") $(sha256sum < "$1")"; }

# expect RC REGEX NAME -- ARGS...: `srr ARGS` must exit with RC and print something matching REGEX.
expect() {
  local want=$1 regex=$2 name=$3
  shift 4
  checks=$((checks + 1))
  timeout 120 "$srr" "$@" >"$name.log" 2>&1
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$name: exit code $rc, expected $want"; cat "$name.log"; return 1; fi
  if ! grep -Eq -- "$regex" "$name.log"; then fail "$name: output does not match '$regex'"; cat "$name.log"; return 1; fi
  return 0
}
unchanged() {  # FILE FINGERPRINT NAME
  checks=$((checks + 1))
  [ "$(fingerprint "$1")" = "$2" ] || fail "$3: '$1' was changed"
}
calib_args=(--model "$model" --text "$text" --ctx 64 --windows 2)
quant_args=(--model "$model" --scale qera-approx --rank 4)

# A small calibration file and a finished store, made the normal way.
"$srr" calibrate "${calib_args[@]}" --out cal.h5 >/dev/null 2>&1 || { echo "setup: calibrate failed"; exit 1; }
"$srr" quantize "${quant_args[@]}" --calib cal.h5 --out store.h5 >/dev/null 2>&1 || { echo "setup: quantize failed"; exit 1; }

case $class in
output_paths)
  cp store.h5 keep.h5
  before=$(fingerprint keep.h5)
  expect 2 "keep.h5' exists and is not an srr calibration file" cal_over_store -- calibrate "${calib_args[@]}" --out keep.h5
  unchanged keep.h5 "$before" cal_over_store
  cp "$model" model-copy.bin; before=$(fingerprint model-copy.bin)
  expect 2 "not an srr calibration file \(not an HDF5 file\)" cal_over_model -- calibrate "${calib_args[@]}" --out model-copy.bin
  unchanged model-copy.bin "$before" cal_over_model
  cp "$text" text-copy.txt; before=$(fingerprint text-copy.txt)
  expect 2 "not an srr calibration file" cal_over_text -- calibrate --model "$model" --text text-copy.txt \
    --ctx 64 --windows 2 --out text-copy.txt
  unchanged text-copy.txt "$before" cal_over_text
  mkdir adir
  expect 2 "adir' exists and is a directory" cal_over_directory -- calibrate "${calib_args[@]}" --out adir
  expect 2 "--out must name a file" cal_empty_out -- calibrate "${calib_args[@]}" --out ""
  expect 2 "--out must name the store file" quantize_empty_out -- quantize "${quant_args[@]}" --calib cal.h5 --out ""
  checks=$((checks + 1)); [ ! -e .lock ] || fail "an empty --out left './.lock'"
  # Same settings: reused untouched; other settings: refused with the differences, --overwrite replaces.
  before=$(fingerprint cal.h5)
  expect 0 "\"reused\":true" cal_same_settings -- calibrate "${calib_args[@]}" --out cal.h5 --json
  unchanged cal.h5 "$before" cal_same_settings
  expect 2 "windows: the file has 2, this run has 3" cal_other_settings -- calibrate --model "$model" --text "$text" \
    --ctx 64 --windows 3 --out cal.h5
  unchanged cal.h5 "$before" cal_other_settings
  cp cal.h5 cal2.h5
  expect 0 "\"windows\":3" cal_overwrite -- calibrate --model "$model" --text "$text" --ctx 64 \
    --windows 3 --out cal2.h5 --overwrite --json
  # A foreign file refused by quantize leaves no lock file beside it.
  cp "$model" foreign.bin
  expect 2 "foreign.bin' cannot be opened as an HDF5 file" quantize_foreign_out -- quantize "${quant_args[@]}" \
    --calib cal.h5 --out foreign.bin
  checks=$((checks + 1)); [ ! -e foreign.bin.lock ] || fail "a refused quantize left 'foreign.bin.lock'"
  # One rule for missing parent directories: refused by every command, never created.
  expect 2 "does not exist" quantize_missing_dir -- quantize "${quant_args[@]}" --calib cal.h5 --out no/such/s.h5
  expect 2 "does not exist" calibrate_missing_dir -- calibrate "${calib_args[@]}" --out no/such/c.h5
  expect 2 "does not exist" export_missing_dir -- export --store store.h5 --model "$model" --out no/such/out
  checks=$((checks + 1)); [ ! -e no ] || fail "a missing parent directory was created"
  : > results-file
  expect 2 "results-file' exists and is not a directory" sweep_results_file -- sweep plan any.ini \
    --results results-file
  ;;
concurrent_inputs)
  # A run reading the calibration file (its shared lock, as quantize's master holds it) blocks calibrate.
  before=$(fingerprint cal.h5)
  checks=$((checks + 1))
  flock -s cal.h5.lock timeout 60 "$srr" calibrate --model "$model" --text "$text" --ctx 64 \
    --windows 3 --out cal.h5 --overwrite >busy.log 2>&1
  [ $? -eq 2 ] && grep -q "is in use: a run is reading it" busy.log || { fail "calibrate over a file in use"; cat busy.log; }
  unchanged cal.h5 "$before" calibrate_in_use
  # calibrate writing (its exclusive lock) blocks a quantize from reading.
  checks=$((checks + 1))
  flock -x cal.h5.lock timeout 60 "$srr" quantize "${quant_args[@]}" --calib cal.h5 --out s2.h5 >writing.log 2>&1
  [ $? -eq 2 ] && grep -q "is being written by srr calibrate" writing.log || { fail "quantize during calibrate"; cat writing.log; }
  # Statistics edited in place (no checksum updated): the run stops naming the input.
  cp cal.h5 edited.h5
  "$tool" poke edited.h5 inputs/model.layers.2.mlp.gate_up_input/sum_sq || fail "poke failed"
  expect 2 "input 'model.layers.2.mlp.gate_up_input' does not match its checksum" edited_statistics -- quantize \
    "${quant_args[@]}" --calib edited.h5 --out s3.h5
  # Recalibrated with other statistics under a finished store: resuming is refused.
  cp cal.h5 recal.h5
  "$srr" quantize "${quant_args[@]}" --calib recal.h5 --out s4.h5 >/dev/null 2>&1
  "$srr" calibrate --model "$model" --text "$text" --ctx 64 --windows 3 --out recal.h5 \
    --overwrite >/dev/null 2>&1
  before=$(fingerprint s4.h5)
  expect 2 "calibration: the store was made with" resume_new_statistics -- quantize "${quant_args[@]}" \
    --calib recal.h5 --out s4.h5
  unchanged s4.h5 "$before" resume_new_statistics
  ;;
symlinks)
  echo precious > victim
  before=$(fingerprint victim)
  ln -s victim s.h5.lock
  expect 2 "s.h5.lock' is a symbolic link" store_lock_symlink -- quantize "${quant_args[@]}" --calib cal.h5 --out s.h5
  unchanged victim "$before" store_lock_symlink
  ln -s victim c.h5.lock
  expect 2 "c.h5.lock' is a symbolic link" calib_lock_symlink -- calibrate "${calib_args[@]}" --out c.h5
  unchanged victim "$before" calib_lock_symlink
  ln -s victim out-link.h5
  expect 2 "out-link.h5' is a symbolic link" calib_out_symlink -- calibrate "${calib_args[@]}" --out out-link.h5
  expect 2 "out-link.h5' is a symbolic link" quantize_out_symlink -- quantize "${quant_args[@]}" --calib cal.h5 \
    --out out-link.h5
  unchanged victim "$before" out_symlinks
  # The old predictable temporary names, planted for the next pids: nothing follows them.
  pid=$$
  for i in $(seq 1 200); do ln -s victim "c2.h5.tmp.$((pid + i))"; ln -s victim "s2.h5.creating"; done 2>/dev/null
  expect 0 "" calibrate_planted -- calibrate "${calib_args[@]}" --out c2.h5
  expect 0 "" quantize_planted -- quantize "${quant_args[@]}" --calib cal.h5 --out s2.h5
  unchanged victim "$before" planted_temporaries
  ;;
locks)
  # The store open in another HDF5 program (its own file lock): "in use", with the way out, file intact.
  "$tool" hold store.h5 20 > hold.out &
  holder=$!
  for _ in $(seq 100); do grep -q open hold.out 2>/dev/null && break; sleep 0.1; done
  before=$(fingerprint store.h5)  # after the holder's own open, which may touch the file
  expect 2 "store 'store.h5' is in use: another program has it open through HDF5" store_held_quantize -- quantize \
    "${quant_args[@]}" --calib cal.h5 --out store.h5
  checks=$((checks + 1)); ! grep -q "remove it" store_held_quantize.log || fail "in-use advice says to remove the store"
  unchanged store.h5 "$before" store_held
  kill "$holder"; wait "$holder" 2>/dev/null
  # The run lock of a store: a second run is refused at once.
  checks=$((checks + 1))
  flock store.h5.lock timeout 60 "$srr" quantize "${quant_args[@]}" --calib cal.h5 --out store.h5 >lock.log 2>&1
  [ $? -eq 2 ] && grep -q "is in use by another run" lock.log || { fail "store lock"; cat lock.log; }
  ;;
sizes)
  # A config.json claiming a billion layers: refused at once from the tensor count.
  mkdir hf
  for f in "$data"/tinystories-656k/*; do ln -s "$f" hf/; done
  rm hf/config.json
  sed -E 's/"num_hidden_layers": *[0-9]+/"num_hidden_layers": 1000000000/' "$data/tinystories-656k/config.json" > hf/config.json
  checks=$((checks + 1))
  start=$(date +%s)
  expect 2 "says 1000000000 layers \(num_hidden_layers\)" billion_layers -- quantize --model hf --out big.h5 --rank 4
  [ $(( $(date +%s) - start )) -lt 30 ] || fail "billion_layers: took more than 30 s"
  # max_position_embeddings of a billion: the RoPE table stays bounded, evaluation works.
  rm hf/config.json
  sed -E 's/"max_position_embeddings": *[0-9]+/"max_position_embeddings": 1000000000/' "$data/tinystories-656k/config.json" > hf/config.json
  expect 0 "perplexity" huge_max_pos -- eval --model hf --text "$text" --max-chars 4000 --ctx 64 --windows 1
  ;;
exit_codes)
  expect 2 "unexpected argument '16'" stray_positional -- quantize "${quant_args[@]}" --calib cal.h5 --out x.h5 --rank 8 16
  expect 2 "--k is used only with --k-rule fixed" k_without_fixed -- quantize "${quant_args[@]}" --calib cal.h5 --out x.h5 --k 3
  expect 2 "--max-chars must be positive, got -1" max_chars_negative -- calibrate "${calib_args[@]}" --max-chars -1 --out y.h5
  head -c 4000 "$model" > binary.txt
  expect 2 "binary.txt\"? is not UTF-8 text" binary_text -- calibrate --model "$model" --text binary.txt --ctx 64 --out z.h5
  printf 'caf\xe9 latin-1\n%.0s' $(seq 200) > latin1.txt
  expect 2 "is not UTF-8 text" latin1_text -- eval --model "$model" --text latin1.txt --ctx 64
  # A weight of 3e38 (float32 bytes e6 b1 61 7f) in the first q_proj: named, with the overflow.
  cp "$model" huge.bin
  printf '\xe6\xb1\x61\x7f' | dd of=huge.bin bs=1 seek=132380 conv=notrunc status=none
  expect 2 "layer model.layers.0.self_attn.q_proj: weights up to 3e\+38 in magnitude overflow float32" huge_weight -- \
    quantize --model huge.bin --out huge.h5 --rank 4
  # eval --store with another checkpoint of the same shapes (one byte changed in its last MiB).
  cp "$model" other.bin
  size=$(stat -c %s other.bin)
  printf '\x01' | dd of=other.bin bs=1 seek=$((size - 4)) conv=notrunc status=none
  cp "$data/stories260K/tok512.bin" .
  expect 2 "was made from a different checkpoint" eval_other_checkpoint -- eval --model other.bin --store store.h5 \
    --text "$text" --max-chars 4000 --ctx 64 --windows 1 --skip-fp32
  # Damaged metadata: byte flips across the HDF5 metadata give exit 0 or 2 with one line, never 1 or a crash.
  size=$(stat -c %s store.h5)
  for offset in 0 8 40 96 200 400 800 1200 1600 2100 2600 3100 3600 4100 6000 9000 12000; do
    cp store.h5 flipped.h5
    byte=$(od -A n -t u1 -j "$offset" -N 1 flipped.h5 | tr -d ' ')
    printf "\\x$(printf %02x $(( (byte ^ 0x55) & 255 )))" | dd of=flipped.h5 bs=1 seek="$offset" conv=notrunc status=none
    checks=$((checks + 1))
    timeout 60 "$srr" export --store flipped.h5 --model "$model" --out "flip-$offset" --adapter-only >flip.log 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then fail "flip at $offset: exit code $rc"; cat flip.log; fi
    if [ "$rc" -eq 2 ] && grep -q "internal error" flip.log; then fail "flip at $offset: internal error"; cat flip.log; fi
  done
  ;;
checksums)
  # A NaN written into a done layer's lora_A: export and eval refuse naming the layer; resume recomputes it.
  cp store.h5 rot.h5
  "$tool" poke rot.h5 layers/model.layers.1.mlp.up_proj/lora_A || fail "poke failed"
  expect 2 "layer model.layers.1.mlp.up_proj does not match its checksum" export_rot -- export --store rot.h5 \
    --model "$model" --out rot-out
  checks=$((checks + 1)); [ ! -e rot-out ] || fail "export_rot: an export was written"
  expect 2 "layer model.layers.1.mlp.up_proj does not match its checksum" eval_rot -- eval --model "$model" \
    --store rot.h5 --text "$text" --max-chars 4000 --ctx 64 --windows 1 --skip-fp32
  expect 0 "34 already done, 1 to compute" resume_rot -- quantize "${quant_args[@]}" --calib cal.h5 --out rot.h5
  checks=$((checks + 1)); grep -q "model.layers.1.mlp.up_proj does not match its checksum" resume_rot.log \
    || fail "resume_rot: the damaged layer is not named"
  checks=$((checks + 1)); "$tool" diff store.h5 rot.h5 >diff.log 2>&1 || { fail "resume_rot: not bit-identical"; cat diff.log; }
  # A flipped code byte is caught the same way.
  cp store.h5 flip.h5
  "$tool" poke flip.h5 layers/model.layers.3.self_attn.v_proj/codes || fail "poke failed"
  expect 2 "layer model.layers.3.self_attn.v_proj does not match its checksum" export_flip -- export --store flip.h5 \
    --model "$model" --out flip-out
  ;;
*) echo "unknown class $class"; exit 1 ;;
esac

if [ "$failures" -ne 0 ]; then
  echo "$class: $failures of $checks checks failed"
  exit 1
fi
echo "$class: $checks checks passed"
