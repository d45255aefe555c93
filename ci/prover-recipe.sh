#!/usr/bin/env bash
# Writes OUT/mpr-recipe.toml: the deployable recipe for the in-repo prover at HEAD, every input pinned.
# Its version is $MPR_RELEASE_VERSION when set (a release tag), else the workspace version + the commit.
# Needs MPR_BUILDER_IMAGE (ci/setup.sh's setup_builder_image).
#
# Per platform (each measured):
#   - the OCI image (docker run on a confidential VM): TCP port 6300, parameters baked in, nothing fetched;
#   - the Nitro EIF: vsock port 6300 with TLS (the key never leaves the enclave), parameters baked in;
#   - the CVM bundle (SEV-SNP/TDX direct boot): TCP port 6300 with TLS, parameters baked in;
#   - the UKI boot disk (GCP and Azure confidential VMs): the CVM bundle, booted by systemd-stub.
# The Midnight parameters and keys (ci/midnight-params.tsv, each pinned by the digest built into the
# Midnight crates) are taken from $MIDNIGHT_PP, ~/.cache/midnight/zk-params or ../shared/fixtures/midnight,
# else from Midnight's server when it is reachable; a file that cannot be had is named and left out.
#
# Boot blobs: AWS's Nitro blobs come from $NITRO_CLI_BLOBS (default /usr/share/nitro_enclaves/blobs, where
# aws-nitro-enclaves-cli installs them). Without them, AWS's real init and nsm.ko from
# ../shared/fixtures/nitro/blobs-x86_64 are used with a clearly labelled stand-in kernel (Debian's cloud
# kernel): the EIF then shows the pipeline and its determinism, but would not boot on Nitro.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
out=$1
: "${MPR_BUILDER_IMAGE:?run setup_builder_image from ci/setup.sh first}"
blobs=$out/blobs
mkdir -p "$blobs"
shared=${MPR_SHARED_DIR:-$repo/../shared}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Debian's cloud kernel: the CVM bundle's kernel (and the Nitro stand-in), with the modules the CVM's
# /init loads in this order (dependencies first; mpr build checks order and kernel release): virtio
# PCI and virtio-net for the network, configfs for the TSM attestation interface. Kernel and modules
# come from one package, so they cannot drift apart.
cvm_modules=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/core/failover
    drivers/net/net_failover drivers/net/virtio_net fs/configfs/configfs)
if [ ! -s "$blobs/vmlinuz" ] || [ ! -d "$blobs/modules" ]; then
    echo "== fetching Debian's cloud kernel and its virtio, virtio-net and configfs modules"
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null && dpkg-deb -x ./*.deb root)
    mkdir "$tmp/modules"
    for m in "${cvm_modules[@]}"; do cp "$tmp"/root/lib/modules/*/kernel/"$m".ko "$tmp/modules/"; done
    rm -rf "$blobs/modules" && mv "$tmp/modules" "$blobs/modules"
    cp "$tmp"/root/boot/vmlinuz-* "$blobs/vmlinuz.tmp" && mv "$blobs/vmlinuz.tmp" "$blobs/vmlinuz"
    rm -rf "$tmp"
fi
cvm_modules_toml=$(for m in "${cvm_modules[@]}"; do
    f=$blobs/modules/$(basename "$m").ko
    printf '    { path = "%s", sha256 = "%s" },\n' "$f" "$(sha "$f")"
done)
cp /bin/busybox "$blobs/busybox"
uki_stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$uki_stub" ] || { echo "prover-recipe: $uki_stub is missing: apt-get install systemd-boot-efi (ci/setup.sh does)" >&2; exit 1; }

nitro_blobs=${NITRO_CLI_BLOBS:-/usr/share/nitro_enclaves/blobs}
aws_fixture=$shared/fixtures/nitro/blobs-x86_64
if [ -f "$nitro_blobs/bzImage" ] && [ -f "$nitro_blobs/init" ] && [ -f "$nitro_blobs/nsm.ko" ]; then
    echo "== using AWS's Nitro blobs from $nitro_blobs"
    nitro_kernel=$nitro_blobs/bzImage nitro_init=$nitro_blobs/init nitro_nsm=$nitro_blobs/nsm.ko
    nitro_cmdline=$(tr -d '\n' < "$nitro_blobs/cmdline")
elif [ -f "$aws_fixture/init" ] && [ -f "$aws_fixture/nsm.ko" ]; then
    echo "== AWS's Nitro blobs are not installed: AWS's init and nsm.ko from $aws_fixture, and a STAND-IN kernel"
    echo "   (Debian's cloud kernel; the EIF will not boot on Nitro until nitro-cli's bzImage is used)"
    nitro_kernel=$blobs/vmlinuz nitro_init=$aws_fixture/init nitro_nsm=$aws_fixture/nsm.ko
    nitro_cmdline=$(tr -d '\n' < "$aws_fixture/cmdline")
else
    echo "== AWS's Nitro blobs are not installed and $aws_fixture is missing: using STAND-IN blobs"
    echo "   (busybox as init, a text nsm.ko; the EIF will not boot on Nitro)"
    nitro_kernel=$blobs/vmlinuz nitro_init=$blobs/busybox nitro_nsm=$blobs/nsm.ko.stand-in
    echo "stand-in: AWS's nsm.ko is not available offline; install aws-nitro-enclaves-cli" > "$nitro_nsm"
    nitro_cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
fi

# The Midnight parameters and keys, as [[files]] entries.
param_source=${MIDNIGHT_PARAM_SOURCE:-https://srs.midnight.network/}
find_param() { # NAME SHA256 -> a local file with that digest, if any
    local name=$1 want=$2 fixture candidate
    case $name in
        bls_midnight_2p*) fixture=$shared/fixtures/midnight/params/$name ;;
        */9/*) fixture=$shared/fixtures/midnight/ledger-8.1.0/$(echo "$name" | sed 's|/9/|-|') ;;
    esac
    for candidate in "${MIDNIGHT_PP:-/nonexistent}/$name" "$HOME/.cache/midnight/zk-params/$name" "$fixture"; do
        if [ -f "$candidate" ] && [ "$(sha "$candidate")" = "$want" ]; then
            echo "$candidate"
            return
        fi
    done
}
files_toml=$out/files.toml
: > "$files_toml"
baked=() missing=()
while IFS=$'\t' read -r name digest; do
    case $name in '#'*|'') continue ;; esac
    local_copy=$(find_param "$name" "$digest")
    if [ -n "$local_copy" ]; then
        source_line="path = \"$local_copy\""
    elif curl -fsSI --max-time 10 "$param_source$name" >/dev/null 2>&1; then
        source_line="url = \"$param_source$name\""
    else
        missing+=("$name")
        continue
    fi
    baked+=("$name")
    printf '[[files]]\ndest = "params/%s"\nsha256 = "%s"\n%s\n\n' "$name" "$digest" "$source_line" >> "$files_toml"
done < ci/midnight-params.tsv
echo "== Midnight parameters and keys baked into every output (/params): ${#baked[@]}"
printf '   %s\n' "${baked[@]}"
if [ ${#missing[@]} -gt 0 ]; then
    echo "== NOT baked (not found locally, and $param_source is unreachable): ${#missing[@]}"
    printf '   %s\n' "${missing[@]}"
    echo "   Circuits that need them fail until they are present: put them in \$MIDNIGHT_PP (checked against the"
    echo "   digests in ci/midnight-params.tsv) and run this again."
fi

# A semantic version, as the registry requires: the workspace's version with the commit as a
# pre-release identifier (0.1.0-git.1c20505, or ...-git.1c20505.modified for a dirty tree).
workspace_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
# The release's source as others fetch it: the workspace's repository URL (the clone may be anywhere).
repository_url=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -1)
# What every platform's command ends with: the baked parameters, nothing fetched.
serve='"--no-fetch-params", "--params-dir", "/params"'
cat > "$out/mpr-recipe.toml" <<TOML
schema = 1
name = "midnight-proof-server"
version = "${MPR_RELEASE_VERSION:-$workspace_version-git.$(git describe --always --dirty=.modified)}"

[source]
repository = "$repo"
url = "$repository_url"
commit = "HEAD"
package = "prover"
binary = "proof-server"
install_path = "usr/local/bin/proof-server"

[builder]
image = "$MPR_BUILDER_IMAGE"

# The OCI image: docker run on a confidential VM (add --tls there for attested TLS).
[runtime]
entrypoint = ["/usr/local/bin/proof-server"]
cmd = ["--port", "6300", $serve]
env = ["RUST_LOG=info"]
user = "65534:65534"
exposed_ports = ["6300/tcp"]

[eif]
kernel = { path = "$nitro_kernel", sha256 = "$(sha "$nitro_kernel")" }
init = { path = "$nitro_init", sha256 = "$(sha "$nitro_init")" }
nsm_ko = { path = "$nitro_nsm", sha256 = "$(sha "$nitro_nsm")" }
cmdline = "$nitro_cmdline"
# No network in an enclave: the parent forwards TCP to vsock; TLS terminates inside.
command = ["/usr/local/bin/proof-server", "--listen", "vsock:6300", "--tls", $serve]

[cvm]
kernel = { path = "$blobs/vmlinuz", sha256 = "$(sha "$blobs/vmlinuz")" }
busybox = { path = "$blobs/busybox", sha256 = "$(sha "$blobs/busybox")" }
cmdline = "console=ttyS0 panic=-1"
command = ["/usr/local/bin/proof-server", "--port", "6300", "--tls", $serve]
network = "dhcp"
modules = [
$cvm_modules_toml
]

# The measured boot disk for GCP and Azure confidential VMs: the CVM bundle as a UKI (Debian
# bookworm's systemd-stub) on a GPT disk; published as vTPM PCRs 4, 9, 11 and 12.
[uki]
stub = { path = "$uki_stub", sha256 = "$(sha "$uki_stub")" }

$(cat "$files_toml")
TOML
rm -f "$files_toml"
