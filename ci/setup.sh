#!/usr/bin/env bash
# Installs what mpr's jobs need on a fresh Debian bookworm machine (idempotent, quick when already done):
# Debian packages, sev-snp-measure 0.0.13 in a private venv, and the AWS EIF reference tool.
# Prints nothing but progress; sourced by ci/test.sh and ci/demo.sh for MPR_CACHE and CARGO_TARGET_DIR.
set -euo pipefail

export MPR_CACHE=${MPR_CACHE:-$HOME/.cache/mpr}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$MPR_CACHE/target}
mkdir -p "$MPR_CACHE"

# ovmf: Debian's SEV-capable firmware for SNP measurements; openssl: test certificates;
# libssl-dev + pkg-config: AWS's EIF crate (reference only, never linked into mpr).
packages=(ovmf openssl libssl-dev pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

setup_references() {
    local venv=$MPR_CACHE/venv
    if ! "$venv/bin/sev-snp-measure" --version 2>/dev/null | grep -q '0\.0\.13'; then
        echo "setup: installing sev-snp-measure 0.0.13 into $venv"
        python3 -m venv "$venv" || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q "sev-snp-measure==0.0.13"
    fi
    export MPR_SNP_REFERENCE_PYTHON=$venv/bin/python

    echo "setup: building ci/eif-reference (AWS aws-nitro-enclaves-image-format 0.8.1; ~10 min the first time)"
    CARGO_TARGET_DIR=$MPR_CACHE/eif-reference-target \
        cargo build --quiet --release --locked --manifest-path ci/eif-reference/Cargo.toml
    export MPR_EIF_REFERENCE=$MPR_CACHE/eif-reference-target/release/eif-reference
}
