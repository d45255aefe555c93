#!/usr/bin/env bash
# The registry's serving benchmark: GET /v1/releases/{version}/measurements from `mpr serve` (its
# embedded PostgreSQL, the response cache warm) against nginx serving the same JSON bytes as a
# static file, both loaded by wrk with the same settings on this machine in the same run (wrk
# shares the cores with the server it measures; that is how the target is defined).
# Targets: >= 20,000 requests/s, p99 < 5 ms, >= half of nginx's throughput, zero errors over 60 s.
# Environment: DURATION (wrk run per server, default 60s), WARMUP (default 5s), THREADS (2),
# CONNECTIONS (64), ROUNDS (1; each round runs nginx then mpr, the next round mpr then nginx).
# SQLX_OFFLINE=false builds against DATABASE_URL even when registry-api/.sqlx exists.
# Prints a Markdown report; the raw wrk outputs go to $MPR_CACHE/bench-registry/.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
source ci/nginx_reference.sh

DURATION=${DURATION:-60s}
WARMUP=${WARMUP:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-1}
MPR_PORT=18080
NGINX_PORT=18081
VERSION=8.1.0

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-registry: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]/nginx-light/nginx}" >/dev/null
fi

# sqlx checks queries at compile time: against the offline data when the crate has it (unless
# SQLX_OFFLINE=false is set), otherwise against the database in DATABASE_URL (a development
# database with the schema).
if [ -d registry-api/.sqlx ]; then
    SQLX_OFFLINE=${SQLX_OFFLINE:-true} cargo build --release --locked --quiet -p mpr
else
    [ -n "${DATABASE_URL:-}" ] || echo "bench-registry: no registry-api/.sqlx and no DATABASE_URL; the build fails if registry-api must be recompiled" >&2
    cargo build --release --locked --quiet -p mpr
fi
mpr=$CARGO_TARGET_DIR/release/mpr
out=$MPR_CACHE/bench-registry
mkdir -p "$out"

# The embedded cluster runs as `postgres` when we are root: it must be able to traverse the dir.
tmp=$(mktemp -d /tmp/mpr-bench-registry.XXXXXX)
chmod 755 "$tmp"
mpr_pid=
nginx_pid=
sampler=
child=
cleanup() {
    for pid in $child $sampler; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$mpr_pid" ] && kill -0 "$mpr_pid" 2>/dev/null; then
        kill -TERM "$mpr_pid"  # mpr serve stops its PostgreSQL before exiting
        for _ in $(seq 100); do kill -0 "$mpr_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$mpr_pid" 2>/dev/null && kill -KILL "$mpr_pid"
        wait "$mpr_pid" 2>/dev/null || true
    fi
    stop_nginx "$nginx_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # URL, what, pid
    for _ in $(seq 600); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { echo "bench-registry: $2 exited; its log:" >&2; cat "$tmp/$2.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "bench-registry: $2 not ready at $1 after 60 s" >&2
    exit 1
}

# --- the registry, on a fresh embedded cluster -----------------------------------------------------
(unset DATABASE_URL MPR_DATA_DIR
 exec "$mpr" serve --listen 127.0.0.1:$MPR_PORT --data-dir "$tmp/pg" --token-file "$tmp/token" \
     --admin-token-file "$tmp/admin-token") >"$tmp/mpr.log" 2>&1 &
mpr_pid=$!
wait_for "http://127.0.0.1:$MPR_PORT/readyz" mpr "$mpr_pid"

# A realistic release: Nitro PCR0/1/2/8 and SEV-SNP launch digests for 1, 2, 4, 8, 16, 32 and 64 vCPUs.
python3 - "$VERSION" >"$tmp/release.json" <<'PY'
import hashlib, json, sys
version = sys.argv[1]
h = lambda n, tag: hashlib.sha384(tag.encode()).hexdigest()[: 2 * n]
firmware = h(32, "OVMF.fd")
snp = [{"platform": "sev-snp",
        "parameters": {"vcpus": n, "vmm": "qemu", "vcpu_type": "EPYC-Milan-v2", "firmware_sha256": firmware, "guest_features": "0x1"},
        "registers": {"MEASUREMENT": h(48, f"snp-{n}")}} for n in (1, 2, 4, 8, 16, 32, 64)]
print(json.dumps({
    "version": version,
    "package": "prover",
    "source": {"repository": "https://github.com/mpr-dev/mpr", "commit": h(20, "commit")},
    "recipe": {"sha256": h(32, "recipe")},
    "source_date_epoch": 1_700_000_000,
    "build": {
        "builder": "official",
        "record_sha256": h(32, "record"),
        "artifacts": [
            {"name": "proof-server", "size": 22522312, "sha256": h(32, "bin"), "sha384": h(48, "bin")},
            {"name": "image.tar", "size": 31000000, "sha256": h(32, "image")},
            {"name": "proof-server.eif", "size": 98000000, "sha256": h(32, "eif"), "sha384": h(48, "eif")},
        ],
    },
    "measurement_sets": [{
        "name": "default",
        "measurements": [{"platform": "aws-nitro",
                          "registers": {r: h(48, r) for r in ("PCR0", "PCR1", "PCR2", "PCR8")}}] + snp,
    }],
}))
PY
# Releases are recorded only signed by a registered release key: a throwaway one, registered with
# the admin token, signs the statement the submission renders to.
"$mpr" key generate --user-id "Bench Releases <bench@mpr.invalid>" --out "$tmp/release-key.asc" --no-passphrase >/dev/null
"$mpr" key export --key "$tmp/release-key.asc" --out "$tmp/release-key.pub.asc" >/dev/null
status=$(curl -sS -o "$tmp/key.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$tmp/admin-token")" \
    --data-binary @"$tmp/release-key.pub.asc" "http://127.0.0.1:$MPR_PORT/v1/keys?role=release")
[ "$status" = 201 ] || { echo "bench-registry: registering the release key failed ($status): $(cat "$tmp/key.json")" >&2; exit 1; }
"$mpr" registry publish --submission "$tmp/release.json" --key "$tmp/release-key.asc" \
    --registry "http://127.0.0.1:$MPR_PORT" --token-file "$tmp/token" >&2 \
    || { echo "bench-registry: publishing failed" >&2; exit 1; }
path=/v1/releases/$VERSION/measurements
mkdir -p "$tmp/www/v1/releases/$VERSION"
curl -fsS -o "$tmp/www$path" "http://127.0.0.1:$MPR_PORT$path"
chmod -R a+rX "$tmp/www"
body_bytes=$(stat -c %s "$tmp/www$path")
cp "$tmp/www$path" "$out/measurements.json"

# --- nginx serving the same bytes (its setup: ci/nginx_reference.sh) ----------------------------
{ nginx_conf_head "$tmp"; cat <<EOF
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $tmp/www;
        location / { default_type application/json; }
    }
}
EOF
} >"$tmp/nginx.conf"
nginx -e "$tmp/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/nginx.log" 2>&1 &
nginx_pid=$!
wait_for "http://127.0.0.1:$NGINX_PORT$path" nginx "$nginx_pid"
cmp -s "$tmp/www$path" <(curl -fsS "http://127.0.0.1:$NGINX_PORT$path") || { echo "bench-registry: nginx serves other bytes" >&2; exit 1; }

# --- load ------------------------------------------------------------------------------------------
# Other work on the machine skews the numbers: once a second, count the runnable threads that are
# not the benchmark's (wrk, the servers, PostgreSQL, and kernel threads such as ksoftirqd, which
# carry the loopback traffic) and the compilers running.
sample_others() {
    while :; do
        echo "$(ps -eLo stat=,ppid=,comm= | awk '$1 ~ /^R/ && $2 != 2 && $3 !~ /^(wrk|mpr|tokio-rt-worker|nginx|postgres|ps|awk)$/' | wc -l)" \
            "$(ps -eo comm= | grep -cE '^(rustc|cargo|cc|ld|cc1|cc1plus|ld\.lld)$' || true)"
        sleep 1
    done
}
# In the background and waited for, so that an interrupt does not wait for wrk's end.
waited() { "$@" & child=$!; wait "$child"; child=; }
run() {  # name, port, round
    local url="http://127.0.0.1:$2$path"
    waited wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    echo "bench-registry: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $url" >&2
    sample_others >"$tmp/others" &
    sampler=$!
    waited wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$out/wrk-$1-$3.txt"
    kill "$sampler"; wait "$sampler" 2>/dev/null || true
    sampler=
    awk '{ r += $1; c += $2; if ($2 > m) m = $2; n++ } END { printf "others: runnable %.2f compilers %.1f max %d\n", r / n, c / n, m }' \
        "$tmp/others" >>"$out/wrk-$1-$3.txt"
}
rm -f "$out"/wrk-*.txt
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then run nginx $NGINX_PORT "$round"; run mpr $MPR_PORT "$round"
    else run mpr $MPR_PORT "$round"; run nginx $NGINX_PORT "$round"; fi
done
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$mpr_pid/status")

python3 - "$out" "$ROUNDS" "$(nproc)" "$body_bytes" "$rss_kib" \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency" "$path" <<'PY'
import re, sys
out, rounds, cores, size, rss, command, path = sys.argv[1:]
def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
def parse(name, round_):
    text = open(f"{out}/wrk-{name}-{round_}.txt").read()
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
         "requests": int(re.search(r"(\d+) requests in", text).group(1))}
    for p in ("50", "99"):
        r[f"p{p}"] = ms(re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", text, re.M).group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket"] = sum(map(int, sock.groups())) if sock else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    r["errors"] = r["socket"] + r["non2xx"]
    r["others"] = re.search(r"^others: runnable ([\d.]+) compilers ([\d.]+) max (\d+)$", text, re.M).groups()
    return r
print(f"## GET {path} ({size} bytes of JSON), {cores} cores, `{command}` (wrk on the same cores)")
print()
print("| round | server | requests/s | p50 (ms) | p99 (ms) | requests | non-2xx | socket errors | other runnable threads (mean) | compilers (mean / max) |")
print("|---|---|---|---|---|---|---|---|---|---|")
results = {"mpr": [], "nginx": []}
for round_ in range(1, int(rounds) + 1):
    for name in ("nginx", "mpr") if round_ % 2 else ("mpr", "nginx"):
        r = parse(name, round_)
        results[name].append(r)
        server = "mpr serve" if name == "mpr" else "nginx (static file)"
        print(f"| {round_} | {server} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['requests']:,} | "
              f"{r['non2xx']} | {r['socket']} | {r['others'][0]} | {r['others'][1]} / {r['others'][2]} |")
print()
print(f"mpr serve peak RSS: {int(rss) / 1024:.1f} MiB")
print()
ok = lambda b: "met" if b else "NOT MET"
all_met = True
for round_ in range(int(rounds)):
    m, n = results["mpr"][round_], results["nginx"][round_]
    ratio = m["rps"] / n["rps"]
    checks = [(m["rps"] >= 20000, f"throughput {m['rps']:,.0f}/s (target >= 20,000)"),
              (m["p99"] < 5.0, f"p99 {m['p99']:.2f} ms (target < 5 ms)"),
              (ratio >= 0.5, f"ours/nginx throughput {ratio:.3f} (target >= 0.5)"),
              (m["errors"] == 0, f"errors {m['errors']} (target 0)")]
    all_met &= all(c for c, _ in checks)
    print(f"- round {round_ + 1}: " + "; ".join(f"{text}: {ok(c)}" for c, text in checks))
print()
print(f"All targets {'met' if all_met else 'NOT met'}.")
PY
