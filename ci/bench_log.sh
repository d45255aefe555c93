#!/usr/bin/env bash
# The transparency log at 1,000,000 entries (issue 11): append throughput with integration and
# checkpoint signing, restart load time, and proof latency under wrk. Prints a Markdown table.
# The reference, measured in the same run: after each wrk run against the bench's server, the same
# wrk command against nginx serving one of that server's proof responses (of median size) as a
# static file (ci/bench_log_reference.sh stands in for wrk to do this; the bench is unchanged). Its
# rows follow the bench's, then the ratios mpr/nginx of p99 and of requests/s; the raw wrk outputs
# and the served responses are kept in $MPR_CACHE/bench-log/.
#
#   BENCH_DATABASE_URL=postgres://...  use that PostgreSQL server (a database is created and dropped)
#   otherwise a temporary cluster is started here (as the postgres user when run as root) and removed.
#   LOG_ENTRIES (1000000), LOG_BATCH (10000), WRK_SECONDS (10)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/nginx_reference.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpr/target} SQLX_OFFLINE=true
MPR_CACHE=${MPR_CACHE:-$HOME/.cache/mpr}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench-log: ${missing[*]} needed (apt-get install ${missing[*]})" >&2; exit 1; }
    echo "bench-log: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]/nginx-light/nginx}" >/dev/null
fi

cluster=""
ref=""
nginx_pid=""
cleanup() {
    stop_nginx "$nginx_pid"
    if [ -n "$ref" ]; then rm -rf "$ref"; fi
    if [ -n "$cluster" ]; then
        run_pg pg_ctl -D "$cluster/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$cluster"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
run_pg() {
    local bin
    bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/$1" "${@:2}"; else "$bin/$1" "${@:2}"; fi
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
if [ -z "${BENCH_DATABASE_URL:-}" ]; then
    cluster=$(mktemp -d /tmp/mpr-bench-log.XXXXXX)
    chmod 755 "$cluster"
    [ "$(id -u)" = 0 ] && chown postgres "$cluster"
    port=$(free_port)
    run_pg initdb -D "$cluster/data" -A trust -U postgres >/dev/null
    run_pg pg_ctl -D "$cluster/data" -o "-p $port -k /tmp" -l "$cluster/log" -w start >/dev/null
    export BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi

# --- the reference: nginx serving captured proof responses ------------------------------------------
# As in ci/bench_registry.sh: keep-alive like hyper's, descriptors kept open, the body copied into the
# response (no sendfile), no access log. www/v1/log/proof/{inclusion,consistency} are written by the
# stand-in wrk while the bench's server is up; nginx ignores the query strings the Lua script adds.
# Same Content-Type and Cache-Control as the registry's proof responses, and the same body bytes.
ref=$(mktemp -d /tmp/mpr-bench-log-nginx.XXXXXX)
chmod 755 "$ref"
mkdir -p "$ref/www/v1/log/proof" "$ref/bin"
echo ok >"$ref/www/ready"
chmod -R a+rX "$ref/www"
nginx_port=$(free_port)
{ nginx_conf_head "$ref"; cat <<EOF
    server {
        listen 127.0.0.1:$nginx_port;
        root $ref/www;
        # Headers close to the registry's (no ETag, Last-Modified or Accept-Ranges).
        location / {
            default_type application/json;
            add_header Cache-Control no-cache;
            add_header Last-Modified "";
            etag off;
            max_ranges 0;
            server_tokens off;
        }
    }
}
EOF
} >"$ref/nginx.conf"
nginx -e "$ref/nginx-error.log" -p "$ref" -c "$ref/nginx.conf" >"$ref/nginx.log" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/ready" 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || { echo "bench-log: nginx exited; its log:" >&2; cat "$ref/nginx.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/ready" || { echo "bench-log: nginx not ready after 10 s" >&2; exit 1; }
ln -s "$PWD/ci/bench_log_reference.sh" "$ref/bin/wrk"
BENCH_LOG_WRK=$(command -v wrk)
export BENCH_LOG_REF=$ref BENCH_LOG_WRK BENCH_LOG_NGINX=http://127.0.0.1:$nginx_port

build=(cargo bench -p registry-api --bench log --no-run)
run=(cargo bench -p registry-api --bench log)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
"${build[@]}" >&2
echo "## Transparency log ($(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Command: \`${run[*]}\` (ci/bench_log.sh; proofs measured with wrk and ci/bench_log_inclusion.lua," \
    "each run followed by the same wrk command against nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') serving a captured response)"
echo
# The bench's stderr (the raw wrk outputs, or why it failed) is kept.
PATH="$ref/bin:$PATH" "${run[@]}" 2>"$ref/bench-stderr.txt" || { tail -40 "$ref/bench-stderr.txt" >&2; exit 1; }
mkdir -p "$MPR_CACHE/bench-log"
rm -rf "${MPR_CACHE:?}/bench-log/"*
cp "$ref"/*.txt "$ref"/*.err "$ref"/*.compilers "$MPR_CACHE/bench-log/"
cp -r "$ref/www/v1" "$MPR_CACHE/bench-log/"
python3 - "$ref" <<'PY'
import os, re, sys
ref = sys.argv[1]
runs = [(kind, c) for c in (1, 8) for kind in ("inclusion", "consistency")]
def read(name):
    with open(os.path.join(ref, name)) as f:
        return f.read()
def summary(text):  # the lines the bench's summary of a wrk output shows (registry-api/benches/log.rs)
    # (The bench's filter also matches e.g. "64.50%" in a thread-statistics line; here only the
    # percentile lines themselves.)
    def wanted(line):
        return line.startswith(("50%", "75%", "90%", "99%")) or any(
            key in line for key in ("Requests/sec", "requests in", "Non-2xx"))
    return "; ".join(l.strip() for l in text.splitlines() if wanted(l.strip()))
def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
def parse(text):
    return {"p99": ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "errors": "Non-2xx" in text or "Socket errors" in text}
def compilers(name):
    counts = [int(x) for x in read(name).split()] or [0]
    return f"{sum(counts) / len(counts):.1f} / {max(counts)}"
failed = False
for kind, c in runs:
    text = read(f"nginx-{kind}-c{c}.txt")
    failed |= "unexpected status" in read(f"nginx-{kind}-c{c}.err") or parse(text)["errors"]
    duration = re.search(r"Running (\S+) test", text).group(1)
    print(f"| nginx, the same bytes as a static file: /v1/log/proof/{kind} "
          f"(wrk -t{min(c, 2)} -c{c} -d{duration} --latency) | {summary(text)} |")
print()
for kind in ("inclusion", "consistency"):
    for line in read(f"capture-{kind}.txt").strip().splitlines():
        print(f"- {line}")
print()
print("| proof, connections | p99 mpr / nginx | requests/s mpr / nginx | compiler processes during the mpr ; nginx run (mean / max) |")
print("|---|---|---|---|")
for kind, c in runs:
    m, n = parse(read(f"mpr-{kind}-c{c}.txt")), parse(read(f"nginx-{kind}-c{c}.txt"))
    print(f"| {kind}, -c{c} | {m['p99']:.3f} / {n['p99']:.3f} ms = **{m['p99'] / n['p99']:.2f}** | "
          f"{m['rps']:,.0f} / {n['rps']:,.0f} = **{m['rps'] / n['rps']:.2f}** | "
          f"{compilers(f'mpr-{kind}-c{c}.compilers')} ; {compilers(f'nginx-{kind}-c{c}.compilers')} |")
if failed:
    print()
    print("**nginx answered with errors (see the raw outputs): the reference is not valid.**")
PY
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
