#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: formatting, clippy with warnings as errors, unit and
# integration tests, the conformance cross-checks against AWS's EIF crate and sev-snp-measure 0.0.13
# (thousands of random cases), the builder's Docker tests and the reproducibility proof (two builds
# of a fixture crate under different host conditions), the registry against real PostgreSQL clusters
# (embedded, started as the postgres user; restarts and kills under load), GnuPG and headless
# Chromium, and a compile check of the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
ensure_disk_space
setup_references
setup_builder_image
setup_containerd_dockerd
# Docker is part of the test bed here: a test that cannot reach it fails instead of skipping.
export MPR_REQUIRE_DOCKER=1

# The in-repo prover's deployable release, built once here (about 6 minutes) and shared: the two-clone
# test rebuilds it from another clone as another user and compares records byte for byte (so the
# prover is built twice per run), and the QEMU test boots its CVM bundle.
echo "test: mpr build of the in-repo prover (ci/prover-recipe.sh)"
prover_dir=$MPR_CACHE/ci-prover
bash ci/prover-recipe.sh "$prover_dir"
"$CARGO_TARGET_DIR/release/mpr" build --no-load --recipe "$prover_dir/mpr-recipe.toml" --out "$prover_dir/release"
export MPR_PROVER_RELEASE=$prover_dir/release
# The QEMU boot tests (cli/tests/cvm_boot.rs) use KVM by default; this kind of machine's /dev/kvm is a
# nested PVM hypervisor (kvm_pvm) that cannot run a stock kernel, so CI boots under software emulation.
export MPR_CVM_ACCEL=${MPR_CVM_ACCEL:-tcg}

# serde_json's preserve_order changes how every Value object in the build serialises (dcap-qvl's std
# feature once turned it on for the whole workspace and changed EIF metadata and recipe digests): the
# byte-exact writers sort explicitly, and no dependency may turn it on unnoticed.
echo "test: no crate turns on serde_json's preserve_order"
if cargo tree --locked --workspace -e features -i serde_json | grep -q 'serde_json feature "preserve_order"'; then
    cargo tree --locked --workspace -e features -i serde_json --prefix none | grep -B2 -A6 preserve_order >&2
    echo "a dependency turns on serde_json's preserve_order (above): turn that feature of it off" >&2
    exit 1
fi
echo "test: cargo fmt --check"
cargo fmt --all --check
echo "test: cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
echo "test: cargo test (including the cross-checks, which are #[ignore]d without the reference tools)"
cargo test --workspace --locked -- --include-ignored
# The workspace build turns on the verifier's AWS-LC backend (mpr and the registry ask for it); its
# own tests once more on the pure-Rust default that browser wallets get.
echo "test: verifier on its RustCrypto backend"
cargo test --locked -p verifier --lib
echo "test: fuzz targets compile"
cargo check --quiet --locked --manifest-path fuzz/Cargo.toml --bins
echo "test: all passed"
