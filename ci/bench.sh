#!/usr/bin/env bash
# Benchmarks for issue 2's targets, each against its reference in the same run (hyperfine, warm page cache):
#  1. `mpr eif describe` on a 1 GiB EIF vs AWS's EifReader (ci/eif-reference describe) and `sha384sum`:
#     wall time and peak RSS (GNU time).
#  2. `mpr measure snp` for 64 vCPUs on Debian's OVMF.fd vs sev-snp-measure 0.0.13, whole processes.
# Prints a Markdown report; BENCHMARKS.md records its output.
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
mkdir -p "$work"

# A 1 GiB EIF: 8 MiB kernel, 1 MiB bootstrap ramdisk, 1015 MiB customer ramdisk.
if [ ! -f "$work/1gib.eif" ]; then
    head -c $((8 << 20)) /dev/urandom > "$work/kernel"
    head -c $((1 << 20)) /dev/urandom > "$work/rd0"
    head -c $((1015 << 20)) /dev/urandom > "$work/rd1"
    SOURCE_DATE_EPOCH=0 "$mpr" eif build --kernel "$work/kernel" --cmdline "console=ttyS0" \
        --ramdisk "$work/rd0" --ramdisk "$work/rd1" --output "$work/1gib.eif" >/dev/null
    rm -f "$work/kernel" "$work/rd0" "$work/rd1"
fi
eif=$work/1gib.eif

echo "## mpr eif describe, 1 GiB EIF ($(stat -c %s "$eif") bytes), $(nproc) cores"
echo
hyperfine --style none --warmup 1 --runs 5 --export-json "$work/describe.json" \
    -n "mpr eif describe" "$mpr eif describe $eif" \
    -n "AWS EifReader (eif-reference describe)" "$ref describe $eif" \
    -n "sha384sum" "sha384sum $eif" >/dev/null
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
mpr_rss=$(peak "$mpr" eif describe "$eif")
ref_rss=$(peak "$ref" describe "$eif")
sha_rss=$(peak sha384sum "$eif")
python3 - "$work/describe.json" "$mpr_rss" "$ref_rss" "$sha_rss" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
rss = [int(x) for x in sys.argv[2:5]]
mpr = results[0]
print("| command | mean wall (s) | stddev | peak RSS (KiB) | mpr is faster by | mpr RSS fraction |")
print("|---|---|---|---|---|---|")
for r, m in zip(results, rss):
    print(f"| {r['command']} | {r['mean']:.3f} | {r['stddev']:.3f} | {m} | {r['mean']/mpr['mean']:.2f}x | {rss[0]/m:.4f} |")
print()
print(f"- vs AWS EifReader: {results[1]['mean']/mpr['mean']:.2f}x faster (target >= 2x), "
      f"{rss[0]/rss[1]:.4f} of its peak memory (target <= 1/16 = 0.0625)")
print(f"- vs sha384sum: {mpr['mean']/results[2]['mean']:.2f}x its wall time (target <= 1.2x)")
PY
echo
echo "## SEV-SNP launch digest, 64 vCPUs, Debian OVMF.fd (EPYC-v4, guest features 0x1), whole process"
echo
args="--ovmf /usr/share/ovmf/OVMF.fd --vcpus 64 --vcpu-type EPYC-v4 --guest-features 0x1"
[ "$("$mpr" measure snp $args)" = "$("$snp_ref" --mode snp $args)" ] || { echo "digests differ" >&2; exit 1; }
# -N: no intermediate shell, so millisecond processes are timed without the shell's start-up.
hyperfine -N --style none --warmup 5 --runs 100 --export-json "$work/snp.json" \
    -n "mpr measure snp" "$mpr measure snp $args" \
    -n "sev-snp-measure 0.0.13" "$snp_ref --mode snp $args" \
    -n "sha384sum OVMF.fd" "sha384sum /usr/share/ovmf/OVMF.fd" \
    -n "mpr --version (start-up only)" "$mpr --version" \
    -n "sev-snp-measure --version (start-up only)" "$snp_ref --version" \
    -n "/bin/true" "/bin/true" >/dev/null
python3 - "$work/snp.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
mpr = results[0]
print("| command | mean wall (ms) | stddev (ms) | relative to mpr |")
print("|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['mean']*1000:.2f} | {r['stddev']*1000:.2f} | {r['mean']/mpr['mean']:.2f}x |")
print()
print(f"- vs sev-snp-measure: {results[1]['mean']/mpr['mean']:.1f}x faster (target >= 40x)")
print(f"- vs one SHA-384 pass over the firmware (sha384sum): {mpr['mean']/results[2]['mean']:.2f}x its wall time")
PY
echo
echo "In process, without start-up (the library call only):"
echo
py_ms=$("$MPR_SNP_REFERENCE_PYTHON" - <<'PY'
import timeit
from sevsnpmeasure import guest, vcpu_types, vmm_types
from sevsnpmeasure.sev_mode import SevMode
sig = vcpu_types.CPU_SIGS["EPYC-v4"]
call = lambda: guest.calc_launch_digest(SevMode.SEV_SNP, 64, sig, "/usr/share/ovmf/OVMF.fd", None, None, None,
                                        0x1, None, vmm_types.VMMType.QEMU, False, None, 0)
call()
print(f"{timeit.timeit(call, number=200) / 200 * 1000:.3f}")
PY
)
rust_ms=$(cargo bench --quiet -p measurer --bench snp_launch_digest -- --noplot "open" 2>/dev/null \
    | awk '/time:/ { v=$4; u=$5; if (u == "us" || u == "µs") v /= 1000; printf "%.3f", v }')
echo "| library call, 64 vCPUs | mean (ms) |"
echo "|---|---|"
echo "| measurer::snp (Firmware::open + launch_digest_only, criterion) | $rust_ms |"
echo "| sevsnpmeasure.guest.calc_launch_digest (timeit, 200 calls) | $py_ms |"
echo
python3 -c "print(f'- in process: {float($py_ms) / float($rust_ms):.1f}x faster')"
