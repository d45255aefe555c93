#!/usr/bin/env bash
# UKI boot benchmark: from QEMU's start to the prover answering GET /ready through a forwarded port,
# booting the release's uki/disk.raw as a cloud boots the imported image (Debian's OVMF, the disk the
# only boot device, a software TPM from swtpm, measured boot); in the same hyperfine run, the
# reference: the same kernel, initrd and command line direct-booted (no firmware, no TPM) to /ready.
# The ratio is what UEFI firmware, systemd-stub and measured boot add.
#
# Usage: ci/bench_uki_boot.sh RELEASE_DIR   (an `mpr build --out` directory of the prover, with [uki])
# MPR_BENCH_RUNS: runs per command (default 5, medians reported); MPR_CVM_ACCEL: kvm (default) or
# tcg (software emulation, for hosts whose /dev/kvm cannot run the guest). Prints a Markdown report.
set -euo pipefail
release=${1:?usage: ci/bench_uki_boot.sh RELEASE_DIR (an mpr build --out directory)}
release=$(cd "$release" && pwd)
runs=${MPR_BENCH_RUNS:-5}
accel=${MPR_CVM_ACCEL:-kvm}
for f in uki/disk.raw cvm/vmlinuz cvm/initrd.img cvm/cmdline; do
    [ -f "$release/$f" ] || { echo "bench_uki_boot: $release/$f is missing (a recipe with [cvm] and [uki])" >&2; exit 1; }
done
for tool in qemu-system-x86_64 swtpm curl; do
    command -v $tool >/dev/null || { echo "bench_uki_boot: $tool is missing (ci/setup.sh installs it)" >&2; exit 1; }
done
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
case $accel in
kvm) accel_args="-enable-kvm" ;;
tcg) accel_args="-accel tcg -cpu max" ;;
*) echo "bench_uki_boot: MPR_CVM_ACCEL=$accel: use kvm or tcg" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'pkill -P $$ swtpm 2>/dev/null || true; rm -rf "$work"' EXIT
export BENCH_ACCEL=$accel_args BENCH_RELEASE=$release BENCH_WORK=$work

# Polls GET /ready (TLS or plain) on $1 while QEMU ($2) runs; fails when QEMU ends or after 10 minutes.
wait_ready() {
    local port=$1 pid=$2 console=$3 deadline=$((SECONDS + 600))
    until curl -sfk --max-time 2 -o /dev/null "https://127.0.0.1:$port/ready" ||
        curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$port/ready"; do
        if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
            kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
            tail -20 "$console" >&2
            return 1
        fi
        sleep 0.05
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

direct_to_ready() {
    local port pid
    port=$(free_port)
    # shellcheck disable=SC2086 # the accelerator's arguments are words
    qemu-system-x86_64 $BENCH_ACCEL -m 2048 -nographic -no-reboot -kernel "$BENCH_RELEASE/cvm/vmlinuz" \
        -initrd "$BENCH_RELEASE/cvm/initrd.img" -append "$(cat "$BENCH_RELEASE/cvm/cmdline")" \
        -netdev "user,id=n,hostfwd=tcp:127.0.0.1:$port-:6300" -device virtio-net-pci,netdev=n \
        </dev/null >"$BENCH_WORK/direct.console" 2>&1 &
    pid=$!
    wait_ready "$port" "$pid" "$BENCH_WORK/direct.console"
}

# A fresh TPM and firmware variables each run, as a new VM gets.
uki_to_ready() {
    local port pid tpm
    port=$(free_port)
    rm -rf "$BENCH_WORK/tpm" && mkdir -p "$BENCH_WORK/tpm"
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$BENCH_WORK/vars.fd"
    swtpm socket --tpm2 --tpmstate "dir=$BENCH_WORK/tpm" --ctrl "type=unixio,path=$BENCH_WORK/tpm/ctrl" &
    tpm=$!
    while [ ! -S "$BENCH_WORK/tpm/ctrl" ]; do sleep 0.01; done
    # shellcheck disable=SC2086 # the accelerator's arguments are words
    qemu-system-x86_64 $BENCH_ACCEL -nodefaults -m 2048 -display none -serial stdio -no-reboot \
        -drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd" \
        -drive "if=pflash,format=raw,unit=1,file=$BENCH_WORK/vars.fd" \
        -drive "file=$BENCH_RELEASE/uki/disk.raw,format=raw,if=none,id=disk,snapshot=on" \
        -device virtio-blk-pci,drive=disk,bootindex=0 \
        -netdev "user,id=n,hostfwd=tcp:127.0.0.1:$port-:6300" -device virtio-net-pci,netdev=n \
        -chardev "socket,id=tpm,path=$BENCH_WORK/tpm/ctrl" -tpmdev emulator,id=tpm0,chardev=tpm \
        -device tpm-crb,tpmdev=tpm0 </dev/null >"$BENCH_WORK/uki.console" 2>&1 &
    pid=$!
    wait_ready "$port" "$pid" "$BENCH_WORK/uki.console"
    kill "$tpm" 2>/dev/null; wait "$tpm" 2>/dev/null || true
}
export -f wait_ready free_port direct_to_ready uki_to_ready

hyperfine --style none --shell bash --runs "$runs" --export-json "$work/boot.json" \
    -n "reference: direct boot of the same kernel, initrd and cmdline to GET /ready" "direct_to_ready" \
    -n "UKI disk: OVMF + systemd-stub + measured boot (swtpm) to GET /ready" "uki_to_ready" >/dev/null

python3 - "$work/boot.json" "$accel" "$runs" "$(stat -c %s "$release/uki/prover.efi")" "$(nproc)" <<'PY'
import json, sys
ref, uki = json.load(open(sys.argv[1]))["results"]
accel, runs, size, cores = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
print(f"## UKI disk boot under QEMU ({accel}), median of {runs}, {cores} cores, UKI {size / 2**20:.1f} MiB")
print()
print("| what | median (s) | min (s) | max (s) | ratio (median) |")
print("|---|---|---|---|---|")
for r in (ref, uki):
    print(f"| {r['command']} | {r['median']:.2f} | {r['min']:.2f} | {r['max']:.2f} | {r['median'] / ref['median']:.2f}x |")
PY
