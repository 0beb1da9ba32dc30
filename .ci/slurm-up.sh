#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine (Debian's slurm-wlm and munge) for the
# Slurm executor's tests: a munge key, munged as user munge, a minimal slurm.conf sized from
# `slurmd -C`, then slurmctld and slurmd. Idempotent: does nothing when `sinfo` already answers.
# Needs root (it writes /etc/slurm and starts daemons). Prints the partition when ready.
set -euo pipefail

if sinfo -h >/dev/null 2>&1 && [ -n "$(sinfo -h -o %T 2>/dev/null | grep -E 'idle|mix|alloc' || true)" ]; then
    sinfo
    exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q slurm-wlm munge
fi

# munge: a key readable only by munge, its runtime directories, the daemon as user munge.
if [ ! -s /etc/munge/munge.key ]; then
    $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$sudo mkdir -p /run/munge /var/lib/munge /var/log/munge
$sudo chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
$sudo chmod 0400 /etc/munge/munge.key
$sudo chmod 0755 /run/munge
if ! pgrep -x munged >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        runuser -u munge -- /usr/sbin/munged
    else
        sudo -u munge /usr/sbin/munged
    fi
fi
for _ in $(seq 1 50); do
    if munge -n </dev/null >/dev/null 2>&1; then break; fi
    sleep 0.1
done

# One node with what slurmd detects (memory less a margin for the system), one partition.
host=$(hostname -s)
node=$(slurmd -C | head -1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
mem=$((mem * 9 / 10))
$sudo mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
$sudo tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=drift-ci
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=3600
MaxArraySize=10001
SchedulerParameters=sched_interval=1
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 0.5
$sudo /usr/sbin/slurmctld -c
$sudo /usr/sbin/slurmd
for _ in $(seq 1 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mix|alloc'; then
        sinfo
        exit 0
    fi
    sleep 0.2
done
echo "slurm did not come up; last lines of its logs:" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
