#!/usr/bin/env bash
# Writes OUT/mpr-recipe.toml: the recipe for the in-repo prover at HEAD, every boot blob pinned.
# Needs MPR_BUILDER_IMAGE (ci/setup.sh's setup_builder_image).
#
# Boot blobs: AWS's Nitro blobs (bzImage, init, nsm.ko) are used from $NITRO_CLI_BLOBS (default
# /usr/share/nitro_enclaves/blobs, where aws-nitro-enclaves-cli installs them). Without them, clearly
# labelled stand-ins are used (Debian's cloud kernel, busybox as init, a text nsm.ko): the EIF then
# shows the pipeline and its determinism, but would not boot on Nitro.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
: "${MPR_BUILDER_IMAGE:?run setup_builder_image from ci/setup.sh first}"
blobs=$out/blobs
mkdir -p "$blobs"

# Debian's cloud kernel: the CVM bundle's kernel (and the Nitro stand-in).
if [ ! -s "$blobs/vmlinuz" ]; then
    echo "== fetching Debian's cloud kernel"
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "$pkg" && dpkg-deb -x ./*.deb root)
    cp "$tmp"/root/boot/vmlinuz-* "$blobs/vmlinuz.tmp" && mv "$blobs/vmlinuz.tmp" "$blobs/vmlinuz"
    rm -rf "$tmp"
fi
cp /bin/busybox "$blobs/busybox"

nitro_blobs=${NITRO_CLI_BLOBS:-/usr/share/nitro_enclaves/blobs}
if [ -f "$nitro_blobs/bzImage" ] && [ -f "$nitro_blobs/init" ] && [ -f "$nitro_blobs/nsm.ko" ]; then
    echo "== using AWS's Nitro blobs from $nitro_blobs"
    nitro_kernel=$nitro_blobs/bzImage nitro_init=$nitro_blobs/init nitro_nsm=$nitro_blobs/nsm.ko
    nitro_cmdline=$(tr -d '\n' < "$nitro_blobs/cmdline")
else
    echo "== AWS's Nitro blobs are not installed: using STAND-IN blobs (the EIF will not boot on Nitro)"
    nitro_kernel=$blobs/vmlinuz nitro_init=$blobs/busybox nitro_nsm=$blobs/nsm.ko.stand-in
    echo "stand-in: AWS's nsm.ko is not available offline; install aws-nitro-enclaves-cli" > "$nitro_nsm"
    nitro_cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
fi
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Debian's OVMF.fd has no kernel-hashes table, so the launch digest of a direct-boot guest cannot be
# computed for it (mpr refuses rather than print a digest that ignores the kernel); a recipe names
# an AmdSev OVMF build for that. The firmware's own digest is printed below.
# A semantic version, as the registry requires: the workspace's version with the commit as a
# pre-release identifier (0.1.0-git.1c20505, or ...-git.1c20505.modified for a dirty tree).
workspace_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
cat > "$out/mpr-recipe.toml" <<TOML
schema = 1
name = "midnight-proof-server"
version = "$workspace_version-git.$(git describe --always --dirty=.modified)"

[source]
repository = "$(pwd)"
commit = "HEAD"
package = "prover"
binary = "proof-server"
install_path = "usr/local/bin/proof-server"

[builder]
image = "$MPR_BUILDER_IMAGE"

[runtime]
entrypoint = ["/usr/local/bin/proof-server"]
cmd = ["--port", "6300"]
env = ["RUST_LOG=info"]
user = "65534:65534"
exposed_ports = ["6300/tcp"]

[eif]
kernel = { path = "$nitro_kernel", sha256 = "$(sha "$nitro_kernel")" }
init = { path = "$nitro_init", sha256 = "$(sha "$nitro_init")" }
nsm_ko = { path = "$nitro_nsm", sha256 = "$(sha "$nitro_nsm")" }
cmdline = "$nitro_cmdline"

[cvm]
kernel = { path = "$blobs/vmlinuz", sha256 = "$(sha "$blobs/vmlinuz")" }
busybox = { path = "$blobs/busybox", sha256 = "$(sha "$blobs/busybox")" }
cmdline = "console=ttyS0 panic=-1"
TOML

