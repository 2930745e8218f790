#!/usr/bin/env bash
# Start a local xparl cluster (one master, one worker with CPUS CPUs) for `--cluster`.
#
#   scripts/start_cluster.sh [CPUS] [PORT]     # prints HOST:PORT, e.g. localhost:8010
#   scripts/start_cluster.sh stop PORT         # stops exactly that cluster
#
# Then: autodl-design search ... --cluster localhost:8010 (execution.workers <= CPUS).
# Unlike `xparl stop`, stopping kills only this cluster's process groups, not every xparl
# process on the machine. THREADS (default 1) sets the math threads of each job.
#
# To add another machine's CPUs, run there (with autodl-design installed in that Python):
#   PARL_BACKEND=paddle PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python OMP_NUM_THREADS=1 \
#     MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 xparl connect --address MASTER_IP:PORT --cpu_num K
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
[ -x "$python" ] || python=python3

if [ "${1:-}" = "stop" ]; then
    [ $# -eq 2 ] || { echo "usage: $0 stop PORT" >&2; exit 2; }
    exec "$python" -m autodl_design.search.backends.cluster stop --port "$2"
fi

cpus="${1:-$(nproc)}"
args=(start --cpus "$cpus" --threads "${THREADS:-1}")
[ -n "${2:-}" ] && args+=(--port "$2")
address="$("$python" -m autodl_design.search.backends.cluster "${args[@]}")"
echo "$address"
echo "run the search with:  --cluster $address    stop with:  $0 stop ${address##*:}" >&2
