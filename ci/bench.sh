#!/usr/bin/env bash
# The measurer's benchmarks, each against its reference in the same run (hyperfine, warm page cache):
#  1. SHA-384 implementations in process (criterion): OpenSSL (what the measurer uses), sha2, ring.
#  2. `mpr eif describe` of a 512 MiB EIF vs one `openssl dgst -sha384` pass over the file (target:
#     within 1.2x), `sha384sum`, and AWS's EifReader (ci/eif-reference describe): wall time and peak RSS.
#  3. `mpr measure snp` for 64 vCPUs on Debian's OVMF.fd vs `sha384sum` over the firmware (target:
#     within 1.2x), `openssl dgst -sha384` and sev-snp-measure 0.0.13, whole processes.
# Prints a Markdown report, with the load average before each part: wall times only mean something on
# an otherwise idle machine (mpr's describe needs two SHA-384 chains, PCR0 and PCR2, on two cores).
# BENCHMARKS.md records its output. MPR_BENCH_RUNS sets hyperfine's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
setup_references >&2
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null

cargo build --release --locked --quiet -p mpr
mpr=$CARGO_TARGET_DIR/release/mpr
ref=$MPR_EIF_REFERENCE
snp_ref=$(dirname "$MPR_SNP_REFERENCE_PYTHON")/sev-snp-measure
work=${MPR_BENCH_DIR:-$MPR_CACHE/bench}
runs=${MPR_BENCH_RUNS:-10}
mkdir -p "$work"

echo "## SHA-384 implementations, in process, $(nproc) cores"
echo
echo "\`cargo bench -p measurer --bench sha384_implementations\` (criterion, median; one thread; 64 MiB as one"
echo "message, and 4 KiB messages as the SEV-SNP firmware pages are hashed). openssl-measurer is OpenSSL's"
echo "libcrypto through the \`openssl\` crate, i.e. \`measurer::sha384\`:"
echo
echo "| implementation | one 64 MiB message (MB/s) | 4 KiB pages (MB/s) |"
echo "|---|---|---|"
cargo bench --quiet -p measurer --bench sha384_implementations -- --noplot 2>/dev/null \
    | awk '
        /^sha384\// { split($1, name, "/"); impl = name[2]; size = name[3]; fresh = 1 }
        # The first thrpt line after a name is the measurement; a later one (under "change:") is the
        # difference from the baseline criterion saved last time, in percent.
        /thrpt:/ && fresh {
            fresh = 0
            v = $4; u = $5; sub(/\]/, "", u)
            if (u == "GiB/s") v *= 1073.741824; else if (u == "MiB/s") v *= 1.048576; else if (u == "KiB/s") v *= 0.001024
            mbs[impl, size] = v; if (!(impl in seen)) { seen[impl] = 1; order[++n] = impl }
        }
        END { for (i = 1; i <= n; i++) printf "| %s | %.0f | %.0f |\n", order[i], mbs[order[i], "64MiB"], mbs[order[i], "4KiB"] }'
echo

# A 512 MiB EIF: 8 MiB kernel, 1 MiB bootstrap ramdisk, 503 MiB customer ramdisk.
if [ ! -f "$work/512mib.eif" ]; then
    head -c $((8 << 20)) /dev/urandom > "$work/kernel"
    head -c $((1 << 20)) /dev/urandom > "$work/rd0"
    head -c $((503 << 20)) /dev/urandom > "$work/rd1"
    SOURCE_DATE_EPOCH=0 "$mpr" eif build --kernel "$work/kernel" --cmdline "console=ttyS0" \
        --ramdisk "$work/rd0" --ramdisk "$work/rd1" --output "$work/512mib.eif" >/dev/null
    rm -f "$work/kernel" "$work/rd0" "$work/rd1"
fi
eif=$work/512mib.eif

echo "## mpr eif describe, 512 MiB EIF ($(stat -c %s "$eif") bytes), $(nproc) cores"
echo
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/describe.json" \
    -n "mpr eif describe" "$mpr eif describe $eif" \
    -n "openssl dgst -sha384" "openssl dgst -sha384 $eif" \
    -n "sha384sum" "sha384sum $eif" \
    -n "AWS EifReader (eif-reference describe)" "$ref describe $eif" >/dev/null
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rss=("$(peak "$mpr" eif describe "$eif")" "$(peak openssl dgst -sha384 "$eif")" "$(peak sha384sum "$eif")"
    "$(peak "$ref" describe "$eif")")
python3 - "$work/describe.json" "${rss[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
rss = [int(x) for x in sys.argv[2:6]]
mpr, openssl, sha384sum, aws = results
print("| command | mean wall (s) | stddev | min (s) | CPU, user+sys (s) | peak RSS (KiB) | wall / mpr's |")
print("|---|---|---|---|---|---|---|")
for r, m in zip(results, rss):
    cpu = r['user'] + r['system']
    print(f"| {r['command']} | {r['mean']:.3f} | {r['stddev']:.3f} | {r['min']:.3f} | {cpu:.3f} | {m} | {r['mean']/mpr['mean']:.2f}x |")
print()
print(f"- vs one `openssl dgst -sha384` pass: {mpr['mean']/openssl['mean']:.2f}x its wall time (target <= 1.2x)")
print(f"- vs sha384sum: {mpr['mean']/sha384sum['mean']:.2f}x its wall time")
print(f"- vs AWS EifReader: {aws['mean']/mpr['mean']:.2f}x faster, {rss[0]/rss[3]:.4f} of its peak memory")
PY
echo
echo "## SEV-SNP launch digest, 64 vCPUs, Debian OVMF.fd (EPYC-v4, guest features 0x1), whole process"
echo
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
ovmf=/usr/share/ovmf/OVMF.fd
args="--ovmf $ovmf --vcpus 64 --vcpu-type EPYC-v4 --guest-features 0x1"
[ "$("$mpr" measure snp $args)" = "$("$snp_ref" --mode snp $args)" ] || { echo "digests differ" >&2; exit 1; }
# -N: no intermediate shell, so millisecond processes are timed without the shell's start-up.
hyperfine -N --style none --warmup 10 --runs $((runs * 20)) --export-json "$work/snp.json" \
    -n "mpr measure snp" "$mpr measure snp $args" \
    -n "sha384sum OVMF.fd" "sha384sum $ovmf" \
    -n "openssl dgst -sha384 OVMF.fd" "openssl dgst -sha384 $ovmf" \
    -n "sev-snp-measure 0.0.13" "$snp_ref --mode snp $args" \
    -n "mpr --version (start-up only)" "$mpr --version" \
    -n "/bin/true" "/bin/true" >/dev/null
python3 - "$work/snp.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
mpr, sha384sum, openssl, python = results[:4]
print("| command | mean wall (ms) | stddev (ms) | min (ms) | CPU, user+sys (ms) | wall / mpr's |")
print("|---|---|---|---|---|---|")
for r in results:
    cpu = (r['user'] + r['system']) * 1000
    print(f"| {r['command']} | {r['mean']*1000:.2f} | {r['stddev']*1000:.2f} | {r['min']*1000:.2f} | {cpu:.2f} | {r['mean']/mpr['mean']:.2f}x |")
print()
print(f"- vs one SHA-384 pass over the firmware (sha384sum): {mpr['mean']/sha384sum['mean']:.2f}x its wall time (target <= 1.2x)")
print(f"- vs openssl dgst -sha384: {mpr['mean']/openssl['mean']:.2f}x its wall time")
print(f"- vs sev-snp-measure: {python['mean']/mpr['mean']:.1f}x faster (no target since issue 10)")
PY
