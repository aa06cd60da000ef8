# Sourced by the kill tests (tests/store/kill_test.sh, tests/app/calibrate_kill.sh).
# kill_session DIR DELAY_MS LOG COMMAND...: runs COMMAND (output to LOG) as the leader of a session of its own,
# SIGKILLs every process of that session after DELAY_MS milliseconds, and waits until none is left. An MPI
# job's ranks are in other process groups but in that session, so the whole job dies at once. DIR holds the
# session id file. Calls `fail` (defined by the caller) when the job does not start or survives.
kill_session() {
  local dir=$1 delay_ms=$2 log=$3
  shift 3
  rm -f "$dir/sid"
  # The subshell around the job keeps the shell from reporting the kill.
  ( setsid bash -c 'echo $$ > "$0"; exec "$@"' "$dir/sid" "$@" >"$log" 2>&1; true ) &
  local waiter=$!
  for _ in $(seq 200); do [ -s "$dir/sid" ] && break; sleep 0.01; done
  local sid
  sid=$(cat "$dir/sid") || fail "the job did not start"
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  pkill -KILL -s "$sid"
  wait "$waiter"
  for _ in $(seq 100); do pgrep -s "$sid" >/dev/null || break; sleep 0.05; done
  pgrep -s "$sid" >/dev/null && fail "processes of killed job $sid survived"
  return 0
}

# kill_test_dir DIR: a fresh DIR for a kill test. Killed jobs leave Open MPI's session directory and
# shared-memory segments behind: they are kept in DIR. One BLAS thread per rank, so results are reproducible.
kill_test_dir() {
  rm -rf "$1"
  mkdir -p "$1/tmp" "$1/shm"
  export TMPDIR=$1/tmp OMPI_MCA_btl_vader_backing_directory=$1/shm
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
}
