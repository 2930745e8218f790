#!/usr/bin/env bash
# Run a CIFAR-10 architecture search on the bundled subset.
#   scripts/search_cifar10.sh [quick|cpu|original_gpu] [more autodl-design search flags...]
# e.g. scripts/search_cifar10.sh cpu --workers 2
#      scripts/search_cifar10.sh quick --data /data/cifar-10-python.tar.gz
#      scripts/search_cifar10.sh cpu --cluster 127.0.0.1:8010      (see scripts/start_cluster.sh)
# A new output directory is used per run; continue a killed run with
#      scripts/search_cifar10.sh cpu --output runs/cpu-YYYYmmdd-HHMMSS --resume
set -euo pipefail
cd "$(dirname "$0")/.."
setting="${1:-quick}"
shift || true
config="configs/${setting}.yaml"
[ -f "$config" ] || { echo "no such setting: $setting (configs/*.yaml)" >&2; exit 2; }
bin=".venv/bin/autodl-design"
[ -x "$bin" ] || bin="autodl-design"
has_output=0
for arg in "$@"; do [ "$arg" = "--output" ] && has_output=1; done
if [ "$has_output" = 0 ]; then
  set -- --output "runs/${setting}-$(date +%Y%m%d-%H%M%S)" "$@"
fi
exec "$bin" search -c "$config" "$@"
