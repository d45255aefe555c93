#!/usr/bin/env bash
# The transparency log at 1,000,000 entries (issue 11): append throughput with integration and
# checkpoint signing, restart load time, and proof latency under wrk. Prints a Markdown table.
#
#   BENCH_DATABASE_URL=postgres://...  use that PostgreSQL server (a database is created and dropped)
#   otherwise a temporary cluster is started here (as the postgres user when run as root) and removed.
#   LOG_ENTRIES (1000000), LOG_BATCH (10000), WRK_SECONDS (10)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpr/target} SQLX_OFFLINE=true
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

cluster=""
cleanup() {
    if [ -n "$cluster" ]; then
        run_pg pg_ctl -D "$cluster/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$cluster"
    fi
}
trap cleanup EXIT
run_pg() {
    local bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/$1" "${@:2}"; else "$bin/$1" "${@:2}"; fi
}
if [ -z "${BENCH_DATABASE_URL:-}" ]; then
    cluster=$(mktemp -d /tmp/mpr-bench-log.XXXXXX)
    chmod 755 "$cluster"
    [ "$(id -u)" = 0 ] && chown postgres "$cluster"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    run_pg initdb -D "$cluster/data" -A trust -U postgres >/dev/null
    run_pg pg_ctl -D "$cluster/data" -o "-p $port -k /tmp" -l "$cluster/log" -w start >/dev/null
    export BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi

build=(cargo bench -p registry-api --bench log --no-run)
run=(cargo bench -p registry-api --bench log)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
"${build[@]}" >&2
echo "## Transparency log ($(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Command: \`${run[*]}\` (ci/bench_log.sh; proofs measured with wrk and ci/bench_log_inclusion.lua)"
echo
"${run[@]}" 2>/dev/null
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
