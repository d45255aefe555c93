#!/usr/bin/env bash
# CVM boot benchmark: from QEMU's start to the prover answering GET /ready through a forwarded port,
# direct-booting the release's cvm/ bundle (vmlinuz + initrd.img + cmdline) with virtio-net and DHCP;
# in the same hyperfine run, the reference: the same kernel and command line booting a trivial
# initrd whose /init powers off at once (QEMU's start to its exit). The ratio shows what the
# prover's initrd (its size, the modules, DHCP and the prover's start) adds to a bare boot.
#
# Usage: ci/bench_cvm_boot.sh RELEASE_DIR   (an `mpr build --out` directory of the prover)
# MPR_BENCH_RUNS: runs per command (default 5, medians reported); MPR_CVM_ACCEL: kvm (default) or
# tcg (software emulation, for hosts whose /dev/kvm cannot run a stock kernel).
# Prints a Markdown report.
set -euo pipefail
release=${1:?usage: ci/bench_cvm_boot.sh RELEASE_DIR (an mpr build --out directory)}
bundle=$(cd "$release/cvm" && pwd)
runs=${MPR_BENCH_RUNS:-5}
accel=${MPR_CVM_ACCEL:-kvm}
for f in vmlinuz initrd.img cmdline; do
    [ -f "$bundle/$f" ] || { echo "bench_cvm_boot: $bundle/$f is missing" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null ||
    { echo "bench_cvm_boot: qemu-system-x86_64 is missing: apt-get install qemu-system-x86" >&2; exit 1; }
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
case $accel in
kvm)
    [ -r /dev/kvm ] && [ -w /dev/kvm ] ||
        { echo "bench_cvm_boot: /dev/kvm is not usable; set MPR_CVM_ACCEL=tcg for software emulation" >&2; exit 1; }
    accel_args="-enable-kvm" ;;
tcg) accel_args="-accel tcg -cpu max" ;;
*) echo "bench_cvm_boot: MPR_CVM_ACCEL=$accel: use kvm or tcg" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The reference initrd: busybox and an /init that powers off.
mkdir -p "$work/ref/bin"
cp /bin/busybox "$work/ref/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' > "$work/ref/init"
chmod 755 "$work/ref/init"
(cd "$work/ref" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$work/ref.img"

export BENCH_QEMU="qemu-system-x86_64 $accel_args -m 2048 -nographic -no-reboot -kernel $bundle/vmlinuz"
export BENCH_CMDLINE BENCH_BUNDLE=$bundle BENCH_WORK=$work
BENCH_CMDLINE=$(cat "$bundle/cmdline")

# QEMU's start to its exit; fails unless the guest powered off.
boot_to_poweroff() {
    timeout 600 $BENCH_QEMU -initrd "$BENCH_WORK/ref.img" -append "$BENCH_CMDLINE" \
        </dev/null >"$BENCH_WORK/ref.console" 2>&1
    grep -q "reboot: Power down" "$BENCH_WORK/ref.console"
}

# QEMU's start to a 200 from GET /ready (plain HTTP, or TLS when the CVM's command has --tls).
boot_to_ready() {
    local port pid deadline
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    $BENCH_QEMU -initrd "$BENCH_BUNDLE/initrd.img" -append "$BENCH_CMDLINE" \
        -netdev "user,id=n,hostfwd=tcp:127.0.0.1:$port-:6300" -device virtio-net-pci,netdev=n \
        </dev/null >"$BENCH_WORK/prover.console" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 600))
    until curl -sfk --max-time 2 -o /dev/null "http://127.0.0.1:$port/ready" ||
        curl -sfk --max-time 2 -o /dev/null "https://127.0.0.1:$port/ready"; do
        if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
            kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
            tail -20 "$BENCH_WORK/prover.console" >&2
            return 1
        fi
        sleep 0.05
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
export -f boot_to_poweroff boot_to_ready

hyperfine --style none --shell bash --runs "$runs" --export-json "$work/boot.json" \
    -n "reference: same kernel, trivial initrd, boot to power-off" "boot_to_poweroff" \
    -n "prover CVM: boot to GET /ready = 200" "boot_to_ready" >/dev/null

python3 - "$work/boot.json" "$accel" "$runs" "$(stat -c %s "$bundle/initrd.img")" "$(nproc)" <<'PY'
import json, sys
ref, prover = json.load(open(sys.argv[1]))["results"]
accel, runs, initrd, cores = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
print(f"## CVM boot under QEMU ({accel}), median of {runs}, {cores} cores, initrd {initrd / 2**20:.1f} MiB")
print()
print("| what | median (s) | min (s) | max (s) | ratio (median) |")
print("|---|---|---|---|---|")
for r in (ref, prover):
    print(f"| {r['command']} | {r['median']:.2f} | {r['min']:.2f} | {r['max']:.2f} | {r['median'] / ref['median']:.2f}x |")
PY
