#!/usr/bin/env bash
# Crash safety of `srr quantize` (docs/store.md): SIGKILL whole MPI jobs at moments spread over a run —
# start-up, store creation, computing, writing a layer, closing — resume each time, and require the
# completed store to equal an uninterrupted run's, dataset for dataset, bit for bit.
#
#   kill_test.sh SRR STORE_TOOL MPIEXEC MODEL WORKDIR TRIALS
#
# Each trial starts from no store, kills a run after a delay taken from a schedule that sweeps the
# reference run's wall time (with jitter), kills the resumed run again in every other trial, then resumes
# to completion and compares. Killed runs use 1, 2 or 3 ranks in turn, completions 2: results must not
# depend on the rank count, nor on which layers an earlier run finished.
set -uo pipefail
srr=$1 tool=$2 mpiexec=$3 model=$4 dir=$5 trials=$6

fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../common/kill_session.sh"

kill_test_dir "$dir"

[ -f "$model" ] || fail "missing checkpoint $model (is SRR_DATA_DIR right?)"
# Small layers: writing (with its two fsyncs) is a large share of each layer's time, so kills hit writes.
args=(quantize --model "$model" --rank 8 --scale identity --bits 3)

# Reference: one uninterrupted run. When its store appears and when its last layer is written set the kill
# schedule: MPI's start-up before and its shutdown after are most of a run this short. The master logs both
# moments ("plan:", "done:"), timestamped by the clock of this shell's `date`.
start=$(date +%s%N)
"$mpiexec" -n 2 "$srr" "${args[@]}" --out "$dir/ref.h5" >"$dir/ref.log" 2>&1 || { cat "$dir/ref.log"; fail "reference run failed"; }
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
# ms after the start at which the reference logged the line "[…] [rank 0] [info] $1…"
logged_ms() {
  local t
  t=$(sed -n "s/^\[\([0-9-]* [0-9:.]*\)\] \[rank 0\] \[info\] $1.*/\1/p" "$dir/ref.log" | head -1)
  [ -n "$t" ] || { cat "$dir/ref.log"; fail "the reference run logged no '$1' line"; }
  echo $(( ($(date -d "$t" +%s%N) - start) / 1000000 ))
}
store_ms=$(logged_ms "plan: ")
done_ms=$(logged_ms "done: ")
total=$("$tool" done "$dir/ref.h5" | cut -d' ' -f2)
echo "reference: $total layers in ${wall_ms} ms, computed and written from ${store_ms} to ${done_ms} ms"

kills=0 mid_run=0 before_store=0 complete=0
# A reproducible schedule: the kill times come from $RANDOM seeded here; SRR_KILL_SEED replays another.
seed=${SRR_KILL_SEED:-12345}
RANDOM=$seed
echo "kill schedule seed: $seed (rerun with SRR_KILL_SEED=$seed to replay it)"

# Starts a run in its own session, kills the whole session with SIGKILL after $2 ms, waits for every
# process of it to be gone, and classifies the moment by what the store holds afterwards.
kill_run() {
  local np=$1 delay_ms=$2 store=$3 log=$4
  kill_session "$dir" "$delay_ms" "$log" "$mpiexec" -n "$np" "$srr" "${args[@]}" --out "$store"
  kills=$((kills + 1))
  if [ ! -e "$store" ]; then
    before_store=$((before_store + 1))
  else
    local done
    done=$("$tool" done "$store" | cut -d' ' -f1) || fail "store $store unreadable after a kill (delay ${delay_ms} ms)"
    if [ "$done" -ge "$total" ]; then complete=$((complete + 1)); else mid_run=$((mid_run + 1)); fi
  fi
}

for ((i = 0; i < trials; i++)); do
  store=$dir/run.h5
  rm -f "$store" "$store".tmp.*
  # Sweep from 10 % of the layer window before the store appears to 5 % past the end, jittered by ±2.5 %
  # of the window.
  window=$(( done_ms - store_ms > 20 ? done_ms - store_ms : 20 ))
  delay=$(( store_ms - window / 10 + window * (1150 * i / trials) / 1000 + (RANDOM % (window / 20 + 1)) - window / 40 ))
  [ "$delay" -lt 1 ] && delay=1
  kill_run $((1 + i % 3)) "$delay" "$store" "$dir/kill-$i.log"
  if (( i % 2 == 0 )); then
    kill_run $((1 + (i + 1) % 3)) $(( RANDOM % wall_ms + 1 )) "$store" "$dir/kill-$i-again.log"
  fi
  "$mpiexec" -n 2 "$srr" "${args[@]}" --out "$store" >"$dir/resume-$i.log" 2>&1 \
    || { cat "$dir/resume-$i.log"; fail "trial $i: the resumed run failed"; }
  "$tool" diff "$dir/ref.h5" "$store" >"$dir/diff-$i.log" \
    || { cat "$dir/diff-$i.log"; fail "trial $i: the resumed store differs from the reference"; }
done

echo "kills: $kills (before the store existed: $before_store, mid-run: $mid_run, after completion: $complete)"
[ "$kills" -ge 20 ] || fail "only $kills kills"
[ "$mid_run" -ge 5 ] || fail "only $mid_run kills landed while layers were being computed or written"
rm -rf "$dir/tmp" "$dir/shm"
echo "1 passed, 0 failed: every resumed store equals the uninterrupted run's"
