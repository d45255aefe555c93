#!/usr/bin/env bash
# `wrk` as registry-api/benches/log.rs calls it, put first on PATH by ci/bench_log.sh (never run by
# hand): each proof measurement of the registry is followed, in the same run, by the same wrk command
# against nginx serving one of the registry's own proof responses as a static file (the reference).
#
#   wrk -tT -cC -dDs --latency -s ci/bench_log_inclusion.lua http://127.0.0.1:PORT   (from the bench)
#
# 1. The first time a proof kind (LOG_PATH) is measured, while the bench's server is up: 101 proofs
#    are fetched with the parameters the Lua script draws (LOG_SIZE), and the response of median size
#    is written where nginx serves it; nginx must then return the same bytes.
# 2. The real wrk runs against the registry; its output goes back to the bench and is kept.
# 3. The same wrk command (same script: nginx ignores the query string) runs against nginx.
# Outputs, per "<kind>-c<connections>": mpr-*.txt, nginx-*.txt (wrk), *.compilers (compiler
# processes counted once a second during the run), in BENCH_LOG_REF.
# Environment (set by ci/bench_log.sh): BENCH_LOG_REF (its directory; www/ is nginx's root),
# BENCH_LOG_WRK (the real wrk), BENCH_LOG_NGINX (nginx's base URL).
set -euo pipefail
: "${BENCH_LOG_REF:?set by ci/bench_log.sh}" "${BENCH_LOG_WRK:?}" "${BENCH_LOG_NGINX:?}"

args=("$@")
[ ${#args[@]} -gt 0 ] || { echo "bench_log_reference: no arguments" >&2; exit 2; }
base=${args[${#args[@]}-1]}
case $base in http://*) ;; *) echo "bench_log_reference: the last argument is not a URL: $base" >&2; exit 2 ;; esac
connections=
for arg in "${args[@]}"; do
    case $arg in -c*) connections=${arg#-c} ;; esac
done
kind=${LOG_PATH:-inclusion}
size=${LOG_SIZE:-1000000}
run=$kind-c$connections
file=$BENCH_LOG_REF/www/v1/log/proof/$kind

if [ ! -e "$file" ]; then
    python3 - "$base" "$kind" "$size" "$file.tmp" >"$BENCH_LOG_REF/capture-$kind.txt" <<'PY'
import random, sys, urllib.request
base, kind, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# The draws of ci/bench_log_inclusion.lua.
def query():
    if kind == "consistency":
        to = random.randint(2, size)
        return f"/v1/log/proof/consistency?from={random.randint(1, to - 1)}&to={to}"
    return f"/v1/log/proof/inclusion?index={random.randint(0, size - 1)}&size={size}"
responses = []
for _ in range(101):
    q = query()
    with urllib.request.urlopen(base + q) as response:
        assert response.status == 200, (q, response.status)
        responses.append((len(body := response.read()), q, body))
responses.sort(key=lambda r: r[0])
length, q, body = responses[len(responses) // 2]
open(out, "wb").write(body)
sizes = [r[0] for r in responses]
print(f"{kind}: {len(sizes)} responses sampled, body {min(sizes)}-{max(sizes)} bytes "
      f"(mean {sum(sizes) / len(sizes):.0f}); served by nginx: {length} bytes, the response to {q}")
PY
    chmod a+r "$file.tmp"
    mv "$file.tmp" "$file"
    query=$(sed -n 's/.*, the response to //p' "$BENCH_LOG_REF/capture-$kind.txt")
    cmp -s "$file" <(curl -fsS "$BENCH_LOG_NGINX$query") \
        || { echo "bench_log_reference: nginx does not serve the captured $kind proof" >&2; exit 1; }
    echo "response headers for that request: mpr $(curl -fsS -o /dev/null -w '%{size_header}' "$base$query") bytes," \
        "nginx $(curl -fsS -o /dev/null -w '%{size_header}' "$BENCH_LOG_NGINX$query") bytes" >>"$BENCH_LOG_REF/capture-$kind.txt"
fi

# Compiler processes (another build on the machine) once a second while wrk runs.
sampler=
count_compilers() {
    while :; do
        pgrep -c -x 'rustc|cargo|cc|ld|cc1|cc1plus|ld\.lld|clang' || true
        sleep 1
    done
}
stop_sampler() {
    if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    sampler=
}
trap stop_sampler EXIT

count_compilers >"$BENCH_LOG_REF/mpr-$run.compilers" &
sampler=$!
# stderr goes to the bench as it is (it fails on "unexpected status"); stdout is kept as well.
"$BENCH_LOG_WRK" "$@" | tee "$BENCH_LOG_REF/mpr-$run.txt"
stop_sampler

count_compilers >"$BENCH_LOG_REF/nginx-$run.compilers" &
sampler=$!
"$BENCH_LOG_WRK" "${args[@]:0:${#args[@]}-1}" "$BENCH_LOG_NGINX" \
    >"$BENCH_LOG_REF/nginx-$run.txt" 2>"$BENCH_LOG_REF/nginx-$run.err"
stop_sampler
