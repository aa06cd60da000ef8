#!/usr/bin/env bash
# Crash safety of `srr calibrate` (docs/store.md, the calibration file): SIGKILL whole MPI jobs at seeded
# random moments of a run (start-up, file creation, forward, XᵀX, writing and fsyncing a layer), rerun the
# same command each time, and require the completed file's content hash (SHA-256 over every input's
# checksum, which covers every value) to equal an uninterrupted run's: finished layers are kept, the rest
# is recomputed, and the result is bit-identical.
#
#   calibrate_kill.sh SRR MPIEXEC TEXT WORKDIR TRIALS
set -uo pipefail
srr=$1 mpiexec=$2 text=$3 dir=$4 trials=$5
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../common/kill_session.sh"
kill_test_dir "$dir"

"$srr" synthetic --shape llama2-7b --hidden 256 --heads 4 --kv-heads 4 --intermediate 688 --vocab 1000 --layers 8 \
  --out "$dir/model" >/dev/null || fail "srr synthetic"
args=(calibrate --model "$dir/model" --text "$text" --max-chars 20000 --ctx 256 --windows 6 --json)
hash_of() { sed -n 's/.*"content_sha256":"\([0-9a-f]*\)".*/\1/p' "$1"; }
kept_of() { sed -n 's/.*"layers_kept":\([0-9]*\).*/\1/p' "$1"; }

start=$(date +%s%N)
"$mpiexec" -n 2 "$srr" "${args[@]}" --out "$dir/ref.h5" >"$dir/ref.json" 2>"$dir/ref.log" \
  || { cat "$dir/ref.log"; fail "reference run failed"; }
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
ref=$(hash_of "$dir/ref.json")
[ -n "$ref" ] || fail "the reference run printed no content_sha256"
echo "reference: ${wall_ms} ms, content_sha256 $ref"

seed=${SRR_KILL_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
echo "kill schedule seed: $seed (rerun with SRR_KILL_SEED=$seed to replay it)"

kill_run() {  # kill_run DELAY_MS OUT LOG
  kill_session "$dir" "$1" "$3" "$mpiexec" -n 2 "$srr" "${args[@]}" --out "$2"
}

partial=0
for ((i = 0; i < trials; i++)); do
  out=$dir/run.h5
  rm -f "$out" "$out".tmp.* "$out".lock
  kill_run $(( RANDOM % wall_ms + 1 )) "$out" "$dir/kill-$i.log"
  (( i % 2 == 0 )) && kill_run $(( RANDOM % wall_ms + 1 )) "$out" "$dir/kill-$i-again.log"
  "$mpiexec" -n 2 "$srr" "${args[@]}" --out "$out" >"$dir/resume-$i.json" 2>"$dir/resume-$i.log" \
    || { cat "$dir/resume-$i.log"; fail "trial $i: the rerun failed (seed $seed)"; }
  got=$(hash_of "$dir/resume-$i.json") kept=$(kept_of "$dir/resume-$i.json")
  [ "$got" = "$ref" ] || fail "trial $i: the completed file differs from the uninterrupted run's (seed $seed)"
  [ -n "$kept" ] && [ "$kept" -gt 0 ] && partial=$((partial + 1))
  echo "trial $i: rerun kept ${kept:-all (reused)} finished layers; content equal"
done
echo "$partial of $trials reruns resumed a partly written file"
[ "$partial" -ge 1 ] || fail "no kill landed while layers were being written (seed $seed)"
rm -rf "$dir"
echo "1 passed, 0 failed: every completed file equals the uninterrupted run's"
