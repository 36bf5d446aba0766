#!/usr/bin/env bash
# Proves real Slurm submission of this workflow with profiles/slurm: starts a throw-away one-node
# Slurm cluster on localhost (munged, slurmctld, slurmd; config from slurm.conf.in beside this file),
# runs a small smoke target with snakemake-executor-plugin-slurm in a temporary copy of the
# workflow, checks that the jobs went through Slurm and that the outputs are valid, then stops the
# daemons it started (by PID) and removes its files. Exit status 0 = passed.
#
#   sudo bash tests/slurm/run_slurm_test.sh     # ~1-2 min; root: apt-get, daemons, /etc/slurm
#
# Needs: root, Debian/Ubuntu (installs slurm-wlm and munge with apt-get if missing), and the plugin
# in the project's venv (pip install -e '.[slurm]'). Environment knobs:
#   PYTHON=.venv/bin/python    interpreter whose snakemake runs the workflow
#   SLURM_TEST_TIMEOUT=600     hard limit (s) on the snakemake run
#   KEEP_SLURM_TEST_DIR=1      keep the temporary directory (workflow copy, Slurm state and logs)
# Without slurmdbd there is no accounting, so job status is read with squeue
# (--slurm-status-command squeue; MinJobAge keeps finished jobs visible to squeue).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
SNAKEMAKE=$(dirname "$PYTHON")/snakemake
TIMEOUT_S=${SLURM_TEST_TIMEOUT:-600}
SLURM_CONF_PATH=/etc/slurm/slurm.conf   # the plugin's job steps drop SLURM_CONF: use the default path
MARKER="persim-repro-slurm-test"        # first line of a slurm.conf this script wrote
PID_DIR=/run/persim-slurm-test           # PIDs of the daemons of the last run (for re-runs)
WORKFLOW_PARTS=(Snakefile rules scripts config persim environment.yml report profiles)
# The target: every env's agents table (3 jobs, run as ONE grouped Slurm job) and one dataset.
TARGETS=(agent_tables results/smoke/cartpole/datasets/random.parquet)
EXPECTED_OUTPUTS=(results/smoke/mountaincar/agents.parquet results/smoke/cartpole/agents.parquet
                  results/smoke/halfcheetah/agents.parquet results/smoke/cartpole/datasets/random.parquet)
EXPECTED_SLURM_JOBS=2

WORK=""
STARTED_PIDS=()
WROTE_CONF=0
T0=$SECONDS

log() { printf '[slurm-test %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---- clean-up: always runs ---------------------------------------------------------------
stop_pid() {  # stop_pid PID NAME: SIGTERM, wait (timeout: 30 s, daemons: 15 s), then SIGKILL
    local pid=$1 name=$2 i tries=30
    kill -0 "$pid" 2>/dev/null || return 0
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 0  # PID reused: not ours
    # `timeout` passes SIGTERM on to snakemake (which cancels its Slurm jobs) and SIGKILLs it 20 s later
    [[ "$name" == timeout ]] && tries=60
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < tries; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    log "$name ($pid) ignored SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? entry
    trap - EXIT INT TERM
    set +e
    if ((rc != 0)) && [[ -n "$WORK" ]]; then
        for f in "$WORK/snakemake.log" "$WORK/state/slurmctld.log" "$WORK/state/slurmd.log"; do
            [[ -f "$f" ]] && { echo "---- tail of $f" >&2; tail -n 40 "$f" >&2; }
        done
    fi
    # reverse start order: snakemake (its `timeout` wrapper), then any Slurm jobs still queued or
    # running on the throw-away cluster, then slurmd, slurmctld, munged
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${STARTED_PIDS[i]}
        [[ "${entry#*:}" == slurmd ]] && timeout 10 scancel --user "$(id -un)" 2>/dev/null
        stop_pid "${entry%%:*}" "${entry#*:}"
    done
    rm -f "$PID_DIR"/*.pid
    if ((WROTE_CONF)) && head -n1 "$SLURM_CONF_PATH" 2>/dev/null | grep -q "$MARKER"; then
        rm -f "$SLURM_CONF_PATH"
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "${KEEP_SLURM_TEST_DIR:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
        rm -f "$PID_DIR/workdir"
    fi
    if ((rc == 0)); then log "PASSED in $((SECONDS - T0)) s"; else log "FAILED (exit $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_daemon() {  # start_daemon NAME CMD...: run CMD in the foreground of a background job
    local name=$1; shift
    "$@" >"$WORK/state/$name.out" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid:$name")
    echo "$pid" >"$PID_DIR/$name.pid"
    log "started $name (pid $pid)"
}

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.5 s
    local limit=$1 what=$2 end; shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || die "timed out after ${limit}s waiting for $what"
        sleep 0.5
    done
}

# ---- 1. prerequisites ----------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "run as root (installs packages, starts daemons, writes $SLURM_CONF_PATH)"
[[ -x "$SNAKEMAKE" ]] || die "no snakemake at $SNAKEMAKE (make setup, or set PYTHON=)"
PLUGIN_VERSION=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))' 2>/dev/null) \
    || die "snakemake-executor-plugin-slurm is not installed in $PYTHON's environment: pip install -e '.[slurm]'"

missing=0
for tool in munged munge unmunge slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
    command -v "$tool" >/dev/null || missing=1
done
if ((missing)); then
    log "installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
log "slurmctld $(slurmctld -V | awk '{print $2}'), $(munged --version 2>&1 | awk '{print $1}'), snakemake $("$SNAKEMAKE" --version), plugin $PLUGIN_VERSION"

# ---- 2. leftovers of an interrupted earlier run, and foreign daemons ------------------------
mkdir -p "$PID_DIR"
if [[ -f "$PID_DIR/workdir" ]]; then  # temporary directory of an interrupted run
    old_work=$(cat "$PID_DIR/workdir")
    [[ "$old_work" == /tmp/persim-slurm-test.* ]] && rm -rf "$old_work"
    rm -f "$PID_DIR/workdir"
fi
for name in timeout slurmd slurmctld munged; do
    f="$PID_DIR/$name.pid"
    [[ -f "$f" ]] || continue
    log "stopping $name left by an earlier run (pid $(cat "$f"))"
    stop_pid "$(cat "$f")" "$name"
    rm -f "$f"
done
for d in slurmctld slurmd; do
    pid=$(pgrep -x "$d" | head -n1 || true)
    [[ -z "$pid" ]] || die "a $d not started by this script is running (pid $pid): refusing to touch a real cluster"
done
if [[ -e "$SLURM_CONF_PATH" ]] && ! head -n1 "$SLURM_CONF_PATH" | grep -q "$MARKER"; then
    die "$SLURM_CONF_PATH exists and was not written by this script: refusing to overwrite it"
fi

WORK=$(mktemp -d /tmp/persim-slurm-test.XXXXXX)
echo "$WORK" >"$PID_DIR/workdir"
mkdir -p "$WORK/state/slurmctld" "$WORK/state/slurmd"
chmod 755 "$WORK"

# ---- 3. munge ------------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 700 /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "using the munged that is already running"
else
    start_daemon munged setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground
    wait_for 20 "munged" bash -c 'munge -n </dev/null | unmunge'
fi

# ---- 4. slurm.conf and daemons -------------------------------------------------------------
HOST=$(hostname -s)
MEM_MB=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
[[ -n "$MEM_MB" ]] || die "slurmd -C reported no RealMemory"
MEM_MB=$((MEM_MB * 9 / 10))   # leave the OS some room; the smoke jobs ask for <= 4000 MB
((MEM_MB >= 4000)) || die "this machine has too little memory for the dataset rule's 4000 MB"
install -d /etc/slurm
sed -e "s|@HOST@|$HOST|g" -e "s|@STATE@|$WORK/state|g" -e "s|@MEM_MB@|$MEM_MB|g" \
    -e "s|@CPUS@|2|g" -e "s|@PARTITION@|debug|g" \
    -e "s|@CTLD_PORT@|6817|g" -e "s|@SLURMD_PORT@|6818|g" \
    "$HERE/slurm.conf.in" >"$SLURM_CONF_PATH"
WROTE_CONF=1
head -n1 "$SLURM_CONF_PATH" | grep -q "$MARKER" || die "slurm.conf.in must start with the marker '$MARKER'"
unset SLURM_CONF

start_daemon slurmctld slurmctld -D -i
wait_for 30 "slurmctld to answer" scontrol ping
start_daemon slurmd slurmd -D
node_idle() { [[ "$(sinfo -h -n "$HOST" -o %t)" == idle ]]; }
wait_for 60 "node $HOST to become idle" node_idle
log "cluster up: $(sinfo -h -o '%P %D %c CPUs %m MB %t')"

# ---- 5. the workflow run -------------------------------------------------------------------
mkdir -p "$WORK/wf"
for part in "${WORKFLOW_PARTS[@]}"; do cp -r "$REPO/$part" "$WORK/wf/"; done
cd "$WORK/wf"
# The command line replaces profiles/slurm's groups, group-components and set-resources: here the
# three agents jobs form one group (one group_slot each, as the profile does for eval_prediction),
# so the test also proves job grouping and its sizing; status checks start after 2 s, not 40 s.
CMD=("$SNAKEMAKE" "${TARGETS[@]}" --profile profiles/slurm --configfile config/smoke.yaml
     --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2
     --slurm-keep-successful-logs --latency-wait 5
     --groups agents=smoke_agents --group-components smoke_agents=3
     --set-resources agents:group_slot=1)
log "running: ${CMD[*]}"
run_start=$SECONDS
# In the background (PID recorded), so that a signal to this script or a re-run can stop it.
PYTHONWARNINGS=ignore timeout -k 20 "$TIMEOUT_S" "${CMD[@]}" >"$WORK/snakemake.log" 2>&1 &
smk_pid=$!
STARTED_PIDS+=("$smk_pid:timeout")
echo "$smk_pid" >"$PID_DIR/timeout.pid"
smk_rc=0
wait "$smk_pid" || smk_rc=$?
log "snakemake exited $smk_rc after $((SECONDS - run_start)) s"
((smk_rc != 124 && smk_rc != 137)) || die "snakemake hit the ${TIMEOUT_S}s timeout"
((smk_rc == 0)) || die "snakemake failed (exit $smk_rc)"

# ---- 6. checks -----------------------------------------------------------------------------
for out in "${EXPECTED_OUTPUTS[@]}"; do
    [[ -s "$out" ]] || die "missing output $out"
done
PYTHONPATH="$WORK/wf" "$PYTHON" - <<'EOF' || die "the dataset written under Slurm does not load"
import pandas as pd
from persim.data.schema import load_dataset
ds = load_dataset("results/smoke/cartpole/datasets/random.parquet", env="cartpole")
agents = pd.read_parquet("results/smoke/cartpole/agents.parquet")
assert len(agents) == 8 and len(set(ds.agent_ids.tolist())) == 8, (len(agents), set(ds.agent_ids.tolist()))
EOF

# Slurm's own record: every job this run submitted (squeue keeps finished ones for MinJobAge).
jobs=$(squeue -h --states=all -o '%i|%j|%T|%C|%m|%l')
log "Slurm jobs (id|name|state|cpus|mem|time limit):"$'\n'"$jobs"
n_jobs=$(grep -c . <<<"$jobs" || true)
((n_jobs == EXPECTED_SLURM_JOBS)) || die "expected $EXPECTED_SLURM_JOBS Slurm jobs, squeue lists $n_jobs"
n_done=$(grep -c '|COMPLETED|' <<<"$jobs" || true)
((n_done == EXPECTED_SLURM_JOBS)) || die "not every Slurm job COMPLETED"
n_submitted=$(grep -c 'submitted with SLURM jobid' "$WORK/snakemake.log" || true)
((n_submitted == EXPECTED_SLURM_JOBS)) || die "snakemake reports $n_submitted submissions, expected $EXPECTED_SLURM_JOBS"
n_alloc=$(grep -c 'sched: Allocate JobId=' "$WORK/state/slurmctld.log" || true)
((n_alloc == EXPECTED_SLURM_JOBS)) || die "slurmctld allocated $n_alloc jobs, expected $EXPECTED_SLURM_JOBS"
n_ok=$(grep -c '_job_complete: JobId=.* WEXITSTATUS 0' "$WORK/state/slurmctld.log" || true)
((n_ok == EXPECTED_SLURM_JOBS)) || die "slurmctld saw $n_ok jobs exit 0, expected $EXPECTED_SLURM_JOBS"
# The plugin's per-job logs: the group job ran all three agents jobs.
group_log=$(find .snakemake/slurm_logs -path '*smoke_agents*' -name '*.log' | head -n1)
[[ -n "$group_log" ]] || die "no Slurm log of the grouped agents job under .snakemake/slurm_logs"
n_agents=$(grep -c '^rule agents:' "$group_log" || true)
((n_agents == 3)) || die "the grouped Slurm job ran $n_agents agents jobs, expected 3 ($group_log)"
# Its members run one after another, so it must ask for 1 CPU, 1 x 1000 MB and 3 x 5 min.
group_request=$(squeue -h --states=all -j "$(basename "$group_log" .log)" -o '%C|%m|%l')
[[ "$group_request" == "1|1000M|15:00" ]] \
    || die "group job asked Slurm for '$group_request' (cpus|mem|time), expected '1|1000M|15:00'"
dataset_log=$(find .snakemake/slurm_logs -path '*dataset*' -name '*.log' | head -n1)
[[ -n "$dataset_log" ]] || die "no Slurm log of the dataset job under .snakemake/slurm_logs"
log "outputs present and valid; $n_jobs Slurm jobs COMPLETED (one group of 3 agents jobs + 1 dataset job)"
