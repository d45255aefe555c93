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
setup_references
setup_builder_image
# Docker is part of the test bed here: a test that cannot reach it fails instead of skipping.
export MPR_REQUIRE_DOCKER=1

echo "test: cargo fmt --check"
cargo fmt --all --check
echo "test: cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
echo "test: cargo test (including the cross-checks, which are #[ignore]d without the reference tools)"
cargo test --workspace --locked -- --include-ignored
echo "test: fuzz targets compile"
cargo check --quiet --locked --manifest-path fuzz/Cargo.toml --bins
echo "test: all passed"
