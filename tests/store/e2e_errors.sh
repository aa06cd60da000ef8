#!/usr/bin/env bash
# `srr quantize` on bad input and on existing stores, as users meet it (docs/store.md):
#   e2e_errors.sh SRR STORE_TOOL MPIEXEC MODEL DIR -- RUN_ARGS...
# DIR holds calib.h5 and mxint-np1.h5, a complete store made with RUN_ARGS. Every failing run must exit
# non-zero on its own (no hang: each is bounded by timeout), say what is wrong, and leave stores intact.
set -uo pipefail
srr=$1 tool=$2 mpiexec=$3 model=$4 dir=$5
shift 6
run_args=("$@")
work=$dir/errors
rm -rf "$work"
mkdir -p "$work"
failures=0 checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect NP RC REGEX NAME ARGS...: runs `srr quantize ARGS` on NP ranks; RC is the exit code wanted
# (a number, or "nonzero"), REGEX must match the output.
expect() {
  local np=$1 want=$2 regex=$3 name=$4
  shift 4
  checks=$((checks + 1))
  timeout 120 "$mpiexec" -n "$np" "$srr" quantize "$@" >"$work/$name.log" 2>&1
  local rc=$?
  if [ "$rc" -eq 124 ]; then fail "$name: hung (killed after 120 s)"; return; fi
  if [ "$want" = nonzero ] && [ "$rc" -eq 0 ]; then fail "$name: exit code 0, expected a failure"; cat "$work/$name.log"; return; fi
  if [ "$want" != nonzero ] && [ "$rc" -ne "$want" ]; then fail "$name: exit code $rc, expected $want"; cat "$work/$name.log"; return; fi
  if ! grep -Eq -- "$regex" "$work/$name.log"; then fail "$name: output does not match '$regex'"; cat "$work/$name.log"; fi
}

# Bytes and mtime of a file, to show that a refused store was left as it is.
fingerprint() { echo "$(stat -c '%s %Y.%y' "$1") $(sha256sum < "$1")"; }

store=$work/resume.h5
cp "$dir/mxint-np1.h5" "$store"
before=$(fingerprint "$store")

# A complete store: a rerun (any rank count) computes nothing and changes nothing.
expect 2 0 "35 already done, 0 to compute" resume_complete --model "$model" --calib "$dir/calib.h5" --out "$store" "${run_args[@]}"
"$tool" diff "$dir/mxint-np1.h5" "$store" >/dev/null || fail "resume_complete: the store changed"

# Different configuration: refused, saying which key, store untouched.
before=$(fingerprint "$store")
expect 2 2 "config\.block: the store has 32, this run has 16" refuse_config \
  --model "$model" --calib "$dir/calib.h5" --out "$store" "${run_args[@]}" --block 16
[ "$(fingerprint "$store")" = "$before" ] || fail "refuse_config: the store was modified"

# Different calibration content (statistics of another seed): refused.
"$tool" calibration "$model" "$work/other-calib.h5" 1 >/dev/null
expect 2 2 "calibration: the store was made with" refuse_calibration \
  --model "$model" --calib "$work/other-calib.h5" --out "$store" "${run_args[@]}"
[ "$(fingerprint "$store")" = "$before" ] || fail "refuse_calibration: the store was modified"

# Different checkpoint (a copy with one byte changed in its last MiB, which the identity hashes).
cp "$model" "$work/other.bin"
size=$(stat -c %s "$work/other.bin")
printf '\x01' | dd of="$work/other.bin" bs=1 seek=$((size - 4)) conv=notrunc status=none
expect 2 2 "checkpoint: the store was made from" refuse_checkpoint \
  --model "$work/other.bin" --calib "$dir/calib.h5" --out "$store" "${run_args[@]}"
[ "$(fingerprint "$store")" = "$before" ] || fail "refuse_checkpoint: the store was modified"

# A store in use (its lock held, here by flock(1) around the run): refused.
expect_locked() {
  checks=$((checks + 1))
  flock "$store.lock" timeout 120 "$mpiexec" -n 2 "$srr" quantize --model "$model" --calib "$dir/calib.h5" \
    --out "$store" "${run_args[@]}" >"$work/locked.log" 2>&1
  local rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "locked: exit code $rc"
  grep -q "is in use by another run" "$work/locked.log" || { fail "locked: no 'in use' message"; cat "$work/locked.log"; }
}
expect_locked
[ "$(fingerprint "$store")" = "$before" ] || fail "locked: the store was modified"

# A worker fails (statistics damaged after writing: NaN in one input's Σx²): the job exits non-zero,
# the message names the input, and the layers finished are kept, the others not marked done.
"$tool" calibration "$model" "$work/bad-calib.h5" 0 model.layers.2.mlp.gate_up_input >/dev/null
for np in 1 2 3; do
  expect $np 2 "input 'model\.layers\.2\.mlp\.gate_up_input' does not match its checksum" worker_failure_np$np \
    --model "$model" --calib "$work/bad-calib.h5" --out "$work/bad-np$np.h5" "${run_args[@]}"
  read -r done total < <("$tool" done "$work/bad-np$np.h5") || fail "worker_failure_np$np: store unreadable"
  [ "${done:-35}" -lt "${total:-35}" ] || fail "worker_failure_np$np: all layers done despite the failure"
done
grep -q "rank [12] failed on model.layers.2.mlp" "$work/worker_failure_np3.log" \
  || fail "worker_failure_np3: the master does not say which rank and layer failed"

# Bad input before any work.
expect 2 2 "the directory '/nonexistent-dir' does not exist" unwritable \
  --model "$model" --out /nonexistent-dir/x.h5 --rank 8
expect 2 2 "--group-size 2 does not divide the 1 worker rank" group_size --model "$model" --out "$work/g.h5" --group-size 2
expect 2 2 "--scale qera-exact needs calibration statistics" no_calib \
  --model "$model" --out "$work/n.h5" --scale qera-exact --rank 8
expect 2 2 "--rank 40 must be smaller than" rank_too_large --model "$model" --out "$work/r.h5" --rank 40
expect 2 2 "no such file|does not exist|cannot open" missing_model --model "$work/none.bin" --out "$work/m.h5"
[ ! -e "$work/r.h5" ] || fail "rank_too_large: a store was created"

if [ "$failures" -ne 0 ]; then
  echo "$failures of $checks checks failed"
  exit 1
fi
echo "$checks passed, 0 failed"
