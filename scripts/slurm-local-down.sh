#!/usr/bin/env bash
# Stops the one-node cluster of scripts/slurm-local-up.sh: cancels every job, stops slurmctld and slurmd
# (scontrol shutdown), then munged (by its pid file). Idempotent; only touches these three daemons.
set -euo pipefail
say() { echo "slurm-local-down: $*" >&2; }
[[ $(id -u) -eq 0 ]] || { say "must run as root"; exit 1; }
if scontrol ping 2>/dev/null | grep -q 'is UP'; then
  scancel --full --quiet --user=root 2>/dev/null || true
  scontrol shutdown >/dev/null 2>&1 || true
fi
for pidfile in /run/slurmctld.pid /run/slurmd.pid; do   # wait for them to go, so a restart finds the ports free
  [[ -f $pidfile ]] || continue
  pid=$(cat "$pidfile")
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$pidfile ($pid) still running: SIGTERM"; kill "$pid" 2>/dev/null || true; fi
done
if [[ -f /run/munge/munged.pid ]]; then
  pid=$(cat /run/munge/munged.pid)
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
say "stopped"
