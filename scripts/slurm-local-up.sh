#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (munged, slurmctld, slurmd), as toolchain.md §A.8 does:
# root, no systemd, daemons started by hand. Idempotent: running daemons are kept (and reconfigured when
# slurm.conf changed), missing ones are started. Needs the Debian packages slurm-wlm and munge
# (scripts/install-deps.sh installs them). Exits non-zero, with the daemons' log tails, when the node does
# not come up.
#   bash scripts/slurm-local-up.sh          # then: sinfo, sbatch, squeue ...
#   bash scripts/slurm-local-down.sh        # stops what this started
set -euo pipefail
say() { echo "slurm-local-up: $*" >&2; }
die() {
  say "ERROR: $*"
  for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log /var/log/munge/munged.log; do
    [[ -f $f ]] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "must run as root (the daemons are started by hand, without systemd)"
for tool in munged munge unmunge slurmctld slurmd scontrol sinfo sbatch; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install slurm-wlm munge (scripts/install-deps.sh)"
done

# ---- munge ----
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged || die "munged did not start"
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munge does not answer"
fi

# ---- slurm.conf for this node, as slurmd itself sees the hardware ----
NODE=$(hostname -s)
HW=$(slurmd -C | head -n 1)                       # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 ...
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM_MB=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
MEM_MB=$(( MEM_MB > 4096 ? MEM_MB - 2048 : MEM_MB ))  # leave the system some room
[[ -n $CPUS && -n $MEM_MB ]] || die "cannot read the node's hardware from 'slurmd -C': $HW"
install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
CONF=$(cat <<CONF
# Written by scripts/slurm-local-up.sh: a one-node cluster on localhost (toolchain.md §A.8).
ClusterName=local
SlurmctldHost=${NODE}(127.0.0.1)
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Array tasks start within a second instead of ~3 s apart (toolchain.md §A.8).
SchedulerParameters=bf_interval=1,sched_min_interval=0
MpiDefault=pmix
ReturnToService=2
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxArraySize=10001
KillWait=5
MinJobAge=300
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
changed=0
if [[ ! -f /etc/slurm/slurm.conf ]] || [[ "$(cat /etc/slurm/slurm.conf)" != "$CONF" ]]; then
  printf '%s\n' "$CONF" >/etc/slurm/slurm.conf
  changed=1
fi

# ---- daemons ----
if scontrol ping 2>/dev/null | grep -q 'is UP'; then
  if ((changed)); then say "slurm.conf changed: reconfiguring"; scontrol reconfigure || die "scontrol reconfigure failed"; fi
else
  slurmctld -c || die "slurmctld did not start"   # -c: a clean job state
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
  scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld does not answer"
fi
if ! { [[ -f /run/slurmd.pid ]] && kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null; }; then
  slurmd || die "slurmd did not start"
fi
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1)
  case $state in
    idle | mixed | allocated | completing) break ;;
    drain* | down* | fail*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case $state in
  idle | mixed | allocated | completing) ;;
  *) die "node $NODE is '${state:-unknown}', not idle" ;;
esac
say "cluster up: node $NODE, $CPUS CPUs, ${MEM_MB} MB, partition debug"
sinfo
