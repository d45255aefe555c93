#!/usr/bin/env bash
# The main job, until the release pipeline exists: build mpr, then measure a sample for every platform.
# - Nitro: write a deterministic EIF from sample components, describe it, and check that measuring the
#   components without building the EIF gives the same PCRs.
# - SEV-SNP: the launch digest of Debian's OVMF.fd for a 4-vCPU EPYC-Milan guest, with its parameters.
# Output goes to $MPR_DEMO_DIR (default: $MPR_CACHE/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh

cargo build --release --locked --quiet -p mpr
mpr=$CARGO_TARGET_DIR/release/mpr
out=${MPR_DEMO_DIR:-$MPR_CACHE/demo}
mkdir -p "$out"

# Sample components: fixed pseudo-random bytes (SHA-256 in counter mode), so every run and
# every machine measures the same thing.
python3 - "$out" <<'PY'
import hashlib, pathlib, sys
out = pathlib.Path(sys.argv[1])
def blob(name, size):
    data = bytearray()
    i = 0
    while len(data) < size:
        data += hashlib.sha256(f"{name}:{i}".encode()).digest()
        i += 1
    (out / name).write_bytes(bytes(data[:size]))
blob("vmlinuz", 6 << 20)
blob("bootstrap-initrd.img", 768 << 10)
blob("customer-initrd.img", 24 << 20)
PY

export SOURCE_DATE_EPOCH=1700000000
cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on"
echo "== mpr eif build"
"$mpr" eif build --kernel "$out/vmlinuz" --cmdline "$cmdline" \
    --ramdisk "$out/bootstrap-initrd.img" --ramdisk "$out/customer-initrd.img" \
    --name sample --image-version 1.0.0 --output "$out/sample.eif"
echo "== mpr eif describe"
"$mpr" eif describe "$out/sample.eif"
"$mpr" eif describe --json "$out/sample.eif" > "$out/sample.describe.json"
echo "== mpr measure nitro (components, no EIF)"
"$mpr" measure nitro --json --kernel "$out/vmlinuz" --cmdline "$cmdline" \
    --ramdisk "$out/bootstrap-initrd.img" --ramdisk "$out/customer-initrd.img" > "$out/sample.components.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
described = json.load(open(f"{out}/sample.describe.json"))["Measurements"]
components = json.load(open(f"{out}/sample.components.json"))["Measurements"]
assert described == components, (described, components)
print("components and EIF give the same PCRs")
PY
echo "== mpr measure snp (Debian OVMF.fd, 4 x EPYC-Milan, guest features 0x1)"
"$mpr" measure snp --ovmf /usr/share/ovmf/OVMF.fd --vcpus 4 --vcpu-type EPYC-Milan --guest-features 0x1
"$mpr" measure snp --json --ovmf /usr/share/ovmf/OVMF.fd --vcpus 4 --vcpu-type EPYC-Milan > "$out/sample.snp.json"
echo "== results in $out"
